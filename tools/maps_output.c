/* SPDX-License-Identifier: MIT */
/*
 * vmmu maps: output formats.
 *
 * MAPS_TEXT and MAPS_JSON coalesce leaves into runs.  MAPS_QEMU_TLB prints
 * a line per leaf as QEMU 7.2's print_pte() does, MAPS_QEMU_MEM replays
 * QEMU 7.2's mem_print() over the leaves (target/i386/monitor.c; written
 * from its description in docs/MAPS.md, not copied).
 *
 * The JSON document is streamed: the header, each run and the summary are
 * json-c objects, serialized by json-c as soon as they are complete, and
 * only the fixed punctuation between them is written here, so a listing of
 * millions of runs never holds more than one in memory.
 */
#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "maps.h"

#define NO_RANGE UINT64_MAX

static const char hex_digits[] = "0123456789abcdef";

/* 16 lowercase hex digits, as printf("%016" PRIx64) without its cost. */
static char *put_hex16(char *p, uint64_t v)
{
	for (int i = 15; i >= 0; i--, v >>= 4)
		p[i] = hex_digits[v & 15];
	return p + 16;
}

const char *maps_page_size(unsigned int shift)
{
	switch (shift) {
	case 12:
		return "4K";
	case 21:
		return "2M";
	case 22:
		return "4M";
	case 30:
		return "1G";
	}
	return "??";            /* two characters, as every size above */
}

void maps_run_of_leaf(const struct paging_mode *mode, const struct paging_leaf *leaf,
		      struct maps_run *run)
{
	uint64_t pte = leaf->pte;
	uint8_t flags = 0;

	if (pte & PT_GLOBAL)
		flags |= MAPS_GLOBAL;
	if (pte & PT_DIRTY)
		flags |= MAPS_DIRTY;
	if (pte & PT_ACCESSED)
		flags |= MAPS_ACCESSED;
	if (pte & (1ull << 4))
		flags |= MAPS_PCD;
	if (pte & (1ull << 3))
		flags |= MAPS_PWT;
	/* PAT is bit 7 of a 4K PTE, bit 12 of a large page. */
	if (pte & (leaf->level == 1 ? PT_PAGE_SIZE : 1ull << 12))
		flags |= MAPS_PAT;
	*run = (struct maps_run){
		.va = leaf->va, .pa = leaf->pa, .size = 1ull << leaf->shift, .pages = 1,
		.shift = leaf->shift, .rights = leaf->rights, .flags = flags,
		.key = mode->levels >= 4 ? (uint8_t)((pte >> PT64_PKEY_SHIFT) & 15) : 0,
	};
}

static bool extends(const struct maps_run *run, const struct maps_run *next)
{
	return next->shift == run->shift && next->rights == run->rights &&
	       next->flags == run->flags && next->key == run->key &&
	       next->va == run->va + run->size && next->pa == run->pa + run->size;
}

/* ---- MAPS_TEXT ------------------------------------------------------------ */

/*
 * VSTART-VLAST PHYS SIZE RIGHTS FLAGS [key=N]
 * ffff800000000000-ffff8000007fffff 0000000000000000 2M rw-s G-----
 */
static void print_text_run(FILE *f, const struct maps_run *r)
{
	static const char flag_chars[] = "GDACTP";
	char line[96], *p = line;

	p = put_hex16(p, r->va);
	*p++ = '-';
	p = put_hex16(p, r->va + (r->size - 1));
	*p++ = ' ';
	p = put_hex16(p, r->pa);
	*p++ = ' ';
	memcpy(p, maps_page_size(r->shift), 2);
	p += 2;
	*p++ = ' ';
	*p++ = 'r';
	*p++ = (r->rights & RIGHT_WRITE) ? 'w' : '-';
	*p++ = (r->rights & RIGHT_EXEC) ? 'x' : '-';
	*p++ = (r->rights & RIGHT_USER) ? 'u' : 's';
	*p++ = ' ';
	for (unsigned int i = 0; i < 6; i++)
		*p++ = (r->flags & (1u << i)) ? flag_chars[i] : '-';
	if (r->key)
		p += sprintf(p, " key=%u", r->key);
	*p++ = '\n';
	fwrite(line, 1, (size_t)(p - line), f);
}

/* ---- MAPS_JSON ------------------------------------------------------------ */

static json_object *json_hex(uint64_t v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "0x%" PRIx64, v);
	return json_object_new_string(buf);
}

static void json_emit(FILE *f, json_object *obj)
{
	fputs(json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN), f);
	json_object_put(obj);
}

/* Adds member @name to @obj and returns it (@obj owns it). */
static json_object *member(json_object *obj, const char *name, json_object *value)
{
	json_object_object_add(obj, name, value);
	return value;
}

static void json_run_init(struct maps_json_run *j)
{
	json_object *o = json_object_new_object();

	j->obj = o;
	j->virt = member(o, "virt", json_object_new_string(""));
	j->phys = member(o, "phys", json_object_new_string(""));
	j->size = member(o, "size", json_object_new_uint64(0));
	j->page_size = member(o, "page_size", json_object_new_uint64(0));
	j->pages = member(o, "pages", json_object_new_uint64(0));
	j->user = member(o, "user", json_object_new_boolean(0));
	j->write = member(o, "write", json_object_new_boolean(0));
	j->exec = member(o, "exec", json_object_new_boolean(0));
	j->global = member(o, "global", json_object_new_boolean(0));
	j->dirty = member(o, "dirty", json_object_new_boolean(0));
	j->accessed = member(o, "accessed", json_object_new_boolean(0));
	j->pcd = member(o, "pcd", json_object_new_boolean(0));
	j->pwt = member(o, "pwt", json_object_new_boolean(0));
	j->pat = member(o, "pat", json_object_new_boolean(0));
	j->key = member(o, "key", json_object_new_int(0));
}

static void set_hex(json_object *s, uint64_t v)
{
	char buf[24];

	json_object_set_string_len(s, buf, snprintf(buf, sizeof(buf), "0x%" PRIx64, v));
}

/* One object per run, its members updated in place: no allocation per run. */
static void print_json_run(struct maps_out *o, const struct maps_run *r)
{
	struct maps_json_run *j = &o->json;

	set_hex(j->virt, r->va);
	set_hex(j->phys, r->pa);
	json_object_set_uint64(j->size, r->size);
	json_object_set_uint64(j->page_size, 1ull << r->shift);
	json_object_set_uint64(j->pages, r->pages);
	json_object_set_boolean(j->user, r->rights & RIGHT_USER);
	json_object_set_boolean(j->write, r->rights & RIGHT_WRITE);
	json_object_set_boolean(j->exec, r->rights & RIGHT_EXEC);
	json_object_set_boolean(j->global, r->flags & MAPS_GLOBAL);
	json_object_set_boolean(j->dirty, r->flags & MAPS_DIRTY);
	json_object_set_boolean(j->accessed, r->flags & MAPS_ACCESSED);
	json_object_set_boolean(j->pcd, r->flags & MAPS_PCD);
	json_object_set_boolean(j->pwt, r->flags & MAPS_PWT);
	json_object_set_boolean(j->pat, r->flags & MAPS_PAT);
	json_object_set_int(j->key, r->key);
	fputs(o->runs ? ",\n" : "\n", o->f);
	fputs(json_object_to_json_string_ext(j->obj, JSON_C_TO_STRING_PLAIN), o->f);
}

static const char *paging_name(const struct paging_mode *m)
{
	static const char *const names[] = { "off", "?", "32-bit", "PAE", "4-level", "5-level" };

	return m->levels < ARRAY_SIZE(names) ? names[m->levels] : "?";
}

static void print_json_header(struct maps_out *o, const struct maps_info *info)
{
	json_object *obj = json_object_new_object();

	json_object_object_add(obj, "source", json_object_new_string(info->source));
	json_object_object_add(obj, "paging", json_object_new_string(paging_name(o->mode)));
	json_object_object_add(obj, "cr0", json_hex(info->cr0));
	json_object_object_add(obj, "cr3", json_hex(info->cr3));
	json_object_object_add(obj, "cr4", json_hex(info->cr4));
	json_object_object_add(obj, "efer", json_hex(info->efer));
	json_object_object_add(obj, "maxphyaddr", json_object_new_int((int)info->maxphyaddr));
	fputs("{\"header\":", o->f);
	json_emit(o->f, obj);
	fputs(",\"mappings\":[", o->f);
}

static void print_json_end(struct maps_out *o, uint64_t leaves, bool truncated)
{
	json_object *obj = json_object_new_object();

	json_object_object_add(obj, "runs", json_object_new_uint64(o->runs));
	json_object_object_add(obj, "pages", json_object_new_uint64(leaves));
	json_object_object_add(obj, "truncated", json_object_new_boolean(truncated));
	fputs(o->runs ? "\n],\"summary\":" : "],\"summary\":", o->f);
	json_emit(o->f, obj);
	fputs("}\n", o->f);
}

/* ---- MAPS_QEMU_TLB: print_pte() ------------------------------------------ */

static void print_qemu_tlb(FILE *f, const struct paging_leaf *leaf)
{
	uint64_t pte = leaf->pte;
	char line[64], *p = line;

	p = put_hex16(p, leaf->va);
	*p++ = ':';
	*p++ = ' ';
	p = put_hex16(p, leaf->pa);
	*p++ = ' ';
	*p++ = (pte & PT64_NX) ? 'X' : '-';
	*p++ = (pte & PT_GLOBAL) ? 'G' : '-';
	*p++ = leaf->level > 1 ? 'P' : '-';     /* QEMU clears PS (PAT) of a 4K PTE */
	*p++ = (pte & PT_DIRTY) ? 'D' : '-';
	*p++ = (pte & PT_ACCESSED) ? 'A' : '-';
	*p++ = (pte & (1ull << 4)) ? 'C' : '-';
	*p++ = (pte & (1ull << 3)) ? 'T' : '-';
	*p++ = (pte & PT_USER) ? 'U' : '-';
	*p++ = (pte & PT_WRITABLE) ? 'W' : '-';
	*p++ = '\n';
	fwrite(line, 1, (size_t)(p - line), f);
}

/* ---- MAPS_QEMU_MEM: mem_print() ------------------------------------------ */

/* QEMU's addr_canonical(): by CR4.LA57 alone, and only ever adding bits. */
static uint64_t qemu_canonical(const struct maps_out *o, uint64_t v)
{
	if (o->la57) {
		if (v & (1ull << 56))
			v |= ~0ull << 57;
	} else if (v & (1ull << 47)) {
		v |= ~0ull << 48;
	}
	return v;
}

/* A range ends where the protection changes; a range of protection 0 is
 * not printed. */
static void mem_print(struct maps_out *o, uint64_t end, unsigned int prot)
{
	char line[64], *p = line;

	if (prot == o->mem_prot)
		return;
	if (o->mem_start != NO_RANGE) {
		p = put_hex16(p, qemu_canonical(o, o->mem_start));
		*p++ = '-';
		p = put_hex16(p, qemu_canonical(o, end));
		*p++ = ' ';
		p = put_hex16(p, qemu_canonical(o, end - o->mem_start));
		*p++ = ' ';
		*p++ = (o->mem_prot & PT_USER) ? 'u' : '-';
		*p++ = 'r';
		*p++ = (o->mem_prot & PT_WRITABLE) ? 'w' : '-';
		*p++ = '\n';
		fwrite(line, 1, (size_t)(p - line), o->f);
		o->runs++;
	}
	o->mem_start = prot ? end : NO_RANGE;
	o->mem_prot = prot;
}

/* The address QEMU's loops compute: linear, not sign-extended. */
static uint64_t raw_va(const struct maps_out *o, gva_t va)
{
	unsigned int bits = paging_va_bits(o->mode);

	return bits >= 48 ? va & ((1ull << bits) - 1) : va;
}

/* QEMU calls mem_print() for every entry; between two leaves every entry
 * has protection 0, and the first of them starts where the leaf ends. */
static void print_qemu_mem(struct maps_out *o, const struct paging_leaf *leaf)
{
	unsigned int prot = paging_qemu_prot(leaf);
	uint64_t va = raw_va(o, leaf->va);

	if (!prot)
		return;
	if (va != o->mem_cursor)
		mem_print(o, o->mem_cursor, 0);
	mem_print(o, va, prot);
	o->mem_cursor = va + (1ull << leaf->shift);
}

/* ---- the interface --------------------------------------------------------- */

void maps_out_begin(struct maps_out *o, FILE *f, enum maps_format format,
		    const struct paging_mode *mode, bool la57, const struct maps_info *info)
{
	memset(o, 0, sizeof(*o));
	o->f = f;
	o->format = format;
	o->mode = mode;
	o->la57 = la57;
	o->mem_start = NO_RANGE;
	if (format == MAPS_JSON) {
		json_run_init(&o->json);
		print_json_header(o, info);
	}
}

static void flush_run(struct maps_out *o)
{
	if (!o->have_run)
		return;
	if (o->format == MAPS_JSON)
		print_json_run(o, &o->run);
	else
		print_text_run(o->f, &o->run);
	o->runs++;
	o->have_run = false;
}

void maps_out_leaf(struct maps_out *o, const struct paging_leaf *leaf)
{
	struct maps_run r;

	switch (o->format) {
	case MAPS_QEMU_TLB:
		print_qemu_tlb(o->f, leaf);
		o->runs++;
		return;
	case MAPS_QEMU_MEM:
		print_qemu_mem(o, leaf);
		return;
	case MAPS_TEXT:
	case MAPS_JSON:
		break;
	}
	maps_run_of_leaf(o->mode, leaf, &r);
	if (o->have_run && extends(&o->run, &r)) {
		o->run.size += r.size;
		o->run.pages++;
		return;
	}
	flush_run(o);
	o->run = r;
	o->have_run = true;
}

void maps_out_end(struct maps_out *o, uint64_t leaves, bool truncated)
{
	uint64_t top;

	switch (o->format) {
	case MAPS_QEMU_TLB:
		return;
	case MAPS_QEMU_MEM:
		/* The flush at the end of the address space: 1 << 32, 48 or 57. */
		top = 1ull << (paging_va_bits(o->mode) ? paging_va_bits(o->mode) : 32);
		if (o->mem_cursor != top)
			mem_print(o, o->mem_cursor, 0);
		mem_print(o, top, 0);
		return;
	case MAPS_TEXT:
		flush_run(o);
		return;
	case MAPS_JSON:
		flush_run(o);
		print_json_end(o, leaves, truncated);
		json_object_put(o->json.obj);
		o->json.obj = NULL;
		return;
	}
}
