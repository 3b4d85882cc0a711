/* SPDX-License-Identifier: MIT */
/*
 * vmmu trace format, version 1 (docs/TRACE-FORMAT.md): parsed whole and
 * validated before anything runs, then replayed on a VM through the public
 * API only.
 */
#ifndef VMMU_SIM_TRACE_H
#define VMMU_SIM_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "vmmu.h"

#define TRACE_VERSION_MAJOR 1
#define TRACE_VERSION_MINOR 0
#define TRACE_MAX_VCPUS 1024

enum trace_op {
	OP_MEMSLOT_ADD,      /* a=id b=gpa c=size, ro, smm */
	OP_MEMSLOT_DELETE,   /* a=id */
	OP_VCPU,             /* a=index */
	OP_PWRITE,           /* a=gpa b=value size */
	OP_PREAD,            /* a=gpa size */
	OP_SET_REG,          /* reg, a=value */
	OP_INVLPG,           /* a=gva */
	OP_FLUSH,
	OP_READ,             /* a=gva size, implicit */
	OP_WRITE,            /* a=gva b=value size, implicit */
	OP_FETCH,            /* a=gva */
	OP_ZAP,              /* a=gpa b=size */
	OP_INVALIDATE,       /* a=gpa b=size */
};

struct trace_cmd {
	uint8_t op;          /* enum trace_op */
	uint8_t size;        /* access size in bytes */
	uint8_t reg;         /* enum vmmu_reg for OP_SET_REG */
	bool ro, smm, implicit;
	uint32_t line;       /* 1-based line in the trace */
	uint64_t a, b, c;
};

struct trace {
	char *name;          /* for messages: FILE:LINE: ... */
	unsigned int maxphyaddr;
	size_t nr, cap;
	struct trace_cmd *cmds;
};

/*
 * Parses a whole trace.  Returns 0, or -1 with "NAME:LINE: message" in @err
 * for the first malformed line (nothing of the trace may run then).
 */
int trace_parse(const char *text, size_t len, const char *name, struct trace *t,
		char *err, size_t errlen);
void trace_free(struct trace *t);

struct replay_options {
	unsigned int mmu;     /* enum vmmu_mmu_mode */
	unsigned int tdp_format;  /* enum vmmu_tdp_format */
	bool tdp_ad_disabled;
	unsigned int policy;      /* enum vmmu_policy */
	uint32_t knobs_set, knobs;  /* overrides, VMMU_KNOB_* */
	uint64_t pt_mem_limit;      /* the legacy MMU's cap in bytes; 0: default */
	struct vmmu_stats *stats_out; /* filled at the end of the run if set */
	/* Flush the vCPU's TLB before every access: what a trace that ignores
	 * the caching rule prints is then the same in every mode (fuzzing). */
	bool flush_before_access;
};

/*
 * Runs a parsed trace: its output goes to @out, messages and statistics to
 * @err.  Returns 0, or 1 after a run-time failure of the host (memory).
 */
int trace_replay(const struct trace *t, const struct replay_options *opt, FILE *out, FILE *err);

#endif
