/* SPDX-License-Identifier: MIT */
/* The VM: creation, memslot calls, statistics, library-wide queries. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rcu.h"
#include "mmu.h"
#include "vcpu/vcpu.h"
#include "vm.h"

uint64_t vmmu_capabilities(void)
{
	return VMMU_CAP_MMU_DIRECT | VMMU_CAP_LA57 | VMMU_CAP_PKU | VMMU_CAP_PKS |
	       VMMU_CAP_PCID | VMMU_CAP_SMM | VMMU_CAP_MMU_TDP | VMMU_CAP_MMU_TDP_LEGACY;
}

const char *vmmu_version(void)
{
	return "0.1.0";
}

const char *vmmu_strerror(int err)
{
	switch (err) {
	case 0: return "success";
	case VMMU_EXC_GP: return "general-protection fault (#GP)";
	case -EINVAL: return "invalid argument";
	case -ENOMEM: return "out of memory";
	case -EEXIST: return "already exists or overlaps";
	case -ENOENT: return "no such object";
	case -EBUSY: return "busy";
	case -EDEADLK: return "call would deadlock (made inside guest mode)";
	default: return "unknown error";
	}
}

/*
 * The knobs as each kernel shipped them (DESIGN.md, "The 2023 history as
 * knobs"; verified in docs/HISTORY.md).
 */
uint32_t vmmu_policy_knobs(uint32_t policy)
{
	switch (policy) {
	case VMMU_POLICY_5_10:
		return VMMU_KNOB_WP_IN_TDP_ROLE | VMMU_KNOB_CR0_WP_EXITS | VMMU_KNOB_SYNC_ROOT_TEARDOWN;
	case VMMU_POLICY_6_1:
		return VMMU_KNOB_CR0_WP_EXITS;
	case VMMU_POLICY_6_4:
		return VMMU_KNOB_WP_CHANGE_KEEPS_ROOTS | VMMU_KNOB_TDP_MMU_HOLDS_ROOT_REF;
	default:
		return 0;
	}
}

const char *vmmu_knob_name(unsigned int index)
{
	static const char *const names[] = {
		"wp_in_tdp_role", "cr0_wp_exits", "wp_change_keeps_roots",
		"tdp_mmu_holds_root_ref", "sync_root_teardown",
	};

	return index < ARRAY_SIZE(names) ? names[index] : NULL;
}

/* Copies a caller's config of any known size; fields it lacks stay 0. */
static int config_normalise(const struct vmmu_vm_config *in, struct vmmu_vm_config *out)
{
	size_t size;

	if (!in || in->size < offsetof(struct vmmu_vm_config, log))
		return -EINVAL;
	size = in->size < sizeof(*out) ? in->size : sizeof(*out);
	memset(out, 0, sizeof(*out));
	memcpy(out, in, size);
	out->size = sizeof(*out);
	if (out->mmu > VMMU_MMU_TDP_LEGACY)
		return -EINVAL;
	if (out->mmu != VMMU_MMU_DIRECT && out->tdp_format > VMMU_TDP_NPT)
		return -EINVAL;
	/* NPT has no way to run without accessed and dirty bits. */
	if (out->tdp_ad_disabled > 1 ||
	    (out->tdp_ad_disabled && (out->mmu == VMMU_MMU_DIRECT ||
				      out->tdp_format != VMMU_TDP_EPT)))
		return -EINVAL;
	if (out->reserved)
		return -EINVAL;
	/* The legacy MMU's cap: whole pages, enough for one fault's tables. */
	if (out->pt_mem_limit && (out->mmu != VMMU_MMU_TDP_LEGACY ||
				  out->pt_mem_limit & ~PAGE_MASK ||
				  out->pt_mem_limit < VM_MIN_PT_MEM_LIMIT))
		return -EINVAL;
	if (!out->maxphyaddr)
		out->maxphyaddr = VM_DEFAULT_MAXPHYADDR;
	if (out->maxphyaddr < 36 || out->maxphyaddr > 52)
		return -EINVAL;
	if (out->policy > VMMU_POLICY_6_1 || (out->knobs_set & ~VMMU_KNOB_ALL) ||
	    (out->knobs & ~out->knobs_set))
		return -EINVAL;
	if (!out->max_vcpus)
		out->max_vcpus = 1024;
	if (out->max_vcpus > VM_MAX_VCPUS_LIMIT)
		return -EINVAL;
	return 0;
}

int vmmu_vm_create(const struct vmmu_vm_config *cfg, struct vmmu_vm **out)
{
	struct vmmu_vm *vm;
	int ret;

	if (!out)
		return -EINVAL;
	vm = calloc(1, sizeof(*vm));
	if (!vm)
		return -ENOMEM;
	ret = config_normalise(cfg, &vm->cfg);
	if (ret)
		goto fail;
	vm->vcpus = calloc(vm->cfg.max_vcpus, sizeof(vm->vcpus[0]));
	vm->tlb_req_vcpus = calloc(vm->cfg.max_vcpus, sizeof(vm->tlb_req_vcpus[0]));
	vm->tlb_req_seqs = calloc(vm->cfg.max_vcpus, sizeof(vm->tlb_req_seqs[0]));
	if (!vm->vcpus || !vm->tlb_req_vcpus || !vm->tlb_req_seqs) {
		ret = -ENOMEM;
		goto fail;
	}
	ret = guest_mem_init(&vm->mem, vm->cfg.maxphyaddr);
	if (ret)
		goto fail;
	vm->knobs = (vmmu_policy_knobs(vm->cfg.policy) & ~vm->cfg.knobs_set) | vm->cfg.knobs;
	if (vm->cfg.mmu != VMMU_MMU_DIRECT) {
		ret = mmu_create(vm);
		if (ret) {
			guest_mem_destroy(&vm->mem);
			goto fail;
		}
	}
	pthread_mutex_init(&vm->vcpus_lock, NULL);
	pthread_mutex_init(&vm->tlb_req_lock, NULL);
	pthread_mutex_init(&vm->kick_lock, NULL);
	pthread_cond_init(&vm->kick_cond, NULL);
	pthread_mutex_init(&vm->memslot_lock, NULL);
	*out = vm;
	return 0;
fail:
	free(vm->tlb_req_vcpus);
	free(vm->tlb_req_seqs);
	free(vm->vcpus);
	free(vm);
	return ret;
}

void vmmu_vm_destroy(struct vmmu_vm *vm)
{
	if (!vm)
		return;
	for (uint32_t i = 0; i < vm->cfg.max_vcpus; i++)
		if (vm->vcpus[i]) {
			vm_log(vm, VMMU_LOG_WARN, "vCPU %u still exists at VM destruction", i);
			vmmu_vcpu_destroy(vm->vcpus[i]);
		}
	if (vm->mmu)
		mmu_destroy(vm);
	guest_mem_destroy(&vm->mem);
	pthread_mutex_destroy(&vm->vcpus_lock);
	pthread_mutex_destroy(&vm->tlb_req_lock);
	pthread_mutex_destroy(&vm->kick_lock);
	pthread_cond_destroy(&vm->kick_cond);
	pthread_mutex_destroy(&vm->memslot_lock);
	free(vm->tlb_req_vcpus);
	free(vm->tlb_req_seqs);
	free(vm->vcpus);
	free(vm);
}

int vmmu_vm_zap(struct vmmu_vm *vm, vmmu_gpa_t gpa, uint64_t size)
{
	if (!vm || !size || ((gpa | size) & ~PAGE_MASK) || gpa + (size - 1) < gpa)
		return -EINVAL;
	if (vm_rcu_read_ongoing())
		return -EDEADLK;
	/* The SPTEs first (no new TLB fill can find them), then every
	 * vCPU's cached translations of the range. */
	if (vm->mmu)
		mmu_zap_range(vm->mmu, MEM_NR_AS, gpa_to_gfn(gpa),
			      gpa_to_gfn(gpa) + (size >> PAGE_SHIFT));
	vm_tlb_invalidate_gpa_range(vm, gpa, size);
	return 0;
}

int vmmu_vm_zap_all(struct vmmu_vm *vm)
{
	if (!vm)
		return -EINVAL;
	if (vm_rcu_read_ongoing())
		return -EDEADLK;
	/* Roots first (no new fill can use them), then the TLBs. */
	if (vm->mmu)
		mmu_invalidate_all_roots(vm->mmu);
	vm_tlb_flush_all(vm);
	return 0;
}

int vmmu_vm_poll(struct vmmu_vm *vm)
{
	if (!vm)
		return -EINVAL;
	if (vm_rcu_read_ongoing())
		return -EDEADLK;
	if (vm->mmu)
		mmu_deferred_work(vm->mmu, false);
	return 0;
}

int vmmu_memslot_add(struct vmmu_vm *vm, const struct vmmu_memslot *slot)
{
	int ret;

	if (!vm || !slot)
		return -EINVAL;
	if (vm_rcu_read_ongoing())
		return -EDEADLK;
	/* No TLB entry maps the new slot's GPAs to host memory: an entry
	 * there is MMIO, and an MMIO hit looks the GPA up again. */
	pthread_mutex_lock(&vm->memslot_lock);
	ret = guest_mem_add(&vm->mem, slot);
	pthread_mutex_unlock(&vm->memslot_lock);
	return ret;
}

/* The GPA range of slot (@as_id, @id), or false.  Under memslot_lock. */
static bool memslot_range(struct vmmu_vm *vm, uint32_t as_id, uint32_t id, gpa_t *gpa,
			  uint64_t *size)
{
	const struct memslot_set *set = guest_mem_slots(&vm->mem, as_id);

	for (unsigned int i = 0; i < set->nr; i++)
		if (set->slots[i].id == id) {
			*gpa = gfn_to_gpa(set->slots[i].base_gfn);
			*size = set->slots[i].npages << PAGE_SHIFT;
			return true;
		}
	return false;
}

int vmmu_memslot_delete(struct vmmu_vm *vm, uint32_t as_id, uint32_t id)
{
	uint64_t size = 0;
	gpa_t gpa = 0;
	int ret;

	if (!vm || as_id >= MEM_NR_AS)
		return -EINVAL;
	if (vm_rcu_read_ongoing())
		return -EDEADLK;
	/* Memslot calls are serialised: the set read here is the one the
	 * deletion changes. */
	pthread_mutex_lock(&vm->memslot_lock);
	if (!memslot_range(vm, as_id, id, &gpa, &size)) {
		pthread_mutex_unlock(&vm->memslot_lock);
		return -ENOENT;
	}
	ret = guest_mem_delete(&vm->mem, as_id, id);
	/* Every vCPU that was in guest mode has left it since (grace period);
	 * the TLB entries into the slot go before the caller may free it. */
	if (!ret)
		vm_tlb_invalidate_gpa_range(vm, gpa, size);
	pthread_mutex_unlock(&vm->memslot_lock);
	return ret;
}

int vmmu_memslot_update(struct vmmu_vm *vm, const struct vmmu_memslot *slot)
{
	uint64_t size = 0;
	gpa_t gpa = 0;
	int ret;

	if (!vm || !slot || slot->as_id >= MEM_NR_AS)
		return -EINVAL;
	if (vm_rcu_read_ongoing())
		return -EDEADLK;
	pthread_mutex_lock(&vm->memslot_lock);
	if (!memslot_range(vm, slot->as_id, slot->id, &gpa, &size)) {
		pthread_mutex_unlock(&vm->memslot_lock);
		return -ENOENT;
	}
	/* The old range loses its mapping, as for a deletion: its SPTEs
	 * went with the memslot change, its TLB entries go now. */
	ret = guest_mem_update(&vm->mem, slot);
	if (!ret)
		vm_tlb_invalidate_gpa_range(vm, gpa, size);
	pthread_mutex_unlock(&vm->memslot_lock);
	return ret;
}

/* ---- cross-vCPU TLB requests (KVM's request-and-kick) -------------------- */

/* Polls before blocking: a vCPU in guest mode usually acknowledges within
 * its next access, a few hundred nanoseconds away. */
#define VM_KICK_SPINS 256

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

void vm_kick_waiters(struct vmmu_vm *vm)
{
	/* Sequentially consistent with the waiter's increment: a waiter that
	 * missed the vCPU's change is counted here. */
	if (__atomic_load_n(&vm->kick_waiters, __ATOMIC_SEQ_CST)) {
		pthread_mutex_lock(&vm->kick_lock);
		pthread_cond_broadcast(&vm->kick_cond);
		pthread_mutex_unlock(&vm->kick_lock);
	}
}

static void vm_wait_for_vcpu(struct vmmu_vm *vm, struct vmmu_vcpu *v, uint64_t seq)
{
	for (unsigned int spin = 0; spin < VM_KICK_SPINS; spin++) {
		if (vcpu_request_done(v, seq))
			return;
		cpu_relax();
	}
	pthread_mutex_lock(&vm->kick_lock);
	__atomic_add_fetch(&vm->kick_waiters, 1, __ATOMIC_SEQ_CST);
	while (!vcpu_request_done(v, seq))
		pthread_cond_wait(&vm->kick_cond, &vm->kick_lock);
	__atomic_sub_fetch(&vm->kick_waiters, 1, __ATOMIC_SEQ_CST);
	pthread_mutex_unlock(&vm->kick_lock);
}

static void vm_tlb_request(struct vmmu_vm *vm, unsigned int req, gpa_t start, gpa_t end)
{
	unsigned int n = 0;

	vcpu_thread_block_begin();
	pthread_mutex_lock(&vm->tlb_req_lock);
	pthread_mutex_lock(&vm->vcpus_lock);
	for (uint32_t i = 0; i < vm->cfg.max_vcpus; i++) {
		struct vmmu_vcpu *v = vm->vcpus[i];

		if (!v)
			continue;
		vm->tlb_req_vcpus[n] = v;
		vm->tlb_req_seqs[n++] = vcpu_request_post(v, req, start, end);
	}
	pthread_mutex_unlock(&vm->vcpus_lock);
	for (unsigned int k = 0; k < n; k++)
		vm_wait_for_vcpu(vm, vm->tlb_req_vcpus[k], vm->tlb_req_seqs[k]);
	pthread_mutex_unlock(&vm->tlb_req_lock);
	vcpu_thread_block_end();
}

void vm_tlb_flush_all(struct vmmu_vm *vm)
{
	vm_tlb_request(vm, VCPU_REQ_FLUSH_ALL, 0, 0);
}

static gpa_t range_end(gpa_t gpa, uint64_t size)
{
	return gpa + size < gpa ? ~(gpa_t)0 : gpa + size;
}

void vm_tlb_invalidate_gpa_range(struct vmmu_vm *vm, gpa_t gpa, uint64_t size)
{
	if (size)
		vm_tlb_request(vm, VCPU_REQ_DROP_RANGE, gpa, range_end(gpa, size));
}

void vm_tlb_write_protect_gpa_range(struct vmmu_vm *vm, gpa_t gpa, uint64_t size)
{
	if (size)
		vm_tlb_request(vm, VCPU_REQ_WP_RANGE, gpa, range_end(gpa, size));
}

/* In the order of struct vmmu_stats. */
static const char *const stat_names[] = {
	"accesses", "walks", "walk_retries", "ad_updates", "pf", "gp", "mmio",
	"pdpte_loads", "cr_writes", "tlb_flush", "tlb_hit", "tlb_miss",
	"pf_taken", "pf_fixed", "pf_spurious", "pf_mmio_spte_created", "pf_fast", "mmio_exits",
	"pages_4k", "spte_zapped", "pt_pages", "pt_pages_freed", "sptes_write_protected",
	"sptes_aged", "exits_cr_access", "exits_msr_write", "exits_smi", "exits_rsm",
	"context_resets", "root_loads", "roots_allocated", "roots_freed", "pt_pages_allocated",
	"mmu_cache_miss", "mmu_shadow_zapped", "mmu_recycled",
};

_Static_assert(ARRAY_SIZE(stat_names) ==
	       (sizeof(struct vmmu_stats) - offsetof(struct vmmu_stats, accesses)) / sizeof(uint64_t),
	       "stat_names[] must name every counter of struct vmmu_stats");

const char *vmmu_stat_name(unsigned int index)
{
	return index < ARRAY_SIZE(stat_names) ? stat_names[index] : NULL;
}

int vmmu_vm_get_stats(struct vmmu_vm *vm, struct vmmu_stats *stats)
{
	struct vmmu_stats sum = { .size = sizeof(sum) };
	size_t size;

	if (!vm || !stats || stats->size < offsetof(struct vmmu_stats, accesses))
		return -EINVAL;
	pthread_mutex_lock(&vm->vcpus_lock);
#define STAT_SUM_RETIRED(name) sum.name = vm->retired.name;
	VMMU_STAT_FIELDS(STAT_SUM_RETIRED)
#undef STAT_SUM_RETIRED
	for (uint32_t i = 0; i < vm->cfg.max_vcpus; i++) {
		const struct vmmu_vcpu *v = vm->vcpus[i];

		if (!v)
			continue;
#define STAT_SUM(name) sum.name += stat_read(&v->stats.name);
		VMMU_STAT_FIELDS(STAT_SUM)
#undef STAT_SUM
	}
	pthread_mutex_unlock(&vm->vcpus_lock);
	if (vm->mmu) {
		const struct mmu_stats *t = &vm->mmu->stats;

		sum.pages_4k = __atomic_load_n(&t->pages_4k, __ATOMIC_RELAXED);
		sum.spte_zapped = __atomic_load_n(&t->spte_zapped, __ATOMIC_RELAXED);
		sum.pt_pages = mmu_table_pages(vm->mmu);
		sum.pt_pages_freed = __atomic_load_n(&t->pt_pages_freed, __ATOMIC_RELAXED);
		sum.sptes_write_protected = __atomic_load_n(&t->sptes_write_protected, __ATOMIC_RELAXED);
		sum.sptes_aged = __atomic_load_n(&t->sptes_aged, __ATOMIC_RELAXED);
		sum.roots_allocated = __atomic_load_n(&t->roots_allocated, __ATOMIC_RELAXED);
		sum.roots_freed = __atomic_load_n(&t->roots_freed, __ATOMIC_RELAXED);
		sum.pt_pages_allocated = __atomic_load_n(&t->pt_pages_allocated, __ATOMIC_RELAXED);
		sum.mmu_cache_miss = __atomic_load_n(&t->mmu_cache_miss, __ATOMIC_RELAXED);
		sum.mmu_shadow_zapped = __atomic_load_n(&t->mmu_shadow_zapped, __ATOMIC_RELAXED);
		sum.mmu_recycled = __atomic_load_n(&t->mmu_recycled, __ATOMIC_RELAXED);
	}
	size = stats->size < sizeof(sum) ? stats->size : sizeof(sum);
	sum.size = (uint32_t)size;
	memcpy(stats, &sum, size);
	return 0;
}
