// SPDX-License-Identifier: MIT
/*
 * Reference x86 page walker (Intel SDM vol. 3, ch. 4), for tests only.
 *
 * Written to be read next to the SDM, not to be fast: every paging mode has
 * its own function, every level computes its reserved bits from the SDM's
 * entry-format tables (4-4 to 4-20), and the access rights of section 4.6
 * are spelled out case by case.  Nothing here is shared with src/paging
 * except the architectural bit names of paging.h.
 */
#include <string.h>

#include "paging/paging.h"
#include "ref_walk.h"

/* Bits hi..lo of a 64-bit value; empty when hi < lo (e.g. 51:52). */
static uint64_t bits(unsigned int hi, unsigned int lo)
{
	uint64_t m = 0;

	for (unsigned int b = lo; b <= hi && b < 64; b++)
		m |= 1ull << b;
	return m;
}

static bool test_bit(uint64_t v, unsigned int b)
{
	return (v >> b) & 1;
}

/* ---- Memory ---------------------------------------------------------------- */

/* Reads a little-endian entry; false when any byte has no RAM. */
static bool mem_read(const struct ref_mem *mem, uint64_t gpa, unsigned int size, uint64_t *val)
{
	uint64_t v = 0;

	if (gpa >= mem->size || mem->size - gpa < size)
		return false;
	for (unsigned int i = 0; i < size; i++)
		v |= (uint64_t)mem->buf[gpa + i] << (8 * i);
	*val = v;
	return true;
}

static void mem_write(struct ref_mem *mem, uint64_t gpa, unsigned int size, uint64_t val)
{
	for (unsigned int i = 0; i < size; i++)
		mem->buf[gpa + i] = (uint8_t)(val >> (8 * i));
}

/* ---- Modes and accesses ------------------------------------------------------ */

/* SDM 4.1.1, table 4-1. */
unsigned int ref_paging_levels(const struct ref_cpu *cpu)
{
	if (!(cpu->cr0 & X86_CR0_PG))
		return 0;
	if (!(cpu->cr4 & X86_CR4_PAE))
		return 2;
	if (!(cpu->efer & X86_EFER_LMA))
		return 3;
	return (cpu->cr4 & X86_CR4_LA57) ? 5 : 4;
}

/*
 * SDM 4.6: "Every access to a linear address is either a supervisor-mode
 * access or a user-mode access.  For all instruction fetches and most data
 * accesses, this distinction is determined by the current privilege level
 * (CPL): accesses made while CPL < 3 are supervisor-mode accesses, while
 * accesses made while CPL = 3 are user-mode accesses."  Implicit accesses
 * (descriptor tables and the like) are supervisor-mode accesses at any CPL.
 */
bool ref_user_access(const struct ref_cpu *cpu, const struct ref_access *acc)
{
	return cpu->cpl == 3 && !acc->implicit;
}

/* SMAP forbids this supervisor data access to user-mode addresses (4.6.1). */
static bool smap_forbids(const struct ref_cpu *cpu, const struct ref_access *acc)
{
	if (!(cpu->cr4 & X86_CR4_SMAP))
		return false;
	/* Allowed only if RFLAGS.AC = 1 and the access is explicit. */
	return !cpu->ac || acc->implicit;
}

/* SDM 4.6.1, "Determination of Access Rights", case by case. */
bool ref_rights_fault(const struct ref_cpu *cpu, const struct ref_access *acc,
		      bool user_addr, bool writable, bool xd)
{
	bool wp = cpu->cr0 & X86_CR0_WP;
	bool smep = cpu->cr4 & X86_CR4_SMEP;
	bool nxe = cpu->efer & X86_EFER_NXE;

	if (ref_user_access(cpu, acc)) {
		/* User-mode accesses touch user-mode addresses only. */
		if (!user_addr)
			return true;
		switch (acc->kind) {
		case REF_READ:
			return false;
		case REF_WRITE:
			/* R/W=1 at every level, whatever CR0.WP says. */
			return !writable;
		case REF_FETCH:
			/* With EFER.NXE=1, XD=0 at every level. */
			return nxe && xd;
		}
		return true;
	}

	/* Supervisor-mode access. */
	switch (acc->kind) {
	case REF_READ:
		/* Any supervisor-mode address; user-mode ones unless SMAP. */
		return user_addr && smap_forbids(cpu, acc);
	case REF_WRITE:
		if (user_addr && smap_forbids(cpu, acc))
			return true;
		/* CR0.WP=0: any address; CR0.WP=1: R/W=1 at every level. */
		return wp && !writable;
	case REF_FETCH:
		/* SMEP: never from a user-mode address. */
		if (user_addr && smep)
			return true;
		/* With EFER.NXE=1, XD=0 at every level. */
		return nxe && xd;
	}
	return true;
}

/*
 * SDM 4.6.2: protection keys, IA-32e paging only (4- and 5-level), data
 * accesses only.  PKRU governs user-mode addresses when CR4.PKE=1, PKRS
 * supervisor-mode addresses when CR4.PKS=1; key i has AD at bit 2i and WD
 * at bit 2i+1.  AD denies every data access.  WD denies writes when
 * CR0.WP=1 and, for PKRU only, user-mode writes whatever CR0.WP says: the
 * PK flag of SDM 4.7 names the user-mode clause for PKRU alone (a user-mode
 * write to a supervisor-mode address faults on U/S anyway).  KVM's PKS
 * patches (never merged) apply the user-mode clause to PKRS too; QEMU checks
 * U/S first and never reports PK for that write.
 */
bool ref_pk_fault(const struct ref_cpu *cpu, const struct ref_access *acc,
		  bool user_addr, unsigned int key)
{
	unsigned int levels = ref_paging_levels(cpu);
	uint32_t reg;
	bool ad, wd;

	if (levels != 4 && levels != 5)
		return false;
	if (acc->kind == REF_FETCH)
		return false;
	if (user_addr) {
		if (!(cpu->cr4 & X86_CR4_PKE))
			return false;
		reg = cpu->pkru;
	} else {
		if (!(cpu->cr4 & X86_CR4_PKS))
			return false;
		reg = cpu->pkrs;
	}
	ad = test_bit(reg, 2 * key);
	wd = test_bit(reg, 2 * key + 1);
	if (ad)
		return true;
	if (wd && acc->kind == REF_WRITE &&
	    ((user_addr && ref_user_access(cpu, acc)) || (cpu->cr0 & X86_CR0_WP)))
		return true;
	return false;
}

/* ---- The walk ------------------------------------------------------------- */

/* What a walk collects on its way down. */
struct walk {
	const struct ref_cpu *cpu;
	struct ref_mem *mem;
	const struct ref_access *acc;
	uint64_t gva;
	struct ref_result *res;
	/* Entries used, top level first (for the A/D flags). */
	unsigned int nr_used;
	uint64_t used_gpa[PT_MAX_LEVELS];
	unsigned int used_size[PT_MAX_LEVELS];
};

/*
 * SDM 4.7: the error code's W, U and I/D bits.  I/D is set for an
 * instruction fetch only if CR4.SMEP=1, or CR4.PAE=1 and EFER.NXE=1.
 */
static uint32_t access_error_code(const struct walk *w)
{
	const struct ref_cpu *cpu = w->cpu;
	uint32_t err = 0;

	if (w->acc->kind == REF_WRITE)
		err |= PFERR_WRITE;
	if (ref_user_access(cpu, w->acc))
		err |= PFERR_USER;
	if (w->acc->kind == REF_FETCH &&
	    ((cpu->cr4 & X86_CR4_SMEP) ||
	     ((cpu->cr4 & X86_CR4_PAE) && (cpu->efer & X86_EFER_NXE))))
		err |= PFERR_FETCH;
	return err;
}

/* A not-present entry (or one at a GPA without RAM): P=0. */
static void fault_not_present(struct walk *w)
{
	w->res->fault = true;
	w->res->error_code = access_error_code(w);
}

/* A present entry with a reserved bit set: P=1, RSVD=1. */
static void fault_reserved(struct walk *w)
{
	w->res->fault = true;
	w->res->error_code = PFERR_PRESENT | PFERR_RSVD | access_error_code(w);
}

/*
 * Reads the entry at @gpa.  Returns false (and records the fault) when it
 * has no RAM or is not present, or when it is present with one of @rsvd.
 */
static bool read_entry(struct walk *w, uint64_t gpa, unsigned int size, uint64_t *entry)
{
	if (!mem_read(w->mem, gpa, size, entry)) {
		fault_not_present(w);
		return false;
	}
	if (!test_bit(*entry, 0)) {
		fault_not_present(w);
		return false;
	}
	w->used_gpa[w->nr_used] = gpa;
	w->used_size[w->nr_used] = size;
	w->nr_used++;
	return true;
}

/* Reserved-bit check of a present entry. */
static bool check_reserved(struct walk *w, uint64_t entry, uint64_t rsvd)
{
	if (entry & rsvd) {
		fault_reserved(w);
		return false;
	}
	return true;
}

/* Rights are combined over every level: U/S and R/W AND-ed, XD OR-ed. */
static void combine_rights(struct walk *w, uint64_t entry, bool has_xd)
{
	if (!test_bit(entry, 2))
		w->res->user_addr = false;
	if (!test_bit(entry, 1))
		w->res->writable = false;
	if (has_xd && (w->cpu->efer & X86_EFER_NXE) && test_bit(entry, 63))
		w->res->xd = true;
}

/* The leaf is reached: check rights and keys, then set A and D. */
static void finish(struct walk *w, uint64_t gpa, unsigned int level, bool set_ad)
{
	struct ref_result *res = w->res;
	bool rights = ref_rights_fault(w->cpu, w->acc, res->user_addr, res->writable, res->xd);
	bool pk = ref_pk_fault(w->cpu, w->acc, res->user_addr, res->key);

	if (rights || pk) {
		/* PK is reported whenever keys deny, whatever else does (4.7). */
		res->fault = true;
		res->error_code = PFERR_PRESENT | access_error_code(w) | (pk ? PFERR_PK : 0);
		return;
	}
	res->gpa = gpa;
	res->level = level;
	if (!set_ad || w->mem->ro)
		return;
	/* SDM 4.8: A in every entry used, D in the leaf for a write. */
	for (unsigned int i = 0; i < w->nr_used; i++) {
		bool leaf = i == w->nr_used - 1;
		uint64_t old = 0, new;

		mem_read(w->mem, w->used_gpa[i], w->used_size[i], &old);
		new = old | PT_ACCESSED;
		if (leaf && w->acc->kind == REF_WRITE)
			new |= PT_DIRTY;
		if (new == old)
			continue;
		mem_write(w->mem, w->used_gpa[i], w->used_size[i], new);
		if (res->nr_ad < REF_MAX_AD)
			res->ad[res->nr_ad++] = (struct ref_ad){
				.gpa = w->used_gpa[i], .old = old, .new = new,
				.size = w->used_size[i],
			};
	}
}

/*
 * 32-bit paging (SDM 4.3): 4-byte entries, PDE then PTE, no XD, no reserved
 * bits except in a 4-MByte PDE (PSE-36, table 4-4).
 */
static void walk_32bit(struct walk *w, bool set_ad)
{
	const struct ref_cpu *cpu = w->cpu;
	uint64_t gva = w->gva, pde, pte, gpa;
	unsigned int m;

	/* PDE: CR3[31:12], linear address bits 31:22. */
	if (!read_entry(w, (cpu->cr3 & 0xfffff000ull) | (((gva >> 22) & 0x3ff) << 2), 4, &pde))
		return;
	combine_rights(w, pde, false);
	if ((cpu->cr4 & X86_CR4_PSE) && test_bit(pde, 7)) {
		/*
		 * 4-MByte page, M = min(MAXPHYADDR, 40): bits (M-20):13 hold
		 * physical bits (M-1):32, bits 21:(M-19) are reserved.
		 */
		m = cpu->maxphyaddr < 40 ? cpu->maxphyaddr : 40;
		if (!check_reserved(w, pde, bits(21, m - 19)))
			return;
		gpa = (pde & 0xffc00000ull) |
		      (((pde >> 13) & bits(m - 33, 0)) << 32) |
		      (gva & 0x3fffff);
		finish(w, gpa, 2, set_ad);
		return;
	}
	/* With CR4.PSE=0, PDE bit 7 is ignored.  PTE: bits 21:12. */
	if (!read_entry(w, (pde & 0xfffff000ull) | (((gva >> 12) & 0x3ff) << 2), 4, &pte))
		return;
	combine_rights(w, pte, false);
	finish(w, (pte & 0xfffff000ull) | (gva & 0xfff), 1, set_ad);
}

/* Reserved bits of a PAE PDE or PTE (tables 4-9 to 4-11). */
static uint64_t pae_rsvd(const struct ref_cpu *cpu, uint64_t entry, unsigned int level)
{
	uint64_t rsvd = bits(62, cpu->maxphyaddr);

	if (!(cpu->efer & X86_EFER_NXE))
		rsvd |= bits(63, 63);
	if (level == 2 && test_bit(entry, 7))
		rsvd |= bits(20, 13);    /* 2-MByte page */
	return rsvd;
}

/*
 * PAE paging (SDM 4.4): the PDPTE registers (loaded at MOV to CR3, never
 * re-read, no rights, no A flag), then 8-byte PDE and PTE.
 */
static void walk_pae(struct walk *w, bool set_ad)
{
	const struct ref_cpu *cpu = w->cpu;
	uint64_t gva = w->gva, pdpte, pde, pte, frame = bits(cpu->maxphyaddr - 1, 12);

	pdpte = cpu->pdpte[(gva >> 30) & 3];
	if (!test_bit(pdpte, 0)) {
		fault_not_present(w);
		return;
	}
	if (!read_entry(w, (pdpte & frame) | (((gva >> 21) & 0x1ff) << 3), 8, &pde))
		return;
	if (!check_reserved(w, pde, pae_rsvd(cpu, pde, 2)))
		return;
	combine_rights(w, pde, true);
	if (test_bit(pde, 7)) {
		/* 2-MByte page: physical bits (M-1):21. */
		finish(w, (pde & bits(cpu->maxphyaddr - 1, 21)) | (gva & bits(20, 0)), 2, set_ad);
		return;
	}
	if (!read_entry(w, (pde & frame) | (((gva >> 12) & 0x1ff) << 3), 8, &pte))
		return;
	if (!check_reserved(w, pte, pae_rsvd(cpu, pte, 1)))
		return;
	combine_rights(w, pte, true);
	finish(w, (pte & frame) | (gva & 0xfff), 1, set_ad);
}

/*
 * Reserved bits of a 4-level or 5-level paging entry (tables 4-14 to 4-20):
 * 51:MAXPHYADDR everywhere, bit 63 without EFER.NXE, PS (bit 7) in PML5Es
 * and PML4Es, 29:13 in a 1-GByte PDPTE, 20:13 in a 2-MByte PDE.  Bits
 * 62:52 are ignored (62:59 are the key of a leaf).
 */
static uint64_t ia32e_rsvd(const struct ref_cpu *cpu, uint64_t entry, unsigned int level)
{
	uint64_t rsvd = bits(51, cpu->maxphyaddr);

	if (!(cpu->efer & X86_EFER_NXE))
		rsvd |= bits(63, 63);
	switch (level) {
	case 5:	/* PML5E */
	case 4:	/* PML4E */
		rsvd |= bits(7, 7);
		break;
	case 3:	/* PDPTE */
		if (test_bit(entry, 7))
			rsvd |= bits(29, 13);
		break;
	case 2:	/* PDE */
		if (test_bit(entry, 7))
			rsvd |= bits(20, 13);
		break;
	case 1:	/* PTE: bit 7 is PAT */
		break;
	}
	return rsvd;
}

/* 4-level and 5-level paging (SDM 4.5). */
static void walk_ia32e(struct walk *w, unsigned int levels, bool set_ad)
{
	const struct ref_cpu *cpu = w->cpu;
	uint64_t frame = bits(cpu->maxphyaddr - 1, 12);
	uint64_t table = cpu->cr3 & frame, entry;

	for (unsigned int level = levels; level >= 1; level--) {
		unsigned int shift = 12 + 9 * (level - 1);
		uint64_t index = (w->gva >> shift) & 0x1ff;

		if (!read_entry(w, table | (index << 3), 8, &entry))
			return;
		if (!check_reserved(w, entry, ia32e_rsvd(cpu, entry, level)))
			return;
		combine_rights(w, entry, true);
		/* A page: PTE, or PS=1 in a PDE (2 MB) or PDPTE (1 GB). */
		if (level == 1 || ((level == 2 || level == 3) && test_bit(entry, 7))) {
			w->res->key = (entry >> 59) & 0xf;
			finish(w, (entry & bits(cpu->maxphyaddr - 1, shift)) |
				  (w->gva & bits(shift - 1, 0)), level, set_ad);
			return;
		}
		table = entry & frame;
	}
}

void ref_walk(const struct ref_cpu *cpu, struct ref_mem *mem, uint64_t gva,
	      const struct ref_access *acc, bool set_ad, struct ref_result *res)
{
	struct walk w = { .cpu = cpu, .mem = mem, .acc = acc, .gva = gva, .res = res };
	unsigned int levels = ref_paging_levels(cpu);

	memset(res, 0, sizeof(*res));
	res->user_addr = true;
	res->writable = true;
	switch (levels) {
	case 0:
		/* Paging off: linear addresses are physical. */
		res->gpa = gva;
		break;
	case 2:
		walk_32bit(&w, set_ad);
		break;
	case 3:
		walk_pae(&w, set_ad);
		break;
	default:
		walk_ia32e(&w, levels, set_ad);
		break;
	}
}

/* SDM 4.4.1: PDPTEs are loaded from CR3[31:5]; a reserved bit is #GP. */
int ref_load_pdptes(const struct ref_mem *mem, uint64_t cr3, unsigned int maxphyaddr,
		    uint64_t pdpte[4])
{
	uint64_t base = cr3 & bits(31, 5), e[4];
	uint64_t rsvd = bits(2, 1) | bits(8, 5) | bits(63, maxphyaddr);

	for (unsigned int i = 0; i < 4; i++) {
		if (!mem_read(mem, base + 8 * i, 8, &e[i]))
			return -1;
		if (test_bit(e[i], 0) && (e[i] & rsvd))
			return -1;
	}
	memcpy(pdpte, e, sizeof(e));
	return 0;
}
