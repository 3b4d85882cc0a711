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

static inline unsigned int pte_rights(const struct paging_mode *m, uint64_t pte)
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

static inline unsigned int pte_index(bool pte64, unsigned int level, gva_t gva)
{
	if (pte64)
		return (gva >> (PAGE_SHIFT + 9 * (level - 1))) & 511;
	return (gva >> (PAGE_SHIFT + 10 * (level - 1))) & 1023;
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

bool walk_guest(const struct paging_mode *m, const struct walk_regs *r, struct pt_mem *mem,
		gva_t gva, unsigned int access, unsigned int flags, struct walk_result *res)
{
	const bool pte64 = m->levels >= 3;
	uint64_t path_pte[PT_MAX_LEVELS];
	gpa_t path_gpa[PT_MAX_LEVELS];
	unsigned int top, level, rights;
	uint64_t pte;
	gpa_t table;

	res->ad_updates = 0;
	res->retries = 0;
	if (!m->levels) {
		res->gpa = gva;
		res->level = 1;
		res->rights = RIGHTS_ALL;
		return true;
	}
retry:
	rights = RIGHTS_ALL;
	if (m->levels == 3) {
		/* PAE: the PDPTE registers stand for level 3; no rights there. */
		pte = r->pdpte[(gva >> 30) & 3];
		if (!(pte & PT_PRESENT))
			goto not_present;
		table = pte & PT64_ADDR_MASK;
		top = 2;
	} else {
		table = r->cr3 & (pte64 ? PT64_ADDR_MASK : PT32_ADDR_MASK);
		top = m->levels;
	}

	for (level = top;; level--) {
		gpa_t pte_gpa = table + (gpa_t)pte_index(pte64, level, gva) * (pte64 ? 8 : 4);
		const void *p = mem->map(mem, pte_gpa, false);
		bool ps;

		if (!p)
			goto not_present;
		pte = pte_load(p, pte64);
		path_pte[level - 1] = pte;
		path_gpa[level - 1] = pte_gpa;
		if (!(pte & PT_PRESENT))
			goto not_present;
		ps = pte & PT_PAGE_SIZE;
		if (pte & m->rsvd[ps][level - 1]) {
			res->error_code = fault_code(m, access, PFERR_PRESENT | PFERR_RSVD);
			return false;
		}
		rights &= pte_rights(m, pte);
		if (level == 1 || (ps && (m->large_levels & (1u << level))))
			break;
		table = pte & (pte64 ? PT64_ADDR_MASK : PT32_ADDR_MASK);
	}

	uint32_t pk = m->pk_active ? pk_fault(m, r, access, rights, pte) : 0;

	if (pk || ((m->permissions[access_index(access)] >> rights) & 1)) {
		res->error_code = fault_code(m, access, PFERR_PRESENT | pk);
		return false;
	}

	if (!(flags & WALK_NO_AD)) {
		for (unsigned int l = top; l >= level; l--) {
			uint64_t old = path_pte[l - 1], new = old | PT_ACCESSED;
			void *wp;

			if (l == level && (access & ACCESS_WRITE))
				new |= PT_DIRTY;
			if (new == old)
				continue;
			wp = mem->map(mem, path_gpa[l - 1], true);
			if (!wp)
				continue;       /* read-only memory is never written */
			if (!pte_cmpxchg(wp, old, new, pte64)) {
				res->retries++;
				goto retry;
			}
			res->ad_updates++;
		}
	}
	res->gpa = leaf_gpa(pte64, level, pte, gva);
	res->level = level;
	res->rights = rights;
	return true;

not_present:
	res->error_code = fault_code(m, access, 0);
	return false;
}

int paging_load_pdptes(struct pt_mem *mem, uint64_t cr3, unsigned int maxphyaddr,
		       uint64_t pdpte[4])
{
	uint64_t loaded[4];

	for (unsigned int i = 0; i < 4; i++) {
		const void *p = mem->map(mem, (cr3 & PAE_CR3_MASK) + 8 * i, false);

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
