// SPDX-License-Identifier: GPL-2.0
/*
 * --daemonize, --pidfile, and the files the daemon writes for its user.
 * The parent stays until the child says it serves, so that
 * "fuse-uring-export --daemonize ... && dd ..." is safe, and leaves with
 * the child's status if it never does.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "export.h"

static int ready_fd = -1;

static struct {
	const char *path;
	int fd;
	/* This daemon made the file, so a failed start takes it away. */
	bool created;
	bool written;
} pidfile = { .fd = -1 };

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

/*
 * Open a file the user asked the daemon to write (--pidfile, --trace),
 * made with @mode if it is new.  Often root writes it in a directory
 * others may write to, so a symlink there is refused rather than
 * followed, and so is a regular file with other hard links: either could
 * point root's writes at a file of somebody else's choosing.
 */
int daemon_open_output(const char *what, const char *path, mode_t mode,
		       bool *created)
{
	struct stat st;
	int fd, err;

	*created = false;
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		  mode);
	if (fd >= 0) {
		*created = true;
		/* The mode asked for, whatever the umask. */
		fchmod(fd, mode);
		return fd;
	}
	if (errno == EEXIST)
		fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		err = errno;
		if (err == ELOOP)
			log_error("%s=%s: is a symbolic link; refusing to follow it (name the file itself)",
				  what, path);
		else
			log_error("%s=%s: %s", what, path, strerror(err));
		return -err;
	}
	if (fstat(fd, &st) < 0) {
		err = errno;
		log_error("%s=%s: %s", what, path, strerror(err));
		goto fail;
	}
	if (S_ISREG(st.st_mode) && st.st_nlink > 1) {
		log_error("%s=%s: has %ju other hard links; refusing to write through it",
			  what, path, (uintmax_t)st.st_nlink - 1);
		err = EMLINK;
		goto fail;
	}
	/* Older contents may have been readable by more than we mean now. */
	if (S_ISREG(st.st_mode) && st.st_uid == geteuid())
		fchmod(fd, mode);
	return fd;
fail:
	close(fd);
	return -err;
}

/*
 * Taken before the mount, so that a pid file that cannot be ours fails
 * the start with nothing mounted.  The lock is held for the daemon's life:
 * a second daemon given the same file is refused rather than taking it
 * over, and neither removes the other's.
 */
int daemon_pidfile_open(const char *path)
{
	struct stat st;
	int fd;

	if (!path)
		return 0;
	fd = daemon_open_output("--pidfile", path, 0644, &pidfile.created);
	if (fd < 0)
		return fd;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		log_error("--pidfile=%s: not a regular file", path);
		goto fail;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		log_error("--pidfile=%s: %s", path, errno == EWOULDBLOCK ?
			  "held by another running daemon" : strerror(errno));
		goto fail;
	}
	pidfile.path = path;
	pidfile.fd = fd;
	return 0;
fail:
	close(fd);
	if (pidfile.created)
		unlink(path);
	pidfile.created = false;
	return -EINVAL;
}

static int pidfile_write(void)
{
	char line[32];
	int len;

	len = snprintf(line, sizeof(line), "%d\n", getpid());
	if (ftruncate(pidfile.fd, 0) < 0 ||
	    pwrite(pidfile.fd, line, len, 0) != len) {
		int err = errno ? errno : EIO;

		log_error("%s: cannot write the pid file: %s", pidfile.path,
			  strerror(err));
		return -err;
	}
	pidfile.written = true;
	return 0;
}

int daemon_ready(void)
{
	if (pidfile.fd >= 0 && pidfile_write())
		return -EIO;
	if (ready_fd >= 0) {
		if (write(ready_fd, "R", 1) != 1)
			log_error("cannot tell the parent we serve: %s",
				  strerror(errno));
		close(ready_fd);
		ready_fd = -1;
	}
	return 0;
}

/* Whether the pid file at its path is still the one we hold, with our pid. */
static bool pidfile_still_ours(void)
{
	struct stat held, now;
	char line[32];
	ssize_t got;

	if (fstat(pidfile.fd, &held) < 0 ||
	    fstatat(AT_FDCWD, pidfile.path, &now, AT_SYMLINK_NOFOLLOW) < 0 ||
	    held.st_dev != now.st_dev || held.st_ino != now.st_ino)
		return false;
	if (!pidfile.written)
		return pidfile.created && held.st_size == 0;
	got = pread(pidfile.fd, line, sizeof(line) - 1, 0);
	if (got <= 0)
		return false;
	line[got] = '\0';
	return strtol(line, NULL, 10) == getpid();
}

void daemon_cleanup(void)
{
	if (pidfile.fd < 0)
		return;
	if ((pidfile.written || pidfile.created) && pidfile_still_ours())
		unlink(pidfile.path);
	close(pidfile.fd);
	pidfile.fd = -1;
}
