#!/usr/bin/python3
"""boto3 (Debian's python3-boto3, run with /usr/bin/python3) against blobseal serve.

Run twice by CTest: with BOTO_DISABLE_CRT=true (botocore's own SigV4 signer) and without it (Debian's botocore then
signs with the AWS CRT, python3-awscrt): two independent signers against ours. BLOBSEAL_EXPECT_SIGNER=crt|botocore
makes the flow fail if the signer actually used is not the expected one; the signer is printed either way.

Usage: /usr/bin/python3 boto3_flow.py BLOBSEAL_BIN   (or BLOBSEAL_BIN in the environment)
"""
import concurrent.futures
import datetime
import email.utils
import hashlib
import os
import re
import subprocess
import sys
import time
import urllib.parse

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from harness import Blobseal, expect_error, log, make_file, sha256, sha256_file  # noqa: E402

import botocore  # noqa: E402
from boto3.s3.transfer import TransferConfig  # noqa: E402
from botocore.compat import HAS_CRT  # noqa: E402

MiB = 1024 * 1024


def check(condition, message):
    assert condition, message


# -- which signer signs ------------------------------------------------------------------------------------------
class SignerSpy:
    """Records the class of every auth object botocore's RequestSigner builds for the client (header and query)."""

    def __init__(self, client):
        self.used = set()
        signer = client._request_signer
        original = signer.get_auth_instance

        def spy(*args, **kwargs):
            auth = original(*args, **kwargs)
            self.used.add(f"{type(auth).__module__}.{type(auth).__name__}")
            return auth

        signer.get_auth_instance = spy


def check_signer(spy):
    expected = os.environ.get("BLOBSEAL_EXPECT_SIGNER", "")
    crt = sorted(s for s in spy.used if s.startswith("botocore.crt."))
    classic = sorted(s for s in spy.used if not s.startswith("botocore.crt."))
    log(f"botocore {botocore.__version__}, HAS_CRT={HAS_CRT}, BOTO_DISABLE_CRT={os.environ.get('BOTO_DISABLE_CRT')!r}; "
        f"signers used: {sorted(spy.used)}")
    print(f"signer: {'crt' if crt and not classic else 'botocore' if classic and not crt else 'mixed'} "
          f"({', '.join(sorted(spy.used))})", flush=True)
    if expected == "crt":
        check(crt and not classic, f"expected every request signed by the AWS CRT signer, used: {sorted(spy.used)}")
    elif expected == "botocore":
        check(classic and not crt, f"expected every request signed by botocore's own signer, used: {sorted(spy.used)}")


# -- helpers -----------------------------------------------------------------------------------------------------
def add_headers(client, operation, headers):
    """Registers a handler adding `headers` to `operation`'s requests before they are signed; returns an unregister."""

    def handler(request, **_):
        for name, value in headers.items():
            request.headers[name] = value

    event = f"before-sign.s3.{operation}"
    client.meta.events.register(event, handler)
    return lambda: client.meta.events.unregister(event, handler)


def with_headers(client, operation, headers, call):
    remove = add_headers(client, operation, headers)
    try:
        return call()
    finally:
        remove()


def status_of(response):
    return response["ResponseMetadata"]["HTTPStatusCode"]


def read_body(response):
    return response["Body"].read()


def md5_hex(data):
    return hashlib.md5(data).hexdigest()


def file_slice(path, offset, length):
    with open(path, "rb") as f:
        f.seek(offset)
        return f.read(length)


def error_xml_code(body):
    match = re.search(rb"<Code>([^<]*)</Code>", body or b"")
    return match.group(1).decode() if match else None


# -- the flow ----------------------------------------------------------------------------------------------------
def bucket_life_cycle(server, s3):
    log("bucket life cycle: create, head, list, location, delete non-empty, delete")
    bucket = "life-" + os.urandom(4).hex()
    response = s3.create_bucket(Bucket=bucket)
    check(status_of(response) == 200, f"CreateBucket {bucket}: expected 200, got {status_of(response)}")
    check(status_of(s3.head_bucket(Bucket=bucket)) == 200, "HeadBucket of a new bucket")
    names = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    check(bucket in names, f"ListBuckets lacks {bucket}: {names}")
    location = s3.get_bucket_location(Bucket=bucket)
    check(location.get("LocationConstraint") in (None, "", "us-east-1"),
          f"GetBucketLocation of a us-east-1 bucket: {location.get('LocationConstraint')!r}")
    s3.put_object(Bucket=bucket, Key="keep", Body=b"x")
    expect_error(lambda: s3.delete_bucket(Bucket=bucket), 409, "BucketNotEmpty", "DeleteBucket of a non-empty bucket")
    s3.delete_object(Bucket=bucket, Key="keep")
    response = s3.delete_bucket(Bucket=bucket)
    check(status_of(response) == 204, f"DeleteBucket of an empty bucket: expected 204, got {status_of(response)}")
    expect_error(lambda: s3.head_bucket(Bucket=bucket), 404, "404", "HeadBucket of a deleted bucket")
    expect_error(lambda: s3.list_objects_v2(Bucket=bucket), 404, "NoSuchBucket", "ListObjectsV2 of a deleted bucket")
    expect_error(lambda: s3.delete_bucket(Bucket=bucket), 404, "NoSuchBucket", "DeleteBucket of a deleted bucket")
    expect_error(lambda: s3.create_bucket(Bucket="Invalid_Bucket_Name"), 400, "InvalidBucketName",
                 "CreateBucket with an invalid name")


def sizes_round_trip(server, s3, bucket, big):
    log("put/get 0 B, 1 B, 5 MiB, 100 MiB (put_object/get_object and upload_file/download_file)")
    sources = {"zero": make_file(server.path("zero"), 0), "one": make_file(server.path("one"), 1),
               "five": make_file(server.path("five"), 5 * MiB), "hundred": big}
    # The two PUTs back to back, as a sync of a tree with an empty file does: botocore sends `Expect: 100-continue`
    # even for an empty body, and if the server answers that one without a 100 the pooled connection is poisoned for
    # the next Expect request (botocore#3755): a 60 s stall, then an unparsed response.
    for name in ("zero", "one"):
        data = open(sources[name], "rb").read()
        started = time.time()
        response = s3.put_object(Bucket=bucket, Key=f"small/{name}", Body=data)
        elapsed = time.time() - started
        check(elapsed < 20, f"PutObject {name} took {elapsed:.0f} s (after an empty PUT on the same connection: "
                            "was `Expect: 100-continue` on the empty body answered without a 100 Continue?)")
        check(response["ETag"].strip('"') == md5_hex(data), f"PutObject {name}: ETag {response['ETag']} is not the MD5")
    for name in ("zero", "one"):
        data = open(sources[name], "rb").read()
        got = s3.get_object(Bucket=bucket, Key=f"small/{name}")
        body = read_body(got)
        check(sha256(body) == sha256(data), f"GetObject small/{name}: SHA-256 differs ({len(body)} bytes back)")
        check(got["ContentLength"] == len(data), f"GetObject small/{name}: ContentLength {got['ContentLength']}")
    config = TransferConfig(multipart_threshold=8 * MiB, multipart_chunksize=8 * MiB, max_concurrency=4)
    for name, path in sources.items():
        s3.upload_file(path, bucket, f"transfer/{name}", Config=config)
        out = server.path(f"{name}.down")
        s3.download_file(bucket, f"transfer/{name}", out, Config=config)
        check(sha256_file(out) == sha256_file(path), f"upload_file/download_file of {name}: SHA-256 differs")
        os.remove(out)
    head = s3.head_object(Bucket=bucket, Key="transfer/hundred")
    check(head["ContentLength"] == 100 * MiB, f"HeadObject of the 100 MiB object: ContentLength {head['ContentLength']}")
    check(re.fullmatch(r'"[0-9a-f]{32}-13"', head["ETag"]) is not None,
          f"HeadObject of the 100 MiB multipart upload: expected an ETag md5-13, got {head['ETag']}")
    head = s3.head_object(Bucket=bucket, Key="transfer/five")
    check(head["ETag"].strip('"') == md5_hex(open(sources["five"], "rb").read()),
          f"HeadObject of the 5 MiB single PUT: ETag {head['ETag']} is not the MD5 of the plaintext")
    # partNumber on GET and HEAD of the multipart object: part 2 is bytes 8 MiB .. 16 MiB - 1.
    part = s3.get_object(Bucket=bucket, Key="transfer/hundred", PartNumber=2)
    check(status_of(part) == 206, f"GetObject partNumber=2: expected 206, got {status_of(part)}")
    check(part.get("PartsCount") == 13, f"GetObject partNumber=2: x-amz-mp-parts-count {part.get('PartsCount')}")
    check(part.get("ContentRange") == f"bytes {8 * MiB}-{16 * MiB - 1}/{100 * MiB}",
          f"GetObject partNumber=2: Content-Range {part.get('ContentRange')}")
    check(sha256(read_body(part)) == sha256(file_slice(big, 8 * MiB, 8 * MiB)), "GetObject partNumber=2: SHA-256")
    head = s3.head_object(Bucket=bucket, Key="transfer/hundred", PartNumber=13)
    check(head["ContentLength"] == 100 * MiB - 12 * 8 * MiB and head.get("PartsCount") == 13,
          f"HeadObject partNumber=13: ContentLength {head['ContentLength']}, PartsCount {head.get('PartsCount')}")
    return sources


def ranged_gets(server, s3, bucket, sources):
    log("ranged gets: bytes=a-b, a-, -n, across part boundaries, If-Range, 416")
    five = sources["five"]
    data = open(five, "rb").read()
    size = len(data)
    etag = s3.head_object(Bucket=bucket, Key="transfer/five")["ETag"]
    cases = [("bytes=0-0", 0, 0), ("bytes=100-16483", 100, 16483), ("bytes=16384-16384", 16384, 16384),
             ("bytes=1000000-", 1000000, size - 1), ("bytes=-1", size - 1, size - 1), ("bytes=-20000", size - 20000, size - 1),
             (f"bytes=0-{size + 1000}", 0, size - 1), (f"bytes=-{size + 5}", 0, size - 1)]
    for header, first, last in cases:
        got = s3.get_object(Bucket=bucket, Key="transfer/five", Range=header)
        body = read_body(got)
        check(status_of(got) == 206, f"Range {header}: expected 206, got {status_of(got)}")
        check(got.get("ContentRange") == f"bytes {first}-{last}/{size}", f"Range {header}: Content-Range {got.get('ContentRange')}")
        check(body == data[first:last + 1], f"Range {header}: wrong bytes ({len(body)} back, {last - first + 1} expected)")
    # Across the part boundaries of the multipart object (8 MiB parts).
    big = sources["hundred"]
    for first, last in [(8 * MiB - 10, 8 * MiB + 10), (3 * MiB, 20 * MiB + 7), (100 * MiB - 16385, 100 * MiB - 1)]:
        got = s3.get_object(Bucket=bucket, Key="transfer/hundred", Range=f"bytes={first}-{last}")
        check(sha256(read_body(got)) == sha256(file_slice(big, first, last - first + 1)),
              f"Range bytes={first}-{last} of the multipart object: SHA-256 differs")
    # If-Range: a matching ETag gives the range, another ETag the whole object.
    got = with_headers(s3, "GetObject", {"If-Range": etag},
                       lambda: s3.get_object(Bucket=bucket, Key="transfer/five", Range="bytes=10-19"))
    check(status_of(got) == 206 and read_body(got) == data[10:20], f"If-Range with the current ETag: {status_of(got)}")
    got = with_headers(s3, "GetObject", {"If-Range": '"0123456789abcdef0123456789abcdef"'},
                       lambda: s3.get_object(Bucket=bucket, Key="transfer/five", Range="bytes=10-19"))
    body = read_body(got)
    check(status_of(got) == 200 and sha256(body) == sha256(data),
          f"If-Range with another ETag: expected 200 and the whole object, got {status_of(got)} and {len(body)} bytes")
    last_modified = s3.head_object(Bucket=bucket, Key="transfer/five")["LastModified"]
    got = with_headers(s3, "GetObject", {"If-Range": email.utils.format_datetime(last_modified.astimezone(datetime.timezone.utc), usegmt=True)},
                       lambda: s3.get_object(Bucket=bucket, Key="transfer/five", Range="bytes=10-19"))
    check(status_of(got) == 206 and read_body(got) == data[10:20], f"If-Range with Last-Modified: {status_of(got)}")
    # Unsatisfiable ranges.
    for header in (f"bytes={size}-", f"bytes={size + 10}-{size + 20}"):
        expect_error(lambda: s3.get_object(Bucket=bucket, Key="transfer/five", Range=header), 416, "InvalidRange",
                     f"Range {header} of a {size}-byte object")
    expect_error(lambda: s3.get_object(Bucket=bucket, Key="small/zero", Range="bytes=0-0"), 416, "InvalidRange",
                 "Range bytes=0-0 of an empty object")


def conditional_gets(server, s3, bucket):
    log("conditional requests: If-Match, If-None-Match, If-Modified-Since, If-Unmodified-Since, PUT If-None-Match: *")
    head = s3.head_object(Bucket=bucket, Key="small/one")
    etag, modified = head["ETag"], head["LastModified"]
    before = modified - datetime.timedelta(days=1)
    after = modified + datetime.timedelta(days=1)
    got = s3.get_object(Bucket=bucket, Key="small/one", IfMatch=etag)
    check(status_of(got) == 200, "If-Match with the current ETag")
    expect_error(lambda: s3.get_object(Bucket=bucket, Key="small/one", IfMatch='"deadbeef"'), 412, "PreconditionFailed",
                 "GetObject If-Match with another ETag")
    expect_error(lambda: s3.head_object(Bucket=bucket, Key="small/one", IfMatch='"deadbeef"'), 412, "412",
                 "HeadObject If-Match with another ETag")
    expect_error(lambda: s3.get_object(Bucket=bucket, Key="small/one", IfNoneMatch=etag), 304, "304",
                 "GetObject If-None-Match with the current ETag")
    got = s3.get_object(Bucket=bucket, Key="small/one", IfNoneMatch='"deadbeef"')
    check(status_of(got) == 200, "If-None-Match with another ETag")
    expect_error(lambda: s3.get_object(Bucket=bucket, Key="small/one", IfModifiedSince=after), 304, "304",
                 "GetObject If-Modified-Since a day after Last-Modified")
    expect_error(lambda: s3.get_object(Bucket=bucket, Key="small/one", IfModifiedSince=modified), 304, "304",
                 "GetObject If-Modified-Since equal to Last-Modified")
    check(status_of(s3.get_object(Bucket=bucket, Key="small/one", IfModifiedSince=before)) == 200,
          "If-Modified-Since a day before Last-Modified")
    expect_error(lambda: s3.get_object(Bucket=bucket, Key="small/one", IfUnmodifiedSince=before), 412,
                 "PreconditionFailed", "GetObject If-Unmodified-Since a day before Last-Modified")
    check(status_of(s3.get_object(Bucket=bucket, Key="small/one", IfUnmodifiedSince=after)) == 200,
          "If-Unmodified-Since a day after Last-Modified")
    # RFC 9110 / S3: If-Match true and If-Unmodified-Since false → 200; If-None-Match false and If-Modified-Since true → 304.
    check(status_of(s3.get_object(Bucket=bucket, Key="small/one", IfMatch=etag, IfUnmodifiedSince=before)) == 200,
          "If-Match true with If-Unmodified-Since false")
    expect_error(lambda: s3.get_object(Bucket=bucket, Key="small/one", IfNoneMatch=etag, IfModifiedSince=before), 304,
                 "304", "If-None-Match false with If-Modified-Since true")
    # PUT If-None-Match: * creates only when absent.
    expect_error(lambda: with_headers(s3, "PutObject", {"If-None-Match": "*"},
                                      lambda: s3.put_object(Bucket=bucket, Key="small/one", Body=b"other")),
                 412, "PreconditionFailed", "PutObject If-None-Match: * over an existing key")
    check(s3.head_object(Bucket=bucket, Key="small/one")["ETag"] == etag, "a refused If-None-Match PUT changed the object")
    with_headers(s3, "PutObject", {"If-None-Match": "*"},
                 lambda: s3.put_object(Bucket=bucket, Key="small/created-once", Body=b"first"))
    check(read_body(s3.get_object(Bucket=bucket, Key="small/created-once")) == b"first", "PUT If-None-Match: * of a new key")


def listings(server, s3, bucket):
    log("listing over 2,100 keys: paginators (V2 and V1), delimiter, max-keys, StartAfter, encoding-type url")
    keys = [f"many/d{d:02}/k{k:03}" for d in range(21) for k in range(100)]
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda key: s3.put_object(Bucket=bucket, Key=key, Body=key.encode()), keys))
    expected = sorted(keys)

    pages = list(s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="many/"))
    got = [o["Key"] for p in pages for o in p.get("Contents", [])]
    check(got == expected, f"ListObjectsV2 (paginated) of many/: {len(got)} keys, expected {len(expected)} in order")
    check(len(pages) == 3, f"ListObjectsV2 of 2,100 keys with the default max-keys 1000: {len(pages)} pages, expected 3")
    check(all(p["KeyCount"] == len(p.get("Contents", [])) for p in pages), "ListObjectsV2 KeyCount disagrees with Contents")
    check(pages[0]["IsTruncated"] and not pages[-1]["IsTruncated"], "ListObjectsV2 IsTruncated on the first/last page")
    sizes = {o["Key"]: o["Size"] for p in pages for o in p["Contents"]}
    check(all(sizes[k] == len(k) for k in keys), "ListObjectsV2 sizes are not the plaintext sizes")
    etags = {o["Key"]: o["ETag"] for p in pages for o in p["Contents"]}
    check(etags["many/d03/k042"].strip('"') == md5_hex(b"many/d03/k042"), f"ListObjectsV2 ETag {etags['many/d03/k042']}")

    pages = list(s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="many/", PaginationConfig={"PageSize": 333}))
    got = [o["Key"] for p in pages for o in p.get("Contents", [])]
    check(got == expected and len(pages) == 7, f"ListObjectsV2 with MaxKeys=333: {len(got)} keys in {len(pages)} pages")

    response = s3.list_objects_v2(Bucket=bucket, Prefix="many/", Delimiter="/")
    prefixes = [p["Prefix"] for p in response.get("CommonPrefixes", [])]
    check(prefixes == [f"many/d{d:02}/" for d in range(21)], f"ListObjectsV2 delimiter /: CommonPrefixes {prefixes}")
    check("Contents" not in response, "ListObjectsV2 delimiter /: no object sits directly under many/")
    pages = list(s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="many/", Delimiter="/",
                                                               PaginationConfig={"PageSize": 4}))
    prefixes = [p["Prefix"] for page in pages for p in page.get("CommonPrefixes", [])]
    check(prefixes == [f"many/d{d:02}/" for d in range(21)] and len(pages) == 6,
          f"ListObjectsV2 delimiter / with MaxKeys=4: {len(pages)} pages, prefixes {prefixes}")

    response = s3.list_objects_v2(Bucket=bucket, Prefix="many/", StartAfter="many/d10/k050", MaxKeys=3)
    check([o["Key"] for o in response["Contents"]] == ["many/d10/k051", "many/d10/k052", "many/d10/k053"],
          f"ListObjectsV2 StartAfter: {[o['Key'] for o in response['Contents']]}")
    response = s3.list_objects_v2(Bucket=bucket, Prefix="many/d20/", MaxKeys=0)
    check(response.get("KeyCount", 0) == 0 and "Contents" not in response, "ListObjectsV2 MaxKeys=0")

    pages = list(s3.get_paginator("list_objects").paginate(Bucket=bucket, Prefix="many/"))
    got = [o["Key"] for p in pages for o in p.get("Contents", [])]
    check(got == expected, f"ListObjects (V1, paginated by Marker) of many/: {len(got)} keys, expected {len(expected)}")
    response = s3.list_objects(Bucket=bucket, Prefix="many/", Marker="many/d19/k099", MaxKeys=2)
    check([o["Key"] for o in response["Contents"]] == ["many/d20/k000", "many/d20/k001"] and response.get("IsTruncated"),
          f"ListObjects V1 Marker: {[o['Key'] for o in response['Contents']]}")
    pages = list(s3.get_paginator("list_objects").paginate(Bucket=bucket, Prefix="many/", Delimiter="/",
                                                            PaginationConfig={"PageSize": 5}))
    prefixes = [p["Prefix"] for page in pages for p in page.get("CommonPrefixes", [])]
    check(prefixes == [f"many/d{d:02}/" for d in range(21)], f"ListObjects V1 delimiter / with MaxKeys=5: {prefixes}")
    check(all(page.get("NextMarker") for page in pages if page["IsTruncated"]),
          "ListObjects V1 with a delimiter: a truncated page lacks NextMarker")

    # Odd keys: boto3 asks for encoding-type=url and decodes by itself; asking explicitly returns them encoded.
    odd = ["odd/with space", "odd/plus+sign", "odd/percent%41", "odd/ünïcödé/€", "odd/ctl\x01char", "odd/line\nbreak",
           "odd/amp&lt;", "odd/quote\"'", "odd/question?mark", "odd/hash#tag", "odd/tilde~", "odd//double"]
    for key in odd:
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    response = s3.list_objects_v2(Bucket=bucket, Prefix="odd/")
    got = [o["Key"] for o in response["Contents"]]
    check(got == sorted(odd, key=lambda k: k.encode()), f"ListObjectsV2 of odd keys (boto3 decodes): {got}")
    for key in odd:
        check(read_body(s3.get_object(Bucket=bucket, Key=key)) == key.encode(), f"GetObject of odd key {key!r}")
    # botocore decodes only when it set encoding-type itself: asked for explicitly, the keys come back as sent.
    response = s3.list_objects_v2(Bucket=bucket, Prefix="odd/", EncodingType="url")
    check(response.get("EncodingType") == "url", f"ListObjectsV2 encoding-type=url: EncodingType {response.get('EncodingType')}")
    raw = [o["Key"] for o in response["Contents"]]
    check([urllib.parse.unquote(k) for k in raw] == got, f"ListObjectsV2 encoding-type=url keys do not decode: {raw}")
    check(all(("\x01" not in k and "\n" not in k and " " not in k) for k in raw),
          f"ListObjectsV2 encoding-type=url left raw control characters or spaces: {raw}")
    response = s3.list_objects_v2(Bucket=bucket, Prefix="odd/ü", Delimiter="/")
    check([p["Prefix"] for p in response.get("CommonPrefixes", [])] == ["odd/ünïcödé/"],
          f"ListObjectsV2 with a non-ASCII prefix and a delimiter: {response.get('CommonPrefixes')}")


def copies_metadata_tagging(server, s3, bucket, sources):
    log("metadata and content headers, response-* overrides, MetadataTooLarge")
    data = open(sources["five"], "rb").read()
    metadata = {"colour": "blue", "owner": "integration test", "empty": ""}
    s3.put_object(Bucket=bucket, Key="meta/obj", Body=data, Metadata=metadata, ContentType="application/x-blob",
                  ContentDisposition='attachment; filename="obj.bin"', ContentEncoding="identity",
                  CacheControl="no-cache", ContentLanguage="en-GB",
                  Expires=datetime.datetime(2030, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc))
    head = s3.head_object(Bucket=bucket, Key="meta/obj")
    check(head.get("Metadata") == metadata, f"HeadObject Metadata: {head.get('Metadata')}, expected {metadata}")
    for field, value in [("ContentType", "application/x-blob"), ("ContentDisposition", 'attachment; filename="obj.bin"'),
                         ("ContentEncoding", "identity"), ("CacheControl", "no-cache"), ("ContentLanguage", "en-GB")]:
        check(head.get(field) == value, f"HeadObject {field}: {head.get(field)!r}, expected {value!r}")
    check(head.get("Expires") == datetime.datetime(2030, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc),
          f"HeadObject Expires: {head.get('Expires')!r}")
    got = s3.get_object(Bucket=bucket, Key="meta/obj", ResponseContentType="text/plain",
                        ResponseContentDisposition="inline", ResponseCacheControl="max-age=5",
                        ResponseContentLanguage="fr", ResponseExpires=datetime.datetime(2031, 1, 1, tzinfo=datetime.timezone.utc))
    check(got.get("ContentType") == "text/plain" and got.get("ContentDisposition") == "inline"
          and got.get("CacheControl") == "max-age=5" and got.get("ContentLanguage") == "fr",
          f"GetObject response-* overrides: {got.get('ContentType')}, {got.get('ContentDisposition')}, {got.get('CacheControl')}, "
          f"{got.get('ContentLanguage')}")
    check(sha256(read_body(got)) == sha256(data), "GetObject with response-* overrides: SHA-256")
    # S3: user metadata (keys + values, UTF-8) is limited to 2 KiB.
    expect_error(lambda: s3.put_object(Bucket=bucket, Key="meta/too-large", Body=b"x", Metadata={"big": "v" * 2100}),
                 400, "MetadataTooLarge", "PutObject with 2,103 bytes of user metadata")
    expect_error(lambda: s3.head_object(Bucket=bucket, Key="meta/too-large"), 404, "404",
                 "HeadObject of an object refused for MetadataTooLarge")
    s3.put_object(Bucket=bucket, Key="meta/just-fits", Body=b"x", Metadata={"big": "v" * 2000})
    check(s3.head_object(Bucket=bucket, Key="meta/just-fits")["Metadata"]["big"] == "v" * 2000, "2,003 bytes of metadata")

    log("copy: COPY and REPLACE directives, copy of a multipart object, copy onto itself with REPLACE")
    s3.copy_object(Bucket=bucket, Key="meta/copy", CopySource={"Bucket": bucket, "Key": "meta/obj"})
    head = s3.head_object(Bucket=bucket, Key="meta/copy")
    check(head.get("Metadata") == metadata and head.get("ContentType") == "application/x-blob",
          f"CopyObject (COPY): metadata {head.get('Metadata')}, type {head.get('ContentType')}")
    check(sha256(read_body(s3.get_object(Bucket=bucket, Key="meta/copy"))) == sha256(data), "CopyObject (COPY): SHA-256")
    s3.copy_object(Bucket=bucket, Key="meta/replaced", CopySource=f"{bucket}/meta/obj", MetadataDirective="REPLACE",
                   Metadata={"fresh": "yes"}, ContentType="text/x-new")
    head = s3.head_object(Bucket=bucket, Key="meta/replaced")
    check(head.get("Metadata") == {"fresh": "yes"} and head.get("ContentType") == "text/x-new",
          f"CopyObject (REPLACE): metadata {head.get('Metadata')}, type {head.get('ContentType')}")
    check(sha256(read_body(s3.get_object(Bucket=bucket, Key="meta/replaced"))) == sha256(data), "CopyObject (REPLACE): SHA-256")
    s3.copy_object(Bucket=bucket, Key="meta/obj", CopySource=f"{bucket}/meta/obj", MetadataDirective="REPLACE",
                   Metadata={"self": "copy"})
    head = s3.head_object(Bucket=bucket, Key="meta/obj")
    check(head.get("Metadata") == {"self": "copy"}, f"CopyObject onto itself with REPLACE: metadata {head.get('Metadata')}")
    check(sha256(read_body(s3.get_object(Bucket=bucket, Key="meta/obj"))) == sha256(data), "copy onto itself: SHA-256")
    expect_error(lambda: s3.copy_object(Bucket=bucket, Key="meta/obj", CopySource=f"{bucket}/meta/obj"), 400,
                 "InvalidRequest", "CopyObject onto itself without changing anything")
    other = "copy-dst-" + os.urandom(4).hex()
    s3.create_bucket(Bucket=other)
    s3.copy_object(Bucket=other, Key="big", CopySource={"Bucket": bucket, "Key": "transfer/hundred"})
    out = server.path("hundred.copy")
    s3.download_file(other, "big", out)
    check(sha256_file(out) == sha256_file(sources["hundred"]), "CopyObject of the 100 MiB multipart object: SHA-256")
    os.remove(out)
    got = s3.get_object(Bucket=other, Key="big", Range=f"bytes={8 * MiB - 5}-{8 * MiB + 5}")
    check(read_body(got) == file_slice(sources["hundred"], 8 * MiB - 5, 11), "range across parts of the copied object")
    expect_error(lambda: s3.copy_object(Bucket=bucket, Key="x", CopySource={"Bucket": bucket, "Key": "no/such/key"}),
                 404, "NoSuchKey", "CopyObject from a missing key")

    log("tagging: x-amz-tagging on PUT, Put/Get/DeleteObjectTagging, S3's limits")
    s3.put_object(Bucket=bucket, Key="tags/obj", Body=b"tagged", Tagging="a=1&b=two%20words")
    tags = sorted((t["Key"], t["Value"]) for t in s3.get_object_tagging(Bucket=bucket, Key="tags/obj")["TagSet"])
    check(tags == [("a", "1"), ("b", "two words")], f"GetObjectTagging after x-amz-tagging: {tags}")
    got = s3.get_object(Bucket=bucket, Key="tags/obj")
    check(got.get("TagCount") == 2, f"GetObject x-amz-tagging-count: {got.get('TagCount')}")
    s3.put_object_tagging(Bucket=bucket, Key="tags/obj",
                          Tagging={"TagSet": [{"Key": "env", "Value": "ci"}, {"Key": "k+=. _:/@-", "Value": "v"}]})
    tags = sorted((t["Key"], t["Value"]) for t in s3.get_object_tagging(Bucket=bucket, Key="tags/obj")["TagSet"])
    check(tags == [("env", "ci"), ("k+=. _:/@-", "v")], f"GetObjectTagging after PutObjectTagging: {tags}")
    check(read_body(s3.get_object(Bucket=bucket, Key="tags/obj")) == b"tagged", "object content after PutObjectTagging")
    s3.delete_object_tagging(Bucket=bucket, Key="tags/obj")
    check(s3.get_object_tagging(Bucket=bucket, Key="tags/obj")["TagSet"] == [], "GetObjectTagging after DeleteObjectTagging")
    eleven = {"TagSet": [{"Key": f"k{i}", "Value": "v"} for i in range(11)]}
    expect_error(lambda: s3.put_object_tagging(Bucket=bucket, Key="tags/obj", Tagging=eleven), 400, "BadRequest",
                 "PutObjectTagging with 11 tags")
    expect_error(lambda: s3.put_object_tagging(Bucket=bucket, Key="tags/obj",
                                               Tagging={"TagSet": [{"Key": "k" * 129, "Value": "v"}]}),
                 400, "InvalidTag", "PutObjectTagging with a 129-character key")
    expect_error(lambda: s3.put_object_tagging(Bucket=bucket, Key="tags/obj",
                                               Tagging={"TagSet": [{"Key": "k", "Value": "v" * 257}]}),
                 400, "InvalidTag", "PutObjectTagging with a 257-character value")
    expect_error(lambda: s3.put_object_tagging(Bucket=bucket, Key="tags/obj",
                                               Tagging={"TagSet": [{"Key": "k", "Value": "1"}, {"Key": "k", "Value": "2"}]}),
                 400, "InvalidTag", "PutObjectTagging with a duplicate key")
    expect_error(lambda: s3.get_object_tagging(Bucket=bucket, Key="tags/none"), 404, "NoSuchKey",
                 "GetObjectTagging of a missing key")
    s3.copy_object(Bucket=bucket, Key="tags/copy", CopySource=f"{bucket}/tags/obj", TaggingDirective="REPLACE",
                   Tagging="copied=yes")
    tags = s3.get_object_tagging(Bucket=bucket, Key="tags/copy")["TagSet"]
    check(tags == [{"Key": "copied", "Value": "yes"}], f"CopyObject TaggingDirective REPLACE: {tags}")


def deletes_and_versions(server, s3, bucket):
    log("delete_object, delete_objects, list_object_versions (VersionId null)")
    for i in range(5):
        s3.put_object(Bucket=bucket, Key=f"del/{i}", Body=b"d" * i)
    versions = s3.list_object_versions(Bucket=bucket, Prefix="del/")
    got = [(v["Key"], v["VersionId"], v["IsLatest"], v["Size"]) for v in versions.get("Versions", [])]
    check(got == [(f"del/{i}", "null", True, i) for i in range(5)], f"ListObjectVersions of an unversioned bucket: {got}")
    check(not versions.get("DeleteMarkers"), f"ListObjectVersions DeleteMarkers: {versions.get('DeleteMarkers')}")
    check(s3.get_bucket_versioning(Bucket=bucket).get("Status") is None, "GetBucketVersioning of an unversioned bucket")
    response = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "del/0"}, {"Key": "del/1", "VersionId": "null"},
                                                                    {"Key": "del/missing"}]})
    deleted = sorted(d["Key"] for d in response.get("Deleted", []))
    check(deleted == ["del/0", "del/1", "del/missing"] and not response.get("Errors"),
          f"DeleteObjects: Deleted {deleted}, Errors {response.get('Errors')}")
    response = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "del/2"}], "Quiet": True})
    check(not response.get("Deleted") and not response.get("Errors"), f"DeleteObjects Quiet: {response}")
    response = s3.delete_object(Bucket=bucket, Key="del/3", VersionId="null")
    check(status_of(response) == 204, f"DeleteObject VersionId=null: {status_of(response)}")
    response = s3.delete_object(Bucket=bucket, Key="del/never-existed")
    check(status_of(response) == 204, f"DeleteObject of a missing key: expected 204, got {status_of(response)}")
    left = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="del/").get("Contents", [])]
    check(left == ["del/4"], f"keys left under del/: {left}")
    expect_error(lambda: s3.get_object(Bucket=bucket, Key="del/0"), 404, "NoSuchKey", "GetObject of a deleted key")


def presigned(server, s3, bucket, sources):
    log("presigned GET and PUT with curl, response-content-disposition override, expiry")
    five = sources["five"]
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "transfer/five"}, ExpiresIn=300)
    check("X-Amz-Signature=" in url, f"presigned URL: {url}")
    out = server.path("presigned.down")
    code, status, _, headers = server.curl(url, output=out)
    check(code == 0 and status == 200, f"curl GET presigned URL: exit {code}, HTTP {status}")
    check(sha256_file(out) == sha256_file(five), "curl GET presigned URL: SHA-256 differs")
    url = s3.generate_presigned_url("get_object", ExpiresIn=300, Params={
        "Bucket": bucket, "Key": "transfer/five", "ResponseContentDisposition": 'attachment; filename="report.pdf"',
        "ResponseContentType": "application/pdf"})
    code, status, _, headers = server.curl(url, output=out)
    check(status == 200, f"presigned GET with response-content-disposition: HTTP {status}")
    check(re.search(r'(?im)^content-disposition: attachment; filename="report\.pdf"\r?$', headers) is not None,
          f"presigned GET response-content-disposition not applied; headers:\n{headers}")
    check(re.search(r"(?im)^content-type: application/pdf\r?$", headers) is not None,
          f"presigned GET response-content-type not applied; headers:\n{headers}")
    check(sha256_file(out) == sha256_file(five), "presigned GET with overrides: SHA-256 differs")
    code, status, body, _ = server.curl("-r", "100-199", url)
    check(status == 206 and body == file_slice(five, 100, 100), f"presigned GET with a Range header: HTTP {status}")
    # Presigned PUT: curl uploads a file; the object reads back identical.
    url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "presigned/put"}, ExpiresIn=300)
    code, status, body, _ = server.curl("-X", "PUT", "-T", five, url)
    check(code == 0 and status == 200, f"curl PUT presigned URL: exit {code}, HTTP {status}, body {body[:300]!r}")
    out = server.path("presigned-put.down")
    s3.download_file(bucket, "presigned/put", out)
    check(sha256_file(out) == sha256_file(five), "object uploaded by presigned PUT: SHA-256 differs")
    # Tampering with a presigned URL: another key, another signature.
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "transfer/five"}, ExpiresIn=300)
    code, status, body, _ = server.curl(url.replace("/transfer/five?", "/transfer/one?"))
    check(status == 403 and error_xml_code(body) == "SignatureDoesNotMatch",
          f"presigned URL used for another key: expected 403 SignatureDoesNotMatch, got {status} {error_xml_code(body)}")
    altered = re.sub(r"X-Amz-Signature=([0-9a-f])", lambda m: "X-Amz-Signature=" + ("1" if m.group(1) == "0" else "0"), url)
    code, status, body, _ = server.curl(altered)
    check(status == 403 and error_xml_code(body) == "SignatureDoesNotMatch",
          f"presigned URL with an altered signature: expected 403 SignatureDoesNotMatch, got {status} {error_xml_code(body)}")
    # Expired: X-Amz-Expires=1, then 2 s later → 403 AccessDenied.
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "transfer/five"}, ExpiresIn=1)
    check("X-Amz-Expires=1&" in url or url.endswith("X-Amz-Expires=1"), f"presigned URL lacks X-Amz-Expires=1: {url}")
    time.sleep(2.2)
    code, status, body, _ = server.curl(url)
    check(status == 403 and error_xml_code(body) == "AccessDenied",
          f"expired presigned URL: expected 403 AccessDenied, got {status} {error_xml_code(body)}: {body[:300]!r}")
    check(len(body or b"") < 4096 and b"<Error>" in body, f"expired presigned URL: body is not an S3 error: {body[:300]!r}")


def multipart(server, s3, bucket, sources):
    log("multipart: UploadPart, UploadPartCopy with ranges, ListParts, ListMultipartUploads, complete")
    big = sources["hundred"]
    key = "mpu/assembled"
    upload = s3.create_multipart_upload(Bucket=bucket, Key=key, ContentType="application/x-mpu", Metadata={"m": "1"})
    upload_id = upload["UploadId"]
    expected = b""
    parts = []
    # Part 1: a copy of bytes [3 MiB, 8 MiB + 3 MiB) of the multipart source: crosses its part 1/2 boundary.
    first, length = 3 * MiB, 5 * MiB
    response = s3.upload_part_copy(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=1,
                                   CopySource={"Bucket": bucket, "Key": "transfer/hundred"},
                                   CopySourceRange=f"bytes={first}-{first + length - 1}")
    parts.append({"PartNumber": 1, "ETag": response["CopyPartResult"]["ETag"]})
    chunk = file_slice(big, first, length)
    check(response["CopyPartResult"]["ETag"].strip('"') == md5_hex(chunk), "UploadPartCopy ETag is not the MD5 of the range")
    expected += chunk
    # Part 2: uploaded bytes.
    chunk = os.urandom(5 * MiB + 17)
    response = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=2, Body=chunk)
    check(response["ETag"].strip('"') == md5_hex(chunk), f"UploadPart ETag {response['ETag']} is not the MD5")
    parts.append({"PartNumber": 2, "ETag": response["ETag"]})
    expected += chunk
    # Part 3: the whole of a single-PUT object, copied without a range; it is the last part, so it may be small.
    response = s3.upload_part_copy(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=3,
                                   CopySource=f"{bucket}/small/one")
    parts.append({"PartNumber": 3, "ETag": response["CopyPartResult"]["ETag"]})
    expected += open(sources["one"], "rb").read()
    listed = s3.list_parts(Bucket=bucket, Key=key, UploadId=upload_id)
    check([(p["PartNumber"], p["Size"], p["ETag"]) for p in listed["Parts"]] ==
          [(p["PartNumber"], size, p["ETag"]) for p, size in zip(parts, [5 * MiB, 5 * MiB + 17, 1])],
          f"ListParts: {[(p['PartNumber'], p['Size'], p['ETag']) for p in listed['Parts']]}")
    listed = s3.list_parts(Bucket=bucket, Key=key, UploadId=upload_id, MaxParts=2)
    check(listed.get("IsTruncated") and [p["PartNumber"] for p in listed["Parts"]] == [1, 2],
          f"ListParts MaxParts=2: {[p['PartNumber'] for p in listed['Parts']]}, IsTruncated {listed.get('IsTruncated')}")
    listed = s3.list_parts(Bucket=bucket, Key=key, UploadId=upload_id, PartNumberMarker=int(listed.get("NextPartNumberMarker")))
    check([p["PartNumber"] for p in listed["Parts"]] == [3], f"ListParts after NextPartNumberMarker: {listed['Parts']}")
    uploads = s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    check(any(u["UploadId"] == upload_id and u["Key"] == key for u in uploads), f"ListMultipartUploads: {uploads}")
    # Not visible as an object before completion.
    expect_error(lambda: s3.head_object(Bucket=bucket, Key=key), 404, "404", "HeadObject of an upload in progress")
    response = s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts})
    digests = b"".join(bytes.fromhex(p["ETag"].strip('"')) for p in parts)
    check(response["ETag"].strip('"') == f"{hashlib.md5(digests).hexdigest()}-3",
          f"CompleteMultipartUpload ETag {response['ETag']}")
    got = s3.get_object(Bucket=bucket, Key=key)
    check(sha256(read_body(got)) == sha256(expected), "GetObject of the object assembled with UploadPartCopy: SHA-256")
    check(got.get("ContentType") == "application/x-mpu" and got.get("Metadata") == {"m": "1"},
          f"metadata from CreateMultipartUpload: {got.get('ContentType')}, {got.get('Metadata')}")
    got = s3.get_object(Bucket=bucket, Key=key, Range=f"bytes={5 * MiB - 3}-{5 * MiB + 2}")
    check(read_body(got) == expected[5 * MiB - 3:5 * MiB + 3], "range across the parts of the assembled object")
    expect_error(lambda: s3.list_parts(Bucket=bucket, Key=key, UploadId=upload_id), 404, "NoSuchUpload",
                 "ListParts of a completed upload")

    log("multipart errors: EntityTooSmall, InvalidPartOrder, InvalidPart (wrong ETag), NoSuchUpload, abort")
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="mpu/bad")["UploadId"]
    small = [s3.upload_part(Bucket=bucket, Key="mpu/bad", UploadId=upload_id, PartNumber=n, Body=os.urandom(MiB))["ETag"]
             for n in (1, 2)]
    expect_error(lambda: s3.complete_multipart_upload(
        Bucket=bucket, Key="mpu/bad", UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": small[0]}, {"PartNumber": 2, "ETag": small[1]}]}),
        400, "EntityTooSmall", "CompleteMultipartUpload with a 1 MiB part that is not the last")
    expect_error(lambda: s3.complete_multipart_upload(
        Bucket=bucket, Key="mpu/bad", UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": 2, "ETag": small[1]}, {"PartNumber": 1, "ETag": small[0]}]}),
        400, "InvalidPartOrder", "CompleteMultipartUpload with parts 2, 1")
    expect_error(lambda: s3.complete_multipart_upload(
        Bucket=bucket, Key="mpu/bad", UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": '"0123456789abcdef0123456789abcdef"'}]}),
        400, "InvalidPart", "CompleteMultipartUpload with a wrong ETag")
    expect_error(lambda: s3.complete_multipart_upload(
        Bucket=bucket, Key="mpu/bad", UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": 7, "ETag": small[0]}]}),
        400, "InvalidPart", "CompleteMultipartUpload naming a part never uploaded")
    # A single small part is allowed (it is the last one).
    response = s3.complete_multipart_upload(Bucket=bucket, Key="mpu/bad", UploadId=upload_id,
                                            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": small[0]}]})
    check(response["ETag"].endswith('-1"'), f"CompleteMultipartUpload of one part: ETag {response['ETag']}")
    check(s3.head_object(Bucket=bucket, Key="mpu/bad")["ContentLength"] == MiB, "object completed from part 1 only")
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="mpu/aborted")["UploadId"]
    s3.upload_part(Bucket=bucket, Key="mpu/aborted", UploadId=upload_id, PartNumber=1, Body=b"a" * 1000)
    response = s3.abort_multipart_upload(Bucket=bucket, Key="mpu/aborted", UploadId=upload_id)
    check(status_of(response) == 204, f"AbortMultipartUpload: expected 204, got {status_of(response)}")
    expect_error(lambda: s3.list_parts(Bucket=bucket, Key="mpu/aborted", UploadId=upload_id), 404, "NoSuchUpload",
                 "ListParts of an aborted upload")
    expect_error(lambda: s3.upload_part(Bucket=bucket, Key="mpu/aborted", UploadId=upload_id, PartNumber=2, Body=b"x"),
                 404, "NoSuchUpload", "UploadPart to an aborted upload")
    expect_error(lambda: s3.head_object(Bucket=bucket, Key="mpu/aborted"), 404, "404", "HeadObject of an aborted upload")
    expect_error(lambda: s3.abort_multipart_upload(Bucket=bucket, Key="mpu/x", UploadId="no-such-upload-id"), 404,
                 "NoSuchUpload", "AbortMultipartUpload of an unknown upload id")


def subresources(server, s3, bucket):
    log("sub-resources blobseal does not implement never act as another operation")
    from botocore.exceptions import ClientError
    # DeleteBucketTagging/Cors/Policy on an empty bucket: AWS answers 204 and the bucket stays (a server without
    # them may answer 501 NotImplemented); it must never be taken for DeleteBucket.
    for name, call in [("DeleteBucketTagging", s3.delete_bucket_tagging), ("DeleteBucketCors", s3.delete_bucket_cors),
                       ("DeleteBucketPolicy", s3.delete_bucket_policy)]:
        empty = "sub-" + os.urandom(4).hex()
        s3.create_bucket(Bucket=empty)
        try:
            call(Bucket=empty)
        except ClientError:
            pass
        try:
            s3.head_bucket(Bucket=empty)
        except ClientError as exc:
            raise AssertionError(f"{name} (DELETE /{empty}?{name[12:].lower()}) deleted the bucket: HeadBucket now "
                                 f"answers {exc.response['ResponseMetadata']['HTTPStatusCode']}")
        s3.delete_bucket(Bucket=empty)
    # PutObjectAcl: AWS sets the ACL (a server without ACLs may answer 501); the object's bytes must not change.
    s3.put_object(Bucket=bucket, Key="acl/obj", Body=b"content that must survive")
    etag = s3.head_object(Bucket=bucket, Key="acl/obj")["ETag"]
    try:
        s3.put_object_acl(Bucket=bucket, Key="acl/obj", ACL="private")
    except ClientError:
        pass
    body = read_body(s3.get_object(Bucket=bucket, Key="acl/obj"))
    check(body == b"content that must survive" and s3.head_object(Bucket=bucket, Key="acl/obj")["ETag"] == etag,
          f"PutObjectAcl (PUT /{bucket}/acl/obj?acl) changed the object: it now holds {body[:80]!r}")
    # GetBucketPolicy / GetBucketCors on a bucket without them: AWS answers 404 NoSuchBucketPolicy /
    # NoSuchCORSConfiguration (501 NotImplemented would do too), never a 200 with a listing.
    for name, call in [("GetBucketPolicy", s3.get_bucket_policy), ("GetBucketCors", s3.get_bucket_cors)]:
        try:
            response = call(Bucket=bucket)
        except ClientError:
            continue
        raise AssertionError(f"{name} answered {status_of(response)} as if it were supported: "
                             f"{str({k: v for k, v in response.items() if k != 'ResponseMetadata'})[:200]}")


def raw_signed_request(server, method, path, body=b"", when=None, payload_hash=None, extra_headers=None):
    """A request signed here with SigV4 (header auth), for cases the SDKs will not produce: a clock 20 minutes off,
    an x-amz-content-sha256 that does not match the body. Returns (status, body)."""
    import hmac
    import http.client
    when = when or datetime.datetime.now(datetime.timezone.utc)
    amz_date, day = when.strftime("%Y%m%dT%H%M%SZ"), when.strftime("%Y%m%d")
    host = f"127.0.0.1:{server.port}"
    headers = {"host": host, "x-amz-date": amz_date,
               "x-amz-content-sha256": payload_hash or hashlib.sha256(body).hexdigest(), **(extra_headers or {})}
    signed = ";".join(sorted(headers))
    canonical = "\n".join([method, path, "", *(f"{k}:{headers[k]}" for k in sorted(headers)), "", signed,
                            headers["x-amz-content-sha256"]])
    scope = f"{day}/{server.region}/s3/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = ("AWS4" + server.secret_key).encode()
    for part in (day, server.region, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    headers["Authorization"] = (f"AWS4-HMAC-SHA256 Credential={server.access_key}/{scope}, SignedHeaders={signed}, "
                                f"Signature={signature}")
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        connection.request(method, path, body=body, headers={k: v for k, v in headers.items() if k != "host"})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def error_cases(server, s3, bucket):
    log("errors: wrong secret, unknown access key, missing key/bucket, anonymous requests")
    wrong = server.client(secret_key=server.secret_key[:-4] + "0000")
    expect_error(lambda: wrong.list_buckets(), 403, "SignatureDoesNotMatch", "ListBuckets with a wrong secret")
    expect_error(lambda: wrong.put_object(Bucket=bucket, Key="wrong/secret", Body=b"no"), 403, "SignatureDoesNotMatch",
                 "PutObject with a wrong secret")
    expect_error(lambda: wrong.get_object(Bucket=bucket, Key="small/one"), 403, "SignatureDoesNotMatch",
                 "GetObject with a wrong secret")
    expect_error(lambda: s3.head_object(Bucket=bucket, Key="wrong/secret"), 404, "404",
                 "an object PUT with a wrong secret exists")
    unknown = server.client(access_key="AKIDUNKNOWN0000000000")
    expect_error(lambda: unknown.list_objects_v2(Bucket=bucket), 403, "InvalidAccessKeyId", "ListObjectsV2 with an unknown key")
    presigned = wrong.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "small/one"}, ExpiresIn=60)
    _, status, body, _ = server.curl(presigned)
    check(status == 403 and error_xml_code(body) == "SignatureDoesNotMatch",
          f"presigned URL signed with a wrong secret: {status} {error_xml_code(body)}")
    expect_error(lambda: s3.get_object(Bucket=bucket, Key="no/such/key"), 404, "NoSuchKey", "GetObject of a missing key")
    expect_error(lambda: s3.head_object(Bucket=bucket, Key="no/such/key"), 404, "404", "HeadObject of a missing key")
    missing = "no-such-bucket-" + os.urandom(4).hex()
    expect_error(lambda: s3.get_object(Bucket=missing, Key="k"), 404, "NoSuchBucket", "GetObject in a missing bucket")
    expect_error(lambda: s3.put_object(Bucket=missing, Key="k", Body=b"x"), 404, "NoSuchBucket", "PutObject in a missing bucket")
    expect_error(lambda: s3.list_objects_v2(Bucket=missing), 404, "NoSuchBucket", "ListObjectsV2 of a missing bucket")
    # Anonymous requests are refused with 403 AccessDenied and an S3 error body.
    for method, path in [("GET", f"/{bucket}/small/one"), ("GET", "/"), ("GET", f"/{bucket}"), ("PUT", f"/{bucket}/anon"),
                         ("DELETE", f"/{bucket}/small/one"), ("HEAD", f"/{bucket}/small/one")]:
        args = ["-X", method] if method != "HEAD" else ["-I"]
        _, status, body, _ = server.curl(*args, server.endpoint + path)
        check(status == 403, f"anonymous {method} {path}: expected 403, got {status}")
        if method != "HEAD":
            check(error_xml_code(body) == "AccessDenied", f"anonymous {method} {path}: Code {error_xml_code(body)}")
            check(b"<RequestId>" in body, f"anonymous {method} {path}: the error body has no RequestId: {body[:300]!r}")
    check(read_body(s3.get_object(Bucket=bucket, Key="small/one")) == open(server.path("one"), "rb").read(),
          "the object survived the anonymous DELETE")
    # The signer used by the checks below is right: a request it signs now is accepted.
    status, body = raw_signed_request(server, "GET", f"/{bucket}/small/one")
    check(status == 200 and body == open(server.path("one"), "rb").read(), f"a request signed by the test's own "
          f"SigV4 code: expected 200, got {status} {error_xml_code(body)}")
    # A correctly signed request dated 20 minutes ago is refused (S3's 15-minute window).
    old = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=20)
    status, body = raw_signed_request(server, "GET", f"/{bucket}/small/one", when=old)
    check(status == 403 and error_xml_code(body) == "RequestTimeTooSkewed",
          f"a request signed 20 minutes ago: expected 403 RequestTimeTooSkewed, got {status} {error_xml_code(body)}")
    # x-amz-content-sha256 that does not match the body: 400 XAmzContentSHA256Mismatch, nothing stored.
    status, body = raw_signed_request(server, "PUT", f"/{bucket}/sha/mismatch", body=b"the body sent",
                                      payload_hash=hashlib.sha256(b"another body").hexdigest())
    check(status == 400 and error_xml_code(body) == "XAmzContentSHA256Mismatch",
          f"PUT whose x-amz-content-sha256 does not match the body: expected 400 XAmzContentSHA256Mismatch, got "
          f"{status} {error_xml_code(body)}")
    expect_error(lambda: s3.head_object(Bucket=bucket, Key="sha/mismatch"), 404, "404",
                 "an object PUT with a mismatched x-amz-content-sha256 exists")
    # Content-MD5 that does not match the body: 400 BadDigest, nothing stored.
    import base64
    wrong_md5 = base64.b64encode(hashlib.md5(b"another body").digest()).decode()
    expect_error(lambda: s3.put_object(Bucket=bucket, Key="md5/mismatch", Body=b"the body sent", ContentMD5=wrong_md5),
                 400, "BadDigest", "PutObject with a Content-MD5 of another body")
    expect_error(lambda: s3.head_object(Bucket=bucket, Key="md5/mismatch"), 404, "404",
                 "an object PUT with a mismatched Content-MD5 exists")


def main():
    with Blobseal() as server:
        s3 = server.client()
        spy = SignerSpy(s3)
        big = make_file(server.path("hundred"), 100 * MiB)
        bucket_life_cycle(server, s3)
        bucket = "flow-" + os.urandom(4).hex()
        s3.create_bucket(Bucket=bucket)
        sources = sizes_round_trip(server, s3, bucket, big)
        ranged_gets(server, s3, bucket, sources)
        conditional_gets(server, s3, bucket)
        copies_metadata_tagging(server, s3, bucket, sources)
        deletes_and_versions(server, s3, bucket)
        presigned(server, s3, bucket, sources)
        multipart(server, s3, bucket, sources)
        listings(server, s3, bucket)
        subresources(server, s3, bucket)
        error_cases(server, s3, bucket)
        check_signer(spy)
    log("all boto3 checks passed")


if __name__ == "__main__":
    main()
