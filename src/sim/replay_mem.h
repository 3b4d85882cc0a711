/* SPDX-License-Identifier: MIT */
/*
 * The replayer's guest memory, as a VMM would manage it: anonymous host
 * memory per trace memslot, normal slots in address space 0, and address
 * space 1 composed as QEMU does for KVM: the SMRAM slots, plus aliases of
 * the normal memory they do not cover (same host pages).
 */
#ifndef VMMU_SIM_REPLAY_MEM_H
#define VMMU_SIM_REPLAY_MEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmmu.h"

struct replay_slot {
	uint64_t trace_id;
	uint64_t gpa, size;
	bool ro, smm;
	uint8_t *host;
	uint32_t lib_id;
};

struct replay_mem {
	struct vmmu_vm *vm;
	struct replay_slot *slots;
	size_t nr, cap;
	uint32_t *aliases;           /* library ids of the AS 1 aliases */
	size_t nr_aliases, cap_aliases;
	uint32_t next_lib_id;
};

/* Each returns 0 or a negative errno (the library's or the host's). */
int replay_mem_add(struct replay_mem *m, uint64_t id, uint64_t gpa, uint64_t size, bool ro,
		   bool smm);
int replay_mem_delete(struct replay_mem *m, uint64_t id);
void replay_mem_destroy(struct replay_mem *m);

#endif
