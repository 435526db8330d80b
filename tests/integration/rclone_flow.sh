#!/usr/bin/env bash
# rclone (Debian's 1.60) against blobseal serve, configured by environment alone: copyto (single PUT and multipart),
# cat with --offset/--count (ranged GETs), lsf, check, deletefile, and sync of a 50-file tree.
# Usage: rclone_flow.sh BLOBSEAL_BIN   (or BLOBSEAL_BIN in the environment)
source "$(dirname "$0")/lib/harness.sh"
start_blobseal
F="$WORK/files"
B="$(bucket_name rclone)"
export RCLONE_CONFIG=/dev/null RCLONE_CONFIG_GW_TYPE=s3 RCLONE_CONFIG_GW_PROVIDER=Other \
  RCLONE_CONFIG_GW_ENDPOINT="$ENDPOINT" RCLONE_CONFIG_GW_ACCESS_KEY_ID="$AK" RCLONE_CONFIG_GW_SECRET_ACCESS_KEY="$SK" \
  RCLONE_CONFIG_GW_REGION=us-east-1 RCLONE_CONFIG_GW_FORCE_PATH_STYLE=true
unset AWS_CA_BUNDLE   # rclone 1.60: LoadCustomCABundleError while it is set (RECIPES.md)
rc() { rclone --retries 1 --low-level-retries 1 "$@"; }

make_file "$F/zero" 0
make_file "$F/one" 1
make_file "$F/medium" 3000000
make_file "$F/large" $((12 * 1024 * 1024 + 5))

log "rclone mkdir, copyto (single PUT and multipart with 5 MiB chunks)"
rc mkdir "gw:$B"
rc copyto "$F/zero" "gw:$B/files/zero"
rc copyto "$F/one" "gw:$B/files/one"
rc copyto "$F/medium" "gw:$B/files/medium"
rc copyto --s3-upload-cutoff 5M --s3-chunk-size 5M "$F/large" "gw:$B/files/large"
mkdir -p "$WORK/down"
for name in zero one medium large; do
  rc copyto "gw:$B/files/$name" "$WORK/down/$name"
  same_content "$F/$name" "$WORK/down/$name" "rclone copyto round trip of $name"
done

log "rclone cat --offset/--count (ranged GETs)"
for spec in "0 1" "16383 2" "1000000 500000" "2999990 10"; do
  read -r offset count <<<"$spec"
  rc cat --offset "$offset" --count "$count" "gw:$B/files/medium" >"$WORK/down/range"
  slice "$F/medium" "$offset" "$count" >"$WORK/expect"
  same_content "$WORK/expect" "$WORK/down/range" "rclone cat --offset $offset --count $count"
done
# Across the part boundary of the multipart object (5 MiB parts), and its tail.
rc cat --offset $((5 * 1024 * 1024 - 100)) --count 200 "gw:$B/files/large" >"$WORK/down/range"
slice "$F/large" $((5 * 1024 * 1024 - 100)) 200 >"$WORK/expect"
same_content "$WORK/expect" "$WORK/down/range" "rclone cat across the part boundary of the multipart object"
rc cat --offset $((12 * 1024 * 1024)) "gw:$B/files/large" >"$WORK/down/range"
slice "$F/large" $((12 * 1024 * 1024)) 5 >"$WORK/expect"
same_content "$WORK/expect" "$WORK/down/range" "rclone cat --offset (tail) of the multipart object"

log "rclone lsf, check"
expect_eq "$(rc lsf "gw:$B/files")" "$(printf 'large\nmedium\none\nzero')" "rclone lsf"
expect_eq "$(rc lsf --format sp "gw:$B/files")" "$(printf '%s\n' "12582917;large" "3000000;medium" "1;one" "0;zero")" "rclone lsf --format sp"
expect_eq "$(rc lsf "gw:$B")" "files/" "rclone lsf of the bucket root (common prefixes)"
mkdir -p "$WORK/check"
cp "$F/zero" "$F/one" "$F/medium" "$F/large" "$WORK/check/"
rc check "$WORK/check" "gw:$B/files" 2>"$WORK/check.log" || { cat "$WORK/check.log" >&2; fail "rclone check of files/"; }
# check --download compares the content itself, so it sees a change that sizes alone would not.
printf 'X' | dd of="$WORK/check/medium" bs=1 seek=1000 conv=notrunc status=none
rc check --download "$WORK/check" "gw:$B/files" >/dev/null 2>&1 && fail "rclone check --download missed a changed byte"

log "rclone deletefile"
rc deletefile "gw:$B/files/one"
expect_eq "$(rc lsf "gw:$B/files")" "$(printf 'large\nmedium\nzero')" "rclone lsf after deletefile"

log "rclone sync of a 50-file tree, then a change and a deletion"
for d in 0 1 2 3 4; do
  mkdir -p "$WORK/tree/d$d/sub"
  for i in 0 1 2 3 4 5 6 7; do make_file "$WORK/tree/d$d/f$i" $((d * 7000 + i * 1111)); done
  make_file "$WORK/tree/d$d/sub/a" 16384
  make_file "$WORK/tree/d$d/sub/b" 16385
done
expect_eq "$(find "$WORK/tree" -type f | wc -l)" 50 "local tree size"
rc sync "$WORK/tree" "gw:$B/tree"
expect_eq "$(rc lsf -R --files-only "gw:$B/tree" | wc -l)" 50 "objects after rclone sync"
rc check --download "$WORK/tree" "gw:$B/tree" 2>"$WORK/check.log" || { cat "$WORK/check.log" >&2; fail "rclone check --download of the synced tree"; }
rm "$WORK/tree/d1/f3" "$WORK/tree/d4/sub/b"
make_file "$WORK/tree/d2/f5" 777
rc sync "$WORK/tree" "gw:$B/tree"
expect_eq "$(rc lsf -R --files-only "gw:$B/tree" | wc -l)" 48 "objects after the second rclone sync"
rc check --download "$WORK/tree" "gw:$B/tree" 2>"$WORK/check.log" || { cat "$WORK/check.log" >&2; fail "rclone check after the second sync"; }
rm -rf "$WORK/tree-down"
rc sync "gw:$B/tree" "$WORK/tree-down"
diff -r "$WORK/tree" "$WORK/tree-down" >/dev/null || fail "rclone sync down differs from the local tree"

log "rclone purge"
rc purge "gw:$B"
out="$(rc lsd gw:)"
grep -q " $B\$" <<<"$out" && fail "rclone purge left bucket $B: $out"

log "all rclone checks passed"
