/* SPDX-License-Identifier: MIT */
/*
 * MMU roles, as KVM keeps them apart (arch/x86/include/asm/kvm_host.h):
 *
 *   the cpu role   what the guest's own page walk depends on: its paging
 *                  mode and the CR0/CR4/EFER bits that change permissions;
 *   the root role  what the SPTEs of a root depend on (KVM's
 *                  kvm_mmu_page_role): a root can serve a vCPU only if the
 *                  roles are equal.
 *
 * Both are bitfield unions compared as one word: cheap to compare, easy to
 * print.  With TDP the root role barely depends on the guest: its level,
 * the address space (SMM), A/D, and, before 2ba676774dfc ("KVM: x86/mmu:
 * Fix the TDP role computation", the wp_in_tdp_role knob), CR0.WP and
 * EFER.NX too, which made a WP toggle need a different root.
 */
#ifndef VMMU_VCPU_ROLE_H
#define VMMU_VCPU_ROLE_H

#include <stdbool.h>
#include <stdint.h>

union root_role {
	uint32_t word;
	struct {
		uint32_t level:4;          /* TDP root level, 4 or 5 */
		uint32_t direct:1;         /* maps GPAs, not guest tables */
		uint32_t access:3;         /* ACC_* granted at the root */
		uint32_t invalid:1;        /* never set in a role that is looked up */
		uint32_t efer_nx:1;        /* only with wp_in_tdp_role */
		uint32_t cr0_wp:1;         /* only with wp_in_tdp_role */
		uint32_t ad_disabled:1;    /* EPT without accessed/dirty bits */
		uint32_t guest_mode:1;     /* nested guest: always 0 here */
		uint32_t smm:1;            /* address space 1 */
		uint32_t unused:18;
	};
};

union cpu_role {
	uint64_t word;
	struct {
		uint64_t levels:3;         /* guest paging: 0 off, 2, 3, 4, 5 */
		uint64_t cr0_pg:1;
		uint64_t cr0_wp:1;
		uint64_t cr4_pae:1;
		uint64_t cr4_pse:1;
		uint64_t cr4_smep:1;
		uint64_t cr4_smap:1;
		uint64_t cr4_pke:1;
		uint64_t cr4_pks:1;
		uint64_t cr4_la57:1;
		uint64_t efer_lma:1;
		uint64_t efer_nx:1;
		uint64_t smm:1;
		uint64_t unused:49;
	};
};

#endif
