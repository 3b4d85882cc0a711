/* SPDX-License-Identifier: MIT */
/* The VM: creation, memslot calls, statistics, library-wide queries. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rcu.h"
#include "vcpu/vcpu.h"
#include "vm.h"

uint64_t vmmu_capabilities(void)
{
	return VMMU_CAP_MMU_DIRECT | VMMU_CAP_LA57 | VMMU_CAP_PKU | VMMU_CAP_PKS |
	       VMMU_CAP_PCID | VMMU_CAP_SMM;
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
	if (out->mmu != VMMU_MMU_DIRECT)
		return -EINVAL;
	if (!out->maxphyaddr)
		out->maxphyaddr = VM_DEFAULT_MAXPHYADDR;
	if (out->maxphyaddr < 36 || out->maxphyaddr > 52)
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
	if (!vm->vcpus) {
		ret = -ENOMEM;
		goto fail;
	}
	ret = guest_mem_init(&vm->mem, vm->cfg.maxphyaddr);
	if (ret)
		goto fail;
	pthread_mutex_init(&vm->vcpus_lock, NULL);
	*out = vm;
	return 0;
fail:
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
	guest_mem_destroy(&vm->mem);
	pthread_mutex_destroy(&vm->vcpus_lock);
	free(vm->vcpus);
	free(vm);
}

int vmmu_memslot_add(struct vmmu_vm *vm, const struct vmmu_memslot *slot)
{
	if (!vm || !slot)
		return -EINVAL;
	if (vm_rcu_read_ongoing())
		return -EDEADLK;
	return guest_mem_add(&vm->mem, slot);
}

int vmmu_memslot_delete(struct vmmu_vm *vm, uint32_t as_id, uint32_t id)
{
	if (!vm)
		return -EINVAL;
	if (vm_rcu_read_ongoing())
		return -EDEADLK;
	return guest_mem_delete(&vm->mem, as_id, id);
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
	size = stats->size < sizeof(sum) ? stats->size : sizeof(sum);
	sum.size = (uint32_t)size;
	memcpy(stats, &sum, size);
	return 0;
}
