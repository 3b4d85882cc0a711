/* SPDX-License-Identifier: MIT */
/*
 * vmmu bench fault: the cost of a TDP fault (issue 4), through the public
 * API only, after KVM's selftests dirty_log_perf_test and demand_paging_test.
 *
 * The guest: one VM per pass in VMMU_MMU_TDP or VMMU_MMU_TDP_LEGACY mode
 * (--mmu; both by default: every pass is run under each MMU in turn and the
 * output has a column per MMU and their ratio), EPT or NPT format, one small
 * memslot at GPA 0 that holds the guest's page tables, and one memslot per
 * vCPU region of -b bytes (region i at GPA 1 GiB + i * stride, the stride
 * being -b rounded up to 1 GiB, so that each region has TDP page directories
 * of its own).  The guest's 4-level tables map every region at Linux's
 * direct-map address (GVA = GVA_BASE + GPA) with 2M pages whose A and D
 * flags are already set, so that the guest walk is three entry reads and
 * never writes: the TDP faults dominate.  Before anything is timed, one vCPU
 * reads every guest page-table page through the TDP tables
 * (vmmu_vcpu_read_phys), so the only TDP faults left are the data pages',
 * and is destroyed (its table cache goes back to the pool): from then on
 * pt_pages counts only the tables in the trees.
 *
 * Each vCPU touches every 4K page of its region once, in order, inside one
 * vmmu_vcpu_enter()/exit() bracket per pass, as a vCPU's run loop holds it,
 * in one of two ways, each pass on a fresh VM (no TDP table yet):
 *   write:     an 8-byte vmmu_vcpu_write() at offset 64 * n mod 4096 of page
 *              n (the stores spread over the cache sets): the guest's access,
 *              its store into host memory included;
 *   translate: vmmu_vcpu_translate() of the same 8 bytes as a write access:
 *              the MMU's part of the same access (TLB miss, walk, TDP fault,
 *              A/D, TLB fill), no data moved.
 * Every access misses the software TLB (a page is touched once), walks, and
 * takes one TDP fault on the data page: pf_fixed must grow by exactly the
 * pages touched.
 *
 * Phases (rows are printed by phase, whatever order they ran in):
 * 1  TDP faults over host memory touched before the VM sees it: ns per fault
 *    for write and for translate.  Target <= 250 ns.
 * 2  Writes over host memory never touched (the host kernel's page fault on
 *    the store included, and the TDP MMU's fresh table pages), and, in the
 *    same run, alternating with it in 64 MiB chunks, the host kernel's own
 *    anonymous fault: an 8-byte store to every 4K page of a fresh mapping of
 *    the same size and advice.
 * 3  With the TDP tables populated by phase 1: vmmu_vcpu_probe() (a full
 *    2-D walk, never the TLB) and vmmu_vcpu_translate() (the TLB flushed
 *    before each pass) on the pages of vCPU 0's region in random order;
 *    phase 1's passes again with the tables present (TLB flushed): the same
 *    walk, store and fill without a fault, so phase 1 minus this is the
 *    fault alone; and plain host stores over the same memory, alone and
 *    each waited for (MFENCE), for what the write's own store costs.
 * 4  Bytes of TDP page-table pages per GiB mapped: pt_pages after phase 1
 *    (vCPUs destroyed, so no table waits in a vCPU's cache) minus pt_pages
 *    before it, against the count the layout implies.
 * 5  With -v N > 1, a fresh VM over the same prefaulted memory and N vCPU
 *    threads faulting their own regions at once, for write and translate:
 *    aggregate ns per fault (wall time / faults), faults per second, the
 *    rate against phase 1's (the same vCPUs one after another), each
 *    thread's own latency and the CPU time spent.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "bench_util.h"
#include "vmmu.h"

/* Architectural bits the guest's boot code writes. */


#define PTES		((uint64_t)512)
#define HUGE_2M		((uint64_t)2 << 20)
#define GIB		((uint64_t)1 << 30)
#define PDPT_SPAN	((uint64_t)512 << 30)  /* what one PML4 entry maps */

/* Linux's direct map: PML4 entry 273 onwards. */
#define GVA_BASE	0xffff888000000000ull
#define PML4_FIRST	273u
#define DATA_GPA	GIB                 /* the regions; the tables slot is below */
#define TABLES_SLOT	0u                  /* region i is slot i + 1 */

#define MAX_VCPUS	512u
#define MIN_BYTES	HUGE_2M
#define MAX_BYTES	((uint64_t)64 << 30)
#define DEFAULT_BYTES	GIB
#define QUICK_BYTES	((uint64_t)8 << 20)
#define DEFAULT_RUNS	5u
#define QUICK_RUNS	3u
#define MAX_RUNS	101u
#define ACCESS_BYTES	8u

#define TARGET_FAULT_NS	250.0

#define PERM_SEED	0x766d6d75ull       /* "vmmu": the same order every run */

enum backing { BACKING_ANON, BACKING_THP };

enum {
	PH_FAULT = 1,                       /* 1: faults, backing prefaulted */
	PH_FIRST,                           /* 2: first touch end to end, host fault */
	PH_WALK,                            /* 3: walks with the TDP tables present */
	PH_PT,                              /* 4: page-table bytes per GiB */
	PH_SCALE,                           /* 5: concurrent faults */
	NR_PH
};

struct fault_opts {
	uint64_t bytes;                     /* per vCPU */
	unsigned int vcpus, runs;
	enum backing backing;
	uint32_t tdp_format;                /* enum vmmu_tdp_format */
	bool mmu[BENCH_NR_MMU];             /* the MMUs measured, side by side */
	bool quick;
	bool phase[NR_PH];
};

/* The guest-physical layout and the guest's page tables (one copy in host
 * memory, the tables slot of every VM this run creates). */
struct layout {
	unsigned int vcpus;
	uint64_t bytes, pages;              /* per vCPU */
	uint64_t stride;                    /* GPA distance between regions */
	uint64_t pd_per_region;             /* guest PDs (and TDP PDs) per region */
	uint64_t npdpt;                     /* guest PDPTs (and TDP PDPTs) */
	uint64_t table_pages;               /* PML4 + PDPTs + PDs */
	uint64_t slot_size;                 /* the tables slot: rounded up to 2M */
	uint64_t *tables;
};

struct host_mem {
	uint8_t *map;
	size_t map_len;
	uint8_t *host;                      /* 2M-aligned */
	uint64_t size;
	bool madvise_ok;
};

struct vm_ctx {
	enum bench_mmu mmu;
	struct vmmu_vm *vm;
	struct vmmu_vcpu **vcpu;
	unsigned int nr;
	uint64_t pt_base;                   /* pt_pages with the tables slot mapped */
};

typedef int (*walk_fn)(struct vmmu_vcpu *vcpu, vmmu_gva_t gva, uint32_t size, uint32_t access,
		       struct vmmu_result *res);

static const char *const backing_names[] = { "anonymous", "thp" };

static void usage(FILE *f)
{
	fprintf(f,
		"usage: vmmu bench fault [-v VCPUS] [-b BYTES] [-s anonymous|thp] [--tdp=ept|npt]\n"
		"                        [--mmu=tdp|tdp-legacy|both] [-r RUNS] [--phase=all|LIST]\n"
		"                        [--quick]\n"
		"\n"
		"  -v VCPUS        vCPUs, each faulting its own region (default 1, at most %u);\n"
		"                  phase 5 needs 2 or more\n"
		"  -b BYTES        guest memory per vCPU (default 1G; K, M, G suffixes; a\n"
		"                  multiple of 2M from 2M to 64G)\n"
		"  -s BACKING      host memory: anonymous (4K pages, MADV_NOHUGEPAGE, the\n"
		"                  default) or thp (MADV_HUGEPAGE)\n"
		"  --tdp=FORMAT    ept (default) or npt\n"
		"  --mmu=MMU       tdp, tdp-legacy or both (default): both runs every pass under\n"
		"                  each MMU, a column each and their ratio, legacy/tdp\n"
		"  -r RUNS         timed passes per walk row of phase 3, median (default 5)\n"
		"  --phase=LIST    phases to run, comma-separated 1..5, or all (default):\n"
		"                  1 TDP faults, backing prefaulted; 2 first touch end to end\n"
		"                  and the host's own page fault; 3 walks with the TDP tables\n"
		"                  present; 4 page-table bytes per GiB; 5 concurrent faults\n"
		"                  (3 and 4 run phase 1 first, untimed if not asked for)\n"
		"  --quick         -b 8M, -r 3: a smoke test, well under a second\n",
		MAX_VCPUS);
}

static int bad_option(const char *fmt, const char *arg)
{
	return bench_bad_option("fault", usage, fmt, arg);
}

static bool parse_phases(const char *s, bool *phase)
{
	bool any = false;

	if (!strcmp(s, "all")) {
		for (unsigned int p = 1; p < NR_PH; p++)
			phase[p] = true;
		return true;
	}
	for (unsigned int p = 1; p < NR_PH; p++)
		phase[p] = false;
	for (;;) {
		if (*s < '1' || *s >= '0' + NR_PH)
			return false;
		phase[*s - '0'] = true;
		any = true;
		s++;
		if (!*s)
			return any;
		if (*s++ != ',')
			return false;
	}
}

/* Returns 0, 2 (usage error), or -1 after --help. */
static int parse_opts(int argc, char **argv, struct fault_opts *o)
{
	enum { OPT_QUICK = 0x100, OPT_TDP, OPT_MMU, OPT_PHASE };
	static const struct option longopts[] = {
		{ "vcpus", required_argument, NULL, 'v' },
		{ "bytes", required_argument, NULL, 'b' },
		{ "backing", required_argument, NULL, 's' },
		{ "runs", required_argument, NULL, 'r' },
		{ "tdp", required_argument, NULL, OPT_TDP },
		{ "mmu", required_argument, NULL, OPT_MMU },
		{ "phase", required_argument, NULL, OPT_PHASE },
		{ "quick", no_argument, NULL, OPT_QUICK },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	bool set_bytes = false, set_runs = false;
	uint64_t v;
	int c;

	*o = (struct fault_opts){
		.bytes = DEFAULT_BYTES, .vcpus = 1, .runs = DEFAULT_RUNS,
		.backing = BACKING_ANON, .tdp_format = VMMU_TDP_EPT, .mmu = { true, true },
	};
	parse_phases("all", o->phase);
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":v:b:s:r:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'v':
			if (bench_parse_count(optarg, &v) || v > MAX_VCPUS)
				return bad_option("bad vCPU count '%s' (1 to 512)", optarg);
			o->vcpus = (unsigned int)v;
			break;
		case 'b':
			if (bench_parse_size(optarg, &v))
				return bad_option("bad size '%s' (digits with K, M or G)", optarg);
			if (v % HUGE_2M || v < MIN_BYTES || v > MAX_BYTES)
				return bad_option("size '%s' must be a multiple of 2M from 2M to 64G",
						  optarg);
			o->bytes = v;
			set_bytes = true;
			break;
		case 's':
			if (!strcmp(optarg, "anonymous"))
				o->backing = BACKING_ANON;
			else if (!strcmp(optarg, "thp"))
				o->backing = BACKING_THP;
			else
				return bad_option("unknown backing '%s' (anonymous or thp)", optarg);
			break;
		case 'r':
			if (bench_parse_count(optarg, &v) || v > MAX_RUNS)
				return bad_option("bad run count '%s' (1 to 101)", optarg);
			o->runs = (unsigned int)v;
			set_runs = true;
			break;
		case OPT_TDP:
			if (!strcmp(optarg, "ept"))
				o->tdp_format = VMMU_TDP_EPT;
			else if (!strcmp(optarg, "npt"))
				o->tdp_format = VMMU_TDP_NPT;
			else
				return bad_option("unknown TDP format '%s' (ept or npt)", optarg);
			break;
		case OPT_MMU:
			if (bench_parse_mmus("fault", optarg, o->mmu))
				return 2;
			break;
		case OPT_PHASE:
			if (!parse_phases(optarg, o->phase))
				return bad_option("bad phase list '%s' (all, or 1..5 comma-separated)",
						  optarg);
			break;
		case OPT_QUICK:
			o->quick = true;
			break;
		default:
			return bench_opt_common("fault", usage, c, argv);
		}
	}
	if (bench_opt_end("fault", usage, argc, argv))
		return 2;
	if (o->quick) {
		if (!set_bytes)
			o->bytes = QUICK_BYTES;
		if (!set_runs)
			o->runs = QUICK_RUNS;
	}
	return 0;
}


static uint64_t region_gpa(const struct layout *l, unsigned int i)
{
	return DATA_GPA + (uint64_t)i * l->stride;
}

static vmmu_gva_t region_gva(const struct layout *l, unsigned int i)
{
	return GVA_BASE + region_gpa(l, i);
}

/* Where page @n of a region takes its 8-byte store: spread over the sets. */
static uint64_t page_offset(uint64_t n)
{
	return (n * 64) % GUEST_PAGE;
}

static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- host memory ----------------------------------------------------------- */

static bool fits_in_ram(uint64_t size)
{
	long phys = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);

	return phys <= 0 || psz <= 0 || size <= (uint64_t)phys * (uint64_t)psz;
}

/* 2M-aligned anonymous memory, advised; every 4K page touched if @prefault. */
static int host_alloc(struct host_mem *m, uint64_t size, enum backing backing, bool prefault)
{
	uintptr_t start;

	memset(m, 0, sizeof(*m));
	if (!fits_in_ram(size)) {
		fprintf(stderr, "vmmu bench fault: %" PRIu64 " MiB of memory is more than this "
			"machine's RAM\n", size >> 20);
		return -1;
	}
	m->map_len = size + HUGE_2M;
	m->map = mmap(NULL, m->map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		      -1, 0);
	if (m->map == MAP_FAILED) {
		m->map = NULL;
		fprintf(stderr, "vmmu bench fault: cannot allocate %" PRIu64 " MiB: %s\n",
			size >> 20, strerror(errno));
		return -1;
	}
	start = ((uintptr_t)m->map + HUGE_2M - 1) & ~(uintptr_t)(HUGE_2M - 1);
	m->host = (uint8_t *)start;
	m->size = size;
	m->madvise_ok = !madvise(m->host, size,
				 backing == BACKING_THP ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
	if (prefault)
		for (uint64_t off = 0; off < size; off += GUEST_PAGE)
			((volatile uint8_t *)m->host)[off] = 0;
	return 0;
}

static void host_free(struct host_mem *m)
{
	if (m->map)
		munmap(m->map, m->map_len);
	memset(m, 0, sizeof(*m));
}

/* ---- the guest's page tables ------------------------------------------------ */

/*
 * Tables slot (GPA 0): the PML4, then the PDPTs (PDPT k maps GPAs
 * [k * 512G, (k + 1) * 512G) at PML4 entry 273 + k), then the PDs of each
 * region, one per GiB.  Every entry has A set; 2M leaves have A and D set
 * and NX; nothing is user-accessible.
 */
static int layout_build(struct layout *l, const struct fault_opts *o)
{
	uint64_t pml4_gpa = 0, pdpt_gpa = GUEST_PAGE, pd_gpa, *t;

	memset(l, 0, sizeof(*l));
	l->vcpus = o->vcpus;
	l->bytes = o->bytes;
	l->pages = o->bytes / GUEST_PAGE;
	l->stride = bench_div_up(o->bytes, GIB) * GIB;
	l->pd_per_region = bench_div_up(o->bytes, GIB);
	l->npdpt = bench_div_up(region_gpa(l, l->vcpus), PDPT_SPAN);
	l->table_pages = 1 + l->npdpt + (uint64_t)l->vcpus * l->pd_per_region;
	l->slot_size = bench_div_up(l->table_pages * GUEST_PAGE, HUGE_2M) * HUGE_2M;
	pd_gpa = pdpt_gpa + l->npdpt * GUEST_PAGE;
	if (l->slot_size > DATA_GPA) {
		fprintf(stderr, "vmmu bench fault: the guest's page tables do not fit below 1G\n");
		return -1;
	}
	l->tables = aligned_alloc(HUGE_2M, l->slot_size);
	if (!l->tables) {
		fprintf(stderr, "vmmu bench fault: cannot allocate %" PRIu64 " KiB of guest page "
			"tables\n", l->slot_size >> 10);
		return -1;
	}
	memset(l->tables, 0, l->slot_size);
	t = l->tables;
	for (uint64_t k = 0; k < l->npdpt; k++)
		t[pml4_gpa / 8 + PML4_FIRST + k] = (pdpt_gpa + k * GUEST_PAGE) | PTE_A | PTE_RW | PTE_P;
	for (unsigned int i = 0; i < l->vcpus; i++) {
		for (uint64_t g = 0; g < l->pd_per_region; g++) {
			uint64_t pd = pd_gpa + (i * l->pd_per_region + g) * GUEST_PAGE;
			uint64_t gpa = region_gpa(l, i) + g * GIB;

			/* The PDPT entry of this GiB: PDPTs are contiguous, one
			 * entry per GiB of GPA space. */
			t[pdpt_gpa / 8 + gpa / GIB] = pd | PTE_A | PTE_RW | PTE_P;
			for (uint64_t j = 0; j < PTES && g * GIB + j * HUGE_2M < l->bytes; j++)
				t[pd / 8 + j] = (gpa + j * HUGE_2M) | PTE_NX | PTE_PS | PTE_D |
						PTE_A | PTE_RW | PTE_P;
		}
	}
	return 0;
}

/* TDP table pages that mapping every region adds to the trees: a PT per 2M,
 * a PD per GiB (regions are 1G-aligned), the PDPTs the tables slot's own
 * mapping did not already create. */
static uint64_t layout_tdp_tables(const struct layout *l)
{
	return l->vcpus * (l->bytes / HUGE_2M + l->pd_per_region) + (l->npdpt - 1);
}

/* Every TDP table page of one VM's tree: the regions' (above), plus the
 * root, the first PDPT, the PD of GiB 0 and a PT per 2M of the tables
 * slot. */
static uint64_t layout_tree_pages(const struct layout *l)
{
	return layout_tdp_tables(l) + 3 + l->slot_size / HUGE_2M;
}

/* ---- VMs ---------------------------------------------------------------------- */

/* Long mode as boot code enters it: EFER, CR4, CR3, then CR0.PG. */
static int vcpu_boot(struct vmmu_vcpu *v)
{
	if (vmmu_vcpu_set_reg(v, VMMU_REG_EFER, EFER_LME | EFER_NXE) ||
	    vmmu_vcpu_set_reg(v, VMMU_REG_CR4, CR4_PAE) ||
	    vmmu_vcpu_set_reg(v, VMMU_REG_CR3, 0) ||
	    vmmu_vcpu_set_reg(v, VMMU_REG_CR0, CR0_PG | CR0_WP | CR0_ET | CR0_PE))
		return -1;
	return 0;
}

static void get_stats(struct vm_ctx *c, struct vmmu_stats *st)
{
	bench_get_stats(c->vm, st);
}

static void vm_ctx_destroy_vcpus(struct vm_ctx *c)
{
	for (unsigned int i = 0; i < c->nr; i++) {
		vmmu_vcpu_destroy(c->vcpu[i]);
		c->vcpu[i] = NULL;
	}
}

static void vm_ctx_destroy(struct vm_ctx *c)
{
	if (c->vcpu)
		vm_ctx_destroy_vcpus(c);
	free(c->vcpu);
	if (c->vm)
		vmmu_vm_destroy(c->vm);
	memset(c, 0, sizeof(*c));
}

static int vcpu_new(struct vm_ctx *c, unsigned int id, struct vmmu_vcpu **out)
{
	int ret = vmmu_vcpu_create(c->vm, id, out);

	if (ret) {
		*out = NULL;
		fprintf(stderr, "vmmu bench fault: vmmu_vcpu_create: %s\n", vmmu_strerror(ret));
		return -1;
	}
	if (vcpu_boot(*out)) {
		fprintf(stderr, "vmmu bench fault: the guest does not boot\n");
		return -1;
	}
	return 0;
}

/*
 * A VM over @host (the regions, one after another) and the shared tables.
 * A first vCPU maps every guest page-table page through TDP and goes away;
 * then the benchmark's vCPUs are created and booted.
 */
static int vm_ctx_create(struct vm_ctx *c, const struct layout *l, const struct fault_opts *o,
			 enum bench_mmu mmu, uint8_t *host)
{
	struct vmmu_vm_config cfg = {
		.size = sizeof(cfg), .mmu = bench_mmu_mode(mmu), .tdp_format = o->tdp_format,
	};
	struct vmmu_memslot slot = {
		.id = TABLES_SLOT, .gpa = 0, .size = l->slot_size, .hva = l->tables,
	};
	struct vmmu_vcpu *setup;
	struct vmmu_stats st;
	int ret;

	memset(c, 0, sizeof(*c));
	c->mmu = mmu;
	ret = vmmu_vm_create(&cfg, &c->vm);
	if (ret) {
		c->vm = NULL;
		fprintf(stderr, "vmmu bench fault: vmmu_vm_create: %s\n", vmmu_strerror(ret));
		return -1;
	}
	c->vcpu = calloc(l->vcpus, sizeof(c->vcpu[0]));
	if (!c->vcpu) {
		fprintf(stderr, "vmmu bench fault: cannot allocate %u vCPU handles\n", l->vcpus);
		return -1;
	}
	c->nr = l->vcpus;
	ret = vmmu_memslot_add(c->vm, &slot);
	for (unsigned int i = 0; !ret && i < l->vcpus; i++) {
		slot = (struct vmmu_memslot){
			.id = TABLES_SLOT + 1 + i, .gpa = region_gpa(l, i), .size = l->bytes,
			.hva = host + (uint64_t)i * l->bytes,
		};
		ret = vmmu_memslot_add(c->vm, &slot);
	}
	if (ret) {
		fprintf(stderr, "vmmu bench fault: vmmu_memslot_add: %s\n", vmmu_strerror(ret));
		return -1;
	}

	if (vcpu_new(c, 0, &setup)) {
		vmmu_vcpu_destroy(setup);
		return -1;
	}
	for (uint64_t p = 0; p < l->table_pages; p++) {
		struct vmmu_result res;
		uint64_t e;

		if (vmmu_vcpu_read_phys(setup, p * GUEST_PAGE, &e, sizeof(e), &res) ||
		    res.outcome != VMMU_OK || e != l->tables[p * PTES]) {
			fprintf(stderr, "vmmu bench fault: guest page-table page %" PRIu64
				" does not read back through TDP\n", p);
			vmmu_vcpu_destroy(setup);
			return -1;
		}
	}
	vmmu_vcpu_destroy(setup);
	get_stats(c, &st);
	c->pt_base = st.pt_pages;

	for (unsigned int i = 0; i < l->vcpus; i++)
		if (vcpu_new(c, i, &c->vcpu[i]))
			return -1;
	return 0;
}

/* ---- passes ------------------------------------------------------------------------- */

/* How a pass touches a page: the guest's store, or the MMU work alone. */
enum touch {
	TOUCH_WRITE,                        /* vmmu_vcpu_write(), 8 bytes */
	TOUCH_TRANSLATE,                    /* vmmu_vcpu_translate(), a write access, no data */
	NR_TOUCH
};

static const char *const touch_names[NR_TOUCH] = { "write", "translate" };

/*
 * One vCPU touches 4K pages [first, first + pages) of the region at @gva, in order,
 * inside one guest-mode bracket; *t0 and *t1 bracket the loop.  Out of line
 * so that callgrind can collect just this (--toggle-collect=touch_pass).
 */
__attribute__((noinline))
static int touch_pass(struct vmmu_vcpu *v, enum touch how, vmmu_gva_t gva, uint64_t first,
		      uint64_t pages, uint64_t *t0, uint64_t *t1)
{
	struct vmmu_result res;
	uint32_t bad = 0;

	if (vmmu_vcpu_enter(v))
		return -1;
	*t0 = bench_now_ns();
	if (how == TOUCH_WRITE) {
		for (uint64_t n = first; n < first + pages; n++) {
			uint64_t val = n;
			int ret = vmmu_vcpu_write(v, gva + n * GUEST_PAGE + page_offset(n), &val,
						  ACCESS_BYTES, VMMU_ACCESS_WRITE, &res);

			bad |= (uint32_t)ret | res.outcome;
		}
	} else {
		for (uint64_t n = first; n < first + pages; n++) {
			int ret = vmmu_vcpu_translate(v, gva + n * GUEST_PAGE + page_offset(n),
						      ACCESS_BYTES, VMMU_ACCESS_WRITE, &res);

			bad |= (uint32_t)ret | res.outcome;
		}
	}
	*t1 = bench_now_ns();
	vmmu_vcpu_exit(v);
	return bad ? -1 : 0;
}

/* What a write pass left in the host memory of a region. */
static bool region_holds_pass(const uint8_t *host, uint64_t pages)
{
	for (uint64_t n = 0; n < pages; n++) {
		uint64_t val;

		memcpy(&val, host + n * GUEST_PAGE + page_offset(n), sizeof(val));
		if (val != n)
			return false;
	}
	return true;
}

/* Every vCPU's pass, one vCPU after the other; the summed loop time. */
static int touch_serial(struct vm_ctx *c, const struct layout *l, enum touch how, uint64_t *ns)
{
	*ns = 0;
	for (unsigned int i = 0; i < c->nr; i++) {
		uint64_t t0, t1;

		if (touch_pass(c->vcpu[i], how, region_gva(l, i), 0, l->pages, &t0, &t1)) {
			fprintf(stderr, "vmmu bench fault: vCPU %u: a %s did not return VMMU_OK\n",
				i, touch_names[how]);
			return -1;
		}
		*ns += t1 - t0;
	}
	return 0;
}

/* Waits until every earlier store has completed: MFENCE on x86 (a locked
 * instruction, what GCC emits for a C11 fence, lets a store that misses the
 * caches complete in the background). */
static inline void store_fence_wait(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__asm__ __volatile__("mfence" : : : "memory");
#else
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
#endif
}

/*
 * Plain host stores, 8 bytes to every 4K page of @host at the offsets the
 * passes use: the host kernel's fault on fresh memory (phase 2), or a store
 * that misses every cache (phase 3), optionally waited for (@fence: a full
 * barrier after each, so the next store starts after it completed).
 */
__attribute__((noinline))
static void host_touch(uint8_t *host, uint64_t first, uint64_t pages, bool fence)
{
	for (uint64_t n = first; n < first + pages; n++) {
		uint64_t val = n;

		memcpy(host + n * GUEST_PAGE + page_offset(n), &val, sizeof(val));
		if (fence)
			store_fence_wait();
	}
	__asm__ __volatile__("" : : "r"(host) : "memory");
}

static double host_touch_ns(uint8_t *host, uint64_t pages, bool fence)
{
	uint64_t t0 = bench_now_ns();

	host_touch(host, 0, pages, fence);
	return (double)(bench_now_ns() - t0) / (double)pages;
}

/* ---- output: rows are kept and printed by phase, a column per MMU ------------------ */

#define MAX_LINES	96
#define LINE_LEN	200
#define MMU_ANY		BENCH_NR_MMU        /* a note or reference the same for every MMU */

enum unit { UNIT_NS, UNIT_KIB };

/*
 * A row is one quantity, keyed by (phase, name): each MMU's run fills its
 * own value in, so that the MMUs print side by side whichever ran first.
 * A note is a line of text under its phase's rows, keyed by (phase, text):
 * has[] says which MMUs' runs wrote it, and one that only some wrote is
 * labelled with them.
 */
static struct line {
	unsigned int phase;
	bool note;
	char text[LINE_LEN];                /* the row's name, or the note */
	unsigned int vcpus;
	uint64_t bytes, ops;
	enum unit unit;
	double target;                      /* 0: none; ns: at most, KiB: exactly */
	bool ratio;                         /* legacy / tdp printed (not for references) */
	bool has[BENCH_NR_MMU];
	double value[BENCH_NR_MMU];
} lines[MAX_LINES];
static unsigned int nr_lines;
static bool out_mmu[BENCH_NR_MMU];          /* the MMUs measured: the columns */

static struct line *new_line(unsigned int phase)
{
	struct line *ln;

	if (nr_lines == MAX_LINES)
		return NULL;
	ln = &lines[nr_lines++];
	memset(ln, 0, sizeof(*ln));
	ln->phase = phase;
	return ln;
}

static struct line *find_row(unsigned int phase, const char *name)
{
	for (unsigned int i = 0; i < nr_lines; i++)
		if (!lines[i].note && lines[i].phase == phase && !strcmp(lines[i].text, name))
			return &lines[i];
	return NULL;
}

static struct line *find_note(unsigned int phase, const char *text)
{
	for (unsigned int i = 0; i < nr_lines; i++)
		if (lines[i].note && lines[i].phase == phase && !strcmp(lines[i].text, text))
			return &lines[i];
	return NULL;
}

/* A note under the rows of @phase from @mmu's run (MMU_ANY: no MMU's). */
__attribute__((format(printf, 3, 4)))
static void add_note(unsigned int phase, unsigned int mmu, const char *fmt, ...)
{
	char text[LINE_LEN];
	struct line *ln;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	ln = find_note(phase, text);
	if (!ln) {
		ln = new_line(phase);
		if (!ln)
			return;
		ln->note = true;
		memcpy(ln->text, text, sizeof(text));
	}
	for (unsigned int m = 0; m < BENCH_NR_MMU; m++)
		ln->has[m] |= m == mmu || mmu == MMU_ANY;
}

/* The row's shape: how the value reads and what it is judged against. */
struct row_kind {
	enum unit unit;
	double target;
	bool ratio;
};

static const struct row_kind NS = { UNIT_NS, 0, true };
static const struct row_kind NS_REF = { UNIT_NS, 0, false };

/* @value of row @name under @mmu (MMU_ANY: every MMU's column). */
static void add_row(unsigned int phase, unsigned int mmu, const char *name, unsigned int vcpus,
		    uint64_t bytes, double value, uint64_t ops, struct row_kind kind)
{
	struct line *ln = find_row(phase, name);

	if (!ln) {
		ln = new_line(phase);
		if (!ln)
			return;
		snprintf(ln->text, LINE_LEN, "%s", name);
		ln->vcpus = vcpus;
		ln->bytes = bytes;
		ln->ops = ops;
		ln->unit = kind.unit;
		ln->target = kind.target;
		ln->ratio = kind.ratio;
	}
	for (unsigned int m = 0; m < BENCH_NR_MMU; m++)
		if (m == mmu || mmu == MMU_ANY) {
			ln->value[m] = value;
			ln->has[m] = true;
		}
}

static void add_ns_row(unsigned int phase, unsigned int mmu, const char *name,
		       unsigned int vcpus, uint64_t bytes, double ns, uint64_t ops)
{
	add_row(phase, mmu, name, vcpus, bytes, ns, ops, NS);
}

static void fmt_bytes(uint64_t b, char *buf, size_t len)
{
	if (b && !(b % GIB))
		snprintf(buf, len, "%" PRIu64 "G", b / GIB);
	else if (b && !(b % ((uint64_t)1 << 20)))
		snprintf(buf, len, "%" PRIu64 "M", b >> 20);
	else
		snprintf(buf, len, "%" PRIu64 "K", b >> 10);
}

static void fmt_value(const struct line *ln, double v, char *buf, size_t len)
{
	snprintf(buf, len, ln->unit == UNIT_KIB ? "%.1f KiB" : "%.1f", v);
}

static const char *verdict(const struct line *ln, double v)
{
	if (ln->unit == UNIT_KIB)
		return v == ln->target ? "PASS" : "MISS";
	return v <= ln->target ? "PASS" : "MISS";
}

/* The row: a value column per MMU measured, legacy/tdp when both are, a
 * verdict per MMU ("PASS / MISS", in column order) when it has a target. */
static void print_row(const struct line *ln)
{
	char b[24], v[32], target[32] = "-", result[32] = "";

	fmt_bytes(ln->bytes, b, sizeof(b));
	printf("%-34s %5u %10s", ln->text, ln->vcpus, b);
	for (unsigned int m = 0; m < BENCH_NR_MMU; m++) {
		if (!out_mmu[m])
			continue;
		if (ln->has[m])
			fmt_value(ln, ln->value[m], v, sizeof(v));
		printf(" %13s", ln->has[m] ? v : "-");
		if (ln->target > 0 && ln->has[m])
			snprintf(result + strlen(result), sizeof(result) - strlen(result), "%s%s",
				 *result ? " / " : "", verdict(ln, ln->value[m]));
	}
	if (bench_mmus_both(out_mmu)) {
		if (ln->ratio)
			bench_fmt_ratio(v, sizeof(v), ln->value[BENCH_MMU_LEGACY],
					ln->value[BENCH_MMU_TDP]);
		printf(" %10s", ln->ratio ? v : "");
	}
	if (ln->target > 0) {
		if (ln->unit == UNIT_KIB)
			fmt_value(ln, ln->target, target, sizeof(target));
		else
			snprintf(target, sizeof(target), "<= %.0f ns", ln->target);
	}
	printf(" %12" PRIu64 "  %-12s %s\n", ln->ops, target, result);
}

/* Labelled "[mmu]" when only one of the MMUs measured wrote it. */
static void print_note(const struct line *ln)
{
	printf("%-34s ", "");
	for (unsigned int m = 0; m < BENCH_NR_MMU; m++)
		if (bench_mmus_both(out_mmu) && ln->has[m] && !ln->has[BENCH_NR_MMU - 1 - m])
			printf("[%s] ", bench_mmu_name(m));
	printf("%s\n", ln->text);
}

static void print_lines(void)
{
	printf("%-34s %5s %10s", "phase", "vCPUs", "bytes/vCPU");
	if (out_mmu[BENCH_MMU_TDP])
		printf(" %13s", "tdp ns/op");
	if (out_mmu[BENCH_MMU_LEGACY])
		printf(" %13s", "legacy ns/op");
	if (bench_mmus_both(out_mmu))
		printf(" %10s", "legacy/tdp");
	printf(" %12s  %-12s %s\n", "ops", "target", "result");
	for (unsigned int p = 1; p < NR_PH; p++) {
		for (unsigned int i = 0; i < nr_lines; i++)
			if (lines[i].phase == p && !lines[i].note)
				print_row(&lines[i]);
		for (unsigned int i = 0; i < nr_lines; i++)
			if (lines[i].phase == p && lines[i].note)
				print_note(&lines[i]);
	}
}

/* A line under @phase if the legacy MMU reclaimed shadow pages (its cap)
 * between @a and @b: the pass then measured reclaim too. */
static void note_recycled(unsigned int phase, const struct vm_ctx *c, const char *what,
			  const struct vmmu_stats *a, const struct vmmu_stats *b)
{
	if (b->mmu_recycled != a->mmu_recycled)
		add_note(phase, c->mmu, "%s: %" PRIu64 " shadow pages reclaimed under the page-table "
			 "cap (mmu_recycled)", what, b->mmu_recycled - a->mmu_recycled);
}

/* ---- phases 1 and 2: a fault on every page ---------------------------------------- */

/* Every page of every region touched, vCPUs one after another; pf_fixed
 * must grow by the pages touched.  ns per fault in *ns_per_fault. */
static int fault_all(struct vm_ctx *c, const struct layout *l, enum touch how,
		     double *ns_per_fault)
{
	struct vmmu_stats before, after;
	uint64_t ns, faults, expected = (uint64_t)l->vcpus * l->pages;

	get_stats(c, &before);
	if (touch_serial(c, l, how, &ns))
		return -1;
	get_stats(c, &after);
	faults = after.pf_fixed - before.pf_fixed;
	if (faults != expected || after.pf_spurious != before.pf_spurious) {
		fprintf(stderr, "vmmu bench fault: %" PRIu64 " pages touched but pf_fixed grew by %"
			PRIu64 " (pf_spurious by %" PRIu64 ")\n", expected, faults,
			after.pf_spurious - before.pf_spurious);
		return -1;
	}
	note_recycled(PH_FAULT, c, touch_names[how], &before, &after);
	*ns_per_fault = (double)ns / (double)faults;
	return 0;
}

/* ---- phase 3 ------------------------------------------------------------------------- */

static uint64_t splitmix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* @n reads at the pages of @perm, inside one bracket. */
__attribute__((noinline))
static int walk_pass(struct vmmu_vcpu *v, walk_fn fn, vmmu_gva_t base, const uint32_t *perm,
		     uint64_t n, double *ns)
{
	struct vmmu_result res;
	uint64_t sum = 0, t0, t1;
	uint32_t bad = 0;

	if (vmmu_vcpu_enter(v))
		return -1;
	t0 = bench_now_ns();
	for (uint64_t i = 0; i < n; i++) {
		uint64_t page = perm[i];
		int ret = fn(v, base + page * GUEST_PAGE + page_offset(page), ACCESS_BYTES,
			     VMMU_ACCESS_READ, &res);

		bad |= (uint32_t)ret | res.outcome;
		sum += res.gpa;
	}
	t1 = bench_now_ns();
	vmmu_vcpu_exit(v);
	bench_sink = sum;
	*ns = (double)(t1 - t0) / (double)n;
	return bad ? -1 : 0;
}

/* Random walks over vCPU 0's region: probe, and translate with the TLB
 * flushed before each pass. */
static int walk_random(struct vm_ctx *c, const struct layout *l, const struct fault_opts *o)
{
	static const struct {
		const char *name;
		walk_fn fn;
		bool flush;
	} calls[] = {
		{ "3 probe, random (2-D walk)", vmmu_vcpu_probe, false },
		{ "3 translate, random, TLB flushed", vmmu_vcpu_translate, true },
	};
	struct vmmu_vcpu *v = c->vcpu[0];
	uint64_t n = l->pages, state = PERM_SEED, hits = 0;
	double ns[MAX_RUNS], dummy;
	uint32_t *perm;
	int ret = -1;

	perm = malloc(n * sizeof(*perm));
	if (!perm) {
		fprintf(stderr, "vmmu bench fault: cannot allocate the page order (%" PRIu64
			" pages)\n", n);
		return -1;
	}
	for (uint64_t i = 0; i < n; i++)
		perm[i] = (uint32_t)i;
	for (uint64_t i = n - 1; i > 0; i--) {
		uint64_t j = splitmix64(&state) % (i + 1);
		uint32_t t = perm[i];

		perm[i] = perm[j];
		perm[j] = t;
	}
	for (unsigned int k = 0; k < sizeof(calls) / sizeof(calls[0]); k++) {
		/* Untimed pass: the code and the walk's data warm. */
		if (calls[k].flush)
			vmmu_vcpu_flush(v);
		if (walk_pass(v, calls[k].fn, region_gva(l, 0), perm, n, &dummy))
			goto bad;
		for (unsigned int r = 0; r < o->runs; r++) {
			struct vmmu_stats s0, s1;

			if (calls[k].flush)
				vmmu_vcpu_flush(v);
			get_stats(c, &s0);
			if (walk_pass(v, calls[k].fn, region_gva(l, 0), perm, n, &ns[r]))
				goto bad;
			get_stats(c, &s1);
			if (calls[k].flush)
				hits += s1.tlb_hit - s0.tlb_hit;
		}
		add_ns_row(PH_WALK, c->mmu, calls[k].name, 1, l->bytes, bench_median(ns, o->runs),
			   n * o->runs);
	}
	add_note(PH_WALK, c->mmu, "random: median of %u passes over the %" PRIu64 " pages of vCPU 0 in "
		 "random order; TLB hits in the timed translate passes: %" PRIu64, o->runs, n, hits);
	ret = 0;
	goto out;
bad:
	fprintf(stderr, "vmmu bench fault: a walk did not return VMMU_OK\n");
out:
	free(perm);
	return ret;
}

/* The fault pass again, the TDP tables present, every TLB flushed: the
 * same walk and the same store without a fault.  ns per access. */
static int touch_again(struct vm_ctx *c, const struct layout *l, enum touch how, double *ns_out)
{
	struct vmmu_stats before, after;
	uint64_t ns;

	for (unsigned int i = 0; i < c->nr; i++)
		vmmu_vcpu_flush(c->vcpu[i]);
	get_stats(c, &before);
	if (touch_serial(c, l, how, &ns))
		return -1;
	get_stats(c, &after);
	if (after.pf_taken != before.pf_taken) {
		fprintf(stderr, "vmmu bench fault: %" PRIu64 " TDP faults with the tables present; "
			"expected none\n", after.pf_taken - before.pf_taken);
		return -1;
	}
	*ns_out = (double)ns / (double)(l->vcpus * l->pages);
	return 0;
}

/* ---- phase 4 ------------------------------------------------------------------------- */

/* pt_pages once the vCPUs (and their table caches) are gone. */
static void phase_pt(struct vm_ctx *c, const struct layout *l)
{
	struct vmmu_stats st;
	uint64_t pages, expected = layout_tdp_tables(l), total = (uint64_t)l->vcpus * l->bytes;
	double gib = (double)total / (double)GIB;
	struct row_kind kib = {
		.unit = UNIT_KIB, .ratio = true,
		.target = (double)(expected * GUEST_PAGE) / gib / 1024.0,
	};

	vm_ctx_destroy_vcpus(c);
	get_stats(c, &st);
	pages = st.pt_pages - c->pt_base;
	add_row(PH_PT, c->mmu, "4 TDP table bytes per GiB", l->vcpus, l->bytes,
		(double)(pages * GUEST_PAGE) / gib / 1024.0, st.pages_4k, kib);
	add_note(PH_PT, c->mmu, "pt_pages %" PRIu64 " in the trees, %" PRIu64 " before the data (roots, "
		 "tables slot); the layout implies %" PRIu64 " PT + %" PRIu64 " PD + %" PRIu64
		 " PDPT = %" PRIu64, st.pt_pages, c->pt_base, l->vcpus * (l->bytes / HUGE_2M),
		 l->vcpus * l->pd_per_region, l->npdpt - 1, expected);
	add_note(PH_PT, MMU_ANY, "ops: 4K SPTEs mapped (pages_4k), the tables slot's %" PRIu64
		 " pages included", l->table_pages);
}

/* ---- phase 5 ------------------------------------------------------------------------- */

/* The start line: every thread waits until the main thread has started
 * them all (go = 1) or gave up (go = -1). */
struct start_line {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int go;
};

struct worker {
	pthread_t tid;
	struct vmmu_vcpu *v;
	enum touch how;
	vmmu_gva_t gva;
	uint64_t pages;
	struct start_line *start;
	uint64_t t0, t1, cpu_ns;
	int ret;
};

static void start_line_set(struct start_line *s, int go)
{
	pthread_mutex_lock(&s->lock);
	s->go = go;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	uint64_t cpu0;
	int go;

	pthread_mutex_lock(&w->start->lock);
	while (!w->start->go)
		pthread_cond_wait(&w->start->cond, &w->start->lock);
	go = w->start->go;
	pthread_mutex_unlock(&w->start->lock);
	w->ret = -1;
	if (go < 0)
		return NULL;
	cpu0 = thread_cpu_ns();
	w->ret = touch_pass(w->v, w->how, w->gva, 0, w->pages, &w->t0, &w->t1);
	w->cpu_ns = thread_cpu_ns() - cpu0;
	return NULL;
}

/* N vCPU threads, each faulting its own region at once.  @serial_ns: phase
 * 1's ns per fault for the same access, 0 if not measured. */
static int phase_scale(struct vm_ctx *c, const struct layout *l, enum touch how, double serial_ns)
{
	struct worker *w = calloc(c->nr, sizeof(*w));
	uint64_t first = UINT64_MAX, last = 0, cpu = 0, faults;
	struct start_line start = {
		.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER,
	};
	struct vmmu_stats before, after;
	unsigned int started = 0;
	double lat = 0, wall_ns;
	char name[40];
	int ret = -1;

	if (!w) {
		fprintf(stderr, "vmmu bench fault: cannot allocate %u workers\n", c->nr);
		return -1;
	}
	get_stats(c, &before);
	for (unsigned int i = 0; i < c->nr; i++) {
		w[i] = (struct worker){
			.v = c->vcpu[i], .how = how, .gva = region_gva(l, i), .pages = l->pages,
			.start = &start,
		};
		if (pthread_create(&w[i].tid, NULL, worker_main, &w[i])) {
			fprintf(stderr, "vmmu bench fault: cannot start vCPU thread %u\n", i);
			break;
		}
		started++;
	}
	start_line_set(&start, started == c->nr ? 1 : -1);
	for (unsigned int i = 0; i < started; i++)
		pthread_join(w[i].tid, NULL);
	if (started < c->nr)
		goto out;
	get_stats(c, &after);
	for (unsigned int i = 0; i < c->nr; i++) {
		if (w[i].ret) {
			fprintf(stderr, "vmmu bench fault: vCPU %u: a %s did not return VMMU_OK\n",
				i, touch_names[how]);
			goto out;
		}
		first = w[i].t0 < first ? w[i].t0 : first;
		last = w[i].t1 > last ? w[i].t1 : last;
		cpu += w[i].cpu_ns;
		lat += (double)(w[i].t1 - w[i].t0) / (double)l->pages;
	}
	faults = after.pf_fixed - before.pf_fixed;
	if (faults != c->nr * l->pages) {
		fprintf(stderr, "vmmu bench fault: %" PRIu64 " pages touched but pf_fixed grew by %"
			PRIu64 "\n", c->nr * l->pages, faults);
		goto out;
	}
	wall_ns = (double)(last - first);
	snprintf(name, sizeof(name), "5 %s: wall / faults", touch_names[how]);
	add_ns_row(PH_SCALE, c->mmu, name, c->nr, l->bytes, wall_ns / (double)faults, faults);
	snprintf(name, sizeof(name), "5 %s: per-vCPU latency", touch_names[how]);
	add_ns_row(PH_SCALE, c->mmu, name, c->nr, l->bytes, lat / c->nr, faults);
	snprintf(name, sizeof(name), "5 %s: CPU time / faults", touch_names[how]);
	add_ns_row(PH_SCALE, c->mmu, name, c->nr, l->bytes, (double)cpu / (double)faults, faults);
	note_recycled(PH_SCALE, c, touch_names[how], &before, &after);
	if (serial_ns > 0)
		add_note(PH_SCALE, c->mmu, "%s: %.2f M faults/s; %.2fx phase 1's rate (the same vCPUs one "
			 "after another); pf_spurious %" PRIu64, touch_names[how],
			 (double)faults / wall_ns * 1e3, serial_ns / (wall_ns / (double)faults),
			 after.pf_spurious - before.pf_spurious);
	else
		add_note(PH_SCALE, c->mmu, "%s: %.2f M faults/s; pf_spurious %" PRIu64, touch_names[how],
			 (double)faults / wall_ns * 1e3, after.pf_spurious - before.pf_spurious);
	ret = 0;
out:
	pthread_cond_destroy(&start.cond);
	pthread_mutex_destroy(&start.lock);
	free(w);
	return ret;
}

/* ---- the phases over prefaulted memory ------------------------------------------- */

/* Undoes a write pass's stores, so that the next one must redo them. */
static void region_clear_pass(uint8_t *host, uint64_t pages)
{
	for (uint64_t n = 0; n < pages; n++)
		memset(host + n * GUEST_PAGE + page_offset(n), 0, ACCESS_BYTES);
}

/*
 * One access kind under one MMU on a fresh VM over @mem: phase 1's faults,
 * then (the tables present) phase 3's rows; phase 4 on the translate VM.
 * *fault_ns: phase 1's ns per fault, for phase 5's rate.
 */
static int run_one_vm(const struct layout *l, const struct fault_opts *o, struct host_mem *mem,
		      enum bench_mmu mmu, enum touch how, double *fault_ns)
{
	uint64_t total_pages = (uint64_t)l->vcpus * l->pages;
	struct row_kind fault = { .unit = UNIT_NS, .target = TARGET_FAULT_NS, .ratio = true };
	struct vm_ctx c;
	double again_ns;
	char name[40];
	int ret = -1;

	if (how == TOUCH_WRITE)
		region_clear_pass(mem->host, (uint64_t)l->vcpus * l->pages);
	if (vm_ctx_create(&c, l, o, mmu, mem->host) || fault_all(&c, l, how, fault_ns))
		goto out;
	snprintf(name, sizeof(name), "1 TDP fault, %s", touch_names[how]);
	if (o->phase[PH_FAULT])
		add_row(PH_FAULT, mmu, name, l->vcpus, l->bytes, *fault_ns, total_pages, fault);
	if (how == TOUCH_WRITE && !region_holds_pass(mem->host, l->pages)) {
		fprintf(stderr, "vmmu bench fault: the writes did not reach the host memory\n");
		goto out;
	}
	if (o->phase[PH_WALK]) {
		if (how == TOUCH_TRANSLATE && walk_random(&c, l, o))
			goto out;
		if (touch_again(&c, l, how, &again_ns))
			goto out;
		snprintf(name, sizeof(name), "3 %s, seq, no fault", touch_names[how]);
		add_ns_row(PH_WALK, mmu, name, l->vcpus, l->bytes, again_ns, total_pages);
		if (o->phase[PH_FAULT] && how == TOUCH_TRANSLATE)
			add_ns_row(PH_WALK, mmu, "1 - 3: translate's fault alone", l->vcpus,
				   l->bytes, *fault_ns - again_ns, total_pages);
	}
	if (o->phase[PH_PT] && how == TOUCH_TRANSLATE)
		phase_pt(&c, l);
	ret = 0;
out:
	vm_ctx_destroy(&c);
	return ret;
}

/*
 * Phases 1, 3 and 4: for each access kind, each MMU in turn (so that drift
 * over the run hits both alike).  Then the host-store references of phase
 * 3 (measured once: no MMU involved), and phase 5's VMs.
 */
static int run_prefaulted(const struct layout *l, const struct fault_opts *o, struct host_mem *mem)
{
	double fault_ns[NR_TOUCH][BENCH_NR_MMU] = { { 0 } };
	uint64_t total_pages = (uint64_t)l->vcpus * l->pages;
	struct vm_ctx c = { 0 };

	for (unsigned int how = 0; how < NR_TOUCH; how++) {
		if (!o->phase[PH_FAULT] && !o->phase[PH_WALK] &&
		    !(o->phase[PH_PT] && how == TOUCH_TRANSLATE))
			continue;
		for (unsigned int m = 0; m < BENCH_NR_MMU; m++)
			if (o->mmu[m] && run_one_vm(l, o, mem, (enum bench_mmu)m, (enum touch)how,
						    &fault_ns[how][m]))
				return -1;
	}
	if (o->phase[PH_FAULT])
		add_note(PH_FAULT, MMU_ANY, "prefaulted backing; pf_fixed grew by exactly the %"
			 PRIu64 " pages touched; target for the MMU work per fault", total_pages);
	if (o->phase[PH_WALK]) {
		/* The memory was last written by the fault passes, long out of cache. */
		add_row(PH_WALK, MMU_ANY, "3 host store, seq (ref)", l->vcpus, l->bytes,
			host_touch_ns(mem->host, total_pages, false), total_pages, NS_REF);
		add_row(PH_WALK, MMU_ANY, "3 host store + mfence (ref)", l->vcpus, l->bytes,
			host_touch_ns(mem->host, total_pages, true), total_pages, NS_REF);
		add_note(PH_WALK, MMU_ANY, "%s", "ref: plain 8-byte stores at the same places over "
			 "the same memory (out of cache), alone and each waited for (MFENCE); "
			 "measured once");
	}
	if (!o->phase[PH_SCALE] || l->vcpus < 2)
		return 0;
	for (unsigned int how = 0; how < NR_TOUCH; how++)
		for (unsigned int m = 0; m < BENCH_NR_MMU; m++) {
			if (!o->mmu[m])
				continue;
			if (vm_ctx_create(&c, l, o, (enum bench_mmu)m, mem->host) ||
			    phase_scale(&c, l, (enum touch)how,
					o->phase[PH_FAULT] ? fault_ns[how][m] : 0)) {
				vm_ctx_destroy(&c);
				return -1;
			}
			vm_ctx_destroy(&c);
		}
	return 0;
}

/* ---- phase 2 ------------------------------------------------------------------------- */

#define FIRST_CHUNK	((uint64_t)64 << 20)   /* phase 2 alternates in chunks of this */

/*
 * A VM over fresh memory and the reference, stores to a second fresh mapping
 * of the same size and advice, alternating in 64 MiB chunks (every other
 * chunk the reference first): what a fresh page costs the kernel (and a
 * hypervisor below it) drifts, and so hits both alike.  An untimed first
 * round over twice the size brings back the kernel's free pages: memory it
 * has not handed out for a while can cost several times more.  Under each
 * MMU in turn, each with fresh memory and its own reference.
 */
static int phase_first(const struct layout *l, const struct fault_opts *o, enum bench_mmu mmu)
{
	uint64_t total = (uint64_t)l->vcpus * l->bytes, pages = total / GUEST_PAGE;
	uint64_t vm_total = 0, host_total = 0, chunk_pages = FIRST_CHUNK / GUEST_PAGE, k = 0;
	struct host_mem fresh = { 0 }, ref = { 0 };
	struct vmmu_stats before, after;
	struct vm_ctx c = { 0 };
	long long huge_kb;
	int ret = -1;

	if (host_alloc(&ref, 2 * total, o->backing, false))
		return -1;
	host_touch(ref.host, 0, 2 * pages, false);
	host_free(&ref);
	if (host_alloc(&fresh, total, o->backing, false) ||
	    host_alloc(&ref, total, o->backing, false) ||
	    vm_ctx_create(&c, l, o, mmu, fresh.host))
		goto out;
	get_stats(&c, &before);
	for (unsigned int i = 0; i < l->vcpus; i++) {
		for (uint64_t p = 0; p < l->pages; p += chunk_pages, k++) {
			uint64_t n = l->pages - p < chunk_pages ? l->pages - p : chunk_pages;
			uint64_t t0, t1, h0, h1;
			uint8_t *host = ref.host + (uint64_t)i * l->bytes;

			h0 = h1 = 0;
			if (k & 1) {
				h0 = bench_now_ns();
				host_touch(host, p, n, false);
				h1 = bench_now_ns();
			}
			if (touch_pass(c.vcpu[i], TOUCH_WRITE, region_gva(l, i), p, n, &t0, &t1)) {
				fprintf(stderr, "vmmu bench fault: vCPU %u: a write did not return "
					"VMMU_OK\n", i);
				goto out;
			}
			if (!(k & 1)) {
				h0 = bench_now_ns();
				host_touch(host, p, n, false);
				h1 = bench_now_ns();
			}
			vm_total += t1 - t0;
			host_total += h1 - h0;
		}
	}
	get_stats(&c, &after);
	if (after.pf_fixed - before.pf_fixed != pages) {
		fprintf(stderr, "vmmu bench fault: %" PRIu64 " pages touched but pf_fixed grew by %"
			PRIu64 "\n", pages, after.pf_fixed - before.pf_fixed);
		goto out;
	}
	if (!region_holds_pass(fresh.host, l->pages)) {
		fprintf(stderr, "vmmu bench fault: the writes did not reach the host memory\n");
		goto out;
	}
	huge_kb = bench_smaps_huge_kb((uintptr_t)fresh.host, (uintptr_t)fresh.host + total);
	note_recycled(PH_FIRST, &c, "first touch", &before, &after);

	add_ns_row(PH_FIRST, mmu, "2 first touch, write, end to end", l->vcpus, l->bytes,
		   (double)vm_total / (double)pages, pages);
	add_row(PH_FIRST, mmu, "2 host anonymous fault (ref)", l->vcpus, l->bytes,
		(double)host_total / (double)pages, pages, NS_REF);
	add_ns_row(PH_FIRST, mmu, "2 - ref: vmmu's share", l->vcpus, l->bytes,
		   ((double)vm_total - (double)host_total) / (double)pages, pages);
	add_note(PH_FIRST, mmu, "not prefaulted (%s); AnonHugePages after the VM's pass: %lld of %" PRIu64
		 " MiB", o->backing == BACKING_THP ? "MADV_HUGEPAGE" : "MADV_NOHUGEPAGE",
		 huge_kb < 0 ? -1 : huge_kb >> 10, total >> 20);
	add_note(PH_FIRST, MMU_ANY, "%s", "ref: 8-byte stores to every 4K page of a fresh mapping "
		 "of the same size and advice, alternating with the VM in 64 MiB chunks; measured "
		 "beside each MMU's pass");
	ret = 0;
out:
	vm_ctx_destroy(&c);
	host_free(&fresh);
	host_free(&ref);
	return ret;
}

/* ---- main ---------------------------------------------------------------------------- */

int bench_fault(int argc, char **argv)
{
	struct fault_opts o;
	struct layout l;
	struct host_mem mem = { 0 };
	bool need_mem;
	uint64_t t0;
	long long huge_kb = -1;
	char b[24];
	int ret = parse_opts(argc, argv, &o);

	if (ret)
		return ret < 0 ? 0 : ret;
	need_mem = o.phase[PH_FAULT] || o.phase[PH_WALK] || o.phase[PH_PT] ||
		   (o.phase[PH_SCALE] && o.vcpus > 1);
	if (!fits_in_ram((uint64_t)o.vcpus * o.bytes)) {
		fprintf(stderr, "vmmu bench fault: %u x %" PRIu64 " MiB of guest memory is more "
			"than this machine's RAM\n", o.vcpus, o.bytes >> 20);
		return 1;
	}
	nr_lines = 0;
	memcpy(out_mmu, o.mmu, sizeof(out_mmu));
	t0 = bench_now_ns();
	if (layout_build(&l, &o))
		return 1;
	ret = 1;
	if (need_mem) {
		if (host_alloc(&mem, (uint64_t)o.vcpus * o.bytes, o.backing, true))
			goto out;
		huge_kb = bench_smaps_huge_kb((uintptr_t)mem.host, (uintptr_t)mem.host + mem.size);
	}

	fmt_bytes(o.bytes, b, sizeof(b));
	printf("vmmu bench fault%s: %s --tdp=%s, %u vCPU(s) x %s (%" PRIu64 " 4K pages "
	       "each), one memslot per vCPU region\n", o.quick ? " --quick" : "",
	       bench_mmus_label(o.mmu), o.tdp_format == VMMU_TDP_NPT ? "npt" : "ept", o.vcpus, b,
	       l.pages);
	if (bench_mmus_both(o.mmu))
		printf("mmu: every pass under tdp, then tdp-legacy (a fresh VM each), a column "
		       "each; legacy/tdp = their ratio\n");
	if (o.mmu[BENCH_MMU_LEGACY])
		bench_print_legacy_cap(stdout, l.slot_size + (uint64_t)o.vcpus * o.bytes,
				       layout_tree_pages(&l));
	printf("guest: 4-level tables (%" PRIu64 " pages, own memslot, mapped through TDP before "
	       "timing) map the regions with 2M pages, A/D preset\n", l.table_pages);
	printf("access: every 4K page once, in order, by vmmu_vcpu_write (8 bytes) or "
	       "vmmu_vcpu_translate (a write, no data),\n        one enter/exit bracket per vCPU "
	       "pass, each pass on a fresh VM\n");
	printf("backing: %s (%s)", backing_names[o.backing],
	       o.backing == BACKING_THP ? "MADV_HUGEPAGE" : "MADV_NOHUGEPAGE");
	if (need_mem) {
		printf("; phases 1, 3, 4, 5: prefaulted (every 4K page touched before the VM "
		       "exists)%s", mem.madvise_ok ? "" : ", madvise failed");
		if (huge_kb >= 0)
			printf(", AnonHugePages %lld of %" PRIu64 " MiB", huge_kb >> 10,
			       mem.size >> 20);
	}
	if (o.phase[PH_FIRST])
		printf("; phase 2: not prefaulted");
	printf("; setup %.2f s\n\n", (double)(bench_now_ns() - t0) / 1e9);
	fflush(stdout);

	if (need_mem && run_prefaulted(&l, &o, &mem))
		goto out;
	host_free(&mem);
	for (unsigned int m = 0; m < BENCH_NR_MMU && o.phase[PH_FIRST]; m++)
		if (o.mmu[m] && phase_first(&l, &o, (enum bench_mmu)m))
			goto out;
	print_lines();
	if (o.phase[PH_SCALE] && o.vcpus == 1)
		printf("\nphase 5 (concurrent faults) needs -v 2 or more\n");
	if (o.quick)
		printf("\n--quick: sizes too small for the targets; a smoke test, not a measurement\n");
	ret = 0;
out:
	host_free(&mem);
	free(l.tables);
	return ret;
}
