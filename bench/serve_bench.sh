#!/usr/bin/env bash
# GET throughput of blobseal (sealed objects) against, in the same run on the same machine:
#   - nginx serving the same plaintext bytes from a file (the ceiling: no crypto at all),
#   - `rclone serve http` over an rclone `crypt` remote (the encrypted peer a user might pick instead).
# 1 GiB object: `curl -o /dev/null` RUNS times each, median throughput. 4 KiB object: wrk at 64 connections for
# WRK_SECONDS against a presigned URL (blobseal) and the plain file (nginx). Prints figures and ratios.
#
#   bench/serve_bench.sh [BLOBSEAL_BIN]      (default build/release/src/cli/blobseal)
# Env: BIG_MIB (1024), RUNS (5), WRK_SECONDS (10), WRK_CONNECTIONS (64); PERF_OUT=FILE records a `perf record -g`
# profile of the server during its 4 KiB run.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BIN="${1:-$ROOT/build/release/src/cli/blobseal}"
BIG_MIB="${BIG_MIB:-1024}"
RUNS="${RUNS:-5}"
WRK_SECONDS="${WRK_SECONDS:-10}"
WRK_CONNECTIONS="${WRK_CONNECTIONS:-64}"
PY=/usr/bin/python3

for tool in nginx rclone wrk curl; do
  command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install nginx-light rclone wrk curl" >&2; exit 1; }
done
[[ -x "$BIN" ]] || { echo "no blobseal binary at $BIN (build the release preset)" >&2; exit 1; }

WORK="$(mktemp -d /tmp/blobseal-bench.XXXXXX)"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

mkdir -p "$WORK/www" "$WORK/crypt"
head -c "$((BIG_MIB * 1024 * 1024))" /dev/urandom >"$WORK/www/big.bin"
head -c 4096 /dev/urandom >"$WORK/www/small.bin"
# nginx's workers run as an unprivileged user: let them read the files (mktemp made the directory 0700).
chmod 755 "$WORK" "$WORK/www"
chmod 644 "$WORK/www/big.bin" "$WORK/www/small.bin"

# --- blobseal
AK="bench$(openssl rand -hex 6)"
SK="$(openssl rand -hex 20)"
"$BIN" -q serve --listen 127.0.0.1:0 --data "$WORK/blobseal" --access-key "$AK" --secret-key "$SK" \
  --access-log off --audit-log off >"$WORK/blobseal.out" 2>"$WORK/blobseal.err" &
BS_PID=$!
PIDS+=($BS_PID)
for _ in $(seq 100); do grep -q "listening on" "$WORK/blobseal.out" 2>/dev/null && break; sleep 0.1; done
BS_URL="$(sed -n 's/.*listening on \(http[s]*:\/\/[^ ]*\).*/\1/p' "$WORK/blobseal.out")"
[[ -n "$BS_URL" ]] || { cat "$WORK/blobseal.err" >&2; exit 1; }

read -r BS_BIG BS_SMALL < <(AK="$AK" SK="$SK" URL="$BS_URL" WORK="$WORK" "$PY" - <<'EOF'
import os, boto3
from botocore.config import Config
s3 = boto3.client("s3", endpoint_url=os.environ["URL"], aws_access_key_id=os.environ["AK"],
                  aws_secret_access_key=os.environ["SK"], region_name="us-east-1",
                  config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"))
s3.create_bucket(Bucket="bench")
for name in ("big.bin", "small.bin"):
    with open(os.path.join(os.environ["WORK"], "www", name), "rb") as f:
        s3.put_object(Bucket="bench", Key=name, Body=f)
urls = [s3.generate_presigned_url("get_object", Params={"Bucket": "bench", "Key": k}, ExpiresIn=3600)
        for k in ("big.bin", "small.bin")]
print(*urls)
EOF
)

# --- nginx
NGINX_PORT="$(free_port)"
mkdir -p "$WORK/nginx"
cat >"$WORK/nginx/nginx.conf" <<EOF
worker_processes auto;
daemon off;
error_log $WORK/nginx/error.log;
pid $WORK/nginx/nginx.pid;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  keepalive_requests 1000000;
  client_body_temp_path $WORK/nginx;
  proxy_temp_path $WORK/nginx;
  fastcgi_temp_path $WORK/nginx;
  uwsgi_temp_path $WORK/nginx;
  scgi_temp_path $WORK/nginx;
  server { listen 127.0.0.1:$NGINX_PORT; root $WORK/www; }
}
EOF
nginx -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx" &
PIDS+=($!)

# --- rclone crypt
RCLONE_PORT="$(free_port)"
export RCLONE_CONFIG=/dev/null RCLONE_CONFIG_SEALED_TYPE=crypt RCLONE_CONFIG_SEALED_REMOTE="$WORK/crypt"
RCLONE_CONFIG_SEALED_PASSWORD="$(rclone obscure "$(openssl rand -hex 16)")"
export RCLONE_CONFIG_SEALED_PASSWORD
unset AWS_CA_BUNDLE
rclone copyto "$WORK/www/big.bin" sealed:big.bin
rclone serve http sealed: --addr "127.0.0.1:$RCLONE_PORT" >/dev/null 2>"$WORK/rclone.err" &
PIDS+=($!)
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$RCLONE_PORT/" && curl -s -o /dev/null "http://127.0.0.1:$NGINX_PORT/small.bin" && break; sleep 0.1; done

# Median of RUNS downloads, in MB/s (10^6 bytes per second).
median_speed() {
  local url="$1" speeds=()
  for _ in $(seq "$RUNS"); do
    speeds+=("$(curl -s -f -o /dev/null -w '%{speed_download}' "$url")") || { echo "GET $url failed" >&2; exit 1; }
  done
  printf '%s\n' "${speeds[@]}" | sort -n | awk '{a[NR]=$1} END {printf "%.1f", a[int((NR+1)/2)]/1e6}'
}
# Requests per second; a run with any non-2xx answer is refused (it would measure error pages).
wrk_rps() {
  local out
  out="$(wrk -t2 -c"$WRK_CONNECTIONS" -d"${WRK_SECONDS}s" "$1")"
  if grep -q "Non-2xx" <<<"$out"; then echo "wrk got non-2xx answers from $1:" >&2; echo "$out" >&2; exit 1; fi
  awk '/Requests\/sec/ {print $2}' <<<"$out"
}

echo "== GET of a ${BIG_MIB} MiB object, curl -o /dev/null, median of $RUNS (MB/s)"
bs="$(median_speed "$BS_BIG")"
ng="$(median_speed "http://127.0.0.1:$NGINX_PORT/big.bin")"
rc="$(median_speed "http://127.0.0.1:$RCLONE_PORT/big.bin")"
printf 'blobseal (sealed)        %8s MB/s\n' "$bs"
printf 'nginx (plaintext file)   %8s MB/s\n' "$ng"
printf 'rclone serve http crypt  %8s MB/s\n' "$rc"
awk -v b="$bs" -v n="$ng" -v r="$rc" 'BEGIN {printf "ratio blobseal/nginx = %.2f (target >= 0.70)\nratio blobseal/rclone-crypt = %.2f (target >= 2.0)\n", b/n, b/r}'

echo "== GET of a 4 KiB object, wrk -c$WRK_CONNECTIONS for ${WRK_SECONDS}s (requests/s)"
if [[ -n "${PERF_OUT:-}" ]]; then
  perf record -g -o "$PERF_OUT" -p "$BS_PID" -- sleep "$WRK_SECONDS" >/dev/null 2>&1 &
  PERF_PID=$!
fi
bsr="$(wrk_rps "$BS_SMALL")"
[[ -n "${PERF_OUT:-}" ]] && wait "$PERF_PID" || true
ngr="$(wrk_rps "http://127.0.0.1:$NGINX_PORT/small.bin")"
printf 'blobseal (presigned URL) %10s req/s\n' "$bsr"
printf 'nginx (plaintext file)   %10s req/s\n' "$ngr"
awk -v b="$bsr" -v n="$ngr" 'BEGIN {printf "ratio blobseal/nginx = %.2f (target >= 0.40)\n", b/n}'
