#!/usr/bin/env bash
# Configure into the placeholder prefix; installers rewrite it to wherever the package lands.
# Without pip and setuptools, as conda-forge's python: those are packages of their own (recipes/pip,
# recipes/setuptools), which a pip installed by ensurepip would clash with file by file.
set -euo pipefail
./configure --prefix="$PREFIX" \
  --with-ensurepip=no \
  --without-static-libpython \
  --enable-loadable-sqlite-extensions \
  --disable-test-modules > configure.log
make -j"$CPU_COUNT" > make.log 2>&1 || { tail -50 make.log; exit 1; }
make install > install.log 2>&1 || { tail -50 install.log; exit 1; }

sp="$PREFIX/lib/python3.11"
# Drop the test suite and static libraries.
rm -rf "$sp/test" "$sp/idlelib/idle_test"
find "$sp" -depth -type d \( -name test -o -name tests \) -path "$sp/*" -exec rm -rf {} +
find "$PREFIX" -name '*.a' -delete
# Bytecode, as conda-forge ships it: without it every interpreter start (uv's interpreter query
# of a new prefix, the runner, noarch .pyc compilation at install) recompiles the modules it
# imports, or cannot cache them at all under PYTHONDONTWRITEBYTECODE. `make install` wrote three
# optimization levels checked against source mtimes; keep one level, as unchecked-hash pycs:
# valid whatever mtimes the installer gives the sources, and never rewritten. Their co_filename
# keeps the build prefix (shown in tracebacks only); the packager leaves .pyc out of prefix
# replacement, which would corrupt them.
find "$PREFIX" -depth -name __pycache__ -type d -exec rm -rf {} +
"$PREFIX/bin/python3.11" -m compileall -q -j0 --invalidation-mode unchecked-hash "$sp" > compileall.log 2>&1 \
  || { tail -20 compileall.log; exit 1; }
# The installer rewrites the prefix inside sources that hold it (_sysconfigdata_*, scripts), and
# an unchecked-hash .pyc is never checked against its source again: such files go without
# bytecode, or they would keep this build's placeholder path.
grep -rlF --include='*.py' "$PREFIX" "$sp" | while read -r f; do
  rm -f "$(dirname "$f")/__pycache__/$(basename "$f" .py)".*.pyc
done
strip --strip-debug "$PREFIX/bin/python3.11" "$sp"/lib-dynload/*.so
ln -sf python3.11 "$PREFIX/bin/python"
