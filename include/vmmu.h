/* SPDX-License-Identifier: MIT */
/*
 * vmmu: a user-space x86 virtual MMU.
 *
 * The one public header of libvmmu.  Handles are opaque; every name is
 * prefixed vmmu_.  Calls return 0 on success or a negative errno for API
 * misuse; guest outcomes (#PF, #GP, MMIO exits) are values, never errors.
 * The library never prints, exits or aborts: it reports through the log
 * callback of the VM config.
 *
 * Threading: a vCPU handle is used by one thread at a time; VM-wide calls
 * (memslots, statistics) may come from any thread.
 */
#ifndef VMMU_H
#define VMMU_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) && !defined(VMMU_NO_VISIBILITY)
#define VMMU_API __attribute__((visibility("default")))
#else
#define VMMU_API
#endif

#define VMMU_VERSION_MAJOR 0
#define VMMU_VERSION_MINOR 1

/* Address types: guest-virtual, guest-physical, guest frame number. */
typedef uint64_t vmmu_gva_t;
typedef uint64_t vmmu_gpa_t;
typedef uint64_t vmmu_gfn_t;

struct vmmu_vm;
struct vmmu_vcpu;

/* ---- Library ----------------------------------------------------------- */

/* Capability bits returned by vmmu_capabilities(). */
#define VMMU_CAP_MMU_DIRECT   (1ull << 0)  /* --mmu=direct */
#define VMMU_CAP_LA57         (1ull << 1)  /* 5-level paging */
#define VMMU_CAP_PKU          (1ull << 2)  /* CR4.PKE, PKRU */
#define VMMU_CAP_PKS          (1ull << 3)  /* CR4.PKS, PKRS */
#define VMMU_CAP_PCID         (1ull << 4)
#define VMMU_CAP_SMM          (1ull << 5)  /* two address spaces */

VMMU_API uint64_t vmmu_capabilities(void);
VMMU_API const char *vmmu_version(void);
/* A static description of a negative errno or vmmu outcome code. */
VMMU_API const char *vmmu_strerror(int err);

/* ---- VM ----------------------------------------------------------------- */

enum vmmu_mmu_mode {
	VMMU_MMU_DIRECT = 0,  /* walk guest tables over guest memory directly */
};

enum vmmu_log_level { VMMU_LOG_ERROR, VMMU_LOG_WARN, VMMU_LOG_INFO, VMMU_LOG_DEBUG };
typedef void (*vmmu_log_fn)(void *opaque, enum vmmu_log_level level, const char *msg);

struct vmmu_vm_config {
	uint32_t size;            /* sizeof(struct vmmu_vm_config) */
	uint32_t mmu;             /* enum vmmu_mmu_mode */
	uint32_t maxphyaddr;      /* guest MAXPHYADDR, 36..52; 0 means 46 */
	uint32_t max_vcpus;       /* 0 means 1024 */
	vmmu_log_fn log;          /* may be NULL */
	void *log_opaque;
};

VMMU_API int vmmu_vm_create(const struct vmmu_vm_config *cfg, struct vmmu_vm **out);
/* Destroys the VM; every vCPU must have been destroyed before. */
VMMU_API void vmmu_vm_destroy(struct vmmu_vm *vm);

/* ---- Memslots ------------------------------------------------------------ */

#define VMMU_MEMSLOT_READONLY  (1u << 0)

#define VMMU_AS_NORMAL 0
#define VMMU_AS_SMM    1

/*
 * Guest RAM: @size bytes at @gpa backed by the caller's memory at @hva (all
 * three 4K-aligned).  Slots are identified by (as_id, id).  The memory stays
 * the caller's; the library never frees it.  Slots of one address space may
 * not overlap.  Address space 1 is what a vCPU in SMM sees: the VMM composes
 * SMRAM over normal memory there by aliasing the same host memory.
 */
struct vmmu_memslot {
	uint32_t id;
	uint32_t as_id;           /* VMMU_AS_NORMAL or VMMU_AS_SMM */
	vmmu_gpa_t gpa;
	uint64_t size;
	void *hva;
	uint32_t flags;           /* VMMU_MEMSLOT_* */
};

/* Adds a slot: -EINVAL (bad alignment, range, flags), -EEXIST (id live or overlap). */
VMMU_API int vmmu_memslot_add(struct vmmu_vm *vm, const struct vmmu_memslot *slot);
/*
 * Deletes a slot: -ENOENT if absent.  Synchronous: when it returns, no vCPU
 * touches the slot's host memory any more.
 */
VMMU_API int vmmu_memslot_delete(struct vmmu_vm *vm, uint32_t as_id, uint32_t id);

/* ---- vCPU ----------------------------------------------------------------- */

VMMU_API int vmmu_vcpu_create(struct vmmu_vm *vm, uint32_t id, struct vmmu_vcpu **out);
VMMU_API void vmmu_vcpu_destroy(struct vmmu_vcpu *vcpu);

enum vmmu_reg {
	VMMU_REG_CR0,
	VMMU_REG_CR3,
	VMMU_REG_CR4,
	VMMU_REG_EFER,
	VMMU_REG_RFLAGS,
	VMMU_REG_PKRU,
	VMMU_REG_PKRS,
	VMMU_REG_CPL,
	VMMU_REG_SMM,             /* 1 while in SMM (address space 1) */
	VMMU_REG_NR
};

/* Positive return values of the register-write and access calls. */
#define VMMU_EXC_GP 13            /* the write raises #GP; nothing changed */

/*
 * Architectural register write: MOV to CR0/CR3/CR4, WRMSR to EFER or
 * IA32_PKRS, WRPKRU, a change of RFLAGS, CPL or SMM.  Performs the checks and
 * side effects of the SDM: #GP cases (returns VMMU_EXC_GP and changes
 * nothing), EFER.LMA, PAE PDPTE loads, TLB flushes, entering or leaving SMM.
 * Returns 0, VMMU_EXC_GP, or -EINVAL for an unknown register or a value the
 * register cannot hold (CPL above 3, PKRU above 32 bits, SMM above 1).
 */
VMMU_API int vmmu_vcpu_set_reg(struct vmmu_vcpu *vcpu, enum vmmu_reg reg, uint64_t value);
VMMU_API int vmmu_vcpu_get_reg(struct vmmu_vcpu *vcpu, enum vmmu_reg reg, uint64_t *value);

/*
 * Whole-state load for a VMM restoring a vCPU (or a tool reading a memory
 * image): no architectural side effects, PDPTEs taken as given.  Rejects
 * states no CPU can be in (-EINVAL): e.g. PG without PE, LMA != (PG && LME),
 * LMA without PAE, unsupported bits, a reserved bit in a present PDPTE.
 */
struct vmmu_vcpu_state {
	uint32_t size;            /* sizeof(struct vmmu_vcpu_state) */
	uint32_t cpl;
	uint64_t cr0, cr3, cr4, efer, rflags;
	uint32_t pkru;
	uint32_t smm;
	uint64_t pkrs;
	uint64_t pdpte[4];        /* used with PAE paging only */
};
VMMU_API int vmmu_vcpu_set_state(struct vmmu_vcpu *vcpu, const struct vmmu_vcpu_state *st);
VMMU_API int vmmu_vcpu_get_state(struct vmmu_vcpu *vcpu, struct vmmu_vcpu_state *st);

/* INVLPG (a no-op for non-canonical addresses) and a full flush of every
 * translation of this vCPU, global ones and every PCID included. */
VMMU_API int vmmu_vcpu_invlpg(struct vmmu_vcpu *vcpu, vmmu_gva_t gva);
VMMU_API int vmmu_vcpu_flush(struct vmmu_vcpu *vcpu);

/*
 * Guest mode: between enter and exit the vCPU may use host pointers it got
 * from vmmu_vcpu_translate(); a memslot deletion waits until it exits.  The
 * access calls enter and exit implicitly when called outside the bracket.
 */
VMMU_API int vmmu_vcpu_enter(struct vmmu_vcpu *vcpu);
VMMU_API int vmmu_vcpu_exit(struct vmmu_vcpu *vcpu);

/* ---- Accesses --------------------------------------------------------------- */

enum vmmu_access {
	VMMU_ACCESS_READ  = 0,
	VMMU_ACCESS_WRITE = 1,
	VMMU_ACCESS_FETCH = 2,
};
/* Or'ed into the access: an implicit supervisor-mode access (descriptor
 * tables and the like): SMAP applies whatever RFLAGS.AC says and the error
 * code's U bit is 0 at any CPL.  Not valid with FETCH. */
#define VMMU_ACCESS_IMPLICIT 0x100u

enum vmmu_outcome {
	VMMU_OK = 0,              /* translated, and guest RAM backs every byte */
	VMMU_MMIO,                /* translated; some byte has no RAM, or a write hits a read-only slot */
	VMMU_PF,                  /* #PF: error_code, fault_gva */
	VMMU_GP,                  /* #GP: non-canonical, or 2^32 or more outside long mode */
};

/* Page-fault error code bits (SDM 4.7). */
#define VMMU_PFERR_PRESENT (1u << 0)
#define VMMU_PFERR_WRITE   (1u << 1)
#define VMMU_PFERR_USER    (1u << 2)
#define VMMU_PFERR_RSVD    (1u << 3)
#define VMMU_PFERR_FETCH   (1u << 4)
#define VMMU_PFERR_PK      (1u << 5)

#define VMMU_ACCESS_MAX 64        /* largest single access, in bytes */

/*
 * The result of an access of 1..64 bytes.  An access that crosses a 4K
 * boundary is two pages: the lower page is translated first, and a fault
 * there is reported before anything is known of the upper one; the upper
 * page's fault is reported with fault_gva at its first byte.  A/D updates of
 * the lower page may have happened when the upper page faults, as on
 * hardware; no data moves unless the whole access is VMMU_OK.
 */
struct vmmu_result {
	uint32_t outcome;         /* enum vmmu_outcome */
	uint32_t error_code;      /* VMMU_PF: VMMU_PFERR_* bits */
	vmmu_gva_t fault_gva;     /* VMMU_PF: the faulting linear address (CR2) */
	vmmu_gpa_t gpa;           /* OK/MMIO: GPA of the first byte */
	void *hva;                /* host address of the first byte; NULL if MMIO */
	uint32_t len;             /* bytes in the first page */
	uint32_t len2;            /* bytes in the second page (0: no crossing) */
	vmmu_gpa_t gpa2;          /* GPA of the first byte of the second page */
	void *hva2;               /* its host address; NULL if MMIO */
};

/*
 * Translates an access as the CPU would perform it, with its side effects
 * (accessed and dirty flags in the guest's page tables), without moving data.
 * The host pointers stay valid until vmmu_vcpu_exit() (or the end of the
 * call when made outside the bracket).  Returns 0 (outcome in *res) or
 * -EINVAL for a size outside 1..64 or an invalid access.
 */
VMMU_API int vmmu_vcpu_translate(struct vmmu_vcpu *vcpu, vmmu_gva_t gva, uint32_t size,
				 uint32_t access, struct vmmu_result *res);
/* The same walk without any side effect (no A/D update, no statistics). */
VMMU_API int vmmu_vcpu_probe(struct vmmu_vcpu *vcpu, vmmu_gva_t gva, uint32_t size,
			     uint32_t access, struct vmmu_result *res);
/* Translate and copy: data moves only when the outcome is VMMU_OK. */
VMMU_API int vmmu_vcpu_read(struct vmmu_vcpu *vcpu, vmmu_gva_t gva, void *buf, uint32_t size,
			    uint32_t access_flags, struct vmmu_result *res);
VMMU_API int vmmu_vcpu_write(struct vmmu_vcpu *vcpu, vmmu_gva_t gva, const void *buf,
			     uint32_t size, uint32_t access_flags, struct vmmu_result *res);

/*
 * Guest-physical accesses in the vCPU's current address space (a store
 * through an identity mapping): outcome VMMU_OK or VMMU_MMIO (no RAM, or a
 * write to a read-only slot: nothing is stored).  1..64 bytes, not crossing
 * a 4K boundary.
 */
VMMU_API int vmmu_vcpu_read_phys(struct vmmu_vcpu *vcpu, vmmu_gpa_t gpa, void *buf,
				 uint32_t size, struct vmmu_result *res);
VMMU_API int vmmu_vcpu_write_phys(struct vmmu_vcpu *vcpu, vmmu_gpa_t gpa, const void *buf,
				  uint32_t size, struct vmmu_result *res);

/* ---- Statistics ------------------------------------------------------------- */

struct vmmu_stats {
	uint32_t size;            /* sizeof(struct vmmu_stats), set by the caller */
	uint32_t reserved;
	uint64_t accesses;        /* translate/read/write calls */
	uint64_t walks;           /* guest page walks */
	uint64_t walk_retries;    /* walks restarted because an A/D compare-and-swap lost */
	uint64_t ad_updates;      /* A/D flags written into guest page tables */
	uint64_t pf;              /* page faults delivered */
	uint64_t gp;              /* #GP from accesses and register writes */
	uint64_t mmio;            /* accesses that ended as MMIO exits */
	uint64_t pdpte_loads;     /* PAE PDPTE register loads */
	uint64_t cr_writes;       /* control-register and EFER writes */
	uint64_t tlb_flush;       /* flush requests (full or by page) */
};
/* Sums over every vCPU.  Fields beyond cfg->size are not written. */
VMMU_API int vmmu_vm_get_stats(struct vmmu_vm *vm, struct vmmu_stats *stats);

#ifdef __cplusplus
}
#endif

#endif /* VMMU_H */
