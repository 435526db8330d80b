#!/usr/bin/env bash
# Runs a command against a freshly started upstream S3 service, then stops the service, whatever the command did.
# The command sees the variables start_<kind>.sh prints (BLOBSEAL_UPSTREAM_ENDPOINT, ..._ACCESS_KEY, ...) in its
# environment. Exits with the command's status (or 77, "skipped", when the upstream's packages are missing and
# BLOBSEAL_UPSTREAM_REQUIRED is not set).
#
# Usage: with_upstream.sh rgw|s3rver COMMAND [ARGS...]
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
KIND="${1:?usage: with_upstream.sh rgw|s3rver COMMAND [ARGS...]}"
shift
case "$KIND" in
  rgw) START="$HERE/start_rgw.sh"; STOP="$HERE/stop_rgw.sh" ;;
  s3rver) START="$HERE/start_s3rver.sh"; STOP="$HERE/stop_s3rver.sh" ;;
  *) echo "with_upstream: unknown upstream $KIND (rgw or s3rver)" >&2; exit 2 ;;
esac

ENV_FILE="$(mktemp "${TMPDIR:-/tmp}/blobseal-upstream-env.XXXXXX")"
"$START" > "$ENV_FILE"
status=$?
if (( status != 0 )); then
  rm -f "$ENV_FILE"
  if (( status == 2 )) && [[ -z "${BLOBSEAL_UPSTREAM_REQUIRED:-}" ]]; then
    echo "with_upstream: $KIND is not installed here: skipped" >&2
    exit 77
  fi
  echo "with_upstream: starting $KIND failed" >&2
  exit 1
fi
set -a
# shellcheck disable=SC1090
source "$ENV_FILE"
set +a
rm -f "$ENV_FILE"
STATE="$BLOBSEAL_UPSTREAM_STATE"
trap '"$STOP" "$STATE" >&2 || true' EXIT
trap 'exit 130' INT TERM

"$@"
