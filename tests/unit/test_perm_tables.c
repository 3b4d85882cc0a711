// SPDX-License-Identifier: MIT
/*
 * The walker's precomputed permission tables (struct paging_mode:
 * permissions[], pk_mask[], fetch_id, nx) against the reference evaluator
 * of tests/ref, which states SDM 4.6 case by case.  Every CPU mode (CR0.WP,
 * CR4.SMEP/SMAP/PKE/PKS, EFER.NXE, paging mode), every access (read, write,
 * fetch; CPL 0 or 3; explicit or implicit; RFLAGS.AC 0 or 1), every rights
 * combination and every protection key with every AD/WD pattern.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "paging/paging.h"
#include "ref_walk.h"

enum pmode { PM_OFF, PM_32, PM_32_PSE, PM_PAE, PM_4LEVEL, PM_5LEVEL, PM_NR };

static const char *const pmode_name[PM_NR] = {
	"off", "32-bit", "32-bit+PSE", "PAE", "4-level", "5-level",
};

/* Mode feature bits, enumerated exhaustively. */
#define F_WP   1u
#define F_SMEP 2u
#define F_SMAP 4u
#define F_PKE  8u
#define F_PKS  16u
#define F_NXE  32u
#define F_ALL  63u

/* Control registers of a consistent CPU state in mode @pm with @features. */
static void make_cpu(struct ref_cpu *cpu, enum pmode pm, unsigned int features)
{
	memset(cpu, 0, sizeof(*cpu));
	cpu->cr0 = X86_CR0_PE | X86_CR0_ET;
	cpu->maxphyaddr = 46;
	if (pm != PM_OFF)
		cpu->cr0 |= X86_CR0_PG;
	if (pm == PM_32_PSE)
		cpu->cr4 |= X86_CR4_PSE;
	if (pm >= PM_PAE)
		cpu->cr4 |= X86_CR4_PAE;
	if (pm >= PM_4LEVEL)
		cpu->efer |= X86_EFER_LME | X86_EFER_LMA;
	if (pm == PM_5LEVEL)
		cpu->cr4 |= X86_CR4_LA57;
	if (features & F_WP)
		cpu->cr0 |= X86_CR0_WP;
	if (features & F_SMEP)
		cpu->cr4 |= X86_CR4_SMEP;
	if (features & F_SMAP)
		cpu->cr4 |= X86_CR4_SMAP;
	if (features & F_PKE)
		cpu->cr4 |= X86_CR4_PKE;
	if (features & F_PKS)
		cpu->cr4 |= X86_CR4_PKS;
	if (features & F_NXE)
		cpu->efer |= X86_EFER_NXE;
}

static void init_mode(struct paging_mode *m, const struct ref_cpu *cpu)
{
	struct paging_regs r = { .cr0 = cpu->cr0, .cr4 = cpu->cr4, .efer = cpu->efer };

	memset(m, 0xa5, sizeof(*m));
	paging_mode_init(m, &r, cpu->maxphyaddr);
}

/* XD exists only in 64-bit entries (PAE, IA-32e) and only with EFER.NXE. */
static bool xd_honoured(const struct ref_cpu *cpu)
{
	return (cpu->efer & X86_EFER_NXE) && ref_paging_levels(cpu) >= 3;
}

/*
 * The walker's ACCESS_* bits for an access, as its callers build them:
 * ACCESS_SMAP marks a supervisor data access that is implicit or made with
 * RFLAGS.AC=0.
 */
static unsigned int lib_access(const struct ref_cpu *cpu, const struct ref_access *acc)
{
	bool user = ref_user_access(cpu, acc);
	unsigned int a = 0;

	if (acc->kind == REF_WRITE)
		a |= ACCESS_WRITE;
	if (acc->kind == REF_FETCH)
		a |= ACCESS_FETCH;
	if (user)
		a |= ACCESS_USER;
	if (!user && acc->kind != REF_FETCH && (acc->implicit || !cpu->ac))
		a |= ACCESS_SMAP;
	return a;
}

/* The physical accesses: kind x CPL x implicit x AC. */
struct phys_access {
	struct ref_access acc;
	unsigned int cpl;
	bool ac;
};

static unsigned int all_accesses(struct phys_access *out)
{
	static const unsigned int cpls[] = { 0, 1, 2, 3 };
	unsigned int n = 0;

	for (unsigned int k = REF_READ; k <= REF_FETCH; k++)
		for (unsigned int c = 0; c < ARRAY_SIZE(cpls); c++)
			for (unsigned int imp = 0; imp < 2; imp++)
				for (unsigned int ac = 0; ac < 2; ac++) {
					if (imp && k == REF_FETCH)
						continue;
					out[n++] = (struct phys_access){
						.acc = { .kind = k, .implicit = imp },
						.cpl = cpls[c], .ac = ac,
					};
				}
	return n;
}

static const char *const kind_name[] = { "read", "write", "fetch" };

/* Variants of the access bits the table must treat alike: ACCESS_SMAP is
 * ignored for user accesses and fetches. */
static unsigned int access_variants(unsigned int a, unsigned int v[2])
{
	v[0] = a;
	if ((a & ACCESS_USER) || (a & ACCESS_FETCH)) {
		v[1] = a ^ ACCESS_SMAP;
		return 2;
	}
	return 1;
}

static unsigned int reported;

static void report(const char *what, const struct ref_cpu *cpu, const struct phys_access *p,
		   unsigned int a, const char *detail, bool lib, bool ref)
{
	if (reported++ >= 8)
		return;
	print_message("MISMATCH %s: cr0=%#llx cr4=%#llx efer=%#llx cpl=%u ac=%d %s%s "
		      "access=%#x %s lib=%d ref=%d\n", what,
		      (unsigned long long)cpu->cr0, (unsigned long long)cpu->cr4,
		      (unsigned long long)cpu->efer, p->cpl, p->ac, kind_name[p->acc.kind],
		      p->acc.implicit ? " implicit" : "", a, detail, lib, ref);
}

/* permissions[] against ref_rights_fault(): mismatches found. */
static unsigned int compare_permissions(const struct paging_mode *m, const struct ref_cpu *base)
{
	struct phys_access pa[64];
	unsigned int n = all_accesses(pa), bad = 0;

	for (unsigned int i = 0; i < n; i++) {
		struct ref_cpu cpu = *base;
		unsigned int v[2], nv;

		cpu.cpl = pa[i].cpl;
		cpu.ac = pa[i].ac;
		nv = access_variants(lib_access(&cpu, &pa[i].acc), v);
		for (unsigned int r = 0; r <= RIGHTS_ALL; r++) {
			bool xd = !(r & RIGHT_EXEC);
			bool ref;

			/* Without XD, no walk yields rights lacking RIGHT_EXEC. */
			if (xd && !xd_honoured(&cpu))
				continue;
			ref = ref_rights_fault(&cpu, &pa[i].acc, r & RIGHT_USER, r & RIGHT_WRITE, xd);
			for (unsigned int j = 0; j < nv; j++) {
				bool lib = (m->permissions[access_index(v[j])] >> r) & 1;
				char d[32];

				if (lib == ref)
					continue;
				bad++;
				snprintf(d, sizeof(d), "rights=%u", r);
				report("permissions", &cpu, &pa[i], v[j], d, lib, ref);
			}
		}
	}
	return bad;
}

/* The library's protection-key verdict: pk_mask[] applied to the key's bits. */
static bool lib_pk_fault(const struct paging_mode *m, unsigned int a, bool user_page,
			 uint32_t pkru, uint32_t pkrs, unsigned int key)
{
	uint32_t reg = user_page ? pkru : pkrs;
	unsigned int adwd = (reg >> (2 * key)) & 3;

	return m->pk_active && (m->pk_mask[pk_index(a, user_page)] & adwd);
}

/* pk_mask[] against ref_pk_fault(): every key, every AD/WD pattern of it,
 * the other keys all clear or all set. */
static unsigned int compare_pk(const struct paging_mode *m, const struct ref_cpu *base)
{
	struct phys_access pa[64];
	unsigned int n = all_accesses(pa), bad = 0;

	for (unsigned int i = 0; i < n; i++) {
		struct ref_cpu cpu = *base;
		unsigned int v[2], nv;

		cpu.cpl = pa[i].cpl;
		cpu.ac = pa[i].ac;
		nv = access_variants(lib_access(&cpu, &pa[i].acc), v);
		for (unsigned int up = 0; up < 2; up++)
			for (unsigned int key = 0; key < 16; key++)
				for (unsigned int pat = 0; pat < 4; pat++)
					for (unsigned int others = 0; others < 2; others++) {
						uint32_t reg = others ? ~0u : 0;
						bool ref;

						reg &= ~(3u << (2 * key));
						reg |= pat << (2 * key);
						cpu.pkru = reg;
						cpu.pkrs = reg;
						ref = ref_pk_fault(&cpu, &pa[i].acc, up, key);
						/* Each register alone must decide its pages. */
						for (unsigned int j = 0; j < nv; j++) {
							bool lib = lib_pk_fault(m, v[j], up, up ? reg : ~reg,
										up ? ~reg : reg, key);
							char d[64];

							if (lib == ref)
								continue;
							bad++;
							snprintf(d, sizeof(d), "%s page key=%u adwd=%u",
								 up ? "user" : "supervisor", key, pat);
							report("pk", &cpu, &pa[i], v[j], d, lib, ref);
						}
					}
	}
	return bad;
}

/* The mode summary against the SDM's definitions. */
static unsigned int compare_summary(const struct paging_mode *m, const struct ref_cpu *cpu)
{
	unsigned int levels = ref_paging_levels(cpu), bad = 0;
	bool nxe = cpu->efer & X86_EFER_NXE;
	uint8_t large;

	if (m->levels != levels) {
		print_message("levels %u, want %u\n", m->levels, levels);
		bad++;
	}
	if (levels == 0)
		return bad;     /* no walk, no fault */
	if (m->long_mode != !!(cpu->efer & X86_EFER_LMA)) {
		print_message("long_mode %d\n", m->long_mode);
		bad++;
	}
	if (m->nx != xd_honoured(cpu)) {
		print_message("nx %d, want %d\n", m->nx, xd_honoured(cpu));
		bad++;
	}
	/* SDM 4.7: I/D if CR4.SMEP=1, or CR4.PAE=1 and EFER.NXE=1. */
	if (m->fetch_id != ((cpu->cr4 & X86_CR4_SMEP) || ((cpu->cr4 & X86_CR4_PAE) && nxe))) {
		print_message("fetch_id %d (cr4=%#llx efer=%#llx)\n", m->fetch_id,
			      (unsigned long long)cpu->cr4, (unsigned long long)cpu->efer);
		bad++;
	}
	/* 4M pages with CR4.PSE, 2M with PAE, 2M and 1G with IA-32e. */
	if (levels == 2)
		large = (cpu->cr4 & X86_CR4_PSE) ? 1u << 2 : 0;
	else if (levels == 3)
		large = 1u << 2;
	else
		large = (1u << 2) | (1u << 3);
	if (m->large_levels != large) {
		print_message("large_levels %#x, want %#x\n", m->large_levels, large);
		bad++;
	}
	return bad;
}

static unsigned int compare_mode(const struct paging_mode *m, const struct ref_cpu *cpu)
{
	if (ref_paging_levels(cpu) == 0)
		return compare_summary(m, cpu);
	return compare_summary(m, cpu) + compare_permissions(m, cpu) + compare_pk(m, cpu);
}

/* Every mode: the tables agree with the SDM. */
static void test_all_modes(void **state)
{
	unsigned int bad = 0, modes = 0;

	(void)state;
	reported = 0;
	for (unsigned int pm = 0; pm < PM_NR; pm++)
		for (unsigned int f = 0; f <= F_ALL; f++) {
			struct ref_cpu cpu;
			struct paging_mode m;
			unsigned int b;

			make_cpu(&cpu, pm, f);
			init_mode(&m, &cpu);
			b = compare_mode(&m, &cpu);
			if (b)
				print_message("  in mode %s features %#x: %u mismatches\n",
					      pmode_name[pm], f, b);
			bad += b;
			modes++;
		}
	print_message("%u modes compared\n", modes);
	assert_int_equal(bad, 0);
}

/*
 * The comparison can fail: flipping any one table bit that some access
 * reads must be caught.  (Indices with both WRITE and FETCH are no access.)
 */
static void test_flipped_bit_is_caught(void **state)
{
	struct ref_cpu cpu;
	struct paging_mode m, bad;
	unsigned int caught = 0, flips = 0;

	(void)state;
	make_cpu(&cpu, PM_4LEVEL, F_ALL);
	init_mode(&m, &cpu);
	reported = 0;
	assert_int_equal(compare_mode(&m, &cpu), 0);

	reported = 8;   /* quiet: mismatches are expected below */
	for (unsigned int i = 0; i < 16; i++) {
		if ((i << 1 & ACCESS_WRITE) && (i << 1 & ACCESS_FETCH))
			continue;
		for (unsigned int r = 0; r <= RIGHTS_ALL; r++) {
			bad = m;
			bad.permissions[i] ^= 1u << r;
			flips++;
			caught += compare_mode(&bad, &cpu) != 0;
		}
		for (unsigned int b = 0; b < 2; b++) {
			bad = m;
			bad.pk_mask[i] ^= 1u << b;
			flips++;
			caught += compare_mode(&bad, &cpu) != 0;
		}
	}
	bad = m;
	bad.fetch_id = !bad.fetch_id;
	flips++;
	caught += compare_mode(&bad, &cpu) != 0;
	print_message("%u of %u single-bit flips caught\n", caught, flips);
	assert_int_equal(caught, flips);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_all_modes),
		cmocka_unit_test(test_flipped_bit_is_caught),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
