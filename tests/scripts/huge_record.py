#!/usr/bin/env python3
"""Writes a small .json.gz delivery whose second record holds a string of N MiB (a gzip bomb
of one record): huge_record.py PATH N. Records 1 and 3 are ordinary (eventIDs id-1, id-3)."""
import sys, zlib, json
path, n = sys.argv[1], int(sys.argv[2])
def rec(i, extra=""):
    return ('{"eventVersion":"1.08","userIdentity":{"type":"IAMUser","userName":"t"},"eventTime":"2026-11-01T00:00:0%dZ","eventSource":"s3.amazonaws.com","eventName":"ListBuckets","awsRegion":"us-east-1","sourceIPAddress":"192.0.2.1","eventID":"id-%d","readOnly":true%s}' % (i, i, extra))
c = zlib.compressobj(1, zlib.DEFLATED, 31)
out = open(path, 'wb')
out.write(c.compress(('{"Records":[' + rec(1) + ',' + rec(2, ',"userAgent":"').rstrip('}')).encode()))
chunk = b'A' * (1 << 20)
for _ in range(n):
    out.write(c.compress(chunk))
out.write(c.compress(('"},' + rec(3) + ']}').encode()))
out.write(c.flush())
