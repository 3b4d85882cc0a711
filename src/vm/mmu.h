/* SPDX-License-Identifier: MIT */
/*
 * The VM's MMU for two-dimensional paging, whichever manages the EPT/NPT
 * tables: the TDP MMU (tdp/, per-root trees under a reader-writer lock) or
 * the legacy MMU (shadow/, direct shadow pages in a hash under one lock, as
 * KVM's mmu.c before the TDP MMU).  Both build the same SPTE trees out of
 * the same page pool, so what the vCPU's "hardware" walk and the VM need is
 * here: struct mmu_core, embedded first in both, and the calls that go to
 * one or the other (mmu.c), as KVM's mmu.c branches on is_tdp_mmu().
 */
#ifndef VMMU_VM_MMU_H
#define VMMU_VM_MMU_H

#include "mem/mem.h"
#include "shadow/shadow_cache.h"
#include "spte/spte.h"
#include "tdp/tdp_iter.h"
#include "tdp/tdp_page.h"

enum mmu_kind { MMU_KIND_TDP, MMU_KIND_LEGACY };

/* VM-wide counters, KVM's names where KVM has them; atomic adds. */
#define MMU_STAT_FIELDS(X) \
	X(pf_fixed) X(pf_spurious) X(pf_mmio_spte_created) X(pf_retry) \
	X(pages_4k) X(spte_zapped) X(pt_pages_freed) X(remote_tlb_flush) \
	X(sptes_write_protected) X(sptes_aged) X(roots_allocated) X(roots_freed) \
	X(pt_pages_allocated) X(mmu_cache_miss) X(mmu_shadow_zapped) X(mmu_recycled)

struct mmu_stats {
#define MMU_STAT_DECLARE(name) uint64_t name;
	MMU_STAT_FIELDS(MMU_STAT_DECLARE)
#undef MMU_STAT_DECLARE
};

#define MMU_STAT_ADD(core, name, n) __atomic_add_fetch(&(core)->stats.name, (n), __ATOMIC_RELAXED)

struct mmu_core {
	enum mmu_kind kind;
	struct spte_config spte;
	struct tdp_page_pool pool;       /* every table of every tree */
	unsigned int root_level;         /* 4; 5 when MAXPHYADDR > 48 */
	/* Bumped (release) after every change that removes or reduces a
	 * mapping, before the TLBs are told: cached translations compare it. */
	uint64_t zap_generation;
	/* The memslot generation of each address space the MMU last heard of
	 * (under the MMU lock): a fault that looked its slot up in another
	 * generation retries, so no SPTE outlives its memslot. */
	uint64_t slots_generation[MEM_NR_AS];
	struct mmu_stats stats;
};

/* What a vCPU tops up before a fault, outside the MMU lock. */
struct mmu_caches {
	struct tdp_page_cache tables;
	struct shadow_cache shadow;      /* the legacy MMU's headers and rmap entries */
};

/* Results of mmu_map(). */
enum tdp_map_result {
	TDP_MAP_FIXED,                   /* a leaf was installed */
	TDP_MAP_SPURIOUS,                /* a suitable leaf was already there */
	TDP_MAP_RETRY,                   /* lost a race: walk again */
	TDP_MAP_NOMEM,                   /* the cache ran dry */
};

/* The leaf a fault installs for one 4K GFN. */
struct tdp_leaf {
	uint64_t slots_generation;       /* of the memslot set it was found in */
	void *host_page;                 /* NULL: an MMIO SPTE */
	unsigned int access;             /* ACC_* */
	bool host_writable;
};

/* The 4K leaf a fault installs: memory, or an MMIO SPTE. */
static inline uint64_t mmu_make_leaf_spte(const struct spte_config *cfg, gfn_t gfn,
					  const struct tdp_leaf *leaf)
{
	if (!leaf->host_page)
		return spte_make_mmio(cfg, gfn, leaf->access, leaf->slots_generation);
	return spte_make_leaf(cfg, leaf->host_page, SPTE_LEVEL_4K, leaf->access,
			      leaf->host_writable, false);
}

void mmu_core_init(struct mmu_core *core, enum mmu_kind kind, enum spte_format format,
		   bool ad_enabled, unsigned int maxphyaddr);

static inline void mmu_zap_generation_bump(struct mmu_core *core)
{
	__atomic_add_fetch(&core->zap_generation, 1, __ATOMIC_RELEASE);
}

/*
 * The leaf SPTE mapping @gfn under @root, as the CPU's EPT/NPT walk finds
 * it: lockless, under RCU.  Returns the SPTE (0 if none) and its level;
 * *sptep points to it.
 */
static inline uint64_t mmu_lookup(const struct mmu_core *core, const struct tdp_page *root,
				  gfn_t gfn, uint64_t **sptep, unsigned int *level)
{
	uint64_t *spt = root->spt;

	for (unsigned int l = core->root_level;; l--) {
		uint64_t *p = &spt[tdp_spte_index(gfn, l)];
		uint64_t spte = __atomic_load_n(p, __ATOMIC_ACQUIRE);

		*sptep = p;
		*level = l;
		if (!spte_is_shadow_present(spte) || spte_is_leaf(spte, l) || l == 1)
			return spte;
		spt = spte_child_table(spte);
	}
}

/* A root made obsolete (zap of everything): vCPUs let it go at their next
 * access and load another; faults refuse it. */
static inline bool mmu_root_obsolete(const struct tdp_page *root)
{
	return __atomic_load_n(&root->invalid, __ATOMIC_ACQUIRE);
}

/* ---- the calls that go to the VM's MMU (mmu.c) ----------------------------- */

struct vmmu_vm;

int mmu_create(struct vmmu_vm *vm);
void mmu_destroy(struct vmmu_vm *vm);

/* A root for @role in @as_id with a reference for the caller, found or
 * built; NULL when the host has no memory. */
struct tdp_page *mmu_get_root(struct mmu_core *core, struct mmu_caches *caches,
			      uint32_t role, unsigned int as_id);
void mmu_put_root(struct mmu_core *core, struct tdp_page *root);
/* Fills @caches for one fault; -ENOMEM. */
int mmu_topup(struct mmu_core *core, struct mmu_caches *caches);
void mmu_drain(struct mmu_core *core, struct mmu_caches *caches);
/* Maps @gfn to @leaf at 4K under @root. */
enum tdp_map_result mmu_map(struct mmu_core *core, struct mmu_caches *caches,
			    struct tdp_page *root, gfn_t gfn, const struct tdp_leaf *leaf);

/* Host events: [start, end) in GFNs; @as_id MEM_NR_AS is every space. */
uint64_t mmu_zap_range(struct mmu_core *core, unsigned int as_id, gfn_t start, gfn_t end);
void mmu_invalidate_all_roots(struct mmu_core *core);
void mmu_memslots_changed(struct mmu_core *core, unsigned int as_id, uint64_t generation,
			  gfn_t start, gfn_t end);
/* Deferred work (dead roots, tables past their grace period); outside
 * RCU.  @cheap (a vCPU exit): only what relaxed peeks say is due, tables
 * in batches. */
void mmu_deferred_work(struct mmu_core *core, bool cheap);
/* Page-table pages in trees and caches now. */
uint64_t mmu_table_pages(struct mmu_core *core);

#endif
