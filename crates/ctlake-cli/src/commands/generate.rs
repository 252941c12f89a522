//! `ctlake generate`: realistic CloudTrail delivery files, from `ctlake-generate`.

use std::io::{self, Write};
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use ctlake_generate::Options;

use crate::{Global, format};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Output folder.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Distinct events.
    #[arg(long, default_value_t = Options::default().events)]
    events: u64,
    /// First day (YYYY-MM-DD).
    #[arg(long, default_value_t = Options::default().start)]
    start: chrono::NaiveDate,
    /// Days.
    #[arg(long, default_value_t = Options::default().days)]
    days: u32,
    /// Regions (1 to 17).
    #[arg(long, default_value_t = Options::default().regions)]
    regions: usize,
    /// Accounts.
    #[arg(long, default_value_t = Options::default().accounts)]
    accounts: usize,
    /// Random seed.
    #[arg(long, default_value_t = Options::default().seed)]
    seed: u64,
    /// Fraction of events delivered twice.
    #[arg(long, default_value_t = Options::default().duplicate_rate)]
    duplicate_rate: f64,
    /// Minutes of events per delivery file.
    #[arg(long, default_value_t = Options::default().file_minutes)]
    file_minutes: u32,
    /// Organization id, for the organization trail layout.
    #[arg(long)]
    organization: Option<String>,
    /// Add the planted security scenarios (see the generator's docs).
    #[arg(long)]
    plant: bool,
    /// Also write hourly, chained digest files signed with this RSA private key (PEM or DER,
    /// e.g. from `openssl genrsa 2048`), each with its signature beside it as `<digest>.sig`,
    /// and the matching public key beside the output folder as `<DIR>.public-keys.json` (the
    /// shape of `aws cloudtrail list-public-keys`), so `ctlake validate` can check the trail.
    #[arg(long, value_name = "KEY")]
    digests: Option<PathBuf>,
}

impl Args {
    pub fn run(self, _: &Global) -> anyhow::Result<u8> {
        let opts = Options {
            out: self.out,
            events: self.events,
            start: self.start,
            days: self.days,
            regions: self.regions,
            accounts: self.accounts,
            seed: self.seed,
            duplicate_rate: self.duplicate_rate,
            file_minutes: self.file_minutes,
            organization: self.organization,
            plant: self.plant,
        };
        let t = Instant::now();
        let signer = self
            .digests
            .as_deref()
            .map(ctlake_digest::Signer::read)
            .transpose()?;
        let r = ctlake_generate::generate(&opts).context("generate")?;
        writeln!(
            io::stdout(),
            "generated {} events ({} records with {} re-deliveries) in {} files, {} gzipped, under {} in {:.1} s",
            format::count(r.events),
            format::count(r.records),
            format::count(r.duplicates),
            format::count(r.files),
            format::bytes(r.bytes),
            opts.out.display(),
            t.elapsed().as_secs_f64()
        )?;
        if let Some(signer) = &signer {
            let trail = ctlake_digest::Trail {
                name: "ctlake-generated".into(),
                home_region: "us-east-1".into(),
                bucket: "ctlake-generated-trail".into(),
            };
            let w = ctlake_digest::write_digests(&opts.out, &trail, signer)?;
            let mut keys = ctlake_digest::PublicKeys::default();
            keys.insert(signer.fingerprint().to_string(), signer.public_der());
            let mut path = opts.out.clone().into_os_string();
            path.push(".public-keys.json");
            let path = PathBuf::from(path);
            std::fs::write(&path, keys.to_json())
                .with_context(|| format!("writing {}", path.display()))?;
            writeln!(
                io::stdout(),
                "signed {} digest files listing {} log files; public key in {}",
                format::count(w.digests),
                format::count(w.logs),
                path.display()
            )?;
        }
        Ok(0)
    }
}
