/* SPDX-License-Identifier: MIT */
#include <pthread.h>
#include <urcu/urcu-memb.h>

#include "rcu.h"

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
	urcu_memb_read_unlock();
}

void vm_synchronize_rcu(void)
{
	urcu_memb_synchronize_rcu();
}

bool vm_rcu_read_ongoing(void)
{
	return rcu_thread_registered && urcu_memb_read_ongoing();
}
