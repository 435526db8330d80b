# Shared by the upstream start/stop scripts. Sourced, not executed.
set -euo pipefail

# Prints one free TCP port on 127.0.0.1 (bound and released: another process could take it before we do, which the
# callers detect when their server fails to start).
free_port() {
  /usr/bin/python3 - <<'PY'
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
PY
}

# Prints the first port of `count` consecutive free ports on 127.0.0.1, chosen at random in 20000..59999.
free_port_range() {
  /usr/bin/python3 - "$1" <<'PY'
import random, socket, sys
count = int(sys.argv[1])
for _ in range(200):
    base = random.randrange(20000, 60000 - count)
    ok = True
    for port in range(base, base + count):
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            ok = False
        finally:
            s.close()
        if not ok:
            break
    if ok:
        print(base)
        sys.exit(0)
sys.exit("no free port range")
PY
}

# Waits until `url` answers an HTTP request (any status), up to `seconds`.
wait_for_http() {
  local url="$1" seconds="$2" waited=0
  until curl -s -o /dev/null --max-time 2 "$url"; do
    sleep 0.2
    waited=$((waited + 1))
    if (( waited > seconds * 5 )); then
      return 1
    fi
  done
}

# Sends SIGTERM to a PID read from `pidfile`, waits up to `seconds` for it to exit, then SIGKILLs it.
stop_pid_file() {
  local pidfile="$1" seconds="${2:-30}" pid
  [[ -f "$pidfile" ]] || return 0
  pid="$(cat "$pidfile")"
  [[ -n "$pid" ]] || return 0
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < seconds * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
}

# Random credentials: 20 upper-case alphanumerics and 40 base64-ish characters, as AWS issues them.
random_access_key() { head -c 200 /dev/urandom | tr -dc 'A-Z0-9' | head -c 20; }
random_secret_key() { head -c 300 /dev/urandom | tr -dc 'A-Za-z0-9' | head -c 40; }
