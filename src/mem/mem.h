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

struct guest_mem {
	struct memslot_set *as[MEM_NR_AS];   /* RCU-protected */
	pthread_mutex_t lock;                /* serialises writers */
	uint64_t generation;                 /* bumped by every change */
	unsigned int maxphyaddr;
};

int guest_mem_init(struct guest_mem *gm, unsigned int maxphyaddr);
void guest_mem_destroy(struct guest_mem *gm);
int guest_mem_add(struct guest_mem *gm, const struct vmmu_memslot *slot);
int guest_mem_delete(struct guest_mem *gm, uint32_t as_id, uint32_t id);

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
