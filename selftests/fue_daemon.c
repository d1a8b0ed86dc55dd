// SPDX-License-Identifier: GPL-2.0
/*
 * Running and tearing down one fuse-uring-export for a test.
 *
 * The daemon is started with --daemonize so that the start returns once the
 * export serves.  Its launcher is our child; the serving process is its
 * child, so the test process makes itself a child subreaper: the daemon is
 * then reparented to us when the launcher exits, which lets us collect its
 * real exit status and prove that any pid we signal is one we started.
 * A watchdog aborts an export that outlives its time budget.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/fs.h>

#include "fue.h"

/* Options one start may pass; more than any test needs. */
#define MAX_OPTS	64

int fue_init(struct fue_export *e)
{
	const char *base = getenv("TMPDIR");
	char tmpl[PATH_MAX];

	memset(e, 0, sizeof(*e));
	if (!base || !base[0])
		base = "/tmp";
	snprintf(tmpl, sizeof(tmpl), "%s/fue.XXXXXX", base);
	if (!mkdtemp(tmpl))
		return -errno;
	/* mountinfo shows canonical paths; compare against those. */
	if (!realpath(tmpl, e->dir))
		return -errno;
	snprintf(e->image, sizeof(e->image), "%s/image", e->dir);
	snprintf(e->mnt, sizeof(e->mnt), "%s/mnt", e->dir);
	snprintf(e->pidfile, sizeof(e->pidfile), "%s/pid", e->dir);
	snprintf(e->errlog, sizeof(e->errlog), "%s/stderr", e->dir);
	snprintf(e->outlog, sizeof(e->outlog), "%s/stdout", e->dir);
	return 0;
}

/* Abort the watched connection if the export outlives its time budget. */
static void watchdog_main(pid_t parent, const char *mnt, unsigned int conn,
			  unsigned int secs)
{
	unsigned int fstype_conn;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(0);
	fue_sleep_ms(secs * 1000);
	/* Only act if the same connection is still mounted there. */
	if (fue_mount_info(mnt, &fstype_conn, NULL, 0) <= 0 ||
	    fstype_conn != conn)
		_exit(0);
	if (!fue_conn_exists(conn))
		_exit(0);
	fue_log("watchdog: export on %s still up after %us, aborting connection %u",
		mnt, secs, conn);
	fue_abort_conn(conn);
	_exit(0);
}

static void start_watchdog(struct fue_export *e)
{
	pid_t parent = getpid();
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid == 0)
		watchdog_main(parent, e->mounted_on, e->conn,
			      e->watchdog_s ? e->watchdog_s : FUE_WATCHDOG_S);
	if (pid > 0)
		e->watchdog = pid;
}

/* Done before each start and stop, so no watchdog outlives its export. */
static void stop_watchdog(struct fue_export *e)
{
	int status;

	if (e->watchdog <= 0)
		return;
	kill(e->watchdog, SIGKILL);
	fue_wait_pid(e->watchdog, &status, 5000);
	e->watchdog = 0;
}

static pid_t read_pidfile(const char *path)
{
	char buf[32];
	long pid;
	char *end;

	if (fue_read_word(path, buf, sizeof(buf)))
		return 0;
	pid = strtol(buf, &end, 10);
	if (end == buf || pid <= 0 || pid > INT_MAX)
		return 0;
	return (pid_t)pid;
}

/*
 * Fork and exec argv with stdin from /dev/null and stdout and stderr to
 * the export's logs (emptied first if @truncate).  Returns the pid or
 * -errno; the child exits 126 if the logs cannot be opened.
 */
static pid_t fork_logged(const struct fue_export *e, const char *const *argv,
			 bool truncate_logs, bool search_path)
{
	int mode = O_WRONLY | O_CREAT | (truncate_logs ? O_TRUNC : O_APPEND);
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		int in = open("/dev/null", O_RDONLY);
		int out = open(e->outlog, mode, 0600);
		int err = open(e->errlog, mode, 0600);

		if (in < 0 || out < 0 || err < 0)
			_exit(126);
		dup2(in, 0);
		dup2(out, 1);
		dup2(err, 2);
		if (search_path)
			execvp(argv[0], (char *const *)argv);
		else
			execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	return pid;
}

/*
 * Take @e for a new daemon mounting on @mnt: refused while one runs; its
 * old watchdog stops, and what it knew of the last daemon is forgotten.
 * We adopt whatever the daemon forks (it may detach), so that we can
 * wait for it and kill it.
 */
static int claim_export(struct fue_export *e, const char *mnt,
			const char *caller)
{
	if (e->pid && !e->exited) {
		fue_log("%s: an export is already running", caller);
		return -EBUSY;
	}
	stop_watchdog(e);
	e->pid = 0;
	e->exited = false;
	e->has_conn = false;
	snprintf(e->mounted_on, sizeof(e->mounted_on), "%s", mnt);
	if (prctl(PR_SET_CHILD_SUBREAPER, 1))
		return -errno;
	return 0;
}

static int start_daemon(struct fue_export *e, const char *image,
			const char *mnt, const char *const *opts)
{
	char pidopt[PATH_MAX + 16];
	const char *argv[MAX_OPTS + 6];
	int argc = 0, status, ret, i;
	pid_t pid;

	ret = claim_export(e, mnt, "fue_start");
	if (ret)
		return ret;
	unlink(e->pidfile);

	argv[argc++] = fue_bin();
	for (i = 0; opts && opts[i]; i++) {
		if (i == MAX_OPTS)
			return -E2BIG;
		argv[argc++] = opts[i];
	}
	snprintf(pidopt, sizeof(pidopt), "--pidfile=%s", e->pidfile);
	argv[argc++] = "--daemonize";
	argv[argc++] = pidopt;
	argv[argc++] = image;
	argv[argc++] = mnt;
	argv[argc] = NULL;

	pid = fork_logged(e, argv, false, false);
	if (pid < 0)
		return pid;
	ret = fue_wait_pid(pid, &status, FUE_START_TIMEOUT_MS);
	if (ret != 1) {
		fue_log("daemon launcher did not return within %d ms",
			FUE_START_TIMEOUT_MS);
		kill(pid, SIGKILL);
		fue_wait_pid(pid, &status, 5000);
		/* It may have got as far as serving: let teardown find it. */
		e->pid = read_pidfile(e->pidfile);
		if (!fue_is_our_child(e->pid))
			e->pid = 0;
		return -ETIMEDOUT;
	}
	if (!WIFEXITED(status)) {
		fue_log("daemon launcher died by signal %d", WTERMSIG(status));
		return -ECHILD;
	}
	if (WEXITSTATUS(status))
		return WEXITSTATUS(status);

	e->pid = read_pidfile(e->pidfile);
	if (!e->pid) {
		fue_log("--daemonize returned 0 but pidfile %s holds no pid",
			e->pidfile);
		return -ENOENT;
	}
	if (!fue_is_our_child(e->pid)) {
		/* Never signal it then; teardown aborts the connection. */
		fue_log("pidfile pid %d is not a process we started", e->pid);
		e->pid = 0;
		return -ESRCH;
	}
	ret = fue_mount_info(mnt, &e->conn, NULL, 0);
	if (ret <= 0) {
		fue_log("--daemonize returned 0 but nothing is mounted on %s",
			mnt);
		return -ENOENT;
	}
	e->has_conn = true;
	start_watchdog(e);
	return 0;
}

int fue_startv(struct fue_export *e, const char *image, const char *mnt,
	       const char *const *opts)
{
	int ret = start_daemon(e, image, mnt, opts);

	/* A test that meant it to fail is as well served by knowing why. */
	if (ret) {
		fue_log("start failed: %d", ret);
		fue_dump_errlog(e);
	}
	return ret;
}

int fue_start_fresh(struct fue_export *e, off_t image_size,
		    const char *const *opts)
{
	int ret = fue_make_image(e->image, image_size);

	if (!ret)
		ret = fue_make_mountpoint(e->mnt);
	if (ret) {
		fue_log("cannot make %s and %s: %s", e->image, e->mnt,
			strerror(-ret));
		return ret;
	}
	return fue_startv(e, e->image, e->mnt, opts);
}

int fue_run(struct fue_export *e, const char *const *args, int timeout_ms)
{
	const char *argv[MAX_OPTS + 2];
	int argc = 0, status, ret;
	pid_t pid;

	argv[argc++] = fue_bin();
	for (; args && *args; args++) {
		if (argc > MAX_OPTS)
			return -E2BIG;
		argv[argc++] = *args;
	}
	argv[argc] = NULL;
	/* Adopt anything it forks, so that we may stop it too. */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1))
		return -errno;
	/* The log is truncated below: judge what the last run left first. */
	fue_sanitizer_scan(e);
	e->errlog_scanned = 0;

	pid = fork_logged(e, argv, true, false);
	if (pid < 0)
		return pid;
	ret = fue_wait_pid(pid, &status, timeout_ms);
	if (ret != 1) {
		/* Bad input should fail fast; this one is serving instead. */
		fue_log("%s still running after %d ms; stopping it", argv[0],
			timeout_ms);
		kill(pid, SIGTERM);
		if (fue_wait_pid(pid, &status, 5000) != 1) {
			kill(pid, SIGKILL);
			fue_wait_pid(pid, &status, 5000);
		}
		fue_sanitizer_scan(e);
		return -ETIMEDOUT;
	}
	fue_sanitizer_scan(e);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}

int fue_start(struct fue_export *e, const char *image, const char *mnt, ...)
{
	const char *opts[MAX_OPTS + 1];
	va_list ap;
	int n = 0;

	va_start(ap, mnt);
	while (n < MAX_OPTS && (opts[n] = va_arg(ap, const char *)))
		n++;
	va_end(ap);
	opts[n] = NULL;
	return fue_startv(e, image, mnt, opts);
}

bool fue_wait_exit(struct fue_export *e, int timeout_ms)
{
	if (!e->pid || e->exited)
		return true;
	if (fue_wait_pid(e->pid, &e->status, timeout_ms) == 1)
		e->exited = true;
	return e->exited;
}

int fue_stop(struct fue_export *e)
{
	stop_watchdog(e);
	if (!e->pid)
		return -1;
	if (e->exited)
		return e->status;
	if (!fue_is_our_child(e->pid)) {
		fue_log("not signalling pid %d: not our child", e->pid);
		return -1;
	}
	kill(e->pid, SIGTERM);
	if (fue_wait_exit(e, FUE_STOP_TIMEOUT_MS))
		return e->status;
	fue_log("daemon %d ignored SIGTERM for %d ms; aborting connection",
		e->pid, FUE_STOP_TIMEOUT_MS);
	if (e->has_conn)
		fue_abort_conn(e->conn);
	if (fue_wait_exit(e, 2000))
		return e->status;
	fue_log("daemon %d still alive; SIGKILL", e->pid);
	kill(e->pid, SIGKILL);
	fue_wait_exit(e, 5000);
	return -1;
}

static int rm_entry(const char *path, const struct stat *st, int type,
		    struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (type == FTW_DP) {
		rmdir(path);
		return 0;
	}
	if (unlink(path) && errno == EPERM) {
		/* An immutable file (cli_test) must be made mutable first. */
		int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
		int flags = 0;

		if (fd >= 0) {
			ioctl(fd, FS_IOC_SETFLAGS, &flags);
			close(fd);
		}
		unlink(path);
	}
	return 0;
}

void fue_teardown(struct fue_export *e)
{
	char found[PATH_MAX] = "";
	int i;

	if (!e->dir[0])
		return;
	stop_watchdog(e);
	if (e->pid && !e->exited)
		fue_stop(e);

	/* Anything still mounted under our directory is ours to remove. */
	for (i = 0; i < 16; i++) {
		if (!fue_mount_under(e->dir, found, sizeof(found)))
			break;
		fue_log("teardown: %s still mounted, detaching", found);
		if (fue_unmount_all(found, true) > 0)
			break;
	}
	/* Last: the daemon has exited, so LSan has had its say too. */
	fue_sanitizer_scan(e);
	if (found[0]) {
		fue_log("teardown: leaving %s (still mounted)", e->dir);
	} else {
		nftw(e->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
		e->dir[0] = '\0';
	}
	if (e->sanitizer_reports) {
		fue_log("FAIL: %d sanitizer report line(s) from the daemon",
			e->sanitizer_reports);
		fflush(NULL);
		_exit(FUE_SANITIZER_EXIT);
	}
}

int fue_spawn(struct fue_export *e, const char *const *wrapper,
	      const char *const *args, const char *mnt)
{
	const char *argv[2 * MAX_OPTS + 2];
	int argc = 0, ret;
	pid_t pid;

	ret = claim_export(e, mnt, "fue_spawn");
	if (ret)
		return ret;
	for (; wrapper && *wrapper; wrapper++) {
		if (argc == MAX_OPTS)
			return -E2BIG;
		argv[argc++] = *wrapper;
	}
	argv[argc++] = fue_bin();
	for (; args && *args; args++) {
		if (argc == 2 * MAX_OPTS)
			return -E2BIG;
		argv[argc++] = *args;
	}
	argv[argc] = NULL;
	/* A wrapper is found on PATH; the daemon is a path already. */
	pid = fork_logged(e, argv, false, true);
	if (pid < 0)
		return pid;
	e->pid = pid;
	return 0;
}

int fue_wait_mounted(struct fue_export *e, int timeout_ms)
{
	long long deadline = fue_now_ms() + timeout_ms;
	char fstype[64];
	unsigned int conn;

	while (fue_now_ms() < deadline) {
		if (fue_mount_info(e->mounted_on, &conn, fstype,
				   sizeof(fstype)) > 0 &&
		    !strncmp(fstype, "fuse", 4)) {
			e->conn = conn;
			e->has_conn = true;
			start_watchdog(e);
			return 0;
		}
		if (fue_wait_exit(e, 0)) {
			fue_log("daemon exited (wait status %#x) before mounting %s",
				e->status, e->mounted_on);
			return -ECHILD;
		}
		fue_sleep_ms(20);
	}
	fue_log("nothing mounted on %s within %d ms", e->mounted_on,
		timeout_ms);
	return -ETIMEDOUT;
}

int fue_wait_serving(struct fue_export *e, int timeout_ms)
{
	static const char mark[] = "fuse-uring-export: serving ";
	long long deadline = fue_now_ms() + timeout_ms;
	char *text, *p;
	bool found;

	for (;;) {
		text = fue_slurp(e->errlog);
		found = false;
		for (p = text; p && (p = strstr(p, mark)); p++)
			if (p == text || p[-1] == '\n') {
				found = true;
				break;
			}
		free(text);
		if (found)
			return 0;
		if (fue_wait_exit(e, 0)) {
			fue_log("daemon exited (wait status %#x) before serving",
				e->status);
			return -ECHILD;
		}
		if (fue_now_ms() >= deadline)
			break;
		fue_sleep_ms(10);
	}
	fue_log("no serving line from the daemon within %d ms", timeout_ms);
	return -ETIMEDOUT;
}
