//! `ctlake info`: what the lake holds.

use std::io;

use ctlake_ingest::LakeWriter;

use crate::args::LakeArg;
use crate::{Global, format};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    lake: LakeArg,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

impl Args {
    pub fn run(self, _: &Global) -> anyhow::Result<u8> {
        let summary = LakeWriter::open(&self.lake.lake)?.summary()?;
        let mut out = io::stdout().lock();
        if self.json {
            format::info_json(&mut out, &self.lake.lake, &summary)?;
        } else {
            format::info_text(&mut out, &self.lake.lake, &summary)?;
        }
        Ok(0)
    }
}
