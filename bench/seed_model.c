/* SPDX-License-Identifier: MIT */
/* The cost model of vmmu bench seed: see seed_model.h and docs/SEED.md. */
#include <math.h>
#include <stddef.h>

#include "seed_model.h"

/* Published cycle counts (docs/SEED.md, sections 5 and 10). */
#define EXIT_CYCLES        1291.0  /* kvm-unit-tests cpuid, b7ffc44d5b2e */
#define NESTED_RT_CYCLES   8304.0  /* L2 CPUID through L0 with eVMCS */

void seed_costs_default(struct seed_costs *k)
{
	*k = (struct seed_costs){
		.exit_s = EXIT_CYCLES / SEED_CLOCK_HZ,
		.eptv_s = EXIT_CYCLES / SEED_CLOCK_HZ,
		.nspte_s = 2 * EXIT_CYCLES / SEED_CLOCK_HZ,
		.nroot_s = NESTED_RT_CYCLES / SEED_CLOCK_HZ,
		.nflush_s = NESTED_RT_CYCLES / SEED_CLOCK_HZ,
	};
}

/* struct seed_counts is doubles only: handled as an array. */
#define SEED_NR_FIELDS (sizeof(struct seed_counts) / sizeof(double))

void seed_counts_diff(struct seed_counts *d, const struct seed_counts *a,
		      const struct seed_counts *b, double n)
{
	const double *pa = &a->cpu_s, *pb = &b->cpu_s;
	double *pd = &d->cpu_s;

	for (size_t i = 0; i < SEED_NR_FIELDS; i++)
		pd[i] = (pb[i] - pa[i]) / n;
}

void seed_counts_from(struct seed_counts *c, const struct vmmu_stats *st, double cpu_s,
		      double toggles, double smis)
{
	*c = (struct seed_counts){
		.cpu_s = cpu_s,
		.exits_cr = (double)st->exits_cr_access,
		.exits_msr = (double)st->exits_msr_write,
		.exits_smi = (double)st->exits_smi,
		.exits_rsm = (double)st->exits_rsm,
		.resets = (double)st->context_resets,
		.root_loads = (double)st->root_loads,
		.roots_alloc = (double)st->roots_allocated,
		.roots_freed = (double)st->roots_freed,
		.spte_zapped = (double)st->spte_zapped,
		.pt_alloc = (double)st->pt_pages_allocated,
		.pf_taken = (double)st->pf_taken,
		.pf_fixed = (double)st->pf_fixed,
		.tlb_flush = (double)st->tlb_flush,
		.tlb_miss = (double)st->tlb_miss,
		.toggles = toggles,
		.smis = smis,
	};
}

double seed_exits(const struct seed_counts *c)
{
	return c->exits_cr + c->exits_msr + c->exits_smi + c->exits_rsm;
}

double seed_spte_writes(const struct seed_counts *c)
{
	return c->pf_fixed + c->pt_alloc + c->spte_zapped;
}

double seed_overhead(const struct seed_counts *c, const struct seed_costs *k)
{
	return c->cpu_s + k->exit_s * seed_exits(c) + k->eptv_s * c->pf_taken;
}

double seed_nested_extra(const struct seed_counts *c, const struct seed_costs *k)
{
	return k->nspte_s * seed_spte_writes(c) + k->nroot_s * c->roots_alloc +
	       k->nflush_s * c->tlb_flush;
}

double seed_fit_g(double target_s, double o_fit, double n_real, unsigned int vcpus)
{
	return target_s * vcpus / n_real - o_fit;
}

double seed_time(double o, double g, double n_real, unsigned int vcpus)
{
	return n_real * (o + g) / vcpus;
}

double seed_rel_err(double model, double seed)
{
	return (model - seed) / seed;
}

double seed_penalty_ratio(double o510_tdp, double o64_tdp, double o510_leg, double o64_leg)
{
	double leg = o510_leg - o64_leg;

	return leg > 0 ? (o510_tdp - o64_tdp) / leg : NAN;
}

bool seed_ratio_ok(double r)
{
	return r >= SEED_RATIO_TARGET / SEED_RATIO_BAND && r <= SEED_RATIO_TARGET * SEED_RATIO_BAND;
}

int seed_fit_line(const double *x, const double *y, unsigned int n, struct seed_line *l)
{
	double mx = 0, my = 0, sxx = 0, sxy = 0, syy = 0, ssres = 0;

	if (n < 2)
		return -1;
	for (unsigned int i = 0; i < n; i++) {
		mx += x[i];
		my += y[i];
	}
	mx /= n;
	my /= n;
	for (unsigned int i = 0; i < n; i++) {
		sxx += (x[i] - mx) * (x[i] - mx);
		sxy += (x[i] - mx) * (y[i] - my);
		syy += (y[i] - my) * (y[i] - my);
	}
	if (sxx == 0)
		return -1;
	l->slope = sxy / sxx;
	l->intercept = my - l->slope * mx;
	for (unsigned int i = 0; i < n; i++) {
		double e = y[i] - (l->slope * x[i] + l->intercept);

		ssres += e * e;
	}
	l->r2 = syy > 0 ? 1 - ssres / syy : 1;
	return 0;
}
