/* SPDX-License-Identifier: MIT */
/*
 * Event counters.  Each vCPU owns its counters and is their only writer;
 * other threads read them (relaxed) to sum a VM's statistics, so an
 * increment is a relaxed load and store, not a locked read-modify-write.
 */
#ifndef VMMU_VM_STATS_H
#define VMMU_VM_STATS_H

#include <stdint.h>

/* Every counter of struct vmmu_stats, in its order. */
#define VMMU_STAT_FIELDS(X) \
	X(accesses) X(walks) X(walk_retries) X(ad_updates) X(pf) X(gp) X(mmio) \
	X(pdpte_loads) X(cr_writes) X(tlb_flush) X(tlb_hit) X(tlb_miss) \
	X(pf_taken) X(pf_fixed) X(pf_spurious) X(pf_mmio_spte_created) X(pf_fast) X(mmio_exits) \
	X(exits_cr_access) X(exits_msr_write) X(exits_smi) X(exits_rsm) X(context_resets) \
	X(root_loads)

struct vcpu_stats {
#define STAT_DECLARE(name) uint64_t name;
	VMMU_STAT_FIELDS(STAT_DECLARE)
#undef STAT_DECLARE
};

static inline void stat_add(uint64_t *counter, uint64_t n)
{
	__atomic_store_n(counter, __atomic_load_n(counter, __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED);
}

static inline uint64_t stat_read(const uint64_t *counter)
{
	return __atomic_load_n(counter, __ATOMIC_RELAXED);
}

#define STAT_INC(vcpu, name) stat_add(&(vcpu)->stats.name, 1)

#endif
