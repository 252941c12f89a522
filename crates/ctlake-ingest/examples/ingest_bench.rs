//! Ingest without the CLI, for profiling: `cargo run --release -p ctlake-ingest --example
//! ingest_bench -- LAKE SRC... [--no-compact] [--memory-budget MB]` runs the same pipeline, with
//! the same allocator, as `ctlake ingest` (the binary links DataFusion, whose release link takes
//! many minutes; this does not) and prints the run's figures, so a change to decoding or
//! writing can be measured, and profiled with `perf record`, within a minute of editing it.

use std::time::Instant;

use ctlake_ingest::lake::LakeWriter;
use ctlake_ingest::pipeline::{IngestOptions, Progress, ingest};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    // As the binary does (see ctlake-cli's main): no transparent huge pages.
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_THP_DISABLE takes plain integers and touches no memory of ours.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
    let mut opts = IngestOptions::default();
    let mut args = Vec::new();
    let mut given = std::env::args().skip(1);
    while let Some(arg) = given.next() {
        match arg.as_str() {
            "--no-compact" => opts.compact = false,
            "--memory-budget" => {
                let mb: usize = given.next().and_then(|v| v.parse().ok()).expect("MB");
                opts.memory_budget = mb << 20;
            }
            _ => args.push(arg),
        }
    }
    let (lake, sources) = args.split_first().expect("LAKE SRC...");
    let lake = LakeWriter::create(std::path::Path::new(lake)).expect("the lake");
    let started = Instant::now();
    let r = ingest(&lake, sources, &opts, &Progress::default()).expect("ingest");
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "files {} read {} written {} duplicates {} partitions {} data files {} ({} bytes)",
        r.files_ingested,
        r.events_read,
        r.events_written,
        r.duplicates,
        r.partitions.len(),
        r.files_written,
        r.bytes_written,
    );
    println!(
        "{seconds:.2} s = {:.0} records/s; walk {:.2} s, encoding {:.2} s, commits {:.2} s, \
         compaction {} -> {} files",
        r.events_read as f64 / seconds,
        r.discover_seconds,
        r.write_seconds,
        r.commit_seconds,
        r.compaction.files_before,
        r.compaction.files_after,
    );
}
