/* SPDX-License-Identifier: MIT */
/*
 * The legacy MMU's operations on EPT/NPT tables: roots, map on fault
 * (direct_map), zaps and permission changes through the reverse maps,
 * memslot changes.  Each takes the MMU lock for its whole length.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "shadow_page.h"
#include "vm/rcu.h"

int shadow_mmu_init(struct shadow_mmu *mmu, enum spte_format format, bool ad_enabled,
		    unsigned int maxphyaddr, uint64_t max_pages)
{
	int ret;

	memset(mmu, 0, sizeof(*mmu));
	mmu_core_init(&mmu->core, MMU_KIND_LEGACY, format, ad_enabled, maxphyaddr);
	ret = tdp_pool_init(&mmu->core.pool);
	if (ret)
		return ret;
	if (pthread_mutex_init(&mmu->lock, NULL)) {
		tdp_pool_destroy(&mmu->core.pool);
		return -ENOMEM;
	}
	CDS_INIT_LIST_HEAD(&mmu->active);
	mmu->max_pages_fixed = max_pages != 0;
	mmu->max_pages = max_pages ? max_pages : SHADOW_MIN_PAGES;
	return 0;
}

void shadow_mmu_destroy(struct shadow_mmu *mmu)
{
	struct shadow_page *sp, *tmp;

	/* No vCPU is left: no root is held, nothing walks. */
	cds_list_for_each_entry_safe(sp, tmp, &mmu->active, link) {
		sp->root_count = 0;
		if (sp->page->invalid)
			shadow_page_free(mmu, sp);
		else
			shadow_page_zap(mmu, sp);
	}
	for (unsigned int as = 0; as < MEM_NR_AS; as++)
		rmap_set_destroy(&mmu->rmaps[as]);
	tdp_pool_reclaim(&mmu->core.pool);
	pthread_mutex_destroy(&mmu->lock);
	tdp_pool_destroy(&mmu->core.pool);
}

int shadow_mmu_topup(struct shadow_mmu *mmu, struct mmu_caches *caches)
{
	struct shadow_cache *c = &caches->shadow;
	int ret = tdp_cache_topup(&mmu->core.pool, &caches->tables, mmu->core.root_level);

	while (!ret && c->nr_headers < mmu->core.root_level) {
		struct shadow_page *sp = malloc(sizeof(*sp));

		if (!sp)
			return -ENOMEM;
		c->headers[c->nr_headers++] = sp;
	}
	return ret ? ret : pte_list_cache_topup(c);
}

void shadow_mmu_drain(struct shadow_mmu *mmu, struct mmu_caches *caches)
{
	tdp_cache_drain(&mmu->core.pool, &caches->tables);
	while (caches->shadow.nr_headers)
		free(caches->shadow.headers[--caches->shadow.nr_headers]);
	pte_list_cache_drain(&caches->shadow);
}

static void shadow_lock(struct shadow_mmu *mmu)
{
	pthread_mutex_lock(&mmu->lock);
}

/* Tables freed under the lock wait for a grace period: freed here unless
 * the caller is a vCPU in guest mode (then at its exit or vmmu_vm_poll). */
static void shadow_unlock(struct shadow_mmu *mmu)
{
	pthread_mutex_unlock(&mmu->lock);
	tdp_pool_reclaim_if_outside_rcu(&mmu->core.pool);
}

/* ---- roots -------------------------------------------------------------- */

struct tdp_page *shadow_mmu_get_root(struct shadow_mmu *mmu, struct mmu_caches *caches,
				     uint32_t role)
{
	struct shadow_page *sp;

	if (shadow_mmu_topup(mmu, caches))
		return NULL;
	shadow_lock(mmu);
	shadow_make_room(mmu, 1);
	sp = shadow_page_get(mmu, caches, 0, role);
	if (sp)
		sp->root_count++;
	shadow_unlock(mmu);
	return sp ? sp->page : NULL;
}

void shadow_mmu_put_root(struct shadow_mmu *mmu, struct tdp_page *root)
{
	struct shadow_page *sp = root->owner;

	shadow_lock(mmu);
	/* A valid root stays in the hash, tree and all (the legacy MMU's
	 * "previous roots" live there); an invalid one was zapped already. */
	if (--sp->root_count == 0 && sp->page->invalid)
		shadow_page_free(mmu, sp);
	shadow_unlock(mmu);
}

/* ---- map on fault ------------------------------------------------------- */

/* Links @child's table at @sptep (empty or MMIO), recording the parent. */
static int link_child(struct shadow_mmu *mmu, struct mmu_caches *caches, uint64_t *sptep,
		      struct shadow_page *child)
{
	if (pte_list_add(&child->parent_ptes, &caches->shadow, sptep))
		return -ENOMEM;
	__atomic_store_n(sptep, spte_make_nonleaf(&mmu->core.spte, child->page->spt),
			 __ATOMIC_RELEASE);
	return 0;
}

/* Installs @new at the leaf @sptep for @gfn, keeping the rmap in step. */
static enum tdp_map_result set_leaf(struct shadow_mmu *mmu, struct mmu_caches *caches,
				    unsigned int as_id, uint64_t *sptep, gfn_t gfn, uint64_t new)
{
	uint64_t old = __atomic_load_n(sptep, __ATOMIC_ACQUIRE);
	bool was_present = spte_is_shadow_present(old), present = spte_is_shadow_present(new);
	struct pte_list *head = rmap_head(&mmu->rmaps[as_id], gfn);

	if (old == new)
		return TDP_MAP_SPURIOUS;
	if (present && !was_present) {
		if (!head || pte_list_add(head, &caches->shadow, sptep))
			return TDP_MAP_NOMEM;
		MMU_STAT_ADD(&mmu->core, pages_4k, 1);
	} else if (was_present && !present) {
		if (head)
			pte_list_remove(head, sptep);
		MMU_STAT_ADD(&mmu->core, pages_4k, -1);
		MMU_STAT_ADD(&mmu->core, spte_zapped, 1);
	}
	/* Only the hardware's A/D writes and the fast fault race with this:
	 * whatever they did to the old value is replaced. */
	__atomic_exchange_n(sptep, new, __ATOMIC_ACQ_REL);
	return TDP_MAP_FIXED;
}

enum tdp_map_result shadow_mmu_map(struct shadow_mmu *mmu, struct mmu_caches *caches,
				   struct tdp_page *root, gfn_t gfn, const struct tdp_leaf *leaf)
{
	struct shadow_page *sp = root->owner;
	union root_role role = { .word = sp->key.role };
	unsigned int as_id = role.smm;
	enum tdp_map_result ret = TDP_MAP_NOMEM;

	shadow_lock(mmu);
	if (leaf->slots_generation != mmu->core.slots_generation[as_id] || root->invalid) {
		shadow_unlock(mmu);
		MMU_STAT_ADD(&mmu->core, pf_retry, 1);
		return TDP_MAP_RETRY;    /* the memslots or the roots changed meanwhile */
	}
	shadow_make_room(mmu, mmu->core.root_level - 1);
	for (unsigned int level = mmu->core.root_level; level > 1; level--) {
		uint64_t *sptep = &sp->page->spt[tdp_spte_index(gfn, level)];
		uint64_t spte = __atomic_load_n(sptep, __ATOMIC_ACQUIRE);
		struct shadow_page *child;

		if (spte_is_shadow_present(spte) && !spte_is_leaf(spte, level)) {
			sp = shadow_page_of(spte_child_table(spte));
			continue;
		}
		/* No table here (or a stale MMIO SPTE): the one of the hash, or
		 * a new one. */
		role.level = level - 1;
		child = shadow_page_get(mmu, caches, gfn & ~(tdp_pages_per_spte(level) - 1),
					role.word);
		if (!child || link_child(mmu, caches, sptep, child))
			goto out;
		sp = child;
	}
	ret = set_leaf(mmu, caches, as_id, &sp->page->spt[tdp_spte_index(gfn, 1)], gfn,
		       mmu_make_leaf_spte(&mmu->core.spte, gfn, leaf));
out:
	shadow_unlock(mmu);
	return ret;
}

/* ---- through the reverse maps ------------------------------------------- */

/* Zaps the leaves of [start, end) in @as_id. */
static uint64_t zap_rmap_range(struct shadow_mmu *mmu, unsigned int as_id, gfn_t start, gfn_t end)
{
	struct rmap_range_iter it;
	struct pte_list *head;
	uint64_t zapped = 0;
	uint64_t *sptep;
	gfn_t gfn;

	for (head = rmap_range_first(&it, &mmu->rmaps[as_id], start, end, &gfn); head;
	     head = rmap_range_next(&it, &gfn))
		while ((sptep = pte_list_first(head))) {
			shadow_drop_leaf(mmu, head, sptep);
			zapped++;
		}
	return zapped;
}

/* Does an operation on @as_id (MEM_NR_AS: every one) cover @as? */
static bool covers(unsigned int as_id, unsigned int as)
{
	return as_id == MEM_NR_AS || as == as_id;
}

uint64_t shadow_mmu_zap_range(struct shadow_mmu *mmu, unsigned int as_id, gfn_t start, gfn_t end)
{
	uint64_t zapped = 0;

	shadow_lock(mmu);
	for (unsigned int as = 0; as < MEM_NR_AS; as++)
		if (covers(as_id, as))
			zapped += zap_rmap_range(mmu, as, start, end);
	if (zapped)
		mmu_zap_generation_bump(&mmu->core);
	shadow_unlock(mmu);
	return zapped;
}

/* Replaces @sptep's value with what @change makes of it while @match
 * accepts it; a lost race (the hardware's A/D writes, the fast fault)
 * re-reads and asks again.  Whether it changed. */
static bool change_spte(const struct spte_config *cfg, uint64_t *sptep,
			bool (*match)(const struct spte_config *cfg, uint64_t spte),
			uint64_t (*change)(const struct spte_config *cfg, uint64_t spte))
{
	uint64_t old = __atomic_load_n(sptep, __ATOMIC_ACQUIRE);

	while (match(cfg, old))
		if (__atomic_compare_exchange_n(sptep, &old, change(cfg, old), false,
						__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
			return true;
	return false;
}

/* change_spte() on every leaf of [start, end) in @as_id; how many changed. */
static uint64_t change_rmap_range(struct shadow_mmu *mmu, unsigned int as_id, gfn_t start,
				  gfn_t end,
				  bool (*match)(const struct spte_config *cfg, uint64_t spte),
				  uint64_t (*change)(const struct spte_config *cfg, uint64_t spte))
{
	struct rmap_range_iter it;
	struct pte_list_iter iter;
	struct pte_list *head;
	uint64_t changed = 0;
	uint64_t *sptep;
	gfn_t gfn;

	shadow_lock(mmu);
	for (unsigned int as = 0; as < MEM_NR_AS; as++) {
		if (!covers(as_id, as))
			continue;
		for (head = rmap_range_first(&it, &mmu->rmaps[as], start, end, &gfn); head;
		     head = rmap_range_next(&it, &gfn))
			for_each_pte_list(head, iter, sptep)
				changed += change_spte(&mmu->core.spte, sptep, match, change);
	}
	if (changed)
		mmu_zap_generation_bump(&mmu->core);
	shadow_unlock(mmu);
	return changed;
}

static bool match_writable(const struct spte_config *cfg, uint64_t spte)
{
	(void)cfg;
	return spte_hw_writable(spte);
}

static bool match_young(const struct spte_config *cfg, uint64_t spte)
{
	return spte_is_accessed(cfg, spte);
}

uint64_t shadow_mmu_write_protect(struct shadow_mmu *mmu, unsigned int as_id, gfn_t start,
				  gfn_t end)
{
	uint64_t n = change_rmap_range(mmu, as_id, start, end, match_writable, spte_write_protect);

	MMU_STAT_ADD(&mmu->core, sptes_write_protected, n);
	return n;
}

uint64_t shadow_mmu_age(struct shadow_mmu *mmu, unsigned int as_id, gfn_t start, gfn_t end)
{
	uint64_t n = change_rmap_range(mmu, as_id, start, end, match_young, spte_make_old);

	MMU_STAT_ADD(&mmu->core, sptes_aged, n);
	return n;
}

/* ---- everything at once, memslots, the cap -------------------------------- */

/* Zaps every valid page; MMU lock held. */
static void zap_all_locked(struct shadow_mmu *mmu)
{
	struct shadow_page *sp, *tmp;

	/* Zapping a page frees only that page. */
	cds_list_for_each_entry_safe(sp, tmp, &mmu->active, link)
		if (!sp->page->invalid)
			shadow_page_zap(mmu, sp);
	mmu_zap_generation_bump(&mmu->core);
}

void shadow_mmu_zap_all(struct shadow_mmu *mmu)
{
	shadow_lock(mmu);
	zap_all_locked(mmu);
	shadow_unlock(mmu);
}

/* 1/64 of the memory of address space 0, at least SHADOW_MIN_PAGES. */
static uint64_t default_max_pages(const struct memslot_set *slots)
{
	uint64_t pages = 0;

	for (unsigned int i = 0; i < slots->nr; i++)
		pages += slots->slots[i].npages;
	return pages / 64 > SHADOW_MIN_PAGES ? pages / 64 : SHADOW_MIN_PAGES;
}

int shadow_mmu_memslots_changed(struct shadow_mmu *mmu, unsigned int as_id,
				const struct memslot_set *slots, gfn_t start, gfn_t end)
{
	uint64_t old = 0;
	int ret;

	shadow_lock(mmu);
	for (unsigned int as = 0; as < MEM_NR_AS; as++)
		if (mmu->core.slots_generation[as] > old)
			old = mmu->core.slots_generation[as];
	mmu->core.slots_generation[as_id] = slots->generation;
	/* MMIO SPTEs keep only the generation's low bits: when those wrap,
	 * none may survive (KVM zaps everything then, too). */
	if (spte_mmio_gen_wrapped(&mmu->core.spte, old, slots->generation))
		zap_all_locked(mmu);
	if (start < end && zap_rmap_range(mmu, as_id, start, end))
		mmu_zap_generation_bump(&mmu->core);
	/* The reverse maps follow the slots (on failure a fault in a slot
	 * without one ends as an MMIO exit). */
	ret = rmap_set_sync(&mmu->rmaps[as_id], slots);
	if (as_id == VMMU_AS_NORMAL && !mmu->max_pages_fixed)
		mmu->max_pages = default_max_pages(slots);
	shadow_make_room(mmu, 0);
	shadow_unlock(mmu);
	return ret;
}
