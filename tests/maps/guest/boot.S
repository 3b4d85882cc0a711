/* SPDX-License-Identifier: MIT */
/*
 * A multiboot entry for the maps test guest: loads its own GDT, calls
 * guest_main() (tables.c) to build the page tables of the mode named on
 * the command line, and enter_paging() switches paging on (and, for
 * 4-level and 5-level paging, long mode with a 64-bit code segment).
 * Then the CPU halts for good, so QEMU's monitor sees a stable state.
 */
#define MB_MAGIC 0x1badb002
#define MB_FLAGS 0x00000003

	.section .multiboot, "a"
	.align 4
	.long MB_MAGIC, MB_FLAGS, -(MB_MAGIC + MB_FLAGS)

	.section .rodata
	.align 16
gdt:
	.quad 0                         /* null */
	.quad 0x00af9a000000ffff        /* 0x08: 64-bit code */
	.quad 0x00cf92000000ffff        /* 0x10: data */
	.quad 0x00cf9a000000ffff        /* 0x18: 32-bit code */
gdt_end:
gdtr:
	.word gdt_end - gdt - 1
	.long gdt

	.text
	.code32
	.globl _start
_start:
	cli
	lgdt gdtr
	ljmp $0x18, $1f
1:	mov $0x10, %ax
	mov %ax, %ds
	mov %ax, %es
	mov %ax, %ss
	mov %ax, %fs
	mov %ax, %gs
	mov $stack_top, %esp
	push %ebx                       /* multiboot information */
	call guest_main
halt32:
	cli
	hlt
	jmp halt32

/*
 * void enter_paging(uint32_t cr3, uint32_t cr4, uint32_t efer_lo,
 *                   uint32_t cr0_or, int long_mode)
 */
	.globl enter_paging
enter_paging:
	mov 8(%esp), %eax
	mov %eax, %cr4
	mov 4(%esp), %eax
	mov %eax, %cr3
	mov $0xc0000080, %ecx           /* IA32_EFER */
	mov 12(%esp), %eax
	xor %edx, %edx
	wrmsr
	mov %cr0, %eax
	or 16(%esp), %eax
	mov 20(%esp), %edx
	mov %eax, %cr0                  /* paging on (IA-32e if EFER.LME) */
	test %edx, %edx
	jz halt32
	ljmp $0x08, $halt64

	.code64
halt64:
	cli
	hlt
	jmp halt64

	.bss
	.align 16
	.skip 8192
stack_top:

	.section .note.GNU-stack, "", @progbits
