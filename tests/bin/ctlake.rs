//! `ctlake` as the end-to-end tests run it.

fn main() -> std::process::ExitCode {
    ctlake_cli::main(std::env::args_os())
}
