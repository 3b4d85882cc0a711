/* SPDX-License-Identifier: MIT */
/* The VM's two-dimensional-paging MMU: the TDP MMU or the legacy one. */
#include <errno.h>
#include <stdlib.h>

#include "mmu.h"
#include "rcu.h"
#include "shadow/shadow_mmu.h"
#include "tdp/tdp_mmu.h"
#include "vm.h"

void mmu_core_init(struct mmu_core *core, enum mmu_kind kind, enum spte_format format,
		   bool ad_enabled, unsigned int maxphyaddr)
{
	core->kind = kind;
	spte_config_init(&core->spte, format, ad_enabled);
	/* GPAs above 2^48 need a fifth level, as 5-level EPT/NPT provide. */
	core->root_level = maxphyaddr > 48 ? 5 : 4;
}

static struct tdp_mmu *to_tdp(struct mmu_core *core)
{
	return (struct tdp_mmu *)core;
}

static struct shadow_mmu *to_legacy(struct mmu_core *core)
{
	return (struct shadow_mmu *)core;
}

/* Memslot changes reach the MMU between publish and grace period. */
static void vm_memslots_changed(void *opaque, unsigned int as_id, uint64_t generation,
				gfn_t start, gfn_t end)
{
	struct vmmu_vm *vm = opaque;

	if (vm->mmu->kind == MMU_KIND_TDP) {
		tdp_mmu_memslots_changed(to_tdp(vm->mmu), as_id, generation, start, end);
		return;
	}
	/* Under guest_mem.lock: the set just published is this generation's. */
	if (shadow_mmu_memslots_changed(to_legacy(vm->mmu), as_id,
					guest_mem_slots(&vm->mem, as_id), start, end))
		vm_log(vm, VMMU_LOG_ERROR, "no memory for the reverse maps of a memslot: "
		       "its accesses will end as MMIO exits");
}

static int tdp_create(struct vmmu_vm *vm)
{
	struct tdp_mmu *mmu = calloc(1, sizeof(*mmu));
	int ret;

	if (!mmu)
		return -ENOMEM;
	ret = tdp_mmu_init(mmu, vm->cfg.tdp_format == VMMU_TDP_NPT ? SPTE_FORMAT_NPT :
			   SPTE_FORMAT_EPT, !vm->cfg.tdp_ad_disabled, vm->cfg.maxphyaddr);
	if (ret) {
		free(mmu);
		return ret;
	}
	mmu->hold_root_ref = vm->knobs & VMMU_KNOB_TDP_MMU_HOLDS_ROOT_REF;
	mmu->sync_root_teardown = vm->knobs & VMMU_KNOB_SYNC_ROOT_TEARDOWN;
	vm->mmu = &mmu->core;
	return 0;
}

static int legacy_create(struct vmmu_vm *vm)
{
	struct shadow_mmu *mmu = calloc(1, sizeof(*mmu));
	int ret;

	if (!mmu)
		return -ENOMEM;
	ret = shadow_mmu_init(mmu, vm->cfg.tdp_format == VMMU_TDP_NPT ? SPTE_FORMAT_NPT :
			      SPTE_FORMAT_EPT, !vm->cfg.tdp_ad_disabled, vm->cfg.maxphyaddr,
			      vm->cfg.pt_mem_limit >> PAGE_SHIFT);
	if (ret) {
		free(mmu);
		return ret;
	}
	vm->mmu = &mmu->core;
	return 0;
}

int mmu_create(struct vmmu_vm *vm)
{
	int ret = vm->cfg.mmu == VMMU_MMU_TDP ? tdp_create(vm) : legacy_create(vm);

	if (ret)
		return ret;
	for (unsigned int as = 0; as < MEM_NR_AS; as++)
		vm->mmu->slots_generation[as] = vm->mem.as[as]->generation;
	vm->mem.on_change = vm_memslots_changed;
	vm->mem.on_change_opaque = vm;
	return 0;
}

void mmu_destroy(struct vmmu_vm *vm)
{
	if (vm->mmu->kind == MMU_KIND_TDP)
		tdp_mmu_destroy(to_tdp(vm->mmu));
	else
		shadow_mmu_destroy(to_legacy(vm->mmu));
	free(vm->mmu);
	vm->mmu = NULL;
}

struct tdp_page *mmu_get_root(struct mmu_core *core, struct mmu_caches *caches,
			      uint32_t role, unsigned int as_id)
{
	if (core->kind == MMU_KIND_TDP)
		return tdp_mmu_get_root(to_tdp(core), role, as_id);
	return shadow_mmu_get_root(to_legacy(core), caches, role);
}

void mmu_put_root(struct mmu_core *core, struct tdp_page *root)
{
	if (core->kind == MMU_KIND_TDP)
		tdp_mmu_put_root(to_tdp(core), root);
	else
		shadow_mmu_put_root(to_legacy(core), root);
}

int mmu_topup(struct mmu_core *core, struct mmu_caches *caches)
{
	if (core->kind == MMU_KIND_TDP)
		return tdp_cache_topup(&core->pool, &caches->tables, core->root_level - 1);
	return shadow_mmu_topup(to_legacy(core), caches);
}

void mmu_drain(struct mmu_core *core, struct mmu_caches *caches)
{
	if (core->kind == MMU_KIND_TDP)
		tdp_cache_drain(&core->pool, &caches->tables);
	else
		shadow_mmu_drain(to_legacy(core), caches);
}

enum tdp_map_result mmu_map(struct mmu_core *core, struct mmu_caches *caches,
			    struct tdp_page *root, gfn_t gfn, const struct tdp_leaf *leaf)
{
	if (core->kind == MMU_KIND_TDP)
		return tdp_mmu_map(to_tdp(core), &caches->tables, root, gfn, leaf);
	return shadow_mmu_map(to_legacy(core), caches, root, gfn, leaf);
}

uint64_t mmu_zap_range(struct mmu_core *core, unsigned int as_id, gfn_t start, gfn_t end)
{
	if (core->kind == MMU_KIND_TDP)
		return tdp_mmu_zap_range(to_tdp(core), as_id, start, end);
	return shadow_mmu_zap_range(to_legacy(core), as_id, start, end);
}

void mmu_invalidate_all_roots(struct mmu_core *core)
{
	if (core->kind == MMU_KIND_TDP)
		tdp_mmu_invalidate_all_roots(to_tdp(core));
	else
		shadow_mmu_zap_all(to_legacy(core));
}

/*
 * A grace period costs every vCPU thread a barrier (liburcu's membarrier),
 * so vCPU exits wait for one only once this many tables are waiting; KVM
 * frees them from call_rcu() without waiting at all.  At most this many
 * tables (2 MiB) wait beyond a teardown.
 */
#define MMU_RECLAIM_BATCH 512

void mmu_deferred_work(struct mmu_core *core, bool cheap)
{
	if (core->kind == MMU_KIND_TDP) {
		struct tdp_mmu *mmu = to_tdp(core);

		if (!cheap || __atomic_load_n(&mmu->dead_roots, __ATOMIC_RELAXED))
			tdp_mmu_reap_dead_roots(mmu);
	}
	if (!cheap || __atomic_load_n(&core->pool.nr_deferred, __ATOMIC_RELAXED) >=
		      MMU_RECLAIM_BATCH)
		tdp_pool_reclaim(&core->pool);
}

uint64_t mmu_table_pages(struct mmu_core *core)
{
	return tdp_pool_allocated(&core->pool);
}
