#!/usr/bin/env bash
# s3cmd (Debian's 2.3) against blobseal serve: mb, put (small, and > 15 MiB so that s3cmd uses multipart), get, ls,
# la, info, du, del, rb. Every transfer is checked by SHA-256.
# Usage: s3cmd_flow.sh BLOBSEAL_BIN   (or BLOBSEAL_BIN in the environment)
source "$(dirname "$0")/lib/harness.sh"
start_blobseal
F="$WORK/files"
B="$(bucket_name s3cmd)"
CFG="$WORK/s3cfg"
cat >"$CFG" <<CFG
[default]
access_key = $AK
secret_key = $SK
host_base = 127.0.0.1:$PORT
host_bucket = 127.0.0.1:$PORT
use_https = False
signature_v2 = False
bucket_location = us-east-1
check_ssl_certificate = False
multipart_chunk_size_mb = 15
progress_meter = False
CFG
s3c() { s3cmd -c "$CFG" --no-progress "$@"; }
# (bucket_location = us-east-1 also makes s3cmd sign for us-east-1 rather than its default "US".)

make_file "$F/zero" 0
make_file "$F/one" 1
make_file "$F/small" 123457
make_file "$F/big" $((20 * 1024 * 1024))   # 15 MiB + 5 MiB parts

log "s3cmd mb, ls"
s3c mb "s3://$B" >/dev/null
out="$(s3c ls)"
grep -q "s3://$B\$" <<<"$out" || fail "s3cmd ls does not list s3://$B: $out"

log "s3cmd put: 0 B, 1 B, 120 KiB, 20 MiB (multipart, 15 MiB chunks)"
for name in zero one small; do s3c put "$F/$name" "s3://$B/dir/$name" >/dev/null; done
out="$(s3c --progress put "$F/big" "s3://$B/dir/big" 2>&1)"
expect_contains "$out" "part 2 of 2" "s3cmd put of 20 MiB (expected a 2-part multipart upload)"

log "s3cmd get (s3cmd checks the MD5 it knows), SHA-256 of each"
mkdir -p "$WORK/down"
for name in zero one small big; do
  s3c get --force "s3://$B/dir/$name" "$WORK/down/$name" >/dev/null
  same_content "$F/$name" "$WORK/down/$name" "s3cmd get of $name"
done

log "s3cmd ls, la, du, info"
listing="$(s3c ls "s3://$B/dir/")"
for name in zero one small big; do grep -q "s3://$B/dir/$name\$" <<<"$listing" || fail "s3cmd ls lacks dir/$name: $listing"; done
grep -qE "^\S+ \S+ +20971520 +s3://$B/dir/big\$" <<<"$listing" || fail "s3cmd ls: size of dir/big is not 20971520: $listing"
grep -qE "^\S+ \S+ +0 +s3://$B/dir/zero\$" <<<"$listing" || fail "s3cmd ls: size of dir/zero is not 0: $listing"
listing="$(s3c ls "s3://$B/")"
grep -qE "DIR +s3://$B/dir/\$" <<<"$listing" || fail "s3cmd ls s3://$B/ does not show dir/ as a common prefix: $listing"
all="$(s3c la --recursive)"
expect_contains "$all" "s3://$B/dir/big" "s3cmd la"
du="$(s3c du "s3://$B")"
expect_contains "$du" "$((0 + 1 + 123457 + 20 * 1024 * 1024))" "s3cmd du (sum of plaintext sizes)"
info="$(s3c info "s3://$B/dir/small")"
expect_contains "$info" "File size: 123457" "s3cmd info of dir/small"
expect_contains "$info" "MD5 sum:   $(md5sum "$F/small" | cut -d' ' -f1)" "s3cmd info MD5 of dir/small"
info="$(s3c info "s3://$B/dir/big")"
expect_contains "$info" "File size: 20971520" "s3cmd info of dir/big"

log "s3cmd put with metadata and mime type; cp; mv"
s3c put --mime-type=text/x-test --add-header=x-amz-meta-colour:green "$F/small" "s3://$B/meta/small" >/dev/null
info="$(s3c info "s3://$B/meta/small")"
expect_contains "$info" "text/x-test" "s3cmd info MIME type"
expect_contains "$info" "x-amz-meta-colour: green" "s3cmd info user metadata"
s3c cp "s3://$B/dir/big" "s3://$B/copy/big" >/dev/null
s3c get --force "s3://$B/copy/big" "$WORK/down/copy" >/dev/null
same_content "$F/big" "$WORK/down/copy" "s3cmd cp of the multipart object"
s3c mv "s3://$B/copy/big" "s3://$B/moved/big" >/dev/null
s3c get --force "s3://$B/moved/big" "$WORK/down/moved" >/dev/null
same_content "$F/big" "$WORK/down/moved" "s3cmd mv of the multipart object"
out="$(s3c ls "s3://$B/copy/")"
[[ -z "$out" ]] || fail "s3cmd mv left the source s3://$B/copy/big: $out"

log "s3cmd sync of a small tree, then del, rb"
mkdir -p "$WORK/tree/x/y"
for i in $(seq 1 8); do make_file "$WORK/tree/x/f$i" $((i * 999)); done
make_file "$WORK/tree/x/y/g" 4096
s3c sync "$WORK/tree/" "s3://$B/tree/" >/dev/null
mkdir -p "$WORK/tree-down"
s3c sync "s3://$B/tree/" "$WORK/tree-down/" >/dev/null
diff -r "$WORK/tree" "$WORK/tree-down" >/dev/null || fail "s3cmd sync round trip of a tree differs"

s3c rb "s3://$B" >/dev/null 2>&1 && fail "s3cmd rb of a non-empty bucket succeeded"
s3c del "s3://$B/dir/zero" >/dev/null
out="$(s3c ls "s3://$B/dir/")"
grep -q "dir/zero\$" <<<"$out" && fail "s3cmd del left dir/zero"
s3c del --recursive --force "s3://$B/" >/dev/null
expect_eq "$(s3c ls --recursive "s3://$B/")" "" "s3cmd ls after del --recursive"
s3c rb "s3://$B" >/dev/null
out="$(s3c ls)"
grep -q "s3://$B\$" <<<"$out" && fail "s3cmd rb left s3://$B"

log "all s3cmd checks passed"
