"""Prints, as JSON, S3 requests signed by botocore itself (Debian's python3-botocore) with a fixed clock.

Run by sigv4_botocore_test.cc with /usr/bin/python3. Nothing is sent: a `before-send` hook captures each prepared
request (method, URL, headers, body) and stops the call. With BOTO_DISABLE_CRT=true botocore signs with its
pure-Python signer, otherwise with the CRT (python3-awscrt) when it is installed: the test runs both.

Output: {"signer": "python"|"crt", "time": "<ISO basic>", "access_key": ..., "secret_key": ..., "requests": [
  {"name", "method", "target", "headers": [[name, value], ...], "body_b64", "payload_b64" (the object bytes before any
   aws-chunked framing, when different), "presigned": bool}]}
Exit status 3: botocore is not importable.
"""

import base64
import datetime
import json
import sys
import types
import urllib.parse

try:
    import botocore.auth
    import botocore.session
    from botocore.config import Config
    from botocore.compat import HAS_CRT
except ImportError as error:  # pragma: no cover - reported by the C++ test
    print(f"botocore is not importable: {error}", file=sys.stderr)
    sys.exit(3)

FIXED = datetime.datetime(2024, 5, 24, 12, 34, 56)
ACCESS_KEY = "AKIDBOTOCORETEST"
SECRET_KEY = "bOtO/c0re+SECRET/key/EXAMPLEKEY0123456789"
ENDPOINT = "https://s3.blobseal.test:9443"


class FixedDatetime(datetime.datetime):
    @classmethod
    def utcnow(cls):
        return cls(FIXED.year, FIXED.month, FIXED.day, FIXED.hour, FIXED.minute, FIXED.second)


# botocore.auth and botocore.crt.auth both read the clock through their module's `datetime` name.
fixed_module = types.SimpleNamespace(
    datetime=FixedDatetime, timezone=datetime.timezone, timedelta=datetime.timedelta, date=datetime.date
)
botocore.auth.datetime = fixed_module
if HAS_CRT:
    import botocore.crt.auth

    botocore.crt.auth.datetime = fixed_module


class Captured(Exception):
    pass


captured = []
current = {}


def capture(request, **kwargs):
    body = request.body
    if body is None:
        data = b""
    elif isinstance(body, (bytes, bytearray)):
        data = bytes(body)
    elif isinstance(body, str):
        data = body.encode()
    else:
        data = body.read()
    parts = urllib.parse.urlsplit(request.url)
    headers = []
    names = set()
    for name, value in request.headers.items():
        if isinstance(value, bytes):
            value = value.decode("utf-8")
        headers.append([name, value])
        names.add(name.lower())
    if "host" not in names:
        headers.insert(0, ["Host", parts.netloc])  # what urllib3 sends
    target = parts.path + ("?" + parts.query if parts.query else "")
    entry = {
        "name": current["name"],
        "method": request.method,
        "target": target,
        "headers": headers,
        "body_b64": base64.b64encode(data).decode(),
        "presigned": False,
    }
    if "payload" in current:
        entry["payload_b64"] = base64.b64encode(current["payload"]).decode()
    captured.append(entry)
    raise Captured()


def make_client(**s3_config):
    session = botocore.session.get_session()
    session.set_credentials(ACCESS_KEY, SECRET_KEY)
    config = Config(
        signature_version="s3v4",
        retries={"max_attempts": 0},
        s3=dict(addressing_style="path", **s3_config),
    )
    client = session.create_client("s3", region_name="us-east-1", endpoint_url=ENDPOINT, config=config)
    client.meta.events.register("before-send", capture)
    return client


def call(name, operation, payload=None, **params):
    current.clear()
    current["name"] = name
    if payload is not None:
        current["payload"] = payload
    try:
        operation(**params)
    except Captured:
        return
    raise RuntimeError(f"{name}: the request was not captured")


def presign(client, name, method, params, expires=3600):
    url = client.generate_presigned_url(method, Params=params, ExpiresIn=expires)
    parts = urllib.parse.urlsplit(url)
    captured.append(
        {
            "name": name,
            "method": {"get_object": "GET", "put_object": "PUT", "head_object": "HEAD"}[method],
            "target": parts.path + "?" + parts.query,
            "headers": [["Host", parts.netloc]],
            "body_b64": "",
            "presigned": True,
        }
    )


KEYS = {
    "space": "dir/key with spaces.txt",
    "plus": "a+b/c+d=e&f.txt",
    "unicode": "données/ünïcödé €uro ✓.bin",
    "specials": "weird/~!*'()$@,;:[] ^`{}|\\\"<>#%.txt",
}

plain = make_client()
signed_payload = make_client(payload_signing_enabled=True)
payload = b"hello, blobseal!\n" * 100

for label, key in KEYS.items():
    call(f"put_unsigned_payload_{label}", plain.put_object, Bucket="bucket", Key=key, Body=payload,
         ContentType="text/plain", Metadata={"note": "a  b   c"})
    call(f"put_sha256_payload_{label}", signed_payload.put_object, Bucket="bucket", Key=key, Body=payload)
    call(f"get_{label}", plain.get_object, Bucket="bucket", Key=key, Range="bytes=0-9")
    presign(plain, f"presigned_get_{label}", "get_object", {"Bucket": "bucket", "Key": key})

# botocore computes CRC32C only through the CRT.
for algorithm in ["CRC32", "SHA256"] + (["CRC32C"] if HAS_CRT else []):
    call(f"put_trailer_{algorithm.lower()}", plain.put_object, payload=payload, Bucket="bucket",
         Key="trailers/" + algorithm, Body=payload, ChecksumAlgorithm=algorithm)
call("put_trailer_empty", plain.put_object, payload=b"", Bucket="bucket", Key="trailers/empty", Body=b"",
     ChecksumAlgorithm="CRC32")

call("list_v2_query", plain.list_objects_v2, Bucket="bucket", Prefix="a b+c/ü~", Delimiter="/", MaxKeys=10,
     StartAfter="x=y&z")
call("list_v1", plain.list_objects, Bucket="bucket", Marker="m+n o")
call("create_multipart", plain.create_multipart_upload, Bucket="bucket", Key=KEYS["unicode"])
call("upload_part", signed_payload.upload_part, Bucket="bucket", Key=KEYS["plus"], PartNumber=3,
     UploadId="abc+def/ghi==", Body=b"part data")
call("delete_objects", plain.delete_objects, Bucket="bucket",
     Delete={"Objects": [{"Key": KEYS["space"]}, {"Key": KEYS["unicode"]}]})
call("head_bucket", plain.head_bucket, Bucket="bucket")
call("list_buckets", plain.list_buckets)
call("copy_object", plain.copy_object, Bucket="bucket", Key="copy", CopySource={"Bucket": "bucket", "Key": KEYS["plus"]})
presign(plain, "presigned_put", "put_object", {"Bucket": "bucket", "Key": KEYS["space"]}, expires=604800)
presign(plain, "presigned_head_short", "head_object", {"Bucket": "bucket", "Key": "k"}, expires=1)

json.dump(
    {
        "signer": "crt" if HAS_CRT else "python",
        "time": FIXED.strftime("%Y%m%dT%H%M%SZ"),
        "access_key": ACCESS_KEY,
        "secret_key": SECRET_KEY,
        "requests": captured,
    },
    sys.stdout,
)
