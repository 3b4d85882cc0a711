/* SPDX-License-Identifier: MIT */
/*
 * The mem layer: guest_mem_add/delete and memslot_find, then the public
 * memslot calls: argument checks, id and overlap rules per address space,
 * lookups at the edges of every slot of random slot sets (against a linear
 * scan), -EDEADLK inside guest mode, and deletion racing with vCPU threads.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "mem/mem.h"
#include "vmmu.h"

#define KiB(x) ((uint64_t)(x) << 10)
#define MiB(x) ((uint64_t)(x) << 20)

/* The mem layer never touches a slot's host memory: one page serves as the
 * (4K-aligned) host address of every slot of the internal tests. */
static uint8_t fake_host[4096] __attribute__((aligned(4096)));

/* ---- helpers ---- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
	/* xorshift64*: deterministic across runs. */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}

static uint64_t rng_below(uint64_t n)
{
	return rng() % n;
}

static struct vmmu_memslot slot_desc(uint32_t as_id, uint32_t id, uint64_t gpa, uint64_t size)
{
	return (struct vmmu_memslot){
		.id = id, .as_id = as_id, .gpa = gpa, .size = size, .hva = fake_host,
	};
}

static int mem_add(struct guest_mem *gm, uint32_t as_id, uint32_t id, uint64_t gpa, uint64_t size)
{
	struct vmmu_memslot s = slot_desc(as_id, id, gpa, size);

	return guest_mem_add(gm, &s);
}

/* The id of the slot covering @gfn in @as_id, or -1. */
static int64_t mem_find_id(struct guest_mem *gm, unsigned int as_id, gfn_t gfn)
{
	const struct memslot *s = memslot_find(guest_mem_slots(gm, as_id), gfn);

	return s ? (int64_t)s->id : -1;
}

static void *map_anon(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	assert_true(p != MAP_FAILED);
	return p;
}

static struct vmmu_vm *vm_new(uint32_t maxphyaddr)
{
	struct vmmu_vm_config cfg = {
		.size = sizeof(cfg), .mmu = VMMU_MMU_DIRECT, .maxphyaddr = maxphyaddr,
	};
	struct vmmu_vm *vm = NULL;

	assert_int_equal(vmmu_vm_create(&cfg, &vm), 0);
	assert_non_null(vm);
	return vm;
}

static struct vmmu_vcpu *vcpu_new(struct vmmu_vm *vm, uint32_t id)
{
	struct vmmu_vcpu *v = NULL;

	assert_int_equal(vmmu_vcpu_create(vm, id, &v), 0);
	assert_non_null(v);
	return v;
}

static int slot_add(struct vmmu_vm *vm, uint32_t as_id, uint32_t id, uint64_t gpa, uint64_t size,
		    void *hva, uint32_t flags)
{
	struct vmmu_memslot s = {
		.id = id, .as_id = as_id, .gpa = gpa, .size = size, .hva = hva, .flags = flags,
	};

	return vmmu_memslot_add(vm, &s);
}

/* A guest-physical byte read in the vCPU's address space: the byte, or -1
 * for MMIO. */
static int phys_byte(struct vmmu_vcpu *v, uint64_t gpa)
{
	struct vmmu_result res;
	uint8_t b = 0;

	assert_int_equal(vmmu_vcpu_read_phys(v, gpa, &b, 1, &res), 0);
	if (res.outcome == VMMU_MMIO)
		return -1;
	assert_int_equal(res.outcome, VMMU_OK);
	return b;
}

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

/* ---- mem layer: argument checks ---- */

static void test_mem_add_einval(void **state)
{
	struct guest_mem gm;
	struct vmmu_memslot s;

	(void)state;
	assert_int_equal(guest_mem_init(&gm, 36), 0);

	/* Alignment of GPA, size and host address. */
	assert_int_equal(mem_add(&gm, 0, 0, 0x800, KiB(4)), -EINVAL);
	assert_int_equal(mem_add(&gm, 0, 0, 0x1001, KiB(4)), -EINVAL);
	assert_int_equal(mem_add(&gm, 0, 0, 0, 0x800), -EINVAL);
	assert_int_equal(mem_add(&gm, 0, 0, 0, KiB(4) + 1), -EINVAL);
	s = slot_desc(0, 0, 0, KiB(4));
	s.hva = fake_host + 8;
	assert_int_equal(guest_mem_add(&gm, &s), -EINVAL);
	s.hva = NULL;
	assert_int_equal(guest_mem_add(&gm, &s), -EINVAL);

	/* Size 0. */
	assert_int_equal(mem_add(&gm, 0, 0, 0, 0), -EINVAL);

	/* Range: beyond MAXPHYADDR (36 bits), or wrapping. */
	assert_int_equal(mem_add(&gm, 0, 0, 1ull << 36, KiB(4)), -EINVAL);
	assert_int_equal(mem_add(&gm, 0, 0, (1ull << 36) - KiB(4), KiB(8)), -EINVAL);
	assert_int_equal(mem_add(&gm, 0, 0, (1ull << 36) - KiB(4), 0ull - KiB(4)), -EINVAL);
	assert_int_equal(mem_add(&gm, 0, 0, 0xfffffffffffff000ull, KiB(4)), -EINVAL);

	/* Flags and address space. */
	s = slot_desc(0, 0, 0, KiB(4));
	s.flags = 1u << 1;
	assert_int_equal(guest_mem_add(&gm, &s), -EINVAL);
	s.flags = 0x80000000u;
	assert_int_equal(guest_mem_add(&gm, &s), -EINVAL);
	assert_int_equal(mem_add(&gm, 2, 0, 0, KiB(4)), -EINVAL);
	assert_int_equal(mem_add(&gm, 0xffffffffu, 0, 0, KiB(4)), -EINVAL);

	/* Nothing of the above was added. */
	assert_int_equal(guest_mem_slots(&gm, 0)->nr, 0);
	assert_int_equal(guest_mem_slots(&gm, 1)->nr, 0);

	/* The last page below 2^MAXPHYADDR is fine; so is a read-only slot. */
	assert_int_equal(mem_add(&gm, 0, 0, (1ull << 36) - KiB(4), KiB(4)), 0);
	s = slot_desc(0, 1, 0, (1ull << 36) - KiB(4));
	s.flags = VMMU_MEMSLOT_READONLY;
	assert_int_equal(guest_mem_add(&gm, &s), 0);
	assert_int_equal(guest_mem_slots(&gm, 0)->nr, 2);
	assert_int_equal(mem_find_id(&gm, 0, ((1ull << 36) >> 12) - 1), 0);
	assert_int_equal(mem_find_id(&gm, 0, 0), 1);
	assert_int_equal(memslot_find(guest_mem_slots(&gm, 0), 0)->flags, VMMU_MEMSLOT_READONLY);

	/* Delete: bad address space, missing slot. */
	assert_int_equal(guest_mem_delete(&gm, 2, 0), -EINVAL);
	assert_int_equal(guest_mem_delete(&gm, 0, 7), -ENOENT);
	assert_int_equal(guest_mem_delete(&gm, 1, 0), -ENOENT);
	assert_int_equal(guest_mem_slots(&gm, 0)->nr, 2);
	guest_mem_destroy(&gm);
}

/* ---- mem layer: ids and overlaps ---- */

static void test_mem_add_eexist(void **state)
{
	struct guest_mem gm;

	(void)state;
	assert_int_equal(guest_mem_init(&gm, 46), 0);
	assert_int_equal(mem_add(&gm, 0, 5, KiB(64), KiB(64)), 0);     /* gfn 16..31 */

	/* A live id, wherever the new range is. */
	assert_int_equal(mem_add(&gm, 0, 5, MiB(1), KiB(4)), -EEXIST);
	/* Overlaps: inside, over the start, over the end, around, identical. */
	assert_int_equal(mem_add(&gm, 0, 6, KiB(68), KiB(4)), -EEXIST);
	assert_int_equal(mem_add(&gm, 0, 6, KiB(60), KiB(8)), -EEXIST);
	assert_int_equal(mem_add(&gm, 0, 6, KiB(124), KiB(8)), -EEXIST);
	assert_int_equal(mem_add(&gm, 0, 6, 0, MiB(1)), -EEXIST);
	assert_int_equal(mem_add(&gm, 0, 6, KiB(64), KiB(64)), -EEXIST);
	assert_int_equal(guest_mem_slots(&gm, 0)->nr, 1);

	/* Adjacent on both sides is fine. */
	assert_int_equal(mem_add(&gm, 0, 6, KiB(60), KiB(4)), 0);
	assert_int_equal(mem_add(&gm, 0, 7, KiB(128), KiB(4)), 0);
	assert_int_equal(mem_find_id(&gm, 0, 14), -1);
	assert_int_equal(mem_find_id(&gm, 0, 15), 6);
	assert_int_equal(mem_find_id(&gm, 0, 16), 5);
	assert_int_equal(mem_find_id(&gm, 0, 31), 5);
	assert_int_equal(mem_find_id(&gm, 0, 32), 7);
	assert_int_equal(mem_find_id(&gm, 0, 33), -1);

	/* Deleting frees both the id and the range. */
	assert_int_equal(guest_mem_delete(&gm, 0, 5), 0);
	assert_int_equal(guest_mem_delete(&gm, 0, 5), -ENOENT);
	assert_int_equal(mem_find_id(&gm, 0, 16), -1);
	assert_int_equal(mem_add(&gm, 0, 8, KiB(64), KiB(32)), 0);
	assert_int_equal(mem_add(&gm, 0, 5, KiB(96), KiB(32)), 0);
	assert_int_equal(mem_find_id(&gm, 0, 16), 8);
	assert_int_equal(mem_find_id(&gm, 0, 24), 5);
	guest_mem_destroy(&gm);
}

static void test_mem_address_spaces(void **state)
{
	struct guest_mem gm;

	(void)state;
	assert_int_equal(guest_mem_init(&gm, 46), 0);

	/* The same id and the same range in both address spaces. */
	assert_int_equal(mem_add(&gm, 0, 1, 0, MiB(1)), 0);
	assert_int_equal(mem_add(&gm, 1, 1, KiB(192), KiB(64)), 0);
	assert_int_equal(mem_add(&gm, 1, 2, 0, KiB(192)), 0);
	/* Overlap and id rules hold within address space 1 too. */
	assert_int_equal(mem_add(&gm, 1, 3, KiB(200), KiB(4)), -EEXIST);
	assert_int_equal(mem_add(&gm, 1, 2, MiB(4), KiB(4)), -EEXIST);

	assert_int_equal(mem_find_id(&gm, 0, 0x30), 1);
	assert_int_equal(mem_find_id(&gm, 1, 0x30), 1);
	assert_int_equal(mem_find_id(&gm, 0, 0x10), 1);
	assert_int_equal(mem_find_id(&gm, 1, 0x10), 2);
	assert_int_equal(mem_find_id(&gm, 1, 0x40), -1);

	/* Deleting in one address space leaves the other alone. */
	assert_int_equal(guest_mem_delete(&gm, 0, 1), 0);
	assert_int_equal(mem_find_id(&gm, 0, 0x30), -1);
	assert_int_equal(mem_find_id(&gm, 1, 0x30), 1);
	assert_int_equal(guest_mem_delete(&gm, 0, 2), -ENOENT);
	assert_int_equal(guest_mem_delete(&gm, 1, 2), 0);
	assert_int_equal(mem_find_id(&gm, 1, 0x10), -1);
	assert_int_equal(guest_mem_slots(&gm, 1)->nr, 1);
	assert_int_equal(guest_mem_slots(&gm, 0)->nr, 0);
	guest_mem_destroy(&gm);
}

/* ---- mem layer: lookups over random slot sets ---- */

#define RAND_MAX_SLOTS 48

struct ref_slot {
	uint32_t id;
	bool live;
	gfn_t base;
	uint64_t npages;
};

static int64_t ref_find(const struct ref_slot *ref, unsigned int nr, gfn_t gfn)
{
	for (unsigned int i = 0; i < nr; i++)
		if (ref[i].live && gfn >= ref[i].base && gfn - ref[i].base < ref[i].npages)
			return ref[i].id;
	return -1;
}

static void check_lookup(struct guest_mem *gm, unsigned int as_id, const struct ref_slot *ref,
			 unsigned int nr, gfn_t gfn)
{
	int64_t want = ref_find(ref, nr, gfn), got = mem_find_id(gm, as_id, gfn);

	if (want != got)
		fail_msg("as %u gfn %#llx: memslot_find gives slot %lld, linear scan %lld", as_id,
			 (unsigned long long)gfn, (long long)got, (long long)want);
}

/* Every edge of every slot, live or deleted, and random gfns in between. */
static void check_all_lookups(struct guest_mem *gm, unsigned int as_id,
			      const struct ref_slot *ref, unsigned int nr, gfn_t span)
{
	const struct memslot_set *set = guest_mem_slots(gm, as_id);
	unsigned int live = 0;

	for (unsigned int i = 0; i < nr; i++) {
		live += ref[i].live;
		check_lookup(gm, as_id, ref, nr, ref[i].base);
		check_lookup(gm, as_id, ref, nr, ref[i].base + ref[i].npages - 1);
		check_lookup(gm, as_id, ref, nr, ref[i].base + ref[i].npages);
		if (ref[i].base)
			check_lookup(gm, as_id, ref, nr, ref[i].base - 1);
	}
	for (unsigned int i = 0; i < 64; i++)
		check_lookup(gm, as_id, ref, nr, rng_below(span + 2));
	check_lookup(gm, as_id, ref, nr, 0);
	check_lookup(gm, as_id, ref, nr, ~0ull >> 12);

	/* The published set holds exactly the live slots, sorted, disjoint. */
	assert_int_equal(set->nr, live);
	for (unsigned int i = 1; i < set->nr; i++)
		assert_true(set->slots[i - 1].base_gfn + set->slots[i - 1].npages <=
			    set->slots[i].base_gfn);
}

static void test_mem_find_random(void **state)
{
	struct guest_mem gm;

	(void)state;
	for (unsigned int round = 0; round < 60; round++) {
		struct ref_slot ref[RAND_MAX_SLOTS];
		unsigned int nr = 1 + (unsigned int)rng_below(RAND_MAX_SLOTS);
		unsigned int order[RAND_MAX_SLOTS];
		unsigned int as_id = round & 1;
		gfn_t gfn = rng_below(4);

		assert_int_equal(guest_mem_init(&gm, 46), 0);
		/* Disjoint slots, often adjacent, of 1 page to a few hundred. */
		for (unsigned int i = 0; i < nr; i++) {
			uint64_t gap = rng_below(3) ? 0 : rng_below(3) ? 1 : rng_below(1000);
			uint64_t npages = rng_below(4) ? 1 + rng_below(8) : 1 + rng_below(400);

			gfn += gap;
			ref[i] = (struct ref_slot){ .id = 1000 + (uint32_t)rng_below(1000) * 64 + i,
						    .base = gfn, .npages = npages };
			gfn += npages;
			order[i] = i;
		}
		/* Added in random order. */
		for (unsigned int i = nr; i > 1; i--) {
			unsigned int j = (unsigned int)rng_below(i), t = order[i - 1];

			order[i - 1] = order[j];
			order[j] = t;
		}
		for (unsigned int i = 0; i < nr; i++) {
			const struct ref_slot *r = &ref[order[i]];

			assert_int_equal(mem_add(&gm, as_id, r->id, r->base << 12, r->npages << 12),
					 0);
			ref[order[i]].live = true;
		}
		check_all_lookups(&gm, as_id, ref, nr, gfn);
		/* The other address space stays empty. */
		assert_int_equal(mem_find_id(&gm, as_id ^ 1, ref[0].base), -1);

		/* Delete about half, check, then add them back. */
		for (unsigned int i = 0; i < nr; i++)
			if (rng_below(2)) {
				assert_int_equal(guest_mem_delete(&gm, as_id, ref[i].id), 0);
				ref[i].live = false;
			}
		check_all_lookups(&gm, as_id, ref, nr, gfn);
		for (unsigned int i = 0; i < nr; i++)
			if (!ref[i].live) {
				assert_int_equal(guest_mem_delete(&gm, as_id, ref[i].id), -ENOENT);
				assert_int_equal(mem_add(&gm, as_id, ref[i].id, ref[i].base << 12,
							 ref[i].npages << 12), 0);
				ref[i].live = true;
			}
		check_all_lookups(&gm, as_id, ref, nr, gfn);
		guest_mem_destroy(&gm);
	}
}

/* ---- public API ---- */

static void test_api_errors(void **state)
{
	struct vmmu_vm *vm = vm_new(36);
	struct vmmu_vcpu *v = vcpu_new(vm, 0);
	uint8_t *ram = map_anon(MiB(1));
	struct vmmu_memslot s = { .id = 0, .gpa = 0, .size = KiB(4), .hva = ram };

	(void)state;
	assert_int_equal(vmmu_memslot_add(NULL, &s), -EINVAL);
	assert_int_equal(vmmu_memslot_add(vm, NULL), -EINVAL);
	assert_int_equal(vmmu_memslot_delete(NULL, 0, 0), -EINVAL);

	/* -EINVAL: alignment, size, range, flags, address space. */
	assert_int_equal(slot_add(vm, 0, 0, 0x10, KiB(4), ram, 0), -EINVAL);
	assert_int_equal(slot_add(vm, 0, 0, 0, KiB(4) - 1, ram, 0), -EINVAL);
	assert_int_equal(slot_add(vm, 0, 0, 0, KiB(4), ram + 1, 0), -EINVAL);
	assert_int_equal(slot_add(vm, 0, 0, 0, KiB(4), NULL, 0), -EINVAL);
	assert_int_equal(slot_add(vm, 0, 0, 0, 0, ram, 0), -EINVAL);
	assert_int_equal(slot_add(vm, 0, 0, 1ull << 36, KiB(4), ram, 0), -EINVAL);
	assert_int_equal(slot_add(vm, 0, 0, (1ull << 36) - KiB(4), KiB(8), ram, 0), -EINVAL);
	assert_int_equal(slot_add(vm, 0, 0, 0, KiB(4), ram, 2), -EINVAL);
	assert_int_equal(slot_add(vm, 2, 0, 0, KiB(4), ram, 0), -EINVAL);
	assert_int_equal(phys_byte(v, 0), -1);

	/* -EEXIST: live id, overlap; -ENOENT: missing slot. */
	ram[0] = 0x11;
	ram[KiB(512)] = 0x22;
	assert_int_equal(slot_add(vm, 0, 3, 0, KiB(512), ram, 0), 0);
	assert_int_equal(slot_add(vm, 0, 3, MiB(1), KiB(4), ram, 0), -EEXIST);
	assert_int_equal(slot_add(vm, 0, 4, KiB(508), KiB(8), ram + KiB(512), 0), -EEXIST);
	assert_int_equal(slot_add(vm, 0, 4, KiB(512), KiB(512), ram + KiB(512), 0), 0);
	assert_int_equal(vmmu_memslot_delete(vm, 0, 5), -ENOENT);
	assert_int_equal(vmmu_memslot_delete(vm, 1, 3), -ENOENT);
	assert_int_equal(phys_byte(v, 0), 0x11);
	assert_int_equal(phys_byte(v, KiB(512)), 0x22);
	assert_int_equal(phys_byte(v, MiB(1)), -1);

	/* The id is reusable after deletion, and the range is free again. */
	assert_int_equal(vmmu_memslot_delete(vm, 0, 3), 0);
	assert_int_equal(vmmu_memslot_delete(vm, 0, 3), -ENOENT);
	assert_int_equal(phys_byte(v, 0), -1);
	assert_int_equal(slot_add(vm, 0, 3, 0, KiB(4), ram + KiB(512), 0), 0);
	assert_int_equal(phys_byte(v, 0), 0x22);

	vmmu_vcpu_destroy(v);
	vmmu_vm_destroy(vm);
	munmap(ram, MiB(1));
}

static void test_api_address_spaces(void **state)
{
	struct vmmu_vm *vm = vm_new(0);
	struct vmmu_vcpu *v = vcpu_new(vm, 0);
	uint8_t *normal = map_anon(MiB(1)), *smram = map_anon(KiB(64));

	(void)state;
	memset(normal, 0x11, MiB(1));
	memset(smram, 0x22, KiB(64));
	assert_int_equal(slot_add(vm, VMMU_AS_NORMAL, 0, 0, MiB(1), normal, 0), 0);
	/* Same id, overlapping range, other address space. */
	assert_int_equal(slot_add(vm, VMMU_AS_SMM, 0, KiB(192), KiB(64), smram, 0), 0);
	assert_int_equal(slot_add(vm, VMMU_AS_SMM, 1, KiB(252), KiB(8), smram, 0), -EEXIST);

	assert_int_equal(phys_byte(v, KiB(192)), 0x11);
	assert_int_equal(vmmu_vcpu_set_reg(v, VMMU_REG_SMM, 1), 0);
	assert_int_equal(phys_byte(v, KiB(192)), 0x22);
	assert_int_equal(phys_byte(v, KiB(256) - 1), 0x22);
	assert_int_equal(phys_byte(v, KiB(256)), -1);
	assert_int_equal(phys_byte(v, 0), -1);

	/* Deleting the normal slot leaves SMRAM; deleting SMRAM leaves nothing. */
	assert_int_equal(vmmu_memslot_delete(vm, VMMU_AS_NORMAL, 0), 0);
	assert_int_equal(phys_byte(v, KiB(192)), 0x22);
	assert_int_equal(vmmu_memslot_delete(vm, VMMU_AS_SMM, 0), 0);
	assert_int_equal(phys_byte(v, KiB(192)), -1);
	assert_int_equal(vmmu_vcpu_set_reg(v, VMMU_REG_SMM, 0), 0);
	assert_int_equal(phys_byte(v, KiB(192)), -1);

	vmmu_vcpu_destroy(v);
	vmmu_vm_destroy(vm);
	munmap(normal, MiB(1));
	munmap(smram, KiB(64));
}

/* Random slot sets through the public API: the byte at the first and last
 * page of every slot and just outside it, against a linear scan. */
static void test_api_lookup_random(void **state)
{
	enum { NR = 24 };
	struct vmmu_vm *vm = vm_new(0);
	struct vmmu_vcpu *v = vcpu_new(vm, 0);
	uint8_t *backing[NR];
	struct ref_slot ref[NR];

	(void)state;
	for (unsigned int round = 0; round < 8; round++) {
		gfn_t gfn = 0x100 * round + rng_below(2);

		for (unsigned int i = 0; i < NR; i++) {
			uint64_t npages = 1 + rng_below(4);

			gfn += rng_below(2) ? 0 : 1 + rng_below(3);
			ref[i] = (struct ref_slot){
				.id = i, .live = true, .base = gfn, .npages = npages,
			};
			gfn += npages;
			backing[i] = map_anon(npages << 12);
			memset(backing[i], 0x40 + i, npages << 12);
		}
		for (unsigned int k = 0; k < NR; k++) {
			unsigned int i = (k * 7 + round) % NR;      /* NR and 7 are coprime */

			assert_int_equal(slot_add(vm, round & 1, ref[i].id, ref[i].base << 12,
						  ref[i].npages << 12, backing[i], 0), 0);
		}
		if (round & 1)
			assert_int_equal(vmmu_vcpu_set_reg(v, VMMU_REG_SMM, 1), 0);
		for (unsigned int i = 0; i < NR; i++) {
			uint64_t first = ref[i].base << 12;
			uint64_t end = (ref[i].base + ref[i].npages) << 12;
			uint64_t probes[] = { first, first + 0xfff, end - KiB(4), end - 1, end,
					      first - 1 };

			for (unsigned int p = 0; p < ARRAY_SIZE(probes); p++) {
				uint64_t gpa = probes[p];
				int64_t id = ref_find(ref, NR, gpa >> 12);

				if (gpa == ~0ull)
					continue;
				assert_int_equal(phys_byte(v, gpa), id < 0 ? -1 : 0x40 + id);
			}
		}
		/* Delete every other slot: those lookups become MMIO. */
		for (unsigned int i = 0; i < NR; i += 2) {
			assert_int_equal(vmmu_memslot_delete(vm, round & 1, ref[i].id), 0);
			ref[i].live = false;
		}
		for (unsigned int i = 0; i < NR; i++) {
			uint64_t first = ref[i].base << 12;
			uint64_t end = (ref[i].base + ref[i].npages) << 12;
			int64_t id = ref_find(ref, NR, ref[i].base);

			assert_int_equal(id, ref[i].live ? (int64_t)i : -1);
			assert_int_equal(phys_byte(v, first), id < 0 ? -1 : 0x40 + id);
			assert_int_equal(phys_byte(v, end - 1), id < 0 ? -1 : 0x40 + id);
		}
		for (unsigned int i = 1; i < NR; i += 2)
			assert_int_equal(vmmu_memslot_delete(vm, round & 1, ref[i].id), 0);
		assert_int_equal(vmmu_vcpu_set_reg(v, VMMU_REG_SMM, 0), 0);
		for (unsigned int i = 0; i < NR; i++)
			munmap(backing[i], ref[i].npages << 12);
	}
	vmmu_vcpu_destroy(v);
	vmmu_vm_destroy(vm);
}

/* A memslot change inside guest mode on the same thread would wait for
 * itself: -EDEADLK, and nothing changes. */
static void test_api_edeadlk(void **state)
{
	struct vmmu_vm *vm = vm_new(0);
	struct vmmu_vcpu *v = vcpu_new(vm, 0);
	uint8_t *ram = map_anon(KiB(8));

	(void)state;
	ram[0] = 0x33;
	ram[KiB(4)] = 0x44;
	assert_int_equal(slot_add(vm, 0, 0, 0, KiB(4), ram, 0), 0);

	assert_int_equal(vmmu_vcpu_enter(v), 0);
	assert_int_equal(slot_add(vm, 0, 1, KiB(4), KiB(4), ram + KiB(4), 0), -EDEADLK);
	assert_int_equal(vmmu_memslot_delete(vm, 0, 0), -EDEADLK);
	assert_int_equal(vmmu_memslot_delete(vm, 0, 9), -EDEADLK);
	assert_int_equal(phys_byte(v, 0), 0x33);
	assert_int_equal(phys_byte(v, KiB(4)), -1);
	assert_int_equal(vmmu_vcpu_exit(v), 0);

	/* Outside the bracket the same calls work. */
	assert_int_equal(phys_byte(v, KiB(4)), -1);
	assert_int_equal(slot_add(vm, 0, 1, KiB(4), KiB(4), ram + KiB(4), 0), 0);
	assert_int_equal(phys_byte(v, KiB(4)), 0x44);
	assert_int_equal(vmmu_memslot_delete(vm, 0, 0), 0);
	assert_int_equal(phys_byte(v, 0), -1);

	vmmu_vcpu_destroy(v);
	vmmu_vm_destroy(vm);
	munmap(ram, KiB(8));
}

/* ---- concurrency ---- */

#define CHURN_GPA      MiB(1)
#define CHURN_SIZE     KiB(16)
#define CHURN_ROUNDS   200

struct churn {
	struct vmmu_vcpu *vcpu;
	int started, stop;
	unsigned long reads, errors, churn_ok, churn_mmio;
};

/* The reader: a stable slot (every byte 0x5a) and the churned one (every
 * byte the same non-zero value, or MMIO). */
static void *churn_reader(void *arg)
{
	struct churn *c = arg;
	struct vmmu_result res;

	for (unsigned long i = 0; !__atomic_load_n(&c->stop, __ATOMIC_ACQUIRE); i++) {
		uint64_t off = (i * 8) % (CHURN_SIZE - 8);
		uint8_t buf[8];

		if (vmmu_vcpu_read(c->vcpu, 0x1000 + off, buf, 8, VMMU_ACCESS_READ, &res) ||
		    res.outcome != VMMU_OK || memcmp(buf, "\x5a\x5a\x5a\x5a\x5a\x5a\x5a\x5a", 8))
			c->errors++;
		if (vmmu_vcpu_read(c->vcpu, CHURN_GPA + off, buf, 8, VMMU_ACCESS_READ, &res)) {
			c->errors++;
		} else if (res.outcome == VMMU_OK) {
			for (unsigned int k = 0; k < 8; k++)
				if (!buf[k] || buf[k] != buf[0])
					c->errors++;
			__atomic_store_n(&c->churn_ok, c->churn_ok + 1, __ATOMIC_RELEASE);
		} else if (res.outcome == VMMU_MMIO) {
			c->churn_mmio++;
		} else {
			c->errors++;
		}
		c->reads++;
		__atomic_store_n(&c->started, 1, __ATOMIC_RELEASE);
	}
	return NULL;
}

/* One thread reads through a slot while the main thread deletes and re-adds
 * other slots; a deleted slot's host memory is made inaccessible at once, so
 * a reader still using it would crash. */
static void test_concurrent_read_while_churning(void **state)
{
	struct vmmu_vm *vm = vm_new(0);
	struct vmmu_vcpu *v = vcpu_new(vm, 1);
	uint8_t *stable = map_anon(KiB(64));
	uint8_t *pool = map_anon(CHURN_ROUNDS * 2 * CHURN_SIZE);
	struct churn c = { .vcpu = v };
	pthread_t reader;

	(void)state;
	memset(stable, 0x5a, KiB(64));
	assert_int_equal(slot_add(vm, 0, 0, 0, KiB(64), stable, 0), 0);
	assert_int_equal(pthread_create(&reader, NULL, churn_reader, &c), 0);
	while (!__atomic_load_n(&c.started, __ATOMIC_ACQUIRE))
		sched_yield();

	for (unsigned int i = 0; i < CHURN_ROUNDS; i++) {
		uint8_t *a = pool + (2 * i) * CHURN_SIZE, *b = a + CHURN_SIZE;

		unsigned long seen = __atomic_load_n(&c.churn_ok, __ATOMIC_ACQUIRE);

		memset(a, 1 + i % 255, CHURN_SIZE);
		memset(b, 0xc3, CHURN_SIZE);
		assert_int_equal(slot_add(vm, 0, 1, CHURN_GPA, CHURN_SIZE, a, 0), 0);
		/* Let the reader use the new slot before it goes (bounded: the
		 * test asserts no timing). */
		for (unsigned int spin = 0; spin < 10000; spin++) {
			if (__atomic_load_n(&c.churn_ok, __ATOMIC_ACQUIRE) != seen)
				break;
			sched_yield();
		}
		assert_int_equal(slot_add(vm, i & 1, 2, MiB(2) + (i % 7) * KiB(4), CHURN_SIZE, b,
					  i & 2 ? VMMU_MEMSLOT_READONLY : 0), 0);
		assert_int_equal(vmmu_memslot_delete(vm, 0, 1), 0);
		/* Synchronous: no vCPU touches @a any more. */
		assert_int_equal(mprotect(a, CHURN_SIZE, PROT_NONE), 0);
		assert_int_equal(vmmu_memslot_delete(vm, i & 1, 2), 0);
		assert_int_equal(mprotect(b, CHURN_SIZE, PROT_NONE), 0);
	}
	__atomic_store_n(&c.stop, 1, __ATOMIC_RELEASE);
	assert_int_equal(pthread_join(reader, NULL), 0);

	assert_int_equal(c.errors, 0);
	assert_true(c.reads > 0);
	assert_int_equal(c.churn_ok + c.churn_mmio, c.reads);
	vmmu_vcpu_destroy(v);
	vmmu_vm_destroy(vm);
	munmap(pool, CHURN_ROUNDS * 2 * CHURN_SIZE);
	munmap(stable, KiB(64));
}

struct guest_mode_thread {
	struct vmmu_vcpu *vcpu;
	int entered, exiting;
	int translate_ret, outcome;
	uint8_t value_after_sleep;
};

/* Enters guest mode, takes a host pointer into the slot, holds it a few ms,
 * reads through it, then exits. */
static void *guest_mode_holder(void *arg)
{
	struct guest_mode_thread *g = arg;
	struct vmmu_result res;

	if (vmmu_vcpu_enter(g->vcpu))
		return NULL;
	g->translate_ret = vmmu_vcpu_translate(g->vcpu, 0x2000, 1, VMMU_ACCESS_READ, &res);
	g->outcome = (int)res.outcome;
	__atomic_store_n(&g->entered, 1, __ATOMIC_RELEASE);
	sleep_ms(30);
	if (res.outcome == VMMU_OK)
		g->value_after_sleep = *(volatile uint8_t *)res.hva;
	__atomic_store_n(&g->exiting, 1, __ATOMIC_RELEASE);
	vmmu_vcpu_exit(g->vcpu);
	return NULL;
}

static void test_delete_waits_for_guest_mode(void **state)
{
	struct vmmu_vm *vm = vm_new(0);
	struct vmmu_vcpu *v = vcpu_new(vm, 3);
	uint8_t *ram = map_anon(KiB(16));
	struct guest_mode_thread g = { .vcpu = v, .translate_ret = -1 };
	pthread_t t;

	(void)state;
	ram[0x2000] = 0x77;
	assert_int_equal(slot_add(vm, 0, 0, 0, KiB(16), ram, 0), 0);
	assert_int_equal(pthread_create(&t, NULL, guest_mode_holder, &g), 0);
	while (!__atomic_load_n(&g.entered, __ATOMIC_ACQUIRE))
		sched_yield();

	/* Not -EDEADLK: the vCPU in guest mode is another thread's. */
	assert_int_equal(vmmu_memslot_delete(vm, 0, 0), 0);
	assert_int_equal(__atomic_load_n(&g.exiting, __ATOMIC_ACQUIRE), 1);
	/* The memory is the caller's again, and nobody may touch it. */
	assert_int_equal(mprotect(ram, KiB(16), PROT_NONE), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(g.translate_ret, 0);
	assert_int_equal(g.outcome, VMMU_OK);
	assert_int_equal(g.value_after_sleep, 0x77);

	vmmu_vcpu_destroy(v);
	vmmu_vm_destroy(vm);
	munmap(ram, KiB(16));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mem_add_einval),
		cmocka_unit_test(test_mem_add_eexist),
		cmocka_unit_test(test_mem_address_spaces),
		cmocka_unit_test(test_mem_find_random),
		cmocka_unit_test(test_api_errors),
		cmocka_unit_test(test_api_address_spaces),
		cmocka_unit_test(test_api_lookup_random),
		cmocka_unit_test(test_api_edeadlk),
		cmocka_unit_test(test_concurrent_read_while_churning),
		cmocka_unit_test(test_delete_waits_for_guest_mode),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
