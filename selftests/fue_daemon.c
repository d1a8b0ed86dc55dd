// SPDX-License-Identifier: GPL-2.0
/*
 * Running and tearing down one fuse-uring-export for a test.
 *
 * The daemon is started with --daemonize so that the start returns once the
 * export serves.  Its launcher is our child; the serving process is its
 * child, so the test process makes itself a child subreaper: the daemon is
 * then reparented to us when the launcher exits, which lets us collect its
 * real exit status and prove that any pid we signal is one we started.
 * A new export must answer a GETATTR within seconds.  A watchdog in a
 * process of its own aborts an export that outlives its time budget and
 * removes one whose test was killed.
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
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
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

/*
 * The watchdog, a process in a session of its own: neither a runner's
 * kill of the test's process group nor the harness' kill of a test that
 * ran out of time reaches it.  It aborts an export that outlives its time
 * budget, and when the test process ends without having stopped it
 * (killed at any point, the export's start included), it ends the daemon,
 * aborts the connection and detaches the mount, so that nothing of the
 * test is left behind.  The test tells it what it starts through a pipe.
 */
struct watch_msg {
	pid_t launcher;		/* our child that starts the daemon, or 0 */
	pid_t daemon;		/* the serving daemon, or 0 */
	unsigned int conn;	/* its connection, when armed */
	bool armed;		/* mounted: the time budget runs */
};

struct watch {
	pid_t test;
	const char *dir;
	const char *mnt;
	const char *pidfile;
	unsigned int secs;
	struct watch_msg m;
	long long deadline;
};

static int pidfd_of(pid_t pid)
{
	return pid > 0 ? (int)syscall(SYS_pidfd_open, pid, 0) : -1;
}

static bool process_gone(pid_t pid)
{
	int fd = pidfd_of(pid);
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	bool gone;

	if (fd < 0)
		return kill(pid, 0) && errno == ESRCH;
	gone = poll(&pfd, 1, 0) > 0;
	close(fd);
	return gone;
}

/* Kill pid if its command line still names mnt: then it is our daemon. */
static bool kill_if_ours(pid_t pid, const char *mnt)
{
	char path[64], args[8192];
	ssize_t n, i;
	int fd;

	if (pid <= 0)
		return false;
	snprintf(path, sizeof(path), "/proc/%d/cmdline", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, args, sizeof(args) - 1);
	close(fd);
	if (n <= 0)
		return false;
	for (i = 0; i < n; i++)
		if (!args[i])
			args[i] = '\n';
	args[n] = '\0';
	if (!strstr(args, mnt))
		return false;
	return kill(pid, SIGKILL) == 0;
}

/* Abort and detach a FUSE mount on mnt; true if there was one. */
static bool remove_mount(const char *mnt)
{
	char fstype[64];
	unsigned int conn;

	if (fue_mount_info(mnt, &conn, fstype, sizeof(fstype)) <= 0 ||
	    strncmp(fstype, "fuse", 4))
		return false;
	fue_unmount_all(mnt, true);
	return true;
}

/* The test is gone: leave nothing of its export behind. */
static void watch_clean_up(struct watch *w)
{
	long long until = fue_now_ms() + FUE_START_TIMEOUT_MS;
	char found_mnt[PATH_MAX];
	bool found;
	int i;

	do {
		found = kill_if_ours(w->m.daemon, w->mnt);
		found |= kill_if_ours(read_pidfile(w->pidfile), w->mnt);
		found |= remove_mount(w->mnt);
		if (found)
			fue_log("watchdog: test process %d ended with its export on %s up; removed it",
				w->test, w->mnt);
		/* A start still under way may yet mount: watch it end. */
		if (!w->m.launcher || process_gone(w->m.launcher))
			break;
		fue_sleep_ms(100);
	} while (fue_now_ms() < until);
	/* What a SIGKILL or an abort left mounted, and the test's stores. */
	remove_mount(w->mnt);
	for (i = 0; i < 16 && fue_mount_under(w->dir, found_mnt,
					       sizeof(found_mnt)); i++)
		fue_unmount_all(found_mnt, true);
	if (!fue_mount_under(w->dir, found_mnt, sizeof(found_mnt)))
		nftw(w->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

static void watch_timeout(struct watch *w)
{
	unsigned int conn;

	w->deadline = 0;
	/* Only act if the same connection is still mounted there. */
	if (fue_mount_info(w->mnt, &conn, NULL, 0) <= 0 || conn != w->m.conn)
		return;
	fue_log("watchdog: export on %s still up after %us, aborting connection %u",
		w->mnt, w->secs, w->m.conn);
	fue_abort_conn(w->m.conn);
}

static void watchdog_main(struct watch *w, int msg_fd)
{
	int test_fd;

	signal(SIGPIPE, SIG_IGN);
	setsid();
	test_fd = pidfd_of(w->test);
	for (;;) {
		struct pollfd pfd[2] = {
			{ .fd = msg_fd, .events = POLLIN },
			{ .fd = test_fd, .events = POLLIN },
		};
		long long left = w->deadline ? w->deadline - fue_now_ms() : 100;
		int n;

		if (w->deadline && left <= 0) {
			watch_timeout(w);
			continue;
		}
		/* Without a pidfd, look at the parent every 100 ms. */
		if (test_fd < 0 && left > 100)
			left = 100;
		n = poll(pfd, test_fd < 0 ? 1 : 2, w->deadline || test_fd < 0 ?
			 (int)left : -1);
		if (n < 0 && errno != EINTR)
			break;
		if (pfd[0].revents & POLLIN) {
			struct watch_msg m;

			if (read(msg_fd, &m, sizeof(m)) == sizeof(m)) {
				if (m.armed && !w->m.armed)
					w->deadline = fue_now_ms() +
						      w->secs * 1000LL;
				w->m = m;
			}
		}
		if ((test_fd >= 0 && (pfd[1].revents & POLLIN)) ||
		    (pfd[0].revents & POLLHUP) || getppid() != w->test)
			break;
	}
	watch_clean_up(w);
	_exit(0);
}

static void start_watchdog(struct fue_export *e)
{
	struct watch w = {
		.test = getpid(),
		.dir = e->dir,
		.mnt = e->mounted_on,
		.pidfile = e->pidfile,
		.secs = e->watchdog_s ? e->watchdog_s : FUE_WATCHDOG_S,
	};
	int fds[2];
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC))
		return;
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		close(fds[1]);
		watchdog_main(&w, fds[0]);
	}
	close(fds[0]);
	if (pid < 0) {
		close(fds[1]);
		return;
	}
	e->watchdog = pid;
	e->watchdog_fd = fds[1];
}

/* Tell the watchdog what runs now: e->pid, or the daemon given. */
static void watch_daemon(struct fue_export *e, pid_t launcher, pid_t daemon)
{
	struct watch_msg m = {
		.launcher = launcher,
		.daemon = daemon,
		.conn = e->conn,
		.armed = e->has_conn,
	};

	if (e->watchdog > 0 && write(e->watchdog_fd, &m, sizeof(m)) < 0)
		fue_log("cannot reach the watchdog: %s", strerror(errno));
}

static void watch_update(struct fue_export *e, pid_t launcher)
{
	watch_daemon(e, launcher, e->pid);
}

/* Done before each start and stop, so no watchdog outlives its export. */
static void stop_watchdog(struct fue_export *e)
{
	int status;

	if (e->watchdog <= 0)
		return;
	kill(e->watchdog, SIGKILL);
	fue_wait_pid(e->watchdog, &status, 5000);
	close(e->watchdog_fd);
	e->watchdog = 0;
}

static int getattr_main(void *arg)
{
	struct statx stx;

	return statx(AT_FDCWD, arg, 0, AT_STATX_FORCE_SYNC | STATX_SIZE,
		     &stx) ? 1 : 0;
}

/*
 * One request through a new export, so that an export that takes
 * requests but never answers them (a ring whose commits the kernel
 * refuses, say) fails its test within seconds rather than at the test's
 * or the program's time limit.  The export is aborted then.
 */
static int probe_export(struct fue_export *e)
{
	int ret = fue_in_child(getattr_main, e->mounted_on,
			       FUE_PROBE_TIMEOUT_MS);

	if (ret != -ETIMEDOUT)
		return 0;
	fue_log("the export on %s answered no GETATTR within %d ms; aborting it",
		e->mounted_on, FUE_PROBE_TIMEOUT_MS);
	if (e->has_conn)
		fue_abort_conn(e->conn);
	return -ETIMEDOUT;
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
	/* Before the daemon starts: a test killed while it starts is seen. */
	start_watchdog(e);
	return 0;
}

int fue_claim(struct fue_export *e, const char *mnt)
{
	return claim_export(e, mnt, "fue_claim");
}

void fue_watch(struct fue_export *e)
{
	watch_update(e, 0);
}

static int start_daemon(struct fue_export *e, const char *image,
			const char *mnt, const char *const *opts)
{
	char pidopt[PATH_MAX + 16];
	const char *argv[2 * MAX_OPTS + 6];
	int argc = 0, status, ret, i;
	pid_t pid;

	ret = claim_export(e, mnt, "fue_start");
	if (ret)
		return ret;
	unlink(e->pidfile);

	argv[argc++] = fue_bin();
	argc += fue_daemon_opts(argv + argc, MAX_OPTS);
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
	watch_update(e, pid);
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
		watch_update(e, 0);
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
	watch_update(e, 0);
	return probe_export(e);
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

int fue_start_writable(struct fue_export *e, const char *transport,
		       off_t image_size, ...)
{
	const char *opts[MAX_OPTS + 3] = { transport, "--writable" };
	int n = 2;
	va_list ap;

	va_start(ap, image_size);
	while (n < MAX_OPTS + 2 && (opts[n] = va_arg(ap, const char *)))
		n++;
	va_end(ap);
	opts[n] = NULL;
	return fue_start_fresh(e, image_size, opts);
}

int fue_run(struct fue_export *e, const char *const *args, int timeout_ms)
{
	const char *argv[2 * MAX_OPTS + 2];
	int argc = 0, status, ret;
	bool watched;
	pid_t pid;

	argv[argc++] = fue_bin();
	argc += fue_daemon_opts(argv + argc, MAX_OPTS);
	for (; args && *args; args++) {
		if (argc > 2 * MAX_OPTS)
			return -E2BIG;
		argv[argc++] = *args;
	}
	argv[argc] = NULL;
	/*
	 * Adopt anything it forks, so that we may stop it too; and unless
	 * an export of e runs, let a watchdog end a daemon that serves
	 * (its mountpoint last) should the test be killed meanwhile.
	 */
	watched = argc > 1 && !(e->pid && !e->exited);
	if (watched) {
		ret = claim_export(e, argv[argc - 1], "fue_run");
		if (ret)
			return ret;
	} else if (prctl(PR_SET_CHILD_SUBREAPER, 1)) {
		return -errno;
	}
	/* The log is truncated below: judge what the last run left first. */
	fue_sanitizer_scan(e);
	e->errlog_scanned = 0;

	pid = fork_logged(e, argv, true, false);
	if (pid < 0) {
		if (watched)
			stop_watchdog(e);
		return pid;
	}
	if (watched)
		watch_daemon(e, 0, pid);
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
		if (watched)
			stop_watchdog(e);
		fue_sanitizer_scan(e);
		return -ETIMEDOUT;
	}
	if (watched)
		stop_watchdog(e);
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

static int stop_daemon(struct fue_export *e);

int fue_stop(struct fue_export *e)
{
	int status = stop_daemon(e);

	stop_watchdog(e);
	return status;
}

/* fue_stop() without the watchdog's end: it stays while the daemon may. */
static int stop_daemon(struct fue_export *e)
{
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

void fue_teardown(struct fue_export *e)
{
	char found[PATH_MAX] = "";
	int i;

	if (!e->dir[0])
		return;
	if (e->pid && !e->exited)
		stop_daemon(e);

	/* Anything still mounted under our directory is ours to remove. */
	for (i = 0; i < 16; i++) {
		if (!fue_mount_under(e->dir, found, sizeof(found)))
			break;
		fue_log("teardown: %s still mounted, detaching", found);
		if (fue_unmount_all(found, true) > 0)
			break;
	}
	stop_watchdog(e);
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
	argc += fue_daemon_opts(argv + argc, MAX_OPTS / 4);
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
	watch_update(e, 0);
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
			watch_update(e, 0);
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
			return probe_export(e);
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
