// SPDX-License-Identifier: GPL-2.0
/*
 * The clock and child processes with deadlines: every wait in the library
 * is bounded, since a child may be stuck in a request of a dead export.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fue.h"

long long fue_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

void fue_sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/*
 * Wait for one specific child with a deadline.  A pidfd lets poll() do the
 * waiting; without one (old kernels) fall back to polling waitpid().
 * Returns 1 if reaped (status filled), 0 on timeout, -errno on error.
 */
int fue_wait_pid(pid_t pid, int *status, int timeout_ms)
{
	long long deadline = fue_now_ms() + timeout_ms, left;
	int pidfd = syscall(SYS_pidfd_open, pid, 0);
	int ret;

	for (;;) {
		ret = waitpid(pid, status, WNOHANG);
		if (ret == pid)
			break;
		if (ret < 0 && errno != EINTR) {
			ret = -errno;
			break;
		}
		left = deadline - fue_now_ms();
		if (left <= 0) {
			ret = 0;
			break;
		}
		if (pidfd >= 0) {
			struct pollfd pfd = { .fd = pidfd, .events = POLLIN };

			poll(&pfd, 1, left > 100 ? 100 : (int)left);
		} else {
			fue_sleep_ms(left > 5 ? 5 : (int)left);
		}
	}
	if (pidfd >= 0)
		close(pidfd);
	return ret == pid ? 1 : ret;
}

/* True if pid is our (possibly zombie) child: the only pids we signal. */
bool fue_is_our_child(pid_t pid)
{
	char path[64], buf[512], *p;
	int ppid;
	FILE *f;

	if (pid <= 0)
		return false;
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return false;
	p = fgets(buf, sizeof(buf), f);
	fclose(f);
	if (!p)
		return false;
	/* comm may contain spaces and parens; fields resume after the last ')' */
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 1, " %*c %d", &ppid) != 1)
		return false;
	return ppid == getpid();
}

void *fue_shared_alloc(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

void fue_shared_free(void *p, size_t len)
{
	if (p)
		munmap(p, len);
}

int fue_in_child(int (*fn)(void *arg), void *arg, int timeout_ms)
{
	int status, ret;
	pid_t pid;

	/* Unflushed stdio would otherwise be printed twice. */
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0)
		_exit(fn(arg) & 0xff);
	ret = fue_wait_pid(pid, &status, timeout_ms);
	if (ret == 1)
		return WIFEXITED(status) ? WEXITSTATUS(status) : -ECHILD;
	fue_log("client pid %d still blocked after %d ms, killing it", pid,
		timeout_ms);
	kill(pid, SIGKILL);
	/* A FUSE wait is killable, but do not bet the test on it. */
	fue_wait_pid(pid, &status, 5000);
	return -ETIMEDOUT;
}

int fue_exec(const char *const *argv, const char *log, int timeout_ms)
{
	int status, ret;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		int in = open("/dev/null", O_RDONLY);
		int out = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);

		if (in < 0 || out < 0)
			_exit(126);
		dup2(in, 0);
		dup2(out, 1);
		dup2(out, 2);
		/*
		 * It stays in our process group, so that the harness' kill on
		 * a test timeout reaches it as well.
		 */
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	ret = fue_wait_pid(pid, &status, timeout_ms);
	if (ret != 1) {
		fue_log("%s still running after %d ms, killing it", argv[0],
			timeout_ms);
		kill(pid, SIGKILL);
		fue_wait_pid(pid, &status, 5000);
		return -ETIMEDOUT;
	}
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}

const char *fue_which(const char *prog, char *buf, size_t len)
{
	const char *path = getenv("PATH"), *p, *end;

	if (strchr(prog, '/')) {
		snprintf(buf, len, "%s", prog);
		return access(buf, X_OK) ? NULL : buf;
	}
	if (!path)
		path = "/usr/local/bin:/usr/bin:/bin";
	for (p = path; *p; p = *end ? end + 1 : end) {
		end = strchrnul(p, ':');
		snprintf(buf, len, "%.*s/%s", (int)(end - p), p, prog);
		if (end > p && !access(buf, X_OK))
			return buf;
	}
	return NULL;
}
