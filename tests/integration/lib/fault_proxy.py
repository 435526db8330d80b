"""A fault-injecting HTTP/1.1 reverse proxy, to put between blobseal (gateway mode) and its upstream S3 service.

Standard library only. It forwards each request and response byte for byte (request line, headers — Host and every
signed header untouched —, Content-Length and chunked bodies, 1xx interim responses, keep-alive), pairing each
client connection with one upstream connection. With probability `fault_rate` (a seeded RNG) a request gets one of
these faults instead of a clean exchange:

    error_500            answers 500 InternalError itself, after reading (and dropping) the request body: the
                         request never reaches the upstream
    slowdown_503         answers 503 SlowDown
    unavailable_503      answers 503 ServiceUnavailable
    reset_before         resets the client connection (SO_LINGER 0) before forwarding anything
    reset_mid_request    reads about half of the request body, then resets the client connection (only drawn for
                         requests with a body). By default nothing of that request reaches the upstream: what a
                         real S3 service makes of a truncated request (nothing stored). With
                         `partial_requests_upstream=True` the head and the half body are forwarded before both
                         connections are reset: only for upstreams that discard truncated bodies (RGW, AWS); s3rver
                         (a fake) writes the truncated body in place of the object, so there it would test s3rver.
    reset_mid_response   forwards the whole request, then only part of the upstream's response (half its body, or
                         half its head when it has no body), then resets: the upstream did the work, the answer is lost
    latency              sleeps `latency_ms` (uniform) before forwarding normally

`set_down("refuse")` closes the listening socket and resets every open connection (new connections are refused);
`set_down("hang")` keeps accepting but never answers (requests are read, then held until the mode ends, when the
connection is closed without a reply); `set_down(None)` serves again on the same port. faults() counts what was
injected, by kind; fault_log(since, until) lists them (time, kind, method, target) to match a failure to its cause;
stats() adds the requests seen, the upstream's own 5xx answers relayed, and more. set_fault_rate(rate, kinds=...,
fault_filter=...) changes the faults at run time; fault_filter(method, target) -> bool picks the requests that may be
faulted (e.g. only the upstream PUTs of one object, for a targeted test).

In process:

    from fault_proxy import FaultProxy
    with FaultProxy("http://127.0.0.1:9000", fault_rate=0.1, seed=7) as proxy:
        ... point the client at proxy.url ...
        proxy.set_down("refuse"); ...; proxy.set_down(None)
        print(proxy.faults())

Standalone: `python3 fault_proxy.py --upstream http://127.0.0.1:9000 --rate 0.1 --seed 7 [--port N]
[--control-port N]` prints "fault_proxy: listening on http://127.0.0.1:PORT" (and the control URL); the control
endpoint takes GET /stats, /down?mode=hang|refuse, /up, /rate?value=0.1. SIGTERM stops it (printing its stats).
"""
import collections
import json
import random
import socket
import struct
import sys
import threading
import time
import urllib.parse

KINDS = ("error_500", "slowdown_503", "unavailable_503", "reset_before", "reset_mid_request", "reset_mid_response",
         "latency")

_ERRORS = {
    "error_500": (500, "Internal Server Error", "InternalError", "We encountered an internal error. Please try again."),
    "slowdown_503": (503, "Slow Down", "SlowDown", "Please reduce your request rate."),
    "unavailable_503": (503, "Service Unavailable", "ServiceUnavailable",
                        "The service is unavailable. Please retry."),
}

_MAX_HEAD = 64 * 1024
_BLOCK = 64 * 1024


class _Closed(Exception):
    """The peer closed (or reset) the connection."""


def _reset(sock):
    """Closes with an RST (SO_LINGER on, 0 s)."""
    if sock is None:
        return
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


def _close(sock):
    if sock is None:
        return
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


class _Reader:
    """Buffered reads from a socket; every byte handed out is the peer's, unchanged."""

    def __init__(self, sock):
        self.sock = sock
        self.buffer = bytearray()

    def _fill(self):
        try:
            data = self.sock.recv(_BLOCK)
        except OSError as exc:
            raise _Closed(str(exc))
        if not data:
            raise _Closed("end of stream")
        self.buffer += data

    def _until(self, terminator, what):
        """The bytes up to and including the first `terminator`."""
        start = 0
        while True:
            end = self.buffer.find(terminator, start)
            if end >= 0:
                out = bytes(self.buffer[:end + len(terminator)])
                del self.buffer[:end + len(terminator)]
                return out
            if len(self.buffer) > _MAX_HEAD:
                raise _Closed(what)
            start = max(0, len(self.buffer) - len(terminator) + 1)
            self._fill()

    def head(self, at_boundary=False):
        """The bytes of a head, up to and including the blank line. _Closed at a clean end when `at_boundary` and
        nothing was buffered."""
        return self._until(b"\r\n\r\n", "head too large")

    def line(self):
        """One CRLF-terminated line, CRLF included."""
        return self._until(b"\r\n", "line too long")

    def some(self, limit):
        """Up to `limit` bytes (at least one)."""
        if not self.buffer:
            self._fill()
        data = bytes(self.buffer[:limit])
        del self.buffer[:limit]
        return data

    def exactly(self, count):
        out = bytearray()
        while len(out) < count:
            out += self.some(count - len(out))
        return bytes(out)


def _parse_head(head):
    """(first line parts, {lower-case name: [values]}) of a request or response head."""
    lines = head[:-4].decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.setdefault(name.strip().lower(), []).append(value.strip())
    return lines[0].split(" ", 2), headers


def _framing(headers):
    """("chunked", None), ("length", N) or (None, None)."""
    encodings = ",".join(headers.get("transfer-encoding", [])).lower()
    if "chunked" in encodings:
        return "chunked", None
    if "content-length" in headers:
        return "length", int(headers["content-length"][0])
    return None, None


def _wants_close(headers):
    return any("close" in v.lower() for v in headers.get("connection", []))


class FaultProxy:
    def __init__(self, upstream, fault_rate=0.0, seed=None, kinds=KINDS, weights=None, latency_ms=(50, 300),
                 host="127.0.0.1", port=0, partial_requests_upstream=False, fault_filter=None):
        parsed = urllib.parse.urlsplit(upstream)
        assert parsed.scheme == "http", f"fault proxy: only http upstreams ({upstream})"
        self.upstream = (parsed.hostname, parsed.port or 80)
        self.fault_rate = fault_rate
        self.kinds = tuple(kinds)
        for kind in self.kinds:
            assert kind in KINDS, f"fault proxy: unknown fault kind {kind}"
        self.weights = list(weights) if weights else [1] * len(self.kinds)
        self.latency_ms = latency_ms
        self.partial_requests_upstream = partial_requests_upstream
        self.fault_filter = fault_filter  # callable(method, target) -> bool: which requests may be faulted
        self.host = host
        self.port = port
        self.random = random.Random(seed)
        self.seed = seed
        self._lock = threading.Lock()
        self._counts = {kind: 0 for kind in KINDS}
        self._requests = 0          # requests read from clients (faulted or not)
        self._forwarded = 0         # exchanges completed cleanly through the proxy
        self._held = 0              # requests left unanswered in hang mode
        self._refused = 0           # connections reset when refuse mode began
        self._upstream_5xx = {}     # the upstream's own 5xx answers relayed, by status
        self._down = None
        self._up_event = threading.Event()
        self._up_event.set()
        self._stopping = threading.Event()
        self._listener = None
        self._listener_lock = threading.Lock()
        self._connections = set()   # open client and upstream sockets
        self._log = collections.deque(maxlen=20000)  # (time.time(), kind, method, target) of each injected fault
        self._threads = []

    # -- life cycle -----------------------------------------------------------------------------------------------
    @property
    def url(self):
        return f"http://{self.host}:{self.port}"

    def start(self):
        self._listen()
        thread = threading.Thread(target=self._accept_loop, name="fault-proxy-accept", daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def stop(self):
        self._stopping.set()
        self._up_event.set()
        with self._listener_lock:
            listener, self._listener = self._listener, None
        _close(listener)
        with self._lock:
            connections = list(self._connections)
        for sock in connections:
            _close(sock)
        for thread in self._threads:
            thread.join(timeout=5)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    # -- control --------------------------------------------------------------------------------------------------
    def set_fault_rate(self, rate, kinds=None, fault_filter=None):
        """The probability of a fault per request; `kinds` (equal weights) and `fault_filter` replace the current
        ones when given (fault_filter=False clears it)."""
        with self._lock:
            self.fault_rate = rate
            if kinds is not None:
                assert all(kind in KINDS for kind in kinds), kinds
                self.kinds, self.weights = tuple(kinds), [1] * len(kinds)
            if fault_filter is not None:
                self.fault_filter = fault_filter or None

    def set_down(self, mode):
        """None (serve), "hang" (accept, never answer) or "refuse" (refuse connections, reset open ones)."""
        assert mode in (None, "hang", "refuse"), mode
        with self._lock:
            previous, self._down = self._down, mode
        if mode is None:
            if previous == "refuse":
                self._listen()
            self._up_event.set()
            return
        self._up_event.clear()
        if mode == "refuse" and previous != "refuse":
            with self._listener_lock:
                listener, self._listener = self._listener, None
            _close(listener)
            with self._lock:
                connections = list(self._connections)
                self._refused += len(connections)
            for sock in connections:
                _reset(sock)
        if mode == "hang" and previous == "refuse":
            self._listen()

    def down(self):
        return self._down

    def faults(self):
        """{kind: count} of the faults injected so far."""
        with self._lock:
            return dict(self._counts)

    def stats(self):
        with self._lock:
            return {"requests": self._requests, "forwarded": self._forwarded, "faults": dict(self._counts),
                    "held": self._held, "refused_connections": self._refused, "down": self._down,
                    "upstream_5xx": dict(self._upstream_5xx),
                    "fault_rate": self.fault_rate, "seed": self.seed}

    # -- internals ------------------------------------------------------------------------------------------------
    def _listen(self):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        for attempt in range(50):
            try:
                sock.bind((self.host, self.port))
                break
            except OSError:
                if self.port == 0 or attempt == 49:
                    raise
                time.sleep(0.1)
        sock.listen(128)
        sock.settimeout(0.2)
        self.port = sock.getsockname()[1]
        with self._listener_lock:
            self._listener = sock

    def _accept_loop(self):
        while not self._stopping.is_set():
            with self._listener_lock:
                listener = self._listener
            if listener is None:
                time.sleep(0.05)
                continue
            try:
                client, _ = listener.accept()
            except socket.timeout:
                continue
            except OSError:
                time.sleep(0.05)
                continue
            client.settimeout(None)
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self._connections.add(client)
            thread = threading.Thread(target=self._serve_connection, args=(client,), name="fault-proxy-conn",
                                      daemon=True)
            thread.start()
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]

    def _track(self, sock, add=True):
        with self._lock:
            if add:
                self._connections.add(sock)
            else:
                self._connections.discard(sock)

    def fault_log(self, since=0.0, until=None):
        """The faults injected between two time.time() values: [(time, kind, method, target)]."""
        with self._lock:
            return [e for e in self._log if e[0] >= since and (until is None or e[0] <= until)]

    def _draw(self, has_body, method, target):
        """The fault for the next request, or None."""
        with self._lock:
            self._requests += 1
            if self.fault_rate <= 0 or (self.fault_filter and not self.fault_filter(method, target)):
                return None, 0.0
            if self.random.random() >= self.fault_rate:
                return None, 0.0
            choices = [(k, w) for k, w in zip(self.kinds, self.weights) if has_body or k != "reset_mid_request"]
            if not choices:
                return None, 0.0
            kind = self.random.choices([k for k, _ in choices], [w for _, w in choices])[0]
            delay = self.random.uniform(*self.latency_ms) / 1000.0
            self._counts[kind] += 1
            self._log.append((time.time(), kind, method, target))
            return kind, delay

    def _serve_connection(self, client):
        reader = _Reader(client)
        upstream = None
        upstream_reader = None
        try:
            while not self._stopping.is_set():
                try:
                    head = reader.head()
                except _Closed:
                    return
                if self._down is not None:
                    self._hold(client)
                    return
                first, headers = _parse_head(head)
                method, target = first[0], (first[1] if len(first) > 1 else "")
                framing, length = _framing(headers)
                has_body = framing == "chunked" or (framing == "length" and length > 0)
                fault, delay = self._draw(has_body, method, target)
                if fault == "reset_before":
                    _reset(client)
                    return
                if fault in _ERRORS:
                    self._discard_body(reader, framing, length)
                    self._answer_error(client, method, fault)
                    if _wants_close(headers):
                        return
                    continue
                if fault == "latency":
                    time.sleep(delay)
                if fault == "reset_mid_request" and not self.partial_requests_upstream:
                    self._copy_body(reader, None, framing, length, cut=True)
                    _reset(client)
                    return
                if upstream is None:
                    upstream = socket.create_connection(self.upstream, timeout=None)
                    upstream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    self._track(upstream)
                    upstream_reader = _Reader(upstream)
                upstream.sendall(head)
                if fault == "reset_mid_request":
                    self._copy_body(reader, upstream, framing, length, cut=True)
                    _reset(upstream)
                    _reset(client)
                    return
                self._copy_body(reader, upstream, framing, length)
                close = self._relay_response(upstream_reader, client, method, headers,
                                             cut=(fault == "reset_mid_response"))
                if close is None:   # cut mid-response
                    _reset(upstream)
                    _reset(client)
                    return
                with self._lock:
                    self._forwarded += 1
                if close:
                    return
        except (_Closed, OSError):
            return
        finally:
            self._track(client, add=False)
            _close(client)
            if upstream is not None:
                self._track(upstream, add=False)
                _close(upstream)

    def _hold(self, client):
        """Hang mode: the request gets no answer; the connection is closed once the mode ends (or on stop)."""
        with self._lock:
            self._held += 1
        while not self._stopping.is_set() and self._down == "hang":
            self._up_event.wait(0.2)
        # refuse mode resets it; otherwise close without a reply.

    def _discard_body(self, reader, framing, length):
        if framing == "length":
            remaining = length
            while remaining > 0:
                remaining -= len(reader.some(min(remaining, _BLOCK)))
        elif framing == "chunked":
            self._copy_chunked(reader, None)

    def _answer_error(self, client, method, fault):
        status, reason, code, message = _ERRORS[fault]
        request_id = "%016X" % random.getrandbits(64)
        body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message>'
                f"<RequestId>{request_id}</RequestId><HostId>fault-proxy</HostId></Error>").encode()
        head = (f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/xml\r\nx-amz-request-id: {request_id}\r\n"
                f"Date: {time.strftime('%a, %d %b %Y %H:%M:%S GMT', time.gmtime())}\r\n"
                f"Content-Length: {0 if method == 'HEAD' else len(body)}\r\n")
        if fault == "slowdown_503" or fault == "unavailable_503":
            head += "Retry-After: 1\r\n"
        client.sendall((head + "\r\n").encode() + (b"" if method == "HEAD" else body))

    def _copy_body(self, reader, sink, framing, length, cut=False):
        """Copies a body framed by Content-Length or chunked encoding; with `cut`, only about half of it."""
        send = sink.sendall if sink is not None else (lambda data: None)
        if framing == "length":
            remaining = length // 2 if cut else length
            while remaining > 0:
                data = reader.some(min(remaining, _BLOCK))
                send(data)
                remaining -= len(data)
        elif framing == "chunked":
            if cut:
                # The first chunk's size line and half of its data.
                line = reader.line()
                send(line)
                size = int(line.split(b";")[0].strip() or b"0", 16)
                send(reader.exactly(size // 2))
            else:
                self._copy_chunked(reader, sink)

    def _copy_chunked(self, reader, sink):
        send = sink.sendall if sink is not None else (lambda data: None)
        while True:
            line = reader.line()
            send(line)
            size = int(line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while True:                 # trailers, then the blank line
                    trailer = reader.line()
                    send(trailer)
                    if trailer == b"\r\n":
                        return
            remaining = size + 2            # the data and its CRLF
            while remaining > 0:
                data = reader.some(min(remaining, _BLOCK))
                send(data)
                remaining -= len(data)

    def _relay_response(self, upstream_reader, client, method, request_headers, cut=False):
        """Relays the upstream's response (1xx interim ones included). Returns whether to close afterwards, or None
        when `cut` stopped it half-way."""
        while True:
            head = upstream_reader.head()
            (version, status, *_), headers = _parse_head(head)
            status = int(status)
            if 100 <= status < 200 and status != 101:
                client.sendall(head)
                continue
            break
        if status >= 500:
            with self._lock:
                self._upstream_5xx[status] = self._upstream_5xx.get(status, 0) + 1
        if method == "HEAD" or status in (204, 304):
            framing, length = "length", 0
        else:
            framing, length = _framing(headers)
        if cut:
            has_body = framing == "chunked" or (framing == "length" and length > 0) or framing is None
            if not has_body:
                client.sendall(head[:len(head) // 2])
                return None
            client.sendall(head)
            if framing is None:
                client.sendall(upstream_reader.some(_BLOCK)[:max(1, _BLOCK // 2)])
            else:
                self._copy_body(upstream_reader, client, framing, length, cut=True)
            return None
        client.sendall(head)
        if framing is None:
            # Delimited by the end of the connection.
            try:
                while True:
                    client.sendall(upstream_reader.some(_BLOCK))
            except _Closed:
                return True
        self._copy_body(upstream_reader, client, framing, length)
        return (_wants_close(headers) or _wants_close(request_headers) or version == "HTTP/1.0")


def main(argv):
    import argparse
    import http.server
    parser = argparse.ArgumentParser(description="fault-injecting HTTP/1.1 reverse proxy")
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--rate", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--kinds", default=",".join(KINDS))
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--control-port", type=int, default=0)
    parser.add_argument("--partial-requests-upstream", action="store_true",
                        help="reset_mid_request forwards the half body to the upstream (not for s3rver)")
    args = parser.parse_args(argv)
    proxy = FaultProxy(args.upstream, fault_rate=args.rate, seed=args.seed, kinds=args.kinds.split(","),
                       port=args.port, partial_requests_upstream=args.partial_requests_upstream).start()

    class Control(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            url = urllib.parse.urlsplit(self.path)
            query = dict(urllib.parse.parse_qsl(url.query))
            if url.path == "/down":
                proxy.set_down(query.get("mode", "refuse"))
            elif url.path == "/up":
                proxy.set_down(None)
            elif url.path == "/rate":
                proxy.set_fault_rate(float(query["value"]))
            elif url.path != "/stats":
                self.send_error(404)
                return
            body = (json.dumps(proxy.stats()) + "\n").encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    control = http.server.ThreadingHTTPServer(("127.0.0.1", args.control_port), Control)
    print(f"fault_proxy: listening on {proxy.url} (upstream http://{proxy.upstream[0]}:{proxy.upstream[1]}), "
          f"control on http://127.0.0.1:{control.server_address[1]}", flush=True)
    import signal

    def shut_down(*_):
        threading.Thread(target=control.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, shut_down)
    signal.signal(signal.SIGINT, shut_down)
    try:
        control.serve_forever()
    finally:
        control.server_close()
        proxy.stop()
        print(json.dumps(proxy.stats()), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
