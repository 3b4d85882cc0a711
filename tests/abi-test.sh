#!/bin/sh
# The shared library exports vmmu_* symbols only and carries a SONAME.
set -eu
lib=$1
bad=$(nm -D --defined-only "$lib" | awk '$2 ~ /^[TDBRVW]$/ && $3 !~ /^vmmu_/ { print $3 }')
if [ -n "$bad" ]; then
	echo "FAIL: $lib exports non-vmmu symbols:"; echo "$bad"; exit 1
fi
count=$(nm -D --defined-only "$lib" | awk '$3 ~ /^vmmu_/' | wc -l)
[ "$count" -ge 20 ] || { echo "FAIL: only $count vmmu_ symbols exported"; exit 1; }
soname=$(objdump -p "$lib" | awk '$1 == "SONAME" { print $2 }')
[ "$soname" = "libvmmu.so.0" ] || { echo "FAIL: SONAME is '$soname'"; exit 1; }
echo "abi: $count vmmu_ symbols, SONAME $soname"
