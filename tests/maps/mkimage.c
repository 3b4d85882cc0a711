// SPDX-License-Identifier: MIT
/*
 * Writes the test images of `vmmu maps` (tests/maps/run-maps.sh) and its
 * benchmark: raw physical-memory images with hand-built page tables, and
 * ELF cores broken in the ways a hostile or damaged file can be.
 *
 *   mkimage SCENARIO FILE
 *
 * writes FILE and prints on standard output the vmmu maps options the
 * image needs (registers for raw images).  Scenarios:
 *
 *   recursive   4-level tables with a recursive (self-mapping) PML4 entry
 *   selfloop    every PML4 entry points at the PML4 itself: 512^4 mappings
 *   fanout      every entry of 3 levels points at one table, ending in an
 *               empty page table: 512^3 paths to nothing
 *   outside     tables pointing beyond the image, and a CR3 beyond it
 *   truncated   a page table cut by the end of the file in mid-entry
 *   pae         PAE with a PDPTE that has reserved bits, XD, 2M pages
 *   pse36       32-bit paging, 4M pages above 4G (PSE-36), a reserved bit
 *   bench       100,000 4K mappings, none contiguous with the next (one
 *               output line each): the benchmark of docs/BENCHMARKS.md
 *   elf-ok      a valid core of the recursive tables (ELFCLASS64, EM_X86_64,
 *               a QEMU note)
 *   elf-overlap, elf-noload, elf-truncated, elf-huge, elf-nonote,
 *   elf-badnote   cores that must be refused (or, without a note, need
 *               registers on the command line)
 */
#include <elf.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define P   0x001ull
#define W   0x002ull
#define U   0x004ull
#define A   0x020ull
#define D   0x040ull
#define PS  0x080ull
#define G   0x100ull
#define XD  (1ull << 63)

static uint8_t *mem;
static size_t mem_size;

static void set64(uint64_t gpa, uint64_t v)
{
	if (gpa + 8 > mem_size) {
		fprintf(stderr, "mkimage: entry at 0x%llx outside the image\n", (unsigned long long)gpa);
		exit(1);
	}
	memcpy(mem + gpa, &v, 8);
}

static void set32(uint64_t gpa, uint32_t v)
{
	memcpy(mem + gpa, &v, 4);
}

static void alloc_mem(size_t size)
{
	mem_size = size;
	mem = calloc(1, size);
	if (!mem) {
		perror("mkimage");
		exit(1);
	}
}

static void write_file(const char *path, const void *buf, size_t len)
{
	FILE *f = fopen(path, "wb");

	if (!f || fwrite(buf, 1, len, f) != len || fclose(f)) {
		perror(path);
		exit(1);
	}
}

static const char *regs_4level = "--cr3 0x1000 --cr4 0x20 --efer 0xd00";

static void recursive(void)
{
	alloc_mem(0x10000);
	set64(0x1000, 0x2000 | P | W | U);              /* PML4[0] -> PDPT */
	set64(0x2000, 0x3000 | P | W | U);              /* PDPT[0] -> PD */
	set64(0x3000, 0x4000 | P | W | U);              /* PD[0] -> PT */
	for (unsigned int i = 0; i < 8; i++)
		set64(0x4000 + 8 * (16 + i), (0x10000 + 0x1000 * i) | P | W | (i >= 4 ? XD : 0));
	set64(0x3008, 0x200000 | P | U | PS | A | D);   /* PD[1]: 2M, user, read-only */
	set64(0x1000 + 8 * 510, 0x1000 | P | W | XD);   /* the recursive entry */
	set64(0x1000 + 8 * 511, 0x5000 | P | W);
	set64(0x5000 + 8 * 511, 0x0 | P | W | PS | G);  /* 1G at -1G */
}

static void selfloop(void)
{
	alloc_mem(0x2000);
	for (unsigned int i = 0; i < 512; i++)
		set64(0x1000 + 8 * i, 0x1000 | P | W);
}

static void fanout(void)
{
	alloc_mem(0x5000);
	for (unsigned int i = 0; i < 512; i++) {
		set64(0x1000 + 8 * i, 0x2000 | P | W);
		set64(0x2000 + 8 * i, 0x3000 | P | W);
		set64(0x3000 + 8 * i, 0x4000 | P | W);
	}
}

static void outside(void)
{
	alloc_mem(0x3000);
	set64(0x1000, 0x7f00000000ull | P | W);         /* a PDPT far beyond the image */
	set64(0x1008, 0x2000 | P | W);
	set64(0x2000, 0x3000 | P | W);                  /* a PD just past the end */
	set64(0x2008, 0x40000000 | P | W | PS);         /* a 1G page: mapped, even outside */
}

static void truncated(void)
{
	alloc_mem(0x4000);
	set64(0x1000, 0x2000 | P | W);
	set64(0x2000, 0x3000 | P | W);
	set64(0x3000, 0x200000 | P | W | PS);           /* 2M at 0 */
	set64(0x3008, 0x3000 | P | W);                  /* the PD as a PT at 2M */
	set64(0x3010, 0x4000 | P | W);                  /* a PT the file cuts */
	mem_size = 0x4004;                              /* half of its first entry */
	mem = realloc(mem, mem_size);
	memset(mem + 0x4000, 0xff, 4);
}

static void pae(void)
{
	alloc_mem(0x6000);
	set64(0x1020, 0x2000 | P);                      /* PDPT at 0x1020 */
	set64(0x1028, 0x3000 | P | W);                  /* W is reserved in a PDPTE */
	set64(0x1030, 0x3000 | P | A);                  /* QEMU's TCG sets A: no warning */
	set64(0x2000, 0x4000 | P | W | U);
	set64(0x4000, 0x5000 | P | W | U | XD);
	set64(0x4008, 0x6000 | P | W | U);
	set64(0x4010, 0x6000 | P | W | (1ull << 52));   /* reserved in PAE */
	set64(0x2008, 0x200000 | P | W | PS | XD | G);
	set64(0x2010, 0x400000 | P | W | PS | (1ull << 13));  /* reserved in a 2M PDE */
	set64(0x3000, 0x600000 | P | PS);
}

static void pse36(void)
{
	alloc_mem(0x3000);
	set32(0x1000, 0x2000 | P | W | U);
	set32(0x2000, 0x7000 | P | U);
	set32(0x2004, 0x8000 | P | W);
	set32(0x1004, (uint32_t)(0x00400000 | (0x12u << 13) | P | W | PS));   /* 4M at 0x12_00400000 */
	set32(0x1008, (uint32_t)(0x00800000 | (1u << 21) | P | W | PS));      /* bit 21 reserved */
	set32(0x100c, (uint32_t)(0x00c00000 | P | W | U | PS | G));
}

#define BENCH_MAPPINGS 100000u

static void bench(void)
{
	unsigned int pts = (BENCH_MAPPINGS + 511) / 512;

	alloc_mem((size_t)(4 + pts) << 12);
	set64(0x1000, 0x2000 | P | W | U);
	set64(0x2000, 0x3000 | P | W | U);
	for (unsigned int t = 0; t < pts; t++)
		set64(0x3000 + 8 * t, ((uint64_t)(4 + t) << 12) | P | W | U);
	for (unsigned int i = 0; i < BENCH_MAPPINGS; i++) {
		/* Scattered frames (7919 is prime to 100000): no two runs join. */
		uint64_t frame = 0x100000 + (uint64_t)(i * 7919u % BENCH_MAPPINGS) * 2;

		set64(((uint64_t)(4 + i / 512) << 12) + 8 * (i % 512),
		      (frame << 12) | P | W | U | (i & 1 ? A : 0) | (i % 3 ? 0 : G));
	}
}

/* ---- ELF cores ----------------------------------------------------------- */

struct elf_seg {
	uint32_t type;
	uint64_t offset, paddr, filesz;
};

static uint8_t elf_buf[0x10000];

/* A QEMU note for a 4-level vCPU with CR3 0x1000. */
static size_t qemu_note(uint8_t *out, uint32_t descsz)
{
	uint32_t hdr[3] = { 5, descsz, 0 }, version = 1, size = descsz, cs_flags = 0x00af9a00;
	uint64_t cr0 = 0x80010011, cr3 = 0x1000, cr4 = 0x20;

	memset(out, 0, 20 + descsz);
	memcpy(out, hdr, 12);
	memcpy(out + 12, "QEMU", 5);
	memcpy(out + 20, &version, 4);
	memcpy(out + 24, &size, 4);
	if (descsz >= 440) {
		memcpy(out + 20 + 160, &cs_flags, 4);
		memcpy(out + 20 + 392, &cr0, 8);
		memcpy(out + 20 + 416, &cr3, 8);
		memcpy(out + 20 + 424, &cr4, 8);
	}
	return 20 + descsz;
}

static size_t build_elf(const struct elf_seg *segs, unsigned int nr)
{
	Elf64_Ehdr eh = { .e_type = ET_CORE, .e_machine = EM_X86_64, .e_version = EV_CURRENT,
			  .e_phoff = sizeof(Elf64_Ehdr), .e_ehsize = sizeof(Elf64_Ehdr),
			  .e_phentsize = sizeof(Elf64_Phdr), .e_phnum = (uint16_t)nr };
	size_t end = 0;

	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = ELFCLASS64;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_ident[EI_VERSION] = EV_CURRENT;
	memcpy(elf_buf, &eh, sizeof(eh));
	for (unsigned int i = 0; i < nr; i++) {
		Elf64_Phdr ph = { .p_type = segs[i].type, .p_offset = segs[i].offset,
				  .p_paddr = segs[i].paddr, .p_filesz = segs[i].filesz,
				  .p_memsz = segs[i].filesz };

		memcpy(elf_buf + sizeof(eh) + i * sizeof(ph), &ph, sizeof(ph));
		if (segs[i].offset + segs[i].filesz > end && segs[i].offset + segs[i].filesz <= sizeof(elf_buf))
			end = segs[i].offset + segs[i].filesz;
	}
	return end;
}

/* Notes at 0x200, memory at 0x1000 of the file: the recursive tables. */
static size_t elf_core(const char *kind)
{
	struct elf_seg segs[3] = {
		{ PT_NOTE, 0x200, 0, 0 },
		{ PT_LOAD, 0x1000, 0, 0x8000 },
		{ PT_LOAD, 0x9000, 0x8000, 0x1000 },
	};
	unsigned int nr = 3;
	size_t len;

	recursive();
	memcpy(elf_buf + 0x1000, mem, 0x9000);
	segs[0].filesz = qemu_note(elf_buf + 0x200, 440);
	if (!strcmp(kind, "elf-overlap")) {
		segs[2].paddr = 0x7000;                 /* over segment 1, other bytes */
	} else if (!strcmp(kind, "elf-noload")) {
		nr = 1;
	} else if (!strcmp(kind, "elf-huge")) {
		segs[2].filesz = 1ull << 62;
	} else if (!strcmp(kind, "elf-nonote")) {
		segs[0].type = PT_NULL;
	} else if (!strcmp(kind, "elf-badnote")) {
		segs[0].filesz = qemu_note(elf_buf + 0x200, 100);
	}
	len = build_elf(segs, nr);
	if (!strcmp(kind, "elf-truncated"))
		len = 0x9800;                           /* mid segment 2 */
	if (len < 0xa000 && strcmp(kind, "elf-truncated"))
		len = 0xa000;
	return len;
}

int main(int argc, char **argv)
{
	const char *s = argc == 3 ? argv[1] : "";

	if (!strncmp(s, "elf-", 4)) {
		size_t len = elf_core(s);

		write_file(argv[2], elf_buf, len);
		printf("%s\n", !strcmp(s, "elf-nonote") ? regs_4level : "");
		return 0;
	}
	if (!strcmp(s, "recursive"))
		recursive();
	else if (!strcmp(s, "selfloop"))
		selfloop();
	else if (!strcmp(s, "fanout"))
		fanout();
	else if (!strcmp(s, "outside"))
		outside();
	else if (!strcmp(s, "truncated"))
		truncated();
	else if (!strcmp(s, "pae"))
		pae();
	else if (!strcmp(s, "pse36"))
		pse36();
	else if (!strcmp(s, "bench"))
		bench();
	else {
		fprintf(stderr, "usage: mkimage SCENARIO FILE (see the comment in tests/maps/mkimage.c)\n");
		return 2;
	}
	write_file(argv[2], mem, mem_size);
	if (!strcmp(s, "pae"))
		printf("--mem %s --cr3 0x1020 --cr4 0x20 --efer 0x800\n", argv[2]);
	else if (!strcmp(s, "pse36"))
		printf("--mem %s --cr3 0x1000 --cr4 0x10 --efer 0 --maxphyaddr 40\n", argv[2]);
	else
		printf("--mem %s %s\n", argv[2], regs_4level);
	free(mem);
	return 0;
}
