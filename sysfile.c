// SPDX-License-Identifier: GPL-2.0
/* Small kernel files in /sys and /proc: one read, NUL-terminated. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "sysfile.h"

/* Returns the length read, or -errno; @buf is always terminated. */
int sysfile_read(const char *path, char *buf, size_t len)
{
	ssize_t got;
	int fd;

	buf[0] = '\0';
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	got = read(fd, buf, len - 1);
	close(fd);
	if (got <= 0)
		return got < 0 ? -errno : -EINVAL;
	buf[got] = '\0';
	return (int)got;
}

int sysfile_read_uint(const char *path, unsigned int *value)
{
	char buf[32];
	int ret = sysfile_read(path, buf, sizeof(buf));

	if (ret < 0)
		return ret;
	*value = (unsigned int)strtoul(buf, NULL, 10);
	return 0;
}
