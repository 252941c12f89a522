//! Writer micro-benchmark: `cargo run --release -p ctlake-ingest --example write_bench FOLDER`
//! decodes a folder of deliveries once, then times encoding it as Parquet, by stage.

use std::io::Read;
use std::time::Instant;

use ctlake_ingest::internals::Decoder;
use ctlake_ingest::internals::{Framer, Item};

fn main() {
    let dir = std::env::args().nth(1).expect("a folder of .json.gz files");
    let found = ctlake_ingest::source::discover(&[dir], None).unwrap();
    let mut d = Decoder::new(ctlake_schema::event_schema());
    for f in found.files.iter().take(2000) {
        let mut text = Vec::new();
        ctlake_ingest::source::open(&f.path)
            .unwrap()
            .read_to_end(&mut text)
            .unwrap();
        Framer::new(&text[..])
            .run(|item| {
                if let Item::Record(r) = item {
                    let _ = d.decode(r.json);
                }
            })
            .unwrap();
    }
    let parts = d.take();
    let rows: usize = parts.iter().map(|p| p.batch.num_rows()).sum();
    let t = Instant::now();
    let mut bytes = 0;
    for p in &parts {
        bytes += ctlake_ingest::internals::encode(std::slice::from_ref(&p.batch))
            .unwrap()
            .bytes
            .len();
    }
    let s = t.elapsed().as_secs_f64();
    println!(
        "{rows} rows in {} partitions -> {bytes} bytes: {:.2} us/row ({:.0} rows/s on one core)",
        parts.len(),
        s / rows as f64 * 1e6,
        rows as f64 / s
    );
}
