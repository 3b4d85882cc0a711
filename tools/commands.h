/* SPDX-License-Identifier: MIT */
/* Subcommands of the vmmu tool: each gets argv from its own name on and
 * returns the exit status (0 done, 1 run-time failure, 2 usage/malformed). */
#ifndef VMMU_TOOLS_COMMANDS_H
#define VMMU_TOOLS_COMMANDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

int cmd_replay(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_maps(int argc, char **argv);
int cmd_record(int argc, char **argv);

/* Reads a whole file ("-" is stdin); returns a malloc'ed buffer or NULL
 * with a message on stderr. */
char *read_file(const char *path, size_t *len);

/* --policy and --knob, shared by the commands that take them; 0 or -1
 * with a message on stderr. */
int parse_policy(const char *arg, unsigned int *policy);
int parse_knob(const char *arg, uint32_t *set, uint32_t *values);
struct vmmu_stats;
/* Every counter, by the library's names, on standard error (text or one
 * JSON object). */
void print_vm_stats(const struct vmmu_stats *st, bool json);

/* --mmu=direct|tdp|tdp-legacy (enum vmmu_mmu_mode). */
int parse_mmu(const char *arg, unsigned int *mmu);

#endif
