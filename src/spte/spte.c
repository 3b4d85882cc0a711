/* SPDX-License-Identifier: MIT */
/*
 * SPTE encodings (KVM's spte.c): the per-format masks, the constructors,
 * access tracking, the fast-path fix and the fault classification.  Every
 * function is pure: it computes a new SPTE value from an old one.
 */
#include <assert.h>
#include <stdio.h>

#include "spte.h"

#define BIT(n)                 (1ull << (n))

/* Host addresses an SPTE may hold: bits 50:12 (bit 51 is NPT's reserved
 * MMIO marker; user-space addresses stay below 2^47 anyway). */
#define SPTE_HOST_ADDR_MASK    (SPTE_ADDR_MASK & ~NPT_RSVD_BIT)

#define EPT_ACC_TRACK_SAVED    ((EPT_READABLE | EPT_EXECUTABLE) << EPT_ACC_TRACK_SAVED_SHIFT)
#define MMIO_GFN_BITS          40
#define MMIO_GPA_TOP_BIT       BIT(51)    /* NPT keeps GPA bit 51 ... */
#define NPT_MMIO_GPA_TOP_SLOT  BIT(63)    /* ... in bit 63 */

_Static_assert(!(SPTE_FROZEN & SPTE_MMU_PRESENT), "a frozen SPTE is not MMU-present");
_Static_assert(!(SPTE_FROZEN & (EPT_RWX_MASK | NPT_PRESENT)), "a frozen SPTE is not present");
_Static_assert(!(SPTE_FROZEN & SPTE_ADDR_MASK), "a frozen SPTE holds no address");
_Static_assert(!(EPT_ACC_TRACK_SAVED & (EPT_SPTE_HOST_WRITABLE | EPT_SPTE_MMU_WRITABLE)),
	       "saved R/X bits overlap the EPT writable bits");
_Static_assert(!((EPT_SPTE_HOST_WRITABLE | EPT_SPTE_MMU_WRITABLE | EPT_ACC_TRACK_SAVED) &
		 (SPTE_ADDR_MASK | EPT_RWX_MASK | EPT_MT_MASK | EPT_IPAT | SPTE_PAGE_SIZE |
		  EPT_ACCESSED | EPT_DIRTY | SPTE_MMU_PRESENT | BIT(63))),
	       "EPT software bits overlap hardware bits");
_Static_assert(!((NPT_SPTE_HOST_WRITABLE | NPT_SPTE_MMU_WRITABLE | SPTE_MMU_PRESENT) &
		 (SPTE_ADDR_MASK | NPT_PRESENT | NPT_WRITABLE | NPT_USER | NPT_ACCESSED |
		  NPT_DIRTY | SPTE_PAGE_SIZE | NPT_NX)),
	       "NPT software bits overlap hardware bits");

static void spte_config_init_ept(struct spte_config *cfg, bool ad_enabled)
{
	cfg->ad_enabled = ad_enabled;

	/* Exec-only entries are valid (every CPU KVM supports has them), so
	 * no bit is in every present SPTE; ACC_USER is the read right. */
	cfg->present_mask = 0;
	cfg->user_mask = EPT_READABLE;
	cfg->x_mask = EPT_EXECUTABLE;
	cfg->nx_mask = 0;
	cfg->accessed_mask = ad_enabled ? EPT_ACCESSED : 0;
	cfg->dirty_mask = ad_enabled ? EPT_DIRTY : 0;
	cfg->leaf_memtype = (EPT_MT_WB << EPT_MT_SHIFT) | EPT_IPAT;
	cfg->hw_present_mask = EPT_RWX_MASK;
	cfg->hw_rsvd_mask = 0;

	cfg->host_writable_mask = EPT_SPTE_HOST_WRITABLE;
	cfg->mmu_writable_mask = EPT_SPTE_MMU_WRITABLE;
	cfg->acc_track_mask = ad_enabled ? 0 : EPT_RWX_MASK;
	cfg->acc_track_saved_mask = ad_enabled ? 0 : EPT_ACC_TRACK_SAVED;

	/* W and X without R: an EPT misconfiguration at any level. */
	cfg->mmio_mask = EPT_RWX_MASK | SPTE_MMU_PRESENT;
	cfg->mmio_value = EPT_WRITABLE | EPT_EXECUTABLE;
	cfg->mmio_gpa_mask = SPTE_ADDR_MASK;
	cfg->mmio_gen_low_shift = 3;          /* bits 10:3 */
	cfg->mmio_gen_low_bits = 8;
	cfg->mmio_gen_high_bits = 9;          /* bits 63:55 */

	cfg->permit_flip = 0;
	cfg->permit_need[0] = EPT_READABLE;
	cfg->permit_need[ACC_EXEC] = EPT_EXECUTABLE;
	cfg->permit_need[ACC_WRITE] = EPT_WRITABLE;
	cfg->permit_need[ACC_WRITE | ACC_EXEC] = EPT_WRITABLE | EPT_EXECUTABLE;
}

static void spte_config_init_npt(struct spte_config *cfg)
{
	cfg->ad_enabled = true;

	cfg->present_mask = NPT_PRESENT;
	cfg->user_mask = NPT_USER;
	cfg->x_mask = 0;
	cfg->nx_mask = NPT_NX;
	cfg->accessed_mask = NPT_ACCESSED;
	cfg->dirty_mask = NPT_DIRTY;
	cfg->leaf_memtype = 0;
	cfg->hw_present_mask = NPT_PRESENT;
	cfg->hw_rsvd_mask = NPT_RSVD_BIT;

	cfg->host_writable_mask = NPT_SPTE_HOST_WRITABLE;
	cfg->mmu_writable_mask = NPT_SPTE_MMU_WRITABLE;
	cfg->acc_track_mask = 0;
	cfg->acc_track_saved_mask = 0;

	/* P with a reserved address bit: a reserved-bit fault at any level. */
	cfg->mmio_mask = NPT_PRESENT | NPT_RSVD_BIT | SPTE_MMU_PRESENT;
	cfg->mmio_value = NPT_PRESENT | NPT_RSVD_BIT;
	cfg->mmio_gpa_mask = SPTE_ADDR_MASK & ~NPT_RSVD_BIT;
	cfg->mmio_gen_low_shift = 1;          /* bits 10:1 */
	cfg->mmio_gen_low_bits = 10;
	cfg->mmio_gen_high_bits = 8;          /* bits 62:55 */

	/* Guest accesses are user accesses: every one needs P and U/S; a
	 * fetch needs NX clear, i.e. set after the flip. */
	cfg->permit_flip = NPT_NX;
	cfg->permit_need[0] = NPT_PRESENT | NPT_USER;
	cfg->permit_need[ACC_EXEC] = NPT_PRESENT | NPT_USER | NPT_NX;
	cfg->permit_need[ACC_WRITE] = NPT_PRESENT | NPT_USER | NPT_WRITABLE;
	cfg->permit_need[ACC_WRITE | ACC_EXEC] = NPT_PRESENT | NPT_USER | NPT_WRITABLE | NPT_NX;
}

void spte_config_init(struct spte_config *cfg, enum spte_format format, bool ad_enabled)
{
	*cfg = (struct spte_config){ .format = format };
	if (format == SPTE_FORMAT_EPT)
		spte_config_init_ept(cfg, ad_enabled);
	else
		spte_config_init_npt(cfg);
	cfg->mmio_gen_mask = (1ull << (cfg->mmio_gen_low_bits + cfg->mmio_gen_high_bits)) - 1;
}

uint64_t spte_make_leaf(const struct spte_config *cfg, void *host, unsigned int level,
			unsigned int access, bool host_writable, bool prefetch)
{
	uint64_t addr = (uintptr_t)host;
	uint64_t spte = SPTE_MMU_PRESENT | cfg->present_mask | cfg->leaf_memtype | addr;

	assert(level >= SPTE_LEVEL_4K && level <= SPTE_MAX_HUGE_LEVEL);
	assert(!(addr & ~SPTE_HOST_ADDR_MASK) && !(addr & (spte_level_size(level) - 1)));

	if (!host_writable)
		access &= ~ACC_WRITE;
	/* EPT: W without R is a misconfiguration, R/W/X = 0 not present. */
	assert(cfg->format != SPTE_FORMAT_EPT ||
	       ((access & (ACC_USER | ACC_EXEC)) && (!(access & ACC_WRITE) || (access & ACC_USER))));

	if (level > SPTE_LEVEL_4K)
		spte |= SPTE_PAGE_SIZE;
	spte |= (access & ACC_EXEC) ? cfg->x_mask : cfg->nx_mask;
	if (access & ACC_USER)
		spte |= cfg->user_mask;
	if (host_writable)
		spte |= cfg->host_writable_mask;
	if (access & ACC_WRITE)
		spte |= SPTE_WRITABLE | cfg->mmu_writable_mask | cfg->dirty_mask;
	if (prefetch)
		return spte_mark_access_tracked(cfg, spte);
	return spte | cfg->accessed_mask;
}

uint64_t spte_make_nonleaf(const struct spte_config *cfg, uint64_t *child)
{
	uint64_t addr = (uintptr_t)child;

	assert(!(addr & ~SPTE_HOST_ADDR_MASK));
	return SPTE_MMU_PRESENT | cfg->present_mask | addr | SPTE_WRITABLE | cfg->user_mask |
	       cfg->x_mask | cfg->accessed_mask;
}

uint64_t spte_make_mmio(const struct spte_config *cfg, gfn_t gfn, unsigned int access,
			uint64_t generation)
{
	uint64_t gpa = gfn_to_gpa(gfn);
	uint64_t gen = generation & cfg->mmio_gen_mask;
	uint64_t low = gen & ((1ull << cfg->mmio_gen_low_bits) - 1);
	uint64_t spte = cfg->mmio_value;

	assert(!(gfn >> MMIO_GFN_BITS));
	spte |= low << cfg->mmio_gen_low_shift;
	spte |= (gen >> cfg->mmio_gen_low_bits) << SPTE_MMIO_GEN_HIGH_SHIFT;
	spte |= (uint64_t)(access & ACC_ALL) << SPTE_MMIO_ACCESS_SHIFT;
	spte |= gpa & cfg->mmio_gpa_mask;
	if (cfg->format == SPTE_FORMAT_NPT && (gpa & MMIO_GPA_TOP_BIT))
		spte |= NPT_MMIO_GPA_TOP_SLOT;
	return spte;
}

gfn_t spte_mmio_gfn(const struct spte_config *cfg, uint64_t spte)
{
	uint64_t gpa = spte & cfg->mmio_gpa_mask;

	if (cfg->format == SPTE_FORMAT_NPT && (spte & NPT_MMIO_GPA_TOP_SLOT))
		gpa |= MMIO_GPA_TOP_BIT;
	return gpa_to_gfn(gpa);
}

unsigned int spte_mmio_access(const struct spte_config *cfg, uint64_t spte)
{
	return (unsigned int)(spte >> SPTE_MMIO_ACCESS_SHIFT) & ACC_ALL;
}

uint64_t spte_mmio_generation(const struct spte_config *cfg, uint64_t spte)
{
	uint64_t low = (spte >> cfg->mmio_gen_low_shift) & ((1ull << cfg->mmio_gen_low_bits) - 1);
	uint64_t high = (spte >> SPTE_MMIO_GEN_HIGH_SHIFT) & ((1ull << cfg->mmio_gen_high_bits) - 1);

	return low | (high << cfg->mmio_gen_low_bits);
}

unsigned int spte_leaf_access(const struct spte_config *cfg, uint64_t spte)
{
	unsigned int access = 0;

	if (!spte_hw_present(cfg, spte))
		return 0;
	if (spte & cfg->user_mask)
		access |= ACC_USER;
	if (spte & SPTE_WRITABLE)
		access |= ACC_WRITE;
	if ((spte & (cfg->x_mask | cfg->nx_mask)) == cfg->x_mask)
		access |= ACC_EXEC;
	return access;
}

bool spte_writable_invariants_hold(const struct spte_config *cfg, uint64_t spte)
{
	if (spte & cfg->mmu_writable_mask)
		return spte & cfg->host_writable_mask;
	return !(spte & SPTE_WRITABLE);
}

uint64_t spte_clear_dirty(const struct spte_config *cfg, uint64_t spte)
{
	return spte & ~(cfg->ad_enabled ? cfg->dirty_mask : SPTE_WRITABLE);
}

uint64_t spte_mark_access_tracked(const struct spte_config *cfg, uint64_t spte)
{
	uint64_t saved;

	if (cfg->ad_enabled)
		return spte & ~cfg->accessed_mask;
	if (spte_is_access_tracked(cfg, spte))
		return spte;
	/* W is dropped, not saved: a write must fault so that it is seen
	 * (dirty logging); the fast path gives W back if MMU-writable. */
	saved = (spte & (EPT_READABLE | EPT_EXECUTABLE)) << EPT_ACC_TRACK_SAVED_SHIFT;
	return ((spte & ~cfg->acc_track_saved_mask) | saved) & ~cfg->acc_track_mask;
}

uint64_t spte_restore_access_tracked(const struct spte_config *cfg, uint64_t spte)
{
	uint64_t saved;

	if (!spte_is_access_tracked(cfg, spte))
		return spte;
	saved = (spte & cfg->acc_track_saved_mask) >> EPT_ACC_TRACK_SAVED_SHIFT;
	return (spte & ~cfg->acc_track_saved_mask) | saved;
}

uint64_t spte_set_hw_ad(const struct spte_config *cfg, uint64_t spte, unsigned int level,
			bool write)
{
	if (!cfg->ad_enabled)
		return spte;
	spte |= cfg->accessed_mask;
	if (write && spte_is_leaf(spte, level))
		spte |= cfg->dirty_mask;
	return spte;
}

uint64_t spte_fast_fix(const struct spte_config *cfg, uint64_t spte, unsigned int acc)
{
	if (!spte_is_shadow_present(spte))
		return spte;
	spte = spte_restore_access_tracked(cfg, spte);
	if (acc & ACC_WRITE)
		spte = spte_make_writable(cfg, spte);
	return spte;
}

enum spte_fault spte_classify(const struct spte_config *cfg, uint64_t spte, unsigned int acc)
{
	uint64_t fixed;
	bool fixable;

	if (spte_permits(cfg, spte, acc))
		return SPTE_OK;
	if (spte_hw_misconfigured(cfg, spte))
		return SPTE_FAULT_MISCONFIG;
	fixed = spte_fast_fix(cfg, spte, acc);
	fixable = fixed != spte && spte_permits(cfg, fixed, acc);
	if (!spte_hw_present(cfg, spte))
		return fixable ? SPTE_FAULT_ACCESS_TRACKED : SPTE_FAULT_NOT_PRESENT;
	return fixable ? SPTE_FAULT_WRITE_PROTECTED : SPTE_FAULT_PROTECTION;
}

const char *spte_fault_name(enum spte_fault fault)
{
	static const char *const names[] = {
		[SPTE_OK] = "ok",
		[SPTE_FAULT_NOT_PRESENT] = "not-present",
		[SPTE_FAULT_PROTECTION] = "protection",
		[SPTE_FAULT_MISCONFIG] = "misconfig",
		[SPTE_FAULT_ACCESS_TRACKED] = "access-tracked",
		[SPTE_FAULT_WRITE_PROTECTED] = "write-protected",
	};

	if ((unsigned int)fault < ARRAY_SIZE(names))
		return names[fault];
	return "?";
}

/* ---- spte_describe() */

struct describe_buf {
	char *buf;
	size_t len;
	int pos;                  /* what snprintf() would have written so far */
};

/* Appends @s, keeping the buffer terminated; counts what did not fit. */
static void describe_str(struct describe_buf *d, const char *s)
{
	for (; *s; s++, d->pos++) {
		if ((size_t)d->pos + 1 < d->len) {
			d->buf[d->pos] = *s;
			d->buf[d->pos + 1] = '\0';
		}
	}
}

static void describe_add(struct describe_buf *d, const char *fmt, unsigned long long v)
{
	char tmp[32];

	snprintf(tmp, sizeof(tmp), fmt, v);
	describe_str(d, tmp);
}

static void describe_flag(struct describe_buf *d, uint64_t spte, uint64_t mask, const char *name)
{
	if (mask && (spte & mask))
		describe_str(d, name);
}

static void describe_access(struct describe_buf *d, unsigned int access)
{
	char rights[] = " acc=uwx";

	if (!(access & ACC_USER))
		rights[5] = '-';
	if (!(access & ACC_WRITE))
		rights[6] = '-';
	if (!(access & ACC_EXEC))
		rights[7] = '-';
	describe_str(d, rights);
}

static void describe_present(const struct spte_config *cfg, uint64_t spte, struct describe_buf *d)
{
	describe_add(d, " addr=0x%llx", spte & SPTE_ADDR_MASK);
	if (cfg->format == SPTE_FORMAT_EPT) {
		describe_flag(d, spte, EPT_READABLE, " R");
		describe_flag(d, spte, EPT_WRITABLE, " W");
		describe_flag(d, spte, EPT_EXECUTABLE, " X");
		if (spte & EPT_MT_MASK)
			describe_add(d, " mt=%llu", (spte & EPT_MT_MASK) >> EPT_MT_SHIFT);
		describe_flag(d, spte, EPT_IPAT, " ipat");
	} else {
		describe_flag(d, spte, NPT_PRESENT, " P");
		describe_flag(d, spte, NPT_WRITABLE, " W");
		describe_flag(d, spte, NPT_USER, " U");
		describe_flag(d, spte, NPT_NX, " NX");
	}
	describe_flag(d, spte, SPTE_PAGE_SIZE, " PS");
	describe_flag(d, spte, cfg->accessed_mask, " A");
	describe_flag(d, spte, cfg->dirty_mask, " D");
	describe_flag(d, spte, cfg->mmu_writable_mask, " mmu-w");
	describe_flag(d, spte, cfg->host_writable_mask, " host-w");
	if (spte_is_access_tracked(cfg, spte)) {
		describe_str(d, " tracked(saved");
		describe_flag(d, spte, EPT_READABLE << EPT_ACC_TRACK_SAVED_SHIFT, " R");
		describe_flag(d, spte, EPT_EXECUTABLE << EPT_ACC_TRACK_SAVED_SHIFT, " X");
		describe_str(d, ")");
	}
}

int spte_describe(const struct spte_config *cfg, uint64_t spte, char *buf, size_t len)
{
	struct describe_buf d = { .buf = buf, .len = len };

	if (len)
		buf[0] = '\0';
	describe_add(&d, "%016llx", spte);
	describe_str(&d, cfg->format == SPTE_FORMAT_EPT ? " ept" : " npt");
	if (spte == SPTE_NONPRESENT) {
		describe_str(&d, " none");
	} else if (spte_is_frozen(spte)) {
		describe_str(&d, " frozen");
	} else if (spte_is_mmio(cfg, spte)) {
		describe_add(&d, " mmio gfn=0x%llx", spte_mmio_gfn(cfg, spte));
		describe_access(&d, spte_mmio_access(cfg, spte));
		describe_add(&d, " gen=0x%llx", spte_mmio_generation(cfg, spte));
	} else if (spte_is_shadow_present(spte)) {
		describe_present(cfg, spte, &d);
	} else {
		describe_str(&d, " invalid");
	}
	return d.pos;
}
