#!/bin/sh
# vmmu bench seed with a tiny sample (issue 7): the CSV names every cell of
# the seed's table (3 rows x before/after x tdp, tdp-legacy, shadow), the
# shadow column is marked not measured, and the fitted cell (TDP MMU,
# 5.10.177, after) is 4.92 s, flagged as the fitted one.  Bad options exit 2.
# Usage: seed-test.sh VMMU
set -u
vmmu=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "seed-test: $*"; exit 1; }

"$vmmu" bench seed --calls 200 --csv "$tmp/seed.csv" >"$tmp/out" 2>"$tmp/err" ||
	{ cat "$tmp/err"; fail "vmmu bench seed --calls 200 failed"; }
[ -s "$tmp/err" ] && { cat "$tmp/err"; fail "a progress line or a message on a non-terminal"; }
grep -q "not yet (shadow-paging issue)" "$tmp/out" || fail "the shadow column is not marked"
head -1 "$tmp/seed.csv" | grep -q '^record,row,column,knobs,mmu,' || fail "no CSV header"
for row in "5.10.177" "6.1.23" "kvm.git queue"; do
	for col in before after; do
		for mmu in tdp tdp-legacy shadow; do
			n=$(awk -F, -v r="$row" -v c="$col" -v m="$mmu" \
				'$1 == "cell" && $2 == r && $3 == c && $5 == m' "$tmp/seed.csv" | wc -l)
			[ "$n" -eq 1 ] || fail "$n CSV lines for $row $col $mmu, want 1"
		done
	done
done
awk -F, '$1 == "cell" && $2 == "5.10.177" && $3 == "after" && $5 == "tdp" {
	found = 1
	if ($11 != 1) { print "the fitted cell is not flagged"; exit 1 }
	if ($9 - 4.92 > 1e-6 || 4.92 - $9 > 1e-6) { print "fitted cell " $9 ", want 4.92"; exit 1 }
} $1 == "cell" && $11 == 1 && !($2 == "5.10.177" && $3 == "after" && $5 == "tdp") {
	print "another cell flagged as fitted: " $0; exit 1
} $1 == "cell" && $5 == "shadow" && $9 != "" { print "shadow measured: " $0; exit 1 }
END { if (!found) { print "no fitted cell"; exit 1 } }' "$tmp/seed.csv" || fail "fitted cell check"
# The default runs each guest's vCPUs in turn: the same counts every run,
# and the story in them: the TDP MMU under 5.10 builds a WP=0 root and
# faults in the window's 8 pages and 4 guest table pages per toggle; the
# legacy MMU builds and faults nothing once warm.
"$vmmu" bench seed --calls 200 --csv "$tmp/again.csv" >/dev/null 2>&1 || fail "second run failed"
counts() { awk -F, '$1 == "cell" { s = $2 FS $3 FS $5; for (i = 13; i <= 28; i++) s = s FS $i; print s }' "$1"; }
[ "$(counts "$tmp/seed.csv")" = "$(counts "$tmp/again.csv")" ] || fail "counts differ between two runs"
awk -F, '$1 == "cell" && $2 == "5.10.177" && $3 == "before" {
	if ($5 == "tdp" && ($19 != 1 || $24 != 12)) { print "TDP 5.10: roots " $19 ", faults " $24 " per call"; exit 1 }
	if ($5 == "tdp-legacy" && ($19 != 0 || $24 != 0 || $22 != 0)) { print "legacy 5.10 rebuilds: " $0; exit 1 }
}' "$tmp/seed.csv" || fail "5.10 counts"
n=$(grep -c '^ws_per_toggle,' "$tmp/seed.csv")
[ "$n" -eq 18 ] || fail "$n working-set records, want 3 sizes x 3 presets x 2 MMUs"

"$vmmu" bench seed --calls 5 >/dev/null 2>&1
[ $? -eq 2 ] || fail "--calls 5 did not exit 2"
"$vmmu" bench seed --bogus >/dev/null 2>"$tmp/err"
[ $? -eq 2 ] && grep -q "unknown option" "$tmp/err" || fail "--bogus: no usage error"
"$vmmu" bench seed --nested=-1 >/dev/null 2>&1
[ $? -eq 2 ] || fail "--nested=-1 did not exit 2"
echo "seed-test: ok"
