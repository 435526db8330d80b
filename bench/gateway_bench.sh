#!/usr/bin/env bash
# Gateway mode: GET of a 256 MiB object through blobseal (decrypting what it streams from the upstream) against a GET
# of the same ciphertext (the object's body, b/<id>) directly from the upstream, in the same run: both figures and
# their ratio (target >= 0.8). Upstream: Ceph RGW (default) or s3rver, started for the run on loopback by
# tests/upstream/with_upstream.sh. Each GET is `curl -o /dev/null` of a presigned URL, RUNS times; medians.
#
#   bench/gateway_bench.sh [BLOBSEAL_BIN]      (default build/release/src/cli/blobseal)
# Env: UPSTREAM (rgw | s3rver), MIB (256), RUNS (5).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BIN="${1:-$ROOT/build/release/src/cli/blobseal}"
UPSTREAM="${UPSTREAM:-rgw}"
MIB="${MIB:-256}"
RUNS="${RUNS:-5}"
PY=/usr/bin/python3

if [[ -z "${BLOBSEAL_UPSTREAM_ENDPOINT:-}" ]]; then
  exec "$ROOT/tests/upstream/with_upstream.sh" "$UPSTREAM" "$0" "$BIN"
fi
[[ -x "$BIN" ]] || { echo "no blobseal binary at $BIN (build the release preset)" >&2; exit 1; }
unset AWS_CA_BUNDLE

WORK="$(mktemp -d /tmp/blobseal-gwbench.XXXXXX)"
SERVER_PID=""
cleanup() {
  [[ -n "$SERVER_PID" ]] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

AK="bench$(openssl rand -hex 6)"
SK="$(openssl rand -hex 20)"
PREFIX="bench-$(openssl rand -hex 4)/"
AWS_ACCESS_KEY_ID="$BLOBSEAL_UPSTREAM_ACCESS_KEY" AWS_SECRET_ACCESS_KEY="$BLOBSEAL_UPSTREAM_SECRET_KEY" \
  "$BIN" -q serve --listen 127.0.0.1:0 --data "$WORK/blobseal" --access-key "$AK" --secret-key "$SK" \
  --access-log off --audit-log off \
  --upstream "$BLOBSEAL_UPSTREAM_ENDPOINT/$BLOBSEAL_UPSTREAM_BUCKET/$PREFIX" >"$WORK/blobseal.out" 2>"$WORK/blobseal.err" &
SERVER_PID=$!
for _ in $(seq 150); do grep -q "listening on" "$WORK/blobseal.out" 2>/dev/null && break; sleep 0.1; done
BS_URL="$(sed -n 's/.*listening on \(http[s]*:\/\/[^ ]*\) .*/\1/p' "$WORK/blobseal.out")"
[[ -n "$BS_URL" ]] || { cat "$WORK/blobseal.err" >&2; exit 1; }

head -c "$((MIB * 1024 * 1024))" /dev/urandom >"$WORK/big.bin"
# Uploads through blobseal, then finds the body blobseal stored upstream (the only object under PREFIX/b/) and
# prints two presigned GET URLs: blobseal's, and the upstream's for that body.
read -r BS_GET UP_GET UP_SIZE < <(AK="$AK" SK="$SK" URL="$BS_URL" FILE="$WORK/big.bin" PREFIX="$PREFIX" "$PY" - <<'EOF'
import os, boto3
from botocore.config import Config
cfg = Config(s3={"addressing_style": "path"}, signature_version="s3v4")
bs = boto3.client("s3", endpoint_url=os.environ["URL"], aws_access_key_id=os.environ["AK"],
                  aws_secret_access_key=os.environ["SK"], region_name="us-east-1", config=cfg)
bs.create_bucket(Bucket="bench")
with open(os.environ["FILE"], "rb") as f:
    bs.put_object(Bucket="bench", Key="big.bin", Body=f)
up = boto3.client("s3", endpoint_url=os.environ["BLOBSEAL_UPSTREAM_ENDPOINT"],
                  aws_access_key_id=os.environ["BLOBSEAL_UPSTREAM_ACCESS_KEY"],
                  aws_secret_access_key=os.environ["BLOBSEAL_UPSTREAM_SECRET_KEY"],
                  region_name=os.environ.get("BLOBSEAL_UPSTREAM_REGION", "us-east-1"), config=cfg)
bucket = os.environ["BLOBSEAL_UPSTREAM_BUCKET"]
bodies = up.list_objects_v2(Bucket=bucket, Prefix=os.environ["PREFIX"] + "b/").get("Contents", [])
assert len(bodies) == 1, f"expected one body upstream, found {[b['Key'] for b in bodies]}"
print(bs.generate_presigned_url("get_object", Params={"Bucket": "bench", "Key": "big.bin"}, ExpiresIn=3600),
      up.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": bodies[0]["Key"]}, ExpiresIn=3600),
      bodies[0]["Size"])
EOF
)
rm -f "$WORK/big.bin"

# median_rate URL: median bytes/s over RUNS GETs (each checked for HTTP 200).
median_rate() {
  local url="$1" rates=() out code bytes seconds
  for _ in $(seq "$RUNS"); do
    out="$(curl -s -o /dev/null -w '%{http_code} %{size_download} %{time_total}' "$url")"
    read -r code bytes seconds <<<"$out"
    [[ "$code" == 200 ]] || { echo "GET answered $code" >&2; exit 1; }
    rates+=("$("$PY" -c "print($bytes / $seconds)")")
  done
  printf '%s\n' "${rates[@]}" | sort -g | sed -n "$(((RUNS + 1) / 2))p"
}

curl -s -o /dev/null "$UP_GET"  # warm both paths once
curl -s -o /dev/null "$BS_GET"
UP_RATE="$(median_rate "$UP_GET")"
BS_RATE="$(median_rate "$BS_GET")"
"$PY" - "$UP_RATE" "$BS_RATE" "$MIB" "$UP_SIZE" "$RUNS" "$BLOBSEAL_UPSTREAM_KIND" <<'EOF'
import sys
up, bs, mib, size, runs, kind = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5], sys.argv[6]
print(f"gateway GET, {mib} MiB object, upstream {kind}, median of {runs}:")
print(f"  upstream direct (ciphertext, {size} bytes): {up / 1e6:8.1f} MB/s")
print(f"  blobseal gateway (plaintext):              {bs / 1e6:8.1f} MB/s")
print(f"  ratio blobseal / upstream: {bs / up:.2f} (target >= 0.8)")
EOF
