/* SPDX-License-Identifier: MIT */
/*
 * The 2023 knobs, one test each: each changes what a CR0.WP toggle or an
 * SMM round trip costs (exits, context resets, roots, faults), never what
 * the guest sees.  A small 4-level guest touches its working set, changes a
 * register, touches it again; the counters say what it cost.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <cmocka.h>

#include "vmmu.h"

#define RAM_SIZE  (4ull << 20)
#define PAGES     32                /* the working set: GVA 0.. -> GPA 1M.. */
#define CR0_WP    0x80010011ull
#define CR0_NOWP  0x80000011ull

struct guest {
	struct vmmu_vm *vm;
	struct vmmu_vcpu *vcpu[2];
	unsigned int nr_vcpus;
	uint8_t *ram;
};

static void guest_boot(struct vmmu_vcpu *v)
{
	vmmu_vcpu_set_reg(v, VMMU_REG_EFER, 0x900);
	vmmu_vcpu_set_reg(v, VMMU_REG_CR4, 0x20);
	vmmu_vcpu_set_reg(v, VMMU_REG_CR3, 0x1000);
	vmmu_vcpu_set_reg(v, VMMU_REG_CR0, CR0_WP);
}

static void guest_create_mmu(struct guest *g, uint32_t mmu, unsigned int nr_vcpus, uint32_t format,
			     uint32_t policy, uint32_t set, uint32_t knobs)
{
	struct vmmu_vm_config cfg = {
		.size = sizeof(cfg), .mmu = mmu, .tdp_format = format,
		.policy = policy, .knobs_set = set, .knobs = knobs,
	};
	uint64_t *e;

	g->ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(g->ram != MAP_FAILED);
	e = (uint64_t *)g->ram;
	e[0x1000 / 8] = 0x2003;
	e[0x2000 / 8] = 0x3003;
	e[0x3000 / 8] = 0x4003;
	for (unsigned int i = 0; i < PAGES; i++)
		e[0x4000 / 8 + i] = (0x100000 + i * 0x1000ull) | 3;
	/* SMRAM handler view: address space 1 aliases the same RAM. */
	assert_int_equal(vmmu_vm_create(&cfg, &g->vm), 0);
	assert_int_equal(vmmu_memslot_add(g->vm, &(struct vmmu_memslot){
		.id = 0, .gpa = 0, .size = RAM_SIZE, .hva = g->ram }), 0);
	assert_int_equal(vmmu_memslot_add(g->vm, &(struct vmmu_memslot){
		.id = 0, .as_id = VMMU_AS_SMM, .gpa = 0, .size = RAM_SIZE, .hva = g->ram }), 0);
	g->nr_vcpus = nr_vcpus;
	for (unsigned int i = 0; i < nr_vcpus; i++) {
		assert_int_equal(vmmu_vcpu_create(g->vm, i, &g->vcpu[i]), 0);
		guest_boot(g->vcpu[i]);
	}
}

static void guest_create(struct guest *g, unsigned int nr_vcpus, uint32_t format, uint32_t policy,
			 uint32_t set, uint32_t knobs)
{
	guest_create_mmu(g, VMMU_MMU_TDP, nr_vcpus, format, policy, set, knobs);
}

static void guest_destroy(struct guest *g)
{
	for (unsigned int i = 0; i < g->nr_vcpus; i++)
		vmmu_vcpu_destroy(g->vcpu[i]);
	vmmu_vm_destroy(g->vm);
	munmap(g->ram, RAM_SIZE);
}

static void touch(struct vmmu_vcpu *v)
{
	for (unsigned int i = 0; i < PAGES; i++) {
		struct vmmu_result res;
		uint64_t x;

		assert_int_equal(vmmu_vcpu_read(v, i * 0x1000ull, &x, 8, VMMU_ACCESS_READ, &res), 0);
		assert_int_equal(res.outcome, VMMU_OK);
	}
}

static struct vmmu_stats stats(struct guest *g)
{
	struct vmmu_stats st = { .size = sizeof(st) };

	assert_int_equal(vmmu_vm_get_stats(g->vm, &st), 0);
	return st;
}

/* One WP toggle round trip by vCPU 0 (vCPU 1, if it ran, stays in WP=1),
 * then the working set again; returns the counters' change. */
static struct vmmu_stats toggle_cost(struct guest *g)
{
	struct vmmu_stats a = stats(g), b, d = { 0 };

	vmmu_vcpu_set_reg(g->vcpu[0], VMMU_REG_CR0, CR0_NOWP);
	touch(g->vcpu[0]);
	vmmu_vcpu_set_reg(g->vcpu[0], VMMU_REG_CR0, CR0_WP);
	touch(g->vcpu[0]);
	b = stats(g);
	d.exits_cr_access = b.exits_cr_access - a.exits_cr_access;
	d.context_resets = b.context_resets - a.context_resets;
	d.roots_allocated = b.roots_allocated - a.roots_allocated;
	d.roots_freed = b.roots_freed - a.roots_freed;
	d.pf_fixed = b.pf_fixed - a.pf_fixed;
	d.root_loads = b.root_loads - a.root_loads;
	d.pt_pages_allocated = b.pt_pages_allocated - a.pt_pages_allocated;
	return d;
}

/* wp_in_tdp_role: with it, a WP toggle needs another root, which vCPU 1
 * (in the old mode) does not hold; without it, vCPU 1 keeps the one root
 * alive across vCPU 0's reset. */
static void test_wp_in_tdp_role(void **state)
{
	struct guest g;
	struct vmmu_stats d;

	(void)state;
	for (int knob = 0; knob <= 1; knob++) {
		guest_create(&g, 2, VMMU_TDP_EPT, VMMU_POLICY_6_1, VMMU_KNOB_WP_IN_TDP_ROLE,
			     knob ? VMMU_KNOB_WP_IN_TDP_ROLE : 0);
		touch(g.vcpu[0]);
		touch(g.vcpu[1]);
		d = toggle_cost(&g);
		assert_int_equal(d.context_resets, 2);
		if (knob) {
			assert_int_equal(d.roots_allocated, 1);   /* the WP=0 root */
			assert_true(d.pf_fixed >= PAGES);         /* built from nothing */
		} else {
			assert_int_equal(d.roots_allocated, 0);
			assert_int_equal(d.pf_fixed, 0);
		}
		guest_destroy(&g);
	}
}

/* cr0_wp_exits: a WP-only CR0 write exits with EPT only if set; with NPT
 * it always does (SVM's selective CR0 intercept), and 6.4 then keeps the
 * roots. */
static void test_cr0_wp_exits(void **state)
{
	struct guest g;
	struct vmmu_stats d;

	(void)state;
	for (int knob = 0; knob <= 1; knob++) {
		guest_create(&g, 1, VMMU_TDP_EPT, VMMU_POLICY_6_4, VMMU_KNOB_CR0_WP_EXITS,
			     knob ? VMMU_KNOB_CR0_WP_EXITS : 0);
		touch(g.vcpu[0]);
		d = toggle_cost(&g);
		assert_int_equal(d.exits_cr_access, knob ? 2 : 0);
		guest_destroy(&g);
	}
	for (int knob = 0; knob <= 1; knob++) {
		guest_create(&g, 1, VMMU_TDP_NPT, VMMU_POLICY_6_4, VMMU_KNOB_CR0_WP_EXITS,
			     knob ? VMMU_KNOB_CR0_WP_EXITS : 0);
		touch(g.vcpu[0]);
		d = toggle_cost(&g);
		assert_int_equal(d.exits_cr_access, 2);
		assert_int_equal(d.context_resets, 0);
		assert_int_equal(d.pf_fixed, 0);
		guest_destroy(&g);
	}
	guest_create(&g, 1, VMMU_TDP_NPT, VMMU_POLICY_5_10, 0, 0);
	touch(g.vcpu[0]);
	d = toggle_cost(&g);
	assert_int_equal(d.exits_cr_access, 2);
	assert_int_equal(d.context_resets, 2);
	guest_destroy(&g);
}

/* wp_change_keeps_roots: an exiting WP-only write resets the context and
 * drops the root (one vCPU: rebuilt), unless the knob keeps it; with WP in
 * the root role the vCPU needs another root anyway. */
static void test_wp_change_keeps_roots(void **state)
{
	struct guest g;
	struct vmmu_stats d;

	(void)state;
	for (int knob = 0; knob <= 1; knob++) {
		guest_create(&g, 1, VMMU_TDP_EPT, VMMU_POLICY_6_1, VMMU_KNOB_WP_CHANGE_KEEPS_ROOTS,
			     knob ? VMMU_KNOB_WP_CHANGE_KEEPS_ROOTS : 0);
		touch(g.vcpu[0]);
		d = toggle_cost(&g);
		assert_int_equal(d.exits_cr_access, 2);
		assert_int_equal(d.context_resets, knob ? 0 : 2);
		assert_int_equal(d.roots_allocated, knob ? 0 : 2);
		assert_int_equal(d.pf_fixed == 0, knob);
		guest_destroy(&g);
	}
	guest_create(&g, 1, VMMU_TDP_EPT, VMMU_POLICY_5_10, VMMU_KNOB_WP_CHANGE_KEEPS_ROOTS,
		     VMMU_KNOB_WP_CHANGE_KEEPS_ROOTS);
	touch(g.vcpu[0]);
	d = toggle_cost(&g);
	assert_int_equal(d.context_resets, 2);
	assert_int_equal(d.roots_allocated, 2);
	guest_destroy(&g);
}

/* tdp_mmu_holds_root_ref: a reset that every preset does (EFER.NX here)
 * drops the only vCPU's root; the MMU's own reference keeps it, SPTEs
 * and all. */
static void test_tdp_mmu_holds_root_ref(void **state)
{
	struct guest g;

	(void)state;
	for (int knob = 0; knob <= 1; knob++) {
		guest_create(&g, 1, VMMU_TDP_EPT, VMMU_POLICY_6_1, VMMU_KNOB_TDP_MMU_HOLDS_ROOT_REF,
			     knob ? VMMU_KNOB_TDP_MMU_HOLDS_ROOT_REF : 0);
		touch(g.vcpu[0]);
		struct vmmu_stats a = stats(&g);

		vmmu_vcpu_set_reg(g.vcpu[0], VMMU_REG_EFER, 0x100);    /* NX off */
		vmmu_vcpu_set_reg(g.vcpu[0], VMMU_REG_EFER, 0x900);    /* NX on */
		touch(g.vcpu[0]);
		struct vmmu_stats b = stats(&g);

		assert_int_equal(b.context_resets - a.context_resets, 2);
		assert_int_equal(b.roots_freed - a.roots_freed, knob ? 0 : 2);
		assert_int_equal(b.pf_fixed == a.pf_fixed, knob);
		guest_destroy(&g);
	}
}

/* sync_root_teardown: a dead root is torn down inside the register write,
 * or, deferred, at the vCPU's exit from guest mode. */
static void test_sync_root_teardown(void **state)
{
	struct guest g;

	(void)state;
	for (int knob = 0; knob <= 1; knob++) {
		guest_create(&g, 1, VMMU_TDP_EPT, VMMU_POLICY_6_1, VMMU_KNOB_SYNC_ROOT_TEARDOWN,
			     knob ? VMMU_KNOB_SYNC_ROOT_TEARDOWN : 0);
		touch(g.vcpu[0]);
		assert_int_equal(vmmu_vcpu_enter(g.vcpu[0]), 0);
		uint64_t before = stats(&g).roots_freed;

		vmmu_vcpu_set_reg(g.vcpu[0], VMMU_REG_EFER, 0x100);
		assert_int_equal(stats(&g).roots_freed - before, (uint64_t)knob);
		assert_int_equal(vmmu_vcpu_exit(g.vcpu[0]), 0);
		assert_int_equal(stats(&g).roots_freed - before, 1);
		guest_destroy(&g);
	}
}

/* SMM round trips: the old address space's root survives only with the
 * MMU's reference (6.4); under 5.10 and 6.1 one vCPU rebuilds it. */
static void test_smm_round_trip(void **state)
{
	static const uint32_t policies[] = { VMMU_POLICY_5_10, VMMU_POLICY_6_1, VMMU_POLICY_6_4 };
	struct guest g;

	(void)state;
	for (size_t i = 0; i < 3; i++) {
		guest_create(&g, 1, VMMU_TDP_EPT, policies[i], 0, 0);
		touch(g.vcpu[0]);
		struct vmmu_stats a = stats(&g);

		for (int k = 0; k < 3; k++) {
			vmmu_vcpu_set_reg(g.vcpu[0], VMMU_REG_SMM, 1);
			touch(g.vcpu[0]);
			vmmu_vcpu_set_reg(g.vcpu[0], VMMU_REG_SMM, 0);
			touch(g.vcpu[0]);
		}
		struct vmmu_stats b = stats(&g);

		assert_int_equal(b.exits_smi - a.exits_smi, 3);
		assert_int_equal(b.exits_rsm - a.exits_rsm, 3);
		assert_int_equal(b.context_resets - a.context_resets, 6);
		if (policies[i] == VMMU_POLICY_6_4) {
			assert_int_equal(b.roots_allocated - a.roots_allocated, 1);  /* the SMM root, once */
			assert_int_equal(b.roots_freed - a.roots_freed, 0);
		} else {
			assert_int_equal(b.roots_allocated - a.roots_allocated, 6);
			assert_int_equal(b.roots_freed - a.roots_freed, 6);
		}
		guest_destroy(&g);
	}
}

/*
 * The legacy MMU under each preset: a root nobody holds stays in the hash,
 * tree and all.  Under 5.10 the first WP=0 phase builds the second tree
 * (WP is in the role); from then on a toggle costs the exits, the resets
 * and the root loads (each a TLB flush), but no page and no fault; 6.1
 * the same with one tree; 6.4 nothing at all.
 */
static void test_legacy_wp_toggle(void **state)
{
	static const uint32_t policies[] = { VMMU_POLICY_5_10, VMMU_POLICY_6_1, VMMU_POLICY_6_4 };
	struct guest g;
	struct vmmu_stats d;

	(void)state;
	for (size_t i = 0; i < 3; i++) {
		int exits = policies[i] != VMMU_POLICY_6_4;

		guest_create_mmu(&g, VMMU_MMU_TDP_LEGACY, 1, VMMU_TDP_EPT, policies[i], 0, 0);
		touch(g.vcpu[0]);
		/* Warm-up (the WP=0 root of 5.10 exists since boot, empty). */
		d = toggle_cost(&g);
		assert_int_equal(d.pf_fixed >= PAGES, policies[i] == VMMU_POLICY_5_10);
		assert_int_equal(d.pt_pages_allocated > 0, policies[i] == VMMU_POLICY_5_10);
		for (int k = 0; k < 3; k++) {
			d = toggle_cost(&g);
			assert_int_equal(d.exits_cr_access, exits ? 2 : 0);
			assert_int_equal(d.context_resets, exits ? 2 : 0);
			assert_int_equal(d.root_loads, exits ? 2 : 0);
			assert_int_equal(d.roots_allocated, 0);
			assert_int_equal(d.roots_freed, 0);
			assert_int_equal(d.pt_pages_allocated, 0);
			assert_int_equal(d.pf_fixed, 0);
		}
		guest_destroy(&g);
	}
}

/* SMM round trips on the legacy MMU: both address spaces' trees stay in
 * the hash under every preset, so only the first entry builds. */
static void test_legacy_smm_round_trip(void **state)
{
	static const uint32_t policies[] = { VMMU_POLICY_5_10, VMMU_POLICY_6_1, VMMU_POLICY_6_4 };
	struct guest g;

	(void)state;
	for (size_t i = 0; i < 3; i++) {
		guest_create_mmu(&g, VMMU_MMU_TDP_LEGACY, 1, VMMU_TDP_NPT, policies[i], 0, 0);
		touch(g.vcpu[0]);
		struct vmmu_stats a = stats(&g), b;

		for (int k = 0; k < 4; k++) {
			vmmu_vcpu_set_reg(g.vcpu[0], VMMU_REG_SMM, 1);
			touch(g.vcpu[0]);
			vmmu_vcpu_set_reg(g.vcpu[0], VMMU_REG_SMM, 0);
			touch(g.vcpu[0]);
			if (k == 0)
				a = stats(&g);   /* the SMM tree exists from here */
		}
		b = stats(&g);
		assert_int_equal(b.exits_smi - a.exits_smi, 3);
		assert_int_equal(b.context_resets - a.context_resets, 6);
		assert_int_equal(b.root_loads - a.root_loads, 6);
		assert_int_equal(b.roots_allocated - a.roots_allocated, 0);
		assert_int_equal(b.roots_freed, 0);
		assert_int_equal(b.pt_pages_allocated - a.pt_pages_allocated, 0);
		assert_int_equal(b.pf_fixed - a.pf_fixed, 0);
		guest_destroy(&g);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wp_in_tdp_role),
		cmocka_unit_test(test_cr0_wp_exits),
		cmocka_unit_test(test_wp_change_keeps_roots),
		cmocka_unit_test(test_tdp_mmu_holds_root_ref),
		cmocka_unit_test(test_sync_root_teardown),
		cmocka_unit_test(test_smm_round_trip),
		cmocka_unit_test(test_legacy_wp_toggle),
		cmocka_unit_test(test_legacy_smm_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
