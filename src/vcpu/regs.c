/* SPDX-License-Identifier: MIT */
/*
 * Architectural register writes: MOV to CR0/CR3/CR4, WRMSR to EFER and
 * IA32_PKRS, WRPKRU, CPL and SMM changes.  Each write checks every #GP
 * condition before changing anything (a faulting write changes nothing),
 * loads the PAE PDPTEs where the SDM says a write does (SDM 4.4.1), and
 * performs the TLB invalidations of SDM 4.10.4.
 */
#include <errno.h>

#include "vcpu.h"

#define CR4_SUPPORTED  (bit_range(12, 0) | bit_range(18, 16) | bit_range(22, 20) | X86_CR4_PKS)
#define EFER_SUPPORTED (X86_EFER_SCE | X86_EFER_LME | X86_EFER_LMA | X86_EFER_NXE)
#define CR3_PCID_MASK  0xfffull
#define CR3_NOFLUSH    (1ull << 63)

/* PAE paging: CR0.PG=1, CR4.PAE=1, EFER.LMA=0. */
static bool pae_paging(uint64_t cr0, uint64_t cr4, uint64_t efer)
{
	return (cr0 & X86_CR0_PG) && (cr4 & X86_CR4_PAE) && !(efer & X86_EFER_LMA);
}

/* Loads the PDPTEs a write would load; false means #GP. */
static bool load_pdptes(struct vmmu_vcpu *v, uint64_t cr3, uint64_t pdpte[4])
{
	STAT_INC(v, pdpte_loads);
	return paging_load_pdptes(vcpu_pt_mem(v), cr3, vcpu_maxphyaddr(v), pdpte) == 0;
}

static bool pdptes_changed(const struct vmmu_vcpu *v, const uint64_t pdpte[4])
{
	for (unsigned int i = 0; i < 4; i++)
		if (v->regs.pdpte[i] != pdpte[i])
			return true;
	return false;
}

static void commit_pdptes(struct vmmu_vcpu *v, const uint64_t pdpte[4])
{
	for (unsigned int i = 0; i < 4; i++)
		v->regs.pdpte[i] = pdpte[i];
}

static int set_cr0(struct vmmu_vcpu *v, uint64_t cr0)
{
	struct vcpu_regs *r = &v->regs;
	uint64_t efer = r->efer, pdpte[4];
	bool reload;

	if (cr0 >> 32)
		return VMMU_EXC_GP;
	if ((cr0 & X86_CR0_PG) && !(cr0 & X86_CR0_PE))
		return VMMU_EXC_GP;
	if ((cr0 & X86_CR0_NW) && !(cr0 & X86_CR0_CD))
		return VMMU_EXC_GP;
	if ((cr0 & X86_CR0_PG) && (efer & X86_EFER_LME) && !(r->cr4 & X86_CR4_PAE))
		return VMMU_EXC_GP;
	if (!(cr0 & X86_CR0_PG) && (efer & X86_EFER_LMA))
		return VMMU_EXC_GP;

	if ((cr0 & X86_CR0_PG) && (efer & X86_EFER_LME))
		efer |= X86_EFER_LMA;
	else
		efer &= ~X86_EFER_LMA;
	reload = pae_paging(cr0, r->cr4, efer) &&
		 ((cr0 ^ r->cr0) & (X86_CR0_PG | X86_CR0_CD | X86_CR0_NW));
	if (reload && !load_pdptes(v, r->cr3, pdpte))
		return VMMU_EXC_GP;

	bool flush = (cr0 ^ r->cr0) & X86_CR0_PG;

	/* New PDPTEs (CD or NW changed): the TLB was filled through the old
	 * ones (see set_cr4). */
	if (reload && pdptes_changed(v, pdpte))
		flush = true;
	r->cr0 = cr0;
	r->efer = efer;
	if (reload)
		commit_pdptes(v, pdpte);
	if (flush)
		vcpu_flush_tlb(v, FLUSH_ALL, 0);
	vcpu_update_mode(v);
	return 0;
}

static int set_cr4(struct vmmu_vcpu *v, uint64_t cr4)
{
	struct vcpu_regs *r = &v->regs;
	bool lma = r->efer & X86_EFER_LMA;
	uint64_t changed = cr4 ^ r->cr4, pdpte[4];
	bool reload;

	if (cr4 & ~CR4_SUPPORTED)
		return VMMU_EXC_GP;
	if (lma && !(cr4 & X86_CR4_PAE))
		return VMMU_EXC_GP;
	if (lma && (changed & X86_CR4_LA57))
		return VMMU_EXC_GP;
	if ((changed & cr4 & X86_CR4_PCIDE) && (!lma || (r->cr3 & CR3_PCID_MASK)))
		return VMMU_EXC_GP;

	reload = pae_paging(r->cr0, cr4, r->efer) &&
		 (changed & (X86_CR4_PAE | X86_CR4_PGE | X86_CR4_PSE | X86_CR4_SMEP));
	if (reload && !load_pdptes(v, r->cr3, pdpte))
		return VMMU_EXC_GP;

	bool flush = (changed & (X86_CR4_PGE | X86_CR4_PCIDE | X86_CR4_PAE | X86_CR4_LA57)) ||
		     (changed & cr4 & X86_CR4_SMEP);

	/*
	 * Beyond the SDM's list, changes the TLB's entries were filled under
	 * and that a hit cannot apply: CR4.PSE with 32-bit paging (what a PDE
	 * maps), and PDPTEs a reload changed.  The architecture leaves both
	 * to software (TRACE-FORMAT.md, "Caching"); the TLB behaves as a walk.
	 */
	if ((changed & X86_CR4_PSE) && (r->cr0 & X86_CR0_PG) && !(cr4 & X86_CR4_PAE))
		flush = true;
	if (reload && pdptes_changed(v, pdpte))
		flush = true;
	r->cr4 = cr4;
	if (reload)
		commit_pdptes(v, pdpte);
	if (flush)
		vcpu_flush_tlb(v, FLUSH_ALL, 0);
	vcpu_update_mode(v);
	return 0;
}

static int set_cr3(struct vmmu_vcpu *v, uint64_t cr3)
{
	struct vcpu_regs *r = &v->regs;
	bool noflush = false;
	uint64_t pdpte[4];

	if (r->cr4 & X86_CR4_PCIDE) {
		noflush = cr3 & CR3_NOFLUSH;
		cr3 &= ~CR3_NOFLUSH;
	} else if (cr3 & CR3_NOFLUSH) {
		return VMMU_EXC_GP;
	}
	if (r->efer & X86_EFER_LMA) {
		if (cr3 & bit_range(62, vcpu_maxphyaddr(v)))
			return VMMU_EXC_GP;
	} else if (cr3 >> 32) {
		return VMMU_EXC_GP;
	}
	if (pae_paging(r->cr0, r->cr4, r->efer)) {
		if (!load_pdptes(v, cr3, pdpte))
			return VMMU_EXC_GP;
		commit_pdptes(v, pdpte);
	}
	r->cr3 = cr3;
	if (!noflush)
		vcpu_flush_tlb(v, FLUSH_NON_GLOBAL, 0);
	return 0;
}

static int set_efer(struct vmmu_vcpu *v, uint64_t efer)
{
	struct vcpu_regs *r = &v->regs;

	if (efer & ~EFER_SUPPORTED)
		return VMMU_EXC_GP;
	if ((r->cr0 & X86_CR0_PG) && ((efer ^ r->efer) & X86_EFER_LME))
		return VMMU_EXC_GP;
	/* Cached translations with XD=1 would now have a reserved bit set:
	 * a hit cannot know, so clearing NXE drops them (setting it needs
	 * nothing: no entry filled without NXE has XD=1). */
	if ((r->efer & X86_EFER_NXE) && !(efer & X86_EFER_NXE) && v->mode.levels >= 3)
		vcpu_flush_tlb(v, FLUSH_ALL, 0);
	/* LMA is read-only: the written bit is ignored. */
	r->efer = (efer & ~X86_EFER_LMA) | (r->efer & X86_EFER_LMA);
	vcpu_update_mode(v);
	return 0;
}

static int set_smm(struct vmmu_vcpu *v, uint64_t smm)
{
	if (smm > 1)
		return -EINVAL;
	if (v->regs.smm == (bool)smm)
		return 0;
	/* The address space changes; no register does (SMRAM state save and
	 * the handler's own register writes are the VMM's). */
	v->regs.smm = smm;
	vcpu_flush_tlb(v, FLUSH_ALL, 0);
	return 0;
}

static int set_reg(struct vmmu_vcpu *v, enum vmmu_reg reg, uint64_t value)
{
	switch (reg) {
	case VMMU_REG_CR0:
		return set_cr0(v, value);
	case VMMU_REG_CR3:
		return set_cr3(v, value);
	case VMMU_REG_CR4:
		return set_cr4(v, value);
	case VMMU_REG_EFER:
		return set_efer(v, value);
	case VMMU_REG_RFLAGS:
		v->regs.rflags = value;
		return 0;
	case VMMU_REG_PKRU:
		if (value >> 32)
			return -EINVAL;
		v->regs.pkru = (uint32_t)value;
		return 0;
	case VMMU_REG_PKRS:
		/* WRMSR IA32_PKRS: bits 63:32 are reserved. */
		if (value >> 32)
			return VMMU_EXC_GP;
		v->regs.pkrs = value;
		return 0;
	case VMMU_REG_CPL:
		if (value > 3)
			return -EINVAL;
		v->regs.cpl = (uint8_t)value;
		return 0;
	case VMMU_REG_SMM:
		return set_smm(v, value);
	default:
		return -EINVAL;
	}
}

int vmmu_vcpu_set_reg(struct vmmu_vcpu *v, enum vmmu_reg reg, uint64_t value)
{
	uint64_t old = 0;
	bool entered;
	int ret;

	if (!v)
		return -EINVAL;
	vmmu_vcpu_get_reg(v, reg, &old);
	entered = vcpu_enter_implicit(v);
	ret = set_reg(v, reg, value);
	vcpu_exit_implicit(v, entered);
	if (!ret) {
		vcpu_update_walk_regs(v);
		vcpu_mmu_register_written(v, reg, old);
	}
	if (reg <= VMMU_REG_EFER)
		STAT_INC(v, cr_writes);
	if (ret == VMMU_EXC_GP)
		STAT_INC(v, gp);
	return ret;
}

int vmmu_vcpu_get_reg(struct vmmu_vcpu *v, enum vmmu_reg reg, uint64_t *value)
{
	const struct vcpu_regs *r;

	if (!v || !value)
		return -EINVAL;
	r = &v->regs;
	switch (reg) {
	case VMMU_REG_CR0: *value = r->cr0; break;
	case VMMU_REG_CR3: *value = r->cr3; break;
	case VMMU_REG_CR4: *value = r->cr4; break;
	case VMMU_REG_EFER: *value = r->efer; break;
	case VMMU_REG_RFLAGS: *value = r->rflags; break;
	case VMMU_REG_PKRU: *value = r->pkru; break;
	case VMMU_REG_PKRS: *value = r->pkrs; break;
	case VMMU_REG_CPL: *value = r->cpl; break;
	case VMMU_REG_SMM: *value = r->smm; break;
	default: return -EINVAL;
	}
	return 0;
}

/*
 * A whole state is accepted only if a CPU could be in it; the checks mirror
 * the write-time #GP rules above.
 */
static bool state_valid(const struct vmmu_vcpu_state *st, unsigned int maxphyaddr)
{
	bool pg = st->cr0 & X86_CR0_PG, lma = st->efer & X86_EFER_LMA;

	if ((st->cr0 >> 32) || (pg && !(st->cr0 & X86_CR0_PE)) ||
	    ((st->cr0 & X86_CR0_NW) && !(st->cr0 & X86_CR0_CD)))
		return false;
	if ((st->cr4 & ~CR4_SUPPORTED) || (st->efer & ~EFER_SUPPORTED))
		return false;
	if (lma != (pg && (st->efer & X86_EFER_LME)) || (lma && !(st->cr4 & X86_CR4_PAE)))
		return false;
	if ((st->cr4 & X86_CR4_PCIDE) && !lma)
		return false;
	if (lma ? (st->cr3 & bit_range(63, maxphyaddr)) != 0 : (st->cr3 >> 32) != 0)
		return false;
	if (st->cpl > 3 || st->smm > 1 || (st->pkrs >> 32))
		return false;
	if (pae_paging(st->cr0, st->cr4, st->efer))
		for (unsigned int i = 0; i < 4; i++)
			if ((st->pdpte[i] & PT_PRESENT) && (st->pdpte[i] & pae_pdpte_rsvd(maxphyaddr)))
				return false;
	return true;
}

int vmmu_vcpu_set_state(struct vmmu_vcpu *v, const struct vmmu_vcpu_state *st)
{
	struct vcpu_regs *r;

	if (!v || !st || st->size < sizeof(*st) || !state_valid(st, vcpu_maxphyaddr(v)))
		return -EINVAL;
	r = &v->regs;
	r->cr0 = st->cr0;
	r->cr3 = st->cr3;
	r->cr4 = st->cr4;
	r->efer = st->efer;
	r->rflags = st->rflags;
	r->pkru = st->pkru;
	r->pkrs = st->pkrs;
	r->cpl = (uint8_t)st->cpl;
	r->smm = st->smm;
	commit_pdptes(v, st->pdpte);
	vcpu_flush_tlb(v, FLUSH_ALL, 0);
	vcpu_update_mode(v);
	vcpu_update_walk_regs(v);
	/* A new state is a new context (KVM's set_sregs): the next access
	 * loads the root for it. */
	v->cpu_role = vcpu_calc_cpu_role(v);
	if (v->vm->mmu)
		vcpu_mmu_unload(v);
	return 0;
}

int vmmu_vcpu_get_state(struct vmmu_vcpu *v, struct vmmu_vcpu_state *st)
{
	const struct vcpu_regs *r;

	if (!v || !st || st->size < sizeof(*st))
		return -EINVAL;
	r = &v->regs;
	*st = (struct vmmu_vcpu_state){
		.size = sizeof(*st), .cpl = r->cpl, .cr0 = r->cr0, .cr3 = r->cr3,
		.cr4 = r->cr4, .efer = r->efer, .rflags = r->rflags, .pkru = r->pkru,
		.smm = r->smm, .pkrs = r->pkrs,
		.pdpte = { r->pdpte[0], r->pdpte[1], r->pdpte[2], r->pdpte[3] },
	};
	return 0;
}

void vcpu_reset_regs(struct vmmu_vcpu *v)
{
	v->regs = (struct vcpu_regs){
		.cr0 = X86_CR0_CD | X86_CR0_NW | X86_CR0_ET,
		.rflags = 2,
	};
	vcpu_update_mode(v);
	vcpu_update_walk_regs(v);
	v->cpu_role = vcpu_calc_cpu_role(v);
}

void vcpu_update_walk_regs(struct vmmu_vcpu *v)
{
	v->walk_regs = (struct walk_regs){
		.cr3 = v->regs.cr3, .pdpte = v->regs.pdpte,
		.pkru = v->regs.pkru, .pkrs = (uint32_t)v->regs.pkrs,
	};
	vcpu_update_tlb_context(v);
}

/* The cpu role of the registers now (KVM's kvm_calc_cpu_role). */
union cpu_role vcpu_calc_cpu_role(const struct vmmu_vcpu *v)
{
	const struct vcpu_regs *r = &v->regs;
	union cpu_role role = { .word = 0 };

	role.levels = v->mode.levels;
	role.cr0_pg = !!(r->cr0 & X86_CR0_PG);
	role.cr0_wp = !!(r->cr0 & X86_CR0_WP);
	role.cr4_pae = !!(r->cr4 & X86_CR4_PAE);
	role.cr4_pse = !!(r->cr4 & X86_CR4_PSE);
	role.cr4_smep = !!(r->cr4 & X86_CR4_SMEP);
	role.cr4_smap = !!(r->cr4 & X86_CR4_SMAP);
	role.cr4_pke = !!(r->cr4 & X86_CR4_PKE);
	role.cr4_pks = !!(r->cr4 & X86_CR4_PKS);
	role.cr4_la57 = !!(r->cr4 & X86_CR4_LA57);
	role.efer_lma = !!(r->efer & X86_EFER_LMA);
	role.efer_nx = !!(r->efer & X86_EFER_NXE);
	role.smm = r->smm;
	return role;
}

void vcpu_update_mode(struct vmmu_vcpu *v)
{
	struct paging_regs pr = { .cr0 = v->regs.cr0, .cr4 = v->regs.cr4, .efer = v->regs.efer };

	paging_mode_init(&v->mode, &pr, vcpu_maxphyaddr(v));
}
