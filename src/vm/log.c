/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stdio.h>

#include "vm.h"

/* The library's only way to say something: the embedder's callback. */
void vm_log(struct vmmu_vm *vm, enum vmmu_log_level level, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	if (!vm || !vm->cfg.log)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	vm->cfg.log(vm->cfg.log_opaque, level, msg);
}
