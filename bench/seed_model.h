/* SPDX-License-Identifier: MIT */
/*
 * The cost model of vmmu bench seed (docs/SEED.md, sections 4 to 10): what
 * a call costs once warm, from vmmu's counters and CPU time, plus the costs
 * user space does not have; the one fitted parameter; the internal check;
 * least-squares lines for the working-set shape.  Pure arithmetic, no I/O:
 * tests/unit/test_seed_model.c checks it on made-up numbers.
 */
#ifndef VMMU_BENCH_SEED_MODEL_H
#define VMMU_BENCH_SEED_MODEL_H

#include <stdbool.h>

#include "vmmu.h"

/* ssdd 10 50000: 10 pairs x 50000 iterations x 4 kernel entries. */
#define SEED_N_REAL        2000000.0
/* The fitted cell: TDP MMU, 5.10 row, after (preset 6.4), seconds. */
#define SEED_FIT_TARGET_S  4.92
/* The thread's TDP/legacy penalty ratio under 5.10, and the check's band. */
#define SEED_RATIO_TARGET  ((88.7 - 4.92) / (10.37 - 4.88))
#define SEED_RATIO_BAND    3.0
/* The clock the published cycle counts are converted at. */
#define SEED_CLOCK_HZ      3.0e9

/*
 * One configuration's figures per call, warm (the difference of two runs
 * divided by the calls between them).  Fractions are normal: a WP=0 root
 * shared by two vCPUs by chance is half a root per toggle.
 */
struct seed_counts {
	double cpu_s;                      /* vCPU threads' CPU seconds */
	double exits_cr, exits_msr, exits_smi, exits_rsm;
	double resets, root_loads, roots_alloc, roots_freed;
	double spte_zapped, pt_alloc;      /* leaves zapped, tables linked */
	double pf_taken, pf_fixed;         /* TDP faults (EPT violations), leaves installed */
	double tlb_flush, tlb_miss;
	double toggles, smis;              /* guest events done */
};

/* Costs in seconds (docs/SEED.md, sections 5 and 10). */
struct seed_costs {
	double exit_s;                     /* VM exit + entry round trip */
	double eptv_s;                     /* the hardware's share of an EPT violation */
	double nspte_s, nroot_s, nflush_s; /* nested: per SPTE write, root, flush */
};

/* The pre-registered constants. */
void seed_costs_default(struct seed_costs *k);

/* (b - a) / n for every field: per call between two runs of a and b calls. */
void seed_counts_diff(struct seed_counts *d, const struct seed_counts *a,
		      const struct seed_counts *b, double n);
/* A run's counters and CPU time as counts (not yet per call). */
void seed_counts_from(struct seed_counts *c, const struct vmmu_stats *st, double cpu_s,
		      double toggles, double smis);

double seed_exits(const struct seed_counts *c);
/* Leaves installed + tables linked + leaves zapped. */
double seed_spte_writes(const struct seed_counts *c);

/* o = cpu + c_exit x exits + c_eptv x EPT violations, per call. */
double seed_overhead(const struct seed_counts *c, const struct seed_costs *k);
/* What an outer hypervisor adds per call, at scale 1. */
double seed_nested_extra(const struct seed_counts *c, const struct seed_costs *k);

/* g such that seed_time(o_fit, g, n, v) == target. */
double seed_fit_g(double target_s, double o_fit, double n_real, unsigned int vcpus);
/* T = n x (o + g) / v. */
double seed_time(double o, double g, double n_real, unsigned int vcpus);
/* (model - seed) / seed. */
double seed_rel_err(double model, double seed);

/* (o510_tdp - o64_tdp) / (o510_legacy - o64_legacy); NaN when the legacy
 * penalty is not positive. */
double seed_penalty_ratio(double o510_tdp, double o64_tdp, double o510_leg, double o64_leg);
/* Within SEED_RATIO_TARGET divided or multiplied by SEED_RATIO_BAND. */
bool seed_ratio_ok(double r);

/* y = slope x + intercept by least squares; r2 = 1 - SSres / SStot (1
 * when every y is equal).  -1 for fewer than two distinct x. */
struct seed_line {
	double slope, intercept, r2;
};
int seed_fit_line(const double *x, const double *y, unsigned int n, struct seed_line *l);

#endif
