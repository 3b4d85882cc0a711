/* SPDX-License-Identifier: MIT */
/*
 * The scenario executor: guest memory as the replayer's VMM manages it
 * (replay_mem.c, so a recording replays on the same memslots), vCPUs, and
 * each guest operation through the public API, written as a trace line when
 * recording.
 */
#include <inttypes.h>
#include <string.h>

#include "scenario_internal.h"

static const char *const reg_names[VMMU_REG_NR] = {
	[VMMU_REG_CR0] = "cr0", [VMMU_REG_CR3] = "cr3", [VMMU_REG_CR4] = "cr4",
	[VMMU_REG_EFER] = "efer", [VMMU_REG_CPL] = "cpl", [VMMU_REG_SMM] = "smm",
};

/* Touches every host page of the guest's memory once: the host's own
 * first-touch faults are not the MMU's to pay for. */
static void prefault(struct replay_mem *m)
{
	for (size_t i = 0; i < m->nr; i++)
		for (size_t k = 0; k < m->slots[i].nr_pieces; k++) {
			volatile uint8_t *h = m->slots[i].pieces[k].host;

			for (uint64_t off = 0; off < m->slots[i].pieces[k].size; off += G_PAGE)
				h[off] = 0;
		}
}

int scen_exec_create(struct scen_exec *x, const struct scenario_params *p, FILE *trace,
		     char *err, size_t errlen)
{
	struct vmmu_vm_config cfg = {
		.size = sizeof(cfg), .mmu = p->mmu, .tdp_format = p->tdp_format,
		.policy = p->policy, .knobs_set = p->knobs_set, .knobs = p->knobs,
	};
	int ret;

	memset(x, 0, sizeof(*x));
	x->p = p;
	x->trace = trace;
	x->trace_vcpu = -1;
	if (scen_layout(p, &x->lay, err, errlen))
		return -1;
	ret = vmmu_vm_create(&cfg, &x->vm);
	if (ret) {
		snprintf(err, errlen, "scenario: cannot create the VM: %s", vmmu_strerror(ret));
		return -1;
	}
	x->mem.vm = x->vm;
	/* In the replayer's order: vCPU 0 exists from the start, the others
	 * come after the memslots (memslot changes reach existing vCPUs). */
	ret = vmmu_vcpu_create(x->vm, 0, &x->vcpu[0]);
	if (!ret)
		ret = replay_mem_add(&x->mem, 0, 0, x->lay.ram_pages * G_PAGE, false, false);
	if (!ret && x->lay.smram_pages)
		ret = replay_mem_add(&x->mem, 1, x->lay.smram_gpa, x->lay.smram_pages * G_PAGE,
				     false, true);
	for (unsigned int i = 1; !ret && i < p->vcpus; i++)
		ret = vmmu_vcpu_create(x->vm, i, &x->vcpu[i]);
	if (ret) {
		snprintf(err, errlen, "scenario: cannot set the guest up: %s", vmmu_strerror(ret));
		scen_exec_destroy(x);
		return -1;
	}
	prefault(&x->mem);
	if (trace) {
		fprintf(trace, "# vmmu record --scenario=%s: %u vCPUs, %u processes, %" PRIu64
			" calls, %u toggles per call, %u pages open, %u closed\n",
			scenario_kind_name(p->kind), p->vcpus, p->processes, p->calls, p->toggles,
			p->ws_open, p->ws_closed);
		fprintf(trace, "memslot 0 0 0x%" PRIx64 "\n", (uint64_t)(x->lay.ram_pages * G_PAGE));
		if (x->lay.smram_pages)
			fprintf(trace, "memslot 1 0x%" PRIx64 " 0x%" PRIx64 " smm\n",
				x->lay.smram_gpa, (uint64_t)(x->lay.smram_pages * G_PAGE));
	}
	return 0;
}

void scen_exec_destroy(struct scen_exec *x)
{
	for (unsigned int i = 0; i < SCENARIO_MAX_VCPUS; i++)
		if (x->vcpu[i])
			vmmu_vcpu_destroy(x->vcpu[i]);
	replay_mem_destroy(&x->mem);
	vmmu_vm_destroy(x->vm);
	memset(x, 0, sizeof(*x));
}

static void trace_vcpu(struct scen_exec *x, unsigned int v)
{
	if (x->trace_vcpu != (int)v) {
		fprintf(x->trace, "vcpu %u\n", v);
		x->trace_vcpu = (int)v;
	}
}

int scen_set_reg(struct scen_exec *x, unsigned int v, enum vmmu_reg reg, uint64_t value)
{
	if (x->trace) {
		trace_vcpu(x, v);
		fprintf(x->trace, "%s 0x%" PRIx64 "\n", reg_names[reg], value);
	}
	return vmmu_vcpu_set_reg(x->vcpu[v], reg, value);
}

static void count_fault(struct scen_exec *x, int ret, const struct vmmu_result *res)
{
	if (ret || res->outcome != VMMU_OK)
		__atomic_add_fetch(&x->guest_faults, 1, __ATOMIC_RELAXED);
}

void scen_access(struct scen_exec *x, unsigned int v, bool write, uint64_t gva, uint64_t value)
{
	struct vmmu_result res;
	int ret;

	if (x->trace) {
		trace_vcpu(x, v);
		if (write)
			fprintf(x->trace, "write 0x%" PRIx64 " 0x%" PRIx64 " 8\n", gva, value);
		else
			fprintf(x->trace, "read 0x%" PRIx64 " 8\n", gva);
	}
	if (write)
		ret = vmmu_vcpu_write(x->vcpu[v], gva, &value, 8, VMMU_ACCESS_WRITE, &res);
	else
		ret = vmmu_vcpu_read(x->vcpu[v], gva, &value, 8, VMMU_ACCESS_READ, &res);
	count_fault(x, ret, &res);
}

void scen_phys(struct scen_exec *x, unsigned int v, bool write, uint64_t gpa, uint64_t value)
{
	struct vmmu_result res;
	int ret;

	if (x->trace) {
		trace_vcpu(x, v);
		if (write)
			fprintf(x->trace, "pwrite 0x%" PRIx64 " 0x%" PRIx64 "\n", gpa, value);
		else
			fprintf(x->trace, "pread 0x%" PRIx64 "\n", gpa);
	}
	if (write)
		ret = vmmu_vcpu_write_phys(x->vcpu[v], gpa, &value, 8, &res);
	else
		ret = vmmu_vcpu_read_phys(x->vcpu[v], gpa, &value, 8, &res);
	count_fault(x, ret, &res);
}
