/* SPDX-License-Identifier: MIT */
/* The scenario engine's pieces (scenario.h is the interface). */
#ifndef VMMU_SIM_SCENARIO_INTERNAL_H
#define VMMU_SIM_SCENARIO_INTERNAL_H

#include <stdbool.h>

#include "replay_mem.h"
#include "scenario.h"

/* The guest kernel's own architectural constants. */
#define G_PAGE        4096ull
#define G_PTE_P       (1ull << 0)
#define G_PTE_W       (1ull << 1)
#define G_PTE_U       (1ull << 2)
#define G_PTE_G       (1ull << 8)
#define G_PTE_NX      (1ull << 63)
#define G_CR0_BOOT    0x80010011ull     /* PG, WP, ET, PE */
#define G_CR0_WP      (1ull << 16)
#define G_CR4_PAE     (1ull << 5)
#define G_CR4_PGE     (1ull << 7)
#define G_CR4_PCIDE   (1ull << 17)
#define G_EFER_BOOT   0xd01ull          /* NXE, LME, SCE (LMA follows) */
#define G_CR3_NOFLUSH (1ull << 63)

/* Where the guest kernel lives: PML4[511], PDPT[510], as Linux's text. */
#define G_KERNEL_GVA  0xffffffff80000000ull
#define G_USER_GVA    0x0000000000400000ull

/*
 * The guest's memory, laid out once from the parameters (page numbers are
 * GFNs in the one normal memslot at GPA 0; SMRAM is its own slot above it).
 */
struct scen_layout {
	uint64_t kpdpt, kpd, kpt;          /* kernel tables (kpt: first of nr_kpt) */
	unsigned int nr_kpt;
	uint64_t kernel;                   /* first kernel page: rodata, then data */
	unsigned int rodata, kdata;        /* pages of each */
	uint64_t proc;                     /* first process area */
	unsigned int proc_pages;           /* pml4, pdpt, pd, pts, user pages */
	unsigned int nr_upt, user;         /* user page tables and pages per process */
	uint64_t ram_pages;                /* the normal memslot */
	uint64_t smram_gpa;                /* smm: the SMRAM slot */
	unsigned int smram_pages;
};

/*
 * The executor: each guest operation goes to the library through the
 * public API and, when @trace is set, is written there as a trace line.
 * Operations on one vCPU come from one thread at a time.
 */
struct scen_exec {
	const struct scenario_params *p;
	struct scen_layout lay;
	struct vmmu_vm *vm;
	struct vmmu_vcpu *vcpu[SCENARIO_MAX_VCPUS];
	struct replay_mem mem;
	FILE *trace;                       /* NULL: not recording */
	int trace_vcpu;                    /* the vCPU the trace last named */
	uint64_t guest_faults;             /* accesses that did not end VMMU_OK (atomic) */
};

/* Per-vCPU progress through the scenario. */
struct scen_cpu {
	unsigned int id;
	unsigned int next_proc;            /* index among this vCPU's processes */
	uint64_t calls, toggles, smis;
	uint64_t units_since_smi;
};

int scen_layout(const struct scenario_params *p, struct scen_layout *lay, char *err,
		size_t errlen);

int scen_exec_create(struct scen_exec *x, const struct scenario_params *p, FILE *trace,
		     char *err, size_t errlen);
void scen_exec_destroy(struct scen_exec *x);
int scen_set_reg(struct scen_exec *x, unsigned int v, enum vmmu_reg reg, uint64_t value);
void scen_access(struct scen_exec *x, unsigned int v, bool write, uint64_t gva, uint64_t value);
void scen_phys(struct scen_exec *x, unsigned int v, bool write, uint64_t gpa, uint64_t value);

/* The guest kernel: builds its tables and boots every vCPU (setup). */
int scen_guest_boot(struct scen_exec *x, struct scen_cpu *cpus, char *err, size_t errlen);
/* One system call (grsec) or work unit with its SMI when due (smm) on @c. */
void scen_guest_step(struct scen_exec *x, struct scen_cpu *c);

#endif
