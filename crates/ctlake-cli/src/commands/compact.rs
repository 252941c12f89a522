//! `ctlake compact`: merges partitions' small files on demand.

use std::io;

use ctlake_ingest::{CompactOptions, LakeWriter};
use ctlake_schema::layout::PartitionKey;

use crate::args::{self, LakeArg};
use crate::{Global, format};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    lake: LakeArg,
    /// Only this partition: `REGION/YYYY-MM-DD` or `region=R/date=D` (repeat for several).
    #[arg(long = "partition", value_name = "PARTITION", value_parser = args::partition)]
    partitions: Vec<PartitionKey>,
    /// Megabytes per output file.
    #[arg(
        long,
        default_value_t = CompactOptions::default().target_bytes >> 20,
        value_name = "MB",
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    target_mb: u64,
    /// No summary.
    #[arg(long, short)]
    quiet: bool,
}

impl Args {
    pub fn run(self, _: &Global) -> anyhow::Result<u8> {
        let lake = LakeWriter::open(&self.lake.lake)?;
        let opts = CompactOptions {
            target_bytes: self.target_mb << 20,
            partitions: self.partitions,
            ..Default::default()
        };
        let r = ctlake_ingest::compact(&lake, &opts)?;
        if !self.quiet {
            format::compact_summary(&mut io::stdout().lock(), &r)?;
        }
        Ok(0)
    }
}
