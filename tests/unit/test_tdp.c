/* SPDX-License-Identifier: MIT */
/*
 * The TDP tree: map on fault, lookup, zap a range, zap everything,
 * write-protect, age, the iterator's restart after a yield, and table
 * accounting, in both SPTE formats.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tdp/tdp_iter.h"
#include "tdp/tdp_mmu.h"
#include "vm/rcu.h"

#define HOST_PAGES 64

struct fixture {
	struct tdp_mmu mmu;
	struct tdp_page_cache cache;
	struct tdp_page *root[MEM_NR_AS]; /* one root per address space */
	uint8_t *host;                    /* HOST_PAGES 4K pages */
};

static int setup(void **state, enum spte_format format, bool ad, unsigned int maxphyaddr)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_int_equal(tdp_mmu_init(&f->mmu, format, ad, maxphyaddr), 0);
	f->mmu.sync_root_teardown = true;
	for (unsigned int as = 0; as < MEM_NR_AS; as++) {
		f->root[as] = tdp_mmu_get_root(&f->mmu, as, as);
		assert_non_null(f->root[as]);
	}
	f->host = aligned_alloc(PAGE_SIZE, HOST_PAGES * PAGE_SIZE);
	assert_non_null(f->host);
	*state = f;
	return 0;
}

static int setup_ept(void **state) { return setup(state, SPTE_FORMAT_EPT, true, 46); }
static int setup_ept_noad(void **state) { return setup(state, SPTE_FORMAT_EPT, false, 46); }
static int setup_npt(void **state) { return setup(state, SPTE_FORMAT_NPT, true, 46); }
static int setup_npt52(void **state) { return setup(state, SPTE_FORMAT_NPT, true, 52); }

static int teardown(void **state)
{
	struct fixture *f = *state;

	tdp_cache_drain(&f->mmu.core.pool, &f->cache);
	for (unsigned int as = 0; as < MEM_NR_AS; as++)
		if (f->root[as])
			tdp_mmu_put_root(&f->mmu, f->root[as]);
	assert_null(f->mmu.roots);
	tdp_mmu_destroy(&f->mmu);
	free(f->host);
	free(f);
	return 0;
}

static void *host_page(struct fixture *f, unsigned int i)
{
	return f->host + (size_t)(i % HOST_PAGES) * PAGE_SIZE;
}

static enum tdp_map_result map(struct fixture *f, unsigned int as, gfn_t gfn, void *host,
			       bool writable)
{
	struct tdp_leaf leaf = { .host_page = host, .access = ACC_ALL, .host_writable = writable,
				 .slots_generation = f->mmu.core.slots_generation[as] };

	assert_int_equal(tdp_cache_topup(&f->mmu.core.pool, &f->cache, f->mmu.core.root_level), 0);
	return tdp_mmu_map(&f->mmu, &f->cache, f->root[as], gfn, &leaf);
}

/* The leaf for @gfn as the hardware walk finds it (0 if none). */
static uint64_t lookup(struct fixture *f, unsigned int as, gfn_t gfn, unsigned int *level)
{
	uint64_t *sptep, spte;
	unsigned int l;

	vm_rcu_read_lock();
	spte = mmu_lookup(&f->mmu.core, f->root[as], gfn, &sptep, &l);
	vm_rcu_read_unlock();
	if (level)
		*level = l;
	return spte;
}

/* GFNs spread over the tree: several tables at every level. */
static const gfn_t gfns[] = {
	0, 1, 511, 512, 513, 0x12345, 0x3ffff, 0x40000, 0x7ffffff, 0x8000000,
	0x7fffffffe, 0x7ffffffff,
};

static void test_map_lookup(void **state)
{
	struct fixture *f = *state;
	unsigned int level;

	for (unsigned int i = 0; i < ARRAY_SIZE(gfns); i++) {
		assert_int_equal(lookup(f, 0, gfns[i], NULL) & SPTE_MMU_PRESENT, 0);
		assert_int_equal(map(f, 0, gfns[i], host_page(f, i), true), TDP_MAP_FIXED);
	}
	for (unsigned int i = 0; i < ARRAY_SIZE(gfns); i++) {
		uint64_t spte = lookup(f, 0, gfns[i], &level);

		assert_int_equal(level, 1);
		assert_true(spte_is_shadow_present(spte));
		assert_ptr_equal(spte_host_addr(spte), host_page(f, i));
		assert_true(spte_permits(&f->mmu.core.spte, spte, ACC_WRITE));
		/* Address space 1 is another tree. */
		assert_false(spte_is_shadow_present(lookup(f, 1, gfns[i], NULL)));
	}
	assert_int_equal(f->mmu.core.stats.pages_4k, ARRAY_SIZE(gfns));
	/* Every table linked: the two roots, plus one table per distinct path
	 * prefix of gfns[] (GFN bits 35:27, 26:18, 17:9): PDPTs for root
	 * entries 0, 1, 255; PDs for (0,0) (0,1) (0,511) (1,0) (255,511);
	 * PTs for (0,0,0) (0,0,1) (0,0,145) (0,0,511) (0,1,0) (0,511,511)
	 * (1,0,0) (255,511,511): 2 + 3 + 5 + 8. */
	assert_int_equal(f->mmu.core.stats.pt_pages_allocated, 18);
	/* Mapping the same leaf again is spurious. */
	assert_int_equal(map(f, 0, gfns[3], host_page(f, 3), true), TDP_MAP_SPURIOUS);
	/* A read-only slot's leaf refuses writes, allows reads. */
	assert_int_equal(map(f, 1, 7, host_page(f, 9), false), TDP_MAP_FIXED);
	assert_false(spte_permits(&f->mmu.core.spte, lookup(f, 1, 7, NULL), ACC_WRITE));
	assert_true(spte_permits(&f->mmu.core.spte, lookup(f, 1, 7, NULL), 0));
}

static void test_zap_range(void **state)
{
	struct fixture *f = *state;

	for (gfn_t g = 0; g < 2048; g++)
		assert_int_equal(map(f, 0, g, host_page(f, (unsigned int)g), true), TDP_MAP_FIXED);
	assert_int_equal(f->mmu.core.stats.pages_4k, 2048);
	uint64_t gen = f->mmu.core.zap_generation;

	assert_int_equal(tdp_mmu_zap_range(&f->mmu, 0, 100, 1000), 900);
	assert_true(f->mmu.core.zap_generation > gen);
	for (gfn_t g = 0; g < 2048; g++)
		assert_int_equal(spte_is_shadow_present(lookup(f, 0, g, NULL)), g < 100 || g >= 1000);
	/* Nothing left there: a second zap changes nothing. */
	gen = f->mmu.core.zap_generation;
	assert_int_equal(tdp_mmu_zap_range(&f->mmu, 0, 100, 1000), 0);
	assert_int_equal(f->mmu.core.zap_generation, gen);
	/* Every address space. */
	assert_int_equal(map(f, 1, 50, host_page(f, 1), true), TDP_MAP_FIXED);
	assert_int_equal(tdp_mmu_zap_range(&f->mmu, MEM_NR_AS, 0, 101), 101);
	assert_int_equal(f->mmu.core.stats.pages_4k, 2048 - 900 - 100);
}

/* Zapping with a yield at every step still visits every SPTE once. */
static void test_zap_with_yields(void **state)
{
	struct fixture *f = *state;

	for (gfn_t g = 0; g < 3000; g += 3)
		assert_int_equal(map(f, 0, g, host_page(f, (unsigned int)g), true), TDP_MAP_FIXED);
	f->mmu.yield_every = 1;
	assert_int_equal(tdp_mmu_zap_range(&f->mmu, 0, 0, 3000), 1000);
	f->mmu.yield_every = 0;
	for (gfn_t g = 0; g < 3000; g++)
		assert_false(spte_is_shadow_present(lookup(f, 0, g, NULL)));
}

static void test_zap_all_frees_tables(void **state)
{
	struct fixture *f = *state;
	uint64_t tables_before = tdp_mmu_table_pages(&f->mmu);

	for (unsigned int i = 0; i < ARRAY_SIZE(gfns); i++)
		assert_int_equal(map(f, i & 1, gfns[i], host_page(f, i), true), TDP_MAP_FIXED);
	assert_true(tdp_mmu_table_pages(&f->mmu) > tables_before);
	/* Root entries in use (GFN >> 27): AS 0 has 0 and 255, AS 1 has 0, 1
	 * and 255. */
	assert_int_equal(tdp_mmu_zap_all(&f->mmu), 5);
	assert_int_equal(tdp_mmu_zap_all(&f->mmu), 0);
	for (unsigned int i = 0; i < ARRAY_SIZE(gfns); i++)
		assert_false(spte_is_shadow_present(lookup(f, i & 1, gfns[i], NULL)));
	assert_int_equal(f->mmu.core.stats.pages_4k, 0);
	assert_true(f->mmu.core.stats.pt_pages_freed > 0);
	/* Only the two roots and the test's cache remain. */
	assert_int_equal(tdp_mmu_table_pages(&f->mmu), MEM_NR_AS + f->cache.nr);
	/* The tree grows again after a zap_all. */
	assert_int_equal(map(f, 0, 5, host_page(f, 5), true), TDP_MAP_FIXED);
	assert_true(spte_is_shadow_present(lookup(f, 0, 5, NULL)));
}

static void test_write_protect(void **state)
{
	struct fixture *f = *state;

	for (gfn_t g = 0; g < 64; g++)
		assert_int_equal(map(f, 0, g, host_page(f, (unsigned int)g), g != 7), TDP_MAP_FIXED);
	/* 7 is read-only already: 31 leaves in [0, 32) change. */
	assert_int_equal(tdp_mmu_write_protect(&f->mmu, 0, 0, 32), 31);
	for (gfn_t g = 0; g < 64; g++) {
		uint64_t spte = lookup(f, 0, g, NULL);

		assert_int_equal(spte_permits(&f->mmu.core.spte, spte, ACC_WRITE), g >= 32);
		assert_true(spte_permits(&f->mmu.core.spte, spte, 0));
		/* Dirty logging's fast path may give W back, except to 7. */
		assert_int_equal(spte_mmu_writable(&f->mmu.core.spte, spte), g != 7);
	}
	assert_int_equal(tdp_mmu_write_protect(&f->mmu, 0, 0, 32), 0);
}

static void test_age(void **state)
{
	struct fixture *f = *state;

	for (gfn_t g = 0; g < 16; g++)
		assert_int_equal(map(f, 0, g, host_page(f, (unsigned int)g), true), TDP_MAP_FIXED);
	assert_int_equal(tdp_mmu_age(&f->mmu, 0, 0, 16), 16);
	/* Aged leaves are old: a second pass finds nothing young. */
	assert_int_equal(tdp_mmu_age(&f->mmu, 0, 0, 16), 0);
	uint64_t spte = lookup(f, 0, 3, NULL);

	assert_true(spte_is_shadow_present(spte));
	assert_false(spte_is_accessed(&f->mmu.core.spte, spte));
	if (!f->mmu.core.spte.ad_enabled) {
		/* Without A/D bits an old SPTE refuses access until fixed. */
		assert_false(spte_permits(&f->mmu.core.spte, spte, 0));
		assert_int_equal(spte_classify(&f->mmu.core.spte, spte, 0), SPTE_FAULT_ACCESS_TRACKED);
	}
}

static void test_mmio_sptes(void **state)
{
	struct fixture *f = *state;
	struct tdp_leaf leaf = { .host_page = NULL, .access = ACC_ALL, .slots_generation = 42 };
	uint64_t spte;

	/* A fault whose memslot lookup is older than the MMU's is retried. */
	assert_int_equal(tdp_cache_topup(&f->mmu.core.pool, &f->cache, f->mmu.core.root_level), 0);
	assert_int_equal(tdp_mmu_map(&f->mmu, &f->cache, f->root[0], 0x1234, &leaf), TDP_MAP_RETRY);
	assert_int_equal(lookup(f, 0, 0x1234, NULL), 0);
	f->mmu.core.slots_generation[0] = 42;

	assert_int_equal(tdp_cache_topup(&f->mmu.core.pool, &f->cache, f->mmu.core.root_level), 0);
	assert_int_equal(tdp_mmu_map(&f->mmu, &f->cache, f->root[0], 0x1234, &leaf), TDP_MAP_FIXED);
	spte = lookup(f, 0, 0x1234, NULL);
	assert_true(spte_is_mmio(&f->mmu.core.spte, spte));
	assert_false(spte_is_shadow_present(spte));
	assert_int_equal(spte_mmio_gfn(&f->mmu.core.spte, spte), 0x1234);
	assert_true(spte_mmio_generation_matches(&f->mmu.core.spte, spte, 42));
	assert_false(spte_mmio_generation_matches(&f->mmu.core.spte, spte, 43));
	/* A memslot appears: the stale MMIO SPTE is replaced by memory. */
	assert_int_equal(map(f, 0, 0x1234, host_page(f, 1), true), TDP_MAP_FIXED);
	assert_true(spte_is_shadow_present(lookup(f, 0, 0x1234, NULL)));
	/* MMIO SPTEs are zapped like leaves. */
	assert_int_equal(tdp_mmu_map(&f->mmu, &f->cache, f->root[0], 0x2000, &leaf), TDP_MAP_FIXED);
	assert_int_equal(tdp_mmu_zap_range(&f->mmu, 0, 0x2000, 0x2001), 1);
	assert_int_equal(lookup(f, 0, 0x2000, NULL), 0);
}

/* With MAXPHYADDR 52 the tree has five levels: GFNs above 2^36 map. */
static void test_five_levels(void **state)
{
	struct fixture *f = *state;
	gfn_t high = (1ull << 40) - 1;

	assert_int_equal(f->mmu.core.root_level, 5);
	assert_int_equal(map(f, 0, high, host_page(f, 2), true), TDP_MAP_FIXED);
	assert_int_equal(map(f, 0, high & 0xfffffffff, host_page(f, 3), true), TDP_MAP_FIXED);
	assert_ptr_equal(spte_host_addr(lookup(f, 0, high, NULL)), host_page(f, 2));
	assert_ptr_equal(spte_host_addr(lookup(f, 0, high & 0xfffffffff, NULL)), host_page(f, 3));
}

/* The iterator visits each present leaf of a range once, in GFN order. */
static void test_iterator_order(void **state)
{
	struct fixture *f = *state;
	struct tdp_iter iter;
	gfn_t last = 0;
	unsigned int n = 0;

	for (unsigned int i = 0; i < ARRAY_SIZE(gfns); i++)
		assert_int_equal(map(f, 0, gfns[i], host_page(f, i), true), TDP_MAP_FIXED);
	vm_rcu_read_lock();
	for_each_tdp_pte(iter, f->root[0]->spt, f->mmu.core.root_level, 0, ~0ull >> 28) {
		if (!spte_is_shadow_present(iter.old_spte) || !spte_is_leaf(iter.old_spte, iter.level))
			continue;
		assert_int_equal(iter.gfn, gfns[n]);
		assert_true(n == 0 || iter.gfn > last);
		last = iter.gfn;
		n++;
	}
	vm_rcu_read_unlock();
	assert_int_equal(n, ARRAY_SIZE(gfns));
}

/* Roots: found by (role, address space), shared by reference, torn down
 * by the last one to let go. */
static void test_roots_by_role(void **state)
{
	struct fixture *f = *state;
	struct tdp_page *a = tdp_mmu_get_root(&f->mmu, 77, 0);
	struct tdp_page *b = tdp_mmu_get_root(&f->mmu, 77, 0);
	struct tdp_page *c = tdp_mmu_get_root(&f->mmu, 78, 0);
	struct tdp_page *d = tdp_mmu_get_root(&f->mmu, 77, 1);
	uint64_t allocated = f->mmu.core.stats.roots_allocated;

	assert_ptr_equal(a, b);
	assert_ptr_not_equal(a, c);
	assert_ptr_not_equal(a, d);
	assert_int_equal(a->refcount, 2);
	assert_int_equal(map(f, 0, 5, host_page(f, 1), true), TDP_MAP_FIXED);  /* root[0], not a */
	tdp_mmu_put_root(&f->mmu, b);
	assert_int_equal(f->mmu.core.stats.roots_freed, 0);
	tdp_mmu_put_root(&f->mmu, a);                  /* the last one: gone at once */
	assert_int_equal(f->mmu.core.stats.roots_freed, 1);
	/* Asked for again, it is built anew. */
	a = tdp_mmu_get_root(&f->mmu, 77, 0);
	assert_int_equal(f->mmu.core.stats.roots_allocated, allocated + 1);
	tdp_mmu_put_root(&f->mmu, a);
	tdp_mmu_put_root(&f->mmu, c);
	tdp_mmu_put_root(&f->mmu, d);
	assert_int_equal(f->mmu.core.stats.roots_freed, 4);
}

/* The MMU's own reference keeps a root with its SPTEs until invalidated;
 * without synchronous teardown a dead root waits for the reaper. */
static void test_root_lifetime_knobs(void **state)
{
	struct fixture *f = *state;
	struct tdp_leaf leaf = { .host_page = host_page(f, 3), .access = ACC_ALL,
				 .host_writable = true };
	struct tdp_page *r;

	f->mmu.hold_root_ref = true;
	f->mmu.sync_root_teardown = false;
	r = tdp_mmu_get_root(&f->mmu, 99, 0);
	assert_int_equal(r->refcount, 2);
	assert_int_equal(tdp_cache_topup(&f->mmu.core.pool, &f->cache, f->mmu.core.root_level), 0);
	assert_int_equal(tdp_mmu_map(&f->mmu, &f->cache, r, 42, &leaf), TDP_MAP_FIXED);
	tdp_mmu_put_root(&f->mmu, r);                  /* the vCPU lets go ... */
	assert_ptr_equal(tdp_mmu_get_root(&f->mmu, 99, 0), r);   /* ... it is still there */
	uint64_t *sptep;
	unsigned int level;

	vm_rcu_read_lock();
	assert_true(spte_is_shadow_present(mmu_lookup(&f->mmu.core, r, 42, &sptep, &level)));
	vm_rcu_read_unlock();
	tdp_mmu_put_root(&f->mmu, r);
	/* Invalidated: the MMU lets go; no one holds it: parked, then reaped. */
	tdp_mmu_invalidate_all_roots(&f->mmu);
	assert_non_null(f->mmu.dead_roots);
	assert_int_equal(tdp_mmu_reap_dead_roots(&f->mmu), 1);
	assert_null(f->mmu.dead_roots);
	/* The fixture's roots were invalidated too, but held by the fixture
	 * alone (made before the MMU held references): still there. */
	assert_true(f->root[0]->invalid);
	assert_int_equal(f->root[0]->refcount, 1);
	/* 99 again: built anew, with the MMU's reference. */
	r = tdp_mmu_get_root(&f->mmu, 99, 0);
	assert_non_null(r);
	assert_false(r->invalid);
	assert_int_equal(r->refcount, 2);
	tdp_mmu_put_root(&f->mmu, r);
	tdp_mmu_invalidate_all_roots(&f->mmu);
	assert_int_equal(tdp_mmu_reap_dead_roots(&f->mmu), 1);
}

/*
 * Faults run on the read side of the MMU lock: threads that map the same
 * GFNs in different orders race on every table link and every leaf; each
 * race has one winner, so the tree ends up with one table per place, every
 * leaf mapped once, and no table lost or leaked.
 */
#define RACE_THREADS 4
#define RACE_GFNS    2048              /* 4 leaf tables, one of each above */

struct racer {
	struct fixture *f;
	unsigned int id;
	struct tdp_page_cache cache;
	unsigned int fixed;
};

static void *race_thread(void *arg)
{
	struct racer *r = arg;
	struct fixture *f = r->f;

	for (unsigned int i = 0; i < RACE_GFNS; i++) {
		/* Each thread its own order: a stride coprime with RACE_GFNS. */
		gfn_t gfn = (i * (2 * r->id + 1) * 7u) % RACE_GFNS;
		struct tdp_leaf leaf = { .host_page = host_page(f, (unsigned int)gfn),
					 .access = ACC_ALL, .host_writable = true,
					 .slots_generation = f->mmu.core.slots_generation[0] };
		enum tdp_map_result ret;

		do {
			if (tdp_cache_topup(&f->mmu.core.pool, &r->cache, f->mmu.core.root_level))
				return NULL;
			ret = tdp_mmu_map(&f->mmu, &r->cache, f->root[0], gfn, &leaf);
		} while (ret == TDP_MAP_RETRY);
		r->fixed += ret == TDP_MAP_FIXED;
	}
	return NULL;
}

static void test_concurrent_faults(void **state)
{
	struct fixture *f = *state;
	struct racer r[RACE_THREADS];
	pthread_t t[RACE_THREADS];
	unsigned int fixed = 0;

	for (unsigned int i = 0; i < RACE_THREADS; i++) {
		r[i] = (struct racer){ .f = f, .id = i };
		assert_int_equal(pthread_create(&t[i], NULL, race_thread, &r[i]), 0);
	}
	for (unsigned int i = 0; i < RACE_THREADS; i++) {
		pthread_join(t[i], NULL);
		fixed += r[i].fixed;
		tdp_cache_drain(&f->mmu.core.pool, &r[i].cache);
	}
	assert_int_equal(fixed, RACE_GFNS);                 /* one winner per leaf */
	assert_int_equal(f->mmu.core.stats.pages_4k, RACE_GFNS);
	for (gfn_t g = 0; g < RACE_GFNS; g++)
		assert_ptr_equal(spte_host_addr(lookup(f, 0, g, NULL)), host_page(f, (unsigned int)g));
	/* Roots, and one table at each place below: levels 3 and 2, four leaf
	 * tables; every loser's table went back to the pool. */
	assert_int_equal(f->mmu.core.stats.pt_pages_allocated, MEM_NR_AS + 6);
	assert_int_equal(tdp_mmu_table_pages(&f->mmu), MEM_NR_AS + 6 + f->cache.nr);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define BOTH_FORMATS(t)                                               \
	cmocka_unit_test_setup_teardown(t, setup_ept, teardown),      \
	cmocka_unit_test_setup_teardown(t, setup_ept_noad, teardown), \
	cmocka_unit_test_setup_teardown(t, setup_npt, teardown)
		BOTH_FORMATS(test_map_lookup),
		BOTH_FORMATS(test_zap_range),
		BOTH_FORMATS(test_zap_with_yields),
		BOTH_FORMATS(test_zap_all_frees_tables),
		BOTH_FORMATS(test_write_protect),
		BOTH_FORMATS(test_age),
		BOTH_FORMATS(test_mmio_sptes),
		BOTH_FORMATS(test_iterator_order),
		BOTH_FORMATS(test_concurrent_faults),
		cmocka_unit_test_setup_teardown(test_five_levels, setup_npt52, teardown),
		cmocka_unit_test_setup_teardown(test_roots_by_role, setup_ept, teardown),
		cmocka_unit_test_setup_teardown(test_root_lifetime_knobs, setup_ept, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
