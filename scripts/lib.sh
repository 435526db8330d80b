# Shared by scripts/run and scripts/test: installs what is missing from Debian's packages, configures and builds.
# Sourced, not executed.
set -euo pipefail

BLOBSEAL_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# Packages needed to build blobseal and run it.
BUILD_PACKAGES=(
  cmake ninja-build g++ pkg-config
  libssl-dev libfmt-dev libcli11-dev libsqlite3-dev zlib1g-dev libexpected-dev
  libboost-dev nlohmann-json3-dev libpugixml-dev prometheus-cpp-dev libspdlog-dev libtomlplusplus-dev
  libcurl4-openssl-dev libp11-kit-dev
  libgtest-dev libgmock-dev libbenchmark-dev
)
# Packages the test suite needs on top: real S3 clients, promtool, the fuzzers' compiler, servers for the benches.
TEST_PACKAGES=(
  clang libclang-rt-14-dev
  prometheus awscli python3-boto3 python3-awscrt s3cmd rclone curl openssl python3-pykmip
  # A PKCS#11 token for the pkcs11 key manager's tests (tests/keys/pkcs11/), and pkcs11-tool to inspect it.
  softhsm2 opensc
  # Upstream S3 stores for the gateway (tests/upstream/): Ceph RGW single-node, and node for s3rver (npm install).
  ceph-mon ceph-osd radosgw ceph-common uuid-runtime nodejs
)
# npm: Debian's package only when no npm is there (a nodejs from elsewhere brings its own, and Debian's npm would
# pull Debian's nodejs over it).
command -v npm >/dev/null 2>&1 || TEST_PACKAGES+=(npm)

# Installs the named Debian packages that are not installed yet; silent when nothing is missing.
install_missing() {
  local missing=()
  for pkg in "$@"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  [[ ${#missing[@]} -eq 0 ]] && return 0
  echo "blobseal: installing ${missing[*]}" >&2
  local sudo=()
  [[ $(id -u) -ne 0 ]] && sudo=(sudo)
  "${sudo[@]}" apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # Services some packages start on install would listen on every interface: the tests start their own instances.
  for service in prometheus nginx; do
    if [[ " ${missing[*]} " == *" $service "* ]] && command -v systemctl >/dev/null; then
      "${sudo[@]}" systemctl disable --now "$service" >/dev/null 2>&1 || true
    fi
  done
}

# Configures (once) and builds one CMake preset.
build_preset() {
  local preset="$1"
  cd "$BLOBSEAL_ROOT"
  if [[ ! -f "build/$preset/build.ninja" ]]; then
    cmake --preset "$preset" >/dev/null
  fi
  cmake --build --preset "$preset"
}
