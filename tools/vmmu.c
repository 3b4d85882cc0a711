/* SPDX-License-Identifier: MIT */
/* The vmmu command: replays traces and runs benchmarks. */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "vmmu.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: vmmu COMMAND [OPTIONS]\n"
		"\n"
		"commands:\n"
		"  replay [--mmu=direct|tdp|tdp-legacy] [--tdp=ept|npt] [--tdp-ad=on|off] [--policy=P]\n"
		"         [--knob NAME=0|1] [--pt-mem-limit=BYTES] [--stats[=text|json]] TRACE\n"
		"                                          replay a trace (TRACE-FORMAT.md); - reads stdin\n"
		"  record --scenario=grsec|smm [OPTIONS]   write a built-in scenario as a trace; -h\n"
		"  bench NAME [OPTIONS]                    benchmarks walk, tlb, fault, toggle, seed\n"
		"                                          (docs/BENCHMARKS.md, docs/SEED.md); -h for each\n"
		"  maps [OPTIONS] CORE | --mem RAW ...     every mapping of a guest memory image\n"
		"  version                                 print the library version\n"
		"\n"
		"exit status: 0 done, 1 run-time failure, 2 malformed input or usage error\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "replay"))
		return cmd_replay(argc - 1, argv + 1);
	if (!strcmp(argv[1], "bench"))
		return cmd_bench(argc - 1, argv + 1);
	if (!strcmp(argv[1], "record"))
		return cmd_record(argc - 1, argv + 1);
	if (!strcmp(argv[1], "maps"))
		return cmd_maps(argc - 1, argv + 1);
	if (!strcmp(argv[1], "version") || !strcmp(argv[1], "--version")) {
		printf("vmmu %s\n", vmmu_version());
		return 0;
	}
	if (!strcmp(argv[1], "help") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(stdout);
		return 0;
	}
	fprintf(stderr, "vmmu: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
