/* SPDX-License-Identifier: MIT */
/* vmmu replay: parse the whole trace, then run it. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "commands.h"
#include "trace.h"
#include "vmmu.h"

char *read_file(const char *path, size_t *len)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
	size_t cap = 1 << 16, n = 0;
	char *buf;

	if (!f) {
		fprintf(stderr, "vmmu: cannot open %s: %s\n", path, strerror(errno));
		return NULL;
	}
	buf = malloc(cap);
	while (buf) {
		size_t got = fread(buf + n, 1, cap - n, f);

		n += got;
		if (n < cap)
			break;
		char *bigger = realloc(buf, cap * 2);

		if (!bigger) {
			free(buf);
			buf = NULL;
			break;
		}
		buf = bigger;
		cap *= 2;
	}
	if (buf && ferror(f)) {
		fprintf(stderr, "vmmu: cannot read %s: %s\n", path, strerror(errno));
		free(buf);
		buf = NULL;
	} else if (!buf) {
		fprintf(stderr, "vmmu: %s: out of memory\n", path);
	}
	if (f != stdin)
		fclose(f);
	*len = n;
	return buf;
}

int parse_mmu(const char *arg, unsigned int *mmu)
{
	static const struct { const char *name; unsigned int mmu; } modes[] = {
		{ "direct", VMMU_MMU_DIRECT }, { "tdp", VMMU_MMU_TDP },
		{ "tdp-legacy", VMMU_MMU_TDP_LEGACY },
	};

	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
		if (!strcmp(arg, modes[i].name)) {
			*mmu = modes[i].mmu;
			return 0;
		}
	fprintf(stderr, "vmmu: MMU mode '%s' is not available (direct, tdp, tdp-legacy)\n", arg);
	return -1;
}

/* --policy: a kernel's MMU behaviour; before = 5.10, after = 6.4. */
int parse_policy(const char *arg, unsigned int *policy)
{
	static const struct { const char *name; unsigned int policy; } policies[] = {
		{ "5.10", VMMU_POLICY_5_10 }, { "before", VMMU_POLICY_5_10 },
		{ "6.1", VMMU_POLICY_6_1 }, { "6.4", VMMU_POLICY_6_4 }, { "after", VMMU_POLICY_6_4 },
	};

	for (size_t i = 0; i < sizeof(policies) / sizeof(policies[0]); i++)
		if (!strcmp(arg, policies[i].name)) {
			*policy = policies[i].policy;
			return 0;
		}
	fprintf(stderr, "vmmu: unknown policy '%s' (5.10, 6.1, 6.4, before, after)\n", arg);
	return -1;
}

/* --knob NAME=0|1, by the library's knob names. */
int parse_knob(const char *arg, uint32_t *set, uint32_t *values)
{
	const char *eq = strchr(arg, '='), *name;

	for (unsigned int i = 0; eq && (name = vmmu_knob_name(i)); i++)
		if (strlen(name) == (size_t)(eq - arg) && !strncmp(arg, name, eq - arg) &&
		    (!strcmp(eq + 1, "0") || !strcmp(eq + 1, "1"))) {
			*set |= 1u << i;
			*values = (*values & ~(1u << i)) | ((uint32_t)(eq[1] == '1') << i);
			return 0;
		}
	fprintf(stderr, "vmmu: --knob takes NAME=0|1 with NAME one of:");
	for (unsigned int i = 0; (name = vmmu_knob_name(i)); i++)
		fprintf(stderr, " %s", name);
	fprintf(stderr, "; not '%s'\n", arg);
	return -1;
}

void print_vm_stats(const struct vmmu_stats *st, bool json)
{
	const uint64_t *values = &st->accesses;
	json_object *obj = json ? json_object_new_object() : NULL;
	const char *name;

	for (unsigned int i = 0; (name = vmmu_stat_name(i)); i++) {
		if (obj)
			json_object_object_add(obj, name, json_object_new_uint64(values[i]));
		else
			fprintf(stderr, "%-22s %" PRIu64 "\n", name, values[i]);
	}
	if (obj) {
		fprintf(stderr, "%s\n", json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN));
		json_object_put(obj);
	}
}

int cmd_replay(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "mmu", required_argument, NULL, 'm' },
		{ "tdp", required_argument, NULL, 't' },
		{ "tdp-ad", required_argument, NULL, 'a' },
		{ "policy", required_argument, NULL, 'p' },
		{ "knob", required_argument, NULL, 'k' },
		{ "stats", optional_argument, NULL, 's' },
		{ "pt-mem-limit", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	static const char usage[] =
		"usage: vmmu replay [--mmu=direct|tdp|tdp-legacy] [--tdp=ept|npt] [--tdp-ad=on|off]\n"
		"                   [--policy=5.10|6.1|6.4|before|after] [--knob NAME=0|1 ...]\n"
		"                   [--pt-mem-limit=BYTES] [--stats[=text|json]] TRACE\n";
	struct replay_options ro = { 0 };
	enum { STATS_NONE, STATS_TEXT, STATS_JSON } stats = STATS_NONE;
	struct vmmu_stats st = { .size = sizeof(st) };
	bool tdp_given = false;
	struct trace t;
	char err[512];
	size_t len;
	char *text;
	int c, ret;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'm':
			if (parse_mmu(optarg, &ro.mmu))
				return 2;
			break;
		case 'l':
			if (bench_parse_size(optarg, &ro.pt_mem_limit) || !ro.pt_mem_limit) {
				fprintf(stderr, "vmmu replay: --pt-mem-limit takes a size in bytes "
					"(K, M, G suffixes), not '%s'\n", optarg);
				return 2;
			}
			break;
		case 't':
			if (strcmp(optarg, "ept") && strcmp(optarg, "npt")) {
				fprintf(stderr, "vmmu replay: --tdp must be ept or npt, not '%s'\n", optarg);
				return 2;
			}
			ro.tdp_format = strcmp(optarg, "npt") ? VMMU_TDP_EPT : VMMU_TDP_NPT;
			tdp_given = true;
			break;
		case 'a':
			if (strcmp(optarg, "on") && strcmp(optarg, "off")) {
				fprintf(stderr, "vmmu replay: --tdp-ad must be on or off, not '%s'\n", optarg);
				return 2;
			}
			ro.tdp_ad_disabled = !strcmp(optarg, "off");
			tdp_given = true;
			break;
		case 'p':
			if (parse_policy(optarg, &ro.policy))
				return 2;
			break;
		case 'k':
			if (parse_knob(optarg, &ro.knobs_set, &ro.knobs))
				return 2;
			break;
		case 's':
			if (!optarg || !strcmp(optarg, "text"))
				stats = STATS_TEXT;
			else if (!strcmp(optarg, "json"))
				stats = STATS_JSON;
			else {
				fprintf(stderr, "vmmu replay: --stats takes text or json, not '%s'\n", optarg);
				return 2;
			}
			ro.stats_out = &st;
			break;
		case 'h':
			printf("%s", usage);
			return 0;
		default:
			return 2;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "%s", usage);
		return 2;
	}
	if (tdp_given && ro.mmu == VMMU_MMU_DIRECT) {
		fprintf(stderr, "vmmu replay: --tdp and --tdp-ad need --mmu=tdp or tdp-legacy\n");
		return 2;
	}
	if (ro.pt_mem_limit && ro.mmu != VMMU_MMU_TDP_LEGACY) {
		fprintf(stderr, "vmmu replay: --pt-mem-limit needs --mmu=tdp-legacy\n");
		return 2;
	}
	if (ro.pt_mem_limit && (ro.pt_mem_limit % 4096 || ro.pt_mem_limit < 16384)) {
		fprintf(stderr, "vmmu replay: --pt-mem-limit must be whole 4K pages, at least 16K\n");
		return 2;
	}
	if (ro.tdp_ad_disabled && ro.tdp_format != VMMU_TDP_EPT) {
		fprintf(stderr, "vmmu replay: NPT always has accessed/dirty bits: --tdp-ad=off needs --tdp=ept\n");
		return 2;
	}
	text = read_file(argv[optind], &len);
	if (!text)
		return 1;
	ret = trace_parse(text, len, argv[optind], &t, err, sizeof(err));
	free(text);
	if (ret) {
		fprintf(stderr, "%s\n", err);
		return 2;
	}
	ret = trace_replay(&t, &ro, stdout, stderr);
	trace_free(&t);
	if (stats != STATS_NONE)
		print_vm_stats(&st, stats == STATS_JSON);
	if (fflush(stdout)) {
		fprintf(stderr, "vmmu replay: cannot write output: %s\n", strerror(errno));
		return 1;
	}
	return ret;
}
