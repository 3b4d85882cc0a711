/* SPDX-License-Identifier: MIT */
/*
 * Guest physical memory: memslots in two address spaces (0 normal, 1 SMM),
 * each a sorted array published with RCU.  Readers hold the RCU read lock
 * (see vm/rcu.h) for as long as they use a slot or its host memory; writers
 * serialise on guest_mem.lock, publish a new array and wait for a grace
 * period before freeing the old one.
 */
#ifndef VMMU_MEM_H
#define VMMU_MEM_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "vmmu.h"
#include "vmmu_types.h"

#define MEM_NR_AS 2

struct memslot {
	gfn_t base_gfn;
	uint64_t npages;
	uint8_t *hva;
	uint32_t id;
	uint32_t flags;           /* VMMU_MEMSLOT_* */
};

/* Immutable once published. */
struct memslot_set {
	uint64_t generation;
	unsigned int nr;
	struct memslot slots[];   /* sorted by base_gfn, disjoint */
};

/*
 * Told of every change, after the new set of @as_id (generation
 * @generation) is published and before the grace period that lets the old
 * one go: [start, end) lost its memory (start == end: nothing did).  Runs
 * under guest_mem.lock, so changes arrive in generation order.
 */
typedef void (*guest_mem_change_fn)(void *opaque, unsigned int as_id, uint64_t generation,
				    gfn_t start, gfn_t end);

struct guest_mem {
	struct memslot_set *as[MEM_NR_AS];   /* RCU-protected */
	pthread_mutex_t lock;                /* serialises writers */
	uint64_t generation;                 /* bumped by every change */
	unsigned int maxphyaddr;
	guest_mem_change_fn on_change;       /* may be NULL */
	void *on_change_opaque;
};

int guest_mem_init(struct guest_mem *gm, unsigned int maxphyaddr);
void guest_mem_destroy(struct guest_mem *gm);
int guest_mem_add(struct guest_mem *gm, const struct vmmu_memslot *slot);
int guest_mem_delete(struct guest_mem *gm, uint32_t as_id, uint32_t id);
/* Moves slot (as_id, id) to slot->gpa and/or gives it slot->flags; its size
 * and host memory stay.  -ENOENT, -EEXIST (overlap), -EINVAL. */
int guest_mem_update(struct guest_mem *gm, const struct vmmu_memslot *slot);

/* Under the RCU read lock. */
static inline const struct memslot_set *guest_mem_slots(struct guest_mem *gm, unsigned int as_id)
{
	return __atomic_load_n(&gm->as[as_id], __ATOMIC_CONSUME);
}

const struct memslot *memslot_find(const struct memslot_set *set, gfn_t gfn);

static inline bool memslot_contains(const struct memslot *s, gfn_t gfn)
{
	return gfn - s->base_gfn < s->npages;
}

static inline void *memslot_hva(const struct memslot *s, gpa_t gpa)
{
	return s->hva + (gpa - gfn_to_gpa(s->base_gfn));
}

#endif /* VMMU_MEM_H */
