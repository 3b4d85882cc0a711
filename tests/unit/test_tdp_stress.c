/* SPDX-License-Identifier: MIT */
/*
 * Concurrency: vCPU threads write and read back their own guest pages
 * through the TDP MMU (faults, fast paths, TLB fills) while the host thread
 * zaps random ranges, adds and deletes an unrelated memslot (new memslot
 * generations, MMIO SPTEs going stale) and reclaims page tables.  Every
 * read must return what its thread wrote last; nothing may crash, hang or
 * race (this test runs under ThreadSanitizer too).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <cmocka.h>

#include "vmmu.h"

#define NR_VCPUS     3
#define MEM_SIZE     (8ull << 20)      /* guest RAM at GPA 0, mapped 1:1 */
#define REGION_PAGES 256               /* each vCPU's pages */
#define REGION_BASE  (2ull << 20)
#define BATCH        64                /* accesses per guest-mode bracket */
#define ROUNDS       300               /* brackets per vCPU */

struct stress {
	struct vmmu_vm *vm;
	uint8_t *ram;
	struct vmmu_vcpu *vcpu[NR_VCPUS];
	int done;
	int failures;
};

struct worker {
	struct stress *s;
	unsigned int id;
	uint64_t rng;
	uint64_t last[REGION_PAGES];       /* what this vCPU wrote last */
};

static uint64_t next_rng(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* 4-level tables at 0x1000..: GVA = GPA for the first 8 MiB, 4K pages. */
static void build_tables(uint8_t *ram)
{
	uint64_t *pml4 = (uint64_t *)(ram + 0x1000), *pdpt = (uint64_t *)(ram + 0x2000);
	uint64_t *pd = (uint64_t *)(ram + 0x3000);

	pml4[0] = 0x2003;
	pdpt[0] = 0x3003;
	for (unsigned int i = 0; i < MEM_SIZE >> 21; i++) {
		uint64_t pt_gpa = 0x10000 + i * 0x1000;
		uint64_t *pt = (uint64_t *)(ram + pt_gpa);

		pd[i] = pt_gpa | 3;
		for (unsigned int j = 0; j < 512; j++)
			pt[j] = ((uint64_t)i << 21 | (uint64_t)j << 12) | 3;
	}
}

static void *vcpu_thread(void *arg)
{
	struct worker *w = arg;
	struct vmmu_vcpu *v = w->s->vcpu[w->id];
	uint64_t base = REGION_BASE + (uint64_t)w->id * REGION_PAGES * 4096;

	for (unsigned int round = 0; round < ROUNDS; round++) {
		vmmu_vcpu_enter(v);
		for (unsigned int k = 0; k < BATCH; k++) {
			unsigned int page = next_rng(&w->rng) % REGION_PAGES;
			uint64_t gva = base + page * 4096ull + 8 * (next_rng(&w->rng) % 512);
			struct vmmu_result res;
			uint64_t value = 0;

			if (next_rng(&w->rng) % 2) {
				value = next_rng(&w->rng);
				vmmu_vcpu_write(v, gva & ~0xfffull, &value, 8, VMMU_ACCESS_WRITE, &res);
				if (res.outcome != VMMU_OK)
					__atomic_add_fetch(&w->s->failures, 1, __ATOMIC_RELAXED);
				w->last[page] = value;
			} else {
				vmmu_vcpu_read(v, gva & ~0xfffull, &value, 8, VMMU_ACCESS_READ, &res);
				if (res.outcome != VMMU_OK || value != w->last[page])
					__atomic_add_fetch(&w->s->failures, 1, __ATOMIC_RELAXED);
			}
		}
		vmmu_vcpu_exit(v);
	}
	__atomic_add_fetch(&w->s->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void run(const struct vmmu_vm_config *cfg)
{
	struct stress s = { 0 };
	struct worker w[NR_VCPUS];
	pthread_t t[NR_VCPUS];
	uint8_t *extra = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint64_t rng = 99;

	s.ram = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(s.ram != MAP_FAILED && extra != MAP_FAILED);
	build_tables(s.ram);
	assert_int_equal(vmmu_vm_create(cfg, &s.vm), 0);
	assert_int_equal(vmmu_memslot_add(s.vm, &(struct vmmu_memslot){
		.id = 0, .gpa = 0, .size = MEM_SIZE, .hva = s.ram }), 0);
	for (unsigned int i = 0; i < NR_VCPUS; i++) {
		assert_int_equal(vmmu_vcpu_create(s.vm, i, &s.vcpu[i]), 0);
		vmmu_vcpu_set_reg(s.vcpu[i], VMMU_REG_EFER, 0x900);
		vmmu_vcpu_set_reg(s.vcpu[i], VMMU_REG_CR4, 0x20);
		vmmu_vcpu_set_reg(s.vcpu[i], VMMU_REG_CR3, 0x1000);
		vmmu_vcpu_set_reg(s.vcpu[i], VMMU_REG_CR0, 0x80010011);
		memset(&w[i], 0, sizeof(w[i]));
		w[i] = (struct worker){ .s = &s, .id = i, .rng = i + 1 };
		assert_int_equal(pthread_create(&t[i], NULL, vcpu_thread, &w[i]), 0);
	}
	/* The host side, until every vCPU is done. */
	do {
		uint64_t r = next_rng(&rng);

		switch (r % 5) {
		case 4:
			/* Every root obsolete: vCPUs load new ones mid-run. */
			assert_int_equal(vmmu_vm_zap_all(s.vm), 0);
			break;
		case 0:
			assert_int_equal(vmmu_vm_zap(s.vm, (r >> 8) % (MEM_SIZE >> 12) << 12,
						     (1 + (r >> 40) % 64) << 12), 0);
			break;
		case 1:
			assert_int_equal(vmmu_memslot_add(s.vm, &(struct vmmu_memslot){
				.id = 1, .gpa = 64ull << 20, .size = 1 << 20, .hva = extra }), 0);
			assert_int_equal(vmmu_memslot_delete(s.vm, 0, 1), 0);
			break;
		case 2:
			assert_int_equal(vmmu_vm_poll(s.vm), 0);
			break;
		default:
			assert_int_equal(vmmu_vm_zap(s.vm, 0, MEM_SIZE), 0);
			break;
		}
	} while (__atomic_load_n(&s.done, __ATOMIC_ACQUIRE) < NR_VCPUS);
	for (unsigned int i = 0; i < NR_VCPUS; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(s.failures, 0);

	struct vmmu_stats st = { .size = sizeof(st) };

	assert_int_equal(vmmu_vm_get_stats(s.vm, &st), 0);
	/* The host's zaps made the vCPUs fault again and again. */
	assert_true(st.pf_fixed > REGION_PAGES);
	for (unsigned int i = 0; i < NR_VCPUS; i++)
		vmmu_vcpu_destroy(s.vcpu[i]);
	vmmu_vm_destroy(s.vm);
	munmap(s.ram, MEM_SIZE);
	munmap(extra, 1 << 20);
}

static void test_ept(void **state)
{
	(void)state;
	run(&(struct vmmu_vm_config){ .size = sizeof(struct vmmu_vm_config), .mmu = VMMU_MMU_TDP,
				      .tdp_format = VMMU_TDP_EPT });
}

static void test_ept_noad(void **state)
{
	(void)state;
	run(&(struct vmmu_vm_config){ .size = sizeof(struct vmmu_vm_config), .mmu = VMMU_MMU_TDP,
				      .tdp_format = VMMU_TDP_EPT, .tdp_ad_disabled = 1 });
}

static void test_npt(void **state)
{
	(void)state;
	run(&(struct vmmu_vm_config){ .size = sizeof(struct vmmu_vm_config), .mmu = VMMU_MMU_TDP,
				      .tdp_format = VMMU_TDP_NPT });
}

/* The legacy MMU: everything under its one lock, but the hardware walk,
 * A/D and the fast fault still race with it. */
static void test_legacy_ept(void **state)
{
	(void)state;
	run(&(struct vmmu_vm_config){ .size = sizeof(struct vmmu_vm_config),
				      .mmu = VMMU_MMU_TDP_LEGACY, .tdp_format = VMMU_TDP_EPT });
}

/* ... with its smallest cap, so faults reclaim pages other vCPUs walk. */
static void test_legacy_npt_small_cap(void **state)
{
	(void)state;
	run(&(struct vmmu_vm_config){ .size = sizeof(struct vmmu_vm_config),
				      .mmu = VMMU_MMU_TDP_LEGACY, .tdp_format = VMMU_TDP_NPT,
				      .pt_mem_limit = 16384 });
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ept),
		cmocka_unit_test(test_ept_noad),
		cmocka_unit_test(test_npt),
		cmocka_unit_test(test_legacy_ept),
		cmocka_unit_test(test_legacy_npt_small_cap),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
