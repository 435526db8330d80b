#!/usr/bin/python3
"""blobseal serve with an HSM as its key manager (--kms pkcs11), end to end, on a real SoftHSM2 token.

A fresh token is made in a temporary directory (SOFTHSM2_CONF points at it). The server wraps every object's data key
in the token (AES-256 key, never extractable) and clients use it unchanged: boto3 writes and reads objects of 0 B,
4 KiB (answered inline) and 5 MiB, ranges included, and /ready reports the key manager healthy. A restart finds the
same key in the token and reads everything back. A wrong PIN stops the server before it listens, with a message that
names the problem and not the PIN.

Usage: /usr/bin/python3 kms_pkcs11_flow.py BLOBSEAL_BIN   (or BLOBSEAL_BIN in the environment)
"""
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from harness import Blobseal, blobseal_binary, log, sha256  # noqa: E402
from softhsm_token import SoftHsmToken  # noqa: E402

PIN = "31415926"
WRONG_PIN = "27182818"


def main():
    with SoftHsmToken(label="blobseal-it", pin=PIN) as token:
        kms_args = token.kms_args
        os.environ["BLOBSEAL_IT_HSM_WRONG_PIN"] = WRONG_PIN

        bodies = {"empty": b"", "small": os.urandom(4096), "large": os.urandom(5 * 1024 * 1024)}
        keyring_dir = tempfile.mkdtemp(prefix="blobseal-it-hsm-data.")
        with Blobseal(extra_args=kms_args()) as server:
            s3 = server.client()
            s3.create_bucket(Bucket="hsm")
            for name, body in bodies.items():
                s3.put_object(Bucket="hsm", Key=name, Body=body)
            for name, body in bodies.items():
                got = s3.get_object(Bucket="hsm", Key=name)["Body"].read()
                assert sha256(got) == sha256(body), f"{name}: content differs"
            part = s3.get_object(Bucket="hsm", Key="small", Range="bytes=100-1099")["Body"].read()
            assert part == bodies["small"][100:1100], "range of the small object differs"
            part = s3.get_object(Bucket="hsm", Key="large", Range="bytes=16000-5000000")["Body"].read()
            assert part == bodies["large"][16000:5000001], "range of the large object differs"
            with urllib.request.urlopen(f"{server.endpoint}/ready", timeout=10) as ready:
                assert ready.status == 200, f"/ready answered {ready.status}"
            with urllib.request.urlopen(f"{server.endpoint}/metrics", timeout=10) as response:
                metrics = response.read().decode()
            for operation, least in (("generate_data_key", 3), ("unwrap", 5)):
                series = f'kms_calls_total{{operation="{operation}",provider="pkcs11",status="ok"}}'
                values = [float(line.split()[-1]) for line in metrics.splitlines() if line.startswith(series)]
                assert values and values[0] >= least, f"{series}: {values}, expected at least {least}"
            assert "kms_call_duration_seconds_bucket" in metrics, "no kms latency histogram"
            log("objects written and read through the HSM key manager; /ready is 200; kms_calls_total counts them")
            data_dir = server.data
            # Keep the store for the restart below (the harness removes its work directory on exit).
            shutil.copytree(data_dir, os.path.join(keyring_dir, "data"))

        # A restart on the same store and token reads everything back: the key is the token's, not the process's.
        restarted = Blobseal(extra_args=kms_args())
        shutil.copytree(os.path.join(keyring_dir, "data"), restarted.data)
        with restarted as server:
            s3 = server.client()
            for name, body in bodies.items():
                got = s3.get_object(Bucket="hsm", Key=name)["Body"].read()
                assert sha256(got) == sha256(body), f"{name}: content differs after the restart"
            log("after a restart, every object reads back from the same token key")

        # A wrong PIN: the server refuses to start, says why, and never prints the PIN.
        result = subprocess.run(
            [blobseal_binary(), "serve", "--listen", "127.0.0.1:0", "--data", os.path.join(keyring_dir, "data"),
             "--access-key", "AKWRONGPIN0000", "--secret-key", "wrongpinsecret0000000000",
             *kms_args(pin_env="BLOBSEAL_IT_HSM_WRONG_PIN")],
            capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
        output = (result.stdout + result.stderr).decode(errors="replace")
        assert result.returncode != 0, f"the server started with a wrong PIN:\n{output}"
        assert "listening on" not in output, output
        assert "PIN is incorrect" in output, f"no clear message for a wrong PIN:\n{output}"
        assert WRONG_PIN not in output and PIN not in output, "a PIN appeared in the server's output"
        log("a wrong PIN stops the server before it listens, with a clear message and no PIN in it")
        shutil.rmtree(keyring_dir, ignore_errors=True)
    print("kms pkcs11 flow: ok")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        os.environ["BLOBSEAL_BIN"] = sys.argv[1]
    main()
