// SPDX-License-Identifier: MIT
/*
 * Guest memory images (src/image): ELF cores as QEMU writes them (both
 * classes, PN_XNUM, QEMU notes), and every kind of malformed core, each
 * refused with -EINVAL and a message; every truncation of a valid core;
 * lookups at segment edges; raw images and files that cannot be images.
 */
#include <elf.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "image/image.h"

/* ---- building cores ------------------------------------------------------- */

struct seg_spec {
	uint32_t type;
	uint64_t paddr, filesz, memsz;
	uint64_t offset;           /* 0: placed by the builder */
	const void *data;          /* NULL: a pattern from paddr */
};

struct core {
	uint8_t buf[1 << 16];
	size_t len;
};

static void put(struct core *c, size_t off, const void *p, size_t n)
{
	assert_true(off + n <= sizeof(c->buf));
	memcpy(c->buf + off, p, n);
	if (off + n > c->len)
		c->len = off + n;
}

/* A QEMU note for one vCPU: QEMUCPUState version 1, 440 bytes (7.2). */
static size_t qemu_note(uint8_t *out, uint64_t cr0, uint64_t cr3, uint64_t cr4, uint32_t cs_flags)
{
	uint8_t desc[440] = { 0 };
	uint32_t hdr[3] = { 5, sizeof(desc), 0 }, v;

	v = 1;
	memcpy(desc, &v, 4);
	v = sizeof(desc);
	memcpy(desc + 4, &v, 4);
	memcpy(desc + 160, &cs_flags, 4);
	memcpy(desc + 392, &cr0, 8);
	memcpy(desc + 416, &cr3, 8);
	memcpy(desc + 424, &cr4, 8);
	memcpy(out, hdr, 12);
	memcpy(out + 12, "QEMU\0\0\0", 8);
	memcpy(out + 20, desc, sizeof(desc));
	return 20 + sizeof(desc);
}

/* A CORE note, as QEMU writes before each QEMU note: must be skipped. */
static size_t core_note(uint8_t *out)
{
	uint32_t hdr[3] = { 5, 16, NT_PRSTATUS };

	memset(out, 0, 12 + 8 + 16);
	memcpy(out, hdr, 12);
	memcpy(out + 12, "CORE", 5);
	return 12 + 8 + 16;
}

static void build(struct core *c, uint8_t class, uint16_t machine, const struct seg_spec *segs,
		  unsigned int nr, bool xnum)
{
	bool is64 = class == ELFCLASS64;
	size_t ehsize = is64 ? sizeof(Elf64_Ehdr) : sizeof(Elf32_Ehdr);
	size_t phsize = is64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr);
	size_t shsize = is64 ? sizeof(Elf64_Shdr) : sizeof(Elf32_Shdr);
	size_t phoff = ehsize + (xnum ? shsize : 0), data = phoff + nr * phsize;

	memset(c, 0, sizeof(*c));
	for (unsigned int i = 0; i < nr; i++) {
		struct seg_spec s = segs[i];

		if (!s.offset) {
			s.offset = (data + 7) & ~7ull;
			data = s.offset + s.filesz;
			if (s.data)
				put(c, s.offset, s.data, s.filesz);
			else
				for (uint64_t b = 0; b < s.filesz; b++)
					c->buf[s.offset + b] = (uint8_t)((s.paddr + b) * 7 + (b >> 8));
			if (s.offset + s.filesz > c->len)
				c->len = s.offset + s.filesz;
		}
		if (is64) {
			Elf64_Phdr ph = { .p_type = s.type, .p_offset = s.offset, .p_paddr = s.paddr,
					  .p_filesz = s.filesz, .p_memsz = s.memsz };
			put(c, phoff + i * phsize, &ph, sizeof(ph));
		} else {
			Elf32_Phdr ph = { .p_type = s.type, .p_offset = (Elf32_Off)s.offset,
					  .p_paddr = (Elf32_Addr)s.paddr, .p_filesz = (Elf32_Word)s.filesz,
					  .p_memsz = (Elf32_Word)s.memsz };
			put(c, phoff + i * phsize, &ph, sizeof(ph));
		}
	}
	if (is64) {
		Elf64_Ehdr eh = { .e_type = ET_CORE, .e_machine = machine, .e_version = EV_CURRENT,
				  .e_phoff = phoff, .e_ehsize = (uint16_t)ehsize,
				  .e_phentsize = (uint16_t)phsize,
				  .e_phnum = (uint16_t)(xnum ? PN_XNUM : nr) };
		memcpy(eh.e_ident, ELFMAG, SELFMAG);
		eh.e_ident[EI_CLASS] = class;
		eh.e_ident[EI_DATA] = ELFDATA2LSB;
		eh.e_ident[EI_VERSION] = EV_CURRENT;
		if (xnum) {
			Elf64_Shdr sh = { .sh_info = nr };

			eh.e_shoff = ehsize;
			eh.e_shentsize = (uint16_t)shsize;
			eh.e_shnum = 1;
			put(c, ehsize, &sh, sizeof(sh));
		}
		put(c, 0, &eh, sizeof(eh));
	} else {
		Elf32_Ehdr eh = { .e_type = ET_CORE, .e_machine = machine, .e_version = EV_CURRENT,
				  .e_phoff = (Elf32_Off)phoff, .e_ehsize = (uint16_t)ehsize,
				  .e_phentsize = (uint16_t)phsize,
				  .e_phnum = (uint16_t)(xnum ? PN_XNUM : nr) };
		memcpy(eh.e_ident, ELFMAG, SELFMAG);
		eh.e_ident[EI_CLASS] = class;
		eh.e_ident[EI_DATA] = ELFDATA2LSB;
		eh.e_ident[EI_VERSION] = EV_CURRENT;
		if (xnum) {
			Elf32_Shdr sh = { .sh_info = nr };

			eh.e_shoff = (Elf32_Off)ehsize;
			eh.e_shentsize = (uint16_t)shsize;
			eh.e_shnum = 1;
			put(c, ehsize, &sh, sizeof(sh));
		}
		put(c, 0, &eh, sizeof(eh));
	}
}

static uint8_t notes[2048];
static size_t notes_len;

/* Two vCPUs: CPU 0 in 32-bit PAE, CPU 1 in 64-bit mode. */
static void make_notes(void)
{
	notes_len = core_note(notes);
	notes_len += qemu_note(notes + notes_len, 0x80000011, 0x1000, 0x20, 0x00cf9a00);
	notes_len += core_note(notes + notes_len);
	notes_len += qemu_note(notes + notes_len, 0x80010033, 0x2000, 0x10a0, 0x00af9a00);
}

/* A QEMU-like core: notes, RAM at 0 (12K), a hole, RAM at 1M (8K). */
static void typical(struct core *c, uint8_t class, bool xnum)
{
	struct seg_spec segs[] = {
		{ PT_NOTE, 0, 0, 0, 0, notes },
		{ PT_LOAD, 0x100000, 0x2000, 0x2000, 0, NULL },
		{ PT_LOAD, 0, 0x3000, 0x3000, 0, NULL },
		{ PT_LOAD, 0xfee00000, 0, 0x1000, 0, NULL },      /* no bytes: no RAM */
	};

	make_notes();
	segs[0].filesz = segs[0].memsz = notes_len;
	build(c, class, EM_X86_64, segs, ARRAY_SIZE(segs), xnum);
}

static int parse(const struct core *c, unsigned int cpu, struct image *img, char *err)
{
	err[0] = 0;
	return image_open_buffer(img, c->buf, c->len, IMAGE_ELF, cpu, err, 256);
}

static void check_typical(const struct core *c)
{
	struct image img;
	char err[256];
	const uint8_t *p;

	assert_int_equal(parse(c, 0, &img, err), 0);
	assert_int_equal(img.nr_segs, 2);
	assert_int_equal(img.segs[0].gpa, 0);
	assert_int_equal(img.segs[0].size, 0x3000);
	assert_int_equal(img.segs[1].gpa, 0x100000);
	assert_int_equal(image_bytes(&img), 0x5000);
	assert_int_equal(img.nr_cpus, 2);
	assert_true(img.has_cpu);
	assert_int_equal(img.cpu.cr0, 0x80000011);
	assert_int_equal(img.cpu.cr3, 0x1000);
	assert_int_equal(img.cpu.cr4, 0x20);
	assert_false(img.cpu.cs_long);
	assert_int_equal(img.machine, EM_X86_64);
	/* Lookups: the pattern, the edges, the hole. */
	p = image_ptr(&img, 0x100010, 8);
	assert_non_null(p);
	assert_int_equal(p[0], (uint8_t)(0x100010 * 7));
	assert_non_null(image_ptr(&img, 0x2ff8, 8));
	assert_null(image_ptr(&img, 0x2ffc, 8));         /* straddles the end */
	assert_null(image_ptr(&img, 0x3000, 1));
	assert_null(image_ptr(&img, 0xfee00000, 4));
	assert_null(image_ptr(&img, ~0ull, 8));
	assert_non_null(image_ptr(&img, 0x101ffc, 4));
	assert_null(image_ptr(&img, 0x101ffc, 8));
	/* The pt_mem reads entries of entry_bytes, never writes. */
	img.entry_bytes = 4;
	assert_non_null(img.mem.map(&img.mem, 0x2ffc, false));
	assert_null(img.mem.map(&img.mem, 0x2ffc, true));
	image_close(&img);

	assert_int_equal(parse(c, 1, &img, err), 0);
	assert_int_equal(img.cpu.cr0, 0x80010033);
	assert_int_equal(img.cpu.cr3, 0x2000);
	assert_int_equal(img.cpu.cr4, 0x10a0);
	assert_true(img.cpu.cs_long);
	image_close(&img);

	assert_int_equal(parse(c, 2, &img, err), -EINVAL);
	assert_non_null(strstr(err, "no vCPU 2"));
}

static void test_valid_cores(void **state)
{
	static struct core c;

	(void)state;
	typical(&c, ELFCLASS64, false);
	check_typical(&c);
	typical(&c, ELFCLASS32, false);
	check_typical(&c);
	typical(&c, ELFCLASS64, true);
	check_typical(&c);
	typical(&c, ELFCLASS32, true);
	check_typical(&c);
}

/* A core without notes is fine; the registers must come from elsewhere. */
static void test_no_notes(void **state)
{
	static struct core c;
	struct seg_spec segs[] = { { PT_LOAD, 0, 0x1000, 0x1000, 0, NULL } };
	struct image img;
	char err[256];

	(void)state;
	build(&c, ELFCLASS64, EM_386, segs, 1, false);
	assert_int_equal(parse(&c, 0, &img, err), 0);
	assert_false(img.has_cpu);
	assert_int_equal(img.nr_cpus, 0);
	assert_int_equal(img.machine, EM_386);
	image_close(&img);
}

/* Overlaps: the same file bytes twice are merged, different bytes refused. */
static void test_overlaps(void **state)
{
	static struct core c;
	struct seg_spec same[] = {
		{ PT_LOAD, 0x1000, 0x2000, 0x2000, 0x1000, NULL },
		{ PT_LOAD, 0x2000, 0x2000, 0x2000, 0x2000, NULL },   /* same delta */
		{ PT_LOAD, 0x1800, 0x100, 0x100, 0x1800, NULL },      /* inside */
	};
	struct seg_spec differ[] = {
		{ PT_LOAD, 0x1000, 0x2000, 0x2000, 0x1000, NULL },
		{ PT_LOAD, 0x2000, 0x1000, 0x1000, 0x1000, NULL },
	};
	struct image img;
	char err[256];

	(void)state;
	build(&c, ELFCLASS64, EM_386, same, ARRAY_SIZE(same), false);
	c.len = 0x4000;
	assert_int_equal(parse(&c, 0, &img, err), 0);
	assert_int_equal(img.nr_segs, 1);
	assert_int_equal(img.segs[0].gpa, 0x1000);
	assert_int_equal(img.segs[0].size, 0x3000);
	image_close(&img);

	build(&c, ELFCLASS64, EM_386, differ, ARRAY_SIZE(differ), false);
	c.len = 0x4000;
	assert_int_equal(parse(&c, 0, &img, err), -EINVAL);
	assert_non_null(strstr(err, "overlap"));
}

struct bad_case {
	const char *name, *message;
	void (*make)(struct core *c);
};

static void bad_magic(struct core *c) { typical(c, ELFCLASS64, false); c->buf[1] = 'X'; }
static void bad_short(struct core *c) { typical(c, ELFCLASS64, false); c->len = 10; }
static void bad_class(struct core *c) { typical(c, ELFCLASS64, false); c->buf[EI_CLASS] = 3; }
static void bad_endian(struct core *c) { typical(c, ELFCLASS64, false); c->buf[EI_DATA] = ELFDATA2MSB; }
static void bad_header(struct core *c) { typical(c, ELFCLASS64, false); c->len = 40; }

static void bad_type(struct core *c)
{
	uint16_t t = ET_EXEC;

	typical(c, ELFCLASS64, false);
	memcpy(c->buf + offsetof(Elf64_Ehdr, e_type), &t, 2);
}

static void bad_machine(struct core *c)
{
	uint16_t m = EM_AARCH64;

	typical(c, ELFCLASS32, false);
	memcpy(c->buf + offsetof(Elf32_Ehdr, e_machine), &m, 2);
}

static void bad_phentsize(struct core *c)
{
	uint16_t n = 40;

	typical(c, ELFCLASS64, false);
	memcpy(c->buf + offsetof(Elf64_Ehdr, e_phentsize), &n, 2);
}

static void bad_phnum_zero(struct core *c)
{
	uint16_t n = 0;

	typical(c, ELFCLASS64, false);
	memcpy(c->buf + offsetof(Elf64_Ehdr, e_phnum), &n, 2);
}

static void bad_phoff(struct core *c)
{
	uint64_t off = 0xfffffffffffffff0ull;

	typical(c, ELFCLASS64, false);
	memcpy(c->buf + offsetof(Elf64_Ehdr, e_phoff), &off, 8);
}

static void bad_xnum(struct core *c)
{
	uint64_t off = 0;

	typical(c, ELFCLASS64, true);
	memcpy(c->buf + offsetof(Elf64_Ehdr, e_shoff), &off, 8);
}

static void bad_truncated(struct core *c)
{
	typical(c, ELFCLASS64, false);
	c->len -= 100;               /* the last segment's bytes */
}

static void bad_filesz(struct core *c)
{
	struct seg_spec segs[] = { { PT_LOAD, 0, 0x2000, 0x1000, 0, NULL } };

	build(c, ELFCLASS64, EM_386, segs, 1, false);
}

static void bad_wrap(struct core *c)
{
	struct seg_spec segs[] = { { PT_LOAD, 0xfffffffffffff800ull, 0x1000, 0x1000, 0, NULL } };

	build(c, ELFCLASS64, EM_386, segs, 1, false);
}

static void bad_offset(struct core *c)
{
	struct seg_spec segs[] = { { PT_LOAD, 0, 0x1000, 0x1000, 0xffffffffffffff00ull, NULL } };

	build(c, ELFCLASS64, EM_386, segs, 1, false);
}

static void bad_no_load(struct core *c)
{
	struct seg_spec segs[] = { { PT_NOTE, 0, 0, 0, 0, notes } };

	make_notes();
	segs[0].filesz = segs[0].memsz = notes_len;
	build(c, ELFCLASS64, EM_386, segs, 1, false);
}

static void bad_empty_loads(struct core *c)
{
	struct seg_spec segs[] = { { PT_LOAD, 0, 0, 0x1000, 0, NULL } };

	build(c, ELFCLASS64, EM_386, segs, 1, false);
}

static void bad_note_overrun(struct core *c)
{
	uint32_t descsz = 0x10000;

	typical(c, ELFCLASS64, false);
	/* The first note's descsz, in the note segment. */
	for (size_t off = 0; off + 4 < c->len; off++) {
		if (!memcmp(c->buf + off, "CORE", 5)) {
			memcpy(c->buf + off - 8, &descsz, 4);
			break;
		}
	}
}

static void bad_note_short(struct core *c)
{
	uint8_t n[64] = { 0 };
	uint32_t hdr[3] = { 5, 40, 0 };
	struct seg_spec segs[] = {
		{ PT_NOTE, 0, 60, 60, 0, n },
		{ PT_LOAD, 0, 0x1000, 0x1000, 0, NULL },
	};

	memcpy(n, hdr, 12);
	memcpy(n + 12, "QEMU", 5);
	build(c, ELFCLASS64, EM_386, segs, 2, false);
}

static void bad_note_version(struct core *c)
{
	typical(c, ELFCLASS64, false);
	for (size_t off = 0; off + 4 < c->len; off++) {
		if (!memcmp(c->buf + off, "QEMU", 5)) {
			c->buf[off + 8] = 9;          /* version */
			break;
		}
	}
}

static const struct bad_case bad_cases[] = {
	{ "magic", "not an ELF file", bad_magic },
	{ "short", "not an ELF file", bad_short },
	{ "class", "ELF class", bad_class },
	{ "endian", "little-endian", bad_endian },
	{ "header", "truncated ELF header", bad_header },
	{ "type", "not an ELF core", bad_type },
	{ "machine", "not an x86 core", bad_machine },
	{ "phentsize", "program header size", bad_phentsize },
	{ "phnum", "no program headers", bad_phnum_zero },
	{ "phoff", "overrun the file", bad_phoff },
	{ "xnum", "PN_XNUM", bad_xnum },
	{ "truncated", "truncated?", bad_truncated },
	{ "filesz", "exceeds memory size", bad_filesz },
	{ "wrap", "wraps around", bad_wrap },
	{ "offset", "past the end of the file", bad_offset },
	{ "no load", "no PT_LOAD segment", bad_no_load },
	{ "empty loads", "holds any bytes", bad_empty_loads },
	{ "note overrun", "overruns its segment", bad_note_overrun },
	{ "note short", "QEMU note of 40 bytes", bad_note_short },
	{ "note version", "not understood", bad_note_version },
};

static void test_malformed(void **state)
{
	static struct core c;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(bad_cases); i++) {
		struct image img;
		char err[256];
		int ret;

		bad_cases[i].make(&c);
		ret = parse(&c, 0, &img, err);
		if (ret != -EINVAL || !strstr(err, bad_cases[i].message)) {
			print_error("case '%s': returned %d, message '%s', expected -EINVAL and '%s'\n",
				    bad_cases[i].name, ret, err, bad_cases[i].message);
			fail();
		}
	}
}

/* Every prefix of a valid core parses or is refused; nothing else. */
static void test_every_truncation(void **state)
{
	static struct core c;
	size_t full, ok = 0;

	(void)state;
	for (int xnum = 0; xnum <= 1; xnum++) {
		typical(&c, xnum ? ELFCLASS32 : ELFCLASS64, xnum);
		full = c.len;
		for (size_t len = 1; len <= full; len++) {
			uint8_t *copy = malloc(len);     /* exact size: ASan sees overreads */
			struct image img;
			char err[256];
			int ret;

			assert_non_null(copy);
			memcpy(copy, c.buf, len);
			ret = image_open_buffer(&img, copy, len, IMAGE_ELF, 0, err, sizeof(err));
			assert_true(ret == 0 || ret == -EINVAL);
			if (!ret) {
				ok++;
				image_close(&img);
			}
			free(copy);
		}
	}
	assert_int_equal(ok, 2);           /* only the whole files */
}

static void test_files(void **state)
{
	char path[] = "/tmp/vmmu-test-image-XXXXXX", err[256];
	static uint8_t page[8192];
	struct image img;
	int fd;

	(void)state;
	assert_int_equal(image_open(&img, "/nonexistent/vmmu", IMAGE_RAW, 0, err, sizeof(err)),
			 -ENOENT);
	assert_non_null(strstr(err, "/nonexistent/vmmu"));
	assert_int_equal(image_open(&img, "/tmp", IMAGE_RAW, 0, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not a regular file"));

	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(image_open(&img, path, IMAGE_RAW, 0, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "empty image"));

	page[0x1000] = 0x42;
	assert_int_equal(write(fd, page, sizeof(page) - 4), (ssize_t)sizeof(page) - 4);
	assert_int_equal(image_open(&img, path, IMAGE_RAW, 0, err, sizeof(err)), 0);
	assert_int_equal(img.nr_segs, 1);
	assert_int_equal(image_bytes(&img), sizeof(page) - 4);
	assert_int_equal(*(const uint8_t *)image_ptr(&img, 0x1000, 8), 0x42);
	assert_null(image_ptr(&img, sizeof(page) - 8, 8));   /* cut by the file's end */
	image_close(&img);

	/* A raw image is not an ELF core. */
	assert_int_equal(image_open(&img, path, IMAGE_ELF, 0, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, "not an ELF file"));
	close(fd);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_cores),
		cmocka_unit_test(test_no_notes),
		cmocka_unit_test(test_overlaps),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_every_truncation),
		cmocka_unit_test(test_files),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
