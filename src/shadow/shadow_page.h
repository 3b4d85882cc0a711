/* SPDX-License-Identifier: MIT */
/* Shadow pages (KVM's struct kvm_mmu_page): private to shadow/. */
#ifndef VMMU_SHADOW_PAGE_H
#define VMMU_SHADOW_PAGE_H

/* Allocation failures inside uthash leave the table as it was. */
#define HASH_NONFATAL_OOM 1
#include <uthash.h>

#include "shadow_mmu.h"
#include "vcpu/role.h"

struct shadow_key {
	gfn_t gfn;                       /* first GFN the table maps */
	uint32_t role;                   /* union root_role, level included */
	uint32_t zero;                   /* hashed as bytes: keep 0 */
};

struct shadow_page {
	UT_hash_handle hh;               /* in mmu->hash, while valid */
	struct shadow_key key;
	struct cds_list_head link;       /* on mmu->active */
	struct tdp_page *page;           /* its table; page->owner is this */
	struct pte_list parent_ptes;     /* non-leaf SPTEs pointing to the table */
	unsigned int root_count;         /* vCPUs using it as their root */
};

static inline struct shadow_page *shadow_page_of(const uint64_t *spt)
{
	return tdp_page_of(spt)->owner;
}

static inline unsigned int shadow_page_level(const struct shadow_page *sp)
{
	return ((union root_role){ .word = sp->key.role }).level;
}

static inline unsigned int shadow_page_as_id(const struct shadow_page *sp)
{
	return ((union root_role){ .word = sp->key.role }).smm;
}

/* Under the MMU lock. */
struct shadow_page *shadow_page_get(struct shadow_mmu *mmu, struct mmu_caches *caches,
				    gfn_t gfn, uint32_t role);
/* Unlinks @sp from its parents and its children, takes it out of the
 * hash and frees it, or leaves it invalid while vCPUs hold it as a root. */
void shadow_page_zap(struct shadow_mmu *mmu, struct shadow_page *sp);
/* Frees an unlinked page nobody holds. */
void shadow_page_free(struct shadow_mmu *mmu, struct shadow_page *sp);
/* Zaps the oldest pages nobody holds until @need more fit under the cap. */
void shadow_make_room(struct shadow_mmu *mmu, uint64_t need);
/* Drops the leaf at @sptep and, if it was present, its entry in @head, the
 * reverse map of its GFN. */
void shadow_drop_leaf(struct shadow_mmu *mmu, struct pte_list *head, uint64_t *sptep);

#endif
