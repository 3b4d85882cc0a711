// SPDX-License-Identifier: MIT
/*
 * Page tables of the maps test guest, one set per paging mode, chosen by
 * "mode=NAME" on the multiboot command line (QEMU's -append):
 *
 *   32        32-bit paging, CR4.PSE=1: 4K and 4M pages, PSE-36, a reserved
 *             bit in a 4M PDE, two PDEs sharing a page table, a PD that
 *             maps itself at 0xffc00000
 *   32nopse   the same tables with CR4.PSE=0: PS in a PDE is ignored
 *   pae       PAE with EFER.NXE: 2M pages, XD on leaves and on a table,
 *             PAT, reserved bits (in a PTE, a 2M PDE, a PDPTE), a PDPT
 *             that is not page-aligned, a self-mapping PD
 *   4         4-level: 1G/2M/4K pages, user/supervisor/RO/XD/G/PCD/PWT,
 *             a protection key, ignored bits, PS in a PML4E, a recursive
 *             PML4 entry, mappings at the very top of the address space
 *   5         5-level (LA57): three PML5 entries, a recursive PML5 entry,
 *             and not-present entries that carry U/W/PS bits
 *
 * Every mode identity-maps 1M..1.5M, where this guest runs.  Nothing here
 * has to make sense as an operating system: the tables exist to be listed
 * by QEMU's `info tlb` / `info mem` and by `vmmu maps`.
 */
#include <stdint.h>

#define P    0x001ull
#define W    0x002ull
#define U    0x004ull
#define PWT  0x008ull
#define PCD  0x010ull
#define A    0x020ull
#define D    0x040ull
#define PS   0x080ull
#define G    0x100ull
#define PAT4K 0x080ull
#define PATL (1ull << 12)
#define XD   (1ull << 63)

#define CR0_PE 0x1u
#define CR0_WP 0x10000u
#define CR0_PG 0x80000000u
#define CR4_PSE 0x10u
#define CR4_PAE 0x20u
#define CR4_PGE 0x80u
#define CR4_LA57 0x1000u
#define EFER_LME 0x100u
#define EFER_NXE 0x800u

void guest_main(const uint32_t *mbi);
void enter_paging(uint32_t cr3, uint32_t cr4, uint32_t efer, uint32_t cr0_or, int long_mode);

#define RAM_END (8u << 20)               /* gen.py runs -m 8M */
#define NR_TABLES 40
static uint8_t pool[NR_TABLES][4096] __attribute__((aligned(4096)));
static unsigned int used;

static void *table(void)
{
	if (used == NR_TABLES)
		for (;;)
			__asm__ volatile("cli; hlt");
	return pool[used++];
}

static uint32_t phys(const void *p)
{
	return (uint32_t)(uintptr_t)p;
}

/* ---- 32-bit paging ---------------------------------------------------- */

static uint32_t build_32(void)
{
	uint32_t *pd = table(), *pt0 = table(), *pts = table();
	uint32_t va;

	pd[0] = phys(pt0) | P | W | U;
	for (va = 0x100000; va < 0x180000; va += 0x1000)
		pt0[va >> 12] = va | P | W | ((va & 0x7000) == 0 ? G : 0) |
				(va < 0x110000 ? A | D : 0);
	pt0[0xb8] = 0xb8000 | P | W | U | PCD | PWT;
	for (va = 0; va < 4; va++)
		pt0[0x200 + va] = (0x300000 + (va << 12)) | P | U;
	pt0[0x204] = 0x304000 | P | W | U;
	pt0[0x205] = 0x305000 | P;
	pt0[0x206] = 0x306000 | P | W | PAT4K | 0xe00;
	pt0[0x207] = 0x7ff000 | P | W | A | D;
	pt0[0x208] = 0xfee00000 | P | W | PCD;
	pt0[0x209] = 0x309000 | W | U;                      /* not present */

	pd[1] = 0x400000 | P | W | U | PS | G | A | D;
	pd[2] = 0x00c00000 | (0x12u << 13) | P | W | PS;    /* PSE-36 */
	pd[3] = 0x00c00000 | (1u << 21) | P | W | PS;       /* bit 21 reserved */
	pd[4] = phys(pts) | P | W;
	pd[5] = phys(pts) | P | U;
	pts[0] = 0x500000 | P | W | U;
	pts[1] = 0x501000 | P | W | U;
	pts[511] = 0x5ff000 | P | U;
	pts[1023] = 0x600000 | P | W;
	pd[6] = 0x000000 | P | PS | A;
	pd[0x300] = 0x400000 | P | U | PS;
	pd[0x301] = 0x800000 | P | U | PS;
	pd[0x3fe] = 0xdead0000;                              /* not present */
	pd[0x3ff] = phys(pd) | P | W;                        /* self map */
	return phys(pd);
}

/* ---- PAE paging --------------------------------------------------------- */

static uint32_t build_pae(void)
{
	uint64_t *pdpt = (uint64_t *)((uint8_t *)table() + 0x40);
	uint64_t *pd0 = table(), *pd1 = table(), *pd2 = table(), *pd3 = table();
	uint64_t *pt0 = table(), *pt_nx = table();
	uint32_t va;

	pdpt[0] = phys(pd0) | P;
	pdpt[1] = phys(pd1) | P | W;                         /* W is reserved in a PDPTE */
	pdpt[2] = phys(pd2) | P | PWT | PCD;
	pdpt[3] = phys(pd3) | P;

	pd0[0] = phys(pt0) | P | W | U;
	for (va = 0x100000; va < 0x180000; va += 0x1000)
		pt0[va >> 12] = va | P | W | ((va & 0x7000) == 0 ? G : 0);
	pt0[0x1f0] = 0x1f0000 | P | W | XD;
	for (va = 1; va < 4; va++)
		pt0[0x1f0 + va] = (0x1f0000 + (va << 12)) | P | W | U | XD;
	pt0[0x1f4] = 0x1f4000 | P | W | (1ull << 60);       /* reserved in PAE */
	pt0[0x1f5] = 0x1f5000 | P | U | PAT4K | G;
	pt0[0x1f6] = 0x7ff000 | P | W | U | A | D | PCD;

	pd0[1] = 0x600000 | P | W | U | PS | G | XD;
	pd0[2] = 0x400000 | P | W | PS | PATL;
	pd0[3] = 0x400000 | P | W | PS | (1ull << 20);      /* bits 20:13 reserved */
	pd0[4] = phys(pt_nx) | P | W | U | XD;               /* XD on a table */
	pt_nx[0] = 0x700000 | P | W | U;
	pt_nx[1] = 0x701000 | P | W | U;
	pd1[0] = 0x200000 | P | W | PS;
	pd2[0] = phys(pt0) | P | W;                          /* pt0 again */
	pd3[0] = 0x000000 | P | PS | G;
	pd3[1] = 0x200000 | P | W | PS | G | A | D;
	pd3[511] = phys(pd3) | P | W;                        /* self map */
	return phys(pdpt);
}

/* ---- 4-level paging ----------------------------------------------------- */

/* A PDPT whose PD 0 maps 0..2M with 4K pages (the guest itself). */
static uint64_t *low_pdpt(void)
{
	uint64_t *pdpt = table(), *pd = table(), *pt = table();
	uint32_t va;

	pdpt[0] = phys(pd) | P | W | U;
	pd[0] = phys(pt) | P | W | U;
	for (va = 0x100000; va < 0x180000; va += 0x1000)
		pt[va >> 12] = va | P | W | ((va & 0x7000) == 0 ? G : 0);
	for (va = 0; va < 4; va++)
		pt[0x1f0 + va] = (0x3f0000 + (va << 12)) | P | W | U;
	pt[0x1f4] = 0x3f4000 | P | U | XD;
	pt[0x1f5] = 0x3f5000 | P | W | PCD | PWT;
	pt[0x1f6] = 0x3f6000 | P | W | (5ull << 59);        /* protection key 5 */
	pt[0x1f7] = 0x3f7000 | P | W | (0x7full << 52);     /* ignored bits */
	pt[0x1f8] = 0x3f8000 | P | W | (1ull << 51);        /* above QEMU's mask */
	pt[0x1fa] = 0x7ff000 | P | W | U | A | D | PAT4K;
	pd[1] = 0x200000 | P | W | U | PS | G;
	pd[2] = 0x400000 | P | W | PS | (1ull << 13);       /* bits 20:13 reserved */
	pd[3] = 0x600000 | P | W | PS | XD | PATL;
	pd[4] = 0x600000 | P | W | PS;
	return pdpt;
}

static uint32_t build_4(void)
{
	uint64_t *pml4 = table(), *pdpt0 = low_pdpt();
	uint64_t *pdpt1 = table(), *pd1 = table(), *pt1 = table();
	uint64_t *pdpt2 = table(), *pd2 = table(), *pdpt3 = table();
	uint64_t *pdptk = table(), *pdk = table(), *pdpt_top = table(), *pd_top = table();
	uint32_t i;

	pml4[0] = phys(pdpt0) | P | W | U;
	pdpt0[1] = 0x40000000 | P | W | PS | G | XD;
	pdpt0[2] = 0x80000000 | P | W | PS | (1ull << 13);  /* bits 29:13 reserved */
	pdpt0[3] = 0xc0000000 | P | PS | PATL;

	pml4[1] = phys(pdpt1) | P | W;                       /* supervisor subtree */
	pdpt1[0] = phys(pd1) | P | W | U;
	pd1[0] = phys(pt1) | P | W | U;
	for (i = 0; i < 3; i++)
		pt1[i] = (0x500000 + (i << 12)) | P | W | U;

	pml4[2] = phys(pdpt2) | P | W | U | PS;              /* PS is reserved here */
	pdpt2[0] = phys(pd2) | P | W | U;
	pd2[0] = 0x200000 | P | W | U | PS;

	pml4[3] = phys(pdpt3) | P | W | U;
	pml4[4] = phys(pdpt3) | P | U;
	pdpt3[5] = 0x000000 | P | W | U | PS;

	pml4[256] = phys(pdptk) | P | W;
	pdptk[0] = phys(pdk) | P | W;
	for (i = 0; i < 4; i++)
		pdk[i] = ((uint64_t)i << 21) | P | W | PS | G | XD;

	pml4[510] = phys(pml4) | P | W | XD;                 /* recursive */
	pml4[511] = phys(pdpt_top) | P | W;
	pdpt_top[510] = 0x000000 | P | W | PS | G;
	pdpt_top[511] = phys(pd_top) | P | W;
	pd_top[510] = 0x200000 | P | W | PS | G;
	pd_top[511] = 0x400000 | P | W | PS | G;
	return phys(pml4);
}

/* ---- 5-level paging ----------------------------------------------------- */

static uint32_t build_5(void)
{
	uint64_t *pml5 = table(), *pml4a = table(), *pml4b = table(), *pml4_top = table();
	uint64_t *pdpt_b = table(), *pd_b = table(), *pd_np = table(), *pt_np = table();
	uint64_t *pdpt_c = table(), *pdpt_top = table(), *pd_top = table();

	pml5[0] = phys(pml4a) | P | W | U;
	pml4a[0] = phys(low_pdpt()) | P | W | U;
	pml4a[1] = phys(pdpt_b) | P | W | U;
	pdpt_b[0] = phys(pd_b) | P | W | U;
	pd_b[0] = 0x200000 | P | W | U | PS;
	pdpt_b[1] = W | U | PS;                              /* not present */
	pdpt_b[2] = phys(pd_np) | W | U;                     /* not present */
	pd_np[0] = W | U | PS;
	pd_np[1] = phys(pt_np) | W | U;
	pt_np[0] = 0x123000 | P | W | U;
	pt_np[1] = 0x124000 | W;
	pd_np[2] = 0x200000 | P | W | U | PS;
	pdpt_b[3] = 0x40000000 | P | W | U | PS;

	pml5[1] = phys(pml4b) | P | W | U;
	pml4b[0] = phys(pdpt_c) | P | W | U;
	pdpt_c[0] = 0x00000000 | P | W | U | PS;

	pml5[510] = phys(pml5) | P | W;                      /* recursive */
	pml5[511] = phys(pml4_top) | P | W;
	pml4_top[511] = phys(pdpt_top) | P | W;
	pdpt_top[511] = 0x40000000 | P | W | PS | G;
	pdpt_top[510] = phys(pd_top) | P | W;
	pd_top[0] = 0x600000 | P | W | PS | XD;
	return phys(pml5);
}

/* ---- entry -------------------------------------------------------------- */

/* Does the command line say mode=@word? */
static int has(const char *s, const char *word)
{
	for (; *s; s++) {
		const char *a = s, *b;

		if (*a++ != '=')
			continue;
		for (b = word; *b && *a == *b; a++, b++)
			;
		if (!*b && (*a == 0 || *a == ' '))
			return 1;
	}
	return 0;
}

/* Stores zeroes over [start, end) with rep stosl (a plain loop could be
 * "optimised" at address 0). */
static void zero(uint32_t start, uint32_t end)
{
	uint32_t dwords = (end - start) / 4;

	__asm__ volatile("cld; rep stosl" : "+D"(start), "+c"(dwords) : "a"(0) : "memory");
}

/*
 * Zeroes the RAM the guest does not use (BIOS data, the shadow BIOS where
 * the chipset lets us write), so the cores compress well and nothing but
 * these tables can look like a page table.
 */
static void clear_ram(void)
{
	extern char __end[];

	zero(0, 0x100000);
	zero(((uint32_t)__end + 4095) & ~4095u, RAM_END);
}

void guest_main(const uint32_t *mbi)
{
	static char cmdline_copy[256];
	const char *cmdline = (mbi[0] & 4) ? (const char *)(uintptr_t)mbi[4] : "";
	uint32_t n;

	for (n = 0; n < sizeof(cmdline_copy) - 1 && cmdline[n]; n++)
		cmdline_copy[n] = cmdline[n];
	cmdline = cmdline_copy;
	clear_ram();

	if (has(cmdline, "32"))
		enter_paging(build_32(), CR4_PSE, 0, CR0_PG | CR0_WP, 0);
	else if (has(cmdline, "32nopse"))
		enter_paging(build_32(), 0, 0, CR0_PG | CR0_WP, 0);
	else if (has(cmdline, "pae"))
		enter_paging(build_pae(), CR4_PAE | CR4_PSE | CR4_PGE, EFER_NXE, CR0_PG | CR0_WP, 0);
	else if (has(cmdline, "4"))
		enter_paging(build_4(), CR4_PAE | CR4_PGE, EFER_LME | EFER_NXE, CR0_PG | CR0_WP, 1);
	else if (has(cmdline, "5"))
		enter_paging(build_5(), CR4_PAE | CR4_PGE | CR4_LA57, EFER_LME | EFER_NXE,
			     CR0_PG | CR0_WP, 1);
}
