//! `ctlake shell`: the arguments of the interactive shell; the shell itself is [`crate::shell`].

use std::path::PathBuf;

use crate::Global;
use crate::args::LakeArg;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    lake: LakeArg,
    /// Ingest these files or folders first (only what the lake does not hold yet), e.g.
    /// `--ingest data` for the bundled sample.
    #[arg(long = "ingest", value_name = "SRC")]
    ingest: Vec<String>,
    /// The history file [default: $XDG_STATE_HOME/ctlake/history].
    #[arg(long, env = "CTLAKE_HISTORY", value_name = "FILE")]
    history: Option<PathBuf>,
}

impl Args {
    pub fn run(self, global: &Global) -> anyhow::Result<u8> {
        crate::shell::run(&self.lake.lake, &self.ingest, self.history, global)
    }
}
