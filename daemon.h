/* SPDX-License-Identifier: GPL-2.0 */
#ifndef FUE_DAEMON_H
#define FUE_DAEMON_H

int daemon_detach(void);
int daemon_ready(const char *pidfile);
void daemon_cleanup(const char *pidfile);

#endif /* FUE_DAEMON_H */
