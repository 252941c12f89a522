//! Decoder micro-benchmark: `cargo run --release -p ctlake-ingest --example decode_bench FILE.json.gz`
//! decodes the records of one delivery file over and over, without I/O, and prints the cost
//! per record of each stage.

use std::io::Read;
use std::time::Instant;

use ctlake_ingest::internals::Decoder;
use ctlake_ingest::internals::{Framer, Item};

fn main() {
    let path = std::env::args().nth(1).expect("a .json.gz file");
    let mut text = Vec::new();
    ctlake_ingest::source::open(std::path::Path::new(&path))
        .unwrap()
        .read_to_end(&mut text)
        .unwrap();
    let mut records: Vec<Vec<u8>> = Vec::new();
    Framer::new(&text[..])
        .run(|item| {
            if let Item::Record(f) = item {
                records.push(f.json.to_vec());
            }
        })
        .unwrap();
    let bytes: usize = records.iter().map(|r| r.len()).sum();
    let rounds = (200_000 / records.len()).max(1);
    let n = rounds * records.len();

    let t = Instant::now();
    for _ in 0..rounds {
        Framer::new(&text[..]).run(|_| {}).unwrap();
    }
    let frame = t.elapsed().as_secs_f64();

    let t = Instant::now();
    for _ in 0..rounds {
        for r in &records {
            let v: serde_json::Value = serde_json::from_slice(r).unwrap();
            std::hint::black_box(v);
        }
    }
    let dom = t.elapsed().as_secs_f64();

    let mut d = Decoder::new(ctlake_schema::event_schema());
    let t = Instant::now();
    for round in 0..rounds {
        for r in &records {
            d.decode(r).unwrap();
        }
        if round % 20 == 19 {
            std::hint::black_box(d.take());
        }
    }
    std::hint::black_box(d.take());
    let decode = t.elapsed().as_secs_f64();

    let us = |s: f64| s / n as f64 * 1e6;
    println!(
        "{} records of {} bytes on average, {n} decoded\nframing: {:.2} us/record\nserde_json Value (reference): {:.2} us/record\nctlake decode: {:.2} us/record ({:.0} records/s on one core)",
        records.len(),
        bytes / records.len(),
        us(frame),
        us(dom),
        us(decode),
        n as f64 / decode
    );
}
