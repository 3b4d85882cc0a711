/* SPDX-License-Identifier: MIT */
/*
 * Guest memory images: a raw dump of guest physical memory (file offset =
 * physical address), or an ELF core written by QEMU's `dump-guest-memory`
 * (physical memory in PT_LOAD segments at p_paddr, the vCPUs' control
 * registers in "QEMU" notes).  The file is mapped read-only, never read
 * whole; every access is bounds-checked against the segments, and a
 * struct pt_mem over them lets the page walker and the enumerator of
 * paging_enum.h read guest page tables from the image.  Memory outside
 * every segment has no RAM: the walker and the enumerator see not-present
 * entries there (QEMU reads unassigned memory as zeroes too).
 *
 * Errors: functions return 0, -EINVAL for a malformed image (the message
 * says what and where), or another negative errno for a failure of the
 * host (open, stat, mmap, memory).
 */
#ifndef VMMU_IMAGE_H
#define VMMU_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "paging/paging.h"

/* Guest physical [gpa, gpa + size) is at data. */
struct image_segment {
	gpa_t gpa;
	uint64_t size;
	const uint8_t *data;
};

/* A vCPU as a QEMU note describes it (QEMUCPUState, target/i386/arch_dump.c). */
struct image_cpu {
	uint64_t cr0, cr2, cr3, cr4;
	uint32_t cs_flags;        /* QEMU's segment-cache flags: descriptor bits 63:32 */
	bool cs_long;             /* CS.L: a 64-bit code segment */
};

enum image_kind {
	IMAGE_RAW,                /* physical memory from address 0 */
	IMAGE_ELF,                /* an ELF core file */
};

struct image {
	struct pt_mem mem;        /* page-table reads over the segments */
	unsigned int entry_bytes; /* page-table entry size the walk reads: 4 or 8 */
	enum image_kind kind;
	const uint8_t *file;      /* the whole file */
	size_t file_size;
	bool mapped;              /* file is our mmap */
	struct image_segment *segs;  /* sorted by gpa, disjoint */
	size_t nr_segs;
	size_t last;              /* segment of the last lookup */
	/* ELF cores only. */
	uint16_t machine;         /* EM_386 or EM_X86_64: QEMU writes EM_X86_64 iff EFER.LMA */
	uint8_t elf_class;        /* ELFCLASS32 or ELFCLASS64 */
	unsigned int nr_cpus;     /* QEMU notes seen */
	bool has_cpu;             /* cpu holds the selected vCPU's note */
	struct image_cpu cpu;
};

/*
 * Maps @path read-only and parses it as @kind; for an ELF core, @cpu_index
 * selects the vCPU (the n-th QEMU note; a core without notes is not an
 * error, has_cpu is then false).
 */
int image_open(struct image *img, const char *path, enum image_kind kind,
	       unsigned int cpu_index, char *err, size_t errlen);
/* The same over a buffer that the caller keeps alive until image_close(). */
int image_open_buffer(struct image *img, const void *buf, size_t len, enum image_kind kind,
		      unsigned int cpu_index, char *err, size_t errlen);
void image_close(struct image *img);

/* Host address of guest physical [gpa, gpa + len) if one segment holds all
 * of it, else NULL. */
const void *image_ptr(struct image *img, gpa_t gpa, uint64_t len);

/* Total bytes of guest memory the image holds. */
uint64_t image_bytes(const struct image *img);

/* elf_core.c: fills img->segs (sorted, merged, checked) and the CPU from
 * an ELF core in img->file. */
int elf_core_parse(struct image *img, unsigned int cpu_index, char *err, size_t errlen);

#endif /* VMMU_IMAGE_H */
