/* SPDX-License-Identifier: MIT */
/* vCPU life cycle, guest mode, and TLB invalidation requests. */
#include <errno.h>
#include <stdlib.h>

#include "vcpu.h"
#include "vm/rcu.h"

/* The vCPUs in guest mode on this thread (usually one), most recent first. */
static __thread struct vmmu_vcpu *thread_vcpus;

static void vcpu_free(struct vmmu_vcpu *v)
{
	tlb_destroy(&v->tlb);
	pthread_mutex_destroy(&v->req.lock);
	free(v);
}

int vmmu_vcpu_create(struct vmmu_vm *vm, uint32_t id, struct vmmu_vcpu **out)
{
	struct vmmu_vcpu *v;

	if (!vm || !out || id >= vm->cfg.max_vcpus)
		return -EINVAL;
	v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	v->vm = vm;
	v->id = id;
	if (tlb_init(&v->tlb)) {
		free(v);
		return -ENOMEM;
	}
	pthread_mutex_init(&v->req.lock, NULL);
	vcpu_pt_mem_init(v);
	if (vm->mmu)
		vcpu_tdp_mem_init(v);
	vcpu_reset_regs(v);

	pthread_mutex_lock(&vm->vcpus_lock);
	if (vm->vcpus[id]) {
		pthread_mutex_unlock(&vm->vcpus_lock);
		vcpu_free(v);
		return -EEXIST;
	}
	vm->vcpus[id] = v;
	pthread_mutex_unlock(&vm->vcpus_lock);
	*out = v;
	return 0;
}

void vmmu_vcpu_destroy(struct vmmu_vcpu *v)
{
	struct vmmu_vm *vm;

	if (!v)
		return;
	vm = v->vm;
	if (v->in_guest_mode)
		vmmu_vcpu_exit(v);
	/* Requesters hold tlb_req_lock for as long as they look at a vCPU. */
	vcpu_thread_block_begin();
	pthread_mutex_lock(&vm->tlb_req_lock);
	pthread_mutex_lock(&vm->vcpus_lock);
#define STAT_RETIRE(name) vm->retired.name += v->stats.name;
	VMMU_STAT_FIELDS(STAT_RETIRE)
#undef STAT_RETIRE
	vm->vcpus[v->id] = NULL;
	pthread_mutex_unlock(&vm->vcpus_lock);
	pthread_mutex_unlock(&vm->tlb_req_lock);
	vcpu_thread_block_end();
	if (vm->mmu)
		vcpu_tdp_mem_destroy(v);
	vcpu_free(v);
}

/* Guest mode is an RCU read-side critical section: memslot changes wait for
 * it to end before the old host memory may go away. */
int vmmu_vcpu_enter(struct vmmu_vcpu *v)
{
	if (!v)
		return -EINVAL;
	if (v->in_guest_mode)
		return -EBUSY;
	vcpu_enter_guest_mode(v);
	return 0;
}

/* Leaving guest mode (for good or while blocked) may be what a requester
 * waits for. */
static void vcpu_leave_guest_mode(struct vmmu_vcpu *v)
{
	__atomic_store_n(&v->req.mode, VCPU_OUTSIDE_GUEST_MODE, __ATOMIC_SEQ_CST);
	vm_kick_waiters(v->vm);
}

/* The Dekker pair with vcpu_request_post(): in guest mode first, then look
 * for requests. */
static void vcpu_resume_guest_mode(struct vmmu_vcpu *v)
{
	__atomic_store_n(&v->req.mode, VCPU_IN_GUEST_MODE, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&v->req.pending, __ATOMIC_SEQ_CST))
		vcpu_process_requests(v);
}

void vcpu_enter_guest_mode(struct vmmu_vcpu *v)
{
	vm_rcu_read_lock();
	v->in_guest_mode = true;
	v->thread_next = thread_vcpus;
	thread_vcpus = v;
	vcpu_resume_guest_mode(v);
}

int vmmu_vcpu_exit(struct vmmu_vcpu *v)
{
	struct vmmu_vcpu **p;

	if (!v || !v->in_guest_mode)
		return -EINVAL;
	v->in_guest_mode = false;
	for (p = &thread_vcpus; *p; p = &(*p)->thread_next)
		if (*p == v) {
			*p = v->thread_next;
			break;
		}
	vcpu_leave_guest_mode(v);
	vm_rcu_read_unlock();
	vcpu_mmu_deferred_work(v);
	return 0;
}

void vcpu_thread_block_begin(void)
{
	for (struct vmmu_vcpu *v = thread_vcpus; v; v = v->thread_next)
		vcpu_leave_guest_mode(v);
}

void vcpu_thread_block_end(void)
{
	for (struct vmmu_vcpu *v = thread_vcpus; v; v = v->thread_next)
		vcpu_resume_guest_mode(v);
}

/* Merges [start, end) into a pending range (one bounding range: an
 * invalidation of more than was asked is always allowed). */
static void range_merge(gpa_t *cur_start, gpa_t *cur_end, bool pending, gpa_t start, gpa_t end)
{
	if (!pending) {
		*cur_start = start;
		*cur_end = end;
		return;
	}
	if (start < *cur_start)
		*cur_start = start;
	if (end > *cur_end)
		*cur_end = end;
}

uint64_t vcpu_request_post(struct vmmu_vcpu *v, unsigned int req, gpa_t start, gpa_t end)
{
	struct vcpu_requests *r = &v->req;
	uint32_t pending;
	uint64_t seq;

	pthread_mutex_lock(&r->lock);
	pending = __atomic_load_n(&r->pending, __ATOMIC_RELAXED);
	if (req & VCPU_REQ_DROP_RANGE)
		range_merge(&r->drop_start, &r->drop_end, pending & VCPU_REQ_DROP_RANGE, start, end);
	if (req & VCPU_REQ_WP_RANGE)
		range_merge(&r->wp_start, &r->wp_end, pending & VCPU_REQ_WP_RANGE, start, end);
	seq = ++r->seq;
	__atomic_fetch_or(&r->pending, req, __ATOMIC_SEQ_CST);
	pthread_mutex_unlock(&r->lock);
	return seq;
}

bool vcpu_request_done(struct vmmu_vcpu *v, uint64_t seq)
{
	return __atomic_load_n(&v->req.mode, __ATOMIC_SEQ_CST) == VCPU_OUTSIDE_GUEST_MODE ||
	       __atomic_load_n(&v->req.acked, __ATOMIC_SEQ_CST) >= seq;
}

void vcpu_process_requests(struct vmmu_vcpu *v)
{
	struct vcpu_requests *r = &v->req;
	gpa_t drop_start, drop_end, wp_start, wp_end;
	uint32_t pending;
	uint64_t seq;

	pthread_mutex_lock(&r->lock);
	pending = __atomic_exchange_n(&r->pending, 0, __ATOMIC_SEQ_CST);
	drop_start = r->drop_start;
	drop_end = r->drop_end;
	wp_start = r->wp_start;
	wp_end = r->wp_end;
	seq = r->seq;
	pthread_mutex_unlock(&r->lock);

	if (pending & VCPU_REQ_FLUSH_ALL) {
		tlb_flush_all(&v->tlb);
	} else {
		if (pending & VCPU_REQ_DROP_RANGE)
			tlb_invalidate_gpa_range(&v->tlb, drop_start, drop_end);
		if (pending & VCPU_REQ_WP_RANGE)
			tlb_write_protect_gpa_range(&v->tlb, wp_start, wp_end);
	}
	if (pending)
		STAT_INC(v, tlb_flush);
	__atomic_store_n(&r->acked, seq, __ATOMIC_SEQ_CST);
	vm_kick_waiters(v->vm);
}

static uint16_t vcpu_pcid(const struct vmmu_vcpu *v)
{
	return (v->regs.cr4 & X86_CR4_PCIDE) ? (uint16_t)(v->regs.cr3 & 0xfff) : 0;
}

void vcpu_update_tlb_context(struct vmmu_vcpu *v)
{
	const struct vcpu_regs *r = &v->regs;

	tlb_update_rights(&v->tlb, &v->mode, r->cpl, r->rflags, r->pkru, (uint32_t)r->pkrs);
	tlb_set_pcid(&v->tlb, vcpu_pcid(v));
}

void vcpu_flush_tlb(struct vmmu_vcpu *v, enum vcpu_flush kind, gva_t gva)
{
	STAT_INC(v, tlb_flush);
	/* A MOV to CR3 flushes for the PCID it loads. */
	tlb_set_pcid(&v->tlb, vcpu_pcid(v));
	switch (kind) {
	case FLUSH_ALL:
		tlb_flush_all(&v->tlb);
		break;
	case FLUSH_NON_GLOBAL:
		tlb_flush_non_global(&v->tlb);
		break;
	case FLUSH_PAGE:
		tlb_flush_page(&v->tlb, gva);
		break;
	}
}

const struct vmmu_tlb *vmmu_vcpu_tlb(struct vmmu_vcpu *v)
{
	return v ? &v->tlb.pub : NULL;
}

int vmmu_vcpu_invlpg(struct vmmu_vcpu *v, vmmu_gva_t gva)
{
	if (!v)
		return -EINVAL;
	vcpu_flush_tlb(v, FLUSH_PAGE, gva);
	return 0;
}

int vmmu_vcpu_flush(struct vmmu_vcpu *v)
{
	if (!v)
		return -EINVAL;
	vcpu_flush_tlb(v, FLUSH_ALL, 0);
	return 0;
}
