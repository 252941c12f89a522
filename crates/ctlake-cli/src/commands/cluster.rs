//! `ctlake cluster scheduler|executor`: the processes of a Ballista cluster that runs ctlake's
//! queries (`ctlake query --cluster df://HOST:PORT`). Both run until stopped; SIGTERM or
//! Ctrl-C stop an executor gracefully (it tells the scheduler it leaves).

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use ctlake_cluster::executor::ExecutorOptions;
use ctlake_cluster::scheduler::SchedulerOptions;

use crate::Global;
use crate::args;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    role: Role,
}

#[derive(Debug, clap::Subcommand)]
enum Role {
    /// Run a scheduler: it takes queries from clients and hands their stages to executors.
    Scheduler {
        /// Where to listen for clients and executors.
        #[arg(long, default_value = "127.0.0.1:50050", value_name = "HOST:PORT")]
        bind: SocketAddr,
        /// The host clients and executors reach this scheduler by, when not --bind's.
        #[arg(long, value_name = "HOST")]
        external_host: Option<String>,
        /// Take an executor out when it has been silent this long; a query fails when no
        /// executor has been left for this long.
        #[arg(long, default_value = "60s", value_name = "TIME", value_parser = args::age)]
        executor_timeout: std::time::Duration,
    },
    /// Run an executor: it runs query stages and serves their results.
    Executor {
        /// The scheduler to join.
        #[arg(long, default_value = "127.0.0.1:50050", value_name = "HOST:PORT")]
        scheduler: String,
        /// Where to serve stage results to other executors and clients (Arrow Flight).
        #[arg(long, default_value = "127.0.0.1:50051", value_name = "HOST:PORT")]
        bind: SocketAddr,
        /// Where to take tasks from the scheduler (gRPC) [default: --bind's port + 1].
        #[arg(long, value_name = "HOST:PORT")]
        grpc_bind: Option<SocketAddr>,
        /// The host the scheduler, other executors and clients reach this one by, when not
        /// --bind's.
        #[arg(long, value_name = "HOST")]
        external_host: Option<String>,
        /// Where stage results and spills go [default: a folder under the temporary folder].
        #[arg(long, value_name = "DIR")]
        work_dir: Option<PathBuf>,
        /// Tasks to run at once [default: the machine's cores].
        #[arg(long, default_value_t = 0, hide_default_value = true, value_name = "N")]
        concurrent_tasks: usize,
        /// How often to tell the scheduler this executor is alive (keep it well under the
        /// scheduler's --executor-timeout).
        #[arg(long, default_value = "10s", value_name = "TIME", value_parser = args::age)]
        heartbeat: std::time::Duration,
    },
}

impl Args {
    pub fn run(self, global: &Global) -> anyhow::Result<u8> {
        // Ballista's own messages (executors joining and leaving, failed tasks): warnings and
        // errors unless RUST_LOG asks for more.
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
        let runtime = global.runtime()?;
        match self.role {
            Role::Scheduler {
                bind,
                external_host,
                executor_timeout,
            } => {
                let options = SchedulerOptions {
                    bind,
                    external_host,
                    executor_timeout,
                };
                eprintln!("ctlake: starting a scheduler on df://{bind}");
                runtime
                    .block_on(ctlake_cluster::scheduler::run(&options))
                    .with_context(|| format!("scheduler on {bind}"))?;
            }
            Role::Executor {
                scheduler,
                bind,
                grpc_bind,
                external_host,
                work_dir,
                concurrent_tasks,
                heartbeat,
            } => {
                let grpc_bind = match grpc_bind {
                    Some(g) => g,
                    None => {
                        let port = bind.port().checked_add(1).context(
                            "--bind's port is 65535: give --grpc-bind for the task port",
                        )?;
                        SocketAddr::new(bind.ip(), port)
                    }
                };
                let options = ExecutorOptions {
                    scheduler: scheduler.clone(),
                    bind,
                    grpc_bind,
                    external_host,
                    work_dir,
                    concurrent_tasks,
                    heartbeat,
                };
                eprintln!(
                    "ctlake: starting an executor on {bind} (tasks on {grpc_bind}) for the scheduler {scheduler}"
                );
                runtime
                    .block_on(ctlake_cluster::executor::run(&options))
                    .with_context(|| format!("executor on {bind}"))?;
            }
        }
        Ok(0)
    }
}
