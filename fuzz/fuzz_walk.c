// SPDX-License-Identifier: MIT
/*
 * Fuzzes the guest page walker against the reference walker (tests/ref):
 * any disagreement on fault, error code, GPA, leaf level, rights, PDPTE
 * load or the A/D bits written to memory is a crash.
 *
 * Input (little-endian; gen_walk_corpus.py writes the seed corpus):
 *   0      u8   paging mode: value % 6 = off, 32-bit, 32-bit+PSE, PAE,
 *               4-level, 5-level
 *   1      u8   MAXPHYADDR = 36 + value % 17
 *   2      u8   bit 0 CR0.WP, 1 CR4.SMEP, 2 CR4.SMAP, 3 CR4.PKE, 4 CR4.PKS,
 *               5 EFER.NXE, 6 CR4.PSE (PAE and IA-32e), 7 read-only memory
 *   3      u8   bits 1:0 CPL, bit 2 RFLAGS.AC
 *   4      u64  CR3 (bits a MOV to CR3 would reject are cleared)
 *   12     u32  PKRU
 *   16     u32  PKRS
 *   20     u8   number of accesses N = 1 + value % 16
 *   21     N x { u8 op, u64 gva }: op bits 1:0 read/write/fetch (3: read),
 *               bit 2 implicit, bit 3 ACCESS_SMAP where it must be ignored,
 *               bit 4 WALK_NO_AD, bit 5 lose the first A/D compare-and-swap
 *               to a change of bit 9 + (bits 7:6 % 3) of the entry; the gva
 *               is made canonical (32-bit outside IA-32e)
 *   ...         guest memory image: GPA 0 up; RAM is 64 KiB, zero-filled
 *               past the image.
 * With PAE paging the PDPTEs are loaded from CR3 by both loaders; a #GP
 * ends the input.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "paging/paging.h"
#include "ref_walk.h"

#define RAM_SIZE   (64u * 1024)
#define HDR_SIZE   21
#define OP_SIZE    9

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t lib_ram[RAM_SIZE], ref_ram[RAM_SIZE];

/* ---- The library's view of guest memory ---------------------------------- */

struct fuzz_mem {
	struct pt_mem ops;
	bool ro;
	unsigned int entry_size;
	bool cas_armed;            /* XOR cas_xor into the first entry mapped */
	uint64_t cas_xor;          /* for writing, once */
	uint64_t cas_gpa;
	bool cas_fired;
};

static void *fuzz_map(struct pt_mem *pm, gpa_t gpa, bool write)
{
	struct fuzz_mem *m = (struct fuzz_mem *)pm;

	/* The walker maps whole, aligned entries. */
	if (gpa % m->entry_size)
		__builtin_trap();
	if (gpa >= RAM_SIZE)
		return NULL;
	if (write && m->ro)
		return NULL;
	if (write && m->cas_armed && !m->cas_fired) {
		m->cas_fired = true;
		m->cas_gpa = gpa;
		for (unsigned int i = 0; i < m->entry_size; i++)
			lib_ram[gpa + i] ^= (uint8_t)(m->cas_xor >> (8 * i));
	}
	return lib_ram + gpa;
}

/* ---- Decoding ---------------------------------------------------------------- */

static uint64_t get_le(const uint8_t *p, unsigned int n)
{
	uint64_t v = 0;

	for (unsigned int i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

enum { PM_OFF, PM_32, PM_32_PSE, PM_PAE, PM_4LEVEL, PM_5LEVEL };

static void decode_cpu(const uint8_t *h, struct ref_cpu *cpu, bool *ro)
{
	unsigned int pm = h[0] % 6, f = h[2];

	memset(cpu, 0, sizeof(*cpu));
	cpu->maxphyaddr = 36 + h[1] % 17;
	cpu->cr0 = X86_CR0_PE | X86_CR0_ET | (pm != PM_OFF ? X86_CR0_PG : 0);
	cpu->cr0 |= (f & 1) ? X86_CR0_WP : 0;
	cpu->cr4 |= (f & 2) ? X86_CR4_SMEP : 0;
	cpu->cr4 |= (f & 4) ? X86_CR4_SMAP : 0;
	cpu->cr4 |= (f & 8) ? X86_CR4_PKE : 0;
	cpu->cr4 |= (f & 16) ? X86_CR4_PKS : 0;
	cpu->efer |= (f & 32) ? X86_EFER_NXE : 0;
	if (pm == PM_32_PSE || (pm >= PM_PAE && (f & 64)))
		cpu->cr4 |= X86_CR4_PSE;
	if (pm >= PM_PAE)
		cpu->cr4 |= X86_CR4_PAE;
	if (pm >= PM_4LEVEL)
		cpu->efer |= X86_EFER_LME | X86_EFER_LMA;
	if (pm == PM_5LEVEL)
		cpu->cr4 |= X86_CR4_LA57;
	*ro = f & 128;
	cpu->cpl = h[3] & 3;
	cpu->ac = h[3] & 4;
	cpu->cr3 = get_le(h + 4, 8);
	if (pm >= PM_4LEVEL)
		cpu->cr3 &= bit_range(cpu->maxphyaddr - 1, 0);
	else
		cpu->cr3 &= 0xffffffffull;
	cpu->pkru = (uint32_t)get_le(h + 12, 4);
	cpu->pkrs = (uint32_t)get_le(h + 16, 4);
}

static uint64_t canonical(const struct ref_cpu *cpu, uint64_t gva)
{
	switch (ref_paging_levels(cpu)) {
	case 4:
		return (uint64_t)((int64_t)(gva << 16) >> 16);
	case 5:
		return (uint64_t)((int64_t)(gva << 7) >> 7);
	default:
		return gva & 0xffffffffull;
	}
}

/* The walker's ACCESS_* bits (ACCESS_SMAP: supervisor data access that is
 * implicit or made with RFLAGS.AC=0; @noise adds it where it is ignored). */
static unsigned int lib_access(const struct ref_cpu *cpu, const struct ref_access *acc, bool noise)
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
	if (noise && (user || acc->kind == REF_FETCH))
		a |= ACCESS_SMAP;
	return a;
}

static unsigned int ref_rights(const struct ref_result *r)
{
	return (r->xd ? 0 : RIGHT_EXEC) | (r->writable ? RIGHT_WRITE : 0) |
	       (r->user_addr ? RIGHT_USER : 0);
}

/* One access both ways; traps on any disagreement. */
static void run_access(const struct ref_cpu *cpu, const struct paging_mode *m,
		       struct fuzz_mem *fm, const uint8_t *op)
{
	struct ref_access acc = { .kind = (op[0] & 3) == 3 ? REF_READ : (op[0] & 3) };
	struct ref_mem rm = { .buf = ref_ram, .size = RAM_SIZE, .ro = fm->ro };
	struct walk_regs wr = {
		.cr3 = cpu->cr3, .pdpte = cpu->pdpte, .pkru = cpu->pkru, .pkrs = cpu->pkrs,
	};
	unsigned int flags = (op[0] & 16) ? WALK_NO_AD : 0;
	uint64_t gva = canonical(cpu, get_le(op + 1, 8));
	struct walk_result lr;
	struct ref_result rr;
	bool ok;

	acc.implicit = acc.kind != REF_FETCH && (op[0] & 4);
	fm->cas_armed = (op[0] & 32) && !fm->ro;
	fm->cas_fired = false;
	fm->cas_xor = 1ull << (9 + ((op[0] >> 6) % 3));
	memset(&lr, 0, sizeof(lr));
	ok = walk_guest(m, &wr, &fm->ops, gva, lib_access(cpu, &acc, op[0] & 8), flags, &lr);
	if (fm->cas_armed && fm->cas_fired)
		for (unsigned int i = 0; i < fm->entry_size; i++)
			ref_ram[fm->cas_gpa + i] ^= (uint8_t)(fm->cas_xor >> (8 * i));
	fm->cas_armed = false;
	ref_walk(cpu, &rm, gva, &acc, !(flags & WALK_NO_AD), &rr);

	if (ok == rr.fault)
		__builtin_trap();
	if (!ok && lr.error_code != rr.error_code)
		__builtin_trap();
	if (ok && lr.gpa != rr.gpa)
		__builtin_trap();
	if (ok && m->levels && (lr.level != rr.level || lr.rights != ref_rights(&rr)))
		__builtin_trap();
	if (memcmp(lib_ram, ref_ram, RAM_SIZE))
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ref_cpu cpu;
	struct paging_mode m;
	struct paging_regs pr;
	struct fuzz_mem fm = { .ops.map = fuzz_map };
	struct ref_mem rm = { .buf = ref_ram, .size = RAM_SIZE };
	unsigned int n;
	size_t image;

	if (size < HDR_SIZE)
		return 0;
	decode_cpu(data, &cpu, &fm.ro);
	n = 1 + data[20] % 16;
	if (size < HDR_SIZE + (size_t)n * OP_SIZE)
		return 0;
	image = size - HDR_SIZE - (size_t)n * OP_SIZE;
	if (image > RAM_SIZE)
		image = RAM_SIZE;
	memset(lib_ram, 0, RAM_SIZE);
	memcpy(lib_ram, data + HDR_SIZE + (size_t)n * OP_SIZE, image);
	memcpy(ref_ram, lib_ram, RAM_SIZE);

	if (ref_paging_levels(&cpu) == 3) {
		uint64_t lp[4] = { 0 };
		int lrc, rrc;

		fm.entry_size = 8;
		lrc = paging_load_pdptes(&fm.ops, cpu.cr3, cpu.maxphyaddr, lp);
		rrc = ref_load_pdptes(&rm, cpu.cr3, cpu.maxphyaddr, cpu.pdpte);
		if (lrc != rrc || (!rrc && memcmp(lp, cpu.pdpte, sizeof(lp))))
			__builtin_trap();
		if (rrc)
			return 0;       /* the MOV to CR3 would #GP */
	}
	fm.entry_size = ref_paging_levels(&cpu) == 2 ? 4 : 8;
	pr = (struct paging_regs){ .cr0 = cpu.cr0, .cr4 = cpu.cr4, .efer = cpu.efer };
	paging_mode_init(&m, &pr, cpu.maxphyaddr);
	for (unsigned int i = 0; i < n; i++)
		run_access(&cpu, &m, &fm, data + HDR_SIZE + (size_t)i * OP_SIZE);
	return 0;
}
