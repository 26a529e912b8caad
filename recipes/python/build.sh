#!/usr/bin/env bash
# Configure into the placeholder prefix; installers rewrite it to wherever the package lands.
set -euo pipefail
./configure --prefix="$PREFIX" \
  --with-ensurepip=install \
  --without-static-libpython \
  --enable-loadable-sqlite-extensions \
  --disable-test-modules > configure.log
make -j"$CPU_COUNT" > make.log 2>&1 || { tail -50 make.log; exit 1; }
make install > install.log 2>&1 || { tail -50 install.log; exit 1; }

sp="$PREFIX/lib/python3.11"
# Drop the test suite, static libraries and bytecode (bytecode embeds the build prefix).
rm -rf "$sp/test" "$sp/idlelib/idle_test"
find "$sp" -depth -type d \( -name test -o -name tests \) -path "$sp/*" -exec rm -rf {} +
find "$PREFIX" -name '*.a' -delete
find "$PREFIX" -depth -name __pycache__ -type d -exec rm -rf {} +
strip --strip-debug "$PREFIX/bin/python3.11" "$sp"/lib-dynload/*.so
ln -sf python3.11 "$PREFIX/bin/python"
ln -sf pip3 "$PREFIX/bin/pip"
