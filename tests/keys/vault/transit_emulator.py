#!/usr/bin/python3
"""Transit emulator: a TEST DOUBLE of HashiCorp Vault / OpenBao, not a Vault server.

No Vault or OpenBao can be installed where blobseal's tests run, so the "vault" key manager is tested against this
small HTTP server, written from the documented HTTP API (developer.hashicorp.com/vault/api-docs/secret/transit,
.../auth/approle, .../auth/token, .../system/health) and OpenBao's transit source for the error texts. It implements
only what the provider uses:

  GET  /v1/sys/health                               unauthenticated
  POST /v1/auth/<approle mount>/login               role_id, secret_id -> auth.client_token, lease_duration
  POST /v1/auth/token/renew-self                    -> auth.client_token, lease_duration
  POST /v1/<mount>/keys/<name>                      create (type aes256-gcm96)
  GET  /v1/<mount>/keys/<name>                      keys {version: unix time}, latest_version, min_*_version, type
  POST /v1/<mount>/keys/<name>/rotate
  POST /v1/<mount>/keys/<name>/config               min_decryption_version, min_encryption_version
  POST /v1/<mount>/encrypt/<name>                   plaintext, associated_data (base64), key_version; upserts the
                                                    key like Vault does when the token may create it
  POST /v1/<mount>/decrypt/<name>                   ciphertext, associated_data
  POST /v1/<mount>/rewrap/<name>                    ciphertext, key_version (no associated_data, as in Vault/OpenBao)

Ciphertexts are "vault:v<N>:" + base64(12-byte nonce || AES-256-GCM ciphertext || 16-byte tag), the associated data
authenticated by GCM. Every /v1 request except health and login needs a valid X-Vault-Token (403 "permission denied"
otherwise); X-Vault-Namespace selects a separate key store per namespace. Errors are {"errors": [...]} with Vault's
messages and statuses.

Test controls (no authentication, never in Vault), under /_emulator/:
  POST fail           {"status": 503, "count": N}: the next N /v1 requests get that status
  POST expire_tokens  every token except the root token expires now
  POST token_ttl      {"ttl": seconds} for tokens issued from now on
  GET  stats          counters and the last requests (method, path, namespace, whether a token was sent)
  GET  key_material   ?name=K&namespace=NS: the key's versions (base64), for the tests' no-leak checks

Usage: transit_emulator.py --port-file FILE --root-token T [--role-id R --secret-id S] [--approle-mount approle]
       [--mount transit] [--token-ttl 3600]. Binds 127.0.0.1 on a free port and writes the port to FILE.
Standard library plus python3-cryptography (AESGCM).
"""

import argparse
import base64
import binascii
import json
import os
import secrets
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

ERR_TOO_OLD = "ciphertext or signature version is disallowed by policy (too old)"
AEAD_TYPES = ("aes128-gcm96", "aes256-gcm96", "chacha20-poly1305", "xchacha20-poly1305")


class Key:
    def __init__(self, name, key_type="aes256-gcm96"):
        self.name = name
        self.type = key_type
        self.versions = {}  # version -> (material, created unix)
        self.latest_version = 0
        self.min_decryption_version = 1
        self.min_encryption_version = 0
        self.rotate()

    def rotate(self):
        self.latest_version += 1
        self.versions[self.latest_version] = (AESGCM.generate_key(bit_length=256), int(time.time()))

    def info(self):
        # Like Vault, versions below min_decryption_version are archived and not listed.
        keys = {str(v): created for v, (_, created) in self.versions.items() if v >= self.min_decryption_version}
        return {
            "name": self.name, "type": self.type, "keys": keys, "latest_version": self.latest_version,
            "min_decryption_version": self.min_decryption_version,
            "min_encryption_version": self.min_encryption_version, "min_available_version": 0,
            "deletion_allowed": False, "derived": False, "exportable": False, "allow_plaintext_backup": False,
            "supports_encryption": True, "supports_decryption": True, "supports_derivation": True,
            "supports_signing": False, "auto_rotate_period": 0,
        }


class UserError(Exception):
    def __init__(self, message, status=400):
        super().__init__(message)
        self.status = status


def b64decode_strict(text, what):
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError, TypeError):
        raise UserError(f"invalid {what}: could not decode base64" if what == "ciphertext" else
                        f"failed to base64-decode {what}")


class State:
    def __init__(self, args):
        self.lock = threading.Lock()
        self.args = args
        self.root_token = args.root_token
        self.tokens = {args.root_token: None}  # token -> expiry (None: never)
        self.token_ttl = args.token_ttl
        self.stores = {}  # namespace -> {name: Key}
        self.fail_status = 0
        self.fail_count = 0
        self.stats = {"logins": 0, "renewals": 0, "failures_served": 0, "requests": []}

    def store(self, namespace):
        return self.stores.setdefault(namespace, {})

    def issue_token(self):
        token = "hvs.emu" + secrets.token_urlsafe(24)
        self.tokens[token] = time.time() + self.token_ttl if self.token_ttl > 0 else None
        return token

    def token_valid(self, token):
        if token not in self.tokens:
            return False
        expiry = self.tokens[token]
        return expiry is None or time.time() < expiry


def encrypt(key, version, plaintext, associated_data):
    material, _ = key.versions[version]
    nonce = os.urandom(12)
    sealed = AESGCM(material).encrypt(nonce, plaintext, associated_data or None)
    return f"vault:v{version}:" + base64.b64encode(nonce + sealed).decode()


def decrypt(key, ciphertext, associated_data):
    if not ciphertext.startswith("vault:v"):
        raise UserError("invalid ciphertext: no prefix")
    rest = ciphertext[len("vault:v"):]
    digits, sep, payload = rest.partition(":")
    if not sep or not digits.isdigit() or (len(digits) > 1 and digits[0] == "0"):
        raise UserError("invalid ciphertext: could not parse version")
    version = int(digits)
    if version > key.latest_version or version == 0:
        raise UserError("invalid ciphertext: version is too new")
    if version < key.min_decryption_version:
        raise UserError(ERR_TOO_OLD)
    blob = b64decode_strict(payload, "ciphertext")
    if len(blob) < 12 + 16:
        raise UserError("invalid ciphertext: unable to decrypt")
    material, _ = key.versions[version]
    try:
        return AESGCM(material).decrypt(blob[:12], blob[12:], associated_data or None), version
    except Exception:
        raise UserError("cipher: message authentication failed")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # TCP_NODELAY: headers and body go out in two writes, and with Nagle the second waits for the client's delayed
    # ACK, ~40 ms per request, an artefact of this emulator that the latency benchmark (bench/kms_bench) would show.
    disable_nagle_algorithm = True
    server_version = "TransitEmulator/1"

    def log_message(self, fmt, *args):  # quiet: the tests read stats instead
        pass

    # ---- plumbing -------------------------------------------------------------------------------------------------

    def reply(self, status, body=None):
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if data:
            self.wfile.write(data)

    def error(self, status, *messages):
        self.reply(status, {"errors": list(messages)})

    def read_json(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not raw:
            return {}
        try:
            value = json.loads(raw)
        except ValueError:
            raise UserError("failed to parse JSON input")
        if not isinstance(value, dict):
            raise UserError("failed to parse JSON input")
        return value

    def do_GET(self):
        self.dispatch("GET")

    def do_POST(self):
        self.dispatch("POST")

    def do_PUT(self):
        self.dispatch("POST")

    def dispatch(self, method):
        state = self.server.state
        url = urlsplit(self.path)
        try:
            if url.path.startswith("/_emulator/"):
                return self.control(method, url)
            body = self.read_json() if method == "POST" else {}
            namespace = (self.headers.get("X-Vault-Namespace") or "").strip("/")
            token = self.headers.get("X-Vault-Token")
            with state.lock:
                state.stats["requests"].append(
                    {"method": method, "path": url.path, "namespace": namespace, "token": token is not None})
                del state.stats["requests"][:-500]
                if state.fail_count > 0:
                    state.fail_count -= 1
                    state.stats["failures_served"] += 1
                    status = state.fail_status
                    message = "Vault is sealed" if status == 503 else "internal error"
                    return self.error(status, message)
                return self.route(method, url.path, body, namespace, token)
        except UserError as e:
            return self.error(e.status, str(e))

    # ---- Vault API ------------------------------------------------------------------------------------------------

    def route(self, method, path, body, namespace, token):
        state = self.server.state
        args = state.args
        if not path.startswith("/v1/"):
            return self.error(404, "unsupported path")
        parts = path[len("/v1/"):].split("/")
        if parts == ["sys", "health"] and method == "GET":
            return self.reply(200, {"initialized": True, "sealed": False, "standby": False,
                                    "version": "transit-emulator", "cluster_name": "emulator"})
        if parts == ["auth", args.approle_mount, "login"] and method == "POST":
            if (not args.role_id or body.get("role_id") != args.role_id or
                    body.get("secret_id") != args.secret_id):
                return self.error(400, "invalid role or secret ID")
            state.stats["logins"] += 1
            return self.reply(200, {"auth": {"client_token": state.issue_token(), "accessor": "emulated",
                                             "policies": ["default", "blobseal"], "lease_duration": state.token_ttl,
                                             "renewable": True}})
        if token is None or not state.token_valid(token):
            return self.error(403, "permission denied")
        if parts == ["auth", "token", "renew-self"] and method == "POST":
            if state.tokens[token] is None:
                return self.reply(200, {"auth": {"client_token": token, "lease_duration": 0, "renewable": False}})
            state.tokens[token] = time.time() + state.token_ttl
            state.stats["renewals"] += 1
            return self.reply(200, {"auth": {"client_token": token, "lease_duration": state.token_ttl,
                                             "renewable": True}})
        if len(parts) < 3 or parts[0] != args.mount:
            return self.error(404, "no handler for route")
        store = state.store(namespace)
        op, name = parts[1], parts[2]
        key = store.get(name)
        if op == "keys" and len(parts) == 3:
            if method == "GET":
                if key is None:
                    return self.reply(404, {"errors": []})
                return self.reply(200, {"data": key.info()})
            key_type = body.get("type", "aes256-gcm96")
            if key is None:
                store[name] = Key(name, key_type)
            return self.reply(204)
        if op == "keys" and len(parts) == 4 and parts[3] == "rotate" and method == "POST":
            if key is None:
                return self.error(400, "key not found")
            key.rotate()
            return self.reply(200, {"data": key.info()})
        if op == "keys" and len(parts) == 4 and parts[3] == "config" and method == "POST":
            if key is None:
                return self.error(400, "no existing key named %s could be found" % name)
            if "min_decryption_version" in body:
                v = int(body["min_decryption_version"])
                if v > key.latest_version:
                    return self.error(400, "cannot set min decryption version of %d, latest key version is %d"
                                      % (v, key.latest_version))
                key.min_decryption_version = max(v, 1)
            if "min_encryption_version" in body:
                key.min_encryption_version = int(body["min_encryption_version"])
            return self.reply(204)
        if op == "encrypt" and len(parts) == 3 and method == "POST":
            if "plaintext" not in body:
                return self.error(400, "missing plaintext to encrypt")
            plaintext = b64decode_strict(body["plaintext"], "plaintext")
            associated_data = self.associated_data(body, key)
            if key is None:  # Vault upserts the key when the token may create it
                key = store[name] = Key(name)
            version = int(body.get("key_version") or 0) or key.latest_version
            if version > key.latest_version:
                return self.error(400, "requested version for encryption is higher than the latest key version")
            if version < max(key.min_encryption_version, 1):
                return self.error(400, "requested version for encryption is less than the minimum encryption "
                                       "key version")
            return self.reply(200, {"data": {"ciphertext": encrypt(key, version, plaintext, associated_data),
                                             "key_version": version}})
        if op == "decrypt" and len(parts) == 3 and method == "POST":
            if key is None:
                return self.error(400, "encryption key not found")
            if not body.get("ciphertext"):
                return self.error(400, "missing ciphertext to decrypt")
            associated_data = self.associated_data(body, key)
            plaintext, _ = decrypt(key, body["ciphertext"], associated_data)
            return self.reply(200, {"data": {"plaintext": base64.b64encode(plaintext).decode()}})
        if op == "rewrap" and len(parts) == 3 and method == "POST":
            if key is None:
                return self.error(400, "encryption key not found")
            if not body.get("ciphertext"):
                return self.error(400, "missing ciphertext to decrypt")
            plaintext, _ = decrypt(key, body["ciphertext"], None)
            version = int(body.get("key_version") or 0) or key.latest_version
            return self.reply(200, {"data": {"ciphertext": encrypt(key, version, plaintext, None),
                                             "key_version": version}})
        return self.error(405 if op in ("keys", "encrypt", "decrypt", "rewrap") else 404, "unsupported operation")

    def associated_data(self, body, key):
        text = body.get("associated_data") or ""
        if not text:
            return None
        if key is not None and key.type not in AEAD_TYPES:
            raise UserError("'associated_data' provided for non-AEAD cipher suite %s" % key.type)
        return b64decode_strict(text, "associated_data")

    # ---- test controls --------------------------------------------------------------------------------------------

    def control(self, method, url):
        state = self.server.state
        what = url.path[len("/_emulator/"):]
        body = self.read_json() if method == "POST" else {}
        with state.lock:
            if what == "fail" and method == "POST":
                state.fail_status = int(body.get("status", 503))
                state.fail_count = int(body.get("count", 1))
                return self.reply(204)
            if what == "expire_tokens" and method == "POST":
                for token in state.tokens:
                    if token != state.root_token:
                        state.tokens[token] = time.time() - 1
                return self.reply(204)
            if what == "token_ttl" and method == "POST":
                state.token_ttl = int(body.get("ttl", 3600))
                return self.reply(204)
            if what == "stats" and method == "GET":
                return self.reply(200, state.stats)
            if what == "key_material" and method == "GET":
                query = parse_qs(url.query)
                key = state.store(query.get("namespace", [""])[0]).get(query.get("name", [""])[0])
                if key is None:
                    return self.reply(404, {"errors": ["no such key"]})
                return self.reply(200, {"keys": [base64.b64encode(m).decode() for m, _ in key.versions.values()]})
        return self.error(404, "unknown control")


def main():
    parser = argparse.ArgumentParser(description="Transit emulator (a test double of Vault/OpenBao Transit)")
    parser.add_argument("--port-file", required=True)
    parser.add_argument("--root-token", required=True)
    parser.add_argument("--role-id", default="")
    parser.add_argument("--secret-id", default="")
    parser.add_argument("--approle-mount", default="approle")
    parser.add_argument("--mount", default="transit")
    parser.add_argument("--token-ttl", type=int, default=3600)
    args = parser.parse_args()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.state = State(args)
    temporary = args.port_file + ".tmp"
    with open(temporary, "w") as f:
        f.write(str(server.server_address[1]))
    os.replace(temporary, args.port_file)  # the port appears whole, never half-written
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
