/* SPDX-License-Identifier: MIT */
/*
 * The replayer's guest memory, as a VMM would manage it.  Each trace memslot
 * is backed by anonymous host memory and made of pieces, one library memslot
 * each: one piece at first, more after `invalidate` moved part of it to new
 * host pages.  Normal slots live in address space 0; address space 1 is
 * composed as QEMU does for KVM: the SMRAM slots' pieces, plus aliases of the
 * normal pieces where no SMRAM lies (same host pages).
 */
#ifndef VMMU_SIM_REPLAY_MEM_H
#define VMMU_SIM_REPLAY_MEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmmu.h"

struct replay_piece {
	uint64_t gpa, size;
	uint8_t *host;
	uint32_t lib_id;
};

struct replay_region {          /* a host mapping, unmapped at the end */
	void *addr;
	size_t len;
};

struct replay_slot {
	uint64_t trace_id;
	uint64_t gpa, size;
	bool ro, smm;
	struct replay_piece *pieces;    /* sorted, covering [gpa, gpa + size) */
	size_t nr_pieces;
	struct replay_region *regions;  /* host memory this slot ever used */
	size_t nr_regions;
};

struct replay_mem {
	struct vmmu_vm *vm;
	struct replay_slot *slots;
	size_t nr, cap;
	uint32_t *aliases;              /* library ids of the AS 1 aliases */
	size_t nr_aliases, cap_aliases;
	uint32_t next_lib_id;
};

/* Each returns 0 or a negative errno (the library's or the host's). */
int replay_mem_add(struct replay_mem *m, uint64_t id, uint64_t gpa, uint64_t size, bool ro,
		   bool smm);
int replay_mem_delete(struct replay_mem *m, uint64_t id);
/* The host moves [gpa, gpa + size) of every slot to new pages with the same
 * contents and makes the old pages inaccessible. */
int replay_mem_invalidate(struct replay_mem *m, uint64_t gpa, uint64_t size);
void replay_mem_destroy(struct replay_mem *m);

#endif
