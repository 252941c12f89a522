//! The built-in query library (`queries/`) is compiled in with `include_dir!`, which stable
//! Rust cannot track; this makes cargo rebuild when a query changes.
fn main() {
    println!("cargo:rerun-if-changed=../../queries");
}
