#!/usr/bin/env bash
# Starts s3rver (npm, version 3.7.1) on 127.0.0.1 at a port picked free at run time, with one bucket, data in a fresh
# temporary directory. s3rver is a fake (../shared/RECIPES.md lists how it differs from S3): the fast inner loop, never
# the only upstream a claim rests on. Installs s3rver into $BLOBSEAL_TEST_TOOLS (default: <repo>/build/test-tools)
# with npm when it is not there yet.
#
# Usage: start_s3rver.sh [BUCKET]
# Prints env-file lines on stdout (the same names as start_rgw.sh; s3rver's fixed credentials are S3RVER/S3RVER);
# BLOBSEAL_UPSTREAM_STATE is the directory to pass to stop_s3rver.sh.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/common.sh"

BUCKET="${1:-blobseal-test}"
TOOLS="${BLOBSEAL_TEST_TOOLS:-$(cd "$HERE/../.." && pwd)/build/test-tools}"
S3RVER="$TOOLS/node_modules/s3rver/bin/s3rver.js"
command -v node >/dev/null && command -v npm >/dev/null || { echo "start_s3rver: node and npm are needed (packages: nodejs npm)" >&2; exit 2; }
if [[ ! -f "$S3RVER" ]]; then
  mkdir -p "$TOOLS"
  echo "start_s3rver: installing s3rver@3.7.1 into $TOOLS" >&2
  (cd "$TOOLS" && npm install --no-audit --no-fund --loglevel=error s3rver@3.7.1 >&2)
fi

C="$(mktemp -d "${TMPDIR:-/tmp}/blobseal-s3rver.XXXXXX")"
mkdir -p "$C/data"
trap 'status=$?; if (( status != 0 )); then "$HERE/stop_s3rver.sh" "$C" >&2 || true; fi' EXIT

for attempt in 1 2 3; do
  PORT="$(free_port)"
  # s3rver makes continuation tokens with DES, which OpenSSL 3 (Node >= 17) keeps in its legacy provider.
  node --openssl-legacy-provider "$S3RVER" -d "$C/data" -a 127.0.0.1 -p "$PORT" --no-vhost-buckets --configure-bucket "$BUCKET" \
    >"$C/s3rver.log" 2>&1 &
  echo $! > "$C/s3rver.pid"
  if wait_for_http "http://127.0.0.1:$PORT/" 20; then break; fi
  "$HERE/stop_s3rver.sh" "$C" --keep >&2 || true
  PORT=""
done
[[ -n "$PORT" ]] || { echo "start_s3rver: s3rver did not start; log:" >&2; cat "$C/s3rver.log" >&2; exit 1; }
echo "start_s3rver: listening on $PORT, state in $C" >&2

cat <<ENV
BLOBSEAL_UPSTREAM_KIND=s3rver
BLOBSEAL_UPSTREAM_ENDPOINT=http://127.0.0.1:$PORT
BLOBSEAL_UPSTREAM_BUCKET=$BUCKET
BLOBSEAL_UPSTREAM_REGION=us-east-1
BLOBSEAL_UPSTREAM_ACCESS_KEY=S3RVER
BLOBSEAL_UPSTREAM_SECRET_KEY=S3RVER
AWS_ACCESS_KEY_ID=S3RVER
AWS_SECRET_ACCESS_KEY=S3RVER
BLOBSEAL_UPSTREAM_STATE=$C
BLOBSEAL_UPSTREAM_DATA_DIR=$C/data
ENV
