#!/usr/bin/env python3
"""Writes the seeds (corpus/<target>/seed-*): real names, versions, command
lines and JSON of the repository (products/clipos, the unit tests of
crates/contract, programs/clip's release.json layout). Run from this
directory; the other corpus files are what the fuzzer found."""
import json
import os

HASH = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"
SALT = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
PRODUCT_CMDLINE = (
    "lockdown=integrity module.sig_enforce=1 slab_nomerge init_on_alloc=1 init_on_free=1 "
    "page_alloc.shuffle=1 randomize_kstack_offset=on pti=on vsyscall=none debugfs=off "
    "intel_iommu=on efi=disable_early_pci_dma console=ttyS0,115200 panic=10 systemd.gpt_auto=0"
)


def params(slot, salt=SALT, blocks=12345):
    return (f"clip.slot={slot} clip.verity.roothash={HASH} clip.verity.salt={salt} "
            f"clip.verity.data_blocks={blocks}")


def release():
    def file(name, size=4096, digest="ab"):
        return {"name": name, "size": size, "sha256": digest * 32}
    def pcr11(slot):
        return {
            "bank": "sha256",
            "sections": [{"name": ".linux", "size": 8123456, "sha256": "cd" * 32},
                         {"name": ".cmdline", "size": 412, "sha256": "ef" * 32}],
            "after_stub": "01" * 32,
            "phases": {"enter-initrd": "02" * 32, "enter-initrd:leave-initrd": "03" * 32},
            "signed": [{"pcrs": [11], "pkfp": "04" * 32, "pol": "05" * 32, "sig": "Bg=="}],
        }
    return {
        "format": 1,
        "product": "clipos",
        "version": "2.0.0-rc.1",
        "root": file("root.erofs", 123 * 4096 * 1024, "11"),
        "verity": {"file": file("root.verity", 1032192, "22"), "root_hash": HASH,
                   "salt": SALT, "data_blocks": 125952},
        "ukis": [{"slot": s, "file": file(f"clipos-{s}.efi", 50331648, "33" if s == "a" else "44"),
                  "cmdline": PRODUCT_CMDLINE + " " + params(s, blocks=125952), "pcr11": pcr11(s)}
                 for s in "ab"],
        "bootloader": file("systemd-bootx64.efi", 126976, "55"),
    }


SEEDS = {
    "entry_name": {
        "new": "clipos-b+3.conf",
        "tried-once": "clipos-b+2-1.conf",
        "exhausted": "clipos-b+0-3.conf",
        "good": "clipos-a.conf",
        "upper-suffix": "my-os-a+1.CONF",
        "done-zero": "clipos-a+3-0.conf",
        "bad-slot": "clipos-c.conf",
        "bad-counter": "clipos-a+1+2.conf",
        "above-int-max": "clipos-a+2147483648.conf",
        "loader": "loader.conf",
    },
    "version": {
        "release": "2.0.0",
        "chain": "1.0.0-alpha\n1.0.0-alpha.1\n1.0.0-beta.11",
        "rc-release": "2.0.0-rc.1\n2.0.0\n10.0.0",
        "semver-mixed": "1.0.0-alpha.beta\n1.2.3-rc-1.0\n1.0.0-rc.x",
        "refused": "01.2.3\n1.2.3+build\n1.2",
    },
    "release_json": {
        "release": json.dumps(release(), indent=2) + "\n",
    },
    "update_json": {
        "empty": "{}",
        "default": json.dumps({"server": "http://10.0.2.100/", "check_interval_seconds": 3600,
                               "first_check_delay_seconds": 5, "reboot": "now",
                               "health_checks": []}),
        "next-boot": json.dumps({"server": "https://updates.example.org/clipos/",
                                 "reboot": "next-boot",
                                 "health_checks": ["/usr/bin/true --x  y", "/usr/lib/clip/check"],
                                 "ca": "/usr/lib/clip/update/ca.pem"}),
        "https-without-ca": '{"server":"https://updates.example.org/"}',
        "bad-interval": '{"check_interval_seconds":9}',
    },
    "cmdline": {
        "product": PRODUCT_CMDLINE + " " + params("b") + "\n",
        "unsalted": "console=ttyS0 panic=-1 " + params("a", salt="", blocks=1),
        "init-args": params("a") + " -- clip.slot=b",
        "repeated": params("a") + " clip.slot=a",
    },
}

for target, seeds in SEEDS.items():
    os.makedirs(f"corpus/{target}", exist_ok=True)
    for name, text in seeds.items():
        with open(f"corpus/{target}/seed-{name}", "w") as f:
            f.write(text)
