/* SPDX-License-Identifier: MIT */
/* vmmu record: a built-in scenario (src/sim/scenario.h) written as a trace. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "commands.h"
#include "scenario.h"

static const char usage[] =
	"usage: vmmu record --scenario=grsec|smm [--vcpus=N] [--processes=N] [--calls=N]\n"
	"                   [--toggles=N] [--ws-open=PAGES] [--ws-closed=PAGES]\n"
	"                   [--smi-every=N] [--smm-pages=PAGES] [--mmu=direct|tdp|tdp-legacy]\n"
	"                   [--tdp=ept|npt] [--policy=P] [--knob NAME=0|1 ...]\n"
	"                   [--stats[=text|json]] [-o FILE]\n"
	"Runs the scenario with its vCPUs in turn, one call each (the MMU options\n"
	"default to replay's: --mmu=direct), and writes it as a\n"
	"trace (standard output, or FILE); --stats prints the run's counters, which a\n"
	"replay of the trace with the same MMU options reproduces.\n";

/* A number option into @out (within [lo, hi]); -1 with a message. */
static int number(const char *name, const char *arg, uint64_t lo, uint64_t hi, uint64_t *out)
{
	if (bench_parse_size(arg, out) || *out < lo || *out > hi) {
		fprintf(stderr, "vmmu record: --%s takes a number from %" PRIu64 " to %" PRIu64
			", not '%s'\n", name, lo, hi, arg);
		return -1;
	}
	return 0;
}

/* The scenario's numeric options, by their long names. */
static int set_param(struct scenario_params *p, const char *name, const char *arg)
{
	static const struct {
		const char *name;
		size_t offset;
		uint64_t lo, hi;
	} params[] = {
		{ "vcpus", offsetof(struct scenario_params, vcpus), 1, SCENARIO_MAX_VCPUS },
		{ "processes", offsetof(struct scenario_params, processes), 1, SCENARIO_MAX_PROCESSES },
		{ "toggles", offsetof(struct scenario_params, toggles), 0, 1024 },
		{ "ws-open", offsetof(struct scenario_params, ws_open), 1, SCENARIO_MAX_PAGES },
		{ "ws-closed", offsetof(struct scenario_params, ws_closed), 2, SCENARIO_MAX_PAGES },
		{ "smi-every", offsetof(struct scenario_params, smi_every), 1, UINT32_MAX },
		{ "smm-pages", offsetof(struct scenario_params, smm_pages), 1, SCENARIO_MAX_PAGES },
	};
	uint64_t v;

	if (!strcmp(name, "calls"))
		return number(name, arg, 1, 1ull << 32, &p->calls);
	for (size_t i = 0; i < sizeof(params) / sizeof(params[0]); i++)
		if (!strcmp(name, params[i].name)) {
			if (number(name, arg, params[i].lo, params[i].hi, &v))
				return -1;
			*(unsigned int *)((char *)p + params[i].offset) = (unsigned int)v;
			return 0;
		}
	return -1;
}

int cmd_record(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "scenario", required_argument, NULL, 'S' },
		{ "vcpus", required_argument, NULL, 'n' },
		{ "processes", required_argument, NULL, 'n' },
		{ "calls", required_argument, NULL, 'n' },
		{ "toggles", required_argument, NULL, 'n' },
		{ "ws-open", required_argument, NULL, 'n' },
		{ "ws-closed", required_argument, NULL, 'n' },
		{ "smi-every", required_argument, NULL, 'n' },
		{ "smm-pages", required_argument, NULL, 'n' },
		{ "mmu", required_argument, NULL, 'm' },
		{ "tdp", required_argument, NULL, 't' },
		{ "policy", required_argument, NULL, 'p' },
		{ "knob", required_argument, NULL, 'k' },
		{ "stats", optional_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	/* Numeric options first, applied over the scenario's defaults. */
	const char *values[sizeof(opts) / sizeof(opts[0])] = { 0 };
	struct scenario_params p;
	struct scenario_result r;
	const char *out_path = NULL;
	int kind = -1, stats = 0, c, index, ret;
	/* replay's defaults, so that a plain replay counts the same */
	unsigned int mmu = VMMU_MMU_DIRECT, policy = VMMU_POLICY_6_4;
	uint32_t knobs_set = 0, knobs = 0, format = VMMU_TDP_EPT;
	char err[256];
	FILE *out = stdout;

	while ((c = getopt_long(argc, argv, "ho:", opts, &index)) != -1) {
		switch (c) {
		case 'S':
			kind = scenario_kind_parse(optarg);
			if (kind < 0) {
				fprintf(stderr, "vmmu record: --scenario is grsec or smm, not '%s'\n", optarg);
				return 2;
			}
			break;
		case 'n':
			values[index] = optarg;
			break;
		case 'm':
			if (parse_mmu(optarg, &mmu))
				return 2;
			break;
		case 't':
			if (strcmp(optarg, "ept") && strcmp(optarg, "npt")) {
				fprintf(stderr, "vmmu record: --tdp must be ept or npt, not '%s'\n", optarg);
				return 2;
			}
			format = strcmp(optarg, "npt") ? VMMU_TDP_EPT : VMMU_TDP_NPT;
			break;
		case 'p':
			if (parse_policy(optarg, &policy))
				return 2;
			break;
		case 'k':
			if (parse_knob(optarg, &knobs_set, &knobs))
				return 2;
			break;
		case 's':
			stats = !optarg || !strcmp(optarg, "text") ? 1 : !strcmp(optarg, "json") ? 2 : -1;
			if (stats < 0) {
				fprintf(stderr, "vmmu record: --stats takes text or json, not '%s'\n", optarg);
				return 2;
			}
			break;
		case 'o':
			out_path = optarg;
			break;
		case 'h':
			printf("%s", usage);
			return 0;
		default:
			fprintf(stderr, "%s", usage);
			return 2;
		}
	}
	if (kind < 0 || optind != argc) {
		fprintf(stderr, "%s", usage);
		return 2;
	}
	scenario_defaults((enum scenario_kind)kind, &p);
	for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
		if (values[i] && set_param(&p, opts[i].name, values[i]))
			return 2;
	p.mmu = mmu;
	p.tdp_format = format;
	p.policy = policy;
	p.knobs_set = knobs_set;
	p.knobs = knobs;
	if (scenario_check(&p, err, sizeof(err))) {
		fprintf(stderr, "vmmu record: %s\n", err);
		return 2;
	}
	if (out_path && !(out = fopen(out_path, "w"))) {
		fprintf(stderr, "vmmu record: cannot write %s: %s\n", out_path, strerror(errno));
		return 1;
	}
	ret = scenario_record(&p, out, &r, err, sizeof(err));
	if (out != stdout && fclose(out))
		ret = -1;
	if (ret) {
		fprintf(stderr, "vmmu record: %s\n", ret ? err : "cannot write the trace");
		return 1;
	}
	if (fflush(stdout)) {
		fprintf(stderr, "vmmu record: cannot write the trace: %s\n", strerror(errno));
		return 1;
	}
	if (stats)
		print_vm_stats(&r.stats, stats == 2);
	return 0;
}
