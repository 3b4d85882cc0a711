#include <stdio.h>
#include "bench.h"
int bench_walk(int argc, char **argv) { (void)argc; (void)argv; fprintf(stderr, "not yet\n"); return 1; }
