#!/usr/bin/python3
"""Two blobseal nodes in front of one upstream bucket: stateless gateways that see the same store at once.

Both nodes serve the same upstream prefix with the same keyring file (node B is given node A's) and the same access
key. Shown, through boto3 against both nodes:
  - a bucket created on A exists on B at once; buckets list the same on both;
  - a multipart upload created on A takes parts through A and through B, is listed (ListParts, ListMultipartUploads)
    the same by both, is completed on B, and reads back whole and in ranges across part boundaries through A;
  - a PUT through one node is read through the other at once, an overwrite on the other is seen by the first;
  - a copy on A is read on B; tags set on B are read on A;
  - a delete through B is gone on A (HEAD 404, not listed); an upload aborted on A is unknown to B;
  - the bucket, emptied, is deleted through B and is gone on A.
No state lives in either node: node B starts with an empty data directory apart from the keyring it is pointed at.

Runs under tests/upstream/with_upstream.sh (rgw or s3rver). Usage: /usr/bin/python3 gateway_two_nodes_flow.py BLOBSEAL_BIN
"""
import os
import random
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from harness import Blobseal, expect_error, log, sha256  # noqa: E402

MiB = 1024 * 1024


def read(s3, bucket, key, **kwargs):
    return s3.get_object(Bucket=bucket, Key=key, **kwargs)["Body"].read()


def main():
    prefix = "two-nodes-" + os.urandom(4).hex() + "/"
    with Blobseal(upstream_prefix=prefix) as a:
        keyring = os.path.join(a.data, "keyring.json")
        assert os.path.exists(keyring), f"node A created no keyring at {keyring}"
        with Blobseal(extra_args=["--keyring", keyring], upstream_prefix=prefix, access_key=a.access_key,
                      secret_key=a.secret_key) as b:
            s3a, s3b = a.client(), b.client()
            bucket = "shared-" + os.urandom(3).hex()

            log("a bucket created on A is there on B")
            s3a.create_bucket(Bucket=bucket)
            s3b.head_bucket(Bucket=bucket)
            names_a = sorted(x["Name"] for x in s3a.list_buckets()["Buckets"])
            names_b = sorted(x["Name"] for x in s3b.list_buckets()["Buckets"])
            assert names_a == names_b and bucket in names_a, f"ListBuckets differ: A {names_a}, B {names_b}"

            log("multipart: created on A, parts through A and B, listed by both, completed on B")
            key = "multi/object.bin"
            upload = s3a.create_multipart_upload(Bucket=bucket, Key=key, ContentType="application/x-test",
                                                 Metadata={"origin": "node-a"})["UploadId"]
            sizes = [5 * MiB, 5 * MiB + 1234, 777]
            data = [os.urandom(n) for n in sizes]
            parts = []
            for number, (body, node) in enumerate(zip(data, [s3a, s3b, s3a]), 1):
                etag = node.upload_part(Bucket=bucket, Key=key, UploadId=upload, PartNumber=number, Body=body)["ETag"]
                parts.append({"PartNumber": number, "ETag": etag})
            for name, node in (("A", s3a), ("B", s3b)):
                listed = node.list_parts(Bucket=bucket, Key=key, UploadId=upload)["Parts"]
                assert [(p["PartNumber"], p["ETag"], p["Size"]) for p in listed] == \
                    [(p["PartNumber"], p["ETag"], n) for p, n in zip(parts, sizes)], f"ListParts on {name}: {listed}"
                uploads = node.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
                assert [(u["Key"], u["UploadId"]) for u in uploads] == [(key, upload)], \
                    f"ListMultipartUploads on {name}: {uploads}"
            done = s3b.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload,
                                                 MultipartUpload={"Parts": parts})
            assert done["ETag"].strip('"').endswith("-3"), f"multipart ETag {done['ETag']}"
            whole = b"".join(data)
            got = s3a.get_object(Bucket=bucket, Key=key)
            body = got["Body"].read()
            assert sha256(body) == sha256(whole), "GET on A of the object completed on B: SHA-256 differs"
            assert got["ETag"] == done["ETag"] and got["ContentType"] == "application/x-test" and \
                got["Metadata"] == {"origin": "node-a"}, f"GET on A: {got['ETag']} {got['ContentType']} {got['Metadata']}"
            rng = random.Random(7)
            boundaries = [sizes[0], sizes[0] + sizes[1]]
            ranges = [(b - 10, b + 10) for b in boundaries] + [(0, 0), (len(whole) - 1, len(whole) - 1)]
            ranges += [tuple(sorted((rng.randrange(len(whole)), rng.randrange(len(whole))))) for _ in range(8)]
            for first, last in ranges:
                part = read(s3a, bucket, key, Range=f"bytes={first}-{last}")
                assert part == whole[first:last + 1], f"range {first}-{last} on A differs"
            expect_error(lambda: s3b.list_parts(Bucket=bucket, Key=key, UploadId=upload), 404, "NoSuchUpload",
                         "ListParts of the completed upload on B")

            log("PUT on one node, read on the other; overwrite on the other, read on the first")
            for i in range(5):
                k = f"small/{i}"
                first, second = os.urandom(100 + i * 1000), os.urandom(7 + i)
                s3a.put_object(Bucket=bucket, Key=k, Body=first)
                assert read(s3b, bucket, k) == first, f"{k}: B does not read what A wrote"
                s3b.put_object(Bucket=bucket, Key=k, Body=second)
                assert read(s3a, bucket, k) == second, f"{k}: A does not read B's overwrite"
            listed_a = [o["Key"] for o in s3a.list_objects_v2(Bucket=bucket)["Contents"]]
            listed_b = [o["Key"] for o in s3b.list_objects_v2(Bucket=bucket)["Contents"]]
            assert listed_a == listed_b == [key] + [f"small/{i}" for i in range(5)], f"listings: {listed_a} / {listed_b}"

            log("copy on A read on B; tags set on B read on A")
            s3a.copy_object(Bucket=bucket, Key="copy/of-multi", CopySource={"Bucket": bucket, "Key": key})
            assert sha256(read(s3b, bucket, "copy/of-multi")) == sha256(whole), "copy made on A differs on B"
            s3b.put_object_tagging(Bucket=bucket, Key="small/0",
                                   Tagging={"TagSet": [{"Key": "node", "Value": "b"}]})
            tags = s3a.get_object_tagging(Bucket=bucket, Key="small/0")["TagSet"]
            assert tags == [{"Key": "node", "Value": "b"}], f"tags on A: {tags}"

            log("delete through B: gone on A at once; an upload aborted on A is unknown to B")
            s3b.delete_object(Bucket=bucket, Key="small/1")
            expect_error(lambda: s3a.head_object(Bucket=bucket, Key="small/1"), 404, "404", "HEAD on A after delete on B")
            assert "small/1" not in [o["Key"] for o in s3a.list_objects_v2(Bucket=bucket)["Contents"]]
            pending = s3a.create_multipart_upload(Bucket=bucket, Key="pending")["UploadId"]
            s3b.upload_part(Bucket=bucket, Key="pending", UploadId=pending, PartNumber=1, Body=b"x" * 100)
            s3a.abort_multipart_upload(Bucket=bucket, Key="pending", UploadId=pending)
            expect_error(lambda: s3b.upload_part(Bucket=bucket, Key="pending", UploadId=pending, PartNumber=2,
                                                 Body=b"y"), 404, "NoSuchUpload", "UploadPart on B after abort on A")
            expect_error(lambda: s3a.head_object(Bucket=bucket, Key="pending"), 404, "404", "aborted upload's key")

            log("the bucket, emptied through A, is deleted through B and gone on A")
            expect_error(lambda: s3b.delete_bucket(Bucket=bucket), 409, "BucketNotEmpty", "DeleteBucket while not empty")
            for o in s3a.list_objects_v2(Bucket=bucket)["Contents"]:
                s3a.delete_object(Bucket=bucket, Key=o["Key"])
            s3b.delete_bucket(Bucket=bucket)
            expect_error(lambda: s3a.head_bucket(Bucket=bucket), 404, "404", "HeadBucket on A after delete on B")
            assert bucket not in [x["Name"] for x in s3a.list_buckets()["Buckets"]]

            leftovers = [f for root, _, files in os.walk(b.data) for f in files]
            assert set(leftovers) <= {"credentials.toml", "audit.log", "keyring.json"}, \
                f"node B keeps state of its own: {leftovers}"
    log("two nodes over one upstream: passed")


if __name__ == "__main__":
    main()
