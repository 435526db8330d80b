#!/usr/bin/env bash
# Starts a single-node Ceph cluster with the RADOS Gateway on 127.0.0.1 (../shared/RECIPES.md): one mon, one memstore
# OSD (data in RAM), radosgw with the Beast front end (HTTP and HTTPS; tcp_nodelay, without which every request on a
# reused connection waits 40 ms for a delayed ACK), no mgr. Ports are picked free at run time; state lives in a
# fresh temporary directory. Creates an S3 user with random keys and one bucket.
#
# Usage: start_rgw.sh [BUCKET]
# Prints, on stdout, lines in env-file form:
#   BLOBSEAL_UPSTREAM_KIND=rgw
#   BLOBSEAL_UPSTREAM_ENDPOINT=http://127.0.0.1:PORT
#   BLOBSEAL_UPSTREAM_TLS_ENDPOINT=https://127.0.0.1:PORT  BLOBSEAL_UPSTREAM_CA_FILE=<the test CA that signed it>
#   BLOBSEAL_UPSTREAM_BUCKET=…  BLOBSEAL_UPSTREAM_REGION=us-east-1
#   BLOBSEAL_UPSTREAM_ACCESS_KEY=…  BLOBSEAL_UPSTREAM_SECRET_KEY=…  (and the same as AWS_ACCESS_KEY_ID/…)
#   BLOBSEAL_UPSTREAM_STATE=<state directory>   (pass it to stop_rgw.sh)
# Progress and errors go to stderr. On failure everything started is stopped and the state directory removed.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/common.sh"

BUCKET="${1:-blobseal-test}"
for tool in ceph-mon ceph-osd radosgw radosgw-admin ceph ceph-authtool monmaptool uuidgen curl openssl; do
  command -v "$tool" >/dev/null || { echo "start_rgw: $tool is missing (packages: ceph-mon ceph-osd radosgw ceph-common uuid-runtime curl)" >&2; exit 2; }
done

C="$(mktemp -d "${TMPDIR:-/tmp}/blobseal-rgw.XXXXXX")"
export CEPH_CONF="$C/ceph.conf"
started=0
cleanup_on_failure() {
  local status=$?
  if (( status != 0 )); then
    echo "start_rgw: failed (status $status); logs in $C/log (kept), stopping what was started" >&2
    "$HERE/stop_rgw.sh" "$C" --keep-logs >&2 || true
  fi
}
trap cleanup_on_failure EXIT

mkdir -p "$C/run" "$C/log" "$C/mon" "$C/osd" "$C/rgw"
FSID="$(uuidgen)"
MON_V2="$(free_port)"
MON_V1="$(free_port)"
while [[ "$MON_V1" == "$MON_V2" ]]; do MON_V1="$(free_port)"; done
MS_BASE="$(free_port_range 30)"
RGW_PORT="$(free_port)"
RGW_TLS_PORT="$(free_port)"
while [[ "$RGW_TLS_PORT" == "$RGW_PORT" ]]; do RGW_TLS_PORT="$(free_port)"; done

# HTTPS too, with a test CA, for the clients' TLS verification (ca_file) tests.
mkdir -p "$C/tls"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=blobseal test CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -keyout "$C/tls/ca.key" -out "$C/tls/ca.crt" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout "$C/tls/server.key" -out "$C/tls/server.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n' > "$C/tls/ext.cnf"
openssl x509 -req -in "$C/tls/server.csr" -CA "$C/tls/ca.crt" -CAkey "$C/tls/ca.key" -CAcreateserial -days 2 \
  -extfile "$C/tls/ext.cnf" -out "$C/tls/server.crt" 2>/dev/null

cat > "$CEPH_CONF" <<CONF
[global]
fsid = $FSID
mon_initial_members = a
mon_host = [v2:127.0.0.1:$MON_V2,v1:127.0.0.1:$MON_V1]
public_network = 127.0.0.0/8
auth_cluster_required = none
auth_service_required = none
auth_client_required = none
ms_mon_client_mode = crc
ms_bind_port_min = $MS_BASE
ms_bind_port_max = $((MS_BASE + 29))
run_dir = $C/run
admin_socket = $C/run/\$name.asok
log_file = $C/log/\$name.log
pid_file = $C/run/\$name.pid
keyring = $C/keyring
mon_data = $C/mon/\$cluster-\$id
osd_data = $C/osd/\$cluster-\$id
mgr_data = $C/mgr/\$cluster-\$id
osd_objectstore = memstore
memstore_device_bytes = 1073741824
osd_pool_default_size = 1
osd_pool_default_min_size = 1
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
osd_pool_default_pg_autoscale_mode = off
osd_crush_chooseleaf_type = 0
mon_allow_pool_size_one = true
mon_warn_on_pool_no_redundancy = false
osd_memory_target = 939524096
paxos_propose_interval = 0.1
mon_max_pg_per_osd = 1000
[client.rgw.gw]
rgw_frontends = beast endpoint=127.0.0.1:$RGW_PORT ssl_endpoint=127.0.0.1:$RGW_TLS_PORT ssl_certificate=$C/tls/server.crt ssl_private_key=$C/tls/server.key tcp_nodelay=1
rgw_data = $C/rgw
CONF

t0=$SECONDS
ceph-authtool --create-keyring "$C/keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
ceph-authtool "$C/keyring" --gen-key -n client.admin --cap mon 'allow *' --cap osd 'allow *' --cap mgr 'allow *' >/dev/null
monmaptool --create --fsid "$FSID" --addv a "[v2:127.0.0.1:$MON_V2,v1:127.0.0.1:$MON_V1]" "$C/monmap" >/dev/null
ceph-mon --mkfs -i a --monmap "$C/monmap" --keyring "$C/keyring"
ceph-mon -i a
started=1
echo "start_rgw: mon up on $MON_V2/$MON_V1, state in $C" >&2

UUID="$(uuidgen)"
ID="$(timeout 60 ceph osd new "$UUID")"
mkdir -p "$C/osd/ceph-$ID"
ceph-osd -i "$ID" --mkfs --osd-uuid "$UUID" 2>>"$C/log/osd-mkfs.log"
ceph-osd -i "$ID"
for ((i = 0; i < 300; i++)); do
  if timeout 10 ceph osd stat 2>/dev/null | grep -q '1 up'; then break; fi
  sleep 0.2
done
timeout 10 ceph osd stat | grep -q '1 up' || { echo "start_rgw: the OSD did not come up" >&2; exit 1; }
echo "start_rgw: osd.$ID up after $((SECONDS - t0)) s" >&2

radosgw -n client.rgw.gw
wait_for_http "http://127.0.0.1:$RGW_PORT/" 120 || { echo "start_rgw: radosgw did not answer" >&2; exit 1; }
echo "start_rgw: radosgw answering on $RGW_PORT after $((SECONDS - t0)) s" >&2

ACCESS_KEY="$(random_access_key)"
SECRET_KEY="$(random_secret_key)"
timeout 60 radosgw-admin user create --uid=blobseal-ci --display-name=blobseal-ci \
  --access-key="$ACCESS_KEY" --secret-key="$SECRET_KEY" >/dev/null
# The first bucket creation can race RGW's pool creation: retry for a while.
for ((i = 0; i < 100; i++)); do
  status="$(curl -s -o "$C/log/create-bucket.out" -w '%{http_code}' --max-time 20 --aws-sigv4 "aws:amz:us-east-1:s3" \
    --user "$ACCESS_KEY:$SECRET_KEY" -H "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" -X PUT "http://127.0.0.1:$RGW_PORT/$BUCKET" || true)"
  [[ "$status" == 200 || "$status" == 409 ]] && break
  sleep 0.3
done
[[ "$status" == 200 || "$status" == 409 ]] || { echo "start_rgw: creating bucket $BUCKET failed: HTTP $status" >&2; exit 1; }
echo "start_rgw: ready after $((SECONDS - t0)) s" >&2

cat <<ENV
BLOBSEAL_UPSTREAM_KIND=rgw
BLOBSEAL_UPSTREAM_ENDPOINT=http://127.0.0.1:$RGW_PORT
BLOBSEAL_UPSTREAM_TLS_ENDPOINT=https://127.0.0.1:$RGW_TLS_PORT
BLOBSEAL_UPSTREAM_CA_FILE=$C/tls/ca.crt
BLOBSEAL_UPSTREAM_BUCKET=$BUCKET
BLOBSEAL_UPSTREAM_REGION=us-east-1
BLOBSEAL_UPSTREAM_ACCESS_KEY=$ACCESS_KEY
BLOBSEAL_UPSTREAM_SECRET_KEY=$SECRET_KEY
AWS_ACCESS_KEY_ID=$ACCESS_KEY
AWS_SECRET_ACCESS_KEY=$SECRET_KEY
BLOBSEAL_UPSTREAM_STATE=$C
ENV
