// SPDX-License-Identifier: GPL-2.0
/*
 * Client I/O through an export, each call in a bounded child process;
 * pattern images, loop devices, and direct access to image files.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/fs.h>
#include <linux/loop.h>

#include "fue.h"

struct io_req {
	const char *path;
	int flags;
	size_t len;
	off_t off;
	bool write;
	bool all;
	ssize_t ret;
	/* data follows at IO_DATA_OFF, page aligned for O_DIRECT */
};

#define IO_DATA_OFF	4096

static int do_io(void *arg)
{
	struct io_req *r = arg;
	char *data = (char *)r + IO_DATA_OFF;
	ssize_t n = 0, done = 0;
	int fd;

	fd = open(r->path, r->flags | O_CLOEXEC);
	if (fd < 0) {
		r->ret = -errno;
		return 0;
	}
	if (r->write) {
		n = pwrite(fd, data, r->len, r->off);
	} else if (r->all) {
		while ((size_t)done < r->len) {
			n = pread(fd, data + done, r->len - done, done);
			if (n <= 0)
				break;
			done += n;
		}
		n = n < 0 ? n : done;
	} else {
		n = pread(fd, data, r->len, r->off);
	}
	r->ret = n < 0 ? -errno : n;
	/* close() flushes a writeback cache; report its error too */
	if (close(fd) && r->ret >= 0)
		r->ret = -errno;
	return 0;
}

static ssize_t run_io(const char *path, int flags, void *buf, size_t len,
		      off_t off, bool write, bool all)
{
	size_t map_len = IO_DATA_OFF + ((len + 4095) & ~(size_t)4095);
	struct io_req *r;
	ssize_t ret;
	int cret;

	r = fue_shared_alloc(map_len);
	if (!r)
		return -ENOMEM;
	r->path = path;	/* fork keeps the address valid in the child */
	r->flags = flags;
	r->len = len;
	r->off = off;
	r->write = write;
	r->all = all;
	r->ret = -EIO;
	if (write)
		memcpy((char *)r + IO_DATA_OFF, buf, len);
	cret = fue_in_child(do_io, r, FUE_IO_TIMEOUT_MS);
	ret = cret < 0 ? cret : r->ret;
	if (!write && ret > 0)
		memcpy(buf, (char *)r + IO_DATA_OFF, ret);
	fue_shared_free(r, map_len);
	return ret;
}

ssize_t fue_pread(const char *path, int flags, void *buf, size_t len,
		  off_t off)
{
	return run_io(path, flags, buf, len, off, false, false);
}

ssize_t fue_pwrite(const char *path, int flags, const void *buf, size_t len,
		   off_t off)
{
	return run_io(path, flags, (void *)buf, len, off, true, false);
}

ssize_t fue_read_all(const char *path, void *buf, size_t len)
{
	return run_io(path, O_RDONLY, buf, len, 0, false, true);
}

/* Back a free loop device with file; returns its open fd or -errno. */
int fue_loop_attach(const char *file, char *dev, size_t len)
{
	int ctl, lfd, ffd, n, tries;

	ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	if (ctl < 0)
		return -errno;
	ffd = open(file, O_RDWR | O_CLOEXEC);
	if (ffd < 0) {
		close(ctl);
		return -errno;
	}
	/* Another process may grab the free device first; try again. */
	for (tries = 0; tries < 8; tries++) {
		n = ioctl(ctl, LOOP_CTL_GET_FREE);
		if (n < 0)
			break;
		snprintf(dev, len, "/dev/loop%d", n);
		lfd = open(dev, O_RDWR | O_CLOEXEC);
		if (lfd < 0)
			break;
		if (!ioctl(lfd, LOOP_SET_FD, ffd)) {
			/* Gone with its last user, should the test be killed. */
			struct loop_info64 info = {
				.lo_flags = LO_FLAGS_AUTOCLEAR,
			};

			if (ioctl(lfd, LOOP_SET_STATUS64, &info)) {
				n = -errno;
				ioctl(lfd, LOOP_CLR_FD, 0);
				close(lfd);
				close(ffd);
				close(ctl);
				return n;
			}
			close(ffd);
			close(ctl);
			return lfd;
		}
		close(lfd);
		if (errno != EBUSY)
			break;
	}
	n = -errno;
	close(ffd);
	close(ctl);
	return n ? n : -EBUSY;
}

void fue_loop_detach(int fd)
{
	ioctl(fd, LOOP_CLR_FD, 0);
	close(fd);
}

void fue_fill_pattern(void *buf, size_t len, off_t off)
{
	uint8_t *p = buf;
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = fue_pattern_byte(off + i);
}

ssize_t fue_check_pattern(const void *buf, size_t len, off_t off)
{
	const uint8_t *p = buf;
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i] != fue_pattern_byte(off + i))
			return i;
	return -1;
}

ssize_t fue_check_zero(const void *buf, size_t len)
{
	const uint8_t *p = buf;
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i])
			return i;
	return -1;
}

static int write_pattern(int fd, off_t off, off_t len)
{
	uint8_t buf[65536];

	while (len > 0) {
		size_t chunk = len > (off_t)sizeof(buf) ? sizeof(buf) :
							 (size_t)len;
		ssize_t n;

		fue_fill_pattern(buf, chunk, off);
		n = pwrite(fd, buf, chunk, off);
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		off += n;
		len -= n;
	}
	return 0;
}

int fue_make_sparse_image(const char *path, off_t size, off_t off, off_t len)
{
	int fd, ret;

	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	ret = ftruncate(fd, size) ? -errno : 0;
	if (!ret)
		ret = write_pattern(fd, off, len);
	/* Flush so that the allocation (st_blocks, SEEK_DATA) is settled. */
	if (!ret && fsync(fd))
		ret = -errno;
	close(fd);
	return ret;
}

int fue_make_mountpoint(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (fd < 0)
		return -errno;
	close(fd);
	return 0;
}

int fue_make_image(const char *path, off_t size)
{
	return fue_make_sparse_image(path, size, 0, size);
}

off_t fue_file_size(const char *path)
{
	uint64_t size;
	struct stat st;
	int fd, ret;

	if (stat(path, &st))
		return -errno;
	if (!S_ISBLK(st.st_mode))
		return st.st_size;
	/* A device node's own size is 0: ask the device. */
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ret = ioctl(fd, BLKGETSIZE64, &size) ? -errno : 0;
	close(fd);
	return ret ? ret : (off_t)size;
}

ssize_t fue_file_pread(const char *path, void *buf, size_t len, off_t off)
{
	ssize_t n, done = 0;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	while ((size_t)done < len) {
		n = pread(fd, (char *)buf + done, len - done, off + done);
		if (n < 0) {
			done = -errno;
			break;
		}
		if (n == 0)
			break;
		done += n;
	}
	close(fd);
	return done;
}

int fue_file_checksum(const char *path, off_t off, off_t len, uint64_t *sum)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	uint8_t buf[65536];
	int fd, ret = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	while (len) {
		size_t chunk = (len < 0 || len > (off_t)sizeof(buf)) ?
			       sizeof(buf) : (size_t)len;
		ssize_t n = pread(fd, buf, chunk, off);
		ssize_t i;

		if (n < 0) {
			ret = -errno;
			break;
		}
		if (n == 0)
			break;
		for (i = 0; i < n; i++)
			h = (h ^ buf[i]) * 0x100000001b3ULL;
		off += n;
		if (len > 0)
			len -= n;
	}
	close(fd);
	*sum = h;
	return ret;
}

struct cmp_req {
	const char *a;
	const char *b;
	off_t len;
	off_t diff;
	int ret;
};

#define CMP_CHUNK	(1 << 20)
#define CMP_TIMEOUT_MS	120000

static int do_cmp(void *arg)
{
	struct cmp_req *r = arg;
	char *x = malloc(CMP_CHUNK), *y = malloc(CMP_CHUNK);
	int fa = open(r->a, O_RDONLY | O_CLOEXEC);
	int fb = open(r->b, O_RDONLY | O_CLOEXEC);
	off_t off = 0;

	r->ret = 0;
	if (!x || !y) {
		r->ret = -ENOMEM;
		goto out;
	}
	if (fa < 0 || fb < 0) {
		r->ret = -errno;
		goto out;
	}
	while (off < r->len) {
		size_t want = r->len - off > CMP_CHUNK ? CMP_CHUNK :
			      (size_t)(r->len - off);
		ssize_t na = pread(fa, x, want, off);
		ssize_t nb = pread(fb, y, want, off);
		size_t i;

		if (na < 0 || nb < 0) {
			r->ret = -errno;
			break;
		}
		if (na == 0 || nb == 0) {
			r->ret = -ENODATA;
			break;
		}
		if (nb < na)
			na = nb;
		if (memcmp(x, y, na)) {
			for (i = 0; x[i] == y[i]; i++)
				;
			r->diff = off + i;
			r->ret = 1;
			break;
		}
		off += na;
	}
out:
	if (fa >= 0)
		close(fa);
	if (fb >= 0)
		close(fb);
	free(x);
	free(y);
	return 0;
}

int fue_cmp_files(const char *a, const char *b, off_t len, off_t *diff)
{
	struct cmp_req *r = fue_shared_alloc(sizeof(*r));
	int ret;

	if (!r)
		return -ENOMEM;
	r->a = a;
	r->b = b;
	r->len = len;
	r->ret = -EIO;
	ret = fue_in_child(do_cmp, r, CMP_TIMEOUT_MS);
	if (ret >= 0)
		ret = r->ret;
	if (ret == 1 && diff)
		*diff = r->diff;
	fue_shared_free(r, sizeof(*r));
	return ret;
}
