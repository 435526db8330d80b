#!/usr/bin/python3
"""Key rotation without downtime, on the local keyring: the operator's runbook (docs/KEY_ROTATION.md) end to end.

1,000 objects are written through a running server. The key is rotated (`blobseal keys rotate`): the server picks
the new version up without a restart and new objects use it. `blobseal rewrap` then runs against the same store while
clients keep writing and reading; it is interrupted once (SIGINT, rate-limited so that it is mid-walk), leaves a
checkpoint, and a second run resumes from it and finishes. A dry run then finds nothing left to rewrap, the old
version is retired, and every object — the 1,000, and all those written during the rewrap — reads back byte for
byte through the server, which no longer accepts the old version: nothing needs it any more.

Usage: /usr/bin/python3 rotation_flow.py BLOBSEAL_BIN   (or BLOBSEAL_BIN in the environment)
"""
import concurrent.futures
import os
import json
import random
import signal
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from harness import Blobseal, blobseal_binary, log, sha256  # noqa: E402

OBJECTS = 1000


def cli(server, *args, check=True, **kwargs):
    command = [blobseal_binary(), "--keyring", os.path.join(server.data, "keyring.json"),
               "--store", os.path.join(server.data, "store"), *args]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL, **kwargs)
    if check:
        assert result.returncode == 0, f"{' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
    return result


def main():
    rng = random.Random(7)
    with Blobseal() as server:
        s3 = server.client(max_pool_connections=16)
        s3.create_bucket(Bucket="rot")
        expected = {}
        bodies = {f"obj/{i:04d}": rng.randbytes(rng.choice([0, 1, 100, 4096, 16384, 16385, 70000])) for i in range(OBJECTS)}

        def put(item):
            key, body = item
            s3.put_object(Bucket="rot", Key=key, Body=body)
        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            list(pool.map(put, bodies.items()))
        expected.update({k: sha256(v) for k, v in bodies.items()})
        log(f"{OBJECTS} objects written under key version 1")

        cli(server, "keys", "rotate")
        # The server reloads the keyring when it changes; a new object must be sealed under version 2.
        time.sleep(1.1)
        s3.put_object(Bucket="rot", Key="after-rotation", Body=b"v2")
        expected["after-rotation"] = sha256(b"v2")
        dry = json.loads(cli(server, "rewrap", "--dry-run", "--json").stdout)
        assert dry["to_rewrap"] == OBJECTS + 1, f"dry run before rewrap: {dry} (the objects and the index key)"

        # Traffic during the rewrap: writes of new objects and reads of old ones, from another thread.
        stop = threading.Event()
        errors = []
        written = {}

        def traffic():
            n = 0
            client = server.client()
            while not stop.is_set():
                try:
                    body = os.urandom(rng.choice([10, 5000, 20000]))
                    key = f"during/{n:05d}"
                    client.put_object(Bucket="rot", Key=key, Body=body)
                    written[key] = sha256(body)
                    probe = f"obj/{rng.randrange(OBJECTS):04d}"
                    got = client.get_object(Bucket="rot", Key=probe)["Body"].read()
                    if sha256(got) != expected[probe]:
                        errors.append(f"{probe}: content differs during the rewrap")
                    n += 1
                except Exception as exc:  # noqa: BLE001 - every failure is a finding here
                    errors.append(repr(exc))
        worker = threading.Thread(target=traffic)
        worker.start()
        try:
            checkpoint = os.path.join(server.work, "rewrap.checkpoint")
            audit = os.path.join(server.work, "rewrap.audit")
            first = subprocess.Popen(
                [blobseal_binary(), "--keyring", os.path.join(server.data, "keyring.json"), "--store",
                 os.path.join(server.data, "store"), "rewrap", "--rate", "200", "--batch", "100", "--concurrency", "4", "--checkpoint",
                 checkpoint, "--audit-log", audit],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
            deadline = time.time() + 60
            while not os.path.exists(checkpoint) and time.time() < deadline and first.poll() is None:
                time.sleep(0.05)
            if not os.path.exists(checkpoint):
                first.kill()
                out, err = first.communicate(timeout=30)
                assert False, f"the first rewrap wrote no checkpoint after its first page:\n{out}\n{err}"
            time.sleep(0.7)  # mid-walk: past the first batch, far from the last
            first.send_signal(signal.SIGINT)
            out, err = first.communicate(timeout=60)
            assert first.returncode == 130, f"interrupted rewrap exited {first.returncode}:\n{out}\n{err}"
            assert "resume" in err, err
            resumed_from = json.load(open(checkpoint))["after"]
            log(f"rewrap interrupted, checkpoint after {resumed_from!r}: {out.strip()}")

            second = json.loads(cli(server, "rewrap", "--concurrency", "4", "--checkpoint", checkpoint,
                                    "--audit-log", audit, "--json").stdout)
            assert second["complete"] and not second["failed"], second
            assert not os.path.exists(checkpoint), "a completed rewrap leaves no checkpoint"
            log(f"resumed rewrap finished: {second}")
        finally:
            time.sleep(0.5)
            stop.set()
            worker.join()
        assert not errors, f"{len(errors)} client errors during the rewrap, first: {errors[:3]}"
        expected.update(written)
        log(f"{len(written)} objects written and as many reads made during the rewrap, without an error")

        with open(audit) as f:
            events = [json.loads(line) for line in f]
        rewrapped = {(e["bucket"], e["key"]) for e in events if e["action"] == "Rewrap" and e["error_code"] is None}
        missing = [k for k in bodies if ("rot", k) not in rewrapped]
        assert not missing, f"{len(missing)} objects have no Rewrap audit record, e.g. {missing[:3]}"

        dry = json.loads(cli(server, "rewrap", "--dry-run", "--json").stdout)
        assert dry["to_rewrap"] == 0, f"objects left on version 1: {dry}"
        cli(server, "keys", "retire", "default", "1")
        time.sleep(1.1)

        def check(item):
            key, digest = item
            got = s3.get_object(Bucket="rot", Key=key)["Body"].read()
            assert sha256(got) == digest, f"{key}: content differs after retiring version 1"
        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            list(pool.map(check, expected.items()))
        listed = 0
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket="rot"):
            listed += len(page.get("Contents", []))
        assert listed == len(expected), f"listed {listed}, expected {len(expected)}"
        log(f"version 1 retired: all {len(expected)} objects read back byte for byte and list; nothing needs it")
    print("rotation flow: ok")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        os.environ["BLOBSEAL_BIN"] = sys.argv[1]
    main()
