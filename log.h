/* SPDX-License-Identifier: GPL-2.0 */
#ifndef FUE_LOG_H
#define FUE_LOG_H

#include <stdbool.h>

#include "compiler.h"

extern bool log_verbose;

void log_error(const char *fmt, ...) __printf(1, 2);
void log_info(const char *fmt, ...) __printf(1, 2);
void log_debug(const char *fmt, ...) __printf(1, 2);

#endif /* FUE_LOG_H */
