/* SPDX-License-Identifier: MIT */
/*
 * The pre-order step: down into the child table if the current SPTE points
 * to one and the walk may go lower, else to the next SPTE of the same table,
 * else up until a table has a next SPTE.
 */
#include "tdp_iter.h"
#include "tdp_spte.h"

static gfn_t round_gfn_for_level(gfn_t gfn, unsigned int level)
{
	return gfn & ~(tdp_pages_per_spte(level) - 1);
}

static void tdp_iter_refresh_sptep(struct tdp_iter *iter)
{
	iter->sptep = iter->pt_path[iter->level - 1] + tdp_spte_index(iter->gfn, iter->level);
	iter->old_spte = tdp_spte_read(iter->sptep);
}

void tdp_iter_restart(struct tdp_iter *iter)
{
	iter->yielded = false;
	iter->yielded_gfn = iter->next_last_level_gfn;
	iter->level = iter->root_level;
	iter->gfn = round_gfn_for_level(iter->next_last_level_gfn, iter->level);
	tdp_iter_refresh_sptep(iter);
	iter->valid = true;
}

void tdp_iter_start(struct tdp_iter *iter, uint64_t *root_spt, unsigned int root_level,
		    unsigned int min_level, gfn_t gfn)
{
	iter->next_last_level_gfn = gfn;
	iter->root_level = root_level;
	iter->min_level = min_level;
	iter->pt_path[root_level - 1] = root_spt;
	tdp_iter_restart(iter);
}

static bool try_step_down(struct tdp_iter *iter)
{
	uint64_t *child;

	if (iter->level == iter->min_level)
		return false;
	/* Re-read: the SPTE may have changed since the caller looked at it. */
	iter->old_spte = tdp_spte_read(iter->sptep);
	child = tdp_spte_child_table(iter->old_spte, iter->level);
	if (!child)
		return false;
	iter->level--;
	iter->pt_path[iter->level - 1] = child;
	iter->gfn = round_gfn_for_level(iter->next_last_level_gfn, iter->level);
	tdp_iter_refresh_sptep(iter);
	return true;
}

static bool try_step_side(struct tdp_iter *iter)
{
	if (tdp_spte_index(iter->gfn, iter->level) == 512 - 1)
		return false;
	iter->gfn += tdp_pages_per_spte(iter->level);
	iter->next_last_level_gfn = iter->gfn;
	iter->sptep++;
	iter->old_spte = tdp_spte_read(iter->sptep);
	return true;
}

static bool try_step_up(struct tdp_iter *iter)
{
	if (iter->level == iter->root_level)
		return false;
	iter->level++;
	iter->gfn = round_gfn_for_level(iter->gfn, iter->level);
	tdp_iter_refresh_sptep(iter);
	return true;
}

void tdp_iter_next(struct tdp_iter *iter)
{
	if (iter->yielded) {
		tdp_iter_restart(iter);
		return;
	}
	if (try_step_down(iter))
		return;
	do {
		if (try_step_side(iter))
			return;
	} while (try_step_up(iter));
	iter->valid = false;
}
