/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "replay_mem.h"

static int cmp_gpa(const void *a, const void *b)
{
	const struct replay_slot *x = *(const struct replay_slot *const *)a;
	const struct replay_slot *y = *(const struct replay_slot *const *)b;

	return x->gpa < y->gpa ? -1 : x->gpa > y->gpa;
}

static int add_alias(struct replay_mem *m, const struct replay_slot *s, uint64_t from, uint64_t to)
{
	struct vmmu_memslot ms = {
		.id = m->next_lib_id++, .as_id = VMMU_AS_SMM, .gpa = from, .size = to - from,
		.hva = s->host + (from - s->gpa), .flags = s->ro ? VMMU_MEMSLOT_READONLY : 0,
	};
	int ret;

	if (m->nr_aliases == m->cap_aliases) {
		size_t cap = m->cap_aliases ? 2 * m->cap_aliases : 16;
		uint32_t *a = realloc(m->aliases, cap * sizeof(*a));

		if (!a)
			return -ENOMEM;
		m->aliases = a;
		m->cap_aliases = cap;
	}
	ret = vmmu_memslot_add(m->vm, &ms);
	if (!ret)
		m->aliases[m->nr_aliases++] = ms.id;
	return ret;
}

/* Address space 1 = SMRAM over normal memory: rebuilds the aliases of the
 * normal slots around the SMRAM slots after any slot change. */
static int recompose_smm(struct replay_mem *m)
{
	const struct replay_slot **smram;
	size_t nr_smram = 0;
	int ret = 0;

	while (m->nr_aliases)
		vmmu_memslot_delete(m->vm, VMMU_AS_SMM, m->aliases[--m->nr_aliases]);
	smram = calloc(m->nr ? m->nr : 1, sizeof(*smram));
	if (!smram)
		return -ENOMEM;
	for (size_t i = 0; i < m->nr; i++)
		if (m->slots[i].smm)
			smram[nr_smram++] = &m->slots[i];
	qsort(smram, nr_smram, sizeof(*smram), cmp_gpa);

	for (size_t i = 0; i < m->nr && !ret; i++) {
		const struct replay_slot *s = &m->slots[i];
		uint64_t cur = s->gpa, end = s->gpa + s->size;

		if (s->smm)
			continue;
		for (size_t j = 0; j < nr_smram && cur < end && !ret; j++) {
			uint64_t hole = smram[j]->gpa, hole_end = hole + smram[j]->size;

			if (hole_end <= cur || hole >= end)
				continue;
			if (hole > cur)
				ret = add_alias(m, s, cur, hole);
			cur = hole_end;
		}
		if (!ret && cur < end)
			ret = add_alias(m, s, cur, end);
	}
	free(smram);
	return ret;
}

int replay_mem_add(struct replay_mem *m, uint64_t id, uint64_t gpa, uint64_t size, bool ro,
		   bool smm)
{
	struct replay_slot *s;
	struct vmmu_memslot ms;
	void *host;
	int ret;

	if (m->nr == m->cap) {
		size_t cap = m->cap ? 2 * m->cap : 16;
		struct replay_slot *n = realloc(m->slots, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		m->slots = n;
		m->cap = cap;
	}
	if (size > SIZE_MAX)
		return -ENOMEM;
	host = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (host == MAP_FAILED)
		return -errno;
	s = &m->slots[m->nr];
	*s = (struct replay_slot){ .trace_id = id, .gpa = gpa, .size = size, .ro = ro,
				   .smm = smm, .host = host, .lib_id = m->next_lib_id++ };
	ms = (struct vmmu_memslot){ .id = s->lib_id, .as_id = smm ? VMMU_AS_SMM : VMMU_AS_NORMAL,
				    .gpa = gpa, .size = size, .hva = host,
				    .flags = ro ? VMMU_MEMSLOT_READONLY : 0 };
	/* SMRAM must not overlap the aliases: drop them first. */
	while (smm && m->nr_aliases)
		vmmu_memslot_delete(m->vm, VMMU_AS_SMM, m->aliases[--m->nr_aliases]);
	ret = vmmu_memslot_add(m->vm, &ms);
	if (ret) {
		munmap(host, (size_t)size);
		return ret;
	}
	m->nr++;
	return recompose_smm(m);
}

int replay_mem_delete(struct replay_mem *m, uint64_t id)
{
	size_t i;
	int ret;

	for (i = 0; i < m->nr && m->slots[i].trace_id != id; i++)
		;
	if (i == m->nr)
		return -ENOENT;
	/* Aliases first: they point into the host memory about to go. */
	while (m->nr_aliases)
		vmmu_memslot_delete(m->vm, VMMU_AS_SMM, m->aliases[--m->nr_aliases]);
	ret = vmmu_memslot_delete(m->vm, m->slots[i].smm ? VMMU_AS_SMM : VMMU_AS_NORMAL,
				  m->slots[i].lib_id);
	if (ret)
		return ret;
	munmap(m->slots[i].host, (size_t)m->slots[i].size);
	m->slots[i] = m->slots[--m->nr];
	return recompose_smm(m);
}

void replay_mem_destroy(struct replay_mem *m)
{
	while (m->nr_aliases)
		vmmu_memslot_delete(m->vm, VMMU_AS_SMM, m->aliases[--m->nr_aliases]);
	for (size_t i = 0; i < m->nr; i++) {
		vmmu_memslot_delete(m->vm, m->slots[i].smm ? VMMU_AS_SMM : VMMU_AS_NORMAL,
				    m->slots[i].lib_id);
		munmap(m->slots[i].host, (size_t)m->slots[i].size);
	}
	free(m->slots);
	free(m->aliases);
	*m = (struct replay_mem){ 0 };
}
