/* SPDX-License-Identifier: MIT */
/*
 * A vCPU: architectural registers, the paging mode they imply, and the guest
 * page-table memory its walks read.  Used by one thread at a time.
 */
#ifndef VMMU_VCPU_H
#define VMMU_VCPU_H

#include <stdbool.h>

#include "mem/mem.h"
#include "paging/paging.h"
#include "tlb.h"
#include "role.h"
#include "vm/mmu.h"
#include "vm/stats.h"
#include "vm/vm.h"

struct vcpu_regs {
	uint64_t cr0, cr3, cr4, efer, rflags, pkrs;
	uint64_t pdpte[4];           /* PAE PDPTE registers */
	uint32_t pkru;
	uint8_t cpl;
	bool smm;
};

/*
 * Guest page-table memory over the memslots of the vCPU's address space.
 * Its window (a whole memslot) belongs to one memslot set, named by its
 * generation: vcpu_pt_mem() drops it when the set of the current address
 * space is another one.  The lookup hint needs no such care.
 */
struct vcpu_pt_mem {
	struct pt_mem ops;
	struct vmmu_vcpu *vcpu;
	uint64_t generation;
	unsigned int cached_index;   /* a hint: the slot of the last lookup */
};

/* The last guest pages the TDP walk translated (the pages of a guest walk's
 * tables, mostly), valid with the window. */
#define TDP_RECENT_PAGES 8

struct tdp_recent_page {
	gpa_t gpa;                    /* page-aligned; ~0: empty */
	uint8_t *hva;
	bool writable;                /* as the window's rule */
};

/* Guest memory through the TDP tables (tdp_mem.c): the window is one page,
 * valid for one MMU zap generation and one memslot generation. */
struct vcpu_tdp_mem {
	struct pt_mem ops;
	struct vmmu_vcpu *vcpu;
	struct mmu_caches caches;     /* for the next fault or root */
	struct tdp_page *root;        /* the root the vCPU holds; NULL: none loaded */
	struct tdp_recent_page recent[TDP_RECENT_PAGES];
	unsigned int recent_next;
	uint64_t zap_generation;
	uint64_t slots_generation;
};

/*
 * Cross-vCPU TLB requests (KVM's request-and-kick, vcpu.c).  A requester
 * posts under @lock: it merges its range, bumps @seq and sets a bit in
 * @pending; then, if the vCPU is in guest mode, it waits until @acked
 * reaches its seq or the vCPU leaves guest mode.  The vCPU applies what is
 * pending when it enters guest mode and at every library call (one relaxed
 * load of @pending when nothing is), then publishes @acked.  @mode and
 * @pending are the two sides of a Dekker pair (sequentially consistent): a
 * vCPU entering guest mode sees the request, or the requester sees the vCPU
 * in guest mode and waits for it.
 */
enum { VCPU_OUTSIDE_GUEST_MODE, VCPU_IN_GUEST_MODE };

#define VCPU_REQ_FLUSH_ALL   (1u << 0)
#define VCPU_REQ_DROP_RANGE  (1u << 1)   /* drop entries of GPAs in [drop_start, drop_end) */
#define VCPU_REQ_WP_RANGE    (1u << 2)   /* writes to [wp_start, wp_end) take the slow path */

struct vcpu_requests {
	uint32_t mode;               /* VCPU_*_GUEST_MODE; written by the vCPU's thread */
	uint32_t pending;            /* VCPU_REQ_* */
	uint64_t acked;              /* the last seq the vCPU has applied */
	pthread_mutex_t lock;        /* seq and the ranges */
	uint64_t seq;
	gpa_t drop_start, drop_end;
	gpa_t wp_start, wp_end;
};

struct vmmu_vcpu {
	struct vmmu_vm *vm;
	uint32_t id;
	bool in_guest_mode;          /* between vmmu_vcpu_enter() and _exit() */
	struct vcpu_regs regs;
	struct paging_mode mode;     /* follows CR0, CR4, EFER */
	union cpu_role cpu_role;     /* what mode was computed from, and SMM */
	struct walk_regs walk_regs;  /* follows CR3, PDPTEs, PKRU, PKRS */
	struct vcpu_pt_mem pt_mem;   /* direct mode */
	struct vcpu_tdp_mem tdp_mem; /* TDP mode */
	struct vcpu_tlb tlb;         /* follows every register (rights tables, PCID) */
	struct vcpu_requests req;
	struct vmmu_vcpu *thread_next;   /* the guest-mode vCPUs of this thread */
	struct vcpu_stats stats;
};

static inline unsigned int vcpu_as_id(const struct vmmu_vcpu *v)
{
	return v->regs.smm ? VMMU_AS_SMM : VMMU_AS_NORMAL;
}

static inline unsigned int vcpu_maxphyaddr(const struct vmmu_vcpu *v)
{
	return v->vm->cfg.maxphyaddr;
}

/* The slot backing @gfn in the vCPU's address space, or NULL.  Under RCU. */
const struct memslot *vcpu_find_slot(struct vmmu_vcpu *v, gfn_t gfn);
void vcpu_pt_mem_init(struct vmmu_vcpu *v);

void vcpu_tdp_mem_init(struct vmmu_vcpu *v);
void vcpu_tdp_mem_destroy(struct vmmu_vcpu *v);
void vcpu_tdp_mem_revalidate(struct vmmu_vcpu *v);
void vcpu_mmu_unload(struct vmmu_vcpu *v);
void vcpu_mmu_load(struct vmmu_vcpu *v);
/* The MMU's side of a successful register write (mmu_context.c): exits,
 * context resets, root unloads, as the knobs say.  @old: the value before. */
void vcpu_mmu_register_written(struct vmmu_vcpu *v, enum vmmu_reg reg, uint64_t old);
/* Deferred MMU work (dead roots, tables past their grace period), done at
 * vCPU exit outside guest mode. */
void vcpu_mmu_deferred_work(struct vmmu_vcpu *v);

/* The vCPU's guest memory for a walk, its caches checked against the
 * current memslot set (and, in TDP mode, the MMU).  Under RCU (in guest
 * mode). */
static inline struct pt_mem *vcpu_pt_mem(struct vmmu_vcpu *v)
{
	const struct memslot_set *set;

	if (v->vm->mmu) {
		vcpu_tdp_mem_revalidate(v);
		return &v->tdp_mem.ops;
	}
	set = guest_mem_slots(&v->vm->mem, vcpu_as_id(v));

	if (__builtin_expect(set->generation != v->pt_mem.generation, 0)) {
		v->pt_mem.generation = set->generation;
		v->pt_mem.ops.window_size = 0;
	}
	return &v->pt_mem.ops;
}

/* Recomputes the paging mode after a change of CR0, CR4 or EFER, and the
 * walk registers after any register change. */
void vcpu_update_mode(struct vmmu_vcpu *v);
union cpu_role vcpu_calc_cpu_role(const struct vmmu_vcpu *v);
void vcpu_update_walk_regs(struct vmmu_vcpu *v);
void vcpu_reset_regs(struct vmmu_vcpu *v);

/* TLB invalidation points (SDM 4.10.4): everything, the current PCID's
 * non-global entries (MOV to CR3), one page (INVLPG). */
enum vcpu_flush { FLUSH_ALL, FLUSH_NON_GLOBAL, FLUSH_PAGE };
void vcpu_flush_tlb(struct vmmu_vcpu *v, enum vcpu_flush kind, gva_t gva);

/* Applies the pending cross-vCPU requests; on the vCPU's thread. */
void vcpu_process_requests(struct vmmu_vcpu *v);

static inline void vcpu_check_requests(struct vmmu_vcpu *v)
{
	if (__builtin_expect(__atomic_load_n(&v->req.pending, __ATOMIC_RELAXED) != 0, 0))
		vcpu_process_requests(v);
}

/*
 * Posts a request (VCPU_REQ_*, with its GPA range) to @v; returns the seq to
 * wait for.  vcpu_request_done() says whether @v has applied it or is
 * outside guest mode.  Any thread.
 */
uint64_t vcpu_request_post(struct vmmu_vcpu *v, unsigned int req, gpa_t start, gpa_t end);
bool vcpu_request_done(struct vmmu_vcpu *v, uint64_t seq);

/*
 * Around a wait inside the library (a cross-vCPU request, a vCPU
 * destruction): the calling thread's vCPUs that are in guest mode count as
 * outside it, so that two threads waiting for each other's acknowledgement
 * cannot deadlock; on the way back they apply what was posted meanwhile.
 */
void vcpu_thread_block_begin(void);
void vcpu_thread_block_end(void);

/* The TLB context after a register change: rights tables and PCID. */
void vcpu_update_tlb_context(struct vmmu_vcpu *v);

/* Enters guest mode for the length of a library call unless the caller
 * already did; returns whether it did.  Inline: inside an embedder's
 * enter/exit bracket this is one test on every access. */
void vcpu_enter_guest_mode(struct vmmu_vcpu *v);

static inline bool vcpu_enter_implicit(struct vmmu_vcpu *v)
{
	if (v->in_guest_mode) {
		vcpu_check_requests(v);
		return false;
	}
	vcpu_enter_guest_mode(v);
	return true;
}

static inline void vcpu_exit_implicit(struct vmmu_vcpu *v, bool entered)
{
	if (entered)
		vmmu_vcpu_exit(v);
}

#endif
