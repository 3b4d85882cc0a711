/* SPDX-License-Identifier: MIT */
/*
 * TDP MMU operations: map on fault, zap, write-protect, age.  Each is a
 * short loop over for_each_tdp_pte; every SPTE change goes through
 * tdp_set_spte_atomic(), which also accounts for what the change removed.
 */
#include <errno.h>
#include <string.h>

#include "tdp_iter.h"
#include "tdp_mmu.h"
#include "tdp_spte.h"
#include "vm/rcu.h"

/*
 * Writers first: a stream of faults on the read side must not keep a zap
 * or a memslot change out for ever.  The kind is a glibc extension (the
 * only way to ask for writer preference from POSIX rwlocks); no read lock
 * is ever taken twice by one thread, as its "nonrecursive" requires.
 */
static int tdp_mmu_lock_init(pthread_rwlock_t *lock)
{
	pthread_rwlockattr_t attr;
	int ret;

	if (pthread_rwlockattr_init(&attr))
		return -1;
	pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	ret = pthread_rwlock_init(lock, &attr);
	pthread_rwlockattr_destroy(&attr);
	return ret ? -1 : 0;
}

int tdp_mmu_init(struct tdp_mmu *mmu, enum spte_format format, bool ad_enabled,
		 unsigned int maxphyaddr)
{
	int ret;

	memset(mmu, 0, sizeof(*mmu));
	mmu_core_init(&mmu->core, MMU_KIND_TDP, format, ad_enabled, maxphyaddr);
	ret = tdp_pool_init(&mmu->core.pool);
	if (ret)
		return ret;
	if (tdp_mmu_lock_init(&mmu->lock)) {
		tdp_pool_destroy(&mmu->core.pool);
		return -ENOMEM;
	}
	return 0;
}

static void tear_down_root(struct tdp_mmu *mmu, struct tdp_page *root);

void tdp_mmu_destroy(struct tdp_mmu *mmu)
{
	/* No vCPU is left: nothing walks the trees or holds a root. */
	while (mmu->roots) {
		struct tdp_page *root = mmu->roots;

		mmu->roots = root->root_next;
		tear_down_root(mmu, root);
	}
	tdp_mmu_reap_dead_roots(mmu);
	tdp_pool_reclaim(&mmu->core.pool);
	pthread_rwlock_destroy(&mmu->lock);
	tdp_pool_destroy(&mmu->core.pool);
}

/* The read side, for faults; a blocked reader counts as a waiter, so
 * that a long walk on the write side yields to it. */
static void tdp_mmu_read_lock(struct tdp_mmu *mmu)
{
	if (pthread_rwlock_tryrdlock(&mmu->lock)) {
		__atomic_add_fetch(&mmu->lock_waiters, 1, __ATOMIC_RELAXED);
		pthread_rwlock_rdlock(&mmu->lock);
		__atomic_sub_fetch(&mmu->lock_waiters, 1, __ATOMIC_RELAXED);
	}
	vm_rcu_read_lock();
}

static void tdp_mmu_lock(struct tdp_mmu *mmu)
{
	if (pthread_rwlock_trywrlock(&mmu->lock)) {
		__atomic_add_fetch(&mmu->lock_waiters, 1, __ATOMIC_RELAXED);
		pthread_rwlock_wrlock(&mmu->lock);
		__atomic_sub_fetch(&mmu->lock_waiters, 1, __ATOMIC_RELAXED);
	}
	vm_rcu_read_lock();
}

static void tdp_mmu_unlock(struct tdp_mmu *mmu)
{
	vm_rcu_read_unlock();
	pthread_rwlock_unlock(&mmu->lock);
}

static void handle_removed_table(struct tdp_mmu *mmu, uint64_t *spt, unsigned int level);

/* Accounts for an SPTE change at @level: leaves gone, tables taken out. */
static void handle_changed_spte(struct tdp_mmu *mmu, uint64_t old, uint64_t new,
				unsigned int level)
{
	bool was_leaf = tdp_spte_is_leaf_present(old, level);
	uint64_t *child = tdp_spte_child_table(old, level);

	if (was_leaf && !tdp_spte_is_leaf_present(new, level)) {
		TDP_STAT_ADD(mmu, pages_4k, -1);
		TDP_STAT_ADD(mmu, spte_zapped, 1);
	} else if (!was_leaf && tdp_spte_is_leaf_present(new, level)) {
		TDP_STAT_ADD(mmu, pages_4k, 1);
	}
	if (child && tdp_spte_child_table(new, level) != child)
		handle_removed_table(mmu, child, level - 1);
}

/*
 * A table that left the tree: freeze each SPTE (so a concurrent installer
 * fails its compare-and-swap), account for what it mapped, and free the
 * table once no walk can be reading it.
 */
static void handle_removed_table(struct tdp_mmu *mmu, uint64_t *spt, unsigned int level)
{
	for (unsigned int i = 0; i < TDP_PTES_PER_TABLE; i++) {
		uint64_t old = __atomic_exchange_n(&spt[i], SPTE_FROZEN, __ATOMIC_ACQ_REL);

		handle_changed_spte(mmu, old, SPTE_FROZEN, level);
	}
	TDP_STAT_ADD(mmu, pt_pages_freed, 1);
	tdp_page_free_deferred(&mmu->core.pool, tdp_page_of(spt));
}

/*
 * Replaces the SPTE the iterator read with @new, unless it changed since:
 * then iter->old_spte holds the current value and the caller decides
 * again.  A frozen SPTE is never replaced (its table is being torn down).
 */
static bool tdp_set_spte_atomic(struct tdp_mmu *mmu, struct tdp_iter *iter, uint64_t new)
{
	uint64_t old = iter->old_spte;

	if (old == SPTE_FROZEN)
		return false;
	if (!__atomic_compare_exchange_n(iter->sptep, &iter->old_spte, new, false,
					 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		return false;
	handle_changed_spte(mmu, old, new, iter->level);
	return true;
}

enum tdp_map_result tdp_mmu_map(struct tdp_mmu *mmu, struct tdp_page_cache *cache,
				struct tdp_page *root, gfn_t gfn, const struct tdp_leaf *leaf)
{
	unsigned int as_id = root->as_id;
	enum tdp_map_result ret = TDP_MAP_RETRY;
	struct tdp_iter iter;

	tdp_mmu_read_lock(mmu);
	if (leaf->slots_generation != mmu->core.slots_generation[as_id] || root->invalid)
		goto out;                  /* the memslots or the roots changed meanwhile */
	for_each_tdp_pte(iter, root->spt, mmu->core.root_level, gfn, gfn + 1) {
		if (iter.old_spte == SPTE_FROZEN)
			break;
		if (iter.level == 1) {
			uint64_t new = mmu_make_leaf_spte(&mmu->core.spte, gfn, leaf);

			if (iter.old_spte == new)
				ret = TDP_MAP_SPURIOUS;
			else if (tdp_set_spte_atomic(mmu, &iter, new))
				ret = TDP_MAP_FIXED;
			break;
		}
		if (tdp_spte_child_table(iter.old_spte, iter.level))
			continue;          /* the iterator steps down next */

		/* No table here (or a stale MMIO SPTE): link a new one. */
		struct tdp_page *child = tdp_cache_alloc(cache);

		if (!child) {
			ret = TDP_MAP_NOMEM;
			break;
		}
		child->gfn = iter.gfn;
		child->level = (uint8_t)(iter.level - 1);
		child->as_id = (uint8_t)as_id;
		if (!tdp_set_spte_atomic(mmu, &iter, tdp_spte_make_nonleaf(&mmu->core.spte, child->spt))) {
			tdp_page_free_unused(&mmu->core.pool, child);
			break;
		}
		TDP_STAT_ADD(mmu, pt_pages_allocated, 1);
	}
out:
	tdp_mmu_unlock(mmu);
	if (ret == TDP_MAP_RETRY)
		TDP_STAT_ADD(mmu, pf_retry, 1);
	return ret;
}

/*
 * Drops the MMU lock and RCU in the middle of a walk when someone waits for
 * the lock (or every yield_every steps, for tests), but only after progress:
 * the iterator restarts at next_last_level_gfn, so the walk still ends.
 */
static bool tdp_mmu_iter_cond_yield(struct tdp_mmu *mmu, struct tdp_iter *iter,
				    unsigned int *steps)
{
	bool due = __atomic_load_n(&mmu->lock_waiters, __ATOMIC_RELAXED) ||
		   (mmu->yield_every && ++*steps >= mmu->yield_every);

	if (!due || iter->next_last_level_gfn == iter->yielded_gfn)
		return false;
	*steps = 0;
	tdp_mmu_unlock(mmu);
	tdp_mmu_lock(mmu);
	iter->yielded = true;
	return true;
}

/* The roots an operation on @as_id (MEM_NR_AS: every one) covers: valid
 * or not, a root's SPTEs map memory until it is torn down. */
#define for_each_root_of(mmu, space, root)                                  \
	for ((root) = (mmu)->roots; (root); (root) = (root)->root_next)      \
		if ((space) == MEM_NR_AS || (root)->as_id == (space))

/*
 * Replaces every SPTE of [start, end) in the trees of @as_id that @match
 * accepts with what @change makes of it, one compare-and-swap each (a lost
 * race re-reads and asks @match again).  MMU lock held; returns how many
 * changed.  Every operation below is one of these.
 */
static uint64_t change_sptes(struct tdp_mmu *mmu, unsigned int as_id, gfn_t start, gfn_t end,
			     bool (*match)(const struct spte_config *cfg, uint64_t spte,
					   unsigned int level),
			     uint64_t (*change)(const struct spte_config *cfg, uint64_t spte))
{
	struct tdp_page *root;
	struct tdp_iter iter;
	unsigned int steps = 0;
	uint64_t changed = 0;

	for_each_root_of(mmu, as_id, root) {
		for_each_tdp_pte(iter, root->spt, mmu->core.root_level, start, end) {
			if (tdp_mmu_iter_cond_yield(mmu, &iter, &steps))
				continue;
retry:
			if (!match(&mmu->core.spte, iter.old_spte, iter.level))
				continue;
			if (!tdp_set_spte_atomic(mmu, &iter, change(&mmu->core.spte, iter.old_spte)))
				goto retry;
			changed++;
		}
	}
	if (changed)
		mmu_zap_generation_bump(&mmu->core);
	return changed;
}

static bool match_leaf_or_mmio(const struct spte_config *cfg, uint64_t spte, unsigned int level)
{
	return tdp_spte_is_leaf_present(spte, level) || tdp_spte_is_mmio(cfg, spte);
}

static bool match_mmio(const struct spte_config *cfg, uint64_t spte, unsigned int level)
{
	(void)level;
	return tdp_spte_is_mmio(cfg, spte);
}

static bool match_writable_leaf(const struct spte_config *cfg, uint64_t spte, unsigned int level)
{
	return tdp_spte_is_leaf_present(spte, level) && tdp_spte_is_writable(cfg, spte);
}

static bool match_young_leaf(const struct spte_config *cfg, uint64_t spte, unsigned int level)
{
	return tdp_spte_is_leaf_present(spte, level) && tdp_spte_is_young(cfg, spte);
}

static uint64_t spte_zapped_value(const struct spte_config *cfg, uint64_t spte)
{
	(void)cfg;
	(void)spte;
	return SPTE_NONPRESENT;
}

/* Zaps every leaf in [start, end); MMU lock held. */
static uint64_t zap_leaves(struct tdp_mmu *mmu, unsigned int as_id, gfn_t start, gfn_t end)
{
	return change_sptes(mmu, as_id, start, end, match_leaf_or_mmio, spte_zapped_value);
}

/* Zaps every leaf in [start, end) (tables stay; zap_all frees them). */
uint64_t tdp_mmu_zap_range(struct tdp_mmu *mmu, unsigned int as_id, gfn_t start, gfn_t end)
{
	uint64_t zapped;

	tdp_mmu_lock(mmu);
	zapped = zap_leaves(mmu, as_id, start, end);
	tdp_mmu_unlock(mmu);
	tdp_pool_reclaim_if_outside_rcu(&mmu->core.pool);
	return zapped;
}

/* Zaps every MMIO SPTE of every tree; MMU lock held. */
static uint64_t zap_mmio_sptes(struct tdp_mmu *mmu)
{
	return change_sptes(mmu, MEM_NR_AS, 0, ~0ull, match_mmio, spte_zapped_value);
}

uint64_t tdp_mmu_memslots_changed(struct tdp_mmu *mmu, unsigned int as_id,
				  uint64_t generation, gfn_t start, gfn_t end)
{
	uint64_t zapped = 0, old = 0;

	tdp_mmu_lock(mmu);
	for (unsigned int as = 0; as < MEM_NR_AS; as++)
		if (mmu->core.slots_generation[as] > old)
			old = mmu->core.slots_generation[as];
	mmu->core.slots_generation[as_id] = generation;
	/* MMIO SPTEs keep only the generation's low bits: when those wrap, a
	 * stale one could look current again, so none may survive. */
	if (spte_mmio_gen_wrapped(&mmu->core.spte, old, generation))
		zap_mmio_sptes(mmu);
	if (start < end)
		zapped = zap_leaves(mmu, as_id, start, end);
	tdp_mmu_unlock(mmu);
	tdp_pool_reclaim_if_outside_rcu(&mmu->core.pool);
	return zapped;
}

/* Takes every table below the roots out of the trees. */
uint64_t tdp_mmu_zap_all(struct tdp_mmu *mmu)
{
	struct tdp_page *root;
	uint64_t zapped = 0;

	tdp_mmu_lock(mmu);
	for_each_root_of(mmu, MEM_NR_AS, root) {
		for (unsigned int i = 0; i < TDP_PTES_PER_TABLE; i++) {
			uint64_t old = __atomic_exchange_n(&root->spt[i], 0, __ATOMIC_ACQ_REL);

			if (old && old != SPTE_FROZEN) {
				handle_changed_spte(mmu, old, 0, mmu->core.root_level);
				zapped++;
			}
		}
	}
	if (zapped)
		mmu_zap_generation_bump(&mmu->core);
	tdp_mmu_unlock(mmu);
	tdp_pool_reclaim_if_outside_rcu(&mmu->core.pool);
	return zapped;
}

uint64_t tdp_mmu_write_protect(struct tdp_mmu *mmu, unsigned int as_id, gfn_t start, gfn_t end)
{
	uint64_t changed;

	tdp_mmu_lock(mmu);
	changed = change_sptes(mmu, as_id, start, end, match_writable_leaf, tdp_spte_write_protect);
	tdp_mmu_unlock(mmu);
	TDP_STAT_ADD(mmu, sptes_write_protected, changed);
	return changed;
}

/* Without A/D bits aging revokes access, so it bumps zap_generation too:
 * the TLBs must drop what it aged. */
uint64_t tdp_mmu_age(struct tdp_mmu *mmu, unsigned int as_id, gfn_t start, gfn_t end)
{
	uint64_t young;

	tdp_mmu_lock(mmu);
	young = change_sptes(mmu, as_id, start, end, match_young_leaf, tdp_spte_make_old);
	tdp_mmu_unlock(mmu);
	TDP_STAT_ADD(mmu, sptes_aged, young);
	return young;
}

uint64_t tdp_mmu_table_pages(struct tdp_mmu *mmu)
{
	return tdp_pool_allocated(&mmu->core.pool);
}

/* ---- roots ------------------------------------------------------------ */

/* Takes @root's whole tree down; the root is out of every list and nobody
 * holds it.  Tables are freed after a grace period. */
static void tear_down_root(struct tdp_mmu *mmu, struct tdp_page *root)
{
	handle_removed_table(mmu, root->spt, root->level);
	TDP_STAT_ADD(mmu, roots_freed, 1);
	mmu_zap_generation_bump(&mmu->core);
}

struct tdp_page *tdp_mmu_get_root(struct tdp_mmu *mmu, uint32_t role, unsigned int as_id)
{
	struct tdp_page_cache cache = { 0 };
	struct tdp_page *root;

	tdp_mmu_lock(mmu);
	for (root = mmu->roots; root; root = root->root_next)
		if (root->role == role && root->as_id == as_id && !root->invalid) {
			root->refcount++;
			tdp_mmu_unlock(mmu);
			return root;
		}
	tdp_mmu_unlock(mmu);

	/* A new root: allocated outside the lock, then linked, unless another
	 * thread linked one for the same role meanwhile. */
	if (tdp_cache_topup(&mmu->core.pool, &cache, 1))
		return NULL;
	tdp_mmu_lock(mmu);
	for (root = mmu->roots; root; root = root->root_next)
		if (root->role == role && root->as_id == as_id && !root->invalid)
			break;
	if (root) {
		root->refcount++;
	} else {
		root = tdp_cache_alloc(&cache);
		root->root = true;
		root->level = (uint8_t)mmu->core.root_level;
		root->as_id = (uint8_t)as_id;
		root->gfn = 0;
		root->role = role;
		root->invalid = false;
		root->mmu_ref = mmu->hold_root_ref;
		root->refcount = 1 + root->mmu_ref;
		root->root_next = mmu->roots;
		mmu->roots = root;
		TDP_STAT_ADD(mmu, roots_allocated, 1);
		TDP_STAT_ADD(mmu, pt_pages_allocated, 1);
	}
	tdp_mmu_unlock(mmu);
	tdp_cache_drain(&mmu->core.pool, &cache);
	return root;
}

/* Unlinks @root and takes it down or parks it; MMU lock held. */
static void root_dead(struct tdp_mmu *mmu, struct tdp_page *root)
{
	struct tdp_page **p;

	for (p = &mmu->roots; *p != root; p = &(*p)->root_next)
		;
	*p = root->root_next;
	if (mmu->sync_root_teardown) {
		tear_down_root(mmu, root);
	} else {
		root->root_next = mmu->dead_roots;
		/* Atomic: vCPU exits peek at it without the lock. */
		__atomic_store_n(&mmu->dead_roots, root, __ATOMIC_RELEASE);
	}
}

void tdp_mmu_put_root(struct tdp_mmu *mmu, struct tdp_page *root)
{
	tdp_mmu_lock(mmu);
	if (--root->refcount == 0)
		root_dead(mmu, root);
	tdp_mmu_unlock(mmu);
	tdp_pool_reclaim_if_outside_rcu(&mmu->core.pool);
}

void tdp_mmu_invalidate_all_roots(struct tdp_mmu *mmu)
{
	struct tdp_page *root, *next;

	tdp_mmu_lock(mmu);
	for (root = mmu->roots; root; root = next) {
		next = root->root_next;
		if (root->invalid)
			continue;
		__atomic_store_n(&root->invalid, true, __ATOMIC_RELEASE);  /* vCPUs read it unlocked */
		if (root->mmu_ref) {
			root->mmu_ref = false;
			if (--root->refcount == 0)
				root_dead(mmu, root);
		}
	}
	mmu_zap_generation_bump(&mmu->core);
	tdp_mmu_unlock(mmu);
	tdp_pool_reclaim_if_outside_rcu(&mmu->core.pool);
}

unsigned int tdp_mmu_reap_dead_roots(struct tdp_mmu *mmu)
{
	struct tdp_page *dead;
	unsigned int n = 0;

	/* Taking the list needs the write side for a moment; the teardown
	 * itself (compare-and-swaps and frozen SPTEs) runs on the read side. */
	tdp_mmu_lock(mmu);
	dead = mmu->dead_roots;
	__atomic_store_n(&mmu->dead_roots, NULL, __ATOMIC_RELAXED);
	tdp_mmu_unlock(mmu);
	if (!dead)
		return 0;
	tdp_mmu_read_lock(mmu);
	while (dead) {
		struct tdp_page *root = dead;

		dead = root->root_next;
		tear_down_root(mmu, root);
		n++;
	}
	tdp_mmu_unlock(mmu);
	return n;
}
