/* SPDX-License-Identifier: MIT */
/* vmmu bench: dispatch to the benchmarks. */
#include <stdio.h>
#include <string.h>

#include "bench.h"
#include "commands.h"

int cmd_bench(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "walk"))
		return bench_walk(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "tlb"))
		return bench_tlb(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "fault"))
		return bench_fault(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "toggle"))
		return bench_toggle(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "seed"))
		return bench_seed(argc - 1, argv + 1);
	fprintf(stderr, "usage: vmmu bench walk|tlb|fault|toggle|seed [OPTIONS]\n");
	return 2;
}
