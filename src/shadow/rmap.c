/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rmap.h"

#define PTE_LIST_MANY 1ul

static struct pte_list_desc *list_desc(uintptr_t val)
{
	return (struct pte_list_desc *)(val & ~PTE_LIST_MANY);
}

int pte_list_cache_topup(struct shadow_cache *cache)
{
	while (cache->nr_descs < SHADOW_CACHE_CAPACITY) {
		struct pte_list_desc *d = malloc(sizeof(*d));

		if (!d)
			return cache->nr_descs ? 0 : -ENOMEM;
		cache->descs[cache->nr_descs++] = d;
	}
	return 0;
}

void pte_list_cache_drain(struct shadow_cache *cache)
{
	while (cache->nr_descs)
		free(cache->descs[--cache->nr_descs]);
}

int pte_list_add(struct pte_list *list, struct shadow_cache *cache, uint64_t *sptep)
{
	struct pte_list_desc *d;

	if (!list->val) {
		list->val = (uintptr_t)sptep;
		return 0;
	}
	d = (list->val & PTE_LIST_MANY) ? list_desc(list->val) : NULL;
	if (d && d->nr < PTE_LIST_EXT) {
		d->sptes[d->nr++] = sptep;
		return 0;
	}
	if (!cache->nr_descs)
		return -ENOMEM;
	/* A new first descriptor: the old single pointer or chain follows. */
	struct pte_list_desc *n = cache->descs[--cache->nr_descs];

	n->nr = 0;
	n->more = d;
	if (!d)
		n->sptes[n->nr++] = (uint64_t *)list->val;
	n->sptes[n->nr++] = sptep;
	list->val = (uintptr_t)n | PTE_LIST_MANY;
	return 0;
}

void pte_list_remove(struct pte_list *list, uint64_t *sptep)
{
	struct pte_list_desc *head, *d;

	if (!(list->val & PTE_LIST_MANY)) {
		if (list->val == (uintptr_t)sptep)
			list->val = 0;
		return;
	}
	head = list_desc(list->val);
	for (d = head; d; d = d->more)
		for (unsigned int i = 0; i < d->nr; i++) {
			if (d->sptes[i] != sptep)
				continue;
			/* Fill the hole from the first descriptor, the one with room. */
			d->sptes[i] = head->sptes[--head->nr];
			if (head->nr)
				return;
			list->val = head->more ? (uintptr_t)head->more | PTE_LIST_MANY : 0;
			free(head);
			return;
		}
}

uint64_t *pte_list_first(const struct pte_list *list)
{
	if (!(list->val & PTE_LIST_MANY))
		return (uint64_t *)list->val;
	return list_desc(list->val)->sptes[0];
}

unsigned int pte_list_count(const struct pte_list *list)
{
	unsigned int n = 0;

	if (!(list->val & PTE_LIST_MANY))
		return list->val != 0;
	for (const struct pte_list_desc *d = list_desc(list->val); d; d = d->more)
		n += d->nr;
	return n;
}

uint64_t *pte_list_iter_first(const struct pte_list *list, struct pte_list_iter *iter)
{
	if (!(list->val & PTE_LIST_MANY)) {
		iter->desc = NULL;
		return (uint64_t *)list->val;
	}
	iter->desc = list_desc(list->val);
	iter->pos = 0;
	return iter->desc->sptes[0];
}

uint64_t *pte_list_iter_next(struct pte_list_iter *iter)
{
	if (!iter->desc)
		return NULL;
	if (++iter->pos < iter->desc->nr)
		return iter->desc->sptes[iter->pos];
	iter->desc = iter->desc->more;
	iter->pos = 0;
	return iter->desc ? iter->desc->sptes[0] : NULL;
}

/* ---- per-memslot blocks ------------------------------------------------- */

static const struct rmap_block *block_find(const struct rmap_set *rs, gfn_t base, uint64_t npages)
{
	for (unsigned int i = 0; i < rs->nr; i++)
		if (rs->blocks[i].base_gfn == base && rs->blocks[i].npages == npages)
			return &rs->blocks[i];
	return NULL;
}

int rmap_set_sync(struct rmap_set *rs, const struct memslot_set *slots)
{
	struct rmap_block *blocks = calloc(slots->nr ? slots->nr : 1, sizeof(*blocks));
	unsigned int i;

	if (!blocks)
		return -ENOMEM;
	for (i = 0; i < slots->nr; i++) {
		const struct memslot *s = &slots->slots[i];
		const struct rmap_block *old = block_find(rs, s->base_gfn, s->npages);

		blocks[i] = (struct rmap_block){ .base_gfn = s->base_gfn, .npages = s->npages };
		blocks[i].heads = old ? old->heads : calloc(s->npages, sizeof(struct pte_list));
		if (!blocks[i].heads)
			goto nomem;
	}
	/* The blocks no slot kept. */
	for (unsigned int j = 0; j < rs->nr; j++)
		if (!block_find(&(struct rmap_set){ .nr = slots->nr, .blocks = blocks },
				rs->blocks[j].base_gfn, rs->blocks[j].npages))
			free(rs->blocks[j].heads);
	free(rs->blocks);
	rs->blocks = blocks;
	rs->nr = slots->nr;
	return 0;
nomem:
	while (i--)
		if (!block_find(rs, blocks[i].base_gfn, blocks[i].npages))
			free(blocks[i].heads);
	free(blocks);
	return -ENOMEM;
}

void rmap_set_destroy(struct rmap_set *rs)
{
	for (unsigned int i = 0; i < rs->nr; i++)
		free(rs->blocks[i].heads);
	free(rs->blocks);
	memset(rs, 0, sizeof(*rs));
}

struct pte_list *rmap_head(const struct rmap_set *rs, gfn_t gfn)
{
	unsigned int lo = 0, hi = rs->nr;

	/* The last block whose base is at or below gfn, if it covers gfn. */
	while (lo < hi) {
		unsigned int mid = lo + (hi - lo) / 2;

		if (rs->blocks[mid].base_gfn <= gfn)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo && gfn - rs->blocks[lo - 1].base_gfn < rs->blocks[lo - 1].npages)
		return &rs->blocks[lo - 1].heads[gfn - rs->blocks[lo - 1].base_gfn];
	return NULL;
}

/* Moves @it to the next block overlapping its range, from it->block on;
 * false when there is none. */
static bool range_enter_block(struct rmap_range_iter *it)
{
	for (; it->block < it->rs->nr; it->block++) {
		const struct rmap_block *b = &it->rs->blocks[it->block];
		gfn_t lo = it->gfn > b->base_gfn ? it->gfn : b->base_gfn;
		gfn_t hi = it->end < b->base_gfn + b->npages ? it->end : b->base_gfn + b->npages;

		if (lo < hi) {
			it->gfn = lo;
			it->block_end = hi;
			return true;
		}
	}
	return false;
}

static struct pte_list *range_head(const struct rmap_range_iter *it, gfn_t *gfn)
{
	const struct rmap_block *b = &it->rs->blocks[it->block];

	*gfn = it->gfn;
	return &b->heads[it->gfn - b->base_gfn];
}

struct pte_list *rmap_range_first(struct rmap_range_iter *it, const struct rmap_set *rs,
				  gfn_t start, gfn_t end, gfn_t *gfn)
{
	*it = (struct rmap_range_iter){ .rs = rs, .gfn = start, .end = end };
	return range_enter_block(it) ? range_head(it, gfn) : NULL;
}

struct pte_list *rmap_range_next(struct rmap_range_iter *it, gfn_t *gfn)
{
	if (++it->gfn < it->block_end)
		return range_head(it, gfn);
	it->block++;
	return range_enter_block(it) ? range_head(it, gfn) : NULL;
}
