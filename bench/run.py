"""scivision's benchmarks, side by side with peers measured in the same run.

    ~/.cache/scivision-peers/bin/python bench/run.py [--quick] [--scivision PATH] [--conda-src PATH] [--write BENCHMARKS.md]

Needs py-rattler (scripts/test-setup installs it) and, for the environment figures, the channel
built from recipes/ (`scivision build`). Prints each figure as min/median of several runs with its
ratio to the peer or to the physical limit; `--write` also writes BENCHMARKS.md. Nothing here is a
test: no figure is asserted. `--quick` does one run of each (CI uses it to check the harness runs).

1. solve: `scivision solve` (a process) on the real repodata in bench/data (see its SOURCES.md)
   against py-rattler's `solve` (same engine, resolvo) twice: in-process (the engine alone) and as
   a process (python start and `import rattler` included: what a user of it waits for); with
   `--conda-src PATH` (a checkout of github.com/conda/conda) also against `conda create --dry-run`
   with `--solver classic` and with the conda-rattler-solver plugin (`--solver rattler`), conda
   installed from that checkout and its dependencies from PyPI into a venv cached under
   ~/.cache/scivision-bench/conda-venv, run with its config, package cache and home in a temporary
   folder, its repodata cache warmed by one unmeasured run. Runs are interleaved; the solved
   records are compared with scivision's.
2. warm `env create` (every package cached, new prefix) against `cp -al` of the resulting prefix,
   the physical limit of linking from a cache.
3. no-op `env create` (the prefix matches its lock).
4. `scivision channel index` against py-rattler's `index_fs` on fresh copies of the channel.
6. a conda-forge-scale synthetic channel (scripts/gen-channel.py --synthetic 30000: about a
   million records, 30,000 names, written as repodata.json and as CEP-16 shards): a pytorch-like
   environment solved by `scivision solve` and by py-rattler, from the local repodata.json and
   from the shards served by nginx over HTTP with an empty (cold) and a filled (warm) repodata
   cache; records compared, peak memory (max RSS) of each process. The channel is generated once
   into ~/.cache/scivision-bench, keyed by the generator's hash.
5. the PyPI half of a warm `env create` (resolve against the conda packages + install, uv cache
   warm) against `uv pip install --python <prefix>/bin/python` (uv from PyPI, the release whose
   crates scivision links) of the same requirements from the same wheel folder into a copy of the
   same conda prefix, its uv cache warm too.
7. growth: how costs grow with the work, as curves (a table, the fitted log-log slope of each,
   and a PNG, bench/growth.png beside the --write file; needs matplotlib): `channel index` of 10,
   1,000 and 10,000 generated packages (bench/synthetic.py: small noarch .conda files, made once
   into ~/.cache/scivision-bench) against py-rattler's index_fs; `build` of 1, 10 and 100
   generated recipes, all built and unchanged, against rattler-build skipping existing packages;
   with the channel, warm `env create` of the demo model alone (6 packages), with the Jupyter
   kernel stack (`--kernel`, the kernel wheels converted by `scivision convert`) and with 144
   generated packages (`--with`), against `cp -al` of each prefix; and the disk that 1, 2, 4 and
   8 environments of the demo model take with their shared package cache (du: hard links counted
   once) against the sum of their prefixes' sizes (what copies would take). `--quick` runs each
   curve at two tiny sizes (no kernel point).
"""

import argparse
import asyncio
import datetime
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import rattler
from rattler.index import index_fs

sys.path.insert(0, str(Path(__file__).resolve().parent))
import synthetic  # noqa: E402  (bench/synthetic.py)

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "bench" / "data"

SOLVES = [
    # (label, [channel files], specs)
    ("defaults 2018: python 3.6 scipy stack", ["conda-defaults-2018-index4.json"],
     ["python=3.6", "numpy", "scipy", "pandas", "matplotlib", "conda-build"]),
    ("defaults 2018 + r: r-base", ["conda-r-linux-64.json", "conda-defaults-2018-index4.json"], ["r-base"]),
    ("pytorch + defaults 2018: pytorch-cpu", ["pytorch-linux-64.json", "conda-defaults-2018-index4.json"], ["pytorch-cpu", "python=3.6"]),
    # mamba-sudoku.json is not used yet: asking for every cell is unsatisfiable as encoded, and
    # the spec set mamba's own test uses is still to be found.
]


def stats(times):
    return min(times), statistics.median(times)


def channel_from(files, root):
    """A channel folder (repodata.json per subdir) from bench/data files."""
    channels = []
    for name in files:
        data = json.loads((DATA / name).read_text())
        if "packages" not in data and "packages.conda" not in data:
            data = {"packages": data}  # index4 is a flat {filename: record} map
        by_subdir = {}
        for key in ("packages", "packages.conda"):
            for fn, rec in data.get(key, {}).items():
                sub = rec.get("subdir") or data.get("info", {}).get("subdir") or "noarch"
                by_subdir.setdefault(sub, {}).setdefault(key, {})[fn] = rec
        dest = root / name.replace(".json", "")
        for sub in set(by_subdir) | {"noarch"}:
            (dest / sub).mkdir(parents=True, exist_ok=True)
            body = {"info": {"subdir": sub}, "packages": {}, "packages.conda": {}}
            body.update(by_subdir.get(sub, {}))
            (dest / sub / "repodata.json").write_text(json.dumps(body))
        channels.append(dest)
    return channels


def run(cmd, env=None):
    start = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - start
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed:\n{out.stderr}")
    return elapsed, out.stdout


def bench_solves(sv, runs, rows, conda=None):
    """Each solve as a process beside py-rattler in-process (the engine alone) and as a process
    (python start and import included: what a user of it waits for), and conda's two solvers
    (processes too) where --conda-src gave a conda. Runs are interleaved, so each figure is
    measured beside its peers under the same load."""
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for label, files, specs in SOLVES:
            channels = channel_from(files, tmp)
            cmd = [sv, "-q", "solve", "--json", "--platform", "linux-64", "--cuda", "none"]
            for c in channels:
                cmd += ["-c", str(c)]
            cmd += specs
            env = dict(os.environ, CONDA_OVERRIDE_CUDA="")
            vps = [v for v in rattler.VirtualPackage.detect() if not str(v).startswith("__cuda")]
            urls = [c.as_uri() for c in channels]
            peers = {"inproc": [], "proc": []} | {solver: [] for solver in (CONDA_SOLVERS if conda else ())}
            sets = {}
            ours = []
            if conda:  # conda reads and caches the repodata on its first run: measure it warm
                for solver in CONDA_SOLVERS:
                    run(conda_create(conda, tmp, solver, channels, specs), conda_env(tmp))
            in_process = lambda: asyncio.run(rattler.solve(urls, specs, platforms=["linux-64", "noarch"],
                                                           virtual_packages=vps, gateway=rattler.Gateway()))
            peer_proc = [sys.executable, "-c", PY_RATTLER_SOLVE, json.dumps(urls), str(tmp / "gateway"), *specs]
            for _ in range(runs):
                # Each subject runs once untimed right before its timed run: this host's memory
                # reclaim (DAMON pageout) drops files idle for about a second from the page cache,
                # so whoever ran after conda's multi-second solves re-read its binary from disk.
                run(cmd, env)
                t, out = run(cmd, env)
                ours.append(t)
                sets["ours"] = sorted((p["name"], p["version"], p["build"]) for p in json.loads(out)["packages"])
                in_process()
                start = time.perf_counter()
                recs = in_process()
                peers["inproc"].append(time.perf_counter() - start)
                sets["inproc"] = sorted((r.name.normalized, str(r.version), str(r.build)) for r in recs)
                run(peer_proc, env)
                t, out = run(peer_proc, env)
                peers["proc"].append(t)
                sets["proc"] = sorted(tuple(r) for r in json.loads(out)["records"])
                for solver in CONDA_SOLVERS if conda else ():
                    run(conda_create(conda, tmp, solver, channels, specs), conda_env(tmp))
                    t, out = run(conda_create(conda, tmp, solver, channels, specs), conda_env(tmp))
                    peers[solver].append(t)
                    sets[solver] = sorted((r["name"], r["version"], r["build_string"]) for r in json.loads(out)["actions"]["LINK"])
            n = len(sets["ours"])
            for key, peer in [("inproc", "py-rattler solve, in-process (the engine alone)"),
                              ("proc", "py-rattler solve as a process (python start + import + solve)"),
                              ("classic", f"`conda create --dry-run --solver classic` ({conda and conda.version})"),
                              ("rattler", f"`conda create --dry-run --solver rattler` ({CONDA_SOLVER_PLUGIN})")]:
                if key in peers:
                    rows.append((f"solve: {label}", stats(ours), peer, stats(peers[key]),
                                 f"{n} records, {compare(sets['ours'], sets[key])}"))


def compare(ours, theirs):
    diff = sorted(set(ours) ^ set(theirs))
    if not diff:
        return "identical"
    names = sorted({d[0] for d in diff})
    return f"DIFFERENT ({len(theirs)} records; {len(diff)} differ, in {', '.join(names[:4])}{', ...' if len(names) > 4 else ''})"


CONDA_SOLVERS = ("classic", "rattler")
CONDA_SOLVER_PLUGIN = "conda-rattler-solver==0.2.0"
# conda's dependencies that PyPI does not have: menuinst makes Start-menu shortcuts and conda imports
# it only when it makes them (never in a dry run).
NOT_ON_PYPI = {"menuinst"}


class Conda:
    def __init__(self, python, version):
        self.python, self.version = python, version


def conda_venv(src):
    """A venv with conda installed from the checkout `src` and its dependencies (and the
    conda-rattler-solver plugin) from PyPI, created once per checkout into ~/.cache/scivision-bench.
    Returns (Conda, None) or (None, why not)."""
    import hashlib
    import tomllib
    src = Path(src).resolve()
    if not (src / "pyproject.toml").is_file() or not (src / "conda" / "__init__.py").is_file():
        return None, f"{src} is not a checkout of github.com/conda/conda (no pyproject.toml and conda/)"
    uv = Path(sys.executable).parent / "uv"
    if not uv.exists():
        return None, "no uv beside this python (scripts/test-setup installs it)"
    git = lambda *a: subprocess.run(["git", "-C", str(src), *a], capture_output=True, text=True).stdout.strip()
    if git("rev-parse", "--show-toplevel") == str(src):
        commit = git("rev-parse", "HEAD")
        release = git("describe", "--tags", "--abbrev=0")
    else:  # an exported tree: its hash stands for the commit, CHANGELOG.md's newest heading for the tag
        h = hashlib.sha256()
        for p in sorted((src / "conda").rglob("*.py")) + [src / "pyproject.toml"]:
            h.update(str(p.relative_to(src)).encode() + b"\0" + p.read_bytes())
        commit = "tree-" + h.hexdigest()
        release = next((line.split()[1] for line in (src / "CHANGELOG.md").read_text().splitlines()
                        if line.startswith("## ")), "0") if (src / "CHANGELOG.md").is_file() else "0"
    key = hashlib.sha256(f"{commit} {CONDA_SOLVER_PLUGIN} {sys.version}".encode()).hexdigest()[:12]
    dest = Path.home() / ".cache" / "scivision-bench" / "conda-venv" / key
    python = dest / "bin" / "python"
    if not (dest / "ready").exists():
        shutil.rmtree(dest, ignore_errors=True)
        deps = tomllib.loads((src / "pyproject.toml").read_text())["project"]["dependencies"]
        deps = [d for d in deps if re.split(r"[\s;<>=!~\[]", d, maxsplit=1)[0] not in NOT_ON_PYPI]
        try:
            subprocess.run([str(uv), "venv", "-q", "--python", sys.executable, str(dest)], check=True)
            subprocess.run([str(uv), "pip", "install", "-q", "--python", str(python), "--no-deps", str(src)], check=True,
                           env=dict(os.environ, SETUPTOOLS_SCM_PRETEND_VERSION=release.lstrip("v")))
            subprocess.run([str(uv), "pip", "install", "-q", "--python", str(python), *deps, CONDA_SOLVER_PLUGIN],
                           check=True)
        except subprocess.CalledProcessError as e:
            shutil.rmtree(dest, ignore_errors=True)
            return None, f"installing conda from {src} failed ({e})"
        (dest / "ready").write_text(f"{commit}\n")
    version = subprocess.run([str(python), "-m", "conda", "--version"], capture_output=True, text=True).stdout.strip()
    return Conda(str(python), f"{version} from {commit[:12]}"), None


def conda_env(tmp):
    """conda's environment: its config, package cache and home in `tmp`, nothing of the user's."""
    home = Path(tmp) / "conda-home"
    (home / "pkgs").mkdir(parents=True, exist_ok=True)
    (home / "condarc").touch()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONDA")}
    return dict(env, HOME=str(home), XDG_CONFIG_HOME=str(home / "config"), CONDARC=str(home / "condarc"),
                CONDA_PKGS_DIRS=str(home / "pkgs"), CONDA_SUBDIR="linux-64", CONDA_OVERRIDE_CUDA="",
                CONDA_NUMBER_CHANNEL_NOTICES="0",
                # the same problem as the others' (conda otherwise adds pip, and with it wheel and
                # setuptools, to every python)
                CONDA_ADD_PIP_AS_PYTHON_DEPENDENCY="false")


def conda_create(conda, tmp, solver, channels, specs):
    cmd = [conda.python, "-m", "conda", "create", "--dry-run", "--json", "--yes", "--solver", solver,
           "-p", str(Path(tmp) / "conda-prefix"), "--override-channels"]
    for c in channels:
        cmd += ["-c", c.as_uri()]
    return cmd + list(specs)


def bench_envs(sv, channel, wheels, runs, rows):
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        env = dict(os.environ, SCIVISION_HOME=str(tmp / "home0"), SCIVISION_CONFIG=str(tmp / "none.toml"),
                   SCIVISION_FIND_LINKS=str(wheels), SCIVISION_NO_INDEX="1")
        cmd = [sv, "-q", "env", "create", "scivision-demo-edges", "-c", str(channel)]
        run(cmd, env)  # warms the package cache
        warm, limit = [], []
        for i in range(runs):
            env_i = dict(env, SCIVISION_HOME=str(tmp / f"home{i + 1}"))
            t, _ = run(cmd, env_i)
            warm.append(t)
            prefix = tmp / f"home{i + 1}" / "envs" / "scivision-demo-edges"
            t, _ = run(["cp", "-al", str(prefix), str(tmp / f"copy{i}")])
            limit.append(t)
        rows.append(("env create, warm cache, new prefix", stats(warm), "cp -al of the prefix", stats(limit), "goal <= 1.5x"))
        noop = [run(cmd, env)[0] for _ in range(max(runs, 3))]
        rows.append(("env create, no-op (prefix matches lock)", stats(noop), None, None, "goal <= 30 ms"))
        bench_pypi(sv, cmd, env, wheels, tmp, runs, rows)
        return create_stages(sv, cmd, env, tmp, runs)


# The `-vv` log lines that end each stage of a create, in order, with what the stage does and why
# it costs what it costs. The durations are measured; the reasons are what the profile showed.
CREATE_STAGES = [
    ("request: catalog loaded", "catalog: the embedded models and their cards",
     "parsing 22 catalog entries and 17 YAML cards, the first code of the process to run"),
    ("request: published models read", "config, channels, the models a channel publishes",
     "reads the config file and each local channel's channeldata.json"),
    ("request: virtual packages", "host detection",
     "rattler_virtual_packages: glibc, the kernel, the CUDA driver (NVML, libcuda, then nvidia-smi "
     "are probed; a detection is kept on disk only where a driver exists to fingerprint it) and AMD's "
     "(KFD, then HIP); the CPU's microarchitecture is kept on disk until a reboot"),
    ("create: solved", "solve", "reading the channels' repodata and resolvo's solve"),
    ("stage: package cache checked", "package cache check",
     "paths.json of every package parsed and checked for paths that leave the prefix, and one stat per "
     "file compared with the entry's signature: what keeps a tampered cache from being linked "
     "(tests/hostile.rs). Side by side on every core"),
    ("stage: pypi half planned", "PyPI half planned", "reads the model package's requirements"),
    ("stage: conda half linked", "conda half linked (rattler's installer)",
     "one link per file, as cp -al does, plus a conda-meta record per package, each written "
     "durably (fsync) by rattler; the row below measures cp -al alone"),
    ("pypi: installed", "PyPI half (uv's resolver and installer)",
     "the wheel cache is read and its files linked; the python is never started"),
    ("stage: lock written", "lock written", "scivision.lock, written atomically"),
    ("install: swapped in", "scivision.json, swap into place", "one rename"),
]
STAGE_LINE = re.compile(r"^\s*([0-9.]+)s\s+DEBUG\s+\S+: (.*)$")


def create_stages(sv, cmd, env, tmp, runs):
    """A warm create's time split by the stage logs of `-vv` (time since the log started), each
    create into a new home; plus the process's start and exit (everything outside the log) against
    `scivision --version`, and cp -al of the same prefix."""
    marks = {key: [] for key, _, _ in CREATE_STAGES}
    outside, version, copies = [], [], []
    for i in range(max(runs, 3)):
        env_i = dict(env, SCIVISION_HOME=str(tmp / f"stages{i}"))
        start = time.perf_counter()
        verbose = [cmd[0], "-vv", *cmd[2:]]  # cmd is [sv, "-q", "env", "create", ...]
        out = subprocess.run(verbose, capture_output=True, text=True, env=env_i)
        wall = time.perf_counter() - start
        if out.returncode != 0:
            raise RuntimeError(f"-vv create failed:\n{out.stderr[-2000:]}")
        seen = {}
        for line in out.stderr.splitlines():
            m = STAGE_LINE.match(line)
            if m:
                for key in marks:
                    if key not in seen and m.group(2).startswith(key):
                        seen[key] = float(m.group(1))
        missing = [k for k in marks if k not in seen]
        if missing:
            raise RuntimeError(f"the -vv log lacks the stage lines {missing}: update CREATE_STAGES")
        last = 0.0
        for key in marks:
            marks[key].append(seen[key] - last)
            last = seen[key]
        outside.append(wall - last)
        version.append(run([sv, "--version"])[0])
        prefix = tmp / f"stages{i}" / "envs" / "scivision-demo-edges"
        copies.append(run(["cp", "-al", str(prefix), str(tmp / f"stages-copy{i}")])[0])
    return {"stages": [(label, statistics.median(marks[key]), why) for key, label, why in CREATE_STAGES],
            "outside": statistics.median(outside), "version": statistics.median(version),
            "cp": statistics.median(copies)}


def render_stages(data):
    total = data["outside"] + sum(t for _, t, _ in data["stages"])
    lines = ["## Where a warm create's time goes", "",
             "The demo model's warm create, split by the stage lines of `scivision -vv env create` (medians; "
             "the log's clock starts in `main`, so the process's start and exit are the rest of the wall "
             "time). Measured in the same run as the table above, each create into a new home.", "",
             "| stage | median | share | why it costs this |", "| --- | --- | --- | --- |"]
    lines.append(f"| process start and exit (outside the log) | {fmt(data['outside'])} | "
                 f"{data['outside'] / total:.0%} | exec and relocation of the binary, runtime set-up, and at exit the "
                 f"kernel freeing the process's memory; "
                 f"`scivision --version` alone takes {fmt(data['version'])} |")
    for label, t, why in data["stages"]:
        lines.append(f"| {label} | {fmt(t)} | {t / total:.0%} | {why} |")
    lines += [f"| total | {fmt(total)} | | `cp -al` of the same prefix: {fmt(data['cp'])} "
              f"({total / data['cp']:.2f}x) |", ""]
    return "\n".join(lines) + "\n"


def bench_pypi(sv, cmd, env, wheels, tmp, runs, rows):
    uv = Path(sys.executable).parent / "uv"
    if not uv.exists():
        print("(no uv beside this python: scripts/test-setup installs it; PyPI row skipped)", file=sys.stderr)
        return
    ours, theirs, names = [], [], []
    for i in range(runs):
        env_i = dict(env, SCIVISION_HOME=str(tmp / f"pypi{i}"))
        _, out = run(cmd + ["--json"], env_i)
        report = json.loads(out)["pypi"]
        ours.append(report["seconds"])
        names = report["packages"]
    if not names:
        return
    prefix = tmp / "pypi0" / "envs" / "scivision-demo-edges"
    uv_env = dict(os.environ, UV_CACHE_DIR=str(tmp / "uv-cache"))
    for i in range(runs + 1):
        copy = tmp / f"uvprefix{i}"
        shutil.copytree(prefix, copy, symlinks=True)
        python = copy / "bin" / "python"
        # The conda prefix without the PyPI half, removed by its RECORD (not with uv: that would
        # cache uv's query of this interpreter, which scivision pays for each new prefix too).
        site = next((copy / "lib").glob("python3*/site-packages"))
        for info in site.glob("*.dist-info"):
            if (info / "INSTALLER").is_file() and (info / "INSTALLER").read_text().strip() == "scivision":
                for line in (info / "RECORD").read_text().splitlines():
                    target = (site / line.split(",")[0]).resolve()
                    if target.is_file():
                        target.unlink()
                shutil.rmtree(info, ignore_errors=True)
        t, _ = run([str(uv), "pip", "install", "--python", str(python), "--no-index", "--find-links", str(wheels),
                    "--link-mode", "hardlink", *[n for n in names]], uv_env)
        if i:  # the first run warms uv's cache, as scivision's first create warmed its own
            theirs.append(t)
    version = subprocess.run([str(uv), "--version"], capture_output=True, text=True).stdout.strip()
    rows.append((f"PyPI half ({', '.join(names)})", stats(ours), f"`uv pip install --python` ({version})",
                 stats(theirs), "goal <= 1.2x; same wheels, warm caches"))


def bench_index(sv, channel, runs, rows):
    def fresh(tmp):
        dest = Path(tmp) / "channel"
        shutil.copytree(channel, dest, symlinks=True)
        for p in list(dest.rglob("*")):
            if p.is_file() and (p.name.startswith("repodata") or p.name in ("channeldata.json", "notices.json")):
                p.unlink()
        for shards in list(dest.rglob("shards")):
            shutil.rmtree(shards)
        return dest

    ours, theirs = [], []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            d = fresh(tmp)
            ours.append(run([sv, "-q", "channel", "index", str(d)])[0])
        with tempfile.TemporaryDirectory() as tmp:
            d = fresh(tmp)
            start = time.perf_counter()
            asyncio.run(index_fs(d, write_zst=True, write_shards=True))
            theirs.append(time.perf_counter() - start)
    n = sum(1 for _ in channel.rglob("*.conda"))
    rows.append((f"channel index ({n} packages, full)", stats(ours), "py-rattler index_fs", stats(theirs), ""))


FORGE_SPECS = ["python 3.11.*", "pytorch", "torchvision", "numpy", "scipy", "pandas", "pillow",
               "matplotlib-base", "scikit-learn", "transformers"]

PY_RATTLER_SOLVE = r"""
import asyncio, json, os, sys, time, rattler
urls, cache, *specs = sys.argv[1:]
vps = [v for v in rattler.VirtualPackage.detect() if not str(v).startswith("__cuda")]
start = time.perf_counter()
recs = asyncio.run(rattler.solve(json.loads(urls), specs, platforms=["linux-64", "noarch"], virtual_packages=vps,
                                 gateway=rattler.Gateway(cache_dir=cache)))
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "records": sorted([r.name.normalized, str(r.version), str(r.build)] for r in recs)}))
sys.stdout.flush(); os._exit(0)
"""


def peak_rss(cmd, env=None):
    """Runs `cmd` and returns (wall seconds, stdout, max RSS MiB) from wait4's rusage of that child."""
    start = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, text=True, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(map(str, cmd))} failed:\n{err.read()}")
        return elapsed, out.read(), usage.ru_maxrss / 1024


class Nginx:
    """Debian's nginx serving a folder on 127.0.0.1 (ETags and ranges, unlike http.server)."""

    def __init__(self, root):
        self.dir = tempfile.TemporaryDirectory()
        d = self.dir.name
        import socket
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        conf = (f"master_process off; daemon off; pid {d}/nginx.pid; error_log {d}/error.log;\n"
                f"events {{ worker_connections 4096; }}\n"
                f"http {{ access_log off; client_body_temp_path {d}/b; proxy_temp_path {d}/p; fastcgi_temp_path {d}/f;\n"
                f"  uwsgi_temp_path {d}/u; scgi_temp_path {d}/s;\n"
                f"  types {{ application/json json; application/octet-stream conda zst msgpack; }}\n"
                f"  server {{ listen 127.0.0.1:{port}; root {root}; add_header Cache-Control no-cache; }} }}\n")
        Path(d, "nginx.conf").write_text(conf)
        self.proc = subprocess.Popen(["nginx", "-c", f"{d}/nginx.conf", "-p", d], stderr=subprocess.DEVNULL)
        self.url = f"http://127.0.0.1:{port}/"
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port)).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("nginx did not start")

    def close(self):
        self.proc.kill()
        self.proc.wait()
        self.dir.cleanup()


def forge_channel(names):
    """The synthetic channel, generated once per generator version and size."""
    import hashlib
    gen = REPO / "scripts" / "gen-channel.py"
    key = hashlib.sha256(gen.read_bytes()).hexdigest()[:12]
    dest = Path.home() / ".cache" / "scivision-bench" / f"forge-{names}-{key}"
    if not (dest / "linux-64" / "repodata_shards.msgpack.zst").exists():
        tmp = dest.with_name(dest.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        subprocess.run([sys.executable, str(gen), str(tmp), "--synthetic", str(names)], check=True)
        shutil.rmtree(dest, ignore_errors=True)
        tmp.rename(dest)
    return dest


def bench_forge(sv, runs, rows, names):
    if not shutil.which("nginx"):
        print("(no nginx: scripts/test-setup installs it; synthetic-channel rows skipped)", file=sys.stderr)
        return
    channel = forge_channel(names)
    records = sum(1 for _ in (channel / "linux-64" / "shards").iterdir())
    tops = (channel / "family-tops.txt").read_text().split()[:5]
    specs = FORGE_SPECS + tops
    server = Nginx(channel)
    try:
        for label, ours_url, their_url, warm in [
            ("repodata.json, local", str(channel), channel.as_uri(), None),
            ("shards over HTTP, cold cache", server.url, server.url, False),
            ("shards over HTTP, warm cache", server.url, server.url, True),
        ]:
            ours, theirs, ours_mem, theirs_mem = [], [], [], []
            ours_set = theirs_set = None
            with tempfile.TemporaryDirectory() as tmp:
                for i in range(runs + (1 if warm else 0)):
                    cache = Path(tmp) / ("warm" if warm else f"cold{i}")
                    env = dict(os.environ, RATTLER_CACHE_DIR=str(cache / "ours"), CONDA_OVERRIDE_CUDA="")
                    t, out, mem = peak_rss([sv, "-q", "solve", "--json", "--platform", "linux-64", "--cuda", "none",
                                            "-c", ours_url, *specs], env)
                    got = sorted([p["name"], p["version"], p["build"]] for p in json.loads(out)["packages"])
                    _, out2, mem2 = peak_rss([sys.executable, "-c", PY_RATTLER_SOLVE, json.dumps([their_url]), str(cache / "theirs"), *specs],
                                             dict(os.environ, CONDA_OVERRIDE_CUDA=""))
                    result = json.loads(out2)
                    if warm and i == 0:
                        continue  # fills the caches
                    ours.append(t)
                    ours_mem.append(mem)
                    theirs.append(result["seconds"])
                    theirs_mem.append(mem2)
                    ours_set, theirs_set = got, result["records"]
            same = "identical" if ours_set == theirs_set else "DIFFERENT"
            rows.append((f"solve, synthetic channel ({names} extra names), {label}", stats(ours), "py-rattler solve",
                         stats(theirs), f"{len(ours_set)} records, {same}; peak RSS {max(ours_mem):.0f} MiB vs "
                         f"{max(theirs_mem):.0f} MiB; goal < 2 s cold, <= 1.1x"))
    finally:
        server.close()
    return records


def generated_channel(count):
    """`count` generated packages (bench/synthetic.py, no repodata), made once per generator
    version into ~/.cache/scivision-bench."""
    import hashlib
    # The generator and the `.conda` writer it borrows from scripts/gen-channel.py.
    key = hashlib.sha256((REPO / "bench" / "synthetic.py").read_bytes()
                         + synthetic.GEN_CHANNEL.read_bytes()).hexdigest()[:12]
    dest = Path.home() / ".cache" / "scivision-bench" / f"gen-{count}-{key}"
    if not (dest / "ready").exists():
        shutil.rmtree(dest, ignore_errors=True)
        synthetic.channel(dest, count)
        (dest / "ready").touch()
    return dest


def linked_copy(src, dest):
    """A copy of the channel `src` whose packages are hard links (the index only reads them)."""
    def link(a, b):
        try:
            os.link(a, b)
        except OSError:
            shutil.copy2(a, b)
    shutil.copytree(src, dest, copy_function=link, ignore=shutil.ignore_patterns("ready"))
    return dest


def growth_index(sv, sizes, runs, rows, curves):
    """`channel index` of a fresh channel of n generated packages, beside py-rattler's index_fs."""
    points = []
    for n in sizes:
        src = generated_channel(n)
        ours, theirs = [], []
        for _ in range(runs):
            with tempfile.TemporaryDirectory(dir=src.parent) as tmp:
                ours.append(run([sv, "-q", "channel", "index", str(linked_copy(src, Path(tmp) / "channel"))])[0])
            with tempfile.TemporaryDirectory(dir=src.parent) as tmp:
                d = linked_copy(src, Path(tmp) / "channel")
                start = time.perf_counter()
                asyncio.run(index_fs(d, write_zst=True, write_shards=True))
                theirs.append(time.perf_counter() - start)
        rows.append((f"channel index, {n} generated packages", stats(ours), "py-rattler index_fs", stats(theirs),
                     "growth curve"))
        points.append((n, stats(ours)[1], stats(theirs)[1]))
    curves.append({"title": "channel index", "x": "packages in the channel", "unit": "s",
                   "ours": "scivision channel index", "peer": "py-rattler index_fs (in-process)", "points": points})


def growth_envs(sv, channel, wheels, runs, quick, rows, curves):
    """Warm `env create` of ever bigger environments (the demo model, + the Jupyter kernel stack,
    + generated packages) beside `cp -al` of each prefix; then the disk that N environments of the
    demo model take with their shared package cache (hard links counted once) against the sum of
    their prefixes' sizes (what N copies would take)."""
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        base = dict(os.environ, SCIVISION_CONFIG=str(tmp / "none.toml"), SCIVISION_FIND_LINKS=str(wheels),
                    SCIVISION_NO_INDEX="1", RATTLER_CACHE_DIR=str(tmp / "rattler"), JUPYTER_DATA_DIR=str(tmp / "jupyter"))
        cases = [("the demo model", [])]
        kernel = sorted((wheels.parent / "kernel").glob("*.whl"))
        if quick:
            print("(--quick: the kernel-stack point of the env curve is skipped)", file=sys.stderr)
        elif kernel:
            run([sv, "-q", "convert", "--index", "-o", str(tmp / "jupyter-channel"), *map(str, kernel)])
            cases.append(("+ the Jupyter kernel stack", ["--kernel", "-c", str(tmp / "jupyter-channel")]))
        else:
            print(f"(no kernel wheels in {wheels.parent / 'kernel'}: scripts/test-setup downloads them; "
                  "the kernel-stack point of the env curve is skipped)", file=sys.stderr)
        extra = 20 if quick else 144
        synthetic.channel(tmp / "generated", extra, versions=1, meta="bench-gen-all")
        run([sv, "-q", "channel", "index", str(tmp / "generated")])
        cases.append((f"+ {extra} generated packages", ["--with", "bench-gen-all", "-c", str(tmp / "generated")]))
        points = []
        for j, (label, more) in enumerate(cases):
            cmd = [sv, "-q", "env", "create", "scivision-demo-edges", "-c", str(channel), *more]
            run(cmd, dict(base, SCIVISION_HOME=str(tmp / f"fill{j}")))  # fills the package cache
            warm, limit = [], []
            for i in range(runs):
                home = tmp / f"home{j}-{i}"
                warm.append(run(cmd, dict(base, SCIVISION_HOME=str(home)))[0])
                prefix = home / "envs" / "scivision-demo-edges"
                limit.append(run(["cp", "-al", str(prefix), str(tmp / f"copy{j}-{i}")])[0])
            count = sum(1 for _ in (prefix / "conda-meta").glob("*.json"))
            rows.append((f"env create, warm cache, new prefix: {label} ({count} packages)", stats(warm),
                         "cp -al of the prefix", stats(limit), "growth curve"))
            points.append((count, stats(warm)[1], stats(limit)[1]))
        curves.append({"title": "warm env create", "x": "packages in the environment", "unit": "s",
                       "ours": "scivision env create", "peer": "cp -al of the prefix", "points": points})

        sizes = (1, 2) if quick else (1, 2, 4, 8)
        cache = tmp / "disk-cache"
        env = dict(base, RATTLER_CACHE_DIR=str(cache))
        cmd = [sv, "-q", "env", "create", "scivision-demo-edges", "-c", str(channel)]
        prefixes, points = [], []
        for n in range(1, max(sizes) + 1):
            run(cmd, dict(env, SCIVISION_HOME=str(tmp / f"disk{n}")))
            prefixes.append(tmp / f"disk{n}" / "envs" / "scivision-demo-edges")
            if n in sizes:
                shared = du([cache, *prefixes])
                alone = sum(du([p]) for p in prefixes)
                points.append((n, shared, alone))
        curves.append({"title": "disk of N environments", "x": "environment(s) of the demo model", "unit": "MiB",
                       "ours": "prefixes + shared package cache (du, hard links once)",
                       "peer": "sum of the prefixes' own sizes (as copies)", "points": points})


RECIPE = """package:
  name: bench-recipe-{i}
  version: "1.0"

build:
  number: 0
  noarch: generic
  script: mkdir -p $PREFIX/share/bench-recipe-{i} && echo {i} > $PREFIX/share/bench-recipe-{i}/file.txt
"""


def growth_build(sv, sizes, runs, rows, curves):
    """`build` of a channel whose n generated recipes are all built and unchanged (what a rebuild
    after no edit costs), beside rattler-build (py-rattler-build, in-process) skipping the
    packages its own output folder already holds (`skip_existing="all"`)."""
    import warnings
    import rattler_build
    points = []
    for n in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            for i in range(n):
                (tmp / "recipes" / f"bench-recipe-{i}").mkdir(parents=True)
                (tmp / "recipes" / f"bench-recipe-{i}" / "recipe.yaml").write_text(RECIPE.format(i=i))
            env = dict(os.environ, SCIVISION_HOME=str(tmp / "home"), SCIVISION_CACHE_DIR=str(tmp / "cache"),
                       SCIVISION_CONFIG=str(tmp / "none.toml"), RATTLER_CACHE_DIR=str(tmp / "rattler"))
            cmd = [sv, "-q", "build", str(tmp / "recipes"), "-o", str(tmp / "channel"), "--no-test"]
            run(cmd, env)  # builds them all once
            recipes = sorted(tmp.glob("recipes/*/recipe.yaml"))
            out = tmp / "rattler-build-out"
            build = lambda: rattler_build.build_recipes(recipes, output_dir=out, skip_existing="all", test="skip",
                                                        channel=[out.as_uri()])
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                build()
                ours, theirs = [], []
                for _ in range(runs):
                    ours.append(run(cmd, env)[0])
                    start = time.perf_counter()
                    build()
                    theirs.append(time.perf_counter() - start)
        rows.append((f"build, {n} unchanged recipes", stats(ours), "rattler-build skip_existing (in-process)",
                     stats(theirs), "growth curve"))
        points.append((n, stats(ours)[1], stats(theirs)[1]))
    curves.append({"title": "build, nothing changed", "x": "recipes", "unit": "s", "ours": "scivision build",
                   "peer": "rattler-build, skip_existing=all (in-process)", "points": points})


def du(paths):
    """MiB that `paths` take together on disk, each hard-linked file counted once (du's rule)."""
    out = subprocess.run(["du", "-skc", *map(str, paths)], capture_output=True, text=True, check=True).stdout
    return int(out.strip().splitlines()[-1].split()[0]) / 1024


def slope(points, i):
    """The exponent k of y ~ x^k fitted on log-log over `points` (column i), and over the last two."""
    import numpy
    pts = [(p[0], p[i]) for p in points if p[i]]
    if len(pts) < 2 or len({x for x, _ in pts}) < 2:
        return None, None
    xs, ys = numpy.log([x for x, _ in pts]), numpy.log([y for _, y in pts])
    overall = float(numpy.polyfit(xs, ys, 1)[0])
    tail = float((ys[-1] - ys[-2]) / (xs[-1] - xs[-2])) if xs[-1] != xs[-2] else overall
    return overall, tail


def growth_word(k):
    return "falling" if k < -0.2 else "flat" if k < 0.2 else "sublinear" if k < 0.8 else "about linear" if k <= 1.2 else "superlinear"


def render_growth(curves, plot_link):
    lines = ["## Growth", "",
             "How each cost grows with the work. The slope is k in time ~ n^k, fitted on log-log by the "
             "harness (about 1: linear, about 0: flat); the second slope is between the two largest sizes, "
             "where fixed costs (process start) weigh least.", ""]
    if plot_link:
        lines += [f"![growth curves]({plot_link})", ""]
    lines += ["| curve | size | scivision / ours | peer | ratio |", "| --- | --- | --- | --- | --- |"]
    value = lambda v, unit: "" if v is None else fmt(v) if unit == "s" else f"{v:.1f} MiB"
    for c in curves:
        for x, ours, peer in c["points"]:
            ratio = f"{ours / peer:.2f}x" if peer else ""
            lines.append(f"| {c['title']} | {x:,} {c['x']} | {value(ours, c['unit'])} | {value(peer, c['unit'])} | {ratio} |")
    lines.append("")
    for c in curves:
        said = []
        for i, who in ((1, c["ours"]), (2, c["peer"])):
            k, tail = slope(c["points"], i)
            if k is not None:
                said.append(f"{who}: n^{k:.2f} ({growth_word(k)})" + (
                    f", n^{tail:.2f} between the two largest ({growth_word(tail)})" if len(c["points"]) > 2 else ""))
        lines.append(f"- {c['title']}: " + ("; ".join(said) if said else "fewer than two sizes, no slope"))
    return "\n".join(lines) + "\n"


def plot_growth(curves, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker
    cols = min(len(curves), 2)
    rows = (len(curves) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(6 * cols, 4 * rows), squeeze=False)
    label = matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}")
    for ax, c in zip(axes.flat, curves):
        xs = [p[0] for p in c["points"]]
        values = []
        for i, who, style in ((1, c["ours"], "o-"), (2, c["peer"], "s--")):
            ys = [p[i] for p in c["points"]]
            if all(y is not None for y in ys):
                ax.plot(xs, ys, style, label=who)
                values += ys
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks(xs, [f"{x:,}" for x in xs])
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.yaxis.set_major_formatter(label)
        # within one decade the major ticks are too few to read a value off: label the minor ones
        narrow = values and max(values) / min(values) < 10
        ax.yaxis.set_minor_formatter(label if narrow else matplotlib.ticker.NullFormatter())
        ax.set_title(c["title"])
        ax.set_xlabel(c["x"])
        ax.set_ylabel("seconds (median)" if c["unit"] == "s" else c["unit"])
        ax.legend(fontsize=7)
        ax.grid(True, which="both", alpha=0.3)
    for ax in list(axes.flat)[len(curves):]:
        ax.set_visible(False)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def fmt(t):
    return f"{t * 1000:.1f} ms" if t < 1 else f"{t:.2f} s"


def render(rows, meta):
    lines = [
        "| benchmark | scivision min / median | peer | peer min / median | ratio (median) | note |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for label, ours, peer, theirs, note in rows:
        if theirs:
            ratio = f"{ours[1] / theirs[1]:.2f}x"
            peer_text = f"{fmt(theirs[0])} / {fmt(theirs[1])}"
        else:
            ratio, peer_text, peer = "", "", ""
        lines.append(f"| {label} | {fmt(ours[0])} / {fmt(ours[1])} | {peer} | {peer_text} | {ratio} | {note} |")
    head = "\n".join(f"- {k}: {v}" for k, v in meta.items())
    return head + "\n\n" + "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one run of each: checks the harness, measures nothing")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--scivision", default=os.environ.get("SCIVISION", shutil.which("scivision") or "scivision"))
    parser.add_argument("--channel", type=Path, default=REPO / "channel")
    parser.add_argument("--write", type=Path, help="also write the results (markdown) to this file")
    parser.add_argument("--plot", type=Path, help="where the growth curves' PNG goes (default: with --write, "
                        "bench/growth.png beside that file; otherwise a temporary file, removed)")
    parser.add_argument("--wheels", type=Path, default=Path.home() / ".cache" / "scivision-test" / "wheels" / "pypi",
                        help="the wheel folder PyPI packages come from (scripts/test-setup fills it)")
    parser.add_argument("--only", action="append", choices=["solves", "forge", "envs", "growth"],
                        help="run only these groups (repeatable; envs includes the PyPI and index rows)")
    parser.add_argument("--synthetic", type=int, default=30000,
                        help="synthetic names in the conda-forge-scale channel (30000: about a million records)")
    parser.add_argument("--conda-src", type=Path, metavar="PATH",
                        help="a checkout of github.com/conda/conda: adds conda's classic and rattler solvers "
                             "to the solve rows (installed once into ~/.cache/scivision-bench/conda-venv)")
    parser.add_argument("--index-sizes", type=lambda v: [int(x) for x in v.split(",")],
                        help="package counts of the channel-index curve (default 10,1000,10000; --quick 10,100)")
    parser.add_argument("--build-sizes", type=lambda v: [int(x) for x in v.split(",")],
                        help="recipe counts of the unchanged-build curve (default 1,10,100; --quick 1,3)")
    args = parser.parse_args()
    runs = 1 if args.quick else args.runs
    sv = args.scivision
    version = "; ".join(subprocess.run([sv, "--version"], capture_output=True, text=True).stdout.split("\n")).strip("; ")
    meta = {
        "date": datetime.date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}",
        "scivision": f"{version} ({sv})",
        "py-rattler": getattr(rattler, "__version__", "?"),
        "command": "python bench/run.py" + (" --quick" if args.quick else f" --runs {runs}")
                   + (" --conda-src CONDA_CHECKOUT" if args.conda_src else ""),
        "runs": runs,
    }
    rows, curves, stages = [], [], None
    wanted = lambda part: not args.only or part in args.only
    has_channel = (args.channel / "noarch" / "repodata.json").exists()
    if wanted("solves"):
        conda, why = conda_venv(args.conda_src) if args.conda_src else (None, "no --conda-src PATH given "
                                                                        "(a checkout of github.com/conda/conda)")
        if conda:
            meta["conda"] = f"{conda.version}, with {CONDA_SOLVER_PLUGIN} (dependencies from PyPI)"
        else:
            print(f"(conda rows skipped: {why})", file=sys.stderr)
        bench_solves(sv, runs, rows, conda)
    if wanted("forge"):
        bench_forge(sv, runs, rows, 300 if args.quick else args.synthetic)
    if not wanted("envs"):
        pass
    elif has_channel:
        stages = bench_envs(sv, args.channel, args.wheels, runs, rows)
        bench_index(sv, args.channel, runs, rows)
    else:
        print(f"(no channel at {args.channel}: run `scivision build` for the env and index figures)", file=sys.stderr)
    plot_link = None
    if wanted("growth"):
        growth_index(sv, args.index_sizes or ([10, 100] if args.quick else [10, 1000, 10000]), runs, rows, curves)
        growth_build(sv, args.build_sizes or ([1, 3] if args.quick else [1, 10, 100]), runs, rows, curves)
        if has_channel:
            growth_envs(sv, args.channel, args.wheels, runs, args.quick, rows, curves)
        else:
            print(f"(no channel at {args.channel}: the env and disk growth curves are skipped)", file=sys.stderr)
        plot = args.plot or (args.write.parent / "bench" / "growth.png" if args.write else None)
        with tempfile.TemporaryDirectory() as tmp:
            plot_growth(curves, plot or Path(tmp) / "growth.png")
        if plot and args.write:
            plot_link = os.path.relpath(plot, args.write.parent)
    text = (render(rows, meta) + ("\n" + render_stages(stages) if stages else "")
            + ("\n" + render_growth(curves, plot_link) if curves else ""))
    print(text)
    if args.write:
        args.write.write_text("# Benchmarks\n\nRegenerate with `" + meta["command"] + " --write BENCHMARKS.md` "
                              "(see bench/run.py for what each row measures).\n\n" + text)


if __name__ == "__main__":
    main()
