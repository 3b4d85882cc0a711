/* SPDX-License-Identifier: MIT */
/*
 * RCU through liburcu's membarrier flavour (never the signal flavour: hosts
 * such as QEMU own SIGUSR1).  Threads register lazily on their first read
 * lock and unregister when they exit; no thread is started.
 */
#ifndef VMMU_VM_RCU_H
#define VMMU_VM_RCU_H

#include <stdbool.h>

void vm_rcu_read_lock(void);
void vm_rcu_read_unlock(void);
/* Waits for every reader that started before the call.  Must not be called
 * inside a read-side critical section (see vm_rcu_read_ongoing()). */
void vm_synchronize_rcu(void);
bool vm_rcu_read_ongoing(void);

#endif
