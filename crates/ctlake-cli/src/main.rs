//! The `ctlake` binary: all logic lives in the `ctlake_cli` library and the crates below it.

// Ingestion allocates and frees many short-lived buffers across threads; mimalloc keeps them
// off the system allocator's locks and out of fresh page faults.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    // mimalloc asks the kernel for transparent huge pages on its arenas, so every buffer that
    // grows into fresh memory has a whole 2 MB page zeroed for it. Measured on ingest: up to
    // 28% of the CPU in `clear_page_erms`, and 120 MB more peak RSS; off, the same work takes
    // the same time or less. The flag only changes how memory is backed.
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_THP_DISABLE takes plain integers and touches no memory of ours.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
    ctlake_cli::main(std::env::args_os())
}
