"""Gateway mode: 32 concurrent 256 MiB uploads, then 32 concurrent 256 MiB downloads, keep blobseal serve's peak RSS
under 160 MiB.

In gateway mode a PUT seals and uploads as it receives (an upstream multipart upload streamed from the client's
socket when the length is declared), and a GET streams the upstream's ciphertext through a bounded read-ahead
window: memory must not grow with object size x concurrency (2 x 32 x 256 MiB = 16 GiB moved). The bound is asserted
on VmHWM (peak resident set) from /proc/PID/status after both phases; every upload must be acknowledged and every
download must return the full length and the SHA-256 of what was uploaded for that key.

Runs under tests/upstream/with_upstream.sh (s3rver by default in ctest). Use /usr/bin/python3 (boto3 presigns the
URLs). Env UPLOADS, MIB and LIMIT_MIB change the load and the bound.
"""
import hashlib
import http.client
import os
import sys
import threading
import time
import urllib.parse

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration", "lib"))
from harness import Blobseal, log, vm_kib  # noqa: E402

UPLOADS = int(os.environ.get("UPLOADS", "32"))
MIB = int(os.environ.get("MIB", "256"))
LIMIT_MIB = int(os.environ.get("LIMIT_MIB", "160"))
BLOCK = 1 << 20


def blocks(index, base):
    """The body of upload `index`: MIB blocks of 1 MiB, each the shared random block with its own 16-byte stamp, so
    that no two blocks (and no two objects) are alike and the content costs no time to make."""
    for number in range(MIB):
        yield index.to_bytes(8, "big") + number.to_bytes(8, "big") + base[16:]


def connect(url):
    parsed = urllib.parse.urlsplit(url)
    return parsed, http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=600)


def upload(url, index, base, results):
    parsed, connection = connect(url)
    try:
        hasher = hashlib.sha256()
        connection.putrequest("PUT", parsed.path + "?" + parsed.query)
        connection.putheader("Content-Length", str(MIB * BLOCK))
        connection.endheaders()
        for block in blocks(index, base):
            hasher.update(block)
            connection.send(block)
        response = connection.getresponse()
        body = response.read()
        results[index] = (response.status, hasher.hexdigest(), body[:300])
    except Exception as exc:  # recorded, asserted below
        results[index] = ("error", repr(exc), b"")
    finally:
        connection.close()


def download(url, index, results):
    parsed, connection = connect(url)
    try:
        connection.request("GET", parsed.path + "?" + parsed.query)
        response = connection.getresponse()
        hasher, total = hashlib.sha256(), 0
        while True:
            block = response.read(BLOCK)
            if not block:
                break
            total += len(block)
            hasher.update(block)
        results[index] = (response.status, total, hasher.hexdigest())
    except Exception as exc:
        results[index] = ("error", repr(exc), None)
    finally:
        connection.close()


def run_all(target, args_list):
    threads = [threading.Thread(target=target, args=args) for args in args_list]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def main():
    # s3rver (one Node.js thread) assembles 32 completed 256 MiB multipart uploads one after another: an answer can
    # take minutes to start, so the upstream read timeout is raised; this test is about memory, not latency.
    with Blobseal(extra_args=["--upstream-read-timeout-ms", "900000"],
                  upstream_prefix="rss-" + os.urandom(4).hex() + "/") as server:
        s3 = server.client()
        s3.create_bucket(Bucket="load")
        base = os.urandom(BLOCK)
        keys = [f"big-{i:02d}.bin" for i in range(UPLOADS)]
        put_urls = [s3.generate_presigned_url("put_object", Params={"Bucket": "load", "Key": k}, ExpiresIn=3600)
                    for k in keys]
        get_urls = [s3.generate_presigned_url("get_object", Params={"Bucket": "load", "Key": k}, ExpiresIn=3600)
                    for k in keys]
        pid = server.process.pid
        log(f"server peak RSS at start: {vm_kib(pid, 'VmHWM') / 1024:.1f} MiB; {UPLOADS} x {MIB} MiB uploads")
        started = time.monotonic()
        uploads = [None] * UPLOADS
        run_all(upload, [(put_urls[i], i, base, uploads) for i in range(UPLOADS)])
        after_uploads = vm_kib(pid, "VmHWM")
        for i, result in enumerate(uploads):
            assert result[0] == 200, f"upload {i}: {result}"
        log(f"uploads done in {time.monotonic() - started:.0f} s; peak RSS {after_uploads / 1024:.1f} MiB; "
            f"{UPLOADS} x {MIB} MiB downloads")
        started = time.monotonic()
        downloads = [None] * UPLOADS
        run_all(download, [(get_urls[i], i, downloads) for i in range(UPLOADS)])
        peak = vm_kib(pid, "VmHWM")
        for i, result in enumerate(downloads):
            assert result[0] == 200 and result[1] == MIB * BLOCK, f"download {i}: {result}"
            assert result[2] == uploads[i][1], f"download {i}: SHA-256 differs from what was uploaded"
        log(f"downloads done in {time.monotonic() - started:.0f} s; server peak RSS (VmHWM) {peak / 1024:.1f} MiB "
            f"(after the uploads {after_uploads / 1024:.1f} MiB; limit {LIMIT_MIB} MiB)")
        assert peak < LIMIT_MIB * 1024, f"peak RSS {peak / 1024:.1f} MiB >= {LIMIT_MIB} MiB"
    print(f"gateway_rss: ok, peak RSS {peak / 1024:.1f} MiB for {UPLOADS} x {MIB} MiB up and down")


if __name__ == "__main__":
    main()
