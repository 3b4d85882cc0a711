/* SPDX-License-Identifier: MIT */
/*
 * Built-in guest scenarios (docs/SEED.md): real guest page tables in guest
 * memory, built as a guest kernel builds them, driven on N vCPU threads
 * through the public API.
 *
 *   grsec  processes with their own address spaces (4-level paging, a PCID
 *          each, the kernel half shared and global) make system calls; each
 *          call runs in user mode, enters the kernel, opens and closes it
 *          @toggles times (CR0.WP off, writes to read-only kernel data and
 *          touches kernel memory, CR0.WP on) and touches user and kernel
 *          memory outside the window, then returns; the vCPU then switches
 *          to its next process (MOV to CR3 with the PCID, no flush).
 *   smm    the same guest doing work units (user and kernel memory); every
 *          @smi_every units a vCPU takes an SMI: it enters SMM, the handler
 *          reads and writes @smm_pages pages of SMRAM (address space 1,
 *          physical accesses), and leaves (UEFI variable services style).
 *
 * A run executes the scenario on @vcpus threads, one per vCPU (or on one
 * thread, the vCPUs in turn: @serialized), and returns the VM's counters
 * and the CPU time the vCPU threads used.  A recording
 * executes it on one thread, the vCPUs in turn one call at a time, and
 * writes it as a trace (docs/TRACE-FORMAT.md) that replays with the same
 * counters.
 */
#ifndef VMMU_SIM_SCENARIO_H
#define VMMU_SIM_SCENARIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "vmmu.h"

enum scenario_kind { SCENARIO_GRSEC, SCENARIO_SMM };

#define SCENARIO_MAX_VCPUS     64
#define SCENARIO_MAX_PROCESSES 4095     /* one PCID each, 1..4095 */
#define SCENARIO_MAX_PAGES     65536    /* any working-set parameter */

struct scenario_params {
	enum scenario_kind kind;
	unsigned int vcpus;          /* vCPU threads, 1..SCENARIO_MAX_VCPUS */
	unsigned int processes;      /* grsec: address spaces, vcpus..MAX_PROCESSES */
	uint64_t calls;              /* system calls (grsec) or work units (smm), all vCPUs */
	unsigned int toggles;        /* grsec: CR0.WP off/on pairs per call */
	unsigned int ws_open;        /* grsec: kernel pages touched per window (WP=0), >= 1 */
	unsigned int ws_closed;      /* pages touched per call outside any window:
				      * half the process's user pages, half kernel */
	unsigned int smi_every;      /* smm: a vCPU's work units between SMIs, >= 1 */
	unsigned int smm_pages;      /* smm: SMRAM pages the handler touches, >= 1 */
	/* Run every vCPU on one thread, one call each in turn, as a recording
	 * does: no two vCPUs are ever inside a call at once (a guest whose
	 * windows are short beside its calls), and the counters are the same
	 * from run to run.  Otherwise one thread per vCPU. */
	bool serialized;
	/* The VM: the MMU and its kernel behaviour (vmmu_vm_config's fields). */
	uint32_t mmu;                /* VMMU_MMU_TDP or VMMU_MMU_TDP_LEGACY (or DIRECT) */
	uint32_t tdp_format;
	uint32_t policy;
	uint32_t knobs_set, knobs;
};

/* The defaults of each scenario (docs/SEED.md says why each value). */
void scenario_defaults(enum scenario_kind kind, struct scenario_params *p);

/* "grsec" / "smm" to a kind; -1 if neither. */
int scenario_kind_parse(const char *name);
const char *scenario_kind_name(enum scenario_kind kind);

/* Checks @p; 0, or -1 with a message in @err. */
int scenario_check(const struct scenario_params *p, char *err, size_t errlen);

struct scenario_result {
	struct vmmu_stats stats;     /* the VM's counters at the end */
	double cpu_seconds;          /* CPU time of the vCPU threads, guest setup excluded */
	double wall_seconds;         /* wall time of the measured part */
	uint64_t calls;              /* calls (work units) done */
	uint64_t toggles;            /* CR0.WP round trips done */
	uint64_t smis;               /* SMI round trips done */
	uint64_t guest_faults;       /* accesses that did not end VMMU_OK (must be 0) */
};

/*
 * Runs the scenario on its own VM.  0, or -1 with a message in @err (bad
 * parameters, no host memory, a guest access that failed).
 */
int scenario_run(const struct scenario_params *p, struct scenario_result *r,
		 char *err, size_t errlen);

/*
 * Runs the scenario serialized (vCPU 0's call, vCPU 1's call, ...) and
 * writes it to @out as a trace; @r gets the counters of that run, which a
 * replay of the trace under the same MMU options reproduces.
 */
int scenario_record(const struct scenario_params *p, FILE *out, struct scenario_result *r,
		    char *err, size_t errlen);

#endif
