/* SPDX-License-Identifier: MIT */
/*
 * What a vCPU tops up for the legacy MMU before it takes the MMU lock, as
 * KVM's mmu_page_header_cache and mmu_pte_list_desc_cache: a fault takes
 * from it under the lock and never allocates there.
 */
#ifndef VMMU_SHADOW_CACHE_H
#define VMMU_SHADOW_CACHE_H

/* A fault links at most one table per level below the root and adds one
 * reverse-map entry per link and one for the leaf. */
#define SHADOW_CACHE_CAPACITY 8

struct shadow_page;
struct pte_list_desc;

struct shadow_cache {
	unsigned int nr_headers, nr_descs;
	struct shadow_page *headers[SHADOW_CACHE_CAPACITY];
	struct pte_list_desc *descs[SHADOW_CACHE_CAPACITY];
};

#endif
