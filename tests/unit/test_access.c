/* SPDX-License-Identifier: MIT */
/*
 * The access API: accesses of 1..64 bytes, two-page accesses (GPAs, lengths,
 * data both ways, fault order), misuse (-EINVAL), the side-effect-free probe,
 * canonical and 32-bit limits (#GP), MMIO outcomes, guest-physical accesses,
 * the guest-mode bracket and the statistics.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <cmocka.h>

#include "vmmu.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/*
 * Guest memory:
 *   RAM        0x000000..0x3fffff  slot 0 (page tables at 0x1000..0x6fff)
 *   ROM        0x800000..0x80ffff  slot 1, read-only
 *   (no RAM)   0x1000000
 * 4-level tables: PML4 0x1000 -> PDPT 0x2000 -> PD 0x3000 -> PT 0x4000
 * (all P|W|U), so GVA page N (N < 512) is PT[N].  PML5 at 0x5000 -> 0x1000;
 * a PAE PDPT at 0x6000 -> PD 0x3000.
 * Data pages N in 0x10..0x1ff map to GPA data_gpa(N), in reverse order: the
 * upper page of a two-page access lies below the lower one in GPA, so the
 * two halves are never one contiguous GPA range.  Exceptions:
 */
#define RAM_SIZE     0x400000ull
#define ROM_GPA      0x800000ull
#define ROM_SIZE     0x10000ull
#define NO_RAM_GPA   0x1000000ull

#define PML4_GPA     0x1000ull
#define PT_GPA       0x4000ull
#define PML5_GPA     0x5000ull
#define PAE_PDPT_GPA 0x6000ull

#define PG_NP1       0x20   /* not present */
#define PG_NP2       0x24   /* not present */
#define PG_NP3       0x25   /* not present */
#define PG_RO        0x30   /* present, read-only */
#define PG_MMIO      0x40   /* maps NO_RAM_GPA */
#define PG_ROM       0x50   /* maps ROM_GPA (read-only slot) */
#define PG_SUPER     0x60   /* supervisor-only */

#define PTE_P  0x1ull
#define PTE_W  0x2ull
#define PTE_U  0x4ull
#define PTE_A  0x20ull
#define PTE_D  0x40ull

#define CR0_LONG  0x80010011ull     /* PG | WP | ET | PE */
#define CR4_PAE   0x20ull
#define CR4_LA57  0x1000ull
#define CR4_SMAP  (1ull << 21)
#define EFER_LONG 0x900ull          /* LME | NXE */
#define RFLAGS_AC (1ull << 18)

struct fixture {
	struct vmmu_vm *vm;
	struct vmmu_vcpu *v;
	uint8_t *ram, *rom;
};

static uint64_t gva_of(unsigned int page)
{
	return (uint64_t)page << 12;
}

static uint64_t data_gpa(unsigned int page)
{
	return 0x200000ull + (0x1ffull - page) * 0x1000;
}

/* The GPA GVA page @page maps to (for the pages that have one). */
static uint64_t page_gpa(unsigned int page)
{
	if (page == PG_MMIO)
		return NO_RAM_GPA;
	if (page == PG_ROM)
		return ROM_GPA;
	return data_gpa(page);
}

static uint64_t *pte(struct fixture *f, uint64_t gpa)
{
	return (uint64_t *)(f->ram + gpa);
}

static void *host_of(struct fixture *f, uint64_t gpa)
{
	if (gpa < RAM_SIZE)
		return f->ram + gpa;
	if (gpa >= ROM_GPA && gpa < ROM_GPA + ROM_SIZE)
		return f->rom + (gpa - ROM_GPA);
	return NULL;
}

static void set_reg(struct vmmu_vcpu *v, enum vmmu_reg r, uint64_t value)
{
	assert_int_equal(vmmu_vcpu_set_reg(v, r, value), 0);
}

static void build_tables(struct fixture *f)
{
	*pte(f, 0x1000) = 0x2000 | PTE_P | PTE_W | PTE_U;
	*pte(f, 0x2000) = 0x3000 | PTE_P | PTE_W | PTE_U;
	*pte(f, 0x3000) = 0x4000 | PTE_P | PTE_W | PTE_U;
	*pte(f, PML5_GPA) = PML4_GPA | PTE_P | PTE_W | PTE_U;
	*pte(f, PAE_PDPT_GPA) = 0x3000 | PTE_P;
	for (unsigned int n = 0x10; n < 0x200; n++)
		*pte(f, PT_GPA + 8 * n) = data_gpa(n) | PTE_P | PTE_W | PTE_U;
	*pte(f, PT_GPA + 8 * PG_NP1) = 0;
	*pte(f, PT_GPA + 8 * PG_NP2) = 0;
	*pte(f, PT_GPA + 8 * PG_NP3) = data_gpa(PG_NP3);        /* P=0, address left */
	*pte(f, PT_GPA + 8 * PG_RO) = data_gpa(PG_RO) | PTE_P | PTE_U;
	*pte(f, PT_GPA + 8 * PG_MMIO) = NO_RAM_GPA | PTE_P | PTE_W | PTE_U;
	*pte(f, PT_GPA + 8 * PG_ROM) = ROM_GPA | PTE_P | PTE_W | PTE_U;
	*pte(f, PT_GPA + 8 * PG_SUPER) = data_gpa(PG_SUPER) | PTE_P | PTE_W;
}

static void enter_long_mode(struct vmmu_vcpu *v, bool la57)
{
	set_reg(v, VMMU_REG_EFER, EFER_LONG);
	set_reg(v, VMMU_REG_CR4, CR4_PAE | (la57 ? CR4_LA57 : 0));
	set_reg(v, VMMU_REG_CR3, la57 ? PML5_GPA : PML4_GPA);
	set_reg(v, VMMU_REG_CR0, CR0_LONG);
}

static int setup(void **state)
{
	struct vmmu_vm_config cfg = { .size = sizeof(cfg), .mmu = VMMU_MMU_DIRECT };
	struct fixture *f = calloc(1, sizeof(*f));
	struct vmmu_memslot ram, rom;

	if (!f)
		return -1;
	f->ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	f->rom = mmap(NULL, ROM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (f->ram == MAP_FAILED || f->rom == MAP_FAILED)
		return -1;
	for (uint64_t i = 0; i < ROM_SIZE; i++)
		f->rom[i] = (uint8_t)(i * 7 + 3);
	build_tables(f);
	if (vmmu_vm_create(&cfg, &f->vm) || vmmu_vcpu_create(f->vm, 0, &f->v))
		return -1;
	ram = (struct vmmu_memslot){ .id = 0, .gpa = 0, .size = RAM_SIZE, .hva = f->ram };
	rom = (struct vmmu_memslot){ .id = 1, .gpa = ROM_GPA, .size = ROM_SIZE, .hva = f->rom,
				     .flags = VMMU_MEMSLOT_READONLY };
	if (vmmu_memslot_add(f->vm, &ram) || vmmu_memslot_add(f->vm, &rom))
		return -1;
	enter_long_mode(f->v, false);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	vmmu_vcpu_destroy(f->v);
	vmmu_vm_destroy(f->vm);
	munmap(f->ram, RAM_SIZE);
	munmap(f->rom, ROM_SIZE);
	free(f);
	return 0;
}

static struct vmmu_vcpu *second_vcpu(struct fixture *f, uint32_t id)
{
	struct vmmu_vcpu *v = NULL;

	assert_int_equal(vmmu_vcpu_create(f->vm, id, &v), 0);
	return v;
}

static void fill_pattern(uint8_t *buf, size_t len, unsigned int seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(seed * 31 + i * 13 + 1);
}

static struct vmmu_stats get_stats(struct vmmu_vm *vm)
{
	struct vmmu_stats st = { .size = sizeof(st) };

	assert_int_equal(vmmu_vm_get_stats(vm, &st), 0);
	return st;
}

static void expect_same_result(const struct vmmu_result *a, const struct vmmu_result *b,
			       const char *what)
{
	if (a->outcome != b->outcome || a->error_code != b->error_code ||
	    a->fault_gva != b->fault_gva || a->gpa != b->gpa || a->hva != b->hva ||
	    a->len != b->len || a->len2 != b->len2 ||
	    (a->len2 && (a->gpa2 != b->gpa2 || a->hva2 != b->hva2)))
		fail_msg("%s: results differ: outcome %u/%u err %#x/%#x fault %#llx/%#llx "
			 "gpa %#llx/%#llx len %u/%u len2 %u/%u", what, a->outcome, b->outcome,
			 a->error_code, b->error_code, (unsigned long long)a->fault_gva,
			 (unsigned long long)b->fault_gva, (unsigned long long)a->gpa,
			 (unsigned long long)b->gpa, a->len, b->len, a->len2, b->len2);
}

/* ---- 1..64 bytes, one or two pages ---- */

static void test_sizes_and_crossing(void **state)
{
	struct fixture *f = *state;
	const unsigned int page = 0x10;
	uint32_t offsets[] = { 0, 1, 7, 8, 0x7ff, 0xfc0, 0xfc1, 0xff8, 0xffc, 0xfff };

	for (uint32_t size = 1; size <= VMMU_ACCESS_MAX; size++) {
		for (unsigned int o = 0; o < ARRAY_SIZE(offsets); o++) {
			uint32_t off = offsets[o];
			uint64_t gva = gva_of(page) + off;
			uint32_t len = size < 0x1000 - off ? size : 0x1000 - off;
			uint64_t gpa = data_gpa(page) + off, gpa2 = data_gpa(page + 1);
			uint8_t in[VMMU_ACCESS_MAX], out[VMMU_ACCESS_MAX + 1];
			struct vmmu_result res;

			/* Both pages to a known fill, then the write. */
			memset(host_of(f, data_gpa(page)), 0xee, 0x1000);
			memset(host_of(f, gpa2), 0xee, 0x1000);
			fill_pattern(in, size, size * 16 + o);
			assert_int_equal(vmmu_vcpu_write(f->v, gva, in, size, VMMU_ACCESS_WRITE,
							 &res), 0);
			assert_int_equal(res.outcome, VMMU_OK);
			assert_int_equal(res.gpa, gpa);
			assert_ptr_equal(res.hva, host_of(f, gpa));
			assert_int_equal(res.len, len);
			assert_int_equal(res.len2, size - len);
			if (res.len2) {
				assert_int_equal(res.gpa2, gpa2);
				assert_ptr_equal(res.hva2, host_of(f, gpa2));
			}
			/* Exactly those bytes, in those two places. */
			assert_memory_equal(host_of(f, gpa), in, len);
			assert_memory_equal(host_of(f, gpa2), in + len, size - len);
			if (off)
				assert_int_equal(*(uint8_t *)host_of(f, gpa - 1), 0xee);
			if (off + len < 0x1000)
				assert_int_equal(*(uint8_t *)host_of(f, gpa + len), 0xee);
			assert_int_equal(*(uint8_t *)host_of(f, gpa2 + size - len), 0xee);

			/* And back. */
			memset(out, 0x5c, sizeof(out));
			assert_int_equal(vmmu_vcpu_read(f->v, gva, out, size, VMMU_ACCESS_READ,
							&res), 0);
			assert_int_equal(res.outcome, VMMU_OK);
			assert_int_equal(res.len, len);
			assert_int_equal(res.len2, size - len);
			assert_memory_equal(out, in, size);
			assert_int_equal(out[size], 0x5c);
		}
	}
}

/* Data is read from both pages even when the guest writes them by other
 * means (host memory), at an access size that spans the boundary. */
static void test_crossing_read_from_host(void **state)
{
	struct fixture *f = *state;
	uint8_t want[64], got[64];
	struct vmmu_result res;

	fill_pattern(want, sizeof(want), 9);
	memcpy(host_of(f, data_gpa(0x13) + 0x1000 - 20), want, 20);
	memcpy(host_of(f, data_gpa(0x14)), want + 20, 44);
	assert_int_equal(vmmu_vcpu_read(f->v, gva_of(0x14) - 20, got, 64, VMMU_ACCESS_READ, &res),
			 0);
	assert_int_equal(res.outcome, VMMU_OK);
	assert_int_equal(res.len, 20);
	assert_int_equal(res.len2, 44);
	assert_int_equal(res.gpa, data_gpa(0x13) + 0x1000 - 20);
	assert_int_equal(res.gpa2, data_gpa(0x14));
	assert_memory_equal(got, want, 64);
	/* Fetches cross pages too. */
	assert_int_equal(vmmu_vcpu_read(f->v, gva_of(0x14) - 20, got, 64, VMMU_ACCESS_FETCH, &res),
			 0);
	assert_int_equal(res.outcome, VMMU_OK);
	assert_memory_equal(got, want, 64);
}

/* ---- fault order across a page boundary ---- */

struct cross_case {
	unsigned int lower;          /* GVA page of the first byte */
	uint32_t access;
	uint32_t cpl;
	uint32_t outcome;
	bool upper_faults;           /* fault_gva is the upper page */
	uint32_t error_code;
};

static void check_cross_case(struct fixture *f, const struct cross_case *c, unsigned int idx)
{
	uint64_t gva = gva_of(c->lower + 1) - 8;
	uint8_t buf[16], lower_before[8], upper_before[8];
	uint8_t *lower_host = host_of(f, page_gpa(c->lower) + 0xff8);
	uint8_t *upper_host = host_of(f, page_gpa(c->lower + 1));
	struct vmmu_result res;
	bool write = c->access == VMMU_ACCESS_WRITE;
	int ret;

	set_reg(f->v, VMMU_REG_CPL, c->cpl);
	if (lower_host)
		memcpy(lower_before, lower_host, 8);
	if (upper_host)
		memcpy(upper_before, upper_host, 8);
	memset(buf, 0xab, sizeof(buf));
	if (write)
		ret = vmmu_vcpu_write(f->v, gva, buf, 16, c->access, &res);
	else
		ret = vmmu_vcpu_read(f->v, gva, buf, 16, c->access, &res);
	set_reg(f->v, VMMU_REG_CPL, 0);

	if (ret || res.outcome != c->outcome)
		fail_msg("case %u: ret %d outcome %u, expected outcome %u", idx, ret, res.outcome,
			 c->outcome);
	if (c->outcome == VMMU_PF) {
		uint64_t fault = c->upper_faults ? gva_of(c->lower + 1) : gva;

		if (res.fault_gva != fault || res.error_code != c->error_code)
			fail_msg("case %u: fault at %#llx error %#x, expected %#llx error %#x", idx,
				 (unsigned long long)res.fault_gva, res.error_code,
				 (unsigned long long)fault, c->error_code);
	}
	if (c->outcome != VMMU_OK) {
		/* No data moved, either way. */
		for (unsigned int i = 0; i < sizeof(buf); i++)
			if (buf[i] != 0xab)
				fail_msg("case %u: read buffer written on a fault", idx);
		if ((lower_host && memcmp(lower_host, lower_before, 8)) ||
		    (upper_host && memcmp(upper_host, upper_before, 8)))
			fail_msg("case %u: guest memory written on a fault", idx);
	}
}

static void test_crossing_fault_order(void **state)
{
	struct fixture *f = *state;
	const uint32_t R = VMMU_ACCESS_READ, W = VMMU_ACCESS_WRITE, X = VMMU_ACCESS_FETCH;
	const struct cross_case cases[] = {
		/* Lower page not present: it faults first, at the first byte. */
		{ PG_NP1, R, 0, VMMU_PF, false, 0x0 },
		{ PG_NP1, W, 0, VMMU_PF, false, 0x2 },
		{ PG_NP1, R, 3, VMMU_PF, false, 0x4 },
		{ PG_NP1, X, 3, VMMU_PF, false, 0x14 },
		/* Both not present: still the lower one. */
		{ PG_NP2, R, 0, VMMU_PF, false, 0x0 },
		{ PG_NP2, W, 3, VMMU_PF, false, 0x6 },
		/* Upper page not present: fault at its first byte. */
		{ PG_NP1 - 1, R, 0, VMMU_PF, true, 0x0 },
		{ PG_NP1 - 1, W, 0, VMMU_PF, true, 0x2 },
		{ PG_NP1 - 1, W, 3, VMMU_PF, true, 0x6 },
		/* Read-only lower page written (CR0.WP=1): lower fault, P|W. */
		{ PG_RO, W, 0, VMMU_PF, false, 0x3 },
		{ PG_RO, R, 0, VMMU_OK, false, 0 },
		/* Read-only upper page written: upper fault, lower untouched. */
		{ PG_RO - 1, W, 0, VMMU_PF, true, 0x3 },
		{ PG_RO - 1, W, 3, VMMU_PF, true, 0x7 },
		{ PG_RO - 1, R, 3, VMMU_OK, false, 0 },
		/* Supervisor upper page at CPL 3. */
		{ PG_SUPER - 1, R, 3, VMMU_PF, true, 0x5 },
		{ PG_SUPER - 1, R, 0, VMMU_OK, false, 0 },
		/* A protection fault below, a not-present one above: the lower. */
		{ PG_SUPER, R, 3, VMMU_PF, false, 0x5 },
		/* MMIO on either side (no RAM, or a write to a read-only slot)
		 * makes the whole access MMIO. */
		{ PG_MMIO - 1, R, 0, VMMU_MMIO, false, 0 },
		{ PG_MMIO, W, 0, VMMU_MMIO, false, 0 },
		{ PG_ROM - 1, W, 0, VMMU_MMIO, false, 0 },
		{ PG_ROM, R, 0, VMMU_OK, false, 0 },
	};

	/* Page PG_SUPER + 1 is made not present for the "lower" case. */
	*pte(f, PT_GPA + 8 * (PG_SUPER + 1)) = 0;
	for (unsigned int i = 0; i < ARRAY_SIZE(cases); i++)
		check_cross_case(f, &cases[i], i);

	/* MMIO is not a fault: with a faulting upper page, the access faults.
	 * (The page was used above: the TLB must drop it, as on hardware.) */
	*pte(f, PT_GPA + 8 * (PG_MMIO + 1)) = 0;
	assert_int_equal(vmmu_vcpu_invlpg(f->v, gva_of(PG_MMIO + 1)), 0);
	const struct cross_case mmio_then_fault = { PG_MMIO, R, 0, VMMU_PF, true, 0x0 };

	check_cross_case(f, &mmio_then_fault, 100);
}

/* Two-page MMIO results: both GPAs, and no host pointer where no RAM is. */
static void test_crossing_mmio_result(void **state)
{
	struct fixture *f = *state;
	struct vmmu_result res;

	assert_int_equal(vmmu_vcpu_translate(f->v, gva_of(PG_MMIO) - 4, 8, VMMU_ACCESS_READ, &res),
			 0);
	assert_int_equal(res.outcome, VMMU_MMIO);
	assert_int_equal(res.gpa, data_gpa(PG_MMIO - 1) + 0xffc);
	assert_int_equal(res.len, 4);
	assert_int_equal(res.len2, 4);
	assert_int_equal(res.gpa2, NO_RAM_GPA);
	assert_null(res.hva2);

	assert_int_equal(vmmu_vcpu_translate(f->v, gva_of(PG_MMIO + 1) - 4, 8, VMMU_ACCESS_READ,
					     &res), 0);
	assert_int_equal(res.outcome, VMMU_MMIO);
	assert_int_equal(res.gpa, NO_RAM_GPA + 0xffc);
	assert_null(res.hva);
	assert_int_equal(res.gpa2, data_gpa(PG_MMIO + 1));
}

/* ---- misuse ---- */

static void test_einval(void **state)
{
	struct fixture *f = *state;
	struct vmmu_vcpu *v = f->v;
	const uint64_t gva = gva_of(0x10);
	uint8_t buf[VMMU_ACCESS_MAX + 8];
	uint8_t before[0x1000];
	struct vmmu_result res;
	const uint32_t bad_flags[] = {
		VMMU_ACCESS_FETCH | VMMU_ACCESS_IMPLICIT, 3, 0xff, 0x200, 0x80000000u,
		VMMU_ACCESS_READ | 0x400, VMMU_ACCESS_WRITE | 0x10000,
	};

	memset(buf, 0x11, sizeof(buf));
	memcpy(before, host_of(f, data_gpa(0x10)), sizeof(before));

	/* Sizes 0 and 65, everywhere. */
	for (uint32_t size = 0; size <= VMMU_ACCESS_MAX + 1; size += VMMU_ACCESS_MAX + 1) {
		assert_int_equal(vmmu_vcpu_translate(v, gva, size, VMMU_ACCESS_READ, &res),
				 -EINVAL);
		assert_int_equal(vmmu_vcpu_probe(v, gva, size, VMMU_ACCESS_READ, &res), -EINVAL);
		assert_int_equal(vmmu_vcpu_read(v, gva, buf, size, VMMU_ACCESS_READ, &res),
				 -EINVAL);
		assert_int_equal(vmmu_vcpu_write(v, gva, buf, size, VMMU_ACCESS_WRITE, &res),
				 -EINVAL);
		assert_int_equal(vmmu_vcpu_read_phys(v, 0x1000, buf, size, &res), -EINVAL);
		assert_int_equal(vmmu_vcpu_write_phys(v, 0x1000, buf, size, &res), -EINVAL);
	}
	/* Bad access flags. */
	for (unsigned int i = 0; i < ARRAY_SIZE(bad_flags); i++) {
		uint32_t fl = bad_flags[i];

		assert_int_equal(vmmu_vcpu_translate(v, gva, 4, fl, &res), -EINVAL);
		assert_int_equal(vmmu_vcpu_probe(v, gva, 4, fl, &res), -EINVAL);
		assert_int_equal(vmmu_vcpu_read(v, gva, buf, 4, fl, &res), -EINVAL);
		if ((fl & 0xff) == VMMU_ACCESS_WRITE)
			assert_int_equal(vmmu_vcpu_write(v, gva, buf, 4, fl, &res), -EINVAL);
	}
	/* A write through the read call, and a read through the write call. */
	assert_int_equal(vmmu_vcpu_read(v, gva, buf, 4, VMMU_ACCESS_WRITE, &res), -EINVAL);
	assert_int_equal(vmmu_vcpu_read(v, gva, buf, 4, VMMU_ACCESS_WRITE | VMMU_ACCESS_IMPLICIT,
					&res), -EINVAL);
	assert_int_equal(vmmu_vcpu_write(v, gva, buf, 4, VMMU_ACCESS_READ, &res), -EINVAL);
	assert_int_equal(vmmu_vcpu_write(v, gva, buf, 4, VMMU_ACCESS_FETCH, &res), -EINVAL);
	/* NULL pointers. */
	assert_int_equal(vmmu_vcpu_translate(NULL, gva, 4, VMMU_ACCESS_READ, &res), -EINVAL);
	assert_int_equal(vmmu_vcpu_translate(v, gva, 4, VMMU_ACCESS_READ, NULL), -EINVAL);
	assert_int_equal(vmmu_vcpu_probe(NULL, gva, 4, VMMU_ACCESS_READ, &res), -EINVAL);
	assert_int_equal(vmmu_vcpu_probe(v, gva, 4, VMMU_ACCESS_READ, NULL), -EINVAL);
	assert_int_equal(vmmu_vcpu_read(NULL, gva, buf, 4, VMMU_ACCESS_READ, &res), -EINVAL);
	assert_int_equal(vmmu_vcpu_read(v, gva, NULL, 4, VMMU_ACCESS_READ, &res), -EINVAL);
	assert_int_equal(vmmu_vcpu_read(v, gva, buf, 4, VMMU_ACCESS_READ, NULL), -EINVAL);
	assert_int_equal(vmmu_vcpu_write(NULL, gva, buf, 4, VMMU_ACCESS_WRITE, &res), -EINVAL);
	assert_int_equal(vmmu_vcpu_write(v, gva, NULL, 4, VMMU_ACCESS_WRITE, &res), -EINVAL);
	assert_int_equal(vmmu_vcpu_write(v, gva, buf, 4, VMMU_ACCESS_WRITE, NULL), -EINVAL);
	assert_int_equal(vmmu_vcpu_read_phys(NULL, 0x1000, buf, 4, &res), -EINVAL);
	assert_int_equal(vmmu_vcpu_read_phys(v, 0x1000, NULL, 4, &res), -EINVAL);
	assert_int_equal(vmmu_vcpu_read_phys(v, 0x1000, buf, 4, NULL), -EINVAL);
	assert_int_equal(vmmu_vcpu_write_phys(NULL, 0x1000, buf, 4, &res), -EINVAL);
	assert_int_equal(vmmu_vcpu_write_phys(v, 0x1000, NULL, 4, &res), -EINVAL);
	assert_int_equal(vmmu_vcpu_write_phys(v, 0x1000, buf, 4, NULL), -EINVAL);
	/* Guest-physical accesses must not cross a 4K boundary. */
	assert_int_equal(vmmu_vcpu_read_phys(v, 0x1ffc, buf, 8, &res), -EINVAL);
	assert_int_equal(vmmu_vcpu_write_phys(v, data_gpa(0x10) + 0xfff, buf, 2, &res), -EINVAL);

	/* None of it stored anything, or read into the buffer. */
	assert_memory_equal(host_of(f, data_gpa(0x10)), before, sizeof(before));
	for (unsigned int i = 0; i < sizeof(buf); i++)
		assert_int_equal(buf[i], 0x11);

	/* The vCPU still works. */
	assert_int_equal(vmmu_vcpu_read(v, gva, buf, 4, VMMU_ACCESS_READ, &res), 0);
	assert_int_equal(res.outcome, VMMU_OK);
}

/* ---- probe ---- */

static const uint64_t path_ptes[] = { 0x1000, 0x2000, 0x3000, PT_GPA + 8 * 0x10 };

static void clear_ad(struct fixture *f)
{
	for (unsigned int i = 0; i < ARRAY_SIZE(path_ptes); i++)
		*pte(f, path_ptes[i]) &= ~(PTE_A | PTE_D);
}

static void test_probe_no_side_effects(void **state)
{
	struct fixture *f = *state;
	struct vmmu_vcpu *v = f->v;
	struct vmmu_stats before, after;
	struct vmmu_result res;
	uint64_t entries[ARRAY_SIZE(path_ptes)];
	const uint64_t gvas[] = {
		gva_of(0x10), gva_of(0x11) - 4, gva_of(PG_NP1), gva_of(PG_MMIO),
		gva_of(PG_ROM), 0x0000800000000000ull,
	};

	clear_ad(f);
	for (unsigned int i = 0; i < ARRAY_SIZE(path_ptes); i++)
		entries[i] = *pte(f, path_ptes[i]);
	before = get_stats(f->vm);
	for (unsigned int i = 0; i < ARRAY_SIZE(gvas); i++) {
		for (uint32_t acc = VMMU_ACCESS_READ; acc <= VMMU_ACCESS_FETCH; acc++)
			assert_int_equal(vmmu_vcpu_probe(v, gvas[i], 8, acc, &res), 0);
	}
	assert_int_equal(vmmu_vcpu_probe(v, gva_of(0x10), 1, VMMU_ACCESS_WRITE, &res), 0);
	assert_int_equal(res.outcome, VMMU_OK);
	assert_int_equal(res.gpa, data_gpa(0x10));
	after = get_stats(f->vm);
	assert_memory_equal(&before, &after, sizeof(before));
	for (unsigned int i = 0; i < ARRAY_SIZE(path_ptes); i++)
		assert_int_equal(*pte(f, path_ptes[i]), entries[i]);

	/* The same write through translate sets them, and counts. */
	assert_int_equal(vmmu_vcpu_translate(v, gva_of(0x10), 1, VMMU_ACCESS_WRITE, &res), 0);
	assert_int_equal(res.outcome, VMMU_OK);
	for (unsigned int i = 0; i < ARRAY_SIZE(path_ptes); i++)
		assert_int_equal(*pte(f, path_ptes[i]) & PTE_A, PTE_A);
	assert_int_equal(*pte(f, path_ptes[3]) & PTE_D, PTE_D);
	after = get_stats(f->vm);
	assert_int_equal(after.accesses, before.accesses + 1);
	assert_true(after.ad_updates > before.ad_updates);
}

/* Probe, translate, probe again: the same result each time. */
static void probe_vs_translate(struct vmmu_vcpu *v, unsigned int mode, uint32_t cpl,
			       uint64_t gva, uint32_t size, uint32_t access)
{
	struct vmmu_result p, t, p2;
	char what[128];

	set_reg(v, VMMU_REG_CPL, cpl);
	assert_int_equal(vmmu_vcpu_probe(v, gva, size, access, &p), 0);
	assert_int_equal(vmmu_vcpu_translate(v, gva, size, access, &t), 0);
	assert_int_equal(vmmu_vcpu_probe(v, gva, size, access, &p2), 0);
	snprintf(what, sizeof(what), "mode %u gva %#llx access %#x size %u cpl %u", mode,
		 (unsigned long long)gva, access, size, cpl);
	expect_same_result(&p, &t, what);
	expect_same_result(&p2, &t, what);
}

/* Probe and translate agree on every outcome, whatever the mode, access,
 * CPL and size. */
static void test_probe_agrees_with_translate(void **state)
{
	struct fixture *f = *state;
	struct vmmu_vcpu *v = f->v;
	const uint64_t gvas[] = {
		gva_of(0x10), gva_of(0x10) + 0xffd, gva_of(PG_NP1), gva_of(PG_NP1) - 2,
		gva_of(PG_RO), gva_of(PG_RO) - 1, gva_of(PG_MMIO), gva_of(PG_ROM) + 0xffe,
		gva_of(PG_SUPER), gva_of(PG_SUPER) - 3, gva_of(0x1ff) + 0xff0, gva_of(0x200),
		0x0000800000000000ull, 0xffff800000000000ull, 0x7ffffffffff0ull, 0xfffffff8ull,
		0x100000000ull,
	};
	const uint32_t accesses[] = {
		VMMU_ACCESS_READ, VMMU_ACCESS_WRITE, VMMU_ACCESS_FETCH,
		VMMU_ACCESS_READ | VMMU_ACCESS_IMPLICIT, VMMU_ACCESS_WRITE | VMMU_ACCESS_IMPLICIT,
	};
	const uint32_t sizes[] = { 1, 4, 8, 64 };
	struct vmmu_vcpu *pae = second_vcpu(f, 1);

	/* 32-bit linear addresses: PAE paging, NX on. */
	set_reg(pae, VMMU_REG_EFER, 0x800);
	set_reg(pae, VMMU_REG_CR4, CR4_PAE);
	set_reg(pae, VMMU_REG_CR3, PAE_PDPT_GPA);
	set_reg(pae, VMMU_REG_CR0, CR0_LONG);
	for (unsigned int mode = 0; mode < 3; mode++) {
		if (mode == 1) {
			/* SMAP and a clear WP change who faults. */
			set_reg(v, VMMU_REG_CR4, CR4_PAE | CR4_SMAP);
			set_reg(v, VMMU_REG_CR0, CR0_LONG & ~0x10000ull);
		} else if (mode == 2) {
			v = pae;
		}
		for (unsigned int g = 0; g < ARRAY_SIZE(gvas); g++)
			for (unsigned int a = 0; a < ARRAY_SIZE(accesses); a++)
				for (unsigned int sz = 0; sz < ARRAY_SIZE(sizes); sz++) {
					clear_ad(f);
					probe_vs_translate(v, mode, 0, gvas[g], sizes[sz],
							   accesses[a]);
					clear_ad(f);
					probe_vs_translate(v, mode, 3, gvas[g], sizes[sz],
							   accesses[a]);
				}
	}
	vmmu_vcpu_destroy(pae);
}

/* ---- #GP: canonical addresses, 32-bit limit ---- */

struct gp_case {
	uint64_t gva;
	uint32_t size;
	uint32_t outcome;
};

static void check_gp_cases(struct vmmu_vcpu *v, const struct gp_case *c, unsigned int n,
			   const char *mode)
{
	for (unsigned int i = 0; i < n; i++) {
		for (uint32_t acc = VMMU_ACCESS_READ; acc <= VMMU_ACCESS_FETCH; acc++) {
			struct vmmu_result res;

			assert_int_equal(vmmu_vcpu_translate(v, c[i].gva, c[i].size, acc, &res), 0);
			if (res.outcome != c[i].outcome)
				fail_msg("%s: gva %#llx size %u access %u: outcome %u, expected %u",
					 mode, (unsigned long long)c[i].gva, c[i].size, acc,
					 res.outcome, c[i].outcome);
		}
	}
}

static void test_canonical(void **state)
{
	struct fixture *f = *state;
	struct vmmu_vcpu *v5 = second_vcpu(f, 1), *v32 = second_vcpu(f, 2);
	const struct gp_case four[] = {
		{ gva_of(0x10), 8, VMMU_OK },
		{ 0x00007ffffffff000ull, 8, VMMU_PF },
		{ 0x00007ffffffffff8ull, 8, VMMU_PF },
		{ 0x00007ffffffffff9ull, 8, VMMU_GP },         /* last byte non-canonical */
		{ 0x00007fffffffffc0ull, 64, VMMU_PF },
		{ 0x00007fffffffffc1ull, 64, VMMU_GP },
		{ 0x0000800000000000ull, 1, VMMU_GP },
		{ 0x00ff000000000000ull, 1, VMMU_GP },
		{ 0x0100000000000000ull, 1, VMMU_GP },
		{ 0x8000000000000000ull, 1, VMMU_GP },
		{ 0xffff7fffffffffffull, 1, VMMU_GP },
		{ 0xffff7ffffffffff8ull, 16, VMMU_GP },        /* first byte non-canonical */
		{ 0xffff800000000000ull, 1, VMMU_PF },
		{ 0xfffffffffffffff0ull, 16, VMMU_PF },
	};
	const struct gp_case five[] = {
		{ gva_of(0x10), 8, VMMU_OK },
		{ 0x00007ffffffff000ull, 8, VMMU_PF },
		{ 0x0000800000000000ull, 1, VMMU_PF },
		{ 0x00ff000000000000ull, 1, VMMU_PF },
		{ 0x00fffffffffffff8ull, 8, VMMU_PF },
		{ 0x00fffffffffffff9ull, 8, VMMU_GP },
		{ 0x0100000000000000ull, 1, VMMU_GP },
		{ 0xfe00000000000000ull, 1, VMMU_GP },
		{ 0xfeffffffffffffffull, 1, VMMU_GP },
		{ 0xff00000000000000ull, 1, VMMU_PF },
		{ 0xffff800000000000ull, 1, VMMU_PF },
	};
	const struct gp_case off[] = {
		{ 0x10000, 8, VMMU_OK },
		{ 0xfffff000ull, 8, VMMU_MMIO },
		{ 0xffffffc0ull, 64, VMMU_MMIO },
		{ 0xffffffffull, 1, VMMU_MMIO },
		{ 0x100000000ull, 1, VMMU_GP },
		{ 0x100000000ull + 0x10000, 8, VMMU_GP },
		{ 0xffff800000000000ull, 1, VMMU_GP },
		{ 0xffffffffffffffffull, 1, VMMU_GP },
	};
	const struct gp_case pae[] = {
		{ gva_of(0x10), 8, VMMU_OK },
		{ 0xfffff000ull, 8, VMMU_PF },
		{ 0x100000000ull, 1, VMMU_GP },
		{ 0x100010000ull, 8, VMMU_GP },
		{ 0xffffffffffff0000ull, 1, VMMU_GP },
	};
	struct vmmu_result res;

	check_gp_cases(f->v, four, ARRAY_SIZE(four), "4-level");

	enter_long_mode(v5, true);
	check_gp_cases(v5, five, ARRAY_SIZE(five), "5-level");
	assert_int_equal(vmmu_vcpu_translate(v5, gva_of(0x10), 1, VMMU_ACCESS_READ, &res), 0);
	assert_int_equal(res.gpa, data_gpa(0x10));

	set_reg(v32, VMMU_REG_CR0, 0x11);
	check_gp_cases(v32, off, ARRAY_SIZE(off), "paging off");
	assert_int_equal(vmmu_vcpu_translate(v32, 0x12345, 1, VMMU_ACCESS_READ, &res), 0);
	assert_int_equal(res.gpa, 0x12345);
	set_reg(v32, VMMU_REG_CR4, CR4_PAE);
	set_reg(v32, VMMU_REG_CR3, PAE_PDPT_GPA);
	set_reg(v32, VMMU_REG_CR0, CR0_LONG);
	check_gp_cases(v32, pae, ARRAY_SIZE(pae), "PAE");

	/* #GP moves no data. */
	uint8_t buf[8] = { 0x77, 0x77, 0x77, 0x77, 0x77, 0x77, 0x77, 0x77 };

	assert_int_equal(vmmu_vcpu_read(f->v, 0x0000800000000000ull, buf, 8, VMMU_ACCESS_READ,
					&res), 0);
	assert_int_equal(res.outcome, VMMU_GP);
	assert_memory_equal(buf, "\x77\x77\x77\x77\x77\x77\x77\x77", 8);

	vmmu_vcpu_destroy(v5);
	vmmu_vcpu_destroy(v32);
}

/* ---- MMIO and read-only slots ---- */

static void test_mmio(void **state)
{
	struct fixture *f = *state;
	struct vmmu_vcpu *v = f->v;
	uint8_t buf[16], rom_before[16];
	struct vmmu_result res;

	/* No RAM behind the GPA. */
	memset(buf, 0x99, sizeof(buf));
	assert_int_equal(vmmu_vcpu_read(v, gva_of(PG_MMIO) + 0x10, buf, 8, VMMU_ACCESS_READ, &res),
			 0);
	assert_int_equal(res.outcome, VMMU_MMIO);
	assert_int_equal(res.gpa, NO_RAM_GPA + 0x10);
	assert_null(res.hva);
	assert_int_equal(buf[0], 0x99);
	assert_int_equal(vmmu_vcpu_write(v, gva_of(PG_MMIO), buf, 8, VMMU_ACCESS_WRITE, &res), 0);
	assert_int_equal(res.outcome, VMMU_MMIO);

	/* Read-only slot: reads see it, writes are MMIO and change nothing. */
	memcpy(rom_before, f->rom + 0x20, sizeof(rom_before));
	assert_int_equal(vmmu_vcpu_read(v, gva_of(PG_ROM) + 0x20, buf, 16, VMMU_ACCESS_READ, &res),
			 0);
	assert_int_equal(res.outcome, VMMU_OK);
	assert_ptr_equal(res.hva, f->rom + 0x20);
	assert_memory_equal(buf, rom_before, 16);
	memset(buf, 0x42, sizeof(buf));
	assert_int_equal(vmmu_vcpu_write(v, gva_of(PG_ROM) + 0x20, buf, 16, VMMU_ACCESS_WRITE,
					 &res), 0);
	assert_int_equal(res.outcome, VMMU_MMIO);
	assert_int_equal(res.gpa, ROM_GPA + 0x20);
	assert_null(res.hva);
	assert_memory_equal(f->rom + 0x20, rom_before, 16);
	assert_int_equal(vmmu_vcpu_translate(v, gva_of(PG_ROM), 1, VMMU_ACCESS_WRITE, &res), 0);
	assert_int_equal(res.outcome, VMMU_MMIO);
	assert_int_equal(vmmu_vcpu_translate(v, gva_of(PG_ROM), 1, VMMU_ACCESS_FETCH, &res), 0);
	assert_int_equal(res.outcome, VMMU_OK);

	/* Same through guest-physical accesses. */
	assert_int_equal(vmmu_vcpu_write_phys(v, ROM_GPA + 0x20, buf, 16, &res), 0);
	assert_int_equal(res.outcome, VMMU_MMIO);
	assert_memory_equal(f->rom + 0x20, rom_before, 16);
	assert_int_equal(vmmu_vcpu_read_phys(v, ROM_GPA + 0x20, buf, 16, &res), 0);
	assert_int_equal(res.outcome, VMMU_OK);
	assert_memory_equal(buf, rom_before, 16);
	memset(buf, 0x99, sizeof(buf));
	assert_int_equal(vmmu_vcpu_read_phys(v, NO_RAM_GPA + 8, buf, 8, &res), 0);
	assert_int_equal(res.outcome, VMMU_MMIO);
	assert_int_equal(res.gpa, NO_RAM_GPA + 8);
	assert_int_equal(buf[0], 0x99);
	assert_int_equal(vmmu_vcpu_write_phys(v, NO_RAM_GPA, buf, 8, &res), 0);
	assert_int_equal(res.outcome, VMMU_MMIO);
}

/* ---- guest-physical accesses ---- */

static void test_phys(void **state)
{
	struct fixture *f = *state;
	struct vmmu_vcpu *v = f->v;
	const uint64_t base = 0x300000;
	uint32_t offsets[] = { 0, 1, 3, 0x800, 0xfc0 };

	for (uint32_t size = 1; size <= VMMU_ACCESS_MAX; size++)
		for (unsigned int o = 0; o < ARRAY_SIZE(offsets); o++) {
			uint64_t gpa = base + offsets[o];
			uint8_t in[VMMU_ACCESS_MAX], out[VMMU_ACCESS_MAX];
			struct vmmu_result res;

			memset(f->ram + base, 0, 0x1000);
			fill_pattern(in, size, size + o);
			assert_int_equal(vmmu_vcpu_write_phys(v, gpa, in, size, &res), 0);
			assert_int_equal(res.outcome, VMMU_OK);
			assert_int_equal(res.gpa, gpa);
			assert_ptr_equal(res.hva, f->ram + gpa);
			assert_memory_equal(f->ram + gpa, in, size);
			if (offsets[o])
				assert_int_equal(f->ram[gpa - 1], 0);
			if (offsets[o] + size < 0x1000)
				assert_int_equal(f->ram[gpa + size], 0);
			memset(out, 0, sizeof(out));
			assert_int_equal(vmmu_vcpu_read_phys(v, gpa, out, size, &res), 0);
			assert_int_equal(res.outcome, VMMU_OK);
			assert_memory_equal(out, in, size);
		}
	/* The last bytes of a page, and of RAM. */
	uint8_t b8[8] = { 1, 2, 3, 4, 5, 6, 7, 8 }, r8[8];
	struct vmmu_result res;

	assert_int_equal(vmmu_vcpu_write_phys(v, RAM_SIZE - 8, b8, 8, &res), 0);
	assert_int_equal(res.outcome, VMMU_OK);
	assert_int_equal(vmmu_vcpu_read_phys(v, RAM_SIZE - 8, r8, 8, &res), 0);
	assert_memory_equal(r8, b8, 8);
	assert_int_equal(vmmu_vcpu_read_phys(v, RAM_SIZE, r8, 8, &res), 0);
	assert_int_equal(res.outcome, VMMU_MMIO);
	/* Guest-physical accesses ignore paging: a page table is just data. */
	assert_int_equal(vmmu_vcpu_read_phys(v, PML4_GPA, r8, 8, &res), 0);
	assert_int_equal(res.outcome, VMMU_OK);
	assert_memory_equal(r8, pte(f, PML4_GPA), 8);
}

/* ---- implicit supervisor accesses ---- */

static void test_implicit(void **state)
{
	struct fixture *f = *state;
	struct vmmu_vcpu *v = f->v;
	const uint64_t user_page = gva_of(0x10);
	struct vmmu_result res;

	set_reg(v, VMMU_REG_CR4, CR4_PAE | CR4_SMAP);
	/* CPL 0, AC=0: SMAP faults an explicit access to a user page. */
	assert_int_equal(vmmu_vcpu_translate(v, user_page, 4, VMMU_ACCESS_READ, &res), 0);
	assert_int_equal(res.outcome, VMMU_PF);
	assert_int_equal(res.error_code, VMMU_PFERR_PRESENT);
	/* AC=1 allows it, but not an implicit access. */
	set_reg(v, VMMU_REG_RFLAGS, 2 | RFLAGS_AC);
	assert_int_equal(vmmu_vcpu_translate(v, user_page, 4, VMMU_ACCESS_READ, &res), 0);
	assert_int_equal(res.outcome, VMMU_OK);
	assert_int_equal(vmmu_vcpu_translate(v, user_page, 4,
					     VMMU_ACCESS_READ | VMMU_ACCESS_IMPLICIT, &res), 0);
	assert_int_equal(res.outcome, VMMU_PF);
	assert_int_equal(res.error_code, VMMU_PFERR_PRESENT);
	assert_int_equal(vmmu_vcpu_translate(v, user_page, 4,
					     VMMU_ACCESS_WRITE | VMMU_ACCESS_IMPLICIT, &res), 0);
	assert_int_equal(res.error_code, VMMU_PFERR_PRESENT | VMMU_PFERR_WRITE);
	/* CPL 3: explicit accesses are user accesses; an implicit one is a
	 * supervisor access (U=0 in the error code). */
	set_reg(v, VMMU_REG_CPL, 3);
	assert_int_equal(vmmu_vcpu_translate(v, user_page, 4, VMMU_ACCESS_READ, &res), 0);
	assert_int_equal(res.outcome, VMMU_OK);
	assert_int_equal(vmmu_vcpu_translate(v, user_page, 4,
					     VMMU_ACCESS_READ | VMMU_ACCESS_IMPLICIT, &res), 0);
	assert_int_equal(res.outcome, VMMU_PF);
	assert_int_equal(res.error_code, VMMU_PFERR_PRESENT);
	assert_int_equal(vmmu_vcpu_translate(v, gva_of(PG_SUPER), 4,
					     VMMU_ACCESS_READ | VMMU_ACCESS_IMPLICIT, &res), 0);
	assert_int_equal(res.outcome, VMMU_OK);
	assert_int_equal(vmmu_vcpu_translate(v, gva_of(PG_NP1), 4,
					     VMMU_ACCESS_WRITE | VMMU_ACCESS_IMPLICIT, &res), 0);
	assert_int_equal(res.outcome, VMMU_PF);
	assert_int_equal(res.error_code, VMMU_PFERR_WRITE);
}

/* ---- guest mode ---- */

static void test_enter_exit(void **state)
{
	struct fixture *f = *state;
	struct vmmu_vcpu *v = f->v;
	struct vmmu_result res;
	uint32_t value = 0;

	assert_int_equal(vmmu_vcpu_exit(v), -EINVAL);
	assert_int_equal(vmmu_vcpu_enter(NULL), -EINVAL);
	assert_int_equal(vmmu_vcpu_exit(NULL), -EINVAL);
	assert_int_equal(vmmu_vcpu_enter(v), 0);
	assert_int_equal(vmmu_vcpu_enter(v), -EBUSY);

	/* Inside the bracket: host pointers stay usable, and the access calls
	 * do not enter again. */
	assert_int_equal(vmmu_vcpu_translate(v, gva_of(0x10) + 0x40, 4, VMMU_ACCESS_WRITE, &res),
			 0);
	assert_int_equal(res.outcome, VMMU_OK);
	memcpy(res.hva, "\x78\x56\x34\x12", 4);
	assert_int_equal(vmmu_vcpu_read(v, gva_of(0x10) + 0x40, &value, 4, VMMU_ACCESS_READ, &res),
			 0);
	assert_int_equal(value, 0x12345678);
	assert_int_equal(vmmu_vcpu_set_reg(v, VMMU_REG_CR0, CR0_LONG), 0);
	assert_int_equal(vmmu_vcpu_read_phys(v, data_gpa(0x10) + 0x40, &value, 4, &res), 0);
	assert_int_equal(value, 0x12345678);

	assert_int_equal(vmmu_vcpu_exit(v), 0);
	assert_int_equal(vmmu_vcpu_exit(v), -EINVAL);
	/* Again, and the implicit bracket works outside. */
	assert_int_equal(vmmu_vcpu_enter(v), 0);
	assert_int_equal(vmmu_vcpu_exit(v), 0);
	value = 0;
	assert_int_equal(vmmu_vcpu_read(v, gva_of(0x10) + 0x40, &value, 4, VMMU_ACCESS_READ, &res),
			 0);
	assert_int_equal(value, 0x12345678);
	/* After an implicit bracket the vCPU is outside guest mode. */
	assert_int_equal(vmmu_vcpu_exit(v), -EINVAL);

	/* Two vCPUs in guest mode on one thread. */
	struct vmmu_vcpu *v2 = second_vcpu(f, 5);

	assert_int_equal(vmmu_vcpu_enter(v), 0);
	assert_int_equal(vmmu_vcpu_enter(v2), 0);
	assert_int_equal(vmmu_vcpu_exit(v2), 0);
	assert_int_equal(vmmu_vcpu_exit(v), 0);
	vmmu_vcpu_destroy(v2);
}

/* ---- statistics ---- */

static void test_stats(void **state)
{
	struct fixture *f = *state;
	struct vmmu_vcpu *v = f->v;
	struct vmmu_stats s0, s1;
	struct vmmu_result res;
	uint8_t buf[16];

	/* One of each outcome. */
	clear_ad(f);
	s0 = get_stats(f->vm);
	assert_int_equal(s0.size, sizeof(s0));
	assert_int_equal(vmmu_vcpu_write(v, gva_of(0x10), buf, 4, VMMU_ACCESS_WRITE, &res), 0);
	assert_int_equal(res.outcome, VMMU_OK);
	s1 = get_stats(f->vm);
	assert_int_equal(s1.accesses, s0.accesses + 1);
	assert_int_equal(s1.pf, s0.pf);
	assert_int_equal(s1.gp, s0.gp);
	assert_int_equal(s1.mmio, s0.mmio);
	assert_true(s1.walks > s0.walks);
	assert_true(s1.ad_updates > s0.ad_updates);
	/* The same write again: A and D already set. */
	s0 = s1;
	assert_int_equal(vmmu_vcpu_write(v, gva_of(0x10), buf, 4, VMMU_ACCESS_WRITE, &res), 0);
	s1 = get_stats(f->vm);
	assert_int_equal(s1.accesses, s0.accesses + 1);
	assert_int_equal(s1.ad_updates, s0.ad_updates);

	s0 = s1;
	assert_int_equal(vmmu_vcpu_read(v, gva_of(PG_NP1), buf, 4, VMMU_ACCESS_READ, &res), 0);
	assert_int_equal(vmmu_vcpu_translate(v, 0x0000800000000000ull, 4, VMMU_ACCESS_READ, &res),
			 0);
	assert_int_equal(vmmu_vcpu_translate(v, gva_of(PG_MMIO), 4, VMMU_ACCESS_READ, &res), 0);
	assert_int_equal(vmmu_vcpu_write(v, gva_of(PG_ROM), buf, 4, VMMU_ACCESS_WRITE, &res), 0);
	assert_int_equal(vmmu_vcpu_read(v, gva_of(0x11) - 8, buf, 16, VMMU_ACCESS_READ, &res), 0);
	s1 = get_stats(f->vm);
	assert_int_equal(s1.accesses, s0.accesses + 5);
	assert_int_equal(s1.pf, s0.pf + 1);
	assert_int_equal(s1.gp, s0.gp + 1);
	assert_int_equal(s1.mmio, s0.mmio + 2);

	/* Register writes: CR and EFER writes, a #GP, PDPTE loads. */
	s0 = s1;
	assert_int_equal(vmmu_vcpu_set_reg(v, VMMU_REG_CR0, CR0_LONG), 0);
	assert_int_equal(vmmu_vcpu_set_reg(v, VMMU_REG_CR3, PML4_GPA), 0);
	assert_int_equal(vmmu_vcpu_set_reg(v, VMMU_REG_EFER, EFER_LONG), 0);
	assert_int_equal(vmmu_vcpu_set_reg(v, VMMU_REG_CR4, CR4_PAE), 0);
	assert_int_equal(vmmu_vcpu_set_reg(v, VMMU_REG_CR4, 0), VMMU_EXC_GP);
	s1 = get_stats(f->vm);
	assert_true(s1.cr_writes >= s0.cr_writes + 4);
	assert_int_equal(s1.gp, s0.gp + 1);
	assert_int_equal(s1.pdpte_loads, s0.pdpte_loads);       /* long mode: none */
	assert_int_equal(s1.accesses, s0.accesses);

	/* Other vCPUs add up. */
	struct vmmu_vcpu *v2 = second_vcpu(f, 7);

	s0 = s1;
	assert_int_equal(vmmu_vcpu_read(v2, 0x1000, buf, 4, VMMU_ACCESS_READ, &res), 0);
	assert_int_equal(vmmu_vcpu_set_reg(v2, VMMU_REG_CR4, CR4_PAE), 0);
	assert_int_equal(vmmu_vcpu_set_reg(v2, VMMU_REG_CR3, PAE_PDPT_GPA), 0);
	assert_int_equal(vmmu_vcpu_set_reg(v2, VMMU_REG_CR0, CR0_LONG), 0);
	s1 = get_stats(f->vm);
	assert_int_equal(s1.accesses, s0.accesses + 1);
	assert_true(s1.pdpte_loads > s0.pdpte_loads);
	vmmu_vcpu_destroy(v2);

	assert_int_equal(vmmu_vm_get_stats(NULL, &s1), -EINVAL);
	assert_int_equal(vmmu_vm_get_stats(f->vm, NULL), -EINVAL);
}

/* A caller with an older, shorter struct gets only what it has room for;
 * a newer, longer one gets nothing written past what the library knows. */
static void test_stats_size(void **state)
{
	struct fixture *f = *state;
	struct vmmu_result res;
	uint8_t buf[4];
	struct vmmu_stats full = get_stats(f->vm);
	union {
		struct vmmu_stats st;
		uint8_t bytes[sizeof(struct vmmu_stats) + 32];
	} u;
	const size_t short_size = offsetof(struct vmmu_stats, walks);

	assert_int_equal(vmmu_vcpu_read(f->v, gva_of(0x10), buf, 4, VMMU_ACCESS_READ, &res), 0);

	memset(&u, 0xa5, sizeof(u));
	u.st.size = (uint32_t)short_size;
	assert_int_equal(vmmu_vm_get_stats(f->vm, &u.st), 0);
	assert_int_equal(u.st.accesses, full.accesses + 1);
	for (size_t i = short_size; i < sizeof(u.bytes); i++)
		if (u.bytes[i] != 0xa5)
			fail_msg("byte %zu beyond size %zu was written", i, short_size);

	memset(&u, 0xa5, sizeof(u));
	u.st.size = sizeof(u.bytes);
	assert_int_equal(vmmu_vm_get_stats(f->vm, &u.st), 0);
	assert_int_equal(u.st.accesses, full.accesses + 1);
	assert_int_equal(u.st.tlb_flush, get_stats(f->vm).tlb_flush);
	for (size_t i = sizeof(struct vmmu_stats); i < sizeof(u.bytes); i++)
		if (u.bytes[i] != 0xa5)
			fail_msg("byte %zu beyond the library's struct was written", i);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_sizes_and_crossing),
		T(test_crossing_read_from_host),
		T(test_crossing_fault_order),
		T(test_crossing_mmio_result),
		T(test_einval),
		T(test_probe_no_side_effects),
		T(test_probe_agrees_with_translate),
		T(test_canonical),
		T(test_mmio),
		T(test_phys),
		T(test_implicit),
		T(test_enter_exit),
		T(test_stats),
		T(test_stats_size),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
