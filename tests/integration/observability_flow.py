#!/usr/bin/python3
"""/health, /ready, /metrics (checked by promtool) and the audit and access logs, after real traffic.

- /health and /ready answer 200;
- `promtool check metrics` accepts the exposition (stdin; any non-zero exit fails, lint problems included);
- s3_requests_total{operation,status="2xx"} and the 4xx class, file_downloads_total and file_download_bytes_total
  count what was done;
- the audit log has one JSON line per S3 request (matched by request id with the x-amz-request-id each response
  carried), with time, request_id, principal, action, bucket, key, status;
- neither the secret key nor any signature sent (Authorization header or presigned URL) appears in the audit log,
  the access log or the server's output.

Usage: /usr/bin/python3 observability_flow.py BLOBSEAL_BIN   (or BLOBSEAL_BIN in the environment)
"""
import json
import os
import re
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from harness import Blobseal, expect_error, log, metric_value  # noqa: E402

MiB = 1024 * 1024


class Recorder:
    """Collects the signature of every request a client sends and the request id of every response."""

    def __init__(self):
        self.signatures = set()
        self.request_ids = []
        self.sent = 0

    def attach(self, client):
        client.meta.events.register("before-send.s3", self._before_send)
        client.meta.events.register("after-call.s3", self._after_call)
        client.meta.events.register("after-call-error.s3", self._after_error)
        return client

    def _before_send(self, request, **_):
        self.sent += 1
        auth = request.headers.get("Authorization")
        if auth:
            auth = auth.decode() if isinstance(auth, bytes) else auth
            self.signatures.update(re.findall(r"Signature=([0-9a-f]{64})", auth))
        self.signatures.update(re.findall(r"X-Amz-Signature=([0-9a-f]{64})", request.url))

    def _after_call(self, http_response, parsed, **_):
        self.request_ids.append(http_response.headers.get("x-amz-request-id"))

    def _after_error(self, exception, **_):
        pass

    def url(self, url):
        self.signatures.update(re.findall(r"X-Amz-Signature=([0-9a-f]{64})", url))
        return url


def main():
    with Blobseal() as server:
        rec = Recorder()
        s3 = rec.attach(server.client())
        for path in ("/health", "/ready"):
            status, _, body = server.http_get(path)
            assert status == 200, f"GET {path}: expected 200, got {status} {body[:200]!r}"
        curl_ids = []

        log("traffic: bucket, puts, gets (whole and ranged), a presigned GET, errors")
        bucket = "obs-" + os.urandom(4).hex()
        s3.create_bucket(Bucket=bucket)
        data = os.urandom(3 * MiB + 11)
        s3.put_object(Bucket=bucket, Key="dir/a", Body=data, Metadata={"m": "v"})
        s3.put_object(Bucket=bucket, Key="dir/b", Body=b"small")
        downloaded = 0
        for _ in range(3):
            downloaded += len(s3.get_object(Bucket=bucket, Key="dir/a")["Body"].read())
        downloaded += len(s3.get_object(Bucket=bucket, Key="dir/a", Range="bytes=100-1099")["Body"].read())
        s3.head_object(Bucket=bucket, Key="dir/b")
        s3.list_objects_v2(Bucket=bucket, Prefix="dir/")
        url = rec.url(s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "dir/b"}, ExpiresIn=60))
        code, status, body, headers = server.curl(url)
        assert status == 200 and body == b"small", f"presigned GET: {status}"
        curl_ids.append(re.search(r"(?im)^x-amz-request-id: *(\S+)", headers).group(1))
        downloaded += len(body)
        expect_error(lambda: s3.get_object(Bucket=bucket, Key="missing"), 404, "NoSuchKey", "GetObject of a missing key")
        wrong = rec.attach(server.client(secret_key=server.secret_key[::-1]))
        expect_error(lambda: wrong.list_objects_v2(Bucket=bucket), 403, "SignatureDoesNotMatch", "wrong secret")
        code, status, body, headers = server.curl(f"{server.endpoint}/{bucket}/dir/a")
        assert status == 403, f"anonymous GET: {status}"
        s3.delete_object(Bucket=bucket, Key="dir/b")
        s3_requests = rec.sent + 2  # the two curl requests

        log("/metrics: promtool check metrics, then the expected series")
        # A request is counted when its handler returns, which can be just after the client has its answer: poll.
        deadline = time.time() + 5
        while True:
            text = server.metrics()
            if metric_value(text, "s3_requests_total") >= s3_requests or time.time() > deadline:
                break
            time.sleep(0.1)
        counted = metric_value(text, "s3_requests_total")
        assert counted == s3_requests, f"s3_requests_total sums to {counted}, {s3_requests} S3 requests were sent"
        proc = subprocess.run(["promtool", "check", "metrics"], input=text.encode(), capture_output=True)
        assert proc.returncode == 0, (f"promtool check metrics exited {proc.returncode}:\n"
                                      f"{(proc.stdout + proc.stderr).decode(errors='replace')}")
        for operation in ("CreateBucket", "PutObject", "GetObject", "HeadObject", "ListObjectsV2", "DeleteObject"):
            value = metric_value(text, "s3_requests_total", operation=operation, status="2xx")
            assert value >= 1, f's3_requests_total{{operation="{operation}",status="2xx"}} is {value}'
        gets = metric_value(text, "s3_requests_total", operation="GetObject", status="2xx")
        assert gets >= 5, f's3_requests_total{{operation="GetObject",status="2xx"}} is {gets}, 5 GETs succeeded'
        errors = metric_value(text, "s3_requests_total", status="4xx")
        assert errors >= 3, f's3_requests_total{{status="4xx"}} is {errors}, 3 requests failed with 4xx'
        assert not re.search(r'^s3_requests_total\{[^}]*(bucket|key)=', text, re.M), "s3_requests_total has bucket/key labels"
        downloads = metric_value(text, "file_downloads_total")
        assert downloads >= 5, f"file_downloads_total is {downloads}, 5 downloads completed"
        down_bytes = metric_value(text, "file_download_bytes_total")
        assert down_bytes >= downloaded, f"file_download_bytes_total is {down_bytes}, {downloaded} bytes were downloaded"
        for name in ("file_download_duration_seconds_count", "file_download_in_progress", "s3_request_duration_seconds_count"):
            assert re.search(rf"^{name}(\{{[^}}]*\}})? ", text, re.M), f"/metrics has no {name} sample"
        in_progress = metric_value(text, "file_download_in_progress")
        assert in_progress == 0, f"file_download_in_progress is {in_progress} with no download running"

        server.stop()  # flushes the audit log and the access log

        log("audit log: one JSON line per S3 request, the documented fields, no secret")
        events = server.audit_events()
        assert len(events) == s3_requests, (f"audit log has {len(events)} events, {s3_requests} S3 requests were sent: "
                                            f"{[(e.get('action'), e.get('status')) for e in events]}")
        for number, event in enumerate(events, 1):
            for field in ("time", "request_id", "principal", "action", "bucket", "key", "status"):
                assert field in event, f"audit event {number} lacks {field}: {event}"
            assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$", str(event["time"])), \
                f"audit event {number}: time {event['time']!r} is not RFC 3339"
            assert isinstance(event["status"], int), f"audit event {number}: status {event['status']!r} is not a number"
        ids = {e["request_id"] for e in events}
        assert len(ids) == len(events), "audit request ids are not unique"
        missing = [i for i in rec.request_ids + curl_ids if i not in ids]
        assert not missing, f"x-amz-request-id values with no audit event: {missing}"
        by_action = {}
        for e in events:
            by_action.setdefault(e["action"], []).append(e)
        puts = [e for e in by_action.get("PutObject", []) if e["key"] == "dir/a"]
        assert puts and puts[0]["bucket"] == bucket and puts[0]["status"] == 200 \
            and puts[0]["principal"] == server.access_key, f"audit event of PutObject dir/a: {puts}"
        failed = [e for e in events if e["status"] == 403]
        assert len(failed) == 2, f"expected 2 audit events with status 403 (wrong secret, anonymous): {failed}"
        assert all(e["principal"] != server.access_key for e in failed if e.get("key") == "dir/a"), \
            f"an anonymous request is audited under the access key: {failed}"
        missing_key = [e for e in events if e["key"] == "missing"]
        assert missing_key and missing_key[0]["status"] == 404, f"audit event of the 404: {missing_key}"

        texts = {}
        for name, path in [("audit log", server.audit_log), ("access log", server.access_log),
                           ("server stdout", os.path.join(server.logs, "server.out")),
                           ("server stderr", os.path.join(server.logs, "server.err"))]:
            texts[name] = open(path, "rb").read().decode(errors="replace") if os.path.exists(path) else ""
        assert texts["access log"].strip(), "the access log is empty"
        assert rec.signatures, "no signature was recorded from the requests sent"
        for name, text in texts.items():
            assert server.secret_key not in text, f"the secret key appears in the {name}"
            leaked = [s for s in rec.signatures if s in text]
            assert not leaked, f"{len(leaked)} request signature(s) appear in the {name}, e.g. {leaked[0]}"
        log(f"{len(events)} audit events, {len(texts['access log'].splitlines())} access log lines, "
            f"{len(rec.signatures)} signatures checked absent")
    log("observability checks passed")


if __name__ == "__main__":
    main()
