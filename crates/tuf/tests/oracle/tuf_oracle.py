"""python-tuf 7.0.1 as the oracle of crates/tuf (run by tests/oracle.rs with
the venv that ./dev test installs under $CLIP_CACHE/python-tuf/7.0.1).

  tuf_oracle.py check-repo REPO TARGET
      (a) python-tuf's ngclient Updater, bootstrapped from REPO/metadata/1.root.json,
      refreshes from REPO/metadata (N.root.json chain, timestamp.json,
      N.snapshot.json, N.targets.json) through a fetcher that reads files,
      downloads TARGET from REPO/targets (consistent-snapshot name), and prints
      JSON: the trusted versions, the target's length, sha256 and custom, and for
      every metadata file the canonical bytes of its `signed` (hex) and, for
      roots, the key IDs securesystemslib computes for its keys.

  tuf_oracle.py make-repo OUT
      (b) makes and signs a repository with python-tuf (ed25519 keys generated
      here), and cases of bad metadata (tampered, expired, rolled back, mixed,
      wrong key), runs python-tuf's TrustedMetadataSet over each case and writes
      OUT/cases.json with python's verdict (exception class and message).
"""

import copy
import datetime
import hashlib
import json
import os
import sys
import tempfile

from securesystemslib.formats import encode_canonical
from securesystemslib.signer import CryptoSigner
from securesystemslib.signer._utils import compute_default_keyid
from tuf.api.exceptions import DownloadHTTPError
from tuf.api.metadata import (
    Metadata,
    MetaFile,
    Root,
    Snapshot,
    TargetFile,
    Targets,
    Timestamp,
)
from tuf.api.serialization.json import CanonicalJSONSerializer, JSONSerializer
from tuf.ngclient import FetcherInterface, Updater
from tuf.ngclient._internal.trusted_metadata_set import TrustedMetadataSet
from tuf.ngclient.config import EnvelopeType

BASE = "http://repo.invalid/"


class DirFetcher(FetcherInterface):
    """Serves BASE/<path> from a directory; a missing file is a 404."""

    def __init__(self, root):
        self.root = root

    def _fetch(self, url):
        assert url.startswith(BASE), url
        path = os.path.join(self.root, url[len(BASE) :])
        if not os.path.isfile(path):
            raise DownloadHTTPError(f"{url} not found", 404)
        with open(path, "rb") as f:
            data = f.read()
        return iter([data])


def check_repo(repo, target):
    out = {}
    meta_dir = os.path.join(repo, "metadata")
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(meta_dir, "1.root.json"), "rb") as f:
            bootstrap = f.read()
        updater = Updater(
            metadata_dir=tmp,
            metadata_base_url=BASE + "metadata/",
            target_dir=tmp,
            target_base_url=BASE + "targets/",
            fetcher=DirFetcher(repo),
            bootstrap=bootstrap,
        )
        updater.refresh()
        trusted = updater._trusted_set
        out["versions"] = {
            "root": trusted.root.version,
            "timestamp": trusted.timestamp.version,
            "snapshot": trusted.snapshot.version,
            "targets": trusted.targets.version,
        }
        info = updater.get_targetinfo(target)
        path = updater.download_target(info, os.path.join(tmp, "downloaded"))
        with open(path, "rb") as f:
            data = f.read()
        out["target"] = {
            "length": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
            "custom": info.custom,
        }
    files = {}
    for name in sorted(os.listdir(meta_dir)):
        with open(os.path.join(meta_dir, name), "rb") as f:
            md = Metadata.from_bytes(f.read())
        entry = {"canonical": CanonicalJSONSerializer().serialize(md.signed).hex()}
        if isinstance(md.signed, Root):
            entry["keyids"] = sorted(
                compute_default_keyid(k.keytype, k.scheme, k.keyval)
                for k in md.signed.keys.values()
            )
        files[name] = entry
    out["files"] = files
    json.dump(out, sys.stdout, sort_keys=True)


def write(md, path):
    md.to_file(path, JSONSerializer(compact=False))


def make_repo(out):
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    valid = now + datetime.timedelta(days=365)
    expired = now - datetime.timedelta(days=1)
    signers = {r: CryptoSigner.generate_ed25519() for r in ("root", "targets", "snapshot", "timestamp")}
    new_root_signer = CryptoSigner.generate_ed25519()
    other = CryptoSigner.generate_ed25519()

    def signed(payload, *keys):
        md = Metadata(payload)
        for k in keys:
            md.sign(k, append=True)
        return md

    root = Root(expires=valid, consistent_snapshot=True)
    for role, s in signers.items():
        root.add_key(s.public_key, role)
    # A field python-tuf does not know: kept and signed.
    root.unrecognized_fields["x-clip-note"] = "é \"quoted\" \\ back"
    root_md = signed(root, signers["root"])

    payload = b"payload from python-tuf\n"
    target = TargetFile.from_data("dir/app-1.0.zst", payload, ["sha256", "sha512"])
    target.unrecognized_fields["custom"] = {"version": "1.0.0", "verity_root_hash": "00ff"}
    targets = Targets(version=1, expires=valid, targets={target.path: target})
    targets_md = signed(targets, signers["targets"])
    targets_bytes = targets_md.to_bytes(JSONSerializer(compact=False))

    def snapshot_md(version, targets_version=1, expires=valid, key="snapshot"):
        meta = MetaFile(version=targets_version)
        if targets_version == 1:
            meta = MetaFile(version=1, length=len(targets_bytes),
                            hashes={"sha256": hashlib.sha256(targets_bytes).hexdigest()})
        return signed(Snapshot(version=version, expires=expires, meta={"targets.json": meta}), signers[key])

    def timestamp_md(version, snap_md=None, snapshot_version=None, expires=valid, key="timestamp"):
        if snap_md is not None:
            b = snap_md.to_bytes(JSONSerializer(compact=False))
            meta = MetaFile(version=snap_md.signed.version, length=len(b),
                            hashes={"sha256": hashlib.sha256(b).hexdigest()})
        else:
            meta = MetaFile(version=snapshot_version)
        signer = signers[key] if key in signers else other
        return signed(Timestamp(version=version, expires=expires, snapshot_meta=meta), signer)

    os.makedirs(os.path.join(out, "targets", "dir"), exist_ok=True)
    files = {}

    def put(name, md_or_bytes):
        path = os.path.join(out, name)
        if isinstance(md_or_bytes, bytes):
            with open(path, "wb") as f:
                f.write(md_or_bytes)
        else:
            write(md_or_bytes, path)
        with open(path, "rb") as f:
            files[name] = f.read()

    snap1 = snapshot_md(1)
    put("1.root.json", root_md)
    put("1.targets.json", targets_bytes)
    put("1.snapshot.json", snap1)
    put("timestamp.json", timestamp_md(1, snap1))
    h = hashlib.sha256(payload).hexdigest()
    put(f"targets/dir/{h}.app-1.0.zst", payload)
    # Root v2 rotated to a new root key: signed by old and new; and one signed by the new only.
    root2 = copy.deepcopy(root)
    root2.version = 2
    root2.revoke_key(signers["root"].public_key.keyid, "root")
    root2.add_key(new_root_signer.public_key, "root")
    put("2.root.json", signed(root2, signers["root"], new_root_signer))
    put("2.root-new-key-only.json", signed(root2, new_root_signer))
    put("2.root-old-key-only.json", signed(root2, signers["root"]))
    root3 = copy.deepcopy(root2)
    root3.version = 3
    put("3.root-skipped.json", signed(root3, new_root_signer))
    # Timestamps.
    put("timestamp-v2.json", timestamp_md(2, snap1))
    put("timestamp-expired.json", timestamp_md(3, snap1, expires=expired))
    put("timestamp-wrong-key.json", timestamp_md(3, snap1, key="other"))
    put("timestamp-snapshot-v5.json", timestamp_md(4, snapshot_version=5))
    put("timestamp-snapshot-v3.json", timestamp_md(5, snapshot_version=3))
    # Snapshots.
    put("5.snapshot-v4.json", snapshot_md(4))
    put("5.snapshot-expired.json", snapshot_md(5, expires=expired))
    put("5.snapshot-targets-v0-rollback.json", snapshot_md(5, targets_version=1))
    snap_t9 = snapshot_md(4, targets_version=9)
    put("4.snapshot-targets-v9.json", snap_t9)
    # Tampered: a valid snapshot's bytes with its version changed after signing.
    tampered = json.loads(files["1.snapshot.json"])
    tampered["signed"]["expires"] = tampered["signed"]["expires"].replace("2", "3", 1)
    put("1.snapshot-tampered.json", json.dumps(tampered).encode())
    # Tampered after signing, under a timestamp that gives no length or hash:
    # the signature is what refuses it.
    sig_tampered = json.loads(snapshot_md(5).to_bytes(JSONSerializer(compact=False)))
    sig_tampered["signed"]["expires"] = sig_tampered["signed"]["expires"].replace("2", "3", 1)
    put("5.snapshot-sig-tampered.json", json.dumps(sig_tampered).encode())
    bad_targets = json.loads(targets_bytes)
    bad_targets["signed"]["targets"]["dir/app-1.0.zst"]["length"] += 1
    put("1.targets-tampered.json", json.dumps(bad_targets).encode())
    put("payload-tampered", payload.replace(b"python", b"PYTHON"))

    # The cases: steps in order, the last one refused (or none).
    cases = [
        ("good", [("timestamp", "timestamp.json"), ("snapshot", "1.snapshot.json"),
                  ("targets", "1.targets.json"), ("target", f"targets/dir/{h}.app-1.0.zst")]),
        ("root-rotation", [("root", "2.root.json"), ("timestamp", "timestamp.json")]),
        ("root-new-key-only", [("root", "2.root-new-key-only.json")]),
        ("root-old-key-only", [("root", "2.root-old-key-only.json")]),
        ("root-skipped-version", [("root", "2.root.json"), ("root", "3.root-skipped.json"),
                                  ("root", "3.root-skipped.json")]),
        ("timestamp-rollback", [("timestamp", "timestamp-v2.json"), ("timestamp", "timestamp.json")]),
        ("timestamp-expired", [("timestamp", "timestamp-expired.json")]),
        ("timestamp-wrong-key", [("timestamp", "timestamp-wrong-key.json")]),
        ("timestamp-snapshot-rollback", [("timestamp", "timestamp-snapshot-v5.json"),
                                         ("timestamp", "timestamp-snapshot-v3.json")]),
        ("snapshot-tampered", [("timestamp", "timestamp.json"), ("snapshot", "1.snapshot-tampered.json")]),
        ("snapshot-signature", [("timestamp", "timestamp-snapshot-v5.json"),
                                ("snapshot", "5.snapshot-sig-tampered.json")]),
        ("snapshot-mix-and-match", [("timestamp", "timestamp-snapshot-v5.json"), ("snapshot", "5.snapshot-v4.json")]),
        ("snapshot-expired", [("timestamp", "timestamp-snapshot-v5.json"), ("snapshot", "5.snapshot-expired.json")]),
        ("snapshot-targets-rollback", [("timestamp", "timestamp-snapshot-v5.json"),
                                       ("persisted_snapshot", "4.snapshot-targets-v9.json"),
                                       ("snapshot", "5.snapshot-targets-v0-rollback.json")]),
        ("targets-tampered", [("timestamp", "timestamp.json"), ("snapshot", "1.snapshot.json"),
                              ("targets", "1.targets-tampered.json")]),
        ("target-tampered", [("timestamp", "timestamp.json"), ("snapshot", "1.snapshot.json"),
                             ("targets", "1.targets.json"), ("target", "payload-tampered")]),
    ]
    results = []
    for name, steps in cases:
        verdict = run_case(files, steps)
        results.append({"name": name, "steps": [list(s) for s in steps], **verdict})
    keyids = {s.public_key.keyid: compute_default_keyid(s.public_key.keytype, s.public_key.scheme, s.public_key.keyval)
              for s in list(signers.values()) + [new_root_signer]}
    canonical = {}
    for name, data in files.items():
        if name.endswith(".json") and "tampered" not in name:
            canonical[name] = CanonicalJSONSerializer().serialize(Metadata.from_bytes(data).signed).hex()
    with open(os.path.join(out, "cases.json"), "w") as f:
        json.dump({"cases": results, "keyids": keyids, "canonical": canonical,
                   "target": {"name": "dir/app-1.0.zst", "file": f"targets/dir/{h}.app-1.0.zst"}},
                  f, indent=1, sort_keys=True)


def run_case(files, steps):
    trusted = TrustedMetadataSet(files["1.root.json"], EnvelopeType.METADATA)
    for i, (kind, name) in enumerate(steps):
        data = files[name]
        try:
            if kind == "root":
                trusted.update_root(data)
            elif kind == "timestamp":
                trusted.update_timestamp(data)
            elif kind == "snapshot":
                trusted.update_snapshot(data)
            elif kind == "persisted_snapshot":
                try:
                    trusted.update_snapshot(data, trusted=True)
                except Exception:  # noqa: BLE001 - kept for rollback checks, as the Updater does
                    pass
            elif kind == "targets":
                trusted.update_targets(data)
            elif kind == "target":
                trusted.targets.targets["dir/app-1.0.zst"].verify_length_and_hashes(data)
        except Exception as e:  # noqa: BLE001
            return {"refused_at": i, "error": type(e).__name__, "message": str(e)}
    return {"refused_at": None, "error": None, "message": None}


if __name__ == "__main__":
    if sys.argv[1] == "check-repo":
        check_repo(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "make-repo":
        make_repo(sys.argv[2])
    else:
        sys.exit(f"unknown command {sys.argv[1]}")
