/* SPDX-License-Identifier: MIT */
#ifndef VMMU_BENCH_H
#define VMMU_BENCH_H

int bench_walk(int argc, char **argv);
int bench_tlb(int argc, char **argv);
int bench_fault(int argc, char **argv);
int bench_toggle(int argc, char **argv);
int bench_seed(int argc, char **argv);

#endif
