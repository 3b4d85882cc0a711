/* SPDX-License-Identifier: MIT */
/* Helpers shared by the benchmarks: time, option values, statistics. */
#ifndef VMMU_BENCH_UTIL_H
#define VMMU_BENCH_UTIL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "vmmu.h"

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t bench_now_ns(void);

/*
 * A byte count: decimal digits with an optional binary suffix K, M, G or T
 * (either case).  Returns 0, or -1 for anything else or an overflow.
 */
int bench_parse_size(const char *s, uint64_t *out);

/* A positive count, with the same suffixes (powers of 1024). */
int bench_parse_count(const char *s, uint64_t *out);

/* The median of @n values (sorts them in place); @n > 0. */
double bench_median(double *v, unsigned int n);
double bench_min(const double *v, unsigned int n);

/*
 * Sums AnonHugePages of the mappings of this process that overlap
 * [start, end): how much of that memory the kernel backs with huge pages,
 * in KiB.  -1 if /proc/self/smaps cannot be read.
 */
long long bench_smaps_huge_kb(uintptr_t start, uintptr_t end);

/* Keeps a result live so the compiler cannot drop the work behind it. */
extern volatile uint64_t bench_sink;


/* A usage error of "vmmu bench @name": the message, then the usage on
 * stderr; returns the exit status 2. */
int bench_bad_option(const char *name, void (*usage)(FILE *f), const char *fmt, const char *arg)
	__attribute__((format(printf, 3, 0)));

/* What every bench's getopt_long loop (optstring ":h...") does with 'h',
 * ':' and an unknown option @c: -1 after the usage on stdout (--help), 2
 * after a usage error. */
int bench_opt_common(const char *name, void (*usage)(FILE *f), int c, char **argv);
/* After the loop: 2 (a usage error) if an argument is left, else 0. */
int bench_opt_end(const char *name, void (*usage)(FILE *f), int argc, char **argv);

/* ---- the two MMUs of two-dimensional paging, measured side by side ---- */

/* Index order is print order: TDP first, legacy second; a ratio printed
 * beside them is always legacy / tdp. */
enum bench_mmu { BENCH_MMU_TDP, BENCH_MMU_LEGACY, BENCH_NR_MMU };

/* "tdp", "tdp-legacy": the --mmu names of vmmu replay. */
const char *bench_mmu_name(enum bench_mmu m);
/* VMMU_MMU_TDP or VMMU_MMU_TDP_LEGACY. */
uint32_t bench_mmu_mode(enum bench_mmu m);

/*
 * --mmu=tdp|tdp-legacy|both for "vmmu bench @name": sets @on (at least
 * one entry true).  Returns 0, or 2 (the usage error's exit status) after
 * a message on stderr: "direct" is refused (no TDP faults, no roots).
 */
int bench_parse_mmus(const char *name, const char *arg, bool on[BENCH_NR_MMU]);

/* Both MMUs selected: the output gets a column (or row) per MMU and a
 * legacy/tdp ratio. */
static inline bool bench_mmus_both(const bool on[BENCH_NR_MMU])
{
	return on[BENCH_MMU_TDP] && on[BENCH_MMU_LEGACY];
}

/* "--mmu=both" or "--mmu=NAME", for a benchmark's header line. */
const char *bench_mmus_label(const bool on[BENCH_NR_MMU]);

/* "1.23x" into @buf; "-" where the ratio means nothing (a side not
 * positive). */
void bench_fmt_ratio(char *buf, size_t len, double legacy, double tdp);

/*
 * The legacy MMU's default page-table cap (pt_mem_limit 0) for a VM whose
 * address space 0 holds @as0_bytes of memslots: 1/64 of it in 4K pages,
 * at least 256 (1 MiB).  It follows the memslots: a benchmark sizes its
 * cap by the slots it adds, not by a config field.
 */
uint64_t bench_legacy_default_cap(uint64_t as0_bytes);

/* One line on @f: the legacy MMU's default cap against the @need table
 * pages the benchmark's trees take; says whether reclaim must be expected. */
void bench_print_legacy_cap(FILE *f, uint64_t as0_bytes, uint64_t need);

/* Every counter of @vm (struct vmmu_stats, size set). */
void bench_get_stats(struct vmmu_vm *vm, struct vmmu_stats *st);

/* "5.10", "6.1" or "6.4" for a VMMU_POLICY_* value ("?" for another). */
const char *bench_policy_name(uint32_t policy);

/*
 * A progress line on standard error, rewritten in place ("\r"), only when
 * standard error is a terminal; nothing otherwise.  bench_progress_done()
 * clears it before the results are printed.
 */
void bench_progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void bench_progress_done(void);

/* Architectural bits the benchmarks' guests set, as a guest's boot code
 * writes them. */
#define CR0_PE		(1ull << 0)
#define CR0_ET		(1ull << 4)
#define CR0_WP		(1ull << 16)
#define CR0_PG		(1ull << 31)
#define CR4_PAE		(1ull << 5)
#define CR4_LA57	(1ull << 12)
#define EFER_LME	(1ull << 8)
#define EFER_NXE	(1ull << 11)

#define PTE_P		(1ull << 0)
#define PTE_RW		(1ull << 1)
#define PTE_A		(1ull << 5)
#define PTE_D		(1ull << 6)
#define PTE_PS		(1ull << 7)
#define PTE_NX		(1ull << 63)

#define GUEST_PAGE	((uint64_t)4096)

static inline uint64_t bench_div_up(uint64_t a, uint64_t b)
{
	return (a + b - 1) / b;
}

#endif
