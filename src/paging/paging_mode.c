/* SPDX-License-Identifier: MIT */
/*
 * The paging mode: everything about a walk that CR0, CR4 and EFER decide,
 * computed once per register change (KVM's cpu role, its rsvd_bits_mask,
 * permissions[] and pkru_mask), so a walk only indexes tables.
 */
#include <string.h>

#include "paging.h"

static unsigned int paging_levels(const struct paging_regs *r)
{
	if (!(r->cr0 & X86_CR0_PG))
		return 0;
	if (!(r->cr4 & X86_CR4_PAE))
		return 2;
	if (!(r->efer & X86_EFER_LMA))
		return 3;
	return (r->cr4 & X86_CR4_LA57) ? 5 : 4;
}

/*
 * Reserved bits by level and PS bit (SDM tables 4-4, 4-8 to 4-11, 4-15 to
 * 4-20).  Bit 12 of a large leaf is PAT, bit 7 of a 4K leaf too: never
 * reserved.  Bits 58:52 and 62:59 of 64-bit paging entries are ignored or
 * protection keys, never reserved; PAE reserves 62:MAXPHYADDR.
 */
static void init_rsvd_bits(struct paging_mode *m, const struct paging_regs *r)
{
	unsigned int maxpa = m->maxphyaddr;
	uint64_t high, nx_rsvd = m->nx ? 0 : PT64_NX;

	memset(m->rsvd, 0, sizeof(m->rsvd));
	m->large_levels = 0;

	switch (m->levels) {
	case 2:
		/* 4K PTEs and table PDEs have no reserved bits.  With PSE, a
		 * 4 MiB PDE holds physical bits (M-1):32 in bits (M-20):13,
		 * M = min(MAXPHYADDR, 40); bits 21:(M-19) are reserved. */
		if (r->cr4 & X86_CR4_PSE) {
			unsigned int m40 = maxpa < 40 ? maxpa : 40;

			m->rsvd[1][1] = bit_range(21, m40 - 19);
			m->large_levels = 1u << 2;
		}
		break;
	case 3:
		high = bit_range(62, maxpa) | nx_rsvd;
		m->rsvd[0][0] = m->rsvd[1][0] = high;
		m->rsvd[0][1] = high;
		m->rsvd[1][1] = high | bit_range(20, 13);
		m->large_levels = 1u << 2;
		break;
	case 4:
	case 5:
		high = bit_range(51, maxpa) | nx_rsvd;
		m->rsvd[0][0] = m->rsvd[1][0] = high;
		m->rsvd[0][1] = high;
		m->rsvd[1][1] = high | bit_range(20, 13);
		m->rsvd[0][2] = high;
		m->rsvd[1][2] = high | bit_range(29, 13);
		/* PS must be 0 in a PML4E and a PML5E. */
		for (unsigned int l = 4; l <= 5; l++)
			m->rsvd[0][l - 1] = m->rsvd[1][l - 1] = high | PT_PAGE_SIZE;
		m->large_levels = (1u << 2) | (1u << 3);
		break;
	}
}

/*
 * Does an access (ACCESS_* bits) fault on a translation with @rights?
 * SDM 4.6.1, stated once, for every combination the table holds.
 */
static bool rights_fault(unsigned int access, unsigned int rights, bool wp, bool smep, bool smap)
{
	bool write = access & ACCESS_WRITE, user = access & ACCESS_USER;
	bool fetch = access & ACCESS_FETCH, smap_applies = access & ACCESS_SMAP;
	bool x = rights & RIGHT_EXEC, w = rights & RIGHT_WRITE, u = rights & RIGHT_USER;

	if (user)
		return !u || (write && !w) || (fetch && !x);
	if (fetch)
		return !x || (u && smep);
	return (write && !w && wp) || (u && smap && smap_applies);
}

static void init_permissions(struct paging_mode *m, const struct paging_regs *r)
{
	bool wp = r->cr0 & X86_CR0_WP;
	bool smep = r->cr4 & X86_CR4_SMEP, smap = r->cr4 & X86_CR4_SMAP;

	for (unsigned int idx = 0; idx < ARRAY_SIZE(m->permissions); idx++) {
		uint8_t mask = 0;

		for (unsigned int rights = 0; rights <= RIGHTS_ALL; rights++)
			if (rights_fault(idx << 1, rights, wp, smep, smap))
				mask |= 1u << rights;
		m->permissions[idx] = m->levels ? mask : 0;
	}
}

/*
 * Protection keys (SDM 4.6.2, and the PK flag of 4.7): only with IA-32e
 * paging, only for data accesses; PKRU governs user-mode addresses (CR4.PKE),
 * PKRS supervisor-mode addresses (CR4.PKS).  AD denies every data access.
 * WD denies writes when CR0.WP=1 and, for PKRU only, user-mode writes
 * whatever CR0.WP says.  (A user-mode write to a supervisor-mode address
 * faults anyway; with PKRS.WD and CR0.WP=0 its error code has no PK bit.)
 */
static void init_pk_mask(struct paging_mode *m, const struct paging_regs *r)
{
	bool wp = r->cr0 & X86_CR0_WP;
	bool pke = r->cr4 & X86_CR4_PKE, pks = r->cr4 & X86_CR4_PKS;

	m->pk_active = m->long_mode && (pke || pks);
	for (unsigned int idx = 0; idx < ARRAY_SIZE(m->pk_mask); idx++) {
		unsigned int access = (idx << 1) & ~ACCESS_SMAP;
		bool user_page = idx & (ACCESS_SMAP >> 1);
		uint8_t bits = 0;

		if (m->pk_active && !(access & ACCESS_FETCH) && (user_page ? pke : pks)) {
			bits = 1;
			if ((access & ACCESS_WRITE) && (wp || (user_page && (access & ACCESS_USER))))
				bits |= 2;
		}
		m->pk_mask[idx] = bits;
	}
}

void paging_mode_init(struct paging_mode *m, const struct paging_regs *r,
		      unsigned int maxphyaddr)
{
	m->levels = paging_levels(r);
	m->maxphyaddr = maxphyaddr;
	m->long_mode = r->efer & X86_EFER_LMA;
	m->nx = m->levels >= 3 && (r->efer & X86_EFER_NXE);
	m->fetch_id = m->levels && ((r->cr4 & X86_CR4_SMEP) || m->nx);
	init_rsvd_bits(m, r);
	init_permissions(m, r);
	init_pk_mask(m, r);
}
