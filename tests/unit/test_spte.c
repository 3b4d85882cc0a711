/* SPDX-License-Identifier: MIT */
/*
 * SPTE encodings (src/spte): every constructor and accessor in EPT with and
 * without A/D and in NPT, exact bit patterns written by hand from
 * docs/SPTE.md, MMIO generations (stale ones caught, wraps detected),
 * access tracking, write protection and the fast path, and the hardware
 * permission check against tables written by hand from the Intel SDM
 * (vol. 3C, 29.3: EPT) and the AMD APM (vol. 2, 15.25 and 5.4: NPT).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "spte/spte.h"

/* The three configurations every test runs over. */
enum { CFG_EPT_AD, CFG_EPT_NO_AD, CFG_NPT, CFG_NR };

static const char *const cfg_name[CFG_NR] = { "ept+ad", "ept-no-ad", "npt" };

static void make_cfg(struct spte_config *cfg, unsigned int which)
{
	if (which == CFG_NPT)
		spte_config_init(cfg, SPTE_FORMAT_NPT, false);   /* A/D forced on */
	else
		spte_config_init(cfg, SPTE_FORMAT_EPT, which == CFG_EPT_AD);
}

/* Host addresses (never dereferenced), aligned for each level. */
#define HOST_4K  0x7f1234567000ull
#define HOST_2M  0x7f1234600000ull
#define HOST_1G  0x7f1200000000ull
#define CHILD_PT 0x7f00deadb000ull

static const uint64_t host_at_level[4] = { 0, HOST_4K, HOST_2M, HOST_1G };

static void *hva(uint64_t addr)
{
	return (void *)(uintptr_t)addr;
}

/* Accesses spte_permits() takes, with their column in the tables below. */
static const unsigned int accesses[3] = { 0, ACC_WRITE, ACC_EXEC };

/* Can a leaf in this configuration grant @access?  EPT needs R for W and
 * some right at all. */
static bool access_valid(const struct spte_config *cfg, unsigned int access)
{
	if (cfg->format == SPTE_FORMAT_NPT)
		return true;
	return (access & (ACC_USER | ACC_EXEC)) && (!(access & ACC_WRITE) || (access & ACC_USER));
}

/* ---- exact encodings, by hand from docs/SPTE.md */

static void test_golden_encodings(void **state)
{
	struct spte_config ept_ad, ept, npt;

	make_cfg(&ept_ad, CFG_EPT_AD);
	make_cfg(&ept, CFG_EPT_NO_AD);
	make_cfg(&npt, CFG_NPT);

	/* EPT 4K RWX: R W X (0x7), WB (6 << 3), IPAT (0x40), A (0x100),
	 * D (0x200), MMU-present (0x800), host-writable 57, MMU-writable 58. */
	assert_int_equal(spte_make_leaf(&ept_ad, hva(HOST_4K), 1, ACC_ALL, true, false),
			 0x06007f1234567b77ull);
	/* Without A/D: no A, no D. */
	assert_int_equal(spte_make_leaf(&ept, hva(HOST_4K), 1, ACC_ALL, true, false),
			 0x06007f1234567877ull);
	/* ... prefetched: R and X saved in 54 and 56, R/W/X cleared. */
	assert_int_equal(spte_make_leaf(&ept, hva(HOST_4K), 1, ACC_ALL, true, true),
			 0x07407f1234567870ull);
	/* EPT 2M read-only exec: R X, WB, IPAT, PS, A, MMU-present; no
	 * writable bits at all since the host does not allow writes. */
	assert_int_equal(spte_make_leaf(&ept_ad, hva(HOST_2M), 2, ACC_ALL, false, false),
			 0x00007f12346009f5ull);
	/* NPT 4K: P W U (0x7), A (0x20), D (0x40), host-w (0x200), MMU-w
	 * (0x400), MMU-present (0x800), NX clear. */
	assert_int_equal(spte_make_leaf(&npt, hva(HOST_4K), 1, ACC_ALL, true, false),
			 0x00007f1234567e67ull);
	/* NPT 2M read-only, no exec: P U A PS MMU-present, NX. */
	assert_int_equal(spte_make_leaf(&npt, hva(HOST_2M), 2, ACC_USER, false, false),
			 0x80007f12346008a5ull);
	/* NPT 1G prefetched writable: no A, but D (born dirty). */
	assert_int_equal(spte_make_leaf(&npt, hva(HOST_1G), 3, ACC_ALL, true, true),
			 0x00007f1200000ec7ull);

	/* Non-leaves: every right, A when A/D is on. */
	assert_int_equal(spte_make_nonleaf(&ept_ad, hva(CHILD_PT)), 0x00007f00deadb907ull);
	assert_int_equal(spte_make_nonleaf(&ept, hva(CHILD_PT)), 0x00007f00deadb807ull);
	assert_int_equal(spte_make_nonleaf(&npt, hva(CHILD_PT)), 0x00007f00deadb827ull);

	/* EPT MMIO: 110b, gen[7:0] in 10:3, GFN in 51:12, access in 54:52,
	 * gen[16:8] in 63:55. */
	assert_int_equal(spte_make_mmio(&ept_ad, 0x12345, ACC_ALL, 0x1ffff), 0xfff00000123457feull);
	assert_int_equal(spte_make_mmio(&ept, 0x12345, ACC_WRITE, 0x100), 0x00a0000012345006ull);
	/* NPT MMIO: P and reserved bit 51, gen[9:0] in 10:1, GFN[38:0] in
	 * 50:12 and GFN bit 39 in 63, access in 54:52, gen[17:10] in 62:55. */
	assert_int_equal(spte_make_mmio(&npt, 0x8000000001ull, ACC_ALL, 0x3ffff),
			 0xfff80000000017ffull);
	assert_int_equal(spte_make_mmio(&npt, 0x12345, ACC_USER, 0x400), 0x00c8000012345001ull);

	assert_int_equal(SPTE_FROZEN, 0x5a0);
	assert_int_equal(SPTE_NONPRESENT, 0);
}

/* ---- leaves: every level, access, host-writable and prefetch */

static void check_leaf(const struct spte_config *cfg, unsigned int level, unsigned int access,
		       bool host_writable, bool prefetch)
{
	uint64_t host = host_at_level[level];
	uint64_t spte = spte_make_leaf(cfg, hva(host), level, access, host_writable, prefetch);
	unsigned int granted = access & (host_writable ? ACC_ALL : ~ACC_WRITE);
	bool tracked = prefetch && !cfg->ad_enabled;
	unsigned int now = tracked ? 0 : granted;

	assert_true(spte_is_shadow_present(spte));
	assert_false(spte_is_mmio(cfg, spte));
	assert_false(spte_is_frozen(spte));
	assert_true(spte_is_leaf(spte, level));
	assert_int_equal(spte_is_large(spte), level > 1);
	assert_ptr_equal(spte_host_addr(spte), hva(host));
	assert_int_equal(spte_hw_present(cfg, spte), !tracked);
	assert_int_equal(spte_is_access_tracked(cfg, spte), tracked);
	assert_int_equal(spte_leaf_access(cfg, spte), now);
	assert_int_equal(spte_host_writable(cfg, spte), host_writable);
	assert_int_equal(spte_mmu_writable(cfg, spte), !!(granted & ACC_WRITE));
	assert_int_equal(spte_hw_writable(spte), !!(now & ACC_WRITE));
	assert_true(spte_writable_invariants_hold(cfg, spte));
	assert_int_equal(spte_is_accessed(cfg, spte), !prefetch);
	/* A/D: born dirty when writable; without: dirty means W. */
	assert_int_equal(spte_is_dirty(cfg, spte), !!(now & ACC_WRITE));
	assert_false(spte_hw_misconfigured(cfg, spte));
	/* The hardware view agrees with the rights it was built with. */
	for (unsigned int i = 0; i < 3; i++) {
		unsigned int acc = accesses[i];
		bool ok = (acc == 0 ? (now & ACC_USER) :
			   acc == ACC_WRITE ? (now & ACC_WRITE) && (now & ACC_USER) :
			   (now & ACC_EXEC) && (cfg->format == SPTE_FORMAT_EPT || (now & ACC_USER)));

		assert_int_equal(spte_permits(cfg, spte, acc), ok);
		assert_int_equal(spte_classify(cfg, spte, acc) == SPTE_OK, ok);
	}
	if (tracked)
		assert_int_equal(spte_leaf_access(cfg, spte_restore_access_tracked(cfg, spte)),
				 granted & ~ACC_WRITE);
}

static void test_leaf_round_trip(void **state)
{
	struct spte_config cfg;
	unsigned int checked = 0;

	for (unsigned int c = 0; c < CFG_NR; c++) {
		make_cfg(&cfg, c);
		for (unsigned int level = 1; level <= 3; level++)
			for (unsigned int access = 0; access <= ACC_ALL; access++)
				for (unsigned int hw = 0; hw < 2; hw++)
					for (unsigned int pf = 0; pf < 2; pf++) {
						unsigned int eff = access & (hw ? ACC_ALL : ~ACC_WRITE);

						if (!access_valid(&cfg, eff))
							continue;
						check_leaf(&cfg, level, access, hw, pf);
						checked++;
					}
	}
	/* Per level and prefetch value: EPT grants 5 valid access values
	 * host-writable (X, U, UX, UW, UWX) and 6 not (W is dropped first:
	 * all but 0 and W alone); NPT takes all 8 both ways. */
	assert_int_equal(checked, 2 * (3 * 2 * (5 + 6)) + 3 * 2 * (8 + 8));
}

/* Leaf versus non-leaf at every level. */
static void test_leaf_and_nonleaf_levels(void **state)
{
	struct spte_config cfg;

	for (unsigned int c = 0; c < CFG_NR; c++) {
		make_cfg(&cfg, c);
		uint64_t nonleaf = spte_make_nonleaf(&cfg, hva(CHILD_PT));
		uint64_t leaf4k = spte_make_leaf(&cfg, hva(HOST_4K), 1, ACC_ALL, true, false);

		assert_true(spte_is_shadow_present(nonleaf));
		assert_false(spte_is_large(nonleaf));
		assert_ptr_equal(spte_child_table(nonleaf), hva(CHILD_PT));
		assert_int_equal(spte_is_accessed(&cfg, nonleaf), true);
		assert_false(spte_mmu_writable(&cfg, nonleaf));
		for (unsigned int level = 2; level <= SPTE_MAX_LEVEL; level++) {
			assert_false(spte_is_leaf(nonleaf, level));
			/* A 4K leaf's SPTE (PS clear) read at a higher level is a
			 * table pointer: PS decides. */
			assert_false(spte_is_leaf(leaf4k, level));
		}
		assert_true(spte_is_leaf(leaf4k, 1));
		for (unsigned int level = 2; level <= 3; level++)
			assert_true(spte_is_leaf(spte_make_leaf(&cfg, hva(host_at_level[level]), level,
								ACC_ALL, true, false), level));
		/* A non-leaf grants everything, so a walk may AND the check over
		 * every level. */
		for (unsigned int i = 0; i < 3; i++)
			assert_true(spte_permits(&cfg, nonleaf, accesses[i]));
		/* The walk sets A on a non-leaf, never D. */
		uint64_t walked = spte_set_hw_ad(&cfg, nonleaf & ~cfg.accessed_mask, 2, true);

		assert_int_equal(walked, cfg.ad_enabled ? nonleaf : nonleaf & ~cfg.accessed_mask);
		assert_false(walked & cfg.dirty_mask);
	}

	for (unsigned int level = 1; level <= SPTE_MAX_LEVEL; level++)
		assert_int_equal(spte_level_size(level), 4096ull << (9 * (level - 1)));
	assert_int_equal(spte_index(0x0000123456789000ull, 1), 0x189);
	assert_int_equal(spte_index(0x0000123456789000ull, 2), 0x0b3);
	assert_int_equal(spte_index(0x0000123456789000ull, 3), 0x0d1);
	assert_int_equal(spte_index(0x0000123456789000ull, 4), 0x024);
	assert_int_equal(spte_index(0x0100000000000000ull, 5), 0x100);
}

/* ---- MMIO SPTEs */

static const gfn_t mmio_gfns[] = {
	0, 1, 0x12345, 0xfee00, 0x7fffffffffull, 0x8000000000ull, 0xffffffffffull,
	0xaaaaaaaaaaull, 0x5555555555ull,
};

static const uint64_t generations[] = {
	0, 1, 2, 0xff, 0x100, 0x3ff, 0x400, 0x1ffff, 0x20000, 0x3ffff, 0x40000,
	0x123456789abcdefull, ~0ull,
};

static void test_mmio_round_trip(void **state)
{
	struct spte_config cfg;

	for (unsigned int c = 0; c < CFG_NR; c++) {
		make_cfg(&cfg, c);
		/* 17 generation bits for EPT, 18 for NPT. */
		assert_int_equal(cfg.mmio_gen_mask, c == CFG_NPT ? 0x3ffff : 0x1ffff);
		for (unsigned int g = 0; g < ARRAY_SIZE(mmio_gfns); g++)
			for (unsigned int access = 0; access <= ACC_ALL; access++)
				for (unsigned int n = 0; n < ARRAY_SIZE(generations); n++) {
					uint64_t gen = generations[n];
					uint64_t spte = spte_make_mmio(&cfg, mmio_gfns[g], access, gen);

					assert_true(spte_is_mmio(&cfg, spte));
					assert_false(spte_is_shadow_present(spte));
					assert_false(spte_is_frozen(spte));
					assert_int_equal(spte_mmio_gfn(&cfg, spte), mmio_gfns[g]);
					assert_int_equal(spte_mmio_access(&cfg, spte), access);
					assert_int_equal(spte_mmio_generation(&cfg, spte),
							 gen & cfg.mmio_gen_mask);
					assert_true(spte_mmio_generation_matches(&cfg, spte, gen));
					/* The hardware faults it whatever the access. */
					for (unsigned int i = 0; i < 3; i++) {
						assert_false(spte_permits(&cfg, spte, accesses[i]));
						assert_int_equal(spte_classify(&cfg, spte, accesses[i]),
								 SPTE_FAULT_MISCONFIG);
						assert_int_equal(spte_fast_fix(&cfg, spte, accesses[i]),
								 spte);
					}
				}
	}
}

/*
 * A stale MMIO SPTE is caught: any later generation either fails to match
 * or crossed a wrap of the kept bits (where every MMIO SPTE is zapped).
 */
static void test_mmio_stale_generation(void **state)
{
	struct spte_config cfg;

	for (unsigned int c = 0; c < CFG_NR; c++) {
		make_cfg(&cfg, c);
		uint64_t period = cfg.mmio_gen_mask + 1;

		for (unsigned int n = 0; n < ARRAY_SIZE(generations); n++) {
			uint64_t gen = generations[n];
			uint64_t spte = spte_make_mmio(&cfg, 0x12345, ACC_ALL, gen);

			for (uint64_t d = 1; d <= period + 3; d++) {
				uint64_t now = gen + d;
				bool match = spte_mmio_generation_matches(&cfg, spte, now);

				assert_true(!match || spte_mmio_gen_wrapped(&cfg, gen, now));
				/* Within one period, only a crossing wraps. */
				if (d < period && !match)
					assert_int_equal(spte_mmio_gen_wrapped(&cfg, gen, now),
							 (gen / period) != (now / period));
			}
			/* Exactly one period later the kept bits alias ... */
			assert_true(spte_mmio_generation_matches(&cfg, spte, gen + period));
			/* ... and that is always a wrap. */
			assert_true(spte_mmio_gen_wrapped(&cfg, gen, gen + period));
		}
		/* Bits that wrap: the top kept bit and the first dropped one. */
		uint64_t top = period >> 1;
		uint64_t spte = spte_make_mmio(&cfg, 1, ACC_ALL, top);

		assert_false(spte_mmio_generation_matches(&cfg, spte, 0));
		assert_true(spte_mmio_generation_matches(&cfg, spte, top | period));
		assert_true(spte_mmio_gen_wrapped(&cfg, top, top | period));
		assert_false(spte_mmio_gen_wrapped(&cfg, 5, 6));
		assert_true(spte_mmio_gen_wrapped(&cfg, period - 1, period));
		assert_false(spte_mmio_gen_wrapped(&cfg, period, period + 1));
	}
}

/* Whatever else an MMIO-patterned value holds, it is never MMU-present and
 * never permits anything. */
static void test_no_mmio_is_present(void **state)
{
	struct spte_config cfg;
	uint64_t x = 0x9e3779b97f4a7c15ull;

	for (unsigned int c = 0; c < CFG_NR; c++) {
		make_cfg(&cfg, c);
		for (unsigned int n = 0; n < 100000; n++) {
			uint64_t v;

			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			v = (x & ~cfg.mmio_mask) | cfg.mmio_value;
			assert_true(spte_is_mmio(&cfg, v));
			assert_false(spte_is_shadow_present(v));
			for (unsigned int i = 0; i < 3; i++)
				assert_false(spte_permits(&cfg, v, accesses[i]));
			/* And a random MMU-present value is never MMIO. */
			assert_false(spte_is_mmio(&cfg, x | SPTE_MMU_PRESENT));
		}
	}
}

/* ---- the frozen and initial values */

static void test_frozen_and_nonpresent(void **state)
{
	struct spte_config cfg;
	const uint64_t values[] = { SPTE_FROZEN, SPTE_NONPRESENT };

	for (unsigned int c = 0; c < CFG_NR; c++) {
		make_cfg(&cfg, c);
		for (unsigned int v = 0; v < ARRAY_SIZE(values); v++) {
			uint64_t spte = values[v];

			assert_false(spte_is_shadow_present(spte));
			assert_false(spte_is_mmio(&cfg, spte));
			assert_false(spte_hw_present(&cfg, spte));
			assert_false(spte_is_access_tracked(&cfg, spte));
			assert_ptr_equal(spte_host_addr(spte), NULL);
			for (unsigned int i = 0; i < 3; i++) {
				assert_false(spte_permits(&cfg, spte, accesses[i]));
				assert_int_equal(spte_classify(&cfg, spte, accesses[i]),
						 SPTE_FAULT_NOT_PRESENT);
				assert_int_equal(spte_fast_fix(&cfg, spte, accesses[i]), spte);
			}
		}
		assert_true(spte_is_frozen(SPTE_FROZEN));
		assert_false(spte_is_frozen(SPTE_NONPRESENT));
		assert_false(spte_is_frozen(spte_make_mmio(&cfg, 0, 0, 0)));
	}
}

/* ---- access tracking */

static void test_access_tracking(void **state)
{
	struct spte_config cfg;

	for (unsigned int c = 0; c < CFG_NR; c++) {
		make_cfg(&cfg, c);
		for (unsigned int level = 1; level <= 3; level++)
			for (unsigned int access = 0; access <= ACC_ALL; access++)
				for (unsigned int hw = 0; hw < 2; hw++) {
					unsigned int eff = access & (hw ? ACC_ALL : ~ACC_WRITE);

					if (!access_valid(&cfg, eff))
						continue;
					uint64_t spte = spte_make_leaf(&cfg, hva(host_at_level[level]),
								       level, access, hw, false);
					uint64_t old = spte_mark_access_tracked(&cfg, spte);

					assert_false(spte_is_accessed(&cfg, old));
					assert_true(spte_is_shadow_present(old));
					assert_false(spte_is_mmio(&cfg, old));
					assert_int_equal(spte_mark_access_tracked(&cfg, old), old);
					assert_ptr_equal(spte_host_addr(old), spte_host_addr(spte));
					assert_true(spte_writable_invariants_hold(&cfg, old));

					if (cfg.ad_enabled) {
						/* Only A goes; the hardware puts it back. */
						assert_int_equal(old, spte & ~cfg.accessed_mask);
						assert_false(spte_is_access_tracked(&cfg, old));
						assert_int_equal(spte_restore_access_tracked(&cfg, old), old);
						assert_int_equal(spte_set_hw_ad(&cfg, old, level, false), spte);
						continue;
					}
					/* Without A/D: not present to the hardware; R and X
					 * come back exactly, W does not. */
					assert_true(spte_is_access_tracked(&cfg, old));
					assert_false(spte_hw_present(&cfg, old));
					assert_int_equal(spte_restore_access_tracked(&cfg, old),
							 spte & ~SPTE_WRITABLE);
					assert_int_equal(spte_set_hw_ad(&cfg, old, level, true), old);
					for (unsigned int i = 0; i < 3; i++) {
						unsigned int acc = accesses[i];
						enum spte_fault f = spte_classify(&cfg, old, acc);

						if (spte_permits(&cfg, spte, acc)) {
							/* Fixable: the fast path gives back
							 * what the access needs. */
							assert_int_equal(f, SPTE_FAULT_ACCESS_TRACKED);
							assert_true(spte_permits(&cfg, spte_fast_fix(&cfg, old, acc), acc));
						} else {
							assert_int_equal(f, SPTE_FAULT_NOT_PRESENT);
						}
					}
					/* A write on a writable page restores it whole. */
					if (eff & ACC_WRITE)
						assert_int_equal(spte_fast_fix(&cfg, old, ACC_WRITE), spte);
				}
	}
}

/* ---- write protection, dirty state and the fast path */

static void test_write_protect_and_fast_path(void **state)
{
	struct spte_config cfg;

	for (unsigned int c = 0; c < CFG_NR; c++) {
		make_cfg(&cfg, c);
		uint64_t spte = spte_make_leaf(&cfg, hva(HOST_4K), 1, ACC_ALL, true, false);
		uint64_t wp = spte_write_protect(&cfg, spte);
		uint64_t tracked, ro;

		/* Dirty logging: W goes, MMU-writable stays. */
		assert_false(spte_hw_writable(wp));
		assert_true(spte_mmu_writable(&cfg, wp));
		assert_true(spte_writable_invariants_hold(&cfg, wp));
		assert_int_equal(spte_classify(&cfg, wp, ACC_WRITE), SPTE_FAULT_WRITE_PROTECTED);
		assert_int_equal(spte_classify(&cfg, wp, 0), SPTE_OK);
		assert_int_equal(spte_classify(&cfg, wp, ACC_EXEC), SPTE_OK);
		assert_int_equal(spte_make_writable(&cfg, wp), spte);
		assert_int_equal(spte_fast_fix(&cfg, wp, ACC_WRITE), spte);
		assert_int_equal(spte_fast_fix(&cfg, wp, 0), wp);

		/* Write tracking: MMU-writable goes too; only the MMU lock path
		 * may give W back. */
		tracked = spte_clear_mmu_writable(&cfg, spte);
		assert_false(spte_hw_writable(tracked));
		assert_false(spte_mmu_writable(&cfg, tracked));
		assert_true(spte_host_writable(&cfg, tracked));
		assert_true(spte_writable_invariants_hold(&cfg, tracked));
		assert_int_equal(spte_classify(&cfg, tracked, ACC_WRITE), SPTE_FAULT_PROTECTION);
		assert_int_equal(spte_make_writable(&cfg, tracked), tracked);
		assert_int_equal(spte_fast_fix(&cfg, tracked, ACC_WRITE), tracked);

		/* A read-only memslot: never writable. */
		ro = spte_make_leaf(&cfg, hva(HOST_4K), 1, ACC_ALL, false, false);
		assert_int_equal(spte_classify(&cfg, ro, ACC_WRITE), SPTE_FAULT_PROTECTION);
		assert_int_equal(spte_make_writable(&cfg, ro), ro);

		/* Clearing dirty state: D with A/D, W without. */
		uint64_t clean = spte_clear_dirty(&cfg, spte);

		assert_true(spte_is_dirty(&cfg, spte));
		assert_false(spte_is_dirty(&cfg, clean));
		if (cfg.ad_enabled) {
			assert_int_equal(clean, spte & ~cfg.dirty_mask);
			assert_int_equal(spte_classify(&cfg, clean, ACC_WRITE), SPTE_OK);
			/* The CPU's write sets D again. */
			assert_int_equal(spte_set_hw_ad(&cfg, clean, 1, true), spte);
			assert_int_equal(spte_set_hw_ad(&cfg, clean, 1, false), clean);
		} else {
			assert_int_equal(clean, wp);
			assert_int_equal(spte_classify(&cfg, clean, ACC_WRITE),
					 SPTE_FAULT_WRITE_PROTECTED);
			assert_int_equal(spte_set_hw_ad(&cfg, clean, 1, true), clean);
		}

		/* A huge leaf: the CPU's write sets D on it; a prefetched one
		 * gets A on a read. */
		uint64_t huge = spte_make_leaf(&cfg, hva(HOST_2M), 2, ACC_ALL, true, true);

		if (cfg.ad_enabled) {
			uint64_t young = spte_set_hw_ad(&cfg, huge, 2, false);

			assert_true(spte_is_accessed(&cfg, young));
			assert_true(spte_is_dirty(&cfg, spte_set_hw_ad(&cfg, spte_clear_dirty(&cfg, young), 2, true)));
		}
	}
}

/* ---- the hardware check, by hand from the SDM and the APM */

/*
 * Expected outcome of a read, a write and a fetch, in that order:
 *   Y permitted, N not present, P protection, M misconfiguration.
 */
struct permit_row {
	uint64_t bits;
	const char *expect;
};

/*
 * EPT (SDM 29.3.2, 29.3.3): present iff any of bits 2:0; W without R
 * (010b, 110b) is a misconfiguration (29.3.3.1); exec-only (100b) is valid
 * where supported, as KVM assumes.  A read needs R, a write W, a fetch X.
 */
static const struct permit_row ept_table[] = {
	{ 0x0, "NNN" },   /* --- */
	{ 0x1, "YPP" },   /* R-- */
	{ 0x2, "MMM" },   /* -W- */
	{ 0x3, "YYP" },   /* RW- */
	{ 0x4, "PPY" },   /* --X */
	{ 0x5, "YPY" },   /* R-X */
	{ 0x6, "MMM" },   /* -WX */
	{ 0x7, "YYY" },   /* RWX */
};

/*
 * EPT memory types of a present leaf (SDM 29.3.3.1): 2, 3 and 7 are
 * reserved (misconfiguration); 0 UC, 1 WC, 4 WT, 5 WP, 6 WB.  Row: RWX.
 */
static const struct permit_row ept_memtype_table[] = {
	{ 0x7 | (0ull << 3), "YYY" },
	{ 0x7 | (1ull << 3), "YYY" },
	{ 0x7 | (2ull << 3), "MMM" },
	{ 0x7 | (3ull << 3), "MMM" },
	{ 0x7 | (4ull << 3), "YYY" },
	{ 0x7 | (5ull << 3), "YYY" },
	{ 0x7 | (6ull << 3), "YYY" },
	{ 0x7 | (7ull << 3), "MMM" },
	{ 0x0 | (7ull << 3), "NNN" },   /* not present: nothing checked */
};

/*
 * NPT (APM 15.25.5, 5.6): nested tables are ordinary long-mode tables and
 * every guest access through them is a user access: P=0 not present; U/S=0
 * refuses everything; R/W=0 refuses writes; NX=1 refuses fetches (the host
 * runs with EFER.NXE=1).  Bit 51 above the simulated host MAXPHYADDR is
 * reserved: a reserved-bit fault whatever the rights, if P=1.
 */
#define P  NPT_PRESENT
#define W  NPT_WRITABLE
#define U  NPT_USER
#define NX NPT_NX
#define RB NPT_RSVD_BIT
static const struct permit_row npt_table[] = {
	{ 0,                "NNN" },
	{ W,                "NNN" },
	{ U,                "NNN" },
	{ W | U,            "NNN" },
	{ NX,               "NNN" },
	{ W | NX,           "NNN" },
	{ U | NX,           "NNN" },
	{ W | U | NX,       "NNN" },
	{ P,                "PPP" },
	{ P | W,            "PPP" },
	{ P | U,            "YPY" },
	{ P | W | U,        "YYY" },
	{ P | NX,           "PPP" },
	{ P | W | NX,       "PPP" },
	{ P | U | NX,       "YPP" },
	{ P | W | U | NX,   "YYP" },
	{ P | W | U | RB,   "MMM" },
	{ P | RB,           "MMM" },
	{ W | U | RB,       "NNN" },
};
#undef P
#undef W
#undef U
#undef NX
#undef RB

static enum spte_fault expected_fault(char c)
{
	switch (c) {
	case 'Y': return SPTE_OK;
	case 'N': return SPTE_FAULT_NOT_PRESENT;
	case 'P': return SPTE_FAULT_PROTECTION;
	default:  return SPTE_FAULT_MISCONFIG;
	}
}

/* Bits that must not change the verdict: the address, A, D, PS, and for
 * EPT a valid memory type with IPAT. */
static uint64_t neutral_bits(const struct spte_config *cfg, unsigned int variant)
{
	uint64_t bits = HOST_4K;

	if (variant & 1)
		bits |= cfg->format == SPTE_FORMAT_EPT ? EPT_ACCESSED | EPT_DIRTY
						       : NPT_ACCESSED | NPT_DIRTY;
	if (variant & 2)
		bits |= SPTE_PAGE_SIZE;
	return bits;
}

/* Mismatches of @cfg against @table (0 when it agrees); prints them when
 * @verbose. */
static unsigned int check_table(const struct spte_config *cfg, const struct permit_row *table,
				unsigned int rows, bool add_ept_wb, bool verbose)
{
	unsigned int bad = 0;
	char desc[160];

	for (unsigned int r = 0; r < rows; r++)
		for (unsigned int variant = 0; variant < 4; variant++) {
			uint64_t spte = table[r].bits | neutral_bits(cfg, variant);

			if (add_ept_wb)
				spte |= (EPT_MT_WB << EPT_MT_SHIFT) | EPT_IPAT;
			for (unsigned int i = 0; i < 3; i++) {
				char c = table[r].expect[i];
				bool ok = spte_permits(cfg, spte, accesses[i]);
				enum spte_fault f = spte_classify(cfg, spte, accesses[i]);

				if (ok == (c == 'Y') && f == expected_fault(c))
					continue;
				bad++;
				if (verbose) {
					spte_describe(cfg, spte, desc, sizeof(desc));
					print_message("%s acc %u: expected %c, got %d/%s\n", desc,
						      accesses[i], c, ok, spte_fault_name(f));
				}
			}
		}
	return bad;
}

static unsigned int check_all_tables(const struct spte_config *cfg, bool verbose)
{
	if (cfg->format == SPTE_FORMAT_NPT)
		return check_table(cfg, npt_table, ARRAY_SIZE(npt_table), false, verbose);
	return check_table(cfg, ept_table, ARRAY_SIZE(ept_table), true, verbose) +
	       check_table(cfg, ept_memtype_table, ARRAY_SIZE(ept_memtype_table), false, verbose);
}

static void test_permits_tables(void **state)
{
	struct spte_config cfg;

	for (unsigned int c = 0; c < CFG_NR; c++) {
		make_cfg(&cfg, c);
		print_message("%s\n", cfg_name[c]);
		assert_int_equal(check_all_tables(&cfg, true), 0);
	}
}

/*
 * The tables catch every single-bit change of the check's masks that can
 * change a verdict.  Two cannot, by the architecture: in EPT, R in the
 * write mask and W in the present mask (an entry with W but not R is a
 * misconfiguration either way).
 */
static unsigned int flip_caught(const struct spte_config *bad)
{
	return check_all_tables(bad, false) != 0;
}

static void test_permits_tables_catch_flips(void **state)
{
	struct spte_config cfg, bad;
	unsigned int flips = 0, caught = 0;
	const uint64_t relevant[CFG_NR] = {
		EPT_RWX_MASK, EPT_RWX_MASK,
		NPT_PRESENT | NPT_WRITABLE | NPT_USER | NPT_NX | NPT_RSVD_BIT,
	};

	for (unsigned int c = 0; c < CFG_NR; c++) {
		bool ept = c != CFG_NPT;

		make_cfg(&cfg, c);
		uint64_t needed = cfg.permit_need[0] | cfg.permit_need[ACC_WRITE] |
				  cfg.permit_need[ACC_EXEC];

		for (unsigned int b = 0; b < 64; b++) {
			uint64_t bit = 1ull << b;

			if (!(relevant[c] & bit))
				continue;
			for (unsigned int i = 0; i < 3; i++) {
				if (ept && accesses[i] == ACC_WRITE && bit == EPT_READABLE)
					continue;
				bad = cfg;
				bad.permit_need[accesses[i]] ^= bit;
				flips++;
				caught += flip_caught(&bad);
			}
			if (needed & bit) {
				bad = cfg;
				bad.permit_flip ^= bit;
				flips++;
				caught += flip_caught(&bad);
			}
			if (!(ept && bit == EPT_WRITABLE)) {
				bad = cfg;
				bad.hw_present_mask ^= bit;
				flips++;
				caught += flip_caught(&bad);
			}
			if (!ept) {
				bad = cfg;
				bad.hw_rsvd_mask ^= bit;
				flips++;
				caught += flip_caught(&bad);
			}
		}
	}
	print_message("%u of %u flips caught\n", caught, flips);
	assert_int_equal(flips, 2 * (8 + 3 + 2) + (15 + 4 + 5 + 5));
	assert_int_equal(caught, flips);
}

/* ---- printing */

static void test_describe(void **state)
{
	struct spte_config ept, npt;
	char buf[200], small[8];
	int n;

	make_cfg(&ept, CFG_EPT_AD);
	make_cfg(&npt, CFG_NPT);

	spte_describe(&ept, 0, buf, sizeof(buf));
	assert_string_equal(buf, "0000000000000000 ept none");
	spte_describe(&npt, SPTE_FROZEN, buf, sizeof(buf));
	assert_string_equal(buf, "00000000000005a0 npt frozen");
	spte_describe(&ept, spte_make_leaf(&ept, hva(HOST_4K), 1, ACC_ALL, true, false),
		      buf, sizeof(buf));
	assert_string_equal(buf, "06007f1234567b77 ept addr=0x7f1234567000 R W X mt=6 ipat A D "
				 "mmu-w host-w");
	spte_describe(&npt, spte_make_leaf(&npt, hva(HOST_2M), 2, ACC_USER, false, false),
		      buf, sizeof(buf));
	assert_string_equal(buf, "80007f12346008a5 npt addr=0x7f1234600000 P U NX PS A");
	spte_describe(&npt, spte_make_mmio(&npt, 0x12345, ACC_USER | ACC_WRITE, 0x401),
		      buf, sizeof(buf));
	assert_string_equal(buf, "00e8000012345003 npt mmio gfn=0x12345 acc=uw- gen=0x401");

	struct spte_config ept_no_ad;

	make_cfg(&ept_no_ad, CFG_EPT_NO_AD);
	spte_describe(&ept_no_ad, spte_make_leaf(&ept_no_ad, hva(HOST_4K), 1, ACC_ALL, true, true),
		      buf, sizeof(buf));
	assert_string_equal(buf, "07407f1234567870 ept addr=0x7f1234567000 mt=6 ipat mmu-w host-w "
				 "tracked(saved R X)");
	spte_describe(&npt, 0x123, buf, sizeof(buf));
	assert_string_equal(buf, "0000000000000123 npt invalid");

	/* Truncation: terminated, and the full length returned. */
	n = spte_describe(&ept, 0, small, sizeof(small));
	assert_int_equal(n, (int)strlen("0000000000000000 ept none"));
	assert_string_equal(small, "0000000");
	assert_string_equal(spte_fault_name(SPTE_FAULT_WRITE_PROTECTED), "write-protected");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_golden_encodings),
		cmocka_unit_test(test_leaf_round_trip),
		cmocka_unit_test(test_leaf_and_nonleaf_levels),
		cmocka_unit_test(test_mmio_round_trip),
		cmocka_unit_test(test_mmio_stale_generation),
		cmocka_unit_test(test_no_mmio_is_present),
		cmocka_unit_test(test_frozen_and_nonpresent),
		cmocka_unit_test(test_access_tracking),
		cmocka_unit_test(test_write_protect_and_fast_path),
		cmocka_unit_test(test_permits_tables),
		cmocka_unit_test(test_permits_tables_catch_flips),
		cmocka_unit_test(test_describe),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
