#!/usr/bin/env bash
# Stops the s3rver that start_s3rver.sh started in STATE_DIR (by its PID) and removes STATE_DIR.
# Usage: stop_s3rver.sh STATE_DIR [--keep]
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/common.sh"

C="${1:?usage: stop_s3rver.sh STATE_DIR [--keep]}"
[[ -d "$C" && -d "$C/data" ]] || { echo "stop_s3rver: $C is not a state directory of start_s3rver.sh" >&2; exit 2; }
stop_pid_file "$C/s3rver.pid" 10
rm -f "$C/s3rver.pid"
[[ "${2:-}" == "--keep" ]] || rm -rf "$C"
