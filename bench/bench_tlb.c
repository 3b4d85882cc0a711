/* SPDX-License-Identifier: MIT */
/*
 * vmmu bench tlb: the cost of a software-TLB hit (issue 4), through the
 * public API only.
 *
 * One VM in direct mode, one memslot over prefaulted host memory, 4-level
 * guest page tables that map it with 4K pages at Linux's direct-map address
 * (GVA = GVA_BASE + GPA).  The working set is -p pages (default 64, all in
 * the TLB at once); page n holds, in its first 8 bytes, the GVA of page n+1
 * (the last points back to the first), so a chase follows them in turn.
 *
 * Rows, each inside one vmmu_vcpu_enter()/exit() bracket as an embedder's
 * run loop holds it, after an untimed pass that fills the TLB (and sets A/D):
 * inline:    vmmu_tlb_lookup_inline() over the working set, the host pointers
 *            summed (independent lookups: throughput); read and write kinds;
 * chase:     gva = *(u64 *)vmmu_tlb_lookup_inline(gva) (dependent: lookup
 *            latency plus the load), against the same chase with plain host
 *            pointers;
 * library:   vmmu_vcpu_translate() and vmmu_vcpu_read() served by the TLB;
 * miss:      vmmu_vcpu_translate() alternating between two pages that share a
 *            TLB entry (every call walks and refills), and vmmu_vcpu_probe()
 *            (a full walk, never the TLB).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "bench.h"
#include "bench_util.h"
#include "vmmu.h"


#define GVA_BASE	0xffff888000000000ull
#define PML4_INDEX	273u
#define SLOT_BYTES	(8ull << 20)        /* data pages, then the tables */
#define TABLE_GPA	(SLOT_BYTES - 16 * GUEST_PAGE)
#define MAX_PAGES	1024u
#define MAX_RUNS	101u

#define DEFAULT_ITERS	20000000ull
#define DEFAULT_RUNS	7u
#define DEFAULT_PAGES	64u
#define QUICK_ITERS	1000000ull
#define QUICK_RUNS	3u

#define TARGET_INLINE_NS 2.0

struct tlb_opts {
	uint64_t iters;
	unsigned int runs, pages;
	bool quick;
};

struct tlb_guest {
	struct vmmu_vm *vm;
	struct vmmu_vcpu *vcpu;
	uint8_t *host;
	vmmu_gva_t gvas[MAX_PAGES];
	unsigned int pages;
	vmmu_gva_t conflict[2];         /* two pages that share a TLB entry */
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: vmmu bench tlb [-i ITERATIONS] [-r RUNS] [-p PAGES] [--quick]\n"
		"\n"
		"  -i ITERATIONS  operations per timed run (default 20000000)\n"
		"  -r RUNS        timed runs per row, median reported (default 7)\n"
		"  -p PAGES       working set in 4K pages, a power of two, 1 to 256 (default 64)\n"
		"  --quick        -i 1000000 -r 3: a smoke test\n");
}

static int bad_option(const char *fmt, const char *arg)
{
	return bench_bad_option("tlb", usage, fmt, arg);
}

static int parse_opts(int argc, char **argv, struct tlb_opts *o)
{
	enum { OPT_QUICK = 0x100 };
	static const struct option longopts[] = {
		{ "iterations", required_argument, NULL, 'i' },
		{ "runs", required_argument, NULL, 'r' },
		{ "pages", required_argument, NULL, 'p' },
		{ "quick", no_argument, NULL, OPT_QUICK },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	bool set_iters = false, set_runs = false;
	uint64_t v;
	int c;

	*o = (struct tlb_opts){ .iters = DEFAULT_ITERS, .runs = DEFAULT_RUNS,
				.pages = DEFAULT_PAGES };
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":i:r:p:h", longopts, NULL)) != -1) {
		switch (c) {
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
		case 'p':
			if (bench_parse_count(optarg, &v) || v > 256 || (v & (v - 1)))
				return bad_option("bad page count '%s' (a power of two, 1 to 256)",
						  optarg);
			o->pages = (unsigned int)v;
			break;
		case OPT_QUICK:
			o->quick = true;
			break;
		default:
			return bench_opt_common("tlb", usage, c, argv);
		}
	}
	if (bench_opt_end("tlb", usage, argc, argv))
		return 2;
	if (o->quick) {
		if (!set_iters)
			o->iters = QUICK_ITERS;
		if (!set_runs)
			o->runs = QUICK_RUNS;
	}
	return 0;
}

/* PML4 273 -> PDPT -> 4 PDs -> PTs: the whole slot at GVA_BASE + GPA, 4K
 * pages, supervisor, writable, NX. */
static void build_tables(uint8_t *host)
{
	uint64_t *pml4 = (uint64_t *)(host + TABLE_GPA);
	uint64_t *pdpt = pml4 + 512, *pd = pdpt + 512;
	uint64_t pt_gpa = TABLE_GPA + 3 * GUEST_PAGE;
	uint64_t pages = SLOT_BYTES / GUEST_PAGE;

	pml4[PML4_INDEX] = (TABLE_GPA + GUEST_PAGE) | PTE_RW | PTE_P;
	pdpt[0] = (TABLE_GPA + 2 * GUEST_PAGE) | PTE_RW | PTE_P;
	for (uint64_t n = 0; n < pages / 512; n++)
		pd[n] = (pt_gpa + n * GUEST_PAGE) | PTE_RW | PTE_P;
	for (uint64_t n = 0; n < pages; n++)
		((uint64_t *)(host + pt_gpa))[n] = n * GUEST_PAGE | PTE_NX | PTE_RW | PTE_P;
}

static void guest_destroy(struct tlb_guest *g)
{
	vmmu_vcpu_destroy(g->vcpu);
	if (g->vm)
		vmmu_vm_destroy(g->vm);
	if (g->host)
		munmap(g->host, SLOT_BYTES);
}

static int guest_create(struct tlb_guest *g, unsigned int pages)
{
	struct vmmu_vm_config cfg = { .size = sizeof(cfg), .mmu = VMMU_MMU_DIRECT, .max_vcpus = 1 };
	struct vmmu_memslot slot = { .gpa = 0, .size = SLOT_BYTES };
	const struct vmmu_tlb *t;
	void *host;

	memset(g, 0, sizeof(*g));
	host = mmap(NULL, SLOT_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (host == MAP_FAILED) {
		fprintf(stderr, "vmmu bench tlb: cannot allocate guest memory: %s\n",
			strerror(errno));
		return -1;
	}
	g->host = host;
	memset(g->host, 0, SLOT_BYTES);
	build_tables(g->host);
	/* The working set: consecutive pages from 1 MiB, a ring of pointers. */
	g->pages = pages;
	for (unsigned int n = 0; n < pages; n++)
		g->gvas[n] = GVA_BASE + (256 + n) * GUEST_PAGE;
	for (unsigned int n = 0; n < pages; n++)
		memcpy(g->host + (g->gvas[n] - GVA_BASE), &g->gvas[(n + 1) % pages], 8);

	slot.hva = g->host;
	if (vmmu_vm_create(&cfg, &g->vm) || vmmu_memslot_add(g->vm, &slot) ||
	    vmmu_vcpu_create(g->vm, 0, &g->vcpu)) {
		fprintf(stderr, "vmmu bench tlb: cannot create the guest\n");
		return -1;
	}
	if (vmmu_vcpu_set_reg(g->vcpu, VMMU_REG_EFER, EFER_LME | EFER_NXE) ||
	    vmmu_vcpu_set_reg(g->vcpu, VMMU_REG_CR4, CR4_PAE) ||
	    vmmu_vcpu_set_reg(g->vcpu, VMMU_REG_CR3, TABLE_GPA) ||
	    vmmu_vcpu_set_reg(g->vcpu, VMMU_REG_CR0, CR0_PG | CR0_WP | CR0_ET | CR0_PE)) {
		fprintf(stderr, "vmmu bench tlb: the guest does not boot\n");
		return -1;
	}
	/* Two pages far from the working set that share one TLB entry. */
	t = vmmu_vcpu_tlb(g->vcpu);
	g->conflict[0] = GVA_BASE + 1100 * GUEST_PAGE;
	for (vmmu_gva_t gva = g->conflict[0] + GUEST_PAGE; gva < GVA_BASE + TABLE_GPA;
	     gva += GUEST_PAGE)
		if (vmmu_tlb_entry_of(t, gva) == vmmu_tlb_entry_of(t, g->conflict[0])) {
			g->conflict[1] = gva;
			return 0;
		}
	fprintf(stderr, "vmmu bench tlb: no two pages share a TLB entry\n");
	return -1;
}

/* Fills the TLB for the working set, for reads and writes (sets D). */
static int warm_up(struct tlb_guest *g)
{
	struct vmmu_result res;

	for (unsigned int n = 0; n < g->pages; n++) {
		uint64_t x;

		if (vmmu_vcpu_read(g->vcpu, g->gvas[n], &x, 8, VMMU_ACCESS_READ, &res) ||
		    res.outcome != VMMU_OK ||
		    vmmu_vcpu_write(g->vcpu, g->gvas[n] + 8, &x, 8, VMMU_ACCESS_WRITE, &res) ||
		    res.outcome != VMMU_OK)
			return -1;
	}
	return 0;
}

enum row {
	ROW_INLINE_READ, ROW_INLINE_WRITE, ROW_INLINE_CHASE, ROW_HOST_CHASE,
	ROW_TRANSLATE_HIT, ROW_READ_HIT, ROW_TRANSLATE_MISS, ROW_PROBE, NR_ROWS
};

static const char *const row_name[NR_ROWS] = {
	"inline hit, read", "inline hit, write", "inline chase", "host chase",
	"translate hit", "vcpu_read hit", "translate miss", "probe (walk)",
};

/* The sum of the host addresses of @iters accesses at @offset in the
 * working set's pages in turn: what the inline rows must add up to. */
static uint64_t expect_sum(const struct tlb_guest *g, uint64_t iters, unsigned int offset)
{
	uint64_t sum = 0;

	for (uint64_t i = 0; i < iters; i++)
		sum += (uintptr_t)(g->host + (g->gvas[i & (g->pages - 1)] - GVA_BASE) + offset);
	return sum;
}

/* One timed run of @row: nanoseconds per operation, or a negative value
 * if some operation did not take the path the row measures. */
static double run_row(struct tlb_guest *g, enum row row, uint64_t iters)
{
	const struct vmmu_tlb *t = vmmu_vcpu_tlb(g->vcpu);
	const unsigned int mask = g->pages - 1;
	const vmmu_gva_t *gvas = g->gvas;
	uint64_t sum = 0, misses = 0, t0, t1;
	struct vmmu_result res;
	vmmu_gva_t gva = gvas[0];

	if (vmmu_vcpu_enter(g->vcpu))
		return -1;
	t0 = bench_now_ns();
	switch (row) {
	case ROW_INLINE_READ:
		for (uint64_t i = 0; i < iters; i++)
			sum += (uintptr_t)vmmu_tlb_lookup_inline(t, gvas[i & mask], 8, VMMU_TLB_READ);
		misses = sum != expect_sum(g, iters, 0);
		break;
	case ROW_INLINE_WRITE:
		for (uint64_t i = 0; i < iters; i++)
			sum += (uintptr_t)vmmu_tlb_lookup_inline(t, gvas[i & mask] + 8, 8,
								 VMMU_TLB_WRITE);
		misses = sum != expect_sum(g, iters, 8);
		break;
	case ROW_INLINE_CHASE:
		for (uint64_t i = 0; i < iters; i++) {
			const uint64_t *p = vmmu_tlb_lookup_inline(t, gva, 8, VMMU_TLB_READ);

			if (__builtin_expect(!p, 0)) {
				misses++;
				break;
			}
			gva = *p;
		}
		sum = gva;
		break;
	case ROW_HOST_CHASE:
		for (uint64_t i = 0; i < iters; i++)
			gva = *(const uint64_t *)(g->host + (gva - GVA_BASE));
		sum = gva;
		break;
	case ROW_TRANSLATE_HIT:
		for (uint64_t i = 0; i < iters; i++) {
			vmmu_vcpu_translate(g->vcpu, gvas[i & mask], 8, VMMU_ACCESS_READ, &res);
			misses += res.outcome != VMMU_OK;
			sum += (uintptr_t)res.hva;
		}
		break;
	case ROW_READ_HIT:
		for (uint64_t i = 0; i < iters; i++) {
			uint64_t x;

			vmmu_vcpu_read(g->vcpu, gvas[i & mask], &x, 8, VMMU_ACCESS_READ, &res);
			misses += res.outcome != VMMU_OK;
			sum += x;
		}
		break;
	case ROW_TRANSLATE_MISS:
		for (uint64_t i = 0; i < iters; i++) {
			vmmu_vcpu_translate(g->vcpu, g->conflict[i & 1], 8, VMMU_ACCESS_READ, &res);
			misses += res.outcome != VMMU_OK;
			sum += (uintptr_t)res.hva;
		}
		break;
	case ROW_PROBE:
		for (uint64_t i = 0; i < iters; i++) {
			vmmu_vcpu_probe(g->vcpu, gvas[i & mask], 8, VMMU_ACCESS_READ, &res);
			misses += res.outcome != VMMU_OK;
			sum += (uintptr_t)res.hva;
		}
		break;
	default:
		break;
	}
	t1 = bench_now_ns();
	vmmu_vcpu_exit(g->vcpu);
	bench_sink = sum;
	return misses ? -1 : (double)(t1 - t0) / (double)iters;
}

static uint64_t tlb_counter(struct tlb_guest *g, bool hits)
{
	struct vmmu_stats st = { .size = sizeof(st) };

	vmmu_vm_get_stats(g->vm, &st);
	return hits ? st.tlb_hit : st.tlb_miss;
}

int bench_tlb(int argc, char **argv)
{
	double ns[NR_ROWS][MAX_RUNS], med[NR_ROWS];
	uint64_t hits0, misses0;
	struct tlb_opts o;
	struct tlb_guest g;
	int ret = parse_opts(argc, argv, &o);

	if (ret)
		return ret < 0 ? 0 : ret;
	if (guest_create(&g, o.pages) || warm_up(&g)) {
		fprintf(stderr, "vmmu bench tlb: the guest does not translate as built\n");
		guest_destroy(&g);
		return 1;
	}
	/* Untimed: every row once (the TLB and caches warm). */
	for (unsigned int r = 0; r < NR_ROWS; r++)
		if (run_row(&g, r, o.iters / 10 + g.pages) < 0) {
			fprintf(stderr, "vmmu bench tlb: %s did not take its path\n", row_name[r]);
			guest_destroy(&g);
			return 1;
		}
	if (warm_up(&g)) {
		guest_destroy(&g);
		return 1;
	}
	hits0 = tlb_counter(&g, true);
	misses0 = tlb_counter(&g, false);
	for (unsigned int run = 0; run < o.runs; run++)
		for (unsigned int k = 0; k < NR_ROWS; k++) {
			/* Every other run in reverse order: drift hits all rows alike. */
			unsigned int r = run & 1 ? NR_ROWS - 1 - k : k;

			if (r == ROW_TRANSLATE_MISS || r == ROW_PROBE) {
				/* They evict nothing of the working set, but check. */
				ns[r][run] = run_row(&g, r, o.iters / 4);
			} else {
				ns[r][run] = run_row(&g, r, o.iters);
			}
			if (ns[r][run] < 0) {
				fprintf(stderr, "vmmu bench tlb: %s missed the TLB\n", row_name[r]);
				guest_destroy(&g);
				return 1;
			}
		}

	printf("vmmu bench tlb%s: %u-page working set (4K guest pages, 4-level paging), "
	       "%u-entry TLB\n", o.quick ? " --quick" : "", g.pages,
	       (unsigned int)(vmmu_vcpu_tlb(g.vcpu)->index_mask + 1));
	printf("timing: CLOCK_MONOTONIC, %" PRIu64 " ops per run (miss and probe rows: %" PRIu64
	       "), %u run(s); ns/op is the median run, best the fastest\n\n", o.iters,
	       o.iters / 4, o.runs);
	printf("%-18s %10s %10s  %-10s %s\n", "row", "ns/op", "best", "target", "result");
	for (unsigned int r = 0; r < NR_ROWS; r++) {
		bool target = r == ROW_INLINE_READ || r == ROW_INLINE_WRITE;
		double best = bench_min(ns[r], o.runs);

		med[r] = bench_median(ns[r], o.runs);
		printf("%-18s %10.2f %10.2f  %-10s %s\n", row_name[r], med[r], best,
		       target ? "<= 2 ns" : "-",
		       target ? (med[r] <= TARGET_INLINE_NS ? "PASS" : "MISS") : "");
	}
	printf("\ninline chase - host chase: %.2f ns per dependent access "
	       "(the lookup's latency over a plain load)\n", med[ROW_INLINE_CHASE] - med[ROW_HOST_CHASE]);
	printf("library counters over the timed runs: %" PRIu64 " TLB hits, %" PRIu64
	       " misses (the miss row's)\n", tlb_counter(&g, true) - hits0,
	       tlb_counter(&g, false) - misses0);
	if (o.quick)
		printf("--quick: a smoke test, not a measurement\n");
	guest_destroy(&g);
	return 0;
}
