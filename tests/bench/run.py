#!/usr/bin/env python3
"""ctlake's benchmark: ctlake and DuckDB side by side, on the same generated corpus, in one run.

    python3 tests/bench/run.py                 # quick: 200,000 events
    python3 tests/bench/run.py --events 5000000 --days 30 --regions 17 --accounts 20   # headline

What it measures, each as the median of --runs runs:
- ingest throughput (records read per second of wall time, whole process);
- peak RSS of the ingesting process (from wait4(2), the kernel's max-RSS counter that
  `/usr/bin/time -v` reports);
- lake bytes against the source .json.gz bytes.

The peer is DuckDB: read_json over the .json.gz files, unnest(Records), and a
PARTITION_BY (region, date) COPY to Parquet, the way a DuckDB user builds the same lake.
Needs: cargo, python3 and `pip install duckdb`.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CTLAKE = os.path.join(ROOT, "target", "release", "ctlake")

DUCKDB_INGEST = r"""
import duckdb, sys
src, out = sys.argv[1], sys.argv[2]
con = duckdb.connect()
# DuckDB's own advice for large COPYs; it only helps the peer.
con.sql("SET preserve_insertion_order = false")
con.sql(f'''
COPY (
  WITH recs AS (
    SELECT unnest(Records) AS r
    FROM read_json('{src}/**/*.json.gz', format = 'auto')
  )
  SELECT unnest(r), r.awsRegion AS region, CAST(r.eventTime AS DATE) AS date FROM recs
) TO '{out}' (FORMAT parquet, PARTITION_BY (region, date), OVERWRITE_OR_IGNORE)
''')
"""


def run_measured(cmd, peer=False):
    """Runs cmd; returns (seconds, peak RSS in bytes), or None when the peer fails."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    err = proc.stderr.read().decode(errors="replace")
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        if peer:
            why = f"signal {-code}" if code < 0 else f"exit {code}"
            print(f"DuckDB failed ({why}) after {seconds:.1f} s, peak RSS {usage.ru_maxrss / 1e3:,.0f} MB: {err.strip()[-300:]}")
            return None
        sys.exit(f"{cmd[0]} failed ({code}): {err}")
    return seconds, usage.ru_maxrss * 1024


def tree_bytes(path, suffix=""):
    total = 0
    for root, _, names in os.walk(path):
        for n in names:
            if n.endswith(suffix):
                total += os.path.getsize(os.path.join(root, n))
    return total


def fmt_rate(x):
    return f"{x:,.0f}"


def fmt_mb(x):
    return f"{x / 1e6:,.1f} MB"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--regions", type=int, default=8)
    ap.add_argument("--accounts", type=int, default=5)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--work", default=os.path.join(ROOT, "target", "bench"))
    ap.add_argument("--skip-duckdb", action="store_true")
    args = ap.parse_args()

    subprocess.run(["cargo", "build", "--release", "--quiet", "--bin", "ctlake"], cwd=ROOT, check=True)
    os.makedirs(args.work, exist_ok=True)
    corpus = os.path.join(args.work, f"corpus-{args.events}-{args.days}-{args.regions}-{args.accounts}")
    if not os.path.isdir(corpus):
        print(f"generating {args.events:,} events into {corpus} ...", flush=True)
        subprocess.run([CTLAKE, "generate", "--out", corpus, "--events", str(args.events), "--days", str(args.days),
                        "--regions", str(args.regions), "--accounts", str(args.accounts), "--seed", "42"], check=True)
    source_bytes = tree_bytes(corpus, ".json.gz")

    lake = os.path.join(args.work, "lake")
    ct_times, ct_rss = [], []
    for _ in range(args.runs):
        shutil.rmtree(lake, ignore_errors=True)
        s, rss = run_measured([CTLAKE, "ingest", "--quiet", "--lake", lake, corpus])
        ct_times.append(s)
        ct_rss.append(rss)
    info = json.loads(subprocess.run([CTLAKE, "info", "--json", "--lake", lake], check=True, capture_output=True).stdout)
    log = os.path.join(lake, "_ctlake", "log")
    records = sum(sum(src["events"] for src in json.load(open(os.path.join(log, n)))["sources"]) for n in os.listdir(log))
    ct_lake_bytes = tree_bytes(os.path.join(lake, "cloudtrail"), ".parquet")

    dk_times, dk_rss, dk_bytes = [], [], None
    if not args.skip_duckdb:
        out = os.path.join(args.work, "duckdb-lake")
        for _ in range(args.runs):
            shutil.rmtree(out, ignore_errors=True)
            measured = run_measured([sys.executable, "-c", DUCKDB_INGEST, corpus, out], peer=True)
            if measured is None:
                dk_times, dk_rss = [], []
                break
            dk_times.append(measured[0])
            dk_rss.append(measured[1])
        dk_bytes = tree_bytes(out, ".parquet") if dk_times else None

    ct_rate = records / statistics.median(ct_times)
    rows = [("ingest throughput (records/s)", fmt_rate(ct_rate)),
            ("ingest peak RSS", fmt_mb(max(ct_rss))),
            ("lake bytes / source .json.gz bytes", f"{ct_lake_bytes / source_bytes:.2f}x")]
    print()
    print(f"corpus: {records:,} records ({info['events']:,} distinct events), {args.days} days, "
          f"{args.regions} regions, {args.accounts} accounts, {fmt_mb(source_bytes)} of .json.gz; "
          f"median of {args.runs} runs, {os.cpu_count()} cores")
    print()
    print(f"| figure | ctlake | DuckDB {'' if args.skip_duckdb else __import__('duckdb').__version__} | ratio | target | met |")
    print("|---|---|---|---|---|---|")
    if dk_times:
        dk_rate = records / statistics.median(dk_times)
        ratio = ct_rate / dk_rate
        print(f"| ingest throughput (records/s) | {fmt_rate(ct_rate)} | {fmt_rate(dk_rate)} | {ratio:.1f}x faster | "
              f">= 10x DuckDB and >= 250,000/s | {'yes' if ratio >= 10 and ct_rate >= 250_000 else 'NO'} |")
        print(f"| ingest peak RSS | {fmt_mb(max(ct_rss))} | {fmt_mb(max(dk_rss))} | {max(dk_rss) / max(ct_rss):.1f}x less | "
              f"< 1 GB | {'yes' if max(ct_rss) < 1e9 else 'NO'} |")
        print(f"| lake bytes / source .json.gz bytes | {ct_lake_bytes / source_bytes:.2f}x | {dk_bytes / source_bytes:.2f}x "
              f"(no eventjson) | | <= 1.0x, eventjson included | {'yes' if ct_lake_bytes <= source_bytes else 'NO'} |")
    else:
        for name, value in rows:
            print(f"| {name} | {value} | ({'skipped' if args.skip_duckdb else 'failed'}) | | | |")
    print()
    print(f"ctlake runs (s): {', '.join(f'{t:.2f}' for t in ct_times)}"
          + (f"; DuckDB runs (s): {', '.join(f'{t:.2f}' for t in dk_times)}" if dk_times else ""))


if __name__ == "__main__":
    main()
