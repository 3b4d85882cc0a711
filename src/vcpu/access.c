/* SPDX-License-Identifier: MIT */
/*
 * Guest accesses: the linear-address checks (#GP), the page walk of each 4K
 * page an access touches (lower page first), the memslot behind each GPA, and
 * the data copy.  Guest-physical accesses share the memslot part.
 */
#include <errno.h>
#include <string.h>

#include "vcpu.h"

#define ACCESS_KIND_MASK 0xffu

/* Linear addresses that do not #GP: canonical in IA-32e mode (48 or 57
 * bits), below 2^32 otherwise. */
static bool gva_valid(const struct vmmu_vcpu *v, gva_t gva)
{
	unsigned int shift;

	if (!v->mode.long_mode)
		return (gva >> 32) == 0;
	shift = 64 - (v->mode.levels == 5 ? 57 : 48);
	return (gva_t)((int64_t)(gva << shift) >> shift) == gva;
}

/* ACCESS_* bits of an API access, or -EINVAL. */
static int access_bits(const struct vmmu_vcpu *v, uint32_t flags)
{
	uint32_t kind = flags & ACCESS_KIND_MASK;
	bool implicit = flags & VMMU_ACCESS_IMPLICIT;
	int access;

	if ((flags & ~(ACCESS_KIND_MASK | VMMU_ACCESS_IMPLICIT)) || kind > VMMU_ACCESS_FETCH ||
	    (implicit && kind == VMMU_ACCESS_FETCH))
		return -EINVAL;
	access = kind == VMMU_ACCESS_WRITE ? ACCESS_WRITE :
		 kind == VMMU_ACCESS_FETCH ? ACCESS_FETCH : 0;
	if (v->regs.cpl == 3 && !implicit)
		access |= ACCESS_USER;
	/* SMAP governs supervisor data accesses unless RFLAGS.AC allows an
	 * explicit one. */
	if (implicit || !(v->regs.rflags & X86_RFLAGS_AC))
		access |= ACCESS_SMAP;
	return access;
}

/*
 * A TLB hit for one page of a library access (not a probe): the GPA and host
 * address as the walk would give them.  An MMIO entry looks the GPA up again,
 * as a memslot may have been added since the fill.
 */
static inline bool tlb_hit(struct vmmu_vcpu *v, gva_t gva, unsigned int kind, gpa_t *gpa,
			   void **hva)
{
	const struct vmmu_tlb_entry *e = tlb_lookup(&v->tlb, gva, kind);
	const struct memslot *slot;

	if (!e) {
		STAT_INC(v, tlb_miss);
		return false;
	}
	STAT_INC(v, tlb_hit);
	*gpa = e->gpa | (gva & ~PAGE_MASK);
	if (__builtin_expect(!(e->tag & VMMU_TLB_MMIO), 1)) {
		*hva = (void *)(uintptr_t)(gva + e->addend);
		return true;
	}
	slot = vcpu_find_slot(v, gpa_to_gfn(*gpa));
	*hva = slot && !(tlb_kind_writes(kind) && (slot->flags & VMMU_MEMSLOT_READONLY)) ?
	       memslot_hva(slot, *gpa) : NULL;
	return true;
}

/*
 * Fills the TLB after a successful walk of @gva whose data is at @hva (NULL:
 * MMIO).  A write hits later only if the leaf's D flag is set now and the
 * host memory is writable: known for a write, else from the walk's window
 * when it covers the GPA (a whole memslot in direct mode).
 */
static void tlb_fill_walk(struct vmmu_vcpu *v, gva_t gva, unsigned int access,
			  const struct walk_result *w, const struct pt_mem *pm, void *hva)
{
	bool paging = v->mode.levels != 0;
	bool writable = (access & ACCESS_WRITE) ||
			(w->gpa - pm->window_gpa < pm->window_size && pm->window_writable);
	struct tlb_fill f = {
		.gva = gva, .gpa = w->gpa, .hva = hva, .level = w->level,
		.rights = ((w->rights & RIGHT_WRITE) ? VMMU_TLB_WRITABLE : 0) |
			  ((w->rights & RIGHT_USER) ? VMMU_TLB_USER : 0) |
			  (w->xd ? VMMU_TLB_XD : 0),
		.global = paging && (v->regs.cr4 & X86_CR4_PGE) && (w->leaf & PT_GLOBAL),
		.write_slow = !hva || !writable || (paging && !(w->leaf & PT_DIRTY)),
		.pkey = (uint8_t)((w->leaf >> PT64_PKEY_SHIFT) & 15),
	};

	/*
	 * No memory to reach (no RAM, or a write to a read-only slot): an MMIO
	 * entry, whose writes need only D (an MMIO hit looks the GPA up
	 * again).  But a write does not replace the entry a read filled for
	 * the same page with RAM behind it (a read-only slot): that one keeps
	 * serving reads, and sends writes to the slow path.
	 */
	if (!hva) {
		const struct vmmu_tlb_entry *old = vmmu_tlb_entry_of(&v->tlb.pub, gva);

		if ((access & ACCESS_WRITE) && !(old->tag & VMMU_TLB_MMIO) &&
		    tlb_entry_holds(&v->tlb, old, gva))
			return;
		f.write_slow = paging && !(w->leaf & PT_DIRTY);
	}
	tlb_fill(&v->tlb, &f);
}

/*
 * Walks one page; on success finds the host memory behind the GPA.  Forced
 * inline (a GCC/Clang attribute): it runs once per page of every access, and
 * out of line its call and argument spills cost a tenth of a warm walk.
 */
static inline __attribute__((always_inline)) bool translate_page(struct vmmu_vcpu *v, gva_t gva, unsigned int access,
			   unsigned int kind, unsigned int walk_flags, gpa_t *gpa, void **hva,
			   struct vmmu_result *res)
{
	struct walk_result w;

	if (!(walk_flags & WALK_NO_AD) && tlb_hit(v, gva, kind, gpa, hva))
		return true;

	struct pt_mem *pm = vcpu_pt_mem(v);

	if (!walk_guest(&v->mode, &v->walk_regs, pm, gva, access, walk_flags, &w)) {
		res->outcome = VMMU_PF;
		res->error_code = w.error_code;
		res->fault_gva = gva;
		/* A page fault drops the page's translation (SDM 4.10.4.1). */
		if (!(walk_flags & WALK_NO_AD))
			tlb_drop_page(&v->tlb, gva);
		return false;
	}
	if (!(walk_flags & WALK_NO_AD)) {
		STAT_INC(v, walks);
		stat_add(&v->stats.ad_updates, w.ad_updates);
		stat_add(&v->stats.walk_retries, w.retries);
	}
	*gpa = w.gpa;
	/* The data goes through guest memory as the page tables did: the
	 * memslots in direct mode, the TDP tables otherwise.  Data usually
	 * shares the walk's window. */
	*hva = pt_mem_map(pm, w.gpa, access & ACCESS_WRITE);
	if (!(walk_flags & WALK_NO_AD))
		tlb_fill_walk(v, gva, access, &w, pm, *hva);
	return true;
}

/* The access itself, inside guest mode. */
static void access_pages(struct vmmu_vcpu *v, gva_t gva, uint32_t size, unsigned int access,
			 unsigned int kind, unsigned int walk_flags, struct vmmu_result *res)
{
	uint32_t len = (uint32_t)(PAGE_SIZE - (gva & ~PAGE_MASK));
	gva_t next = (gva & PAGE_MASK) + PAGE_SIZE;
	bool crosses = size > len;

	if (!v->mode.long_mode)
		next &= 0xffffffffu;    /* the 32-bit linear address space wraps */
	/* The canonical and 2^32 boundaries are page-aligned: only an access
	 * that crosses a page can have its two ends on different sides. */
	if (!gva_valid(v, gva) || (crosses && !gva_valid(v, next))) {
		res->outcome = VMMU_GP;
		return;
	}
	res->len = crosses ? len : size;
	if (!translate_page(v, gva, access, kind, walk_flags, &res->gpa, &res->hva, res))
		return;
	if (crosses) {
		res->len2 = size - res->len;
		if (!translate_page(v, next, access, kind, walk_flags, &res->gpa2, &res->hva2, res))
			return;
	}
	res->outcome = res->hva && (!res->len2 || res->hva2) ? VMMU_OK : VMMU_MMIO;
}

static int vcpu_access(struct vmmu_vcpu *v, gva_t gva, uint32_t size, uint32_t flags,
		       unsigned int walk_flags, struct vmmu_result *res)
{
	bool probe = walk_flags & WALK_NO_AD, entered;
	int access;

	if (!v || !res || !size || size > VMMU_ACCESS_MAX)
		return -EINVAL;
	access = access_bits(v, flags);
	if (access < 0)
		return access;
	memset(res, 0, sizeof(*res));
	entered = vcpu_enter_implicit(v);
	access_pages(v, gva, size, (unsigned int)access, tlb_kind(flags), walk_flags, res);
	vcpu_exit_implicit(v, entered);
	if (!probe) {
		STAT_INC(v, accesses);
		if (res->outcome == VMMU_PF)
			STAT_INC(v, pf);
		else if (res->outcome == VMMU_GP)
			STAT_INC(v, gp);
		else if (res->outcome == VMMU_MMIO)
			STAT_INC(v, mmio);
	}
	return 0;
}

int vmmu_vcpu_translate(struct vmmu_vcpu *v, vmmu_gva_t gva, uint32_t size, uint32_t access,
			struct vmmu_result *res)
{
	return vcpu_access(v, gva, size, access, 0, res);
}

int vmmu_vcpu_probe(struct vmmu_vcpu *v, vmmu_gva_t gva, uint32_t size, uint32_t access,
		    struct vmmu_result *res)
{
	return vcpu_access(v, gva, size, access, WALK_NO_AD, res);
}

/*
 * Guest memory is shared with other vCPU threads that walk it with atomic
 * loads: naturally aligned stores of 1 to 8 bytes are single atomic stores,
 * as on x86; anything else is copied bytewise.
 */
static void guest_store(void *dst, const void *src, uint32_t size)
{
	if (((uintptr_t)dst & (size - 1)) == 0) {
		switch (size) {
		case 1: __atomic_store_n((uint8_t *)dst, *(const uint8_t *)src, __ATOMIC_RELAXED); return;
		case 2: { uint16_t x; memcpy(&x, src, 2); __atomic_store_n((uint16_t *)dst, x, __ATOMIC_RELAXED); return; }
		case 4: { uint32_t x; memcpy(&x, src, 4); __atomic_store_n((uint32_t *)dst, x, __ATOMIC_RELAXED); return; }
		case 8: { uint64_t x; memcpy(&x, src, 8); __atomic_store_n((uint64_t *)dst, x, __ATOMIC_RELAXED); return; }
		}
	}
	memcpy(dst, src, size);
}

static void guest_load(void *dst, const void *src, uint32_t size)
{
	if (((uintptr_t)src & (size - 1)) == 0) {
		switch (size) {
		case 1: { uint8_t x = __atomic_load_n((const uint8_t *)src, __ATOMIC_RELAXED); memcpy(dst, &x, 1); return; }
		case 2: { uint16_t x = __atomic_load_n((const uint16_t *)src, __ATOMIC_RELAXED); memcpy(dst, &x, 2); return; }
		case 4: { uint32_t x = __atomic_load_n((const uint32_t *)src, __ATOMIC_RELAXED); memcpy(dst, &x, 4); return; }
		case 8: { uint64_t x = __atomic_load_n((const uint64_t *)src, __ATOMIC_RELAXED); memcpy(dst, &x, 8); return; }
		}
	}
	memcpy(dst, src, size);
}

int vmmu_vcpu_read(struct vmmu_vcpu *v, vmmu_gva_t gva, void *buf, uint32_t size,
		   uint32_t access_flags, struct vmmu_result *res)
{
	uint32_t kind = access_flags & ACCESS_KIND_MASK;
	bool entered;
	int ret;

	if (!v || !buf || kind == VMMU_ACCESS_WRITE)
		return -EINVAL;
	entered = vcpu_enter_implicit(v);
	ret = vcpu_access(v, gva, size, access_flags, 0, res);
	if (!ret && res->outcome == VMMU_OK) {
		guest_load(buf, res->hva, res->len);
		if (res->len2)
			guest_load((uint8_t *)buf + res->len, res->hva2, res->len2);
	}
	vcpu_exit_implicit(v, entered);
	return ret;
}

int vmmu_vcpu_write(struct vmmu_vcpu *v, vmmu_gva_t gva, const void *buf, uint32_t size,
		    uint32_t access_flags, struct vmmu_result *res)
{
	bool entered;
	int ret;

	if (!v || !buf || (access_flags & ACCESS_KIND_MASK) != VMMU_ACCESS_WRITE)
		return -EINVAL;
	entered = vcpu_enter_implicit(v);
	ret = vcpu_access(v, gva, size, access_flags, 0, res);
	if (!ret && res->outcome == VMMU_OK) {
		guest_store(res->hva, buf, res->len);
		if (res->len2)
			guest_store(res->hva2, (const uint8_t *)buf + res->len, res->len2);
	}
	vcpu_exit_implicit(v, entered);
	return ret;
}

/* A guest-physical access in the current address space, inside guest mode. */
static int phys_access(struct vmmu_vcpu *v, gpa_t gpa, uint32_t size, bool write,
		       struct vmmu_result *res)
{
	if (!size || size > VMMU_ACCESS_MAX || (gpa & ~PAGE_MASK) + size > PAGE_SIZE)
		return -EINVAL;
	memset(res, 0, sizeof(*res));
	res->gpa = gpa;
	res->len = size;
	/* A store through an identity mapping: through the TDP tables in TDP
	 * mode, like any guest access. */
	res->hva = pt_mem_map(vcpu_pt_mem(v), gpa, write);
	res->outcome = res->hva ? VMMU_OK : VMMU_MMIO;
	return 0;
}

int vmmu_vcpu_read_phys(struct vmmu_vcpu *v, vmmu_gpa_t gpa, void *buf, uint32_t size,
			struct vmmu_result *res)
{
	bool entered;
	int ret;

	if (!v || !buf || !res)
		return -EINVAL;
	entered = vcpu_enter_implicit(v);
	ret = phys_access(v, gpa, size, false, res);
	if (!ret && res->outcome == VMMU_OK)
		guest_load(buf, res->hva, size);
	vcpu_exit_implicit(v, entered);
	return ret;
}

int vmmu_vcpu_write_phys(struct vmmu_vcpu *v, vmmu_gpa_t gpa, const void *buf, uint32_t size,
			 struct vmmu_result *res)
{
	bool entered;
	int ret;

	if (!v || !buf || !res)
		return -EINVAL;
	entered = vcpu_enter_implicit(v);
	ret = phys_access(v, gpa, size, true, res);
	if (!ret && res->outcome == VMMU_OK)
		guest_store(res->hva, buf, size);
	vcpu_exit_implicit(v, entered);
	return ret;
}
