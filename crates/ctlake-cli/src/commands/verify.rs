//! `ctlake verify`: checks the lake against its commit log and names every damaged file.

use std::io::{self, Write};

use ctlake_ingest::LakeWriter;
use ctlake_ingest::verify::{self, VerifyReport};

use crate::args::LakeArg;
use crate::{EXIT_DAMAGED, Global, format};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    lake: LakeArg,
    /// Also decode every page and re-hash every eventjson against its eventjsonchecksum
    /// (reads the whole lake; finds damage in files written before their SHA-256 was recorded).
    #[arg(long)]
    deep: bool,
}

impl Args {
    pub fn run(self, _: &Global) -> anyhow::Result<u8> {
        let lake = LakeWriter::open(&self.lake.lake)?;
        let report = verify::verify(lake.store(), self.deep)?;
        print(&mut io::stdout().lock(), &report, self.deep)?;
        Ok(if report.is_clean() { 0 } else { EXIT_DAMAGED })
    }
}

/// The findings, one line each, then the summary.
pub fn print(out: &mut impl Write, r: &VerifyReport, deep: bool) -> io::Result<()> {
    for d in &r.damaged {
        writeln!(out, "DAMAGED {}: {}", d.path, d.problem)?;
    }
    for (d, _) in &r.unreferenced {
        writeln!(out, "UNREFERENCED {}: {}", d.path, d.problem)?;
    }
    let mut partitions: Vec<&str> = r
        .damaged
        .iter()
        .chain(r.unreferenced.iter().map(|(d, _)| d))
        .filter_map(|d| d.partition.as_deref())
        .collect();
    partitions.sort_unstable();
    partitions.dedup();
    writeln!(
        out,
        "checked {} data files ({}, {} events{}{}): {} damaged, {} unreferenced{}",
        format::count(r.files as u64),
        format::bytes(r.bytes),
        format::count(r.events),
        if deep {
            format!(", {} eventjson re-hashed", format::count(r.events_rehashed))
        } else {
            String::new()
        },
        if r.without_sha256 > 0 && !deep {
            format!(
                "; {} written before SHA-256s were recorded, checked by --deep only",
                format::count(r.without_sha256 as u64)
            )
        } else {
            String::new()
        },
        r.damaged.len(),
        r.unreferenced.len(),
        if partitions.is_empty() {
            String::new()
        } else {
            format!(" in {}", partitions.join(", "))
        }
    )?;
    if !r.is_clean() {
        writeln!(
            out,
            "`ctlake repair` removes unreferenced files; `ctlake repair --drop-damaged` takes \
             damaged ones out of the table and says which sources to ingest again"
        )?;
    }
    Ok(())
}
