// SPDX-License-Identifier: MIT
/*
 * Fuzzes the ELF-core reader (src/image) and, through it, the page-table
 * enumerator (src/paging/paging_enum.c) as `vmmu maps` drives them.
 *
 * The input is a file: parsed as an ELF core first; any core that parses
 * has its guest memory listed under one rule set (the file size modulo 3
 * picks it), in the paging mode its QEMU note gives (4-level without a
 * note).  An input that is no valid
 * core is listed as a raw image instead, its first bytes choosing the
 * mode and CR3, so arbitrary page tables get traversed too.  A rejected
 * core must come with -EINVAL and a message.  Listings are bounded as the
 * command bounds them, so a run stays short whatever the tables do.
 */
#include <elf.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "image/image.h"
#include "paging/paging_enum.h"

#define FUZZ_MAX_LEAVES  256
#define FUZZ_MAX_ENTRIES 4096u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Lists the image under one rule set (three at a time would cost three
 * times the executions per second). */
static void list(struct image *img, const struct paging_regs *regs, uint64_t cr3,
		 unsigned int maxphyaddr, enum paging_enum_rules rules)
{
	struct paging_mode mode;
	struct paging_enum e;
	struct paging_leaf leaf;
	gva_t last = 0;
	bool first = true;
	int ret;

	paging_mode_init(&mode, regs, maxphyaddr);
	img->entry_bytes = mode.levels >= 3 ? 8 : 4;
	if (paging_enum_init(&e, &(struct paging_enum_config){
		    .mode = &mode, .mem = &img->mem, .cr3 = cr3, .rules = rules,
		    .max_leaves = FUZZ_MAX_LEAVES, .max_entries = FUZZ_MAX_ENTRIES }))
		__builtin_trap();
	for_each_paging_leaf(&e, &leaf, ret) {
		/* Leaves come in increasing order, each inside the address space. */
		if (!first && leaf.va <= last)
			__builtin_trap();
		if (leaf.va != paging_canonical(&mode, leaf.va) || leaf.level < 1 || leaf.level > 3)
			__builtin_trap();
		first = false;
		last = leaf.va;
	}
	if (ret != 0 && ret != -E2BIG && ret != -ELOOP)
		__builtin_trap();
	paging_enum_destroy(&e);
}

static void regs_of_core(const struct image *img, struct paging_regs *r, uint64_t *cr3)
{
	bool lm;

	if (!img->has_cpu) {
		*r = (struct paging_regs){ .cr0 = X86_CR0_PG | X86_CR0_PE, .cr4 = X86_CR4_PAE,
					   .efer = X86_EFER_LME | X86_EFER_LMA | X86_EFER_NXE };
		*cr3 = 0;
		return;
	}
	lm = (img->cpu.cr0 & X86_CR0_PG) && (img->cpu.cr4 & X86_CR4_PAE) &&
	     (img->cpu.cs_long || img->machine == EM_X86_64);
	*r = (struct paging_regs){ .cr0 = img->cpu.cr0, .cr4 = img->cpu.cr4,
				   .efer = X86_EFER_NXE | (lm ? X86_EFER_LME | X86_EFER_LMA : 0) };
	*cr3 = img->cpu.cr3;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct paging_regs regs;
	struct image img;
	char err[256] = "";
	uint64_t cr3;
	int ret;

	ret = image_open_buffer(&img, data, size, IMAGE_ELF, data && size ? data[0] & 1 : 0,
				err, sizeof(err));
	if (!ret) {
		regs_of_core(&img, &regs, &cr3);
		list(&img, &regs, cr3, 52, (enum paging_enum_rules)(size % 3));
		image_close(&img);
		return 0;
	}
	if (ret != -EINVAL || !err[0])
		__builtin_trap();
	if (size < 16)
		return 0;
	/* A raw image: byte 0 the mode, byte 1 MAXPHYADDR, bytes 8..15 CR3. */
	if (image_open_buffer(&img, data, size, IMAGE_RAW, 0, err, sizeof(err)))
		__builtin_trap();
	memcpy(&cr3, data + 8, 8);
	regs = (struct paging_regs){ .cr0 = X86_CR0_PG | X86_CR0_PE };
	switch (data[0] % 5) {
	case 1:
		regs.cr4 = X86_CR4_PSE;
		break;
	case 2:
		regs.cr4 = X86_CR4_PAE;
		regs.efer = X86_EFER_NXE;
		break;
	case 3:
	case 4:
		regs.cr4 = X86_CR4_PAE | (data[0] % 5 == 4 ? X86_CR4_LA57 : 0);
		regs.efer = X86_EFER_LME | X86_EFER_LMA | X86_EFER_NXE;
		break;
	}
	list(&img, &regs, cr3 % size, 36 + data[1] % 17,
	     (enum paging_enum_rules)((data[1] >> 5) % 3));
	image_close(&img);
	return 0;
}
