#!/usr/bin/env python3
"""Writes the seed inputs of the `predict_image` fuzz target into
corpus/predict_image/.

Small PE32+ images built field by field (Microsoft PE Format: COFF header,
optional header, data directories, section table) whose sections carry UKI
section names: a plain UKI, one with .pcrsig, one whose last section's
VirtualSize exceeds its raw data, and one for each refusal (duplicate,
.profile, .dtbauto, no .linux, empty section).
"""
import struct
from pathlib import Path

OUT = Path(__file__).parent / "corpus" / "predict_image"


def image(names, length=100, vsizes=None):
    fa, sa = 0x200, 0x1000
    pe_off, headers, nrva = 0x80, 0x400, 16
    opt_size = 112 + 8 * nrva
    raw = -(-length // fa) * fa
    n = len(names)
    vsizes = vsizes or [length] * n
    body = bytearray(headers + n * raw)
    body[0:2] = b"MZ"
    struct.pack_into("<I", body, 0x3C, pe_off)
    body[pe_off:pe_off + 4] = b"PE\0\0"
    c = pe_off + 4
    struct.pack_into("<HHIIIHH", body, c, 0x8664, n, 0, 0, 0, opt_size, 0x22)
    o = c + 20
    struct.pack_into("<H", body, o, 0x20B)
    struct.pack_into("<II", body, o + 32, sa, fa)
    end = sa * n + max(vsizes[-1], 1) if n else sa
    struct.pack_into("<II", body, o + 56, -(-end // sa) * sa + sa, headers)
    struct.pack_into("<H", body, o + 68, 10)
    struct.pack_into("<I", body, o + 108, nrva)
    t = o + opt_size
    for i, name in enumerate(names):
        h = t + 40 * i
        body[h:h + len(name)] = name.encode()
        start = headers + i * raw
        struct.pack_into("<IIII", body, h + 8, vsizes[i], sa * (i + 1), raw, start)
        struct.pack_into("<I", body, h + 36, 0x40000040)
        body[start:start + length] = bytes([i + 1]) * length
    return bytes(body)


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    uki = [".text", ".osrel", ".cmdline", ".pcrpkey", ".linux"]
    seeds = {
        "seed-uki": image(uki),
        "seed-pcrsig": image(uki + [".pcrsig"]),
        "seed-zero-fill": image(uki, vsizes=[100] * 4 + [0x1800]),
        "seed-duplicate": image([".linux", ".cmdline", ".cmdline"]),
        "seed-profile": image([".linux", ".profile"]),
        "seed-dtbauto": image([".linux", ".dtbauto"]),
        "seed-no-linux": image([".osrel", ".cmdline"]),
        "seed-empty": image([".linux", ".osrel"], vsizes=[100, 0]),
        "seed-not-pe": b"MZ" + bytes(62),
    }
    for name, data in seeds.items():
        (OUT / name).write_bytes(data)
        print(name, len(data))


main()
