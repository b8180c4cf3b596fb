#!/usr/bin/env python3
"""Writes seed inputs for the fuzz targets from real `veritysetup format` runs.

Needs cryptsetup's veritysetup (2.6.1 made the committed seeds). Seeds go to
corpus/<target>/seed-<name>; `cargo fuzz cmin` may later rename or drop them.
Data bytes follow tests/fixtures: byte i is (i * 31 + (i >> 8)) % 251.
"""

import os
import re
import subprocess
import tempfile

VERITYSETUP = os.environ.get("VERITYSETUP", "/usr/sbin/veritysetup")
HERE = os.path.dirname(os.path.abspath(__file__))
ALGORITHMS = {"sha1": 0, "sha256": 1, "sha512": 2}
BLOCK_SIZES = {512: 0, 1024: 1, 2048: 2, 4096: 3}


def data_bytes(size):
    return bytes((i * 31 + (i >> 8)) % 251 for i in range(size))


def veritysetup(tmp, hash_name, fmt, dbs, hbs, blocks, salt, superblock):
    data_path = os.path.join(tmp, "data")
    hash_path = os.path.join(tmp, "hash")
    data = data_bytes(dbs * blocks)
    with open(data_path, "wb") as f:
        f.write(data)
    open(hash_path, "wb").close()
    cmd = [VERITYSETUP, "format", data_path, hash_path, "--hash", hash_name,
           "--format", str(fmt), "--data-block-size", str(dbs),
           "--hash-block-size", str(hbs), "--salt", salt.hex() or "-"]
    if superblock:
        cmd += ["--uuid", "5a5a5a5a-0000-4000-8000-123456789abc"]
    else:
        cmd += ["--no-superblock"]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    root = bytes.fromhex(re.search(r"^Root hash:\s*([0-9a-f]+)$", out, re.M).group(1))
    with open(hash_path, "rb") as f:
        device = f.read()
    return data, device, root


def write(target, name, content, prefix="seed-"):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, prefix + name), "wb") as f:
        f.write(content)


def main():
    with tempfile.TemporaryDirectory() as tmp:
        # Superblocks: the first 512 bytes of hash devices.
        for name, args in [
            ("sha256-4096", ("sha256", 1, 4096, 4096, 1, b"\x00")),
            ("sha1-type0-1024-2048", ("sha1", 0, 1024, 2048, 3, b"")),
            ("sha512-512-salt256", ("sha512", 1, 512, 512, 5, bytes(range(256)))),
        ]:
            _, device, _ = veritysetup(tmp, *args, superblock=True)
            write("superblock", name, device[:512])

        # Trees: header, salt, root, tree, data (see src/lib.rs).
        # Data blocks first..first+count only, to keep the corpus small.
        for name, (hash_name, fmt, dbs, hbs, blocks, salt, first, count) in [
            # 8 digests per block: 9 -> 2 -> 1, all data, rebuilds the tree.
            ("sha512-9", ("sha512", 1, 512, 512, 9, b"", 0, 9)),
            ("sha256-17-tail", ("sha256", 1, 512, 512, 17, b"salt", 15, 2)),
            ("sha1-type0-17-head", ("sha1", 0, 512, 512, 17, b"\x01\x02\x03", 0, 2)),
            ("sha256-1024-2048-middle", ("sha256", 1, 1024, 2048, 64, b"x" * 32, 10, 1)),
            ("single-512", ("sha256", 1, 512, 512, 1, b"\xff", 0, 1)),
        ]:
            data, tree, root = veritysetup(tmp, hash_name, fmt, dbs, hbs, blocks, salt,
                                           superblock=False)
            shape = (BLOCK_SIZES[dbs] | BLOCK_SIZES[hbs] << 2
                     | ALGORITHMS[hash_name] << 4 | (0x40 if fmt == 0 else 0))
            header = bytes([shape, blocks - 1, len(salt), first])
            chunk = data[first * dbs:(first + count) * dbs]
            write("verify_tree", name, header + salt + root + tree + chunk)

        # A tree for 16 blocks (8 digests per block: 16 -> 2 -> 1) with the
        # header claiming 9, the same shape: level 0's second block holds 7
        # digests where the claim leaves spare space. Not a "seed-": it must
        # be refused.
        data, tree, root = veritysetup(tmp, "sha512", 1, 512, 512, 16, b"",
                                       superblock=False)
        shape = BLOCK_SIZES[512] | BLOCK_SIZES[512] << 2 | ALGORITHMS["sha512"] << 4
        header = bytes([shape, 9 - 1, 0, 0])
        write("verify_tree", "sha512-16-claimed-9", header + root + tree + data[:9 * 512],
              prefix="spare-")


if __name__ == "__main__":
    main()
