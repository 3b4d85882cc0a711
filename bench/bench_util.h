/* SPDX-License-Identifier: MIT */
/* Helpers shared by the benchmarks: time, option values, statistics. */
#ifndef VMMU_BENCH_UTIL_H
#define VMMU_BENCH_UTIL_H

#include <stdint.h>
#include <stdio.h>

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
