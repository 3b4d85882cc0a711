/* SPDX-License-Identifier: MIT */
/*
 * Shadow pages: the hash, creation, zapping and reclaim (KVM's
 * kvm_mmu_get_shadow_page, kvm_mmu_prepare_zap_page,
 * kvm_mmu_zap_oldest_mmu_pages).  MMU lock held throughout.
 */
#include <stdlib.h>
#include <string.h>

#include "shadow_page.h"

static struct shadow_page *hash_find(struct shadow_mmu *mmu, gfn_t gfn, uint32_t role)
{
	struct shadow_key key = { .gfn = gfn, .role = role };
	struct shadow_page *sp;

	HASH_FIND(hh, mmu->hash, &key, sizeof(key), sp);
	return sp;
}

struct tdp_page *shadow_mmu_find(struct shadow_mmu *mmu, gfn_t gfn, uint32_t role)
{
	struct shadow_page *sp;

	pthread_mutex_lock(&mmu->lock);
	sp = hash_find(mmu, gfn, role);
	pthread_mutex_unlock(&mmu->lock);
	return sp ? sp->page : NULL;
}

/* The page of (@gfn, @role): from the hash, with whatever it still maps,
 * or new and empty from @caches.  NULL if the caches are empty. */
struct shadow_page *shadow_page_get(struct shadow_mmu *mmu, struct mmu_caches *caches,
				    gfn_t gfn, uint32_t role)
{
	struct shadow_page *sp = hash_find(mmu, gfn, role);
	struct tdp_page *page;

	if (sp)
		return sp;
	if (!caches->shadow.nr_headers || !caches->tables.nr)
		return NULL;
	sp = caches->shadow.headers[--caches->shadow.nr_headers];
	memset(sp, 0, sizeof(*sp));
	sp->key = (struct shadow_key){ .gfn = gfn, .role = role };
	HASH_ADD(hh, mmu->hash, key, sizeof(sp->key), sp);
	if (!sp->hh.tbl) {               /* uthash had no memory */
		caches->shadow.headers[caches->shadow.nr_headers++] = sp;
		return NULL;
	}
	page = tdp_cache_alloc(&caches->tables);
	page->gfn = gfn;
	page->level = (uint8_t)shadow_page_level(sp);
	page->as_id = (uint8_t)shadow_page_as_id(sp);
	page->root = page->level == mmu->core.root_level;
	page->invalid = false;
	page->role = role;
	page->owner = sp;
	sp->page = page;
	cds_list_add(&sp->link, &mmu->active);
	mmu->nr_pages++;
	MMU_STAT_ADD(&mmu->core, mmu_cache_miss, 1);
	MMU_STAT_ADD(&mmu->core, pt_pages_allocated, 1);
	if (page->root)
		MMU_STAT_ADD(&mmu->core, roots_allocated, 1);
	return sp;
}

void shadow_drop_leaf(struct shadow_mmu *mmu, struct pte_list *head, uint64_t *sptep)
{
	uint64_t old = __atomic_exchange_n(sptep, 0, __ATOMIC_ACQ_REL);

	if (!spte_is_shadow_present(old))
		return;                  /* MMIO or nothing: no reverse map */
	if (head)
		pte_list_remove(head, sptep);
	MMU_STAT_ADD(&mmu->core, pages_4k, -1);
	MMU_STAT_ADD(&mmu->core, spte_zapped, 1);
}

/* Clears every SPTE of @sp's table: leaves leave their rmaps, child
 * tables lose this parent (and stay in the hash). */
static void unlink_children(struct shadow_mmu *mmu, struct shadow_page *sp)
{
	uint64_t *spt = sp->page->spt;
	unsigned int level = shadow_page_level(sp), as_id = shadow_page_as_id(sp);

	for (unsigned int i = 0; i < TDP_PTES_PER_TABLE; i++) {
		uint64_t spte = __atomic_load_n(&spt[i], __ATOMIC_ACQUIRE);

		if (!spte)
			continue;
		if (level == 1) {
			/* Only a present leaf has a reverse map to leave. */
			shadow_drop_leaf(mmu, spte_is_shadow_present(spte) ?
					 rmap_head(&mmu->rmaps[as_id], sp->key.gfn + i) : NULL,
					 &spt[i]);
			continue;
		}
		__atomic_store_n(&spt[i], 0, __ATOMIC_RELEASE);
		if (spte_is_shadow_present(spte) && !spte_is_leaf(spte, level))
			pte_list_remove(&shadow_page_of(spte_child_table(spte))->parent_ptes, &spt[i]);
	}
}

static void unlink_parents(struct shadow_page *sp)
{
	uint64_t *sptep;

	while ((sptep = pte_list_first(&sp->parent_ptes))) {
		__atomic_store_n(sptep, 0, __ATOMIC_RELEASE);
		pte_list_remove(&sp->parent_ptes, sptep);
	}
}

void shadow_page_free(struct shadow_mmu *mmu, struct shadow_page *sp)
{
	cds_list_del(&sp->link);
	mmu->nr_pages--;
	MMU_STAT_ADD(&mmu->core, pt_pages_freed, 1);
	if (sp->page->root)
		MMU_STAT_ADD(&mmu->core, roots_freed, 1);
	/* The hardware walk may still be reading the table. */
	tdp_page_free_deferred(&mmu->core.pool, sp->page);
	free(sp);
}

void shadow_page_zap(struct shadow_mmu *mmu, struct shadow_page *sp)
{
	unlink_parents(sp);
	unlink_children(mmu, sp);
	HASH_DEL(mmu->hash, sp);
	MMU_STAT_ADD(&mmu->core, mmu_shadow_zapped, 1);
	if (sp->root_count) {
		/* vCPUs see it at their next access and load another root. */
		__atomic_store_n(&sp->page->invalid, true, __ATOMIC_RELEASE);
		return;
	}
	shadow_page_free(mmu, sp);
}

void shadow_make_room(struct shadow_mmu *mmu, uint64_t need)
{
	struct cds_list_head *pos, *prev;
	bool zapped = false;

	cds_list_for_each_prev_safe(pos, prev, &mmu->active) {
		struct shadow_page *sp = cds_list_entry(pos, struct shadow_page, link);

		if (mmu->nr_pages + need <= mmu->max_pages)
			break;
		if (sp->root_count || sp->page->invalid)
			continue;        /* in use as a root */
		/* Zapping sp frees only sp: prev stays on the list. */
		shadow_page_zap(mmu, sp);
		MMU_STAT_ADD(&mmu->core, mmu_recycled, 1);
		zapped = true;
	}
	if (zapped)
		mmu_zap_generation_bump(&mmu->core);
}
