#!/bin/sh
# `make install` layout: header, library, pkg-config file and tool install
# under a prefix, and a program builds against them with pkg-config alone.
set -eu
build=$1 src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
for f in include/vmmu.h bin/vmmu; do
	[ -e "$tmp/prefix/$f" ] || { echo "FAIL: $f not installed"; exit 1; }
done
pc=$(find "$tmp/prefix" -name vmmu.pc)
[ -n "$pc" ] || { echo "FAIL: vmmu.pc not installed"; exit 1; }
libdir=$(dirname "$(dirname "$pc")")
[ -e "$libdir/libvmmu.so" ] && [ -e "$libdir/libvmmu.so.0" ] || { echo "FAIL: library links missing"; exit 1; }
# The .pc file names the install prefix; point pkg-config at the temporary one.
export PKG_CONFIG_PATH="$(dirname "$pc")"
flags=$(pkg-config --define-variable=prefix="$tmp/prefix" --cflags --libs vmmu)
cc -std=gnu11 -Wall -Werror -o "$tmp/translate" "$src/examples/translate.c" $flags -Wl,-rpath,"$libdir"
"$tmp/translate" >/dev/null
"$tmp/prefix/bin/vmmu" version
echo "install: ok"
