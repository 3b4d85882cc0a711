/* SPDX-License-Identifier: MIT */
/* Guest memory as the walker sees it in direct mode: memslot lookups. */
#include "vcpu.h"

const struct memslot *vcpu_find_slot(struct vmmu_vcpu *v, gfn_t gfn)
{
	struct vcpu_pt_mem *pm = &v->pt_mem;
	const struct memslot_set *set;
	const struct memslot *slot;

	set = guest_mem_slots(&v->vm->mem, vcpu_as_id(v));
	/* Lookups cluster: try the slot that served the last one.  The index
	 * is only a hint, checked against the current set on every use. */
	if (pm->cached_index < set->nr && memslot_contains(&set->slots[pm->cached_index], gfn))
		return &set->slots[pm->cached_index];
	slot = memslot_find(set, gfn);
	if (slot)
		pm->cached_index = (unsigned int)(slot - set->slots);
	return slot;
}

static void *vcpu_pt_map(struct pt_mem *mem, gpa_t gpa, bool write)
{
	struct vcpu_pt_mem *pm = (struct vcpu_pt_mem *)mem;
	const struct memslot *slot = vcpu_find_slot(pm->vcpu, gpa_to_gfn(gpa));

	if (!slot || (write && (slot->flags & VMMU_MEMSLOT_READONLY)))
		return NULL;
	/* The whole slot: the walk's remaining entries are likely in it. */
	mem->window_gpa = gfn_to_gpa(slot->base_gfn);
	mem->window_size = slot->npages << PAGE_SHIFT;
	mem->window_hva = slot->hva;
	mem->window_writable = !(slot->flags & VMMU_MEMSLOT_READONLY);
	return memslot_hva(slot, gpa);
}

void vcpu_pt_mem_init(struct vmmu_vcpu *v)
{
	v->pt_mem.ops = (struct pt_mem){ .map = vcpu_pt_map };
	v->pt_mem.vcpu = v;
	v->pt_mem.generation = UINT64_MAX;   /* matches no set */
	v->pt_mem.cached_index = 0;
}
