/* SPDX-License-Identifier: MIT */
/* Memslot sets: lookup, and copy-update-publish for add and delete. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"
#include "vm/rcu.h"

#define MEMSLOT_FLAGS_VALID VMMU_MEMSLOT_READONLY

const struct memslot *memslot_find(const struct memslot_set *set, gfn_t gfn)
{
	unsigned int lo = 0, hi = set->nr;

	/* The last slot whose base is at or below gfn, if it covers gfn. */
	while (lo < hi) {
		unsigned int mid = lo + (hi - lo) / 2;

		if (set->slots[mid].base_gfn <= gfn)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo && memslot_contains(&set->slots[lo - 1], gfn))
		return &set->slots[lo - 1];
	return NULL;
}

static struct memslot_set *memslot_set_alloc(unsigned int nr, uint64_t generation)
{
	struct memslot_set *set = calloc(1, sizeof(*set) + nr * sizeof(set->slots[0]));

	if (set) {
		set->nr = nr;
		set->generation = generation;
	}
	return set;
}

int guest_mem_init(struct guest_mem *gm, unsigned int maxphyaddr)
{
	memset(gm, 0, sizeof(*gm));
	gm->maxphyaddr = maxphyaddr;
	for (unsigned int as = 0; as < MEM_NR_AS; as++) {
		gm->as[as] = memslot_set_alloc(0, ++gm->generation);
		if (!gm->as[as]) {
			guest_mem_destroy(gm);
			return -ENOMEM;
		}
	}
	pthread_mutex_init(&gm->lock, NULL);
	return 0;
}

void guest_mem_destroy(struct guest_mem *gm)
{
	for (unsigned int as = 0; as < MEM_NR_AS; as++) {
		free(gm->as[as]);
		gm->as[as] = NULL;
	}
	pthread_mutex_destroy(&gm->lock);
}

/* Publishes @set for @as_id, tells the owner, and frees the old set after
 * a grace period.  [start, end) lost its memory. */
static void guest_mem_publish(struct guest_mem *gm, unsigned int as_id, struct memslot_set *set,
			      gfn_t start, gfn_t end)
{
	struct memslot_set *old = gm->as[as_id];

	__atomic_store_n(&gm->as[as_id], set, __ATOMIC_RELEASE);
	if (gm->on_change)
		gm->on_change(gm->on_change_opaque, as_id, set->generation, start, end);
	vm_synchronize_rcu();
	free(old);
}

static int memslot_check(const struct guest_mem *gm, const struct vmmu_memslot *s)
{
	if (s->as_id >= MEM_NR_AS || (s->flags & ~MEMSLOT_FLAGS_VALID))
		return -EINVAL;
	if (!s->size || !s->hva || ((s->gpa | s->size | (uintptr_t)s->hva) & ~PAGE_MASK))
		return -EINVAL;
	if (s->gpa >> gm->maxphyaddr || s->size > (1ull << gm->maxphyaddr) - s->gpa)
		return -EINVAL;
	return 0;
}

#define NO_SLOT UINT64_MAX

/*
 * The one way a set changes: the slot @remove_id (NO_SLOT: none) goes, and
 * @add (NULL: none) comes, checked against the slots that stay.  With both,
 * @add must keep the removed slot's size and host memory (a move or a flags
 * change).  The removed slot's range is what lost its memory.
 */
static int guest_mem_change(struct guest_mem *gm, unsigned int as_id, uint64_t remove_id,
			    const struct memslot *add)
{
	const struct memslot_set *cur;
	const struct memslot *gone = NULL;
	struct memslot_set *set;
	unsigned int i, n = 0;
	int ret = 0;

	pthread_mutex_lock(&gm->lock);
	cur = gm->as[as_id];
	for (i = 0; i < cur->nr; i++) {
		const struct memslot *o = &cur->slots[i];

		if (o->id == remove_id) {
			gone = o;
			continue;
		}
		if (add && (o->id == add->id || (add->base_gfn < o->base_gfn + o->npages &&
						 o->base_gfn < add->base_gfn + add->npages)))
			ret = -EEXIST;
	}
	if (remove_id != NO_SLOT && !gone)
		ret = -ENOENT;
	else if (gone && add && (add->npages != gone->npages || add->hva != gone->hva))
		ret = -EINVAL;
	set = ret ? NULL : memslot_set_alloc(cur->nr - !!gone + !!add, ++gm->generation);
	if (!ret && !set)
		ret = -ENOMEM;
	if (ret) {
		pthread_mutex_unlock(&gm->lock);
		return ret;
	}
	/* Copy in order, the added slot in its place. */
	for (i = 0; i < cur->nr; i++) {
		if (add && add->base_gfn < cur->slots[i].base_gfn) {
			set->slots[n++] = *add;
			add = NULL;
		}
		if (&cur->slots[i] != gone)
			set->slots[n++] = cur->slots[i];
	}
	if (add)
		set->slots[n++] = *add;
	guest_mem_publish(gm, as_id, set, gone ? gone->base_gfn : 0,
			  gone ? gone->base_gfn + gone->npages : 0);
	pthread_mutex_unlock(&gm->lock);
	return 0;
}

static struct memslot memslot_from(const struct vmmu_memslot *s)
{
	return (struct memslot){
		.base_gfn = gpa_to_gfn(s->gpa), .npages = s->size >> PAGE_SHIFT,
		.hva = s->hva, .id = s->id, .flags = s->flags,
	};
}

int guest_mem_add(struct guest_mem *gm, const struct vmmu_memslot *s)
{
	struct memslot slot = memslot_from(s);
	int ret = memslot_check(gm, s);

	return ret ? ret : guest_mem_change(gm, s->as_id, NO_SLOT, &slot);
}

int guest_mem_update(struct guest_mem *gm, const struct vmmu_memslot *s)
{
	struct memslot slot = memslot_from(s);
	int ret = memslot_check(gm, s);

	return ret ? ret : guest_mem_change(gm, s->as_id, s->id, &slot);
}

int guest_mem_delete(struct guest_mem *gm, uint32_t as_id, uint32_t id)
{
	if (as_id >= MEM_NR_AS)
		return -EINVAL;
	return guest_mem_change(gm, as_id, id, NULL);
}
