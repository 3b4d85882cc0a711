/* SPDX-License-Identifier: MIT */
/*
 * Reading an ELF core written by QEMU's `dump-guest-memory` (dump/dump.c,
 * target/i386/arch_dump.c): ELFCLASS32 or ELFCLASS64, little-endian,
 * ET_CORE, EM_386 or EM_X86_64 (QEMU writes EM_X86_64 when the first vCPU
 * has EFER.LMA, and ELFCLASS64 whenever memory reaches 4 GiB, so a 32-bit
 * guest usually comes as ELFCLASS64 with EM_386).  Guest physical memory is
 * in the PT_LOAD segments at p_paddr; the program header count may be in
 * section header 0 (PN_XNUM).  Each vCPU has a "QEMU" note (type 0) holding
 * a QEMUCPUState, whose control registers we take.
 *
 * Nothing in the file is trusted: every offset and size is checked against
 * the file before use, without overflow, and segments that overlap with
 * different contents are an error.  Structures are copied out with memcpy
 * (the file need not be aligned).
 */
#include <elf.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"

/* QEMUCPUState (version 1): the fields we read, by offset. */
#define QEMU_NOTE_NAME      "QEMU"
#define QEMU_STATE_VERSION  1
#define QEMU_STATE_CS_FLAGS 160      /* cs at 152: selector, limit, flags */
#define QEMU_STATE_CR0      392      /* uint64_t cr[5] */
#define QEMU_STATE_MIN_SIZE (QEMU_STATE_CR0 + 5 * 8)
#define DESC_L_MASK         (1u << 21)

/* The parts of an ELF header and program header we use, of either class. */
struct elf_info {
	uint8_t class;
	uint16_t type, machine;
	uint64_t phoff, shoff;
	uint32_t phnum;
	uint16_t phentsize, shentsize;
};

struct elf_phdr {
	uint32_t type;
	uint64_t offset, paddr, filesz, memsz;
};

static int bad(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* Is [off, off + len) inside a file of @size bytes? */
static bool in_file(uint64_t size, uint64_t off, uint64_t len)
{
	return off <= size && len <= size - off;
}

static uint32_t le32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static uint64_t le64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static int read_header(const struct image *img, struct elf_info *ei, char *err, size_t errlen)
{
	const uint8_t *f = img->file;

	if (img->file_size < EI_NIDENT || memcmp(f, ELFMAG, SELFMAG))
		return bad(err, errlen, "not an ELF file");
	ei->class = f[EI_CLASS];
	if (ei->class != ELFCLASS32 && ei->class != ELFCLASS64)
		return bad(err, errlen, "unknown ELF class %u", ei->class);
	if (f[EI_DATA] != ELFDATA2LSB)
		return bad(err, errlen, "not a little-endian ELF file");
	if (ei->class == ELFCLASS64) {
		Elf64_Ehdr eh;

		if (img->file_size < sizeof(eh))
			return bad(err, errlen, "truncated ELF header");
		memcpy(&eh, f, sizeof(eh));
		*ei = (struct elf_info){ ELFCLASS64, eh.e_type, eh.e_machine, eh.e_phoff,
					 eh.e_shoff, eh.e_phnum, eh.e_phentsize, eh.e_shentsize };
		if (ei->phnum && ei->phentsize != sizeof(Elf64_Phdr))
			return bad(err, errlen, "program header size %u, expected %zu",
				   ei->phentsize, sizeof(Elf64_Phdr));
	} else {
		Elf32_Ehdr eh;

		if (img->file_size < sizeof(eh))
			return bad(err, errlen, "truncated ELF header");
		memcpy(&eh, f, sizeof(eh));
		*ei = (struct elf_info){ ELFCLASS32, eh.e_type, eh.e_machine, eh.e_phoff,
					 eh.e_shoff, eh.e_phnum, eh.e_phentsize, eh.e_shentsize };
		if (ei->phnum && ei->phentsize != sizeof(Elf32_Phdr))
			return bad(err, errlen, "program header size %u, expected %zu",
				   ei->phentsize, sizeof(Elf32_Phdr));
	}
	if (ei->type != ET_CORE)
		return bad(err, errlen, "not an ELF core file (e_type %u)", ei->type);
	if (ei->machine != EM_386 && ei->machine != EM_X86_64)
		return bad(err, errlen, "not an x86 core (e_machine %u)", ei->machine);
	return 0;
}

/* With PN_XNUM, the real count is sh_info of section header 0. */
static int read_phnum(const struct image *img, struct elf_info *ei, char *err, size_t errlen)
{
	size_t shsize = ei->class == ELFCLASS64 ? sizeof(Elf64_Shdr) : sizeof(Elf32_Shdr);

	if (ei->phnum != PN_XNUM)
		return 0;
	if (!ei->shoff || ei->shentsize != shsize || !in_file(img->file_size, ei->shoff, shsize))
		return bad(err, errlen, "e_phnum is PN_XNUM but section header 0 is missing");
	if (ei->class == ELFCLASS64) {
		Elf64_Shdr sh;

		memcpy(&sh, img->file + ei->shoff, sizeof(sh));
		ei->phnum = sh.sh_info;
	} else {
		Elf32_Shdr sh;

		memcpy(&sh, img->file + ei->shoff, sizeof(sh));
		ei->phnum = sh.sh_info;
	}
	return 0;
}

static void read_phdr(const struct image *img, const struct elf_info *ei, uint32_t i,
		      struct elf_phdr *ph)
{
	const uint8_t *p = img->file + ei->phoff + (uint64_t)i * ei->phentsize;

	if (ei->class == ELFCLASS64) {
		Elf64_Phdr h;

		memcpy(&h, p, sizeof(h));
		*ph = (struct elf_phdr){ h.p_type, h.p_offset, h.p_paddr, h.p_filesz, h.p_memsz };
	} else {
		Elf32_Phdr h;

		memcpy(&h, p, sizeof(h));
		*ph = (struct elf_phdr){ h.p_type, h.p_offset, h.p_paddr, h.p_filesz, h.p_memsz };
	}
}

/* One QEMU note: the vCPU's control registers and code segment. */
static int read_qemu_note(struct image *img, const uint8_t *desc, uint32_t descsz,
			  uint32_t phdr, char *err, size_t errlen)
{
	uint32_t version, size;

	if (descsz < QEMU_STATE_MIN_SIZE)
		return bad(err, errlen, "segment %u: QEMU note of %u bytes, expected at least %u",
			   phdr, descsz, QEMU_STATE_MIN_SIZE);
	version = le32(desc);
	size = le32(desc + 4);
	if (version != QEMU_STATE_VERSION || size < QEMU_STATE_MIN_SIZE || size > descsz)
		return bad(err, errlen, "segment %u: QEMU note version %u size %u not understood",
			   phdr, version, size);
	img->cpu.cs_flags = le32(desc + QEMU_STATE_CS_FLAGS);
	img->cpu.cs_long = img->cpu.cs_flags & DESC_L_MASK;
	img->cpu.cr0 = le64(desc + QEMU_STATE_CR0);
	img->cpu.cr2 = le64(desc + QEMU_STATE_CR0 + 16);
	img->cpu.cr3 = le64(desc + QEMU_STATE_CR0 + 24);
	img->cpu.cr4 = le64(desc + QEMU_STATE_CR0 + 32);
	img->has_cpu = true;
	return 0;
}

/* Notes are 4-byte aligned in both classes, as QEMU writes them. */
static int read_notes(struct image *img, const struct elf_phdr *ph, uint32_t phdr,
		      unsigned int cpu_index, char *err, size_t errlen)
{
	const uint8_t *p = img->file + ph->offset;
	uint64_t left = ph->filesz;

	while (left) {
		uint32_t namesz, descsz, type;
		uint64_t name_len, desc_len;

		if (left < 12)
			return bad(err, errlen, "segment %u: truncated note header", phdr);
		namesz = le32(p);
		descsz = le32(p + 4);
		type = le32(p + 8);
		name_len = ((uint64_t)namesz + 3) & ~3ull;
		desc_len = ((uint64_t)descsz + 3) & ~3ull;
		if (name_len > left - 12 || desc_len > left - 12 - name_len)
			return bad(err, errlen, "segment %u: note overruns its segment", phdr);
		if (namesz == sizeof(QEMU_NOTE_NAME) && type == 0 &&
		    !memcmp(p + 12, QEMU_NOTE_NAME, sizeof(QEMU_NOTE_NAME))) {
			if (img->nr_cpus == cpu_index) {
				int ret = read_qemu_note(img, p + 12 + name_len, descsz, phdr,
							 err, errlen);

				if (ret)
					return ret;
			}
			img->nr_cpus++;
		}
		p += 12 + name_len + desc_len;
		left -= 12 + name_len + desc_len;
	}
	return 0;
}

static int cmp_segments(const void *a, const void *b)
{
	const struct image_segment *x = a, *y = b;

	return x->gpa < y->gpa ? -1 : x->gpa > y->gpa;
}

/*
 * Sorts the segments and merges those that overlap with the same bytes
 * (a core written with paging can describe one page twice); an overlap
 * with different bytes is an error.
 */
static int merge_segments(struct image *img, char *err, size_t errlen)
{
	size_t n = 0;

	qsort(img->segs, img->nr_segs, sizeof(*img->segs), cmp_segments);
	for (size_t i = 0; i < img->nr_segs; i++) {
		struct image_segment *prev = n ? &img->segs[n - 1] : NULL, *s = &img->segs[i];

		if (prev && s->gpa - prev->gpa < prev->size) {
			/* Last bytes, inclusive: a segment may end at 2^64. */
			uint64_t last = s->gpa + (s->size - 1), prev_last = prev->gpa + (prev->size - 1);

			if (s->data - prev->data != (ptrdiff_t)(s->gpa - prev->gpa))
				return bad(err, errlen,
					   "PT_LOAD segments at 0x%llx and 0x%llx overlap with different contents",
					   (unsigned long long)prev->gpa, (unsigned long long)s->gpa);
			if (last > prev_last)
				prev->size += last - prev_last;
			continue;
		}
		img->segs[n++] = *s;
	}
	img->nr_segs = n;
	return 0;
}

int elf_core_parse(struct image *img, unsigned int cpu_index, char *err, size_t errlen)
{
	struct elf_info ei = { 0 };
	uint32_t loads = 0;
	int ret;

	ret = read_header(img, &ei, err, errlen);
	if (!ret)
		ret = read_phnum(img, &ei, err, errlen);
	if (ret)
		return ret;
	img->machine = ei.machine;
	img->elf_class = ei.class;
	if (!ei.phnum)
		return bad(err, errlen, "no program headers");
	if (!in_file(img->file_size, ei.phoff, (uint64_t)ei.phnum * ei.phentsize))
		return bad(err, errlen, "%u program headers at 0x%llx overrun the file (%zu bytes)",
			   ei.phnum, (unsigned long long)ei.phoff, img->file_size);
	img->segs = calloc(ei.phnum, sizeof(*img->segs));
	if (!img->segs)
		return -ENOMEM;

	for (uint32_t i = 0; i < ei.phnum; i++) {
		struct elf_phdr ph;

		read_phdr(img, &ei, i, &ph);
		if (ph.type != PT_LOAD && ph.type != PT_NOTE)
			continue;
		if (!in_file(img->file_size, ph.offset, ph.filesz))
			return bad(err, errlen,
				   "segment %u: bytes 0x%llx+0x%llx are past the end of the file (%zu bytes): truncated?",
				   i, (unsigned long long)ph.offset, (unsigned long long)ph.filesz,
				   img->file_size);
		if (ph.type == PT_NOTE) {
			ret = read_notes(img, &ph, i, cpu_index, err, errlen);
			if (ret)
				return ret;
			continue;
		}
		loads++;
		if (ph.filesz > ph.memsz)
			return bad(err, errlen, "segment %u: file size 0x%llx exceeds memory size 0x%llx",
				   i, (unsigned long long)ph.filesz, (unsigned long long)ph.memsz);
		if (ph.memsz && ph.paddr + (ph.memsz - 1) < ph.paddr)
			return bad(err, errlen, "segment %u: physical range 0x%llx+0x%llx wraps around",
				   i, (unsigned long long)ph.paddr, (unsigned long long)ph.memsz);
		/* Bytes beyond p_filesz read as zero: as if there were no RAM. */
		if (ph.filesz)
			img->segs[img->nr_segs++] = (struct image_segment){
				.gpa = ph.paddr, .size = ph.filesz, .data = img->file + ph.offset,
			};
	}
	if (!img->nr_segs)
		return bad(err, errlen, loads ? "no PT_LOAD segment holds any bytes"
					      : "no PT_LOAD segment: no guest memory");
	if (img->nr_cpus && cpu_index >= img->nr_cpus)
		return bad(err, errlen, "no vCPU %u: the core has %u QEMU notes", cpu_index,
			   img->nr_cpus);
	return merge_segments(img, err, errlen);
}
