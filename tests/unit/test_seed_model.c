// SPDX-License-Identifier: MIT
/*
 * The cost model of vmmu bench seed (bench/seed_model.c, docs/SEED.md) on
 * made-up counts whose answers are worked out by hand: the constants as
 * registered, per-call differences, the overhead and the nested term, the
 * fit and the prediction, the internal check and its band, least squares.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "seed_model.h"

#define EPS 1e-12

static void test_constants(void **state)
{
	struct seed_costs k;

	(void)state;
	seed_costs_default(&k);
	/* 1291 cycles at 3 GHz; twice that; 8304 cycles. */
	assert_float_equal(k.exit_s, 430.333e-9, 1e-12);
	assert_float_equal(k.eptv_s, k.exit_s, EPS);
	assert_float_equal(k.nspte_s, 2 * k.exit_s, EPS);
	assert_float_equal(k.nroot_s, 2.768e-6, 1e-12);
	assert_float_equal(k.nflush_s, k.nroot_s, EPS);
	assert_float_equal(SEED_RATIO_TARGET, 83.78 / 5.49, 1e-9);
}

static void test_counts(void **state)
{
	struct vmmu_stats st = {
		.size = sizeof(st), .exits_cr_access = 40, .exits_msr_write = 2, .exits_smi = 3,
		.exits_rsm = 3, .pf_taken = 100, .pf_fixed = 90, .pt_pages_allocated = 12,
		.spte_zapped = 50, .roots_allocated = 4, .tlb_flush = 7,
	};
	struct seed_counts a, b, d;

	(void)state;
	seed_counts_from(&a, &(struct vmmu_stats){ .size = sizeof(st) }, 1.0, 0, 0);
	seed_counts_from(&b, &st, 3.0, 20, 3);
	seed_counts_diff(&d, &a, &b, 10);
	assert_float_equal(d.cpu_s, 0.2, EPS);
	assert_float_equal(d.exits_cr, 4, EPS);
	assert_float_equal(d.toggles, 2, EPS);
	assert_float_equal(d.smis, 0.3, EPS);
	assert_float_equal(seed_exits(&d), 4.8, EPS);
	assert_float_equal(seed_spte_writes(&d), 15.2, EPS);
}

static void test_overhead_and_nested(void **state)
{
	struct seed_costs k = { .exit_s = 1e-6, .eptv_s = 2e-6, .nspte_s = 3e-6, .nroot_s = 5e-6,
				.nflush_s = 7e-6 };
	struct seed_counts c = { .cpu_s = 10e-6, .exits_cr = 2, .exits_smi = 1, .exits_rsm = 1,
				 .pf_taken = 3, .pf_fixed = 3, .pt_alloc = 1, .spte_zapped = 4,
				 .roots_alloc = 2, .tlb_flush = 1 };

	(void)state;
	/* 10 + 1 x 4 exits + 2 x 3 faults = 20 us. */
	assert_float_equal(seed_overhead(&c, &k), 20e-6, EPS);
	/* 3 x 8 writes + 5 x 2 roots + 7 x 1 flush = 41 us. */
	assert_float_equal(seed_nested_extra(&c, &k), 41e-6, EPS);
}

static void test_fit_and_predict(void **state)
{
	/* 4.92 s = 2e6 x (o + g) / 4 with o = 2 us: g = 9.84 - 2 = 7.84 us. */
	double g = seed_fit_g(4.92, 2e-6, 2e6, 4);

	(void)state;
	assert_float_equal(g, 7.84e-6, EPS);
	assert_float_equal(seed_time(2e-6, g, 2e6, 4), 4.92, 1e-9);
	/* Another cell with o = 10 us: 2e6 x 17.84 us / 4 = 8.92 s. */
	assert_float_equal(seed_time(10e-6, g, 2e6, 4), 8.92, 1e-9);
	assert_float_equal(seed_rel_err(8.92, 8.0), 0.115, 1e-12);
	/* One vCPU: g = 2.46 - 2 = 0.46 us; overhead above the cell: g < 0. */
	assert_float_equal(seed_fit_g(4.92, 2e-6, 2e6, 1), 0.46e-6, EPS);
	assert_true(seed_fit_g(4.92, 3e-6, 2e6, 1) < 0);
}

static void test_ratio(void **state)
{
	(void)state;
	/* TDP +30 us, legacy +2 us over 6.4: 15. */
	assert_float_equal(seed_penalty_ratio(34e-6, 4e-6, 6e-6, 4e-6), 15, 1e-9);
	assert_true(isnan(seed_penalty_ratio(34e-6, 4e-6, 4e-6, 4e-6)));
	assert_true(seed_ratio_ok(15));
	assert_true(seed_ratio_ok(SEED_RATIO_TARGET / 3 + 1e-9));
	assert_false(seed_ratio_ok(SEED_RATIO_TARGET / 3 - 1e-6));
	assert_true(seed_ratio_ok(SEED_RATIO_TARGET * 3 - 1e-9));
	assert_false(seed_ratio_ok(SEED_RATIO_TARGET * 3 + 1e-6));
	assert_false(seed_ratio_ok(NAN));
}

static void test_line(void **state)
{
	const double x[] = { 4, 32, 256 }, y[] = { 9, 65, 513 }, flat[] = { 5, 5, 5 };
	const double noisy[] = { 1, 3, 2 }, same[] = { 8, 8, 8 };
	struct seed_line l;

	(void)state;
	assert_int_equal(seed_fit_line(x, y, 3, &l), 0);
	assert_float_equal(l.slope, 2, 1e-12);
	assert_float_equal(l.intercept, 1, 1e-9);
	assert_float_equal(l.r2, 1, 1e-12);
	assert_int_equal(seed_fit_line(x, flat, 3, &l), 0);
	assert_float_equal(l.slope, 0, 1e-12);
	assert_float_equal(l.r2, 1, 1e-12);
	/* x = 0, 1, 2; y = 1, 3, 2: slope 0.5, SSres 1.5 of SStot 2. */
	assert_int_equal(seed_fit_line((const double[]){ 0, 1, 2 }, noisy, 3, &l), 0);
	assert_float_equal(l.slope, 0.5, 1e-12);
	assert_float_equal(l.r2, 0.25, 1e-12);
	assert_int_equal(seed_fit_line(same, y, 3, &l), -1);
	assert_int_equal(seed_fit_line(x, y, 1, &l), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_constants),
		cmocka_unit_test(test_counts),
		cmocka_unit_test(test_overhead_and_nested),
		cmocka_unit_test(test_fit_and_predict),
		cmocka_unit_test(test_ratio),
		cmocka_unit_test(test_line),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
