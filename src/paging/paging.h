/* SPDX-License-Identifier: MIT */
/*
 * The x86 guest page walker (Intel SDM vol. 3, ch. 4): the paging layer's
 * face to the rest of vmmu.  One walker serves every MMU mode: it reads guest
 * page-table entries through a struct pt_mem, so the entries may live in
 * memslots, in a raw memory image or behind a TDP translation.
 */
#ifndef VMMU_PAGING_H
#define VMMU_PAGING_H

#include <stdbool.h>
#include <stdint.h>

#include "vmmu_types.h"

/* Architectural register bits used by the walker. */
#define X86_CR0_PE    (1ull << 0)
#define X86_CR0_ET    (1ull << 4)
#define X86_CR0_WP    (1ull << 16)
#define X86_CR0_NW    (1ull << 29)
#define X86_CR0_CD    (1ull << 30)
#define X86_CR0_PG    (1ull << 31)

#define X86_CR4_PSE   (1ull << 4)
#define X86_CR4_PAE   (1ull << 5)
#define X86_CR4_PGE   (1ull << 7)
#define X86_CR4_LA57  (1ull << 12)
#define X86_CR4_PCIDE (1ull << 17)
#define X86_CR4_SMEP  (1ull << 20)
#define X86_CR4_SMAP  (1ull << 21)
#define X86_CR4_PKE   (1ull << 22)
#define X86_CR4_PKS   (1ull << 24)

#define X86_EFER_SCE  (1ull << 0)
#define X86_EFER_LME  (1ull << 8)
#define X86_EFER_LMA  (1ull << 10)
#define X86_EFER_NXE  (1ull << 11)

#define X86_RFLAGS_AC (1ull << 18)

/* Paging-structure entry bits. */
#define PT_PRESENT    (1ull << 0)
#define PT_WRITABLE   (1ull << 1)
#define PT_USER       (1ull << 2)
#define PT_ACCESSED   (1ull << 5)
#define PT_DIRTY      (1ull << 6)
#define PT_PAGE_SIZE  (1ull << 7)
#define PT_GLOBAL     (1ull << 8)
#define PT64_NX       (1ull << 63)
#define PT64_PKEY_SHIFT 59

#define PT_MAX_LEVELS 5

/* Page-fault error code bits (SDM 4.7). */
#define PFERR_PRESENT (1u << 0)
#define PFERR_WRITE   (1u << 1)
#define PFERR_USER    (1u << 2)
#define PFERR_RSVD    (1u << 3)
#define PFERR_FETCH   (1u << 4)
#define PFERR_PK      (1u << 5)

/*
 * An access, laid out as the error code's W, U and I/D bits.  ACCESS_SMAP
 * sits where RSVD is (never an input): it marks a supervisor data access that
 * SMAP governs, i.e. an implicit access or RFLAGS.AC=0.  It is ignored for
 * user accesses and fetches.
 */
#define ACCESS_WRITE  PFERR_WRITE
#define ACCESS_USER   PFERR_USER
#define ACCESS_SMAP   PFERR_RSVD
#define ACCESS_FETCH  PFERR_FETCH
#define ACCESS_MASK   (ACCESS_WRITE | ACCESS_USER | ACCESS_SMAP | ACCESS_FETCH)

/* Index of an access in paging_mode.permissions[]. */
static inline unsigned int access_index(unsigned int access)
{
	return (access & ACCESS_MASK) >> 1;
}

/* Index of a protection-key check in paging_mode.pk_mask[]: the access,
 * with the user-page bit where ACCESS_SMAP sits (SMAP plays no part in keys). */
static inline unsigned int pk_index(unsigned int access, bool user_page)
{
	return access_index(access & ~ACCESS_SMAP) | (user_page ? ACCESS_SMAP >> 1 : 0);
}

/* Rights accumulated over every level of a walk (a 3-bit index). */
#define RIGHT_EXEC    1u   /* no level has XD (with EFER.NXE) */
#define RIGHT_WRITE   2u   /* every level has R/W=1 */
#define RIGHT_USER    4u   /* every level has U/S=1 */
#define RIGHTS_ALL    7u

/*
 * Everything a walk needs that follows from CR0, CR4 and EFER (KVM's cpu
 * role plus its permission tables).  Recomputed on every change of those
 * registers, never per access.
 */
struct paging_mode {
	uint8_t levels;            /* 0 paging off, 2 32-bit, 3 PAE, 4, 5 */
	uint8_t maxphyaddr;
	bool long_mode;            /* EFER.LMA */
	bool nx;                   /* XD honoured: EFER.NXE with 64-bit entries */
	bool fetch_id;             /* fetch faults set I/D: SMEP, or PAE with NXE */
	bool pk_active;            /* protection keys can deny an access */
	uint8_t large_levels;      /* bit L set: PS=1 maps a page at level L */
	/* Reserved bits by [PS bit][level - 1]; PDPTEs of PAE excluded. */
	uint64_t rsvd[2][PT_MAX_LEVELS];
	/* permissions[access_index(a)] bit r set: rights r fault access a. */
	uint8_t permissions[16];
	/* pk_mask[access_index(a) | 8 if user page] (FETCH never checks keys):
	 * bit 0: the key's AD bit denies, bit 1: its WD bit denies. */
	uint8_t pk_mask[16];
};

/* Registers the mode is derived from. */
struct paging_regs {
	uint64_t cr0, cr4, efer;
};

void paging_mode_init(struct paging_mode *m, const struct paging_regs *r,
		      unsigned int maxphyaddr);

/* Bits above MAXPHYADDR. */
static inline uint64_t phys_high_bits(unsigned int maxphyaddr)
{
	return ~0ull << maxphyaddr;
}

/* Bits [hi:lo] set. */
static inline uint64_t bit_range(unsigned int hi, unsigned int lo)
{
	return ((~0ull) >> (63 - hi)) & (~0ull << lo);
}

/*
 * Guest page-table memory.  map() returns the host address of the entry at
 * @gpa (aligned to the entry size), or NULL: with @write false, no RAM there
 * (the walk faults with P=0, as KVM's walker does); with @write true, the
 * entry cannot be written (read-only slot: the A/D update is skipped).
 *
 * map() may also open a window: guest memory [window_gpa, window_gpa +
 * window_size) that lies contiguously at window_hva, which the walker then
 * reads (and, if window_writable, updates) without calling map() again:
 * guest page tables usually share one memslot, and a warm walk then calls
 * map() not at all.  The walker never closes the window; the owner of the
 * pt_mem must (window_size = 0) before the memory behind it may change.
 */
struct pt_mem {
	void *(*map)(struct pt_mem *mem, gpa_t gpa, bool write);
	gpa_t window_gpa;
	uint64_t window_size;
	uint8_t *window_hva;
	bool window_writable;
};

/* Guest memory at @gpa through the window, else through map(). */
static inline void *pt_mem_map(struct pt_mem *mem, gpa_t gpa, bool write)
{
	uint64_t offset = gpa - mem->window_gpa;

	if (offset < mem->window_size && (!write || mem->window_writable))
		return mem->window_hva + offset;
	return mem->map(mem, gpa, write);
}

/* Per-access register state beyond the mode. */
struct walk_regs {
	uint64_t cr3;
	const uint64_t *pdpte;     /* the four PAE PDPTE registers */
	uint32_t pkru;
	uint32_t pkrs;
};

/* Walk flags. */
#define WALK_NO_AD    1u       /* a probe: no A/D update */

struct walk_result {
	gpa_t gpa;                 /* translation of the address walked */
	uint32_t error_code;       /* PFERR_* when the walk faulted */
	uint8_t level;             /* leaf level: 1 for 4K pages */
	uint8_t rights;            /* RIGHT_* of the translation */
	uint16_t ad_updates;       /* A/D compare-and-swaps that succeeded */
	uint16_t retries;          /* restarts after a lost compare-and-swap */
	bool xd;                   /* some level sets bit 63 (XD), whatever EFER.NXE says */
	/* The leaf entry as guest memory holds it after the walk: with the A
	 * and D flags this walk set, without those it could not (read-only
	 * memory).  0 with paging off.  What a TLB caches: G, D, the key. */
	uint64_t leaf;
};

/*
 * Walks @gva for @access (ACCESS_* bits) in mode @m.  Returns true with
 * res->gpa on success, false with res->error_code on a page fault.  @gva must
 * already have passed the canonical / 32-bit checks (those are #GP).
 */
bool walk_guest(const struct paging_mode *m, const struct walk_regs *r, struct pt_mem *mem,
		gva_t gva, unsigned int access, unsigned int flags, struct walk_result *res);

/*
 * Loads the four PAE PDPTEs from the 32-byte table at @cr3[31:5].  Returns 0,
 * or -1 when the table is not in RAM or a present PDPTE sets a reserved bit
 * (the MOV that loads them raises #GP).
 */
int paging_load_pdptes(struct pt_mem *mem, uint64_t cr3, unsigned int maxphyaddr,
		       uint64_t pdpte[4]);

/* A present PDPTE's reserved bits: 2:1, 8:5, 63:MAXPHYADDR. */
static inline uint64_t pae_pdpte_rsvd(unsigned int maxphyaddr)
{
	return bit_range(2, 1) | bit_range(8, 5) | phys_high_bits(maxphyaddr);
}

#endif /* VMMU_PAGING_H */
