/* SPDX-License-Identifier: MIT */
/*
 * Moving a memslot and changing its flags (vmmu_memslot_update), under every
 * MMU mode: the old range stops mapping at once, through every cache (TLB
 * entries, SPTEs), the new one maps the same host memory, a read-only slot
 * refuses writes, and misuse gets its errno.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <cmocka.h>

#include "vmmu.h"

#define TABLES_GPA 0x0ull            /* slot 0: page tables */
#define DATA_GPA   0x100000ull       /* slot 1, before the move */
#define MOVED_GPA  0x200000ull       /* slot 1, after it */
#define SLOT_SIZE  (64ull << 10)

static const struct vmmu_vm_config modes[] = {
	{ .size = sizeof(struct vmmu_vm_config), .mmu = VMMU_MMU_DIRECT },
	{ .size = sizeof(struct vmmu_vm_config), .mmu = VMMU_MMU_TDP, .tdp_format = VMMU_TDP_EPT },
	{ .size = sizeof(struct vmmu_vm_config), .mmu = VMMU_MMU_TDP, .tdp_format = VMMU_TDP_EPT,
	  .tdp_ad_disabled = 1 },
	{ .size = sizeof(struct vmmu_vm_config), .mmu = VMMU_MMU_TDP, .tdp_format = VMMU_TDP_NPT },
};

static uint64_t *entry(uint8_t *tables, uint64_t gpa)
{
	return (uint64_t *)(tables + gpa);
}

static void check_mode(const struct vmmu_vm_config *cfg)
{
	uint8_t *tables = mmap(NULL, SLOT_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint8_t *data = mmap(NULL, SLOT_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct vmmu_memslot t = { .id = 0, .gpa = TABLES_GPA, .size = SLOT_SIZE, .hva = tables };
	struct vmmu_memslot d = { .id = 1, .gpa = DATA_GPA, .size = SLOT_SIZE, .hva = data };
	struct vmmu_result res;
	struct vmmu_vm *vm;
	struct vmmu_vcpu *v;
	uint64_t value = 0, one = 1;

	assert_true(tables != MAP_FAILED && data != MAP_FAILED);
	memcpy(data + 0x10, "\x2a\0\0\0\0\0\0\0", 8);
	/* 4-level: GVA 0x5000 -> GPA DATA_GPA (and its page 1 -> MOVED_GPA). */
	*entry(tables, 0x1000) = 0x2003;
	*entry(tables, 0x2000) = 0x3003;
	*entry(tables, 0x3000) = 0x4003;
	*entry(tables, 0x4000 + 5 * 8) = DATA_GPA | 0x3;
	*entry(tables, 0x4000 + 6 * 8) = MOVED_GPA | 0x3;
	assert_int_equal(vmmu_vm_create(cfg, &vm), 0);
	assert_int_equal(vmmu_vcpu_create(vm, 0, &v), 0);
	assert_int_equal(vmmu_memslot_add(vm, &t), 0);
	assert_int_equal(vmmu_memslot_add(vm, &d), 0);
	vmmu_vcpu_set_reg(v, VMMU_REG_EFER, 0x900);
	vmmu_vcpu_set_reg(v, VMMU_REG_CR4, 0x20);
	vmmu_vcpu_set_reg(v, VMMU_REG_CR3, 0x1000);
	vmmu_vcpu_set_reg(v, VMMU_REG_CR0, 0x80010011);

	/* Warm every cache: TLB entry, SPTEs. */
	assert_int_equal(vmmu_vcpu_read(v, 0x5010, &value, 8, VMMU_ACCESS_READ, &res), 0);
	assert_int_equal(res.outcome, VMMU_OK);
	assert_int_equal(value, 42);
	assert_int_equal(vmmu_vcpu_read(v, 0x5010, &value, 8, VMMU_ACCESS_READ, &res), 0);

	/* Move: the old GPA has no RAM any more, at once; the new one is the
	 * same host memory. */
	d.gpa = MOVED_GPA;
	assert_int_equal(vmmu_memslot_update(vm, &d), 0);
	assert_int_equal(vmmu_vcpu_read(v, 0x5010, &value, 8, VMMU_ACCESS_READ, &res), 0);
	assert_int_equal(res.outcome, VMMU_MMIO);
	assert_int_equal(res.gpa, DATA_GPA + 0x10);
	value = 0;
	assert_int_equal(vmmu_vcpu_read(v, 0x6010, &value, 8, VMMU_ACCESS_READ, &res), 0);
	assert_int_equal(res.outcome, VMMU_OK);
	assert_int_equal(value, 42);

	/* Read-only: writes become MMIO and store nothing; reads work. */
	assert_int_equal(vmmu_vcpu_write(v, 0x6010, &one, 8, VMMU_ACCESS_WRITE, &res), 0);
	assert_int_equal(res.outcome, VMMU_OK);
	d.flags = VMMU_MEMSLOT_READONLY;
	assert_int_equal(vmmu_memslot_update(vm, &d), 0);
	value = 7;
	assert_int_equal(vmmu_vcpu_write(v, 0x6010, &value, 8, VMMU_ACCESS_WRITE, &res), 0);
	assert_int_equal(res.outcome, VMMU_MMIO);
	assert_memory_equal(data + 0x10, &one, 8);
	assert_int_equal(vmmu_vcpu_read(v, 0x6010, &value, 8, VMMU_ACCESS_READ, &res), 0);
	assert_int_equal(res.outcome, VMMU_OK);
	assert_int_equal(value, 1);
	/* And writable again. */
	d.flags = 0;
	assert_int_equal(vmmu_memslot_update(vm, &d), 0);
	value = 9;
	assert_int_equal(vmmu_vcpu_write(v, 0x6010, &value, 8, VMMU_ACCESS_WRITE, &res), 0);
	assert_int_equal(res.outcome, VMMU_OK);
	assert_int_equal(data[0x10], 9);

	/* Misuse. */
	struct vmmu_memslot bad = d;

	bad.id = 7;
	assert_int_equal(vmmu_memslot_update(vm, &bad), -ENOENT);
	bad = d;
	bad.size = SLOT_SIZE / 2;
	assert_int_equal(vmmu_memslot_update(vm, &bad), -EINVAL);
	bad = d;
	bad.hva = tables;
	assert_int_equal(vmmu_memslot_update(vm, &bad), -EINVAL);
	bad = d;
	bad.gpa = TABLES_GPA + 0x1000;         /* overlaps slot 0 */
	assert_int_equal(vmmu_memslot_update(vm, &bad), -EEXIST);
	bad = d;
	bad.gpa = MOVED_GPA + 0x800;
	assert_int_equal(vmmu_memslot_update(vm, &bad), -EINVAL);
	bad = d;
	bad.flags = 0x80;
	assert_int_equal(vmmu_memslot_update(vm, &bad), -EINVAL);
	/* Nothing changed. */
	assert_int_equal(vmmu_vcpu_read(v, 0x6010, &value, 8, VMMU_ACCESS_READ, &res), 0);
	assert_int_equal(res.outcome, VMMU_OK);
	assert_int_equal(value, 9);

	vmmu_vcpu_destroy(v);
	vmmu_vm_destroy(vm);
	munmap(tables, SLOT_SIZE);
	munmap(data, SLOT_SIZE);
}

static void test_every_mode(void **state)
{
	(void)state;
	for (size_t m = 0; m < sizeof(modes) / sizeof(modes[0]); m++)
		check_mode(&modes[m]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_mode),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
