#!/usr/bin/python3
"""Gateway mode under upstream faults: blobseal serve --upstream through a fault-injecting proxy (lib/fault_proxy.py).

    upstream S3 (s3rver / RGW)  <--  fault proxy  <--  blobseal serve --upstream  <--  boto3 (retries disabled)

- Chaos: with 10% of the upstream requests faulted (500 InternalError, 503 SlowDown, 503 ServiceUnavailable, a reset
  before forwarding, in the middle of the request body or of the response, 50-300 ms of latency), a 2,000-request
  mixed workload from 4 client threads (PUT 0 B-256 KiB, 1-6 MiB and 9 MiB, multipart uploads by hand and through
  boto3's transfer manager with a 5 MiB threshold, GET whole and ranged, HEAD, LIST, DELETE, COPY). The client does
  not retry, so it sees what blobseal answers: every request succeeds or fails cleanly — a ClientError with an S3
  error code, or a connection aborted in the middle of a response body. Never a 200 with a short or wrong body: each
  successful GET's bytes are compared with what may be stored for that key (Content-Length = bytes received).
- Durability: faults off, every key reads back as its last acknowledged content, or as the content of a write that
  failed after it (a failed write may or may not have taken effect) — each thread owns its keys, so the candidates of
  each key are exact; the listing agrees.
- Interrupted uploads: a PUT whose body the client cuts mid-stream (raw socket: half the body, then close or reset),
  over a new key and over an existing one, and a multipart upload never completed leave no visible object (HEAD 404,
  not listed) and the old content intact.
- Retries: /metrics upstream_retries_total grew during the chaos, and per cause by no more than the faults of that
  kind injected (500; 503; transport for the resets), by at least a quarter of them in all.
- An error answered before the request body was read (a 3 MiB PUT whose upstream PUT is reset at once): the answer
  says "Connection: close", or the connection carries the next request.
- One fault on one upstream PUT of a small PUT (of the body or of the record; both are buffered, so they can be sent
  again): each kind is absorbed by blobseal's retries (--upstream-max-attempts 4) and the client PUT succeeds.
- Upstream down (proxy refusing connections, then accepting and never answering): /ready answers 503 with the store
  check failed within seconds, S3 requests fail with a 5xx S3 error within seconds (after the first requests of a
  hang have spent their read timeouts: bounded by max attempts x --upstream-read-timeout-ms); once the proxy serves
  again, /ready is 200 within seconds and requests succeed.
- Every 5xx answer carries one of S3's error codes (InternalError, ServiceUnavailable, SlowDown, NotImplemented):
  what S3 clients and their retry logic understand.

Any failure that is not clean (a corrupt or short body presented as complete, a hang, a connection closed without
a response, a non-S3 error code, lost acknowledged data, a single fault not absorbed) is a finding: collected with the
request, the faults injected meanwhile, the client thread's previous operations and the server's access log lines of
that moment, printed at the end with the server's stderr, and fatal. BLOBSEAL_CHAOS_SEED fixes the seed (printed at
the start) to replay the fault and workload choices (thread timing still varies); BLOBSEAL_CHAOS_REQUESTS changes the
number of requests; BLOBSEAL_KEEP_WORK=1 keeps the server's logs.

s3rver (a fake) writes a truncated request body in place of the object, where S3 and RGW discard the request: against
it, the proxy's reset in the middle of a request body reaches blobseal only (see lib/fault_proxy.py).

Usage (the upstream's variables come from tests/upstream/with_upstream.sh):
    tests/upstream/with_upstream.sh s3rver /usr/bin/python3 gateway_chaos_flow.py BLOBSEAL_BIN
"""
import collections
import hashlib
import json
import os
import random
import secrets
import socket
import sys
import threading
import time
import urllib.parse

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from harness import Blobseal, error_code, log, metric_value, upstream_settings  # noqa: E402
from fault_proxy import KINDS, FaultProxy  # noqa: E402

MiB = 1024 * 1024
BUCKET = "chaos"
THREADS = 4
REQUESTS = int(os.environ.get("BLOBSEAL_CHAOS_REQUESTS", "2000"))
FAULT_RATE = 0.10
KEYS_PER_THREAD = 30
READ_TIMEOUT_MS = 3000      # --upstream-read-timeout-ms: bounds the hang phase
MAX_ATTEMPTS = 4            # --upstream-max-attempts (the default)
CLIENT_READ_TIMEOUT = 60    # a client-side read timeout is a hang: a finding
ABSENT = None               # the candidate "no object"
# The error codes S3 answers with a 5xx status: what clients (and their retry logic) understand.
S3_5XX_CODES = {"InternalError", "ServiceUnavailable", "SlowDown", "NotImplemented"}
# No client retries. botocore's retries={"max_attempts": N} means N *retries* (N + 1 attempts: botocore/args.py
# _compute_retry_max_attempts), so {"max_attempts": 1} still retries once; total_max_attempts counts every attempt.
NO_RETRIES = {"total_max_attempts": 1, "mode": "standard"}

# (weight, operation)
OPERATIONS = [(22, "put_small"), (5, "put_large"), (1, "put_huge"), (3, "multipart"), (1, "transfer"),
              (20, "get"), (12, "get_range"), (12, "head"), (6, "list"), (5, "delete"), (6, "copy")]


class Content:
    """An object's bytes: a slice of the shared random pool (cheap to keep, to regenerate and to slice)."""
    pool = b""

    def __init__(self, rng, size):
        self.size = size
        self.offset = rng.randrange(0, len(Content.pool) - size + 1)
        self.sha = hashlib.sha256(self.data()).hexdigest()

    def data(self):
        return Content.pool[self.offset:self.offset + self.size]

    def __repr__(self):
        return f"<{self.size} B sha256 {self.sha[:12]}>"


class Findings:
    """Failures that are not clean: collected, printed with their context at the end, and fatal."""

    def __init__(self, proxy):
        self.proxy = proxy
        self.items = []
        self.codes = {}   # (status, code) -> non-S3 5xx codes seen
        self.lock = threading.Lock()

    def add(self, what, op, key, started, detail, history=()):
        faults = self.proxy.fault_log(started - 0.05, time.time() + 0.05) if self.proxy else []
        entry = {"what": what, "op": op, "key": key, "at": time.strftime("%H:%M:%S"),
                 "elapsed_s": round(time.time() - started, 3), "detail": str(detail)[:1500],
                 "faults_meanwhile": [f"{k} {m} {t}" for _, k, m, t in faults][:20],
                 "window": (started - 1.0, time.time() + 0.5),
                 "thread_history": [f"{time.strftime('%H:%M:%S', time.localtime(t))}.{int(t * 1000) % 1000:03d} "
                                    f"{o} {k}: {r}" for t, o, k, r in history]}
        with self.lock:
            self.items.append(entry)
        log(f"FINDING: {what}: {op} {key}: {str(detail)[:400]}")

    def error_code(self, status, code, op, key, started, detail):
        """A 5xx answer must carry one of S3's codes (for HEAD, which has no body, botocore shows the status).
        The others are counted per code, with one example each (they are not one-off events)."""
        if code in S3_5XX_CODES or (op.startswith("head") and code == str(status)):
            return
        with self.lock:
            first = (status, code) not in self.codes
            entry = self.codes.setdefault((status, code), {"count": 0, "ops": {}, "example": None})
            entry["count"] += 1
            entry["ops"][op] = entry["ops"].get(op, 0) + 1
            if first:
                faults = self.proxy.fault_log(started - 0.05, time.time() + 0.05) if self.proxy else []
                entry["example"] = f"{op} {key}: {str(detail)[:600]}"
                entry["example_faults_meanwhile"] = [f"{k} {m} {t}" for _, k, m, t in faults][:20]
        if first:
            log(f"FINDING: HTTP {status} with {code!r}, not an S3 error code: {op} {key}: {str(detail)[:300]}")

    def all(self):
        items = list(self.items)
        for (status, code), entry in sorted(self.codes.items()):
            items.append({"what": f"HTTP {status} answered with error code {code!r}, which is not an S3 error code "
                                  f"(S3 answers 5xx with {sorted(S3_5XX_CODES)})",
                          "count": entry["count"], "by_operation": entry["ops"], "example": entry["example"],
                          "example_faults_meanwhile": entry["example_faults_meanwhile"]})
        return items


def classify(exc):
    """(kind, code, HTTP status) of a failed call; kind: client_error (an S3 error answer), aborted_body (the
    response was cut in its body), connection_closed (no response), hang (a client timeout) or other."""
    from botocore.exceptions import (ClientError, ConnectionClosedError, ConnectTimeoutError,
                                     EndpointConnectionError, IncompleteReadError, ReadTimeoutError,
                                     ResponseStreamingError)
    from boto3.exceptions import S3UploadFailedError
    if isinstance(exc, S3UploadFailedError) and isinstance(exc.__context__, ClientError):
        exc = exc.__context__
    if isinstance(exc, ClientError):
        status, code = error_code(exc)
        return "client_error", code, status
    if isinstance(exc, (ReadTimeoutError, ConnectTimeoutError)):
        return "hang", type(exc).__name__, None
    if isinstance(exc, (IncompleteReadError, ResponseStreamingError)):
        return "aborted_body", type(exc).__name__, None
    if isinstance(exc, (ConnectionClosedError, EndpointConnectionError)):
        return "connection_closed", type(exc).__name__, None
    return "other", f"{type(exc).__name__}: {exc}", None


class Worker:
    """One client thread with its own keys, so that each key's candidate contents are exact."""

    def __init__(self, number, server, proxy, budget, findings, seed):
        self.number = number
        self.server = server
        self.proxy = proxy
        self.budget = budget
        self.findings = findings
        self.rng = random.Random(seed)
        self.keys = [f"t{number}/key-{i:02d}" for i in range(KEYS_PER_THREAD)]
        # Each key: {"acked": [candidates known stored], "pending": [candidates of failed writes since]}.
        self.state = {key: {"acked": [ABSENT], "pending": []} for key in self.keys}
        self.outcomes = {}     # (op, outcome) -> count
        self.error_codes = {}  # "status code" -> count
        self.slowest = (0.0, "")
        self.s3 = None
        self.history = collections.deque(maxlen=4)  # this thread's last operations, for findings
        self.last_outcome = "-"

    def finding(self, what, op, key, started, detail):
        self.findings.add(what, op, key, started, detail, list(self.history))

    # -- bookkeeping --------------------------------------------------------------------------------------------
    def candidates(self, key):
        state = self.state[key]
        out = []
        for c in state["acked"] + state["pending"]:
            if all(c is not o for o in out):
                out.append(c)
        return out

    def acknowledge(self, key, contents):
        self.state[key] = {"acked": list(contents), "pending": []}

    def attempted(self, key, contents):
        self.state[key]["pending"].extend(contents)

    def observed(self, key, content):
        """A read showed what is stored now (no writer of this key is in flight): narrow the candidates."""
        self.state[key] = {"acked": [content], "pending": []}

    def count(self, op, outcome):
        self.outcomes[(op, outcome)] = self.outcomes.get((op, outcome), 0) + 1
        self.last_outcome = outcome

    # -- the workload -------------------------------------------------------------------------------------------
    def run(self):
        self.s3 = self.server.client(connect_timeout=10, read_timeout=CLIENT_READ_TIMEOUT, max_pool_connections=4,
                                     retries=NO_RETRIES)
        assert self.s3.meta.config.retries.get("total_max_attempts") == 1, self.s3.meta.config.retries
        self.s3.meta.events.register("before-send.s3", self.budget.take)
        weights = [w for w, _ in OPERATIONS]
        names = [n for _, n in OPERATIONS]
        while not self.budget.exhausted():
            op = self.rng.choices(names, weights)[0]
            key = self.rng.choice(self.keys)
            started = time.time()
            self.last_outcome = "-"
            try:
                getattr(self, "op_" + op)(key, started)
            except Exception:  # a bug of this flow or an unexpected exception: a finding, with its trace
                import traceback
                self.finding("unexpected exception in the flow", op, key, started, traceback.format_exc())
            self.history.append((started, op, key, self.last_outcome))
            took = time.time() - started
            if took > self.slowest[0]:
                self.slowest = (took, f"{op} {key}")

    def failed(self, op, key, started, exc, allowed_codes=(), absent_ok=False):
        """A request failed: fine when cleanly (5xx S3 error, allowed 4xx, aborted response body); else a finding.
        Returns the classification."""
        kind, code, status = classify(exc)
        if kind == "client_error":
            label = f"{status} {code}"
            self.error_codes[label] = self.error_codes.get(label, 0) + 1
            if not code:
                self.finding("S3 error without an error code", op, key, started, exc)
            elif status is not None and status >= 500:
                self.findings.error_code(status, code, op, key, started, exc)
            elif code in allowed_codes or (absent_ok and code in ("NoSuchKey", "404")):
                pass
            else:
                self.finding(f"unexpected client error {status} {code}", op, key, started, exc)
            self.count(op, "error " + label)
        elif kind == "aborted_body":
            self.count(op, "aborted body")
            if op not in ("get", "get_range"):
                self.finding("aborted response body outside a GET", op, key, started, exc)
        elif kind == "connection_closed":
            self.count(op, "connection closed")
            self.finding("connection closed without a response", op, key, started, exc)
        elif kind == "hang":
            self.count(op, "timeout")
            self.finding("client timed out (hang)", op, key, started, exc)
        else:
            self.count(op, "other")
            self.finding("non-S3 failure", op, key, started, code)
        return kind, code, status

    def put(self, op, key, started, size):
        content = Content(self.rng, size)
        try:
            self.s3.put_object(Bucket=BUCKET, Key=key, Body=content.data())
        except Exception as exc:
            self.failed(op, key, started, exc)
            self.attempted(key, [content])
            return
        self.count(op, "ok")
        self.acknowledge(key, [content])

    def op_put_small(self, key, started):
        size = self.rng.choice([0, 1, 100, 4096, 16385, self.rng.randrange(1, 256 * 1024)])
        self.put("put_small", key, started, size)

    def op_put_large(self, key, started):
        self.put("put_large", key, started, self.rng.randrange(MiB + 1, 6 * MiB))

    def op_put_huge(self, key, started):
        # Above the upstream part size (8 MiB): blobseal sends it up as an upstream multipart upload.
        self.put("put_huge", key, started, 9 * MiB + self.rng.randrange(0, 100000))

    def op_multipart(self, key, started):
        content = Content(self.rng, 5 * MiB * self.rng.choice([1, 2]) + self.rng.randrange(1, 2 * MiB))
        data = content.data()
        try:
            upload = self.s3.create_multipart_upload(Bucket=BUCKET, Key=key)["UploadId"]
        except Exception as exc:
            self.failed("multipart.create", key, started, exc)
            return
        parts = []
        try:
            for number, offset in enumerate(range(0, len(data), 5 * MiB), 1):
                etag = self.s3.upload_part(Bucket=BUCKET, Key=key, UploadId=upload, PartNumber=number,
                                           Body=data[offset:offset + 5 * MiB])["ETag"]
                parts.append({"PartNumber": number, "ETag": etag})
        except Exception as exc:
            self.failed("multipart.part", key, started, exc)
            self.abort(key, upload, started)
            return
        try:
            self.s3.complete_multipart_upload(Bucket=BUCKET, Key=key, UploadId=upload,
                                              MultipartUpload={"Parts": parts})
        except Exception as exc:
            self.failed("multipart.complete", key, started, exc)
            self.attempted(key, [content])
            self.abort(key, upload, started)
            return
        self.count("multipart", "ok")
        self.acknowledge(key, [content])

    def abort(self, key, upload, started):
        if self.budget.exhausted():
            return
        try:
            self.s3.abort_multipart_upload(Bucket=BUCKET, Key=key, UploadId=upload)
            self.count("multipart.abort", "ok")
        except Exception as exc:
            self.failed("multipart.abort", key, started, exc, allowed_codes=("NoSuchUpload",))

    def op_transfer(self, key, started):
        import io
        from boto3.s3.transfer import TransferConfig
        content = Content(self.rng, 5 * MiB + self.rng.randrange(1, 6 * MiB))
        config = TransferConfig(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB, use_threads=False)
        try:
            self.s3.upload_fileobj(io.BytesIO(content.data()), BUCKET, key, Config=config)
        except Exception as exc:
            self.failed("transfer", key, started, exc, allowed_codes=("NoSuchUpload",))
            self.attempted(key, [content])
            return
        self.count("transfer", "ok")
        self.acknowledge(key, [content])

    def op_get(self, key, started):
        candidates = self.candidates(key)
        try:
            response = self.s3.get_object(Bucket=BUCKET, Key=key)
            body = response["Body"].read()
        except Exception as exc:
            kind, code, _ = self.failed("get", key, started, exc, absent_ok=ABSENT in candidates)
            if kind == "client_error" and code == "NoSuchKey" and ABSENT in candidates:
                self.observed(key, ABSENT)
            return
        length = int(response["ContentLength"])
        digest = hashlib.sha256(body).hexdigest()
        match = [c for c in candidates if c is not ABSENT and c.sha == digest]
        if length != len(body):
            self.finding("GET: Content-Length differs from the bytes received", "get", key, started,
                              f"Content-Length {length}, received {len(body)}")
        if not match:
            self.finding("GET: 200 with a body that is none of the key's candidates", "get", key, started,
                              f"received {len(body)} B sha256 {digest}; candidates {candidates}")
            self.count("get", "WRONG BODY")
            return
        self.count("get", "ok")
        self.observed(key, match[0])

    def op_get_range(self, key, started):
        candidates = self.candidates(key)
        sized = [c for c in candidates if c is not ABSENT and c.size > 0]
        if not sized:
            return self.op_get(key, started)
        target = self.rng.choice(sized)
        first = self.rng.randrange(0, target.size)
        last = min(target.size - 1, first + self.rng.choice([0, 1, 1000, 70000, 3 * MiB]))
        try:
            response = self.s3.get_object(Bucket=BUCKET, Key=key, Range=f"bytes={first}-{last}")
            body = response["Body"].read()
        except Exception as exc:
            # InvalidRange: another candidate (a smaller object) may be the stored one.
            invalid_ok = any(c is not ABSENT and c.size <= first for c in candidates)
            self.failed("get_range", key, started, exc, absent_ok=ABSENT in candidates,
                        allowed_codes=("InvalidRange",) if invalid_ok else ())
            return
        length = int(response["ContentLength"])
        content_range = response.get("ContentRange", "")
        match = []
        for c in candidates:
            if c is ABSENT:
                continue
            end = min(last, c.size - 1)
            if (content_range == f"bytes {first}-{end}/{c.size}" and body == c.data()[first:end + 1]) or \
                    (first == 0 and end == c.size - 1 and not content_range and body == c.data()):
                match.append(c)
        if length != len(body):
            self.finding("ranged GET: Content-Length differs from the bytes received", "get_range", key, started,
                              f"Content-Length {length}, received {len(body)}")
        if not match:
            self.finding("ranged GET: 200/206 with bytes that are no candidate's range", "get_range", key,
                              started, f"range {first}-{last}, Content-Range {content_range!r}, received "
                                       f"{len(body)} B; candidates {candidates}")
            self.count("get_range", "WRONG BODY")
            return
        self.count("get_range", "ok")
        if len(match) == 1 and len(candidates) > 1 and content_range.endswith(f"/{match[0].size}"):
            if sum(1 for c in candidates if c is not ABSENT and c.size == match[0].size) == 1:
                self.observed(key, match[0])

    def op_head(self, key, started):
        candidates = self.candidates(key)
        try:
            response = self.s3.head_object(Bucket=BUCKET, Key=key)
        except Exception as exc:
            kind, code, _ = self.failed("head", key, started, exc, absent_ok=ABSENT in candidates)
            if kind == "client_error" and code == "404" and ABSENT in candidates:
                self.observed(key, ABSENT)
            return
        size = int(response["ContentLength"])
        if not any(c is not ABSENT and c.size == size for c in candidates):
            self.finding("HEAD: a size that is no candidate's", "head", key, started,
                              f"Content-Length {size}; candidates {candidates}")
            self.count("head", "WRONG SIZE")
            return
        self.count("head", "ok")

    def op_list(self, key, started):
        try:
            response = self.s3.list_objects_v2(Bucket=BUCKET, Prefix=f"t{self.number}/")
        except Exception as exc:
            self.failed("list", key, started, exc)
            return
        listed = {o["Key"]: o["Size"] for o in response.get("Contents", [])}
        problems = check_listing(self.keys, listed, self.candidates)
        if problems:
            self.finding("LIST disagrees with the acknowledged writes", "list", f"t{self.number}/", started,
                              "; ".join(problems))
            self.count("list", "WRONG")
            return
        self.count("list", "ok")

    def op_delete(self, key, started):
        try:
            self.s3.delete_object(Bucket=BUCKET, Key=key)
        except Exception as exc:
            self.failed("delete", key, started, exc)
            self.attempted(key, [ABSENT])
            return
        self.count("delete", "ok")
        self.acknowledge(key, [ABSENT])

    def op_copy(self, key, started):
        source = self.rng.choice(self.keys)
        if source == key:
            return self.op_head(key, started)
        sources = [c for c in self.candidates(source) if c is not ABSENT]
        try:
            self.s3.copy_object(Bucket=BUCKET, Key=key, CopySource={"Bucket": BUCKET, "Key": source})
        except Exception as exc:
            self.failed("copy", f"{source} -> {key}", started, exc, absent_ok=ABSENT in self.candidates(source))
            self.attempted(key, sources)
            return
        if not sources:
            self.finding("COPY of a key that cannot exist succeeded", "copy", f"{source} -> {key}", started,
                              f"source candidates {self.candidates(source)}")
            return
        self.count("copy", "ok")
        self.acknowledge(key, sources)


def check_listing(keys, listed, candidates):
    problems = []
    for key in keys:
        cands = candidates(key)
        if key in listed:
            if not any(c is not ABSENT and c.size == listed[key] for c in cands):
                problems.append(f"{key} listed with {listed[key]} B; candidates {cands}")
        elif ABSENT not in cands:
            problems.append(f"{key} not listed; candidates {cands}")
    for key in listed:
        if key not in keys:
            problems.append(f"unknown key {key} listed")
    return problems


class Budget:
    """The number of HTTP requests the workload may send (counted as botocore sends them: retries are off)."""

    def __init__(self, total):
        self.total = total
        self.sent = 0
        self.lock = threading.Lock()

    def take(self, **_):
        with self.lock:
            self.sent += 1

    def exhausted(self):
        with self.lock:
            return self.sent >= self.total


# -- helpers for the phases -----------------------------------------------------------------------------------------
def ready(server):
    started = time.time()
    status, _, body = server.http_get("/ready")
    try:
        document = json.loads(body)
    except ValueError:
        document = {"raw": body[:200]}
    return status, document, time.time() - started


def retries(server):
    text = server.metrics()
    return {cause: metric_value(text, "upstream_retries_total", cause=cause)
            for cause in ("transport", "500", "502", "503", "504", "other")}


def signed_headers(server, method, path, body=b""):
    """SigV4 headers for a request sent by hand."""
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    request = AWSRequest(method=method, url=server.endpoint + path, data=body,
                         headers={"Content-Length": str(len(body))})
    S3SigV4Auth(Credentials(server.access_key, server.secret_key), "s3", server.region).add_auth(request)
    return dict(request.prepare().headers.items())


def raw_put_cut(server, key, body, send_bytes, reset):
    """A signed PUT of `body` whose connection is closed (FIN, or RST with `reset`) after `send_bytes` of it."""
    import struct
    path = f"/{BUCKET}/{urllib.parse.quote(key)}"
    head = f"PUT {path} HTTP/1.1\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in signed_headers(server, "PUT", path, body).items())
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    sock.sendall(head.encode() + b"\r\n" + body[:send_bytes])
    time.sleep(0.3)  # let the server start streaming what it got
    if reset:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    else:
        sock.shutdown(socket.SHUT_WR)
        # Whatever the server answers (likely nothing, or a 400), it must not be a 200.
        sock.settimeout(15)
        answer = b""
        try:
            while True:
                data = sock.recv(65536)
                if not data:
                    break
                answer += data
        except OSError:
            pass
        assert not answer.startswith(b"HTTP/1.1 200"), f"a cut PUT of {key} was answered 200: {answer[:300]!r}"
    sock.close()


def early_error_keep_alive(server, proxy, findings, rng):
    """A 3 MiB PUT whose upstream body PUT is reset at once (a streamed body is not retried): blobseal answers while
    most of the request body is still unread. Unless that answer says "Connection: close", the connection must carry
    the next request (a pooled client will send it there)."""
    import http.client
    import re
    body = Content(rng, 3 * MiB).data()
    path = f"/{BUCKET}/early-error/big"
    started = time.time()
    proxy.set_fault_rate(1.0, kinds=["reset_before"],
                         fault_filter=lambda method, target: method == "PUT" and "/b/" in target)
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        connection.request("PUT", path, body=body, headers=signed_headers(server, "PUT", path, body))
        response = connection.getresponse()
        answer = response.read()
    finally:
        proxy.set_fault_rate(0.0, kinds=KINDS, fault_filter=False)
    promised = "close" not in (response.getheader("Connection") or "").lower()
    code = re.search(rb"<Code>([^<]*)</Code>", answer)
    code = code.group(1).decode() if code else ""
    result = f"{response.status} {code}, Connection: {response.getheader('Connection') or '(none: keep-alive)'}"
    assert response.status >= 500, f"PUT with its upstream body PUT reset: {result}"
    findings.error_code(response.status, code, "PUT (upstream body PUT reset)", path, started, answer[:300])
    if promised:
        time.sleep(0.3)
        try:
            connection.request("HEAD", path, headers=signed_headers(server, "HEAD", path))
            second = connection.getresponse()
            second.read()
            result += f"; next request on the connection: {second.status}"
        except Exception as exc:
            result += f"; next request on the connection: {type(exc).__name__}"
            findings.add("a response promised keep-alive (no Connection: close), then the server closed the "
                         "connection: the next request on it failed", "PUT 3 MiB, then HEAD on the same connection",
                         path, started, f"PUT answered {response.status} {answer[:200]!r}, Connection header "
                         f"{response.getheader('Connection')!r}; HEAD after it: {type(exc).__name__}: {exc}")
    connection.close()
    return result


def single_faults(proxy, findings, client, rng):
    """One fault on one upstream PUT of a small PUT (the body b/... or the record k/...; both bodies are buffered,
    so blobseal can send them again): --upstream-max-attempts 4 must absorb it and the client PUT succeed."""
    from botocore.exceptions import ClientError
    results = {}
    for kind in ("reset_before", "reset_mid_request", "reset_mid_response", "error_500", "slowdown_503"):
        for part in ("b", "k"):
            key = f"single/{kind}-{part}"
            client.put_object(Bucket=BUCKET, Key=key, Body=b"old")  # leaves a pooled upstream connection to reuse
            armed = {"left": 1}

            def first_put(method, target, part=part, armed=armed):
                if method == "PUT" and f"/{part}/" in target and armed["left"] > 0:
                    armed["left"] -= 1
                    return True
                return False

            content = Content(rng, 1000)
            started = time.time()
            proxy.set_fault_rate(1.0, kinds=[kind], fault_filter=first_put)
            try:
                client.put_object(Bucket=BUCKET, Key=key, Body=content.data())
                outcome = "ok"
            except ClientError as exc:
                outcome = "{} {}".format(*error_code(exc))
                detail = str(exc)
            finally:
                proxy.set_fault_rate(0.0, kinds=KINDS, fault_filter=False)
            injected = [f"{k} {m} {t}" for _, k, m, t in proxy.fault_log(started)]
            assert len(injected) == 1, f"single fault {kind} on {part}/: injected {injected}"
            results[f"{kind} on {part}/"] = outcome
            if outcome != "ok":
                findings.add(f"one {kind} on the upstream PUT of {part}/ was not retried (--upstream-max-attempts "
                             f"{MAX_ATTEMPTS}): the client PUT failed", "PUT 1000 B", key, started,
                             f"{outcome}: {detail}; injected: {injected}")
            else:
                body = client.get_object(Bucket=BUCKET, Key=key)["Body"].read()
                assert hashlib.sha256(body).hexdigest() == content.sha, f"{key} after a retried PUT: wrong content"
    return results


def expect_fast_5xx(call, what, limit, findings):
    """`call` must fail with a 5xx S3 error within `limit` seconds. Returns (status code, seconds)."""
    from botocore.exceptions import ClientError
    started = time.time()
    try:
        call()
    except ClientError as exc:
        took = time.time() - started
        status, code = error_code(exc)
        assert status is not None and status >= 500 and code, f"{what}: expected a 5xx S3 error, got {status} {code}"
        assert took <= limit, f"{what}: failed only after {took:.1f} s (limit {limit} s)"
        findings.error_code(status, code, ("head " if "HEAD" in what else "") + what, "", started, exc)
        return f"{status} {code}", took
    except Exception as exc:
        raise AssertionError(f"{what}: expected a 5xx S3 error within {limit} s, got {type(exc).__name__}: {exc} "
                             f"after {time.time() - started:.1f} s")
    raise AssertionError(f"{what}: succeeded while the upstream is down")


def wait_ready(server, limit):
    started = time.time()
    while True:
        status, document, _ = ready(server)
        if status == 200:
            return time.time() - started
        assert time.time() - started < limit, f"/ready still {status} {document} {limit} s after the upstream came back"
        time.sleep(0.2)


def dump_findings(findings, server):
    items = findings.all()
    if not items:
        return
    access = []
    try:
        with open(server.access_log) as f:
            access = [json.loads(line) for line in f if line.strip()]
    except (OSError, ValueError):
        pass
    import calendar
    for item in items:
        since, until = item.pop("window", (0, 0))
        item["access_log_meanwhile"] = [
            f"{a['time']} {a['remote']} {a['method']} {a['path']} {a['status']} in {a.get('bytes_in')} "
            f"out {a.get('bytes_out')} {a.get('duration_ms')} ms {a.get('outcome')}"
            for a in access if since <= calendar.timegm(time.strptime(a["time"][:19], "%Y-%m-%dT%H:%M:%S"))
            + float("0" + a["time"][19:-1]) <= until][:30]
        if not item["access_log_meanwhile"]:
            del item["access_log_meanwhile"]
        print(json.dumps(item, indent=1), file=sys.stderr)
    log("blobseal stderr (last 60 lines):\n" + server.server_stderr(60))
    findings.items, findings.codes = [], {}
    raise AssertionError(f"{len(items)} findings (above): blobseal did not fail cleanly")


def phase_chaos(server, proxy, findings, rng, summary):
    """The workload under faults. Returns the workers (their keys' candidates) and what the chaos counted."""
    retries_before = retries(server)
    budget = Budget(REQUESTS)
    workers = [Worker(n, server, proxy, budget, findings, rng.randrange(1 << 30)) for n in range(THREADS)]
    threads = [threading.Thread(target=w.run, name=f"worker-{w.number}") for w in workers]
    proxy.set_fault_rate(FAULT_RATE)
    started = time.time()
    log(f"chaos: {REQUESTS} requests from {THREADS} threads, {FAULT_RATE:.0%} of the upstream requests faulted")
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
        assert not t.is_alive(), f"{t.name} still running after 600 s: a hang\n{server.server_stderr()}"
    proxy.set_fault_rate(0.0)
    seconds = time.time() - started
    faults = proxy.faults()
    upstream_5xx = proxy.stats()["upstream_5xx"]  # the upstream's own errors (s3rver under load)
    retries_after = retries(server)
    assert server.process.poll() is None, f"blobseal exited during the chaos:\n{server.server_stderr(60)}"
    delta = {cause: retries_after[cause] - retries_before[cause] for cause in retries_after}
    outcomes, codes = {}, {}
    for w in workers:
        for k, v in w.outcomes.items():
            outcomes[k] = outcomes.get(k, 0) + v
        for k, v in w.error_codes.items():
            codes[k] = codes.get(k, 0) + v
    ok = sum(v for (_, outcome), v in outcomes.items() if outcome == "ok")
    failed = sum(v for (_, outcome), v in outcomes.items() if outcome != "ok")
    slowest = max(w.slowest for w in workers)
    log(f"chaos done in {seconds:.1f} s: {budget.sent} HTTP requests, {ok} operations ok, {failed} failed; slowest "
        f"operation {slowest[0]:.2f} s ({slowest[1]})")
    summary.update(chaos_seconds=round(seconds, 1), requests=budget.sent, operations_ok=ok, operations_failed=failed,
                   errors_by_code=codes, faults=faults, upstream_requests=proxy.stats()["requests"],
                   upstream_5xx=upstream_5xx, retries=delta,
                   outcomes={f"{op} {outcome}": v for (op, outcome), v in sorted(outcomes.items())})
    return workers, faults, upstream_5xx, delta


def phase_durability(client, workers, findings, summary):
    """Faults off: every key reads back as one of its candidates; the listing agrees."""
    verified = {"objects": 0, "absent": 0, "bytes": 0}
    for w in workers:
        for key in w.keys:
            started = time.time()
            cands = w.candidates(key)
            try:
                response = client.get_object(Bucket=BUCKET, Key=key)
                body = response["Body"].read()
            except Exception as exc:
                kind, code, status = classify(exc)
                if code == "NoSuchKey" and ABSENT in cands:
                    verified["absent"] += 1
                    w.observed(key, ABSENT)
                else:
                    findings.add("acknowledged object unreadable after the chaos", "verify get", key, started,
                                 f"{kind} {status} {code}; candidates {cands}; state {w.state[key]}")
                continue
            digest = hashlib.sha256(body).hexdigest()
            match = [c for c in cands if c is not ABSENT and c.sha == digest]
            if not match or int(response["ContentLength"]) != len(body):
                findings.add("object after the chaos is none of its candidates", "verify get", key, started,
                             f"{len(body)} B sha256 {digest}; candidates {cands}; state {w.state[key]}")
                continue
            verified["objects"] += 1
            verified["bytes"] += len(body)
            w.observed(key, match[0])
    listed = {}
    by_key = {k: w for w in workers for k in w.keys}
    started = time.time()
    try:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
            listed.update({o["Key"]: o["Size"] for o in page.get("Contents", [])})
    except Exception as exc:
        findings.add("listing after the chaos failed", "verify list", BUCKET, started, classify(exc))
    else:
        problems = check_listing(list(by_key), listed, lambda k: by_key[k].candidates(k))
        if problems:
            findings.add("listing after the chaos disagrees", "verify list", BUCKET, started, "; ".join(problems))
    log(f"durability: {verified['objects']} objects ({verified['bytes'] / MiB:.1f} MiB) read back intact, "
        f"{verified['absent']} keys absent as expected; listing of {len(listed)} keys checked")
    summary["verified"] = verified


def phase_retries(faults, upstream_5xx, delta):
    """upstream_retries_total grew with the faults, by no more than the failures that could cause each retry."""
    injected_transport = faults["reset_before"] + faults["reset_mid_request"] + faults["reset_mid_response"]
    injected_500 = faults["error_500"]
    injected_503 = faults["slowdown_503"] + faults["unavailable_503"]
    injected = injected_transport + injected_500 + injected_503
    total = sum(delta.values())
    log(f"retries: {delta} for faults {faults}; the upstream's own 5xx answers: {upstream_5xx}")
    assert total > 0, f"upstream_retries_total did not grow during the chaos: {delta}"
    own_500, own_503 = upstream_5xx.get(500, 0), upstream_5xx.get(503, 0)
    assert delta["500"] <= injected_500 + own_500, \
        f"more 500 retries ({delta['500']}) than 500s injected ({injected_500}) or answered ({own_500})"
    assert delta["503"] <= injected_503 + own_503, \
        f"more 503 retries ({delta['503']}) than 503s injected ({injected_503}) or answered ({own_503})"
    # A reset after the response head came in counts as "other" (its status was 200-ish).
    assert delta["transport"] + delta["other"] <= injected_transport, \
        f"more transport/other retries ({delta['transport']} + {delta['other']}) than resets ({injected_transport})"
    assert total >= injected / 4, f"only {total} retries for {injected} injected failures"


def phase_interrupted_uploads(server, client, rng):
    """PUTs cut by the client mid-body and a multipart upload never completed leave no visible object."""
    from botocore.exceptions import ClientError
    cut_keys = []
    for name, size, reset in (("small", 200 * 1024, False), ("small-rst", 200 * 1024, True),
                              ("large", 4 * MiB, False), ("large-rst", 4 * MiB, True)):
        key = f"cut/new-{name}"
        raw_put_cut(server, key, Content(rng, size).data(), size // 2, reset)
        cut_keys.append(key)
    existing = Content(rng, 3 * MiB)
    client.put_object(Bucket=BUCKET, Key="cut/existing", Body=existing.data())
    raw_put_cut(server, "cut/existing", Content(rng, 3 * MiB).data(), MiB, False)
    raw_put_cut(server, "cut/existing", Content(rng, 100 * 1024).data(), 50 * 1024, True)
    upload = client.create_multipart_upload(Bucket=BUCKET, Key="cut/never-completed")["UploadId"]
    client.upload_part(Bucket=BUCKET, Key="cut/never-completed", UploadId=upload, PartNumber=1,
                       Body=Content(rng, 5 * MiB).data())
    cut_keys.append("cut/never-completed")
    time.sleep(0.5)
    for key in cut_keys:
        try:
            response = client.head_object(Bucket=BUCKET, Key=key)
            raise AssertionError(f"interrupted upload {key} left a visible object: {response}")
        except ClientError as exc:
            assert error_code(exc) == (404, "404"), f"HEAD {key}: expected 404, got {error_code(exc)}"
    body = client.get_object(Bucket=BUCKET, Key="cut/existing")["Body"].read()
    assert hashlib.sha256(body).hexdigest() == existing.sha, "an interrupted overwrite changed cut/existing"
    listed = {o["Key"] for o in client.list_objects_v2(Bucket=BUCKET, Prefix="cut/").get("Contents", [])}
    assert listed == {"cut/existing"}, f"interrupted uploads listed: {sorted(listed)}"
    uploads = client.list_multipart_uploads(Bucket=BUCKET, Prefix="cut/").get("Uploads", [])
    assert [u["UploadId"] for u in uploads] == [upload], f"multipart uploads in progress: {uploads}"
    client.abort_multipart_upload(Bucket=BUCKET, Key="cut/never-completed", UploadId=upload)
    log("interrupted uploads: 4 cut PUTs of new keys, 2 over an existing key, 1 multipart upload never completed: "
        "no visible object, the existing one intact")


def phase_upstream_down(server, proxy, client, findings, rng, summary):
    """The proxy refuses connections, then accepts them and never answers; then serves again."""
    down = {}
    key = "down/probe"
    probe = Content(rng, 300 * 1024)
    client.put_object(Bucket=BUCKET, Key=key, Body=probe.data())
    calls = {"GET": lambda: client.get_object(Bucket=BUCKET, Key=key)["Body"].read(),
             "PUT": lambda: client.put_object(Bucket=BUCKET, Key="down/put", Body=b"x" * 1000),
             "HEAD": lambda: client.head_object(Bucket=BUCKET, Key=key),
             "LIST": lambda: client.list_objects_v2(Bucket=BUCKET, MaxKeys=5)}

    def back_up(mode, limit):
        proxy.set_down(None)
        down[f"{mode} -> up: ready after"] = f"{wait_ready(server, limit):.2f} s"
        body = client.get_object(Bucket=BUCKET, Key=key)["Body"].read()
        assert hashlib.sha256(body).hexdigest() == probe.sha, "the probe object changed"
        client.put_object(Bucket=BUCKET, Key=f"down/after-{mode}", Body=mode.encode())
        assert client.get_object(Bucket=BUCKET, Key=f"down/after-{mode}")["Body"].read() == mode.encode()

    # Refusing connections: every attempt fails at once.
    proxy.set_down("refuse")
    status, document, took = ready(server)
    assert status == 503 and document.get("checks", {}).get("store") not in (None, "ok") \
        and document.get("status") != "ready", f"/ready with the upstream refusing: {status} {document}"
    assert took < 5, f"/ready took {took:.1f} s with the upstream refusing connections"
    down["refuse ready"] = f"{status} store={document['checks']['store']} in {took:.2f} s"
    for what in ("GET", "PUT", "HEAD", "LIST", "GET"):
        code, took = expect_fast_5xx(calls[what], f"{what} with the upstream refusing connections", 5, findings)
        down[f"refuse {what}" + (" again" if f"refuse {what}" in down else "")] = f"{code} in {took:.2f} s"
    back_up("refuse", 15)

    # Accepting connections and never answering: each attempt costs a read timeout until the client takes the
    # upstream for down (5 transport failures in a row); then requests fail at once, but for one probe attempt
    # (one read timeout) after each 2 s cool-down.
    proxy.set_down("hang")
    status, document, took = ready(server)
    assert status == 503 and document.get("checks", {}).get("store") not in (None, "ok"), \
        f"/ready with the upstream hanging: {status} {document}"
    assert took < READ_TIMEOUT_MS / 1000 + 3, f"/ready took {took:.1f} s with the upstream hanging"
    down["hang ready"] = f"{status} store={document['checks']['store']} in {took:.2f} s"
    first_limit = MAX_ATTEMPTS * READ_TIMEOUT_MS / 1000 + 8
    code, took = expect_fast_5xx(calls["GET"], "first GET with the upstream hanging", first_limit, findings)
    down["hang first GET"] = f"{code} in {took:.2f} s (limit {first_limit:.0f} s)"
    for what in ("GET", "PUT", "HEAD", "GET"):
        code, took = expect_fast_5xx(calls[what], f"{what} with the upstream hanging", READ_TIMEOUT_MS / 1000 + 3,
                                     findings)
        down[f"hang {what}" + (" again" if f"hang {what}" in down else "")] = f"{code} in {took:.2f} s"
    status, document, took = ready(server)
    assert status == 503, f"/ready with the upstream hanging: {status} {document}"
    back_up("hang", 15 + READ_TIMEOUT_MS / 1000)
    for what, result in down.items():
        log(f"upstream down: {what}: {result}")
    summary["down"] = down


def main():
    seed = int(os.environ.get("BLOBSEAL_CHAOS_SEED") or secrets.randbelow(1 << 31))
    log(f"seed {seed} (BLOBSEAL_CHAOS_SEED={seed} replays the fault and workload choices; thread timing varies)")
    flow_started = time.time()
    rng = random.Random(seed)
    Content.pool = rng.randbytes(24 * MiB)
    upstream = upstream_settings()
    real_endpoint = upstream["endpoint"]
    summary = {"seed": seed}

    # s3rver (a fake) writes a truncated request body in place of the object: a reset in the middle of a request
    # body then reaches only blobseal (as if the upstream had discarded the truncated request, as S3 and RGW do).
    partial = upstream["kind"] not in ("s3rver", "")
    with FaultProxy(real_endpoint, fault_rate=0.0, seed=seed, partial_requests_upstream=partial) as proxy:
        log(f"fault proxy {proxy.url} -> {real_endpoint} ({upstream['kind'] or 'upstream'}; truncated request "
            f"bodies {'reach' if partial else 'do not reach'} the upstream)")
        # The harness reads the upstream from BLOBSEAL_UPSTREAM_ENDPOINT: point this server at the proxy.
        os.environ["BLOBSEAL_UPSTREAM_ENDPOINT"] = proxy.url
        try:
            server = Blobseal(upstream_prefix=f"chaos-{secrets.token_hex(4)}/",
                              extra_args=["--upstream-read-timeout-ms", str(READ_TIMEOUT_MS),
                                          "--upstream-max-attempts", str(MAX_ATTEMPTS)])
        finally:
            os.environ["BLOBSEAL_UPSTREAM_ENDPOINT"] = real_endpoint
        findings = Findings(proxy)
        with server:
            try:
                client = server.client(connect_timeout=10, read_timeout=CLIENT_READ_TIMEOUT, retries=NO_RETRIES)
                client.create_bucket(Bucket=BUCKET)
                status, document, _ = ready(server)
                assert status == 200, f"/ready before the chaos: {status} {document}"

                workers, faults, upstream_5xx, delta = phase_chaos(server, proxy, findings, rng, summary)
                phase_durability(client, workers, findings, summary)
                phase_retries(faults, upstream_5xx, delta)
                phase_interrupted_uploads(server, client, rng)
                summary["early_error_put"] = early_error_keep_alive(server, proxy, findings, rng)
                log(f"early error on a 3 MiB PUT: {summary['early_error_put']}")
                summary["single_fault_puts"] = single_faults(proxy, findings, client, rng)
                log(f"single faults on an upstream PUT: {summary['single_fault_puts']}")
                phase_upstream_down(server, proxy, client, findings, rng, summary)
                assert server.process.poll() is None, f"blobseal exited:\n{server.server_stderr(60)}"
            except BaseException:
                summary["proxy"] = proxy.stats()
                print(json.dumps(summary, indent=1, sort_keys=True))
                dump_findings(findings, server)
                raise
            summary["proxy"] = proxy.stats()
            summary["flow_seconds"] = round(time.time() - flow_started, 1)
            print(json.dumps(summary, indent=1, sort_keys=True))
            dump_findings(findings, server)
    log(f"passed in {time.time() - flow_started:.1f} s")


if __name__ == "__main__":
    main()
