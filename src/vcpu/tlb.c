/* SPDX-License-Identifier: MIT */
/*
 * The per-vCPU software TLB: the rights tables a hit applies, fills, and
 * every kind of invalidation.  See tlb.h for the invariants and
 * include/vmmu.h ("Fast path") for the entry layout.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tlb.h"


static void invalidate_all(struct vcpu_tlb *t)
{
	/* Every field all ones: VMMU_TLB_INVALID set in every tag. */
	memset(t->pub.entries, 0xff, TLB_ENTRIES * sizeof(struct vmmu_tlb_entry));
}

int tlb_init(struct vcpu_tlb *t)
{
	size_t bytes = TLB_ENTRIES * sizeof(struct vmmu_tlb_entry);

	memset(t, 0, sizeof(*t));
	/* Cache-line aligned: an entry never straddles two lines. */
	t->pub.entries = aligned_alloc(64, bytes);
	if (!t->pub.entries)
		return -ENOMEM;
	invalidate_all(t);
	t->pub.size = sizeof(t->pub);
	t->pub.index_mask = TLB_ENTRIES - 1;
	t->empty = true;
	return 0;
}

void tlb_destroy(struct vcpu_tlb *t)
{
	free(t->pub.entries);
	t->pub.entries = NULL;
}

/* The access bits (ACCESS_*) of an access kind at @cpl with @rflags. */
static unsigned int kind_access(unsigned int kind, unsigned int cpl, uint64_t rflags)
{
	bool implicit = kind >= VMMU_TLB_IMPLICIT_READ;
	unsigned int base = implicit ? kind - VMMU_TLB_IMPLICIT_READ : kind;
	unsigned int access = base == VMMU_TLB_WRITE ? ACCESS_WRITE :
			      base == VMMU_TLB_FETCH ? ACCESS_FETCH : 0;

	if (cpl == 3 && !implicit)
		access |= ACCESS_USER;
	if (implicit || !(rflags & X86_RFLAGS_AC))
		access |= ACCESS_SMAP;
	return access;
}

/* The walker's RIGHT_* for raw rights (VMMU_TLB_WRITABLE | USER | XD). */
static unsigned int raw_to_rights(unsigned int raw, bool nx)
{
	unsigned int rights = 0;

	if (raw & VMMU_TLB_WRITABLE)
		rights |= RIGHT_WRITE;
	if (raw & VMMU_TLB_USER)
		rights |= RIGHT_USER;
	if (!(nx && (raw & VMMU_TLB_XD)))
		rights |= RIGHT_EXEC;
	return rights;
}

/* Bytes of a uint64_t indexed by raw rights (byte r: rights r) whose
 * rights have U/S=1, and those with U/S=0. */
#define RAW_USER_BYTES       0x0101000001010000ull
#define RAW_SUPERVISOR_BYTES 0x0000010100000101ull

/* deny[] for one kind: byte (raw | key << 3) is 1 when raw rights raw
 * fault, or key denies on a page of that U/S; built 8 bytes (one key) at a
 * time. */
static void build_deny(uint8_t *deny, uint8_t fault, const uint16_t pk_deny[2])
{
	uint64_t rights = 0;

	for (unsigned int raw = 0; raw < 8; raw++)
		rights |= (uint64_t)((fault >> raw) & 1) << (8 * raw);
	for (unsigned int key = 0; key < 16; key++) {
		uint64_t word = rights;

		if ((pk_deny[1] >> key) & 1)
			word |= RAW_USER_BYTES;
		if ((pk_deny[0] >> key) & 1)
			word |= RAW_SUPERVISOR_BYTES;
		memcpy(deny + 8 * key, &word, 8);
	}
}

void tlb_update_rights(struct vcpu_tlb *t, const struct paging_mode *m, unsigned int cpl,
		       uint64_t rflags, uint32_t pkru, uint32_t pkrs)
{
	struct vmmu_tlb *pub = &t->pub;
	struct tlb_rights_key key;

	/* 32-bit paging has 4 MiB large pages, the 64-bit formats 2M and 1G. */
	t->level_shift[1] = PAGE_SHIFT;
	t->level_shift[2] = m->levels == 2 ? 22 : 21;
	t->level_shift[3] = 30;

	/* Most register writes change none of the inputs (CR3, or CR0 bits
	 * other than WP): nothing to do. */
	memset(&key, 0, sizeof(key));
	memcpy(key.permissions, m->permissions, sizeof(key.permissions));
	memcpy(key.pk_mask, m->pk_mask, sizeof(key.pk_mask));
	key.nx = m->nx;
	key.pk_active = m->pk_active;
	key.user = cpl == 3;
	key.ac = (rflags & X86_RFLAGS_AC) != 0;
	key.pkru = pkru;
	key.pkrs = pkrs;
	if (t->rights_valid && !memcmp(&key, &t->rights_key, sizeof(key)))
		return;
	t->rights_key = key;
	t->rights_valid = true;

	for (unsigned int kind = 0; kind < VMMU_TLB_NR_KINDS; kind++) {
		unsigned int access = kind_access(kind, cpl, rflags);
		uint8_t perm = m->permissions[access_index(access)], fault = 0;

		for (unsigned int raw = 0; raw < 8; raw++)
			fault |= (uint8_t)(((perm >> raw_to_rights(raw, m->nx)) & 1) << raw);
		pub->rights_fault[kind] = fault;

		for (unsigned int user = 0; user < 2; user++) {
			uint8_t mask = m->pk_active ? m->pk_mask[pk_index(access, user)] : 0;
			uint32_t pkr = user ? pkru : pkrs;
			uint16_t deny = 0;

			if (mask)
				for (unsigned int k = 0; k < 16; k++)
					if ((pkr >> (2 * k)) & 3 & mask)
						deny |= (uint16_t)(1u << k);
			pub->pk_deny[kind][user] = deny;
		}
		build_deny(pub->deny[kind], fault, pub->pk_deny[kind]);
	}
}

void tlb_set_pcid(struct vcpu_tlb *t, uint16_t pcid)
{
	if (pcid == t->pub.pcid)
		return;
	t->pub.pcid = pcid;
	if (!t->has_global || t->empty)
		return;
	for (unsigned int i = 0; i < TLB_ENTRIES; i++) {
		struct vmmu_tlb_entry *e = &t->pub.entries[i];

		if ((e->tag & (VMMU_TLB_GLOBAL | VMMU_TLB_INVALID)) == VMMU_TLB_GLOBAL)
			e->pcid = pcid;
	}
}

static uint64_t entry_page_mask(const struct vcpu_tlb *t, const struct vmmu_tlb_entry *e)
{
	return ~((1ull << t->level_shift[e->level & 3]) - 1);
}

/* Widens the large-page region to cover [base, base + size) (QEMU's
 * tlb_add_large_page). */
static void track_large_page(struct vcpu_tlb *t, gva_t base, uint64_t mask)
{
	if (!t->has_large) {
		t->has_large = true;
		t->large_addr = base;
		t->large_mask = mask;
		return;
	}
	t->large_mask &= mask;
	while ((t->large_addr ^ base) & t->large_mask)
		t->large_mask <<= 1;
	t->large_addr &= t->large_mask;
}

void tlb_fill(struct vcpu_tlb *t, const struct tlb_fill *f)
{
	struct vmmu_tlb_entry *e = (struct vmmu_tlb_entry *)vmmu_tlb_entry_of(&t->pub, f->gva);
	gva_t page = f->gva & PAGE_MASK;
	uint64_t tag = page | f->rights | ((uint64_t)f->pkey << VMMU_TLB_PKEY_SHIFT);

	if (f->global) {
		tag |= VMMU_TLB_GLOBAL;
		t->has_global = true;
	}
	if (f->write_slow)
		tag |= VMMU_TLB_WRITE_SLOW;
	if (!f->hva)
		tag |= VMMU_TLB_MMIO;
	e->tag = tag;
	e->addend = f->hva ? (uint64_t)(uintptr_t)(f->hva - (f->gva & ~PAGE_MASK)) - page : 0;
	e->gpa = f->gpa & PAGE_MASK;
	e->pcid = t->pub.pcid;
	e->level = (uint8_t)f->level;
	t->empty = false;
	if (f->level > 1) {
		uint64_t mask = entry_page_mask(t, e);

		track_large_page(t, f->gva & mask, mask);
	}
}

static inline bool entry_valid(const struct vmmu_tlb_entry *e)
{
	return !(e->tag & VMMU_TLB_INVALID);
}

void tlb_flush_all(struct vcpu_tlb *t)
{
	if (!t->empty)
		invalidate_all(t);
	t->empty = true;
	t->has_large = false;
	t->has_global = false;
}

void tlb_flush_non_global(struct vcpu_tlb *t)
{
	if (t->empty)
		return;
	for (unsigned int i = 0; i < TLB_ENTRIES; i++) {
		struct vmmu_tlb_entry *e = &t->pub.entries[i];

		if (!(e->tag & VMMU_TLB_GLOBAL) && e->pcid == t->pub.pcid)
			e->tag = VMMU_TLB_INVALID;
	}
}

void tlb_drop_page(struct vcpu_tlb *t, gva_t gva)
{
	struct vmmu_tlb_entry *e = (struct vmmu_tlb_entry *)vmmu_tlb_entry_of(&t->pub, gva);

	if (tlb_entry_holds(t, e, gva))
		e->tag = VMMU_TLB_INVALID;
}

void tlb_flush_page(struct vcpu_tlb *t, gva_t gva)
{
	tlb_drop_page(t, gva);
	/* The other 4K pieces of a large page that holds @gva. */
	if (!t->has_large || (gva & t->large_mask) != t->large_addr)
		return;
	for (unsigned int i = 0; i < TLB_ENTRIES; i++) {
		struct vmmu_tlb_entry *e = &t->pub.entries[i];

		if (entry_valid(e) && e->level > 1 && !((e->tag ^ gva) & entry_page_mask(t, e)) &&
		    e->pcid == t->pub.pcid)
			e->tag = VMMU_TLB_INVALID;
	}
}

void tlb_invalidate_gpa_range(struct vcpu_tlb *t, gpa_t start, gpa_t end)
{
	if (t->empty)
		return;
	for (unsigned int i = 0; i < TLB_ENTRIES; i++) {
		struct vmmu_tlb_entry *e = &t->pub.entries[i];

		if (entry_valid(e) && e->gpa >= start && e->gpa < end)
			e->tag = VMMU_TLB_INVALID;
	}
}

void tlb_write_protect_gpa_range(struct vcpu_tlb *t, gpa_t start, gpa_t end)
{
	if (t->empty)
		return;
	for (unsigned int i = 0; i < TLB_ENTRIES; i++) {
		struct vmmu_tlb_entry *e = &t->pub.entries[i];

		if (entry_valid(e) && e->gpa >= start && e->gpa < end)
			e->tag |= VMMU_TLB_WRITE_SLOW;
	}
}
