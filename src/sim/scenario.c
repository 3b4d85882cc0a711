/* SPDX-License-Identifier: MIT */
/* Scenario parameters: defaults, checks, and the guest memory they need. */
#include <stdio.h>
#include <string.h>

#include "scenario_internal.h"

/* The most guest RAM a scenario may ask for: 4 GiB. */
#define SCEN_MAX_RAM_PAGES (1ull << 20)
#define SCEN_MAX_CALLS     (1ull << 32)

void scenario_defaults(enum scenario_kind kind, struct scenario_params *p)
{
	/* docs/SEED.md gives the reason for each value. */
	*p = (struct scenario_params){
		.kind = kind, .vcpus = 4, .processes = 20, .calls = 20000,
		.toggles = kind == SCENARIO_GRSEC ? 1 : 0, .ws_open = 8, .ws_closed = 24,
		.smi_every = 50, .smm_pages = 8,
		.mmu = VMMU_MMU_TDP, .tdp_format = VMMU_TDP_EPT, .policy = VMMU_POLICY_6_4,
	};
}

int scenario_kind_parse(const char *name)
{
	if (!strcmp(name, "grsec"))
		return SCENARIO_GRSEC;
	if (!strcmp(name, "smm"))
		return SCENARIO_SMM;
	return -1;
}

const char *scenario_kind_name(enum scenario_kind kind)
{
	return kind == SCENARIO_SMM ? "smm" : "grsec";
}

static int bad(char *err, size_t errlen, const char *what)
{
	snprintf(err, errlen, "scenario: %s", what);
	return -1;
}

int scenario_check(const struct scenario_params *p, char *err, size_t errlen)
{
	struct scen_layout lay;

	if (p->kind != SCENARIO_GRSEC && p->kind != SCENARIO_SMM)
		return bad(err, errlen, "unknown scenario");
	if (!p->vcpus || p->vcpus > SCENARIO_MAX_VCPUS)
		return bad(err, errlen, "vCPUs must be 1 to 64");
	if (p->processes < p->vcpus || p->processes > SCENARIO_MAX_PROCESSES)
		return bad(err, errlen, "processes must be at least the vCPUs and at most 4095");
	if (!p->calls || p->calls > SCEN_MAX_CALLS)
		return bad(err, errlen, "calls must be 1 to 2^32");
	if (p->toggles > 1024)
		return bad(err, errlen, "toggles per call must be 0 to 1024");
	if (!p->ws_open || p->ws_open > SCENARIO_MAX_PAGES ||
	    p->ws_closed < 2 || p->ws_closed > SCENARIO_MAX_PAGES)
		return bad(err, errlen, "working sets: 1 to 65536 pages open, 2 to 65536 closed");
	if (p->kind == SCENARIO_SMM &&
	    (!p->smi_every || !p->smm_pages || p->smm_pages > SCENARIO_MAX_PAGES))
		return bad(err, errlen, "smm: an SMI every 1 or more units, 1 to 65536 SMRAM pages");
	if (p->mmu > VMMU_MMU_TDP_LEGACY || p->tdp_format > VMMU_TDP_NPT)
		return bad(err, errlen, "unknown MMU or TDP format");
	return scen_layout(p, &lay, err, errlen);
}

static unsigned int div_up(uint64_t n, uint64_t d)
{
	return (unsigned int)((n + d - 1) / d);
}

int scen_layout(const struct scenario_params *p, struct scen_layout *lay, char *err,
		size_t errlen)
{
	unsigned int kernel_outside;

	memset(lay, 0, sizeof(*lay));
	/* A quarter of the window's pages are read-only data it writes. */
	lay->rodata = div_up(p->ws_open, 4);
	lay->user = p->ws_closed / 2;
	kernel_outside = p->ws_closed - lay->user;
	lay->kdata = p->ws_open - lay->rodata + kernel_outside;
	lay->nr_kpt = div_up(lay->rodata + lay->kdata, 512);
	lay->nr_upt = div_up(lay->user, 512);
	lay->proc_pages = 3 + lay->nr_upt + lay->user;
	lay->kpdpt = 1;
	lay->kpd = 2;
	lay->kpt = 3;
	lay->kernel = lay->kpt + lay->nr_kpt;
	lay->proc = lay->kernel + lay->rodata + lay->kdata;
	lay->ram_pages = lay->proc + (uint64_t)p->processes * lay->proc_pages;
	/* Whole MiBs, SMRAM in the next one. */
	lay->ram_pages = (lay->ram_pages + 255) & ~255ull;
	if (p->kind == SCENARIO_SMM) {
		lay->smram_gpa = lay->ram_pages * G_PAGE;
		lay->smram_pages = (p->smm_pages + 255) & ~255u;
	}
	if (lay->ram_pages + lay->smram_pages > SCEN_MAX_RAM_PAGES)
		return bad(err, errlen, "the guest would need more than 4 GiB of RAM");
	return 0;
}
