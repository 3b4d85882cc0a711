/* SPDX-License-Identifier: MIT */
/*
 * The legacy MMU (src/shadow/): pte lists, reverse maps per memslot,
 * shadow pages shared by role through the hash and kept when unused, map
 * and lookup, zaps through the reverse maps, zap of everything with roots
 * still held, and reclaim under the page-table cap, oldest unused first.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "shadow/shadow_mmu.h"
#include "vmmu.h"
#include "vcpu/role.h"
#include "vm/rcu.h"

#define HOST_PAGES 64
#define SLOT_PAGES (1u << 20)            /* 4 GiB of guest memory at GPA 0 */

struct fixture {
	struct shadow_mmu mmu;
	struct mmu_caches caches;
	struct memslot_set *slots;
	uint8_t *host;
};

static struct memslot_set *slot_set(uint64_t generation, unsigned int nr, const gfn_t *base,
				    const uint64_t *npages)
{
	struct memslot_set *set = calloc(1, sizeof(*set) + nr * sizeof(set->slots[0]));

	assert_non_null(set);
	set->generation = generation;
	set->nr = nr;
	for (unsigned int i = 0; i < nr; i++)
		set->slots[i] = (struct memslot){ .base_gfn = base[i], .npages = npages[i],
						  .id = i };
	return set;
}

static struct fixture *fixture_new(enum spte_format format, uint64_t max_pages)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_int_equal(shadow_mmu_init(&f->mmu, format, true, 46, max_pages), 0);
	f->slots = slot_set(1, 1, (gfn_t[]){ 0 }, (uint64_t[]){ SLOT_PAGES });
	for (unsigned int as = 0; as < MEM_NR_AS; as++)
		assert_int_equal(shadow_mmu_memslots_changed(&f->mmu, as, f->slots, 0, 0), 0);
	f->host = aligned_alloc(PAGE_SIZE, HOST_PAGES * PAGE_SIZE);
	assert_non_null(f->host);
	return f;
}

static void fixture_free(struct fixture *f)
{
	shadow_mmu_drain(&f->mmu, &f->caches);
	shadow_mmu_destroy(&f->mmu);
	free(f->slots);
	free(f->host);
	free(f);
}

/* The root role of address space @as, with CR0.WP as 5.10 keyed it. */
static uint32_t role_of(struct fixture *f, unsigned int as, bool wp)
{
	union root_role r = { .word = 0 };

	r.level = f->mmu.core.root_level;
	r.direct = 1;
	r.access = ACC_ALL;
	r.smm = as;
	r.cr0_wp = wp;
	return r.word;
}

static struct tdp_page *get_root(struct fixture *f, uint32_t role)
{
	struct tdp_page *root = shadow_mmu_get_root(&f->mmu, &f->caches, role);

	assert_non_null(root);
	return root;
}

static enum tdp_map_result map(struct fixture *f, struct tdp_page *root, gfn_t gfn)
{
	struct tdp_leaf leaf = {
		.host_page = f->host + (gfn % HOST_PAGES) * PAGE_SIZE, .access = ACC_ALL,
		.host_writable = true, .slots_generation = f->mmu.core.slots_generation[root->as_id],
	};

	assert_int_equal(shadow_mmu_topup(&f->mmu, &f->caches), 0);
	return shadow_mmu_map(&f->mmu, &f->caches, root, gfn, &leaf);
}

static uint64_t lookup(struct fixture *f, struct tdp_page *root, gfn_t gfn)
{
	uint64_t *sptep, spte;
	unsigned int level;

	vm_rcu_read_lock();
	spte = mmu_lookup(&f->mmu.core, root, gfn, &sptep, &level);
	vm_rcu_read_unlock();
	assert_true(level >= 1);
	return spte;
}

static unsigned int rmap_count(struct fixture *f, unsigned int as, gfn_t gfn)
{
	struct pte_list *head = rmap_head(&f->mmu.rmaps[as], gfn);

	return head ? pte_list_count(head) : 0;
}

/* The first GFN a table of @level covering @gfn maps. */
static gfn_t table_gfn(gfn_t gfn, unsigned int level)
{
	return gfn & ~((1ull << (9 * level)) - 1);
}

static uint32_t with_level(uint32_t role, unsigned int level)
{
	union root_role r = { .word = role };

	r.level = level;
	return r.word;
}

static void test_pte_list(void **state)
{
	struct shadow_cache cache = { 0 };
	struct pte_list list = { 0 };
	uint64_t slots[40] = { 0 };
	unsigned int order[40];

	(void)state;
	for (unsigned int i = 0; i < 40; i++) {
		assert_int_equal(pte_list_cache_topup(&cache), 0);
		assert_int_equal(pte_list_add(&list, &cache, &slots[i]), 0);
		assert_int_equal(pte_list_count(&list), i + 1);
		order[i] = i;
	}
	/* Every member once. */
	struct pte_list_iter iter;
	uint64_t *sptep;

	for_each_pte_list(&list, iter, sptep) {
		assert_true(sptep >= slots && sptep < slots + 40);
		(*sptep)++;
	}
	for (unsigned int i = 0; i < 40; i++)
		assert_int_equal(slots[i], 1);
	/* Removal in a scrambled order keeps the others. */
	for (unsigned int i = 39; i > 0; i--) {
		unsigned int j = (i * 7919u) % (i + 1), t = order[i];

		order[i] = order[j];
		order[j] = t;
	}
	for (unsigned int i = 0; i < 40; i++) {
		pte_list_remove(&list, &slots[order[i]]);
		assert_int_equal(pte_list_count(&list), 39 - i);
		for_each_pte_list(&list, iter, sptep)
			assert_ptr_not_equal(sptep, &slots[order[i]]);
	}
	assert_int_equal(list.val, 0);
	pte_list_cache_drain(&cache);
}

static void test_rmap_set_follows_slots(void **state)
{
	struct rmap_set rs = { 0 };
	struct memslot_set *two = slot_set(1, 2, (gfn_t[]){ 0x100, 0x1000 }, (uint64_t[]){ 16, 32 });
	struct memslot_set *one = slot_set(2, 1, (gfn_t[]){ 0x1000 }, (uint64_t[]){ 32 });
	struct pte_list *kept;

	(void)state;
	assert_int_equal(rmap_set_sync(&rs, two), 0);
	assert_non_null(rmap_head(&rs, 0x100));
	assert_non_null(rmap_head(&rs, 0x10f));
	assert_null(rmap_head(&rs, 0x110));
	assert_null(rmap_head(&rs, 0xff));
	kept = rmap_head(&rs, 0x1005);
	assert_non_null(kept);
	/* A range walk visits the covered GFNs in order, gaps skipped. */
	struct rmap_range_iter it;
	struct pte_list *head;
	gfn_t gfn, want = 0x100;
	unsigned int n = 0;

	for (head = rmap_range_first(&it, &rs, 0xf0, 0x1010, &gfn); head;
	     head = rmap_range_next(&it, &gfn), n++) {
		if (want == 0x110)
			want = 0x1000;
		assert_int_equal(gfn, want++);
		assert_ptr_equal(head, rmap_head(&rs, gfn));
	}
	assert_int_equal(n, 32);
	assert_null(rmap_range_first(&it, &rs, 0x110, 0x1000, &gfn));
	assert_null(rmap_range_first(&it, &rs, 0x2000, ~0ull, &gfn));
	/* The slot that stays keeps its heads; the other's go. */
	assert_int_equal(rmap_set_sync(&rs, one), 0);
	assert_ptr_equal(rmap_head(&rs, 0x1005), kept);
	assert_null(rmap_head(&rs, 0x100));
	assert_null(rmap_head(&rs, 0x1020));
	rmap_set_destroy(&rs);
	free(two);
	free(one);
}

static void test_map_and_lookup(void **state)
{
	struct fixture *f = fixture_new(SPTE_FORMAT_EPT, 0);
	uint32_t role = role_of(f, 0, true);
	struct tdp_page *root = get_root(f, role);
	static const gfn_t gfns[] = { 0, 1, 511, 512, 0x12345, 0x3ffff, 0x40000, 0xfffff };

	(void)state;
	for (unsigned int i = 0; i < ARRAY_SIZE(gfns); i++) {
		assert_int_equal(map(f, root, gfns[i]), TDP_MAP_FIXED);
		assert_int_equal(map(f, root, gfns[i]), TDP_MAP_SPURIOUS);
	}
	for (unsigned int i = 0; i < ARRAY_SIZE(gfns); i++) {
		uint64_t spte = lookup(f, root, gfns[i]);

		assert_true(spte_is_shadow_present(spte));
		assert_ptr_equal(spte_host_addr(spte), f->host + (gfns[i] % HOST_PAGES) * PAGE_SIZE);
		assert_int_equal(rmap_count(f, 0, gfns[i]), 1);
		/* Every table on the way is the hash's page of (gfn, role). */
		for (unsigned int level = 1; level < f->mmu.core.root_level; level++)
			assert_non_null(shadow_mmu_find(&f->mmu, table_gfn(gfns[i], level),
							with_level(role, level)));
	}
	assert_int_equal(lookup(f, root, 2), 0);
	assert_int_equal(f->mmu.core.stats.pages_4k, ARRAY_SIZE(gfns));
	/* Root, then tables: 1 + 4 L3/L2... counted by the hash misses. */
	assert_int_equal(f->mmu.core.stats.mmu_cache_miss, f->mmu.nr_pages);
	assert_int_equal(f->mmu.core.stats.pt_pages_allocated, f->mmu.nr_pages);
	shadow_mmu_put_root(&f->mmu, root);
	fixture_free(f);
}

/* Roots of one role share one tree; another role (CR0.WP under 5.10)
 * has its own, and both map the same GFN. */
static void test_roles_share_or_split(void **state)
{
	struct fixture *f = fixture_new(SPTE_FORMAT_NPT, 0);
	struct tdp_page *a = get_root(f, role_of(f, 0, true));
	struct tdp_page *b = get_root(f, role_of(f, 0, true));
	struct tdp_page *c = get_root(f, role_of(f, 0, false));
	uint64_t pages;

	(void)state;
	assert_ptr_equal(a, b);
	assert_ptr_not_equal(a, c);
	assert_int_equal(map(f, a, 0x4242), TDP_MAP_FIXED);
	assert_true(spte_is_shadow_present(lookup(f, b, 0x4242)));
	assert_int_equal(lookup(f, c, 0x4242), 0);
	pages = f->mmu.nr_pages;
	assert_int_equal(map(f, c, 0x4242), TDP_MAP_FIXED);
	assert_int_equal(f->mmu.nr_pages, pages + f->mmu.core.root_level - 1);
	assert_int_equal(rmap_count(f, 0, 0x4242), 2);
	/* A zap through the reverse map finds both leaves. */
	assert_int_equal(shadow_mmu_zap_range(&f->mmu, MEM_NR_AS, 0x4242, 0x4243), 2);
	assert_int_equal(rmap_count(f, 0, 0x4242), 0);
	assert_int_equal(lookup(f, a, 0x4242), 0);
	assert_int_equal(lookup(f, c, 0x4242), 0);
	/* Tables stay; the next fault only installs the leaf. */
	pages = f->mmu.nr_pages;
	assert_int_equal(map(f, a, 0x4242), TDP_MAP_FIXED);
	assert_int_equal(f->mmu.nr_pages, pages);
	shadow_mmu_put_root(&f->mmu, a);
	shadow_mmu_put_root(&f->mmu, b);
	shadow_mmu_put_root(&f->mmu, c);
	fixture_free(f);
}

/* A root nobody holds stays in the hash with its whole tree: loading it
 * again finds every leaf (the 5.10 CR0.WP toggle's reload). */
static void test_unused_root_stays_cached(void **state)
{
	struct fixture *f = fixture_new(SPTE_FORMAT_EPT, 0);
	uint32_t role = role_of(f, 1, false);
	struct tdp_page *root = get_root(f, role), *again;
	uint64_t misses;

	(void)state;
	for (gfn_t g = 0; g < 64; g++)
		assert_int_equal(map(f, root, g * 513), TDP_MAP_FIXED);
	shadow_mmu_put_root(&f->mmu, root);
	assert_ptr_equal(shadow_mmu_find(&f->mmu, 0, role), root);
	misses = f->mmu.core.stats.mmu_cache_miss;
	again = get_root(f, role);
	assert_ptr_equal(again, root);
	assert_int_equal(f->mmu.core.stats.mmu_cache_miss, misses);
	assert_int_equal(f->mmu.core.stats.roots_freed, 0);
	for (gfn_t g = 0; g < 64; g++)
		assert_true(spte_is_shadow_present(lookup(f, again, g * 513)));
	shadow_mmu_put_root(&f->mmu, again);
	fixture_free(f);
}

/* The fast zap: held roots become invalid and empty, the rest goes; an
 * invalid root is freed when its last holder lets go. */
static void test_zap_all_with_held_root(void **state)
{
	struct fixture *f = fixture_new(SPTE_FORMAT_EPT, 0);
	uint32_t role = role_of(f, 0, true);
	struct tdp_page *root = get_root(f, role), *fresh;

	(void)state;
	assert_int_equal(map(f, root, 77), TDP_MAP_FIXED);
	uint64_t gen = f->mmu.core.zap_generation;

	shadow_mmu_zap_all(&f->mmu);
	assert_true(f->mmu.core.zap_generation > gen);
	assert_true(mmu_root_obsolete(root));
	assert_int_equal(lookup(f, root, 77), 0);
	assert_int_equal(rmap_count(f, 0, 77), 0);
	assert_int_equal(f->mmu.nr_pages, 1);            /* only the held root */
	assert_null(shadow_mmu_find(&f->mmu, 0, role));
	/* Faults refuse it; the next load builds another. */
	assert_int_equal(map(f, root, 77), TDP_MAP_RETRY);
	fresh = get_root(f, role);
	assert_ptr_not_equal(fresh, root);
	shadow_mmu_put_root(&f->mmu, root);
	assert_int_equal(f->mmu.nr_pages, 1);
	assert_int_equal(f->mmu.core.stats.roots_freed, 1);
	assert_int_equal(map(f, fresh, 77), TDP_MAP_FIXED);
	shadow_mmu_put_root(&f->mmu, fresh);
	fixture_free(f);
}

static void test_write_protect_and_age(void **state)
{
	struct fixture *f = fixture_new(SPTE_FORMAT_EPT, 0);
	struct tdp_page *root = get_root(f, role_of(f, 0, true));

	(void)state;
	for (gfn_t g = 0; g < 32; g++)
		assert_int_equal(map(f, root, g), TDP_MAP_FIXED);
	assert_int_equal(shadow_mmu_write_protect(&f->mmu, 0, 0, 16), 16);
	assert_int_equal(shadow_mmu_write_protect(&f->mmu, 0, 0, 16), 0);
	assert_int_equal(shadow_mmu_write_protect(&f->mmu, 1, 0, 32), 0);  /* other space */
	for (gfn_t g = 0; g < 32; g++) {
		uint64_t spte = lookup(f, root, g);

		assert_int_equal(spte_permits(&f->mmu.core.spte, spte, ACC_WRITE), g >= 16);
		assert_true(spte_permits(&f->mmu.core.spte, spte, 0));
	}
	assert_int_equal(shadow_mmu_age(&f->mmu, MEM_NR_AS, 0, 8), 8);
	assert_int_equal(shadow_mmu_age(&f->mmu, MEM_NR_AS, 0, 8), 0);
	assert_int_equal(f->mmu.core.stats.sptes_write_protected, 16);
	assert_int_equal(f->mmu.core.stats.sptes_aged, 8);
	shadow_mmu_put_root(&f->mmu, root);
	fixture_free(f);
}

/* A deleted memslot's leaves go through the reverse maps; the default cap
 * follows the memory: 1/64 of it, at least 1 MiB of tables. */
static void test_memslot_delete_and_default_cap(void **state)
{
	struct fixture *f = fixture_new(SPTE_FORMAT_EPT, 0);
	struct tdp_page *root = get_root(f, role_of(f, 0, true));
	struct memslot_set *small = slot_set(2, 1, (gfn_t[]){ 0 }, (uint64_t[]){ 4096 });

	(void)state;
	assert_int_equal(f->mmu.max_pages, SLOT_PAGES / 64);
	assert_int_equal(map(f, root, 100), TDP_MAP_FIXED);
	assert_int_equal(map(f, root, 5000), TDP_MAP_FIXED);
	/* The 4 GiB slot becomes 16 MiB: [0, SLOT_PAGES) lost its memory. */
	assert_int_equal(shadow_mmu_memslots_changed(&f->mmu, 0, small, 0, SLOT_PAGES), 0);
	assert_int_equal(lookup(f, root, 100), 0);
	assert_int_equal(lookup(f, root, 5000), 0);
	assert_null(rmap_head(&f->mmu.rmaps[0], 5000));
	assert_int_equal(f->mmu.max_pages, SHADOW_MIN_PAGES);
	assert_int_equal(f->mmu.core.slots_generation[0], 2);
	shadow_mmu_put_root(&f->mmu, root);
	free(small);
	fixture_free(f);
}

/*
 * The cap: when a fault needs more pages than fit, the oldest pages no
 * vCPU holds as a root go first; a page whose parent went stays in the
 * hash with its leaves and is linked back by the next fault that needs it.
 */
static void test_cap_reclaims_oldest_unused_first(void **state)
{
	struct fixture *f = fixture_new(SPTE_FORMAT_EPT, 8);
	uint32_t ra = role_of(f, 0, true), rb = role_of(f, 0, false);
	const gfn_t x = 0x1234, y = 0x40000 + 7, z = 0x80000 + 9;   /* 1 GiB apart */
	struct tdp_page *a = get_root(f, ra), *b, *a2;
	unsigned int top = f->mmu.core.root_level;

	(void)state;
	assert_int_equal(f->mmu.max_pages, 8);
	/* A: root, then its tables for x from the top down (oldest first). */
	assert_int_equal(map(f, a, x), TDP_MAP_FIXED);
	shadow_mmu_put_root(&f->mmu, a);                 /* unused from now on */
	b = get_root(f, rb);
	assert_int_equal(map(f, b, y), TDP_MAP_FIXED);
	assert_int_equal(f->mmu.nr_pages, 8);
	assert_int_equal(f->mmu.core.stats.mmu_recycled, 0);
	/* z needs two tables, but a fault makes room for a whole path first
	 * (three): A's root and A's two upper tables go, in that order; A's
	 * leaf table and all of B (newer) stay. */
	assert_int_equal(map(f, b, z), TDP_MAP_FIXED);
	assert_int_equal(f->mmu.core.stats.mmu_recycled, 3);
	assert_int_equal(f->mmu.nr_pages, 7);
	assert_null(shadow_mmu_find(&f->mmu, 0, ra));
	for (unsigned int level = top - 1; level > 1; level--)
		assert_null(shadow_mmu_find(&f->mmu, table_gfn(x, level), with_level(ra, level)));
	assert_non_null(shadow_mmu_find(&f->mmu, table_gfn(x, 1), with_level(ra, 1)));
	for (unsigned int level = 1; level < top; level++)
		assert_non_null(shadow_mmu_find(&f->mmu, table_gfn(y, level), with_level(rb, level)));
	assert_true(spte_is_shadow_present(lookup(f, b, y)));
	assert_true(spte_is_shadow_present(lookup(f, b, z)));
	/* The orphaned leaf table still maps x: reloading A (with room, or it
	 * would be the oldest to go) builds the root and the upper tables
	 * again and links it back, leaf and all. */
	uint64_t misses = f->mmu.core.stats.mmu_cache_miss;

	f->mmu.max_pages = 16;

	a2 = get_root(f, ra);
	assert_int_equal(lookup(f, a2, x), 0);
	assert_int_equal(map(f, a2, x), TDP_MAP_SPURIOUS);
	assert_int_equal(f->mmu.core.stats.mmu_cache_miss, misses + top - 1);
	assert_true(spte_is_shadow_present(lookup(f, a2, x)));
	assert_int_equal(rmap_count(f, 0, x), 1);
	/* Held roots are never reclaimed: over the cap rather than that. */
	assert_non_null(shadow_mmu_find(&f->mmu, 0, rb));
	shadow_mmu_put_root(&f->mmu, a2);
	shadow_mmu_put_root(&f->mmu, b);
	fixture_free(f);
}

static int create(struct vmmu_vm_config cfg)
{
	struct vmmu_vm *vm = NULL;
	int ret;

	cfg.size = sizeof(cfg);
	ret = vmmu_vm_create(&cfg, &vm);
	vmmu_vm_destroy(vm);
	return ret;
}

/* The VM config: the legacy MMU, its formats and its cap. */
static void test_vm_config(void **state)
{
	(void)state;
	assert_int_equal(create((struct vmmu_vm_config){ .mmu = VMMU_MMU_TDP_LEGACY }), 0);
	assert_int_equal(create((struct vmmu_vm_config){ .mmu = VMMU_MMU_TDP_LEGACY,
		.tdp_format = VMMU_TDP_NPT }), 0);
	assert_int_equal(create((struct vmmu_vm_config){ .mmu = VMMU_MMU_TDP_LEGACY,
		.tdp_ad_disabled = 1 }), 0);
	assert_int_equal(create((struct vmmu_vm_config){ .mmu = VMMU_MMU_TDP_LEGACY,
		.tdp_format = VMMU_TDP_NPT, .tdp_ad_disabled = 1 }), -EINVAL);
	assert_int_equal(create((struct vmmu_vm_config){ .mmu = VMMU_MMU_TDP_LEGACY + 1 }), -EINVAL);
	assert_int_equal(create((struct vmmu_vm_config){ .mmu = VMMU_MMU_TDP_LEGACY,
		.pt_mem_limit = 16384 }), 0);
	assert_int_equal(create((struct vmmu_vm_config){ .mmu = VMMU_MMU_TDP_LEGACY,
		.pt_mem_limit = 8192 }), -EINVAL);
	assert_int_equal(create((struct vmmu_vm_config){ .mmu = VMMU_MMU_TDP_LEGACY,
		.pt_mem_limit = 20000 }), -EINVAL);
	assert_int_equal(create((struct vmmu_vm_config){ .mmu = VMMU_MMU_TDP,
		.pt_mem_limit = 1 << 20 }), -EINVAL);
	assert_int_equal(create((struct vmmu_vm_config){ .mmu = VMMU_MMU_DIRECT,
		.pt_mem_limit = 1 << 20 }), -EINVAL);
	assert_int_equal(create((struct vmmu_vm_config){ .mmu = VMMU_MMU_TDP_LEGACY,
		.reserved = 1 }), -EINVAL);
	assert_true(vmmu_capabilities() & VMMU_CAP_MMU_TDP_LEGACY);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pte_list),
		cmocka_unit_test(test_rmap_set_follows_slots),
		cmocka_unit_test(test_map_and_lookup),
		cmocka_unit_test(test_roles_share_or_split),
		cmocka_unit_test(test_unused_root_stays_cached),
		cmocka_unit_test(test_zap_all_with_held_root),
		cmocka_unit_test(test_write_protect_and_age),
		cmocka_unit_test(test_memslot_delete_and_default_cap),
		cmocka_unit_test(test_cap_reclaims_oldest_unused_first),
		cmocka_unit_test(test_vm_config),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
