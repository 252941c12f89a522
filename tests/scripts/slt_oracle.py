#!/usr/bin/env python3
"""DuckDB oracle for the sqllogictest files: computes, from the raw CloudTrail JSON, what each
annotated query block must return, without ctlake.

A block is annotated by comment lines just above its `query` line:

    # duckdb: SELECT ... FROM events ...
    #   ... continued
    query T
    <ctlake SQL>
    ----
    <expected rows>

`events` is one row per stored event: the records of DATA_DIR read by expected.py's reader
(gzip by magic, digests skipped), deduplicated by (region, UTC date, eventID) as the ingest
issue states, with top-level fields as columns named in lower case, nested objects as JSON,
`eventtime` a UTC TIMESTAMP and `readonly` as text.

    slt_oracle.py --check FILE.slt DATA_DIR   # exit 1 if any block disagrees
    slt_oracle.py --write FILE.slt DATA_DIR   # rewrite the expected rows from DuckDB
"""
import datetime
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import expected  # noqa: E402

import duckdb  # noqa: E402

TEXT = ["eventversion", "eventsource", "eventname", "awsregion", "sourceipaddress", "useragent",
        "errorcode", "errormessage", "requestid", "eventid", "eventtype", "apiversion",
        "readonly", "recipientaccountid", "sharedeventid", "vpcendpointid", "eventcategory",
        "managementevent"]
JSON = ["useridentity", "requestparameters", "responseelements", "additionaleventdata",
        "resources", "tlsdetails", "serviceeventdetails"]


def load(data_dir):
    seen = set()
    rows = []
    for path in expected.files_under([data_dir]):
        if "CloudTrail-Digest" in path.split(os.sep):
            continue
        raw = open(path, "rb").read()
        if raw[:2] == b"\x1f\x8b":
            import gzip
            raw = gzip.decompress(raw)
        for rec in expected.records_of(raw.decode("utf-8")):
            t = expected.parse_time(rec.get("eventTime"))
            region = rec.get("awsRegion")
            if t is None or not isinstance(region, str) or not expected.REGION.match(region):
                continue
            key = (region, t.date(), rec.get("eventID"))
            if key in seen:
                continue
            seen.add(key)
            lower = {k.lower(): v for k, v in rec.items()}
            row = {"eventtime": t.strftime("%Y-%m-%d %H:%M:%S")}
            for c in TEXT:
                v = lower.get(c)
                row[c] = None if v is None else (str(v).lower() if isinstance(v, bool) else str(v))
            for c in JSON:
                v = lower.get(c)
                row[c] = None if v is None else json.dumps(v)
            rows.append(row)
    con = duckdb.connect()
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    columns = {"eventtime": "TIMESTAMP", **{c: "VARCHAR" for c in TEXT + JSON}}
    con.execute(f"CREATE TABLE raw AS SELECT * FROM read_json('{f.name}', format='newline_delimited', columns={columns!r})")
    json_cols = ", ".join(f"CAST({c} AS JSON) AS {c}" for c in JSON)
    con.execute(f"CREATE TABLE events AS SELECT * EXCLUDE ({', '.join(JSON)}), {json_cols} FROM raw")
    os.unlink(f.name)
    return con


def fmt(v):
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, datetime.datetime):
        return v.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    if isinstance(v, datetime.date):
        return v.isoformat()
    if isinstance(v, list):
        return "[" + ", ".join(fmt(x) for x in v) + "]"
    s = str(v)
    return s if s != "" else "(empty)"


def blocks(lines):
    """(index of the first expected line, index past the last, DuckDB SQL) per annotated block."""
    i = 0
    while i < len(lines):
        if lines[i].startswith("# duckdb:"):
            sql = [lines[i][len("# duckdb:"):].strip()]
            i += 1
            while i < len(lines) and lines[i].startswith("#   "):
                sql.append(lines[i][1:].strip())
                i += 1
            while not lines[i].startswith("query"):
                i += 1
            while lines[i].strip() != "----":
                i += 1
            start = i + 1
            end = start
            while end < len(lines) and lines[end].strip() != "":
                end += 1
            yield start, end, " ".join(sql)
            i = end
        else:
            i += 1


def main():
    mode, slt, data_dir = sys.argv[1:4]
    con = load(data_dir)
    lines = open(slt).read().split("\n")
    failures = 0
    out = list(lines)
    # Replace from the end so earlier indexes stay valid.
    for start, end, sql in reversed(list(blocks(lines))):
        got = [" ".join(fmt(v) for v in row) for row in con.execute(sql).fetchall()]
        if got != lines[start:end]:
            failures += 1
            print(f"{slt}:{start}: DuckDB says\n  " + "\n  ".join(got) + "\nthe file says\n  " + "\n  ".join(lines[start:end]) + f"\nfor: {sql}\n")
        out[start:end] = got
    if mode == "--write":
        open(slt, "w").write("\n".join(out))
    elif failures:
        print(f"{failures} block(s) disagree with DuckDB")
        sys.exit(1)
    else:
        print(f"every annotated block of {slt} agrees with DuckDB")


if __name__ == "__main__":
    main()
