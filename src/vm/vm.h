/* SPDX-License-Identifier: MIT */
/* The VM object: configuration, guest memory, the vCPU table, logging. */
#ifndef VMMU_VM_VM_H
#define VMMU_VM_VM_H

#include <pthread.h>

#include "mem/mem.h"
#include "stats.h"
#include "vmmu.h"

#define VM_MAX_VCPUS_LIMIT 4096
#define VM_DEFAULT_MAXPHYADDR 46
/* The smallest legacy-MMU cap: a 4-level root and one path under it (the
 * cap can only be exceeded while every page is in use as a root). */
#define VM_MIN_PT_MEM_LIMIT (4 * PAGE_SIZE)

struct mmu_core;

struct vmmu_vm {
	struct vmmu_vm_config cfg;   /* normalised: maxphyaddr, max_vcpus set */
	struct guest_mem mem;
	struct mmu_core *mmu;        /* the TDP or legacy MMU (mmu.h); NULL in direct mode */
	uint32_t knobs;              /* VMMU_KNOB_*: the policy with overrides */
	pthread_mutex_t vcpus_lock;  /* protects vcpus[] and retired */
	struct vmmu_vcpu **vcpus;    /* indexed by vCPU id */
	struct vcpu_stats retired;   /* counters of destroyed vCPUs */
	/*
	 * Cross-vCPU TLB requests (vm_tlb_*).  Requesters serialise on
	 * tlb_req_lock, held for as long as they look at a vCPU (a vCPU is
	 * destroyed under it); the snapshot of vCPUs and seqs they wait for.
	 */
	pthread_mutex_t tlb_req_lock;
	struct vmmu_vcpu **tlb_req_vcpus;
	uint64_t *tlb_req_seqs;
	/* Requesters block on kick_cond; a vCPU that acknowledges or leaves
	 * guest mode broadcasts it when kick_waiters is not 0. */
	pthread_mutex_t kick_lock;
	pthread_cond_t kick_cond;
	uint32_t kick_waiters;
	pthread_mutex_t memslot_lock;  /* serialises the memslot calls */
};

void vm_log(struct vmmu_vm *vm, enum vmmu_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * Invalidations of every vCPU's TLB, for whoever changes what an entry may
 * map: memslot deletion, and an MMU that zaps (drop) or write-protects
 * (writes go to the slow path) guest-physical memory.  KVM's
 * request-and-kick: each vCPU gets the request; the call returns when every
 * vCPU has applied it (at its next library call) or is outside guest mode
 * (a vCPU outside applies it when it enters).  The caller blocks, after a
 * short spin, rather than spins; a caller that is itself a vCPU thread in
 * guest mode counts as outside guest mode while it waits.  Any thread; must
 * not be called with a lock held that a vCPU thread in guest mode may wait
 * for inside the library (unless that vCPU marks itself outside guest mode
 * around the wait: vcpu_thread_block_begin/end).
 */
void vm_tlb_flush_all(struct vmmu_vm *vm);
void vm_tlb_invalidate_gpa_range(struct vmmu_vm *vm, gpa_t gpa, uint64_t size);
void vm_tlb_write_protect_gpa_range(struct vmmu_vm *vm, gpa_t gpa, uint64_t size);

/* For vCPUs: wakes the requesters after an acknowledgement or a guest-mode exit. */
void vm_kick_waiters(struct vmmu_vm *vm);

#endif
