// SPDX-License-Identifier: GPL-2.0
/*
 * A client the test drives one call at a time: a child with the file
 * open, reading calls from one pipe and answering each on another.  A
 * call may stay blocked in the daemon (a held sync) while the test goes
 * on with other clients; every wait for an answer has a deadline.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fue.h"

struct client_msg {
	char call;
	off_t off;
	off_t shift;
};

static int full_write(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= n;
	}
	return 0;
}

static int do_call(int *fd, const struct client_msg *m, void *buf)
{
	int ret = 0;

	switch (m->call) {
	case FUE_CLIENT_WRITE:
		fue_fill_pattern(buf, FUE_CLIENT_BLOCK, m->off + m->shift);
		ret = pwrite(*fd, buf, FUE_CLIENT_BLOCK, m->off);
		if (ret >= 0 && ret != FUE_CLIENT_BLOCK)
			return EIO;
		break;
	case FUE_CLIENT_FSYNC:
		ret = fsync(*fd);
		break;
	case FUE_CLIENT_FDATASYNC:
		ret = fdatasync(*fd);
		break;
	case FUE_CLIENT_CLOSE:
		ret = close(*fd);
		*fd = -1;
		break;
	default:
		return EINVAL;
	}
	return ret < 0 ? errno : 0;
}

static void client_main(const char *path, int cmd_fd, int res_fd)
{
	struct client_msg m;
	void *buf;
	int fd, err;

	fd = open(path, O_RDWR | O_DIRECT);
	err = fd < 0 ? errno : 0;
	if (full_write(res_fd, &err, sizeof(err)) || fd < 0)
		_exit(0);
	if (posix_memalign(&buf, FUE_CLIENT_BLOCK, FUE_CLIENT_BLOCK))
		_exit(1);
	while (read(cmd_fd, &m, sizeof(m)) == sizeof(m)) {
		err = do_call(&fd, &m, buf);
		if (full_write(res_fd, &err, sizeof(err)))
			break;
	}
	_exit(0);
}

int fue_client_start(struct fue_client *c, const char *path)
{
	int cmd[2], res[2], err;

	memset(c, 0, sizeof(*c));
	c->cmd_fd = -1;
	c->res_fd = -1;
	if (pipe2(cmd, O_CLOEXEC))
		return -errno;
	if (pipe2(res, O_CLOEXEC)) {
		err = -errno;
		close(cmd[0]);
		close(cmd[1]);
		return err;
	}
	c->pid = fork();
	if (c->pid < 0) {
		err = -errno;
		close(cmd[0]);
		close(cmd[1]);
		close(res[0]);
		close(res[1]);
		c->pid = 0;
		return err;
	}
	if (!c->pid) {
		close(cmd[1]);
		close(res[0]);
		client_main(path, cmd[0], res[1]);
	}
	close(cmd[0]);
	close(res[1]);
	c->cmd_fd = cmd[1];
	c->res_fd = res[0];
	err = fue_client_result(c, FUE_IO_TIMEOUT_MS);
	if (err) {
		fue_client_end(c);
		return err > 0 ? -err : err;
	}
	return 0;
}

int fue_client_send(struct fue_client *c, enum fue_client_call call,
		    off_t off, off_t shift)
{
	struct client_msg m = { .call = (char)call, .off = off,
				.shift = shift };

	if (c->cmd_fd < 0)
		return -EBADF;
	return full_write(c->cmd_fd, &m, sizeof(m)) ? -EPIPE : 0;
}

int fue_client_result(struct fue_client *c, int timeout_ms)
{
	struct pollfd pfd = { .fd = c->res_fd, .events = POLLIN };
	int err, ret;

	if (c->res_fd < 0)
		return -EBADF;
	ret = poll(&pfd, 1, timeout_ms);
	if (ret < 0)
		return -errno;
	if (!ret)
		return -ETIMEDOUT;
	if (read(c->res_fd, &err, sizeof(err)) != sizeof(err))
		return -EPIPE;
	return err;
}

int fue_client_call(struct fue_client *c, enum fue_client_call call,
		    off_t off, off_t shift)
{
	int ret = fue_client_send(c, call, off, shift);

	return ret ? ret : fue_client_result(c, FUE_IO_TIMEOUT_MS);
}

void fue_client_end(struct fue_client *c)
{
	int status;

	if (!c->pid)
		return;
	if (c->cmd_fd >= 0)
		close(c->cmd_fd);
	if (c->res_fd >= 0)
		close(c->res_fd);
	c->cmd_fd = -1;
	c->res_fd = -1;
	if (c->pid > 0 && fue_is_our_child(c->pid)) {
		/* It ends once its pipe closes, unless stuck in a call. */
		if (fue_wait_pid(c->pid, &status, 1000) != 1) {
			kill(c->pid, SIGKILL);
			fue_wait_pid(c->pid, &status, FUE_IO_TIMEOUT_MS);
		}
	}
	c->pid = 0;
}
