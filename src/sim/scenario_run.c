/* SPDX-License-Identifier: MIT */
/*
 * Running a scenario: on one thread per vCPU, each call a guest-mode
 * bracket (the guest runs between its exits), or serialized for a
 * recording.  The counters and CPU time cover the calls only, not the
 * guest's boot.
 */
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "scenario_internal.h"

static double seconds(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* vCPU @v's share of the calls. */
static uint64_t calls_of(const struct scenario_params *p, unsigned int v)
{
	return p->calls / p->vcpus + (v < p->calls % p->vcpus);
}

static void stats_sub(struct vmmu_stats *d, const struct vmmu_stats *a, const struct vmmu_stats *b)
{
	const uint64_t *pa = &a->accesses, *pb = &b->accesses;
	uint64_t *pd = &d->accesses;
	size_t n = (sizeof(*d) - offsetof(struct vmmu_stats, accesses)) / sizeof(uint64_t);

	*d = *b;
	for (size_t i = 0; i < n; i++)
		pd[i] = pb[i] - pa[i];
}

struct scen_thread {
	struct scen_exec *x;
	struct scen_cpu *cpu;
	uint64_t calls;
	double cpu_seconds;
	pthread_t thread;
};

static void *vcpu_thread(void *arg)
{
	struct scen_thread *t = arg;
	struct vmmu_vcpu *v = t->x->vcpu[t->cpu->id];
	double start = seconds(CLOCK_THREAD_CPUTIME_ID);

	for (uint64_t i = 0; i < t->calls; i++) {
		vmmu_vcpu_enter(v);
		scen_guest_step(t->x, t->cpu);
		vmmu_vcpu_exit(v);
	}
	t->cpu_seconds = seconds(CLOCK_THREAD_CPUTIME_ID) - start;
	return NULL;
}

static void result_fill(struct scen_exec *x, const struct scen_cpu *cpus,
			const struct vmmu_stats *before, struct scenario_result *r)
{
	struct vmmu_stats after = { .size = sizeof(after) };

	vmmu_vm_get_stats(x->vm, &after);
	stats_sub(&r->stats, before, &after);
	for (unsigned int v = 0; v < x->p->vcpus; v++) {
		r->calls += cpus[v].calls;
		r->toggles += cpus[v].toggles;
		r->smis += cpus[v].smis;
	}
	r->guest_faults = __atomic_load_n(&x->guest_faults, __ATOMIC_RELAXED);
}

static int check_guest(const struct scenario_result *r, char *err, size_t errlen)
{
	if (!r->guest_faults)
		return 0;
	snprintf(err, errlen, "scenario: %llu guest accesses failed (a library bug: the guest's "
		 "tables map everything it touches)", (unsigned long long)r->guest_faults);
	return -1;
}

/* The vCPUs in turn on this thread, one call each, each call a guest-mode
 * bracket; returns the CPU seconds. */
static double run_serialized(struct scen_exec *x, struct scen_cpu *cpus)
{
	double start = seconds(CLOCK_THREAD_CPUTIME_ID);

	for (uint64_t i = 0; i < x->p->calls; i++) {
		struct scen_cpu *c = &cpus[i % x->p->vcpus];

		vmmu_vcpu_enter(x->vcpu[c->id]);
		scen_guest_step(x, c);
		vmmu_vcpu_exit(x->vcpu[c->id]);
	}
	return seconds(CLOCK_THREAD_CPUTIME_ID) - start;
}

int scenario_run(const struct scenario_params *p, struct scenario_result *r,
		 char *err, size_t errlen)
{
	struct scen_cpu cpus[SCENARIO_MAX_VCPUS];
	struct scen_thread threads[SCENARIO_MAX_VCPUS];
	struct vmmu_stats before = { .size = sizeof(before) };
	struct scen_exec x;
	unsigned int started = 0;
	double wall;

	memset(r, 0, sizeof(*r));
	if (scenario_check(p, err, errlen) || scen_exec_create(&x, p, NULL, err, errlen))
		return -1;
	if (scen_guest_boot(&x, cpus, err, errlen)) {
		scen_exec_destroy(&x);
		return -1;
	}
	vmmu_vm_get_stats(x.vm, &before);
	wall = seconds(CLOCK_MONOTONIC);
	if (p->serialized) {
		r->cpu_seconds = run_serialized(&x, cpus);
		started = p->vcpus;
	} else {
		for (; started < p->vcpus; started++) {
			threads[started] = (struct scen_thread){
				.x = &x, .cpu = &cpus[started], .calls = calls_of(p, started),
			};
			if (pthread_create(&threads[started].thread, NULL, vcpu_thread,
					   &threads[started]))
				break;
		}
		for (unsigned int v = 0; v < started; v++) {
			pthread_join(threads[v].thread, NULL);
			r->cpu_seconds += threads[v].cpu_seconds;
		}
	}
	r->wall_seconds = seconds(CLOCK_MONOTONIC) - wall;
	result_fill(&x, cpus, &before, r);
	scen_exec_destroy(&x);
	if (started < p->vcpus) {
		snprintf(err, errlen, "scenario: cannot start vCPU thread %u", started);
		return -1;
	}
	return check_guest(r, err, errlen);
}

int scenario_record(const struct scenario_params *p, FILE *out, struct scenario_result *r,
		    char *err, size_t errlen)
{
	struct scen_cpu cpus[SCENARIO_MAX_VCPUS];
	struct vmmu_stats zero = { .size = sizeof(zero) };
	struct scen_exec x;
	double cpu;

	memset(r, 0, sizeof(*r));
	if (scenario_check(p, err, errlen) || scen_exec_create(&x, p, out, err, errlen))
		return -1;
	/* The counters from the VM's creation on: what a replay counts. */
	cpu = seconds(CLOCK_THREAD_CPUTIME_ID);
	if (scen_guest_boot(&x, cpus, err, errlen)) {
		scen_exec_destroy(&x);
		return -1;
	}
	for (uint64_t i = 0; i < p->calls; i++)
		scen_guest_step(&x, &cpus[i % p->vcpus]);
	r->cpu_seconds = r->wall_seconds = seconds(CLOCK_THREAD_CPUTIME_ID) - cpu;
	result_fill(&x, cpus, &zero, r);
	scen_exec_destroy(&x);
	if (ferror(out)) {
		snprintf(err, errlen, "scenario: cannot write the trace");
		return -1;
	}
	return check_guest(r, err, errlen);
}
