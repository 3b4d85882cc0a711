/* SPDX-License-Identifier: MIT */
/* vCPU life cycle, guest mode, and TLB invalidation requests. */
#include <errno.h>
#include <stdlib.h>

#include "vcpu.h"
#include "vm/rcu.h"

int vmmu_vcpu_create(struct vmmu_vm *vm, uint32_t id, struct vmmu_vcpu **out)
{
	struct vmmu_vcpu *v;

	if (!vm || !out || id >= vm->cfg.max_vcpus)
		return -EINVAL;
	v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	v->vm = vm;
	v->id = id;
	vcpu_pt_mem_init(v);
	vcpu_reset_regs(v);

	pthread_mutex_lock(&vm->vcpus_lock);
	if (vm->vcpus[id]) {
		pthread_mutex_unlock(&vm->vcpus_lock);
		free(v);
		return -EEXIST;
	}
	vm->vcpus[id] = v;
	pthread_mutex_unlock(&vm->vcpus_lock);
	*out = v;
	return 0;
}

void vmmu_vcpu_destroy(struct vmmu_vcpu *v)
{
	struct vmmu_vm *vm;

	if (!v)
		return;
	vm = v->vm;
	if (v->in_guest_mode)
		vmmu_vcpu_exit(v);
	pthread_mutex_lock(&vm->vcpus_lock);
#define STAT_RETIRE(name) vm->retired.name += v->stats.name;
	VMMU_STAT_FIELDS(STAT_RETIRE)
#undef STAT_RETIRE
	vm->vcpus[v->id] = NULL;
	pthread_mutex_unlock(&vm->vcpus_lock);
	free(v);
}

/* Guest mode is an RCU read-side critical section: memslot changes wait for
 * it to end before the old host memory may go away. */
int vmmu_vcpu_enter(struct vmmu_vcpu *v)
{
	if (!v)
		return -EINVAL;
	if (v->in_guest_mode)
		return -EBUSY;
	vcpu_enter_guest_mode(v);
	return 0;
}

void vcpu_enter_guest_mode(struct vmmu_vcpu *v)
{
	vm_rcu_read_lock();
	v->in_guest_mode = true;
}

int vmmu_vcpu_exit(struct vmmu_vcpu *v)
{
	if (!v || !v->in_guest_mode)
		return -EINVAL;
	v->in_guest_mode = false;
	vm_rcu_read_unlock();
	return 0;
}

void vcpu_flush_tlb(struct vmmu_vcpu *v, enum vcpu_flush kind, gva_t gva)
{
	(void)kind;
	(void)gva;
	STAT_INC(v, tlb_flush);
}

int vmmu_vcpu_invlpg(struct vmmu_vcpu *v, vmmu_gva_t gva)
{
	if (!v)
		return -EINVAL;
	vcpu_flush_tlb(v, FLUSH_PAGE, gva);
	return 0;
}

int vmmu_vcpu_flush(struct vmmu_vcpu *v)
{
	if (!v)
		return -EINVAL;
	vcpu_flush_tlb(v, FLUSH_ALL, 0);
	return 0;
}
