"""64 concurrent downloads of one 256 MiB sealed object keep blobseal serve's peak RSS under 128 MiB.

The server streams each body through a fixed batch of chunk buffers with backpressure from the socket, so its memory
must not grow with object size x concurrency (64 x 256 MiB = 16 GiB moved). The bound is asserted on VmHWM (peak
resident set) read from /proc/PID/status after the downloads; every download is checked for its full length and one
for its SHA-256. Run with /usr/bin/python3 (boto3 presigns the URL); env DOWNLOADS and MIB change the load.
"""
import hashlib
import http.client
import os
import sys
import threading
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration", "lib"))
from harness import Blobseal, log, vm_kib, make_file, sha256_file  # noqa: E402

DOWNLOADS = int(os.environ.get("DOWNLOADS", "64"))
MIB = int(os.environ.get("MIB", "256"))
LIMIT_MIB = int(os.environ.get("LIMIT_MIB", "128"))


def download(url, results, index, digest):
    parsed = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=300)
    try:
        connection.request("GET", parsed.path + "?" + parsed.query)
        response = connection.getresponse()
        total = 0
        hasher = hashlib.sha256() if digest else None
        while True:
            block = response.read(1 << 20)
            if not block:
                break
            total += len(block)
            if hasher:
                hasher.update(block)
        results[index] = (response.status, total, hasher.hexdigest() if hasher else None)
    except Exception as exc:  # recorded, asserted below
        results[index] = ("error", repr(exc), None)
    finally:
        connection.close()


def main():
    with Blobseal() as server:
        s3 = server.client()
        s3.create_bucket(Bucket="load")
        source = make_file(server.path("big.bin"), MIB << 20)
        expected = sha256_file(source)
        with open(source, "rb") as f:
            s3.put_object(Bucket="load", Key="big.bin", Body=f)
        os.remove(source)
        url = s3.generate_presigned_url("get_object", Params={"Bucket": "load", "Key": "big.bin"}, ExpiresIn=3600)
        before = vm_kib(server.process.pid, "VmHWM")
        log(f"server peak RSS after the upload: {before / 1024:.1f} MiB; starting {DOWNLOADS} x {MIB} MiB downloads")
        results = [None] * DOWNLOADS
        threads = [threading.Thread(target=download, args=(url, results, i, i == 0)) for i in range(DOWNLOADS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        peak = vm_kib(server.process.pid, "VmHWM")
        for i, result in enumerate(results):
            assert result[0] == 200 and result[1] == MIB << 20, f"download {i}: {result}"
        assert results[0][2] == expected, "download 0: SHA-256 differs from the uploaded file"
        log(f"server peak RSS (VmHWM) after {DOWNLOADS} concurrent {MIB} MiB downloads: {peak / 1024:.1f} MiB "
            f"(limit {LIMIT_MIB} MiB)")
        assert peak < LIMIT_MIB * 1024, f"peak RSS {peak / 1024:.1f} MiB >= {LIMIT_MIB} MiB"
    print(f"download_rss: ok, peak RSS {peak / 1024:.1f} MiB for {DOWNLOADS} x {MIB} MiB")


if __name__ == "__main__":
    main()
