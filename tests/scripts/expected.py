#!/usr/bin/env python3
"""Independent oracle for the end-to-end tests: what a lake built from SOURCES must hold.

Reads CloudTrail files with nothing but the Python standard library and applies the ingest
rules as the ingest issue states them, written without looking at ctlake's code:
- inputs: {"Records": [...]}, a JSON array, a single record, JSON Lines, lookup-events output;
  gzip decided by the magic bytes; digest files (CloudTrail-Digest/) are not events;
- a record without a parseable eventTime, or with an awsRegion outside [a-z0-9-]{1,32}, is
  rejected;
- partition = (awsRegion, UTC date of eventTime); an eventID repeated within its partition is
  stored once.

Prints JSON: {"events": N, "rejects": N, "partitions": {"region=r/date=d": N, ...},
"by_file": {path: [eventID, ...]}}.
"""
import datetime
import gzip
import json
import os
import re
import sys

SUFFIXES = (".json", ".jsonl", ".ndjson", ".gz", ".cloudtrail")
REGION = re.compile(r"^[a-z0-9-]{1,32}$")


def records_of(text):
    text = text.strip()
    try:
        docs = [json.loads(text)]
    except json.JSONDecodeError:
        docs = [json.loads(line) for line in text.splitlines() if line.strip()]
    for doc in docs:
        if isinstance(doc, list):
            yield from doc
        elif isinstance(doc, dict) and isinstance(doc.get("Records"), list):
            yield from doc["Records"]
        elif isinstance(doc, dict) and isinstance(doc.get("Events"), list):
            for e in doc["Events"]:
                yield json.loads(e["CloudTrailEvent"])
        else:
            yield doc


def parse_time(s):
    if not isinstance(s, str):
        return None
    try:
        t = datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))
    except ValueError:
        return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=datetime.timezone.utc)
    return t.astimezone(datetime.timezone.utc)


def files_under(paths):
    for p in paths:
        if os.path.isfile(p):
            yield p
            continue
        for root, dirs, names in os.walk(p):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for n in sorted(names):
                if not n.startswith(".") and n.lower().endswith(SUFFIXES):
                    yield os.path.join(root, n)


def main(paths):
    seen = set()
    partitions = {}
    by_file = {}
    rejects = 0
    for path in files_under(paths):
        if "CloudTrail-Digest" in path.split(os.sep):
            continue
        raw = open(path, "rb").read()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        ids = []
        for rec in records_of(raw.decode("utf-8")):
            t = parse_time(rec.get("eventTime")) if isinstance(rec, dict) else None
            region = rec.get("awsRegion") if isinstance(rec, dict) else None
            if t is None or not isinstance(region, str) or not REGION.match(region):
                rejects += 1
                continue
            part = f"region={region}/date={t.date().isoformat()}"
            key = (part, rec.get("eventID") or json.dumps(rec, sort_keys=True))
            ids.append(rec.get("eventID"))
            if key in seen:
                continue
            seen.add(key)
            partitions[part] = partitions.get(part, 0) + 1
        by_file[path] = ids
    json.dump({"events": len(seen), "rejects": rejects, "partitions": partitions, "by_file": by_file}, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1:])
