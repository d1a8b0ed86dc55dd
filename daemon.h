/* SPDX-License-Identifier: GPL-2.0 */
#ifndef FUE_DAEMON_H
#define FUE_DAEMON_H

#include <stdbool.h>
#include <sys/types.h>

int daemon_detach(void);
int daemon_open_output(const char *what, const char *path, mode_t mode,
		       bool *created);
int daemon_pidfile_open(const char *path);
int daemon_ready(void);
void daemon_cleanup(void);

#endif /* FUE_DAEMON_H */
