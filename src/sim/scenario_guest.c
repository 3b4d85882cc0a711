/* SPDX-License-Identifier: MIT */
/*
 * The scenario's guest kernel: 4-level page tables built in guest memory as
 * a kernel builds them (the kernel half global and shared by every process,
 * a PML4 and a PCID per process), vCPUs booted into long mode, and the
 * system call and SMI paths of scenario.h.
 */
#include "scenario_internal.h"

static uint64_t gpa_of(uint64_t gfn)
{
	return gfn * G_PAGE;
}

static uint64_t proc_base(const struct scen_layout *lay, unsigned int proc)
{
	return lay->proc + (uint64_t)proc * lay->proc_pages;
}

/* The kernel's page @i: read-only data first, then data. */
static uint64_t kernel_gva(unsigned int i)
{
	return G_KERNEL_GVA + (uint64_t)i * G_PAGE;
}

static uint64_t user_gva(unsigned int i)
{
	return G_USER_GVA + (uint64_t)i * G_PAGE;
}

/* The guest kernel stores a table entry (on vCPU 0, as its boot CPU). */
static void set_pte(struct scen_exec *x, uint64_t table_gfn, unsigned int index, uint64_t pte)
{
	scen_phys(x, 0, true, gpa_of(table_gfn) + 8ull * index, pte);
}

static void build_kernel(struct scen_exec *x)
{
	const struct scen_layout *lay = &x->lay;
	unsigned int pages = lay->rodata + lay->kdata;

	set_pte(x, lay->kpdpt, 510, gpa_of(lay->kpd) | G_PTE_P | G_PTE_W);
	for (unsigned int t = 0; t < lay->nr_kpt; t++)
		set_pte(x, lay->kpd, t, gpa_of(lay->kpt + t) | G_PTE_P | G_PTE_W);
	for (unsigned int i = 0; i < pages; i++) {
		uint64_t pte = gpa_of(lay->kernel + i) | G_PTE_P | G_PTE_G | G_PTE_NX;

		if (i >= lay->rodata)
			pte |= G_PTE_W;
		set_pte(x, lay->kpt + i / 512, i % 512, pte);
	}
}

static void build_process(struct scen_exec *x, unsigned int proc)
{
	const struct scen_layout *lay = &x->lay;
	uint64_t base = proc_base(lay, proc), pml4 = base, pdpt = base + 1, pd = base + 2;
	uint64_t upt = base + 3, user = upt + lay->nr_upt;
	const uint64_t table = G_PTE_P | G_PTE_W | G_PTE_U;

	set_pte(x, pml4, 0, gpa_of(pdpt) | table);
	set_pte(x, pml4, 511, gpa_of(lay->kpdpt) | G_PTE_P | G_PTE_W);
	set_pte(x, pdpt, 0, gpa_of(pd) | table);
	/* User memory from 4 MiB: PD entry 2 on. */
	for (unsigned int t = 0; t < lay->nr_upt; t++)
		set_pte(x, pd, 2 + t, gpa_of(upt + t) | table);
	for (unsigned int i = 0; i < lay->user; i++)
		set_pte(x, upt + i / 512, i % 512, gpa_of(user + i) | table | G_PTE_NX);
}

/* Process @k of vCPU @v's processes (v, v + vcpus, ...). */
static unsigned int proc_of(const struct scen_exec *x, unsigned int v, unsigned int k)
{
	return v + k * x->p->vcpus;
}

static unsigned int procs_of(const struct scen_exec *x, unsigned int v)
{
	return (x->p->processes - v + x->p->vcpus - 1) / x->p->vcpus;
}

static uint64_t cr3_of(const struct scen_exec *x, unsigned int proc)
{
	return gpa_of(proc_base(&x->lay, proc)) | (proc + 1);
}

static int boot_vcpu(struct scen_exec *x, unsigned int v)
{
	uint64_t pml4 = gpa_of(proc_base(&x->lay, proc_of(x, v, 0)));
	int ret = 0;

	ret |= scen_set_reg(x, v, VMMU_REG_EFER, G_EFER_BOOT);
	ret |= scen_set_reg(x, v, VMMU_REG_CR4, G_CR4_PAE | G_CR4_PGE);
	ret |= scen_set_reg(x, v, VMMU_REG_CR3, pml4);
	ret |= scen_set_reg(x, v, VMMU_REG_CR0, G_CR0_BOOT);
	ret |= scen_set_reg(x, v, VMMU_REG_CR4, G_CR4_PAE | G_CR4_PGE | G_CR4_PCIDE);
	ret |= scen_set_reg(x, v, VMMU_REG_CR3, cr3_of(x, proc_of(x, v, 0)));
	ret |= scen_set_reg(x, v, VMMU_REG_CPL, 3);
	return ret;
}

int scen_guest_boot(struct scen_exec *x, struct scen_cpu *cpus, char *err, size_t errlen)
{
	build_kernel(x);
	for (unsigned int proc = 0; proc < x->p->processes; proc++)
		build_process(x, proc);
	for (unsigned int v = 0; v < x->p->vcpus; v++) {
		cpus[v] = (struct scen_cpu){ .id = v };
		if (boot_vcpu(x, v)) {
			snprintf(err, errlen, "scenario: vCPU %u does not boot", v);
			return -1;
		}
	}
	if (__atomic_load_n(&x->guest_faults, __ATOMIC_RELAXED)) {
		snprintf(err, errlen, "scenario: the guest cannot write its page tables");
		return -1;
	}
	return 0;
}

/* The window: CR0.WP off, writes to read-only data and to kernel data,
 * CR0.WP on (grsecurity's pax_open_kernel / pax_close_kernel). */
static void kernel_window(struct scen_exec *x, struct scen_cpu *c, uint64_t value)
{
	const struct scen_layout *lay = &x->lay;
	unsigned int data = x->p->ws_open - lay->rodata;

	scen_set_reg(x, c->id, VMMU_REG_CR0, G_CR0_BOOT & ~G_CR0_WP);
	for (unsigned int i = 0; i < lay->rodata; i++)
		scen_access(x, c->id, true, kernel_gva(i), value);
	for (unsigned int i = 0; i < data; i++)
		scen_access(x, c->id, true, kernel_gva(lay->rodata + i), value);
	scen_set_reg(x, c->id, VMMU_REG_CR0, G_CR0_BOOT);
	c->toggles++;
}

/* The SMI handler: SMRAM by physical address, in address space 1. */
static void smi(struct scen_exec *x, struct scen_cpu *c, uint64_t value)
{
	scen_set_reg(x, c->id, VMMU_REG_SMM, 1);
	for (unsigned int i = 0; i < x->p->smm_pages; i++)
		scen_phys(x, c->id, i & 1, x->lay.smram_gpa + (uint64_t)i * G_PAGE, value);
	scen_set_reg(x, c->id, VMMU_REG_SMM, 0);
	c->smis++;
}

void scen_guest_step(struct scen_exec *x, struct scen_cpu *c)
{
	const struct scen_layout *lay = &x->lay;
	unsigned int outside = x->p->ws_closed - lay->user, window_data = x->p->ws_open - lay->rodata;
	uint64_t value = c->calls + 1, offset = 8 * (c->calls % 512);

	/* User mode: the process's own pages. */
	for (unsigned int i = 0; i < lay->user; i++)
		scen_access(x, c->id, i & 1, user_gva(i) + offset, value);
	/* The system call: kernel memory, the windows, a copy to user. */
	scen_set_reg(x, c->id, VMMU_REG_CPL, 0);
	for (unsigned int i = 0; i < outside; i++)
		scen_access(x, c->id, false, kernel_gva(lay->rodata + window_data + i) + offset, 0);
	for (unsigned int t = 0; t < x->p->toggles; t++)
		kernel_window(x, c, value);
	scen_access(x, c->id, true, user_gva(0) + offset, value);
	/* The scheduler: the vCPU's next process, its PCID kept. */
	c->next_proc = (c->next_proc + 1) % procs_of(x, c->id);
	scen_set_reg(x, c->id, VMMU_REG_CR3, cr3_of(x, proc_of(x, c->id, c->next_proc)) |
		     G_CR3_NOFLUSH);
	scen_set_reg(x, c->id, VMMU_REG_CPL, 3);
	c->calls++;
	if (x->p->kind == SCENARIO_SMM && ++c->units_since_smi >= x->p->smi_every) {
		c->units_since_smi = 0;
		smi(x, c, value);
	}
}
