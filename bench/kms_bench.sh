#!/usr/bin/env bash
# Latency of one generate_data_key + unwrap per key manager provider (local keyring, PKCS#11 on SoftHSM2, KMIP on a
# real PyKMIP server, Vault Transit and AWS KMS against their emulators, which are test doubles), against raw OpenSSL
# AES-256-GCM measured in the same run: builds bench/kms_bench if needed and runs it. It starts every peer itself
# (temporary directories, free ports on 127.0.0.1) and stops them by PID.
#
#   bench/kms_bench.sh [kms_bench options]   e.g. --seconds=2 --rounds=3 --threads=8 --providers=local,pkcs11
# Env: BUILD_DIR (build/release; configured as the release preset when it has no build.ninja), NICE (19).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build/release}"
NICE="${NICE:-19}"

if [[ ! -f "$BUILD_DIR/build.ninja" ]]; then
  nice -n 19 cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
# kms_bench exists only with the tests configured (it links their harness).
nice -n 19 ninja -C "$BUILD_DIR" kms_bench >/dev/null || {
  echo "building kms_bench in $BUILD_DIR failed (it needs BLOBSEAL_TESTS=ON and GTest); rerun" \
       "\`ninja -C $BUILD_DIR kms_bench\` to see why" >&2
  exit 1
}
exec nice -n "$NICE" "$BUILD_DIR/bench/kms_bench" "$@"
