/* SPDX-License-Identifier: MIT */
/*
 * Fuzzes the trace parser and replayer: any input must parse or be rejected
 * with a FILE:LINE message, and any trace that parses must replay without
 * crashing.  Guest memory is capped so a run stays within the RSS limit.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "trace.h"

#define FUZZ_MAX_SLOT_BYTES (64ull << 20)
#define FUZZ_MAX_COMMANDS   20000

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static FILE *sink;
	struct vmmu_stats stats;
	struct replay_options opt = { .stats_out = &stats };
	struct trace t;
	char err[512];

	if (!sink)
		sink = fopen("/dev/null", "w");
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
	trace_replay(&t, &opt, sink, sink);
out:
	trace_free(&t);
	return 0;
}
