// SPDX-License-Identifier: MIT
/*
 * vmmu maps output formats (tools/maps_output.c) from hand-made leaves:
 * runs (what joins, what splits), the text line, the JSON document parsed
 * back with json-c, QEMU's `info tlb` line and `info mem` ranges with
 * their quirks (the flush at the end of the address space, addresses and
 * sizes "canonicalized" by bit 47 or 56).
 */
#include <json-c/json.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "maps.h"

static struct paging_mode mode32, mode_pae, mode4, mode5;

static int setup(void **state)
{
	struct paging_regs r = { .cr0 = X86_CR0_PG | X86_CR0_PE, .cr4 = X86_CR4_PSE };

	(void)state;
	paging_mode_init(&mode32, &r, 52);
	r.cr4 = X86_CR4_PAE;
	r.efer = X86_EFER_NXE;
	paging_mode_init(&mode_pae, &r, 52);
	r.efer |= X86_EFER_LME | X86_EFER_LMA;
	paging_mode_init(&mode4, &r, 52);
	r.cr4 |= X86_CR4_LA57;
	paging_mode_init(&mode5, &r, 52);
	return 0;
}

static struct paging_leaf leaf(gva_t va, gpa_t pa, unsigned int level, uint64_t flags,
			       unsigned int rights)
{
	unsigned int shift = level == 1 ? 12 : level == 2 ? 21 : 30;

	return (struct paging_leaf){ .va = va, .pa = pa, .pte = pa | flags | PT_PRESENT,
				     .path = ~0ull, .level = (uint8_t)level, .shift = (uint8_t)shift,
				     .rights = (uint8_t)rights };
}

/* Runs the formatter over @n leaves; returns what it printed (free it). */
static char *format(enum maps_format f, const struct paging_mode *m, bool la57,
		    const struct paging_leaf *leaves, size_t n, bool truncated)
{
	struct maps_info info = { .source = "t\"e\\st", .cr3 = 0x1000, .maxphyaddr = 52 };
	struct maps_out o;
	char *text = NULL;
	size_t len = 0;
	FILE *mf = open_memstream(&text, &len);

	assert_non_null(mf);
	maps_out_begin(&o, mf, f, m, la57, &info);
	for (size_t i = 0; i < n; i++)
		maps_out_leaf(&o, &leaves[i]);
	maps_out_end(&o, n, truncated);
	fclose(mf);
	return text;
}

static void expect(char *got, const char *want)
{
	if (strcmp(got, want)) {
		print_error("got:\n%s\nwant:\n%s\n", got, want);
		free(got);
		fail();
	}
	free(got);
}

static void test_text_runs(void **state)
{
	const unsigned int rwx = RIGHT_WRITE | RIGHT_EXEC;
	struct paging_leaf l[] = {
		leaf(0x1000, 0x5000, 1, PT_WRITABLE, rwx),
		leaf(0x2000, 0x6000, 1, PT_WRITABLE, rwx),          /* joins */
		leaf(0x3000, 0x7000, 1, PT_WRITABLE | PT_ACCESSED, rwx),  /* A splits */
		leaf(0x4000, 0x9000, 1, PT_WRITABLE, rwx),          /* physical gap */
		leaf(0x6000, 0xa000, 1, PT_WRITABLE, rwx),          /* linear gap */
		leaf(0x7000, 0xb000, 1, PT_WRITABLE, RIGHT_EXEC),   /* rights split */
		leaf(0x8000, 0xc000, 1, PT_PAGE_SIZE | (3ull << 59), RIGHT_EXEC | RIGHT_USER),
		leaf(0x200000, 0x200000, 2, PT_GLOBAL | PT_DIRTY | (1ull << 12) | (1 << 4) | (1 << 3), 0),
		leaf(0x400000, 0x400000, 2, PT_GLOBAL | PT_DIRTY | (1ull << 12) | (1 << 4) | (1 << 3), 0),
		leaf(0xffffffffc0000000ull, 0x40000000, 3, 0, RIGHTS_ALL),
	};

	(void)state;
	expect(format(MAPS_TEXT, &mode4, false, l, ARRAY_SIZE(l), false),
	       "0000000000001000-0000000000002fff 0000000000005000 4K rwxs ------\n"
	       "0000000000003000-0000000000003fff 0000000000007000 4K rwxs --A---\n"
	       "0000000000004000-0000000000004fff 0000000000009000 4K rwxs ------\n"
	       "0000000000006000-0000000000006fff 000000000000a000 4K rwxs ------\n"
	       "0000000000007000-0000000000007fff 000000000000b000 4K r-xs ------\n"
	       "0000000000008000-0000000000008fff 000000000000c000 4K r-xu -----P key=3\n"
	       "0000000000200000-00000000005fffff 0000000000200000 2M r--s GD-CTP\n"
	       "ffffffffc0000000-ffffffffffffffff 0000000040000000 1G rwxu ------\n");
	/* Outside 4/5-level paging, bits 62:59 are no key. */
	expect(format(MAPS_TEXT, &mode_pae, false, &l[6], 1, false),
	       "0000000000008000-0000000000008fff 000000000000c000 4K r-xu -----P\n");
	expect(format(MAPS_TEXT, &mode4, false, NULL, 0, false), "");
}

static void test_json(void **state)
{
	struct paging_leaf l[] = {
		leaf(0xffff800000000000ull, 0x0, 2, PT_GLOBAL, RIGHT_WRITE),
		leaf(0xffff800000200000ull, 0x200000, 2, PT_GLOBAL, RIGHT_WRITE),
		leaf(0xffff800000400000ull, 0x800000, 2, PT_GLOBAL, RIGHT_WRITE),
	};
	json_object *doc, *v, *maps, *m;
	char *text;

	(void)state;
	text = format(MAPS_JSON, &mode4, false, l, ARRAY_SIZE(l), true);
	doc = json_tokener_parse(text);
	if (!doc)
		print_error("not JSON:\n%s\n", text);
	assert_non_null(doc);
	assert_true(json_object_object_get_ex(doc, "header", &v));
	assert_string_equal(json_object_get_string(json_object_object_get(v, "paging")), "4-level");
	assert_string_equal(json_object_get_string(json_object_object_get(v, "source")), "t\"e\\st");
	assert_string_equal(json_object_get_string(json_object_object_get(v, "cr3")), "0x1000");
	assert_true(json_object_object_get_ex(doc, "mappings", &maps));
	assert_int_equal(json_object_array_length(maps), 2);
	m = json_object_array_get_idx(maps, 0);
	assert_string_equal(json_object_get_string(json_object_object_get(m, "virt")),
			    "0xffff800000000000");
	assert_string_equal(json_object_get_string(json_object_object_get(m, "phys")), "0x0");
	assert_int_equal(json_object_get_uint64(json_object_object_get(m, "size")), 0x400000);
	assert_int_equal(json_object_get_uint64(json_object_object_get(m, "page_size")), 0x200000);
	assert_int_equal(json_object_get_uint64(json_object_object_get(m, "pages")), 2);
	assert_true(json_object_get_boolean(json_object_object_get(m, "write")));
	assert_false(json_object_get_boolean(json_object_object_get(m, "user")));
	assert_false(json_object_get_boolean(json_object_object_get(m, "exec")));
	assert_true(json_object_get_boolean(json_object_object_get(m, "global")));
	assert_int_equal(json_object_get_int(json_object_object_get(m, "key")), 0);
	assert_true(json_object_object_get_ex(doc, "summary", &v));
	assert_int_equal(json_object_get_uint64(json_object_object_get(v, "runs")), 2);
	assert_int_equal(json_object_get_uint64(json_object_object_get(v, "pages")), 3);
	assert_true(json_object_get_boolean(json_object_object_get(v, "truncated")));
	json_object_put(doc);
	free(text);

	/* No mapping at all is still a document. */
	text = format(MAPS_JSON, &mode4, false, NULL, 0, false);
	doc = json_tokener_parse(text);
	assert_non_null(doc);
	assert_int_equal(json_object_array_length(json_object_object_get(doc, "mappings")), 0);
	json_object_put(doc);
	free(text);
}

static void test_qemu_tlb(void **state)
{
	struct paging_leaf l[] = {
		/* QEMU's mask is already in pa: the formatter prints it as is. */
		leaf(0x1000, 0x80000000001f0000ull, 1, PT_WRITABLE | PT64_NX | PT_PAGE_SIZE, 0),
		leaf(0x200000, 0x600000, 2, PT_GLOBAL | PT_USER | PT_DIRTY | PT_ACCESSED | 0x18, 0),
		leaf(0xffffff8000000000ull, 0x0, 3, 0, 0),
	};

	(void)state;
	expect(format(MAPS_QEMU_TLB, &mode_pae, false, l, ARRAY_SIZE(l), false),
	       "0000000000001000: 80000000001f0000 X-------W\n"
	       "0000000000200000: 0000000000600000 -GPDACTU-\n"
	       "ffffff8000000000: 0000000000000000 --P------\n");
}

static void test_qemu_mem(void **state)
{
	const uint64_t urw = PT_USER | PT_WRITABLE;
	struct paging_leaf l[] = {
		leaf(0x1000, 0x1000, 1, urw, 0),
		leaf(0x2000, 0x9000, 1, urw, 0),               /* same prot: one range */
		leaf(0x3000, 0x3000, 1, PT_WRITABLE, 0),       /* prot change */
		leaf(0x5000, 0x5000, 1, PT_WRITABLE, 0),       /* gap */
		leaf(0xffffffffffe00000ull, 0, 2, 0, 0),       /* up to 2^48 */
	};
	struct paging_leaf big[] = {
		leaf(0, 0, 3, PT_WRITABLE, 0),
	};

	(void)state;
	expect(format(MAPS_QEMU_MEM, &mode4, false, l, ARRAY_SIZE(l), false),
	       "0000000000001000-0000000000003000 0000000000002000 urw\n"
	       "0000000000003000-0000000000004000 0000000000001000 -rw\n"
	       "0000000000005000-0000000000006000 0000000000001000 -rw\n"
	       "ffffffffffe00000-0001000000000000 0000000000200000 -r-\n");
	/* 5-level: bit 56 extends, the flush is at 2^57. */
	l[4].va = 0xffffffffffe00000ull;
	expect(format(MAPS_QEMU_MEM, &mode5, true, &l[4], 1, false),
	       "ffffffffffe00000-0200000000000000 0000000000200000 -r-\n");
	/* 32-bit: the flush is at 2^32. */
	l[4].va = 0xffc00000;
	l[4].shift = 22;
	expect(format(MAPS_QEMU_MEM, &mode32, false, &l[4], 1, false),
	       "00000000ffc00000-0000000100000000 0000000000400000 -r-\n");
	/* A size of 2^47 or more is "canonicalized" too. */
	big[0].shift = 47;
	expect(format(MAPS_QEMU_MEM, &mode4, false, big, 1, false),
	       "0000000000000000-ffff800000000000 ffff800000000000 -rw\n");
	/* A leaf QEMU gives no protection prints nothing. */
	l[0].path = 0;
	expect(format(MAPS_QEMU_MEM, &mode4, false, l, 1, false), "");
	expect(format(MAPS_QEMU_MEM, &mode4, false, NULL, 0, false), "");
}

static void test_page_sizes(void **state)
{
	(void)state;
	assert_string_equal(maps_page_size(12), "4K");
	assert_string_equal(maps_page_size(21), "2M");
	assert_string_equal(maps_page_size(22), "4M");
	assert_string_equal(maps_page_size(30), "1G");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_text_runs),
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_qemu_tlb),
		cmocka_unit_test(test_qemu_mem),
		cmocka_unit_test(test_page_sizes),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
