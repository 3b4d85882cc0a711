/* SPDX-License-Identifier: MIT */
/*
 * Reverse maps (KVM's pte_list and memslot rmaps).
 *
 * A pte_list is a set of SPTE pointers in one word: 0 (empty), one pointer
 * (bit 0 clear), or a chain of descriptors of up to PTE_LIST_EXT pointers
 * (bit 0 set); only the first descriptor of a chain has room.  Two uses:
 * the reverse map of a GFN (every leaf SPTE that maps it) and the parents
 * of a shadow page (every non-leaf SPTE that points to its table).
 *
 * An rmap_set holds the reverse maps of one address space: one block of
 * heads per memslot of the set the MMU last heard of (rmap_set_sync), so
 * a GFN's head is a binary search and an index.
 *
 * Everything here runs under the legacy MMU's lock.
 */
#ifndef VMMU_SHADOW_RMAP_H
#define VMMU_SHADOW_RMAP_H

#include <stdint.h>

#include "mem/mem.h"
#include "shadow_cache.h"

#define PTE_LIST_EXT 14

struct pte_list_desc {
	uint64_t *sptes[PTE_LIST_EXT];
	struct pte_list_desc *more;
	unsigned int nr;
};

struct pte_list {
	uintptr_t val;
};

/* Fills @cache with descriptors; -ENOMEM. */
int pte_list_cache_topup(struct shadow_cache *cache);
void pte_list_cache_drain(struct shadow_cache *cache);

/* Adds @sptep, taking a descriptor from @cache when needed (-ENOMEM if it
 * is empty: the caller topped up too little). */
int pte_list_add(struct pte_list *list, struct shadow_cache *cache, uint64_t *sptep);
/* Removes @sptep, which is in the list. */
void pte_list_remove(struct pte_list *list, uint64_t *sptep);
/* Any member, or NULL: for loops that remove as they go. */
uint64_t *pte_list_first(const struct pte_list *list);
unsigned int pte_list_count(const struct pte_list *list);

struct pte_list_iter {
	struct pte_list_desc *desc;
	unsigned int pos;
	uint64_t *single;
};

uint64_t *pte_list_iter_first(const struct pte_list *list, struct pte_list_iter *iter);
uint64_t *pte_list_iter_next(struct pte_list_iter *iter);

/* Every member; the list must not change meanwhile. */
#define for_each_pte_list(list, iter, sptep)                                   \
	for ((sptep) = pte_list_iter_first((list), &(iter)); (sptep);          \
	     (sptep) = pte_list_iter_next(&(iter)))

struct rmap_block {
	gfn_t base_gfn;
	uint64_t npages;
	struct pte_list *heads;          /* one per GFN */
};

struct rmap_set {
	unsigned int nr;
	struct rmap_block *blocks;       /* sorted by base_gfn, disjoint */
};

/*
 * Makes @rs mirror @slots: a block kept for each slot of the same range,
 * a new one for each new slot, and the others freed (the caller zapped
 * their GFNs first, so they are empty).  -ENOMEM leaves @rs as it was.
 */
int rmap_set_sync(struct rmap_set *rs, const struct memslot_set *slots);
void rmap_set_destroy(struct rmap_set *rs);

/* The reverse map of @gfn, or NULL when no block covers it. */
struct pte_list *rmap_head(const struct rmap_set *rs, gfn_t gfn);

/*
 * The reverse maps of the GFNs of [start, end) that a block covers, in
 * order: for (head = rmap_range_first(&it, rs, start, end, &gfn); head;
 * head = rmap_range_next(&it, &gfn)).  Heads may change meanwhile, blocks
 * may not.
 */
struct rmap_range_iter {
	const struct rmap_set *rs;
	unsigned int block;
	gfn_t gfn, end, block_end;
};

struct pte_list *rmap_range_first(struct rmap_range_iter *it, const struct rmap_set *rs,
				  gfn_t start, gfn_t end, gfn_t *gfn);
struct pte_list *rmap_range_next(struct rmap_range_iter *it, gfn_t *gfn);

#endif
