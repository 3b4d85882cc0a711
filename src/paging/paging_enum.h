/* SPDX-License-Identifier: MIT */
/*
 * Enumerating every mapping of a guest's page tables: one depth-first
 * traversal of the paging-structure tree from CR3 (never one walk per page),
 * leaves in increasing linear-address order.
 *
 *	struct paging_enum e;
 *	struct paging_leaf leaf;
 *	int ret;
 *
 *	paging_enum_init(&e, &cfg);
 *	for_each_paging_leaf(&e, &leaf, ret)
 *		... leaf.va, leaf.pa, leaf.level, leaf.rights ...
 *	if (ret < 0)
 *		... -E2BIG, -ELOOP or -ENOMEM ...
 *	paging_enum_destroy(&e);
 *
 * The traversal follows one of three rule sets.  PAGING_ENUM_ARCH is the
 * architecture exactly as walk_guest() applies it, from the same struct
 * paging_mode: an entry is a mapping if and only if a walk of its linear
 * addresses ends there without a fault (reserved bits by level and
 * MAXPHYADDR, PS only where the mode has large pages, the rights of every
 * level combined).  The two QEMU rule sets reproduce what QEMU 7.2's
 * monitor reads for `info tlb` and `info mem` (target/i386/monitor.c),
 * quirks included: no reserved-bit check at all, PS ignored in PML4Es and
 * PML5Es, table addresses masked to bits 49:12, PAE PDPTEs read from memory
 * at CR3 (and a 5-level `info mem` that tests the present bit the wrong way
 * round at the PDPT and PD levels).  docs/MAPS.md lists every difference.
 * Under every rule set, PAE PDPTEs are descended through whatever reserved
 * bits they have (the walker uses the PDPTE registers unchecked; the MOV to
 * CR3 that loaded them did the checking); bad_pdptes says which had some.
 *
 * Hostile tables cannot make a traversal run away: levels strictly
 * decrease, so it always ends; a table whose subtree held no leaf is
 * remembered by (address, level) and never scanned again (tables that all
 * point at one empty table would otherwise cost 512^4 reads); and the
 * caller bounds the leaves and the entries read.
 */
#ifndef VMMU_PAGING_ENUM_H
#define VMMU_PAGING_ENUM_H

#include <stdbool.h>
#include <stdint.h>

#include "paging.h"

enum paging_enum_rules {
	PAGING_ENUM_ARCH,        /* what walk_guest() translates */
	PAGING_ENUM_QEMU_TLB,    /* what QEMU 7.2's `info tlb` prints */
	PAGING_ENUM_QEMU_MEM,    /* what QEMU 7.2's `info mem` gives a protection */
};

/*
 * One leaf: a page-table entry that maps a page.  Under PAGING_ENUM_QEMU_MEM
 * with 5-level paging, also the not-present entries QEMU's quirk gives a
 * protection (see paging_qemu_prot()).
 */
struct paging_leaf {
	gva_t va;                /* linear address, canonical in 4/5-level paging */
	gpa_t pa;                /* ARCH: the page's physical address;
				  * QEMU rules: the entry under QEMU's print mask */
	uint64_t pte;            /* the leaf entry as read (32-bit entries zero-extended) */
	uint64_t path;           /* AND of the entries above it (PAE PDPTEs excluded) */
	uint8_t level;           /* 1: 4K page, 2: 2M or 4M, 3: 1G */
	uint8_t shift;           /* the page is 1 << shift bytes */
	uint8_t rights;          /* RIGHT_* combined over every level (ARCH rules) */
};

struct paging_enum_config {
	const struct paging_mode *mode;
	struct pt_mem *mem;      /* map() with write=false only; NULL reads as zero */
	uint64_t cr3;
	/* PAE, ARCH rules: the four PDPTE registers, or NULL to take them
	 * from memory at CR3 (QEMU's rules always do). */
	const uint64_t *pdpte;
	enum paging_enum_rules rules;
	uint64_t max_leaves;     /* -E2BIG beyond this many; 0: no limit */
	uint64_t max_entries;    /* -ELOOP beyond this many entries read; 0: no limit */
};

struct paging_enum_frame {
	gpa_t table;             /* the table being scanned */
	gva_t va;                /* linear address of its entry 0 (not canonical) */
	uint64_t path;           /* AND of the entries above it */
	uint64_t leaves_before;  /* leaves found before it was entered */
	uint32_t index;          /* next entry to read */
	uint8_t rights;          /* rights of the entries above it */
};

struct paging_enum_memo {
	uint64_t *keys;          /* open addressing; 0 is a free slot */
	uint64_t cap, nr;
};

struct paging_enum {
	struct paging_enum_config cfg;
	/* Counters, valid at any time. */
	uint64_t leaves;         /* leaves returned */
	uint64_t entries;        /* entries read */
	uint64_t tables;         /* tables entered */
	uint64_t skipped;        /* tables skipped: known to hold no leaf */
	uint64_t reserved;       /* ARCH: present entries with a reserved bit */
	uint8_t bad_pdptes;      /* PAE: bit i set: PDPTE i is present with a reserved bit */
	/* Private. */
	bool pte64, done;
	int status;              /* what next() returns once done */
	uint8_t top;             /* level of the top table */
	uint8_t level;           /* level of the table being scanned */
	struct paging_enum_frame stack[PT_MAX_LEVELS + 1];
	struct paging_enum_memo memo;
};

/* Returns 0, or -EINVAL for a config without mode or mem. */
int paging_enum_init(struct paging_enum *e, const struct paging_enum_config *cfg);
/*
 * The next leaf: returns 1 with *leaf, 0 when every leaf was returned, or
 * -E2BIG (more than max_leaves), -ELOOP (more than max_entries entries
 * read), -ENOMEM (the memo could not grow).  After 0 or an error it keeps
 * returning the same value.
 */
int paging_enum_next(struct paging_enum *e, struct paging_leaf *leaf);
void paging_enum_destroy(struct paging_enum *e);

#define for_each_paging_leaf(e, leaf, ret) \
	while (((ret) = paging_enum_next((e), (leaf))) > 0)

/* The canonical form of a linear address (bit 47 or 56 extended). */
gva_t paging_canonical(const struct paging_mode *m, gva_t va);

/* Linear-address width: 32, 48 or 57 bits (0 with paging off). */
unsigned int paging_va_bits(const struct paging_mode *m);

/* QEMU's protection of a leaf in `info mem`: U, R/W and P of the leaf and
 * of every entry above it (0 for an entry QEMU would not count). */
static inline unsigned int paging_qemu_prot(const struct paging_leaf *leaf)
{
	return (unsigned int)(leaf->pte & leaf->path & (PT_USER | PT_WRITABLE | PT_PRESENT));
}

#endif /* VMMU_PAGING_ENUM_H */
