"""Times `scivision channel index` against py-rattler's `index_fs` on copies of one channel.

Usage: python bench/index.py CHANNEL [--runs N] [--scivision PATH]
(run with the python that has py-rattler, e.g. ~/.cache/scivision-peers/bin/python)

Each run indexes a fresh copy with every repodata file removed (a full index), so both tools do
the same work: read every archive's index.json, write repodata.json, .zst and shards.
Prints min and median seconds of each and the ratio scivision / py-rattler.
"""

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import rattler
from rattler.index import index_fs


def fresh_copy(channel: Path, into: Path) -> Path:
    dest = into / "channel"
    shutil.copytree(channel, dest, symlinks=True)
    for p in list(dest.rglob("*")):
        if p.is_file() and (p.name.startswith("repodata") or p.name in ("channeldata.json", "notices.json") or p.suffix == ".zst"):
            p.unlink()
    for shards in dest.rglob("shards"):
        shutil.rmtree(shards)
    return dest


def time_runs(label, channel, runs, index):
    times = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            dest = fresh_copy(channel, Path(tmp))
            start = time.perf_counter()
            index(dest)
            times.append(time.perf_counter() - start)
            assert (dest / "noarch" / "repodata.json").exists(), label
    return times


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("channel", type=Path)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--scivision", default=os.environ.get("SCIVISION", "scivision"))
    args = parser.parse_args()
    packages = sum(1 for _ in args.channel.rglob("*.conda"))

    ours = time_runs("scivision", args.channel, args.runs,
                     lambda d: subprocess.run([args.scivision, "-q", "channel", "index", str(d)], check=True, capture_output=True))
    theirs = time_runs("py-rattler", args.channel, args.runs,
                       lambda d: asyncio.run(index_fs(d, write_zst=True, write_shards=True)))
    print(f"channel index of {packages} packages, {args.runs} runs each (full index of a fresh copy)")
    for name, t in (("scivision channel index", ours), ("py-rattler index_fs", theirs)):
        print(f"  {name:26} min {min(t):.3f}s  median {statistics.median(t):.3f}s")
    print(f"  ratio (median) scivision / py-rattler: {statistics.median(ours) / statistics.median(theirs):.2f}x")


if __name__ == "__main__":
    main()
