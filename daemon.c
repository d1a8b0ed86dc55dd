// SPDX-License-Identifier: GPL-2.0
/*
 * --daemonize and --pidfile.  The parent stays until the child says it
 * serves, so that "fuse-uring-export --daemonize ... && dd ..." is safe,
 * and leaves with the child's status if it never does.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"

static int ready_fd = -1;
static int pidfile_written;

static void wait_for_child(int fd, pid_t child)
{
	int status;
	char c;

	if (read(fd, &c, 1) == 1)
		_exit(EXIT_SUCCESS);
	if (waitpid(child, &status, 0) < 0)
		_exit(EXIT_FAILURE);
	if (WIFEXITED(status) && WEXITSTATUS(status))
		_exit(WEXITSTATUS(status));
	_exit(EXIT_FAILURE);
}

int daemon_detach(void)
{
	int fds[2], null_fd;
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC) < 0) {
		int err = errno;

		log_error("cannot daemonize: %s", strerror(err));
		return -err;
	}
	pid = fork();
	if (pid < 0) {
		int err = errno;

		log_error("cannot daemonize: %s", strerror(err));
		return -err;
	}
	if (pid > 0) {
		close(fds[1]);
		wait_for_child(fds[0], pid);
	}
	close(fds[0]);
	ready_fd = fds[1];
	setsid();
	/* stderr stays: it is where errors and stats go. */
	null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null_fd >= 0) {
		dup2(null_fd, STDIN_FILENO);
		dup2(null_fd, STDOUT_FILENO);
		close(null_fd);
	}
	return 0;
}

int daemon_ready(const char *pidfile)
{
	FILE *f;

	if (pidfile) {
		f = fopen(pidfile, "we");
		if (!f || fprintf(f, "%d\n", getpid()) < 0 || fclose(f)) {
			int err = errno;

			log_error("%s: cannot write the pid file: %s", pidfile,
				  strerror(err));
			return -err;
		}
		pidfile_written = 1;
	}
	if (ready_fd >= 0) {
		if (write(ready_fd, "R", 1) != 1)
			log_error("cannot tell the parent we serve: %s",
				  strerror(errno));
		close(ready_fd);
		ready_fd = -1;
	}
	return 0;
}

void daemon_cleanup(const char *pidfile)
{
	if (pidfile && pidfile_written)
		unlink(pidfile);
}
