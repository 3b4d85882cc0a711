/* SPDX-License-Identifier: MIT */
/*
 * vmmu maps: every mapping of a guest memory image (docs/MAPS.md).
 *
 * The image (a raw dump with registers on the command line, or a QEMU ELF
 * core with its registers in a note) is mapped by src/image, its page
 * tables are traversed once by src/paging/paging_enum.c under the rules of
 * the chosen format (the architecture, or QEMU's monitor), and each leaf
 * goes to the formatter of maps_output.c.
 */
#include <elf.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "image/image.h"
#include "maps.h"

#define DEFAULT_MAX_MAPPINGS 10000000ull
#define DEFAULT_CR0 (X86_CR0_PG | X86_CR0_WP | X86_CR0_ET | X86_CR0_PE)
#define DEFAULT_MAXPHYADDR 52
/* Entries read per mapping allowed before a traversal counts as runaway. */
#define ENTRIES_PER_MAPPING 64
#define MIN_MAX_ENTRIES (1ull << 24)

static const char usage_text[] =
	"usage: vmmu maps [OPTIONS] CORE\n"
	"       vmmu maps [OPTIONS] --mem RAW --cr3 X --cr4 X --efer X [--cr0 X]\n"
	"\n"
	"Lists every mapping of a guest's page tables, from an ELF core written by\n"
	"QEMU's dump-guest-memory or a raw image of guest physical memory.\n"
	"\n"
	"  --format=FMT        text (default): runs of mappings; json; qemu: what QEMU's\n"
	"                      `info tlb` prints; qemu-mem: what `info mem` prints\n"
	"  --json              the same as --format=json\n"
	"  --mem RAW           a raw image: byte N is guest physical address N\n"
	"  --cr0/--cr3/--cr4/--efer X\n"
	"                      control registers (override a core's; CR0 defaults to\n"
	"                      0x80010011, EFER.NXE to 1 for a core)\n"
	"  --cpu N             the vCPU of a core whose registers are used (default 0)\n"
	"  --maxphyaddr N      guest MAXPHYADDR for reserved bits, 36..52 (default 52)\n"
	"  --max-mappings N    stop after N mappings (default 10000000), exit status 1\n"
	"  --stats             counters of the traversal on standard error\n"
	"\n"
	"exit status: 0 done, 1 listing cut short or run-time failure, 2 usage error\n"
	"or malformed image\n";

struct maps_opts {
	const char *raw, *core;
	enum maps_format format;
	bool has_cr0, has_cr3, has_cr4, has_efer, stats;
	uint64_t cr0, cr3, cr4, efer;
	unsigned int cpu, maxphyaddr;
	uint64_t max_mappings;
};

static int usage_error(const char *fmt, const char *arg)
{
	fputs("vmmu maps: ", stderr);
	fprintf(stderr, fmt, arg);
	fputs("\n(vmmu maps --help for usage)\n", stderr);
	return 2;
}

static bool parse_u64(const char *s, uint64_t *v)
{
	char *end;

	if (!*s || *s == '-')
		return false;
	errno = 0;
	*v = strtoull(s, &end, 0);
	return !errno && !*end;
}

enum { OPT_FORMAT = 256, OPT_JSON, OPT_MEM, OPT_CR0, OPT_CR3, OPT_CR4, OPT_EFER, OPT_CPU,
       OPT_MAXPHYADDR, OPT_MAX_MAPPINGS, OPT_STATS };

static int parse_format(const char *s, enum maps_format *f)
{
	static const struct { const char *name; enum maps_format format; } formats[] = {
		{ "text", MAPS_TEXT }, { "json", MAPS_JSON },
		{ "qemu", MAPS_QEMU_TLB }, { "qemu-mem", MAPS_QEMU_MEM },
	};

	for (size_t i = 0; i < ARRAY_SIZE(formats); i++) {
		if (!strcmp(s, formats[i].name)) {
			*f = formats[i].format;
			return 0;
		}
	}
	return -1;
}

static int parse_opts(int argc, char **argv, struct maps_opts *o)
{
	static const struct option opts[] = {
		{ "format", required_argument, NULL, OPT_FORMAT },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "mem", required_argument, NULL, OPT_MEM },
		{ "cr0", required_argument, NULL, OPT_CR0 },
		{ "cr3", required_argument, NULL, OPT_CR3 },
		{ "cr4", required_argument, NULL, OPT_CR4 },
		{ "efer", required_argument, NULL, OPT_EFER },
		{ "cpu", required_argument, NULL, OPT_CPU },
		{ "maxphyaddr", required_argument, NULL, OPT_MAXPHYADDR },
		{ "max-mappings", required_argument, NULL, OPT_MAX_MAPPINGS },
		{ "stats", no_argument, NULL, OPT_STATS },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	uint64_t v;
	int c;

	*o = (struct maps_opts){ .maxphyaddr = DEFAULT_MAXPHYADDR,
				 .max_mappings = DEFAULT_MAX_MAPPINGS };
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case OPT_FORMAT:
			if (parse_format(optarg, &o->format))
				return usage_error("unknown format '%s' (text, json, qemu, qemu-mem)",
						   optarg);
			break;
		case OPT_JSON:
			o->format = MAPS_JSON;
			break;
		case OPT_MEM:
			o->raw = optarg;
			break;
		case OPT_CR0:
		case OPT_CR3:
		case OPT_CR4:
		case OPT_EFER:
			if (!parse_u64(optarg, &v))
				return usage_error("bad register value '%s'", optarg);
			if (c == OPT_CR0)
				o->cr0 = v, o->has_cr0 = true;
			else if (c == OPT_CR3)
				o->cr3 = v, o->has_cr3 = true;
			else if (c == OPT_CR4)
				o->cr4 = v, o->has_cr4 = true;
			else
				o->efer = v, o->has_efer = true;
			break;
		case OPT_CPU:
			if (!parse_u64(optarg, &v) || v > 65535)
				return usage_error("bad vCPU number '%s'", optarg);
			o->cpu = (unsigned int)v;
			break;
		case OPT_MAXPHYADDR:
			if (!parse_u64(optarg, &v) || v < 36 || v > 52)
				return usage_error("MAXPHYADDR '%s' is not in 36..52", optarg);
			o->maxphyaddr = (unsigned int)v;
			break;
		case OPT_MAX_MAPPINGS:
			if (!parse_u64(optarg, &v) || !v)
				return usage_error("bad --max-mappings '%s'", optarg);
			o->max_mappings = v;
			break;
		case OPT_STATS:
			o->stats = true;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return -1;
		default:
			fputs("(vmmu maps --help for usage)\n", stderr);
			return 2;
		}
	}
	if (o->raw && optind != argc)
		return usage_error("--mem and a core file '%s' both given", argv[optind]);
	if (!o->raw && optind != argc - 1)
		return usage_error("%s", optind < argc ? "more than one core file given" :
					 "no image: give a core file or --mem RAW");
	if (!o->raw)
		o->core = argv[optind];
	if (o->raw && !(o->has_cr3 && o->has_cr4 && o->has_efer))
		return usage_error("%s", "a raw image needs --cr3, --cr4 and --efer");
	return 0;
}

/*
 * The registers the listing follows: the command line's, else the core's.
 * A core's note has no EFER: long mode is inferred from CR0.PG, CR4.PAE and
 * a 64-bit CS (or the EM_X86_64 that QEMU writes only when EFER.LMA is set),
 * and NXE is taken as 1.  LMA always follows LME and CR0.PG.
 */
static int choose_regs(const struct maps_opts *o, const struct image *img,
		       struct paging_regs *r, uint64_t *cr3)
{
	const char *name = o->raw ? o->raw : o->core;

	if (!o->raw && !img->has_cpu && !o->has_cr3) {
		fprintf(stderr, "vmmu maps: %s: no QEMU note with the vCPU's registers; give --cr3, --cr4 and --efer\n",
			name);
		return 2;
	}
	r->cr0 = o->has_cr0 ? o->cr0 : img->has_cpu ? img->cpu.cr0 : DEFAULT_CR0;
	r->cr4 = o->has_cr4 ? o->cr4 : img->has_cpu ? img->cpu.cr4 : 0;
	*cr3 = o->has_cr3 ? o->cr3 : img->cpu.cr3;
	if (o->has_efer) {
		r->efer = o->efer;
	} else {
		bool lm = (r->cr0 & X86_CR0_PG) && (r->cr4 & X86_CR4_PAE) &&
			  ((img->has_cpu && img->cpu.cs_long) || img->machine == EM_X86_64);

		r->efer = X86_EFER_NXE | (lm ? X86_EFER_LME : 0);
	}
	r->efer &= ~X86_EFER_LMA;
	if ((r->efer & X86_EFER_LME) && (r->cr0 & X86_CR0_PG)) {
		if (!(r->cr4 & X86_CR4_PAE)) {
			fprintf(stderr, "vmmu maps: EFER.LME with CR0.PG needs CR4.PAE (the CPU would raise #GP)\n");
			return 2;
		}
		r->efer |= X86_EFER_LMA;
	}
	return 0;
}

static enum paging_enum_rules rules_of(enum maps_format f)
{
	switch (f) {
	case MAPS_QEMU_TLB:
		return PAGING_ENUM_QEMU_TLB;
	case MAPS_QEMU_MEM:
		return PAGING_ENUM_QEMU_MEM;
	default:
		return PAGING_ENUM_ARCH;
	}
}

/*
 * PAE PDPTEs come from memory, as the PDPTE registers would have been
 * loaded from it.  One with reserved bits could not have been loaded (MOV to
 * CR3 raises #GP): say so, except for bit 5 alone, the accessed flag that
 * QEMU 7.2's TCG sets in the PDPTEs it uses.
 */
static void warn_pdptes(const struct paging_enum *e, struct image *img, uint64_t cr3,
			unsigned int maxphyaddr)
{
	for (unsigned int i = 0; i < 4; i++) {
		const void *p = image_ptr(img, (cr3 & 0xffffffe0ull) + 8 * i, 8);
		uint64_t pdpte = 0;

		if (!(e->bad_pdptes & (1u << i)) || !p)
			continue;
		memcpy(&pdpte, p, 8);
		if (!(pdpte & pae_pdpte_rsvd(maxphyaddr) & ~PT_ACCESSED))
			continue;
		fprintf(stderr, "vmmu maps: warning: PDPTE %u (0x%016" PRIx64 ") sets reserved bits: a MOV to CR3 would raise #GP now; listed as if loaded\n",
			i, pdpte);
	}
}

static void print_stats(const struct paging_enum *e, const struct maps_out *out)
{
	fprintf(stderr,
		"vmmu maps: %" PRIu64 " mappings, %" PRIu64 " lines, %" PRIu64 " tables entered, %" PRIu64
		" entries read, %" PRIu64 " empty tables skipped, %" PRIu64 " entries with reserved bits\n",
		e->leaves, out->runs, e->tables, e->entries, e->skipped, e->reserved);
}

/* Traverses and prints; returns the exit status. */
static int list_mappings(const struct maps_opts *o, struct image *img,
			 const struct paging_regs *regs, uint64_t cr3)
{
	struct paging_mode mode;
	struct paging_enum e;
	struct paging_leaf leaf;
	struct maps_out out;
	struct maps_info info = {
		.source = o->raw ? o->raw : o->core, .cr0 = regs->cr0, .cr3 = cr3,
		.cr4 = regs->cr4, .efer = regs->efer, .maxphyaddr = o->maxphyaddr,
	};
	uint64_t max_entries = o->max_mappings > UINT64_MAX / ENTRIES_PER_MAPPING ?
			       0 : o->max_mappings * ENTRIES_PER_MAPPING;
	int ret;

	paging_mode_init(&mode, regs, o->maxphyaddr);
	img->entry_bytes = mode.levels >= 3 ? 8 : 4;
	if (!mode.levels && (o->format == MAPS_QEMU_TLB || o->format == MAPS_QEMU_MEM)) {
		puts("PG disabled");
		return 0;
	}
	if (!mode.levels && o->format == MAPS_TEXT)
		fprintf(stderr, "vmmu maps: paging is off (CR0.PG=0): linear addresses are physical\n");
	if (max_entries && max_entries < MIN_MAX_ENTRIES)
		max_entries = MIN_MAX_ENTRIES;
	ret = paging_enum_init(&e, &(struct paging_enum_config){
		.mode = &mode, .mem = &img->mem, .cr3 = cr3, .rules = rules_of(o->format),
		.max_leaves = o->max_mappings, .max_entries = max_entries,
	});
	if (ret) {
		fprintf(stderr, "vmmu maps: %s\n", strerror(-ret));
		return 1;
	}
	maps_out_begin(&out, stdout, o->format, &mode, regs->cr4 & X86_CR4_LA57, &info);
	for_each_paging_leaf(&e, &leaf, ret)
		maps_out_leaf(&out, &leaf);
	maps_out_end(&out, e.leaves, ret < 0);
	if (o->format == MAPS_TEXT || o->format == MAPS_JSON)
		warn_pdptes(&e, img, cr3, o->maxphyaddr);
	if (o->stats)
		print_stats(&e, &out);
	paging_enum_destroy(&e);
	if (fflush(stdout) || ferror(stdout)) {
		fprintf(stderr, "vmmu maps: cannot write the listing: %s\n", strerror(errno));
		return 1;
	}
	if (ret == -E2BIG)
		fprintf(stderr, "vmmu maps: stopped after %" PRIu64 " mappings (--max-mappings); the listing is incomplete\n",
			e.leaves);
	else if (ret == -ELOOP)
		fprintf(stderr, "vmmu maps: stopped after reading %" PRIu64 " page-table entries for %" PRIu64
			" mappings (runaway tables?); the listing is incomplete\n", e.entries, e.leaves);
	else if (ret < 0)
		fprintf(stderr, "vmmu maps: %s; the listing is incomplete\n", strerror(-ret));
	return ret < 0 ? 1 : 0;
}

int cmd_maps(int argc, char **argv)
{
	static char outbuf[1 << 16];
	struct maps_opts o;
	struct paging_regs regs;
	struct image img;
	char err[512];
	uint64_t cr3;
	int ret;

	ret = parse_opts(argc, argv, &o);
	if (ret)
		return ret < 0 ? 0 : ret;
	ret = image_open(&img, o.raw ? o.raw : o.core, o.raw ? IMAGE_RAW : IMAGE_ELF, o.cpu,
			 err, sizeof(err));
	if (ret) {
		fprintf(stderr, "vmmu maps: %s\n", err);
		return ret == -EINVAL ? 2 : 1;
	}
	ret = choose_regs(&o, &img, &regs, &cr3);
	if (!ret) {
		setvbuf(stdout, outbuf, _IOFBF, sizeof(outbuf));
		ret = list_mappings(&o, &img, &regs, cr3);
	}
	image_close(&img);
	return ret;
}
