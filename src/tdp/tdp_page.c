/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tdp_page.h"
#include "vm/rcu.h"

/* Pages at the start of a chunk that hold the headers of all its pages. */
#define CHUNK_HEADER_PAGES \
	((TDP_CHUNK_TABLES * sizeof(struct tdp_page) + PAGE_SIZE - 1) / PAGE_SIZE)

int tdp_pool_init(struct tdp_page_pool *pool)
{
	memset(pool, 0, sizeof(*pool));
	return pthread_mutex_init(&pool->lock, NULL) ? -ENOMEM : 0;
}

void tdp_pool_destroy(struct tdp_page_pool *pool)
{
	for (unsigned int i = 0; i < pool->nr_chunks; i++)
		free(pool->chunks[i]);
	free(pool->chunks);
	pthread_mutex_destroy(&pool->lock);
	memset(pool, 0, sizeof(*pool));
}

/* Adds a chunk's tables to the free list.  Pool lock held. */
static int pool_grow(struct tdp_page_pool *pool)
{
	struct tdp_page *headers;
	void *chunk;

	if (pool->nr_chunks == pool->cap_chunks) {
		unsigned int cap = pool->cap_chunks ? 2 * pool->cap_chunks : 8;
		void **chunks = realloc(pool->chunks, cap * sizeof(*chunks));

		if (!chunks)
			return -ENOMEM;
		pool->chunks = chunks;
		pool->cap_chunks = cap;
	}
	chunk = aligned_alloc(TDP_CHUNK_SIZE, TDP_CHUNK_SIZE);
	if (!chunk)
		return -ENOMEM;
	pool->chunks[pool->nr_chunks++] = chunk;
	headers = chunk;
	memset(headers, 0, CHUNK_HEADER_PAGES * PAGE_SIZE);
	for (unsigned int i = CHUNK_HEADER_PAGES; i < TDP_CHUNK_TABLES; i++) {
		headers[i].spt = (uint64_t *)((uint8_t *)chunk + i * PAGE_SIZE);
		headers[i].next = pool->free;
		pool->free = &headers[i];
	}
	return 0;
}

int tdp_cache_topup(struct tdp_page_pool *pool, struct tdp_page_cache *cache, unsigned int min)
{
	struct tdp_page *taken[TDP_CACHE_CAPACITY];
	unsigned int n = 0;
	int ret = 0;

	if (cache->nr >= min)
		return 0;
	pthread_mutex_lock(&pool->lock);
	while (cache->nr + n < TDP_CACHE_CAPACITY) {
		if (!pool->free && (ret = pool_grow(pool)))
			break;
		taken[n] = pool->free;
		pool->free = taken[n++]->next;
	}
	pool->allocated += n;
	if (pool->allocated > pool->peak)
		pool->peak = pool->allocated;
	pthread_mutex_unlock(&pool->lock);
	/* Zeroed here, outside the MMU lock: 0 is the non-present SPTE. */
	for (unsigned int i = 0; i < n; i++) {
		memset(taken[i]->spt, 0, PAGE_SIZE);
		cache->pages[cache->nr++] = taken[i];
	}
	return cache->nr >= min ? 0 : ret ? ret : -ENOMEM;
}

struct tdp_page *tdp_cache_alloc(struct tdp_page_cache *cache)
{
	struct tdp_page *page;

	if (!cache->nr)
		return NULL;
	page = cache->pages[--cache->nr];
	page->next = NULL;
	page->root = false;
	return page;
}

/* Pool lock held. */
static void pool_put(struct tdp_page_pool *pool, struct tdp_page *page)
{
	page->next = pool->free;
	pool->free = page;
	pool->allocated--;
}

void tdp_cache_drain(struct tdp_page_pool *pool, struct tdp_page_cache *cache)
{
	pthread_mutex_lock(&pool->lock);
	while (cache->nr)
		pool_put(pool, cache->pages[--cache->nr]);
	pthread_mutex_unlock(&pool->lock);
}

void tdp_page_free_unused(struct tdp_page_pool *pool, struct tdp_page *page)
{
	pthread_mutex_lock(&pool->lock);
	pool_put(pool, page);
	pthread_mutex_unlock(&pool->lock);
}

void tdp_page_free_deferred(struct tdp_page_pool *pool, struct tdp_page *page)
{
	pthread_mutex_lock(&pool->lock);
	page->next = pool->deferred;
	/* Atomic: vCPU exits peek at both without the lock. */
	__atomic_store_n(&pool->deferred, page, __ATOMIC_RELEASE);
	__atomic_store_n(&pool->nr_deferred, pool->nr_deferred + 1, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&pool->lock);
}

bool tdp_pool_has_deferred(struct tdp_page_pool *pool)
{
	bool any;

	pthread_mutex_lock(&pool->lock);
	any = pool->deferred != NULL;
	pthread_mutex_unlock(&pool->lock);
	return any;
}

uint64_t tdp_pool_allocated(struct tdp_page_pool *pool)
{
	uint64_t n;

	pthread_mutex_lock(&pool->lock);
	n = pool->allocated;
	pthread_mutex_unlock(&pool->lock);
	return n;
}

unsigned int tdp_pool_reclaim(struct tdp_page_pool *pool)
{
	struct tdp_page *list, *next;
	unsigned int n = 0;

	pthread_mutex_lock(&pool->lock);
	list = pool->deferred;
	__atomic_store_n(&pool->deferred, NULL, __ATOMIC_RELAXED);
	__atomic_store_n(&pool->nr_deferred, 0, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&pool->lock);
	if (!list)
		return 0;
	/* Every walk that could have seen these tables has ended after this. */
	vm_synchronize_rcu();
	pthread_mutex_lock(&pool->lock);
	for (; list; list = next, n++) {
		next = list->next;
		pool_put(pool, list);
	}
	pthread_mutex_unlock(&pool->lock);
	return n;
}

void tdp_pool_reclaim_if_outside_rcu(struct tdp_page_pool *pool)
{
	if (!vm_rcu_read_ongoing())
		tdp_pool_reclaim(pool);
}
