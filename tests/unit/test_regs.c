/* SPDX-License-Identifier: MIT */
/*
 * Register writes through the public API, against TRACE-FORMAT.md
 * "Register writes": every #GP case (returns VMMU_EXC_GP and changes no
 * register, PDPTE registers included), EFER.LMA, CR3's PCID no-flush bit,
 * the PAE PDPTE loads (when they happen, and when they #GP),
 * vmmu_vcpu_set_state's checks, -EINVAL for what no register can hold, and
 * SMM switching address spaces.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <cmocka.h>

#include "vmmu.h"

#define CR0_PE  (1ull << 0)
#define CR0_MP  (1ull << 1)
#define CR0_NE  (1ull << 5)
#define CR0_ET  (1ull << 4)
#define CR0_WP  (1ull << 16)
#define CR0_AM  (1ull << 18)
#define CR0_NW  (1ull << 29)
#define CR0_CD  (1ull << 30)
#define CR0_PG  (1ull << 31)

#define CR4_PSE   (1ull << 4)
#define CR4_PAE   (1ull << 5)
#define CR4_PGE   (1ull << 7)
#define CR4_LA57  (1ull << 12)
#define CR4_PCIDE (1ull << 17)
#define CR4_SMEP  (1ull << 20)
#define CR4_SMAP  (1ull << 21)
#define CR4_PKE   (1ull << 22)
#define CR4_PKS   (1ull << 24)
#define CR4_SUPPORTED 0x01771fffull   /* 0-12, 16-18, 20-22, 24 */

#define EFER_SCE (1ull << 0)
#define EFER_LME (1ull << 8)
#define EFER_LMA (1ull << 10)
#define EFER_NXE (1ull << 11)

#define RESET_CR0   0x60000010ull
#define PROT_CR0    (CR0_PE | CR0_ET)              /* 0x11 */
#define PAGING_CR0  (CR0_PG | CR0_PE | CR0_ET)     /* 0x80000011 */

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define RAM_SIZE    (2ull << 20)
#define PDPT_GPA    0x3000ull      /* a page whose first 32 bytes are PDPTEs */
#define SMRAM_GPA   0x400000ull    /* beyond RAM_SIZE: SMM-only memory */
#define SMRAM_SIZE  0x10000ull

struct fixture {
	struct vmmu_vm *vm;
	struct vmmu_vcpu *v;
	uint8_t *ram, *smram;
	unsigned int maxphyaddr;
};

/* Everything a register write may change: each register, and the state
 * with the PDPTE registers. */
struct snapshot {
	uint64_t reg[VMMU_REG_NR];
	struct vmmu_vcpu_state st;
};

/* ---- fixture and helpers ---- */

static int fixture_setup(void **state, unsigned int maxphyaddr)
{
	struct vmmu_vm_config cfg = {
		.size = sizeof(cfg), .mmu = VMMU_MMU_DIRECT, .maxphyaddr = maxphyaddr,
	};
	struct fixture *f = calloc(1, sizeof(*f));
	struct vmmu_memslot ram, smram;

	if (!f)
		return -1;
	f->maxphyaddr = maxphyaddr;
	f->ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	f->smram = mmap(NULL, SMRAM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
			0);
	if (f->ram == MAP_FAILED || f->smram == MAP_FAILED)
		return -1;
	if (vmmu_vm_create(&cfg, &f->vm) || vmmu_vcpu_create(f->vm, 0, &f->v))
		return -1;
	ram = (struct vmmu_memslot){ .id = 0, .as_id = VMMU_AS_NORMAL, .gpa = 0,
				     .size = RAM_SIZE, .hva = f->ram };
	smram = (struct vmmu_memslot){ .id = 0, .as_id = VMMU_AS_SMM, .gpa = SMRAM_GPA,
				       .size = SMRAM_SIZE, .hva = f->smram };
	if (vmmu_memslot_add(f->vm, &ram) || vmmu_memslot_add(f->vm, &smram))
		return -1;
	*state = f;
	return 0;
}

static int setup46(void **state)
{
	return fixture_setup(state, 46);
}

static int setup36(void **state)
{
	return fixture_setup(state, 36);
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	vmmu_vcpu_destroy(f->v);
	vmmu_vm_destroy(f->vm);
	munmap(f->ram, RAM_SIZE);
	munmap(f->smram, SMRAM_SIZE);
	free(f);
	return 0;
}

static void take_snapshot(struct vmmu_vcpu *v, struct snapshot *s)
{
	memset(s, 0, sizeof(*s));
	for (int r = 0; r < VMMU_REG_NR; r++)
		assert_int_equal(vmmu_vcpu_get_reg(v, (enum vmmu_reg)r, &s->reg[r]), 0);
	s->st.size = sizeof(s->st);
	assert_int_equal(vmmu_vcpu_get_state(v, &s->st), 0);
}

static uint64_t reg(struct vmmu_vcpu *v, enum vmmu_reg r)
{
	uint64_t value = 0xdeadbeef;

	assert_int_equal(vmmu_vcpu_get_reg(v, r, &value), 0);
	return value;
}

static void set(struct vmmu_vcpu *v, enum vmmu_reg r, uint64_t value)
{
	int ret = vmmu_vcpu_set_reg(v, r, value);

	if (ret)
		fail_msg("set_reg(%d, %#llx) returned %d, expected 0", r, (unsigned long long)value,
			 ret);
}

static const char *const reg_names[VMMU_REG_NR] = {
	"CR0", "CR3", "CR4", "EFER", "RFLAGS", "PKRU", "PKRS", "CPL", "SMM",
};

static void check_unchanged(const struct snapshot *a, const struct snapshot *b, int line)
{
	for (int r = 0; r < VMMU_REG_NR; r++)
		if (a->reg[r] != b->reg[r])
			fail_msg("line %d: %s changed from %#llx to %#llx", line, reg_names[r],
				 (unsigned long long)a->reg[r], (unsigned long long)b->reg[r]);
	for (int i = 0; i < 4; i++)
		if (a->st.pdpte[i] != b->st.pdpte[i])
			fail_msg("line %d: PDPTE%d changed from %#llx to %#llx", line, i,
				 (unsigned long long)a->st.pdpte[i],
				 (unsigned long long)b->st.pdpte[i]);
	if (memcmp(&a->st, &b->st, sizeof(a->st)))
		fail_msg("line %d: vCPU state changed", line);
}

/* The write returns @want and, unless it is 0, changes nothing. */
static void expect_ret_at(struct vmmu_vcpu *v, enum vmmu_reg r, uint64_t value, int want, int line)
{
	struct snapshot before, after;
	int ret;

	take_snapshot(v, &before);
	ret = vmmu_vcpu_set_reg(v, r, value);
	if (ret != want)
		fail_msg("line %d: set_reg(%s, %#llx) returned %d, expected %d", line, reg_names[r],
			 (unsigned long long)value, ret, want);
	take_snapshot(v, &after);
	check_unchanged(&before, &after, line);
}

#define EXPECT_GP(v, r, value) expect_ret_at(v, r, value, VMMU_EXC_GP, __LINE__)
#define EXPECT_EINVAL(v, r, value) expect_ret_at(v, r, value, -EINVAL, __LINE__)

static void put64(struct fixture *f, uint64_t gpa, uint64_t value)
{
	memcpy(f->ram + gpa, &value, 8);
}

static void get_pdptes(struct vmmu_vcpu *v, uint64_t pdpte[4])
{
	struct vmmu_vcpu_state st = { .size = sizeof(st) };

	assert_int_equal(vmmu_vcpu_get_state(v, &st), 0);
	memcpy(pdpte, st.pdpte, sizeof(st.pdpte));
}

/* Four present PDPTEs without reserved bits, distinct for each @gen. */
static void pdpte_values(unsigned int gen, uint64_t out[4])
{
	for (unsigned int i = 0; i < 4; i++)
		out[i] = (0x100000ull * (gen + 1) + 0x1000ull * i) | 1 | (i == 2 ? 0x18 : 0);
}

static void write_pdpt(struct fixture *f, uint64_t gpa, unsigned int gen)
{
	uint64_t values[4];

	pdpte_values(gen, values);
	for (unsigned int i = 0; i < 4; i++)
		put64(f, gpa + 8 * i, values[i]);
}

static void check_pdptes_at(struct vmmu_vcpu *v, unsigned int gen, const char *what, int line)
{
	uint64_t want[4], got[4];

	pdpte_values(gen, want);
	get_pdptes(v, got);
	for (unsigned int i = 0; i < 4; i++)
		if (got[i] != want[i])
			fail_msg("line %d (%s): PDPTE%u is %#llx, expected %#llx (generation %u)",
				 line, what, i, (unsigned long long)got[i],
				 (unsigned long long)want[i], gen);
}

#define CHECK_PDPTES(v, gen, what) check_pdptes_at(v, gen, what, __LINE__)

/* Long mode with 4-level paging, CR3 = @cr3 (no table needed: nothing is
 * walked here). */
static void enter_long_mode(struct vmmu_vcpu *v, uint64_t cr4_extra, uint64_t cr3)
{
	set(v, VMMU_REG_EFER, EFER_LME | EFER_NXE);
	set(v, VMMU_REG_CR4, CR4_PAE | cr4_extra);
	set(v, VMMU_REG_CR3, cr3);
	set(v, VMMU_REG_CR0, PAGING_CR0);
	assert_int_equal(reg(v, VMMU_REG_EFER), EFER_LME | EFER_LMA | EFER_NXE);
}

/* PAE paging with the PDPT of generation @gen at PDPT_GPA. */
static void enter_pae(struct fixture *f, unsigned int gen)
{
	write_pdpt(f, PDPT_GPA, gen);
	set(f->v, VMMU_REG_CR4, CR4_PAE);
	set(f->v, VMMU_REG_CR3, PDPT_GPA);
	set(f->v, VMMU_REG_CR0, PAGING_CR0);
	assert_int_equal(reg(f->v, VMMU_REG_EFER), 0);
}

/* ---- reset state ---- */

static void test_reset_state(void **state)
{
	struct fixture *f = *state;
	struct snapshot s;

	take_snapshot(f->v, &s);
	assert_int_equal(s.reg[VMMU_REG_CR0], RESET_CR0);
	assert_int_equal(s.reg[VMMU_REG_CR3], 0);
	assert_int_equal(s.reg[VMMU_REG_CR4], 0);
	assert_int_equal(s.reg[VMMU_REG_EFER], 0);
	assert_int_equal(s.reg[VMMU_REG_RFLAGS], 2);
	assert_int_equal(s.reg[VMMU_REG_PKRU], 0);
	assert_int_equal(s.reg[VMMU_REG_PKRS], 0);
	assert_int_equal(s.reg[VMMU_REG_CPL], 0);
	assert_int_equal(s.reg[VMMU_REG_SMM], 0);
	assert_int_equal(s.st.cr0, RESET_CR0);
	assert_int_equal(s.st.size, sizeof(s.st));
}

/* ---- CR0 ---- */

static void test_cr0_gp(void **state)
{
	struct fixture *f = *state;
	struct vmmu_vcpu *v = f->v;

	/* Bits 63:32. */
	EXPECT_GP(v, VMMU_REG_CR0, PROT_CR0 | (1ull << 32));
	EXPECT_GP(v, VMMU_REG_CR0, PROT_CR0 | (1ull << 63));
	/* PG without PE. */
	EXPECT_GP(v, VMMU_REG_CR0, CR0_PG | CR0_ET);
	/* NW without CD (from the reset state, CD=NW=1). */
	EXPECT_GP(v, VMMU_REG_CR0, PROT_CR0 | CR0_NW);
	set(v, VMMU_REG_CR0, PROT_CR0 | CR0_CD);
	set(v, VMMU_REG_CR0, PROT_CR0 | CR0_CD | CR0_NW);
	set(v, VMMU_REG_CR0, PROT_CR0);
	EXPECT_GP(v, VMMU_REG_CR0, PROT_CR0 | CR0_NW);
	/* Other reserved bits of 31:0 do not fault. */
	assert_int_equal(vmmu_vcpu_set_reg(v, VMMU_REG_CR0, PROT_CR0 | (1ull << 6) | (1ull << 28)),
			 0);
	set(v, VMMU_REG_CR0, PROT_CR0);

	/* PG with EFER.LME=1 and CR4.PAE=0. */
	set(v, VMMU_REG_EFER, EFER_LME);
	EXPECT_GP(v, VMMU_REG_CR0, PAGING_CR0);
	assert_int_equal(reg(v, VMMU_REG_EFER), EFER_LME);

	/* Clearing PG in 64-bit mode, with any other bits. */
	enter_long_mode(v, 0, 0x1000);
	EXPECT_GP(v, VMMU_REG_CR0, PROT_CR0);
	EXPECT_GP(v, VMMU_REG_CR0, PROT_CR0 | CR0_WP);
	/* Still a #GP for the earlier reasons in long mode. */
	EXPECT_GP(v, VMMU_REG_CR0, PAGING_CR0 | (1ull << 32));
	EXPECT_GP(v, VMMU_REG_CR0, PAGING_CR0 | CR0_NW);
	/* WP toggles are fine. */
	set(v, VMMU_REG_CR0, PAGING_CR0 | CR0_WP);
	set(v, VMMU_REG_CR0, PAGING_CR0);
	assert_int_equal(reg(v, VMMU_REG_EFER), EFER_LME | EFER_LMA | EFER_NXE);
}

/* ---- EFER.LMA ---- */

static void test_efer_lma(void **state)
{
	struct fixture *f = *state;
	struct vmmu_vcpu *v = f->v;

	/* LMA is read-only: writing it does nothing, with or without LME. */
	set(v, VMMU_REG_EFER, EFER_LMA);
	assert_int_equal(reg(v, VMMU_REG_EFER), 0);
	set(v, VMMU_REG_EFER, EFER_LMA | EFER_LME | EFER_SCE);
	assert_int_equal(reg(v, VMMU_REG_EFER), EFER_LME | EFER_SCE);

	/* PG without LME (PAE paging) leaves LMA clear. */
	set(v, VMMU_REG_EFER, 0);
	enter_pae(f, 0);
	assert_int_equal(reg(v, VMMU_REG_EFER), 0);
	set(v, VMMU_REG_CR0, PROT_CR0);
	assert_int_equal(reg(v, VMMU_REG_EFER), 0);

	/* PG with LME sets LMA. */
	set(v, VMMU_REG_EFER, EFER_LME);
	set(v, VMMU_REG_CR0, PAGING_CR0);
	assert_int_equal(reg(v, VMMU_REG_EFER), EFER_LME | EFER_LMA);
	assert_int_equal(reg(v, VMMU_REG_CR0), PAGING_CR0);

	/* In long mode, writes without bit 10 keep LMA; NXE and SCE may change. */
	set(v, VMMU_REG_EFER, EFER_LME | EFER_NXE);
	assert_int_equal(reg(v, VMMU_REG_EFER), EFER_LME | EFER_LMA | EFER_NXE);
	set(v, VMMU_REG_EFER, EFER_LME | EFER_LMA | EFER_SCE);
	assert_int_equal(reg(v, VMMU_REG_EFER), EFER_LME | EFER_LMA | EFER_SCE);

	/* Leaving 64-bit mode by clearing PG is a #GP: LMA stays. */
	EXPECT_GP(v, VMMU_REG_CR0, PROT_CR0);
	assert_int_equal(reg(v, VMMU_REG_EFER), EFER_LME | EFER_LMA | EFER_SCE);
}

/* ---- EFER ---- */

static void test_efer_gp(void **state)
{
	struct fixture *f = *state;
	struct vmmu_vcpu *v = f->v;
	const uint64_t supported = EFER_SCE | EFER_LME | EFER_LMA | EFER_NXE;

	for (unsigned int bit = 0; bit < 64; bit++) {
		uint64_t value = 1ull << bit;

		if (value & supported) {
			set(v, VMMU_REG_EFER, value);
			assert_int_equal(reg(v, VMMU_REG_EFER), value & ~EFER_LMA);
			set(v, VMMU_REG_EFER, 0);
		} else {
			EXPECT_GP(v, VMMU_REG_EFER, value);
			EXPECT_GP(v, VMMU_REG_EFER, value | EFER_NXE);
		}
	}

	/* Changing LME while CR0.PG=1, both ways. */
	set(v, VMMU_REG_CR3, 0);
	set(v, VMMU_REG_CR0, PAGING_CR0);            /* 32-bit paging */
	EXPECT_GP(v, VMMU_REG_EFER, EFER_LME);
	set(v, VMMU_REG_EFER, EFER_NXE);             /* NXE is fine */
	assert_int_equal(reg(v, VMMU_REG_EFER), EFER_NXE);
	set(v, VMMU_REG_CR0, PROT_CR0);
	enter_long_mode(v, 0, 0x1000);
	EXPECT_GP(v, VMMU_REG_EFER, EFER_NXE);
	EXPECT_GP(v, VMMU_REG_EFER, EFER_NXE | EFER_LMA);
	set(v, VMMU_REG_EFER, EFER_LME);
	assert_int_equal(reg(v, VMMU_REG_EFER), EFER_LME | EFER_LMA);
	/* An unsupported bit faults in long mode as well. */
	EXPECT_GP(v, VMMU_REG_EFER, EFER_LME | (1ull << 9));
}

/* ---- CR4 ---- */

static void test_cr4_gp(void **state)
{
	struct fixture *f = *state;
	struct vmmu_vcpu *v = f->v;

	/* Paging off, EFER.LMA=0: every supported bit but PCIDE may be set. */
	set(v, VMMU_REG_CR0, PROT_CR0);
	for (unsigned int bit = 0; bit < 64; bit++) {
		uint64_t value = 1ull << bit;

		if ((value & CR4_SUPPORTED) && value != CR4_PCIDE) {
			set(v, VMMU_REG_CR4, value);
			assert_int_equal(reg(v, VMMU_REG_CR4), value);
			set(v, VMMU_REG_CR4, 0);
		} else {
			EXPECT_GP(v, VMMU_REG_CR4, value);
			EXPECT_GP(v, VMMU_REG_CR4, value | CR4_PAE);
		}
	}
	set(v, VMMU_REG_CR4, CR4_SUPPORTED & ~CR4_PCIDE);
	assert_int_equal(reg(v, VMMU_REG_CR4), CR4_SUPPORTED & ~CR4_PCIDE);
	set(v, VMMU_REG_CR4, 0);

	/* Long mode: clearing PAE, changing LA57 (both ways), PCIDE with a
	 * non-zero CR3[11:0]. */
	enter_long_mode(v, 0, 0x1008);
	EXPECT_GP(v, VMMU_REG_CR4, 0);
	EXPECT_GP(v, VMMU_REG_CR4, CR4_PGE);
	EXPECT_GP(v, VMMU_REG_CR4, CR4_PAE | CR4_LA57);
	EXPECT_GP(v, VMMU_REG_CR4, CR4_PAE | CR4_PCIDE);
	EXPECT_GP(v, VMMU_REG_CR4, CR4_PAE | (1ull << 13));
	set(v, VMMU_REG_CR3, 0x1000);
	set(v, VMMU_REG_CR4, CR4_PAE | CR4_PCIDE);
	assert_int_equal(reg(v, VMMU_REG_CR4), CR4_PAE | CR4_PCIDE);
	/* Once set, PCIDE stays with a PCID in CR3, and may be cleared. */
	set(v, VMMU_REG_CR3, 0x1005);
	set(v, VMMU_REG_CR4, CR4_PAE | CR4_PCIDE | CR4_PGE);
	set(v, VMMU_REG_CR4, CR4_PAE | CR4_PGE);
	assert_int_equal(reg(v, VMMU_REG_CR4), CR4_PAE | CR4_PGE);
}

static void test_cr4_la57_in_long_mode(void **state)
{
	struct fixture *f = *state;
	struct vmmu_vcpu *v = f->v;

	enter_long_mode(v, CR4_LA57, 0x1000);
	assert_int_equal(reg(v, VMMU_REG_CR4), CR4_PAE | CR4_LA57);
	EXPECT_GP(v, VMMU_REG_CR4, CR4_PAE);
	EXPECT_GP(v, VMMU_REG_CR4, CR4_LA57);
	set(v, VMMU_REG_CR4, CR4_PAE | CR4_LA57 | CR4_SMEP);
	assert_int_equal(reg(v, VMMU_REG_CR4), CR4_PAE | CR4_LA57 | CR4_SMEP);
}

/* ---- CR3 ---- */

static void test_cr3(void **state)
{
	struct fixture *f = *state;
	struct vmmu_vcpu *v = f->v;
	const unsigned int m = f->maxphyaddr;

	/* Outside long mode: bits 63:32 fault, 31:0 are stored. */
	EXPECT_GP(v, VMMU_REG_CR3, 1ull << 32);
	EXPECT_GP(v, VMMU_REG_CR3, 1ull << 63);
	set(v, VMMU_REG_CR3, 0xfffff018);
	assert_int_equal(reg(v, VMMU_REG_CR3), 0xfffff018);
	set(v, VMMU_REG_CR3, 0);
	set(v, VMMU_REG_CR0, PAGING_CR0);                /* 32-bit paging */
	EXPECT_GP(v, VMMU_REG_CR3, 0x80000000ull << 1);
	set(v, VMMU_REG_CR3, 0x2000);
	set(v, VMMU_REG_CR0, PROT_CR0);
	set(v, VMMU_REG_CR3, 0);

	/* Long mode: bits 62:MAXPHYADDR fault; with PCIDE=0 bit 63 too. */
	enter_long_mode(v, 0, 0x1000);
	EXPECT_GP(v, VMMU_REG_CR3, 1ull << m);
	EXPECT_GP(v, VMMU_REG_CR3, 0x1000 | (1ull << 51));
	EXPECT_GP(v, VMMU_REG_CR3, 1ull << 62);
	EXPECT_GP(v, VMMU_REG_CR3, 0x1000 | (1ull << 63));
	set(v, VMMU_REG_CR3, (1ull << (m - 1)) | 0x18);
	assert_int_equal(reg(v, VMMU_REG_CR3), (1ull << (m - 1)) | 0x18);

	/* PCIDE=1: bit 63 means no flush and is not stored. */
	set(v, VMMU_REG_CR3, 0x1000);
	set(v, VMMU_REG_CR4, CR4_PAE | CR4_PCIDE);
	set(v, VMMU_REG_CR3, (1ull << 63) | 0x2abc);
	assert_int_equal(reg(v, VMMU_REG_CR3), 0x2abc);
	set(v, VMMU_REG_CR3, 0x3001);
	assert_int_equal(reg(v, VMMU_REG_CR3), 0x3001);
	/* ...but bits 62:MAXPHYADDR still fault, with or without it. */
	EXPECT_GP(v, VMMU_REG_CR3, (1ull << 63) | (1ull << m) | 0x2000);
	EXPECT_GP(v, VMMU_REG_CR3, (1ull << 62) | 0x2000);
	struct vmmu_vcpu_state st = { .size = sizeof(st) };

	assert_int_equal(vmmu_vcpu_get_state(v, &st), 0);
	assert_int_equal(st.cr3, 0x3001);
}

/* ---- PAE PDPTE loads ---- */

/* Which writes load the PDPTEs: memory changes to a new generation before
 * each write, and the registers show whether the write read it. */
static void test_pdpte_load_points(void **state)
{
	struct fixture *f = *state;
	struct vmmu_vcpu *v = f->v;
	unsigned int gen = 0;
	struct {
		enum vmmu_reg reg;
		uint64_t value;
		bool loads;
		const char *what;
	} steps[] = {
		/* From PAE paging: CR0 = PG|PE|ET, CR4 = PAE. */
		{ VMMU_REG_CR0, PAGING_CR0 | CR0_WP, false, "CR0.WP" },
		{ VMMU_REG_CR0, PAGING_CR0 | CR0_WP | CR0_AM | CR0_MP | CR0_NE, false,
		  "CR0.AM/MP/NE" },
		{ VMMU_REG_CR0, PAGING_CR0 | CR0_WP | CR0_AM | CR0_MP | CR0_NE, false,
		  "same CR0" },
		{ VMMU_REG_CR0, PAGING_CR0 | CR0_CD, true, "CR0.CD set" },
		{ VMMU_REG_CR0, PAGING_CR0 | CR0_CD | CR0_NW, true, "CR0.NW set" },
		{ VMMU_REG_CR0, PAGING_CR0 | CR0_CD, true, "CR0.NW clear" },
		{ VMMU_REG_CR0, PAGING_CR0, true, "CR0.CD clear" },
		{ VMMU_REG_CR4, CR4_PAE | CR4_PGE, true, "CR4.PGE set" },
		{ VMMU_REG_CR4, CR4_PAE, true, "CR4.PGE clear" },
		{ VMMU_REG_CR4, CR4_PAE | CR4_PSE, true, "CR4.PSE set" },
		{ VMMU_REG_CR4, CR4_PAE | CR4_PSE | CR4_SMEP, true, "CR4.SMEP set" },
		{ VMMU_REG_CR4, CR4_PAE | CR4_PSE, true, "CR4.SMEP clear" },
		{ VMMU_REG_CR4, CR4_PAE, true, "CR4.PSE clear" },
		{ VMMU_REG_CR4, CR4_PAE | CR4_SMAP, false, "CR4.SMAP" },
		{ VMMU_REG_CR4, CR4_PAE | CR4_SMAP | CR4_PKE | CR4_PKS, false, "CR4.PKE/PKS" },
		{ VMMU_REG_CR4, CR4_PAE | 0x0f | (1ull << 8) | (3ull << 9) | (1ull << 11), false,
		  "CR4 VME..DE, PCE, OSFXSR, OSXMMEXCPT, UMIP" },
		{ VMMU_REG_CR4, CR4_PAE | (1ull << 16) | (1ull << 18), false,
		  "CR4.FSGSBASE/OSXSAVE" },
		{ VMMU_REG_CR4, CR4_PAE | CR4_LA57, false, "CR4.LA57 outside long mode" },
		{ VMMU_REG_CR4, CR4_PAE, false, "back to CR4.PAE" },
		{ VMMU_REG_EFER, EFER_NXE, false, "EFER.NXE" },
		{ VMMU_REG_EFER, EFER_NXE | EFER_SCE, false, "EFER.SCE" },
		{ VMMU_REG_RFLAGS, 0x40002, false, "RFLAGS" },
		{ VMMU_REG_PKRU, 0xc, false, "PKRU" },
		{ VMMU_REG_PKRS, 0xc, false, "PKRS" },
		{ VMMU_REG_CPL, 3, false, "CPL" },
		{ VMMU_REG_SMM, 1, false, "enter SMM" },
		{ VMMU_REG_SMM, 0, false, "leave SMM" },
		{ VMMU_REG_CR3, PDPT_GPA, true, "MOV CR3, same value" },
		{ VMMU_REG_CR3, PDPT_GPA | 0x18, true, "MOV CR3 with PWT/PCD" },
		/* PAE paging off and back on. */
		{ VMMU_REG_CR0, PROT_CR0, false, "CR0.PG clear" },
		{ VMMU_REG_CR3, PDPT_GPA, false, "MOV CR3, paging off" },
		{ VMMU_REG_CR4, CR4_PAE | CR4_PGE, false, "CR4.PGE, paging off" },
		{ VMMU_REG_CR0, PAGING_CR0, true, "CR0.PG set" },
		/* To 32-bit paging and back. */
		{ VMMU_REG_CR4, CR4_PGE, false, "CR4.PAE clear" },
		{ VMMU_REG_CR3, PDPT_GPA, false, "MOV CR3, 32-bit paging" },
		{ VMMU_REG_CR4, CR4_PGE | CR4_PSE, false, "CR4.PSE, 32-bit paging" },
		{ VMMU_REG_CR0, PAGING_CR0 | CR0_CD, false, "CR0.CD, 32-bit paging" },
		{ VMMU_REG_CR0, PAGING_CR0, false, "CR0.CD clear, 32-bit paging" },
		{ VMMU_REG_CR4, CR4_PAE | CR4_PGE | CR4_PSE, true, "CR4.PAE set" },
	};

	enter_pae(f, gen);
	CHECK_PDPTES(v, gen, "entering PAE paging");
	for (unsigned int i = 0; i < ARRAY_SIZE(steps); i++) {
		uint64_t before[4];

		get_pdptes(v, before);
		write_pdpt(f, PDPT_GPA, gen + 1);
		set(v, steps[i].reg, steps[i].value);
		if (steps[i].loads) {
			gen++;
			CHECK_PDPTES(v, gen, steps[i].what);
		} else {
			uint64_t after[4];

			get_pdptes(v, after);
			if (memcmp(before, after, sizeof(before)))
				fail_msg("%s loaded the PDPTEs", steps[i].what);
		}
	}

	/* MOV CR3 to another table loads from there, CR3[31:5] being its
	 * address. */
	write_pdpt(f, 0x5020, 40);
	write_pdpt(f, 0x5000, 41);
	set(v, VMMU_REG_CR3, 0x5020);
	CHECK_PDPTES(v, 40, "MOV CR3 0x5020");
	set(v, VMMU_REG_CR3, 0x5000);
	CHECK_PDPTES(v, 41, "MOV CR3 0x5000");
}

static void test_pdpte_no_load_in_long_mode(void **state)
{
	struct fixture *f = *state;
	struct vmmu_vcpu *v = f->v;
	uint64_t zero[4] = { 0 }, got[4];

	/* Garbage (reserved bits) where CR3 points: long mode never loads. */
	put64(f, 0x1000, 0xffffffffffffffffull);
	put64(f, 0x1008, 0x1e7);
	enter_long_mode(v, 0, 0x1000);
	set(v, VMMU_REG_CR3, 0x1000);
	set(v, VMMU_REG_CR4, CR4_PAE | CR4_PGE | CR4_SMEP);
	set(v, VMMU_REG_CR0, PAGING_CR0 | CR0_CD);
	get_pdptes(v, got);
	assert_memory_equal(got, zero, sizeof(zero));
	/* Nor does a CR3 without RAM behind it fault there. */
	set(v, VMMU_REG_CR3, 0x10000000);
	assert_int_equal(reg(v, VMMU_REG_CR3), 0x10000000);
}

/* A present PDPTE with a reserved bit (2:1, 8:5, 63:MAXPHYADDR) makes the
 * loading write #GP; not-present ones and the other bits do not. */
#define PDPTE_BASE 0x100000ull

static void test_pdpte_reserved_bits(void **state)
{
	struct fixture *f = *state;
	struct vmmu_vcpu *v = f->v;
	const unsigned int m = f->maxphyaddr;
	unsigned int bad[] = { 1, 2, 5, 6, 7, 8, m, m + 1, 51, 52, 58, 62, 63 };
	unsigned int good[] = { 3, 4, 9, 10, 11, 12, m - 1 };

	enter_pae(f, 0);
	for (unsigned int slot = 0; slot < 4; slot++) {
		for (unsigned int i = 0; i < ARRAY_SIZE(bad); i++) {
			write_pdpt(f, PDPT_GPA, 1);
			put64(f, PDPT_GPA + 8 * slot, PDPTE_BASE | 1 | (1ull << bad[i]));
			EXPECT_GP(v, VMMU_REG_CR3, PDPT_GPA);
			EXPECT_GP(v, VMMU_REG_CR4, CR4_PAE | CR4_PGE);
			EXPECT_GP(v, VMMU_REG_CR0, PAGING_CR0 | CR0_CD);
			CHECK_PDPTES(v, 0, "after #GP");
			/* Not present: no fault, loaded as it is. */
			put64(f, PDPT_GPA + 8 * slot, PDPTE_BASE | (1ull << bad[i]));
			set(v, VMMU_REG_CR3, PDPT_GPA);
			uint64_t got[4];

			get_pdptes(v, got);
			assert_int_equal(got[slot], PDPTE_BASE | (1ull << bad[i]));
			enter_pae(f, 0);
		}
		for (unsigned int i = 0; i < ARRAY_SIZE(good); i++) {
			uint64_t got[4];

			put64(f, PDPT_GPA + 8 * slot, PDPTE_BASE | 1 | (1ull << good[i]));
			set(v, VMMU_REG_CR3, PDPT_GPA);
			get_pdptes(v, got);
			assert_int_equal(got[slot], PDPTE_BASE | 1 | (1ull << good[i]));
			enter_pae(f, 0);
		}
	}

	/* Entering PAE paging through CR0.PG or CR4.PAE with a bad PDPTE. */
	set(v, VMMU_REG_CR0, PROT_CR0);
	put64(f, PDPT_GPA + 16, PDPTE_BASE | 1 | (1ull << 5));
	EXPECT_GP(v, VMMU_REG_CR0, PAGING_CR0);
	assert_int_equal(reg(v, VMMU_REG_CR0), PROT_CR0);
	set(v, VMMU_REG_CR4, 0);
	set(v, VMMU_REG_CR0, PAGING_CR0);                 /* 32-bit paging: no load */
	EXPECT_GP(v, VMMU_REG_CR4, CR4_PAE);
	assert_int_equal(reg(v, VMMU_REG_CR4), 0);
}

/* PDPTEs at a GPA without RAM: every loading write faults. */
static void test_pdpte_no_ram(void **state)
{
	struct fixture *f = *state;
	struct vmmu_vcpu *v = f->v;
	const uint64_t no_ram = RAM_SIZE + 0x1000;

	enter_pae(f, 0);
	EXPECT_GP(v, VMMU_REG_CR3, no_ram);
	EXPECT_GP(v, VMMU_REG_CR3, 0xffffffe0);
	CHECK_PDPTES(v, 0, "after #GP");
	/* Last 32 bytes of RAM are fine. */
	write_pdpt(f, RAM_SIZE - 32, 3);
	set(v, VMMU_REG_CR3, RAM_SIZE - 32);
	CHECK_PDPTES(v, 3, "PDPT at the end of RAM");

	/* Paging off, CR3 without RAM behind: setting PG faults. */
	set(v, VMMU_REG_CR0, PROT_CR0);
	set(v, VMMU_REG_CR3, no_ram);
	EXPECT_GP(v, VMMU_REG_CR0, PAGING_CR0);
	/* 32-bit paging with that CR3 is fine, setting PAE then is not. */
	set(v, VMMU_REG_CR4, 0);
	set(v, VMMU_REG_CR0, PAGING_CR0);
	EXPECT_GP(v, VMMU_REG_CR4, CR4_PAE);
	/* Nor a PGE toggle in PAE paging once RAM went away under CR3. */
	set(v, VMMU_REG_CR3, PDPT_GPA);
	set(v, VMMU_REG_CR4, CR4_PAE);
	assert_int_equal(vmmu_memslot_delete(f->vm, VMMU_AS_NORMAL, 0), 0);
	EXPECT_GP(v, VMMU_REG_CR4, CR4_PAE | CR4_PGE);
	EXPECT_GP(v, VMMU_REG_CR3, PDPT_GPA);
	/* CR0.WP does not load: no fault. */
	set(v, VMMU_REG_CR0, PAGING_CR0 | CR0_WP);
}

/* ---- vmmu_vcpu_set_state ---- */

static struct vmmu_vcpu_state long_mode_state(void)
{
	return (struct vmmu_vcpu_state){
		.size = sizeof(struct vmmu_vcpu_state), .cpl = 3,
		.cr0 = PAGING_CR0 | CR0_WP | CR0_AM | CR0_NE | CR0_MP,
		.cr3 = 0x7005,
		.cr4 = CR4_PAE | CR4_PGE | CR4_PCIDE | CR4_SMEP | CR4_SMAP | CR4_PKE,
		.efer = EFER_SCE | EFER_LME | EFER_LMA | EFER_NXE,
		.rflags = 0x40202, .pkru = 0x12345678, .smm = 0, .pkrs = 0x55,
	};
}

static struct vmmu_vcpu_state pae_state(void)
{
	return (struct vmmu_vcpu_state){
		.size = sizeof(struct vmmu_vcpu_state), .cpl = 0,
		.cr0 = PAGING_CR0 | CR0_WP, .cr3 = 0x10000000,   /* no RAM: taken as given */
		.cr4 = CR4_PAE | CR4_PGE, .efer = EFER_NXE, .rflags = 2,
		.pdpte = { 0x1001, 0x2000 | (1ull << 7) | (1ull << 63), 0, 0x3019 },
	};
}

static void expect_state_rejected_at(struct vmmu_vcpu *v, const struct vmmu_vcpu_state *st,
				     int line)
{
	struct snapshot before, after;
	int ret;

	take_snapshot(v, &before);
	ret = vmmu_vcpu_set_state(v, st);
	if (ret != -EINVAL)
		fail_msg("line %d: set_state returned %d, expected -EINVAL", line, ret);
	take_snapshot(v, &after);
	check_unchanged(&before, &after, line);
}

#define REJECT(base, field_change)                                        \
	do {                                                              \
		struct vmmu_vcpu_state s_ = (base);                       \
		field_change;                                             \
		expect_state_rejected_at(v, &s_, __LINE__);               \
	} while (0)

static void test_set_state(void **state)
{
	struct fixture *f = *state;
	struct vmmu_vcpu *v = f->v;
	struct vmmu_vcpu_state lm = long_mode_state(), pae = pae_state(), got;
	struct snapshot snap;

	/* A long-mode state round-trips, without side effects. */
	assert_int_equal(vmmu_vcpu_set_state(v, &lm), 0);
	got = (struct vmmu_vcpu_state){ .size = sizeof(got) };
	assert_int_equal(vmmu_vcpu_get_state(v, &got), 0);
	assert_memory_equal(&got, &lm, sizeof(lm));
	take_snapshot(v, &snap);
	assert_int_equal(snap.reg[VMMU_REG_CR3], 0x7005);
	assert_int_equal(snap.reg[VMMU_REG_CPL], 3);
	assert_int_equal(snap.reg[VMMU_REG_PKRU], 0x12345678);
	assert_int_equal(snap.reg[VMMU_REG_RFLAGS], 0x40202);

	/* Impossible states, from the long-mode one. */
	REJECT(lm, s_.cr0 |= 1ull << 32);
	REJECT(lm, s_.cr0 &= ~CR0_PE);                    /* PG without PE */
	REJECT(lm, s_.cr0 |= CR0_NW);                     /* NW without CD */
	REJECT(lm, s_.cr0 &= ~CR0_PG);                    /* LMA without PG */
	REJECT(lm, s_.efer &= ~EFER_LMA);                 /* PG && LME without LMA */
	REJECT(lm, s_.efer &= ~EFER_LME);                 /* LMA without LME */
	REJECT(lm, s_.cr4 &= ~CR4_PAE);                   /* LMA without PAE */
	REJECT(lm, s_.cr4 |= 1ull << 13);
	REJECT(lm, s_.cr4 |= 1ull << 23);
	REJECT(lm, s_.cr4 |= 1ull << 32);
	REJECT(lm, s_.efer |= 1ull << 1);
	REJECT(lm, s_.efer |= 1ull << 9);
	REJECT(lm, s_.cr3 |= 1ull << f->maxphyaddr);
	REJECT(lm, s_.cr3 |= 1ull << 62);
	REJECT(lm, s_.cpl = 4);
	REJECT(lm, s_.smm = 2);
	REJECT(lm, s_.pkrs = 1ull << 32);
	REJECT(lm, s_.size = sizeof(s_) - 8);
	REJECT(lm, s_.size = 0);
	assert_int_equal(vmmu_vcpu_set_state(v, NULL), -EINVAL);
	assert_int_equal(vmmu_vcpu_set_state(NULL, &lm), -EINVAL);

	/* A PAE state: PDPTEs taken as given (a not-present one may hold
	 * anything), no memory read at CR3. */
	assert_int_equal(vmmu_vcpu_set_state(v, &pae), 0);
	got = (struct vmmu_vcpu_state){ .size = sizeof(got) };
	assert_int_equal(vmmu_vcpu_get_state(v, &got), 0);
	assert_memory_equal(&got, &pae, sizeof(pae));

	/* Impossible PAE states. */
	REJECT(pae, s_.pdpte[0] |= 1ull << 1);
	REJECT(pae, s_.pdpte[3] |= 1ull << 7);
	REJECT(pae, s_.pdpte[0] |= 1ull << f->maxphyaddr);
	REJECT(pae, s_.pdpte[3] |= 1ull << 63);
	REJECT(pae, s_.cr4 |= CR4_PCIDE);                 /* PCIDE without LMA */
	REJECT(pae, s_.cr3 |= 1ull << 32);                /* CR3[63:32] outside long mode */
	REJECT(pae, s_.efer |= EFER_LMA);                 /* LMA without LME */
	REJECT(pae, s_.efer |= EFER_LME);                 /* PG && LME without LMA */
	REJECT(pae, s_.efer |= EFER_LME | EFER_LMA; s_.cr0 &= ~CR0_PG);

	/* Paging off with LME set (not yet active) is a real state. */
	pae.cr0 = PROT_CR0;
	pae.efer = EFER_LME;
	assert_int_equal(vmmu_vcpu_set_state(v, &pae), 0);
	assert_int_equal(reg(v, VMMU_REG_EFER), EFER_LME);
	/* And a write of PG then enters long mode. */
	set(v, VMMU_REG_CR3, 0x1000);
	set(v, VMMU_REG_CR0, PAGING_CR0);
	assert_int_equal(reg(v, VMMU_REG_EFER), EFER_LME | EFER_LMA);

	/* get_state with a short size. */
	got.size = sizeof(got) - 8;
	assert_int_equal(vmmu_vcpu_get_state(v, &got), -EINVAL);
	assert_int_equal(vmmu_vcpu_get_state(v, NULL), -EINVAL);
}

/* ---- -EINVAL ---- */

static void test_einval(void **state)
{
	struct fixture *f = *state;
	struct vmmu_vcpu *v = f->v;
	uint64_t value = 0;

	/* Start from a state with something in every register. */
	enter_long_mode(v, CR4_PKE, 0x1000);
	set(v, VMMU_REG_RFLAGS, 0x40002);
	set(v, VMMU_REG_PKRU, 0x55);
	set(v, VMMU_REG_PKRS, 0xaa);
	set(v, VMMU_REG_CPL, 3);

	EXPECT_EINVAL(v, VMMU_REG_NR, 0);
	EXPECT_EINVAL(v, (enum vmmu_reg)100, 0);
	EXPECT_EINVAL(v, VMMU_REG_CPL, 4);
	EXPECT_EINVAL(v, VMMU_REG_CPL, 1ull << 32);
	EXPECT_EINVAL(v, VMMU_REG_PKRU, 1ull << 32);
	EXPECT_EINVAL(v, VMMU_REG_PKRU, ~0ull);
	EXPECT_EINVAL(v, VMMU_REG_SMM, 2);
	EXPECT_EINVAL(v, VMMU_REG_SMM, ~0ull);
	assert_int_equal(vmmu_vcpu_set_reg(NULL, VMMU_REG_CR0, PROT_CR0), -EINVAL);
	assert_int_equal(vmmu_vcpu_get_reg(NULL, VMMU_REG_CR0, &value), -EINVAL);
	assert_int_equal(vmmu_vcpu_get_reg(v, VMMU_REG_CR0, NULL), -EINVAL);
	assert_int_equal(vmmu_vcpu_get_reg(v, VMMU_REG_NR, &value), -EINVAL);

	/* WRMSR IA32_PKRS with bits 63:32: #GP, not a misuse. */
	EXPECT_GP(v, VMMU_REG_PKRS, 1ull << 32);

	/* The limits themselves are fine. */
	set(v, VMMU_REG_PKRU, 0xffffffff);
	assert_int_equal(reg(v, VMMU_REG_PKRU), 0xffffffff);
	set(v, VMMU_REG_PKRS, 0xffffffff);
	assert_int_equal(reg(v, VMMU_REG_PKRS), 0xffffffff);
	set(v, VMMU_REG_CPL, 0);
	assert_int_equal(reg(v, VMMU_REG_CPL), 0);
	set(v, VMMU_REG_RFLAGS, 0x2);
	assert_int_equal(reg(v, VMMU_REG_RFLAGS), 0x2);
}

/* ---- SMM ---- */

static int phys_byte(struct vmmu_vcpu *v, uint64_t gpa)
{
	struct vmmu_result res;
	uint8_t b = 0;

	assert_int_equal(vmmu_vcpu_read_phys(v, gpa, &b, 1, &res), 0);
	return res.outcome == VMMU_OK ? b : -1;
}

static void test_smm(void **state)
{
	struct fixture *f = *state;
	struct vmmu_vcpu *v = f->v;
	struct snapshot before, after;
	struct vmmu_result res;

	f->ram[0x1000] = 0x11;
	f->smram[0x10] = 0x22;

	enter_pae(f, 0);
	take_snapshot(v, &before);
	assert_int_equal(phys_byte(v, SMRAM_GPA + 0x10), -1);
	assert_int_equal(phys_byte(v, 0x1000), 0x11);

	/* In SMM: address space 1 only (SMRAM, and no alias of RAM here). */
	set(v, VMMU_REG_SMM, 1);
	assert_int_equal(reg(v, VMMU_REG_SMM), 1);
	assert_int_equal(phys_byte(v, SMRAM_GPA + 0x10), 0x22);
	assert_int_equal(phys_byte(v, 0x1000), -1);
	set(v, VMMU_REG_SMM, 1);                            /* repeating does nothing */
	assert_int_equal(phys_byte(v, SMRAM_GPA + 0x10), 0x22);
	/* No register changes, PDPTEs included. */
	take_snapshot(v, &after);
	assert_int_equal(after.reg[VMMU_REG_SMM], 1);
	after.reg[VMMU_REG_SMM] = 0;
	after.st.smm = 0;
	check_unchanged(&before, &after, __LINE__);

	/* PDPTEs load from SMRAM in SMM... */
	write_pdpt(f, PDPT_GPA, 7);
	for (unsigned int i = 0; i < 4; i++) {
		uint64_t values[4];

		pdpte_values(5, values);
		memcpy(f->smram + 0x20 + 8 * i, &values[i], 8);
	}
	set(v, VMMU_REG_CR3, SMRAM_GPA + 0x20);
	CHECK_PDPTES(v, 5, "PDPT in SMRAM, in SMM");
	/* ...and not from normal memory, which this address space lacks. */
	EXPECT_GP(v, VMMU_REG_CR3, PDPT_GPA);

	/* Back out of SMM: SMRAM is gone, RAM is back. */
	set(v, VMMU_REG_SMM, 0);
	assert_int_equal(reg(v, VMMU_REG_SMM), 0);
	CHECK_PDPTES(v, 5, "leaving SMM");
	assert_int_equal(phys_byte(v, SMRAM_GPA + 0x10), -1);
	assert_int_equal(phys_byte(v, 0x1000), 0x11);
	EXPECT_GP(v, VMMU_REG_CR3, SMRAM_GPA + 0x20);
	set(v, VMMU_REG_CR3, PDPT_GPA);
	CHECK_PDPTES(v, 7, "PDPT in RAM, outside SMM");

	/* Guest accesses follow the address space too (paging off). */
	set(v, VMMU_REG_CR0, PROT_CR0);
	assert_int_equal(vmmu_vcpu_translate(v, SMRAM_GPA, 1, VMMU_ACCESS_READ, &res), 0);
	assert_int_equal(res.outcome, VMMU_MMIO);
	set(v, VMMU_REG_SMM, 1);
	assert_int_equal(vmmu_vcpu_translate(v, SMRAM_GPA, 1, VMMU_ACCESS_READ, &res), 0);
	assert_int_equal(res.outcome, VMMU_OK);
	assert_ptr_equal(res.hva, f->smram);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup46, teardown)
#define T36(fn) { #fn "/maxphyaddr=36", fn, setup36, teardown, NULL }
	const struct CMUnitTest tests[] = {
		T(test_reset_state),
		T(test_cr0_gp),
		T(test_efer_lma),
		T(test_efer_gp),
		T(test_cr4_gp),
		T(test_cr4_la57_in_long_mode),
		T(test_cr3),
		T36(test_cr3),
		T(test_pdpte_load_points),
		T(test_pdpte_no_load_in_long_mode),
		T(test_pdpte_reserved_bits),
		T36(test_pdpte_reserved_bits),
		T(test_pdpte_no_ram),
		T(test_set_state),
		T36(test_set_state),
		T(test_einval),
		T(test_smm),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
