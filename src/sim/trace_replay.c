/* SPDX-License-Identifier: MIT */
/*
 * The trace replayer: one VM, vCPUs created on first use, every command
 * through the public API, one output line per pread, access and faulting
 * write (TRACE-FORMAT.md, "Output").
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "replay_mem.h"
#include "trace.h"
#include "vmmu.h"

struct replayer {
	const struct trace *t;
	struct vmmu_vm *vm;
	struct vmmu_vcpu *vcpus[TRACE_MAX_VCPUS];
	struct vmmu_vcpu *cur;
	struct replay_mem mem;
	bool flush_before_access;
	FILE *out, *err;
};

static int run_error(struct replayer *r, const struct trace_cmd *c, const char *what, int e)
{
	fprintf(r->err, "%s:%u: %s: %s\n", r->t->name, c->line, what,
		e == -ENOMEM ? "out of memory" : e < 0 ? strerror(-e) : vmmu_strerror(e));
	return 1;
}

static int select_vcpu(struct replayer *r, const struct trace_cmd *c, uint64_t index)
{
	int ret;

	if (!r->vcpus[index]) {
		ret = vmmu_vcpu_create(r->vm, (uint32_t)index, &r->vcpus[index]);
		if (ret)
			return run_error(r, c, "cannot create vCPU", ret);
	}
	r->cur = r->vcpus[index];
	return 0;
}

static void print_result(struct replayer *r, const struct trace_cmd *c, const struct vmmu_result *res)
{
	switch (res->outcome) {
	case VMMU_OK:
		fprintf(r->out, "%u ok %016" PRIx64 "\n", c->line, res->gpa);
		break;
	case VMMU_MMIO:
		fprintf(r->out, "%u mmio %016" PRIx64 "\n", c->line, res->gpa);
		break;
	case VMMU_PF:
		fprintf(r->out, "%u pf %04x\n", c->line, res->error_code);
		break;
	default:
		fprintf(r->out, "%u gp\n", c->line);
		break;
	}
}

static int guest_access(struct replayer *r, const struct trace_cmd *c)
{
	uint32_t flags = c->implicit ? VMMU_ACCESS_IMPLICIT : 0;
	uint8_t buf[8];
	struct vmmu_result res;
	int ret;

	if (r->flush_before_access)
		vmmu_vcpu_flush(r->cur);
	switch (c->op) {
	case OP_WRITE:
		for (unsigned int i = 0; i < c->size; i++)
			buf[i] = (uint8_t)(c->b >> (8 * i));
		ret = vmmu_vcpu_write(r->cur, c->a, buf, c->size, VMMU_ACCESS_WRITE | flags, &res);
		break;
	case OP_FETCH:
		ret = vmmu_vcpu_read(r->cur, c->a, buf, 1, VMMU_ACCESS_FETCH, &res);
		break;
	default:
		ret = vmmu_vcpu_read(r->cur, c->a, buf, c->size, VMMU_ACCESS_READ | flags, &res);
		break;
	}
	if (ret)
		return run_error(r, c, "access failed", ret);
	print_result(r, c, &res);
	return 0;
}

static int phys_access(struct replayer *r, const struct trace_cmd *c)
{
	struct vmmu_result res;
	uint8_t buf[8] = { 0 };
	uint64_t value = 0;
	int ret;

	if (c->op == OP_PWRITE) {
		for (unsigned int i = 0; i < c->size; i++)
			buf[i] = (uint8_t)(c->b >> (8 * i));
		ret = vmmu_vcpu_write_phys(r->cur, c->a, buf, c->size, &res);
	} else {
		ret = vmmu_vcpu_read_phys(r->cur, c->a, buf, c->size, &res);
	}
	if (ret)
		return run_error(r, c, "physical access failed", ret);
	if (res.outcome == VMMU_MMIO) {
		fprintf(r->out, "%u mmio %016" PRIx64 "\n", c->line, c->a);
	} else if (c->op == OP_PREAD) {
		for (unsigned int i = 0; i < c->size; i++)
			value |= (uint64_t)buf[i] << (8 * i);
		fprintf(r->out, "%u 0x%" PRIx64 "\n", c->line, value);
	}
	return 0;
}

static int run_cmd(struct replayer *r, const struct trace_cmd *c)
{
	int ret;

	switch (c->op) {
	case OP_MEMSLOT_ADD:
		ret = replay_mem_add(&r->mem, c->a, c->b, c->c, c->ro, c->smm);
		return ret ? run_error(r, c, "cannot add memslot", ret) : 0;
	case OP_MEMSLOT_DELETE:
		ret = replay_mem_delete(&r->mem, c->a);
		return ret ? run_error(r, c, "cannot delete memslot", ret) : 0;
	case OP_VCPU:
		return select_vcpu(r, c, c->a);
	case OP_PWRITE:
	case OP_PREAD:
		return phys_access(r, c);
	case OP_SET_REG:
		ret = vmmu_vcpu_set_reg(r->cur, c->reg, c->a);
		if (ret == VMMU_EXC_GP)
			fprintf(r->out, "%u gp\n", c->line);
		else if (ret)
			return run_error(r, c, "register write failed", ret);
		return 0;
	case OP_INVLPG:
		return vmmu_vcpu_invlpg(r->cur, c->a) ? run_error(r, c, "invlpg", -EINVAL) : 0;
	case OP_FLUSH:
		return vmmu_vcpu_flush(r->cur) ? run_error(r, c, "flush", -EINVAL) : 0;
	case OP_READ:
	case OP_WRITE:
	case OP_FETCH:
		return guest_access(r, c);
	case OP_ZAP:
		ret = vmmu_vm_zap(r->vm, c->a, c->b);
		return ret ? run_error(r, c, "zap failed", ret) : 0;
	case OP_INVALIDATE:
		ret = replay_mem_invalidate(&r->mem, c->a, c->b);
		return ret ? run_error(r, c, "invalidate failed", ret) : 0;
	}
	return run_error(r, c, "internal error: unknown command", -EINVAL);
}

int trace_replay(const struct trace *t, const struct replay_options *opt, FILE *out, FILE *err)
{
	struct vmmu_vm_config cfg = {
		.size = sizeof(cfg), .mmu = opt ? opt->mmu : VMMU_MMU_DIRECT,
		.maxphyaddr = t->maxphyaddr, .max_vcpus = TRACE_MAX_VCPUS,
		.tdp_format = opt ? opt->tdp_format : 0,
		.tdp_ad_disabled = opt ? opt->tdp_ad_disabled : 0,
		.policy = opt ? opt->policy : 0,
		.knobs_set = opt ? opt->knobs_set : 0,
		.knobs = opt ? opt->knobs : 0,
		.pt_mem_limit = opt ? opt->pt_mem_limit : 0,
	};
	struct replayer *r = calloc(1, sizeof(*r));
	int ret = 0;

	if (!r) {
		fprintf(err, "%s: out of memory\n", t->name);
		return 1;
	}
	r->t = t;
	r->out = out;
	r->err = err;
	r->flush_before_access = opt && opt->flush_before_access;
	ret = vmmu_vm_create(&cfg, &r->vm);
	if (ret) {
		fprintf(err, "%s: cannot create VM: %s\n", t->name, vmmu_strerror(ret));
		free(r);
		return 1;
	}
	r->mem.vm = r->vm;
	ret = select_vcpu(r, &(struct trace_cmd){ .line = 0 }, 0);
	for (size_t i = 0; i < t->nr && !ret; i++)
		ret = run_cmd(r, &t->cmds[i]);
	if (opt && opt->stats_out) {
		opt->stats_out->size = sizeof(*opt->stats_out);
		vmmu_vm_get_stats(r->vm, opt->stats_out);
	}
	for (unsigned int i = 0; i < TRACE_MAX_VCPUS; i++)
		vmmu_vcpu_destroy(r->vcpus[i]);
	replay_mem_destroy(&r->mem);
	vmmu_vm_destroy(r->vm);
	free(r);
	return ret;
}
