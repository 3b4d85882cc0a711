/* SPDX-License-Identifier: MIT */
/*
 * The per-vCPU software TLB (the layout is public: include/vmmu.h, "Fast
 * path").  A direct-mapped table of 4K translations, filled by the slow path
 * of an access after a walk and consulted first by every access.
 *
 * Invariants:
 * - An entry caches only what the walk read from guest memory: the GVA page,
 *   the GPA page, the raw rights (R/W and U/S ANDed over every level, XD
 *   ORed), the leaf's G flag (with CR4.PGE), its protection key, and where
 *   the page lies in host memory.  Everything that depends on registers is
 *   applied at hit time through pub.rights_fault[] and pub.pk_deny[], which
 *   tlb_update_context() recomputes after every register change.
 * - A hit never skips what the walk would do: the fill set A on every level
 *   (or could not, in read-only memory, and neither could a walk), and a
 *   write hits only when the leaf's D flag was already set by the time of
 *   the fill and the memory is writable (else VMMU_TLB_WRITE_SLOW).
 * - Only the vCPU's own thread reads or changes the table.  Other threads
 *   ask for invalidations through the vCPU's requests (vcpu.c).
 */
#ifndef VMMU_VCPU_TLB_H
#define VMMU_VCPU_TLB_H

#include <stdbool.h>

#include "paging/paging.h"
#include "vmmu.h"
#include "vmmu_types.h"

#define TLB_ENTRIES 512u           /* a power of two: 16 KiB per vCPU */

/* What the rights tables were computed from. */
struct tlb_rights_key {
	uint8_t permissions[16];
	uint8_t pk_mask[16];
	bool nx, pk_active, user, ac;
	uint32_t pkru, pkrs;
};

struct vcpu_tlb {
	struct vmmu_tlb pub;       /* what vmmu_vcpu_tlb() hands out */
	/*
	 * Every entry of a large page lies in the region (gva & large_mask) ==
	 * large_addr (QEMU's large-page tracking): an INVLPG outside it looks
	 * at one entry, one inside scans the table for the large page's
	 * pieces.  Reset by a full flush.
	 */
	bool has_large;
	gva_t large_addr, large_mask;
	uint8_t level_shift[4];    /* page size by leaf level, for the current format */
	bool empty;                /* no valid entry since the last full flush */
	bool has_global;           /* a global entry may be valid */
	bool rights_valid;         /* rights_key says what pub's tables follow */
	struct tlb_rights_key rights_key;
};

/* What a walk found, for a fill. */
struct tlb_fill {
	gva_t gva;
	gpa_t gpa;
	uint8_t *hva;              /* host address of @gpa's byte; NULL: no RAM (MMIO) */
	unsigned int level;        /* leaf level: 1 for a 4K page */
	unsigned int rights;       /* VMMU_TLB_WRITABLE | VMMU_TLB_USER | VMMU_TLB_XD */
	bool global;               /* G=1 and CR4.PGE=1 */
	bool write_slow;           /* D clear, or memory not writable */
	unsigned int pkey;
};

int tlb_init(struct vcpu_tlb *t);
void tlb_destroy(struct vcpu_tlb *t);

/*
 * Recomputes the rights tables: for each access kind, which raw rights fault
 * (CR0.WP, CR4.SMEP/SMAP, EFER.NXE, CPL, RFLAGS.AC through the mode's
 * permissions[]) and which keys deny (PKRU, PKRS through its pk_mask[]).
 */
void tlb_update_rights(struct vcpu_tlb *t, const struct paging_mode *m, unsigned int cpl,
		       uint64_t rflags, uint32_t pkru, uint32_t pkrs);

/* Makes @pcid current.  Global entries serve every PCID: they are retagged
 * with the current one, so that a hit compares the PCID only. */
void tlb_set_pcid(struct vcpu_tlb *t, uint16_t pcid);

void tlb_fill(struct vcpu_tlb *t, const struct tlb_fill *f);

/* SDM 4.10.4: everything; the current PCID's non-global entries; INVLPG
 * (the current PCID's and global entries of the page, every 4K piece of a
 * large page included); a page fault's (the entry of that 4K page). */
void tlb_flush_all(struct vcpu_tlb *t);
void tlb_flush_non_global(struct vcpu_tlb *t);
void tlb_flush_page(struct vcpu_tlb *t, gva_t gva);
void tlb_drop_page(struct vcpu_tlb *t, gva_t gva);

/* Host-side changes to guest memory [start, end): drop the entries whose
 * GPA lies there / make their writes take the slow path. */
void tlb_invalidate_gpa_range(struct vcpu_tlb *t, gpa_t start, gpa_t end);
void tlb_write_protect_gpa_range(struct vcpu_tlb *t, gpa_t start, gpa_t end);

/* The kind of an API access (VMMU_ACCESS_* with VMMU_ACCESS_IMPLICIT). */
static inline unsigned int tlb_kind(uint32_t flags)
{
	unsigned int kind = flags & 0xffu;

	return (flags & VMMU_ACCESS_IMPLICIT) ? kind + VMMU_TLB_IMPLICIT_READ : kind;
}

static inline bool tlb_kind_writes(unsigned int kind)
{
	return kind == VMMU_TLB_WRITE || kind == VMMU_TLB_IMPLICIT_WRITE;
}

/*
 * The library's hit: the entry that serves an access of @kind to @gva's
 * page, or NULL.  Unlike the inline hit, an MMIO entry serves (the caller
 * looks up the GPA again: a memslot may have been added since).
 */
static inline const struct vmmu_tlb_entry *tlb_lookup(const struct vcpu_tlb *t, gva_t gva,
						      unsigned int kind)
{
	const struct vmmu_tlb_entry *e = vmmu_tlb_entry_of(&t->pub, gva);
	uint64_t tag = e->tag;
	uint64_t check = VMMU_TLB_PAGE_MASK | VMMU_TLB_INVALID |
			 (tlb_kind_writes(kind) ? VMMU_TLB_WRITE_SLOW : 0);

	if ((tag & check) != (gva & PAGE_MASK) || e->pcid != t->pub.pcid ||
	    t->pub.deny[kind][tag & VMMU_TLB_PERM_MASK])
		return NULL;
	return e;
}

/* The entry holds @gva's page for the current PCID (whatever its rights). */
static inline bool tlb_entry_holds(const struct vcpu_tlb *t, const struct vmmu_tlb_entry *e,
				   gva_t gva)
{
	return (e->tag & (PAGE_MASK | VMMU_TLB_INVALID)) == (gva & PAGE_MASK) &&
	       e->pcid == t->pub.pcid;
}

#endif
