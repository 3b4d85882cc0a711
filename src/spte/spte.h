/* SPDX-License-Identifier: MIT */
/*
 * SPTEs: the entries of the page tables vmmu builds for the "hardware" to
 * walk (KVM's arch/x86/kvm/mmu/spte.h).  Two formats, chosen per VM:
 *
 *   EPT  Intel extended page tables (SDM vol. 3C, 29.3): R, W, X bits,
 *        present when any of them is set; A/D bits optional (EPTP bit 6).
 *   NPT  AMD nested page tables (APM vol. 2, 15.25): the ordinary 64-bit
 *        long-mode PTE; P, R/W, U/S, NX; A/D always.  Every guest access
 *        through them is a user access.
 *
 * In user space the "physical address" an SPTE holds is a host virtual
 * address (below 2^47): a leaf holds the host address of the memory backing
 * its guest page (aligned to the page size of its level), a non-leaf holds
 * the host address of its child table (512 uint64_t, 4K-aligned).
 *
 * On top of the hardware bits, software bits that the hardware ignores:
 *
 *   MMU-present    bit 11 of every SPTE that maps memory or a table, even
 *                  while the hardware sees it as not present (access
 *                  tracking).  Never set in MMIO SPTEs or the frozen value.
 *   host-writable  the host lets the guest write the page (not a read-only
 *                  memslot).  Clear => MMU-writable and W clear.
 *   MMU-writable   the MMU lets the guest write the page; W may still be
 *                  clear (dirty logging), and then the fast path may set W
 *                  without the MMU lock.  Clear => W clear.
 *
 * Values that are not MMU-present: 0 (nothing mapped), SPTE_FROZEN (a thread
 * owns the entry while it tears down or replaces what was there; others
 * must leave it alone and retry) and MMIO SPTEs (the GFN has no memslot: the
 * hardware faults with an EPT misconfiguration or an NPT reserved-bit fault,
 * and the MMIO SPTE says which GFN and under which memslot generation).
 *
 * Bit layouts: docs/SPTE.md.  A struct spte_config holds every mask of a
 * VM's format, computed once by spte_config_init() and read-only after it;
 * the helpers below only combine them.  None of them touches memory: the
 * caller reads an SPTE, computes the new value here and installs it with a
 * compare-and-swap.
 */
#ifndef VMMU_SPTE_H
#define VMMU_SPTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmmu_types.h"

enum spte_format {
	SPTE_FORMAT_EPT,
	SPTE_FORMAT_NPT,
};

/* Access rights, KVM's ACC_*_MASK.  In EPT, ACC_USER is the read right. */
#define ACC_EXEC  1u
#define ACC_WRITE 2u
#define ACC_USER  4u
#define ACC_ALL   (ACC_EXEC | ACC_WRITE | ACC_USER)

/* SPTE levels: 1 maps 4K, 2 maps 2M (or points to 4K tables), 3 1G, 4 and 5
 * only point to tables. */
#define SPTE_LEVEL_4K   1
#define SPTE_LEVEL_2M   2
#define SPTE_LEVEL_1G   3
#define SPTE_MAX_LEVEL  5
#define SPTE_MAX_HUGE_LEVEL SPTE_LEVEL_1G
#define SPTE_ENTRIES    512

static inline unsigned int spte_level_shift(unsigned int level)
{
	return PAGE_SHIFT + 9 * (level - 1);
}

/* Bytes an SPTE at @level maps: 4K, 2M, 1G, 512G, 256T. */
static inline uint64_t spte_level_size(unsigned int level)
{
	return 1ull << spte_level_shift(level);
}

/* Index of the SPTE for @gpa in a table at @level. */
static inline unsigned int spte_index(gpa_t gpa, unsigned int level)
{
	return (unsigned int)(gpa >> spte_level_shift(level)) & (SPTE_ENTRIES - 1);
}

/* Bits common to both formats. */
#define SPTE_WRITABLE        (1ull << 1)     /* EPT W, NPT R/W */
#define SPTE_PAGE_SIZE       (1ull << 7)     /* PS: a large leaf at level 2, 3 */
#define SPTE_MMU_PRESENT     (1ull << 11)
#define SPTE_ADDR_MASK       0x000ffffffffff000ull   /* bits 51:12 */

/* EPT hardware bits (SDM 29.3.2). */
#define EPT_READABLE         (1ull << 0)
#define EPT_WRITABLE         (1ull << 1)
#define EPT_EXECUTABLE       (1ull << 2)
#define EPT_RWX_MASK         (EPT_READABLE | EPT_WRITABLE | EPT_EXECUTABLE)
#define EPT_MT_SHIFT         3               /* leaf memory type, bits 5:3 */
#define EPT_MT_MASK          (7ull << EPT_MT_SHIFT)
#define EPT_MT_WB            6ull
#define EPT_IPAT             (1ull << 6)     /* leaf: ignore guest PAT */
#define EPT_ACCESSED         (1ull << 8)     /* with A/D enabled */
#define EPT_DIRTY            (1ull << 9)     /* leaf, with A/D enabled */
/* EPT software bits, all in bits 62:52 that EPT ignores. */
#define EPT_ACC_TRACK_SAVED_SHIFT 54         /* R saved in 54, X in 56 */
#define EPT_SPTE_HOST_WRITABLE (1ull << 57)
#define EPT_SPTE_MMU_WRITABLE  (1ull << 58)

/* NPT hardware bits (APM 5.4.1: long-mode PTE). */
#define NPT_PRESENT          (1ull << 0)
#define NPT_WRITABLE         (1ull << 1)
#define NPT_USER             (1ull << 2)
#define NPT_ACCESSED         (1ull << 5)
#define NPT_DIRTY            (1ull << 6)
#define NPT_NX               (1ull << 63)
/*
 * The simulated host's MAXPHYADDR for NPT is 51, so bit 51 is a reserved
 * address bit: a present entry with it set raises a reserved-bit fault.
 * Host addresses are below 2^47; only MMIO SPTEs set it.
 */
#define NPT_RSVD_BIT         (1ull << 51)
/* NPT software bits: 9 and 10 are available in every long-mode entry. */
#define NPT_SPTE_HOST_WRITABLE (1ull << 9)
#define NPT_SPTE_MMU_WRITABLE  (1ull << 10)

/*
 * The initial non-present value, and the frozen one (KVM's FROZEN_SPTE,
 * once REMOVED_SPTE): not present in either format (no R/W/X, no P), no
 * address bits, not MMU-present and not MMIO.  A thread that replaces an
 * SPTE in more than one step (tearing a table down, splitting a huge page)
 * first exchanges in SPTE_FROZEN; anyone else who reads it waits and
 * retries.  The hardware walk sees it as not present.
 */
#define SPTE_NONPRESENT      0ull
#define SPTE_FROZEN          0x5a0ull

/*
 * MMIO SPTEs: the GFN has no memslot.  Both formats keep the GFN, the
 * access (ACC_*) and the low bits of the memslot generation the GFN was
 * looked up in; EPT keeps 17 bits of it, NPT 18 (docs/SPTE.md).
 */
#define SPTE_MMIO_ACCESS_SHIFT   52          /* ACC_* in bits 54:52 */
#define SPTE_MMIO_GEN_HIGH_SHIFT 55          /* upper generation bits from 55 */

struct spte_config {
	enum spte_format format;
	bool ad_enabled;              /* hardware A/D bits; NPT: always */

	/* Hardware bits set by rights and state. */
	uint64_t present_mask;        /* in every present SPTE: NPT P; EPT 0 */
	uint64_t user_mask;           /* ACC_USER: EPT R, NPT U/S */
	uint64_t x_mask;              /* ACC_EXEC set: EPT X */
	uint64_t nx_mask;             /* ACC_EXEC clear: NPT NX */
	uint64_t accessed_mask;       /* 0 without A/D */
	uint64_t dirty_mask;          /* 0 without A/D */
	uint64_t leaf_memtype;        /* every leaf: EPT WB|IPAT; NPT 0 */
	uint64_t hw_present_mask;     /* any set: the hardware sees it present */
	uint64_t hw_rsvd_mask;        /* reserved in every present entry */

	/* Software bits. */
	uint64_t host_writable_mask;
	uint64_t mmu_writable_mask;
	uint64_t acc_track_mask;      /* cleared while access-tracked (EPT, no A/D) */
	uint64_t acc_track_saved_mask;/* where the cleared R/X bits are kept */

	/* MMIO SPTEs: (spte & mmio_mask) == mmio_value. */
	uint64_t mmio_mask;
	uint64_t mmio_value;
	uint64_t mmio_gpa_mask;       /* GPA bits kept in place */
	uint64_t mmio_gen_mask;       /* the generation bits an SPTE keeps */
	unsigned int mmio_gen_low_shift, mmio_gen_low_bits;
	unsigned int mmio_gen_high_bits;

	/* spte_permits(): after XOR with permit_flip, an access with rights
	 * index (acc & 3) needs every bit of permit_need[acc & 3]. */
	uint64_t permit_flip;
	uint64_t permit_need[4];
};

/* Computes every mask of @format (KVM's kvm_mmu_set_ept_masks() and
 * kvm_mmu_reset_all_pte_masks()).  NPT always has A/D: @ad_enabled is
 * ignored there. */
void spte_config_init(struct spte_config *cfg, enum spte_format format, bool ad_enabled);

/* ---- constructors */

/*
 * A leaf mapping @host (aligned to the level's page size) at @level 1-3
 * with rights @access (ACC_*).  Without @host_writable the leaf is read-only
 * whatever @access says.  A leaf that may be written is MMU-writable and W;
 * with A/D it is created dirty (the caller logs the page dirty when it
 * installs it, as KVM's make_spte() does), and accessed unless @prefetch
 * (a speculative mapping): then, without A/D, it is created access-tracked.
 * EPT cannot express write without read: @access with ACC_WRITE needs
 * ACC_USER there, and an EPT leaf must grant something.
 */
uint64_t spte_make_leaf(const struct spte_config *cfg, void *host, unsigned int level,
			unsigned int access, bool host_writable, bool prefetch);

/* A non-leaf pointing to @child (4K-aligned, 512 SPTEs), granting every
 * right (the leaf decides), accessed when A/D is on. */
uint64_t spte_make_nonleaf(const struct spte_config *cfg, uint64_t *child);

/* An MMIO SPTE for @gfn (below 2^40) with rights @access, looked up in the
 * memslot set of @generation.  Valid at any level. */
uint64_t spte_make_mmio(const struct spte_config *cfg, gfn_t gfn, unsigned int access,
			uint64_t generation);

/* ---- state */

static inline bool spte_is_shadow_present(uint64_t spte)
{
	return spte & SPTE_MMU_PRESENT;
}

static inline bool spte_is_frozen(uint64_t spte)
{
	return spte == SPTE_FROZEN;
}

static inline bool spte_is_mmio(const struct spte_config *cfg, uint64_t spte)
{
	return (spte & cfg->mmio_mask) == cfg->mmio_value;
}

/* The hardware sees the entry as present (possibly misconfigured). */
static inline bool spte_hw_present(const struct spte_config *cfg, uint64_t spte)
{
	return spte & cfg->hw_present_mask;
}

static inline bool spte_is_large(uint64_t spte)
{
	return spte & SPTE_PAGE_SIZE;
}

/* Does a present SPTE at @level map memory (rather than point to a table)? */
static inline bool spte_is_leaf(uint64_t spte, unsigned int level)
{
	return level == SPTE_LEVEL_4K || spte_is_large(spte);
}

/* Host address of a leaf's page (add the offset within the level's page
 * size) or of a non-leaf's child table. */
static inline void *spte_host_addr(uint64_t spte)
{
	return (void *)(uintptr_t)(spte & SPTE_ADDR_MASK);
}

static inline uint64_t *spte_child_table(uint64_t spte)
{
	return (uint64_t *)(uintptr_t)(spte & SPTE_ADDR_MASK);
}

static inline bool spte_hw_writable(uint64_t spte)
{
	return spte & SPTE_WRITABLE;
}

static inline bool spte_mmu_writable(const struct spte_config *cfg, uint64_t spte)
{
	return spte & cfg->mmu_writable_mask;
}

static inline bool spte_host_writable(const struct spte_config *cfg, uint64_t spte)
{
	return spte & cfg->host_writable_mask;
}

/* An MMU-present leaf whose R/X bits are saved away (EPT without A/D). */
static inline bool spte_is_access_tracked(const struct spte_config *cfg, uint64_t spte)
{
	return !cfg->ad_enabled && spte_is_shadow_present(spte) &&
	       !(spte & cfg->acc_track_mask);
}

/* Has the guest used the page since it was last aged?  With A/D the A bit,
 * without it "not access-tracked". */
static inline bool spte_is_accessed(const struct spte_config *cfg, uint64_t spte)
{
	if (cfg->ad_enabled)
		return spte & cfg->accessed_mask;
	return !spte_is_access_tracked(cfg, spte);
}

/* May the guest have written the page since dirty state was last cleared?
 * With A/D the D bit, without it the W bit. */
static inline bool spte_is_dirty(const struct spte_config *cfg, uint64_t spte)
{
	return spte & (cfg->ad_enabled ? cfg->dirty_mask : SPTE_WRITABLE);
}

/* The rights (ACC_*) a present leaf grants the hardware now: W follows the
 * hardware bit, and an access-tracked leaf grants nothing. */
unsigned int spte_leaf_access(const struct spte_config *cfg, uint64_t spte);

/* Do the software writable bits agree with W (see the top of this file)? */
bool spte_writable_invariants_hold(const struct spte_config *cfg, uint64_t spte);

/* ---- MMIO SPTEs */

gfn_t spte_mmio_gfn(const struct spte_config *cfg, uint64_t spte);
unsigned int spte_mmio_access(const struct spte_config *cfg, uint64_t spte);
/* The generation bits the SPTE keeps: generation & cfg->mmio_gen_mask. */
uint64_t spte_mmio_generation(const struct spte_config *cfg, uint64_t spte);

/*
 * Was the MMIO SPTE made under memslot generation @generation?  Only the
 * low bits are compared, so a stale SPTE would match again once the
 * generation has advanced by a multiple of 2^17 (EPT) or 2^18 (NPT): the
 * owner of the SPTEs zaps every MMIO SPTE whenever a memslot change crosses
 * such a boundary (spte_mmio_gen_wrapped()).
 */
static inline bool spte_mmio_generation_matches(const struct spte_config *cfg, uint64_t spte,
						 uint64_t generation)
{
	return spte_mmio_generation(cfg, spte) == (generation & cfg->mmio_gen_mask);
}

/* Does going from @old_gen to @new_gen wrap the bits MMIO SPTEs keep? */
static inline bool spte_mmio_gen_wrapped(const struct spte_config *cfg, uint64_t old_gen,
					 uint64_t new_gen)
{
	return (old_gen & ~cfg->mmio_gen_mask) != (new_gen & ~cfg->mmio_gen_mask);
}

/* ---- operations: each returns the new value of an MMU-present SPTE */

/* Clears W (dirty logging); MMU-writable stays, so the fast path may
 * restore W.  A shadow-paging write-tracked page uses the next one. */
static inline uint64_t spte_write_protect(const struct spte_config *cfg, uint64_t spte)
{
	return spte & ~SPTE_WRITABLE;
}

/* Clears W and MMU-writable: only the MMU, under its lock, may make the
 * SPTE writable again. */
static inline uint64_t spte_clear_mmu_writable(const struct spte_config *cfg, uint64_t spte)
{
	return spte & ~(SPTE_WRITABLE | cfg->mmu_writable_mask);
}

/* Sets W if the SPTE is MMU-writable (KVM's fast page fault); otherwise
 * returns it unchanged. */
static inline uint64_t spte_make_writable(const struct spte_config *cfg, uint64_t spte)
{
	return spte_mmu_writable(cfg, spte) ? spte | SPTE_WRITABLE : spte;
}

/* Clears the dirty state: D with A/D; W without it (the next write then
 * faults, and the fast path sets W again). */
uint64_t spte_clear_dirty(const struct spte_config *cfg, uint64_t spte);

/* Clears the accessed state: A with A/D; without A/D, saves R and X in
 * software bits and clears R/W/X, so the next access faults (W is not
 * saved: the fast path gives it back on a write if MMU-writable).  An
 * already tracked SPTE is returned unchanged. */
uint64_t spte_mark_access_tracked(const struct spte_config *cfg, uint64_t spte);

/* Aging: clear A, or without A/D bits revoke access until the next fault. */
static inline uint64_t spte_make_old(const struct spte_config *cfg, uint64_t spte)
{
	if (cfg->ad_enabled)
		return spte & ~cfg->accessed_mask;
	return spte_mark_access_tracked(cfg, spte);
}

/* Undoes spte_mark_access_tracked() (without A/D: R and X come back, W
 * does not); an SPTE that is not access-tracked is returned unchanged. */
uint64_t spte_restore_access_tracked(const struct spte_config *cfg, uint64_t spte);

/*
 * What the CPU's walk writes into an SPTE it used: A on every level, D on
 * the leaf of a write; EPT only with A/D enabled, NPT always.  @level is
 * the SPTE's level.  The caller installs it with a compare-and-swap.
 */
uint64_t spte_set_hw_ad(const struct spte_config *cfg, uint64_t spte, unsigned int level,
			bool write);

/*
 * The SPTE KVM's fast page fault would install for access @acc (ACC_WRITE,
 * ACC_EXEC or 0): an access-tracked SPTE restored, and W set for a write if
 * MMU-writable.  The caller checks spte_permits() on the result.
 */
uint64_t spte_fast_fix(const struct spte_config *cfg, uint64_t spte, unsigned int acc);

/* ---- the hardware check */

/* Is the entry present but unusable: an EPT misconfiguration or an NPT
 * reserved-bit fault?  Every MMIO SPTE is. */
static inline bool spte_hw_misconfigured(const struct spte_config *cfg, uint64_t spte)
{
	if (cfg->format == SPTE_FORMAT_NPT)
		return (spte & NPT_PRESENT) && (spte & cfg->hw_rsvd_mask);
	if (!(spte & EPT_RWX_MASK))
		return false;
	/* Bits 2:0 = 010b or 110b; memory types 2, 3 and 7 are reserved. */
	return (spte & (EPT_READABLE | EPT_WRITABLE)) == EPT_WRITABLE ||
	       ((0x8cu >> ((spte & EPT_MT_MASK) >> EPT_MT_SHIFT)) & 1);
}

/*
 * Does the hardware let a guest read (acc 0), write (ACC_WRITE) or fetch
 * (ACC_EXEC) through this leaf?  Hardware bits only: EPT needs R, W or X
 * and no misconfiguration; NPT needs P and U/S (a guest access is a user
 * access), R/W for a write, NX clear for a fetch, and no reserved bit.
 * Level-dependent reserved bits (a huge leaf's low address bits) are not
 * checked: the constructors never set them.  Applied to a non-leaf it
 * answers for the rights that level contributes, and vmmu's non-leaves
 * grant everything, so a walk may apply it at every level or at the leaf.
 * ACC_USER in @acc is ignored.
 */
static inline bool spte_permits(const struct spte_config *cfg, uint64_t spte, unsigned int acc)
{
	uint64_t need = cfg->permit_need[acc & (ACC_WRITE | ACC_EXEC)];

	return ((spte ^ cfg->permit_flip) & need) == need && !spte_hw_misconfigured(cfg, spte);
}

/* Why an access is refused (spte_classify()). */
enum spte_fault {
	SPTE_OK,                  /* permitted */
	SPTE_FAULT_NOT_PRESENT,   /* the hardware sees nothing: map it */
	SPTE_FAULT_PROTECTION,    /* present, the rights refuse it */
	SPTE_FAULT_MISCONFIG,     /* EPT misconfiguration / NPT reserved bit:
				   * an MMIO SPTE if spte_is_mmio(), else a bug */
	SPTE_FAULT_ACCESS_TRACKED,/* not present to the hardware, but the fast
				   * path (spte_fast_fix()) makes it permit */
	SPTE_FAULT_WRITE_PROTECTED,/* a write to a W=0, MMU-writable SPTE that
				   * spte_fast_fix() makes permit */
};

/* Classifies access @acc through leaf @spte as the hardware and then the
 * fault handler see it. */
enum spte_fault spte_classify(const struct spte_config *cfg, uint64_t spte, unsigned int acc);

const char *spte_fault_name(enum spte_fault fault);

/* Writes a one-line description of @spte into @buf (always terminated);
 * returns what snprintf() would. */
int spte_describe(const struct spte_config *cfg, uint64_t spte, char *buf, size_t len);

#endif /* VMMU_SPTE_H */
