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

struct vmmu_vm {
	struct vmmu_vm_config cfg;   /* normalised: maxphyaddr, max_vcpus set */
	struct guest_mem mem;
	pthread_mutex_t vcpus_lock;  /* protects vcpus[] and retired */
	struct vmmu_vcpu **vcpus;    /* indexed by vCPU id */
	struct vcpu_stats retired;   /* counters of destroyed vCPUs */
};

void vm_log(struct vmmu_vm *vm, enum vmmu_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
