# Shared by the bash integration flows. Sourced, not executed:
#   source "$(dirname "$0")/lib/harness.sh"
#   start_blobseal            # sets ENDPOINT, PORT, DATA, AUDIT_LOG, ACCESS_LOG, AK, SK, WORK
#
# The blobseal binary comes from the first argument of the flow or from BLOBSEAL_BIN. Every run gets its own temp
# directory (removed on exit), its own free port (the server binds port 0 and prints the one it got) and a random
# access key and secret. The server is stopped by PID in the EXIT trap.
set -euo pipefail

HARNESS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BLOBSEAL_BIN="${1:-${BLOBSEAL_BIN:-}}"
FLOW_NAME="$(basename "$0")"

# The machine points the AWS SDKs at a CA bundle; nothing here uses TLS, and rclone 1.60 refuses to start with it.
unset AWS_CA_BUNDLE AWS_PROFILE AWS_DEFAULT_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL

log() { printf '[%s %(%H:%M:%S)T] %s\n' "$FLOW_NAME" -1 "$*" >&2; }
fail() {
  printf '[%s] FAIL: %s\n' "$FLOW_NAME" "$*" >&2
  exit 1
}

[[ -n "$BLOBSEAL_BIN" ]] || fail "no blobseal binary: pass its path as the first argument or set BLOBSEAL_BIN"
[[ -x "$BLOBSEAL_BIN" ]] || fail "blobseal binary $BLOBSEAL_BIN is not executable"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/blobseal-it.XXXXXX")"
SERVER_PID=""
SERVER_EXIT=0
ENDPOINT=""
PORT=""
DATA="$WORK/data"
AUDIT_LOG="$WORK/logs/audit.log"
ACCESS_LOG="$WORK/logs/access.log"
SERVER_OUT="$WORK/logs/server.out"
SERVER_ERR="$WORK/logs/server.err"
mkdir -p "$WORK/logs" "$WORK/files"

random_hex() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'; }
# BLOBSEAL_TEST_ACCESS_KEY / BLOBSEAL_TEST_SECRET_KEY fix them (to replay a failure by hand).
AK="${BLOBSEAL_TEST_ACCESS_KEY:-AK$(random_hex 9 | tr 'a-f' 'A-F')}"
SK="${BLOBSEAL_TEST_SECRET_KEY:-$(random_hex 20)}"

stop_blobseal() {
  if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    local i
    for i in $(seq 1 150); do
      kill -0 "$SERVER_PID" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$SERVER_PID" 2>/dev/null; then
      log "server $SERVER_PID did not stop within 15 s of SIGTERM (shutdown grace 5 s); killing it"
      kill -KILL "$SERVER_PID" 2>/dev/null || true
      SERVER_EXIT=killed
    fi
    local code=0
    wait "$SERVER_PID" 2>/dev/null || code=$?
    [[ "$SERVER_EXIT" == killed ]] || SERVER_EXIT=$code
  fi
  SERVER_PID=""
}

harness_exit() {
  local status=$?
  stop_blobseal
  if [[ $status -eq 0 && "$SERVER_EXIT" != 0 ]]; then
    printf '[%s] FAIL: blobseal serve did not exit cleanly on SIGTERM (%s)\n' "$FLOW_NAME" "$SERVER_EXIT" >&2
    status=1
  fi
  if [[ $status -ne 0 ]]; then
    printf '[%s] failed (exit %d); last server stderr lines:\n' "$FLOW_NAME" "$status" >&2
    tail -n 20 "$SERVER_ERR" 2>/dev/null | sed 's/^/  | /' >&2 || true
  fi
  if [[ "${BLOBSEAL_KEEP_WORK:-0}" == 1 ]]; then
    echo "[$FLOW_NAME] work directory kept: $WORK" >&2
  else
    chmod -R u+rwX "$WORK" 2>/dev/null || true
    rm -rf "$WORK"
  fi
  exit $status
}
trap harness_exit EXIT
trap 'exit 130' INT TERM HUP

# Gateway mode: with BLOBSEAL_IT_GATEWAY=1 and an upstream started by tests/upstream/with_upstream.sh, the server keeps
# its objects in the upstream bucket, under a prefix of its own, instead of the local store; the flows run unchanged.
gateway_args=()
gateway_env=()
if [[ "${BLOBSEAL_IT_GATEWAY:-0}" == 1 ]]; then
  [[ -n "${BLOBSEAL_UPSTREAM_ENDPOINT:-}" ]] || fail "BLOBSEAL_IT_GATEWAY=1 needs an upstream (tests/upstream/with_upstream.sh)"
  gateway_args=(--upstream "$BLOBSEAL_UPSTREAM_ENDPOINT/$BLOBSEAL_UPSTREAM_BUCKET/it-$(random_hex 4)/")
  # BLOBSEAL_IT_BUCKET_TEMPLATE: one upstream bucket per blobseal bucket, named by this template.
  if [[ -n "${BLOBSEAL_IT_BUCKET_TEMPLATE:-}" ]]; then
    gateway_args+=(--upstream-bucket-template "$BLOBSEAL_IT_BUCKET_TEMPLATE")
  fi
  gateway_env=(AWS_ACCESS_KEY_ID="$BLOBSEAL_UPSTREAM_ACCESS_KEY" AWS_SECRET_ACCESS_KEY="$BLOBSEAL_UPSTREAM_SECRET_KEY"
               AWS_REGION="$BLOBSEAL_UPSTREAM_REGION")
fi

# start_blobseal [extra serve flags...]
start_blobseal() {
  env "${gateway_env[@]}" "$BLOBSEAL_BIN" serve --listen 127.0.0.1:0 --data "$DATA" --access-key "$AK" --secret-key "$SK" \
    --region us-east-1 --audit-log "$AUDIT_LOG" --access-log "$ACCESS_LOG" --shutdown-grace 5 "${gateway_args[@]}" "$@" \
    >"$SERVER_OUT" 2>"$SERVER_ERR" &
  SERVER_PID=$!
  local i line=""
  for i in $(seq 1 300); do
    line="$(grep -m1 -E '^blobseal: listening on http://' "$SERVER_OUT" 2>/dev/null || true)"
    [[ -n "$line" ]] && break
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$SERVER_ERR" >&2; fail "blobseal serve exited before listening"; }
    sleep 0.1
  done
  [[ -n "$line" ]] || fail "blobseal serve printed no 'listening on' line within 30 s"
  PORT="$(sed -E 's#^blobseal: listening on http://[^ ]*:([0-9]+).*#\1#' <<<"$line")"
  [[ "$PORT" =~ ^[0-9]+$ ]] || fail "cannot parse the port from: $line"
  ENDPOINT="http://127.0.0.1:$PORT"
  export ENDPOINT PORT DATA AK SK
  log "blobseal serve (pid $SERVER_PID) at $ENDPOINT, data $DATA${gateway_args[1]:+, upstream ${gateway_args[1]}}"
}

# make_file PATH BYTES: random content.
make_file() {
  if [[ "$2" -eq 0 ]]; then
    : >"$1"
  else
    head -c "$2" /dev/urandom >"$1"
  fi
}

sha() { sha256sum "$1" | cut -d' ' -f1; }

# same_content EXPECTED ACTUAL WHAT
same_content() {
  local a b
  a="$(sha "$1")"
  b="$(sha "$2")"
  [[ "$a" == "$b" ]] || fail "$3: SHA-256 differs ($1: $a, $2: $b; sizes $(stat -c%s "$1") vs $(stat -c%s "$2"))"
}

# expect_eq ACTUAL EXPECTED WHAT
expect_eq() {
  [[ "$1" == "$2" ]] || fail "$3: expected [$2], got [$1]"
}

# expect_contains HAYSTACK NEEDLE WHAT
expect_contains() {
  [[ "$1" == *"$2"* ]] || fail "$3: expected output to contain [$2], got: $1"
}

# A lowercase, valid, unique-ish bucket name.
bucket_name() { printf '%s-%s' "$1" "$(random_hex 4)"; }

# The awscli environment: credentials from the environment, path-style addressing in a temp config file.
setup_awscli() {
  mkdir -p "$WORK/aws"
  printf '[default]\nregion = us-east-1\ns3 =\n  addressing_style = path\n' >"$WORK/aws/config"
  export AWS_CONFIG_FILE="$WORK/aws/config" AWS_SHARED_CREDENTIALS_FILE=/dev/null
  export AWS_ACCESS_KEY_ID="$AK" AWS_SECRET_ACCESS_KEY="$SK" AWS_DEFAULT_REGION=us-east-1
  export AWS_PAGER="" AWS_CLI_AUTO_PROMPT=off
}
aws_() { /usr/bin/aws --endpoint-url "$ENDPOINT" "$@"; }

# curl_status URL [curl args...]: prints the HTTP status, body to $WORK/curl.body, headers to $WORK/curl.headers.
curl_status() {
  local url="$1"
  shift
  curl -sS -o "$WORK/curl.body" -D "$WORK/curl.headers" -w '%{http_code}' "$@" "$url"
}

# slice FILE OFFSET LENGTH: writes LENGTH bytes of FILE from OFFSET to stdout (no SIGPIPE games under pipefail).
slice() { dd if="$1" bs=1M iflag=skip_bytes,count_bytes skip="$2" count="$3" status=none; }

# multipart_etag PART_FILE...: S3's multipart ETag, hex MD5 of the concatenated binary MD5s of the parts, then -N.
multipart_etag() {
  /usr/bin/python3 - "$@" <<'PY'
import hashlib, sys
digests = b"".join(hashlib.md5(open(p, "rb").read()).digest() for p in sys.argv[1:])
print(f"{hashlib.md5(digests).hexdigest()}-{len(sys.argv) - 1}")
PY
}

# jv EXPR < JSON: evaluates a Python expression over the parsed JSON `d` (no jq needed: it is not among the test
# packages); strings print raw, anything else as compact JSON. The environment is reachable as `env`.
jv() {
  /usr/bin/python3 -c '
import json, os, sys
d = json.loads(sys.stdin.read() or "{}")
v = eval(sys.argv[1], {"d": d, "env": os.environ})
print(v if isinstance(v, str) else json.dumps(v, separators=(",", ":")))' "$1"
}
