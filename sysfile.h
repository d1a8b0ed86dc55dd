/* SPDX-License-Identifier: GPL-2.0 */
#ifndef FUE_SYSFILE_H
#define FUE_SYSFILE_H

#include <stddef.h>

int sysfile_read(const char *path, char *buf, size_t len);
int sysfile_read_uint(const char *path, unsigned int *value);

#endif /* FUE_SYSFILE_H */
