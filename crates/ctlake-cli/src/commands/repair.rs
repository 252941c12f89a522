//! `ctlake repair`: removes files no commit references and, when asked, takes damaged data
//! files out of the table in a commit of their own, naming the sources that restore them.

use std::io::{self, Write};

use ctlake_ingest::LakeWriter;
use ctlake_ingest::manifest::format_micros;
use ctlake_ingest::verify;

use crate::args::LakeArg;
use crate::{EXIT_DAMAGED, Global, format};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    lake: LakeArg,
    /// Also take the data files `verify` finds damaged out of the table (their events are
    /// then missing until their sources are ingested again with `ingest --recheck`).
    #[arg(long)]
    drop_damaged: bool,
    /// Find damage as `verify --deep` does.
    #[arg(long, requires = "drop_damaged")]
    deep: bool,
    #[command(flatten)]
    sweep: super::vacuum::Sweep,
}

impl Args {
    pub fn run(self, _: &Global) -> anyhow::Result<u8> {
        let lake = LakeWriter::open(&self.lake.lake)?;
        let _lock = lake.lock()?;
        let mut snap = lake.snapshot()?;
        let mut out = io::stdout().lock();
        self.sweep.run(&lake, &snap, &mut out)?;
        if !self.drop_damaged {
            return Ok(0);
        }
        let report = verify::verify_snapshot(lake.store(), &snap, self.deep)?;
        let mut paths: Vec<String> = report
            .damaged
            .iter()
            .filter(|d| snap.files.contains_key(&d.path))
            .map(|d| d.path.clone())
            .collect();
        paths.dedup();
        if report.damaged.iter().any(|d| d.partition.is_none()) {
            for d in report.damaged.iter().filter(|d| d.partition.is_none()) {
                writeln!(out, "cannot repair {}: {}", d.path, d.problem)?;
            }
            return Ok(EXIT_DAMAGED);
        }
        let entries: Vec<_> = paths
            .iter()
            .filter_map(|p| snap.files.get(p).cloned())
            .collect();
        let dropped = if self.sweep.dry_run {
            entries
        } else {
            verify::drop_files(lake.store(), &mut snap, &paths)?
        };
        let verb = if self.sweep.dry_run {
            "would drop"
        } else {
            "dropped"
        };
        let uris = if dropped.is_empty() {
            Vec::new()
        } else {
            verify::source_uris(lake.store(), &snap)?
        };
        for f in &dropped {
            writeln!(
                out,
                "{verb} {}: {} events of {} from {} to {}",
                f.path,
                format::count(f.rows),
                f.partition().dir(),
                format_micros(f.min_time_us),
                format_micros(f.max_time_us)
            )?;
            let sources = verify::sources_of(&uris, f);
            if sources.is_empty() {
                writeln!(
                    out,
                    "  its sources are not in AWS's layout: ingest again with --recheck what \
                     delivered {} on {}",
                    f.region, f.date
                )?;
            } else {
                writeln!(
                    out,
                    "  ingest again with `ctlake ingest --recheck` (events still stored are dropped as duplicates):"
                )?;
                for s in &sources {
                    writeln!(out, "    {s}")?;
                }
            }
        }
        writeln!(out, "{verb} {} damaged data files", dropped.len())?;
        Ok(0)
    }
}
