/* The README's example: map one page, walk a 4-level guest table. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <vmmu.h>

int main(void)
{
	struct vmmu_vm_config cfg = { .size = sizeof(cfg), .mmu = VMMU_MMU_DIRECT };
	struct vmmu_vm *vm;
	struct vmmu_vcpu *vcpu;
	struct vmmu_result res;
	size_t ram_size = 16 << 20;
	uint8_t *ram = mmap(NULL, ram_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint64_t *pt = (uint64_t *)ram;
	uint32_t value = 0;

	if (ram == MAP_FAILED || vmmu_vm_create(&cfg, &vm) || vmmu_vcpu_create(vm, 0, &vcpu))
		return 1;
	struct vmmu_memslot slot = { .id = 0, .gpa = 0, .size = ram_size, .hva = ram };
	if (vmmu_memslot_add(vm, &slot))
		return 1;

	/* PML4 at 0x1000 -> PDPT 0x2000 -> PD 0x3000 -> PT 0x4000; GVA 0x5000 -> GPA 0x9000 */
	pt[0x1000 / 8] = 0x2003;
	pt[0x2000 / 8] = 0x3003;
	pt[0x3000 / 8] = 0x4003;
	pt[0x4000 / 8 + 5] = 0x9003;
	memcpy(ram + 0x9010, "\x2a\0\0\0", 4);

	vmmu_vcpu_set_reg(vcpu, VMMU_REG_EFER, 0x900);          /* LME | NXE */
	vmmu_vcpu_set_reg(vcpu, VMMU_REG_CR4, 0x20);            /* PAE */
	vmmu_vcpu_set_reg(vcpu, VMMU_REG_CR3, 0x1000);
	vmmu_vcpu_set_reg(vcpu, VMMU_REG_CR0, 0x80010011);      /* PG | WP | ET | PE */

	vmmu_vcpu_read(vcpu, 0x5010, &value, sizeof(value), VMMU_ACCESS_READ, &res);
	printf("read 0x5010: outcome %u gpa %#llx value %u\n", res.outcome,
	       (unsigned long long)res.gpa, value);
	vmmu_vcpu_translate(vcpu, 0x6000, 1, VMMU_ACCESS_WRITE, &res);
	printf("write 0x6000: outcome %u (#PF) error code %#x\n", res.outcome, res.error_code);

	int ok = res.outcome == VMMU_PF && res.error_code == VMMU_PFERR_WRITE && value == 42;
	vmmu_vcpu_destroy(vcpu);
	vmmu_vm_destroy(vm);
	munmap(ram, ram_size);
	return ok ? 0 : 1;
}
