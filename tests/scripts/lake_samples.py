#!/usr/bin/env python3
"""Runs every query of a checkout of AWS's CloudTrail Lake samples
(github.com/aws-samples/cloud-trail-lake-query-samples) against a lake, in every output format.

    git clone https://github.com/aws-samples/cloud-trail-lake-query-samples /tmp/samples
    ctlake ingest ../shared/corpora/* --lake /tmp/clake
    python3 tests/scripts/lake_samples.py /tmp/samples /tmp/clake [path/to/ctlake]

Only the event data store placeholder is replaced (`<EDS ID>`, `$EDS_ID`, ...) and, where a
sample is a template with `'${date_filter}'`, its two bounds. The samples' text is read from
the checkout at run time and never kept here. Prints one line per sample and format that
fails, then a summary; exit status 1 if any failed.
"""

import json
import os
import re
import subprocess
import sys

PLACEHOLDERS = ["<EDS ID>", "<event_data_store_id>", "<Event data store Id>",
                "<event-data-store-ID>", "<EDS_ID>"]
FORMATS = ["table", "csv", "tsv", "json", "ndjson", "markdown"]


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    samples, lake = sys.argv[1], sys.argv[2]
    binary = sys.argv[3] if len(sys.argv) > 3 else "ctlake"
    store = json.load(open(os.path.join(lake, "_ctlake", "lake.json")))["id"]
    failed, passed = [], 0
    for name in sorted(os.listdir(samples)):
        if not name.endswith(".sql"):
            continue
        sql = open(os.path.join(samples, name), encoding="utf-8").read()
        for p in PLACEHOLDERS:
            sql = sql.replace(p, store)
        bounds = iter(["'2000-01-01 00:00:00'", "'2100-01-01 00:00:00'"])
        sql = re.sub(r"'\$\{date_filter\}'", lambda _: next(bounds, "'2100-01-01 00:00:00'"), sql)
        for fmt in FORMATS:
            r = subprocess.run([binary, "query", "--lake", lake, "--format", fmt, "-c", sql],
                               capture_output=True, text=True, timeout=300)
            if r.returncode != 0:
                first = r.stderr.strip().splitlines()[0] if r.stderr.strip() else "?"
                failed.append((name, fmt, first))
                print(f"FAIL {name} [{fmt}]: {first}")
                break
        else:
            passed += 1
    print(f"{passed} samples ran in every format; {len({f[0] for f in failed})} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
