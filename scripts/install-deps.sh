#!/bin/sh
# Installs the Debian packages vmmu needs, only those missing.
set -eu
pkgs="cmake ninja-build gcc clang libclang-rt-14-dev make pkg-config liburcu-dev libcmocka-dev libjson-c-dev uthash-dev valgrind gnuplot-nox"
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "install-deps: installing$missing"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
