/* SPDX-License-Identifier: MIT */
/*
 * The trace parser over in-memory text: every malformed rule of
 * TRACE-FORMAT.md is rejected with "NAME:LINE: message" for the right line,
 * well-formed traces give the right command list, and small traces replay to
 * exactly the output the format defines (SMRAM composition included).
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "trace.h"
#include "vmmu.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define NAME "t.trace"

/* ---- helpers ---- */

/* Parses @text; on success the caller frees @t. */
static int parse(const char *text, struct trace *t, char *err, size_t errlen)
{
	err[0] = 0;
	return trace_parse(text, strlen(text), NAME, t, err, errlen);
}

struct bad_case {
	const char *text;
	unsigned int line;          /* the line the message must name */
};

/* Checks one malformed trace; returns false (after printing why) if the
 * parser accepted it or named the wrong line. */
static bool check_malformed(const struct bad_case *c)
{
	char err[512], prefix[64];
	struct trace t;
	int ret = parse(c->text, &t, err, sizeof(err));

	snprintf(prefix, sizeof(prefix), "%s:%u: ", NAME, c->line);
	if (ret == 0) {
		print_error("accepted, expected an error at line %u:\n%s\n", c->line, c->text);
		trace_free(&t);
		return false;
	}
	if (ret != -1 || strncmp(err, prefix, strlen(prefix)) || strlen(err) == strlen(prefix)) {
		print_error("returned %d with message \"%s\", expected \"%s...\" for:\n%s\n", ret,
			    err, prefix, c->text);
		return false;
	}
	return true;
}

static void check_all_malformed(const struct bad_case *cases, size_t n)
{
	unsigned int failed = 0;

	for (size_t i = 0; i < n; i++)
		failed += !check_malformed(&cases[i]);
	assert_int_equal(failed, 0);
}

static void check_well_formed(const char *const *texts, size_t n)
{
	unsigned int failed = 0;

	for (size_t i = 0; i < n; i++) {
		char err[512];
		struct trace t;

		if (parse(texts[i], &t, err, sizeof(err))) {
			print_error("rejected: %s\nfor:\n%s\n", err, texts[i]);
			failed++;
			continue;
		}
		trace_free(&t);
	}
	assert_int_equal(failed, 0);
}

/* ---- malformed traces, by rule ---- */

static void test_unknown_command(void **state)
{
	const struct bad_case cases[] = {
		{ "frobnicate\n", 1 },
		{ "# a comment\n\ncr0 0x11\nfrobnicate 1 2\n", 4 },
		{ "read0x1000\n", 1 },
		{ "memslot 0 0 4K\n\tmemslots 1 0x1000 4K\n", 2 },
		{ "cr2 0x1000\n", 1 },
		{ "invlpga 0\n", 1 },
		{ "1 2 3\n", 1 },
	};

	(void)state;
	check_all_malformed(cases, ARRAY_SIZE(cases));
}

static void test_missing_operand(void **state)
{
	const struct bad_case cases[] = {
		{ "maxphyaddr\n", 1 },
		{ "memslot\n", 1 },
		{ "memslot 0\n", 1 },
		{ "memslot 0 0\n", 1 },
		{ "memslot 0 0 ro\n", 1 },
		{ "vcpu\n", 1 },
		{ "pwrite\n", 1 },
		{ "pwrite 0x1000\n", 1 },
		{ "pread\n", 1 },
		{ "cr0\n", 1 },
		{ "cr3\n", 1 },
		{ "cr4\n", 1 },
		{ "efer\n", 1 },
		{ "rflags\n", 1 },
		{ "pkru\n", 1 },
		{ "pkrs\n", 1 },
		{ "cpl\n", 1 },
		{ "smm\n", 1 },
		{ "invlpg\n", 1 },
		{ "read\n", 1 },
		{ "write\n", 1 },
		{ "fetch\n", 1 },
		{ "read implicit\n", 1 },
		{ "zap\n", 1 },
		{ "zap 0\n", 1 },
		{ "invalidate 0\n", 1 },
		{ "version\n", 1 },
		{ "cr0 0x11\n\n# x\ncr3 # 0x1000\n", 4 },
	};

	(void)state;
	check_all_malformed(cases, ARRAY_SIZE(cases));
}

static void test_extra_operand(void **state)
{
	const struct bad_case cases[] = {
		{ "maxphyaddr 40 1\n", 1 },
		{ "memslot 0 0 4K ro smm x\n", 1 },
		{ "memslot 0 0 4K rw\n", 1 },
		{ "memslot 0 0 4K ro ro\n", 1 },
		{ "memslot 0 0 4K 4K\n", 1 },
		{ "memslot 0 0 4K\nmemslot 0 delete now\n", 2 },
		{ "vcpu 0 1\n", 1 },
		{ "pwrite 0x1000 1 8 9\n", 1 },
		{ "pread 0x1000 8 9\n", 1 },
		{ "cr0 0x11 0\n", 1 },
		{ "cr3 0 0\n", 1 },
		{ "cr4 0 0\n", 1 },
		{ "efer 0 0\n", 1 },
		{ "rflags 2 2\n", 1 },
		{ "pkru 0 0\n", 1 },
		{ "pkrs 0 0\n", 1 },
		{ "cpl 0 0\n", 1 },
		{ "smm 0 0\n", 1 },
		{ "invlpg 0 0\n", 1 },
		{ "flush 1\n", 1 },
		{ "flush all\n", 1 },
		{ "read 0x1000 1 2\n", 1 },
		{ "read 0x1000 1 implicit 1\n", 1 },
		{ "write 0x1000 1 1 1\n", 1 },
		{ "write 0x1000 1 1 1 implicit\n", 1 },
		{ "fetch 0x1000 1\n", 1 },          /* fetch with a size */
		{ "fetch 0x1000 1 implicit\n", 1 },
		{ "zap 0 4K 4K\n", 1 },
		{ "invalidate 0 4K 4K\n", 1 },
		{ "version 1 1\n", 1 },
		{ "read 0x1000 implicit implicit\n", 1 },
	};

	(void)state;
	check_all_malformed(cases, ARRAY_SIZE(cases));
}

static void test_numbers(void **state)
{
	const struct bad_case cases[] = {
		/* Beyond 64 bits. */
		{ "cr3 0x10000000000000000\n", 1 },
		{ "cr3 18446744073709551616\n", 1 },
		{ "cr3 99999999999999999999\n", 1 },
		{ "invlpg 0x00000000000000000000ffffffffffffffffff\n", 1 },
		{ "memslot 0 0 17179869184G\n", 1 },          /* 2^34 G = 2^64 */
		{ "memslot 0 0 0x40000000000000K\n", 1 },     /* 2^54 K */
		{ "zap 0 16777216T\n", 1 },
		/* Not numbers. */
		{ "cr0 0x\n", 1 },
		{ "cr0 0xg\n", 1 },
		{ "cr0 12a\n", 1 },
		{ "cr0 -1\n", 1 },
		{ "cr0 +1\n", 1 },
		{ "cr0 x10\n", 1 },
		{ "cr0 1.5\n", 1 },
		{ "cr0 0x1_000\n", 1 },
		{ "pwrite 0x1000 zero\n", 1 },
		/* Suffixes: only K, M, G, only on sizes. */
		{ "cr0 1K\n", 1 },
		{ "cr3 0x1000K\n", 1 },
		{ "pwrite 0x1000 1K\n", 1 },
		{ "pwrite 1K 0\n", 1 },
		{ "read 4K\n", 1 },
		{ "write 0x1000 1M\n", 1 },
		{ "invlpg 1G\n", 1 },
		{ "vcpu 1K\n", 1 },
		{ "memslot 0 0 4k\n", 1 },
		{ "memslot 0 0 4KB\n", 1 },
		{ "memslot 0 0 4KK\n", 1 },
		{ "memslot 0 0 4T\n", 1 },
		{ "memslot 0 0 4 K\n", 1 },
		{ "memslot 0 0 K\n", 1 },
		{ "memslot 0 0 0xK\n", 1 },
		{ "memslot 0 0x 4K\n", 1 },
		{ "zap 0 4k\n", 1 },
		{ "zap 0 G\n", 1 },
	};
	const char *const good[] = {
		"cr3 0xffffffffffffffff\n",
		"cr3 18446744073709551615\n",
		"cr3 0XFFFFFFFFFFFFFFFF\n",
		"invlpg 0x0000000000000000000000001000\n",
		"maxphyaddr 52\nmemslot 0 0 4194304G\n",        /* 2^52 */
		"memslot 0 0 4K\nmemslot 1 0x100000 0x4K\nmemslot 2 0x200000 1M\n",
	};

	(void)state;
	check_all_malformed(cases, ARRAY_SIZE(cases));
	check_well_formed(good, ARRAY_SIZE(good));
}

static void test_maxphyaddr(void **state)
{
	const struct bad_case cases[] = {
		{ "maxphyaddr 35\n", 1 },
		{ "maxphyaddr 53\n", 1 },
		{ "maxphyaddr 0\n", 1 },
		{ "maxphyaddr 64\n", 1 },
		{ "maxphyaddr 0x100000024\n", 1 },
		{ "memslot 0 0 4K\nmaxphyaddr 40\n", 2 },
		{ "memslot 0 0 4K\nmemslot 0 delete\nmaxphyaddr 40\n", 3 },
		{ "memslot 0 0 4K smm\ncr0 0x11\nmaxphyaddr 46\n", 3 },
		/* RAM cannot lie beyond MAXPHYADDR. */
		{ "maxphyaddr 36\nmemslot 0 0x1000000000 4K\n", 2 },
		{ "maxphyaddr 36\nmemslot 0 0xffffff000 8K\n", 2 },
		{ "memslot 0 0x400000000000 4K\n", 1 },
	};
	const char *const good[] = {
		"maxphyaddr 36\nmemslot 0 0xffffff000 4K\n",
		"maxphyaddr 52\nmemslot 0 0xffffffffff000 4K\n",
		"maxphyaddr 40\nmaxphyaddr 36\n",
		"cr0 0x11\nmaxphyaddr 40\nmemslot 0 0 4K\n",
	};
	char err[256];
	struct trace t;

	(void)state;
	check_all_malformed(cases, ARRAY_SIZE(cases));
	check_well_formed(good, ARRAY_SIZE(good));

	assert_int_equal(parse("cr0 0x11\n", &t, err, sizeof(err)), 0);
	assert_int_equal(t.maxphyaddr, 46);
	trace_free(&t);
	assert_int_equal(parse("maxphyaddr 40\nmaxphyaddr 39\n", &t, err, sizeof(err)), 0);
	assert_int_equal(t.maxphyaddr, 39);
	trace_free(&t);
}

static void test_memslot_rules(void **state)
{
	const struct bad_case cases[] = {
		/* Alignment and size. */
		{ "memslot 0 0x800 4K\n", 1 },
		{ "memslot 0 0x1001 4K\n", 1 },
		{ "memslot 0 0 0x800\n", 1 },
		{ "memslot 0 0 0x1001\n", 1 },
		{ "memslot 0 0 0\n", 1 },
		{ "memslot 0 0 0 smm\n", 1 },
		/* Overlap within one address space. */
		{ "memslot 0 0 8K\nmemslot 1 4K 4K\n", 2 },
		{ "memslot 0 4K 4K\nmemslot 1 0 8K\n", 2 },
		{ "memslot 0 4K 8K\nmemslot 1 0 8K\n", 2 },
		{ "memslot 0 0 8K\nmemslot 1 4K 8K\n", 2 },
		{ "memslot 0 0 4K\nmemslot 1 0 4K ro\n", 2 },
		{ "memslot 0 0 4K smm\nmemslot 1 0 4K smm\n", 2 },
		{ "memslot 0 0 1M smm\nmemslot 1 0 1M\nmemslot 2 0xff000 8K smm\n", 3 },
		/* Live ids, in either address space. */
		{ "memslot 0 0 4K\nmemslot 0 8K 4K\n", 2 },
		{ "memslot 0 0 4K\nmemslot 0 8K 4K smm\n", 2 },
		{ "memslot 7 0 4K smm\nmemslot 7 8K 4K\n", 2 },
		{ "memslot 0 0 4K\nmemslot 0 delete\nmemslot 1 0 4K\nmemslot 1 8K 4K\n", 4 },
		/* Deleting a missing slot. */
		{ "memslot 0 delete\n", 1 },
		{ "memslot 0 0 4K\nmemslot 1 delete\n", 2 },
		{ "memslot 0 0 4K\nmemslot 0 delete\nmemslot 0 delete\n", 3 },
		{ "memslot 0 0 4K smm\nmemslot 0 delete\nmemslot 0 delete\n", 3 },
		{ "memslot x delete\n", 1 },
	};
	const char *const good[] = {
		/* Adjacent slots, and the same range in the other address space. */
		"memslot 0 0 4K\nmemslot 1 4K 4K\nmemslot 2 0 8K smm\nmemslot 3 8K 4K smm\n",
		"memslot 0 0 1M\nmemslot 1 0x30000 64K smm\n",
		"memslot 0 0x30000 64K smm\nmemslot 1 0 1M ro\n",
		"memslot 0 0 4K smm ro\nmemslot 1 4K 4K ro smm\n",
		/* Ids and ranges are free again after deletion. */
		"memslot 0 0 4K\nmemslot 0 delete\nmemslot 0 0 4K\n",
		"memslot 0 0 4K\nmemslot 0 delete\nmemslot 0 0 4K smm\n",
		"memslot 0 0 8K\nmemslot 0 delete\nmemslot 1 4K 4K\nmemslot 0 0 4K\n",
		"memslot 4294967295 0 4K\nmemslot 4294967295 delete\n",
	};

	(void)state;
	check_all_malformed(cases, ARRAY_SIZE(cases));
	check_well_formed(good, ARRAY_SIZE(good));
}

static void test_value_and_range_rules(void **state)
{
	const struct bad_case cases[] = {
		/* vCPU index. */
		{ "vcpu 1024\n", 1 },
		{ "vcpu 0xffffffff\n", 1 },
		/* Sizes of 1, 2, 4, 8 only. */
		{ "pwrite 0x1000 0 3\n", 1 },
		{ "pwrite 0x1000 0 16\n", 1 },
		{ "pwrite 0x1000 0 0\n", 1 },
		{ "pread 0x1000 0\n", 1 },
		{ "read 0x1000 16\n", 1 },
		{ "read 0x1000 0\n", 1 },
		{ "write 0x1000 0 3\n", 1 },
		/* pwrite/pread alignment. */
		{ "pwrite 0x1001 0 2\n", 1 },
		{ "pwrite 0x1002 0 4\n", 1 },
		{ "pwrite 0x1004 0\n", 1 },                   /* default size 8 */
		{ "pwrite 0x1004 0 8\n", 1 },
		{ "pread 0x1003 4\n", 1 },
		{ "pread 0x1001\n", 1 },
		/* Values too large for their size. */
		{ "pwrite 0x1000 0x100 1\n", 1 },
		{ "pwrite 0x1000 0x10000 2\n", 1 },
		{ "pwrite 0x1000 0x100000000 4\n", 1 },
		{ "write 0x1000 0x100\n", 1 },                /* default size 1 */
		{ "write 0x1000 0x100 1\n", 1 },
		{ "write 0x1000 0x10000 2 implicit\n", 1 },
		{ "write 0x1000 0x100000000 4\n", 1 },
		/* Accesses crossing 4K. */
		{ "read 0xfff 2\n", 1 },
		{ "read 0xffe 4\n", 1 },
		{ "read 0xff9 8\n", 1 },
		{ "write 0x1ffd 0 4\n", 1 },
		{ "write 0xfffffffffffffffc 0 8 implicit\n", 1 },
		/* CPL 0 or 3; SMM 0 or 1; PKRU below 2^32. */
		{ "cpl 1\n", 1 },
		{ "cpl 2\n", 1 },
		{ "cpl 4\n", 1 },
		{ "smm 2\n", 1 },
		{ "smm 0x100000000\n", 1 },
		{ "pkru 0x100000000\n", 1 },
		{ "pkru 0xffffffffffffffff\n", 1 },
		/* implicit: read and write only. */
		{ "fetch 0x1000 implicit\n", 1 },
		{ "cr0 0x11\nfetch 0x1000 implicit # no\n", 2 },
		/* zap and invalidate ranges. */
		{ "zap 0x800 4K\n", 1 },
		{ "zap 0 0x800\n", 1 },
		{ "zap 0 0\n", 1 },
		{ "invalidate 0x1001 4K\n", 1 },
		{ "invalidate 0 0\n", 1 },
	};
	const char *const good[] = {
		"vcpu 1023\n",
		"pwrite 0x1000 0xff 1\npwrite 0x1002 0xffff 2\npwrite 0x1004 0xffffffff 4\n",
		"pwrite 0x1008 0xffffffffffffffff\n",
		"read 0xfff\nread 0xfff 1\nread 0xffe 2\nread 0xffc 4\nread 0xff8 8\n",
		"write 0xfff 0xff\nwrite 0xff8 0xffffffffffffffff 8 implicit\n",
		"read 0xfffffffffffffff8 8 implicit\nwrite 0x1001 0x1234 2\n",
		"cpl 0\ncpl 3\nsmm 1\nsmm 0\npkru 0xffffffff\n",
		"write 0x1000 implicit\nread 0x1000 implicit\nread 0x1000 2 implicit\n",
		"zap 0 4K\ninvalidate 0x10000000 1G\nzap 0xffffffffffffe000 4K\n",
	};

	(void)state;
	check_all_malformed(cases, ARRAY_SIZE(cases));
	check_well_formed(good, ARRAY_SIZE(good));
}

static void test_version(void **state)
{
	const struct bad_case cases[] = {
		{ "cr0 0x11\nversion 1\n", 2 },
		{ "memslot 0 0 4K\n\nversion 1.0\n", 3 },
		{ "version 2\n", 1 },
		{ "version 2.0\n", 1 },
		{ "version 0.9\n", 1 },
		{ "version 1.9\n", 1 },
		{ "version 1.1\n", 1 },
		{ "version 1.\n", 1 },
		{ "version .1\n", 1 },
		{ "version 1.0.0\n", 1 },
		{ "version x\n", 1 },
		{ "version 1.x\n", 1 },
		{ "# header\nversion 1 0\n", 2 },
	};
	const char *const good[] = {
		"version 1\n",
		"version 1.0\ncr0 0x11\n",
		"# a header\n\n   # more\nversion 1.0   # comment\nmemslot 0 0 4K\n",
	};

	(void)state;
	check_all_malformed(cases, ARRAY_SIZE(cases));
	check_well_formed(good, ARRAY_SIZE(good));
}

/* A size suffix alone is not a number: "K" must not parse as 0. */
static void test_suffix_without_digits(void **state)
{
	const struct bad_case cases[] = {
		{ "memslot 0 K 4K\n", 1 },
		{ "memslot 0 M 4K\n", 1 },
		{ "memslot 0 0 4K\nmemslot 1 0x10000 4K\nmemslot 2 G 4K smm\n", 3 },
	};

	(void)state;
	check_all_malformed(cases, ARRAY_SIZE(cases));
}

/* zap/invalidate: 4K-aligned GPA and SIZE > 0 is the whole rule; a range
 * that ends exactly at 2^64 does not wrap. */
static void test_range_ending_at_top(void **state)
{
	const char *const good[] = {
		"zap 0xfffffffffffff000 4K\n",
		"invalidate 0xffffffffc0000000 1G\n",
	};

	(void)state;
	check_well_formed(good, ARRAY_SIZE(good));
}

/* A second version line is a version line that is not the first command. */
static void test_version_twice(void **state)
{
	const struct bad_case cases[] = {
		{ "version 1\nversion 1\n", 2 },
		{ "version 1.0\n# x\nversion 1.0\ncr0 0x11\n", 3 },
	};

	(void)state;
	check_all_malformed(cases, ARRAY_SIZE(cases));
}

/* Only the first malformed line is reported, and nothing is returned. */
static void test_first_error_wins(void **state)
{
	const char *text = "memslot 0 0 4K\ncr0 0x11\ncpl 2\nfoo\n";
	char err[256];
	struct trace t;

	(void)state;
	assert_int_equal(parse(text, &t, err, sizeof(err)), -1);
	assert_true(!strncmp(err, NAME ":3: ", strlen(NAME ":3: ")));
	assert_int_equal(t.nr, 0);
	assert_null(t.cmds);

	/* A small error buffer gets a truncated, terminated message. */
	char small[8];

	memset(small, 'x', sizeof(small));
	assert_int_equal(trace_parse(text, strlen(text), NAME, &t, small, sizeof(small)), -1);
	assert_int_equal(small[sizeof(small) - 1], 0);
	assert_true(!strncmp(small, NAME, sizeof(small) - 1));
}

/* ---- well-formed traces ---- */

static void test_command_list(void **state)
{
	const char *text =
		"# comment line\n"                            /* 1 */
		"version 1.0\n"                               /* 2 */
		"maxphyaddr 40\n"                             /* 3 */
		"memslot 7 0x100000 2M ro\n"                  /* 4 */
		"memslot 8 0 4K smm ro   # trailing\n"        /* 5 */
		"memslot 7 delete\n"                          /* 6 */
		"vcpu 3\n"                                    /* 7 */
		"pwrite 0x1000 0x1234 2\n"                    /* 8 */
		"pwrite 0x2000 0xdead\n"                      /* 9 */
		"pread 0x3000\n"                              /* 10 */
		"pread 0x3004 4\n"                            /* 11 */
		"cr0 0x80000011\n"                            /* 12 */
		"cr3 0x1000\n"                                /* 13 */
		"cr4 0x20\n"                                  /* 14 */
		"efer 0x900\n"                                /* 15 */
		"rflags 0x40000\n"                            /* 16 */
		"pkru 0xffffffff\n"                           /* 17 */
		"pkrs 3\n"                                    /* 18 */
		"cpl 3\n"                                     /* 19 */
		"smm 1\n"                                     /* 20 */
		"invlpg 0xffff800000000000\n"                 /* 21 */
		"flush\n"                                     /* 22 */
		"read 0x1000\n"                               /* 23 */
		"read 0x1ff8 8 implicit\n"                    /* 24 */
		"write 0x2000\n"                              /* 25 */
		"write 0x2000 0x77\n"                         /* 26 */
		"write 0x2004 0xbeef 2 implicit\n"            /* 27 */
		"fetch 0x3000\n"                              /* 28 */
		"zap 0x10000 64K\n"                           /* 29 */
		"invalidate 0 1G\n"                           /* 30 */
		"  \t \n"                                     /* 31 */
		"\tread\t0x10\t4\r\n"                         /* 32 */
		"write 0x20 1 1";                             /* 33, no newline */
	const struct trace_cmd want[] = {
		{ .op = OP_MEMSLOT_ADD, .line = 4, .a = 7, .b = 0x100000, .c = 2 << 20,
		  .ro = true },
		{ .op = OP_MEMSLOT_ADD, .line = 5, .a = 8, .b = 0, .c = 4096,
		  .ro = true, .smm = true },
		{ .op = OP_MEMSLOT_DELETE, .line = 6, .a = 7 },
		{ .op = OP_VCPU, .line = 7, .a = 3 },
		{ .op = OP_PWRITE, .line = 8, .a = 0x1000, .b = 0x1234, .size = 2 },
		{ .op = OP_PWRITE, .line = 9, .a = 0x2000, .b = 0xdead, .size = 8 },
		{ .op = OP_PREAD, .line = 10, .a = 0x3000, .size = 8 },
		{ .op = OP_PREAD, .line = 11, .a = 0x3004, .size = 4 },
		{ .op = OP_SET_REG, .line = 12, .reg = VMMU_REG_CR0, .a = 0x80000011 },
		{ .op = OP_SET_REG, .line = 13, .reg = VMMU_REG_CR3, .a = 0x1000 },
		{ .op = OP_SET_REG, .line = 14, .reg = VMMU_REG_CR4, .a = 0x20 },
		{ .op = OP_SET_REG, .line = 15, .reg = VMMU_REG_EFER, .a = 0x900 },
		{ .op = OP_SET_REG, .line = 16, .reg = VMMU_REG_RFLAGS, .a = 0x40000 },
		{ .op = OP_SET_REG, .line = 17, .reg = VMMU_REG_PKRU, .a = 0xffffffff },
		{ .op = OP_SET_REG, .line = 18, .reg = VMMU_REG_PKRS, .a = 3 },
		{ .op = OP_SET_REG, .line = 19, .reg = VMMU_REG_CPL, .a = 3 },
		{ .op = OP_SET_REG, .line = 20, .reg = VMMU_REG_SMM, .a = 1 },
		{ .op = OP_INVLPG, .line = 21, .a = 0xffff800000000000ull },
		{ .op = OP_FLUSH, .line = 22 },
		{ .op = OP_READ, .line = 23, .a = 0x1000, .size = 1 },
		{ .op = OP_READ, .line = 24, .a = 0x1ff8, .size = 8, .implicit = true },
		{ .op = OP_WRITE, .line = 25, .a = 0x2000, .b = 0xa5, .size = 1 },
		{ .op = OP_WRITE, .line = 26, .a = 0x2000, .b = 0x77, .size = 1 },
		{ .op = OP_WRITE, .line = 27, .a = 0x2004, .b = 0xbeef, .size = 2,
		  .implicit = true },
		{ .op = OP_FETCH, .line = 28, .a = 0x3000, .size = 1 },
		{ .op = OP_ZAP, .line = 29, .a = 0x10000, .b = 64 << 10 },
		{ .op = OP_INVALIDATE, .line = 30, .a = 0, .b = 1 << 30 },
		{ .op = OP_READ, .line = 32, .a = 0x10, .size = 4 },
		{ .op = OP_WRITE, .line = 33, .a = 0x20, .b = 1, .size = 1 },
	};
	char err[256];
	struct trace t;

	(void)state;
	if (parse(text, &t, err, sizeof(err)))
		fail_msg("rejected: %s", err);
	assert_string_equal(t.name, NAME);
	assert_int_equal(t.maxphyaddr, 40);
	assert_int_equal(t.nr, ARRAY_SIZE(want));
	for (size_t i = 0; i < t.nr; i++) {
		const struct trace_cmd *g = &t.cmds[i], *w = &want[i];
		bool size_matters = w->op == OP_PWRITE || w->op == OP_PREAD || w->op == OP_READ ||
				    w->op == OP_WRITE || w->op == OP_FETCH;

		if (g->op != w->op || g->line != w->line || g->a != w->a || g->b != w->b ||
		    g->c != w->c || (size_matters && g->size != w->size) ||
		    (w->op == OP_SET_REG && g->reg != w->reg) || g->ro != w->ro ||
		    g->smm != w->smm || g->implicit != w->implicit)
			fail_msg("command %zu (line %u): op %u line %u a %#llx b %#llx c %#llx "
				 "size %u reg %u ro %d smm %d implicit %d", i, w->line, g->op,
				 g->line, (unsigned long long)g->a, (unsigned long long)g->b,
				 (unsigned long long)g->c, g->size, g->reg, g->ro, g->smm,
				 g->implicit);
	}
	trace_free(&t);
}

static void test_empty_traces(void **state)
{
	const char *const texts[] = { "", "\n", "# only a comment", "\n\n  \t\n#x\n", "\r\n" };
	char err[64];
	struct trace t;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(texts); i++) {
		assert_int_equal(parse(texts[i], &t, err, sizeof(err)), 0);
		assert_int_equal(t.nr, 0);
		assert_int_equal(t.maxphyaddr, 46);
		trace_free(&t);
	}
	/* Line numbers count CRLF lines and comment-only lines. */
	assert_int_equal(parse("cr0 0x11\r\n#\r\n\r\nfoo\r\n", &t, err, sizeof(err)), -1);
	assert_true(!strncmp(err, NAME ":4: ", strlen(NAME ":4: ")));
}

/* A long trace: the command array grows. */
static void test_many_commands(void **state)
{
	const unsigned int n = 5000;
	size_t cap = (size_t)n * 24 + 64, len = 0;
	char *text = malloc(cap), err[128];
	struct trace t;

	(void)state;
	assert_non_null(text);
	for (unsigned int i = 0; i < n; i++)
		len += (size_t)snprintf(text + len, cap - len, "read %#x 4\n", i * 4 % 4096);
	assert_int_equal(trace_parse(text, len, NAME, &t, err, sizeof(err)), 0);
	assert_int_equal(t.nr, n);
	assert_int_equal(t.cmds[n - 1].line, n);
	assert_int_equal(t.cmds[n - 1].a, (n - 1) * 4 % 4096);
	trace_free(&t);
	free(text);
}

/* ---- replay ---- */

/* Parses and replays @text; checks the exit status, the output, and that
 * nothing went to the message stream. */
static void replay_expect(const char *text, const char *want)
{
	char err[512], *out_buf = NULL, *err_buf = NULL;
	size_t out_len = 0, err_len = 0;
	struct trace t;
	FILE *out, *errf;
	int ret;

	if (parse(text, &t, err, sizeof(err)))
		fail_msg("rejected: %s", err);
	out = open_memstream(&out_buf, &out_len);
	errf = open_memstream(&err_buf, &err_len);
	assert_non_null(out);
	assert_non_null(errf);
	ret = trace_replay(&t, NULL, out, errf);
	fclose(out);
	fclose(errf);
	trace_free(&t);
	if (ret || strcmp(out_buf, want) || err_len)
		fail_msg("replay returned %d\n--- output:\n%s--- expected:\n%s"
			 "--- messages:\n%s", ret, out_buf, want, err_buf);
	free(out_buf);
	free(err_buf);
}

/* The example of TRACE-FORMAT.md. */
static void test_replay_example(void **state)
{
	(void)state;
	replay_expect("maxphyaddr 46\n"
		      "memslot 0 0 16M\n"
		      "pwrite 0x1000 0x2003        # PML4[0] -> 0x2000, P|W\n"
		      "pwrite 0x2000 0x3003        # PDPT[0] -> 0x3000\n"
		      "pwrite 0x3000 0x4003        # PD[0]   -> 0x4000\n"
		      "pwrite 0x4008 0x5001        # PT[1]   -> 0x5000, present, read-only\n"
		      "efer 0x900                  # LME | NXE\n"
		      "cr4 0x20                    # PAE\n"
		      "cr3 0x1000\n"
		      "cr0 0x80000011              # PG | ET | PE, WP clear\n"
		      "write 0x1000                # supervisor write to a read-only page, WP=0\n"
		      "pread 0x4008                # A and D now set\n"
		      "cr0 0x80010011              # set WP\n"
		      "write 0x1000\n",
		      "11 ok 0000000000005000\n"
		      "12 0x5061\n"
		      "14 pf 0003\n");
}

/* What prints and what does not: pread values, MMIO (no RAM, read-only),
 * faulting register writes, #GP accesses, vCPUs sharing memory. */
static void test_replay_outputs(void **state)
{
	(void)state;
	replay_expect("memslot 0 0 64K\n"                        /* 1 */
		      "memslot 1 0x10000 4K ro\n"                /* 2 */
		      "pwrite 0x10000 1 1\n"                     /* 3 mmio, stores nothing */
		      "pread 0x10000 1\n"                        /* 4 */
		      "pwrite 0x20000 5\n"                       /* 5 mmio */
		      "pread 0x20000 4\n"                        /* 6 mmio */
		      "pwrite 0x100 0x0123456789abcdef\n"        /* 7 */
		      "pread 0x100\n"                            /* 8 */
		      "pread 0x104 4\n"                          /* 9 */
		      "pread 0x107 1\n"                          /* 10 */
		      "cr0 0x80000010\n"                         /* 11 gp: PG without PE */
		      "cr4 0x2000\n"                             /* 12 gp: bit 13 */
		      "efer 0x2\n"                               /* 13 gp */
		      "cr0 0x11\n"                               /* 14 */
		      "read 0x100 8\n"                           /* 15 */
		      "write 0x10008 0x55\n"                     /* 16 mmio: read-only */
		      "read 0x10008\n"                           /* 17 */
		      "fetch 0x30000\n"                          /* 18 mmio: no RAM */
		      "read 0x100000000\n"                       /* 19 gp */
		      "vcpu 1\n"                                 /* 20 */
		      "write 0x200 0x42\n"                       /* 21 paging off in reset state */
		      "cr3 0x100000000\n"                        /* 22 gp */
		      "vcpu 0\n"                                 /* 23 */
		      "pread 0x200 1\n"                          /* 24 */
		      "pread 0xfff8\n",                          /* 25 */
		      "3 mmio 0000000000010000\n"
		      "4 0x0\n"
		      "5 mmio 0000000000020000\n"
		      "6 mmio 0000000000020000\n"
		      "8 0x123456789abcdef\n"
		      "9 0x1234567\n"
		      "10 0x1\n"
		      "11 gp\n"
		      "12 gp\n"
		      "13 gp\n"
		      "15 ok 0000000000000100\n"
		      "16 mmio 0000000000010008\n"
		      "17 ok 0000000000010008\n"
		      "18 mmio 0000000000030000\n"
		      "19 gp\n"
		      "21 ok 0000000000000200\n"
		      "22 gp\n"
		      "24 0x42\n"
		      "25 0x0\n");
}

/* SMRAM composition: an smm slot over part of a normal slot is visible only
 * in SMM; the normal memory around it stays visible in SMM (same memory);
 * deleting the normal slot leaves only SMRAM. */
static void test_replay_smram(void **state)
{
	(void)state;
	replay_expect("memslot 0 0 1M\n"                         /* 1 */
		      "memslot 1 0x30000 64K smm\n"              /* 2 */
		      "pwrite 0x30000 0x1111\n"                  /* 3 normal memory under SMRAM */
		      "pwrite 0x20000 0x2222\n"                  /* 4 */
		      "pwrite 0x40000 0x4444\n"                  /* 5 just above SMRAM */
		      "smm 1\n"                                  /* 6 */
		      "pread 0x30000\n"                          /* 7 SMRAM, zero-filled */
		      "pwrite 0x3fff8 0x3333\n"                  /* 8 last word of SMRAM */
		      "pread 0x20000\n"                          /* 9 normal, seen from SMM */
		      "pread 0x40000\n"                          /* 10 */
		      "pwrite 0x20008 0x5555\n"                  /* 11 normal, written from SMM */
		      "read 0x30000\n"                           /* 12 */
		      "read 0x2ffff\n"                           /* 13 */
		      "vcpu 1\n"                                 /* 14 another vCPU, not in SMM */
		      "pread 0x30000\n"                          /* 15 */
		      "pread 0x3fff8\n"                          /* 16 */
		      "pread 0x20008\n"                          /* 17 */
		      "memslot 0 delete\n"                       /* 18 */
		      "pread 0x20000\n"                          /* 19 */
		      "pread 0x30000\n"                          /* 20 */
		      "read 0x40000\n"                           /* 21 */
		      "vcpu 0\n"                                 /* 22 still in SMM */
		      "pread 0x20000\n"                          /* 23 */
		      "pread 0x3fff8\n"                          /* 24 */
		      "pread 0x40000\n"                          /* 25 */
		      "read 0x2f000\n"                           /* 26 */
		      "smm 0\n"                                  /* 27 */
		      "pread 0x3fff8\n"                          /* 28 */
		      "memslot 2 0 1M\n"                         /* 29 new normal RAM */
		      "pread 0x30000\n"                          /* 30 */
		      "smm 1\n"                                  /* 31 */
		      "pread 0x3fff8\n"                          /* 32 */
		      "pread 0x20000\n"                          /* 33 */
		      "pwrite 0x50000 0x6666\n"                  /* 34 */
		      "smm 0\n"                                  /* 35 */
		      "pread 0x50000\n",                         /* 36 */
		      "7 0x0\n"
		      "9 0x2222\n"
		      "10 0x4444\n"
		      "12 ok 0000000000030000\n"
		      "13 ok 000000000002ffff\n"
		      "15 0x1111\n"
		      "16 0x0\n"
		      "17 0x5555\n"
		      "19 mmio 0000000000020000\n"
		      "20 mmio 0000000000030000\n"
		      "21 mmio 0000000000040000\n"
		      "23 mmio 0000000000020000\n"
		      "24 0x3333\n"
		      "25 mmio 0000000000040000\n"
		      "26 mmio 000000000002f000\n"
		      "28 mmio 000000000003fff8\n"
		      "30 0x0\n"
		      "32 0x3333\n"
		      "33 0x0\n"
		      "36 0x6666\n");
}

/* SMRAM that is read-only, and SMRAM added after the normal slot exists,
 * deleted again: the normal memory shows through once more. */
static void test_replay_smram_changes(void **state)
{
	(void)state;
	replay_expect("memslot 0 0 256K ro\n"                    /* 1 */
		      "memslot 1 0x10000 4K smm\n"               /* 2 */
		      "smm 1\n"                                  /* 3 */
		      "pwrite 0x10000 0x77\n"                    /* 4 SMRAM is writable */
		      "pwrite 0x20000 0x77\n"                    /* 5 normal ro: mmio */
		      "write 0x30000 0x1\n"                      /* 6 mmio */
		      "read 0x30000\n"                           /* 7 ok */
		      "memslot 1 delete\n"                       /* 8 */
		      "pread 0x10000\n"                          /* 9 normal again */
		      "memslot 1 0x3f000 4K smm ro\n"            /* 10 */
		      "pwrite 0x3f000 1\n"                       /* 11 mmio */
		      "pread 0x3f000\n"                          /* 12 */
		      "pread 0x3e000\n"                          /* 13 */
		      "pread 0x40000\n",                         /* 14 */
		      "5 mmio 0000000000020000\n"
		      "6 mmio 0000000000030000\n"
		      "7 ok 0000000000030000\n"
		      "9 0x0\n"
		      "11 mmio 000000000003f000\n"
		      "12 0x0\n"
		      "13 0x0\n"
		      "14 mmio 0000000000040000\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unknown_command),
		cmocka_unit_test(test_missing_operand),
		cmocka_unit_test(test_extra_operand),
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_maxphyaddr),
		cmocka_unit_test(test_memslot_rules),
		cmocka_unit_test(test_value_and_range_rules),
		cmocka_unit_test(test_version),
		cmocka_unit_test(test_suffix_without_digits),
		cmocka_unit_test(test_range_ending_at_top),
		cmocka_unit_test(test_version_twice),
		cmocka_unit_test(test_first_error_wins),
		cmocka_unit_test(test_command_list),
		cmocka_unit_test(test_empty_traces),
		cmocka_unit_test(test_many_commands),
		cmocka_unit_test(test_replay_example),
		cmocka_unit_test(test_replay_outputs),
		cmocka_unit_test(test_replay_smram),
		cmocka_unit_test(test_replay_smram_changes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
