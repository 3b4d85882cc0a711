/* SPDX-License-Identifier: MIT */
/*
 * The guest page walk (SDM 4.3-4.7).
 *
 * A walk has two parts.  First the translation: from CR3 (or the PAE PDPTE
 * registers) down to the leaf, each entry must be present and free of
 * reserved bits, and the rights of every level are combined (R/W and U/S by
 * AND, XD by OR).  A not-present or reserved entry ends the walk at once with
 * that fault, whatever the levels above allow.  Then the access check: the
 * combined rights index the mode's precomputed permission bitmap, and the
 * leaf's protection key the PKRU/PKRS mask.  Only an access that passes both
 * sets accessed flags (every level used, PAE PDPTEs excepted) and, for a
 * write, the leaf's dirty flag, each with a compare-and-swap against the value
 * the walk read; a lost race restarts the walk, so the flags are only ever
 * set on the entries that made the translation.
 */
#include "paging.h"

#define PT64_ADDR_MASK  0x000ffffffffff000ull   /* bits 51:12 */
#define PT32_ADDR_MASK  0xfffff000ull
#define PAE_CR3_MASK    0xffffffe0ull           /* CR3[31:5]: the PDPT */

static inline uint64_t pte_load(const void *p, bool pte64)
{
	if (pte64)
		return __atomic_load_n((const uint64_t *)p, __ATOMIC_ACQUIRE);
	return __atomic_load_n((const uint32_t *)p, __ATOMIC_ACQUIRE);
}

static inline bool pte_cmpxchg(void *p, uint64_t old, uint64_t new, bool pte64)
{
	if (pte64)
		return __atomic_compare_exchange_n((uint64_t *)p, &old, new, false,
						   __ATOMIC_SEQ_CST, __ATOMIC_RELAXED);
	uint32_t old32 = (uint32_t)old;

	return __atomic_compare_exchange_n((uint32_t *)p, &old32, (uint32_t)new, false,
					   __ATOMIC_SEQ_CST, __ATOMIC_RELAXED);
}

/* Bits of the linear address below the leaf at @level. */
static inline uint64_t page_offset_mask(bool pte64, unsigned int level)
{
	return (1ull << (PAGE_SHIFT + (pte64 ? 9 : 10) * (level - 1))) - 1;
}

static inline gpa_t leaf_gpa(bool pte64, unsigned int level, uint64_t pte, gva_t gva)
{
	uint64_t offset = page_offset_mask(pte64, level);

	if (pte64)
		return (pte & PT64_ADDR_MASK & ~offset) | (gva & offset);
	if (level == 1)
		return (pte & PT32_ADDR_MASK) | (gva & offset);
	/* 4 MiB page: PSE-36 puts physical bits 39:32 in PDE bits 20:13. */
	return (pte & 0xffc00000ull) | (((pte >> 13) & 0xff) << 32) | (gva & offset);
}

static uint32_t fault_code(const struct paging_mode *m, unsigned int access, uint32_t bits)
{
	uint32_t err = bits | (access & (PFERR_WRITE | PFERR_USER));

	if ((access & ACCESS_FETCH) && m->fetch_id)
		err |= PFERR_FETCH;
	return err;
}

/* Returns the PFERR_PK bit when the leaf's key denies the access. */
static inline uint32_t pk_fault(const struct paging_mode *m, const struct walk_regs *r,
				unsigned int access, unsigned int rights, uint64_t leaf)
{
	bool user_page = rights & RIGHT_USER;
	unsigned int key = (leaf >> PT64_PKEY_SHIFT) & 15;
	uint32_t pkr = user_page ? r->pkru : r->pkrs;

	return ((pkr >> (2 * key)) & 3 & m->pk_mask[pk_index(access, user_page)]) ? PFERR_PK : 0;
}

/*
 * Sets A in every entry of the path and D in the leaf for a write, each
 * with a compare-and-swap against the value the walk read.  Returns false
 * when one lost a race: the caller restarts the walk.
 */
static bool update_ad(struct pt_mem *mem, const uint64_t *path_pte, const gpa_t *path_gpa,
		      unsigned int top, unsigned int leaf, bool write, bool pte64,
		      struct walk_result *res)
{
	for (unsigned int l = top; l >= leaf; l--) {
		uint64_t old = path_pte[l - 1], new = old | PT_ACCESSED;
		void *wp;

		if (l == leaf && write)
			new |= PT_DIRTY;
		if (new == old)
			continue;
		wp = pt_mem_map(mem, path_gpa[l - 1], true);
		if (!wp)
			continue;       /* read-only memory is never written */
		if (!pte_cmpxchg(wp, old, new, pte64))
			return false;
		res->ad_updates++;
		if (l == leaf)
			res->leaf = new;
	}
	return true;
}

/*
 * The walk, for one entry format.  Forced inline (a GCC/Clang attribute) so
 * that each caller below gets a copy with @pte64 constant: the per-level
 * index, mask and address arithmetic then compile without format branches,
 * as Xen compiles its walker once per GUEST_PAGING_LEVELS.
 */
static inline __attribute__((always_inline)) bool
walk_format(const struct paging_mode *m, const struct walk_regs *r, struct pt_mem *mem,
	    gva_t gva, unsigned int access, unsigned int flags, struct walk_result *res,
	    const bool pte64)
{
	const uint64_t addr_mask = pte64 ? PT64_ADDR_MASK : PT32_ADDR_MASK;
	uint64_t path_pte[PT_MAX_LEVELS];
	gpa_t path_gpa[PT_MAX_LEVELS];
	unsigned int top, level, rights;
	uint64_t pte, all_and, all_or;
	gpa_t table;

retry:
	all_and = ~0ull;
	all_or = 0;
	if (pte64 && m->levels == 3) {
		/* PAE: the PDPTE registers stand for level 3; no rights there. */
		pte = r->pdpte[(gva >> 30) & 3];
		if (!(pte & PT_PRESENT))
			goto not_present;
		table = pte & PT64_ADDR_MASK;
		top = 2;
	} else {
		table = r->cr3 & addr_mask;
		top = m->levels;
	}

	const unsigned int bits = pte64 ? 9 : 10;
	unsigned int shift = PAGE_SHIFT + bits * (top - 1);

	for (level = top;; level--, shift -= bits) {
		gpa_t pte_gpa = table + ((gva >> shift) & ((1u << bits) - 1)) * (pte64 ? 8 : 4);
		const void *p = pt_mem_map(mem, pte_gpa, false);
		unsigned int ps;

		if (!p)
			goto not_present;
		pte = pte_load(p, pte64);
		path_pte[level - 1] = pte;
		path_gpa[level - 1] = pte_gpa;
		if (!(pte & PT_PRESENT))
			goto not_present;
		ps = (pte >> 7) & 1;
		if (pte & m->rsvd[ps][level - 1]) {
			res->error_code = fault_code(m, access, PFERR_PRESENT | PFERR_RSVD);
			return false;
		}
		/* R/W and U/S combine by AND, XD by OR. */
		all_and &= pte;
		all_or |= pte;
		if (level == 1 || (ps && (m->large_levels & (1u << level))))
			break;
		table = pte & addr_mask;
	}

	/* RIGHT_WRITE and RIGHT_USER sit where R/W and U/S do. */
	rights = (unsigned int)(all_and & (PT_WRITABLE | PT_USER));
	if (!(m->nx && (all_or & PT64_NX)))
		rights |= RIGHT_EXEC;

	uint32_t pk = m->pk_active ? pk_fault(m, r, access, rights, pte) : 0;

	if (pk || ((m->permissions[access_index(access)] >> rights) & 1)) {
		res->error_code = fault_code(m, access, PFERR_PRESENT | pk);
		return false;
	}

	/* Nothing to set when every entry has A and, for a write, the leaf D. */
	res->leaf = pte;
	if (!(flags & WALK_NO_AD) &&
	    (!(all_and & PT_ACCESSED) || ((access & ACCESS_WRITE) && !(pte & PT_DIRTY))) &&
	    !update_ad(mem, path_pte, path_gpa, top, level, access & ACCESS_WRITE, pte64, res)) {
		res->retries++;
		goto retry;
	}
	res->gpa = leaf_gpa(pte64, level, pte, gva);
	res->level = level;
	res->rights = rights;
	res->xd = pte64 && (all_or & PT64_NX);
	return true;

not_present:
	res->error_code = fault_code(m, access, 0);
	return false;
}

bool walk_guest(const struct paging_mode *m, const struct walk_regs *r, struct pt_mem *mem,
		gva_t gva, unsigned int access, unsigned int flags, struct walk_result *res)
{
	res->ad_updates = 0;
	res->retries = 0;
	if (m->levels >= 3)
		return walk_format(m, r, mem, gva, access, flags, res, true);
	if (m->levels == 2)
		return walk_format(m, r, mem, gva, access, flags, res, false);
	res->gpa = gva;
	res->level = 1;
	res->rights = RIGHTS_ALL;
	res->xd = false;
	res->leaf = 0;
	return true;
}

int paging_load_pdptes(struct pt_mem *mem, uint64_t cr3, unsigned int maxphyaddr,
		       uint64_t pdpte[4])
{
	uint64_t loaded[4];

	for (unsigned int i = 0; i < 4; i++) {
		const void *p = pt_mem_map(mem, (cr3 & PAE_CR3_MASK) + 8 * i, false);

		if (!p)
			return -1;
		loaded[i] = pte_load(p, true);
		if ((loaded[i] & PT_PRESENT) && (loaded[i] & pae_pdpte_rsvd(maxphyaddr)))
			return -1;
	}
	for (unsigned int i = 0; i < 4; i++)
		pdpte[i] = loaded[i];
	return 0;
}
