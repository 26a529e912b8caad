"""Small generated conda packages for the growth curves of bench/run.py.

Each package is a real `.conda` (a zip of metadata.json, an info and a pkg tar.zst) with a few
small files under share/, noarch generic, so that it installs anywhere without a python: what the
index and the environment curves need is many packages, not real software. Deterministic: fixed
dates, sorted members, names and contents derived from the index.
"""

import hashlib
import importlib.util
import json
from pathlib import Path

# One `.conda` writer for the test fixtures and the benchmarks: scripts/gen-channel.py's.
GEN_CHANNEL = Path(__file__).resolve().parent.parent / "scripts" / "gen-channel.py"
_spec = importlib.util.spec_from_file_location("gen_channel", GEN_CHANNEL)
_gen_channel = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_gen_channel)


def write_conda(folder, name, version, depends=(), files=3):
    """Writes `name-version-0.conda` (noarch generic) into `folder`, holding `files` small files."""
    stem = f"{name}-{version}-0"
    payload = {f"share/{name}/file{i}.txt": hashlib.sha256(f"{stem}/{i}".encode()).hexdigest().encode() * 16
               for i in range(files)}
    index = {"name": name, "version": version, "build": "0", "build_number": 0, "depends": list(depends),
             "subdir": "noarch", "noarch": "generic", "license": "MIT", "timestamp": 1_700_000_000_000}
    paths = {"paths": [{"_path": p, "path_type": "hardlink", "sha256": hashlib.sha256(d).hexdigest(),
                        "size_in_bytes": len(d)} for p, d in sorted(payload.items())], "paths_version": 1}
    info = {"info/index.json": json.dumps(index, indent=2, sort_keys=True).encode(),
            "info/paths.json": json.dumps(paths, sort_keys=True).encode(),
            "info/files": "".join(p + "\n" for p in sorted(payload)).encode(),
            "info/about.json": b'{"summary": "generated benchmark package"}'}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{stem}.conda").write_bytes(_gen_channel.conda_bytes(stem, info, payload))


def channel(dest, count, versions=10, meta=None):
    """A channel of `count` packages without repodata (`versions` versions per name), in
    dest/noarch. With `meta`, also a package of that name depending on one version of each name,
    so that one spec installs them all."""
    dest = Path(dest)
    names = []
    for i in range(count):
        name = f"bench-gen-{i // versions:05d}"
        write_conda(dest / "noarch", name, f"1.{i % versions}")
        if i % versions == 0:
            names.append(name)
    if meta:
        write_conda(dest / "noarch", meta, "1.0", depends=names, files=0)
    return dest
