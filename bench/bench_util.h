/* SPDX-License-Identifier: MIT */
/* Helpers shared by the benchmarks: time, option values, statistics. */
#ifndef VMMU_BENCH_UTIL_H
#define VMMU_BENCH_UTIL_H

#include <stdint.h>

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

#endif
