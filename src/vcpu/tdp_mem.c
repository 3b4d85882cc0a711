/* SPDX-License-Identifier: MIT */
/*
 * Guest memory through the TDP tables: the "hardware" half of the
 * two-dimensional walk.  The guest walker reads every guest page-table entry,
 * makes every A/D update and the final access through map() below, which
 * translates the GPA through the vCPU's TDP tree as the CPU's EPT/NPT walk
 * would.  A missing or insufficient SPTE is a TDP fault (an EPT violation or
 * NPT fault exit): the MMU handles it (fast path, or map on fault under the
 * MMU lock) and the translation is tried again.
 *
 * The window map() opens is the one 4K guest page just translated, and the
 * last few such pages are kept beside it (a guest walk reads one entry in
 * each of four or five table pages); they stay valid while neither the MMU
 * (zap_generation, bumped by every change that removes or reduces a
 * mapping) nor the memslots (generation) nor the root change, which
 * vcpu_tdp_mem_revalidate() checks on every access.
 */
#include <sched.h>

#include "role.h"
#include "vcpu.h"

/*
 * A fault is retried until its leaf is there when the walk looks again; it
 * can lose to other threads (a zap between its map and its walk, a memslot
 * change, a legacy MMU reclaiming under its cap), never for long: after
 * TDP_FAULT_SPINS tries it yields the CPU before each try.  Giving up is a
 * safety net against an MMU bug, not a way out of contention: the access
 * then reports MMIO, and the log says so.
 */
#define TDP_FAULT_SPINS 64
#define TDP_FAULT_TRIES (1u << 20)

/*
 * The root role of the vCPU's current state (KVM's
 * kvm_calc_tdp_mmu_root_page_role): the TDP level, the address space, A/D,
 * and, with the wp_in_tdp_role knob (before 2ba676774dfc), CR0.WP and
 * EFER.NX.
 */
static union root_role vcpu_root_role(const struct vmmu_vcpu *v)
{
	const struct mmu_core *mmu = v->vm->mmu;
	union root_role role = { .word = 0 };

	role.level = mmu->root_level;
	role.direct = 1;
	role.access = ACC_ALL;
	role.ad_disabled = !mmu->spte.ad_enabled;
	role.smm = v->regs.smm;
	if (v->vm->knobs & VMMU_KNOB_WP_IN_TDP_ROLE) {
		role.cr0_wp = !!(v->regs.cr0 & X86_CR0_WP);
		role.efer_nx = !!(v->regs.efer & X86_EFER_NXE);
	}
	return role;
}

/* Forgets every translation the vCPU's TDP walk kept. */
static void tdp_mem_forget(struct vcpu_tdp_mem *tm)
{
	tm->ops.window_size = 0;
	for (unsigned int i = 0; i < TDP_RECENT_PAGES; i++)
		tm->recent[i].gpa = ~0ull;
}

/* Lets go of the vCPU's root (KVM's kvm_mmu_unload); the next access
 * loads one again. */
void vcpu_mmu_unload(struct vmmu_vcpu *v)
{
	struct vcpu_tdp_mem *tm = &v->tdp_mem;

	if (!tm->root)
		return;
	mmu_put_root(v->vm->mmu, tm->root);
	tm->root = NULL;
	tdp_mem_forget(tm);
}

/* Finds or builds the root for the vCPU's role (KVM's kvm_mmu_load).  A
 * root load flushes the vCPU's current TLB context, as KVM's does. */
void vcpu_mmu_load(struct vmmu_vcpu *v)
{
	struct vcpu_tdp_mem *tm = &v->tdp_mem;

	tm->root = mmu_get_root(v->vm->mmu, &tm->caches, vcpu_root_role(v).word, vcpu_as_id(v));
	if (!tm->root) {
		vm_log(v->vm, VMMU_LOG_ERROR, "vCPU %u: no memory for a TDP root", v->id);
		return;
	}
	STAT_INC(v, root_loads);
	vcpu_flush_tlb(v, FLUSH_ALL, 0);
}

void vcpu_tdp_mem_revalidate(struct vmmu_vcpu *v)
{
	struct vcpu_tdp_mem *tm = &v->tdp_mem;
	uint64_t gen;
	const struct memslot_set *set;

	/* An obsolete root is dropped at the vCPU's next access. */
	if (tm->root && mmu_root_obsolete(tm->root))
		vcpu_mmu_unload(v);
	if (!tm->root)
		vcpu_mmu_load(v);
	gen = __atomic_load_n(&v->vm->mmu->zap_generation, __ATOMIC_ACQUIRE);
	set = guest_mem_slots(&v->vm->mem, vcpu_as_id(v));
	if (gen != tm->zap_generation || set->generation != tm->slots_generation) {
		tdp_mem_forget(tm);
		tm->zap_generation = gen;
		tm->slots_generation = set->generation;
	}
}

/* Handles a TDP fault on @gfn: false when the access ends as an MMIO exit. */
static bool tdp_fault(struct vmmu_vcpu *v, const struct memslot_set *set, gfn_t gfn, bool write)
{
	struct mmu_core *mmu = v->vm->mmu;
	const struct memslot *slot = memslot_find(set, gfn);
	struct tdp_leaf leaf = { .access = ACC_ALL, .slots_generation = set->generation };
	enum tdp_map_result ret;

	STAT_INC(v, pf_taken);
	if (slot && write && (slot->flags & VMMU_MEMSLOT_READONLY))
		return false;             /* a write to ROM: the VMM emulates it */
	if (slot) {
		leaf.host_page = memslot_hva(slot, gfn_to_gpa(gfn));
		leaf.host_writable = !(slot->flags & VMMU_MEMSLOT_READONLY);
	}
	if (mmu_topup(mmu, &v->tdp_mem.caches)) {
		vm_log(v->vm, VMMU_LOG_ERROR, "vCPU %u: no memory for TDP page tables", v->id);
		return false;
	}
	if (!v->tdp_mem.root)
		return false;
	ret = mmu_map(mmu, &v->tdp_mem.caches, v->tdp_mem.root, gfn, &leaf);
	switch (ret) {
	case TDP_MAP_FIXED:
		if (slot)
			STAT_INC(v, pf_fixed);
		else
			STAT_INC(v, pf_mmio_spte_created);
		break;
	case TDP_MAP_SPURIOUS:
		STAT_INC(v, pf_spurious);
		break;
	case TDP_MAP_RETRY:
		/* Another thread changed the tree or the memslots: let it
		 * finish before walking again. */
		sched_yield();
		break;
	case TDP_MAP_NOMEM:
		vm_log(v->vm, VMMU_LOG_ERROR, "vCPU %u: TDP page-table cache ran dry", v->id);
		return false;
	}
	return true;
}

/*
 * pt_mem.map() in TDP mode: the host address of @gpa as the hardware's TDP
 * walk finds it, faulting it in first when needed.  NULL: no RAM (an MMIO
 * SPTE), or a write the host does not allow (read-only memslot).
 */
static void *tdp_mem_map(struct pt_mem *mem, gpa_t gpa, bool write)
{
	struct vcpu_tdp_mem *tm = (struct vcpu_tdp_mem *)mem;
	struct vmmu_vcpu *v = tm->vcpu;
	struct mmu_core *mmu = v->vm->mmu;
	const struct spte_config *cfg = &mmu->spte;
	unsigned int acc = write ? ACC_WRITE : 0, as = vcpu_as_id(v);
	gfn_t gfn = gpa_to_gfn(gpa);

	/* A page translated lately: no TDP walk. */
	for (unsigned int i = 0; i < TDP_RECENT_PAGES; i++) {
		const struct tdp_recent_page *p = &tm->recent[i];

		if (p->gpa == (gpa & PAGE_MASK) && (!write || p->writable)) {
			mem->window_gpa = p->gpa;
			mem->window_hva = p->hva;
			mem->window_size = PAGE_SIZE;
			mem->window_writable = p->writable;
			return p->hva + (gpa & ~PAGE_MASK);
		}
	}
	for (unsigned int tries = 0; tries < TDP_FAULT_TRIES; tries++) {
		const struct memslot_set *set = guest_mem_slots(&v->vm->mem, as);
		uint64_t *sptep, spte, fixed;
		unsigned int level;
		uint8_t *host;

		if (tries >= TDP_FAULT_SPINS)
			sched_yield();

		/* Made obsolete since this access began (a zap of everything):
		 * faults refuse it, so load the root of the day, as the vCPU
		 * would on its next entry. */
		if (tm->root && mmu_root_obsolete(tm->root)) {
			vcpu_mmu_unload(v);
			vcpu_mmu_load(v);
		}
		if (!tm->root)
			return NULL;      /* no memory for a root: logged */
		spte = mmu_lookup(mmu, tm->root, gfn, &sptep, &level);
		switch (spte_classify(cfg, spte, acc)) {
		case SPTE_OK:
			/* What the CPU's walk writes back: A, and D for a write. */
			fixed = spte_set_hw_ad(cfg, spte, level, write);
			if (fixed != spte)
				__atomic_compare_exchange_n(sptep, &spte, fixed, false,
							    __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
			host = (uint8_t *)spte_host_addr(spte) +
			       (gpa & (spte_level_size(level) - 1));
			mem->window_gpa = gpa & PAGE_MASK;
			mem->window_hva = host - (gpa & ~PAGE_MASK);
			mem->window_size = PAGE_SIZE;
			/* Writes through the window skip this walk: only once D
			 * is set (the dirty state the MMU will look for). */
			mem->window_writable = spte_permits(cfg, fixed, ACC_WRITE) &&
					       spte_is_dirty(cfg, fixed);
			tm->recent[tm->recent_next++ % TDP_RECENT_PAGES] = (struct tdp_recent_page){
				.gpa = mem->window_gpa, .hva = mem->window_hva,
				.writable = mem->window_writable,
			};
			return host;
		case SPTE_FAULT_MISCONFIG:
			if (spte_is_mmio(cfg, spte) &&
			    spte_mmio_generation_matches(cfg, spte, set->generation)) {
				STAT_INC(v, mmio_exits);
				return NULL;
			}
			break;            /* stale: a memslot came or went */
		case SPTE_FAULT_ACCESS_TRACKED:
		case SPTE_FAULT_WRITE_PROTECTED:
			/* KVM's fast page fault: fixed in place, no MMU lock. */
			fixed = spte_fast_fix(cfg, spte, acc);
			if (spte_permits(cfg, fixed, acc)) {
				if (__atomic_compare_exchange_n(sptep, &spte, fixed, false,
								__ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
					STAT_INC(v, pf_fast);
				continue;
			}
			break;
		default:
			break;
		}
		if (!tdp_fault(v, set, gfn, write))
			return NULL;
	}
	vm_log(v->vm, VMMU_LOG_WARN, "vCPU %u: TDP fault on GPA %#llx keeps losing races",
	       v->id, (unsigned long long)gpa);
	return NULL;
}

void vcpu_tdp_mem_init(struct vmmu_vcpu *v)
{
	v->tdp_mem = (struct vcpu_tdp_mem){
		.ops = { .map = tdp_mem_map },
		.vcpu = v,
		.zap_generation = UINT64_MAX,
		.slots_generation = UINT64_MAX,
	};
	tdp_mem_forget(&v->tdp_mem);
}

void vcpu_tdp_mem_destroy(struct vmmu_vcpu *v)
{
	vcpu_mmu_unload(v);
	mmu_drain(v->vm->mmu, &v->tdp_mem.caches);
}
