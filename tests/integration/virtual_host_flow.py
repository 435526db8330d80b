#!/usr/bin/python3
"""Virtual-hosted-style requests end to end: boto3 with addressing_style "virtual" and the AWS CLI's presigned URLs
name the bucket in the Host header (BUCKET.s3.blobseal.test:PORT); blobseal serve --virtual-host-suffix
s3.blobseal.test takes the bucket from there and verifies signatures over that Host.

No DNS server can be run here for a made-up domain, so this process resolves *.blobseal.test to 127.0.0.1 itself
(socket.getaddrinfo is wrapped for that suffix only): the requests still go over real sockets with the real Host
header. Path-style requests keep working on the same server, and a bucket named in both places is read from the host.

Usage: /usr/bin/python3 virtual_host_flow.py BLOBSEAL_BIN   (or BLOBSEAL_BIN in the environment)
"""
import os
import socket
import sys
import urllib.parse
import urllib.request

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from harness import Blobseal, expect_error, log, sha256  # noqa: E402

SUFFIX = "s3.blobseal.test"
MiB = 1024 * 1024

_getaddrinfo = socket.getaddrinfo


def _resolve_test_domain(host, *args, **kwargs):
    if isinstance(host, str) and (host == SUFFIX or host.endswith("." + SUFFIX)):
        host = "127.0.0.1"
    return _getaddrinfo(host, *args, **kwargs)


socket.getaddrinfo = _resolve_test_domain


def main():
    with Blobseal(extra_args=["--virtual-host-suffix", SUFFIX]) as server:
        endpoint = f"http://{SUFFIX}:{server.port}"
        import boto3
        from botocore.config import Config
        vs3 = boto3.session.Session().client(
            "s3", endpoint_url=endpoint, region_name=server.region, aws_access_key_id=server.access_key,
            aws_secret_access_key=server.secret_key,
            config=Config(s3={"addressing_style": "virtual"}, signature_version="s3v4",
                          retries={"max_attempts": 1, "mode": "standard"}))
        hosts = []
        vs3.meta.events.register("before-send.s3", lambda request, **_: hosts.append(
            urllib.parse.urlsplit(request.url).hostname))
        ps3 = server.client()  # path style, same server
        bucket = "vhost-" + os.urandom(3).hex()

        log("CreateBucket, PutObject, GetObject, HeadObject, ListObjectsV2 over virtual-hosted-style requests")
        vs3.create_bucket(Bucket=bucket)
        body = os.urandom(3 * MiB + 5)
        vs3.put_object(Bucket=bucket, Key="dir/a b+c.bin", Body=body, Metadata={"style": "virtual"})
        got = vs3.get_object(Bucket=bucket, Key="dir/a b+c.bin")
        assert sha256(got["Body"].read()) == sha256(body), "virtual-hosted GET differs"
        assert got["Metadata"] == {"style": "virtual"}, got["Metadata"]
        part = vs3.get_object(Bucket=bucket, Key="dir/a b+c.bin", Range="bytes=1000-1999")["Body"].read()
        assert part == body[1000:2000], "virtual-hosted range GET differs"
        listed = [o["Key"] for o in vs3.list_objects_v2(Bucket=bucket, Prefix="dir/")["Contents"]]
        assert listed == ["dir/a b+c.bin"], listed
        assert all(h == f"{bucket}.{SUFFIX}" for h in hosts), f"requests not sent virtual-hosted style: {set(hosts)}"

        log("multipart upload and CopyObject, virtual-hosted")
        upload = vs3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
        parts = []
        for number, data in enumerate([os.urandom(5 * MiB), b"tail"], 1):
            etag = vs3.upload_part(Bucket=bucket, Key="mp", UploadId=upload, PartNumber=number, Body=data)["ETag"]
            parts.append(({"PartNumber": number, "ETag": etag}, data))
        vs3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload,
                                      MultipartUpload={"Parts": [p for p, _ in parts]})
        vs3.copy_object(Bucket=bucket, Key="mp-copy", CopySource={"Bucket": bucket, "Key": "mp"})
        whole = b"".join(d for _, d in parts)
        assert sha256(vs3.get_object(Bucket=bucket, Key="mp-copy")["Body"].read()) == sha256(whole), "copy differs"

        log("a presigned virtual-hosted URL, fetched with urllib; the same objects path-style")
        url = vs3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "dir/a b+c.bin"},
                                         ExpiresIn=300)
        assert urllib.parse.urlsplit(url).hostname == f"{bucket}.{SUFFIX}", url
        with urllib.request.urlopen(url, timeout=30) as response:
            assert response.status == 200 and sha256(response.read()) == sha256(body), "presigned virtual GET"
        assert sha256(ps3.get_object(Bucket=bucket, Key="mp")["Body"].read()) == sha256(whole), "path-style GET"

        log("errors: a missing key and a missing bucket named by the host")
        expect_error(lambda: vs3.get_object(Bucket=bucket, Key="absent"), 404, "NoSuchKey", "missing key")
        expect_error(lambda: vs3.head_bucket(Bucket="absent-" + bucket), 404, "404", "missing bucket")

        log("DeleteObjects and DeleteBucket, virtual-hosted")
        vs3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in ("dir/a b+c.bin", "mp", "mp-copy")]})
        vs3.delete_bucket(Bucket=bucket)
        expect_error(lambda: ps3.head_bucket(Bucket=bucket), 404, "404", "bucket deleted virtual-hosted style")
    log("virtual-hosted-style requests: passed")


if __name__ == "__main__":
    main()
