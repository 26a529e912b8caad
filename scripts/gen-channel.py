#!/usr/bin/env python3
"""Writes a conda-forge-shaped test channel (repodata only) for solver tests and benchmarks.

conda-forge cannot be reached from the machines this project is developed on, yet the model
cards (catalog/*/card.yaml) name conda-forge packages. This generator writes repodata that has
conda-forge's shape for the packages those cards need: CPython 3.7-3.12 with python_abi, compiled
packages built once per CPython, noarch: python packages with a python floor, pytorch,
tensorflow, jaxlib and detectron2 in `cpu_*` and `cuda*` builds (the CUDA ones depend on
`__cuda` through cuda-version and rank higher by build number, as on conda-forge), run_constrains,
and the low-level libraries under them. Version histories and their pins follow the real ones
(pytorch 1.10 stops at CPython 3.9, tensorflow 2.10 pins protobuf <3.20, ...), so the conflicts
between models come out as they would on conda-forge.

Records carry no package files: `scivision catalog lint --channel DIR` and `catalog conflicts`
solve against them, nothing installs from them. With `--installable`, each record is also a real,
tiny `.conda` file holding only its metadata (`info/index.json`, an empty `info/paths.json`), its
build string marked `_fixture_`, so that installs of packages depending on these names can be
tested end to end: a test fixture, not conda-forge (no python runs from it). `--synthetic N` adds N generated names with
conda-forge's fan-out (the benchmark's million-record channel). Writes repodata.json per subdir
and, where msgpack and zstandard are importable, sharded repodata (CEP-16) too. Output is
deterministic.

    python3 scripts/gen-channel.py OUT_DIR [--subdir linux-64] [--synthetic 30000]
    python3 scripts/gen-channel.py --installable OUT_DIR
"""

import argparse
import hashlib
import json
import os
import sys

PYTHONS = {7: ["3.7.12"], 8: ["3.8.18", "3.8.19"], 9: ["3.9.18", "3.9.19"],
           10: ["3.10.13", "3.10.14"], 11: ["3.11.8", "3.11.9"], 12: ["3.12.3", "3.12.4"]}
TIMESTAMP = 1_700_000_000_000


def digest(text, n):
    return hashlib.sha256(text.encode()).hexdigest()[:n]


class Channel:
    def __init__(self, subdir):
        self.subdir = subdir
        self.packages = {subdir: {}, "noarch": {}}

    def add(self, subdir, name, version, build, number, depends, constrains=(), noarch=None):
        subdir = "noarch" if noarch else subdir
        fn = f"{name}-{version}-{build}.conda"
        record = {
            "name": name, "version": version, "build": build, "build_number": number,
            "depends": list(depends), "subdir": subdir,
            "md5": digest("md5" + fn, 32), "sha256": digest(fn, 64),
            "size": 1000 + int(digest("size" + fn, 6), 16), "timestamp": TIMESTAMP,
            "license": "BSD-3-Clause",
        }
        if constrains:
            record["constrains"] = list(constrains)
        if noarch:
            record["noarch"] = noarch
        self.packages[subdir][fn] = record


def py_pins(minor):
    return [f"python >=3.{minor},<3.{minor + 1}.0a0", f"python_abi 3.{minor}.* *_cp3{minor}"]


def generate(subdir):
    ch = Channel(subdir)
    lib = lambda name, versions, deps=(), constrains=(): [
        ch.add(subdir, name, v, f"h{digest(name + v + str(n), 8)}_{n}", n, list(deps), constrains)
        for v in versions for n in (0, 1)]
    noarch = lambda name, versions: [
        ch.add(subdir, name, v, "pyhd8ed1ab_0", 0, [f"python >={floor}"] + list(deps), noarch="python")
        for v, floor, deps in versions]

    def pyext(name, versions, constrains=()):
        for v, lo, hi, deps in versions:
            for m in range(lo, hi + 1):
                ch.add(subdir, name, v, f"py3{m}h{digest(name + v + str(m), 8)}_0", 0,
                       py_pins(m) + ["libgcc-ng >=12", "libstdcxx-ng >=12"] + list(deps),
                       constrains)

    def framework(name, versions, cuda_deps, cpu_deps=("libblas * *mkl", "mkl >=2023.2,<2025")):
        """cpu and cuda builds per CPython; `pin` puts the same variant of a sibling framework."""
        for v, lo, hi, deps, cuda in versions:
            for m in range(lo, hi + 1):
                h = digest(name + v + str(m), 8)
                sibling = lambda variant: [d.replace("@VARIANT", variant) for d in deps]
                # conda-forge keeps the variants apart with impossible pins on the other
                # variant's metapackage (`pytorch-gpu ==99999999` on CPU builds).
                ch.add(subdir, name, v, f"cpu_py3{m}h{h}_0", 0,
                       py_pins(m) + list(cpu_deps) + sibling("cpu*"),
                       [f"{name}-cpu =={v}", f"{name}-gpu ==99999999"])
                if cuda:
                    tag = cuda.replace(".", "")
                    ch.add(subdir, name, v, f"cuda{tag}_py3{m}h{h}_200", 200,
                           py_pins(m) + ["__cuda", f"cuda-version >={cuda},<{int(cuda.split('.')[0]) + 1}"]
                           + list(cuda_deps) + sibling("cuda*"),
                           [f"{name}-gpu =={v}", f"{name}-cpu ==99999999"])
            # The metapackages users install to force a variant.
            ch.add(subdir, f"{name}-cpu", v, "cpu_0", 0, [f"{name} =={v} cpu*"])
            if cuda:
                ch.add(subdir, f"{name}-gpu", v, f"cuda{cuda.replace('.', '')}_0", 0, [f"{name} =={v} cuda*"])

    # The C runtime and the libraries everything links to.
    lib("_libgcc_mutex", ["0.1"])
    lib("_openmp_mutex", ["4.5"], ["_libgcc_mutex 0.1"])
    lib("libgcc-ng", ["12.2.0", "13.2.0", "14.1.0"], ["_libgcc_mutex 0.1", "_openmp_mutex >=4.5", "__glibc >=2.17,<3.0.a0"])
    lib("libstdcxx-ng", ["12.2.0", "13.2.0", "14.1.0"], ["libgcc-ng >=12"])
    lib("libgfortran-ng", ["13.2.0"], ["libgcc-ng >=12"])
    for name, versions in [("libzlib", ["1.2.13", "1.3.1"]), ("bzip2", ["1.0.8"]), ("xz", ["5.2.6", "5.4.6"]),
                           ("libffi", ["3.4.2"]), ("libuuid", ["2.38.1"]), ("ncurses", ["6.4", "6.5"]),
                           ("libsqlite", ["3.45.2", "3.46.0"]), ("libnsl", ["2.0.1"]), ("libjpeg-turbo", ["3.0.0"]),
                           ("libpng", ["1.6.43"]), ("libwebp-base", ["1.4.0"]), ("lz4-c", ["1.9.4"]), ("zstd", ["1.5.6"]),
                           ("geos", ["3.11.2", "3.12.1"]), ("fftw", ["3.3.10"]), ("gsl", ["2.7"]), ("glpk", ["5.0"]),
                           ("libabseil", ["20230802.1", "20240116.2"]), ("sleef", ["3.5.1"]), ("libglvnd", ["1.7.0"]),
                           ("llvm-openmp", ["18.1.8"]), ("openjpeg", ["2.5.2"]), ("lcms2", ["2.16"]), ("libdeflate", ["1.20"])]:
        lib(name, versions, ["libgcc-ng >=12"])
    lib("openssl", ["3.1.6", "3.3.1"], ["libgcc-ng >=12", "ca-certificates"])
    ch.add(subdir, "ca-certificates", "2024.7.4", "hbcca054_0", 0, [])
    lib("readline", ["8.2"], ["libgcc-ng >=12", "ncurses >=6.4,<7.0a0"])
    lib("tk", ["8.6.13"], ["libgcc-ng >=12", "libzlib >=1.2.13,<2.0a0"])
    lib("libtiff", ["4.6.0"], ["libgcc-ng >=12", "libjpeg-turbo >=3.0.0,<4.0a0", "libzlib >=1.2.13,<2.0a0", "zstd >=1.5.6,<1.6.0a0", "libdeflate >=1.20,<1.21.0a0"])
    lib("freetype", ["2.12.1"], ["libgcc-ng >=12", "libpng >=1.6.43,<1.7.0a0", "libzlib >=1.2.13,<2.0a0"])
    lib("libgl", ["1.7.0"], ["libgcc-ng >=12", "libglvnd 1.7.0"])
    lib("libglib", ["2.80.3"], ["libgcc-ng >=12", "libffi >=3.4,<4.0a0", "libzlib >=1.2.13,<2.0a0"])
    lib("hdf5", ["1.12.2", "1.14.3"], ["libgcc-ng >=12", "libzlib >=1.2.13,<2.0a0", "openssl >=3.1,<4.0a0"])
    lib("libprotobuf", ["3.20.3", "4.25.3"], ["libgcc-ng >=12", "libstdcxx-ng >=12", "libabseil >=20230802.1", "libzlib >=1.2.13,<2.0a0"])
    lib("qt-main", ["5.15.8"], ["libgcc-ng >=12", "libstdcxx-ng >=12", "libglib >=2.80", "libgl", "freetype >=2.12.1", "libpng >=1.6.43,<1.7.0a0"])
    lib("ffmpeg", ["6.1.1"], ["libgcc-ng >=12", "libstdcxx-ng >=12", "libzlib >=1.2.13,<2.0a0", "openssl >=3.1,<4.0a0"])
    lib("libopenblas", ["0.3.27"], ["libgcc-ng >=12", "libgfortran-ng"])
    lib("mkl", ["2023.2.0", "2024.1.0"], ["llvm-openmp >=18", "_openmp_mutex >=4.5"])
    lib("suitesparse", ["5.10.1"], ["libgcc-ng >=12", "libblas >=3.9.0,<4.0a0"])
    for blas, build_deps in [("openblas", ["libopenblas >=0.3.27,<1.0a0"]), ("mkl", ["mkl >=2023.2,<2025"])]:
        for name in ("libblas", "libcblas", "liblapack"):
            deps = build_deps if name == "libblas" else [f"libblas 3.9.0 22_linux64_{blas}"]
            ch.add(subdir, name, "3.9.0", f"22_linux64_{blas}", 22, deps,
                   ["blas * " + blas] if name == "libblas" else [])
    # CUDA: cuda-version pins the driver floor through __cuda, as conda-forge does.
    for v in ["11.2", "11.8", "12.0", "12.4"]:
        ch.add(subdir, "cuda-version", v, "h" + digest("cv" + v, 8) + "_3", 3, [],
               [f"__cuda >={v}", f"cudatoolkit {v}|{v}.*"], noarch="generic")
    # The CUDA libraries per CUDA line: cudatoolkit for 11.x, split packages pinned to their
    # cuda-version for 12.x, as conda-forge ships them.
    for v, lo, hi in [("11.2.2", "11.2", "11.3"), ("11.8.0", "11.8", "11.9")]:
        ch.add(subdir, "cudatoolkit", v, f"h{digest('ctk' + v, 8)}_13", 13,
               ["libgcc-ng >=12", f"cuda-version >={lo},<{hi}.0a0"])
    for name, v in [("libcublas", "12.4.5.8"), ("cudnn", "8.9.7.29"), ("nccl", "2.20.5.1")]:
        for cv in ["11.8", "12.0", "12.4"]:
            ch.add(subdir, name, v, f"h{digest(name + cv, 8)}_{cv.replace('.', '')}", 0,
                   ["libgcc-ng >=12", f"cuda-version >={cv},<{cv.split('.')[0]}.{int(cv.split('.')[1]) + 1}.0a0"])
    cuda_deps = ["cudnn >=8.9.7.29,<9.0a0", "nccl >=2.20.5.1,<3.0a0", "libcublas"]

    # CPython and its ABI marker.
    for minor, versions in PYTHONS.items():
        for v in versions:
            ch.add(subdir, "python", v, f"h{digest('py' + v, 8)}_0_cpython", 0,
                   ["bzip2 >=1.0.8,<2.0a0", "libffi >=3.4,<4.0a0", "libgcc-ng >=12", "libnsl >=2.0.1,<2.1.0a0",
                    "libsqlite >=3.45.2,<4.0a0", "libuuid >=2.38.1,<3.0a0", "libzlib >=1.2.13,<2.0a0",
                    "ncurses >=6.4,<7.0a0", "openssl >=3.1,<4.0a0", "readline >=8.2,<9.0a0",
                    "tk >=8.6.13,<8.7.0a0", "xz >=5.2.6,<6.0a0"],
                   [f"python_abi 3.{minor}.* *_cp3{minor}"])
        ch.add(subdir, "python_abi", f"3.{minor}", f"4_cp3{minor}", 4, [],
               [f"python 3.{minor}.* *_cpython"])

    # Pure-Python packages (noarch: python, with a python floor).
    noarch("six", [("1.16.0", "3.7", [])])
    noarch("packaging", [("23.2", "3.7", []), ("24.1", "3.8", [])])
    noarch("typing_extensions", [("4.7.1", "3.7", []), ("4.12.2", "3.8", [])])
    noarch("typing-extensions", [("4.7.1", "3.7", ["typing_extensions ==4.7.1"]), ("4.12.2", "3.8", ["typing_extensions ==4.12.2"])])
    noarch("python-dateutil", [("2.8.2", "3.7", ["six >=1.5"]), ("2.9.0", "3.7", ["six >=1.5"])])
    noarch("pytz", [("2024.1", "3.7", [])])
    noarch("pyparsing", [("3.1.2", "3.7", [])])
    noarch("cycler", [("0.11.0", "3.6", []), ("0.12.1", "3.8", [])])
    noarch("idna", [("3.7", "3.7", [])])
    noarch("certifi", [("2024.7.4", "3.7", [])])
    noarch("charset-normalizer", [("3.3.2", "3.7", [])])
    noarch("urllib3", [("1.26.19", "3.7", []), ("2.2.2", "3.8", [])])
    noarch("requests", [("2.28.2", "3.7", ["urllib3 >=1.21.1,<1.27", "idna >=2.5,<4", "certifi >=2017.4.17", "charset-normalizer >=2,<4"]),
                        ("2.32.3", "3.8", ["urllib3 >=1.21.1,<3", "idna >=2.5,<4", "certifi >=2017.4.17", "charset-normalizer >=2,<4"])])
    noarch("platformdirs", [("4.2.2", "3.8", [])])
    noarch("appdirs", [("1.4.4", "3.6", [])])
    noarch("pooch", [("1.6.0", "3.6", ["requests >=2.19", "packaging >=20.0", "appdirs >=1.3.0"]),
                     ("1.8.2", "3.7", ["requests >=2.19", "packaging >=20.0", "platformdirs >=2.5.0"])])
    noarch("tqdm", [("4.64.1", "3.7", []), ("4.66.5", "3.7", [])])
    noarch("click", [("8.1.7", "3.7", [])])
    noarch("filelock", [("3.12.2", "3.7", []), ("3.15.4", "3.8", [])])
    noarch("fsspec", [("2023.1.0", "3.7", []), ("2024.6.1", "3.8", [])])
    noarch("jinja2", [("3.1.4", "3.7", ["markupsafe >=2.0"])])
    noarch("networkx", [("2.6.3", "3.7", []), ("3.1", "3.8", []), ("3.3", "3.10", [])])
    noarch("sympy", [("1.10.1", "3.7", ["mpmath >=0.19"]), ("1.12", "3.8", ["mpmath >=0.19"])])
    noarch("mpmath", [("1.3.0", "3.6", [])])
    noarch("joblib", [("1.4.2", "3.8", []), ("1.2.0", "3.7", [])])
    noarch("threadpoolctl", [("3.5.0", "3.8", []), ("3.1.0", "3.7", [])])
    noarch("toolz", [("0.12.1", "3.7", [])])
    noarch("cloudpickle", [("3.0.0", "3.8", []), ("2.2.1", "3.6", [])])
    noarch("tifffile", [("2021.11.2", "3.7", ["numpy >=1.15.1"]), ("2023.7.10", "3.8", ["numpy"]), ("2024.7.24", "3.9", ["numpy"])])
    noarch("imageio", [("2.22.4", "3.7", ["numpy", "pillow >=8.3.2"]), ("2.35.1", "3.8", ["numpy", "pillow >=8.3.2"])])
    noarch("absl-py", [("1.4.0", "3.7", []), ("2.1.0", "3.7", [])])
    noarch("astunparse", [("1.6.3", "3.6", ["six >=1.6.1,<2.0"])])
    noarch("gast", [("0.4.0", "3.6", []), ("0.5.4", "3.6", [])])
    noarch("opt_einsum", [("3.3.0", "3.6", ["numpy >=1.7"])])
    noarch("termcolor", [("2.4.0", "3.8", []), ("1.1.0", "3.6", [])])
    noarch("flatbuffers", [("24.3.25", "3.7", [])])
    noarch("google-pasta", [("0.2.0", "3.6", ["six"])])
    noarch("markdown", [("3.4.4", "3.7", []), ("3.6", "3.8", [])])
    noarch("werkzeug", [("2.2.3", "3.7", ["markupsafe >=2.1.1"]), ("3.0.3", "3.8", ["markupsafe >=2.1.1"])])
    noarch("tensorboard-data-server", [("0.7.0", "3.7", [])])
    noarch("attrs", [("23.2.0", "3.7", [])])
    noarch("jsonschema", [("4.23.0", "3.8", ["attrs >=22.2.0"]), ("4.17.3", "3.7", ["attrs >=17.4.0"])])
    noarch("narwhals", [("1.5.2", "3.8", [])])
    noarch("patsy", [("0.5.6", "3.6", ["numpy >=1.4", "six"])])
    noarch("annotated-types", [("0.7.0", "3.8", []), ("0.6.0", "3.7", [])])
    noarch("huggingface_hub", [("0.24.5", "3.8", ["filelock", "fsspec >=2023.5.0", "packaging >=20.9", "pyyaml >=5.1", "requests", "tqdm >=4.42.1", "typing-extensions >=3.7.4.3"]),
                               ("0.16.4", "3.7", ["filelock", "packaging >=20.9", "pyyaml >=5.1", "requests", "tqdm >=4.42.1", "typing_extensions >=3.7.4.3"])])
    noarch("fvcore", [("0.1.5.post20221221", "3.6", ["numpy", "pyyaml >=5.1", "tqdm", "termcolor >=1.1", "pillow", "tabulate", "yacs >=0.1.6", "iopath >=0.1.7"])])
    noarch("iopath", [("0.1.9", "3.6", ["tqdm", "portalocker"])])
    noarch("portalocker", [("2.10.1", "3.8", []), ("2.7.0", "3.7", [])])
    noarch("tabulate", [("0.9.0", "3.7", [])])
    noarch("yacs", [("0.1.8", "3.6", ["pyyaml"])])
    noarch("omegaconf", [("2.3.0", "3.7", ["antlr-python-runtime 4.9.*", "pyyaml >=5.1.0"])])
    noarch("antlr-python-runtime", [("4.9.3", "3.6", [])])
    noarch("hydra-core", [("1.3.2", "3.7", ["antlr-python-runtime 4.9.*", "omegaconf >=2.2,<2.4", "packaging"])])
    noarch("lightning-utilities", [("0.11.6", "3.8", ["packaging >=17.1", "typing_extensions"])])
    noarch("etils", [("1.7.0", "3.10", []), ("1.5.2", "3.9", []), ("1.3.0", "3.8", [])])

    # Compiled packages, one build per CPython.
    pyext("markupsafe", [("2.1.5", 7, 12, [])])
    pyext("pyyaml", [("6.0.1", 7, 12, ["yaml >=0.2.5,<0.3.0a0"])])
    lib("yaml", ["0.2.5"], ["libgcc-ng >=12"])
    pyext("kiwisolver", [("1.4.5", 7, 12, [])])
    pyext("fonttools", [("4.53.1", 8, 12, []), ("4.38.0", 7, 7, [])])
    pyext("regex", [("2024.7.24", 8, 12, []), ("2023.6.3", 7, 7, [])])
    pyext("safetensors", [("0.4.4", 7, 12, [])])
    pyext("wrapt", [("1.14.1", 7, 12, [])])
    pyext("grpcio", [("1.48.2", 7, 10, ["libzlib >=1.2.13,<2.0a0"]), ("1.62.2", 8, 12, ["libzlib >=1.2.13,<2.0a0", "libabseil >=20240116.2"])])
    pyext("numpy", [("1.19.5", 7, 9, ["libblas >=3.9.0,<4.0a0", "libcblas >=3.9.0,<4.0a0", "liblapack >=3.9.0,<4.0a0"]),
                    ("1.21.6", 7, 10, ["libblas >=3.9.0,<4.0a0", "libcblas >=3.9.0,<4.0a0", "liblapack >=3.9.0,<4.0a0"]),
                    ("1.23.5", 8, 11, ["libblas >=3.9.0,<4.0a0", "libcblas >=3.9.0,<4.0a0", "liblapack >=3.9.0,<4.0a0"]),
                    ("1.24.4", 8, 11, ["libblas >=3.9.0,<4.0a0", "libcblas >=3.9.0,<4.0a0", "liblapack >=3.9.0,<4.0a0"]),
                    ("1.26.4", 9, 12, ["libblas >=3.9.0,<4.0a0", "libcblas >=3.9.0,<4.0a0", "liblapack >=3.9.0,<4.0a0"])])
    pyext("numpy", [("2.0.2", 9, 12, ["libblas >=3.9.0,<4.0a0", "libcblas >=3.9.0,<4.0a0", "liblapack >=3.9.0,<4.0a0"]),
                    ("2.1.3", 10, 12, ["libblas >=3.9.0,<4.0a0", "libcblas >=3.9.0,<4.0a0", "liblapack >=3.9.0,<4.0a0"])],
          constrains=["numpy-base <0a0"])
    np1 = "numpy >=1.19,<2.0a0"
    pyext("scipy", [("1.7.3", 7, 10, ["numpy >=1.16,<1.23", "libblas >=3.9.0,<4.0a0"]),
                    ("1.10.1", 8, 11, ["numpy >=1.19.5,<1.27", "libblas >=3.9.0,<4.0a0"]),
                    ("1.11.4", 9, 12, ["numpy >=1.21.6,<1.28", "libblas >=3.9.0,<4.0a0"]),
                    ("1.13.1", 9, 12, ["numpy >=1.22.4,<2.3", "libblas >=3.9.0,<4.0a0"]),
                    ("1.14.1", 10, 12, ["numpy >=1.23.5,<2.3", "libblas >=3.9.0,<4.0a0"])])
    pyext("pandas", [("1.3.5", 7, 10, ["numpy >=1.17.3,<2.0a0", "python-dateutil >=2.7.3", "pytz >=2017.3"]),
                     ("1.5.3", 8, 11, ["numpy >=1.20.3,<2.0a0", "python-dateutil >=2.8.1", "pytz >=2020.1"]),
                     ("2.0.3", 8, 11, ["numpy >=1.21.6,<2.0a0", "python-dateutil >=2.8.1", "pytz >=2020.1"]),
                     ("2.2.2", 9, 12, ["numpy >=1.22.4", "python-dateutil >=2.8.1", "pytz >=2020.1"])])
    pyext("pillow", [("8.4.0", 7, 10, ["libjpeg-turbo >=3.0.0,<4.0a0", "libtiff >=4.6.0,<4.7.0a0", "freetype >=2.12.1,<3.0a0", "libwebp-base", "lcms2", "openjpeg"]),
                     ("9.5.0", 7, 11, ["libjpeg-turbo >=3.0.0,<4.0a0", "libtiff >=4.6.0,<4.7.0a0", "freetype >=2.12.1,<3.0a0", "libwebp-base", "lcms2", "openjpeg"]),
                     ("10.4.0", 8, 12, ["libjpeg-turbo >=3.0.0,<4.0a0", "libtiff >=4.6.0,<4.7.0a0", "freetype >=2.12.1,<3.0a0", "libwebp-base", "lcms2", "openjpeg"])])
    mpl = ["freetype >=2.12.1,<3.0a0", "kiwisolver >=1.0.1", "cycler >=0.10", "fonttools >=4.22.0", "packaging >=20.0", "pyparsing >=2.3.1", "python-dateutil >=2.7", "pillow >=6.2.0", "libpng >=1.6.43"]
    pyext("matplotlib-base", [("3.5.3", 7, 10, ["numpy >=1.17,<2.0a0"] + mpl), ("3.7.1", 8, 11, ["numpy >=1.20,<2.0a0"] + mpl),
                              ("3.8.4", 9, 12, ["numpy >=1.21,<2.0a0"] + mpl), ("3.9.2", 9, 12, ["numpy >=1.23"] + mpl)])
    pyext("pywavelets", [("1.3.0", 7, 10, [np1]), ("1.6.0", 9, 12, ["numpy >=1.22.4"])])
    ski = ["scipy >=1.4.1", "networkx >=2.2", "pillow >=6.1.0,!=7.1.0,!=7.1.1,!=8.3.0", "imageio >=2.4.1", "tifffile >=2019.7.26", "pywavelets >=1.1.1", "packaging >=20.0"]
    pyext("scikit-image", [("0.18.3", 7, 9, ["numpy >=1.17,<2.0a0"] + ski), ("0.19.3", 7, 10, ["numpy >=1.17.3,<2.0a0"] + ski),
                           ("0.21.0", 8, 11, ["numpy >=1.21.1,<2.0a0", "lazy_loader >=0.2"] + ski), ("0.22.0", 9, 12, ["numpy >=1.22,<2.0a0", "lazy_loader >=0.3"] + ski),
                           ("0.24.0", 9, 12, ["numpy >=1.23", "lazy_loader >=0.4"] + ski)])
    noarch("lazy_loader", [("0.4", "3.7", ["packaging"])])
    skl = ["joblib >=1.0.0", "threadpoolctl >=2.0.0", "scipy >=1.3.2", "_openmp_mutex >=4.5"]
    pyext("scikit-learn", [("1.0.2", 7, 10, ["numpy >=1.14.6,<2.0a0"] + skl), ("1.3.2", 8, 12, ["numpy >=1.17.3,<2.0a0"] + skl),
                           ("1.5.1", 9, 12, ["numpy >=1.19.5"] + skl)])
    noarch("xarray", [("0.20.2", "3.7", ["numpy >=1.18", "pandas >=1.1", "packaging >=20.0"]),
                      ("2023.1.0", "3.8", ["numpy >=1.20", "pandas >=1.3", "packaging >=21.3"]),
                      ("2024.6.0", "3.9", ["numpy >=1.23", "pandas >=2.0", "packaging >=23.1"])])
    dask = ["cloudpickle >=1.5.0", "fsspec >=0.6.0", "packaging >=20.0", "partd >=1.2.0", "pyyaml >=5.3.1", "toolz >=0.10.0", "click >=8.0"]
    noarch("partd", [("1.4.2", "3.9", ["locket", "toolz"]), ("1.4.1", "3.7", ["locket", "toolz"])])
    noarch("locket", [("1.0.0", "3.7", [])])
    noarch("dask-core", [("2022.2.0", "3.7", dask), ("2023.5.0", "3.8", dask), ("2024.8.0", "3.9", dask)])
    noarch("dask", [(v, p, [f"dask-core =={v}", "numpy >=1.18", "pandas >=1.0"]) for v, p in [("2022.2.0", "3.7"), ("2023.5.0", "3.8"), ("2024.8.0", "3.9")]])
    noarch("distributed", [(v, p, [f"dask-core =={v}", "click >=8.0", "tornado >=6.0.3", "psutil >=5.7.0"]) for v, p in [("2022.2.0", "3.7"), ("2023.5.0", "3.8"), ("2024.8.0", "3.9")]])
    pyext("tornado", [("6.4.1", 8, 12, []), ("6.2", 7, 7, [])])
    pyext("psutil", [("6.0.0", 7, 12, [])])
    noarch("dask-jobqueue", [("0.8.2", "3.8", ["dask >=2022.02.0", "distributed >=2022.02.0"])])
    pyext("statsmodels", [("0.13.5", 7, 11, ["numpy >=1.17,<2.0a0", "scipy >=1.3", "pandas >=0.25", "patsy >=0.5.2", "packaging >=21.3"]),
                          ("0.14.2", 8, 12, ["numpy >=1.22.3", "scipy >=1.4,!=1.9.2", "pandas >=1.0", "patsy >=0.5.6", "packaging >=21.3"])])
    noarch("altair", [("4.2.2", "3.7", ["entrypoints", "jinja2", "jsonschema >=3.0", "numpy", "pandas >=0.18", "toolz"]),
                      ("5.4.1", "3.8", ["jinja2", "jsonschema >=3.0", "narwhals >=1.5.2", "packaging", "typing_extensions >=4.10.0"])])
    noarch("entrypoints", [("0.4", "3.6", [])])
    pyext("vl-convert-python", [("1.6.0", 8, 12, [])])
    noarch("nd2", [("0.10.1", "3.8", ["numpy >=1.14.0", "resource-backed-dask-array", "typing-extensions"])])
    noarch("resource-backed-dask-array", [("0.1.0", "3.8", ["dask-core"])])
    pyext("h5py", [("3.6.0", 7, 10, ["numpy >=1.19,<2.0a0", "hdf5 >=1.12.2,<1.12.3.0a0"]), ("3.9.0", 8, 11, ["numpy >=1.21,<2.0a0", "hdf5 >=1.14.3,<1.14.4.0a0"]),
                   ("3.11.0", 9, 12, ["numpy >=1.19,<3", "hdf5 >=1.14.3,<1.14.4.0a0"])])
    pyext("protobuf", [("3.19.6", 7, 10, ["libprotobuf >=3.20.3,<3.21.0a0"]), ("3.20.3", 7, 11, ["libprotobuf >=3.20.3,<3.21.0a0"]),
                       ("4.24.4", 8, 12, ["libprotobuf >=4.25.3,<4.25.4.0a0"]), ("4.25.3", 8, 12, ["libprotobuf >=4.25.3,<4.25.4.0a0"])])
    pyext("ml_dtypes", [("0.2.0", 8, 12, ["numpy >=1.21"]), ("0.4.0", 9, 12, ["numpy >=1.21"])])
    pyext("llvmlite", [("0.39.1", 7, 10, []), ("0.41.1", 8, 11, []), ("0.43.0", 9, 12, [])])
    pyext("numba", [("0.56.4", 7, 10, ["numpy >=1.18,<1.24", "llvmlite >=0.39,<0.40", "_openmp_mutex >=4.5"]),
                    ("0.58.1", 8, 11, ["numpy >=1.22,<1.27", "llvmlite >=0.41,<0.42", "_openmp_mutex >=4.5"]),
                    ("0.60.0", 9, 12, ["numpy >=1.22,<2.1", "llvmlite >=0.43,<0.44", "_openmp_mutex >=4.5"])])
    noarch("pynndescent", [("0.5.13", "3.8", ["numba >=0.51.2", "llvmlite >=0.30", "joblib >=0.11", "scikit-learn >=0.18", "scipy >=1.0"])])
    noarch("umap-learn", [("0.5.6", "3.8", ["numba >=0.51.2", "numpy >=1.17", "pynndescent >=0.5", "scikit-learn >=0.22", "scipy >=1.3.1", "tqdm"])])
    noarch("mrcfile", [("1.5.1", "3.7", ["numpy >=1.16.0"])])
    pyext("cvxopt", [("1.3.2", 8, 12, ["libblas >=3.9.0,<4.0a0", "liblapack >=3.9.0,<4.0a0", "suitesparse >=5.10.1,<6.0a0", "fftw >=3.3.10", "gsl >=2.7", "glpk >=5.0"])])
    pyext("pydantic-core", [("2.14.6", 7, 12, ["typing-extensions >=4.6.0,!=4.7.0"]), ("2.20.1", 8, 12, ["typing-extensions >=4.6.0,!=4.7.0"])])
    noarch("pydantic", [("1.10.13", "3.7", ["typing_extensions >=4.2.0"]),
                        ("2.5.3", "3.7", ["pydantic-core ==2.14.6", "annotated-types >=0.4.0", "typing-extensions >=4.6.1"]),
                        ("2.8.2", "3.8", ["pydantic-core ==2.20.1", "annotated-types >=0.4.0", "typing-extensions >=4.6.1"])])
    pyext("shapely", [("1.8.5", 7, 11, ["geos >=3.11.2,<3.11.3.0a0", "numpy >=1.19,<2.0a0"]), ("2.0.5", 8, 12, ["geos >=3.12.1,<3.12.2.0a0", "numpy >=1.19"])])
    pyext("cython", [("0.29.37", 7, 12, []), ("3.0.10", 8, 12, [])])
    pyext("tokenizers", [("0.13.3", 7, 11, ["huggingface_hub >=0.16.4,<1.0"]), ("0.15.2", 8, 12, ["huggingface_hub >=0.16.4,<1.0"]), ("0.19.1", 8, 12, ["huggingface_hub >=0.16.4,<1.0"])])
    tf_deps = ["huggingface_hub", "numpy >=1.17", "packaging >=20.0", "pyyaml >=5.1", "regex !=2019.12.17", "requests", "safetensors >=0.3.1", "tqdm >=4.27", "filelock"]
    noarch("transformers", [("4.26.1", "3.7", tf_deps + ["tokenizers >=0.11.1,!=0.11.3,<0.14"]), ("4.36.2", "3.8", tf_deps + ["tokenizers >=0.14,<0.19"]),
                            ("4.44.2", "3.8", tf_deps + ["tokenizers >=0.19,<0.20"])])
    pyext("pyqt", [("5.12.3", 7, 9, ["qt-main >=5.15.8,<5.16.0a0"]), ("5.15.9", 8, 12, ["qt-main >=5.15.8,<5.16.0a0", "pyqt5-sip 12.12.2"])])
    pyext("pyqt5-sip", [("12.12.2", 8, 12, ["packaging", "toml"])])
    noarch("toml", [("0.10.2", "3.6", [])])
    # opencv as conda-forge splits it: the C++ library, the python bindings (what PyPI calls
    # opencv-python), and the `opencv` metapackage pinning both to one version.
    for v, lo, hi, numpy, cdeps in [
            ("4.5.5", 7, 10, "numpy >=1.19,<2.0a0", ["ffmpeg >=6.1", "libglib >=2.80", "qt-main >=5.15.8,<5.16.0a0", "libprotobuf >=3.20.3"]),
            ("4.8.1", 8, 12, "numpy >=1.21,<2.0a0", ["ffmpeg >=6.1", "libglib >=2.80", "qt-main >=5.15.8,<5.16.0a0", "libprotobuf >=4.25.3"]),
            ("4.10.0", 9, 12, "numpy >=1.22.4", ["ffmpeg >=6.1", "libglib >=2.80", "libprotobuf >=4.25.3"])]:
        pyext("libopencv", [(v, lo, hi, cdeps)])
        pyext("py-opencv", [(v, lo, hi, [numpy, f"libopencv =={v}"])])
        pyext("opencv", [(v, lo, hi, [f"libopencv =={v}", f"py-opencv =={v}"])])
    pyext("onnx", [("1.14.1", 8, 11, ["numpy >=1.16.6", "protobuf >=3.20.2", "typing-extensions >=3.6.2.1"]), ("1.16.2", 9, 12, ["numpy >=1.20", "protobuf >=3.20.2"])])
    noarch("onnxconverter-common", [("1.13.0", "3.7", ["numpy", "onnx", "packaging", "protobuf"])])
    noarch("tf2onnx", [("1.16.1", "3.7", ["numpy >=1.14.1", "onnx >=1.4.1", "requests", "six", "flatbuffers >=1.12", "protobuf >=3.20,<4"])])

    # The frameworks: cpu and cuda builds per CPython; `@VARIANT` keeps siblings on one variant.
    torch = ["filelock", "jinja2", "networkx", "sympy", "typing_extensions >=4.8.0", "sleef >=3.5.1", "libprotobuf >=4.25.3", "fsspec"]
    framework("pytorch", [("1.10.0", 7, 9, ["numpy >=1.19,<2.0a0", "typing_extensions", "libprotobuf >=3.20.3,<3.21.0a0"], "11.2"),
                          ("1.13.1", 8, 11, ["numpy >=1.21,<2.0a0"] + torch, "11.8"),
                          ("2.0.0", 8, 11, ["numpy >=1.21,<2.0a0"] + torch, "11.8"),
                          ("2.1.2", 8, 11, ["numpy >=1.22,<2.0a0"] + torch, "12.0"),
                          ("2.3.1", 9, 12, ["numpy >=1.23,<2.0a0"] + torch, "12.0"),
                          ("2.5.1", 9, 12, ["numpy >=1.23"] + torch, "12.0")], cuda_deps)
    tv = lambda t: ["pillow >=5.3.0,!=8.3.0,!=8.3.1", "numpy", "requests", f"pytorch =={t} @VARIANT"]
    framework("torchvision", [("0.11.1", 7, 9, tv("1.10.0"), "11.2"), ("0.14.1", 8, 11, tv("1.13.1"), "11.8"),
                              ("0.15.2", 8, 11, tv("2.0.0"), "11.8"), ("0.16.1", 8, 11, tv("2.1.2"), "12.0"),
                              ("0.18.1", 9, 12, tv("2.3.1"), "12.0"), ("0.20.1", 9, 12, tv("2.5.1"), "12.0")], cuda_deps, cpu_deps=())
    tf = lambda np, keras, pb, tb: ["absl-py >=1.0.0", "astunparse >=1.6.0", "flatbuffers >=2.0", "gast >=0.2.1", "google-pasta >=0.1.1", "grpcio >=1.24.3,<2.0",
                                    "h5py >=2.9.0", "opt_einsum >=2.3.2", "six >=1.12.0", "termcolor >=1.1.0", "typing_extensions >=3.6.6", "wrapt >=1.11.0",
                                    np, keras, pb, tb, "libprotobuf", "libabseil"]
    framework("tensorflow", [("2.6.2", 7, 9, tf("numpy >=1.19.2,<1.20", "keras >=2.6,<2.7", "protobuf >=3.9.2,<3.20", "tensorboard >=2.6,<2.7"), "11.2"),
                             ("2.7.4", 7, 9, tf("numpy >=1.14.5,<2.0a0", "keras >=2.7,<2.8", "protobuf >=3.9.2,<3.20", "tensorboard >=2.7,<2.8"), "11.2"),
                             ("2.10.1", 7, 10, tf("numpy >=1.20,<2.0a0", "keras >=2.10,<2.11", "protobuf >=3.9.2,<3.20", "tensorboard >=2.10,<2.11"), "11.2"),
                             ("2.13.1", 8, 11, tf("numpy >=1.22,<1.25", "keras >=2.13,<2.14", "protobuf >=3.20.3,<5", "tensorboard >=2.13,<2.14"), "11.8"),
                             ("2.15.0", 9, 11, tf("numpy >=1.23.5,<2.0a0", "keras >=2.15,<2.16", "protobuf >=3.20.3,<5", "tensorboard >=2.15,<2.16"), "12.0"),
                             ("2.16.2", 9, 12, tf("numpy >=1.23.5,<2.0a0", "keras >=3.0.0", "protobuf >=3.20.3,<5", "tensorboard >=2.16,<2.17"), "12.0"),
                             ("2.17.0", 9, 12, tf("numpy >=1.26,<2.0a0", "keras >=3.2.0", "protobuf >=3.20.3,<5", "tensorboard >=2.17,<2.18"), "12.0")],
              cuda_deps, cpu_deps=())
    noarch("keras", [("2.6.0", "3.7", []), ("2.7.0", "3.7", []), ("2.10.0", "3.7", []), ("2.13.1", "3.8", []), ("2.15.0", "3.9", []),
                     ("3.4.1", "3.9", ["absl-py", "h5py", "ml_dtypes", "namex", "numpy", "optree", "packaging", "rich"])])
    noarch("namex", [("0.0.8", "3.6", [])])
    noarch("rich", [("13.7.1", "3.7", ["markdown-it-py >=2.2.0", "pygments >=2.13.0,<3.0.0"])])
    noarch("markdown-it-py", [("3.0.0", "3.8", ["mdurl >=0.1,<1"])])
    noarch("mdurl", [("0.1.2", "3.7", [])])
    noarch("pygments", [("2.18.0", "3.8", [])])
    pyext("optree", [("0.12.1", 8, 12, ["typing-extensions >=4.5.0"])])
    noarch("keras-applications", [("1.0.8", "3.6", ["numpy >=1.9.1", "h5py"])])
    tb = ["absl-py >=0.4", "grpcio >=1.48.2", "markdown >=2.6.8", "numpy >=1.12.0", "protobuf >=3.9.2", "six >1.9", "tensorboard-data-server >=0.7.0,<0.8.0", "werkzeug >=1.0.1"]
    noarch("tensorboard", [(v, p, tb) for v, p in [("2.6.0", "3.6"), ("2.7.0", "3.6"), ("2.10.1", "3.7"), ("2.13.0", "3.8"), ("2.15.1", "3.9"), ("2.16.2", "3.9"), ("2.17.0", "3.9")]])
    framework("jaxlib", [("0.4.12", 8, 11, ["numpy >=1.21,<2.0a0", "scipy >=1.7", "ml_dtypes >=0.1.0"], "11.8"),
                         ("0.4.23", 9, 12, ["numpy >=1.22,<2.0a0", "scipy >=1.9", "ml_dtypes >=0.2.0"], "12.0"),
                         ("0.4.30", 9, 12, ["numpy >=1.22", "scipy >=1.9", "ml_dtypes >=0.2.0"], "12.0")], cuda_deps, cpu_deps=())
    noarch("jax", [("0.4.13", "3.8", ["jaxlib >=0.4.12", "ml_dtypes >=0.1.0", "numpy >=1.21", "opt_einsum", "scipy >=1.7"]),
                   ("0.4.23", "3.9", ["jaxlib >=0.4.19", "ml_dtypes >=0.2.0", "numpy >=1.22", "opt_einsum", "scipy >=1.9"]),
                   ("0.4.30", "3.9", ["jaxlib >=0.4.27,<=0.4.30", "ml_dtypes >=0.2.0", "numpy >=1.22", "opt_einsum", "scipy >=1.9"])])
    noarch("chex", [("0.1.82", "3.9", ["absl-py >=0.9.0", "jax >=0.4.6", "jaxlib >=0.1.37", "numpy >=1.24.1", "toolz >=0.9.0", "typing_extensions >=4.2.0"]),
                    ("0.1.7", "3.8", ["absl-py >=0.9.0", "jax >=0.4.6", "jaxlib >=0.1.37", "numpy >=1.18.0", "toolz >=0.9.0", "dm-tree >=0.1.5"])])
    pyext("dm-tree", [("0.1.8", 8, 12, [])])
    noarch("optax", [("0.1.7", "3.8", ["absl-py >=0.7.1", "chex >=0.1.5", "jax >=0.1.55", "jaxlib >=0.1.37", "numpy >=1.18.0"]),
                     ("0.2.3", "3.9", ["absl-py >=0.7.1", "chex >=0.1.86", "jax >=0.4.27", "jaxlib >=0.4.27", "numpy >=1.18.0", "etils"])])
    noarch("flax", [("0.6.11", "3.8", ["jax >=0.4.2", "msgpack-python", "numpy >=1.12", "optax", "orbax-checkpoint", "pyyaml >=5.4.1", "rich >=11.1", "tensorstore", "typing_extensions >=4.1.1"]),
                    ("0.8.5", "3.9", ["jax >=0.4.27", "msgpack-python", "numpy >=1.22", "optax", "orbax-checkpoint", "pyyaml >=5.4.1", "rich >=11.1", "tensorstore", "typing_extensions >=4.2"])])
    pyext("msgpack-python", [("1.0.8", 8, 12, [])])
    pyext("tensorstore", [("0.1.45", 8, 11, ["numpy >=1.16.0,<2.0a0", "ml_dtypes >=0.3.1"]), ("0.1.62", 9, 12, ["numpy >=1.22", "ml_dtypes >=0.3.1"])])
    noarch("orbax-checkpoint", [("0.5.20", "3.9", ["absl-py", "etils", "jax >=0.4.9", "numpy", "pyyaml", "tensorstore >=0.1.51", "msgpack-python", "protobuf"]),
                                ("0.2.3", "3.8", ["absl-py", "etils", "jax >=0.4.9", "numpy", "pyyaml", "tensorstore >=0.1.20", "msgpack-python"])])
    noarch("timm", [("0.5.4", "3.6", ["pytorch >=1.4", "torchvision"]), ("0.9.16", "3.8", ["pytorch >=1.7", "torchvision", "pyyaml", "huggingface_hub", "safetensors"]),
                    ("1.0.9", "3.8", ["pytorch >=1.7", "torchvision", "pyyaml", "huggingface_hub", "safetensors"])])
    noarch("torchmetrics", [("1.4.1", "3.8", ["pytorch >=1.10.0", "numpy >1.20.0", "packaging >17.1", "lightning-utilities >=0.8.0"])])
    noarch("lightning", [("2.3.3", "3.8", ["pytorch >=2.0.0", "fsspec >=2022.5.0", "lightning-utilities >=0.10.0", "packaging >=20.0", "pyyaml >=5.4", "torchmetrics >=0.7.0", "tqdm >=4.57.0", "typing_extensions >=4.4.0"])])
    pyext("pycocotools", [("2.0.8", 8, 12, ["matplotlib-base >=2.1.0", "numpy"])])
    framework("detectron2", [("0.6", 8, 11, ["pytorch >=1.8 @VARIANT", "fvcore >=0.1.5,<0.1.6", "iopath >=0.1.7,<0.1.10", "pycocotools >=2.0.2", "matplotlib-base", "omegaconf >=2.1", "hydra-core >=1.1", "tabulate", "termcolor >=1.1", "yacs >=0.1.8", "pillow >=7.1", "cloudpickle", "tqdm >4.29.0"], "11.8")], cuda_deps, cpu_deps=())
    # What the PyPI-only packages of scivision's channel (catalog/pypi-*) need from conda-forge:
    # tensorflow-text's tensorflow-hub, python-doctr's document stack.
    noarch("tensorflow-hub", [("0.15.0", "3.7", ["numpy >=1.12.0", "protobuf >=3.19.6"])])
    noarch("zipp", [("3.20.1", "3.8", [])])
    noarch("importlib-metadata", [("8.4.0", "3.8", ["zipp >=0.5"])])
    lib("pdfium-binaries", ["6406"], ["libgcc-ng >=12", "libstdcxx-ng >=12"])
    noarch("pypdfium2", [("3.21.1", "3.6", ["pdfium-binaries"])])
    pyext("pyclipper", [("1.3.0.post5", 8, 12, [])])
    pyext("rapidfuzz", [("3.9.6", 8, 12, [])])
    pyext("cffi", [("1.17.0", 8, 12, ["pycparser", "libffi >=3.4,<4.0a0"])])
    noarch("pycparser", [("2.22", "3.8", [])])
    noarch("langdetect", [("1.0.9", "3.6", ["six"])])
    noarch("webencodings", [("0.5.1", "3.6", [])])
    noarch("html5lib", [("1.1", "3.6", ["six >=1.9", "webencodings"])])
    noarch("tinycss2", [("1.3.0", "3.8", ["webencodings >=0.4"])])
    noarch("cssselect2", [("0.7.0", "3.7", ["tinycss2", "webencodings"])])
    noarch("pydyf", [("0.11.0", "3.8", [])])
    noarch("pyphen", [("0.16.0", "3.8", [])])
    lib("pango", ["1.54.0"], ["libgcc-ng >=12", "libglib >=2.80", "freetype >=2.12.1"])
    noarch("weasyprint", [("62.3", "3.9", ["pydyf >=0.10.0", "cffi >=0.6", "html5lib >=1.1", "tinycss2 >=1.3.0", "cssselect2 >=0.1",
                                           "pyphen >=0.9.1", "pillow >=9.1.0", "fonttools >=4.0.0", "pango >=1.44.0"])])
    noarch("defusedxml", [("0.7.1", "3.6", [])])
    noarch("mplcursors", [("0.5.3", "3.7", ["matplotlib-base >=3.1,!=3.7.1"])])
    noarch("unidecode", [("1.3.8", "3.5", [])])
    noarch("seaborn", [("0.12.2", "3.7", ["numpy >=1.17,!=1.24.0", "pandas >=0.25", "matplotlib-base >=3.1,!=3.6.1"]),
                       ("0.13.2", "3.8", ["numpy >=1.20,!=1.24.0", "pandas >=1.2", "matplotlib-base >=3.4,!=3.6.1"])])
    noarch("csbdeep", [("0.7.4", "3.6", ["numpy", "scipy", "matplotlib-base", "six", "tifffile", "tqdm", "packaging"]),
                       ("0.8.0", "3.7", ["numpy", "scipy", "matplotlib-base", "six", "tifffile", "tqdm", "packaging"])])
    pyext("stardist", [("0.8.5", 7, 11, ["csbdeep >=0.7.4", "numba", "scikit-image", "imageio", "numpy", "_openmp_mutex >=4.5"]),
                       ("0.9.1", 8, 12, ["csbdeep >=0.8.0", "numba", "scikit-image", "imageio", "numpy", "_openmp_mutex >=4.5"])])
    # Compilers: conda-forge's metapackages.
    for lang in ("c", "cxx", "fortran"):
        ch.add(subdir, f"{lang}-compiler", "1.7.0", f"hd590300_{1}", 1, ["libgcc-ng >=12"])
    # scivision's own runner, which `env create` adds to every model's prefix; it lives in the
    # scivision channel beside conda-forge, and its pins are those of recipes/scivision-runner.
    ch.add(subdir, "scivision-runner", "0.1.0", "pyh4616a5c_0", 0, ["python >=3.7", "numpy >=1.17", "pillow"], noarch="python")
    return ch


SYLLABLES = ["ar", "bel", "cor", "dan", "el", "fir", "gal", "hy", "io", "jun", "kel", "lum", "mor",
             "nex", "or", "pix", "qua", "ros", "syl", "tor", "umb", "vor", "wex", "xen", "yar", "zel"]
PREFIXES = ["", "", "py", "lib", "r-", "ros-humble-", "perl-", "font-", "ocaml-", "jupyterlab-"]
FAMILY = 30


def synthetic(subdir, count, seed=7):
    """`count` more names in families of 30: within a family each member depends on one to three
    earlier members (chains up to 30 deep), and across families only on the core (python, numpy,
    libgcc-ng): the shape of a real channel, where an environment pulls a few hundred of the
    channel's names. Yields (name, [(subdir, filename, record)]) one name at a time."""
    import random
    rnd = random.Random(seed)
    names = []
    for i in range(count):
        stem = "".join(rnd.choice(SYLLABLES) for _ in range(rnd.randint(2, 3)))
        names.append(f"{rnd.choice(PREFIXES)}{stem}-{i}")
    for i, name in enumerate(names):
        base = i - i % FAMILY
        kind = rnd.choices(["noarch", "lib", "pyext", "framework"], [30, 10, 50, 10])[0]
        siblings = [names[j] for j in rnd.sample(range(base, i), min(i - base, rnd.randint(1, 3)))] if i > base else []
        records = []
        nversions = rnd.randint(8, 14)
        for v in range(nversions):
            version = f"{v // 4}.{v % 4}.{rnd.randint(0, 9)}"
            deps = [f"{s} >={rnd.randint(0, 1)}.0" for s in siblings]
            constrains = [f"{siblings[0]} <{v // 4 + 3}"] if siblings and rnd.random() < 0.1 else []
            if rnd.random() < 0.05:
                deps.append("__glibc >=2.28,<3.0.a0")
            # Newer versions build for newer CPythons, as on conda-forge.
            lo = min(7 + v * 5 // nversions, 10)
            pythons = range(lo, min(lo + rnd.randint(3, 6), 13))
            if kind == "noarch":
                records.append(("noarch", f"{name}-{version}-pyhd8ed1ab_0.conda",
                                _record(name, version, "pyhd8ed1ab_0", 0, "noarch", [f"python >=3.{lo}"] + deps, constrains, "python")))
            elif kind == "lib":
                for n in (0, 1):
                    b = f"h{digest(name + version + str(n), 8)}_{n}"
                    records.append((subdir, f"{name}-{version}-{b}.conda",
                                    _record(name, version, b, n, subdir, ["libgcc-ng >=12", "libstdcxx-ng >=12"] + deps, constrains)))
            else:
                numpy = ["numpy >=1.21,<2.0a0"] if rnd.random() < 0.3 else []
                for m in pythons:
                    h = digest(name + version + str(m), 8)
                    common = py_pins(m) + ["libgcc-ng >=12"] + numpy + deps
                    if kind == "pyext":
                        records.append((subdir, f"{name}-{version}-py3{m}h{h}_0.conda",
                                        _record(name, version, f"py3{m}h{h}_0", 0, subdir, common, constrains)))
                    else:
                        records.append((subdir, f"{name}-{version}-cpu_py3{m}h{h}_0.conda",
                                        _record(name, version, f"cpu_py3{m}h{h}_0", 0, subdir, common, constrains)))
                        records.append((subdir, f"{name}-{version}-cuda120_py3{m}h{h}_200.conda",
                                        _record(name, version, f"cuda120_py3{m}h{h}_200", 200, subdir,
                                                common + ["__cuda", "cuda-version >=12.0,<13"], constrains)))
        yield name, records


def _record(name, version, build, number, subdir, depends, constrains, noarch=None):
    fn = f"{name}-{version}-{build}.conda"
    record = {"name": name, "version": version, "build": build, "build_number": number,
              "depends": depends, "subdir": subdir, "md5": digest("md5" + fn, 32), "sha256": digest(fn, 64),
              "size": 1000 + int(digest("size" + fn, 6), 16), "timestamp": TIMESTAMP, "license": "MIT"}
    if constrains:
        record["constrains"] = constrains
    if noarch:
        record["noarch"] = noarch
    return record


def write_all(out, channel, extra):
    """repodata.json per subdir (streamed: a million records never sit in memory as JSON), and,
    when msgpack and zstandard are importable, CEP-16 sharded repodata beside it."""
    try:
        import msgpack
        import zstandard
    except ImportError:
        msgpack = zstandard = None
    subdirs = list(channel.packages)
    files, first, shards = {}, {}, {sd: {} for sd in subdirs}
    for sd in subdirs:
        os.makedirs(os.path.join(out, sd, "shards" if zstandard else ""), exist_ok=True)
        files[sd] = open(os.path.join(out, sd, "repodata.json"), "w")
        files[sd].write('{"info":{"subdir":"%s"},"packages":{},"removed":[],"repodata_version":1,"packages.conda":{' % sd)
        first[sd] = True
    compressor = zstandard.ZstdCompressor(level=3) if zstandard else None
    count, names = 0, 0

    def emit(name, records):
        nonlocal count, names
        names += 1
        by_subdir = {}
        for sd, fn, rec in records:
            f = files[sd]
            f.write(("" if first[sd] else ",") + json.dumps(fn) + ":" + json.dumps(rec, separators=(",", ":"), sort_keys=True))
            first[sd] = False
            by_subdir.setdefault(sd, {})[fn] = rec
            count += 1
        if compressor:
            for sd, recs in by_subdir.items():
                packed = {fn: dict(r, sha256=bytes.fromhex(r["sha256"]), md5=bytes.fromhex(r["md5"])) for fn, r in recs.items()}
                body = compressor.compress(msgpack.packb({"packages": {}, "packages.conda": packed, "removed": []}))
                h = hashlib.sha256(body).digest()
                with open(os.path.join(out, sd, "shards", h.hex() + ".msgpack.zst"), "wb") as f:
                    f.write(body)
                shards[sd][name] = h

    core = {}
    for sd, packages in channel.packages.items():
        for fn, rec in packages.items():
            core.setdefault(rec["name"], []).append((sd, fn, rec))
    for name in sorted(core):
        emit(name, core[name])
    tops = []
    for name, records in extra:
        emit(name, records)
        if names % FAMILY == 0:
            tops.append(name)
    # The last member of each synthetic family: top-level specs with deep dependency chains.
    with open(os.path.join(out, "family-tops.txt"), "w") as f:
        f.write("".join(t + "\n" for t in tops))
    for sd in subdirs:
        files[sd].write("}}")
        files[sd].close()
        if compressor:
            index = {"info": {"subdir": sd, "base_url": "", "shards_base_url": "./shards/"}, "shards": shards[sd]}
            with open(os.path.join(out, sd, "repodata_shards.msgpack.zst"), "wb") as f:
                f.write(compressor.compress(msgpack.packb(index)))
    return count, names, compressor is not None


def fixture_build(build):
    """`<first>_fixture_<rest>`: keeps both the prefix (`cpu*`, `cuda*`) and the suffix
    (`*_cp311`, `*_cpython`, `*mkl`) that conda-forge's pins match on."""
    head, sep, rest = build.partition("_")
    return f"{head}_fixture_{rest}" if sep else f"fixture_{build}"


def conda_bytes(stem, info, pkg):
    """A `.conda` (CEP-16: a zip of metadata.json and an info and a pkg tar.zst) holding the
    `info` and `pkg` members ({path: bytes}). Deterministic: fixed dates, sorted members.
    bench/synthetic.py writes its packages with it too."""
    import io
    import tarfile
    import zipfile
    import zstandard

    def tar_zst(members):
        raw = io.BytesIO()
        with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for name in sorted(members):
                info = tarfile.TarInfo(name)
                info.size, info.mtime, info.mode = len(members[name]), 0, 0o644
                tar.addfile(info, io.BytesIO(members[name]))
        return zstandard.ZstdCompressor(level=3).compress(raw.getvalue())

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:
        for name, data in [("metadata.json", b'{"conda_pkg_format_version": 2}'),
                           (f"info-{stem}.tar.zst", tar_zst(info)), (f"pkg-{stem}.tar.zst", tar_zst(pkg))]:
            z.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), data)
    return out.getvalue()


def conda_file(path, record):
    """Writes a metadata-only `.conda` for `record` and returns its (sha256, md5, size)."""
    stem = os.path.basename(path)[: -len(".conda")]
    index = {k: record[k] for k in ("name", "version", "build", "build_number", "depends", "subdir", "license", "timestamp")}
    for k in ("constrains", "noarch"):
        if k in record:
            index[k] = record[k]
    files = {
        "info/index.json": json.dumps(index, indent=2, sort_keys=True).encode(),
        "info/paths.json": b'{"paths": [], "paths_version": 1}',
        "info/about.json": json.dumps({"summary": "test fixture: metadata only, no files"}).encode(),
    }

    data = conda_bytes(stem, files, {})
    with open(path, "wb") as f:
        f.write(data)
    return hashlib.sha256(data).hexdigest(), hashlib.md5(data).hexdigest(), len(data)


def make_installable(out, channel):
    """Marks every record's build as a fixture and writes its package file under OUT."""
    builds = {r["build"] for packages in channel.packages.values() for r in packages.values()}

    def pin(spec):
        # `libblas 3.9.0 22_linux64_mkl`: an exact build pin follows the build's new name.
        parts = spec.split(" ")
        if len(parts) == 3 and parts[2] in builds:
            parts[2] = fixture_build(parts[2])
        return " ".join(parts)

    for sd, packages in channel.packages.items():
        os.makedirs(os.path.join(out, sd), exist_ok=True)
        for fn in list(packages):
            rec = packages.pop(fn)
            rec["build"] = fixture_build(rec["build"])
            rec["depends"] = [pin(d) for d in rec["depends"]]
            if "constrains" in rec:
                rec["constrains"] = [pin(c) for c in rec["constrains"]]
            new_fn = f"{rec['name']}-{rec['version']}-{rec['build']}.conda"
            rec["sha256"], rec["md5"], rec["size"] = conda_file(os.path.join(out, sd, new_fn), rec)
            packages[new_fn] = rec


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", help="channel directory to write (subdir folders with repodata.json)")
    # The records are Linux ones (libgcc-ng, linux64 BLAS builds, CUDA builds).
    parser.add_argument("--subdir", default="linux-64", choices=["linux-64"])
    parser.add_argument("--synthetic", type=int, default=0, metavar="N",
                        help="add N synthetic names with conda-forge's fan-out (30000 gives about a million records)")
    parser.add_argument("--installable", action="store_true",
                        help="also write each record as a metadata-only .conda file (needs zstandard)")
    args = parser.parse_args()
    channel = generate(args.subdir)
    if args.installable:
        if args.synthetic:
            parser.error("--installable writes the core records only; leave out --synthetic")
        make_installable(args.out, channel)
    count, names, sharded = write_all(args.out, channel, synthetic(args.subdir, args.synthetic))
    kind = "repodata.json and shards" if sharded else "repodata.json (no msgpack/zstandard: no shards)"
    print(f"wrote {count} records of {names} names to {args.out} ({kind})", file=sys.stderr)


if __name__ == "__main__":
    main()
