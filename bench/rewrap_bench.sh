#!/usr/bin/env bash
# Throughput of `blobseal rewrap` (objects per second) on OBJECTS objects in a local store, after a key rotation,
# against a baseline measured in the same run on the same store: `blobseal verify`, which also unwraps every data key
# and opens every object (rewrap rewrites envelopes only; verify reads every chunk).
#
#   bench/rewrap_bench.sh [BLOBSEAL_BIN]      (default build/release/src/cli/blobseal)
# Env: OBJECTS (10000), SIZE (bytes per object, 1024), CONCURRENCY (4), FILL_JOBS (2).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BIN="${1:-$ROOT/build/release/src/cli/blobseal}"
OBJECTS="${OBJECTS:-10000}"
SIZE="${SIZE:-1024}"
CONCURRENCY="${CONCURRENCY:-4}"
FILL_JOBS="${FILL_JOBS:-2}"
[[ -x "$BIN" ]] || { echo "no blobseal binary at $BIN (build the release preset)" >&2; exit 1; }

WORK="$(mktemp -d /tmp/blobseal-rewrap-bench.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
export BLOBSEAL_KEYRING="$WORK/keyring.json" BLOBSEAL_STORE="$WORK/store"
"$BIN" -q keys init
head -c "$SIZE" /dev/urandom >"$WORK/body"

echo "== filling the store with $OBJECTS objects of $SIZE bytes ($FILL_JOBS writers)"
seq -f 'obj/%06g' 1 "$OBJECTS" | xargs -P "$FILL_JOBS" -I{} "$BIN" -q put {} "$WORK/body"
"$BIN" -q keys rotate

now() { date +%s.%N; }
start=$(now)
"$BIN" -q verify >/dev/null
verify_s=$(awk -v a="$start" -v b="$(now)" 'BEGIN {print b - a}')

start=$(now)
"$BIN" -q rewrap --concurrency "$CONCURRENCY" --json >"$WORK/rewrap.json"
rewrap_s=$(awk -v a="$start" -v b="$(now)" 'BEGIN {print b - a}')
rewrapped=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["rewrapped"])' "$WORK/rewrap.json")
[[ "$rewrapped" -ge "$OBJECTS" ]] || { echo "rewrap moved only $rewrapped of $OBJECTS objects" >&2; exit 1; }

echo "== $OBJECTS objects, key rotated once"
awk -v n="$OBJECTS" -v v="$verify_s" -v r="$rewrap_s" -v c="$CONCURRENCY" 'BEGIN {
  printf "verify (baseline: unwrap + open every object)  %8.0f objects/s (%.1f s)\n", n / v, v
  printf "rewrap --concurrency %d (envelopes only)        %8.0f objects/s (%.1f s)\n", c, n / r, r
  printf "ratio rewrap/verify = %.2f\n", v / r
}'
