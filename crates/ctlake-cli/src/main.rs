//! The `ctlake` binary: all logic lives in the `ctlake_cli` library and the crates below it.

// Ingestion allocates and frees many short-lived buffers across threads; mimalloc keeps them
// off the system allocator's locks and out of fresh page faults.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    ctlake_cli::main(std::env::args_os())
}
