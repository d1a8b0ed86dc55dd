/* SPDX-License-Identifier: GPL-2.0 */
#ifndef FUE_CLI_H
#define FUE_CLI_H

#include "export.h"

/* Exit status of a command line the program cannot run. */
#define EXIT_USAGE 2
/* cli_parse() found a command line to run. */
#define CLI_RUN (-1)

#define QUEUES_MAX 1024
#define QUEUE_DEPTH_MAX 4096
#define POLL_US_MAX 10000
#define MAX_IO_MIN (4 * 1024)
#define MAX_IO_MAX (16 * 1024 * 1024)

int cli_parse(int argc, char **argv, struct export_options *opt);

#endif /* FUE_CLI_H */
