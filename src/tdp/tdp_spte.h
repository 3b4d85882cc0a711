/* SPDX-License-Identifier: MIT */
/* What the TDP tree asks of an SPTE, in the spte layer's terms. */
#ifndef VMMU_TDP_SPTE_H
#define VMMU_TDP_SPTE_H

#include "spte/spte.h"
#include "tdp_mmu.h"

/* The child table of a present non-leaf SPTE at @level, else NULL. */
static inline uint64_t *tdp_spte_child_table(uint64_t spte, unsigned int level)
{
	if (!spte_is_shadow_present(spte) || spte_is_leaf(spte, level))
		return NULL;
	return spte_child_table(spte);
}

static inline bool tdp_spte_is_leaf_present(uint64_t spte, unsigned int level)
{
	return spte_is_shadow_present(spte) && spte_is_leaf(spte, level);
}

static inline bool tdp_spte_is_mmio(const struct spte_config *cfg, uint64_t spte)
{
	return spte_is_mmio(cfg, spte);
}

static inline uint64_t tdp_spte_make_nonleaf(const struct spte_config *cfg, uint64_t *child)
{
	return spte_make_nonleaf(cfg, child);
}

static inline bool tdp_spte_is_writable(const struct spte_config *cfg, uint64_t spte)
{
	(void)cfg;
	return spte_hw_writable(spte);
}

static inline uint64_t tdp_spte_write_protect(const struct spte_config *cfg, uint64_t spte)
{
	return spte_write_protect(cfg, spte);
}

static inline bool tdp_spte_is_young(const struct spte_config *cfg, uint64_t spte)
{
	return spte_is_accessed(cfg, spte);
}

static inline uint64_t tdp_spte_make_old(const struct spte_config *cfg, uint64_t spte)
{
	return spte_make_old(cfg, spte);
}

#endif
