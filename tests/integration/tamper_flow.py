#!/usr/bin/python3
"""Tampering with a stored data file, seen through HTTP (curl with presigned URLs).

- a flipped byte in the first chunk: 500 InternalError before any body byte of the object;
- a flipped byte in a later chunk of a multi-MiB object (single PUT, and the second part of a multipart object): the
  response has started (200), then the connection is aborted: curl exits 18 (partial file) or 56 (receive failure),
  never 0 with the full length, and every byte it did receive is authentic plaintext;
- /metrics counts each integrity failure (integrity_failures_total), the audit log has the events, and the server
  goes on serving the untouched objects.

The data file of an object is found as the one file that appeared under DATA/store/data/ when it was written; its
layout (docs/FORMAT.md: stream = salt 24 || commitment 32 || chunks of 16,384 + 16 bytes, the last one shorter) is
checked from its size before a byte is flipped.

Usage: /usr/bin/python3 tamper_flow.py BLOBSEAL_BIN   (or BLOBSEAL_BIN in the environment)
"""
import os
import re
import stat
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from harness import Blobseal, log, metric_value, sha256  # noqa: E402

MiB = 1024 * 1024
CHUNK = 16384
SEALED_CHUNK = CHUNK + 16
STREAM_HEADER = 56


def stream_size(n):
    return STREAM_HEADER + (n // CHUNK) * SEALED_CHUNK + (n % CHUNK) + 16


def data_files(server):
    root = os.path.join(server.data, "store", "data")
    return {os.path.join(r, n) for r, _, names in os.walk(root) for n in names}


def put_and_find(server, write):
    """Runs `write` (which stores one object) and returns the one non-empty data file it left under DATA/store/data/."""
    before = data_files(server)
    write()
    # Internal records with empty bodies (a bucket record, the listing index key) may appear alongside: skip them.
    new = {f for f in data_files(server) - before if os.path.getsize(f) > 0}
    assert len(new) == 1, f"expected one new data file under {server.data}/store/data, found {sorted(new)}"
    return new.pop()


def flip_byte(path, offset):
    mode = os.stat(path).st_mode
    os.chmod(path, mode | stat.S_IWUSR)
    with open(path, "r+b") as f:
        f.seek(offset)
        byte = f.read(1)
        assert len(byte) == 1, f"{path} has no byte at offset {offset}"
        f.seek(offset)
        f.write(bytes([byte[0] ^ 0x01]))
    os.chmod(path, stat.S_IMODE(mode))


def integrity_failures(server):
    return metric_value(server.metrics(), "integrity_failures_total")


def wait_integrity_failures(server, at_least, what):
    """The counter may be bumped just after the client saw the 500 or the reset: poll for up to 5 s."""
    deadline = time.time() + 5
    while True:
        value = integrity_failures(server)
        if value >= at_least or time.time() > deadline:
            break
        time.sleep(0.1)
    assert value >= at_least, f"integrity_failures_total did not grow after {what} (expected >= {at_least}, got {value})"


def presigned_get(s3, bucket, key):
    return s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=600)


def expect_aborted(server, url, plaintext, corrupt_chunk, what):
    """GET must start (200) and then be cut: curl exit 18/56, a strict authentic prefix of the plaintext."""
    out = os.path.join(server.work, "aborted.body")
    code, status, _, headers = server.curl("--max-time", "60", url, output=out)
    received = open(out, "rb").read() if os.path.exists(out) else b""
    log(f"{what}: curl exit {code}, HTTP {status}, {len(received)} of {len(plaintext)} bytes before the abort")
    assert code != 0, (f"{what}: curl exit 0 with HTTP {status} and {len(received)} bytes: a corrupt object ended as a "
                       "clean response")
    assert code in (18, 56), f"{what}: expected curl exit 18 (partial file) or 56 (receive failure), got {code}"
    assert status == 200, f"{what}: expected the response to start with 200 (the first chunks are sound), got {status}"
    assert len(received) < len(plaintext), f"{what}: the whole length arrived ({len(received)} bytes)"
    assert received == plaintext[:len(received)], f"{what}: the bytes received before the abort are not the plaintext"
    assert len(received) <= corrupt_chunk * CHUNK, (f"{what}: {len(received)} bytes released, beyond the start of the "
                                                    f"corrupt chunk {corrupt_chunk} (byte {corrupt_chunk * CHUNK})")


def main():
    with Blobseal() as server:
        s3 = server.client()
        bucket = "tamper-" + os.urandom(4).hex()
        s3.create_bucket(Bucket=bucket)
        objects = {"first": os.urandom(200 * 1024), "later": os.urandom(8 * MiB + 123), "intact": os.urandom(3 * MiB)}
        files = {}
        for key, data in objects.items():
            files[key] = put_and_find(server, lambda: s3.put_object(Bucket=bucket, Key=key, Body=data))
            size = os.path.getsize(files[key])
            assert size == stream_size(len(data)), (
                f"data file of {key} is {size} bytes, docs/FORMAT.md says {stream_size(len(data))} for a "
                f"{len(data)}-byte single stream: the layout assumed here no longer holds")
        parts = [os.urandom(5 * MiB), os.urandom(3 * MiB + 5)]

        def multipart():
            upload_id = s3.create_multipart_upload(Bucket=bucket, Key="multipart")["UploadId"]
            etags = [s3.upload_part(Bucket=bucket, Key="multipart", UploadId=upload_id, PartNumber=i + 1,
                                    Body=p)["ETag"] for i, p in enumerate(parts)]
            s3.complete_multipart_upload(Bucket=bucket, Key="multipart", UploadId=upload_id, MultipartUpload={
                "Parts": [{"PartNumber": i + 1, "ETag": e} for i, e in enumerate(etags)]})

        files["multipart"] = put_and_find(server, multipart)
        objects["multipart"] = parts[0] + parts[1]
        size = os.path.getsize(files["multipart"])
        assert size == stream_size(len(parts[0])) + stream_size(len(parts[1])), (
            f"data file of the multipart object is {size} bytes, expected two concatenated streams of "
            f"{stream_size(len(parts[0]))} + {stream_size(len(parts[1]))}")
        for key, data in objects.items():
            body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            assert sha256(body) == sha256(data), f"GetObject {key} before tampering: SHA-256 differs"

        log("flip a byte in the first chunk of 'first': 500 InternalError before any body byte")
        failures = integrity_failures(server)
        flip_byte(files["first"], STREAM_HEADER + 100)
        code, status, body, headers = server.curl(presigned_get(s3, bucket, "first"))
        assert status == 500, f"GET of an object whose first chunk is corrupt: expected 500, got {status} (curl exit {code})"
        assert b"<Code>InternalError</Code>" in (body or b""), f"expected an S3 InternalError body, got {body[:300]!r}"
        assert objects["first"][:16] not in body and objects["first"][100:116] not in body, \
            "the 500 response carries bytes of the object"
        assert re.search(r"(?im)^content-type: (application|text)/xml", headers), f"500 response headers:\n{headers}"
        wait_integrity_failures(server, failures + 1, "a corrupt first chunk")
        # A range that starts inside the corrupt chunk fails the same way; one that stays clear of it is served.
        code, status, body, _ = server.curl("-r", "50-20000", presigned_get(s3, bucket, "first"))
        assert status == 500 and b"<Code>InternalError</Code>" in body, f"ranged GET over the corrupt chunk: {status}"
        code, status, body, _ = server.curl("-r", f"{CHUNK}-{3 * CHUNK - 1}", presigned_get(s3, bucket, "first"))
        assert status == 206 and body == objects["first"][CHUNK:3 * CHUNK], \
            f"ranged GET of chunks 1-2 of 'first' (chunk 0 corrupt): expected 206 with the plaintext, got {status}"

        log("flip a byte in chunk 400 (about 6.25 MiB in) of the 8 MiB 'later': the connection is aborted")
        failures = integrity_failures(server)
        flip_byte(files["later"], STREAM_HEADER + 400 * SEALED_CHUNK + 77)
        expect_aborted(server, presigned_get(s3, bucket, "later"), objects["later"], 400, "GET of 'later'")
        wait_integrity_failures(server, failures + 1, "an aborted download")

        log("flip a byte in part 2, chunk 60, of the multipart object: the connection is aborted")
        failures = integrity_failures(server)
        flip_byte(files["multipart"], stream_size(len(parts[0])) + STREAM_HEADER + 60 * SEALED_CHUNK + 5)
        expect_aborted(server, presigned_get(s3, bucket, "multipart"), objects["multipart"], len(parts[0]) // CHUNK + 60,
                       "GET of 'multipart'")
        wait_integrity_failures(server, failures + 1, "a corrupt part")

        log("the server goes on: the untouched object, /health")
        body = s3.get_object(Bucket=bucket, Key="intact")["Body"].read()
        assert sha256(body) == sha256(objects["intact"]), "GetObject of the untouched object after the aborts"
        status, _, _ = server.http_get("/health")
        assert status == 200, f"/health after integrity failures: {status}"

        server.stop()  # flushes the audit log
        events = [e for e in server.audit_events() if e.get("action") == "GetObject"]
        for key in ("first", "later", "multipart"):
            failed = [e for e in events if e.get("key") == key and (e.get("status") == 500 or e.get("error_code"))]
            assert failed, (f"no audit event records the failed GET of '{key}'; GetObject events for it: "
                            f"{[e for e in events if e.get('key') == key]}")
        log(f"audit events of the failed GETs: {[(e['key'], e['status'], e.get('error_code')) for e in events if e.get('error_code')]}")
    log("tamper checks passed")


if __name__ == "__main__":
    main()
