/* SPDX-License-Identifier: MIT */
/*
 * What a register write costs the MMU (KVM's kvm_post_set_cr0(),
 * kvm_post_set_cr4(), the EFER and SMM paths), under the knobs of the 2023
 * history (docs/HISTORY.md):
 *
 *   - a write the hardware does not intercept costs nothing: with EPT and
 *     without the cr0_wp_exits knob, CR0.WP is guest-owned (fb509f76acc8),
 *     so a WP-only write never reaches KVM.  SVM has no per-bit CR0
 *     control: with NPT the selective CR0 intercept catches every WP change,
 *     under every kernel (docs/HISTORY.md; DESIGN.md's table says
 *     otherwise and is wrong there);
 *   - an intercepted write is an exit, counted by reason;
 *   - a change of the cpu role resets the MMU context: the vCPU lets its
 *     root go and loads the root for its new role at once (as the next VM
 *     entry would), which finds the old one again only if someone still
 *     holds it; except a WP-only change under wp_change_keeps_roots
 *     (01b31714bd90), which only recomputes the guest walk's permissions.
 *
 * In direct mode there is no virtualization: nothing exits, no root exists.
 */
#include "vcpu.h"
#include "vm/rcu.h"

/*
 * KVM's kvm_mmu_reset_context(): the cpu role was recomputed with the
 * register; the root goes, and the root for the new role is loaded as the
 * next VM entry would (kvm_mmu_reload()), flushing the TLB context, before
 * the guest runs again, whatever it does next.
 */
static void reset_context(struct vmmu_vcpu *v)
{
	STAT_INC(v, context_resets);
	vcpu_mmu_unload(v);
	vcpu_mmu_load(v);
}

void vcpu_mmu_deferred_work(struct vmmu_vcpu *v)
{
	/* Relaxed loads when there is nothing to do, as on most exits. */
	if (v->vm->mmu && !vm_rcu_read_ongoing())
		mmu_deferred_work(v->vm->mmu, true);
}

/* Does a CR0 write that changes only WP exit? */
static bool wp_write_exits(const struct vmmu_vcpu *v)
{
	if (v->vm->cfg.tdp_format == VMMU_TDP_NPT)
		return true;
	return v->vm->knobs & VMMU_KNOB_CR0_WP_EXITS;
}

/*
 * A CR0 write: whether it exits depends on the bits written (a WP-only
 * change may be guest-owned); whether it resets depends on the cpu role.
 */
static void cr0_written(struct vmmu_vcpu *v, uint64_t old, union cpu_role before)
{
	union cpu_role only_wp = { .word = 0 };

	only_wp.cr0_wp = 1;
	if ((old ^ v->regs.cr0) == X86_CR0_WP && !wp_write_exits(v))
		return;                  /* guest-owned: the guest walk uses it */
	STAT_INC(v, exits_cr_access);
	if (before.word == v->cpu_role.word)
		return;
	/* kvm_init_mmu() only, roots kept (01b31714bd90) -- unless WP is part
	 * of the root role, when the vCPU needs another root whatever this
	 * knob says (no kernel shipped both; this one wins). */
	if ((before.word ^ v->cpu_role.word) == only_wp.word &&
	    (v->vm->knobs & VMMU_KNOB_WP_CHANGE_KEEPS_ROOTS) &&
	    !(v->vm->knobs & VMMU_KNOB_WP_IN_TDP_ROLE))
		return;
	reset_context(v);
}

void vcpu_mmu_register_written(struct vmmu_vcpu *v, enum vmmu_reg reg, uint64_t old)
{
	union cpu_role before = v->cpu_role;

	/* KVM compares the new cpu role with the old one as one word. */
	v->cpu_role = vcpu_calc_cpu_role(v);
	if (!v->vm->mmu)
		return;
	switch (reg) {
	case VMMU_REG_CR0:
		cr0_written(v, old, before);
		break;
	case VMMU_REG_CR4:
		STAT_INC(v, exits_cr_access);
		if (before.word != v->cpu_role.word)
			reset_context(v);
		break;
	case VMMU_REG_EFER:
		STAT_INC(v, exits_msr_write);
		if (before.word != v->cpu_role.word)
			reset_context(v);
		break;
	case VMMU_REG_SMM:
		if (old == v->regs.smm)
			break;
		if (v->regs.smm)
			STAT_INC(v, exits_smi);
		else
			STAT_INC(v, exits_rsm);
		/* The address space changes (the smm bit of both roles): every
		 * preset resets, and the old root survives only if someone else
		 * holds it. */
		reset_context(v);
		break;
	default:
		break;
	}
}
