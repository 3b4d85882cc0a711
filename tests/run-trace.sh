#!/bin/sh
# Replays one trace under each MMU mode given and compares with its .expected.
# Usage: run-trace.sh VMMU TRACE MODE...
# MODE: direct, tdp-ept, tdp-ept-noad (EPT without A/D bits), tdp-npt, and
# tdp-ept-5.10, tdp-ept-6.1, tdp-npt-5.10 (the older kernels' policies);
# the legacy MMU: legacy-ept, legacy-ept-noad, legacy-npt, legacy-ept-5.10,
# legacy-ept-6.1, legacy-npt-5.10, and legacy-ept-5.10-cap (its smallest
# page-table cap, 16K: pages are reclaimed all the time).
# .expected: `#` comments and trailing blanks stripped, blank lines ignored.
# A line `error N` instead means: exit status 2, and stderr starts with
# "TRACE:N:".
set -u
vmmu=$1 trace=$2
shift 2
expected=${trace%.trace}.expected
[ -f "$expected" ] || { echo "missing $expected"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sed -e 's/#.*//' -e 's/[[:space:]]*$//' -e '/^$/d' "$expected" >"$tmp/want"
status=0
for mode in "$@"; do
	case $mode in
	direct) flags="--mmu=direct" ;;
	tdp-ept) flags="--mmu=tdp --tdp=ept" ;;
	tdp-ept-noad) flags="--mmu=tdp --tdp=ept --tdp-ad=off" ;;
	tdp-npt) flags="--mmu=tdp --tdp=npt" ;;
	tdp-ept-5.10) flags="--mmu=tdp --tdp=ept --policy=5.10" ;;
	tdp-ept-6.1) flags="--mmu=tdp --tdp=ept --policy=6.1" ;;
	tdp-npt-5.10) flags="--mmu=tdp --tdp=npt --policy=5.10" ;;
	legacy-ept) flags="--mmu=tdp-legacy --tdp=ept" ;;
	legacy-ept-noad) flags="--mmu=tdp-legacy --tdp=ept --tdp-ad=off" ;;
	legacy-npt) flags="--mmu=tdp-legacy --tdp=npt" ;;
	legacy-ept-5.10) flags="--mmu=tdp-legacy --tdp=ept --policy=5.10" ;;
	legacy-ept-6.1) flags="--mmu=tdp-legacy --tdp=ept --policy=6.1" ;;
	legacy-npt-5.10) flags="--mmu=tdp-legacy --tdp=npt --policy=5.10" ;;
	legacy-ept-5.10-cap) flags="--mmu=tdp-legacy --tdp=ept --policy=5.10 --pt-mem-limit=16K" ;;
	*) echo "unknown mode $mode"; exit 1 ;;
	esac
	# shellcheck disable=SC2086
	"$vmmu" replay $flags "$trace" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	if grep -q '^error ' "$tmp/want"; then
		line=$(sed -n 's/^error \([0-9]*\)$/\1/p' "$tmp/want")
		if [ $rc -ne 2 ] || ! head -n1 "$tmp/err" | grep -q "^$trace:$line: "; then
			echo "FAIL $trace [$mode]: expected exit 2 with '$trace:$line: ...', got exit $rc:"
			cat "$tmp/err"
			status=1
		fi
		continue
	fi
	if [ $rc -ne 0 ]; then
		echo "FAIL $trace [$mode]: exit $rc"; cat "$tmp/err"; status=1; continue
	fi
	if ! diff -u "$tmp/want" "$tmp/out" >"$tmp/diff"; then
		echo "FAIL $trace [$mode]:"; cat "$tmp/diff"; status=1
	fi
done
exit $status
