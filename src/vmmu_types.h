/* SPDX-License-Identifier: MIT */
/* Address types shared by every layer: mixing them should look wrong. */
#ifndef VMMU_TYPES_H
#define VMMU_TYPES_H

#include <stdint.h>

typedef uint64_t gva_t;   /* guest-virtual (linear) address */
typedef uint64_t gpa_t;   /* guest-physical address */
typedef uint64_t gfn_t;   /* guest frame number: gpa >> PAGE_SHIFT */

#define PAGE_SHIFT 12
#define PAGE_SIZE  (1ull << PAGE_SHIFT)
#define PAGE_MASK  (~(PAGE_SIZE - 1))

static inline gfn_t gpa_to_gfn(gpa_t gpa) { return gpa >> PAGE_SHIFT; }
static inline gpa_t gfn_to_gpa(gfn_t gfn) { return gfn << PAGE_SHIFT; }

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif /* VMMU_TYPES_H */
