"""Small generated conda packages for the growth curves of bench/run.py.

Each package is a real `.conda` (a zip of metadata.json, an info and a pkg tar.zst) with a few
small files under share/, noarch generic, so that it installs anywhere without a python: what the
index and the environment curves need is many packages, not real software. Deterministic: fixed
dates, sorted members, names and contents derived from the index.
"""

import hashlib
import io
import json
import tarfile
import zipfile
from pathlib import Path

import zstandard


def _tar_zst(members):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(members):
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(members[name]), 0, 0o644
            tar.addfile(info, io.BytesIO(members[name]))
    return zstandard.ZstdCompressor(level=3).compress(raw.getvalue())


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
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:
        for member, data in [("metadata.json", b'{"conda_pkg_format_version": 2}'),
                             (f"info-{stem}.tar.zst", _tar_zst(info)), (f"pkg-{stem}.tar.zst", _tar_zst(payload))]:
            z.writestr(zipfile.ZipInfo(member, date_time=(1980, 1, 1, 0, 0, 0)), data)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{stem}.conda").write_bytes(out.getvalue())


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
