/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "replay_mem.h"

static int grow(void **array, size_t *cap, size_t nr, size_t elem)
{
	size_t n = *cap ? 2 * *cap : 8;
	void *a;

	if (nr < *cap)
		return 0;
	a = realloc(*array, n * elem);
	if (!a)
		return -ENOMEM;
	*array = a;
	*cap = n;
	return 0;
}

static uint8_t *host_map(struct replay_slot *s, uint64_t size)
{
	size_t cap = s->nr_regions;   /* regions grow one at a time */
	struct replay_region *r;
	void *addr;

	if (size > SIZE_MAX)
		return NULL;
	r = realloc(s->regions, (cap + 1) * sizeof(*r));
	if (!r)
		return NULL;
	s->regions = r;
	addr = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (addr == MAP_FAILED)
		return NULL;
	s->regions[s->nr_regions++] = (struct replay_region){ addr, (size_t)size };
	return addr;
}

static int lib_add(struct replay_mem *m, uint32_t as, uint64_t gpa, uint64_t size, void *host,
		   bool ro, uint32_t *id)
{
	struct vmmu_memslot ms = {
		.id = m->next_lib_id++, .as_id = as, .gpa = gpa, .size = size, .hva = host,
		.flags = ro ? VMMU_MEMSLOT_READONLY : 0,
	};
	int ret = vmmu_memslot_add(m->vm, &ms);

	if (!ret)
		*id = ms.id;
	return ret;
}

static void drop_aliases(struct replay_mem *m)
{
	while (m->nr_aliases)
		vmmu_memslot_delete(m->vm, VMMU_AS_SMM, m->aliases[--m->nr_aliases]);
}

static int add_alias(struct replay_mem *m, const struct replay_slot *s,
		     const struct replay_piece *p, uint64_t from, uint64_t to)
{
	int ret = grow((void **)&m->aliases, &m->cap_aliases, m->nr_aliases, sizeof(uint32_t));

	if (!ret)
		ret = lib_add(m, VMMU_AS_SMM, from, to - from, p->host + (from - p->gpa), s->ro,
			      &m->aliases[m->nr_aliases]);
	if (!ret)
		m->nr_aliases++;
	return ret;
}

static int cmp_gpa(const void *a, const void *b)
{
	const struct replay_slot *x = *(const struct replay_slot *const *)a;
	const struct replay_slot *y = *(const struct replay_slot *const *)b;

	return x->gpa < y->gpa ? -1 : x->gpa > y->gpa;
}

/* Aliases of one normal piece around the SMRAM slots (sorted). */
static int alias_piece(struct replay_mem *m, const struct replay_slot *s,
		       const struct replay_piece *p, const struct replay_slot **smram, size_t nr)
{
	uint64_t cur = p->gpa, end = p->gpa + p->size;
	int ret = 0;

	for (size_t j = 0; j < nr && cur < end && !ret; j++) {
		uint64_t hole = smram[j]->gpa, hole_end = hole + smram[j]->size;

		if (hole_end <= cur || hole >= end)
			continue;
		if (hole > cur)
			ret = add_alias(m, s, p, cur, hole);
		cur = hole_end;
	}
	if (!ret && cur < end)
		ret = add_alias(m, s, p, cur, end);
	return ret;
}

/* Address space 1 = SMRAM over normal memory: rebuilt after any change. */
static int recompose_smm(struct replay_mem *m)
{
	const struct replay_slot **smram = calloc(m->nr ? m->nr : 1, sizeof(*smram));
	size_t nr_smram = 0;
	int ret = 0;

	drop_aliases(m);
	if (!smram)
		return -ENOMEM;
	for (size_t i = 0; i < m->nr; i++)
		if (m->slots[i].smm)
			smram[nr_smram++] = &m->slots[i];
	qsort(smram, nr_smram, sizeof(*smram), cmp_gpa);
	for (size_t i = 0; i < m->nr && !ret; i++)
		for (size_t k = 0; !m->slots[i].smm && k < m->slots[i].nr_pieces && !ret; k++)
			ret = alias_piece(m, &m->slots[i], &m->slots[i].pieces[k], smram, nr_smram);
	free(smram);
	return ret;
}

static uint32_t slot_as(const struct replay_slot *s)
{
	return s->smm ? VMMU_AS_SMM : VMMU_AS_NORMAL;
}

/* Registers every piece of @s with the library. */
static int add_pieces(struct replay_mem *m, struct replay_slot *s)
{
	for (size_t k = 0; k < s->nr_pieces; k++) {
		struct replay_piece *p = &s->pieces[k];
		int ret = lib_add(m, slot_as(s), p->gpa, p->size, p->host, s->ro, &p->lib_id);

		if (ret)
			return ret;
	}
	return 0;
}

static void delete_pieces(struct replay_mem *m, const struct replay_slot *s)
{
	for (size_t k = 0; k < s->nr_pieces; k++)
		vmmu_memslot_delete(m->vm, slot_as(s), s->pieces[k].lib_id);
}

static void free_slot(struct replay_slot *s)
{
	for (size_t i = 0; i < s->nr_regions; i++)
		munmap(s->regions[i].addr, s->regions[i].len);
	free(s->regions);
	free(s->pieces);
}

int replay_mem_add(struct replay_mem *m, uint64_t id, uint64_t gpa, uint64_t size, bool ro,
		   bool smm)
{
	struct replay_slot *s;
	uint8_t *host;
	int ret = grow((void **)&m->slots, &m->cap, m->nr, sizeof(*m->slots));

	if (ret)
		return ret;
	s = &m->slots[m->nr];
	*s = (struct replay_slot){ .trace_id = id, .gpa = gpa, .size = size, .ro = ro, .smm = smm };
	s->pieces = calloc(1, sizeof(*s->pieces));
	host = s->pieces ? host_map(s, size) : NULL;
	if (!host) {
		free_slot(s);
		return -ENOMEM;
	}
	s->pieces[0] = (struct replay_piece){ .gpa = gpa, .size = size, .host = host };
	s->nr_pieces = 1;
	/* SMRAM must not overlap the aliases: drop them first. */
	drop_aliases(m);
	ret = add_pieces(m, s);
	if (ret) {
		free_slot(s);
		recompose_smm(m);
		return ret;
	}
	m->nr++;
	return recompose_smm(m);
}

int replay_mem_delete(struct replay_mem *m, uint64_t id)
{
	size_t i;

	for (i = 0; i < m->nr && m->slots[i].trace_id != id; i++)
		;
	if (i == m->nr)
		return -ENOENT;
	/* Aliases first: they point into the host memory about to go. */
	drop_aliases(m);
	delete_pieces(m, &m->slots[i]);
	free_slot(&m->slots[i]);
	m->slots[i] = m->slots[--m->nr];
	return recompose_smm(m);
}

/*
 * The pieces of @s with [from, to) (inside the slot) moved to @host: pieces
 * are cut at from and to, and the ones between replaced by one.
 */
static int repiece(struct replay_slot *s, uint64_t from, uint64_t to, uint8_t *host)
{
	struct replay_piece *out = calloc(s->nr_pieces + 2, sizeof(*out));
	size_t n = 0;

	if (!out)
		return -ENOMEM;
	for (size_t k = 0; k < s->nr_pieces; k++) {
		struct replay_piece p = s->pieces[k];
		uint64_t end = p.gpa + p.size;

		if (p.gpa < from)
			out[n++] = (struct replay_piece){ .gpa = p.gpa, .size = (end < from ? end : from) - p.gpa,
							  .host = p.host };
		if (end > to) {
			uint64_t start = p.gpa > to ? p.gpa : to;

			out[n++] = (struct replay_piece){ .gpa = start, .size = end - start,
							  .host = p.host + (start - p.gpa) };
		}
	}
	out[n++] = (struct replay_piece){ .gpa = from, .size = to - from, .host = host };
	/* Sorted by GPA: the new piece goes where it belongs. */
	for (size_t k = n - 1; k > 0 && out[k].gpa < out[k - 1].gpa; k--) {
		struct replay_piece t = out[k];

		out[k] = out[k - 1];
		out[k - 1] = t;
	}
	free(s->pieces);
	s->pieces = out;
	s->nr_pieces = n;
	return 0;
}

/* Copies [from, to) of @s out of its current pieces into @dst. */
static void copy_out(const struct replay_slot *s, uint64_t from, uint64_t to, uint8_t *dst)
{
	for (size_t k = 0; k < s->nr_pieces; k++) {
		const struct replay_piece *p = &s->pieces[k];
		uint64_t a = p->gpa > from ? p->gpa : from;
		uint64_t b = p->gpa + p->size < to ? p->gpa + p->size : to;

		if (a < b)
			memcpy(dst + (a - from), p->host + (a - p->gpa), b - a);
	}
}

/* Makes the old host pages of [from, to) inaccessible: a stale pointer
 * into them faults.  Their memory goes back to the host. */
static void retire(const struct replay_piece *old, size_t nr, uint64_t from, uint64_t to)
{
	for (size_t k = 0; k < nr; k++) {
		uint64_t a = old[k].gpa > from ? old[k].gpa : from;
		uint64_t b = old[k].gpa + old[k].size < to ? old[k].gpa + old[k].size : to;

		if (a < b) {
			void *addr = old[k].host + (a - old[k].gpa);

			madvise(addr, b - a, MADV_DONTNEED);
			mprotect(addr, b - a, PROT_NONE);
		}
	}
}

int replay_mem_invalidate(struct replay_mem *m, uint64_t gpa, uint64_t size)
{
	uint64_t end = gpa + size;     /* may be 0: the range ends at 2^64 */
	int ret = 0;

	drop_aliases(m);
	for (size_t i = 0; i < m->nr && !ret; i++) {
		struct replay_slot *s = &m->slots[i];
		uint64_t from = s->gpa > gpa ? s->gpa : gpa;
		uint64_t to = s->gpa + s->size;
		struct replay_piece *old;
		size_t nr_old;
		uint8_t *host;

		if (end && end < to)
			to = end;
		if (from >= to)
			continue;
		host = host_map(s, to - from);
		if (!host)
			return -ENOMEM;
		copy_out(s, from, to, host);
		old = s->pieces;
		nr_old = s->nr_pieces;
		s->pieces = malloc(nr_old * sizeof(*old));
		if (!s->pieces) {
			s->pieces = old;
			return -ENOMEM;
		}
		memcpy(s->pieces, old, nr_old * sizeof(*old));
		/* When the deletions return, no vCPU uses the old pages. */
		delete_pieces(m, s);
		ret = repiece(s, from, to, host);
		if (!ret)
			ret = add_pieces(m, s);
		retire(old, nr_old, from, to);
		free(old);
	}
	return ret ? ret : recompose_smm(m);
}

void replay_mem_destroy(struct replay_mem *m)
{
	drop_aliases(m);
	for (size_t i = 0; i < m->nr; i++) {
		delete_pieces(m, &m->slots[i]);
		free_slot(&m->slots[i]);
	}
	free(m->slots);
	free(m->aliases);
	*m = (struct replay_mem){ 0 };
}
