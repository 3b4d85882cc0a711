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
#define VMMU_CAP_MMU_TDP      (1ull << 6)  /* --mmu=tdp, EPT and NPT formats */
#define VMMU_CAP_MMU_TDP_LEGACY (1ull << 7) /* --mmu=tdp-legacy */

VMMU_API uint64_t vmmu_capabilities(void);
VMMU_API const char *vmmu_version(void);
/* A static description of a negative errno or vmmu outcome code. */
VMMU_API const char *vmmu_strerror(int err);

/* ---- VM ----------------------------------------------------------------- */

enum vmmu_mmu_mode {
	VMMU_MMU_DIRECT = 0,  /* walk guest tables over guest memory directly */
	VMMU_MMU_TDP = 1,     /* two-dimensional paging: the TDP MMU */
	VMMU_MMU_TDP_LEGACY = 2, /* two-dimensional paging: the legacy MMU's direct
				  * shadow pages under one lock (KVM's tdp_mmu=0) */
};

enum vmmu_tdp_format {
	VMMU_TDP_EPT = 0,     /* Intel extended page tables */
	VMMU_TDP_NPT = 1,     /* AMD nested page tables */
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
	uint32_t tdp_format;      /* enum vmmu_tdp_format, with either TDP MMU */
	uint32_t tdp_ad_disabled; /* 1: EPT without accessed/dirty bits */
	uint32_t policy;          /* enum vmmu_policy: the kernel whose MMU to behave as */
	uint32_t knobs_set;       /* VMMU_KNOB_* bits that override the policy ... */
	uint32_t knobs;           /* ... with these values */
	uint32_t reserved;
	/* VMMU_MMU_TDP_LEGACY: bytes of page tables beyond which the oldest
	 * pages no vCPU uses as a root are reclaimed (KVM's n_max_mmu_pages);
	 * 0: 1/64 of the memory of address space 0, at least 1 MiB. */
	uint64_t pt_mem_limit;
};

/*
 * The 2023 history as knobs (docs/HISTORY.md): each KVM behaviour behind the
 * CR0.WP/SMM slowdown is one bit; a policy sets them as a kernel shipped
 * them, and knobs_set/knobs override single ones.
 */
enum vmmu_policy {
	VMMU_POLICY_6_4 = 0,      /* after the fixes (the default) */
	VMMU_POLICY_5_10 = 1,     /* before: Linux 5.10 */
	VMMU_POLICY_6_1 = 2,      /* Linux 6.1 */
};
#define VMMU_KNOB_WP_IN_TDP_ROLE        (1u << 0)  /* CR0.WP, EFER.NX in the TDP root role */
#define VMMU_KNOB_CR0_WP_EXITS          (1u << 1)  /* a WP-only CR0 write exits (EPT) */
#define VMMU_KNOB_WP_CHANGE_KEEPS_ROOTS (1u << 2)  /* ... and keeps the roots */
#define VMMU_KNOB_TDP_MMU_HOLDS_ROOT_REF (1u << 3) /* roots live until invalidated */
#define VMMU_KNOB_SYNC_ROOT_TEARDOWN    (1u << 4)  /* dead roots torn down at once */
#define VMMU_KNOB_ALL                   0x1fu

/* The knobs @policy sets (VMMU_KNOB_* bits); 0 for an unknown policy. */
VMMU_API uint32_t vmmu_policy_knobs(uint32_t policy);
/* The name of knob bit @index (0..4), as --knob takes it; NULL past the last. */
VMMU_API const char *vmmu_knob_name(unsigned int index);

VMMU_API int vmmu_vm_create(const struct vmmu_vm_config *cfg, struct vmmu_vm **out);
/* Destroys the VM; every vCPU must have been destroyed before. */
VMMU_API void vmmu_vm_destroy(struct vmmu_vm *vm);

/*
 * Host event: the MMU drops whatever it maps for [gpa, gpa + size) in every
 * address space (KVM's zap of a GFN range).  4K-aligned, size > 0.  Never
 * changes what the guest sees.  Not to be called in guest mode (-EDEADLK).
 */
VMMU_API int vmmu_vm_zap(struct vmmu_vm *vm, vmmu_gpa_t gpa, uint64_t size);

/*
 * Host event: drops every mapping of every address space at once (KVM's
 * fast zap of everything, kvm_mmu_zap_all_fast): every root becomes
 * obsolete, vCPUs load new ones at their next access, and the old trees are
 * torn down once nobody holds them.  Never changes what the guest sees.
 */
VMMU_API int vmmu_vm_zap_all(struct vmmu_vm *vm);

/* Does the deferred work the library does not do in threads of its own:
 * frees page tables whose grace period has passed.  Not in guest mode. */
VMMU_API int vmmu_vm_poll(struct vmmu_vm *vm);

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
/*
 * Moves live slot (as_id, id) to slot->gpa and/or changes its flags (KVM's
 * KVM_MR_MOVE and KVM_MR_FLAGS_ONLY); size and host memory must stay as
 * they are (-EINVAL).  -ENOENT if absent, -EEXIST on overlap.  Synchronous
 * as a deletion: when it returns, nothing maps the old range any more.
 */
VMMU_API int vmmu_memslot_update(struct vmmu_vm *vm, const struct vmmu_memslot *slot);

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
	uint64_t tlb_hit;         /* pages of translate/read/write calls served by the TLB */
	uint64_t tlb_miss;        /* pages that walked (inline hits are not counted) */
	/* TDP mode (KVM's names): */
	uint64_t pf_taken;        /* TDP faults: EPT violations / NPT faults */
	uint64_t pf_fixed;        /* faults that installed a leaf */
	uint64_t pf_spurious;     /* faults that found the leaf already there */
	uint64_t pf_mmio_spte_created; /* faults on GPAs without RAM */
	uint64_t pf_fast;         /* fixed in place without the MMU lock */
	uint64_t mmio_exits;      /* accesses that hit an MMIO SPTE */
	/* The TDP MMU's trees (VM-wide): */
	uint64_t pages_4k;        /* 4K leaves mapped now */
	uint64_t spte_zapped;     /* leaves zapped */
	uint64_t pt_pages;        /* page-table pages in trees and caches now */
	uint64_t pt_pages_freed;  /* page-table pages taken out of trees */
	uint64_t sptes_write_protected;
	uint64_t sptes_aged;
	/* Roots and exits (the 2023 story's costs): */
	uint64_t exits_cr_access; /* intercepted CR0/CR4 writes */
	uint64_t exits_msr_write; /* EFER writes */
	uint64_t exits_smi;       /* SMM entries */
	uint64_t exits_rsm;       /* SMM exits */
	uint64_t context_resets;  /* MMU context resets (KVM's kvm_mmu_reset_context) */
	uint64_t root_loads;      /* roots a vCPU loaded (each flushes its TLB context) */
	uint64_t roots_allocated; /* roots built (VM-wide) */
	uint64_t roots_freed;     /* roots torn down (VM-wide) */
	uint64_t pt_pages_allocated; /* page-table pages linked into trees, roots included */
	/* The legacy MMU's shadow pages (VMMU_MMU_TDP_LEGACY): */
	uint64_t mmu_cache_miss;  /* pages built because the hash had none */
	uint64_t mmu_shadow_zapped; /* pages zapped (host events, reclaim) */
	uint64_t mmu_recycled;    /* pages reclaimed under the page-table cap */
};

/* Name of the counter at @index of struct vmmu_stats (0: accesses), as
 * KVM names it where KVM has it; NULL past the last. */
VMMU_API const char *vmmu_stat_name(unsigned int index);
/* Sums over every vCPU.  Fields beyond cfg->size are not written. */
VMMU_API int vmmu_vm_get_stats(struct vmmu_vm *vm, struct vmmu_stats *stats);

/* ---- Fast path: the per-vCPU software TLB -------------------------------------
 *
 * Every vCPU has a software TLB that vmmu_vcpu_translate(), _read() and
 * _write() consult before walking (vmmu_vcpu_probe() always walks).  Its
 * layout is public so that an embedder can inline the hit, as QEMU's TCG
 * does: see vmmu_tlb_lookup_inline() below.  A NULL from it means "call the
 * library": the slow path walks, sets A/D flags, raises faults and refills.
 *
 * An entry maps one 4K page of guest-virtual memory (a large guest page
 * fills one entry per 4K page used) and caches the raw rights of the walk:
 * R/W and U/S combined over every level, XD, the leaf's protection key.
 * Nothing that depends on registers is cached: CR0.WP, CR4.SMEP/SMAP/PKE/
 * PKS, EFER.NXE, RFLAGS.AC, the CPL, PKRU and PKRS are applied on every hit
 * through the tables of struct vmmu_tlb, which the library recomputes when
 * one of them changes.  A hit is a tag compare, a PCID compare, one test
 * in deny[] (the rights bitmap and the key mask in one table) and an add.
 *
 * Validity: the table and the memory it points to may be used only between
 * vmmu_vcpu_enter() and vmmu_vcpu_exit(), on the vCPU's thread.  Flushes
 * (the architectural ones of SDM 4.10.4, vmmu_vcpu_invlpg/_flush, SMM) and
 * the invalidations other threads request (a memslot deletion; an MMU
 * zapping or write-protecting guest memory) change it only inside library
 * calls on this vCPU and at vmmu_vcpu_enter().  A thread that requests an
 * invalidation waits until every vCPU in guest mode has made a library call
 * or left guest mode, so a run loop that only inlines hits must call into
 * the library (any access, or vmmu_vcpu_exit()) now and then.
 *
 * Tag: the 4K-aligned GVA of the page, VMMU_TLB_* flags in the low 12 bits.
 * Its low 7 bits (VMMU_TLB_PERM_MASK) are the raw rights and the key: the
 * index into deny[].  addend: host address minus GVA (modulo 2^64) for every
 * byte of the page.
 */
#define VMMU_TLB_WRITABLE     (1ull << 0)  /* R/W=1 at every level */
#define VMMU_TLB_USER         (1ull << 1)  /* U/S=1 at every level */
#define VMMU_TLB_XD           (1ull << 2)  /* XD=1 at some level (raw: EFER.NXE is applied on hit) */
#define VMMU_TLB_PKEY_SHIFT   3            /* bits 6:3: the leaf's protection key */
#define VMMU_TLB_PKEY_MASK    (15ull << VMMU_TLB_PKEY_SHIFT)
#define VMMU_TLB_PERM_MASK    0x7fu        /* rights and key: the index into deny[] */
#define VMMU_TLB_INVALID      (1ull << 7)  /* the entry holds nothing */
#define VMMU_TLB_WRITE_SLOW   (1ull << 8)  /* a write must take the slow path: the leaf's D flag
					      is clear, or the memory is read-only or write-protected */
#define VMMU_TLB_MMIO         (1ull << 9)  /* no RAM behind the GPA: addend is meaningless */
#define VMMU_TLB_GLOBAL       (1ull << 10) /* G=1 with CR4.PGE=1: valid for every PCID */
#define VMMU_TLB_PAGE_MASK    (~0xfffull)

/* Access kinds, as the rights tables are indexed. */
enum vmmu_tlb_kind {
	VMMU_TLB_READ = 0,            /* VMMU_ACCESS_READ */
	VMMU_TLB_WRITE = 1,           /* VMMU_ACCESS_WRITE */
	VMMU_TLB_FETCH = 2,           /* VMMU_ACCESS_FETCH */
	VMMU_TLB_IMPLICIT_READ = 3,   /* VMMU_ACCESS_READ | VMMU_ACCESS_IMPLICIT */
	VMMU_TLB_IMPLICIT_WRITE = 4,  /* VMMU_ACCESS_WRITE | VMMU_ACCESS_IMPLICIT */
	VMMU_TLB_NR_KINDS
};

struct vmmu_tlb_entry {
	uint64_t tag;             /* GVA page | VMMU_TLB_* flags */
	uint64_t addend;          /* host address - GVA; unused with VMMU_TLB_MMIO */
	uint64_t gpa;             /* the GPA of the page (4K-aligned) */
	uint16_t pcid;            /* the PCID it serves (a global entry: the current one) */
	uint8_t level;            /* the guest leaf's level: 1 for a 4K page */
	uint8_t reserved[5];
};

/* The vCPU's table and the rights tables for its current registers. */
struct vmmu_tlb {
	uint32_t size;            /* sizeof(struct vmmu_tlb) */
	uint16_t pcid;            /* current PCID: CR3[11:0] with CR4.PCIDE, else 0 */
	uint16_t reserved;
	uint64_t index_mask;      /* number of entries - 1 */
	struct vmmu_tlb_entry *entries;
	/*
	 * For each access kind: rights_fault bit r set when raw rights r
	 * (WRITABLE | USER << 1 | XD << 2) fault; pk_deny[][user page] bit k
	 * set when key k denies; deny[][tag & VMMU_TLB_PERM_MASK] non-zero when
	 * either does (the one the hit tests).
	 */
	uint8_t rights_fault[VMMU_TLB_NR_KINDS];
	uint8_t reserved2[3];
	uint16_t pk_deny[VMMU_TLB_NR_KINDS][2];
	uint8_t deny[VMMU_TLB_NR_KINDS][128];
};

/* The vCPU's TLB (the pointer stays valid while the vCPU exists), or NULL. */
VMMU_API const struct vmmu_tlb *vmmu_vcpu_tlb(struct vmmu_vcpu *vcpu);

/* The only entry that may hold @gva's page: the page number plus its bits
 * above 2 MiB, so that pages 2 MiB apart do not collide and two consecutive
 * pages never share an entry. */
static inline const struct vmmu_tlb_entry *vmmu_tlb_entry_of(const struct vmmu_tlb *tlb,
							      vmmu_gva_t gva)
{
	uint64_t page = gva >> 12;

	return &tlb->entries[(page + (page >> 9)) & tlb->index_mask];
}

/*
 * The inline hit: the host address of an access of @size bytes (1..8) at
 * @gva of access kind @kind (enum vmmu_tlb_kind, best a constant), or NULL
 * when the library must handle it: a miss, a fault, a write to a clean,
 * read-only or write-protected page, MMIO, an access that crosses a page.
 * What it returns is what vmmu_vcpu_translate() would return in res.hva
 * (without the counters).  Valid only between vmmu_vcpu_enter() and
 * vmmu_vcpu_exit(), on the vCPU's thread.
 */
static inline void *vmmu_tlb_lookup_inline(const struct vmmu_tlb *tlb, vmmu_gva_t gva,
					   uint32_t size, unsigned int kind)
{
	const struct vmmu_tlb_entry *e = vmmu_tlb_entry_of(tlb, gva);
	uint64_t check = VMMU_TLB_PAGE_MASK | VMMU_TLB_INVALID | VMMU_TLB_MMIO |
			 (kind == VMMU_TLB_WRITE || kind == VMMU_TLB_IMPLICIT_WRITE ?
			  VMMU_TLB_WRITE_SLOW : 0);
	uint64_t tag = e->tag;

	/* Against the page of the last byte: an access that crosses into the
	 * next page never matches, as that page has another entry. */
	if ((tag & check) != ((gva + size - 1) & VMMU_TLB_PAGE_MASK))
		return NULL;
	if (e->pcid != tlb->pcid)
		return NULL;
	if (tlb->deny[kind][tag & VMMU_TLB_PERM_MASK])
		return NULL;
	return (void *)(uintptr_t)(gva + e->addend);
}

#ifdef __cplusplus
}
#endif

#endif /* VMMU_H */
