/* SPDX-License-Identifier: MIT */
/*
 * TDP page-table pages.  Each is a 4K table of 512 SPTEs with a header
 * (KVM's struct kvm_mmu_page).  Tables live in 2 MiB chunks whose first pages
 * hold the headers of the chunk's tables, so the header of a table is found
 * by arithmetic from the table's address, which is what a non-leaf SPTE
 * holds.
 *
 * Allocation is two-stage, as KVM's memory caches: a vCPU tops up its own
 * cache before it takes the MMU lock (allocation may sleep or fail there),
 * and the fault path takes tables from that cache under the lock.  A table
 * that leaves a tree is freed only after an RCU grace period, since a vCPU's
 * walk may still be reading it.
 */
#ifndef VMMU_TDP_PAGE_H
#define VMMU_TDP_PAGE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "vmmu_types.h"

#define TDP_PTES_PER_TABLE 512
#define TDP_CHUNK_SIZE     (2ull << 20)
#define TDP_CHUNK_TABLES   (TDP_CHUNK_SIZE / PAGE_SIZE)

struct tdp_page {
	uint64_t *spt;            /* the table: 512 SPTEs */
	gfn_t gfn;                /* first GFN the table maps */
	uint8_t level;            /* level of its SPTEs: 1 holds 4K leaves */
	uint8_t as_id;
	bool root;
	struct tdp_page *next;    /* free list or deferred-free list */
	void *owner;              /* the legacy MMU's shadow page of the table */
	/* Roots only, under the MMU lock: */
	bool invalid;             /* obsolete: no vCPU may load it again */
	bool mmu_ref;             /* one of refcount is the MMU's own */
	uint32_t role;            /* the root role word it was made for */
	int refcount;             /* vCPUs holding it, and the MMU's own */
	struct tdp_page *root_next;  /* in tdp_mmu.roots or .dead_roots */
};

/* Pages a vCPU holds for its next fault. */
#define TDP_CACHE_CAPACITY 8

struct tdp_page_cache {
	unsigned int nr;
	struct tdp_page *pages[TDP_CACHE_CAPACITY];
};

struct tdp_page_pool {
	pthread_mutex_t lock;     /* protects everything below */
	struct tdp_page *free;    /* zeroed tables ready to hand out */
	struct tdp_page *deferred;/* out of every tree, waiting for a grace period;
				   * stored atomically: read as a hint unlocked */
	unsigned int nr_deferred; /* on @deferred; stored atomically, as @deferred */
	void **chunks;
	unsigned int nr_chunks, cap_chunks;
	uint64_t allocated;       /* tables handed out and not yet freed */
	uint64_t peak;
};

int tdp_pool_init(struct tdp_page_pool *pool);
/* Frees every chunk; every table must be out of every tree. */
void tdp_pool_destroy(struct tdp_page_pool *pool);

/* Fills @cache to at least @min tables.  -ENOMEM if the host has none. */
int tdp_cache_topup(struct tdp_page_pool *pool, struct tdp_page_cache *cache, unsigned int min);
/* Takes a zeroed table from @cache, which the caller topped up. */
struct tdp_page *tdp_cache_alloc(struct tdp_page_cache *cache);
/* Returns a cache's tables to the pool (vCPU destruction). */
void tdp_cache_drain(struct tdp_page_pool *pool, struct tdp_page_cache *cache);

/* A table that never reached a tree (lost a race): straight back. */
void tdp_page_free_unused(struct tdp_page_pool *pool, struct tdp_page *page);
/* A table taken out of a tree: freed after the next grace period. */
void tdp_page_free_deferred(struct tdp_page_pool *pool, struct tdp_page *page);
/* Waits for a grace period and frees the deferred tables.  Must not run in
 * an RCU read-side critical section; returns how many were freed. */
unsigned int tdp_pool_reclaim(struct tdp_page_pool *pool);
bool tdp_pool_has_deferred(struct tdp_page_pool *pool);
/* Tables handed out now (in trees, caches or waiting for a grace period). */
uint64_t tdp_pool_allocated(struct tdp_page_pool *pool);
/* Reclaims now unless the caller is inside an RCU read-side critical
 * section (a vCPU in guest mode): then the tables wait for the next
 * reclaim point (vmmu_vm_poll(), vCPU exit). */
void tdp_pool_reclaim_if_outside_rcu(struct tdp_page_pool *pool);

/* The header of the table at @spt. */
static inline struct tdp_page *tdp_page_of(const uint64_t *spt)
{
	uintptr_t addr = (uintptr_t)spt;
	struct tdp_page *headers = (struct tdp_page *)(addr & ~(uintptr_t)(TDP_CHUNK_SIZE - 1));

	return &headers[(addr & (TDP_CHUNK_SIZE - 1)) >> PAGE_SHIFT];
}

#endif
