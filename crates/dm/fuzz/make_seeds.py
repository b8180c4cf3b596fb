#!/usr/bin/env python3
"""Writes the seed replies of corpus/reply/, laid out as the kernel's
dm-ioctl.c writes them (ctl_ioctl, retrieve_status): a struct dm_ioctl
(312 bytes), then target specs (40 bytes) each followed by its NUL-terminated
string, `next` = the 8-aligned end of the string counted from the first spec,
data_size = data_start + the bytes used. Run from crates/dm/fuzz."""

import os
import struct

READONLY, SUSPEND, ACTIVE_PRESENT = 1 << 0, 1 << 1, 1 << 5


def reply(flags, specs, data_size=None):
    body = b""
    used = 0
    for start, length, status, ttype, params in specs:
        end = len(body) + 40 + len(params) + 1
        nxt = (end + 7) // 8 * 8
        spec = struct.pack("<QQiI16s", start, length, status, nxt, ttype.encode())
        body += spec + params.encode() + b"\0"
        used = len(body)
        body += b"\0" * (nxt - len(body))
    if data_size is None:
        data_size = 312 + used if specs else 305
    header = struct.pack(
        "<3IIIIiIIIQ128s129s7s",
        4, 47, 0,            # version
        data_size, 312,      # data_size, data_start
        len(specs), 1,       # target_count, open_count
        flags, 0, 0,         # flags, event_nr, padding
        0xFD00,              # dev 253:0
        b"root", b"CLIP-verity-root", b"",
    )
    assert len(header) == 312
    return header + body


TABLE = "1 253:1 253:2 4096 4096 262144 1 sha256 " + "43" * 32 + " -"
SEEDS = {
    "seed-verity-verified": reply(ACTIVE_PRESENT | READONLY, [(0, 2097152, 0, "verity", "V")]),
    "seed-verity-corrupted": reply(ACTIVE_PRESENT | READONLY, [(0, 2097152, 0, "verity", "C -")]),
    "seed-verity-suspended": reply(ACTIVE_PRESENT | READONLY | SUSPEND, [(0, 8, 0, "verity", "V")]),
    "seed-table-three-targets": reply(
        ACTIVE_PRESENT | READONLY,
        [(0, 8, 0, "zero", ""), (8, 2097152, 0, "verity", TABLE), (2097160, 16, -5, "error", "x")],
    ),
    "seed-no-data": reply(0, []),
    "seed-short": b"\x04\0\0\0" * 20,
}

os.makedirs("corpus/reply", exist_ok=True)
for name, data in SEEDS.items():
    with open(os.path.join("corpus/reply", name), "wb") as f:
        f.write(data)
