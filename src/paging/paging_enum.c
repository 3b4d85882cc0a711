/* SPDX-License-Identifier: MIT */
/*
 * Enumerating the mappings of a guest's page tables (see paging_enum.h).
 *
 * The traversal is depth first with an explicit stack, one frame per level
 * (the top table at stack[top], a 4K page table at stack[1]).  Each call to
 * paging_enum_next() resumes the scan of the innermost table: an entry is
 * skipped (not present, reserved bits, or a table known to hold no leaf),
 * descended into (a new frame), or returned as a leaf.  When a table is
 * finished and no leaf was found under it, its (address, level) goes into
 * the memo, so a second reference to it costs one lookup instead of a scan.
 *
 * Under PAGING_ENUM_ARCH every decision is the one walk_guest() makes for a
 * linear address that reaches that entry, from the same struct paging_mode:
 * present bit, rsvd[PS][level - 1], large_levels, the rights of
 * pte_rights(), and the same table and leaf address masks.  The unit tests
 * hold the two together (tests/unit/test_maps_enum.c walks every leaf).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "paging_enum.h"

#define PT32_ADDR_MASK   0xfffff000ull
#define PT64_ADDR_MASK   0x000ffffffffff000ull   /* bits 51:12 */
#define PAE_CR3_MASK     0xffffffe0ull           /* CR3[31:5]: the PDPT */

/* QEMU 7.2, target/i386/monitor.c: every 64-bit table address and leaf is
 * masked to bits 49:12, whatever MAXPHYADDR is. */
#define QEMU_ADDR_MASK   0x0003fffffffff000ull
#define QEMU_2M_MASK     0x0003ffffffe00000ull
#define QEMU_1G_MASK     0x0003ffffc0000000ull

#define MEMO_MIN_CAP     1024u

/* ---- the memo: tables known to hold no leaf ------------------------------ */

static uint64_t memo_hash(uint64_t key, uint64_t cap)
{
	return (key * 0x9e3779b97f4a7c15ull) >> (64 - __builtin_ctzll(cap));
}

static bool memo_contains(const struct paging_enum_memo *memo, uint64_t key)
{
	if (!memo->nr)
		return false;
	for (uint64_t i = memo_hash(key, memo->cap);; i = (i + 1) & (memo->cap - 1)) {
		if (memo->keys[i] == key)
			return true;
		if (!memo->keys[i])
			return false;
	}
}

static void memo_put(struct paging_enum_memo *memo, uint64_t key)
{
	uint64_t i = memo_hash(key, memo->cap);

	while (memo->keys[i] && memo->keys[i] != key)
		i = (i + 1) & (memo->cap - 1);
	if (!memo->keys[i]) {
		memo->keys[i] = key;
		memo->nr++;
	}
}

/* Kept at most half full, so every probe sequence ends at a free slot. */
static int memo_insert(struct paging_enum_memo *memo, uint64_t key)
{
	if (2 * (memo->nr + 1) > memo->cap) {
		struct paging_enum_memo bigger = { .cap = memo->cap ? 2 * memo->cap : MEMO_MIN_CAP };

		bigger.keys = calloc(bigger.cap, sizeof(*bigger.keys));
		if (!bigger.keys)
			return -ENOMEM;
		for (uint64_t i = 0; i < memo->cap; i++)
			if (memo->keys[i])
				memo_put(&bigger, memo->keys[i]);
		free(memo->keys);
		*memo = bigger;
	}
	memo_put(memo, key);
	return 0;
}

/*
 * A table's key: its address (4K-aligned below the top level), its level,
 * and, for QEMU's `info mem`, the protection bits of the path to it (its
 * leaves' protections depend on them).  Never 0: level >= 1.
 */
static uint64_t memo_key(const struct paging_enum *e, gpa_t table, unsigned int level,
			 uint64_t path)
{
	uint64_t prot = e->cfg.rules == PAGING_ENUM_QEMU_MEM ? (path & 7) : 0;

	return (table & ~0xfffull) | level | (prot << 3);
}

/* ---- geometry ------------------------------------------------------------ */

static unsigned int level_shift(const struct paging_enum *e, unsigned int level)
{
	return PAGE_SHIFT + (e->pte64 ? 9 : 10) * (level - 1);
}

static unsigned int table_entries(const struct paging_enum *e, unsigned int level)
{
	if (e->cfg.mode->levels == 3 && level == 3)
		return 4;                       /* the PAE PDPT */
	return e->pte64 ? 512 : 1024;
}

gva_t paging_canonical(const struct paging_mode *m, gva_t va)
{
	unsigned int bits = paging_va_bits(m);

	if (bits == 48 || bits == 57)
		return (gva_t)((int64_t)(va << (64 - bits)) >> (64 - bits));
	return va;
}

unsigned int paging_va_bits(const struct paging_mode *m)
{
	switch (m->levels) {
	case 2:
	case 3:
		return 32;
	case 4:
		return 48;
	case 5:
		return 57;
	}
	return 0;
}

static uint64_t read_entry(struct paging_enum *e, gpa_t gpa)
{
	const void *p = e->cfg.mem->map(e->cfg.mem, gpa, false);
	uint64_t v64;
	uint32_t v32;

	if (!p)
		return 0;                       /* no memory there: not present */
	if (e->pte64) {
		memcpy(&v64, p, sizeof(v64));
		return v64;
	}
	memcpy(&v32, p, sizeof(v32));
	return v32;
}

/* The address of the table an entry points to. */
static gpa_t table_address(const struct paging_enum *e, uint64_t pte)
{
	if (!e->pte64)
		return pte & PT32_ADDR_MASK;
	return pte & (e->cfg.rules == PAGING_ENUM_ARCH ? PT64_ADDR_MASK : QEMU_ADDR_MASK);
}

/* The physical address the architecture translates a leaf to (walk.c's
 * leaf_gpa() with a zero offset), PSE-36 included. */
static gpa_t arch_leaf_pa(const struct paging_enum *e, unsigned int level, uint64_t pte)
{
	if (e->pte64)
		return pte & PT64_ADDR_MASK & ~((1ull << level_shift(e, level)) - 1);
	if (level == 1)
		return pte & PT32_ADDR_MASK;
	return (pte & 0xffc00000ull) | (((pte >> 13) & 0xff) << 32);
}

/* What QEMU's print_pte() prints as the physical address of a leaf. */
static gpa_t qemu_leaf_pa(const struct paging_enum *e, unsigned int level, uint64_t pte)
{
	switch (e->cfg.mode->levels) {
	case 2:         /* 32-bit entries: ~0xfff, and ~((1 << 21) - 1) for 4M */
		return pte & (level == 1 ? 0xfffff000ull : 0xffe00000ull);
	case 3:         /* 64 bits kept: XD and bits 62:52 print */
		return pte & (level == 1 ? ~0xfffull : ~0xfffffull);
	default:
		return pte & (level == 1 ? QEMU_ADDR_MASK : level == 2 ? QEMU_2M_MASK : QEMU_1G_MASK);
	}
}

static unsigned int pte_rights(const struct paging_mode *m, uint64_t pte)
{
	unsigned int rights = 0;

	if (pte & PT_WRITABLE)
		rights |= RIGHT_WRITE;
	if (pte & PT_USER)
		rights |= RIGHT_USER;
	if (!(m->nx && (pte & PT64_NX)))
		rights |= RIGHT_EXEC;
	return rights;
}

/* ---- the traversal ------------------------------------------------------- */

int paging_enum_init(struct paging_enum *e, const struct paging_enum_config *cfg)
{
	const struct paging_mode *m = cfg->mode;
	struct paging_enum_frame *f;

	memset(e, 0, sizeof(*e));
	if (!m || !cfg->mem)
		return -EINVAL;
	e->cfg = *cfg;
	e->pte64 = m->levels >= 3;
	if (!m->levels || m->levels > PT_MAX_LEVELS) {
		e->done = true;                 /* paging off: no tables */
		return 0;
	}
	e->top = e->level = m->levels;
	f = &e->stack[e->top];
	f->path = ~0ull;
	f->rights = RIGHTS_ALL;
	if (m->levels == 2)
		f->table = cfg->cr3 & PT32_ADDR_MASK;
	else if (m->levels == 3)
		f->table = cfg->cr3 & (cfg->rules == PAGING_ENUM_ARCH ? PAE_CR3_MASK : ~0x1full);
	else
		f->table = table_address(e, cfg->cr3);
	e->tables = 1;
	return 0;
}

void paging_enum_destroy(struct paging_enum *e)
{
	free(e->memo.keys);
	e->memo = (struct paging_enum_memo){ 0 };
}

static int finish(struct paging_enum *e, int status)
{
	e->done = true;
	e->status = status;
	return status;
}

/* Decisions for one entry. */
enum entry_action { SKIP, DESCEND, LEAF };

/*
 * A PAE PDPTE: a register, with no rights and no part in QEMU's prot.  The
 * walker checks no reserved bit in the registers (the MOV that loaded them
 * did); read from memory, one may have gained some since, which is only
 * reported.
 */
static enum entry_action pdpte_action(struct paging_enum *e, unsigned int index, uint64_t pte)
{
	if (!(pte & PT_PRESENT))
		return SKIP;
	if (pte & pae_pdpte_rsvd(e->cfg.mode->maxphyaddr))
		e->bad_pdptes |= 1u << index;
	return DESCEND;
}

static enum entry_action entry_action(struct paging_enum *e, unsigned int level, uint64_t pte,
				      uint64_t path)
{
	const struct paging_mode *m = e->cfg.mode;
	bool ps = pte & PT_PAGE_SIZE;
	bool large = ps && (m->large_levels & (1u << level));

	switch (e->cfg.rules) {
	case PAGING_ENUM_ARCH:
		if (!(pte & PT_PRESENT))
			return SKIP;
		if (pte & m->rsvd[ps][level - 1]) {
			e->reserved++;
			return SKIP;
		}
		break;
	case PAGING_ENUM_QEMU_TLB:
		if (!(pte & PT_PRESENT))
			return SKIP;
		break;
	case PAGING_ENUM_QEMU_MEM:
		if (m->levels == 5 && (level == 3 || level == 2)) {
			/* mem_info_la57(): a present PDPTE or PDE is a hole; a
			 * not-present one is a page if PS, else a table. */
			if (pte & PT_PRESENT)
				return SKIP;
		} else if (!(pte & PT_PRESENT)) {
			return SKIP;
		}
		/* Nothing under a path without U, R/W and P has a protection. */
		if (!(pte & path & (PT_USER | PT_WRITABLE | PT_PRESENT)))
			return SKIP;
		break;
	}
	return (level == 1 || large) ? LEAF : DESCEND;
}

int paging_enum_next(struct paging_enum *e, struct paging_leaf *leaf)
{
	if (e->done)
		return e->status;
	for (;;) {
		struct paging_enum_frame *f = &e->stack[e->level];
		unsigned int level = e->level, index;
		enum entry_action action;
		uint64_t pte;
		gva_t va;

		if (f->index == table_entries(e, level)) {
			if (level == e->top)
				return finish(e, 0);
			if (e->leaves == f->leaves_before &&
			    memo_insert(&e->memo, memo_key(e, f->table, level, f->path)))
				return finish(e, -ENOMEM);
			e->level++;
			continue;
		}
		if (e->cfg.max_entries && e->entries >= e->cfg.max_entries)
			return finish(e, -ELOOP);
		index = f->index++;
		e->entries++;
		va = f->va + ((gva_t)index << level_shift(e, level));
		if (e->cfg.mode->levels == 3 && level == 3) {
			pte = e->cfg.pdpte && e->cfg.rules == PAGING_ENUM_ARCH ?
			      e->cfg.pdpte[index] : read_entry(e, f->table + 8 * index);
			action = pdpte_action(e, index, pte);
		} else {
			pte = read_entry(e, f->table + (gpa_t)index * (e->pte64 ? 8 : 4));
			action = entry_action(e, level, pte, f->path);
		}
		if (action == SKIP)
			continue;
		if (action == DESCEND) {
			bool pdpte = e->cfg.mode->levels == 3 && level == 3;
			uint64_t path = pdpte ? f->path : f->path & pte;
			unsigned int rights = pdpte ? f->rights : f->rights & pte_rights(e->cfg.mode, pte);
			gpa_t child = table_address(e, pte);
			struct paging_enum_frame *c = &e->stack[level - 1];

			if (e->memo.nr && memo_contains(&e->memo, memo_key(e, child, level - 1, path))) {
				e->skipped++;
				continue;
			}
			*c = (struct paging_enum_frame){
				.table = child, .va = va, .path = path, .rights = (uint8_t)rights,
				.leaves_before = e->leaves,
			};
			e->tables++;
			e->level--;
			continue;
		}
		if (e->cfg.max_leaves && e->leaves >= e->cfg.max_leaves)
			return finish(e, -E2BIG);
		e->leaves++;
		leaf->va = paging_canonical(e->cfg.mode, va);
		leaf->pa = e->cfg.rules == PAGING_ENUM_ARCH ? arch_leaf_pa(e, level, pte) :
							      qemu_leaf_pa(e, level, pte);
		leaf->pte = pte;
		leaf->path = f->path;
		leaf->level = (uint8_t)level;
		leaf->shift = (uint8_t)level_shift(e, level);
		leaf->rights = (uint8_t)(f->rights & pte_rights(e->cfg.mode, pte));
		return 1;
	}
}
