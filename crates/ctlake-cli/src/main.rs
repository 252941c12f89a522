//! The `ctlake` binary: all logic lives in the `ctlake_cli` library and the crates below it.

fn main() -> std::process::ExitCode {
    ctlake_cli::main(std::env::args_os())
}
