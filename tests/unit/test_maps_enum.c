// SPDX-License-Identifier: MIT
/*
 * The page-table enumerator (src/paging/paging_enum.c) against the walker.
 *
 * Random page tables, in every paging mode and several MAXPHYADDRs and
 * EFER.NXE settings, with large pages, reserved bits, PS in PML4Es, tables
 * shared, recursive and out of memory: every leaf the ARCH rules list is
 * what walk_guest() translates its first and last byte to (same physical
 * address, level and rights), the leaves are sorted and disjoint, and
 * random linear addresses translate if and only if a leaf covers them.
 * Then the traversal machinery against a plain recursive enumerator
 * written here (all three rule sets), and hostile tables: every entry
 * pointing at its own table, fan-out onto one empty table, a runaway that
 * the entry budget stops.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "paging/paging.h"
#include "paging/paging_enum.h"

#define MEM_PAGES 48
#define MAX_LEAVES 200000

static uint8_t mem_buf[MEM_PAGES * 4096] __attribute__((aligned(4096)));
static unsigned int mem_entry_bytes = 8;

static void *test_map(struct pt_mem *mem, gpa_t gpa, bool write)
{
	(void)mem;
	if (write || gpa >= sizeof(mem_buf) || sizeof(mem_buf) - gpa < mem_entry_bytes)
		return NULL;
	return mem_buf + gpa;
}

static struct pt_mem test_mem = { .map = test_map };

static uint64_t rng_state;

static uint64_t rnd(void)
{
	uint64_t x = rng_state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return rng_state = x;
}

static bool chance(unsigned int percent)
{
	return rnd() % 100 < percent;
}

enum pmode { PM_32, PM_32_PSE, PM_PAE, PM_4, PM_5, PM_NR };

static void make_regs(enum pmode pm, bool nxe, struct paging_regs *r)
{
	memset(r, 0, sizeof(*r));
	r->cr0 = X86_CR0_PG | X86_CR0_PE | X86_CR0_WP;
	if (pm == PM_32_PSE)
		r->cr4 |= X86_CR4_PSE;
	if (pm >= PM_PAE)
		r->cr4 |= X86_CR4_PAE;
	if (pm >= PM_4)
		r->efer |= X86_EFER_LME | X86_EFER_LMA;
	if (pm == PM_5)
		r->cr4 |= X86_CR4_LA57;
	if (nxe)
		r->efer |= X86_EFER_NXE;
}

/* Indexes the random entries use, and the linear addresses probed. */
static const unsigned int hot_index[] = { 0, 1, 2, 3, 255, 256, 510, 511, 1022, 1023 };

static unsigned int random_index(bool pte64)
{
	unsigned int i = hot_index[rnd() % ARRAY_SIZE(hot_index)];

	return pte64 ? i & 511 : i;
}

/* A random entry: a table or page pointer (sometimes out of memory), random
 * flags, sometimes a reserved bit somewhere. */
static uint64_t random_entry(bool pte64, unsigned int maxphyaddr)
{
	uint64_t page = rnd() % (MEM_PAGES + 4);     /* a few beyond memory */
	uint64_t e = page << 12;

	if (chance(8))
		e = (rnd() & 0x3ff) << 21;              /* a 2M/4M-aligned target */
	if (chance(4))
		e = (rnd() & 3) << 30;
	e |= rnd() & 0x1fe;                             /* W U PWT PCD A D PS G */
	if (chance(35))
		e &= ~PT_PAGE_SIZE;
	if (chance(90))
		e |= PT_PRESENT;
	if (pte64) {
		if (chance(25))
			e |= PT64_NX;
		if (chance(10))
			e |= 1ull << (13 + rnd() % 17);     /* bits 29:13: reserved in large pages */
		if (chance(6))
			e |= 1ull << (maxphyaddr + rnd() % (52 - maxphyaddr + 1));
		if (chance(6))
			e |= (rnd() & 0x7f) << 52;          /* ignored or (PAE) reserved */
		if (chance(6))
			e |= (rnd() & 15) << 59;            /* protection key */
	} else {
		e &= 0xffffffffu;
		if (chance(10))
			e |= (rnd() & 0xff) << 13;          /* PSE-36 bits */
		if (chance(5))
			e |= 1ull << 21;
	}
	return e;
}

static void put_entry(uint64_t gpa, uint64_t e, bool pte64)
{
	if (pte64)
		memcpy(mem_buf + gpa, &e, 8);
	else {
		uint32_t v = (uint32_t)e;

		memcpy(mem_buf + gpa, &v, 4);
	}
}

static uint64_t read_entry(uint64_t gpa, bool pte64)
{
	uint64_t v = 0;

	memcpy(&v, mem_buf + gpa, pte64 ? 8 : 4);
	return v;
}

static void random_tables(bool pte64, unsigned int maxphyaddr, unsigned int entries)
{
	memset(mem_buf, 0, sizeof(mem_buf));
	for (unsigned int i = 0; i < entries; i++) {
		uint64_t page = rnd() % MEM_PAGES;
		unsigned int index = random_index(pte64);

		put_entry(page * 4096 + index * (pte64 ? 8 : 4), random_entry(pte64, maxphyaddr), pte64);
	}
}

struct leaf_list {
	struct paging_leaf *v;
	size_t nr;
};

static int collect(const struct paging_mode *m, uint64_t cr3, enum paging_enum_rules rules,
		   uint64_t max_leaves, uint64_t max_entries, struct leaf_list *out,
		   struct paging_enum *stats)
{
	struct paging_enum e;
	struct paging_leaf leaf;
	int ret;

	assert_int_equal(paging_enum_init(&e, &(struct paging_enum_config){
		.mode = m, .mem = &test_mem, .cr3 = cr3, .rules = rules,
		.max_leaves = max_leaves, .max_entries = max_entries }), 0);
	out->nr = 0;
	for_each_paging_leaf(&e, &leaf, ret) {
		assert_true(out->nr < MAX_LEAVES);
		out->v[out->nr++] = leaf;
	}
	/* Once finished, it stays finished. */
	assert_int_equal(paging_enum_next(&e, &leaf), ret);
	if (stats)
		*stats = e;
	paging_enum_destroy(&e);
	return ret;
}

static uint64_t raw_va(const struct paging_mode *m, gva_t va)
{
	unsigned int bits = paging_va_bits(m);

	return bits >= 48 ? va & ((1ull << bits) - 1) : va;
}

/* The leaf covering @va (raw), or NULL. */
static const struct paging_leaf *covering(const struct paging_mode *m,
					  const struct leaf_list *l, uint64_t va)
{
	size_t lo = 0, hi = l->nr;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		uint64_t start = raw_va(m, l->v[mid].va);

		if (va < start)
			hi = mid;
		else if (va - start >= (1ull << l->v[mid].shift))
			lo = mid + 1;
		else
			return &l->v[mid];
	}
	return NULL;
}

static void walk_regs_for(const struct paging_mode *m, uint64_t cr3, uint64_t pdpte[4],
			  struct walk_regs *wr)
{
	memset(wr, 0, sizeof(*wr));
	wr->cr3 = cr3;
	if (m->levels == 3)
		for (unsigned int i = 0; i < 4; i++)
			pdpte[i] = read_entry((cr3 & 0xffffffe0) + 8 * i, true);
	wr->pdpte = pdpte;
}

/* walk_guest() of @va must agree with the leaf list. */
static void check_va(const struct paging_mode *m, const struct walk_regs *wr,
		     const struct leaf_list *l, uint64_t va, const char *what)
{
	const struct paging_leaf *leaf = covering(m, l, va);
	struct walk_result res;
	bool ok = walk_guest(m, wr, &test_mem, paging_canonical(m, va), 0, WALK_NO_AD, &res);

	if (ok != !!leaf) {
		print_error("%s: va 0x%llx: walker %s, enumerator %s\n", what,
			    (unsigned long long)va, ok ? "translates" : "faults",
			    leaf ? "lists it" : "does not list it");
		fail();
	}
	if (!ok)
		return;
	if (res.gpa != leaf->pa + (va - raw_va(m, leaf->va)) || res.level != leaf->level ||
	    res.rights != leaf->rights) {
		print_error("%s: va 0x%llx: walker gpa 0x%llx level %u rights %u, leaf pa 0x%llx level %u rights %u\n",
			    what, (unsigned long long)va, (unsigned long long)res.gpa, res.level,
			    res.rights, (unsigned long long)leaf->pa, leaf->level, leaf->rights);
		fail();
	}
}

static uint64_t random_va(const struct paging_mode *m)
{
	unsigned int levels = m->levels, bits = levels == 2 ? 10 : 9;
	uint64_t va = 0;

	for (unsigned int l = 1; l <= levels; l++)
		va |= (uint64_t)random_index(levels != 2) << (12 + bits * (l - 1));
	if (levels == 3)
		va = (va & 0x3fffffff) | ((rnd() & 3) << 30);
	if (chance(30))
		va |= rnd() & 0xfff;
	if (chance(10))
		va |= rnd() & 0x1fffff;
	return va & ((paging_va_bits(m) == 32) ? 0xffffffffull : ~0ull >> (64 - paging_va_bits(m)));
}

static void test_against_walker(void **state)
{
	static const unsigned int maxpas[] = { 36, 46, 52 };
	struct leaf_list l = { .v = calloc(MAX_LEAVES, sizeof(struct paging_leaf)) };
	unsigned long total_leaves = 0, total_walks = 0;

	(void)state;
	assert_non_null(l.v);
	rng_state = 0x9e3779b97f4a7c15ull;
	for (unsigned int round = 0; round < 60; round++) {
		for (enum pmode pm = PM_32; pm < PM_NR; pm++) {
			unsigned int maxpa = maxpas[round % ARRAY_SIZE(maxpas)];
			bool pte64 = pm >= PM_PAE, nxe = round & 1;
			struct paging_regs regs;
			struct paging_mode m;
			struct walk_regs wr;
			uint64_t pdpte[4], cr3;
			char what[64];

			make_regs(pm, nxe, &regs);
			paging_mode_init(&m, &regs, maxpa);
			mem_entry_bytes = pte64 ? 8 : 4;
			random_tables(pte64, maxpa, 400);
			cr3 = (rnd() % MEM_PAGES) << 12;
			if (pm == PM_PAE)
				cr3 |= (rnd() & 0x7f) << 5;     /* a PDPT anywhere 32-byte aligned */
			snprintf(what, sizeof(what), "round %u mode %d maxphyaddr %u nxe %d", round,
				 pm, maxpa, nxe);
			assert_int_equal(collect(&m, cr3, PAGING_ENUM_ARCH, 0, 0, &l, NULL), 0);
			walk_regs_for(&m, cr3, pdpte, &wr);
			for (size_t i = 0; i < l.nr; i++) {
				const struct paging_leaf *p = &l.v[i];
				uint64_t start = raw_va(&m, p->va), size = 1ull << p->shift;

				assert_int_equal(p->va, paging_canonical(&m, start));
				if (i)
					assert_true(raw_va(&m, l.v[i - 1].va) +
						    (1ull << l.v[i - 1].shift) <= start);
				check_va(&m, &wr, &l, start, what);
				check_va(&m, &wr, &l, start + size - 1, what);
			}
			for (unsigned int i = 0; i < 300; i++)
				check_va(&m, &wr, &l, random_va(&m), what);
			total_leaves += l.nr;
			total_walks += 2 * l.nr + 300;
		}
	}
	/* The random tables must exercise something. */
	assert_true(total_leaves > 5000);
	print_message("%lu leaves, %lu walks compared\n", total_leaves, total_walks);
	free(l.v);
}

/* ---- a plain recursive enumerator: the rules, without the machinery ----- */

struct ref_ctx {
	const struct paging_mode *m;
	enum paging_enum_rules rules;
	struct leaf_list *out;
};

static uint64_t ref_table(const struct ref_ctx *c, uint64_t e)
{
	if (c->m->levels == 2)
		return e & 0xfffff000;
	return e & (c->rules == PAGING_ENUM_ARCH ? 0x000ffffffffff000ull : 0x0003fffffffff000ull);
}

static void ref_scan(const struct ref_ctx *c, uint64_t table, unsigned int level, uint64_t va,
		     uint64_t path, unsigned int rights)
{
	bool pte64 = c->m->levels >= 3;
	unsigned int n = pte64 ? 512 : 1024, shift = 12 + (pte64 ? 9 : 10) * (level - 1);

	for (unsigned int i = 0; i < n; i++) {
		uint64_t e = table + (uint64_t)i * (pte64 ? 8 : 4) + (pte64 ? 8 : 4) <= sizeof(mem_buf) ?
			     read_entry(table + (uint64_t)i * (pte64 ? 8 : 4), pte64) : 0;
		uint64_t eva = va + ((uint64_t)i << shift);
		bool present = e & PT_PRESENT, ps = e & PT_PAGE_SIZE;
		bool leaf = level == 1 || (ps && (c->m->large_levels & (1u << level)));
		unsigned int r = rights;

		if (c->rules == PAGING_ENUM_QEMU_MEM && c->m->levels == 5 && (level == 3 || level == 2))
			present = !present;             /* QEMU 7.2's inverted test */
		if (!present)
			continue;
		if (c->rules == PAGING_ENUM_ARCH && (e & c->m->rsvd[ps][level - 1]))
			continue;
		if (c->rules == PAGING_ENUM_QEMU_MEM && !(e & path & 7))
			continue;
		if (!(e & PT_WRITABLE))
			r &= ~RIGHT_WRITE;
		if (!(e & PT_USER))
			r &= ~RIGHT_USER;
		if (c->m->nx && (e & PT64_NX))
			r &= ~RIGHT_EXEC;
		if (!leaf) {
			ref_scan(c, ref_table(c, e), level - 1, eva, path & e, r);
			continue;
		}
		c->out->v[c->out->nr++] = (struct paging_leaf){
			.va = paging_canonical(c->m, eva), .pte = e, .path = path,
			.level = (uint8_t)level, .shift = (uint8_t)shift, .rights = (uint8_t)r,
		};
	}
}

static void ref_enum(const struct paging_mode *m, uint64_t cr3, enum paging_enum_rules rules,
		     struct leaf_list *out)
{
	struct ref_ctx c = { m, rules, out };

	out->nr = 0;
	if (m->levels != 3) {
		ref_scan(&c, m->levels == 2 ? cr3 & 0xfffff000 : ref_table(&c, cr3), m->levels, 0,
			 ~0ull, RIGHTS_ALL);
		return;
	}
	for (unsigned int i = 0; i < 4; i++) {
		uint64_t pdpte = read_entry((rules == PAGING_ENUM_ARCH ? cr3 & 0xffffffe0 : cr3 & ~0x1full) + 8 * i, true);

		if (pdpte & PT_PRESENT)
			ref_scan(&c, ref_table(&c, pdpte), 2, (uint64_t)i << 30, ~0ull, RIGHTS_ALL);
	}
}

static void test_against_recursion(void **state)
{
	struct leaf_list a = { .v = calloc(MAX_LEAVES, sizeof(struct paging_leaf)) };
	struct leaf_list b = { .v = calloc(MAX_LEAVES, sizeof(struct paging_leaf)) };
	unsigned long compared = 0, skipped = 0;

	(void)state;
	assert_non_null(a.v);
	assert_non_null(b.v);
	rng_state = 12345;
	for (unsigned int round = 0; round < 40; round++) {
		for (enum pmode pm = PM_32; pm < PM_NR; pm++) {
			for (enum paging_enum_rules rules = PAGING_ENUM_ARCH;
			     rules <= PAGING_ENUM_QEMU_MEM; rules++) {
				struct paging_regs regs;
				struct paging_mode m;
				struct paging_enum st;
				uint64_t cr3;

				make_regs(pm, true, &regs);
				paging_mode_init(&m, &regs, 46);
				mem_entry_bytes = pm >= PM_PAE ? 8 : 4;
				random_tables(pm >= PM_PAE, 46, 300);
				cr3 = (rnd() % MEM_PAGES) << 12;
				assert_int_equal(collect(&m, cr3, rules, 0, 0, &a, &st), 0);
				ref_enum(&m, cr3, rules, &b);
				assert_int_equal(a.nr, b.nr);
				for (size_t i = 0; i < a.nr; i++) {
					assert_int_equal(a.v[i].va, b.v[i].va);
					assert_int_equal(a.v[i].pte, b.v[i].pte);
					assert_int_equal(a.v[i].level, b.v[i].level);
					assert_int_equal(a.v[i].shift, b.v[i].shift);
					if (rules == PAGING_ENUM_ARCH)
						assert_int_equal(a.v[i].rights, b.v[i].rights);
					if (rules == PAGING_ENUM_QEMU_MEM)
						assert_int_equal(paging_qemu_prot(&a.v[i]),
								 paging_qemu_prot(&b.v[i]));
				}
				compared += a.nr;
				skipped += st.skipped;
			}
		}
	}
	assert_true(compared > 5000);
	assert_true(skipped > 0);          /* the memo was used */
	print_message("%lu leaves compared, %lu tables skipped by the memo\n", compared, skipped);
	free(a.v);
	free(b.v);
}

/* ---- hostile tables -------------------------------------------------------- */

static void init_4level(struct paging_mode *m)
{
	struct paging_regs regs;

	make_regs(PM_4, true, &regs);
	paging_mode_init(m, &regs, 52);
	mem_entry_bytes = 8;
}

/* Every PML4 entry points at the PML4: 512^4 leaves; the cap stops it. */
static void test_self_pointing(void **state)
{
	struct leaf_list l = { .v = calloc(MAX_LEAVES, sizeof(struct paging_leaf)) };
	struct paging_mode m;
	struct paging_enum st;

	(void)state;
	init_4level(&m);
	memset(mem_buf, 0, sizeof(mem_buf));
	for (unsigned int i = 0; i < 512; i++)
		put_entry(0x1000 + 8 * i, 0x1000 | PT_PRESENT | PT_WRITABLE, true);
	assert_int_equal(collect(&m, 0x1000, PAGING_ENUM_ARCH, 1000, 0, &l, &st), -E2BIG);
	assert_int_equal(l.nr, 1000);
	assert_int_equal(st.leaves, 1000);
	for (size_t i = 0; i < l.nr; i++) {
		assert_int_equal(l.v[i].va, (uint64_t)i << 12);
		assert_int_equal(l.v[i].pa, 0x1000);
	}
	/* The QEMU rules as well. */
	assert_int_equal(collect(&m, 0x1000, PAGING_ENUM_QEMU_TLB, 1000, 0, &l, NULL), -E2BIG);
	free(l.v);
}

/* 512^3 paths onto one empty page table: the memo makes it a few scans. */
static void test_fanout_to_empty(void **state)
{
	struct leaf_list l = { .v = calloc(16, sizeof(struct paging_leaf)) };
	struct paging_mode m;
	struct paging_enum st;

	(void)state;
	init_4level(&m);
	memset(mem_buf, 0, sizeof(mem_buf));
	for (unsigned int i = 0; i < 512; i++) {
		put_entry(0x1000 + 8 * i, 0x2000 | PT_PRESENT, true);    /* PML4 -> PDPT */
		put_entry(0x2000 + 8 * i, 0x3000 | PT_PRESENT, true);    /* PDPT -> PD */
		put_entry(0x3000 + 8 * i, 0x4000 | PT_PRESENT, true);    /* PD -> empty PT */
	}
	for (enum paging_enum_rules rules = PAGING_ENUM_ARCH; rules <= PAGING_ENUM_QEMU_MEM; rules++) {
		assert_int_equal(collect(&m, 0x1000, rules, 0, 0, &l, &st), 0);
		assert_int_equal(l.nr, 0);
		assert_true(st.entries < 4 * 512 * 2);
		assert_true(st.skipped > 0);
	}
	free(l.v);
}

/* One leaf behind 512^3 paths: bounded by the entries budget. */
static void test_runaway_budget(void **state)
{
	struct leaf_list l = { .v = calloc(MAX_LEAVES, sizeof(struct paging_leaf)) };
	struct paging_mode m;
	struct paging_enum st;

	(void)state;
	init_4level(&m);
	memset(mem_buf, 0, sizeof(mem_buf));
	for (unsigned int i = 0; i < 512; i++) {
		put_entry(0x1000 + 8 * i, 0x2000 | PT_PRESENT, true);
		put_entry(0x2000 + 8 * i, 0x3000 | PT_PRESENT, true);
		put_entry(0x3000 + 8 * i, 0x4000 | PT_PRESENT, true);
	}
	put_entry(0x4000 + 8 * 7, 0x5000 | PT_PRESENT, true);
	assert_int_equal(collect(&m, 0x1000, PAGING_ENUM_ARCH, 0, 100000, &l, &st), -ELOOP);
	assert_int_equal(st.entries, 100000);
	assert_true(l.nr > 100 && l.nr < 400);
	assert_int_equal(l.v[0].va, 7 << 12);
	assert_int_equal(l.v[1].va, (1 << 21) + (7 << 12));
	free(l.v);
}

/* Tables beyond memory read as not present; a config without memory is refused. */
static void test_outside_memory(void **state)
{
	struct leaf_list l = { .v = calloc(16, sizeof(struct paging_leaf)) };
	struct paging_mode m;
	struct paging_enum e;

	(void)state;
	init_4level(&m);
	memset(mem_buf, 0, sizeof(mem_buf));
	put_entry(0x1000, 0x7fff000000ull | PT_PRESENT, true);
	put_entry(0x1008, (sizeof(mem_buf) - 0x1000) | PT_PRESENT, true);
	assert_int_equal(collect(&m, 0x1000, PAGING_ENUM_ARCH, 0, 0, &l, NULL), 0);
	assert_int_equal(l.nr, 0);
	assert_int_equal(collect(&m, 0xfffff000ull, PAGING_ENUM_ARCH, 0, 0, &l, NULL), 0);
	assert_int_equal(l.nr, 0);
	assert_int_equal(paging_enum_init(&e, &(struct paging_enum_config){ .mode = &m }), -EINVAL);
	free(l.v);
}

/* Paging off: nothing to list. */
static void test_paging_off(void **state)
{
	struct leaf_list l = { .v = calloc(4, sizeof(struct paging_leaf)) };
	struct paging_regs regs = { .cr0 = X86_CR0_PE };
	struct paging_mode m;

	(void)state;
	paging_mode_init(&m, &regs, 46);
	assert_int_equal(collect(&m, 0x1000, PAGING_ENUM_ARCH, 0, 0, &l, NULL), 0);
	assert_int_equal(l.nr, 0);
	assert_int_equal(paging_va_bits(&m), 0);
	free(l.v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_against_walker),
		cmocka_unit_test(test_against_recursion),
		cmocka_unit_test(test_self_pointing),
		cmocka_unit_test(test_fanout_to_empty),
		cmocka_unit_test(test_runaway_budget),
		cmocka_unit_test(test_outside_memory),
		cmocka_unit_test(test_paging_off),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
