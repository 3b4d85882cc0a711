// SPDX-License-Identifier: MIT
/*
 * walk_guest() against the reference walker of tests/ref, over the same
 * guest memory: many thousands of random but structured page tables in
 * every paging mode (32-bit with and without PSE, PAE, 4-level, 5-level) at
 * several MAXPHYADDRs, with random registers and accesses, from a fixed
 * seed.  Fault or not, error code, GPA, leaf level, rights and the memory
 * after the A/D updates must all agree.  Then targeted cases: hand-checked
 * translations, a self-mapping PML4 entry, a lost A/D compare-and-swap (the
 * walk restarts), and read-only page tables.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "paging/paging.h"
#include "ref_walk.h"

/* ---- Deterministic randomness ------------------------------------------------ */

static uint64_t rng_state;

static uint64_t rnd(void)
{
	/* splitmix64 */
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t rnd_below(uint64_t n)
{
	return rnd() % n;
}

/* True with probability @pct percent. */
static bool chance(unsigned int pct)
{
	return rnd_below(100) < pct;
}

/* ---- Guest memory seen by the library ---------------------------------------- */

struct test_mem {
	struct pt_mem ops;
	uint8_t *buf;
	uint64_t size;
	bool ro;
	unsigned int entry_size;   /* 4 or 8: map() checks alignment */
	unsigned int misaligned;   /* map() calls off the entry size */
	/* Lost compare-and-swap: the first map(write) XORs @cas_xor into
	 * the entry before returning it, once. */
	uint64_t cas_xor;
	bool cas_armed;
	bool cas_fired;
	uint64_t cas_gpa;
	/* Only fire on this GPA (~0: any). */
	uint64_t cas_target;
};

static void *test_map(struct pt_mem *pm, gpa_t gpa, bool write)
{
	struct test_mem *m = (struct test_mem *)pm;

	if (gpa % m->entry_size)
		m->misaligned++;
	if (gpa >= m->size || m->size - gpa < m->entry_size)
		return NULL;
	if (write && m->ro)
		return NULL;
	if (write && m->cas_armed && !m->cas_fired &&
	    (m->cas_target == ~0ull || m->cas_target == gpa)) {
		m->cas_fired = true;
		m->cas_gpa = gpa;
		for (unsigned int i = 0; i < m->entry_size; i++)
			m->buf[gpa + i] ^= (uint8_t)(m->cas_xor >> (8 * i));
	}
	return m->buf + gpa;
}

static void test_mem_init(struct test_mem *m, uint8_t *buf, uint64_t size, bool ro,
			  unsigned int entry_size)
{
	memset(m, 0, sizeof(*m));
	m->ops.map = test_map;
	m->buf = buf;
	m->size = size;
	m->ro = ro;
	m->entry_size = entry_size;
	m->cas_target = ~0ull;
}

/* ---- Running one access both ways ---------------------------------------------- */

/* The walker's ACCESS_* bits for an access (ACCESS_SMAP: supervisor data
 * access, implicit or with RFLAGS.AC=0).  @noise sets ACCESS_SMAP where the
 * walker must ignore it (user accesses, fetches). */
static unsigned int lib_access(const struct ref_cpu *cpu, const struct ref_access *acc, bool noise)
{
	bool user = ref_user_access(cpu, acc);
	unsigned int a = 0;

	if (acc->kind == REF_WRITE)
		a |= ACCESS_WRITE;
	if (acc->kind == REF_FETCH)
		a |= ACCESS_FETCH;
	if (user)
		a |= ACCESS_USER;
	if (!user && acc->kind != REF_FETCH && (acc->implicit || !cpu->ac))
		a |= ACCESS_SMAP;
	if (noise && (user || acc->kind == REF_FETCH))
		a |= ACCESS_SMAP;
	return a;
}

static void lib_mode(struct paging_mode *m, const struct ref_cpu *cpu)
{
	struct paging_regs r = { .cr0 = cpu->cr0, .cr4 = cpu->cr4, .efer = cpu->efer };

	paging_mode_init(m, &r, cpu->maxphyaddr);
}

static bool lib_walk(const struct ref_cpu *cpu, struct test_mem *mem, uint64_t gva,
		     unsigned int access, unsigned int flags, struct walk_result *res)
{
	struct paging_mode m;
	struct walk_regs wr = {
		.cr3 = cpu->cr3, .pdpte = cpu->pdpte, .pkru = cpu->pkru, .pkrs = cpu->pkrs,
	};

	lib_mode(&m, cpu);
	memset(res, 0, sizeof(*res));
	return walk_guest(&m, &wr, &mem->ops, gva, access, flags, res);
}

static unsigned int ref_rights(const struct ref_result *r)
{
	return (r->xd ? 0 : RIGHT_EXEC) | (r->writable ? RIGHT_WRITE : 0) |
	       (r->user_addr ? RIGHT_USER : 0);
}

/* A disagreement, by kind. */
enum diff {
	D_NONE, D_FAULT, D_ERROR_CODE, D_GPA, D_LEVEL, D_RIGHTS, D_MEMORY, D_ALIGN, D_NR
};

static const char *const diff_name[D_NR] = {
	"none", "fault/no fault", "error code", "gpa", "level", "rights", "memory after A/D",
	"misaligned map()",
};

/* Compares a library walk with a reference walk (and their memories). */
static enum diff compare(bool ok, const struct walk_result *lr, const struct ref_result *rr,
			 unsigned int levels, const struct test_mem *lm, const struct ref_mem *rm)
{
	if (lm->misaligned)
		return D_ALIGN;
	if (ok == rr->fault)
		return D_FAULT;
	if (!ok && lr->error_code != rr->error_code)
		return D_ERROR_CODE;
	if (ok && lr->gpa != rr->gpa)
		return D_GPA;
	if (ok && levels && lr->level != rr->level)
		return D_LEVEL;
	if (ok && levels && lr->rights != ref_rights(rr))
		return D_RIGHTS;
	if (memcmp(lm->buf, rm->buf, rm->size))
		return D_MEMORY;
	return D_NONE;
}

/* ---- Random configurations ----------------------------------------------------- */

enum pmode { PM_OFF, PM_32, PM_32_PSE, PM_PAE, PM_4LEVEL, PM_5LEVEL };

struct config {
	enum pmode pm;
	unsigned int maxphyaddr;
};

static const struct config configs[] = {
	{ PM_OFF, 46 },
	{ PM_32, 36 }, { PM_32, 40 }, { PM_32, 46 },
	{ PM_32_PSE, 36 }, { PM_32_PSE, 40 }, { PM_32_PSE, 46 },
	{ PM_PAE, 36 }, { PM_PAE, 46 }, { PM_PAE, 52 },
	{ PM_4LEVEL, 36 }, { PM_4LEVEL, 46 }, { PM_4LEVEL, 52 },
	{ PM_5LEVEL, 36 }, { PM_5LEVEL, 46 }, { PM_5LEVEL, 52 },
};

static const char *const pmode_name[] = {
	"off", "32-bit", "32-bit+PSE", "PAE", "4-level", "5-level",
};

#define MEM_PAGES  8
#define MEM_SIZE   (MEM_PAGES * 4096ull)

/* A physical address for an entry: mostly a page of RAM. */
static uint64_t random_frame(unsigned int maxphyaddr, bool is32, bool clean)
{
	unsigned int r = rnd_below(100);

	if (clean && chance(60))
		r = 0;
	uint64_t limit = is32 ? 32 : maxphyaddr;

	if (r < 76)
		return rnd_below(MEM_PAGES) << 12;
	if (r < 81)
		return (MEM_PAGES + rnd_below(4)) << 12;       /* just past RAM */
	if (r < 88)
		return rnd_below(8) << (is32 ? 22 : 21);        /* large-page aligned */
	if (r < 92)
		return rnd_below(4) << 30;
	return rnd() & bit_range(limit - 1, 12);
}

/* A plausible 32-bit paging entry. */
static uint32_t random_entry32(unsigned int maxphyaddr)
{
	uint64_t e = random_frame(maxphyaddr, true, false);

	e |= chance(90) ? PT_PRESENT : 0;
	e |= chance(70) ? PT_WRITABLE : 0;
	e |= chance(70) ? PT_USER : 0;
	e |= chance(50) ? PT_ACCESSED : 0;
	e |= chance(50) ? PT_DIRTY : 0;
	e |= chance(30) ? PT_PAGE_SIZE : 0;
	e |= rnd() & 0xf18;                             /* PWT, PCD, G, ignored */
	if (chance(20))
		e |= rnd() & bit_range(21, 13);         /* PSE-36 and reserved */
	return (uint32_t)e;
}

/*
 * A plausible PAE or 4/5-level entry, reserved bits sprinkled rarely.  A
 * @clean image has fewer large pages, XD bits and stray bits, so that deep
 * walks (5 levels) often reach a page.
 */
static uint64_t random_entry64(unsigned int maxphyaddr, bool pae, bool clean)
{
	uint64_t e = random_frame(maxphyaddr, false, clean);

	e |= chance(clean ? 96 : 90) ? PT_PRESENT : 0;
	e |= chance(70) ? PT_WRITABLE : 0;
	e |= chance(70) ? PT_USER : 0;
	e |= chance(50) ? PT_ACCESSED : 0;
	e |= chance(50) ? PT_DIRTY : 0;
	e |= chance(clean ? 12 : 25) ? PT_PAGE_SIZE : 0;
	e |= rnd() & 0xf18;
	e |= chance(clean ? 10 : 30) ? PT64_NX : 0;
	if (chance(pae ? 4 : 50))
		e |= rnd() & bit_range(62, 59);          /* protection key */
	if (chance(pae ? 2 : 15))
		e |= rnd() & bit_range(58, 52);          /* ignored in IA-32e */
	if (chance(clean ? 1 : 4))
		e |= 1ull << (13 + rnd_below(51 - 13 + 1));  /* maybe reserved */
	return e;
}

static void fill_memory(uint8_t *buf, const struct config *c, bool clean)
{
	if (c->pm == PM_32 || c->pm == PM_32_PSE || c->pm == PM_OFF) {
		for (uint64_t off = 0; off < MEM_SIZE; off += 4) {
			uint32_t e = random_entry32(c->maxphyaddr);

			memcpy(buf + off, &e, 4);
		}
		return;
	}
	for (uint64_t off = 0; off < MEM_SIZE; off += 8) {
		uint64_t e = random_entry64(c->maxphyaddr, c->pm == PM_PAE, clean);

		memcpy(buf + off, &e, 8);
	}
}

/* A present PDPTE register value without reserved bits (or not present). */
static uint64_t random_pdpte(unsigned int maxphyaddr)
{
	uint64_t e;

	if (chance(15))
		return rnd() & ~PT_PRESENT;
	e = random_frame(maxphyaddr, false, false) & bit_range(maxphyaddr - 1, 12);
	return e | PT_PRESENT | (rnd() & 0xe18);        /* PWT, PCD, ignored */
}

/* Random registers for mode @c, consistent as a CPU could hold them. */
static void random_cpu(struct ref_cpu *cpu, const struct config *c)
{
	static const unsigned int cpls[] = { 0, 0, 0, 0, 1, 2, 3, 3, 3, 3 };

	memset(cpu, 0, sizeof(*cpu));
	cpu->maxphyaddr = c->maxphyaddr;
	cpu->cr0 = X86_CR0_PE | X86_CR0_ET | (c->pm != PM_OFF ? X86_CR0_PG : 0);
	if (chance(50))
		cpu->cr0 |= X86_CR0_WP;
	cpu->cr4 = rnd() & (X86_CR4_PGE | X86_CR4_SMEP | X86_CR4_SMAP | X86_CR4_PKE | X86_CR4_PKS);
	if (c->pm == PM_32_PSE || (c->pm >= PM_PAE && chance(50)))
		cpu->cr4 |= X86_CR4_PSE;
	if (c->pm >= PM_PAE)
		cpu->cr4 |= X86_CR4_PAE;
	if (c->pm == PM_5LEVEL)
		cpu->cr4 |= X86_CR4_LA57;
	if (chance(70))
		cpu->efer |= X86_EFER_NXE;
	if (chance(50))
		cpu->efer |= X86_EFER_SCE;
	if (c->pm >= PM_4LEVEL)
		cpu->efer |= X86_EFER_LME | X86_EFER_LMA;
	cpu->pkru = chance(50) ? (uint32_t)rnd() : (uint32_t)(rnd() & rnd() & rnd());
	cpu->pkrs = chance(50) ? (uint32_t)rnd() : (uint32_t)(rnd() & rnd() & rnd());
	cpu->cpl = cpls[rnd_below(ARRAY_SIZE(cpls))];
	cpu->ac = chance(50);

	switch (c->pm) {
	case PM_OFF:
		break;
	case PM_32:
	case PM_32_PSE:
		cpu->cr3 = (random_frame(c->maxphyaddr, true, false) & 0xfffff000ull) | (rnd() & 0x18);
		break;
	case PM_PAE:
		cpu->cr3 = (rnd_below(MEM_SIZE + 4096) & 0xffffffe0ull) | (rnd() & 0x18);
		for (unsigned int i = 0; i < 4; i++)
			cpu->pdpte[i] = random_pdpte(c->maxphyaddr);
		break;
	default:
		cpu->cr3 = (random_frame(c->maxphyaddr, false, true) & bit_range(c->maxphyaddr - 1, 12));
		cpu->cr3 |= rnd() & 0xfff;              /* PCID or PWT/PCD */
		break;
	}
}

/* A linear address that passed the canonical (or 32-bit) check. */
static uint64_t random_gva(const struct config *c)
{
	uint64_t gva = rnd();

	switch (c->pm) {
	case PM_4LEVEL:
		return (uint64_t)((int64_t)(gva << 16) >> 16);
	case PM_5LEVEL:
		return (uint64_t)((int64_t)(gva << 7) >> 7);
	default:
		return gva & 0xffffffffull;
	}
}

static void random_access(struct ref_access *acc)
{
	acc->kind = rnd_below(3);
	acc->implicit = acc->kind != REF_FETCH && chance(20);
}

/* ---- Reporting ------------------------------------------------------------------ */

static const char *const kind_name[] = { "read", "write", "fetch" };

static void dump_case(const char *what, const struct config *c, const struct ref_cpu *cpu,
		      uint64_t gva, const struct ref_access *acc, unsigned int access,
		      unsigned int flags, bool ok, const struct walk_result *lr,
		      const struct ref_result *rr)
{
	print_message("MISMATCH (%s) mode %s maxphyaddr %u\n"
		      "  cr0=%#llx cr3=%#llx cr4=%#llx efer=%#llx cpl=%u ac=%d pkru=%#x pkrs=%#x\n"
		      "  pdpte=%#llx %#llx %#llx %#llx\n"
		      "  gva=%#llx %s%s access=%#x flags=%#x\n"
		      "  lib: %s err=%#x gpa=%#llx level=%u rights=%u retries=%u\n"
		      "  ref: %s err=%#x gpa=%#llx level=%u rights=%u key=%u\n",
		      what, pmode_name[c->pm], c->maxphyaddr,
		      (unsigned long long)cpu->cr0, (unsigned long long)cpu->cr3,
		      (unsigned long long)cpu->cr4, (unsigned long long)cpu->efer,
		      cpu->cpl, cpu->ac, cpu->pkru, cpu->pkrs,
		      (unsigned long long)cpu->pdpte[0], (unsigned long long)cpu->pdpte[1],
		      (unsigned long long)cpu->pdpte[2], (unsigned long long)cpu->pdpte[3],
		      (unsigned long long)gva, kind_name[acc->kind],
		      acc->implicit ? " implicit" : "", access, flags,
		      ok ? "ok" : "pf", lr->error_code, (unsigned long long)lr->gpa,
		      lr->level, lr->rights, lr->retries,
		      rr->fault ? "pf" : "ok", rr->error_code, (unsigned long long)rr->gpa,
		      rr->level, ref_rights(rr), rr->key);
}

/* Prints the entries the reference walk went through (before the access). */
static void dump_path(const struct ref_cpu *cpu, const uint8_t *before, uint64_t gva)
{
	unsigned int levels = ref_paging_levels(cpu);
	uint64_t table, e = 0;

	if (levels < 4) {
		print_message("  (path dump for 4/5-level only)\n");
		return;
	}
	table = cpu->cr3 & bit_range(cpu->maxphyaddr - 1, 12);
	for (unsigned int l = levels; l >= 1; l--) {
		uint64_t gpa = table | (((gva >> (12 + 9 * (l - 1))) & 0x1ff) << 3);

		if (gpa + 8 > MEM_SIZE) {
			print_message("  L%u entry @%#llx: no RAM\n", l, (unsigned long long)gpa);
			return;
		}
		memcpy(&e, before + gpa, 8);
		print_message("  L%u entry @%#llx = %#llx\n", l, (unsigned long long)gpa,
			      (unsigned long long)e);
		if (!(e & PT_PRESENT) || (l <= 3 && (e & PT_PAGE_SIZE)))
			return;
		table = e & bit_range(cpu->maxphyaddr - 1, 12);
	}
}

/* ---- The random differential test ---------------------------------------------- */

#define SEED            0x766d6d7577616c6bull   /* "vmmuwalk" */
#define IMAGES          4000
#define ACCESSES        24
#define MAX_REPORTS     12

struct stats {
	unsigned int walks, faults, rsvd, pk, ok_walks, retries, cas_cases;
	unsigned int pdpte_loads, pdpte_ok;
	/* Coverage: translations by mode and leaf level, RSVD faults by mode. */
	unsigned int ok_level[6][4], rsvd_mode[6];
	unsigned int diffs[D_NR];
	unsigned int err_xor[64];  /* error-code mismatches by lib ^ ref bits */
	unsigned int reports;
};

/* PDPTE loads: paging_load_pdptes() against the reference rule. */
static void check_pdpte_load(struct ref_cpu *cpu, struct test_mem *lm, struct ref_mem *rm,
			     struct stats *st)
{
	uint64_t lp[4] = { 0 }, rp[4] = { 0 };
	unsigned int esz = lm->entry_size;
	int lrc, rrc;

	/* Sometimes make the table at CR3 valid first, in both memories. */
	if (chance(40) && (cpu->cr3 & 0xffffffe0ull) + 32 <= MEM_SIZE) {
		for (unsigned int i = 0; i < 4; i++) {
			uint64_t e = random_pdpte(cpu->maxphyaddr);
			uint64_t at = (cpu->cr3 & 0xffffffe0ull) + 8 * i;

			memcpy(lm->buf + at, &e, 8);
			memcpy(rm->buf + at, &e, 8);
		}
	}
	lm->entry_size = 8;
	lrc = paging_load_pdptes(&lm->ops, cpu->cr3, cpu->maxphyaddr, lp);
	lm->entry_size = esz;
	rrc = ref_load_pdptes(rm, cpu->cr3, cpu->maxphyaddr, rp);
	st->pdpte_loads++;
	if (lrc != rrc || (!rrc && memcmp(lp, rp, sizeof(lp)))) {
		st->diffs[D_FAULT]++;
		if (st->reports++ < MAX_REPORTS)
			print_message("MISMATCH pdpte load cr3=%#llx maxphyaddr %u: lib %d ref %d\n",
				      (unsigned long long)cpu->cr3, cpu->maxphyaddr, lrc, rrc);
		return;
	}
	if (!rrc) {
		st->pdpte_ok++;
		memcpy(cpu->pdpte, rp, sizeof(rp));
	}
}

static void one_access(const struct config *c, struct ref_cpu *cpu, struct test_mem *lm,
		       struct ref_mem *rm, uint8_t *before, struct stats *st)
{
	struct ref_access acc;
	struct walk_result lr;
	struct ref_result rr;
	unsigned int access, flags;
	uint64_t gva;
	bool ok;
	enum diff d;

	random_access(&acc);
	gva = random_gva(c);
	access = lib_access(cpu, &acc, chance(30));
	flags = chance(15) ? WALK_NO_AD : 0;
	/* Now and then, lose the first A/D compare-and-swap to a change of
	 * an ignored bit (bit 9, 10 or 11): the walk must restart. */
	lm->cas_armed = !lm->ro && chance(10);
	lm->cas_fired = false;
	lm->cas_xor = 1ull << (9 + rnd_below(3));
	memcpy(before, rm->buf, MEM_SIZE);

	ok = lib_walk(cpu, lm, gva, access, flags, &lr);
	if (lm->cas_armed && lm->cas_fired) {
		/* Same change in the reference memory, before its walk. */
		for (unsigned int i = 0; i < lm->entry_size; i++)
			rm->buf[lm->cas_gpa + i] ^= (uint8_t)(lm->cas_xor >> (8 * i));
		st->cas_cases++;
	}
	lm->cas_armed = false;
	ref_walk(cpu, rm, gva, &acc, !(flags & WALK_NO_AD), &rr);

	st->walks++;
	st->retries += lr.retries;
	if (rr.fault) {
		st->faults++;
		st->rsvd += !!(rr.error_code & PFERR_RSVD);
		st->rsvd_mode[c->pm] += !!(rr.error_code & PFERR_RSVD);
		st->pk += !!(rr.error_code & PFERR_PK);
	} else {
		st->ok_walks++;
		st->ok_level[c->pm][rr.level]++;
	}
	d = compare(ok, &lr, &rr, ref_paging_levels(cpu), lm, rm);
	if (d == D_NONE)
		return;
	st->diffs[d]++;
	if (d == D_ERROR_CODE)
		st->err_xor[(lr.error_code ^ rr.error_code) & 63]++;
	if (st->reports++ < MAX_REPORTS) {
		dump_case(diff_name[d], c, cpu, gva, &acc, access, flags, ok, &lr, &rr);
		dump_path(cpu, before, gva);
	}
	/* Resynchronise the memories so one difference is counted once. */
	memcpy(rm->buf, lm->buf, MEM_SIZE);
	lm->misaligned = 0;
}

static void test_random_walks(void **state)
{
	uint8_t *lbuf = malloc(MEM_SIZE), *rbuf = malloc(MEM_SIZE), *before = malloc(MEM_SIZE);
	struct stats st = { 0 };
	unsigned int total = 0;

	(void)state;
	assert_non_null(lbuf);
	assert_non_null(rbuf);
	assert_non_null(before);
	rng_state = SEED;
	for (unsigned int img = 0; img < IMAGES; img++) {
		const struct config *c = &configs[img % ARRAY_SIZE(configs)];
		bool is32 = c->pm <= PM_32_PSE;
		struct test_mem lm;
		struct ref_mem rm = { .buf = rbuf, .size = MEM_SIZE, .ro = chance(8) };

		fill_memory(lbuf, c, (img / ARRAY_SIZE(configs)) & 1);
		memcpy(rbuf, lbuf, MEM_SIZE);
		test_mem_init(&lm, lbuf, MEM_SIZE, rm.ro, is32 ? 4 : 8);
		for (unsigned int i = 0; i < ACCESSES; i++) {
			struct ref_cpu cpu;

			random_cpu(&cpu, c);
			if (c->pm == PM_PAE && chance(50))
				check_pdpte_load(&cpu, &lm, &rm, &st);
			one_access(c, &cpu, &lm, &rm, before, &st);
		}
	}
	for (unsigned int d = 1; d < D_NR; d++) {
		if (st.diffs[d])
			print_message("  %u mismatches: %s\n", st.diffs[d], diff_name[d]);
		total += st.diffs[d];
	}
	for (unsigned int x = 1; x < 64; x++)
		if (st.err_xor[x])
			print_message("  %u error codes differ in bits %#x\n", st.err_xor[x], x);
	print_message("%u walks: %u ok, %u faults (%u RSVD, %u PK); %u lost CAS cases, "
		      "%u restarts; %u PDPTE loads (%u valid)\n",
		      st.walks, st.ok_walks, st.faults, st.rsvd, st.pk, st.cas_cases,
		      st.retries, st.pdpte_loads, st.pdpte_ok);
	free(lbuf);
	free(rbuf);
	free(before);
	/* The random tables must reach every outcome often enough to matter:
	 * every page size of every mode, reserved bits in every mode with
	 * any, protection keys. */
	for (unsigned int pm = PM_32; pm <= PM_5LEVEL; pm++) {
		unsigned int max_leaf = pm == PM_32 ? 1 : pm <= PM_PAE ? 2 : 3;

		print_message("  %-10s: ok by leaf level %u/%u/%u, %u RSVD\n", pmode_name[pm],
			      st.ok_level[pm][1], st.ok_level[pm][2], st.ok_level[pm][3],
			      st.rsvd_mode[pm]);
		for (unsigned int l = 1; l <= max_leaf; l++)
			assert_true(st.ok_level[pm][l] >= 20);
		if (pm != PM_32)
			assert_true(st.rsvd_mode[pm] >= 20);
	}
	assert_true(st.ok_walks > st.walks / 10);
	assert_true(st.pk > 100);
	assert_int_equal(total, 0);
}

/* ---- Targeted cases ----------------------------------------------------------- */

static uint8_t tmem[64 * 1024];

static void put64(uint64_t gpa, uint64_t v)
{
	memcpy(tmem + gpa, &v, 8);
}

static uint64_t get64(const uint8_t *buf, uint64_t gpa)
{
	uint64_t v;

	memcpy(&v, buf + gpa, 8);
	return v;
}

static void put32(uint64_t gpa, uint32_t v)
{
	memcpy(tmem + gpa, &v, 4);
}

static uint32_t get32(const uint8_t *buf, uint64_t gpa)
{
	uint32_t v;

	memcpy(&v, buf + gpa, 4);
	return v;
}

static void cpu_4level(struct ref_cpu *cpu, uint64_t cr3)
{
	memset(cpu, 0, sizeof(*cpu));
	cpu->cr0 = X86_CR0_PE | X86_CR0_ET | X86_CR0_PG;
	cpu->cr4 = X86_CR4_PAE;
	cpu->efer = X86_EFER_LME | X86_EFER_LMA | X86_EFER_NXE;
	cpu->cr3 = cr3;
	cpu->maxphyaddr = 46;
}

/*
 * Runs @gva both ways on copies of tmem and checks they agree; returns the
 * reference result and leaves the library's memory in @after.
 */
static void both(const struct ref_cpu *cpu, uint64_t gva, enum ref_kind kind, bool implicit,
		 bool ro, struct ref_result *rr, uint8_t *after)
{
	static uint8_t rbuf[sizeof(tmem)];
	struct ref_access acc = { .kind = kind, .implicit = implicit };
	struct ref_mem rm = { .buf = rbuf, .size = sizeof(tmem), .ro = ro };
	struct test_mem lm;
	struct walk_result lr;
	bool ok;

	memcpy(after, tmem, sizeof(tmem));
	memcpy(rbuf, tmem, sizeof(tmem));
	test_mem_init(&lm, after, sizeof(tmem), ro, ref_paging_levels(cpu) == 2 ? 4 : 8);
	ok = lib_walk(cpu, &lm, gva, lib_access(cpu, &acc, false), 0, &lr);
	ref_walk(cpu, &rm, gva, &acc, true, rr);
	if (ok != !rr->fault || (!ok && lr.error_code != rr->error_code) ||
	    (ok && lr.gpa != rr->gpa) || memcmp(after, rbuf, sizeof(tmem)))
		print_message("MISMATCH gva=%#llx %s: lib %s err=%#x gpa=%#llx, "
			      "ref %s err=%#x gpa=%#llx, memory %s\n",
			      (unsigned long long)gva, kind_name[kind], ok ? "ok" : "pf",
			      lr.error_code, (unsigned long long)lr.gpa,
			      rr->fault ? "pf" : "ok", rr->error_code, (unsigned long long)rr->gpa,
			      memcmp(after, rbuf, sizeof(tmem)) ? "differs" : "same");
	assert_int_equal(ok, !rr->fault);
	if (ok)
		assert_int_equal(lr.gpa, rr->gpa);
	else
		assert_int_equal(lr.error_code, rr->error_code);
	assert_memory_equal(after, rbuf, sizeof(tmem));
}

static uint8_t after[sizeof(tmem)];

/*
 * Hand-computed cases, to check the reference itself against the SDM (and
 * the library against both): TRACE-FORMAT.md's example, PSE-36, PAE, RSVD,
 * the I/D rule and protection keys.
 */
static void test_known_cases(void **state)
{
	struct ref_cpu cpu;
	struct ref_result rr;

	(void)state;
	/* TRACE-FORMAT.md's example: WP=0 supervisor write to a read-only page. */
	memset(tmem, 0, sizeof(tmem));
	put64(0x1000, 0x2003);
	put64(0x2000, 0x3003);
	put64(0x3000, 0x4003);
	put64(0x4008, 0x5001);
	cpu_4level(&cpu, 0x1000);
	both(&cpu, 0x1000, REF_WRITE, false, false, &rr, after);
	assert_false(rr.fault);
	assert_int_equal(rr.gpa, 0x5000);
	assert_int_equal(get64(after, 0x4008), 0x5061);
	assert_int_equal(get64(after, 0x1000), 0x2023);
	/* ... and with WP=1: pf 0003, no A/D change. */
	cpu.cr0 |= X86_CR0_WP;
	both(&cpu, 0x1000, REF_WRITE, false, false, &rr, after);
	assert_true(rr.fault);
	assert_int_equal(rr.error_code, 0x3);
	assert_memory_equal(after, tmem, sizeof(tmem));
	/* User read: the upper levels deny U/S: pf 0005. */
	cpu.cpl = 3;
	both(&cpu, 0x1000, REF_READ, false, false, &rr, after);
	assert_int_equal(rr.error_code, 0x5);
	/* ... but a not-present PTE wins over that: pf 0004. */
	both(&cpu, 0x2000, REF_READ, false, false, &rr, after);
	assert_int_equal(rr.error_code, 0x4);
	/* ... and so does a reserved bit (PS in the PML4E): pf 000d. */
	put64(0x1000, 0x2083);
	both(&cpu, 0x1000, REF_READ, false, false, &rr, after);
	assert_int_equal(rr.error_code, 0xd);
	/* Fetch with NXE and PAE: I/D set even without SMEP: pf 001d here
	 * (RSVD), pf 0015 from an XD page. */
	both(&cpu, 0x1000, REF_FETCH, false, false, &rr, after);
	assert_int_equal(rr.error_code, 0x1d);
	put64(0x1000, 0x2007);
	put64(0x2000, 0x3007);
	put64(0x3000, 0x4007);
	put64(0x4008, 0x8000000000005005ull);
	both(&cpu, 0x1000, REF_FETCH, false, false, &rr, after);
	assert_int_equal(rr.error_code, 0x15);
	/* Implicit access at CPL 3 to a user page with SMAP: U=0, pf 0001. */
	cpu.cr4 |= X86_CR4_SMAP;
	cpu.ac = true;
	both(&cpu, 0x1000, REF_READ, true, false, &rr, after);
	assert_int_equal(rr.error_code, 0x1);
	/* Explicit CPL 0 read with AC=1 is allowed; with AC=0 not. */
	cpu.cpl = 0;
	both(&cpu, 0x1000, REF_READ, false, false, &rr, after);
	assert_false(rr.fault);
	cpu.ac = false;
	both(&cpu, 0x1000, REF_READ, false, false, &rr, after);
	assert_int_equal(rr.error_code, 0x1);
	/* PKU: key 1 with AD at CPL 3: pf 0025. */
	cpu.cr4 = X86_CR4_PAE | X86_CR4_PKE;
	cpu.cpl = 3;
	cpu.pkru = 1u << 2;
	put64(0x4008, (1ull << 59) | 0x5005);
	both(&cpu, 0x1000, REF_READ, false, false, &rr, after);
	assert_int_equal(rr.error_code, 0x25);
	/* PKU WD: user write to a writable page: pf 0027; supervisor write
	 * denied with WP=1 (pf 0023), allowed with WP=0. */
	cpu.pkru = 2u << 2;
	put64(0x4008, (1ull << 59) | 0x5007);
	both(&cpu, 0x1000, REF_WRITE, false, false, &rr, after);
	assert_int_equal(rr.error_code, 0x27);
	cpu.cpl = 0;
	cpu.ac = true;
	both(&cpu, 0x1000, REF_WRITE, false, false, &rr, after);
	assert_int_equal(rr.error_code, 0x23);
	cpu.cr0 &= ~X86_CR0_WP;
	both(&cpu, 0x1000, REF_WRITE, false, false, &rr, after);
	assert_false(rr.fault);

	/* 32-bit paging, PSE-36 at MAXPHYADDR 36: PDE bits 16:13 are PA 35:32. */
	memset(tmem, 0, sizeof(tmem));
	memset(&cpu, 0, sizeof(cpu));
	cpu.cr0 = X86_CR0_PE | X86_CR0_PG | X86_CR0_WP;
	cpu.cr4 = X86_CR4_PSE;
	cpu.cr3 = 0x1000;
	cpu.maxphyaddr = 36;
	put32(0x1000 + 4 * 1, 0x00c00000u | (0x5u << 13) | 0x87);
	both(&cpu, 0x00412345, REF_WRITE, false, false, &rr, after);
	assert_false(rr.fault);
	assert_int_equal(rr.gpa, 0x500c12345ull);
	assert_int_equal(get32(after, 0x1004), 0x00c00000u | (0x5u << 13) | 0x87 | 0x60);
	/* Bit 17 is reserved at MAXPHYADDR 36 (21:17): pf 000b. */
	put32(0x1004, 0x00c00000u | (1u << 17) | 0x87);
	both(&cpu, 0x00412345, REF_WRITE, false, false, &rr, after);
	assert_int_equal(rr.error_code, 0xb);
	/* ... but an address bit at MAXPHYADDR 40 (bits 20:13 = PA 39:32). */
	cpu.maxphyaddr = 40;
	both(&cpu, 0x00412345, REF_WRITE, false, false, &rr, after);
	assert_false(rr.fault);
	assert_int_equal(rr.gpa, 0x1000c12345ull);
	/* Without CR4.PSE, PS is ignored: the PDE points to a page table. */
	cpu.cr4 = 0;
	put32(0x1004, 0x2087);
	put32(0x2000 + 4 * 0x12, 0x7007);
	both(&cpu, 0x00412345, REF_READ, false, false, &rr, after);
	assert_false(rr.fault);
	assert_int_equal(rr.gpa, 0x7345);
	/* 32-bit fetch fault: I/D only with SMEP. */
	put32(0x2000 + 4 * 0x12, 0x7000);
	both(&cpu, 0x00412345, REF_FETCH, false, false, &rr, after);
	assert_int_equal(rr.error_code, 0x0);
	cpu.efer = X86_EFER_NXE;
	both(&cpu, 0x00412345, REF_FETCH, false, false, &rr, after);
	assert_int_equal(rr.error_code, 0x0);
	cpu.cr4 = X86_CR4_SMEP;
	both(&cpu, 0x00412345, REF_FETCH, false, false, &rr, after);
	assert_int_equal(rr.error_code, 0x10);

	/* PAE: a not-present PDPTE register faults; no A bit in PDPTEs. */
	memset(tmem, 0, sizeof(tmem));
	memset(&cpu, 0, sizeof(cpu));
	cpu.cr0 = X86_CR0_PE | X86_CR0_PG;
	cpu.cr4 = X86_CR4_PAE;
	cpu.maxphyaddr = 36;
	cpu.pdpte[1] = 0x2001;
	put64(0x2000 + 8 * 3, 0x00600000ull | 0x83);     /* 2M page */
	both(&cpu, 0x40612345, REF_READ, false, false, &rr, after);
	assert_false(rr.fault);
	assert_int_equal(rr.gpa, 0x612345);
	assert_int_equal(get64(after, 0x2018), 0x006000a3ull);
	both(&cpu, 0x00612345, REF_READ, false, false, &rr, after);
	assert_int_equal(rr.error_code, 0x0);
	/* Bit 63 is reserved without NXE, XD with it. */
	put64(0x2018, 0x8000000000600083ull);
	both(&cpu, 0x40612345, REF_READ, false, false, &rr, after);
	assert_int_equal(rr.error_code, 0x9);
	cpu.efer = X86_EFER_NXE;
	both(&cpu, 0x40612345, REF_READ, false, false, &rr, after);
	assert_false(rr.fault);
	/* Bits 62:MAXPHYADDR are reserved in PAE entries (not in IA-32e). */
	put64(0x2018, (1ull << 59) | 0x600083ull);
	both(&cpu, 0x40612345, REF_READ, false, false, &rr, after);
	assert_int_equal(rr.error_code, 0x9);
}

/* A PML4 entry that maps the PML4 itself, at every level (4 and 5 level). */
static void test_self_map(void **state)
{
	struct ref_cpu cpu;
	struct ref_result rr;

	(void)state;
	memset(tmem, 0, sizeof(tmem));
	put64(0x1000 + 8 * 511, 0x1003);                 /* PML4[511] -> PML4 */
	put64(0x1000, 0x2003);                           /* PML4[0] -> 0x2000 */
	put64(0x2000, 0x3003);
	put64(0x3000, 0x4003);
	put64(0x4000, 0x5003);
	cpu_4level(&cpu, 0x1000);
	cpu.cr0 |= X86_CR0_WP;

	/* 511/511/511/511: the PML4 page itself, leaf = PML4[511]. */
	both(&cpu, 0xfffffffffffff008ull, REF_WRITE, false, false, &rr, after);
	assert_false(rr.fault);
	assert_int_equal(rr.gpa, 0x1008);
	assert_int_equal(get64(after, 0x1000 + 8 * 511), 0x1063);
	/* 511/0/0/0: PML4[0] used as a PDPTE, and so on down. */
	both(&cpu, 0xffffff8000000010ull, REF_READ, false, false, &rr, after);
	assert_false(rr.fault);
	assert_int_equal(rr.gpa, 0x4010);
	assert_int_equal(get64(after, 0x1000), 0x2023);
	assert_int_equal(get64(after, 0x3000), 0x4023);
	/* 0/0/0/0 then the plain path. */
	both(&cpu, 0x20, REF_WRITE, false, false, &rr, after);
	assert_int_equal(rr.gpa, 0x5020);
	assert_int_equal(get64(after, 0x4000), 0x5063);

	/* 5-level: PML5[511] -> PML5 = the same page serves as PML5 and PML4. */
	cpu.cr4 |= X86_CR4_LA57;
	both(&cpu, 0xfffffffffffff008ull, REF_WRITE, false, false, &rr, after);
	assert_int_equal(rr.gpa, 0x1008);
	assert_int_equal(get64(after, 0x1000 + 8 * 511), 0x1063);
	/* A self-mapped PML4E with PS=1 is a reserved-bit fault. */
	put64(0x1000 + 8 * 511, 0x1083);
	cpu.cr4 &= ~X86_CR4_LA57;
	both(&cpu, 0xfffffffffffff008ull, REF_READ, false, false, &rr, after);
	assert_int_equal(rr.error_code, 0x9);
}

/* Standard 4-level tables mapping 0x1000 to 0x5000, writable, user. */
static void simple_tables(void)
{
	memset(tmem, 0, sizeof(tmem));
	put64(0x1000, 0x2007);
	put64(0x2000, 0x3007);
	put64(0x3000, 0x4007);
	put64(0x4008, 0x5007);
	put64(0x4010, 0x6007);
}

/*
 * One lost compare-and-swap: map(write) changes the entry first.  The walk
 * must restart and end as a fresh walk of the changed tables would.
 */
static void cas_case(uint64_t target, uint64_t xor, enum ref_kind kind, bool expect_fault,
		     uint64_t expect_gpa)
{
	static uint8_t lbuf[sizeof(tmem)], rbuf[sizeof(tmem)];
	struct ref_cpu cpu;
	struct ref_access acc = { .kind = kind };
	struct ref_mem rm = { .buf = rbuf, .size = sizeof(tmem) };
	struct test_mem lm;
	struct walk_result lr;
	struct ref_result rr;
	bool ok;

	simple_tables();
	cpu_4level(&cpu, 0x1000);
	memcpy(lbuf, tmem, sizeof(tmem));
	test_mem_init(&lm, lbuf, sizeof(tmem), false, 8);
	lm.cas_armed = true;
	lm.cas_xor = xor;
	lm.cas_target = target;
	ok = lib_walk(&cpu, &lm, 0x1234, lib_access(&cpu, &acc, false), 0, &lr);
	assert_true(lm.cas_fired);
	assert_int_equal(lm.cas_gpa, target);
	print_message("lost CAS at %#llx (xor %#llx): %s, %u restarts, %u A/D updates\n",
		      (unsigned long long)target, (unsigned long long)xor,
		      ok ? "ok" : "pf", lr.retries, lr.ad_updates);
	assert_true(lr.retries >= 1);

	/* The reference walks the changed tables from scratch. */
	memcpy(rbuf, tmem, sizeof(tmem));
	for (unsigned int i = 0; i < 8; i++)
		rbuf[target + i] ^= (uint8_t)(xor >> (8 * i));
	ref_walk(&cpu, &rm, 0x1234, &acc, true, &rr);
	assert_int_equal(ok, !rr.fault);
	assert_int_equal(rr.fault, expect_fault);
	if (ok) {
		assert_int_equal(lr.gpa, rr.gpa);
		assert_int_equal(lr.gpa, expect_gpa);
		assert_memory_equal(lbuf, rbuf, sizeof(tmem));
		return;
	}
	assert_int_equal(lr.error_code, rr.error_code);
	/* Faulting: the leaf is as changed; entries above may only have
	 * gained A (set by the first, lost, attempt). */
	for (uint64_t gpa = 0; gpa < sizeof(tmem); gpa += 8) {
		uint64_t l = get64(lbuf, gpa), r = get64(rbuf, gpa);

		if (l != r)
			print_message("  entry @%#llx: lib %#llx ref %#llx\n",
				      (unsigned long long)gpa, (unsigned long long)l,
				      (unsigned long long)r);
		assert_int_equal(l & ~PT_ACCESSED, r);
	}
}

static void test_cas_retry(void **state)
{
	(void)state;
	/* An ignored bit changes under the PML4E, PDE, PTE: same result. */
	cas_case(0x1000, 1ull << 9, REF_WRITE, false, 0x5234);
	cas_case(0x3000, 1ull << 10, REF_READ, false, 0x5234);
	cas_case(0x4008, 1ull << 11, REF_WRITE, false, 0x5234);
	/* The PTE moves to another frame: the new one is used. */
	cas_case(0x4008, 0x5000 ^ 0x6000, REF_WRITE, false, 0x6234);
	/* The PTE becomes read-only: a supervisor write with WP=0 still
	 * works; the PTE becomes not present: the walk faults. */
	cas_case(0x4008, PT_WRITABLE, REF_WRITE, false, 0x5234);
	cas_case(0x4008, PT_PRESENT, REF_WRITE, true, 0);
	/* The PDPTE gets a reserved bit (PS with low address bits). */
	cas_case(0x2000, PT_PAGE_SIZE | (1ull << 14), REF_READ, true, 0);
}

/* Page tables in read-only memory: the walk succeeds, nothing is written. */
static void test_read_only(void **state)
{
	struct ref_cpu cpu;
	struct ref_result rr;

	(void)state;
	simple_tables();
	cpu_4level(&cpu, 0x1000);
	both(&cpu, 0x1234, REF_WRITE, false, true, &rr, after);
	assert_false(rr.fault);
	assert_int_equal(rr.gpa, 0x5234);
	assert_int_equal(rr.nr_ad, 0);
	assert_memory_equal(after, tmem, sizeof(tmem));
	/* 32-bit paging too. */
	memset(tmem, 0, sizeof(tmem));
	memset(&cpu, 0, sizeof(cpu));
	cpu.cr0 = X86_CR0_PE | X86_CR0_PG;
	cpu.cr3 = 0x1000;
	cpu.maxphyaddr = 46;
	put32(0x1000, 0x2007);
	put32(0x2004, 0x5007);
	both(&cpu, 0x1234, REF_WRITE, false, true, &rr, after);
	assert_false(rr.fault);
	assert_int_equal(rr.gpa, 0x5234);
	assert_memory_equal(after, tmem, sizeof(tmem));
	/* A table outside RAM is a not-present fault. */
	put32(0x1000, 0x20007);
	both(&cpu, 0x1234, REF_WRITE, false, false, &rr, after);
	assert_int_equal(rr.error_code, 0x2);
}

/*
 * SDM 4.7, PK flag, for supervisor-mode addresses: set if EFER.LMA =
 * CR4.PKS = 1, a data access, a supervisor-mode address with key i, and
 * PKRS has ADi = 1, or WDi = 1 for a write with CR0.WP = 1.  The user-mode
 * clause is PKRU's alone: a CPL-3 write to a supervisor page with PKRS.WD
 * and CR0.WP = 0 faults on U/S without the PK bit; with CR0.WP = 1 the PK
 * bit is set.
 */
static void test_pks_wd_user_write(void **state)
{
	struct ref_cpu cpu;
	struct ref_result rr;

	(void)state;
	memset(tmem, 0, sizeof(tmem));
	put64(0x1000, 0x2007);
	put64(0x2000, 0x3007);
	put64(0x3000, 0x4007);
	put64(0x4008, 0x5003);                           /* supervisor, key 0 */
	cpu_4level(&cpu, 0x1000);
	cpu.efer &= ~X86_EFER_NXE;
	cpu.cr4 |= X86_CR4_PKS;                          /* CR0.WP = 0 */
	cpu.pkrs = 2;                                    /* WD0 */
	cpu.cpl = 3;
	both(&cpu, 0x1000, REF_WRITE, false, false, &rr, after);
	assert_int_equal(rr.error_code, PFERR_PRESENT | PFERR_WRITE | PFERR_USER);
	cpu.cr0 |= X86_CR0_WP;
	both(&cpu, 0x1000, REF_WRITE, false, false, &rr, after);
	assert_int_equal(rr.error_code, PFERR_PRESENT | PFERR_WRITE | PFERR_USER | PFERR_PK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_known_cases),
		cmocka_unit_test(test_self_map),
		cmocka_unit_test(test_cas_retry),
		cmocka_unit_test(test_read_only),
		cmocka_unit_test(test_pks_wd_user_write),
		cmocka_unit_test(test_random_walks),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
