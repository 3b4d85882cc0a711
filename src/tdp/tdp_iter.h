/* SPDX-License-Identifier: MIT */
/*
 * Walking a TDP tree: a pre-order iterator over the SPTEs that map a GFN
 * range, written once and used by every operation (map, zap, write-protect,
 * age).  Tables are RCU-protected: the caller holds the RCU read lock for as
 * long as it uses an iterator, so a table zapped concurrently stays readable.
 *
 * Yielding: an operation may drop the MMU lock (and RCU) in the middle of a
 * walk; the iterator then restarts from the root at next_last_level_gfn, the
 * first GFN not yet fully processed.  It yields only after progress
 * (next_last_level_gfn moved past yielded_gfn), so a walk always ends.
 */
#ifndef VMMU_TDP_ITER_H
#define VMMU_TDP_ITER_H

#include <stdbool.h>
#include <stdint.h>

#include "paging/paging.h"
#include "vmmu_types.h"

/* GFNs an SPTE at @level maps: 1, 512, 512^2, ... */
static inline gfn_t tdp_pages_per_spte(unsigned int level)
{
	return 1ull << (9 * (level - 1));
}

static inline unsigned int tdp_spte_index(gfn_t gfn, unsigned int level)
{
	return (gfn >> (9 * (level - 1))) & (512 - 1);
}

struct tdp_iter {
	gfn_t next_last_level_gfn;       /* where a restart resumes */
	gfn_t yielded_gfn;               /* next_last_level_gfn at the last yield */
	uint64_t *pt_path[PT_MAX_LEVELS];/* the table walked at each level */
	uint64_t *sptep;                 /* the current SPTE */
	uint64_t old_spte;               /* its value when the iterator read it */
	gfn_t gfn;                       /* first GFN the current SPTE maps */
	unsigned int root_level, min_level, level;
	bool valid;                      /* false once the walk is done */
	bool yielded;                    /* the next step restarts from the root */
};

void tdp_iter_start(struct tdp_iter *iter, uint64_t *root_spt, unsigned int root_level,
		    unsigned int min_level, gfn_t gfn);
void tdp_iter_next(struct tdp_iter *iter);
/* Walks again from the root to next_last_level_gfn (after a yield). */
void tdp_iter_restart(struct tdp_iter *iter);

static inline uint64_t tdp_spte_read(const uint64_t *sptep)
{
	return __atomic_load_n(sptep, __ATOMIC_ACQUIRE);
}

/* Every SPTE that maps part of [start, end), pre-order, down to min_level. */
#define for_each_tdp_pte_min_level(iter, root_spt, root_level, min_level, start, end)      \
	for (tdp_iter_start(&(iter), (root_spt), (root_level), (min_level), (start));      \
	     (iter).valid && (iter).gfn < (end); tdp_iter_next(&(iter)))

#define for_each_tdp_pte(iter, root_spt, root_level, start, end) \
	for_each_tdp_pte_min_level(iter, root_spt, root_level, 1, start, end)

#endif
