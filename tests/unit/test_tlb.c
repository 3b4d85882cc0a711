/* SPDX-License-Identifier: MIT */
/*
 * The per-vCPU software TLB (src/vcpu/tlb.c, include/vmmu.h "Fast path"):
 *
 * - hits return exactly what a walk returns (vmmu_vcpu_probe) under every
 *   combination of the registers a hit applies (CR0.WP, CR4.SMEP/SMAP/PKE/
 *   PKS, RFLAGS.AC, CPL, PKRU, PKRS), for every access kind, on pages with
 *   every rights combination at the leaf and above it, keys, a large page,
 *   a read-only slot and MMIO; the inline hit agrees;
 * - each flush rule: PCID tagging, global entries across CR3 writes, CR3
 *   bit 63, INVLPG (other PCIDs, global entries, every piece of a large
 *   page), CR0.PG, the CR4 bits, SMM, EFER.NXE, vmmu_vcpu_flush;
 * - the D-bit rule, memslot deletion and addition, read-only slots;
 * - a randomized differential test against a reference vCPU that flushes
 *   before every access (outcomes, and A/D flags byte for byte), with the
 *   trace format's caching rule respected;
 * - the request-and-kick protocol between threads.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "vm/vm.h"
#include "vmmu.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/*
 * Guest memory:
 *   RAM   0x0000000..0x0ffffff  slot 0 (tables at 0x1000..0xffff, data above 1M)
 *   ROM   0x2000000..0x200ffff  slot 1, read-only
 *   XRAM  0x2800000..0x280ffff  slot 2 (deleted and re-added by tests)
 *   none  0x3000000
 * 4-level tables: PML4 0x1000 -> PDPT 0x2000 -> PD 0x3000, and PD[n] for
 * n < 6 -> PT at 0x4000 + n * 0x1000 (with the PDE flags below), PD[6] a
 * 2M page at 0x800000.  GVA = PD index << 21 | PT index << 12.
 */
#define RAM_SIZE   0x1000000ull
#define ROM_GPA    0x2000000ull
#define ROM_SIZE   0x10000ull
#define XRAM_GPA   0x2800000ull
#define XRAM_SIZE  0x10000ull
#define NORAM_GPA  0x3000000ull

#define PML4_GPA   0x1000ull
#define PML4B_GPA  0xe000ull        /* a second PML4 for CR3 switches */
#define PDPT_GPA   0x2000ull
#define PD_GPA     0x3000ull
#define PT_GPA(n)  (0x4000ull + (n) * 0x1000ull)
#define LARGE_GPA  0x800000ull
#define DATA_GPA   0x100000ull

#define PTE_P   (1ull << 0)
#define PTE_W   (1ull << 1)
#define PTE_U   (1ull << 2)
#define PTE_A   (1ull << 5)
#define PTE_D   (1ull << 6)
#define PTE_PS  (1ull << 7)
#define PTE_G   (1ull << 8)
#define PTE_XD  (1ull << 63)
#define PTE_KEY(k) ((uint64_t)(k) << 59)

#define CR0_PE    (1ull << 0)
#define CR0_ET    (1ull << 4)
#define CR0_WP    (1ull << 16)
#define CR0_PG    (1ull << 31)
#define CR4_PSE   (1ull << 4)
#define CR4_PAE   (1ull << 5)
#define CR4_PGE   (1ull << 7)
#define CR4_LA57  (1ull << 12)
#define CR4_PCIDE (1ull << 17)
#define CR4_SMEP  (1ull << 20)
#define CR4_SMAP  (1ull << 21)
#define CR4_PKE   (1ull << 22)
#define CR4_PKS   (1ull << 24)
#define EFER_LME  (1ull << 8)
#define EFER_NXE  (1ull << 11)
#define RFLAGS_AC (1ull << 18)
#define CR3_NOFLUSH (1ull << 63)

#define CR0_LONG  (CR0_PG | CR0_ET | CR0_PE)

/* PDE flags of the PTs: rights above the leaf. */
static const uint64_t pde_flags[6] = {
	PTE_P | PTE_W | PTE_U,
	PTE_P | PTE_U,               /* W=0 above */
	PTE_P | PTE_W,               /* U=0 above */
	PTE_P | PTE_W | PTE_U | PTE_XD,
	PTE_P | PTE_W | PTE_U,
	PTE_P | PTE_W | PTE_U,
};

struct fixture {
	struct vmmu_vm *vm;
	struct vmmu_vcpu *v;
	uint8_t *ram, *rom, *xram;
};

static uint64_t gva_at(unsigned int pd, unsigned int pt)
{
	return ((uint64_t)pd << 21) | ((uint64_t)pt << 12);
}

static uint64_t *pte_at(struct fixture *f, uint64_t gpa)
{
	return (uint64_t *)(f->ram + gpa);
}

/* The leaf PTE of GVA (pd, pt). */
static uint64_t *leaf(struct fixture *f, unsigned int pd, unsigned int pt)
{
	return pte_at(f, PT_GPA(pd) + 8ull * pt);
}

static uint64_t data_gpa(unsigned int pd, unsigned int pt)
{
	return DATA_GPA + ((uint64_t)pd * 512 + pt) * 0x1000;
}

static void set_reg(struct vmmu_vcpu *v, enum vmmu_reg r, uint64_t value)
{
	int ret = vmmu_vcpu_set_reg(v, r, value);

	if (ret)
		fail_msg("set_reg(%d, %#llx) = %d", r, (unsigned long long)value, ret);
}

static uint64_t get_reg(struct vmmu_vcpu *v, enum vmmu_reg r)
{
	uint64_t value = 0;

	assert_int_equal(vmmu_vcpu_get_reg(v, r, &value), 0);
	return value;
}

static void build_tables(uint8_t *ram)
{
	uint64_t *p = (uint64_t *)ram;

	memset(ram, 0, 0x10000);
	p[PML4_GPA / 8] = PDPT_GPA | PTE_P | PTE_W | PTE_U;
	p[PML4B_GPA / 8] = PDPT_GPA | PTE_P | PTE_W | PTE_U;
	p[PDPT_GPA / 8] = PD_GPA | PTE_P | PTE_W | PTE_U;
	for (unsigned int n = 0; n < 6; n++)
		p[PD_GPA / 8 + n] = PT_GPA(n) | pde_flags[n];
	p[PD_GPA / 8 + 6] = LARGE_GPA | PTE_P | PTE_W | PTE_U | PTE_PS;
	/* Every PT maps its first 64 pages, writable user pages by default. */
	for (unsigned int n = 0; n < 6; n++)
		for (unsigned int i = 0; i < 64; i++)
			p[PT_GPA(n) / 8 + i] = (DATA_GPA + ((uint64_t)n * 512 + i) * 0x1000) |
					       PTE_P | PTE_W | PTE_U;
}

static void long_mode(struct vmmu_vcpu *v, uint64_t cr4_extra)
{
	set_reg(v, VMMU_REG_EFER, EFER_LME | EFER_NXE);
	set_reg(v, VMMU_REG_CR4, CR4_PAE | cr4_extra);
	set_reg(v, VMMU_REG_CR3, PML4_GPA);
	set_reg(v, VMMU_REG_CR0, CR0_LONG);
}

static void *map_anon(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

static int add_slot(struct vmmu_vm *vm, uint32_t id, uint64_t gpa, uint64_t size, void *hva,
		    uint32_t flags)
{
	struct vmmu_memslot s = { .id = id, .gpa = gpa, .size = size, .hva = hva, .flags = flags };

	return vmmu_memslot_add(vm, &s);
}

static int fixture_init(struct fixture *f)
{
	struct vmmu_vm_config cfg = { .size = sizeof(cfg), .mmu = VMMU_MMU_DIRECT, .max_vcpus = 8 };

	f->ram = map_anon(RAM_SIZE);
	f->rom = map_anon(ROM_SIZE);
	f->xram = map_anon(XRAM_SIZE);
	if (!f->ram || !f->rom || !f->xram)
		return -1;
	build_tables(f->ram);
	if (vmmu_vm_create(&cfg, &f->vm) || vmmu_vcpu_create(f->vm, 0, &f->v))
		return -1;
	if (add_slot(f->vm, 0, 0, RAM_SIZE, f->ram, 0) ||
	    add_slot(f->vm, 1, ROM_GPA, ROM_SIZE, f->rom, VMMU_MEMSLOT_READONLY) ||
	    add_slot(f->vm, 2, XRAM_GPA, XRAM_SIZE, f->xram, 0))
		return -1;
	long_mode(f->v, 0);
	return 0;
}

static void fixture_fini(struct fixture *f)
{
	vmmu_vcpu_destroy(f->v);
	vmmu_vm_destroy(f->vm);
	munmap(f->ram, RAM_SIZE);
	munmap(f->rom, ROM_SIZE);
	munmap(f->xram, XRAM_SIZE);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f || fixture_init(f))
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	fixture_fini(f);
	free(f);
	return 0;
}

static struct vmmu_stats stats(struct vmmu_vm *vm)
{
	struct vmmu_stats st = { .size = sizeof(st) };

	assert_int_equal(vmmu_vm_get_stats(vm, &st), 0);
	return st;
}

/* The TLB entry that would serve @gva, if it holds @gva's page. */
static const struct vmmu_tlb_entry *cached(struct vmmu_vcpu *v, uint64_t gva)
{
	const struct vmmu_tlb *t = vmmu_vcpu_tlb(v);
	const struct vmmu_tlb_entry *e = vmmu_tlb_entry_of(t, gva);

	if ((e->tag & (VMMU_TLB_PAGE_MASK | VMMU_TLB_INVALID)) == (gva & VMMU_TLB_PAGE_MASK) &&
	    e->pcid == t->pcid)
		return e;
	return NULL;
}

static struct vmmu_result xlate(struct vmmu_vcpu *v, uint64_t gva, uint32_t flags)
{
	struct vmmu_result res;

	assert_int_equal(vmmu_vcpu_translate(v, gva, 4, flags, &res), 0);
	return res;
}

static uint64_t xlate_gpa(struct vmmu_vcpu *v, uint64_t gva)
{
	struct vmmu_result res = xlate(v, gva, VMMU_ACCESS_READ);

	if (res.outcome != VMMU_OK && res.outcome != VMMU_MMIO)
		fail_msg("GVA %#llx: outcome %u error %#x", (unsigned long long)gva, res.outcome,
			 res.error_code);
	return res.gpa;
}

static void expect_same(const struct vmmu_result *want, const struct vmmu_result *got,
			const char *what, uint64_t gva, uint32_t flags)
{
	if (want->outcome != got->outcome || want->error_code != got->error_code ||
	    want->fault_gva != got->fault_gva || want->gpa != got->gpa ||
	    want->hva != got->hva || want->len != got->len || want->len2 != got->len2 ||
	    (want->len2 && (want->gpa2 != got->gpa2 || want->hva2 != got->hva2)))
		fail_msg("%s: GVA %#llx access %#x: walk says outcome %u err %#x gpa %#llx, "
			 "TLB says outcome %u err %#x gpa %#llx", what, (unsigned long long)gva,
			 flags, want->outcome, want->error_code, (unsigned long long)want->gpa,
			 got->outcome, got->error_code, (unsigned long long)got->gpa);
}

/* ---- hits apply the registers exactly as a walk does ---- */

struct page_case {
	uint64_t gva;
	const char *what;
};

static bool is_write_kind(unsigned int kind)
{
	return kind == VMMU_TLB_WRITE || kind == VMMU_TLB_IMPLICIT_WRITE;
}

static const uint32_t kind_flags[VMMU_TLB_NR_KINDS] = {
	[VMMU_TLB_READ] = VMMU_ACCESS_READ,
	[VMMU_TLB_WRITE] = VMMU_ACCESS_WRITE,
	[VMMU_TLB_FETCH] = VMMU_ACCESS_FETCH,
	[VMMU_TLB_IMPLICIT_READ] = VMMU_ACCESS_READ | VMMU_ACCESS_IMPLICIT,
	[VMMU_TLB_IMPLICIT_WRITE] = VMMU_ACCESS_WRITE | VMMU_ACCESS_IMPLICIT,
};

/* Leaves of every rights combination and keys, under each kind of PDE. */
static unsigned int rights_pages(struct fixture *f, struct page_case *pages)
{
	unsigned int n = 0;

	for (unsigned int combo = 0; combo < 16; combo++) {
		uint64_t flags = PTE_P | ((combo & 1) ? PTE_W : 0) | ((combo & 2) ? PTE_U : 0) |
				 ((combo & 4) ? PTE_XD : 0) | ((combo & 8) ? PTE_KEY(5) : 0);

		*leaf(f, 0, 16 + combo) = data_gpa(0, 16 + combo) | flags;
		pages[n++] = (struct page_case){ gva_at(0, 16 + combo), "leaf rights" };
	}
	for (unsigned int pd = 1; pd <= 3; pd++) {
		*leaf(f, pd, 16) = data_gpa(pd, 16) | PTE_P | PTE_W | PTE_U;
		*leaf(f, pd, 17) = data_gpa(pd, 17) | PTE_P | PTE_W | PTE_U | PTE_KEY(5);
		pages[n++] = (struct page_case){ gva_at(pd, 16), "rights above the leaf" };
		pages[n++] = (struct page_case){ gva_at(pd, 17), "rights above, key 5" };
	}
	pages[n++] = (struct page_case){ gva_at(6, 3), "2M page" };
	*leaf(f, 4, 20) = ROM_GPA | PTE_P | PTE_W | PTE_U;
	pages[n++] = (struct page_case){ gva_at(4, 20), "read-only slot" };
	*leaf(f, 4, 21) = NORAM_GPA | PTE_P | PTE_W | PTE_U;
	pages[n++] = (struct page_case){ gva_at(4, 21), "MMIO" };
	*leaf(f, 4, 22) = 0;
	pages[n++] = (struct page_case){ gva_at(4, 22), "not present" };
	return n;
}

struct reg_combo {
	bool wp, smep, smap, pke, pks, ac;
	uint32_t cpl, pkru, pkrs;
};

static const uint32_t pk_patterns[4] = {
	0,
	1u << 10,                   /* key 5: AD */
	2u << 10,                   /* key 5: WD */
	3u,                         /* key 0: AD and WD */
};

static void set_permissive(struct vmmu_vcpu *v, bool smep)
{
	set_reg(v, VMMU_REG_CPL, 0);
	set_reg(v, VMMU_REG_CR0, CR0_LONG);
	set_reg(v, VMMU_REG_CR4, CR4_PAE | (smep ? CR4_SMEP : 0));
	set_reg(v, VMMU_REG_RFLAGS, 2);
}

static void set_combo(struct vmmu_vcpu *v, const struct reg_combo *c)
{
	set_reg(v, VMMU_REG_CR0, CR0_LONG | (c->wp ? CR0_WP : 0));
	set_reg(v, VMMU_REG_CR4, CR4_PAE | (c->smep ? CR4_SMEP : 0) | (c->smap ? CR4_SMAP : 0) |
				 (c->pke ? CR4_PKE : 0) | (c->pks ? CR4_PKS : 0));
	set_reg(v, VMMU_REG_RFLAGS, 2 | (c->ac ? RFLAGS_AC : 0));
	set_reg(v, VMMU_REG_PKRU, c->pkru);
	set_reg(v, VMMU_REG_PKRS, c->pkrs);
	set_reg(v, VMMU_REG_CPL, c->cpl);
}

/*
 * For one page and access kind under one register combination: the page is
 * cached under permissive registers (supervisor read and write, WP=0, no
 * SMAP, no keys: always allowed), the combination is loaded (no flush:
 * SMEP is the combination's from the start), then the walk (probe), the
 * inline hit and the library's hit must agree, and the library must have
 * served the access from the TLB exactly when it does not fault.
 */
static void check_page_kind(struct fixture *f, const struct reg_combo *c, const struct page_case *p,
			    unsigned int kind, bool present)
{
	struct vmmu_vcpu *v = f->v;
	struct vmmu_result want, got;
	struct vmmu_stats s0, s1;
	uint32_t flags = kind_flags[kind];
	void *inl;

	set_permissive(v, c->smep);
	(void)xlate(v, p->gva, VMMU_ACCESS_READ);
	(void)xlate(v, p->gva, VMMU_ACCESS_WRITE);
	set_combo(v, c);
	if (present != (cached(v, p->gva) != NULL))
		fail_msg("%s: GVA %#llx %s cached after the register changes", p->what,
			 (unsigned long long)p->gva, present ? "not" : "still");

	assert_int_equal(vmmu_vcpu_probe(v, p->gva, 4, flags, &want), 0);
	assert_int_equal(vmmu_vcpu_enter(v), 0);
	inl = vmmu_tlb_lookup_inline(vmmu_vcpu_tlb(v), p->gva, 4, kind);
	assert_int_equal(vmmu_vcpu_exit(v), 0);
	s0 = stats(f->vm);
	assert_int_equal(vmmu_vcpu_translate(v, p->gva, 4, flags, &got), 0);
	s1 = stats(f->vm);
	expect_same(&want, &got, p->what, p->gva, flags);
	bool slow = is_write_kind(kind) && !strcmp(p->what, "read-only slot");

	if (present && !slow && want.outcome != VMMU_PF && s1.tlb_hit != s0.tlb_hit + 1)
		fail_msg("%s: GVA %#llx access %#x allowed but not served by the TLB", p->what,
			 (unsigned long long)p->gva, flags);
	if ((want.outcome == VMMU_PF || slow) && s1.tlb_miss != s0.tlb_miss + 1)
		fail_msg("%s: GVA %#llx access %#x faults but the TLB served it", p->what,
			 (unsigned long long)p->gva, flags);
	if (inl != (want.outcome == VMMU_OK ? want.hva : NULL))
		fail_msg("%s: GVA %#llx kind %u: inline hit %p, walk %p (outcome %u)", p->what,
			 (unsigned long long)p->gva, kind, inl, want.hva, want.outcome);
}

static void test_hit_rights_every_combination(void **state)
{
	struct fixture *f = *state;
	struct page_case pages[48];
	unsigned int nr = rights_pages(f, pages), checks = 0;

	assert_int_equal(vmmu_vcpu_flush(f->v), 0);
	for (unsigned int bits = 0; bits < 128; bits++) {
		for (unsigned int pk = 0; pk < 16; pk++) {
			struct reg_combo c = {
				.wp = bits & 1, .smep = bits & 2, .smap = bits & 4, .pke = bits & 8,
				.pks = bits & 16, .ac = bits & 32, .cpl = (bits & 64) ? 3 : 0,
				.pkru = pk_patterns[pk & 3], .pkrs = pk_patterns[pk >> 2],
			};

			/* Keys matter only with PKE or PKS: one pattern otherwise. */
			if (pk && !c.pke && !c.pks)
				continue;
			for (unsigned int i = 0; i < nr; i++)
				for (unsigned int kind = 0; kind < VMMU_TLB_NR_KINDS; kind++, checks++)
					check_page_kind(f, &c, &pages[i], kind,
							strcmp(pages[i].what, "not present") != 0);
		}
	}
	print_message("%u page/kind/register combinations: hits agree with walks\n", checks);
}

/* NXE is applied on hit: setting it needs no flush; clearing it flushes. */
static void test_hit_nxe(void **state)
{
	struct fixture *f = *state;
	struct vmmu_vcpu *v = f->v;
	uint64_t xd_gva = gva_at(0, 30), plain = gva_at(0, 31);
	struct vmmu_result res;

	*leaf(f, 0, 30) = data_gpa(0, 30) | PTE_P | PTE_W | PTE_XD;
	assert_int_equal(vmmu_vcpu_flush(v), 0);
	/* NXE=0 in long mode: XD is a reserved bit. */
	set_reg(v, VMMU_REG_EFER, EFER_LME | (1ull << 10));
	res = xlate(v, xd_gva, VMMU_ACCESS_READ);
	assert_int_equal(res.outcome, VMMU_PF);
	assert_int_equal(res.error_code, 0x9);
	res = xlate(v, plain, VMMU_ACCESS_FETCH);
	assert_int_equal(res.outcome, VMMU_OK);
	/* NXE=1: the cached entry (XD=0) still executes, from the TLB. */
	set_reg(v, VMMU_REG_EFER, EFER_LME | EFER_NXE);
	assert_non_null(cached(v, plain));
	res = xlate(v, plain, VMMU_ACCESS_FETCH);
	assert_int_equal(res.outcome, VMMU_OK);
	res = xlate(v, xd_gva, VMMU_ACCESS_READ);
	assert_int_equal(res.outcome, VMMU_OK);
	res = xlate(v, xd_gva, VMMU_ACCESS_FETCH);
	assert_int_equal(res.outcome, VMMU_PF);
	assert_int_equal(res.error_code, 0x11);
	(void)xlate(v, xd_gva, VMMU_ACCESS_READ);
	assert_non_null(cached(v, xd_gva));
	/* Clearing NXE: the XD entry would be a reserved-bit fault now. */
	set_reg(v, VMMU_REG_EFER, EFER_LME);
	assert_null(cached(v, xd_gva));
	res = xlate(v, xd_gva, VMMU_ACCESS_READ);
	assert_int_equal(res.outcome, VMMU_PF);
	assert_int_equal(res.error_code, 0x9);
}

/* ---- flush rules ---- */

/* Repoints leaf (pd, pt) at another frame without invalidating: a cached
 * translation keeps the old GPA until a flush drops it. */
static void repoint(struct fixture *f, unsigned int pd, unsigned int pt, uint64_t extra)
{
	*leaf(f, pd, pt) = (data_gpa(pd, pt) + 0x40000) | PTE_P | PTE_W | PTE_U | extra;
}

static void test_pcid_tagging(void **state)
{
	struct fixture *f = *state;
	struct vmmu_vcpu *v = f->v;
	uint64_t gva = gva_at(0, 5), old = data_gpa(0, 5), new = old + 0x40000;

	set_reg(v, VMMU_REG_CR4, CR4_PAE | CR4_PCIDE);
	set_reg(v, VMMU_REG_CR3, PML4_GPA | 1);
	assert_int_equal(vmmu_vcpu_tlb(v)->pcid, 1);
	assert_int_equal(xlate_gpa(v, gva), old);
	repoint(f, 0, 5, 0);
	assert_int_equal(xlate_gpa(v, gva), old);           /* cached for PCID 1 */
	/* PCID 2, no flush: PCID 1's entry does not serve it. */
	set_reg(v, VMMU_REG_CR3, PML4_GPA | 2 | CR3_NOFLUSH);
	assert_int_equal(vmmu_vcpu_tlb(v)->pcid, 2);
	assert_int_equal(xlate_gpa(v, gva), new);
	/* Back to PCID 1 without a flush: its entry survived.  The index is
	 * shared, so refill it for PCID 1 first. */
	set_reg(v, VMMU_REG_CR3, PML4_GPA | 1 | CR3_NOFLUSH);
	*leaf(f, 0, 5) = old | PTE_P | PTE_W | PTE_U;
	assert_int_equal(vmmu_vcpu_invlpg(v, gva), 0);
	assert_int_equal(xlate_gpa(v, gva), old);
	repoint(f, 0, 5, 0);
	set_reg(v, VMMU_REG_CR3, PML4_GPA | 2 | CR3_NOFLUSH);
	set_reg(v, VMMU_REG_CR3, PML4_GPA | 1 | CR3_NOFLUSH);
	assert_int_equal(xlate_gpa(v, gva), old);
	/* Bit 63 clear: PCID 1's non-global entries go. */
	set_reg(v, VMMU_REG_CR3, PML4_GPA | 1);
	assert_int_equal(xlate_gpa(v, gva), new);
	/* A switch to another PCID with a flush does not touch PCID 1's. */
	*leaf(f, 0, 5) = old | PTE_P | PTE_W | PTE_U;
	set_reg(v, VMMU_REG_CR3, PML4_GPA | 1);
	assert_int_equal(xlate_gpa(v, gva), old);
	repoint(f, 0, 5, 0);
	set_reg(v, VMMU_REG_CR3, PML4_GPA | 3);
	set_reg(v, VMMU_REG_CR3, PML4_GPA | 1 | CR3_NOFLUSH);
	assert_int_equal(xlate_gpa(v, gva), old);
	/* CR4.PCIDE cleared: everything goes. */
	set_reg(v, VMMU_REG_CR3, PML4_GPA | CR3_NOFLUSH);
	set_reg(v, VMMU_REG_CR4, CR4_PAE);
	assert_int_equal(vmmu_vcpu_tlb(v)->pcid, 0);
	assert_int_equal(xlate_gpa(v, gva), new);
}

static void test_global_entries(void **state)
{
	struct fixture *f = *state;
	struct vmmu_vcpu *v = f->v;
	uint64_t g = gva_at(0, 6), ng = gva_at(0, 7);

	set_reg(v, VMMU_REG_CR4, CR4_PAE | CR4_PGE);
	*leaf(f, 0, 6) |= PTE_G;
	assert_int_equal(vmmu_vcpu_invlpg(v, g), 0);
	assert_int_equal(xlate_gpa(v, g), data_gpa(0, 6));
	assert_int_equal(xlate_gpa(v, ng), data_gpa(0, 7));
	assert_true(cached(v, g)->tag & VMMU_TLB_GLOBAL);
	assert_false(cached(v, ng)->tag & VMMU_TLB_GLOBAL);
	repoint(f, 0, 6, PTE_G);
	repoint(f, 0, 7, 0);
	/* MOV to CR3: the global entry survives, the other goes. */
	set_reg(v, VMMU_REG_CR3, PML4B_GPA);
	assert_int_equal(xlate_gpa(v, g), data_gpa(0, 6));
	assert_int_equal(xlate_gpa(v, ng), data_gpa(0, 7) + 0x40000);
	/* Global entries match every PCID. */
	set_reg(v, VMMU_REG_CR3, PML4_GPA);
	set_reg(v, VMMU_REG_CR4, CR4_PAE | CR4_PGE | CR4_PCIDE);   /* flushes */
	*leaf(f, 0, 6) = data_gpa(0, 6) | PTE_P | PTE_W | PTE_U | PTE_G;
	assert_int_equal(xlate_gpa(v, g), data_gpa(0, 6));
	repoint(f, 0, 6, PTE_G);
	set_reg(v, VMMU_REG_CR3, PML4_GPA | 9);
	assert_int_equal(xlate_gpa(v, g), data_gpa(0, 6));
	/* INVLPG drops a global entry whatever the PCID. */
	assert_int_equal(vmmu_vcpu_invlpg(v, g), 0);
	assert_int_equal(xlate_gpa(v, g), data_gpa(0, 6) + 0x40000);
	/* G without CR4.PGE is not global. */
	set_reg(v, VMMU_REG_CR3, PML4_GPA);
	set_reg(v, VMMU_REG_CR4, CR4_PAE);
	(void)xlate_gpa(v, g);
	assert_false(cached(v, g)->tag & VMMU_TLB_GLOBAL);
	/* Toggling CR4.PGE drops global entries too. */
	set_reg(v, VMMU_REG_CR4, CR4_PAE | CR4_PGE);
	(void)xlate_gpa(v, g);
	assert_non_null(cached(v, g));
	set_reg(v, VMMU_REG_CR4, CR4_PAE);
	assert_null(cached(v, g));
}

static void test_invlpg(void **state)
{
	struct fixture *f = *state;
	struct vmmu_vcpu *v = f->v;
	uint64_t gva = gva_at(0, 8), other = gva_at(0, 9);

	assert_int_equal(xlate_gpa(v, gva), data_gpa(0, 8));
	assert_int_equal(xlate_gpa(v, other), data_gpa(0, 9));
	repoint(f, 0, 8, 0);
	repoint(f, 0, 9, 0);
	assert_int_equal(vmmu_vcpu_invlpg(v, gva + 0x123), 0);
	assert_int_equal(xlate_gpa(v, gva), data_gpa(0, 8) + 0x40000);
	assert_int_equal(xlate_gpa(v, other), data_gpa(0, 9));    /* untouched */
	/* A non-canonical address does nothing. */
	assert_int_equal(vmmu_vcpu_invlpg(v, 0x0000800000000000ull | other), 0);
	assert_int_equal(xlate_gpa(v, other), data_gpa(0, 9));

	/* Another PCID's entry for the page survives INVLPG. */
	set_reg(v, VMMU_REG_CR4, CR4_PAE | CR4_PCIDE);
	set_reg(v, VMMU_REG_CR3, PML4_GPA | 4);
	*leaf(f, 0, 9) = data_gpa(0, 9) | PTE_P | PTE_W | PTE_U;
	assert_int_equal(xlate_gpa(v, other), data_gpa(0, 9));
	repoint(f, 0, 9, 0);
	set_reg(v, VMMU_REG_CR3, PML4_GPA | 5 | CR3_NOFLUSH);
	assert_int_equal(vmmu_vcpu_invlpg(v, other), 0);
	set_reg(v, VMMU_REG_CR3, PML4_GPA | 4 | CR3_NOFLUSH);
	assert_int_equal(xlate_gpa(v, other), data_gpa(0, 9));
	assert_int_equal(vmmu_vcpu_invlpg(v, other), 0);
	assert_int_equal(xlate_gpa(v, other), data_gpa(0, 9) + 0x40000);
}

/* One INVLPG anywhere in a large page drops every 4K piece cached. */
static void test_invlpg_large_page(void **state)
{
	struct fixture *f = *state;
	struct vmmu_vcpu *v = f->v;
	uint64_t base = gva_at(6, 0), *pde = pte_at(f, PD_GPA + 8 * 6);
	static const unsigned int pieces[] = { 0, 1, 100, 511 };

	for (unsigned int i = 0; i < ARRAY_LEN(pieces); i++)
		assert_int_equal(xlate_gpa(v, base + pieces[i] * 0x1000ull),
				 LARGE_GPA + pieces[i] * 0x1000ull);
	/* A 4K page elsewhere is not a piece of it. */
	assert_int_equal(xlate_gpa(v, gva_at(0, 10)), data_gpa(0, 10));
	*pde = (LARGE_GPA + 0x200000) | PTE_P | PTE_W | PTE_U | PTE_PS;
	repoint(f, 0, 10, 0);
	assert_int_equal(vmmu_vcpu_invlpg(v, base + 0x7000), 0);   /* a piece not cached */
	for (unsigned int i = 0; i < ARRAY_LEN(pieces); i++) {
		assert_null(cached(v, base + pieces[i] * 0x1000ull));
		assert_int_equal(xlate_gpa(v, base + pieces[i] * 0x1000ull),
				 LARGE_GPA + 0x200000 + pieces[i] * 0x1000ull);
	}
	assert_int_equal(xlate_gpa(v, gva_at(0, 10)), data_gpa(0, 10));
}

/* A supervisor-page read any register state allows: fills the entry. */
static void fill(struct vmmu_vcpu *v, uint64_t gva)
{
	struct vmmu_result res = xlate(v, gva, VMMU_ACCESS_READ | VMMU_ACCESS_IMPLICIT);

	if (res.outcome != VMMU_OK)
		fail_msg("GVA %#llx: outcome %u error %#x", (unsigned long long)gva, res.outcome,
			 res.error_code);
}

/* Register writes that flush everything, and those that flush nothing. */
static void test_register_flushes(void **state)
{
	struct fixture *f = *state;
	struct vmmu_vcpu *v = f->v;
	uint64_t gva = gva_at(0, 11);
	struct vmmu_memslot smram = {
		.id = 10, .as_id = VMMU_AS_SMM, .gpa = 0, .size = RAM_SIZE, .hva = f->ram,
	};
	static const struct {
		enum vmmu_reg reg;
		uint64_t value;
		bool flushes;
		const char *what;
	} steps[] = {
		{ VMMU_REG_CR0, CR0_LONG | CR0_WP, false, "CR0.WP set" },
		{ VMMU_REG_CR0, CR0_LONG, false, "CR0.WP clear" },
		{ VMMU_REG_CR4, CR4_PAE | CR4_SMAP, false, "CR4.SMAP set" },
		{ VMMU_REG_CR4, CR4_PAE | CR4_SMAP | CR4_PKE, false, "CR4.PKE set" },
		{ VMMU_REG_CR4, CR4_PAE | CR4_SMAP | CR4_PKE | CR4_PKS, false, "CR4.PKS set" },
		{ VMMU_REG_CR4, CR4_PAE, false, "CR4.SMAP/PKE/PKS clear" },
		{ VMMU_REG_CR4, CR4_PAE | CR4_SMEP, true, "CR4.SMEP 0 to 1" },
		{ VMMU_REG_CR4, CR4_PAE, false, "CR4.SMEP 1 to 0" },
		{ VMMU_REG_CR4, CR4_PAE | CR4_PSE, false, "CR4.PSE outside 32-bit paging" },
		{ VMMU_REG_CR4, CR4_PAE | CR4_PGE, true, "CR4.PGE set" },
		{ VMMU_REG_CR4, CR4_PAE, true, "CR4.PGE clear" },
		{ VMMU_REG_CR4, CR4_PAE | CR4_PCIDE, true, "CR4.PCIDE set" },
		{ VMMU_REG_CR4, CR4_PAE, true, "CR4.PCIDE clear" },
		{ VMMU_REG_PKRU, 0xffffffff, false, "PKRU" },
		{ VMMU_REG_PKRS, 0x55555555, false, "PKRS" },
		{ VMMU_REG_RFLAGS, 2 | RFLAGS_AC, false, "RFLAGS.AC" },
		{ VMMU_REG_CPL, 3, false, "CPL 3" },
		{ VMMU_REG_CPL, 0, false, "CPL 0" },
		{ VMMU_REG_EFER, EFER_LME | EFER_NXE, false, "EFER unchanged" },
		{ VMMU_REG_CR3, PML4_GPA, true, "MOV to CR3" },
		{ VMMU_REG_SMM, 1, true, "entering SMM" },
		{ VMMU_REG_SMM, 1, false, "SMM again" },
		{ VMMU_REG_SMM, 0, true, "leaving SMM" },
	};
	struct vmmu_vcpu_state st = { .size = sizeof(st), .cr0 = CR0_PE | CR0_ET };

	*leaf(f, 0, 11) &= ~PTE_U;
	assert_int_equal(vmmu_memslot_add(f->vm, &smram), 0);
	for (unsigned int i = 0; i < ARRAY_LEN(steps); i++) {
		fill(v, gva);
		assert_non_null(cached(v, gva));
		set_reg(v, steps[i].reg, steps[i].value);
		if (steps[i].flushes != (cached(v, gva) == NULL))
			fail_msg("%s: expected %s", steps[i].what,
				 steps[i].flushes ? "a flush" : "no flush");
	}

	/* Paging off (a state load leaves long mode, and flushes): identity
	 * entries, dropped by changes of CR4.PAE and LA57, CR3 and CR0.PG. */
	fill(v, gva);
	assert_int_equal(vmmu_vcpu_set_state(v, &st), 0);
	assert_null(cached(v, gva));
	fill(v, 0x5000);
	assert_non_null(cached(v, 0x5000));
	set_reg(v, VMMU_REG_CR4, CR4_PAE);
	assert_null(cached(v, 0x5000));
	fill(v, 0x5000);
	set_reg(v, VMMU_REG_CR4, 0);
	assert_null(cached(v, 0x5000));
	fill(v, 0x5000);
	set_reg(v, VMMU_REG_CR4, CR4_LA57);
	assert_null(cached(v, 0x5000));
	set_reg(v, VMMU_REG_CR4, 0);
	fill(v, 0x5000);
	set_reg(v, VMMU_REG_CR3, PML4_GPA);
	assert_null(cached(v, 0x5000));
	fill(v, 0x5000);
	/* 32-bit paging over the same memory: PDE 0 is PML4[0] (-> 0x2000),
	 * PTE 0 is PDPT[0] (-> 0x3000). */
	set_reg(v, VMMU_REG_CR0, CR0_PG | CR0_PE | CR0_ET);
	assert_null(cached(v, 0x5000));
	assert_int_equal(xlate_gpa(v, 0x10), 0x3010);
	assert_non_null(cached(v, 0x10));
	set_reg(v, VMMU_REG_CR0, CR0_PE | CR0_ET);
	assert_null(cached(v, 0x10));
	/* And the explicit full flush. */
	fill(v, 0x5000);
	assert_int_equal(vmmu_vcpu_flush(v), 0);
	assert_null(cached(v, 0x5000));
	assert_int_equal(vmmu_memslot_delete(f->vm, VMMU_AS_SMM, 10), 0);
}

/* 32-bit paging: CR4.PSE changes what a PDE maps, so a change flushes. */
static void test_pse_flush(void **state)
{
	struct fixture *f = *state;
	struct vmmu_vcpu *v = f->v;
	struct vmmu_vcpu_state st = { .size = sizeof(st) };
	uint32_t *pd32 = (uint32_t *)(f->ram + 0xf000);

	/* A 32-bit PD at 0xf000: PDE 1 is a 4M page at 0xc00000 (with PSE)
	 * or points to a table there (without). */
	memset(pd32, 0, 4096);
	pd32[1] = 0x00c00000u | 0x87u;
	*(uint32_t *)(f->ram + 0xc00000 + 4 * 2) = 0x00a00000u | 0x7u;
	st.cr0 = CR0_PG | CR0_PE | CR0_ET;
	st.cr3 = 0xf000;
	st.cr4 = CR4_PSE;
	assert_int_equal(vmmu_vcpu_set_state(v, &st), 0);
	assert_int_equal(xlate_gpa(v, 0x402000), 0xc02000);
	set_reg(v, VMMU_REG_CR4, 0);
	assert_int_equal(xlate_gpa(v, 0x402000), 0xa00000);
}

/* ---- the D-bit rule ---- */

static void test_dirty_bit(void **state)
{
	struct fixture *f = *state;
	struct vmmu_vcpu *v = f->v;
	uint64_t gva = gva_at(0, 12), *pte = leaf(f, 0, 12);
	struct vmmu_stats s0, s1;
	uint32_t word = 0x12345678;
	struct vmmu_result res;

	assert_false(*pte & (PTE_A | PTE_D));
	/* A read fills the entry and sets A only. */
	(void)xlate_gpa(v, gva);
	assert_true(*pte & PTE_A);
	assert_false(*pte & PTE_D);
	assert_true(cached(v, gva)->tag & VMMU_TLB_WRITE_SLOW);
	assert_int_equal(vmmu_vcpu_enter(v), 0);
	assert_null(vmmu_tlb_lookup_inline(vmmu_vcpu_tlb(v), gva, 4, VMMU_TLB_WRITE));
	assert_non_null(vmmu_tlb_lookup_inline(vmmu_vcpu_tlb(v), gva, 4, VMMU_TLB_READ));
	assert_int_equal(vmmu_vcpu_exit(v), 0);
	/* The first write walks and sets D. */
	s0 = stats(f->vm);
	assert_int_equal(vmmu_vcpu_write(v, gva, &word, 4, VMMU_ACCESS_WRITE, &res), 0);
	s1 = stats(f->vm);
	assert_int_equal(res.outcome, VMMU_OK);
	assert_true(*pte & PTE_D);
	assert_int_equal(s1.tlb_miss, s0.tlb_miss + 1);
	assert_int_equal(s1.ad_updates, s0.ad_updates + 1);
	assert_false(cached(v, gva)->tag & VMMU_TLB_WRITE_SLOW);
	/* The next one hits. */
	s0 = s1;
	assert_int_equal(vmmu_vcpu_write(v, gva, &word, 4, VMMU_ACCESS_WRITE, &res), 0);
	s1 = stats(f->vm);
	assert_int_equal(s1.tlb_hit, s0.tlb_hit + 1);
	assert_int_equal(s1.ad_updates, s0.ad_updates);
	assert_int_equal(*(uint32_t *)(f->ram + data_gpa(0, 12)), word);

	/* A read of a page whose D is already set makes writes hit at once. */
	*leaf(f, 0, 13) |= PTE_A | PTE_D;
	(void)xlate_gpa(v, gva_at(0, 13));
	assert_false(cached(v, gva_at(0, 13))->tag & VMMU_TLB_WRITE_SLOW);

	/* The guest clears D (and invalidates, as it must): the next write
	 * sets it again. */
	*pte &= ~PTE_D;
	assert_int_equal(vmmu_vcpu_invlpg(v, gva), 0);
	(void)xlate_gpa(v, gva);
	assert_int_equal(vmmu_vcpu_write(v, gva, &word, 4, VMMU_ACCESS_WRITE, &res), 0);
	assert_true(*pte & PTE_D);

	/* A large page: D of the PDE. */
	uint64_t *pde = pte_at(f, PD_GPA + 8 * 6);

	(void)xlate_gpa(v, gva_at(6, 1));
	assert_false(*pde & PTE_D);
	assert_int_equal(vmmu_vcpu_write(v, gva_at(6, 1), &word, 4, VMMU_ACCESS_WRITE, &res), 0);
	assert_true(*pde & PTE_D);
}

/* ---- memslots ---- */

static void test_readonly_slot(void **state)
{
	struct fixture *f = *state;
	struct vmmu_vcpu *v = f->v;
	uint64_t gva = gva_at(4, 30);
	uint32_t word = 0xdeadbeef, got;
	struct vmmu_result res;

	*leaf(f, 4, 30) = (ROM_GPA + 0x1000) | PTE_P | PTE_W | PTE_U | PTE_A | PTE_D;
	memcpy(f->rom + 0x1000, "\x11\x22\x33\x44", 4);
	assert_int_equal(vmmu_vcpu_read(v, gva, &got, 4, VMMU_ACCESS_READ, &res), 0);
	assert_int_equal(res.outcome, VMMU_OK);
	assert_int_equal(got, 0x44332211);
	/* Writable in the guest, dirty, but read-only memory: never a write hit. */
	assert_true(cached(v, gva)->tag & VMMU_TLB_WRITE_SLOW);
	for (unsigned int i = 0; i < 3; i++) {
		assert_int_equal(vmmu_vcpu_write(v, gva, &word, 4, VMMU_ACCESS_WRITE, &res), 0);
		assert_int_equal(res.outcome, VMMU_MMIO);
		assert_int_equal(res.gpa, ROM_GPA + 0x1000);
		assert_null(res.hva);
		assert_memory_equal(f->rom + 0x1000, "\x11\x22\x33\x44", 4);
		assert_int_equal(vmmu_vcpu_enter(v), 0);
		assert_null(vmmu_tlb_lookup_inline(vmmu_vcpu_tlb(v), gva, 4, VMMU_TLB_WRITE));
		assert_int_equal(vmmu_vcpu_exit(v), 0);
		assert_int_equal(vmmu_vcpu_read(v, gva, &got, 4, VMMU_ACCESS_READ, &res), 0);
		assert_int_equal(res.outcome, VMMU_OK);
		assert_int_equal(got, 0x44332211);
	}
}

static void test_memslot_delete_and_add(void **state)
{
	struct fixture *f = *state;
	struct vmmu_vcpu *v = f->v, *v2 = NULL;
	uint64_t gva = gva_at(4, 40);
	struct vmmu_result res;

	assert_int_equal(vmmu_vcpu_create(f->vm, 1, &v2), 0);
	long_mode(v2, 0);
	*leaf(f, 4, 40) = (XRAM_GPA + 0x2000) | PTE_P | PTE_W | PTE_U | PTE_A | PTE_D;
	res = xlate(v, gva, VMMU_ACCESS_WRITE);
	assert_int_equal(res.outcome, VMMU_OK);
	assert_ptr_equal(res.hva, f->xram + 0x2000);
	res = xlate(v2, gva, VMMU_ACCESS_READ);
	assert_ptr_equal(res.hva, f->xram + 0x2000);
	assert_non_null(cached(v, gva));
	assert_non_null(cached(v2, gva));
	/* Deleted: every vCPU's entries into it go (at their next call). */
	assert_int_equal(vmmu_memslot_delete(f->vm, VMMU_AS_NORMAL, 2), 0);
	res = xlate(v, gva, VMMU_ACCESS_WRITE);
	assert_int_equal(res.outcome, VMMU_MMIO);
	assert_null(res.hva);
	assert_int_equal(vmmu_vcpu_enter(v2), 0);
	assert_null(cached(v2, gva));
	assert_null(vmmu_tlb_lookup_inline(vmmu_vcpu_tlb(v2), gva, 4, VMMU_TLB_READ));
	assert_int_equal(vmmu_vcpu_exit(v2), 0);
	/* Entries elsewhere are kept. */
	(void)xlate_gpa(v, gva_at(0, 3));
	assert_int_equal(add_slot(f->vm, 3, ROM_GPA + ROM_SIZE, 0x1000, f->xram, 0), 0);
	assert_int_equal(vmmu_memslot_delete(f->vm, VMMU_AS_NORMAL, 3), 0);
	assert_int_equal(xlate_gpa(v, gva_at(0, 3)), data_gpa(0, 3));
	assert_non_null(cached(v, gva_at(0, 3)));
	/* Added again, at other host memory: the MMIO entry finds it. */
	uint8_t *other = map_anon(XRAM_SIZE);

	assert_non_null(other);
	assert_non_null(cached(v, gva));
	assert_int_equal(add_slot(f->vm, 2, XRAM_GPA, XRAM_SIZE, other, 0), 0);
	res = xlate(v, gva, VMMU_ACCESS_WRITE);
	assert_int_equal(res.outcome, VMMU_OK);
	assert_ptr_equal(res.hva, other + 0x2000);
	vmmu_vcpu_destroy(v2);
	assert_int_equal(vmmu_memslot_delete(f->vm, VMMU_AS_NORMAL, 2), 0);
	munmap(other, XRAM_SIZE);
	assert_int_equal(add_slot(f->vm, 2, XRAM_GPA, XRAM_SIZE, f->xram, 0), 0);
}

/* Write-protecting a GPA range sends writes to the slow path and keeps
 * reads; invalidating drops. */
static void test_vm_requests(void **state)
{
	struct fixture *f = *state;
	struct vmmu_vcpu *v = f->v;
	uint64_t a = gva_at(0, 14), b = gva_at(0, 15);

	*leaf(f, 0, 14) |= PTE_A | PTE_D;
	*leaf(f, 0, 15) |= PTE_A | PTE_D;
	(void)xlate_gpa(v, a);
	(void)xlate_gpa(v, b);
	assert_false(cached(v, a)->tag & VMMU_TLB_WRITE_SLOW);
	vm_tlb_write_protect_gpa_range(f->vm, data_gpa(0, 14), 0x1000);
	assert_int_equal(vmmu_vcpu_enter(v), 0);     /* applies the request */
	assert_true(cached(v, a)->tag & VMMU_TLB_WRITE_SLOW);
	assert_false(cached(v, b)->tag & VMMU_TLB_WRITE_SLOW);
	assert_int_equal(vmmu_vcpu_exit(v), 0);
	vm_tlb_invalidate_gpa_range(f->vm, data_gpa(0, 15), 0x1000);
	(void)xlate_gpa(v, a);
	assert_null(cached(v, b));
	assert_non_null(cached(v, a));
	vm_tlb_flush_all(f->vm);
	assert_int_equal(vmmu_vcpu_enter(v), 0);
	assert_null(cached(v, a));
	assert_int_equal(vmmu_vcpu_exit(v), 0);
}

/* ---- the inline hit ---- */

static void test_inline_hit(void **state)
{
	struct fixture *f = *state;
	struct vmmu_vcpu *v = f->v;
	const struct vmmu_tlb *t = vmmu_vcpu_tlb(v);
	uint64_t gva = gva_at(0, 20) + 0x10;
	struct vmmu_result res;

	assert_non_null(t);
	assert_null(vmmu_vcpu_tlb(NULL));
	assert_int_equal(t->size, sizeof(*t));
	assert_int_equal((t->index_mask + 1) & t->index_mask, 0);
	*leaf(f, 0, 20) |= PTE_A | PTE_D;
	assert_int_equal(vmmu_vcpu_enter(v), 0);
	assert_null(vmmu_tlb_lookup_inline(t, gva, 8, VMMU_TLB_READ));     /* a miss */
	assert_int_equal(vmmu_vcpu_translate(v, gva, 8, VMMU_ACCESS_READ, &res), 0);
	for (unsigned int size = 1; size <= 8; size *= 2) {
		assert_ptr_equal(vmmu_tlb_lookup_inline(t, gva, size, VMMU_TLB_READ), res.hva);
		assert_ptr_equal(vmmu_tlb_lookup_inline(t, gva, size, VMMU_TLB_WRITE), res.hva);
		assert_ptr_equal(vmmu_tlb_lookup_inline(t, gva, size, VMMU_TLB_IMPLICIT_WRITE),
				 res.hva);
	}
	/* XD is not set: fetches hit; user pages at CPL 0 without SMAP. */
	assert_ptr_equal(vmmu_tlb_lookup_inline(t, gva, 1, VMMU_TLB_FETCH), res.hva);
	/* Crossing into the next page: never a hit. */
	assert_null(vmmu_tlb_lookup_inline(t, gva_at(0, 21) - 4, 8, VMMU_TLB_READ));
	assert_non_null(vmmu_tlb_lookup_inline(t, gva_at(0, 21) - 8, 8, VMMU_TLB_READ));
	/* A register change inside the bracket applies at once. */
	assert_int_equal(vmmu_vcpu_set_reg(v, VMMU_REG_CR4, CR4_PAE | CR4_SMAP), 0);
	assert_null(vmmu_tlb_lookup_inline(t, gva, 8, VMMU_TLB_READ));
	assert_int_equal(vmmu_vcpu_set_reg(v, VMMU_REG_RFLAGS, 2 | RFLAGS_AC), 0);
	assert_ptr_equal(vmmu_tlb_lookup_inline(t, gva, 8, VMMU_TLB_READ), res.hva);
	assert_null(vmmu_tlb_lookup_inline(t, gva, 8, VMMU_TLB_IMPLICIT_READ));
	assert_int_equal(vmmu_vcpu_set_reg(v, VMMU_REG_CPL, 3), 0);
	assert_ptr_equal(vmmu_tlb_lookup_inline(t, gva, 8, VMMU_TLB_READ), res.hva);
	assert_int_equal(vmmu_vcpu_exit(v), 0);
}

/* ---- randomized differential test ---- */

struct rng {
	uint64_t s;
};

static uint64_t rnd(struct rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static unsigned int rnd_below(struct rng *r, unsigned int n)
{
	return (unsigned int)(rnd(r) % n);
}

/* A random leaf or table-free PTE target: RAM data, read-only, MMIO. */
static uint64_t random_frame(struct rng *r, bool large)
{
	unsigned int k = rnd_below(r, 16);

	if (large)
		return k < 14 ? LARGE_GPA + (uint64_t)(k & 3) * 0x200000 : NORAM_GPA;
	if (k == 14)
		return ROM_GPA + (uint64_t)rnd_below(r, 16) * 0x1000;
	if (k == 15)
		return NORAM_GPA + (uint64_t)rnd_below(r, 4) * 0x1000;
	return DATA_GPA + (uint64_t)rnd_below(r, 64) * 0x1000;
}

static uint64_t random_flags(struct rng *r)
{
	uint64_t x = rnd(r);
	uint64_t flags = PTE_P;

	if (x & (1u << 0))
		flags |= PTE_W;
	if ((x & (3u << 1)) != 0)
		flags |= PTE_U;
	if (x & (1u << 3))
		flags |= PTE_A;
	if (x & (1u << 4))
		flags |= PTE_D;
	if (x & (1u << 5))
		flags |= PTE_G;
	if (!(x & (3u << 6)))
		flags |= PTE_XD;
	if (!(x & (3u << 8)))
		flags |= PTE_KEY((x >> 10) & 15);
	if (!(x & (15u << 14)))
		flags &= ~PTE_P;
	return flags;
}

/* Two VMs with the same guest: the tested vCPU, and a reference vCPU that
 * flushes its TLB before every access (so it always walks). */
struct diff {
	struct fixture t, r;
	struct rng rng;
	uint64_t hot[96];
	unsigned long accesses;
};

static void both_reg(struct diff *d, enum vmmu_reg reg, uint64_t value)
{
	int a = vmmu_vcpu_set_reg(d->t.v, reg, value);
	int b = vmmu_vcpu_set_reg(d->r.v, reg, value);

	if (a != b)
		fail_msg("register %d = %#llx: %d and %d", reg, (unsigned long long)value, a, b);
}

static void both_pte(struct diff *d, uint64_t gpa, uint64_t value)
{
	*pte_at(&d->t, gpa) = value;
	*pte_at(&d->r, gpa) = value;
}

static void both_invlpg(struct diff *d, uint64_t gva)
{
	assert_int_equal(vmmu_vcpu_invlpg(d->t.v, gva), 0);
	assert_int_equal(vmmu_vcpu_invlpg(d->r.v, gva), 0);
}

static void both_flush(struct diff *d)
{
	assert_int_equal(vmmu_vcpu_flush(d->t.v), 0);
	assert_int_equal(vmmu_vcpu_flush(d->r.v), 0);
}

/* A guest change of a paging-structure entry, invalidated as the caching
 * rule asks: INVLPG of the page for a 4K leaf or a large page (any address
 * in it), a flush for an entry that maps a table. */
static void diff_change_pte(struct diff *d)
{
	struct rng *r = &d->rng;
	unsigned int pick = rnd_below(r, 16);

	if (pick < 12) {
		unsigned int pd = rnd_below(r, 6), pt = rnd_below(r, 64);
		bool aliased = false;

		/* A PT that PD entry 6 or 7 also points to maps two pages. */
		for (unsigned int i = 6; i < 8; i++) {
			uint64_t pde = *pte_at(&d->t, PD_GPA + 8ull * i);

			if ((pde & PTE_P) && !(pde & PTE_PS) && (pde & ~0xfffull) == PT_GPA(pd))
				aliased = true;
		}
		both_pte(d, PT_GPA(pd) + 8ull * pt, random_frame(r, false) | random_flags(r));
		if (aliased)
			both_flush(d);
		else
			both_invlpg(d, gva_at(pd, pt) + rnd_below(r, 4096));
	} else if (pick < 15) {
		/* PD entry 6 or 7: a 2M page, or a table. */
		unsigned int pd = 6 + rnd_below(r, 2);
		uint64_t old = *pte_at(&d->t, PD_GPA + 8ull * pd);
		uint64_t value;

		if (rnd_below(r, 4))
			value = random_frame(r, true) | random_flags(r) | PTE_PS;
		else
			value = PT_GPA(rnd_below(r, 6)) | PTE_P | PTE_W | PTE_U;
		both_pte(d, PD_GPA + 8ull * pd, value);
		if ((old & PTE_P) && (old & PTE_PS) && rnd_below(r, 2))
			both_invlpg(d, gva_at(pd, rnd_below(r, 512)) + rnd_below(r, 4096));
		else
			both_flush(d);
	} else {
		/* A table entry of the first PDs. */
		unsigned int pd = rnd_below(r, 6);
		uint64_t flags = random_flags(r) & (PTE_P | PTE_W | PTE_U | PTE_A | PTE_XD);

		both_pte(d, PD_GPA + 8ull * pd, PT_GPA(pd) | flags | PTE_P);
		both_flush(d);
	}
}

static void diff_change_reg(struct diff *d)
{
	struct rng *r = &d->rng;
	uint64_t cr0 = get_reg(d->t.v, VMMU_REG_CR0), cr4 = get_reg(d->t.v, VMMU_REG_CR4);
	uint64_t efer = get_reg(d->t.v, VMMU_REG_EFER);

	switch (rnd_below(r, 12)) {
	case 0:
		both_reg(d, VMMU_REG_CR0, cr0 ^ CR0_WP);
		break;
	case 1:
		both_reg(d, VMMU_REG_CR4, cr4 ^ CR4_SMEP);
		break;
	case 2:
		both_reg(d, VMMU_REG_CR4, cr4 ^ CR4_SMAP);
		break;
	case 3:
		both_reg(d, VMMU_REG_CR4, cr4 ^ (rnd_below(r, 2) ? CR4_PKE : CR4_PKS));
		break;
	case 4:
		both_reg(d, VMMU_REG_RFLAGS, 2 | (rnd_below(r, 2) ? RFLAGS_AC : 0));
		break;
	case 5:
		both_reg(d, VMMU_REG_CPL, rnd_below(r, 2) ? 3 : 0);
		break;
	case 6:
		both_reg(d, VMMU_REG_PKRU, (uint32_t)rnd(r) & (uint32_t)rnd(r));
		break;
	case 7:
		both_reg(d, VMMU_REG_PKRS, (uint32_t)rnd(r) & (uint32_t)rnd(r));
		break;
	case 8:
		/* MOV to CR3: non-global entries go, global ones stay. */
		both_reg(d, VMMU_REG_CR3, rnd_below(r, 2) ? PML4_GPA : PML4B_GPA);
		break;
	case 9:
		both_reg(d, VMMU_REG_CR4, cr4 ^ CR4_PGE);
		break;
	case 10:
		/* EFER.NXE is a change cached translations depend on. */
		both_reg(d, VMMU_REG_EFER, efer ^ EFER_NXE);
		both_flush(d);
		break;
	default:
		if (rnd_below(r, 8) == 0)
			both_flush(d);
		break;
	}
}

/* Mostly a working set of 32 pages (so that the TLB hits), else anywhere. */
static uint64_t diff_random_gva(struct rng *r, const uint64_t *hot)
{
	unsigned int pd = rnd_below(r, 8);

	if (rnd_below(r, 8))
		return hot[rnd_below(r, 32)] + rnd_below(r, 4096);
	if (pd >= 6)
		return gva_at(pd, rnd_below(r, 512)) + rnd_below(r, 4096);
	return gva_at(pd, rnd_below(r, 66)) + rnd_below(r, 4096);
}

static uint64_t host_offset(const struct fixture *f, const void *hva)
{
	const uint8_t *p = hva;

	if (!p)
		return ~0ull;
	if (p >= f->ram && p < f->ram + RAM_SIZE)
		return (uint64_t)(p - f->ram);
	if (p >= f->rom && p < f->rom + ROM_SIZE)
		return ROM_GPA + (uint64_t)(p - f->rom);
	fail_msg("host address %p outside guest memory", hva);
	return 0;
}

static void diff_access(struct diff *d)
{
	struct rng *r = &d->rng;
	static const uint32_t sizes[] = { 1, 2, 4, 8, 8, 16 };
	unsigned int kind = rnd_below(r, VMMU_TLB_NR_KINDS);
	uint32_t flags = kind_flags[kind], size = sizes[rnd_below(r, ARRAY_LEN(sizes))];
	uint64_t gva = diff_random_gva(r, d->hot), value = rnd(r);
	struct vmmu_result want, got, ref;
	uint8_t buf_t[16], buf_r[16];
	void *inl = NULL;

	if (size > 8 || kind == VMMU_TLB_FETCH)
		size = kind == VMMU_TLB_FETCH ? 1 : size;
	else
		gva &= ~(uint64_t)(size - 1);
	memcpy(buf_t, &value, 8);
	memcpy(buf_t + 8, &value, 8);
	memcpy(buf_r, buf_t, 16);

	assert_int_equal(vmmu_vcpu_probe(d->t.v, gva, size, flags, &want), 0);
	assert_int_equal(vmmu_vcpu_enter(d->t.v), 0);
	if ((gva & 0xfff) + size <= 0x1000 && size <= 8)
		inl = vmmu_tlb_lookup_inline(vmmu_vcpu_tlb(d->t.v), gva, size, kind);
	if (is_write_kind(kind))
		assert_int_equal(vmmu_vcpu_write(d->t.v, gva, buf_t, size, flags, &got), 0);
	else
		assert_int_equal(vmmu_vcpu_read(d->t.v, gva, buf_t, size, flags, &got), 0);
	assert_int_equal(vmmu_vcpu_exit(d->t.v), 0);
	expect_same(&want, &got, "random", gva, flags);
	if (inl && (got.outcome != VMMU_OK || inl != got.hva))
		fail_msg("random: GVA %#llx kind %u: the inline hit gave %p, the library %p "
			 "(outcome %u)", (unsigned long long)gva, kind, inl, got.hva, got.outcome);

	assert_int_equal(vmmu_vcpu_flush(d->r.v), 0);
	if (is_write_kind(kind))
		assert_int_equal(vmmu_vcpu_write(d->r.v, gva, buf_r, size, flags, &ref), 0);
	else
		assert_int_equal(vmmu_vcpu_read(d->r.v, gva, buf_r, size, flags, &ref), 0);
	if (ref.outcome != got.outcome || ref.error_code != got.error_code ||
	    ref.gpa != got.gpa || ref.fault_gva != got.fault_gva ||
	    host_offset(&d->r, ref.hva) != host_offset(&d->t, got.hva) ||
	    (ref.len2 && ref.gpa2 != got.gpa2))
		fail_msg("random: GVA %#llx access %#x size %u: reference outcome %u err %#x "
			 "gpa %#llx, TLB outcome %u err %#x gpa %#llx", (unsigned long long)gva,
			 flags, size, ref.outcome, ref.error_code, (unsigned long long)ref.gpa,
			 got.outcome, got.error_code, (unsigned long long)got.gpa);
	if (got.outcome == VMMU_OK && memcmp(buf_t, buf_r, size))
		fail_msg("random: GVA %#llx: data differs", (unsigned long long)gva);
	d->accesses++;
}

static void diff_run(uint64_t seed, unsigned int steps, unsigned long *hits, unsigned long *total)
{
	struct diff *d = calloc(1, sizeof(*d));
	struct vmmu_stats st;

	assert_non_null(d);
	assert_int_equal(fixture_init(&d->t), 0);
	assert_int_equal(fixture_init(&d->r), 0);
	d->rng.s = seed;
	for (unsigned int i = 0; i < ARRAY_LEN(d->hot); i++) {
		unsigned int pd = rnd_below(&d->rng, 8);

		d->hot[i] = gva_at(pd, rnd_below(&d->rng, pd >= 6 ? 512 : 64));
	}
	both_reg(d, VMMU_REG_CR4, CR4_PAE | CR4_PGE);
	for (unsigned int i = 0; i < steps; i++) {
		unsigned int what = rnd_below(&d->rng, 100);

		if (what < 2)
			diff_change_pte(d);
		else if (what < 5)
			diff_change_reg(d);
		else
			diff_access(d);
		/* A and D flags, byte for byte (the data at the end). */
		if (memcmp(d->t.ram, d->r.ram, 0x10000))
			fail_msg("seed %#llx step %u: page tables differ", (unsigned long long)seed,
				 i);
	}
	if (memcmp(d->t.ram, d->r.ram, RAM_SIZE))
		fail_msg("seed %#llx: guest memory differs at the end", (unsigned long long)seed);
	st = stats(d->t.vm);
	*hits += st.tlb_hit;
	*total += st.tlb_hit + st.tlb_miss;
	fixture_fini(&d->t);
	fixture_fini(&d->r);
	free(d);
}

static void test_random_differential(void **state)
{
	unsigned long hits = 0, total = 0;
	unsigned int seeds = 12;

	(void)state;
	for (unsigned int s = 0; s < seeds; s++)
		diff_run(0x7e57ull * (s + 1), 20000, &hits, &total);
	print_message("%u seeds x 20000 steps: %lu of %lu page translations were TLB hits\n",
		      seeds, hits, total);
	assert_true(hits > total / 10);
}

/* ---- request-and-kick between threads ---- */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

enum { PHASE_START, PHASE_FILLED, PHASE_GO, PHASE_DONE };

struct kick {
	struct fixture *f;
	struct vmmu_vcpu *v;
	bool stay_in_guest_mode;
	unsigned int sleep_ms;
	int phase;
	uint64_t ack_ns;              /* when the vCPU made its next library call */
	bool flushed_after_ack;
	bool flushed_after_enter;
};

static void wait_phase(struct kick *k, int phase)
{
	while (__atomic_load_n(&k->phase, __ATOMIC_ACQUIRE) < phase)
		usleep(100);
}

static void *vcpu_thread(void *arg)
{
	struct kick *k = arg;
	uint64_t gva = gva_at(0, 40);
	struct vmmu_result res;

	vmmu_vcpu_enter(k->v);
	vmmu_vcpu_translate(k->v, gva, 4, VMMU_ACCESS_READ, &res);
	if (!k->stay_in_guest_mode)
		vmmu_vcpu_exit(k->v);
	__atomic_store_n(&k->phase, PHASE_FILLED, __ATOMIC_RELEASE);
	wait_phase(k, PHASE_GO);
	/* The requester is waiting (or not) now; the next call acknowledges. */
	usleep(k->sleep_ms * 1000);
	if (k->stay_in_guest_mode) {
		__atomic_store_n(&k->ack_ns, now_ns(), __ATOMIC_RELEASE);
		vmmu_vcpu_probe(k->v, gva, 4, VMMU_ACCESS_READ, &res);
		k->flushed_after_ack = !cached(k->v, gva);
		vmmu_vcpu_exit(k->v);
	} else {
		vmmu_vcpu_enter(k->v);
		k->flushed_after_enter = !cached(k->v, gva);
		vmmu_vcpu_exit(k->v);
	}
	__atomic_store_n(&k->phase, PHASE_DONE, __ATOMIC_RELEASE);
	return NULL;
}

/* A vCPU thread in guest mode: the requester waits for its next library
 * call, blocked (not spinning), and its TLB is flushed by then. */
static void test_kick_waits_for_guest_mode(void **state)
{
	struct fixture *f = *state;
	struct kick k = { .f = f, .stay_in_guest_mode = true, .sleep_ms = 200 };
	uint64_t t0, t1, cpu0, cpu1;
	pthread_t th;

	assert_int_equal(vmmu_vcpu_create(f->vm, 1, &k.v), 0);
	long_mode(k.v, 0);
	assert_int_equal(pthread_create(&th, NULL, vcpu_thread, &k), 0);
	wait_phase(&k, PHASE_FILLED);
	__atomic_store_n(&k.phase, PHASE_GO, __ATOMIC_RELEASE);
	t0 = now_ns();
	cpu0 = thread_cpu_ns();
	vm_tlb_flush_all(f->vm);
	cpu1 = thread_cpu_ns();
	t1 = now_ns();
	assert_true(t1 >= __atomic_load_n(&k.ack_ns, __ATOMIC_ACQUIRE));
	assert_true(t1 - t0 >= 150 * 1000000ull);
	/* Blocked: a spinning requester would burn the whole 200 ms. */
	assert_true(cpu1 - cpu0 < 50 * 1000000ull);
	pthread_join(th, NULL);
	assert_true(k.flushed_after_ack);
	print_message("requester waited %.1f ms, %.2f ms of CPU\n", (t1 - t0) / 1e6,
		      (cpu1 - cpu0) / 1e6);
	vmmu_vcpu_destroy(k.v);
}

/* A vCPU outside guest mode does not hold the requester up; it applies the
 * request when it enters. */
static void test_kick_skips_outside_guest_mode(void **state)
{
	struct fixture *f = *state;
	struct kick k = { .f = f, .stay_in_guest_mode = false, .sleep_ms = 300 };
	uint64_t t0, t1;
	pthread_t th;

	assert_int_equal(vmmu_vcpu_create(f->vm, 1, &k.v), 0);
	long_mode(k.v, 0);
	assert_int_equal(pthread_create(&th, NULL, vcpu_thread, &k), 0);
	wait_phase(&k, PHASE_FILLED);
	__atomic_store_n(&k.phase, PHASE_GO, __ATOMIC_RELEASE);
	t0 = now_ns();
	vm_tlb_invalidate_gpa_range(f->vm, data_gpa(0, 40), 0x1000);
	t1 = now_ns();
	assert_true(t1 - t0 < 100 * 1000000ull);
	assert_int_not_equal(__atomic_load_n(&k.phase, __ATOMIC_ACQUIRE), PHASE_DONE);
	pthread_join(th, NULL);
	assert_true(k.flushed_after_enter);
	vmmu_vcpu_destroy(k.v);
}

/* Requesters that are themselves vCPU threads in guest mode do not wait
 * for each other forever. */
struct storm {
	struct vmmu_vm *vm;
	struct vmmu_vcpu *v;
	unsigned int rounds;
};

static void *storm_thread(void *arg)
{
	struct storm *s = arg;
	struct vmmu_result res;

	vmmu_vcpu_enter(s->v);
	for (unsigned int i = 0; i < s->rounds; i++) {
		vmmu_vcpu_translate(s->v, gva_at(0, 41 + (i & 7)), 4, VMMU_ACCESS_READ, &res);
		if (i % 3 == 0)
			vm_tlb_flush_all(s->vm);
		else if (i % 3 == 1)
			vm_tlb_invalidate_gpa_range(s->vm, data_gpa(0, 41 + (i & 7)), 0x1000);
		if (i % 64 == 0) {
			vmmu_vcpu_exit(s->v);
			vmmu_vcpu_enter(s->v);
		}
	}
	vmmu_vcpu_exit(s->v);
	return NULL;
}

static void test_kick_requesters_in_guest_mode(void **state)
{
	struct fixture *f = *state;
	struct storm s[4];
	pthread_t th[4];

	for (unsigned int i = 0; i < 4; i++) {
		s[i] = (struct storm){ .vm = f->vm, .rounds = 2000 };
		assert_int_equal(vmmu_vcpu_create(f->vm, 2 + i, &s[i].v), 0);
		long_mode(s[i].v, 0);
	}
	for (unsigned int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&th[i], NULL, storm_thread, &s[i]), 0);
	for (unsigned int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	for (unsigned int i = 0; i < 4; i++)
		vmmu_vcpu_destroy(s[i].v);
}

/* Memslot deletion from another thread while vCPU threads run accesses:
 * once the deletion returns, no vCPU reaches the old memory. */
struct churn {
	struct fixture *f;
	struct vmmu_vcpu *v;
	bool stop;
	unsigned long bad;
	uint8_t *hosts[2];
};

static void *churn_vcpu(void *arg)
{
	struct churn *c = arg;
	uint64_t gva = gva_at(4, 40);
	struct vmmu_result res;

	while (!__atomic_load_n(&c->stop, __ATOMIC_ACQUIRE)) {
		vmmu_vcpu_enter(c->v);
		for (unsigned int i = 0; i < 100; i++) {
			uint32_t x;

			vmmu_vcpu_read(c->v, gva, &x, 4, VMMU_ACCESS_READ, &res);
			if (res.outcome == VMMU_OK && x != 0x600d600d)
				c->bad++;
		}
		vmmu_vcpu_exit(c->v);
	}
	return NULL;
}

static void test_memslot_delete_concurrent(void **state)
{
	struct fixture *f = *state;
	struct churn c = { .f = f };
	pthread_t th;

	*leaf(f, 4, 40) = (XRAM_GPA + 0x2000) | PTE_P | PTE_W | PTE_U;
	assert_int_equal(vmmu_vcpu_create(f->vm, 1, &c.v), 0);
	long_mode(c.v, 0);
	assert_int_equal(vmmu_memslot_delete(f->vm, VMMU_AS_NORMAL, 2), 0);
	for (unsigned int i = 0; i < 2; i++) {
		c.hosts[i] = map_anon(XRAM_SIZE);
		assert_non_null(c.hosts[i]);
	}
	assert_int_equal(pthread_create(&th, NULL, churn_vcpu, &c), 0);
	for (unsigned int round = 0; round < 300; round++) {
		uint8_t *h = c.hosts[round & 1];

		for (unsigned int i = 0; i < XRAM_SIZE; i += 4)
			*(uint32_t *)(h + i) = 0x600d600d;
		assert_int_equal(add_slot(f->vm, 2, XRAM_GPA, XRAM_SIZE, h, 0), 0);
		usleep(100);
		assert_int_equal(vmmu_memslot_delete(f->vm, VMMU_AS_NORMAL, 2), 0);
		/* The old memory is the host's again: poison it. */
		memset(h, 0xee, XRAM_SIZE);
	}
	__atomic_store_n(&c.stop, true, __ATOMIC_RELEASE);
	pthread_join(th, NULL);
	assert_int_equal(c.bad, 0);
	vmmu_vcpu_destroy(c.v);
	for (unsigned int i = 0; i < 2; i++)
		munmap(c.hosts[i], XRAM_SIZE);
	assert_int_equal(add_slot(f->vm, 2, XRAM_GPA, XRAM_SIZE, f->xram, 0), 0);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_hit_rights_every_combination),
		T(test_hit_nxe),
		T(test_pcid_tagging),
		T(test_global_entries),
		T(test_invlpg),
		T(test_invlpg_large_page),
		T(test_register_flushes),
		T(test_pse_flush),
		T(test_dirty_bit),
		T(test_readonly_slot),
		T(test_memslot_delete_and_add),
		T(test_vm_requests),
		T(test_inline_hit),
		cmocka_unit_test(test_random_differential),
		T(test_kick_waits_for_guest_mode),
		T(test_kick_skips_outside_guest_mode),
		T(test_kick_requesters_in_guest_mode),
		T(test_memslot_delete_concurrent),
	};
	/* The ThreadSanitizer pass (make tsan-test) wants the tests whose
	 * threads share a VM, not the exhaustive single-threaded ones. */
	const struct CMUnitTest threaded[] = {
		T(test_kick_waits_for_guest_mode),
		T(test_kick_skips_outside_guest_mode),
		T(test_kick_requesters_in_guest_mode),
		T(test_memslot_delete_concurrent),
	};

	if (getenv("VMMU_TEST_THREADED_ONLY"))
		return cmocka_run_group_tests(threaded, NULL, NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
