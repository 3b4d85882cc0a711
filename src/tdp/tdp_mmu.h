/* SPDX-License-Identifier: MIT */
/*
 * The TDP MMU: one tree of SPTEs per address space that maps guest-physical
 * to host memory (EPT or NPT format), built on faults and torn down by zaps.
 *
 * Locking: the MMU lock is a reader-writer lock that prefers writers.
 * Faults (tdp_mmu_map) and the teardown of dead roots take it for read and
 * run concurrently: every SPTE change is a compare-and-swap against the
 * value the iterator read, a lost race is retried, and tables leave a tree
 * through a frozen SPTE.  Everything that removes or reduces mappings
 * (zaps, write-protect, age, memslot changes) and the root list take it for
 * write, so a fault never races with them.  Tables are freed after an RCU
 * grace period; callers hold the RCU read lock (a vCPU in guest mode does)
 * while they walk.
 */
#ifndef VMMU_TDP_MMU_H
#define VMMU_TDP_MMU_H

#include <pthread.h>

#include "mem/mem.h"
#include "spte/spte.h"
#include "tdp_page.h"
#include "vm/mmu.h"

struct tdp_mmu {
	struct mmu_core core;            /* first: mmu.c converts */
	pthread_rwlock_t lock;           /* the MMU lock */
	/* Roots by (role, address space), under the MMU lock.  A vCPU holds a
	 * reference on the root it uses; with hold_root_ref the MMU holds one
	 * of its own until the root is invalidated (edbdb43fc96b).  A root
	 * nobody holds is torn down at once (sync_root_teardown) or parked on
	 * dead_roots for tdp_mmu_reap_dead_roots(). */
	struct tdp_page *roots;
	struct tdp_page *dead_roots;     /* stored atomically: read as a hint unlocked */
	bool hold_root_ref;
	bool sync_root_teardown;
	unsigned int lock_waiters;       /* threads blocked on the MMU lock */
	unsigned int yield_every;        /* tests: yield every N steps (0: never) */
};

int tdp_mmu_init(struct tdp_mmu *mmu, enum spte_format format, bool ad_enabled,
		 unsigned int maxphyaddr);
void tdp_mmu_destroy(struct tdp_mmu *mmu);

/*
 * A root for @role in address space @as_id, with a reference for the
 * caller: a valid one from the list, or a new, empty one.  NULL when the
 * host has no memory.  Takes the MMU lock.
 */
struct tdp_page *tdp_mmu_get_root(struct tdp_mmu *mmu, uint32_t role, unsigned int as_id);
/* Drops the caller's reference; the last one takes the root down. */
void tdp_mmu_put_root(struct tdp_mmu *mmu, struct tdp_page *root);
/* Makes every root obsolete (KVM's fast zap of all roots): the MMU drops
 * its own references, vCPUs drop theirs at their next access. */
void tdp_mmu_invalidate_all_roots(struct tdp_mmu *mmu);
/* Tears down the roots nobody holds any more, under the read side of the
 * MMU lock; returns how many.  Their tables wait for the caller's next
 * tdp_pool_reclaim(). */
unsigned int tdp_mmu_reap_dead_roots(struct tdp_mmu *mmu);

/*
 * Maps @gfn to @leaf at 4K in @root, allocating tables from @cache (topped
 * up by the caller with at least root_level - 1 tables).  Takes the MMU
 * lock for read: faults of several vCPUs run at once.
 */
enum tdp_map_result tdp_mmu_map(struct tdp_mmu *mmu, struct tdp_page_cache *cache,
				struct tdp_page *root, gfn_t gfn, const struct tdp_leaf *leaf);

/* Each takes the MMU lock and the RCU read lock.  [start, end) in GFNs;
 * as_id MEM_NR_AS means every address space.  They return how many SPTEs
 * they changed; a change bumps zap_generation (the caller flushes TLBs). */
uint64_t tdp_mmu_zap_range(struct tdp_mmu *mmu, unsigned int as_id, gfn_t start, gfn_t end);
uint64_t tdp_mmu_zap_all(struct tdp_mmu *mmu);
uint64_t tdp_mmu_write_protect(struct tdp_mmu *mmu, unsigned int as_id, gfn_t start, gfn_t end);
/* Clears accessed state (or marks SPTEs access-tracked without A/D);
 * returns how many leaves were young. */
uint64_t tdp_mmu_age(struct tdp_mmu *mmu, unsigned int as_id, gfn_t start, gfn_t end);

/*
 * The memslots of @as_id changed to generation @generation; [start, end)
 * lost its memory (end == start: nothing did).  Zaps that range under the
 * same hold of the MMU lock that records the generation.
 */
uint64_t tdp_mmu_memslots_changed(struct tdp_mmu *mmu, unsigned int as_id,
				  uint64_t generation, gfn_t start, gfn_t end);

/* Page-table pages currently in trees and caches. */
uint64_t tdp_mmu_table_pages(struct tdp_mmu *mmu);

#define TDP_STAT_ADD(mmu, name, n) MMU_STAT_ADD(&(mmu)->core, name, n)

#endif
