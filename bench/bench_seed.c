/* SPDX-License-Identifier: MIT */
/*
 * vmmu bench seed: the seed's table, reproduced (issue 7).  docs/SEED.md is
 * the protocol this follows, registered before the first measured run.
 *
 * Each cell of Mathias Krause's ssdd table is a knob set (a preset, or 6.1
 * with the first patches) under the TDP MMU or the legacy MMU.  Each knob
 * set runs the grsec scenario (src/sim/scenario.h) with its defaults twice,
 * W and W + N calls, on fresh VMs; the difference over N is the warm cost
 * per call (counters and CPU time).  seed_model.c turns it into seconds of
 * ssdd 10 50000 with the pre-registered constants and the one parameter
 * fitted to the TDP 5.10 "after" cell; every other cell is a prediction,
 * printed beside the seed's value with its error.  Then the event counts,
 * the internal check (TDP/legacy penalty ratio under 5.10), the cost per
 * toggle against the working set with the linear-vs-flat verdict, and the
 * SMM round trip with the nested what-if.  --full adds the sensitivity
 * sweep (constants, 1 vCPU, seven working sets) and a stationarity check.
 *
 * Output: standard output (the report), --csv FILE (every figure),
 * --plot DIR (data files, gnuplot scripts and the PNGs they make).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "bench_util.h"
#include "scenario.h"
#include "seed_model.h"

/* ---- what is measured ------------------------------------------------------ */

/* The knob sets of the table (docs/SEED.md, section 2).  The first three
 * are the presets, in the order the working-set sweep and the SMM line use. */
enum seed_set { SET_510, SET_61, SET_64, SET_QUEUE, NR_SETS };
#define NR_PRESETS 3u

#define QUEUE_KNOBS (VMMU_KNOB_CR0_WP_EXITS | VMMU_KNOB_WP_CHANGE_KEEPS_ROOTS)

static const struct knob_set {
	const char *name;
	uint32_t policy, knobs_set, knobs;
} knob_sets[NR_SETS] = {
	[SET_510] = { "5.10", VMMU_POLICY_5_10, 0, 0 },
	[SET_61] = { "6.1", VMMU_POLICY_6_1, 0, 0 },
	[SET_64] = { "6.4", VMMU_POLICY_6_4, 0, 0 },
	[SET_QUEUE] = { "6.1+keep", VMMU_POLICY_6_1, QUEUE_KNOBS, QUEUE_KNOBS },
};

enum seed_col { COL_BEFORE, COL_AFTER, NR_COLS };
static const char *const col_names[NR_COLS] = { "before", "after" };

/* One row of the seed's table: seconds of ssdd 10 50000 (docs/SEED.md, 1). */
static const struct seed_row {
	const char *name;
	enum seed_set set[NR_COLS];
	double seed[NR_COLS][BENCH_NR_MMU];   /* [column][TDP, legacy] */
	double shadow[NR_COLS];
} seed_rows[] = {
	{ "5.10.177", { SET_510, SET_64 }, { { 88.7, 10.37 }, { 4.92, 4.88 } }, { 69.7, 70.1 } },
	{ "6.1.23", { SET_61, SET_64 }, { { 8.23, 7.65 }, { 3.36, 3.36 } }, { 68.7, 69.1 } },
	{ "kvm.git queue", { SET_61, SET_QUEUE }, { { 13.91, 11.55 }, { 7.31, 7.32 } },
	  { 75.2, 74.6 } },
};
#define NR_ROWS (sizeof(seed_rows) / sizeof(seed_rows[0]))

/* The fitted cell: row 0, after, TDP MMU. */
static bool is_fitted(unsigned int row, enum seed_col c, enum bench_mmu m)
{
	return row == 0 && c == COL_AFTER && m == BENCH_MMU_TDP;
}

#define SHADOW_NOTE "not yet (shadow-paging issue)"

/* Working sets of the sweep (ws_open, pages). */
static const unsigned int ws_short[] = { 4, 32, 256 };
static const unsigned int ws_full[] = { 4, 8, 16, 32, 64, 128, 256 };
#define MAX_WS 7u

#define MAX_VCPUS_OPT 20u                 /* the scenario's 20 processes */
#define MIN_CALLS 20u
#define MAX_CALLS ((uint64_t)100000000)

struct seed_opts {
	bool full;
	uint64_t calls;                     /* the sample N */
	unsigned int vcpus;                 /* V of the table */
	double nested;                      /* the what-if's scale */
	bool threaded;                      /* a thread per vCPU, not in turn on one */
	const char *csv, *plot;
};

/* The working-set sweep at one vCPU count (docs/SEED.md, section 9): the
 * presets with one toggle per call, and the same guest with none. */
struct ws_sweep {
	unsigned int vcpus, nr;
	const unsigned int *ws;
	struct seed_counts tog[MAX_WS][NR_PRESETS][BENCH_NR_MMU];
	struct seed_counts base[MAX_WS][BENCH_NR_MMU];
};

/* SMI round trips (the smm scenario) per preset and MMU, and the same guest
 * without SMIs or toggles (whose cost does not depend on the preset). */
struct smm_line {
	unsigned int vcpus;
	struct seed_counts smm[NR_PRESETS][BENCH_NR_MMU];
	struct seed_counts base[BENCH_NR_MMU];
};

/* Every figure measured, per call, warm; n calls per measurement. */
struct seed_data {
	uint64_t n;
	struct seed_counts grsec[NR_SETS][BENCH_NR_MMU];
	struct seed_counts half[NR_SETS][BENCH_NR_MMU];    /* --full: the first half */
	struct seed_counts grsec1[NR_SETS][BENCH_NR_MMU];  /* --full: one vCPU */
	struct smm_line smm;                               /* --vcpus; its base is the toggles' */
	struct smm_line smm1;                              /* one vCPU, as Jeremi's L2 */
	struct ws_sweep ws;                                /* --vcpus */
	struct ws_sweep ws1;                               /* --full: one vCPU */
};

/* The model over the four knob sets of one table. */
struct seed_model {
	struct seed_costs k;
	unsigned int vcpus;
	double g;
	double o[NR_SETS][BENCH_NR_MMU];
	double t[NR_SETS][BENCH_NR_MMU];    /* modelled seconds */
	double ratio;                       /* the internal check's R */
};

/* ---- options --------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: vmmu bench seed [--full] [--calls N] [--vcpus N] [--threaded] [--nested=SCALE]\n"
		"                       [--csv FILE] [--plot DIR]\n"
		"\n"
		"  the seed's table (ssdd 10 50000 in a grsecurity guest, 2023) beside vmmu's\n"
		"  modelled seconds; protocol and cost model: docs/SEED.md\n"
		"\n"
		"  --full          also the sensitivity sweep (constants x0.5/x2, 1 vCPU, seven\n"
		"                  working sets) and a stationarity check: several minutes\n"
		"  --calls N       simulated calls per measured run (default 20000, >= %u)\n"
		"  --vcpus N       vCPUs of the table's runs (default 4, 1 to %u)\n"
		"  --threaded      a thread per vCPU (the registered protocol), not the vCPUs\n"
		"                  in turn on one thread, one call each (the default: no two\n"
		"                  windows at once, the same counts every run; docs/SEED.md)\n"
		"  --nested=SCALE  the nested what-if's outer-hypervisor costs x SCALE\n"
		"                  (default 1: docs/SEED.md's estimates; 0: off)\n"
		"  --csv FILE      every figure as CSV\n"
		"  --plot DIR      PNGs through gnuplot, with their data and scripts\n",
		MIN_CALLS, MAX_VCPUS_OPT);
}

static int bad_option(const char *fmt, const char *arg)
{
	return bench_bad_option("seed", usage, fmt, arg);
}

static int parse_scale(const char *s, double *out)
{
	char *end;

	errno = 0;
	*out = strtod(s, &end);
	return errno || end == s || *end || !(*out >= 0) || *out > 1e6 ? -1 : 0;
}

/* 0, 2 (usage), or -1 after --help. */
static int parse_opts(int argc, char **argv, struct seed_opts *o)
{
	enum { OPT_FULL = 0x100, OPT_CALLS, OPT_VCPUS, OPT_NESTED, OPT_CSV, OPT_PLOT, OPT_THREADED };
	static const struct option longopts[] = {
		{ "full", no_argument, NULL, OPT_FULL },
		{ "calls", required_argument, NULL, OPT_CALLS },
		{ "vcpus", required_argument, NULL, OPT_VCPUS },
		{ "nested", required_argument, NULL, OPT_NESTED },
		{ "threaded", no_argument, NULL, OPT_THREADED },
		{ "csv", required_argument, NULL, OPT_CSV },
		{ "plot", required_argument, NULL, OPT_PLOT },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct scenario_params d;
	uint64_t v;
	int c;

	scenario_defaults(SCENARIO_GRSEC, &d);
	*o = (struct seed_opts){ .calls = d.calls, .vcpus = d.vcpus, .nested = 1 };
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_FULL:
			o->full = true;
			break;
		case OPT_CALLS:
			if (bench_parse_count(optarg, &v) || v < MIN_CALLS || v > MAX_CALLS)
				return bad_option("bad call count '%s' (20 to 100M)", optarg);
			o->calls = v;
			break;
		case OPT_VCPUS:
			if (bench_parse_count(optarg, &v) || v > MAX_VCPUS_OPT)
				return bad_option("bad vCPU count '%s' (1 to 20, the scenario's "
						  "processes)", optarg);
			o->vcpus = (unsigned int)v;
			break;
		case OPT_THREADED:
			o->threaded = true;
			break;
		case OPT_NESTED:
			if (parse_scale(optarg, &o->nested))
				return bad_option("bad nested scale '%s' (a number >= 0)", optarg);
			break;
		case OPT_CSV:
			o->csv = optarg;
			break;
		case OPT_PLOT:
			o->plot = optarg;
			break;
		default:
			return bench_opt_common("seed", usage, c, argv);
		}
	}
	if (bench_opt_end("seed", usage, argc, argv))
		return 2;
	return 0;
}

/* ---- runs -------------------------------------------------------------------- */

struct seed_ctx {
	const struct seed_opts *o;
	unsigned int done, total;           /* runs, for the progress line */
};

static struct scenario_params params(enum scenario_kind kind, enum bench_mmu m,
				     enum seed_set s, unsigned int vcpus)
{
	struct scenario_params p;

	scenario_defaults(kind, &p);
	p.mmu = bench_mmu_mode(m);
	p.policy = knob_sets[s].policy;
	p.knobs_set = knob_sets[s].knobs_set;
	p.knobs = knob_sets[s].knobs;
	p.vcpus = vcpus;
	return p;
}

/* Warm-up calls: every vCPU has run each of its processes twice
 * (docs/SEED.md, section 4). */
static uint64_t warm_calls(const struct scenario_params *p, uint64_t n)
{
	uint64_t w = 2ull * p->processes;

	return n / 10 > w ? n / 10 : w;
}

static int run_once(struct seed_ctx *cx, struct scenario_params p, uint64_t calls,
		    struct seed_counts *c)
{
	struct scenario_result r;
	char err[256];

	p.calls = calls;
	p.serialized = !cx->o->threaded;
	cx->done++;
	bench_progress("vmmu bench seed: run %u/%u: %s %s %s, %u vCPU(s), ws %u, %u toggle(s), "
		       "%" PRIu64 " calls", cx->done, cx->total, scenario_kind_name(p.kind),
		       bench_policy_name(p.policy), p.mmu == VMMU_MMU_TDP ? "tdp" : "tdp-legacy",
		       p.vcpus, p.ws_open, p.toggles, calls);
	if (scenario_run(&p, &r, err, sizeof(err))) {
		bench_progress_done();
		fprintf(stderr, "vmmu bench seed: %s\n", err);
		return -1;
	}
	seed_counts_from(c, &r.stats, r.cpu_seconds, (double)r.toggles, (double)r.smis);
	return 0;
}

/* Runs of a configuration per measurement: W and W + N, and W + N/2 with
 * a first half asked for. */
static unsigned int runs_per_measure(bool half)
{
	return half ? 3 : 2;
}

/* Per call, warm: (x(W + n) - x(W)) / n; with @half, also the first half
 * (x(W + n/2) - x(W)) / (n/2). */
static int measure(struct seed_ctx *cx, const struct scenario_params *p, uint64_t n,
		   struct seed_counts *out, struct seed_counts *half)
{
	uint64_t w = warm_calls(p, n);
	struct seed_counts a, b, m;

	if (run_once(cx, *p, w, &a))
		return -1;
	if (half) {
		if (run_once(cx, *p, w + n / 2, &m))
			return -1;
		seed_counts_diff(half, &a, &m, (double)(n / 2));
	}
	if (run_once(cx, *p, w + n, &b))
		return -1;
	seed_counts_diff(out, &a, &b, (double)n);
	return 0;
}

static unsigned int plan_runs(const struct seed_opts *o, unsigned int nr_ws)
{
	unsigned int per_set = NR_SETS * BENCH_NR_MMU;
	unsigned int smm_line = (NR_PRESETS + 1) * BENCH_NR_MMU * 2;
	unsigned int sweep = nr_ws * (NR_PRESETS + 1) * BENCH_NR_MMU * 2;
	unsigned int total = per_set * runs_per_measure(o->full) + 2 * smm_line + sweep;

	if (o->full)
		total += per_set * 2 + sweep;                   /* one vCPU */
	return total;
}

/* The table's knob sets under both MMUs with @vcpus. */
static int measure_table(struct seed_ctx *cx, unsigned int vcpus, uint64_t n,
			 struct seed_counts c[NR_SETS][BENCH_NR_MMU],
			 struct seed_counts half[NR_SETS][BENCH_NR_MMU])
{
	for (unsigned int s = 0; s < NR_SETS; s++)
		for (unsigned int m = 0; m < BENCH_NR_MMU; m++) {
			struct scenario_params p = params(SCENARIO_GRSEC, (enum bench_mmu)m,
							  (enum seed_set)s, vcpus);

			if (measure(cx, &p, n, &c[s][m], half ? &half[s][m] : NULL))
				return -1;
		}
	return 0;
}

/* The guest without toggles or SMIs, working set @ws. */
static int measure_base(struct seed_ctx *cx, unsigned int vcpus, unsigned int ws, uint64_t n,
			struct seed_counts c[BENCH_NR_MMU])
{
	for (unsigned int m = 0; m < BENCH_NR_MMU; m++) {
		struct scenario_params p = params(SCENARIO_GRSEC, (enum bench_mmu)m, SET_64, vcpus);

		p.toggles = 0;
		p.ws_open = ws;
		if (measure(cx, &p, n, &c[m], NULL))
			return -1;
	}
	return 0;
}

static int measure_smm(struct seed_ctx *cx, struct smm_line *l, uint64_t n)
{
	struct scenario_params d;

	scenario_defaults(SCENARIO_GRSEC, &d);
	if (measure_base(cx, l->vcpus, d.ws_open, n, l->base))
		return -1;
	for (unsigned int s = 0; s < NR_PRESETS; s++)
		for (unsigned int m = 0; m < BENCH_NR_MMU; m++) {
			struct scenario_params p = params(SCENARIO_SMM, (enum bench_mmu)m,
							  (enum seed_set)s, l->vcpus);

			if (measure(cx, &p, n, &l->smm[s][m], NULL))
				return -1;
		}
	return 0;
}

static int measure_ws(struct seed_ctx *cx, struct ws_sweep *w, uint64_t n)
{
	for (unsigned int i = 0; i < w->nr; i++) {
		if (measure_base(cx, w->vcpus, w->ws[i], n, w->base[i]))
			return -1;
		for (unsigned int s = 0; s < NR_PRESETS; s++)
			for (unsigned int m = 0; m < BENCH_NR_MMU; m++) {
				struct scenario_params p = params(SCENARIO_GRSEC,
								  (enum bench_mmu)m,
								  (enum seed_set)s, w->vcpus);

				p.ws_open = w->ws[i];
				if (measure(cx, &p, n, &w->tog[i][s][m], NULL))
					return -1;
			}
	}
	return 0;
}

static int measure_all(const struct seed_opts *o, struct seed_data *d)
{
	struct seed_ctx cx = { .o = o };
	unsigned int nr = o->full ? MAX_WS : (unsigned int)(sizeof(ws_short) / sizeof(ws_short[0]));
	const unsigned int *ws = o->full ? ws_full : ws_short;

	d->n = o->calls;
	d->smm.vcpus = d->ws.vcpus = o->vcpus;
	d->smm1.vcpus = d->ws1.vcpus = 1;
	d->ws.nr = d->ws1.nr = nr;
	d->ws.ws = d->ws1.ws = ws;
	cx.total = plan_runs(o, nr);
	if (measure_table(&cx, o->vcpus, d->n, d->grsec, o->full ? d->half : NULL) ||
	    measure_smm(&cx, &d->smm, d->n) || measure_smm(&cx, &d->smm1, d->n) ||
	    measure_ws(&cx, &d->ws, d->n) ||
	    (o->full && (measure_table(&cx, 1, d->n, d->grsec1, NULL) ||
			 measure_ws(&cx, &d->ws1, d->n)))) {
		bench_progress_done();
		return -1;
	}
	bench_progress_done();
	return 0;
}

/* ---- the model --------------------------------------------------------------- */

static void model_eval(struct seed_model *md, const struct seed_counts c[NR_SETS][BENCH_NR_MMU],
		       const struct seed_costs *k, unsigned int vcpus)
{
	md->k = *k;
	md->vcpus = vcpus;
	for (unsigned int s = 0; s < NR_SETS; s++)
		for (unsigned int m = 0; m < BENCH_NR_MMU; m++)
			md->o[s][m] = seed_overhead(&c[s][m], k);
	md->g = seed_fit_g(SEED_FIT_TARGET_S, md->o[SET_64][BENCH_MMU_TDP], SEED_N_REAL, vcpus);
	for (unsigned int s = 0; s < NR_SETS; s++)
		for (unsigned int m = 0; m < BENCH_NR_MMU; m++)
			md->t[s][m] = seed_time(md->o[s][m], md->g, SEED_N_REAL, vcpus);
	md->ratio = seed_penalty_ratio(md->o[SET_510][BENCH_MMU_TDP], md->o[SET_64][BENCH_MMU_TDP],
				       md->o[SET_510][BENCH_MMU_LEGACY],
				       md->o[SET_64][BENCH_MMU_LEGACY]);
}

static double cell_model(const struct seed_model *md, unsigned int row, enum seed_col c,
			 enum bench_mmu m)
{
	return md->t[seed_rows[row].set[c]][m];
}

/* Mean absolute relative error over the predicted (not fitted) cells. */
static double mean_abs_err(const struct seed_model *md)
{
	double sum = 0;
	unsigned int n = 0;

	for (unsigned int r = 0; r < NR_ROWS; r++)
		for (unsigned int c = 0; c < NR_COLS; c++)
			for (unsigned int m = 0; m < BENCH_NR_MMU; m++) {
				if (is_fitted(r, (enum seed_col)c, (enum bench_mmu)m))
					continue;
				sum += fabs(seed_rel_err(cell_model(md, r, (enum seed_col)c,
								    (enum bench_mmu)m),
							 seed_rows[r].seed[c][m]));
				n++;
			}
	return sum / n;
}

/* ---- output: the table ----------------------------------------------------- */

static void print_header(const struct seed_opts *o, const struct seed_data *d,
			 const struct seed_model *md)
{
	struct scenario_params p;

	scenario_defaults(SCENARIO_GRSEC, &p);
	printf("vmmu bench seed%s: ssdd 10 50000 in a grsecurity guest (2023) beside vmmu's model "
	       "of it (docs/SEED.md)\n", o->full ? " --full" : "");
	printf("guest: grsec scenario, %u vCPUs (%s), %u processes, %u toggle per call, ws %u "
	       "pages open / %u closed, EPT; sample %" PRIu64 " calls per run (warm-up excluded), "
	       "scaled to N_real = %.0f calls\n", o->vcpus,
	       o->threaded ? "a thread each" : "in turn on one thread", p.processes, p.toggles,
	       p.ws_open, p.ws_closed, d->n, SEED_N_REAL);
	printf("model: T = N_real x (cpu + %.0f ns x exits + %.0f ns x EPT violations + g) / %u "
	       "vCPUs; g fitted to TDP 5.10.177 after = %.2f s: g = %.3f us per call\n",
	       md->k.exit_s * 1e9, md->k.eptv_s * 1e9, md->vcpus, SEED_FIT_TARGET_S, md->g * 1e6);
	if (md->g < 0)
		printf("  g < 0: vmmu's own overhead in the fitted cell exceeds the seed's time\n");
}

static void print_cell(const struct seed_model *md, unsigned int r, enum seed_col c,
		       enum bench_mmu m)
{
	double seed = seed_rows[r].seed[c][m], t = cell_model(md, r, c, m);

	if (is_fitted(r, c, m))
		printf("  %6.2f %7.2f %8s", seed, t, "(fitted)");
	else
		printf("  %6.2f %7.2f %+7.1f%%", seed, t, 100 * seed_rel_err(t, seed));
}

static void print_table(const struct seed_model *md, const char *title)
{
	printf("\n%s\n", title);
	printf("%-14s %-6s %-9s %-25s %-25s %s\n", "", "", "", "   TDP MMU (seconds)",
	       "   legacy EPT MMU", "shadow");
	printf("%-14s %-6s %-9s  %6s %7s %8s  %6s %7s %8s  %s\n", "row", "", "knobs", "seed",
	       "vmmu", "error", "seed", "vmmu", "error", "seed");
	for (unsigned int r = 0; r < NR_ROWS; r++)
		for (unsigned int c = 0; c < NR_COLS; c++) {
			printf("%-14s %-6s %-9s", seed_rows[r].name, col_names[c],
			       knob_sets[seed_rows[r].set[c]].name);
			print_cell(md, r, (enum seed_col)c, BENCH_MMU_TDP);
			print_cell(md, r, (enum seed_col)c, BENCH_MMU_LEGACY);
			printf("  %5.1f %s\n", seed_rows[r].shadow[c], SHADOW_NOTE);
		}
	printf("knobs: 5.10, 6.1, 6.4 = presets; 6.1+keep = 6.1 with cr0_wp_exits=1 and "
	       "wp_change_keeps_roots=1; mean |error| over the 11 predicted cells: %.0f%%\n",
	       100 * mean_abs_err(md));
}

/* ---- output: event counts ----------------------------------------------------- */

static void print_counts(const struct seed_data *d, const struct seed_model *md)
{
	printf("\nevents per call, warm (x %.0f for the workload); o = the modelled overhead "
	       "per call (cpu + exits + EPT violations)\n", SEED_N_REAL);
	printf("%-9s %-10s %7s %6s %6s %6s %6s %6s %6s %6s %6s %7s %7s %8s %8s %6s %8s %8s\n",
	       "knobs", "mmu", "cpu_us", "ex_cr", "ex_msr", "ex_smi", "ex_rsm", "resets", "loads",
	       "roots+", "roots-", "zapped", "pt_pgs", "pf_taken", "pf_fixed", "flush",
	       "tlb_miss", "o_us");
	for (unsigned int s = 0; s < NR_SETS; s++)
		for (unsigned int m = 0; m < BENCH_NR_MMU; m++) {
			const struct seed_counts *c = &d->grsec[s][m];

			printf("%-9s %-10s %7.2f %6.2f %6.2f %6.2f %6.2f %6.2f %6.2f %6.3f %6.3f "
			       "%7.2f %7.3f %8.2f %8.2f %6.2f %8.2f %8.2f\n", knob_sets[s].name,
			       bench_mmu_name((enum bench_mmu)m), c->cpu_s * 1e6, c->exits_cr,
			       c->exits_msr, c->exits_smi, c->exits_rsm, c->resets, c->root_loads,
			       c->roots_alloc, c->roots_freed, c->spte_zapped, c->pt_alloc,
			       c->pf_taken, c->pf_fixed, c->tlb_flush, c->tlb_miss,
			       md->o[s][m] * 1e6);
		}
}

/* ---- output: the internal check ------------------------------------------------ */

static int print_check(const struct seed_model *md)
{
	double tdp = md->o[SET_510][BENCH_MMU_TDP] - md->o[SET_64][BENCH_MMU_TDP];
	double leg = md->o[SET_510][BENCH_MMU_LEGACY] - md->o[SET_64][BENCH_MMU_LEGACY];
	bool ok = seed_ratio_ok(md->ratio);

	printf("\ninternal check (docs/SEED.md, 8): under 5.10 the TDP MMU's penalty per call "
	       "over 6.4 is %.2f us, the legacy MMU's %.2f us:\n", tdp * 1e6, leg * 1e6);
	printf("  R = %.2f against the thread's %.2f ((88.7 - 4.92) / (10.37 - 4.88)); within "
	       "x%.0f (%.2f to %.1f): %s\n", md->ratio, SEED_RATIO_TARGET, SEED_RATIO_BAND,
	       SEED_RATIO_TARGET / SEED_RATIO_BAND, SEED_RATIO_TARGET * SEED_RATIO_BAND,
	       ok ? "PASS" : "MISS");
	return !ok;
}

/* ---- output: the working set ---------------------------------------------------- */

/* Cost per toggle (seconds) at sweep point @i: o(preset) - o(no toggles). */
static double ws_cost(const struct ws_sweep *w, const struct seed_costs *k, unsigned int i,
		      unsigned int s, unsigned int m)
{
	const struct seed_counts *t = &w->tog[i][s][m];
	double per = t->toggles > 0 ? t->toggles : 1;

	return (seed_overhead(t, k) - seed_overhead(&w->base[i][m], k)) / per;
}

/* TDP faults that installed a leaf, per toggle, over the guest without. */
static double ws_faults(const struct ws_sweep *w, unsigned int i, unsigned int s, unsigned int m)
{
	const struct seed_counts *t = &w->tog[i][s][m];
	double per = t->toggles > 0 ? t->toggles : 1;

	return (t->pf_fixed - w->base[i][m].pf_fixed) / per;
}

struct ws_fit {
	struct seed_line cost[NR_PRESETS][BENCH_NR_MMU];    /* seconds per page */
	struct seed_line faults[NR_PRESETS][BENCH_NR_MMU];  /* faults per page */
};

static void ws_fit_all(const struct ws_sweep *w, const struct seed_costs *k, struct ws_fit *f)
{
	double x[MAX_WS], y[MAX_WS], z[MAX_WS];

	for (unsigned int s = 0; s < NR_PRESETS; s++)
		for (unsigned int m = 0; m < BENCH_NR_MMU; m++) {
			for (unsigned int i = 0; i < w->nr; i++) {
				x[i] = w->ws[i];
				y[i] = ws_cost(w, k, i, s, m);
				z[i] = ws_faults(w, i, s, m);
			}
			seed_fit_line(x, y, w->nr, &f->cost[s][m]);
			seed_fit_line(x, z, w->nr, &f->faults[s][m]);
		}
}

/* Largest |slope| among the series other than TDP under 5.10. */
static double max_other(const struct seed_line l[NR_PRESETS][BENCH_NR_MMU])
{
	double mx = 0;

	for (unsigned int s = 0; s < NR_PRESETS; s++)
		for (unsigned int m = 0; m < BENCH_NR_MMU; m++)
			if ((s != SET_510 || m != BENCH_MMU_TDP) && fabs(l[s][m].slope) > mx)
				mx = fabs(l[s][m].slope);
	return mx;
}

static void print_ws_rows(const struct ws_sweep *w, const struct seed_costs *k,
			  const struct ws_fit *f)
{
	printf("%6s", "ws");
	for (unsigned int s = 0; s < NR_PRESETS; s++)
		for (unsigned int m = 0; m < BENCH_NR_MMU; m++)
			printf(" %5s %-6s", knob_sets[s].name, m == BENCH_MMU_TDP ? "tdp" : "legacy");
	printf("  | faults per toggle: 5.10 tdp, the others' largest\n");
	for (unsigned int i = 0; i < w->nr; i++) {
		double fo = 0;

		printf("%6u", w->ws[i]);
		for (unsigned int s = 0; s < NR_PRESETS; s++)
			for (unsigned int m = 0; m < BENCH_NR_MMU; m++) {
				printf(" %12.2f", ws_cost(w, k, i, s, m) * 1e6);
				if ((s != SET_510 || m != BENCH_MMU_TDP) &&
				    fabs(ws_faults(w, i, s, m)) > fo)
					fo = fabs(ws_faults(w, i, s, m));
			}
		printf("  | %8.1f %6.2f\n", ws_faults(w, i, SET_510, BENCH_MMU_TDP), fo);
	}
	printf("%6s", "slope");
	for (unsigned int s = 0; s < NR_PRESETS; s++)
		for (unsigned int m = 0; m < BENCH_NR_MMU; m++)
			printf(" %12.4f", f->cost[s][m].slope * 1e6);
	printf("  us per page\n%6s", "R^2");
	for (unsigned int s = 0; s < NR_PRESETS; s++)
		for (unsigned int m = 0; m < BENCH_NR_MMU; m++)
			printf(" %12.3f", f->cost[s][m].r2);
	printf("\n");
}

/* One vCPU, not a check of the protocol: there 6.1's TDP MMU rebuilds too
 * (no other vCPU holds its root), so both TDP series grow. */
static void print_ws_info(const struct ws_sweep *w, const struct seed_costs *k, uint64_t n)
{
	struct ws_fit f;
	double other = 0;

	ws_fit_all(w, k, &f);
	printf("\ncost per toggle against the working set, one vCPU (added after the protocol; "
	       "information, not a check) (%" PRIu64 " calls per run), us\n", n);
	print_ws_rows(w, k, &f);
	for (unsigned int s = 0; s < NR_PRESETS; s++)
		for (unsigned int m = 0; m < BENCH_NR_MMU; m++)
			if ((m == BENCH_MMU_LEGACY || s == SET_64) && fabs(f.cost[s][m].slope) > other)
				other = fabs(f.cost[s][m].slope);
	printf("with one vCPU no root is shared: TDP 5.10 slope %.3f us/page (R^2 %.3f), %.2f "
	       "faults per page; TDP 6.1 %.3f us/page (its root dies with its only holder); "
	       "legacy and 6.4: at most %.3f us/page\n",
	       f.cost[SET_510][BENCH_MMU_TDP].slope * 1e6, f.cost[SET_510][BENCH_MMU_TDP].r2,
	       f.faults[SET_510][BENCH_MMU_TDP].slope, f.cost[SET_61][BENCH_MMU_TDP].slope * 1e6,
	       other * 1e6);
}

/* The shape of docs/SEED.md section 9; nonzero if missed. */
static int print_ws(const struct ws_sweep *w, const struct seed_costs *k, uint64_t n,
		    const char *label)
{
	struct ws_fit f;
	const struct seed_line *t510, *f510;
	bool linear, flat, fl;
	double other, fother;

	ws_fit_all(w, k, &f);
	printf("\ncost per toggle against the working set%s (ws_open pages, %u vCPU(s), %" PRIu64
	       " calls per run): o(preset) - o(no toggles), us\n", label, w->vcpus, n);
	print_ws_rows(w, k, &f);
	t510 = &f.cost[SET_510][BENCH_MMU_TDP];
	f510 = &f.faults[SET_510][BENCH_MMU_TDP];
	other = max_other(f.cost);
	fother = max_other(f.faults);
	linear = t510->r2 >= 0.95 && t510->slope >= k->eptv_s;
	flat = other <= t510->slope / 4;
	fl = f510->slope >= 0.9 && f510->slope <= 1.1 && fother <= 0.05;
	printf("shape: TDP 5.10 linear (R^2 %.3f >= 0.95, slope %.3f us/page >= c_eptv %.3f): %s; "
	       "the others flat (largest slope %.3f us/page <= %.3f, a quarter of TDP 5.10's): "
	       "%s\n", t510->r2, t510->slope * 1e6, k->eptv_s * 1e6, linear ? "PASS" : "MISS",
	       other * 1e6, t510->slope / 4 * 1e6, flat ? "PASS" : "MISS");
	printf("       faults per toggle: TDP 5.10 slope %.3f per page (0.9 to 1.1), the others' "
	       "largest |slope| %.4f (<= 0.05): %s\n", f510->slope, fother, fl ? "PASS" : "MISS");
	return !(linear && flat && fl);
}

/* ---- output: SMM and the nested what-if ----------------------------------------- */

/* Per event (toggle or SMI) of @c over @base: native and nested extra. */
struct per_event {
	double events, exits, roots, writes, flushes, native_s, nested_s;
};

static void per_event(const struct seed_counts *c, const struct seed_counts *base,
		      const struct seed_costs *k, double scale, double events, struct per_event *e)
{
	double n = events > 0 ? events : NAN;

	e->events = events;
	e->exits = (seed_exits(c) - seed_exits(base)) / n;
	e->roots = (c->roots_alloc - base->roots_alloc) / n;
	e->writes = (seed_spte_writes(c) - seed_spte_writes(base)) / n;
	e->flushes = (c->tlb_flush - base->tlb_flush) / n;
	e->native_s = (seed_overhead(c, k) - seed_overhead(base, k)) / n;
	e->nested_s = e->native_s +
		      scale * (seed_nested_extra(c, k) - seed_nested_extra(base, k)) / n;
}

static void print_event_rows(const char *what, const struct seed_counts c[][BENCH_NR_MMU],
			     unsigned int nsets, const struct seed_counts base[BENCH_NR_MMU],
			     const struct seed_costs *k, double scale, bool smi)
{
	double tdp_nested[NR_SETS] = { 0 }, leg_nested[NR_SETS] = { 0 };

	printf("%s\n", what);
	printf("  %-9s %-10s %7s %7s %9s %8s %12s %12s %12s\n", "knobs", "mmu", "exits", "roots+",
	       "spte_wr", "flushes", "native_us", "+nested_us", "nested_us");
	for (unsigned int s = 0; s < nsets; s++)
		for (unsigned int m = 0; m < BENCH_NR_MMU; m++) {
			struct per_event e;

			per_event(&c[s][m], &base[m], k, scale,
				  smi ? c[s][m].smis : c[s][m].toggles, &e);
			printf("  %-9s %-10s %7.2f %7.3f %9.1f %8.2f %12.2f %12.2f %12.2f\n",
			       knob_sets[s].name, bench_mmu_name((enum bench_mmu)m), e.exits,
			       e.roots, e.writes, e.flushes, e.native_s * 1e6,
			       (e.nested_s - e.native_s) * 1e6, e.nested_s * 1e6);
			if (m == BENCH_MMU_TDP)
				tdp_nested[s] = e.nested_s - e.native_s;
			else
				leg_nested[s] = e.nested_s - e.native_s;
		}
	printf("  what nesting adds per %s, TDP MMU / legacy MMU (counts alone):",
	       smi ? "SMI" : "toggle");
	for (unsigned int s = 0; s < nsets; s++) {
		char ratio[32];

		/* bench_fmt_ratio(a, b) is a / b, "-" unless both are positive. */
		bench_fmt_ratio(ratio, sizeof(ratio), tdp_nested[s], leg_nested[s]);
		printf(" %s %s%s", knob_sets[s].name, ratio, s + 1 < nsets ? "," : "\n");
	}
}

static void print_nested(const struct seed_opts *o, const struct seed_data *d,
			 const struct seed_costs *k)
{
	char what[160];

	printf("\nnested what-if (docs/SEED.md, 10): x%.2f the outer hypervisor's costs: %.0f ns "
	       "per SPTE write, %.0f ns per root, %.0f ns per flush; per event over the same "
	       "guest without it\n(native_us: measured CPU and costed exits and faults, noisy "
	       "where events are rare; +nested_us: from the counts alone)\n", o->nested,
	       k->nspte_s * 1e9, k->nroot_s * 1e9, k->nflush_s * 1e9);
	snprintf(what, sizeof(what), "SMM round trip, %u vCPUs (smm scenario: an SMI every 50 "
		 "units per vCPU, 8 SMRAM pages):", d->smm.vcpus);
	print_event_rows(what, d->smm.smm, NR_PRESETS, d->smm.base, k, o->nested, true);
	print_event_rows("SMM round trip, 1 vCPU (Jeremi Piotrowski's L2 had one; added after the "
			 "protocol):", d->smm1.smm, NR_PRESETS, d->smm1.base, k, o->nested, true);
	snprintf(what, sizeof(what), "CR0.WP toggle, %u vCPUs (grsec):", d->smm.vcpus);
	print_event_rows(what, d->grsec, NR_SETS, d->smm.base, k, o->nested, false);
}

/* ---- --full: sensitivity and stationarity ---------------------------------------- */

static void print_constants(const struct seed_data *d, const struct seed_opts *o)
{
	static const struct {
		const char *name;
		double fexit, feptv;
	} var[] = {
		{ "as registered", 1, 1 }, { "c_exit x0.5", 0.5, 1 }, { "c_exit x2", 2, 1 },
		{ "c_eptv x0.5", 1, 0.5 }, { "c_eptv x2", 1, 2 }, { "both x0.5", 0.5, 0.5 },
		{ "both x2", 2, 2 },
	};

	printf("\nsensitivity to the constants (g refitted each time): predicted seconds, "
	       "mean |error| of the 11 predictions, R\n");
	printf("  %-14s %8s %7s %7s %7s %7s %7s %7s %7s %7s %6s %6s\n", "constants", "g_us",
	       "510tdp", "510leg", "61tdp", "61leg", "64leg", "q_tdp", "q_leg", "|err|", "R",
	       "check");
	for (unsigned int i = 0; i < sizeof(var) / sizeof(var[0]); i++) {
		struct seed_costs k;
		struct seed_model md;

		seed_costs_default(&k);
		k.exit_s *= var[i].fexit;
		k.eptv_s *= var[i].feptv;
		model_eval(&md, d->grsec, &k, o->vcpus);
		printf("  %-14s %8.3f %7.2f %7.2f %7.2f %7.2f %7.2f %7.2f %7.2f %6.0f%% %6.2f %6s\n",
		       var[i].name, md.g * 1e6, md.t[SET_510][0], md.t[SET_510][1], md.t[SET_61][0],
		       md.t[SET_61][1], md.t[SET_64][1], md.t[SET_QUEUE][0], md.t[SET_QUEUE][1],
		       100 * mean_abs_err(&md), md.ratio, seed_ratio_ok(md.ratio) ? "PASS" : "MISS");
	}
}

static void print_stationarity(const struct seed_data *d)
{
	printf("\nstationarity: per call, first half of the sample against the whole "
	       "(cpu us; TDP faults; exits)\n");
	for (unsigned int s = 0; s < NR_SETS; s++)
		for (unsigned int m = 0; m < BENCH_NR_MMU; m++) {
			const struct seed_counts *h = &d->half[s][m], *w = &d->grsec[s][m];

			printf("  %-9s %-10s cpu %7.2f / %7.2f   pf_taken %8.3f / %8.3f   exits "
			       "%6.3f / %6.3f\n", knob_sets[s].name,
			       bench_mmu_name((enum bench_mmu)m), h->cpu_s * 1e6, w->cpu_s * 1e6,
			       h->pf_taken, w->pf_taken, seed_exits(h), seed_exits(w));
		}
}

/* ---- CSV ------------------------------------------------------------------------- */

static const char csv_header[] =
	"record,row,column,knobs,mmu,vcpus,ws_open,seed_s,vmmu_s,error_pct,fitted,cpu_us,"
	"exits_cr,exits_msr,exits_smi,exits_rsm,resets,root_loads,roots_allocated,roots_freed,"
	"spte_zapped,pt_pages_allocated,pf_taken,pf_fixed,tlb_flush,tlb_miss,toggles,smis,"
	"o_us,nested_us\n";

static void csv_counts(FILE *f, const struct seed_counts *c)
{
	fprintf(f, ",%.4f,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f,"
		"%.4f,%.4f", c->cpu_s * 1e6, c->exits_cr, c->exits_msr, c->exits_smi, c->exits_rsm,
		c->resets, c->root_loads, c->roots_alloc, c->roots_freed, c->spte_zapped,
		c->pt_alloc, c->pf_taken, c->pf_fixed, c->tlb_flush, c->tlb_miss, c->toggles,
		c->smis);
}

static void csv_cells(FILE *f, const char *record, const struct seed_model *md,
		      const struct seed_counts c[NR_SETS][BENCH_NR_MMU], double scale)
{
	for (unsigned int r = 0; r < NR_ROWS; r++)
		for (unsigned int col = 0; col < NR_COLS; col++) {
			enum seed_set s = seed_rows[r].set[col];

			for (unsigned int m = 0; m < BENCH_NR_MMU; m++) {
				double t = md->t[s][m], seed = seed_rows[r].seed[col][m];
				double nested = md->o[s][m] + scale * seed_nested_extra(&c[s][m],
											&md->k);

				fprintf(f, "%s,%s,%s,%s,%s,%u,,%.4f,%.4f,%.2f,%d", record,
					seed_rows[r].name, col_names[col], knob_sets[s].name,
					bench_mmu_name((enum bench_mmu)m), md->vcpus, seed, t,
					100 * seed_rel_err(t, seed),
					is_fitted(r, (enum seed_col)col, (enum bench_mmu)m));
				csv_counts(f, &c[s][m]);
				fprintf(f, ",%.4f,%.4f\n", md->o[s][m] * 1e6, nested * 1e6);
			}
			fprintf(f, "%s,%s,%s,%s,shadow,%u,,%.4f,,,0%s,,\n", record,
				seed_rows[r].name, col_names[col], knob_sets[s].name, md->vcpus,
				seed_rows[r].shadow[col], ",,,,,,,,,,,,,,,,,");
		}
}

/* ws_per_toggle records: o_us is the cost per toggle. */
static void csv_ws(FILE *f, const struct ws_sweep *w, const struct seed_costs *k)
{
	for (unsigned int i = 0; i < w->nr; i++)
		for (unsigned int s = 0; s < NR_PRESETS; s++)
			for (unsigned int m = 0; m < BENCH_NR_MMU; m++) {
				fprintf(f, "ws_per_toggle,,,%s,%s,%u,%u,,,,0", knob_sets[s].name,
					bench_mmu_name((enum bench_mmu)m), w->vcpus, w->ws[i]);
				csv_counts(f, &w->tog[i][s][m]);
				fprintf(f, ",%.4f,\n", ws_cost(w, k, i, s, m) * 1e6);
			}
}

/* smm_per_smi records: o_us and nested_us are per SMI round trip. */
static void csv_smm(FILE *f, const struct smm_line *l, const struct seed_costs *k, double scale)
{
	for (unsigned int s = 0; s < NR_PRESETS; s++)
		for (unsigned int m = 0; m < BENCH_NR_MMU; m++) {
			struct per_event e;

			per_event(&l->smm[s][m], &l->base[m], k, scale, l->smm[s][m].smis, &e);
			fprintf(f, "smm_per_smi,,,%s,%s,%u,,,,,0", knob_sets[s].name,
				bench_mmu_name((enum bench_mmu)m), l->vcpus);
			csv_counts(f, &l->smm[s][m]);
			fprintf(f, ",%.4f,%.4f\n", e.native_s * 1e6, e.nested_s * 1e6);
		}
}

static int write_csv(const struct seed_opts *o, const struct seed_data *d,
		     const struct seed_model *md, const struct seed_model *md1)
{
	FILE *f = fopen(o->csv, "w");

	if (!f) {
		fprintf(stderr, "vmmu bench seed: cannot write %s: %s\n", o->csv, strerror(errno));
		return -1;
	}
	fputs(csv_header, f);
	csv_cells(f, "cell", md, d->grsec, o->nested);
	if (md1)
		csv_cells(f, "cell_1vcpu", md1, d->grsec1, o->nested);
	csv_ws(f, &d->ws, &md->k);
	if (o->full)
		csv_ws(f, &d->ws1, &md->k);
	csv_smm(f, &d->smm, &md->k, o->nested);
	csv_smm(f, &d->smm1, &md->k, o->nested);
	if (fclose(f)) {
		fprintf(stderr, "vmmu bench seed: cannot write %s: %s\n", o->csv, strerror(errno));
		return -1;
	}
	return 0;
}

/* ---- plots ------------------------------------------------------------------------ */

/* The terminal: pngcairo where gnuplot has it, png otherwise. */
static const char gp_terminal[] =
	"reset\n"
	"if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {\n"
	"  set terminal pngcairo size 1100,620 noenhanced\n"
	"} else {\n"
	"  set terminal png size 1100,620\n"
	"}\n"
	"set termoption noenhanced\n";

static FILE *open_in(const char *dir, const char *name)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	if (!f)
		fprintf(stderr, "vmmu bench seed: cannot write %s: %s\n", path, strerror(errno));
	return f;
}

/* A value gnuplot skips on a log scale when it is not positive. */
static void dat_value(FILE *f, double v)
{
	if (v > 0)
		fprintf(f, " %.4f", v);
	else
		fprintf(f, " NaN");
}

/* @name.dat and @name.gp in @dir, both open, or -1 with neither. */
static int open_plot(const char *dir, const char *name, FILE **dat, FILE **gp)
{
	char file[64];

	snprintf(file, sizeof(file), "%s.dat", name);
	*dat = open_in(dir, file);
	snprintf(file, sizeof(file), "%s.gp", name);
	*gp = *dat ? open_in(dir, file) : NULL;
	if (*gp)
		return 0;
	if (*dat)
		fclose(*dat);
	return -1;
}

/* Closes both; -1 if either could not be written. */
static int close_plot(FILE *dat, FILE *gp)
{
	int ret = fclose(dat);

	return fclose(gp) || ret ? -1 : 0;
}

static int write_table_plot(const char *dir, const struct seed_model *md)
{
	FILE *dat, *gp;

	if (open_plot(dir, "table", &dat, &gp))
		return -1;
	fprintf(dat, "cell \"seed TDP\" \"vmmu TDP\" \"seed legacy\" \"vmmu legacy\"\n");
	for (unsigned int r = 0; r < NR_ROWS; r++)
		for (unsigned int c = 0; c < NR_COLS; c++) {
			fprintf(dat, "\"%s %s\"", seed_rows[r].name, col_names[c]);
			for (unsigned int m = 0; m < BENCH_NR_MMU; m++) {
				dat_value(dat, seed_rows[r].seed[c][m]);
				dat_value(dat, cell_model(md, r, (enum seed_col)c, (enum bench_mmu)m));
			}
			fprintf(dat, "\n");
		}
	fprintf(gp, "# vmmu bench seed: the seed's table beside vmmu's model (docs/SEED.md)\n"
		"# re-plot: cd to this directory, gnuplot table.gp\n%s"
		"set output 'table.png'\n"
		"set title 'ssdd 10 50000 in a grsecurity guest: measured (2023) and vmmu-modelled "
		"(TDP 5.10.177 after is fitted)'\n"
		"set style data histogram\nset style histogram cluster gap 1\n"
		"set style fill solid 0.85 border -1\nset boxwidth 0.9\n"
		"set logscale y\nset yrange [0.5:200]\nset ylabel 'seconds (log scale)'\n"
		"set grid ytics\nset key top right autotitle columnhead\n"
		"set xtics rotate by -25 scale 0\n"
		"plot 'table.dat' using 2:xtic(1), '' using 3, '' using 4, '' using 5\n",
		gp_terminal);
	return close_plot(dat, gp);
}

/* @name.dat and @name.gp, making @name.png. */
static int write_ws_plot(const char *dir, const char *name, const struct ws_sweep *w,
			 const struct seed_costs *k)
{
	FILE *dat, *gp;

	if (open_plot(dir, name, &dat, &gp))
		return -1;
	fprintf(dat, "ws");
	for (unsigned int s = 0; s < NR_PRESETS; s++)
		for (unsigned int m = 0; m < BENCH_NR_MMU; m++)
			fprintf(dat, " \"%s %s\"", knob_sets[s].name, bench_mmu_name((enum bench_mmu)m));
	fprintf(dat, "\n");
	for (unsigned int i = 0; i < w->nr; i++) {
		fprintf(dat, "%u", w->ws[i]);
		for (unsigned int s = 0; s < NR_PRESETS; s++)
			for (unsigned int m = 0; m < BENCH_NR_MMU; m++)
				fprintf(dat, " %.4f", ws_cost(w, k, i, s, m) * 1e6);
		fprintf(dat, "\n");
	}
	fprintf(gp, "# vmmu bench seed: modelled cost per CR0.WP toggle against the working set\n"
		"# re-plot: cd to this directory, gnuplot %s.gp\n%s"
		"set output '%s.png'\n"
		"set title 'cost per CR0.WP toggle (vmmu CPU + exits + EPT violations) against the "
		"window working set, %u vCPU(s)'\n"
		"set logscale x 2\nset xlabel 'pages touched with CR0.WP=0 (ws_open)'\n"
		"set ylabel 'microseconds per toggle'\nset grid\nset key top left\n"
		"plot for [i=2:7] '%s.dat' using 1:i with linespoints lw 2 pt i "
		"title columnheader(i)\n", name,
		gp_terminal, name, w->vcpus, name);
	return close_plot(dat, gp);
}

/* Is @prog an executable file in a directory of $PATH? */
static bool in_path(const char *prog)
{
	const char *path = getenv("PATH");
	char buf[4096];

	while (path && *path) {
		const char *end = strchr(path, ':');
		size_t len = end ? (size_t)(end - path) : strlen(path);

		if (len && len < sizeof(buf) - strlen(prog) - 2) {
			snprintf(buf, sizeof(buf), "%.*s/%s", (int)len, path, prog);
			if (!access(buf, X_OK))
				return true;
		}
		path = end ? end + 1 : NULL;
	}
	return false;
}

/* gnuplot table.gp ws.gp [ws-1vcpu.gp] in @dir; 0 if it made them all. */
static int run_gnuplot(const char *dir, bool one)
{
	pid_t pid;
	int status;

	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return -1;
	if (!pid) {
		if (chdir(dir))
			_exit(126);
		execlp("gnuplot", "gnuplot", "table.gp", "ws.gp", one ? "ws-1vcpu.gp" : (char *)NULL,
		       (char *)NULL);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) < 0)
		return -1;
	return WIFEXITED(status) && !WEXITSTATUS(status) ? 0 : -1;
}

static int write_plots(const struct seed_opts *o, const struct seed_data *d,
		       const struct seed_model *md)
{
	if (mkdir(o->plot, 0777) && errno != EEXIST) {
		fprintf(stderr, "vmmu bench seed: cannot create %s: %s\n", o->plot, strerror(errno));
		return -1;
	}
	if (write_table_plot(o->plot, md) || write_ws_plot(o->plot, "ws", &d->ws, &md->k) ||
	    (o->full && write_ws_plot(o->plot, "ws-1vcpu", &d->ws1, &md->k)))
		return -1;
	if (!in_path("gnuplot")) {
		fprintf(stderr, "vmmu bench seed: no gnuplot in PATH: the data and scripts are in "
			"%s, no PNG was made (install gnuplot-nox: scripts/install-deps.sh)\n",
			o->plot);
		return -1;
	}
	if (run_gnuplot(o->plot, o->full)) {
		fprintf(stderr, "vmmu bench seed: gnuplot failed in %s\n", o->plot);
		return -1;
	}
	printf("\nplots: %s/table.png (the table), %s/ws.png (cost per toggle against the working "
	       "set)%s; data and gnuplot scripts beside them\n", o->plot, o->plot,
	       o->full ? ", ws-1vcpu.png (the same with one vCPU)" : "");
	return 0;
}

/* ---- the command --------------------------------------------------------------- */

static void print_report(const struct seed_opts *o, const struct seed_data *d,
			 const struct seed_model *md, const struct seed_model *md1)
{
	int miss;

	print_header(o, d, md);
	print_table(md, "the seed's table (seconds) and vmmu's model of it, error = (vmmu - seed) "
		    "/ seed:");
	print_counts(d, md);
	miss = print_check(md);
	miss |= print_ws(&d->ws, &md->k, d->n, "");
	print_nested(o, d, &md->k);
	if (o->full) {
		print_constants(d, o);
		print_table(md1, "one vCPU (V = 1, g refitted):");
		printf("  internal check with one vCPU: R = %.2f: %s\n", md1->ratio,
		       seed_ratio_ok(md1->ratio) ? "PASS" : "MISS");
		print_stationarity(d);
		print_ws_info(&d->ws1, &md->k, d->n);
	}
	printf("\n%s\n", miss ? "some check MISSED (docs/SEED.md, Results, says why)" :
	       "every check: PASS");
}

int bench_seed(int argc, char **argv)
{
	static struct seed_data d;
	struct seed_model md, md1;
	struct seed_costs k;
	struct seed_opts o;
	int ret = parse_opts(argc, argv, &o);

	if (ret)
		return ret < 0 ? 0 : ret;
	if (o.plot && !in_path("gnuplot"))
		fprintf(stderr, "vmmu bench seed: warning: no gnuplot in PATH, --plot will write "
			"data and scripts only (install gnuplot-nox)\n");
	memset(&d, 0, sizeof(d));
	if (measure_all(&o, &d))
		return 1;
	seed_costs_default(&k);
	model_eval(&md, d.grsec, &k, o.vcpus);
	if (o.full)
		model_eval(&md1, d.grsec1, &k, 1);
	print_report(&o, &d, &md, o.full ? &md1 : NULL);
	fflush(stdout);
	ret = 0;
	if (o.csv && write_csv(&o, &d, &md, o.full ? &md1 : NULL))
		ret = 1;
	if (o.plot && write_plots(&o, &d, &md))
		ret = 1;
	return ret;
}
