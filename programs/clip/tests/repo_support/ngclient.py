"""python-tuf's ngclient Updater (the oracle) against a repository served over HTTP.

ngclient.py URL ROOT WORK NAME...: trusts ROOT (copied to WORK/metadata/root.json
the first time; later runs start from the metadata kept there, as a device
does), refreshes from URL/metadata/, downloads each target NAME from
URL/targets/ and prints {NAME: downloaded path}; on any error prints
{"error": exception class, "message": text} and exits 1.
"""

import json
import os
import shutil
import sys

from tuf.ngclient import Updater


def main():
    url, root, work = sys.argv[1:4]
    names = sys.argv[4:]
    metadata = os.path.join(work, "metadata")
    targets = os.path.join(work, "targets")
    os.makedirs(metadata, exist_ok=True)
    os.makedirs(targets, exist_ok=True)
    if not os.path.exists(os.path.join(metadata, "root.json")):
        shutil.copy(root, os.path.join(metadata, "root.json"))
    try:
        updater = Updater(
            metadata_dir=metadata,
            metadata_base_url=url + "/metadata/",
            target_dir=targets,
            target_base_url=url + "/targets/",
            bootstrap=None,  # the root.json kept in metadata/
        )
        updater.refresh()
        out = {}
        for name in names:
            info = updater.get_targetinfo(name)
            if info is None:
                raise LookupError(f"no target {name}")
            path = os.path.join(targets, name.replace("/", "_"))
            out[name] = updater.download_target(info, filepath=path)
        print(json.dumps(out))
    except Exception as e:  # noqa: BLE001 - the class is the verdict
        print(json.dumps({"error": type(e).__name__, "message": str(e)}))
        sys.exit(1)


if __name__ == "__main__":
    main()
