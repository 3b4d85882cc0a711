/* SPDX-License-Identifier: MIT */
/* Helpers shared by the benchmarks: time, option values, statistics. */
#include <ctype.h>
#include <getopt.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"
#include "commands.h"

volatile uint64_t bench_sink;

uint64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int bench_parse_size(const char *s, uint64_t *out)
{
	unsigned long long v;
	unsigned int shift = 0;
	char *end;

	if (!s || !isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -1;
	switch (*end) {
	case '\0':
		break;
	case 'k': case 'K':
		shift = 10;
		break;
	case 'm': case 'M':
		shift = 20;
		break;
	case 'g': case 'G':
		shift = 30;
		break;
	case 't': case 'T':
		shift = 40;
		break;
	default:
		return -1;
	}
	if (shift && end[1])
		return -1;
	if (shift && v > (~0ull >> shift))
		return -1;
	*out = (uint64_t)v << shift;
	return 0;
}

int bench_parse_count(const char *s, uint64_t *out)
{
	if (bench_parse_size(s, out) || !*out)
		return -1;
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

double bench_median(double *v, unsigned int n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

double bench_min(const double *v, unsigned int n)
{
	double m = v[0];

	for (unsigned int i = 1; i < n; i++)
		if (v[i] < m)
			m = v[i];
	return m;
}

long long bench_smaps_huge_kb(uintptr_t start, uintptr_t end)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[512];
	bool inside = false;
	long long total = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		uintptr_t lo, hi;
		long long kb;

		if (sscanf(line, "%" SCNxPTR "-%" SCNxPTR " ", &lo, &hi) == 2) {
			inside = lo < end && start < hi;
			continue;
		}
		if (inside && sscanf(line, "AnonHugePages: %lld kB", &kb) == 1)
			total = (total < 0 ? 0 : total) + kb;
	}
	fclose(f);
	return total;
}

int bench_bad_option(const char *name, void (*usage)(FILE *f), const char *fmt, const char *arg)
{
	fprintf(stderr, "vmmu bench %s: ", name);
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n");
	usage(stderr);
	return 2;
}

int bench_opt_common(const char *name, void (*usage)(FILE *f), int c, char **argv)
{
	if (c == 'h') {
		usage(stdout);
		return -1;
	}
	if (c == ':')
		return bench_bad_option(name, usage, "option '%s' needs a value", argv[optind - 1]);
	return bench_bad_option(name, usage, "unknown option '%s'", argv[optind - 1]);
}

int bench_opt_end(const char *name, void (*usage)(FILE *f), int argc, char **argv)
{
	if (optind < argc)
		return bench_bad_option(name, usage, "unexpected argument '%s'", argv[optind]);
	return 0;
}

/* ---- the two MMUs ----------------------------------------------------------- */

static const char *const mmu_names[BENCH_NR_MMU] = { "tdp", "tdp-legacy" };
static const uint32_t mmu_modes[BENCH_NR_MMU] = { VMMU_MMU_TDP, VMMU_MMU_TDP_LEGACY };

#define LEGACY_CAP_MIN_PAGES	256u   /* 1 MiB of tables */
#define LEGACY_CAP_DIVISOR	64u

const char *bench_mmu_name(enum bench_mmu m)
{
	return mmu_names[m];
}

uint32_t bench_mmu_mode(enum bench_mmu m)
{
	return mmu_modes[m];
}

int bench_parse_mmus(const char *name, const char *arg, bool on[BENCH_NR_MMU])
{
	unsigned int mode;

	if (!strcmp(arg, "both")) {
		for (unsigned int m = 0; m < BENCH_NR_MMU; m++)
			on[m] = true;
		return 0;
	}
	if (parse_mmu(arg, &mode)) {
		fprintf(stderr, "vmmu bench %s: --mmu takes tdp, tdp-legacy or both\n", name);
		return 2;
	}
	if (mode == VMMU_MMU_DIRECT) {
		fprintf(stderr, "vmmu bench %s: --mmu=direct has no TDP faults or roots to "
			"measure; use tdp, tdp-legacy or both\n", name);
		return 2;
	}
	for (unsigned int m = 0; m < BENCH_NR_MMU; m++)
		on[m] = mmu_modes[m] == mode;
	return 0;
}

const char *bench_mmus_label(const bool on[BENCH_NR_MMU])
{
	if (bench_mmus_both(on))
		return "--mmu=both";
	return on[BENCH_MMU_LEGACY] ? "--mmu=tdp-legacy" : "--mmu=tdp";
}

void bench_fmt_ratio(char *buf, size_t len, double legacy, double tdp)
{
	if (legacy > 0 && tdp > 0)
		snprintf(buf, len, "%.2fx", legacy / tdp);
	else
		snprintf(buf, len, "-");
}

uint64_t bench_legacy_default_cap(uint64_t as0_bytes)
{
	uint64_t pages = as0_bytes / 4096 / LEGACY_CAP_DIVISOR;

	return pages > LEGACY_CAP_MIN_PAGES ? pages : LEGACY_CAP_MIN_PAGES;
}

void bench_print_legacy_cap(FILE *f, uint64_t as0_bytes, uint64_t need)
{
	uint64_t cap = bench_legacy_default_cap(as0_bytes);

	fprintf(f, "tdp-legacy page-table cap: the default (1/64 of the %" PRIu64 " MiB of "
		"memslots in address space 0, at least 1 MiB) = %" PRIu64 " pages; the trees "
		"measured take %" PRIu64 " pages: %s\n", as0_bytes >> 20, cap, need,
		need <= cap ? "no reclaim expected (mmu_recycled is checked)" :
		"over the cap, reclaim (mmu_recycled) will show");
}

void bench_get_stats(struct vmmu_vm *vm, struct vmmu_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->size = sizeof(*st);
	vmmu_vm_get_stats(vm, st);
}

const char *bench_policy_name(uint32_t policy)
{
	switch (policy) {
	case VMMU_POLICY_5_10:
		return "5.10";
	case VMMU_POLICY_6_1:
		return "6.1";
	case VMMU_POLICY_6_4:
		return "6.4";
	default:
		return "?";
	}
}

/* -1 unknown, 0 no, 1 yes: asked once. */
static int progress_tty = -1;
static int progress_len;

void bench_progress(const char *fmt, ...)
{
	char line[160];
	va_list ap;
	int n;

	if (progress_tty < 0)
		progress_tty = isatty(STDERR_FILENO);
	if (!progress_tty)
		return;
	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (n >= (int)sizeof(line))
		n = (int)sizeof(line) - 1;
	/* Pad over the longer line before it. */
	fprintf(stderr, "\r%s%*s", line, progress_len > n ? progress_len - n : 0, "");
	fflush(stderr);
	progress_len = n;
}

void bench_progress_done(void)
{
	if (progress_tty > 0 && progress_len) {
		fprintf(stderr, "\r%*s\r", progress_len, "");
		fflush(stderr);
	}
	progress_len = 0;
}
