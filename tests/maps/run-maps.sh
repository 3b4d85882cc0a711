#!/bin/sh
# One `vmmu maps` script test (tests/CMakeLists.txt runs each as a ctest).
# Usage: run-maps.sh VMMU MKIMAGE SRCDIR TEST
#   golden/MODE   the QEMU core of tests/maps/golden: --format=qemu must print
#                 QEMU's `info tlb` (MODE.tlb), --format=qemu-mem its `info mem`
#                 (MODE.mem), the text format tests/maps/expected/MODE.txt
#   gen/SCENARIO  an image from mkimage (tests/maps/mkimage.c), with the
#                 output, exit status and message each scenario must give
set -u
vmmu=$1 mkimage=$2 src=$3 test=$4
golden=$src/tests/maps/golden expected=$src/tests/maps/expected
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
status=0

fail() { echo "FAIL $test: $*"; status=1; }

# same FILE-WANTED COMMAND...: stdout of COMMAND must equal the file, exit 0
same() {
	want=$1; shift
	"$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	[ $rc -eq 0 ] || { fail "exit $rc from $*"; cat "$tmp/err"; return; }
	diff -u "$want" "$tmp/out" >"$tmp/diff" || { fail "$* differs from $want:"; head -n 40 "$tmp/diff"; }
}

# refused RC MESSAGE COMMAND...: exit status RC, stderr containing MESSAGE
refused() {
	want_rc=$1 msg=$2; shift 2
	"$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	[ $rc -eq "$want_rc" ] || fail "exit $rc, expected $want_rc, from $*"
	grep -qF -- "$msg" "$tmp/err" || { fail "no '$msg' on stderr of $*:"; cat "$tmp/err"; }
	head -n 1 "$tmp/err" | grep -q '^vmmu maps: ' || fail "stderr does not start with 'vmmu maps: '"
}

case $test in
golden/*)
	mode=${test#golden/}
	gzip -dc "$golden/$mode.core.gz" >"$tmp/core" || { fail "cannot decompress"; exit 1; }
	same "$golden/$mode.tlb" "$vmmu" maps --format=qemu "$tmp/core"
	same "$golden/$mode.mem" "$vmmu" maps --format=qemu-mem "$tmp/core"
	same "$expected/$mode.txt" "$vmmu" maps "$tmp/core"
	;;
gen/*)
	scenario=${test#gen/}
	image_scenario=$scenario
	[ "$scenario" = usage ] && image_scenario=recursive
	opts=$("$mkimage" "$image_scenario" "$tmp/image") || { fail "mkimage $scenario"; exit 1; }
	# shellcheck disable=SC2086  # opts is a list of options
	case $scenario in
	recursive|truncated|pse36)
		same "$expected/gen-$scenario.txt" "$vmmu" maps $opts
		same "$expected/gen-$scenario.qemu" "$vmmu" maps --format=qemu $opts
		;;
	pae)
		same "$expected/gen-pae.txt" "$vmmu" maps $opts
		grep -q "PDPTE 1 (0x0000000000003003) sets reserved bits" "$tmp/err" ||
			fail "no warning for PDPTE 1"
		[ "$(grep -c PDPTE "$tmp/err")" -eq 1 ] || fail "a warning for a PDPTE with only A set"
		same "$expected/gen-pae.qemu" "$vmmu" maps --format=qemu $opts
		;;
	outside)
		same "$expected/gen-outside.txt" "$vmmu" maps $opts
		same /dev/null "$vmmu" maps $opts --cr3 0x7000000000
		;;
	selfloop)
		refused 1 "stopped after 100000 mappings" "$vmmu" maps --max-mappings 100000 $opts
		[ "$(wc -l <"$tmp/out")" -eq 100000 ] || fail "expected 100000 lines"
		refused 1 "stopped after 7 mappings" "$vmmu" maps --format=qemu --max-mappings 7 $opts
		[ "$(wc -l <"$tmp/out")" -eq 7 ] || fail "expected 7 lines"
		;;
	fanout)
		same /dev/null "$vmmu" maps --stats $opts
		grep -q " 2048 entries read" "$tmp/err" || { fail "not 2048 entries read:"; cat "$tmp/err"; }
		same /dev/null "$vmmu" maps --format=qemu-mem $opts
		;;
	bench)
		same /dev/null sh -c "\"$vmmu\" maps $opts | wc -l | grep -qx 100000"
		;;
	elf-ok)
		same "$expected/gen-recursive.txt" "$vmmu" maps "$tmp/image"
		same "$expected/gen-recursive.qemu" "$vmmu" maps --format=qemu "$tmp/image"
		;;
	elf-nonote)
		refused 2 "no QEMU note" "$vmmu" maps "$tmp/image"
		same "$expected/gen-recursive.txt" "$vmmu" maps $opts "$tmp/image"
		;;
	elf-overlap) refused 2 "overlap with different contents" "$vmmu" maps "$tmp/image" ;;
	elf-noload) refused 2 "no PT_LOAD segment" "$vmmu" maps "$tmp/image" ;;
	elf-truncated) refused 2 "truncated?" "$vmmu" maps "$tmp/image" ;;
	elf-huge) refused 2 "past the end of the file" "$vmmu" maps "$tmp/image" ;;
	elf-badnote) refused 2 "QEMU note of 100 bytes" "$vmmu" maps "$tmp/image" ;;
	usage)
		refused 2 "no image" "$vmmu" maps
		refused 2 "unknown format" "$vmmu" maps --format=xml "$tmp/image"
		refused 2 "needs --cr3, --cr4 and --efer" "$vmmu" maps --mem "$tmp/image" --cr3 0x1000
		refused 2 "not in 36..52" "$vmmu" maps --maxphyaddr 99 $opts
		refused 2 "bad --max-mappings" "$vmmu" maps --max-mappings 0 $opts
		refused 2 "bad register value" "$vmmu" maps --mem "$tmp/image" --cr3 x --cr4 0 --efer 0
		refused 2 "needs CR4.PAE" "$vmmu" maps $opts --cr4 0
		refused 2 "not an ELF file" "$vmmu" maps "$tmp/image"
		refused 1 "No such file" "$vmmu" maps /nonexistent/core
		refused 2 "not a regular file" "$vmmu" maps /
		;;
	*) fail "unknown scenario"; exit 1 ;;
	esac
	;;
*) fail "unknown test"; exit 1 ;;
esac
exit $status
