/* SPDX-License-Identifier: MIT */
/*
 * vmmu maps: the output formats (maps_output.c), fed one leaf at a time in
 * increasing linear-address order by the command (maps.c).  Each format
 * keeps what it needs between leaves (a run, QEMU's `info mem` range), so
 * memory stays flat whatever the number of mappings.
 */
#ifndef VMMU_TOOLS_MAPS_H
#define VMMU_TOOLS_MAPS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "paging/paging_enum.h"

enum maps_format {
	MAPS_TEXT,        /* runs of mappings, one per line */
	MAPS_JSON,        /* the same runs as a JSON document (json-c) */
	MAPS_QEMU_TLB,    /* QEMU 7.2's `info tlb` */
	MAPS_QEMU_MEM,    /* QEMU 7.2's `info mem` */
};

/* Leaf flags of a run (MAPS_TEXT, MAPS_JSON). */
#define MAPS_GLOBAL   (1u << 0)
#define MAPS_DIRTY    (1u << 1)
#define MAPS_ACCESSED (1u << 2)
#define MAPS_PCD      (1u << 3)
#define MAPS_PWT      (1u << 4)
#define MAPS_PAT      (1u << 5)

/*
 * A run: leaves contiguous in linear and physical memory, with the same
 * page size, rights, flags and protection key.
 */
struct maps_run {
	gva_t va;
	gpa_t pa;
	uint64_t size;            /* bytes */
	uint64_t pages;
	uint8_t shift;            /* page size: 1 << shift */
	uint8_t rights;           /* RIGHT_* */
	uint8_t flags;            /* MAPS_* */
	uint8_t key;              /* protection key (4/5-level paging) */
};

/* What the JSON document says about where the mappings come from. */
struct maps_info {
	const char *source;       /* file name */
	uint64_t cr0, cr3, cr4, efer;
	unsigned int maxphyaddr;
};

struct json_object;

/* MAPS_JSON: one object reused for every run, its members updated in place. */
struct maps_json_run {
	struct json_object *obj;
	struct json_object *virt, *phys, *size, *page_size, *pages, *user, *write, *exec;
	struct json_object *global, *dirty, *accessed, *pcd, *pwt, *pat, *key;
};

struct maps_out {
	FILE *f;
	enum maps_format format;
	const struct paging_mode *mode;
	bool la57;                /* CR4.LA57: QEMU's addr_canonical() */
	uint64_t runs;            /* lines or JSON objects written */
	/* MAPS_TEXT, MAPS_JSON: the run being extended. */
	bool have_run;
	struct maps_run run;
	struct maps_json_run json;
	/* MAPS_QEMU_MEM: mem_print()'s state, over raw (not canonical) addresses. */
	uint64_t mem_start;       /* UINT64_MAX: no range open */
	unsigned int mem_prot;
	uint64_t mem_cursor;      /* end of the last leaf */
};

/* Starts the output; for MAPS_JSON, writes the document's opening. */
void maps_out_begin(struct maps_out *o, FILE *f, enum maps_format format,
		    const struct paging_mode *mode, bool la57, const struct maps_info *info);
/* One leaf, in increasing linear-address order. */
void maps_out_leaf(struct maps_out *o, const struct paging_leaf *leaf);
/* Flushes the last run or range; for MAPS_JSON, closes the document with
 * the counts and whether the listing was cut short. */
void maps_out_end(struct maps_out *o, uint64_t leaves, bool truncated);

/* Text forms used by the formats, exposed for tests. */
const char *maps_page_size(unsigned int shift);
void maps_run_of_leaf(const struct paging_mode *mode, const struct paging_leaf *leaf,
		      struct maps_run *run);

#endif /* VMMU_TOOLS_MAPS_H */
