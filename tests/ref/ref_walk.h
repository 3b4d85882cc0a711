/* SPDX-License-Identifier: MIT */
/*
 * A reference x86 page walker for tests: plain, slow and written from the
 * Intel SDM vol. 3, chapter 4, level by level.  It shares no code and no
 * tables with src/paging; it only uses the architectural bit names of
 * paging.h.  Tests run it next to walk_guest() and compare.
 */
#ifndef VMMU_REF_WALK_H
#define VMMU_REF_WALK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Guest physical memory: @size bytes at GPA 0; anything above has no RAM. */
struct ref_mem {
	uint8_t *buf;
	uint64_t size;
	bool ro;                   /* read-only: A/D flags are never written */
};

/* The register state a linear-address access depends on. */
struct ref_cpu {
	uint64_t cr0, cr3, cr4, efer;
	uint64_t pdpte[4];         /* PAE PDPTE registers */
	uint32_t pkru, pkrs;
	unsigned int cpl;          /* 0..3 */
	bool ac;                   /* RFLAGS.AC */
	unsigned int maxphyaddr;   /* 36..52 */
};

enum ref_kind { REF_READ, REF_WRITE, REF_FETCH };

/* One access: its kind, and whether it is an implicit supervisor access. */
struct ref_access {
	enum ref_kind kind;
	bool implicit;             /* never with REF_FETCH */
};

#define REF_MAX_AD 8

/* One accessed/dirty update: the entry at @gpa went from @old to @new. */
struct ref_ad {
	uint64_t gpa;
	uint64_t old, new;
	unsigned int size;         /* 4 or 8 bytes */
};

struct ref_result {
	bool fault;
	uint32_t error_code;       /* PFERR_* when fault */
	uint64_t gpa;              /* translation when !fault */
	unsigned int level;        /* leaf level when !fault (1: 4K page) */
	/* Rights of the translation (SDM 4.6), valid when a leaf was reached. */
	bool user_addr;            /* U/S=1 at every level */
	bool writable;             /* R/W=1 at every level */
	bool xd;                   /* XD=1 at some level, with EFER.NXE */
	unsigned int key;          /* protection key (IA-32e paging) */
	unsigned int nr_ad;
	struct ref_ad ad[REF_MAX_AD];
};

/* Paging mode by the SDM's table 4-1: 0 (off), 2 (32-bit), 3 (PAE), 4, 5. */
unsigned int ref_paging_levels(const struct ref_cpu *cpu);

/* Is this access a user-mode access (SDM 4.6): CPL 3 and not implicit. */
bool ref_user_access(const struct ref_cpu *cpu, const struct ref_access *acc);

/*
 * SDM 4.6.1: does an access with these rights fault, protection keys aside?
 * @user_addr: the address is a user-mode address; @writable: R/W=1 at every
 * level; @xd: XD=1 at some level (meaningful only with EFER.NXE).
 */
bool ref_rights_fault(const struct ref_cpu *cpu, const struct ref_access *acc,
		      bool user_addr, bool writable, bool xd);

/* SDM 4.6.2: do protection keys deny this access to a page with key @key? */
bool ref_pk_fault(const struct ref_cpu *cpu, const struct ref_access *acc,
		  bool user_addr, unsigned int key);

/*
 * Translates @gva for @acc.  With @set_ad, a non-faulting access sets the
 * A and D flags in @mem (unless it is read-only) and lists them in @res.
 * @gva must be canonical (below 2^32 outside IA-32e mode).
 */
void ref_walk(const struct ref_cpu *cpu, struct ref_mem *mem, uint64_t gva,
	      const struct ref_access *acc, bool set_ad, struct ref_result *res);

/*
 * MOV to CR3 with PAE paging: loads the four PDPTEs from CR3[31:5].
 * Returns 0, or -1 (#GP) when they are not in RAM or a present one sets a
 * reserved bit.
 */
int ref_load_pdptes(const struct ref_mem *mem, uint64_t cr3, unsigned int maxphyaddr,
		    uint64_t pdpte[4]);

#endif /* VMMU_REF_WALK_H */
