#!/usr/bin/env bash
# Stops the cluster start_rgw.sh started in STATE_DIR, in the order that shuts down quickly (radosgw, then the OSD,
# then the mon; all at once took minutes), each by the PID in its pid file, and removes STATE_DIR.
# Usage: stop_rgw.sh STATE_DIR [--keep-logs]
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/common.sh"

C="${1:?usage: stop_rgw.sh STATE_DIR [--keep-logs]}"
[[ -d "$C" && -f "$C/ceph.conf" ]] || { echo "stop_rgw: $C is not a state directory of start_rgw.sh" >&2; exit 2; }
stop_pid_file "$C/run/client.rgw.gw.pid" 30
for pidfile in "$C"/run/osd.*.pid; do
  [[ -e "$pidfile" ]] && stop_pid_file "$pidfile" 30
done
[[ -e "$C/run/mgr.x.pid" ]] && stop_pid_file "$C/run/mgr.x.pid" 30
stop_pid_file "$C/run/mon.a.pid" 30
if [[ "${2:-}" == "--keep-logs" ]]; then
  rm -rf "$C/mon" "$C/osd" "$C/rgw"
else
  rm -rf "$C"
fi
