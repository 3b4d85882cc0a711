/* SPDX-License-Identifier: MIT */
/*
 * The built-in scenarios (src/sim/scenario.h): a recording replays with
 * the same counters; a threaded run does what its parameters say and costs
 * what each MMU and preset should (the legacy MMU's trees stay, the TDP
 * MMU's WP=0 tree is rebuilt under 5.10, nothing exits under 6.4); bad
 * parameters are refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "scenario.h"
#include "trace.h"

static struct scenario_params params(enum scenario_kind kind, uint32_t mmu, uint32_t policy,
				     unsigned int vcpus, uint64_t calls)
{
	struct scenario_params p;

	scenario_defaults(kind, &p);
	p.mmu = mmu;
	p.policy = policy;
	p.vcpus = vcpus;
	p.processes = 2 * vcpus;
	p.calls = calls;
	return p;
}

static struct scenario_result run(const struct scenario_params *p)
{
	struct scenario_result r;
	char err[256];

	if (scenario_run(p, &r, err, sizeof(err)))
		fail_msg("%s", err);
	assert_int_equal(r.guest_faults, 0);
	assert_int_equal(r.calls, p->calls);
	return r;
}

/* Records @p, replays the trace with the same VM options: same counters. */
static void record_replays(const struct scenario_params *p)
{
	struct scenario_result rec;
	struct vmmu_stats replayed = { .size = sizeof(replayed) };
	struct replay_options ro = {
		.mmu = p->mmu, .tdp_format = p->tdp_format, .policy = p->policy,
		.stats_out = &replayed,
	};
	char *text = NULL, *out = NULL, err[256];
	size_t len = 0, out_len = 0;
	FILE *f = open_memstream(&text, &len), *o = open_memstream(&out, &out_len);
	FILE *null = fopen("/dev/null", "w");
	struct trace t;

	assert_non_null(f);
	if (scenario_record(p, f, &rec, err, sizeof(err)))
		fail_msg("%s", err);
	fclose(f);
	assert_int_equal(rec.guest_faults, 0);
	assert_int_equal(trace_parse(text, len, "recorded", &t, err, sizeof(err)), 0);
	assert_int_equal(trace_replay(&t, &ro, o, null), 0);
	fclose(o);
	fclose(null);
	/* Every counter, TLB hits and misses included. */
	assert_memory_equal(&rec.stats.accesses, &replayed.accesses,
			    sizeof(replayed) - offsetof(struct vmmu_stats, accesses));
	/* And the guest saw no fault: every access line is "ok". */
	for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n"))
		assert_non_null(strstr(line, " ok ") ? line : strstr(line, " 0x"));
	assert_true(rec.stats.accesses > 0);
	trace_free(&t);
	free(text);
	free(out);
}

static void test_record_replays(void **state)
{
	struct scenario_params p;

	(void)state;
	p = params(SCENARIO_GRSEC, VMMU_MMU_TDP, VMMU_POLICY_5_10, 3, 60);
	record_replays(&p);
	p = params(SCENARIO_GRSEC, VMMU_MMU_TDP_LEGACY, VMMU_POLICY_6_1, 2, 60);
	p.tdp_format = VMMU_TDP_NPT;
	record_replays(&p);
	p = params(SCENARIO_SMM, VMMU_MMU_TDP, VMMU_POLICY_6_1, 2, 80);
	p.smi_every = 7;
	record_replays(&p);
	p = params(SCENARIO_SMM, VMMU_MMU_TDP_LEGACY, VMMU_POLICY_5_10, 1, 40);
	p.smi_every = 3;
	record_replays(&p);
}

/* The run does what the parameters say. */
static void test_run_counts(void **state)
{
	struct scenario_params p = params(SCENARIO_GRSEC, VMMU_MMU_TDP, VMMU_POLICY_6_4, 4, 402);
	struct scenario_result r;

	(void)state;
	p.toggles = 3;
	r = run(&p);
	assert_int_equal(r.toggles, 3 * 402);
	assert_int_equal(r.smis, 0);
	assert_int_equal(r.stats.exits_cr_access, 0);    /* 6.4, EPT: WP is guest-owned */
	assert_int_equal(r.stats.context_resets, 0);
	assert_true(r.cpu_seconds > 0);
	p = params(SCENARIO_SMM, VMMU_MMU_TDP, VMMU_POLICY_6_4, 2, 100);
	p.smi_every = 10;
	r = run(&p);
	assert_int_equal(r.smis, 10);
	assert_int_equal(r.stats.exits_smi, 10);
	assert_int_equal(r.stats.exits_rsm, 10);
}

/*
 * The story in counters: under 5.10 with one vCPU, the TDP MMU rebuilds at
 * every toggle (its faults grow with the calls), the legacy MMU builds its
 * two trees once; under 6.1 neither rebuilds with several vCPUs but the
 * legacy MMU still pays the exits.
 */
static void test_mmus_and_presets(void **state)
{
	struct scenario_params p;
	struct scenario_result a, b;

	(void)state;
	p = params(SCENARIO_GRSEC, VMMU_MMU_TDP, VMMU_POLICY_5_10, 1, 100);
	a = run(&p);
	p.calls = 300;
	b = run(&p);
	assert_int_equal(b.stats.exits_cr_access, 2 * 300);
	assert_true(b.stats.pf_fixed - a.stats.pf_fixed >= 200 * (uint64_t)p.ws_open);
	assert_true(b.stats.roots_allocated - a.stats.roots_allocated >= 2 * 200);

	p = params(SCENARIO_GRSEC, VMMU_MMU_TDP_LEGACY, VMMU_POLICY_5_10, 1, 100);
	a = run(&p);
	p.calls = 300;
	b = run(&p);
	assert_int_equal(b.stats.exits_cr_access, 2 * 300);
	assert_int_equal(b.stats.root_loads, 2 * 300);
	assert_int_equal(b.stats.pf_fixed, a.stats.pf_fixed);
	assert_int_equal(b.stats.pt_pages_allocated, a.stats.pt_pages_allocated);

	p = params(SCENARIO_GRSEC, VMMU_MMU_TDP, VMMU_POLICY_6_1, 1, 300);
	a = run(&p);
	assert_true(a.stats.roots_allocated >= 2 * 299);   /* one vCPU: nobody else holds it */
}

/* Serialized, the vCPUs take turns: every counter is the same run to run,
 * and no WP=0 root is ever shared under 5.10 (one built per toggle). */
static void test_serialized(void **state)
{
	struct scenario_params p = params(SCENARIO_GRSEC, VMMU_MMU_TDP, VMMU_POLICY_5_10, 4, 200);
	struct scenario_result a, b;

	(void)state;
	p.serialized = true;
	a = run(&p);
	b = run(&p);
	assert_memory_equal(&a.stats.accesses, &b.stats.accesses,
			    sizeof(a.stats) - offsetof(struct vmmu_stats, accesses));
	assert_int_equal(a.stats.roots_allocated, 200);
	assert_int_equal(a.stats.exits_cr_access, 400);
}

static void test_check(void **state)
{
	struct scenario_params p, good;
	char err[256];

	(void)state;
	scenario_defaults(SCENARIO_GRSEC, &good);
	assert_int_equal(scenario_check(&good, err, sizeof(err)), 0);
	p = good, p.vcpus = 0;
	assert_int_equal(scenario_check(&p, err, sizeof(err)), -1);
	p = good, p.vcpus = SCENARIO_MAX_VCPUS + 1;
	assert_int_equal(scenario_check(&p, err, sizeof(err)), -1);
	p = good, p.processes = p.vcpus - 1;
	assert_int_equal(scenario_check(&p, err, sizeof(err)), -1);
	p = good, p.calls = 0;
	assert_int_equal(scenario_check(&p, err, sizeof(err)), -1);
	p = good, p.ws_closed = 1;
	assert_int_equal(scenario_check(&p, err, sizeof(err)), -1);
	p = good, p.ws_open = 0;
	assert_int_equal(scenario_check(&p, err, sizeof(err)), -1);
	/* More than 4 GiB of guest memory. */
	p = good, p.processes = 4000, p.ws_closed = 60000;
	assert_int_equal(scenario_check(&p, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "4 GiB"));
	scenario_defaults(SCENARIO_SMM, &p);
	p.smi_every = 0;
	assert_int_equal(scenario_check(&p, err, sizeof(err)), -1);
	assert_int_equal(scenario_kind_parse("grsec"), SCENARIO_GRSEC);
	assert_int_equal(scenario_kind_parse("smm"), SCENARIO_SMM);
	assert_int_equal(scenario_kind_parse("ssdd"), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_record_replays),
		cmocka_unit_test(test_run_counts),
		cmocka_unit_test(test_mmus_and_presets),
		cmocka_unit_test(test_serialized),
		cmocka_unit_test(test_check),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
