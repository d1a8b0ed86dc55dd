// SPDX-License-Identifier: GPL-2.0
/*
 * Messages on stderr, one line each, prefixed with the program name so
 * that they stand out in a test log or a kernel developer's terminal.
 */
#include <stdarg.h>
#include <stdio.h>

#include "export.h"

bool log_verbose;

static void log_line(const char *fmt, va_list ap)
{
	char line[1024];

	/* One write per line keeps lines from threads whole. */
	vsnprintf(line, sizeof(line), fmt, ap);
	fprintf(stderr, "%s: %s\n", PROGRAM_NAME, line);
}

void log_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_line(fmt, ap);
	va_end(ap);
}

void log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_line(fmt, ap);
	va_end(ap);
}

void log_debug(const char *fmt, ...)
{
	va_list ap;

	if (!log_verbose)
		return;
	va_start(ap, fmt);
	log_line(fmt, ap);
	va_end(ap);
}
