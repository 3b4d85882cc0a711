/* SPDX-License-Identifier: MIT */
#include <pthread.h>
#include <urcu/urcu-memb.h>

#include "rcu.h"

/*
 * ThreadSanitizer cannot see the ordering a grace period gives (liburcu's
 * membarrier flavour orders through a system call): a reader's unlock
 * happens before the end of every grace period that waited for it, so what
 * is freed after synchronize_rcu() was not being read.  Under TSan the two
 * ends say so; elsewhere these are empty.
 */
#if defined(__SANITIZE_THREAD__)
#define VMMU_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define VMMU_TSAN 1
#endif
#endif

#ifdef VMMU_TSAN
#include <sanitizer/tsan_interface.h>
static char rcu_grace_period;
#define rcu_annotate_reader_done() __tsan_release(&rcu_grace_period)
#define rcu_annotate_grace_period() __tsan_acquire(&rcu_grace_period)
#else
#define rcu_annotate_reader_done() do { } while (0)
#define rcu_annotate_grace_period() do { } while (0)
#endif

static pthread_key_t rcu_thread_key;
static pthread_once_t rcu_key_once = PTHREAD_ONCE_INIT;
static __thread bool rcu_thread_registered;

static void rcu_thread_exit(void *unused)
{
	(void)unused;
	if (rcu_thread_registered) {
		urcu_memb_unregister_thread();
		rcu_thread_registered = false;
	}
}

static void rcu_key_create(void)
{
	pthread_key_create(&rcu_thread_key, rcu_thread_exit);
}

static void rcu_register_self(void)
{
	pthread_once(&rcu_key_once, rcu_key_create);
	urcu_memb_register_thread();
	rcu_thread_registered = true;
	/* Any non-NULL value makes the destructor run at thread exit. */
	pthread_setspecific(rcu_thread_key, &rcu_thread_registered);
}

void vm_rcu_read_lock(void)
{
	if (__builtin_expect(!rcu_thread_registered, 0))
		rcu_register_self();
	urcu_memb_read_lock();
}

void vm_rcu_read_unlock(void)
{
	rcu_annotate_reader_done();
	urcu_memb_read_unlock();
}

void vm_synchronize_rcu(void)
{
	urcu_memb_synchronize_rcu();
	rcu_annotate_grace_period();
}

bool vm_rcu_read_ongoing(void)
{
	return rcu_thread_registered && urcu_memb_read_ongoing();
}
