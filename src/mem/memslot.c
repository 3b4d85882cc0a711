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

int guest_mem_add(struct guest_mem *gm, const struct vmmu_memslot *s)
{
	const struct memslot_set *cur;
	struct memslot_set *set;
	gfn_t base = gpa_to_gfn(s->gpa);
	uint64_t npages = s->size >> PAGE_SHIFT;
	unsigned int i, pos = 0;
	int ret = memslot_check(gm, s);

	if (ret)
		return ret;
	pthread_mutex_lock(&gm->lock);
	cur = gm->as[s->as_id];
	for (i = 0; i < cur->nr; i++) {
		const struct memslot *o = &cur->slots[i];

		if (o->id == s->id || (base < o->base_gfn + o->npages && o->base_gfn < base + npages)) {
			pthread_mutex_unlock(&gm->lock);
			return -EEXIST;
		}
		if (o->base_gfn < base)
			pos = i + 1;
	}
	set = memslot_set_alloc(cur->nr + 1, ++gm->generation);
	if (!set) {
		pthread_mutex_unlock(&gm->lock);
		return -ENOMEM;
	}
	memcpy(set->slots, cur->slots, pos * sizeof(cur->slots[0]));
	set->slots[pos] = (struct memslot){
		.base_gfn = base, .npages = npages, .hva = s->hva, .id = s->id, .flags = s->flags,
	};
	memcpy(set->slots + pos + 1, cur->slots + pos, (cur->nr - pos) * sizeof(cur->slots[0]));
	guest_mem_publish(gm, s->as_id, set, 0, 0);
	pthread_mutex_unlock(&gm->lock);
	return 0;
}

int guest_mem_delete(struct guest_mem *gm, uint32_t as_id, uint32_t id)
{
	const struct memslot_set *cur;
	struct memslot_set *set;
	unsigned int i;

	if (as_id >= MEM_NR_AS)
		return -EINVAL;
	pthread_mutex_lock(&gm->lock);
	cur = gm->as[as_id];
	for (i = 0; i < cur->nr && cur->slots[i].id != id; i++)
		;
	if (i == cur->nr) {
		pthread_mutex_unlock(&gm->lock);
		return -ENOENT;
	}
	set = memslot_set_alloc(cur->nr - 1, ++gm->generation);
	if (!set) {
		pthread_mutex_unlock(&gm->lock);
		return -ENOMEM;
	}
	memcpy(set->slots, cur->slots, i * sizeof(cur->slots[0]));
	memcpy(set->slots + i, cur->slots + i + 1, (cur->nr - i - 1) * sizeof(cur->slots[0]));
	guest_mem_publish(gm, as_id, set, cur->slots[i].base_gfn,
			  cur->slots[i].base_gfn + cur->slots[i].npages);
	pthread_mutex_unlock(&gm->lock);
	return 0;
}
