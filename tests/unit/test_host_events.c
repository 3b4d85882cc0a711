/* SPDX-License-Identifier: MIT */
/*
 * Host events are invisible to the guest: every trace of tests/traces/ is
 * replayed with `zap` and `invalidate` of random ranges inserted at random
 * points, under every MMU mode, and must print exactly what it prints
 * without them.  The inserted commands print nothing and the trace's own
 * commands keep their line numbers, so the outputs compare as they are.
 *
 * Usage: test_host_events TRACES_DIR (ctest passes tests/traces).
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "trace.h"

#define VARIANTS 3            /* insertions per trace and mode */

static const char *traces_dir;

static const struct replay_options modes[] = {
	{ .mmu = VMMU_MMU_DIRECT },
	{ .mmu = VMMU_MMU_TDP, .tdp_format = VMMU_TDP_EPT },
	{ .mmu = VMMU_MMU_TDP, .tdp_format = VMMU_TDP_EPT, .tdp_ad_disabled = true },
	{ .mmu = VMMU_MMU_TDP, .tdp_format = VMMU_TDP_NPT },
	{ .mmu = VMMU_MMU_TDP_LEGACY, .tdp_format = VMMU_TDP_EPT },
	{ .mmu = VMMU_MMU_TDP_LEGACY, .tdp_format = VMMU_TDP_NPT, .policy = VMMU_POLICY_5_10 },
	/* The smallest page-table cap: pages are reclaimed all the time. */
	{ .mmu = VMMU_MMU_TDP_LEGACY, .tdp_format = VMMU_TDP_EPT, .tdp_ad_disabled = true,
	  .pt_mem_limit = 16384 },
};

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static char *read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return buf;
}

static char *replay(const struct trace *t, const struct replay_options *mode)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	FILE *err = fopen("/dev/null", "w");

	assert_non_null(f);
	assert_int_equal(trace_replay(t, mode, f, err), 0);
	fclose(f);
	fclose(err);
	return out;
}

/* The highest GPA any memslot of the trace reaches. */
static uint64_t memory_top(const struct trace *t)
{
	uint64_t top = 1 << 20;

	for (size_t i = 0; i < t->nr; i++)
		if (t->cmds[i].op == OP_MEMSLOT_ADD && t->cmds[i].b + t->cmds[i].c > top)
			top = t->cmds[i].b + t->cmds[i].c;
	return top;
}

/* A copy of @t with host events at random points over random ranges. */
static struct trace with_host_events(const struct trace *t)
{
	uint64_t top = memory_top(t) >> 12;
	size_t extra = 1 + t->nr / 4;
	struct trace v = *t;

	v.cmds = calloc(t->nr + extra, sizeof(*v.cmds));
	assert_non_null(v.cmds);
	v.nr = 0;
	for (size_t i = 0; i <= t->nr; i++) {
		if (i > 0 && extra && rng() % 3 == 0) {
			struct trace_cmd *c = &v.cmds[v.nr++];
			uint64_t pages = 1 + rng() % (rng() % 4 ? 16 : 1024);

			*c = (struct trace_cmd){ .op = rng() % 2 ? OP_ZAP : OP_INVALIDATE,
						 .line = t->cmds[i - 1].line };
			c->a = (rng() % top) << 12;
			c->b = pages << 12;
			if (rng() % 8 == 0) {        /* now and then, everything */
				c->a = 0;
				c->b = top << 12;
			}
			extra--;
		}
		if (i < t->nr)
			v.cmds[v.nr++] = t->cmds[i];
	}
	return v;
}

static void check_trace(const char *path)
{
	char *text, err[512];
	struct trace t;
	size_t len;

	text = read_all(path, &len);
	if (trace_parse(text, len, path, &t, err, sizeof(err))) {
		free(text);          /* a malformed trace: nothing runs */
		return;
	}
	free(text);
	for (size_t m = 0; m < sizeof(modes) / sizeof(modes[0]); m++) {
		char *plain = replay(&t, &modes[m]);

		for (unsigned int n = 0; n < VARIANTS; n++) {
			struct trace v = with_host_events(&t);
			char *got = replay(&v, &modes[m]);

			if (strcmp(plain, got))
				fail_msg("%s, mode %zu, variant %u: output changed by host events\n"
					 "--- without\n%s--- with\n%s", path, m, n, plain, got);
			free(got);
			free(v.cmds);
		}
		free(plain);
	}
	trace_free(&t);
}

static void test_every_trace(void **state)
{
	struct dirent *e;
	DIR *d = opendir(traces_dir);
	unsigned int n = 0;

	(void)state;
	assert_non_null(d);
	while ((e = readdir(d))) {
		size_t l = strlen(e->d_name);
		char path[4096];

		if (l < 7 || strcmp(e->d_name + l - 6, ".trace"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", traces_dir, e->d_name);
		check_trace(path);
		n++;
	}
	closedir(d);
	assert_true(n >= 60);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_trace),
	};

	if (argc != 2) {
		fprintf(stderr, "usage: %s TRACES_DIR\n", argv[0]);
		return 2;
	}
	traces_dir = argv[1];
	return cmocka_run_group_tests(tests, NULL, NULL);
}
