/* SPDX-License-Identifier: MIT */
/*
 * Fuzzes the trace parser and replayer, differentially: any input must parse
 * or be rejected with a FILE:LINE message; any trace that parses replays in
 * direct mode and in a TDP configuration (format, A/D, kernel policy) the
 * input chooses, and both must print exactly the same, since virtualization
 * is invisible to the guest.  Fuzzed traces ignore the caching rule, so both
 * runs flush the TLB before every access.  Guest memory is capped so a run
 * stays within the RSS limit.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trace.h"

#define FUZZ_MAX_SLOT_BYTES (64ull << 20)
#define FUZZ_MAX_COMMANDS   20000

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Replays @t under @opt; returns the output (malloc'ed) and the status. */
static char *replay(const struct trace *t, const struct replay_options *opt, int *status)
{
	static FILE *sink;
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	if (!sink)
		sink = fopen("/dev/null", "w");
	if (!f)
		abort();
	*status = trace_replay(t, opt, f, sink);
	fclose(f);
	return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vmmu_stats stats;
	struct replay_options direct = { .stats_out = &stats, .flush_before_access = true };
	struct replay_options tdp = direct;
	struct trace t;
	char err[512], *a, *b;
	uint32_t h = 2166136261u;
	int sa, sb;

	if (trace_parse((const char *)data, size, "fuzz", &t, err, sizeof(err))) {
		/* Every rejection names the input and a line. */
		if (strncmp(err, "fuzz:", 5))
			__builtin_trap();
		return 0;
	}
	if (t.nr > FUZZ_MAX_COMMANDS)
		goto out;
	for (size_t i = 0; i < t.nr; i++)
		if (t.cmds[i].op == OP_MEMSLOT_ADD && t.cmds[i].c > FUZZ_MAX_SLOT_BYTES)
			goto out;
	/* The TDP configuration: from a hash of the input. */
	for (size_t i = 0; i < size; i++)
		h = (h ^ data[i]) * 16777619u;
	tdp.mmu = (h >> 4) & 1 ? VMMU_MMU_TDP_LEGACY : VMMU_MMU_TDP;
	tdp.tdp_format = h & 1 ? VMMU_TDP_NPT : VMMU_TDP_EPT;
	tdp.tdp_ad_disabled = tdp.tdp_format == VMMU_TDP_EPT && (h & 2);
	tdp.policy = (h >> 2) % 3;
	/* The legacy MMU's smallest cap half the time: reclaim on every fault. */
	tdp.pt_mem_limit = tdp.mmu == VMMU_MMU_TDP_LEGACY && (h & 32) ? 16384 : 0;
	a = replay(&t, &direct, &sa);
	b = replay(&t, &tdp, &sb);
	/* A host that runs out of memory may fail one run and not the other. */
	if (sa == 0 && sb == 0 && strcmp(a, b))
		__builtin_trap();
	free(a);
	free(b);
out:
	trace_free(&t);
	return 0;
}
