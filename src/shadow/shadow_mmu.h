/* SPDX-License-Identifier: MIT */
/*
 * The legacy MMU (KVM's mmu.c without the TDP MMU), here managing EPT/NPT
 * tables the way KVM did before 5.10's TDP MMU: direct shadow pages.
 *
 * A shadow page is one table of SPTEs, identified by the first GFN it maps
 * and its role (level, address space, and whatever else the root role
 * holds, CR0.WP under 5.10): pages live in a hash by (gfn, role), so a tree
 * is shared by every root of the same role and survives its roots.  A
 * page stays in the hash when nothing points to it any more (a root no vCPU
 * holds, a table whose parent was zapped) until it is zapped or reclaimed,
 * oldest first, when the page-table memory reaches its cap; a later fault
 * or root load that needs it links it back with everything it still maps.
 * Reverse maps (rmap.h) lead from a GFN to the leaves that map it and from
 * a page to the SPTEs that point to it.
 *
 * Locking: one MMU lock, always exclusive, around every change: the hash,
 * the lists, the reverse maps, every SPTE write.  Only the vCPUs' hardware
 * walk (mmu_lookup, its A/D writes) and the fast page fault touch SPTEs
 * without it, by compare-and-swap, so SPTE writes here are atomic
 * exchanges or compare-and-swap loops.  Tables are freed after an RCU grace
 * period (the hardware walk may be reading them); headers at once.
 */
#ifndef VMMU_SHADOW_MMU_H
#define VMMU_SHADOW_MMU_H

#include <pthread.h>
#include <urcu/list.h>

#include "rmap.h"
#include "vm/mmu.h"

struct shadow_mmu {
	struct mmu_core core;            /* first: mmu.c converts */
	pthread_mutex_t lock;            /* the MMU lock */
	struct shadow_page *hash;        /* uthash head: valid pages by (gfn, role) */
	struct cds_list_head active;     /* every page, newest first (KVM's
					  * active_mmu_pages), invalid roots too */
	uint64_t nr_pages;               /* pages on @active */
	uint64_t max_pages;              /* the cap (KVM's n_max_mmu_pages) */
	bool max_pages_fixed;            /* set by the VM config, not by memory size */
	struct rmap_set rmaps[MEM_NR_AS];
};

/* Default cap: 1/64 of guest memory, at least 1 MiB of tables. */
#define SHADOW_MIN_PAGES 256

/* @max_pages 0: the default, following the memory of address space 0. */
int shadow_mmu_init(struct shadow_mmu *mmu, enum spte_format format, bool ad_enabled,
		    unsigned int maxphyaddr, uint64_t max_pages);
void shadow_mmu_destroy(struct shadow_mmu *mmu);

int shadow_mmu_topup(struct shadow_mmu *mmu, struct mmu_caches *caches);
void shadow_mmu_drain(struct shadow_mmu *mmu, struct mmu_caches *caches);

/* The root for @role (root level, address space in role.smm), found in the
 * hash or built from @caches (topped up), with a reference (root_count). */
struct tdp_page *shadow_mmu_get_root(struct shadow_mmu *mmu, struct mmu_caches *caches,
				     uint32_t role);
/* Drops a reference; a valid root stays in the hash with its tree. */
void shadow_mmu_put_root(struct shadow_mmu *mmu, struct tdp_page *root);

/* KVM's direct_map(): links the tables down to @gfn's leaf, each found in
 * the hash or built from @caches, and installs @leaf. */
enum tdp_map_result shadow_mmu_map(struct shadow_mmu *mmu, struct mmu_caches *caches,
				   struct tdp_page *root, gfn_t gfn, const struct tdp_leaf *leaf);

/* Through the reverse maps of @as_id (MEM_NR_AS: both): leaves only,
 * tables stay.  They return how many SPTEs they changed. */
uint64_t shadow_mmu_zap_range(struct shadow_mmu *mmu, unsigned int as_id, gfn_t start, gfn_t end);
uint64_t shadow_mmu_write_protect(struct shadow_mmu *mmu, unsigned int as_id, gfn_t start,
				  gfn_t end);
uint64_t shadow_mmu_age(struct shadow_mmu *mmu, unsigned int as_id, gfn_t start, gfn_t end);

/* KVM's fast zap: every page leaves the hash; roots still held stay,
 * invalid and empty, until their last vCPU lets go. */
void shadow_mmu_zap_all(struct shadow_mmu *mmu);

/* The memslots of @as_id are now @slots; [start, end) lost its memory.
 * -ENOMEM: no memory for the reverse maps of a new slot. */
int shadow_mmu_memslots_changed(struct shadow_mmu *mmu, unsigned int as_id,
				const struct memslot_set *slots, gfn_t start, gfn_t end);

/* For tests: the page of (@gfn, @role) in the hash, or NULL. */
struct tdp_page *shadow_mmu_find(struct shadow_mmu *mmu, gfn_t gfn, uint32_t role);

#endif
