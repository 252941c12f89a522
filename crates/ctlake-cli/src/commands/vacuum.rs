//! `ctlake vacuum`: removes data files no commit references.

use std::io::{self, Write};
use std::time::Duration;

use ctlake_ingest::LakeWriter;
use ctlake_ingest::manifest::{self, ORPHAN_AGE, Snapshot};

use crate::args::{self, LakeArg};
use crate::{Global, format};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    lake: LakeArg,
    #[command(flatten)]
    sweep: Sweep,
}

/// Which unreferenced files go: shared by `vacuum` and `repair`.
#[derive(Debug, clap::Args)]
pub struct Sweep {
    /// Only files at least this old: 30m, 1h, 2d [default: 1h; 0 on a local lake, whose
    /// writers hold a lock].
    #[arg(long, value_name = "AGE", value_parser = args::age)]
    older_than: Option<Duration>,
    /// Say what would be done, change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

impl Sweep {
    /// Removes (or, dry, lists) the files of `snap`'s lake that no commit references, saying
    /// what it did. The caller holds the write lock.
    pub fn run(
        &self,
        lake: &LakeWriter,
        snap: &Snapshot,
        out: &mut impl Write,
    ) -> anyhow::Result<()> {
        let age = match self.older_than {
            Some(age) => age,
            None if lake.store().renames() => Duration::ZERO,
            None => ORPHAN_AGE,
        };
        let orphans = manifest::vacuum(lake.store(), snap, age, self.dry_run)?;
        let verb = if self.dry_run {
            "would remove"
        } else {
            "removed"
        };
        for o in &orphans {
            writeln!(
                out,
                "{verb} {} ({}, written {})",
                o.path,
                format::bytes(o.bytes),
                o.written
            )?;
        }
        writeln!(
            out,
            "{verb} {} unreferenced files, {} (files younger than {} kept)",
            orphans.len(),
            format::bytes(orphans.iter().map(|o| o.bytes).sum()),
            format::age(age)
        )?;
        let waiting = manifest::retired(lake.store(), snap)?;
        if !waiting.is_empty() {
            writeln!(
                out,
                "{} files that compaction replaced wait for the queries that may read them; \
                 the next writer removes them",
                waiting.len()
            )?;
        }
        Ok(())
    }
}

impl Args {
    pub fn run(self, _: &Global) -> anyhow::Result<u8> {
        let lake = LakeWriter::open(&self.lake.lake)?;
        let _lock = lake.lock()?;
        let snap = lake.snapshot()?;
        self.sweep.run(&lake, &snap, &mut io::stdout().lock())?;
        Ok(0)
    }
}
