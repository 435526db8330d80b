"""Shared by the Python integration flows (run them with /usr/bin/python3, which has Debian's boto3).

    from harness import Blobseal
    with Blobseal() as server:          # binary from sys.argv[1] or BLOBSEAL_BIN
        s3 = server.client()            # boto3 S3 client, path-style, SigV4
        ...

Each run gets its own temp directory (removed on exit), a free port (the server binds port 0 and prints the one it
got), and a random access key and secret. The server is stopped by PID (SIGTERM, then SIGKILL after 10 s).
"""
import hashlib
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time

# Nothing here uses TLS; the machine's AWS_CA_BUNDLE would only get in the way of rclone-like tools.
for _name in ("AWS_CA_BUNDLE", "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
    os.environ.pop(_name, None)
# No ~/.aws/config or credentials of whoever runs the tests may change the clients' behaviour.
os.environ["AWS_CONFIG_FILE"] = os.devnull
os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull

FLOW = os.path.basename(sys.argv[0])


def log(message):
    print(f"[{FLOW} {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def blobseal_binary():
    path = sys.argv[1] if len(sys.argv) > 1 and sys.argv[1] else os.environ.get("BLOBSEAL_BIN", "")
    assert path, "no blobseal binary: pass its path as the first argument or set BLOBSEAL_BIN"
    assert os.access(path, os.X_OK), f"blobseal binary {path} is not executable"
    return path


def sha256_file(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def make_file(path, size):
    """Random content of `size` bytes (head -c from /dev/urandom, as the brief says)."""
    with open(path, "wb") as out:
        if size:
            subprocess.run(["head", "-c", str(size), "/dev/urandom"], stdout=out, check=True)
    assert os.path.getsize(path) == size
    return path


def error_code(exc):
    """(HTTP status, S3 error code) of a botocore ClientError."""
    response = getattr(exc, "response", {}) or {}
    return (response.get("ResponseMetadata", {}).get("HTTPStatusCode"), response.get("Error", {}).get("Code"))


def expect_error(call, status, code, what):
    """Runs `call`, which must fail with a botocore ClientError of this HTTP status and S3 code."""
    from botocore.exceptions import ClientError
    try:
        result = call()
    except ClientError as exc:
        got = error_code(exc)
        assert got == (status, code), f"{what}: expected {status} {code}, got {got[0]} {got[1]} ({exc})"
        return exc
    raise AssertionError(f"{what}: expected {status} {code}, got success: {str(result)[:300]}")


def _check_response_framing(http_response, model, **_):
    """Every S3 response carries x-amz-request-id. A response without it was not parsed as the server framed it: for
    instance botocore's stale status line after an `Expect: 100-continue` answered without 100 (botocore#3755), which
    otherwise shows up only as a silent 60 s stall and an empty, "successful" response."""
    if "x-amz-request-id" not in http_response.headers:
        raise AssertionError(f"{model.name}: HTTP {http_response.status_code} response without x-amz-request-id "
                             f"(headers {dict(http_response.headers)}): the client could not parse the response (e.g. botocore#3755: "
                             "an earlier `Expect: 100-continue` PUT with an empty body was answered without "
                             "100 Continue, which poisons the pooled connection)")


def vm_kib(pid, field):
    """A /proc/PID/status figure in KiB (VmHWM: the peak resident set)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def upstream_settings():
    """The upstream S3 service tests/upstream/with_upstream.sh started for this test (its env-file variables)."""
    endpoint = os.environ.get("BLOBSEAL_UPSTREAM_ENDPOINT")
    assert endpoint, "gateway mode needs an upstream: run this flow under tests/upstream/with_upstream.sh"
    return {"endpoint": endpoint, "bucket": os.environ["BLOBSEAL_UPSTREAM_BUCKET"],
            "region": os.environ.get("BLOBSEAL_UPSTREAM_REGION", "us-east-1"),
            "access_key": os.environ["BLOBSEAL_UPSTREAM_ACCESS_KEY"],
            "secret_key": os.environ["BLOBSEAL_UPSTREAM_SECRET_KEY"],
            "kind": os.environ.get("BLOBSEAL_UPSTREAM_KIND", ""),
            "data_dir": os.environ.get("BLOBSEAL_UPSTREAM_DATA_DIR", "")}


def upstream_client():
    """A boto3 client of the upstream itself (not of blobseal): to look at what blobseal stored there."""
    import boto3
    from botocore.config import Config
    upstream = upstream_settings()
    return boto3.client("s3", endpoint_url=upstream["endpoint"], region_name=upstream["region"],
                        aws_access_key_id=upstream["access_key"], aws_secret_access_key=upstream["secret_key"],
                        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))


class Blobseal:
    def __init__(self, extra_args=(), upstream_prefix=None, access_key=None, secret_key=None):
        """`upstream_prefix`: gateway mode, the objects kept under this prefix of the upstream bucket that
        tests/upstream/with_upstream.sh started (its BLOBSEAL_UPSTREAM_* variables). With BLOBSEAL_IT_GATEWAY=1 every
        server is in gateway mode, under a fresh prefix unless one is given. Two servers given the same prefix, the
        same keyring (--keyring in extra_args) and the same access key are two nodes of one store."""
        self.binary = blobseal_binary()
        self.extra_args = list(extra_args)
        self.env = dict(os.environ)
        if upstream_prefix is None and os.environ.get("BLOBSEAL_IT_GATEWAY") == "1":
            upstream_prefix = "it-" + secrets.token_hex(4) + "/"
        self.upstream_prefix = upstream_prefix
        if upstream_prefix is not None:
            upstream = upstream_settings()
            self.extra_args += ["--upstream", f"{upstream['endpoint']}/{upstream['bucket']}/{upstream_prefix}"]
            # BLOBSEAL_IT_BUCKET_TEMPLATE: one upstream bucket per blobseal bucket, named by this template.
            if os.environ.get("BLOBSEAL_IT_BUCKET_TEMPLATE"):
                self.extra_args += ["--upstream-bucket-template", os.environ["BLOBSEAL_IT_BUCKET_TEMPLATE"]]
            self.env.update(AWS_ACCESS_KEY_ID=upstream["access_key"], AWS_SECRET_ACCESS_KEY=upstream["secret_key"],
                            AWS_REGION=upstream["region"])
        self.work = tempfile.mkdtemp(prefix="blobseal-it.")
        self.data = os.path.join(self.work, "data")
        self.files = os.path.join(self.work, "files")
        self.logs = os.path.join(self.work, "logs")
        os.makedirs(self.files)
        os.makedirs(self.logs)
        self.audit_log = os.path.join(self.logs, "audit.log")
        self.access_log = os.path.join(self.logs, "access.log")
        # BLOBSEAL_TEST_ACCESS_KEY / BLOBSEAL_TEST_SECRET_KEY fix them (to replay a failure by hand).
        self.access_key = access_key or os.environ.get("BLOBSEAL_TEST_ACCESS_KEY") or "AK" + secrets.token_hex(9).upper()
        self.secret_key = secret_key or os.environ.get("BLOBSEAL_TEST_SECRET_KEY") or secrets.token_hex(20)
        self.region = "us-east-1"
        self.process = None
        self.port = None
        self.endpoint = None

    # -- life cycle ---------------------------------------------------------------------------------------------
    def start(self):
        self._out = open(os.path.join(self.logs, "server.out"), "wb")
        self._err = open(os.path.join(self.logs, "server.err"), "wb")
        self.process = subprocess.Popen(
            [self.binary, "serve", "--listen", "127.0.0.1:0", "--data", self.data,
             "--access-key", self.access_key, "--secret-key", self.secret_key, "--region", self.region,
             "--audit-log", self.audit_log, "--access-log", self.access_log, "--shutdown-grace", "5",
             *self.extra_args],
            stdout=subprocess.PIPE, stderr=self._err, stdin=subprocess.DEVNULL, env=self.env)
        # A thread drains stdout (so the server never blocks on a full pipe) and hands lines over until the port.
        import queue
        import threading
        self._lines = queue.Queue()
        threading.Thread(target=self._drain, daemon=True).start()
        deadline = time.time() + 30
        pattern = re.compile(rb"^blobseal: listening on http://[^ ]*:(\d+)")
        while self.port is None:
            remaining = deadline - time.time()
            assert remaining > 0, "blobseal serve printed no 'listening on' line within 30 s"
            try:
                line = self._lines.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                assert False, f"blobseal serve exited (code {self.process.wait()}) before listening:\n{self.server_stderr()}"
            match = pattern.match(line)
            if match:
                self.port = int(match.group(1))
        self.endpoint = f"http://127.0.0.1:{self.port}"
        log(f"blobseal serve (pid {self.process.pid}) at {self.endpoint}, data {self.data}"
            + (f", upstream prefix {self.upstream_prefix}" if self.upstream_prefix is not None else ""))
        return self

    def _drain(self):
        for line in self.process.stdout:
            try:
                self._out.write(line)
                self._out.flush()
            except ValueError:
                pass
            if self.port is None:
                self._lines.put(line)
        self._lines.put(None)

    def stop(self, strict=True):
        """SIGTERM; the server gets its 5 s shutdown grace (--shutdown-grace 5) plus 10 s, then SIGKILL. With `strict`,
        a slow or non-zero exit fails the flow (not while a failure is already being reported)."""
        process, self.process = self.process, None
        if process and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                code = process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                log(f"server {process.pid} did not stop within 15 s of SIGTERM; killing it")
                process.kill()
                process.wait()
                assert not strict, "blobseal serve did not stop within 15 s of SIGTERM (shutdown grace 5 s)"
                return
            assert code == 0 or not strict, f"blobseal serve exited with {code} after SIGTERM:\n{self.server_stderr()}"

    def server_stderr(self, lines=20):
        try:
            with open(os.path.join(self.logs, "server.err"), "rb") as f:
                return b"\n".join(f.read().splitlines()[-lines:]).decode(errors="replace")
        except OSError:
            return ""

    def __enter__(self):
        try:
            return self.start()
        except BaseException as exc:
            self.__exit__(type(exc), exc, exc.__traceback__)
            raise

    def __exit__(self, exc_type, exc, tb):
        try:
            self.stop(strict=exc_type is None)
        finally:
            if exc_type is not None:
                log("failed; last server stderr lines:\n" + self.server_stderr())
            if os.environ.get("BLOBSEAL_KEEP_WORK") == "1":
                log(f"work directory kept: {self.work}")
            else:
                for root, dirs, files in os.walk(self.work):
                    for name in dirs + files:
                        try:
                            os.chmod(os.path.join(root, name), 0o700)
                        except OSError:
                            pass
                shutil.rmtree(self.work, ignore_errors=True)
        return False

    # -- clients ------------------------------------------------------------------------------------------------
    def client(self, access_key=None, secret_key=None, **config):
        import boto3
        from botocore.config import Config
        options = dict(s3={"addressing_style": "path"}, signature_version="s3v4",
                       retries={"max_attempts": 1, "mode": "standard"})
        options.update(config)
        client = boto3.session.Session().client(
            "s3", endpoint_url=self.endpoint, region_name=self.region,
            aws_access_key_id=access_key or self.access_key,
            aws_secret_access_key=secret_key or self.secret_key,
            config=Config(**options))
        client.meta.events.register("after-call.s3", _check_response_framing)
        return client

    def path(self, name):
        return os.path.join(self.files, name)

    def http_get(self, path):
        """Plain GET on the server (no auth): (status, headers, body)."""
        import urllib.request
        import urllib.error
        try:
            with urllib.request.urlopen(self.endpoint + path, timeout=30) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read()

    def curl(self, *args, output=None):
        """Runs curl; returns (exit code, HTTP status, body bytes or None, headers text)."""
        body_path = output or os.path.join(self.work, "curl.body")
        header_path = os.path.join(self.work, "curl.headers")
        for p in (body_path, header_path):
            if os.path.exists(p):
                os.remove(p)
        proc = subprocess.run(["curl", "-sS", "-o", body_path, "-D", header_path, "-w", "%{http_code}", *args],
                              capture_output=True)
        status = int(proc.stdout.decode() or 0)
        headers = open(header_path, "rb").read().decode(errors="replace") if os.path.exists(header_path) else ""
        body = None
        if output is None and os.path.exists(body_path):
            with open(body_path, "rb") as f:
                body = f.read()
        return proc.returncode, status, body, headers

    def audit_events(self):
        import json
        events = []
        if not os.path.exists(self.audit_log):
            return events
        with open(self.audit_log, "rb") as f:
            for number, line in enumerate(f, 1):
                assert line.endswith(b"\n"), f"audit log line {number} is not terminated: {line[:200]!r}"
                try:
                    events.append(json.loads(line))
                except ValueError as exc:
                    raise AssertionError(f"audit log line {number} is not JSON ({exc}): {line[:200]!r}")
        return events

    def metrics(self):
        status, _, body = self.http_get("/metrics")
        assert status == 200, f"GET /metrics: expected 200, got {status}"
        return body.decode()


def metric_value(text, name, **labels):
    """Sum of the samples of `name` whose labels include `labels` (0 when there is none)."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        match = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)", line)
        if not match or match.group(1) != name:
            continue
        found = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', match.group(3) or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            total += float(match.group(4))
    return total
