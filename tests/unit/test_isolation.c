/* SPDX-License-Identifier: MIT */
/*
 * Isolation, under every MMU mode: hostile guest page tables (entries
 * pointing anywhere: outside every memslot, at themselves, at SMRAM, at the
 * ROM) never make the library touch host memory outside a memslot, never
 * write a read-only memslot, and never show SMRAM outside SMM.
 *
 * The host enforces it: every memslot's host memory sits between PROT_NONE
 * guard pages, and the ROM's host memory is mapped read-only, so a stray
 * access kills the test.  The same random accesses run in lockstep on one VM
 * per mode, whose results and guest memory must also agree.
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

#define RAM_GPA    0x0ull
#define RAM_SIZE   (256ull << 10)      /* tables and data */
#define ROM_GPA    0x100000ull
#define ROM_SIZE   (64ull << 10)
#define SMRAM_GPA  0x200000ull         /* only in SMM: no normal RAM there */
#define SMRAM_SIZE (64ull << 10)
#define GUARD      (64ull << 10)
#define NR_MODES   4
#define STEPS      20000

struct region {
	uint8_t *map;                  /* guard | memory | guard */
	uint8_t *mem;
	size_t size;
};

struct machine {
	struct vmmu_vm *vm;
	struct vmmu_vcpu *vcpu;
	struct region ram, rom, smram;
};

static const struct vmmu_vm_config mode_cfg[NR_MODES] = {
	{ .size = sizeof(struct vmmu_vm_config), .mmu = VMMU_MMU_DIRECT },
	{ .size = sizeof(struct vmmu_vm_config), .mmu = VMMU_MMU_TDP, .tdp_format = VMMU_TDP_EPT },
	{ .size = sizeof(struct vmmu_vm_config), .mmu = VMMU_MMU_TDP, .tdp_format = VMMU_TDP_EPT,
	  .tdp_ad_disabled = 1 },
	{ .size = sizeof(struct vmmu_vm_config), .mmu = VMMU_MMU_TDP, .tdp_format = VMMU_TDP_NPT },
};

static uint64_t rng_state;

static uint64_t rng(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void region_map(struct region *r, size_t size)
{
	r->size = size;
	r->map = mmap(NULL, size + 2 * GUARD, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(r->map != MAP_FAILED);
	r->mem = r->map + GUARD;
	assert_int_equal(mprotect(r->mem, size, PROT_READ | PROT_WRITE), 0);
}

static void region_unmap(struct region *r)
{
	munmap(r->map, r->size + 2 * GUARD);
}

/* A random entry: mostly well-formed pointers into RAM, some hostile. */
static uint64_t random_entry(void)
{
	uint64_t flags, target;

	if (rng() % 4 == 0)
		flags = rng() & 0x8000000000000fffull;       /* any flags at all */
	else
		flags = 0x7 | (rng() & 0x160) | (rng() % 8 ? 0 : 0x80);  /* P|RW|US, A/D/G, PS now and then */

	switch (rng() % 8) {
	case 0: target = rng() & 0x000ffffffffff000ull; break;       /* anywhere */
	case 1: target = ROM_GPA + (rng() % ROM_SIZE); break;
	case 2: target = SMRAM_GPA + (rng() % SMRAM_SIZE); break;
	case 3: target = 0x300000ull + (rng() % 0x100000); break;     /* no RAM */
	default: target = RAM_GPA + (rng() % RAM_SIZE); break;
	}
	if (rng() % 4)
		flags |= 1;                                           /* mostly present */
	return (target & ~0xfffull) | flags;
}

static void fill_tables(uint8_t *mem, size_t size)
{
	for (size_t off = 0; off < size; off += 8) {
		uint64_t e = random_entry();

		memcpy(mem + off, &e, 8);
	}
}

static void machine_create(struct machine *m, int mode, const uint8_t *ram_image,
			   const uint8_t *rom_image, const uint8_t *smram_image)
{
	assert_int_equal(vmmu_vm_create(&mode_cfg[mode], &m->vm), 0);
	assert_int_equal(vmmu_vcpu_create(m->vm, 0, &m->vcpu), 0);
	region_map(&m->ram, RAM_SIZE);
	region_map(&m->rom, ROM_SIZE);
	region_map(&m->smram, SMRAM_SIZE);
	memcpy(m->ram.mem, ram_image, RAM_SIZE);
	memcpy(m->rom.mem, rom_image, ROM_SIZE);
	memcpy(m->smram.mem, smram_image, SMRAM_SIZE);
	/* The host itself cannot write the ROM: neither can the library. */
	assert_int_equal(mprotect(m->rom.mem, ROM_SIZE, PROT_READ), 0);

	struct vmmu_memslot slots[] = {
		{ .id = 0, .as_id = VMMU_AS_NORMAL, .gpa = RAM_GPA, .size = RAM_SIZE, .hva = m->ram.mem },
		{ .id = 1, .as_id = VMMU_AS_NORMAL, .gpa = ROM_GPA, .size = ROM_SIZE, .hva = m->rom.mem,
		  .flags = VMMU_MEMSLOT_READONLY },
		/* Address space 1: SMRAM plus aliases of normal memory. */
		{ .id = 2, .as_id = VMMU_AS_SMM, .gpa = SMRAM_GPA, .size = SMRAM_SIZE, .hva = m->smram.mem },
		{ .id = 3, .as_id = VMMU_AS_SMM, .gpa = RAM_GPA, .size = RAM_SIZE, .hva = m->ram.mem },
		{ .id = 4, .as_id = VMMU_AS_SMM, .gpa = ROM_GPA, .size = ROM_SIZE, .hva = m->rom.mem,
		  .flags = VMMU_MEMSLOT_READONLY },
	};
	for (size_t i = 0; i < sizeof(slots) / sizeof(slots[0]); i++)
		assert_int_equal(vmmu_memslot_add(m->vm, &slots[i]), 0);
}

static void machine_destroy(struct machine *m)
{
	vmmu_vcpu_destroy(m->vcpu);
	vmmu_vm_destroy(m->vm);
	region_unmap(&m->ram);
	region_unmap(&m->rom);
	region_unmap(&m->smram);
}

/* A random paging setup: every mode of paging, CR3 anywhere in RAM. */
static void random_registers(struct machine *ms, uint64_t *cr0, uint64_t *cr3, uint64_t *cr4,
			     uint64_t *efer)
{
	static const uint64_t setups[][3] = {  /* cr0, cr4, efer */
		{ 0x80010011, 0x000010, 0x000 },      /* 32-bit, PSE */
		{ 0x80010011, 0x300000, 0x000 },      /* 32-bit, SMEP SMAP */
		{ 0x80010011, 0x000020, 0x800 },      /* PAE, NXE */
		{ 0x80010011, 0x700020, 0xd00 },      /* 4-level, SMEP SMAP PKE */
		{ 0x80000011, 0x001020, 0x900 },      /* 5-level */
		{ 0x00000011, 0x000000, 0x000 },      /* paging off */
	};
	unsigned int k = rng() % (sizeof(setups) / sizeof(setups[0]));

	(void)ms;
	*cr0 = setups[k][0];
	*cr4 = setups[k][1];
	*efer = setups[k][2];
	*cr3 = (rng() % RAM_SIZE) & ~0xfffull;
}

static void boot(struct machine *m, uint64_t cr0, uint64_t cr3, uint64_t cr4, uint64_t efer,
		 int *gp)
{
	struct vmmu_vcpu *v = m->vcpu;

	/* Back to paging off, then the new mode in a legal order. */
	vmmu_vcpu_set_reg(v, VMMU_REG_CR0, 0x11);
	vmmu_vcpu_set_reg(v, VMMU_REG_CR4, 0);
	vmmu_vcpu_set_reg(v, VMMU_REG_EFER, efer);
	*gp = vmmu_vcpu_set_reg(v, VMMU_REG_CR4, cr4) | vmmu_vcpu_set_reg(v, VMMU_REG_CR3, cr3) |
	      vmmu_vcpu_set_reg(v, VMMU_REG_CR0, cr0);
	vmmu_vcpu_flush(v);
}

static void test_hostile_tables(void **state)
{
	static uint8_t ram[RAM_SIZE], rom[ROM_SIZE], smram[SMRAM_SIZE];
	struct machine m[NR_MODES];
	unsigned int seen[4] = { 0 };        /* outcomes, for coverage */

	(void)state;
	rng_state = 12345;
	fill_tables(ram, RAM_SIZE);
	fill_tables(rom, ROM_SIZE);
	fill_tables(smram, SMRAM_SIZE);
	for (int k = 0; k < NR_MODES; k++)
		machine_create(&m[k], k, ram, rom, smram);

	for (unsigned int step = 0; step < STEPS; step++) {
		uint64_t r = rng(), cr0, cr3, cr4, efer;
		struct vmmu_result res[NR_MODES];
		uint64_t gva = rng() % 8 ? rng() & 0x3fffffff : rng();
		uint32_t size = 1u << (rng() % 4), kind = rng() % 3;
		uint8_t buf[NR_MODES][8];
		int gp[NR_MODES];

		if (r % 64 == 0) {
			random_registers(&m[0], &cr0, &cr3, &cr4, &efer);
			for (int k = 0; k < NR_MODES; k++)
				boot(&m[k], cr0, cr3, cr4, efer, &gp[k]);
			for (int k = 1; k < NR_MODES; k++)
				assert_int_equal(gp[k], gp[0]);
		}
		if (r % 97 == 1) {            /* in or out of SMM */
			uint64_t smm = rng() % 2;

			for (int k = 0; k < NR_MODES; k++) {
				vmmu_vcpu_set_reg(m[k].vcpu, VMMU_REG_SMM, smm);
				vmmu_vcpu_set_reg(m[k].vcpu, VMMU_REG_CPL, rng_state & 1 ? 3 : 0);
			}
		}
		for (int k = 0; k < NR_MODES; k++) {
			memset(buf[k], 0x5a, sizeof(buf[k]));
			if (kind == VMMU_ACCESS_WRITE)
				assert_int_equal(vmmu_vcpu_write(m[k].vcpu, gva, buf[k], size,
								 VMMU_ACCESS_WRITE, &res[k]), 0);
			else
				assert_int_equal(vmmu_vcpu_read(m[k].vcpu, gva, buf[k], kind ? 1 : size,
								kind, &res[k]), 0);
		}
		for (int k = 1; k < NR_MODES; k++) {
			assert_int_equal(res[k].outcome, res[0].outcome);
			assert_int_equal(res[k].error_code, res[0].error_code);
			if (res[0].outcome == VMMU_OK || res[0].outcome == VMMU_MMIO)
				assert_int_equal(res[k].gpa, res[0].gpa);
			assert_memory_equal(buf[k], buf[0], sizeof(buf[0]));
		}
		seen[res[0].outcome]++;
		/* An access that hits SMRAM's GPAs outside SMM finds no RAM. */
		if (res[0].outcome == VMMU_OK && res[0].gpa - SMRAM_GPA < SMRAM_SIZE) {
			uint64_t smm;

			vmmu_vcpu_get_reg(m[0].vcpu, VMMU_REG_SMM, &smm);
			assert_true(smm);
		}
		/* Guest stores may have changed page tables: drop cached
		 * translations, as the trace format's caching rule asks. */
		if (kind == VMMU_ACCESS_WRITE)
			for (int k = 0; k < NR_MODES; k++)
				vmmu_vcpu_flush(m[k].vcpu);
	}
	print_message("outcomes: ok %u, mmio %u, pf %u, gp %u\n", seen[VMMU_OK], seen[VMMU_MMIO],
		      seen[VMMU_PF], seen[VMMU_GP]);
	/* Every outcome, many times: the tables are hostile, not hopeless. */
	for (int o = 0; o < 4; o++)
		assert_true(seen[o] >= 100);
	for (int k = 1; k < NR_MODES; k++) {
		assert_memory_equal(m[k].ram.mem, m[0].ram.mem, RAM_SIZE);
		assert_memory_equal(m[k].smram.mem, m[0].smram.mem, SMRAM_SIZE);
	}
	for (int k = 0; k < NR_MODES; k++) {
		assert_memory_equal(m[k].rom.mem, rom, ROM_SIZE);   /* never written */
		machine_destroy(&m[k]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hostile_tables),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
