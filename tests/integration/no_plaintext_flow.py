#!/usr/bin/python3
"""No plaintext reaches the disk: objects whose bodies, user metadata, content headers and tags carry a marker string
are written through the S3 API (single PUT, multipart, UploadPartCopy, CopyObject, an upload left in progress), then
`grep -r -a -F MARKER DATA/` must find nothing, with the server running (SQLite WAL not yet checkpointed) and after
it stopped.

Object keys are another matter: the local store keeps them in the clear in its SQLite index (data/store/index.sqlite,
the `key` column: docs/FORMAT.md, "Where the envelope and the manifest live"), so that it can list them in order
without a key. So keys carry a marker of their own, which is allowed in the index files only (index.sqlite and its
-wal/-shm) and must not appear in any data file. Everything else (bodies, metadata, tags) must not appear anywhere.

In gateway mode (BLOBSEAL_IT_GATEWAY=1, under tests/upstream/with_upstream.sh) the same objects go to the upstream
bucket instead, and the check reads what the upstream holds: every object under the server's prefix through the
upstream's own S3 API (bodies and every response header, user metadata included), plus, when the upstream keeps its
objects as files (s3rver), those files and the parts of uploads in progress. Keys are stored in the records (k/),
encoded but not sealed, as in the local index; the key marker may appear in records only.

Usage: /usr/bin/python3 no_plaintext_flow.py BLOBSEAL_BIN   (or BLOBSEAL_BIN in the environment)
"""
import os
import subprocess
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from harness import Blobseal, log, sha256, upstream_client, upstream_settings  # noqa: E402

MiB = 1024 * 1024


def grep_files(marker, directory):
    """Files under `directory` that contain `marker` (grep -r -a -F -l; exit 1 means none)."""
    proc = subprocess.run(["grep", "-r", "-a", "-F", "-l", "--", marker, directory], capture_output=True)
    assert proc.returncode in (0, 1), f"grep failed ({proc.returncode}): {proc.stderr.decode(errors='replace')}"
    return sorted(proc.stdout.decode().split("\n")[:-1]) if proc.returncode == 0 else []


def marked_body(marker, size):
    """`size` bytes of random data with the marker repeated through it, so every 16 KiB chunk holds it."""
    block = os.urandom(4096 - len(marker)) + marker
    return (block * (size // len(block) + 1))[:size]


def check_disk_free_of(server, markers, what):
    for marker in markers:
        found = grep_files(marker.decode(), server.data)
        assert not found, f"{what}: marker {marker.decode()!r} found in {found}"


def check_disk(server, secret_markers, key_marker, when):
    for marker in secret_markers:
        found = grep_files(marker.decode(), server.data)
        assert not found, f"{when}: plaintext marker {marker.decode()!r} found on disk in {found}"
    found = grep_files(key_marker, server.data)
    index_files = {os.path.join(server.data, "store", name) for name in ("index.sqlite", "index.sqlite-wal",
                                                                         "index.sqlite-shm", "index.sqlite-journal")}
    outside = [f for f in found if f not in index_files]
    assert not outside, f"{when}: the object-key marker appears outside the store's index, in {outside}"
    data_files = [os.path.join(root, name) for root, _, names in os.walk(os.path.join(server.data, "store"))
                  for name in names if os.path.join(root, name) not in index_files]
    assert data_files, f"{when}: no data file found under {server.data}/store: is the store where it should be?"
    log(f"{when}: no body/metadata/tag marker in {len(data_files)} store files; key marker only in {found or 'nothing'}")


def check_upstream(server, secret_markers, key_marker, when, bucket_name):
    """What the upstream holds under the server's prefix: no body, metadata or tag marker anywhere; the key marker
    in records (k/) only."""
    upstream = upstream_settings()
    s3 = upstream_client()
    prefix = server.upstream_prefix
    # Every upstream bucket: with one upstream bucket per blobseal bucket (--upstream-bucket-template), the objects
    # live in those, the registry in the URL's bucket.
    names = []
    for bucket in [b["Name"] for b in s3.list_buckets()["Buckets"]]:
        token = None
        while True:
            page = s3.list_objects_v2(Bucket=bucket, Prefix=prefix, **({"ContinuationToken": token} if token else {}))
            names += [(bucket, o["Key"]) for o in page.get("Contents", [])]
            if not page.get("IsTruncated"):
                break
            token = page["NextContinuationToken"]
    buckets_used = sorted({b for b, _ in names})
    template = os.environ.get("BLOBSEAL_IT_BUCKET_TEMPLATE")
    if template:
        mapped = template.replace("{bucket}", bucket_name)
        in_main = [n for b, n in names if b == upstream["bucket"] and n.startswith(prefix + "b/")]
        assert mapped in buckets_used and not in_main, \
            f"{when}: with --upstream-bucket-template the bodies belong in {mapped}, found buckets {buckets_used}, " \
            f"bodies in the main bucket {in_main}"
    records = [n for _, n in names if n.startswith(prefix + "k/")]
    bodies = [n for _, n in names if n.startswith(prefix + "b/")]
    assert records and bodies, f"{when}: expected records and bodies under {prefix} upstream, found {names}"
    for bucket, name in names:
        assert key_marker not in name, f"{when}: the key marker appears in the upstream name {name}"
        got = s3.get_object(Bucket=bucket, Key=name)
        headers = repr(got["ResponseMetadata"]["HTTPHeaders"]).encode() + repr(got.get("Metadata", {})).encode()
        content = got["Body"].read()
        for marker in secret_markers:
            assert marker not in content, f"{when}: plaintext marker {marker.decode()!r} in upstream object {name}"
            assert marker not in headers.lower(), f"{when}: plaintext marker {marker.decode()!r} in the headers of {name}"
        if not name.startswith(prefix + "k/"):
            assert key_marker.encode() not in content, f"{when}: the key marker appears in the upstream body {name}"
    files = 0
    if upstream["data_dir"]:
        # s3rver keeps objects, their metadata and the parts of uploads in progress as files.
        for marker in secret_markers:
            found = grep_files(marker.decode(), upstream["data_dir"])
            assert not found, f"{when}: plaintext marker {marker.decode()!r} in upstream files {found}"
        outside = [f for f in grep_files(key_marker, upstream["data_dir"]) if f"/{prefix}k/" not in f]
        assert not outside, f"{when}: the key marker appears in upstream files other than records: {outside}"
        files = sum(len(f) for _, _, f in os.walk(upstream["data_dir"]))
    log(f"{when}: no body/metadata/tag marker in {len(records)} records and {len(bodies)} bodies in upstream "
        f"buckets {buckets_used}"
        + (f" ({files} upstream files read)" if files else ""))


def main():
    nonce = os.urandom(6).hex()
    body_marker = f"bodymark{nonce}".encode()  # lowercase: header values may be case-folded
    meta_marker = f"metamark{nonce}".encode()
    tag_marker = f"tagmark{nonce}".encode()
    key_marker = f"keymark{nonce}"
    with Blobseal() as server:
        s3 = server.client()
        bucket = "plain-" + os.urandom(4).hex()
        s3.create_bucket(Bucket=bucket)
        meta = {"note": meta_marker.decode(), "other": "x" + meta_marker.decode() + "y"}
        common = dict(Metadata=meta, ContentType=f"text/x-{meta_marker.decode()}",
                      ContentDisposition=f'attachment; filename="{meta_marker.decode()}.txt"',
                      CacheControl=f"private, {meta_marker.decode()}", ContentLanguage=meta_marker.decode(),
                      ContentEncoding=f"x-{meta_marker.decode()}")
        log("single PUTs: small, one chunk, many chunks, with marked metadata, content headers and tags")
        bodies = {}
        for name, size in [("tiny", len(body_marker)), ("chunk", 16384), ("multi", 3 * MiB + 7)]:
            key = f"single/{name}-{key_marker}"
            bodies[key] = marked_body(body_marker, size)
            s3.put_object(Bucket=bucket, Key=key, Body=bodies[key], Tagging=f"t={tag_marker.decode()}", **common)

        log("multipart upload (3 parts), UploadPartCopy, CopyObject with REPLACE metadata")
        key = f"multipart/{key_marker}"
        upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key, Tagging=f"t={tag_marker.decode()}",
                                               **common)["UploadId"]
        parts, whole = [], b""
        for number, size in [(1, 5 * MiB), (2, 5 * MiB + 3), (3, 100)]:
            data = marked_body(body_marker, size)
            etag = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=data)["ETag"]
            parts.append({"PartNumber": number, "ETag": etag})
            whole += data
        s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts})
        bodies[key] = whole
        key = f"copied/{key_marker}"
        upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key, Metadata=meta)["UploadId"]
        etag = s3.upload_part_copy(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=1,
                                   CopySource={"Bucket": bucket, "Key": f"multipart/{key_marker}"},
                                   CopySourceRange=f"bytes=0-{5 * MiB + 9}")["CopyPartResult"]["ETag"]
        s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id,
                                     MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})
        bodies[key] = whole[:5 * MiB + 10]
        key = f"copy-replace/{key_marker}"
        s3.copy_object(Bucket=bucket, Key=key, CopySource={"Bucket": bucket, "Key": f"single/multi-{key_marker}"},
                       MetadataDirective="REPLACE", Metadata={"replaced": meta_marker.decode()},
                       TaggingDirective="REPLACE", Tagging=f"t2={tag_marker.decode()}")
        bodies[key] = bodies[f"single/multi-{key_marker}"]
        s3.put_object_tagging(Bucket=bucket, Key=f"single/tiny-{key_marker}",
                              Tagging={"TagSet": [{"Key": tag_marker.decode(), "Value": tag_marker.decode()}]})

        log("an upload left in progress (its parts and metadata are on disk too)")
        pending_key = f"pending/{key_marker}"
        pending = s3.create_multipart_upload(Bucket=bucket, Key=pending_key, Metadata=meta)["UploadId"]
        s3.upload_part(Bucket=bucket, Key=pending_key, UploadId=pending, PartNumber=1,
                       Body=marked_body(body_marker, 5 * MiB))

        log("everything reads back (the markers really were written)")
        for key, data in bodies.items():
            got = s3.get_object(Bucket=bucket, Key=key)
            assert sha256(got["Body"].read()) == sha256(data), f"GetObject {key}: SHA-256 differs"
        head = s3.head_object(Bucket=bucket, Key=f"single/chunk-{key_marker}")
        assert head["Metadata"] == meta, f"HeadObject metadata: {head['Metadata']}"
        assert head["ContentDisposition"] == common["ContentDisposition"], f"ContentDisposition {head['ContentDisposition']}"
        tags = s3.get_object_tagging(Bucket=bucket, Key=f"single/tiny-{key_marker}")["TagSet"]
        assert tags == [{"Key": tag_marker.decode(), "Value": tag_marker.decode()}], f"tags {tags}"
        assert s3.head_object(Bucket=bucket, Key=f"copy-replace/{key_marker}")["Metadata"] == \
            {"replaced": meta_marker.decode()}, "CopyObject REPLACE metadata"

        markers = [body_marker, meta_marker, tag_marker]
        if server.upstream_prefix is not None:
            check_upstream(server, markers, key_marker, "gateway, server running", bucket)
            check_disk_free_of(server, markers + [key_marker.encode()], "gateway: the node's own data directory")
            return log("no plaintext upstream: passed")
        check_disk(server, markers, key_marker, "server running")
        server.stop()
        check_disk(server, markers, key_marker, "server stopped")
    log("no plaintext on disk: passed")


if __name__ == "__main__":
    main()
