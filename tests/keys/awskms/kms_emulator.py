#!/usr/bin/python3
"""KMS emulator: a TEST DOUBLE of the AWS KMS JSON API, written for blobseal's tests. It is NOT AWS KMS.

No real AWS KMS is reachable from the test machines, so tests/keys/awskms/ run the "awskms" key manager against this
small server. It implements what blobseal uses -- GenerateDataKey, Encrypt, Decrypt, ReEncrypt, DescribeKey -- with
the request and response field names of the KMS API (POST /, Content-Type application/x-amz-json-1.1,
X-Amz-Target TrentService.<Operation>, errors as {"__type": ..., "message": ...} with HTTP 400), and:

- verifies the SigV4 signature of every KMS request: it recomputes it from the shared secret of the access key
  (canonical request, string to sign, derived key for service "kms" and the configured region) and rejects a
  mismatch with 400 InvalidSignatureException, a malformed or missing Authorization with
  IncompleteSignatureException / MissingAuthenticationTokenException, an unknown access key or a wrong or missing
  session token with UnrecognizedClientException, and a request older than 15 minutes;
- enforces the encryption context: it is authenticated data of the AES-256-GCM ciphertext, so Decrypt and ReEncrypt
  with another context fail with InvalidCiphertextException, as KMS does. Decrypt with a KeyId that did not encrypt
  the blob fails with IncorrectKeyException.

Its ciphertext format is its own (not KMS's): 0x01 || key id (36 ASCII) || nonce (12) || AES-256-GCM(plaintext) ||
tag (16), AAD = 0x01 || key id || the encryption context as sorted compact JSON.

Test controls (unsigned, under /emulator/, for the test only): POST /emulator/fail {"count", "status", "type"}
makes the next `count` KMS requests fail with that status and error type; POST /emulator/key-state {"key",
"state"} sets a key's KeyState (Enabled, Disabled, PendingDeletion); GET /emulator/stats returns request counts.

Usage: kms_emulator.py CONFIG.json PORT_FILE  (binds 127.0.0.1:0 and writes the port to PORT_FILE when ready)
CONFIG: {"region": "...", "account": "...", "credentials": [{"access_key", "secret_key", "session_token"?}],
         "keys": [{"id": uuid, "aliases": [...], "state": "Enabled"}]}
"""

import base64
import datetime
import hashlib
import hmac
import json
import os
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

CONFIG = {}
KEYS = {}  # key id -> {"arn", "aliases", "state", "material", "created"}
LOCK = threading.Lock()
FAULTS = []  # pending injected failures: (status, type)
STATS = {"requests": 0, "by_target": {}, "session_tokens": [], "rejected_signatures": 0, "faults_served": 0}
MAX_SKEW = datetime.timedelta(minutes=15)


class KmsError(Exception):
    def __init__(self, error_type, message, status=400):
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.status = status


def arn_of(key_id):
    return "arn:aws:kms:%s:%s:key/%s" % (CONFIG["region"], CONFIG["account"], key_id)


def resolve_key(key_ref):
    """A KeyId as KMS accepts it: key id, key ARN, alias name ("alias/x") or alias ARN."""
    if not isinstance(key_ref, str) or not key_ref:
        raise KmsError("ValidationException", "1 validation error detected: Value null at 'keyId' failed to satisfy "
                       "constraint: Member must not be null")
    prefix = "arn:aws:kms:%s:%s:" % (CONFIG["region"], CONFIG["account"])
    name = key_ref[len(prefix):] if key_ref.startswith(prefix) else key_ref
    if name.startswith("alias/"):
        for key_id, key in KEYS.items():
            if name in key["aliases"]:
                return key_id
        raise KmsError("NotFoundException", "Alias %s is not found." % (prefix + name))
    if name.startswith("key/"):
        name = name[4:]
    if name in KEYS:
        return name
    raise KmsError("NotFoundException", "Key '%s' does not exist" % (prefix + "key/" + name))


def usable_key(key_ref):
    key_id = resolve_key(key_ref)
    state = KEYS[key_id]["state"]
    if state == "Disabled":
        raise KmsError("DisabledException", "%s is disabled." % arn_of(key_id))
    if state != "Enabled":
        raise KmsError("KMSInvalidStateException", "%s is pending deletion." % arn_of(key_id))
    return key_id


def context_of(request, field):
    context = request.get(field) or {}
    if not isinstance(context, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in context.items()):
        raise KmsError("ValidationException", "%s must be a map of strings" % field)
    return json.dumps(context, sort_keys=True, separators=(",", ":")).encode()


def seal(key_id, plaintext, context):
    nonce = os.urandom(12)
    header = b"\x01" + key_id.encode()
    return header + nonce + AESGCM(KEYS[key_id]["material"]).encrypt(nonce, plaintext, header + context)


def open_blob(blob_b64, context, expected_key_ref):
    try:
        blob = base64.b64decode(blob_b64, validate=True)
    except Exception:
        raise KmsError("ValidationException", "CiphertextBlob is not valid base64")
    if not blob or len(blob) > 6144:
        raise KmsError("ValidationException", "CiphertextBlob must be 1 to 6144 bytes")
    expected = resolve_key(expected_key_ref) if expected_key_ref else None
    if len(blob) < 1 + 36 + 12 + 16 or blob[0] != 1:
        raise KmsError("InvalidCiphertextException", "")
    try:
        key_id = blob[1:37].decode("ascii")
    except UnicodeDecodeError:
        raise KmsError("InvalidCiphertextException", "")
    if key_id not in KEYS:
        raise KmsError("InvalidCiphertextException", "")
    if expected is not None and expected != key_id:
        raise KmsError("IncorrectKeyException", "The key ID in the request does not identify a KMS key that can "
                       "perform this operation.")
    usable_key(key_id)
    header, nonce, sealed = blob[:37], blob[37:49], blob[49:]
    try:
        return key_id, AESGCM(KEYS[key_id]["material"]).decrypt(nonce, sealed, header + context)
    except Exception:
        raise KmsError("InvalidCiphertextException", "")


def b64(data):
    return base64.b64encode(data).decode()


def op_generate_data_key(request):
    key_id = usable_key(request.get("KeyId"))
    spec, count = request.get("KeySpec"), request.get("NumberOfBytes")
    if (spec is None) == (count is None):
        raise KmsError("ValidationException", "Please specify either number of bytes or key spec.")
    size = {"AES_256": 32, "AES_128": 16}.get(spec) if spec is not None else count
    if not isinstance(size, int) or not 1 <= size <= 1024:
        raise KmsError("ValidationException", "invalid KeySpec or NumberOfBytes")
    plaintext = os.urandom(size)
    blob = seal(key_id, plaintext, context_of(request, "EncryptionContext"))
    return {"CiphertextBlob": b64(blob), "Plaintext": b64(plaintext), "KeyId": arn_of(key_id)}


def op_encrypt(request):
    key_id = usable_key(request.get("KeyId"))
    try:
        plaintext = base64.b64decode(request.get("Plaintext") or "", validate=True)
    except Exception:
        raise KmsError("ValidationException", "Plaintext is not valid base64")
    if not 1 <= len(plaintext) <= 4096:
        raise KmsError("ValidationException", "Plaintext must be 1 to 4096 bytes")
    blob = seal(key_id, plaintext, context_of(request, "EncryptionContext"))
    return {"CiphertextBlob": b64(blob), "KeyId": arn_of(key_id), "EncryptionAlgorithm": "SYMMETRIC_DEFAULT"}


def op_decrypt(request):
    key_id, plaintext = open_blob(request.get("CiphertextBlob"), context_of(request, "EncryptionContext"),
                                  request.get("KeyId"))
    return {"KeyId": arn_of(key_id), "Plaintext": b64(plaintext), "EncryptionAlgorithm": "SYMMETRIC_DEFAULT"}


def op_re_encrypt(request):
    destination = usable_key(request.get("DestinationKeyId"))
    source, plaintext = open_blob(request.get("CiphertextBlob"), context_of(request, "SourceEncryptionContext"),
                                  request.get("SourceKeyId"))
    blob = seal(destination, plaintext, context_of(request, "DestinationEncryptionContext"))
    return {"CiphertextBlob": b64(blob), "SourceKeyId": arn_of(source), "KeyId": arn_of(destination),
            "SourceEncryptionAlgorithm": "SYMMETRIC_DEFAULT", "DestinationEncryptionAlgorithm": "SYMMETRIC_DEFAULT"}


def op_describe_key(request):
    key_id = resolve_key(request.get("KeyId"))
    key = KEYS[key_id]
    return {"KeyMetadata": {
        "AWSAccountId": CONFIG["account"], "KeyId": key_id, "Arn": arn_of(key_id), "CreationDate": key["created"],
        "Enabled": key["state"] == "Enabled", "Description": "KMS emulator key", "KeyUsage": "ENCRYPT_DECRYPT",
        "KeyState": key["state"], "Origin": "AWS_KMS", "KeyManager": "CUSTOMER", "KeySpec": "SYMMETRIC_DEFAULT",
        "CustomerMasterKeySpec": "SYMMETRIC_DEFAULT", "EncryptionAlgorithms": ["SYMMETRIC_DEFAULT"],
        "MultiRegion": False}}


OPERATIONS = {"GenerateDataKey": op_generate_data_key, "Encrypt": op_encrypt, "Decrypt": op_decrypt,
              "ReEncrypt": op_re_encrypt, "DescribeKey": op_describe_key}


# ---- SigV4 verification -------------------------------------------------------------------------------------------

def uri_encode(text, encode_slash):
    safe = "-._~" + ("" if encode_slash else "/")
    return urllib.parse.quote(text, safe=safe)


def canonical_query(raw):
    if not raw:
        return ""
    pairs = []
    for part in raw.split("&"):
        name, _, value = part.partition("=")
        pairs.append((uri_encode(urllib.parse.unquote_plus(name), True),
                      uri_encode(urllib.parse.unquote_plus(value), True)))
    return "&".join("%s=%s" % p for p in sorted(pairs))


def hmac_sha256(key, text):
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def verify_signature(method, raw_path, headers, body):
    """Raises KmsError unless the request carries a valid SigV4 signature; returns the access key."""
    authorization = headers.get("authorization")
    if not authorization:
        raise KmsError("MissingAuthenticationTokenException", "Missing Authentication Token")
    algorithm, _, rest = authorization.partition(" ")
    fields = {}
    for item in rest.split(","):
        name, _, value = item.strip().partition("=")
        fields[name] = value
    if algorithm != "AWS4-HMAC-SHA256" or not all(k in fields for k in ("Credential", "SignedHeaders", "Signature")):
        raise KmsError("IncompleteSignatureException", "Authorization header requires 'Credential', "
                       "'SignedHeaders' and 'Signature' with algorithm AWS4-HMAC-SHA256.")
    scope = fields["Credential"].split("/")
    if len(scope) != 5 or scope[4] != "aws4_request":
        raise KmsError("IncompleteSignatureException", "Credential should be scoped to a valid region.")
    access_key, date, region, service = scope[0], scope[1], scope[2], scope[3]
    if service != "kms":
        raise KmsError("InvalidSignatureException", "Credential should be scoped to correct service: 'kms'.")
    if region != CONFIG["region"]:
        raise KmsError("InvalidSignatureException",
                       "Credential should be scoped to a valid region, not '%s'." % region)
    signed = fields["SignedHeaders"].split(";")
    if "host" not in signed or "x-amz-date" not in signed:
        raise KmsError("IncompleteSignatureException", "Host and X-Amz-Date must be signed.")
    if "x-amz-security-token" in headers and "x-amz-security-token" not in signed:
        raise KmsError("IncompleteSignatureException", "X-Amz-Security-Token must be signed.")
    amz_date = headers.get("x-amz-date", "")
    try:
        when = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.timezone.utc)
    except ValueError:
        raise KmsError("IncompleteSignatureException", "X-Amz-Date is malformed.")
    if abs(datetime.datetime.now(datetime.timezone.utc) - when) > MAX_SKEW or amz_date[:8] != date:
        raise KmsError("InvalidSignatureException", "Signature expired or not yet valid.")
    credential = next((c for c in CONFIG["credentials"] if c["access_key"] == access_key), None)
    if credential is None:
        raise KmsError("UnrecognizedClientException", "The security token included in the request is invalid.")
    token = headers.get("x-amz-security-token")
    if (credential.get("session_token") or None) != token:
        raise KmsError("UnrecognizedClientException", "The security token included in the request is invalid.")

    path, _, query = raw_path.partition("?")
    canonical_headers = "".join(
        "%s:%s\n" % (name, ",".join(" ".join(v.split()) for v in headers.get_all(name)))
        for name in signed)
    canonical = "\n".join([method, uri_encode(urllib.parse.unquote(path), False), canonical_query(query),
                           canonical_headers, ";".join(signed), hashlib.sha256(body).hexdigest()])
    scope_text = "/".join(scope[1:])  # date/region/service/aws4_request, without the access key
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope_text, hashlib.sha256(canonical.encode()).hexdigest()])
    key = ("AWS4" + credential["secret_key"]).encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac_sha256(key, part)
    expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, fields["Signature"]):
        with LOCK:
            STATS["rejected_signatures"] += 1
        # The canonical request holds no secret: logged to help a client author find the difference.
        sys.stderr.write("kms-emulator: signature mismatch; canonical request was:\n%s\n" % canonical)
        raise KmsError("InvalidSignatureException", "The request signature we calculated does not match the "
                       "signature you provided. Check your AWS Secret Access Key and signing method. Consult the "
                       "service documentation for details.")
    return access_key, token


class Headers:
    """Case-insensitive view of the request headers, keeping repeats."""

    def __init__(self, message):
        self.items = [(k.lower(), v) for k, v in message.items()]

    def get(self, name, default=None):
        for k, v in self.items:
            if k == name:
                return v
        return default

    def get_all(self, name):
        return [v for k, v in self.items if k == name]

    def __contains__(self, name):
        return any(k == name for k, _ in self.items)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as KMS
    # TCP_NODELAY: headers and body go out in two writes, and with Nagle the second waits for the client's delayed
    # ACK, ~40 ms per request, an artefact of this emulator that the latency benchmark (bench/kms_bench) would show.
    disable_nagle_algorithm = True
    server_version = "kms-emulator"

    def log_message(self, fmt, *args):
        sys.stderr.write("kms-emulator: " + (fmt % args) + "\n")

    def reply(self, status, payload, content_type="application/x-amz-json-1.1"):
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-amzn-RequestId", os.urandom(16).hex())
        self.end_headers()
        self.wfile.write(data)

    def read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def do_GET(self):
        if self.path == "/emulator/stats":
            with LOCK:
                return self.reply(200, STATS, "application/json")
        self.reply(404, {"__type": "UnknownOperationException", "message": "not found"})

    def do_POST(self):
        body = self.read_body()
        if self.path.startswith("/emulator/"):
            return self.control(self.path, json.loads(body or b"{}"))
        target = self.headers.get("X-Amz-Target", "")
        try:
            access_key, token = verify_signature("POST", self.path, Headers(self.headers), body)
            with LOCK:
                STATS["requests"] += 1
                STATS["by_target"][target] = STATS["by_target"].get(target, 0) + 1
                STATS["session_tokens"].append(token or "")
                del STATS["session_tokens"][:-20]
                fault = FAULTS.pop(0) if FAULTS else None
                if fault:
                    STATS["faults_served"] += 1
            if fault:
                raise KmsError(fault[1], "injected by the test", fault[0])
            if self.headers.get("Content-Type") != "application/x-amz-json-1.1":
                raise KmsError("SerializationException", "Content-Type must be application/x-amz-json-1.1")
            service, _, operation = target.partition(".")
            if service != "TrentService" or operation not in OPERATIONS:
                raise KmsError("UnknownOperationException", "unknown operation %r" % target)
            try:
                request = json.loads(body)
            except ValueError:
                raise KmsError("SerializationException", "the body is not JSON")
            if not isinstance(request, dict):
                raise KmsError("SerializationException", "the body is not a JSON object")
            with LOCK:
                answer = OPERATIONS[operation](request)
            self.reply(200, answer)
        except KmsError as e:
            self.reply(e.status, {"__type": e.error_type, "message": e.message})

    def control(self, path, request):
        with LOCK:
            if path == "/emulator/fail":
                FAULTS.extend([(int(request.get("status", 503)), request.get("type", "ServiceUnavailable"))] *
                              int(request.get("count", 1)))
            elif path == "/emulator/key-state":
                KEYS[resolve_key(request["key"])]["state"] = request["state"]
            elif path == "/emulator/reset":
                FAULTS.clear()
            else:
                return self.reply(404, {"message": "unknown control"}, "application/json")
        self.reply(200, {}, "application/json")


def main():
    config_path, port_file = sys.argv[1], sys.argv[2]
    with open(config_path) as f:
        CONFIG.update(json.load(f))
    CONFIG.setdefault("account", "111122223333")
    for key in CONFIG["keys"]:
        KEYS[key["id"]] = {"aliases": key.get("aliases", []), "state": key.get("state", "Enabled"),
                           "material": os.urandom(32), "created": int(time.time()) - 86400}
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    tmp = port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(server.server_address[1]))
    os.rename(tmp, port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
