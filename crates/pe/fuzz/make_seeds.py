#!/usr/bin/env python3
"""Writes the seed inputs of the `parse` fuzz target into corpus/parse/.

Small PE images built field by field (Microsoft PE Format: COFF header,
optional header, data directories, section table), covering PE32+ and PE32,
an image with a certificate table, one with no room for more section
headers, and the header page of trixie's systemd-stub if a path to it is
given as the first argument (its sections are cut off, so it is rejected
after the whole header has been read).
"""
import struct
import sys
from pathlib import Path

OUT = Path(__file__).parent / "corpus" / "parse"


def image(pe32_plus=True, sections=2, length=100, headers=0x400, cert=b"", nrva=16, extra=b""):
    fa, sa = 0x200, 0x1000
    pe_off = 0x80
    dd_at = 112 if pe32_plus else 96
    opt_size = dd_at + 8 * nrva
    raw = -(-length // fa) * fa
    body = bytearray(headers + sections * raw)
    body[0:2] = b"MZ"
    struct.pack_into("<I", body, 0x3C, pe_off)
    body[pe_off:pe_off + 4] = b"PE\0\0"
    c = pe_off + 4
    struct.pack_into("<HHIIIHH", body, c, 0x8664 if pe32_plus else 0x14C, sections, 0, 0, 0, opt_size, 0x22)
    o = c + 20
    struct.pack_into("<H", body, o, 0x20B if pe32_plus else 0x10B)
    struct.pack_into("<II", body, o + 32, sa, fa)
    struct.pack_into("<II", body, o + 56, sa * (sections + 1), headers)
    struct.pack_into("<H", body, o + 68, 10)
    struct.pack_into("<I", body, o + dd_at - 4, nrva)
    t = o + opt_size
    for i in range(sections):
        h = t + 40 * i
        name = f".s{i}".encode()
        body[h:h + len(name)] = name
        start = headers + i * raw
        struct.pack_into("<IIII", body, h + 8, length, sa * (i + 1), raw, start)
        struct.pack_into("<I", body, h + 36, 0x40000040)
        body[start:start + length] = bytes([i + 1]) * length
    body += extra
    if cert:
        while len(body) % 8:
            body.append(0)
        struct.pack_into("<II", body, o + dd_at + 32, len(body), len(cert))
        body += cert
    return bytes(body)


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    seeds = {
        "seed-pe32plus": image(),
        "seed-pe32": image(pe32_plus=False),
        "seed-no-sections": image(sections=0),
        "seed-signed": image(cert=struct.pack("<IHH", 24, 0x200, 2) + b"\x30" * 16, extra=b"tail"),
        "seed-header-full": image(sections=15, length=16),
        "seed-five-directories": image(nrva=5),
    }
    if len(sys.argv) > 1:
        stub = Path(sys.argv[1]).read_bytes()
        seeds["seed-systemd-stub-headers"] = stub[:0x600]
    for name, data in seeds.items():
        (OUT / name).write_bytes(data)
        print(name, len(data))


main()
