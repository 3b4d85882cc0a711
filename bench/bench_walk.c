/* SPDX-License-Identifier: MIT */
/*
 * vmmu bench walk: the cost of a guest page walk through the public API.
 *
 * A real guest is built: one VM in direct mode, one memslot over prefaulted
 * host memory, and 4-level page tables in guest memory that map every 4K
 * page of the slot with 4K pages at Linux's direct-map address
 * (GVA = GVA_BASE + GPA).  A PML5 whose last entry points to the same PML4
 * makes the 5-level guest.  One vCPU per paging depth, its registers set
 * with vmmu_vcpu_set_reg() in the order a guest's boot code writes them.
 *
 * warm:   the same few GVAs walked over and over (tables in cache) with
 *         vmmu_vcpu_probe() (a full walk, no side effect: direct mode has no
 *         TLB) and vmmu_vcpu_translate() (A flags already set), inside one
 *         vmmu_vcpu_enter()/exit() bracket as an embedder's run loop would.
 * random: the data pages form one random cycle (Sattolo): the first 8 bytes
 *         of each (--spread: 8 bytes at 64 * n mod 4096) hold the GVA of the
 *         next.  The walk chase follows it through vmmu_vcpu_translate() and
 *         a load from the returned host address; the pointer chase follows
 *         the same cycle, from the same start, with plain host pointers; the
 *         C walk reads the same tables with plain loads (a software walker's
 *         floor).  All run in every round, every other round in reverse
 *         order, and the median of the per-round ratios is reported.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bench.h"
#include "bench_util.h"
#include "vmmu.h"

/* Architectural bits the guest's boot code writes. */


#define PTES_PER_PAGE	((uint64_t)512)
#define HUGE_2M		(2ull << 20)

/* Linux's direct map: PML5 entry 511, PML4 entry 273; canonical with 48 and 57 bits. */
#define GVA_BASE	0xffff888000000000ull
#define PML4_FIRST	273u
#define PML5_INDEX	511u
#define MAX_BYTES	(1ull << 40)   /* PML4 entries 273 and 274: far below 511 */
#define MIN_BYTES	(64ull << 10)

#define WARM_GVAS	8               /* a power of two */
#define ACCESS_BYTES	8u

#define DEFAULT_BYTES	(1ull << 30)
#define DEFAULT_ITERS	2000000ull
#define DEFAULT_RUNS	5u
#define QUICK_BYTES	(16ull << 20)
#define QUICK_ITERS	100000ull
#define QUICK_RUNS	3u
#define MAX_RUNS	101u

#define TARGET_WARM4_NS		20.0
#define TARGET_RANDOM_RATIO	1.5

#define ARRAY_LEN(a)	(sizeof(a) / sizeof((a)[0]))

#define PERM_SEED	0x766d6d75ull  /* "vmmu": the same cycle on every run */

enum backing { BACKING_ANON, BACKING_THP };
enum { LV4, LV5, NR_LV };

struct walk_opts {
	uint64_t bytes, iters;
	unsigned int runs;
	enum backing backing;
	bool quick, warm, random, spread;
	bool guest_2m;                  /* --guest-pages=2m */
	bool level[NR_LV];
};

struct guest {
	struct vmmu_vm *vm;
	struct vmmu_vcpu *vcpu[NR_LV];
	uint8_t *map;                   /* the whole mapping, for munmap */
	size_t map_len;
	uint8_t *host;                  /* the slot's host memory, 2M-aligned */
	uint64_t pages;                 /* 4K pages in the slot, all mapped */
	uint64_t data_pages;            /* the chase's pages: [0, data_pages) */
	uint64_t table_pages;
	uint64_t pml4_gpa, pml5_gpa;
	bool madvise_ok;
	bool spread;                    /* chase pointers at page-dependent offsets */
	bool guest_2m;                  /* data mapped with 2M pages (PDE leaves) */
	uint64_t timed_ad_updates;      /* A/D flags set during timed runs */
	long long huge_kb;              /* AnonHugePages over the slot; -1 unknown */
};

typedef int (*walk_fn)(struct vmmu_vcpu *vcpu, vmmu_gva_t gva, uint32_t size, uint32_t access,
		       struct vmmu_result *res);

static const unsigned int lv_levels[NR_LV] = { 4, 5 };

static void usage(FILE *f)
{
	fprintf(f,
		"usage: vmmu bench walk [-b BYTES] [-i ITERATIONS] [-r RUNS] [-s anonymous|thp]\n"
		"                       [--quick] [--phase=all|warm|random] [--levels=all|4|5]\n"
		"                       [--spread] [--guest-pages=4k|2m]\n"
		"\n"
		"  -b BYTES        guest memory, the random phase's working set (default 1G;\n"
		"                  K, M, G, T suffixes; a multiple of 4K, 64K to 1T)\n"
		"  -i ITERATIONS   walks or chase steps per timed run (default 2000000)\n"
		"  -r RUNS         timed runs per row, median reported (default 5)\n"
		"  -s BACKING      anonymous: 4K host pages (MADV_NOHUGEPAGE);\n"
		"                  thp: MADV_HUGEPAGE (default); both prefaulted\n"
		"  --quick         -b 16M -i 100000 -r 3: a smoke test, under a second\n"
		"  --phase=PHASE   warm (few GVAs, tables in cache), random (walk chase\n"
		"                  against a pointer chase) or all (default)\n"
		"  --levels=L      4, 5 or all (default)\n"
		"  --guest-pages=2m  map guest memory with 2M pages (as a Linux guest's\n"
		"                  direct map does) instead of 4K pages\n"
		"  --spread        put page n's pointer at offset 64 * n mod 4096, not 0,\n"
		"                  so the chased lines use every cache set\n");
}

static int bad_option(const char *fmt, const char *arg)
{
	return bench_bad_option("walk", usage, fmt, arg);
}

/* Returns 0, 2 (usage error), or -1 after --help. */
static int parse_opts(int argc, char **argv, struct walk_opts *o)
{
	enum { OPT_QUICK = 0x100, OPT_PHASE, OPT_LEVELS, OPT_SPREAD, OPT_GUEST_PAGES };
	static const struct option longopts[] = {
		{ "bytes", required_argument, NULL, 'b' },
		{ "iterations", required_argument, NULL, 'i' },
		{ "runs", required_argument, NULL, 'r' },
		{ "backing", required_argument, NULL, 's' },
		{ "quick", no_argument, NULL, OPT_QUICK },
		{ "phase", required_argument, NULL, OPT_PHASE },
		{ "levels", required_argument, NULL, OPT_LEVELS },
		{ "spread", no_argument, NULL, OPT_SPREAD },
		{ "guest-pages", required_argument, NULL, OPT_GUEST_PAGES },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	bool set_bytes = false, set_iters = false, set_runs = false;
	uint64_t v;
	int c;

	*o = (struct walk_opts){
		.bytes = DEFAULT_BYTES, .iters = DEFAULT_ITERS, .runs = DEFAULT_RUNS,
		.backing = BACKING_THP, .warm = true, .random = true,
		.level = { true, true },
	};
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":b:i:r:s:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'b':
			if (bench_parse_size(optarg, &v))
				return bad_option("bad size '%s' (digits with K, M, G or T)", optarg);
			if (v % GUEST_PAGE || v < MIN_BYTES || v > MAX_BYTES)
				return bad_option("size '%s' must be a multiple of 4K from 64K to 1T",
						  optarg);
			o->bytes = v;
			set_bytes = true;
			break;
		case 'i':
			if (bench_parse_count(optarg, &v) || v > (1ull << 40))
				return bad_option("bad iteration count '%s'", optarg);
			o->iters = v;
			set_iters = true;
			break;
		case 'r':
			if (bench_parse_count(optarg, &v) || v > MAX_RUNS)
				return bad_option("bad run count '%s' (1 to 101)", optarg);
			o->runs = (unsigned int)v;
			set_runs = true;
			break;
		case 's':
			if (!strcmp(optarg, "anonymous"))
				o->backing = BACKING_ANON;
			else if (!strcmp(optarg, "thp"))
				o->backing = BACKING_THP;
			else
				return bad_option("unknown backing '%s' (anonymous or thp)", optarg);
			break;
		case OPT_QUICK:
			o->quick = true;
			break;
		case OPT_GUEST_PAGES:
			if (!strcmp(optarg, "4k") || !strcmp(optarg, "2m"))
				o->guest_2m = !strcmp(optarg, "2m");
			else
				return bad_option("--guest-pages must be 4k or 2m, not '%s'", optarg);
			break;
		case OPT_SPREAD:
			o->spread = true;
			break;
		case OPT_PHASE:
			o->warm = !strcmp(optarg, "all") || !strcmp(optarg, "warm");
			o->random = !strcmp(optarg, "all") || !strcmp(optarg, "random");
			if (!o->warm && !o->random)
				return bad_option("unknown phase '%s' (all, warm or random)", optarg);
			break;
		case OPT_LEVELS:
			o->level[LV4] = !strcmp(optarg, "all") || !strcmp(optarg, "4");
			o->level[LV5] = !strcmp(optarg, "all") || !strcmp(optarg, "5");
			if (!o->level[LV4] && !o->level[LV5])
				return bad_option("unknown levels '%s' (all, 4 or 5)", optarg);
			break;
		default:
			return bench_opt_common("walk", usage, c, argv);
		}
	}
	if (bench_opt_end("walk", usage, argc, argv))
		return 2;
	if (o->quick) {
		if (!set_bytes)
			o->bytes = QUICK_BYTES;
		if (!set_iters)
			o->iters = QUICK_ITERS;
		if (!set_runs)
			o->runs = QUICK_RUNS;
	}
	return 0;
}


/* Page-table pages that map @pages 4K pages: PTs, PDs, PDPTs, PML4, PML5. */
static uint64_t table_pages_for(uint64_t pages)
{
	return bench_div_up(pages, PTES_PER_PAGE) + bench_div_up(pages, PTES_PER_PAGE * PTES_PER_PAGE) +
	       bench_div_up(pages, PTES_PER_PAGE * PTES_PER_PAGE * PTES_PER_PAGE) + 2;
}

/* Host memory for the slot: 2M-aligned, advised, every 4K page touched. */
static int guest_alloc(struct guest *g, enum backing backing)
{
	uint64_t size = g->pages * GUEST_PAGE;
	long phys = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
	uintptr_t start, aligned;

	if (phys > 0 && psz > 0 && size > (uint64_t)phys * (uint64_t)psz) {
		fprintf(stderr, "vmmu bench walk: %" PRIu64 " MiB of guest memory is more than "
			"this machine's RAM\n", size >> 20);
		return -1;
	}
	g->map_len = size + HUGE_2M;
	g->map = mmap(NULL, g->map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		      -1, 0);
	if (g->map == MAP_FAILED) {
		g->map = NULL;
		fprintf(stderr, "vmmu bench walk: cannot allocate %" PRIu64 " MiB of guest memory: %s\n",
			size >> 20, strerror(errno));
		return -1;
	}
	start = (uintptr_t)g->map;
	aligned = (start + HUGE_2M - 1) & ~(uintptr_t)(HUGE_2M - 1);
	g->host = (uint8_t *)aligned;
	g->madvise_ok = !madvise(g->host, size,
				 backing == BACKING_THP ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
	for (uint64_t off = 0; off < size; off += GUEST_PAGE)
		((volatile uint8_t *)g->host)[off] = 0;
	g->huge_kb = bench_smaps_huge_kb(aligned, aligned + size);
	return 0;
}

static inline uint64_t *host_entry(const struct guest *g, uint64_t gpa)
{
	return (uint64_t *)(g->host + gpa);
}

/*
 * Page tables after the data: every PT, then the PDs, the PDPTs, the PML4
 * and the PML5, each level contiguous, so the entry for page n of a level
 * is entry n of that level's array.  A flags are clear (the first
 * translate sets them); leaves are supervisor, writable, NX.
 */
static void guest_build_tables(struct guest *g)
{
	uint64_t npt = bench_div_up(g->pages, PTES_PER_PAGE);
	uint64_t npd = bench_div_up(npt, PTES_PER_PAGE);
	uint64_t npdpt = bench_div_up(npd, PTES_PER_PAGE);
	uint64_t pt_gpa = (g->pages - g->table_pages) * GUEST_PAGE;
	uint64_t pd_gpa = pt_gpa + npt * GUEST_PAGE;
	uint64_t pdpt_gpa = pd_gpa + npd * GUEST_PAGE;
	uint64_t n;

	g->pml4_gpa = pdpt_gpa + npdpt * GUEST_PAGE;
	g->pml5_gpa = g->pml4_gpa + GUEST_PAGE;
	for (n = 0; n < g->pages; n++)
		host_entry(g, pt_gpa)[n] = n * GUEST_PAGE | PTE_NX | PTE_RW | PTE_P;
	for (n = 0; n < npt; n++)
		host_entry(g, pd_gpa)[n] = g->guest_2m ?
			(n * HUGE_2M) | PTE_PS | PTE_NX | PTE_RW | PTE_P :
			(pt_gpa + n * GUEST_PAGE) | PTE_RW | PTE_P;
	for (n = 0; n < npd; n++)
		host_entry(g, pdpt_gpa)[n] = (pd_gpa + n * GUEST_PAGE) | PTE_RW | PTE_P;
	for (n = 0; n < npdpt; n++)
		host_entry(g, g->pml4_gpa)[PML4_FIRST + n] = (pdpt_gpa + n * GUEST_PAGE) |
							     PTE_RW | PTE_P;
	host_entry(g, g->pml5_gpa)[PML5_INDEX] = g->pml4_gpa | PTE_RW | PTE_P;
}

static uint64_t splitmix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Where page @n keeps the GVA of the next page. */
static uint64_t chase_offset(const struct guest *g, uint64_t n)
{
	return g->spread ? (n * 64) % GUEST_PAGE : 0;
}

static vmmu_gva_t chase_gva(const struct guest *g, uint64_t n)
{
	return GVA_BASE + n * GUEST_PAGE + chase_offset(g, n);
}

/* The data pages as one random cycle (Sattolo's algorithm). */
static int guest_build_cycle(struct guest *g)
{
	uint64_t n = g->data_pages, state = PERM_SEED;
	uint32_t *next = malloc(n * sizeof(*next));

	if (!next) {
		fprintf(stderr, "vmmu bench walk: cannot allocate the permutation (%" PRIu64
			" pages)\n", n);
		return -1;
	}
	for (uint64_t i = 0; i < n; i++)
		next[i] = (uint32_t)i;
	for (uint64_t i = n - 1; i > 0; i--) {
		uint64_t j = splitmix64(&state) % i;
		uint32_t t = next[i];

		next[i] = next[j];
		next[j] = t;
	}
	for (uint64_t i = 0; i < n; i++)
		*host_entry(g, i * GUEST_PAGE + chase_offset(g, i)) = chase_gva(g, next[i]);
	free(next);
	return 0;
}

/* Long mode as boot code enters it: EFER, CR4, CR3, then CR0.PG. */
static int vcpu_boot(struct vmmu_vcpu *v, uint64_t cr3, bool la57)
{
	if (vmmu_vcpu_set_reg(v, VMMU_REG_EFER, EFER_LME | EFER_NXE) ||
	    vmmu_vcpu_set_reg(v, VMMU_REG_CR4, CR4_PAE | (la57 ? CR4_LA57 : 0)) ||
	    vmmu_vcpu_set_reg(v, VMMU_REG_CR3, cr3) ||
	    vmmu_vcpu_set_reg(v, VMMU_REG_CR0, CR0_PG | CR0_WP | CR0_ET | CR0_PE))
		return -1;
	return 0;
}

static void guest_destroy(struct guest *g)
{
	for (unsigned int l = 0; l < NR_LV; l++)
		vmmu_vcpu_destroy(g->vcpu[l]);
	if (g->vm)
		vmmu_vm_destroy(g->vm);
	if (g->map)
		munmap(g->map, g->map_len);
}

static int guest_create(struct guest *g, const struct walk_opts *o)
{
	struct vmmu_vm_config cfg = { .size = sizeof(cfg), .mmu = VMMU_MMU_DIRECT };
	struct vmmu_memslot slot = { 0 };
	int ret;

	memset(g, 0, sizeof(*g));
	g->data_pages = o->bytes / GUEST_PAGE;
	/* Tables for the whole slot, which is padded to 2M for THP. */
	g->pages = bench_div_up(g->data_pages + table_pages_for(g->data_pages), PTES_PER_PAGE) *
		   PTES_PER_PAGE;
	while (g->data_pages + table_pages_for(g->pages) > g->pages)
		g->pages += PTES_PER_PAGE;
	g->table_pages = table_pages_for(g->pages);
	g->spread = o->spread;
	g->guest_2m = o->guest_2m;

	if (guest_alloc(g, o->backing))
		return -1;
	guest_build_tables(g);
	if (guest_build_cycle(g))
		return -1;

	ret = vmmu_vm_create(&cfg, &g->vm);
	if (ret) {
		g->vm = NULL;
		fprintf(stderr, "vmmu bench walk: vmmu_vm_create: %s\n", vmmu_strerror(ret));
		return -1;
	}
	slot.gpa = 0;
	slot.size = g->pages * GUEST_PAGE;
	slot.hva = g->host;
	ret = vmmu_memslot_add(g->vm, &slot);
	if (ret) {
		fprintf(stderr, "vmmu bench walk: vmmu_memslot_add: %s\n", vmmu_strerror(ret));
		return -1;
	}
	for (unsigned int l = 0; l < NR_LV; l++) {
		if (!o->level[l])
			continue;
		ret = vmmu_vcpu_create(g->vm, l, &g->vcpu[l]);
		if (ret) {
			g->vcpu[l] = NULL;
			fprintf(stderr, "vmmu bench walk: vmmu_vcpu_create: %s\n", vmmu_strerror(ret));
			return -1;
		}
		if (vcpu_boot(g->vcpu[l], l == LV5 ? g->pml5_gpa : g->pml4_gpa, l == LV5)) {
			fprintf(stderr, "vmmu bench walk: the %u-level guest does not boot\n",
				lv_levels[l]);
			return -1;
		}
	}
	return 0;
}

/* ---- output ---------------------------------------------------------- */

static uint64_t ad_updates(const struct guest *g)
{
	struct vmmu_stats st = { .size = sizeof(st) };

	vmmu_vm_get_stats(g->vm, &st);
	return st.ad_updates;
}

static void print_header(void)
{
	printf("%-7s %-11s %6s %10s %10s %12s  %-10s %s\n",
	       "phase", "call", "levels", "ns/op", "best", "ops", "target", "result");
}

static void print_row(const char *phase, const char *call, unsigned int levels, double med,
		      double best, uint64_t ops, double target_ns)
{
	char lv[12] = "-", target[16] = "-";

	if (levels)
		snprintf(lv, sizeof(lv), "%u", levels);
	if (target_ns > 0)
		snprintf(target, sizeof(target), "<= %.0f ns", target_ns);
	printf("%-7s %-11s %6s %10.1f %10.1f %12" PRIu64 "  %-10s %s\n", phase, call, lv, med,
	       best, ops, target, target_ns > 0 ? (med <= target_ns ? "PASS" : "MISS") : "");
}

static void print_ratio(const char *call, unsigned int levels, double med, double best,
			bool target)
{
	printf("%-7s %-11s %6u %9.2fx %9.2fx %12s  %-10s %s\n", "random", call, levels, med,
	       best, "", target ? "<= 1.5x" : "-",
	       target ? (med <= TARGET_RANDOM_RATIO ? "PASS" : "MISS") : "");
}

/* ---- warm phase ------------------------------------------------------- */

/* One timed run: @iters walks over the warm GVAs inside one guest-mode bracket. */
static int warm_run(struct vmmu_vcpu *v, walk_fn fn, const vmmu_gva_t *gvas, uint64_t iters,
		    double *ns)
{
	struct vmmu_result res;
	uint64_t sum = 0, t0, t1;
	uint32_t bad = 0;

	if (vmmu_vcpu_enter(v))
		return -1;
	t0 = bench_now_ns();
	for (uint64_t i = 0; i < iters; i++) {
		int ret = fn(v, gvas[i & (WARM_GVAS - 1)], ACCESS_BYTES, VMMU_ACCESS_READ, &res);

		bad |= (uint32_t)ret | res.outcome;
		sum += res.gpa;
	}
	t1 = bench_now_ns();
	vmmu_vcpu_exit(v);
	bench_sink = sum;
	*ns = (double)(t1 - t0) / (double)iters;
	return bad ? -1 : 0;
}

/* GVAs on pages spread over the data, at different offsets; checked once. */
static int warm_gvas(const struct guest *g, struct vmmu_vcpu *v, vmmu_gva_t *gvas)
{
	for (unsigned int k = 0; k < WARM_GVAS; k++) {
		uint64_t page = k * (g->data_pages / WARM_GVAS), off = 64 * k + 8;
		struct vmmu_result res;

		gvas[k] = GVA_BASE + page * GUEST_PAGE + off;
		if (vmmu_vcpu_probe(v, gvas[k], ACCESS_BYTES, VMMU_ACCESS_READ, &res) ||
		    res.outcome != VMMU_OK || res.gpa != page * GUEST_PAGE + off ||
		    res.hva != g->host + page * GUEST_PAGE + off)
			return -1;
	}
	return 0;
}

static int phase_warm(struct guest *g, const struct walk_opts *o)
{
	static const struct {
		const char *name;
		walk_fn fn;
	} calls[] = {
		{ "probe", vmmu_vcpu_probe },
		{ "translate", vmmu_vcpu_translate },
	};
	double ns[MAX_RUNS], dummy, best;
	vmmu_gva_t gvas[WARM_GVAS];

	for (unsigned int l = 0; l < NR_LV; l++) {
		struct vmmu_vcpu *v = g->vcpu[l];

		if (!v)
			continue;
		if (warm_gvas(g, v, gvas)) {
			fprintf(stderr, "vmmu bench walk: warm GVAs do not translate as built\n");
			return -1;
		}
		for (unsigned int c = 0; c < ARRAY_LEN(calls); c++) {
			uint64_t ad;

			/* Untimed pass: caches warm, A flags set. */
			if (warm_run(v, calls[c].fn, gvas, o->iters / 10 + WARM_GVAS, &dummy))
				goto fail;
			ad = ad_updates(g);
			for (unsigned int r = 0; r < o->runs; r++)
				if (warm_run(v, calls[c].fn, gvas, o->iters, &ns[r]))
					goto fail;
			g->timed_ad_updates += ad_updates(g) - ad;
			best = bench_min(ns, o->runs);
			/* The target is for a full 4-level walk, down to a 4K leaf. */
			print_row("warm", calls[c].name, lv_levels[l],
				  bench_median(ns, o->runs), best, o->iters * o->runs,
				  l == LV4 && !g->guest_2m ? TARGET_WARM4_NS : 0);
		}
	}
	return 0;
fail:
	fprintf(stderr, "vmmu bench walk: a warm walk did not return VMMU_OK\n");
	return -1;
}

/* ---- random phase ----------------------------------------------------- */

static uint64_t host_chase(const uint8_t *host, vmmu_gva_t gva, uint64_t steps)
{
	for (uint64_t i = 0; i < steps; i++)
		gva = *(const uint64_t *)(host + (gva - GVA_BASE));
	return gva;
}

/*
 * The floor of any software walker: the same tables read with plain loads
 * from host memory (one slot at host address 0 of the guest), present bits
 * checked, no API, no memslot lookup, no permission check.  A reference
 * row only: it shows how much of the walk chase is the memory itself.
 */
static uint64_t c_walk_chase(const uint8_t *host, uint64_t root, unsigned int levels,
			     vmmu_gva_t gva, uint64_t steps)
{
	for (uint64_t i = 0; i < steps; i++) {
		uint64_t table = root, e = 0, offset = GUEST_PAGE - 1;

		for (unsigned int l = levels; l >= 1; l--) {
			unsigned int shift = 12 + 9 * (l - 1);

			e = *(const uint64_t *)(host + table + ((gva >> shift) & 511) * 8);
			if (!(e & PTE_P))
				return 0;
			if (l == 2 && (e & PTE_PS)) {
				offset = HUGE_2M - 1;
				table = e & 0x000fffffffe00000ull;
				break;
			}
			table = e & 0x000ffffffffff000ull;
		}
		gva = *(const uint64_t *)(host + table + (gva & offset));
	}
	return gva;
}

/* Follows the cycle through guest translation; -1 on any other outcome. */
static int walk_chase(struct vmmu_vcpu *v, vmmu_gva_t *gvap, uint64_t steps)
{
	vmmu_gva_t gva = *gvap;
	struct vmmu_result res;
	int ret = 0;

	if (vmmu_vcpu_enter(v))
		return -1;
	for (uint64_t i = 0; i < steps; i++) {
		if (vmmu_vcpu_translate(v, gva, ACCESS_BYTES, VMMU_ACCESS_READ, &res) ||
		    res.outcome != VMMU_OK) {
			ret = -1;
			break;
		}
		gva = *(const uint64_t *)res.hva;
	}
	vmmu_vcpu_exit(v);
	*gvap = gva;
	return ret;
}

/* The chasers of one run: the host chase, then per paging depth the C walk
 * and the translate chase. */
enum { CH_HOST, CH_C4, CH_API4, CH_C5, CH_API5, NR_CH };

static int chase_one(struct guest *g, unsigned int ch, vmmu_gva_t start, uint64_t steps,
		     vmmu_gva_t *end)
{
	unsigned int l = ch >= CH_C5 ? LV5 : LV4;
	uint64_t root = l == LV5 ? g->pml5_gpa : g->pml4_gpa;

	*end = start;
	switch (ch) {
	case CH_HOST:
		*end = host_chase(g->host, start, steps);
		return 0;
	case CH_C4:
	case CH_C5:
		*end = c_walk_chase(g->host, root, lv_levels[l], start, steps);
		return 0;
	default:
		return walk_chase(g->vcpu[l], end, steps);
	}
}

static bool chase_runs(const struct guest *g, unsigned int ch)
{
	return ch == CH_HOST || g->vcpu[ch >= CH_C5 ? LV5 : LV4];
}

static int phase_random(struct guest *g, const struct walk_opts *o)
{
	static const char *const names[NR_CH] = {
		"host chase", "C walk", "translate", "C walk", "translate",
	};
	double ns[NR_CH][MAX_RUNS], ratio[MAX_RUNS];
	const vmmu_gva_t start = chase_gva(g, 0);
	vmmu_gva_t end, gva;
	uint64_t t0, ad;

	/* Untimed: one whole cycle each, which must come back to the start
	 * (and sets the A flags of every entry the translates use). */
	for (unsigned int ch = 0; ch < NR_CH; ch++) {
		if (!chase_runs(g, ch))
			continue;
		if (chase_one(g, ch, start, g->data_pages, &gva) || gva != start) {
			fprintf(stderr, "vmmu bench walk: %s did not follow the page cycle (GVA %#"
				PRIx64 ")\n", names[ch], gva);
			return -1;
		}
	}
	end = host_chase(g->host, start, o->iters);

	ad = ad_updates(g);
	for (unsigned int r = 0; r < o->runs; r++) {
		/* Every other run in reverse order, so drift hits all alike. */
		for (unsigned int k = 0; k < NR_CH; k++) {
			unsigned int ch = r & 1 ? NR_CH - 1 - k : k;

			if (!chase_runs(g, ch))
				continue;
			t0 = bench_now_ns();
			if (chase_one(g, ch, start, o->iters, &gva))
				goto fail;
			ns[ch][r] = (double)(bench_now_ns() - t0) / (double)o->iters;
			if (gva != end)
				goto fail;
		}
	}
	g->timed_ad_updates += ad_updates(g) - ad;

	for (unsigned int ch = 0; ch < NR_CH; ch++) {
		unsigned int levels = ch == CH_HOST ? 0 : lv_levels[ch >= CH_C5 ? LV5 : LV4];

		if (!chase_runs(g, ch))
			continue;
		for (unsigned int r = 0; r < o->runs; r++)
			ratio[r] = ns[ch][r] / ns[CH_HOST][r];
		print_row("random", names[ch], levels, bench_median(ns[ch], o->runs),
			  bench_min(ns[ch], o->runs), o->iters * o->runs, 0);
		if (ch != CH_HOST)
			print_ratio(ch == CH_C4 || ch == CH_C5 ? "C ratio" : "ratio", levels,
				    bench_median(ratio, o->runs), bench_min(ratio, o->runs),
				    ch == CH_API4);
	}
	return 0;
fail:
	fprintf(stderr, "vmmu bench walk: the walk chase went astray (GVA %#" PRIx64 ")\n", gva);
	return -1;
}

int bench_walk(int argc, char **argv)
{
	struct walk_opts o;
	struct guest g;
	uint64_t t0;
	int ret = parse_opts(argc, argv, &o);

	if (ret)
		return ret < 0 ? 0 : ret;
	if (o.level[LV5] && !(vmmu_capabilities() & VMMU_CAP_LA57)) {
		if (!o.level[LV4]) {
			fprintf(stderr, "vmmu bench walk: this libvmmu has no 5-level paging\n");
			return 1;
		}
		o.level[LV5] = false;
	}

	t0 = bench_now_ns();
	if (guest_create(&g, &o)) {
		guest_destroy(&g);
		return 1;
	}
	printf("vmmu bench walk%s: %" PRIu64 " %s of guest data (%" PRIu64 " pages) + %" PRIu64
	       " page-table pages, one memslot, every page mapped with %s pages\n",
	       o.quick ? " --quick" : "", o.bytes % (1u << 20) ? o.bytes >> 10 : o.bytes >> 20,
	       o.bytes % (1u << 20) ? "KiB" : "MiB", g.data_pages, g.table_pages,
	       g.guest_2m ? "2M" : "4K");
	printf("backing: %s (%s%s), prefaulted by touching every 4K page",
	       o.backing == BACKING_THP ? "thp" : "anonymous",
	       o.backing == BACKING_THP ? "MADV_HUGEPAGE" : "MADV_NOHUGEPAGE",
	       g.madvise_ok ? "" : " failed");
	if (g.huge_kb >= 0)
		printf("; AnonHugePages %lld of %" PRIu64 " MiB", g.huge_kb >> 10,
		       (g.pages * GUEST_PAGE) >> 20);
	printf("; setup %.2f s\n", (double)(bench_now_ns() - t0) / 1e9);
	printf("timing: CLOCK_MONOTONIC, %" PRIu64 " ops per run, %u run(s) per row; ns/op is the "
	       "median run, best the fastest\n\n", o.iters, o.runs);
	print_header();

	ret = 0;
	if (o.warm && phase_warm(&g, &o))
		ret = 1;
	if (!ret && o.random && phase_random(&g, &o))
		ret = 1;
	if (!ret) {
		printf("\nwarm: %u GVAs walked in turn, %u-byte reads, in one vmmu_vcpu_enter/exit "
		       "bracket per run\n", WARM_GVAS, ACCESS_BYTES);
		if (o.random)
			printf("random: %" PRIu64 "-page cycle, pointers at %s; host chase: plain "
			       "pointers;\n        C walk: "
			       "the same tables read with plain loads, no API (a software walker's\n"
			       "        floor); ratio: translate / host chase, median of the per-run "
			       "ratios\n", g.data_pages,
			       g.spread ? "offset 64 * n mod 4096 (--spread)" : "offset 0 of each page");
		printf("guest mappings: %s\n", g.guest_2m ?
		       "2M pages (PDE leaves), as a Linux guest's direct map" : "4K pages");
		printf("A/D updates during timed runs: %" PRIu64 " (A flags set by untimed passes)\n",
		       g.timed_ad_updates);
		if (o.quick)
			printf("--quick: sizes too small for the targets; a smoke test, not a measurement\n");
	}
	guest_destroy(&g);
	return ret;
}
