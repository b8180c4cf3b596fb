#!/usr/bin/env bash
# Writes the seed corpus from a real key set: `clip keys generate` (built from
# this tree), efitools and OpenSSL. Seeds go to corpus/<target>/seed-*; the
# PK certificate they are signed under goes to trusted-PK.cer, which the
# `auth` target trusts. Run from anywhere; needs efitools and openssl.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$root" && cargo build -q -p clip)
SOURCE_DATE_EPOCH=1704164645 "$root/target/debug/clip" keys generate "$work/set" --name Seeds >/dev/null
cd "$work/set"
cp PK.cer "$here/trusted-PK.cer"
mkdir -p "$here/corpus/esl" "$here/corpus/auth"
rm -f "$here"/corpus/esl/seed-* "$here"/corpus/auth/seed-*
for r in PK KEK db; do
    cp "$r.esl" "$here/corpus/esl/seed-$r"
    cp "$r.auth" "$here/corpus/auth/seed-$r"
done
cat PK.esl KEK.esl db.esl >"$here/corpus/esl/seed-three-lists"
: >"$here/corpus/esl/seed-empty"
cp noPK.auth "$here/corpus/auth/seed-noPK"
# A list of two SHA-256 hashes (dbx style), with efitools.
printf 'a%.0s' {1..100} >"$work/blob"
hash-to-efi-sig-list "$work/blob" "$work/hash.esl" >/dev/null 2>&1 || true
[ -s "$work/hash.esl" ] && cp "$work/hash.esl" "$here/corpus/esl/seed-sha256"
# efitools signing an append update with another timestamp.
sign-efi-sig-list -a -t "2030-05-06 07:08:09" -k KEK.key -c KEK.crt db db.esl "$work/db-append.auth" >/dev/null
cp "$work/db-append.auth" "$here/corpus/auth/seed-efitools-db-append"
# The same PK update with a ContentInfo-wrapped SignedData carrying signed
# attributes (what `openssl smime -sign` makes): parses, then refused.
python3 - "$work" <<'PY'
import struct, subprocess, sys
work = sys.argv[1]
auth = open("PK.auth", "rb").read()
length = struct.unpack_from("<I", auth, 16)[0]
data = auth[16 + length:]
signed = "PK".encode("utf-16-le") + bytes.fromhex("61dfe48bca93d211aa0d00e098032b8c") \
    + struct.pack("<I", 0x27) + auth[:16] + data
open(work + "/signed.bin", "wb").write(signed)
subprocess.run(["openssl", "smime", "-sign", "-binary", "-md", "sha256", "-outform", "DER",
                "-in", work + "/signed.bin", "-signer", "PK.crt", "-inkey", "PK.key",
                "-out", work + "/attrs.p7"], check=True)
p7 = open(work + "/attrs.p7", "rb").read()
head = auth[:16] + struct.pack("<IHH", 24 + len(p7), 0x0200, 0x0EF1) + auth[24:40]
open(sys.argv[1] + "/attrs.auth", "wb").write(head + p7 + data)
PY
cp "$work/attrs.auth" "$here/corpus/auth/seed-signed-attributes"
ls -l "$here/corpus/esl" "$here/corpus/auth"
