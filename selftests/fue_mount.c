// SPDX-License-Identifier: GPL-2.0
/*
 * Running and tearing down one fuse-uring-export for a test.
 *
 * The daemon is started with --daemonize so that the start returns once the
 * export serves.  Its launcher is our child; the serving process is its
 * child, so the test process makes itself a child subreaper: the daemon is
 * then reparented to us when the launcher exits, which lets us collect its
 * real exit status and prove that any pid we signal is one we started.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/fs.h>
#include <linux/loop.h>

#include "fue_mount.h"

#define FUSECTL_DIR	"/sys/fs/fuse/connections"
#define URING_PARAM	"/sys/module/fuse/parameters/enable_uring"
#define MAX_OPTS	64

/* Diagnostics are TAP comments so that they never break the TAP stream. */
#define fue_log(fmt, ...) \
	fprintf(stderr, "# fue: " fmt "\n", ##__VA_ARGS__)

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
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
static int wait_pid_timeout(pid_t pid, int *status, int timeout_ms)
{
	long long deadline = now_ms() + timeout_ms, left;
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
		left = deadline - now_ms();
		if (left <= 0) {
			ret = 0;
			break;
		}
		if (pidfd >= 0) {
			struct pollfd pfd = { .fd = pidfd, .events = POLLIN };

			poll(&pfd, 1, left > 100 ? 100 : (int)left);
		} else {
			sleep_ms(left > 5 ? 5 : (int)left);
		}
	}
	if (pidfd >= 0)
		close(pidfd);
	return ret == pid ? 1 : ret;
}

/* True if pid is our (possibly zombie) child: the only pids we signal. */
static bool is_our_child(pid_t pid)
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

int fue_read_word(const char *path, char *buf, size_t len)
{
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	if (n < 0) {
		n = -errno;
		close(fd);
		return n;
	}
	close(fd);
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

int fue_write_word(const char *path, const char *word)
{
	size_t len = strlen(word);
	int fd, ret = 0;

	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, word, len) != (ssize_t)len)
		ret = -errno;
	close(fd);
	return ret;
}

const char *fue_bin(void)
{
	static char path[PATH_MAX];
	char exe[PATH_MAX - 64], tmp[PATH_MAX];
	const char *env = getenv("FUE_BIN");
	ssize_t n;

	if (path[0])
		return path;
	if (env && env[0]) {
		if (!realpath(env, path))
			snprintf(path, sizeof(path), "%s", env);
		return path;
	}
	/*
	 * A kselftest build or install puts the daemon next to the tests;
	 * in this repository it sits one level up from selftests/.
	 */
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n < 0) {
		snprintf(path, sizeof(path), "../fuse-uring-export");
		return path;
	}
	exe[n] = '\0';
	*strrchr(exe, '/') = '\0';
	snprintf(tmp, sizeof(tmp), "%s/fuse-uring-export", exe);
	if (access(tmp, F_OK))
		snprintf(tmp, sizeof(tmp), "%s/../fuse-uring-export", exe);
	if (!realpath(tmp, path))
		snprintf(path, sizeof(path), "%s", tmp);
	return path;
}

/*
 * enable_uring as this program found it.  Tests that need the ring turn it
 * on and tests of its absence turn it off; whatever they leave, the value
 * found at the start is put back when the program exits, even after the
 * harness killed a test on its timeout before the test's own teardown ran.
 */
static char uring_orig[8];
static pid_t uring_orig_pid;

static void restore_uring_param(void)
{
	char now[8];

	if (getpid() != uring_orig_pid || !uring_orig[0] ||
	    fue_read_word(URING_PARAM, now, sizeof(now)) ||
	    !strcmp(now, uring_orig))
		return;
	if (fue_write_word(URING_PARAM, uring_orig))
		fue_log("could not restore %s to %s", URING_PARAM, uring_orig);
	else
		fue_log("restored %s to %s", URING_PARAM, uring_orig);
}

static void save_uring_param(void)
{
	if (uring_orig_pid)
		return;
	uring_orig_pid = getpid();
	if (fue_read_word(URING_PARAM, uring_orig, sizeof(uring_orig)))
		uring_orig[0] = '\0';
	else
		atexit(restore_uring_param);
}

const char *fue_check_env(void)
{
	static char reason[PATH_MAX + 64];

	save_uring_param();
	if (geteuid() != 0)
		return "must run as root (mounts FUSE filesystems)";
	if (access("/dev/fuse", R_OK | W_OK))
		return "/dev/fuse is missing (CONFIG_FUSE_FS, modprobe fuse)";
	if (access(fue_bin(), X_OK)) {
		snprintf(reason, sizeof(reason),
			 "daemon %s not found (build it or set FUE_BIN)",
			 fue_bin());
		return reason;
	}
	return NULL;
}

const char *fue_check_uring(void)
{
	char val[16];

	save_uring_param();
	if (fue_read_word(URING_PARAM, val, sizeof(val)))
		return URING_PARAM " is absent (kernel without CONFIG_FUSE_IO_URING)";
	if (val[0] == 'Y')
		return NULL;
	/* A test of the ring turns it on itself; exit restores the value. */
	if (fue_write_word(URING_PARAM, "Y") ||
	    fue_read_word(URING_PARAM, val, sizeof(val)) || val[0] != 'Y')
		return "enable_uring is N and cannot be set to Y";
	return NULL;
}

/* Parse a CPU list like "0-3,8,10-11" into cpus[]; returns the count. */
static int parse_cpu_list(const char *list, int *cpus, int max)
{
	const char *p = list;
	int n = 0;

	while (*p) {
		char *end;
		long a = strtol(p, &end, 10), b;

		if (end == p)
			break;
		b = a;
		if (*end == '-') {
			p = end + 1;
			b = strtol(p, &end, 10);
		}
		for (; a <= b; a++) {
			if (cpus && n < max)
				cpus[n] = (int)a;
			n++;
		}
		p = end;
		if (*p == ',')
			p++;
	}
	return n;
}

int fue_possible_cpus(void)
{
	char buf[4096];

	if (fue_read_word("/sys/devices/system/cpu/possible", buf, sizeof(buf)))
		return -1;
	return parse_cpu_list(buf, NULL, 0);
}

int fue_online_cpus(int *cpus, int max)
{
	char buf[4096];
	int n;

	if (fue_read_word("/sys/devices/system/cpu/online", buf, sizeof(buf)))
		return -1;
	n = parse_cpu_list(buf, cpus, max);
	return n > max ? max : n;
}

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

/* Undo mountinfo's octal escapes (\040 for space and friends) in place. */
static void unescape(char *s)
{
	char *d = s;

	while (*s) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' &&
		    s[2] >= '0' && s[2] <= '7' && s[3] >= '0' && s[3] <= '7') {
			*d++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 +
				      (s[3] - '0'));
			s += 4;
		} else {
			*d++ = *s++;
		}
	}
	*d = '\0';
}

/*
 * Walk /proc/self/mountinfo; for each mount call fn(mountpoint, major,
 * minor, fstype, arg).  Reading mountinfo never touches the filesystems,
 * so it cannot hang on a dead FUSE server the way stat() can.
 */
static int for_each_mount(void (*fn)(const char *mp, unsigned int maj,
				     unsigned int min, const char *fstype,
				     void *arg), void *arg)
{
	char *line = NULL;
	size_t cap = 0;
	FILE *f;

	f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return -errno;
	while (getline(&line, &cap, f) > 0) {
		char mp[PATH_MAX], fstype[64], *sep;
		unsigned int maj, min;

		if (sscanf(line, "%*u %*u %u:%u %*s %4095s", &maj, &min,
			   mp) != 3)
			continue;
		sep = strstr(line, " - ");
		if (!sep || sscanf(sep + 3, "%63s", fstype) != 1)
			continue;
		unescape(mp);
		fn(mp, maj, min, fstype, arg);
	}
	free(line);
	fclose(f);
	return 0;
}

struct mount_query {
	const char *path;
	int count;
	unsigned int conn;
	char fstype[64];
};

static void match_mount(const char *mp, unsigned int maj, unsigned int min,
			const char *fstype, void *arg)
{
	struct mount_query *q = arg;

	if (strcmp(mp, q->path))
		return;
	/* Later lines are mounted later: the last match is the top one. */
	q->count++;
	q->conn = maj == 0 ? min : (maj << 20 | min);
	snprintf(q->fstype, sizeof(q->fstype), "%s", fstype);
}

int fue_mount_info(const char *path, unsigned int *conn, char *fstype,
		   size_t fstype_len)
{
	struct mount_query q = { .path = path };
	int ret;

	ret = for_each_mount(match_mount, &q);
	if (ret)
		return ret;
	if (q.count && conn)
		*conn = q.conn;
	if (q.count && fstype)
		snprintf(fstype, fstype_len, "%s", q.fstype);
	return q.count;
}

static void find_fusectl(const char *mp, unsigned int maj, unsigned int min,
			 const char *fstype, void *arg)
{
	(void)maj;
	(void)min;
	if (!strcmp(mp, FUSECTL_DIR) && !strcmp(fstype, "fusectl"))
		*(bool *)arg = true;
}

int fue_abort_conn(unsigned int conn)
{
	char path[128];
	bool mounted = false;

	for_each_mount(find_fusectl, &mounted);
	if (!mounted &&
	    mount("fusectl", FUSECTL_DIR, "fusectl", 0, NULL) && errno != EBUSY)
		return -errno;
	snprintf(path, sizeof(path), FUSECTL_DIR "/%u/abort", conn);
	return fue_write_word(path, "1");
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
	ret = wait_pid_timeout(pid, &status, timeout_ms);
	if (ret == 1)
		return WIFEXITED(status) ? WEXITSTATUS(status) : -ECHILD;
	fue_log("client pid %d still blocked after %d ms, killing it", pid,
		timeout_ms);
	kill(pid, SIGKILL);
	/* A FUSE wait is killable, but do not bet the test on it. */
	wait_pid_timeout(pid, &status, 5000);
	return -ETIMEDOUT;
}

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

/* Abort the watched connection if the export outlives its time budget. */
static void watchdog_main(pid_t parent, const char *mnt, unsigned int conn,
			  unsigned int secs)
{
	char path[128];
	unsigned int fstype_conn;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(0);
	sleep_ms(secs * 1000);
	/* Only act if the same connection is still mounted there. */
	if (fue_mount_info(mnt, &fstype_conn, NULL, 0) <= 0 ||
	    fstype_conn != conn)
		_exit(0);
	snprintf(path, sizeof(path), FUSECTL_DIR "/%u", conn);
	if (access(path, F_OK))
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
	wait_pid_timeout(e->watchdog, &status, 5000);
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

int fue_startv(struct fue_export *e, const char *image, const char *mnt,
	       const char *const *opts)
{
	char pidopt[PATH_MAX + 16];
	const char *argv[MAX_OPTS + 6];
	int argc = 0, status, ret, i;
	pid_t pid;

	if (e->pid && !e->exited) {
		fue_log("fue_start: an export is already running");
		return -EBUSY;
	}
	stop_watchdog(e);
	e->pid = 0;
	e->exited = false;
	e->has_conn = false;
	snprintf(e->mounted_on, sizeof(e->mounted_on), "%s", mnt);
	/* The daemon detaches; adopting it lets us wait for it and kill it. */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1))
		return -errno;
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
	ret = wait_pid_timeout(pid, &status, FUE_START_TIMEOUT_MS);
	if (ret != 1) {
		fue_log("daemon launcher did not return within %d ms",
			FUE_START_TIMEOUT_MS);
		kill(pid, SIGKILL);
		wait_pid_timeout(pid, &status, 5000);
		/* It may have got as far as serving: let teardown find it. */
		e->pid = read_pidfile(e->pidfile);
		if (!is_our_child(e->pid))
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
	if (!is_our_child(e->pid)) {
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
	ret = wait_pid_timeout(pid, &status, timeout_ms);
	if (ret != 1) {
		/* Bad input should fail fast; this one is serving instead. */
		fue_log("%s still running after %d ms; stopping it", argv[0],
			timeout_ms);
		kill(pid, SIGTERM);
		if (wait_pid_timeout(pid, &status, 5000) != 1) {
			kill(pid, SIGKILL);
			wait_pid_timeout(pid, &status, 5000);
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
	if (wait_pid_timeout(e->pid, &e->status, timeout_ms) == 1)
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
	if (!is_our_child(e->pid)) {
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

static int do_umount(void *arg)
{
	return umount2((const char *)arg, MNT_DETACH) ? errno : 0;
}

int fue_unmount_all(const char *path, bool abort_first)
{
	char fstype[64];
	unsigned int conn;
	int n, tries, ret;
	bool fuse;

	for (tries = 0; tries < 16; tries++) {
		n = fue_mount_info(path, &conn, fstype, sizeof(fstype));
		if (n <= 0)
			return n;
		fuse = !strncmp(fstype, "fuse", 4);
		if (abort_first && fuse)
			fue_abort_conn(conn);
		ret = fue_in_child(do_umount, (void *)path, 5000);
		if (ret == -ETIMEDOUT && fuse) {
			/* Whatever blocked, an aborted connection frees it. */
			fue_abort_conn(conn);
			ret = do_umount((void *)path);
		}
		if (ret) {
			fue_log("umount2(%s): %s", path, strerror(ret < 0 ?
								 -ret : ret));
			return n;
		}
	}
	return fue_mount_info(path, NULL, NULL, 0);
}

struct under_query {
	const char *dir;
	size_t len;
	char found[PATH_MAX];
};

static void match_under(const char *mp, unsigned int maj, unsigned int min,
			const char *fstype, void *arg)
{
	struct under_query *q = arg;

	(void)maj;
	(void)min;
	(void)fstype;
	if (!strncmp(mp, q->dir, q->len) && (mp[q->len] == '/' ||
					      !mp[q->len]))
		snprintf(q->found, sizeof(q->found), "%s", mp);
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
	struct under_query q;
	int i;

	if (!e->dir[0])
		return;
	stop_watchdog(e);
	if (e->pid && !e->exited)
		fue_stop(e);

	/* Anything still mounted under our directory is ours to remove. */
	for (i = 0; i < 16; i++) {
		q.dir = e->dir;
		q.len = strlen(e->dir);
		q.found[0] = '\0';
		for_each_mount(match_under, &q);
		if (!q.found[0])
			break;
		fue_log("teardown: %s still mounted, detaching", q.found);
		if (fue_unmount_all(q.found, true) > 0)
			break;
	}
	/* Last: the daemon has exited, so LSan has had its say too. */
	fue_sanitizer_scan(e);
	if (q.found[0]) {
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

char *fue_slurp(const char *path)
{
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap);
	ssize_t n;
	int fd;

	if (!buf)
		return NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		free(buf);
		return NULL;
	}
	for (;;) {
		if (cap - len < 4096) {
			char *nbuf = realloc(buf, cap * 2);

			if (!nbuf)
				break;
			buf = nbuf;
			cap *= 2;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n <= 0)
			break;
		len += n;
	}
	close(fd);
	buf[len] = '\0';
	return buf;
}

int fue_count_lines(const char *text)
{
	int n = 0;

	if (!text)
		return -1;
	for (; *text; text++)
		if (*text == '\n')
			n++;
	return n;
}

/* Find "key=" as a whole word in line and parse its number. */
static int field_ull(const char *line, const char *key,
		     unsigned long long *val)
{
	size_t klen = strlen(key);
	const char *p = line;
	char *end;

	while ((p = strstr(p, key))) {
		if ((p == line || p[-1] == ' ') && p[klen] == '=') {
			errno = 0;
			*val = strtoull(p + klen + 1, &end, 10);
			if (errno || end == p + klen + 1 ||
			    (*end && *end != ' ' && *end != '\n'))
				return -EINVAL;
			return 0;
		}
		p += klen;
	}
	return -ENOENT;
}

static int field_int(const char *line, const char *key, int *val)
{
	unsigned long long v;
	int ret = field_ull(line, key, &v);

	if (!ret)
		*val = (int)v;
	return ret;
}

int fue_parse_stats(const char *text, struct fue_stats *s)
{
	struct fue_stats cur;
	const char *line = text;
	bool found = false;

	memset(&cur, 0, sizeof(cur));
	while (line && *line) {
		const char *nl = strchr(line, '\n');
		size_t len = nl ? (size_t)(nl - line) : strlen(line);
		char buf[512];
		int ret = 0;

		if (len >= sizeof(buf) || strncmp(line, "stats: ", 7))
			goto next;
		memcpy(buf, line, len);
		buf[len] = '\0';
		if (!strncmp(buf, "stats: total ", 13)) {
			char *t = strstr(buf, " transport=");

			ret |= field_ull(buf, "ring", &cur.ring);
			ret |= field_ull(buf, "legacy", &cur.legacy);
			ret |= field_ull(buf, "legacy_io", &cur.legacy_io);
			ret |= field_ull(buf, "errors", &cur.errors);
			if (!t || sscanf(t, " transport=%15s", cur.transport) != 1)
				ret = -EINVAL;
			if (ret)
				return -EINVAL;
			cur.have_total = true;
			/* A dump is complete: keep it, start a new one. */
			*s = cur;
			found = true;
			memset(&cur, 0, sizeof(cur));
		} else if (!strncmp(buf, "stats: qid=", 11)) {
			struct fue_qstat *q = &cur.q[cur.nr_queues];

			if (cur.nr_queues == FUE_MAX_QUEUES)
				return -EINVAL;
			ret |= field_int(buf, "qid", &q->qid);
			ret |= field_int(buf, "thread", &q->thread);
			ret |= field_int(buf, "cpu", &q->cpu);
			ret |= field_ull(buf, "ring", &q->ring);
			ret |= field_ull(buf, "errors", &q->errors);
			ret |= field_ull(buf, "inflight", &q->inflight);
			if (ret)
				return -EINVAL;
			cur.nr_queues++;
		} else if (!strncmp(buf, "stats: thread=", 14)) {
			struct fue_tstat *t = &cur.t[cur.nr_threads];

			if (cur.nr_threads == FUE_MAX_THREADS)
				return -EINVAL;
			ret |= field_int(buf, "thread", &t->thread);
			ret |= field_ull(buf, "legacy", &t->legacy);
			ret |= field_ull(buf, "legacy_io", &t->legacy_io);
			ret |= field_ull(buf, "errors", &t->errors);
			ret |= field_ull(buf, "readers", &t->readers);
			if (ret)
				return -EINVAL;
			cur.nr_threads++;
		}
next:
		line = nl ? nl + 1 : NULL;
	}
	return found ? 0 : -ENOENT;
}

/* Number of "stats: total" lines at or after offset off of text. */
static int count_totals(const char *text, size_t off)
{
	const char *p = text + off;
	int n = 0;

	while ((p = strstr(p, "stats: total ")))
		if (p == text || p[-1] == '\n')
			n++, p++;
		else
			p++;
	return n;
}

int fue_request_stats_dump(struct fue_export *e, char **dump)
{
	long long deadline = now_ms() + FUE_IO_TIMEOUT_MS;
	char *text = fue_slurp(e->errlog);
	size_t off;

	*dump = NULL;
	if (!text)
		return -errno;
	off = strlen(text);
	free(text);
	if (!e->pid || e->exited || !is_our_child(e->pid))
		return -ESRCH;
	if (kill(e->pid, SIGUSR1))
		return -errno;
	while (now_ms() < deadline) {
		text = fue_slurp(e->errlog);
		if (!text)
			return -errno;
		/* Wait for the line ending the new dump to be complete. */
		if (strlen(text) > off && count_totals(text, off) &&
		    text[strlen(text) - 1] == '\n') {
			*dump = strdup(text + off);
			free(text);
			return *dump ? 0 : -ENOMEM;
		}
		free(text);
		sleep_ms(10);
	}
	fue_log("no stats dump within %d ms of SIGUSR1", FUE_IO_TIMEOUT_MS);
	return -ETIMEDOUT;
}

int fue_request_stats(struct fue_export *e, struct fue_stats *s)
{
	char *dump;
	int ret;

	ret = fue_request_stats_dump(e, &dump);
	if (ret)
		return ret;
	ret = fue_parse_stats(dump, s);
	free(dump);
	return ret;
}

int fue_parse_op_stat(const char *text, const char *op, struct fue_opstat *o)
{
	const char *line = text, *found = NULL;
	size_t oplen = strlen(op);
	char buf[512];
	size_t len;
	int ret = 0;

	while (line && *line) {
		const char *nl = strchr(line, '\n');

		if (!strncmp(line, "stats: op=", 10) &&
		    !strncmp(line + 10, op, oplen) && line[10 + oplen] == ' ')
			found = line;
		line = nl ? nl + 1 : NULL;
	}
	if (!found)
		return -ENOENT;
	len = strcspn(found, "\n");
	if (len >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, found, len);
	buf[len] = '\0';
	memset(o, 0, sizeof(*o));
	ret |= field_ull(buf, "count", &o->count);
	ret |= field_ull(buf, "bytes", &o->bytes);
	ret |= field_ull(buf, "p50_us", &o->p50_us);
	ret |= field_ull(buf, "p99_us", &o->p99_us);
	ret |= field_ull(buf, "max_us", &o->max_us);
	return ret ? -EINVAL : 0;
}

/* What ASan, LSan and UBSan print when they find something. */
static const char *const sanitizer_marks[] = {
	"ERROR: AddressSanitizer",
	"ERROR: LeakSanitizer",
	"runtime error:",
};

#define SANITIZER_CONTEXT_LINES	200

int fue_sanitizer_scan(struct fue_export *e)
{
	char *text, *line, *nl;
	const size_t nr_marks = sizeof(sanitizer_marks) /
				sizeof(sanitizer_marks[0]);
	int found = 0, shown = 0;
	size_t len, i;

	if (!e->errlog[0])
		return 0;
	text = fue_slurp(e->errlog);
	if (!text)
		return 0;
	len = strlen(text);
	/* fue_run() truncates the log for every run. */
	if ((off_t)len < e->errlog_scanned)
		e->errlog_scanned = 0;
	for (line = text + e->errlog_scanned; *line; line = nl + 1) {
		nl = strchr(line, '\n');
		/* A line still being written is judged on the next scan. */
		if (!nl)
			break;
		*nl = '\0';
		e->errlog_scanned = nl + 1 - text;
		for (i = 0; i < nr_marks; i++)
			if (strstr(line, sanitizer_marks[i]))
				break;
		if (i < nr_marks)
			found++;
		/* The report's stack follows its first line: show it all. */
		if (found && shown < SANITIZER_CONTEXT_LINES) {
			fprintf(stderr, "# daemon: %s\n", line);
			shown++;
		}
	}
	free(text);
	if (found)
		fue_log("%d sanitizer report line(s) in %s", found, e->errlog);
	e->sanitizer_reports += found;
	return found;
}

int fue_spawn(struct fue_export *e, const char *const *wrapper,
	      const char *const *args, const char *mnt)
{
	const char *argv[2 * MAX_OPTS + 2];
	int argc = 0;
	pid_t pid;

	if (e->pid && !e->exited) {
		fue_log("fue_spawn: an export is already running");
		return -EBUSY;
	}
	stop_watchdog(e);
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
	e->pid = 0;
	e->exited = false;
	e->has_conn = false;
	snprintf(e->mounted_on, sizeof(e->mounted_on), "%s", mnt);
	/* Adopt anything it forks, as fue_start() does. */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1))
		return -errno;

	/* A wrapper is found on PATH; the daemon is a path already. */
	pid = fork_logged(e, argv, false, true);
	if (pid < 0)
		return pid;
	e->pid = pid;
	return 0;
}

int fue_wait_mounted(struct fue_export *e, int timeout_ms)
{
	long long deadline = now_ms() + timeout_ms;
	char fstype[64];
	unsigned int conn;

	while (now_ms() < deadline) {
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
		sleep_ms(20);
	}
	fue_log("nothing mounted on %s within %d ms", e->mounted_on,
		timeout_ms);
	return -ETIMEDOUT;
}

int fue_wait_serving(struct fue_export *e, int timeout_ms)
{
	static const char mark[] = "fuse-uring-export: serving ";
	long long deadline = now_ms() + timeout_ms;
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
		if (now_ms() >= deadline)
			break;
		sleep_ms(10);
	}
	fue_log("no serving line from the daemon within %d ms", timeout_ms);
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
	ret = wait_pid_timeout(pid, &status, timeout_ms);
	if (ret != 1) {
		fue_log("%s still running after %d ms, killing it", argv[0],
			timeout_ms);
		kill(pid, SIGKILL);
		wait_pid_timeout(pid, &status, 5000);
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

bool fue_conn_exists(unsigned int conn)
{
	char path[128];

	snprintf(path, sizeof(path), FUSECTL_DIR "/%u", conn);
	return access(path, F_OK) == 0;
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

/* Background load. */

static void load_note_error(struct fue_load_child *c, int err)
{
	if (!c->first_err)
		__atomic_store_n(&c->first_err, err, __ATOMIC_RELAXED);
	__atomic_store_n(&c->last_err, err, __ATOMIC_RELAXED);
	__atomic_fetch_add(&c->errors, 1, __ATOMIC_RELAXED);
}

/* One load child's whole life; never returns. */
static void load_child(struct fue_load *l, struct fue_load_child *c,
		       unsigned int seed)
{
	long blocks = l->len / (off_t)l->bs, i;
	bool sync = c->writer && (l->flags & FUE_LOAD_SYNC);
	int flags = c->writer ? O_RDWR : O_RDONLY;
	cpu_set_t set;
	void *buf;
	int fd;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() == 1)
		_exit(0);
	CPU_ZERO(&set);
	CPU_SET(c->cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) ||
	    posix_memalign(&buf, 4096, l->bs)) {
		load_note_error(c, errno ? errno : ENOMEM);
		__atomic_store_n(&c->done, true, __ATOMIC_RELEASE);
		_exit(1);
	}
	if (!(l->flags & FUE_LOAD_BUFFERED))
		flags |= O_DIRECT;
	fd = open(l->path, flags | O_CLOEXEC);
	if (fd < 0 && errno == EINVAL && (flags & O_DIRECT))
		fd = open(l->path, (flags & ~O_DIRECT) | O_CLOEXEC);
	if (fd < 0) {
		load_note_error(c, errno);
		__atomic_store_n(&c->done, true, __ATOMIC_RELEASE);
		_exit(0);
	}
	__atomic_store_n(&c->started, true, __ATOMIC_RELEASE);
	for (i = 0; !__atomic_load_n(&l->stop, __ATOMIC_ACQUIRE); i++) {
		off_t off;
		ssize_t n;

		if (sync) {
			/* Each block once: a synced block has one content. */
			if (i >= c->share_len / (off_t)l->bs)
				break;
			off = c->share_off + i * (off_t)l->bs;
		} else {
			off = l->off + (off_t)(rand_r(&seed) % blocks) *
				       (off_t)l->bs;
		}
		if (c->writer) {
			fue_fill_pattern(buf, l->bs, off + l->shift);
			n = pwrite(fd, buf, l->bs, off);
			if (sync && n == (ssize_t)l->bs && fsync(fd))
				n = -1;
		} else {
			n = pread(fd, buf, l->bs, off);
			if (n == (ssize_t)l->bs &&
			    (l->flags & FUE_LOAD_VERIFY) &&
			    fue_check_pattern(buf, l->bs, off + l->shift) >= 0)
				__atomic_fetch_add(&c->bad, 1,
						   __ATOMIC_RELAXED);
		}
		if (n != (ssize_t)l->bs) {
			load_note_error(c, n < 0 ? errno : EIO);
			if (!(l->flags & FUE_LOAD_KEEP_GOING))
				break;
			continue;
		}
		__atomic_fetch_add(&c->ops, 1, __ATOMIC_RELAXED);
		if (sync)
			__atomic_fetch_add(&c->synced, 1, __ATOMIC_RELEASE);
	}
	__atomic_store_n(&c->done, true, __ATOMIC_RELEASE);
	close(fd);
	_exit(0);
}

struct fue_load *fue_load_start(const char *path, off_t off, off_t len,
				size_t bs, off_t shift, unsigned int flags)
{
	int cpus[FUE_LOAD_MAX], nr_cpus, nr_writers, i, w = 0;
	long long deadline;
	struct fue_load *l;

	if (!bs || len < (off_t)bs || bs % 512)
		return NULL;
	nr_cpus = fue_online_cpus(cpus, FUE_LOAD_MAX / 2);
	if (nr_cpus <= 0)
		return NULL;
	l = fue_shared_alloc(sizeof(*l));
	if (!l)
		return NULL;
	snprintf(l->path, sizeof(l->path), "%s", path);
	l->off = off;
	l->len = len;
	l->bs = bs;
	l->shift = shift;
	l->flags = flags;
	nr_writers = (flags & FUE_LOAD_WRITERS) ? nr_cpus : 0;
	for (i = 0; i < nr_cpus; i++) {
		l->c[l->nr++].cpu = cpus[i];
		if (!nr_writers)
			continue;
		l->c[l->nr].cpu = cpus[i];
		l->c[l->nr].writer = true;
		/* Synced writers get disjoint, block-aligned shares. */
		l->c[l->nr].share_len = len / nr_writers / (off_t)bs *
					(off_t)bs;
		l->c[l->nr].share_off = off + w++ * l->c[l->nr].share_len;
		l->nr++;
	}
	fflush(NULL);
	for (i = 0; i < l->nr; i++) {
		pid_t pid = fork();

		if (pid < 0) {
			l->nr = i;
			fue_load_free(l);
			return NULL;
		}
		if (pid == 0)
			load_child(l, &l->c[i],
				   (unsigned int)(getpid() * 7919 + i));
		l->c[i].pid = pid;
	}
	/*
	 * Return only once every child has the file open (or failed to):
	 * a test may detach the mount next, and a child opening after that
	 * would get the file underneath instead of the export.
	 */
	deadline = now_ms() + FUE_START_TIMEOUT_MS;
	for (i = 0; i < l->nr; i++)
		while (!__atomic_load_n(&l->c[i].started, __ATOMIC_ACQUIRE) &&
		       !__atomic_load_n(&l->c[i].done, __ATOMIC_ACQUIRE) &&
		       now_ms() < deadline)
			sleep_ms(1);
	return l;
}

/* Sum one counter of every load child; @field is its offset in a child. */
static long load_sum(const struct fue_load *l, size_t field)
{
	long n = 0;
	int i;

	for (i = 0; i < l->nr; i++)
		n += __atomic_load_n((const long *)((const char *)&l->c[i] +
						    field), __ATOMIC_RELAXED);
	return n;
}

long fue_load_ops(const struct fue_load *l)
{
	return load_sum(l, offsetof(struct fue_load_child, ops));
}

long fue_load_errors(const struct fue_load *l)
{
	return load_sum(l, offsetof(struct fue_load_child, errors));
}

long fue_load_bad(const struct fue_load *l)
{
	return load_sum(l, offsetof(struct fue_load_child, bad));
}

bool fue_load_wait_ops(struct fue_load *l, long want, int timeout_ms)
{
	long long deadline = now_ms() + timeout_ms;

	while (fue_load_ops(l) < want) {
		if (now_ms() >= deadline)
			return false;
		sleep_ms(5);
	}
	return true;
}

bool fue_load_wait(struct fue_load *l, int timeout_ms)
{
	long long deadline = now_ms() + timeout_ms;
	bool all;
	int i;

	for (;;) {
		all = true;
		for (i = 0; i < l->nr; i++) {
			struct fue_load_child *c = &l->c[i];

			if (c->reaped)
				continue;
			if (waitpid(c->pid, &c->status, WNOHANG) == c->pid)
				c->reaped = true;
			else
				all = false;
		}
		if (all || now_ms() >= deadline)
			return all;
		sleep_ms(10);
	}
}

bool fue_load_stop(struct fue_load *l, int timeout_ms)
{
	bool clean;
	int i;

	if (!l)
		return true;
	__atomic_store_n(&l->stop, 1, __ATOMIC_RELEASE);
	clean = fue_load_wait(l, timeout_ms);
	if (clean)
		return true;
	for (i = 0; i < l->nr; i++)
		if (!l->c[i].reaped) {
			fue_log("load child %d (cpu %d) still running, killing it",
				l->c[i].pid, l->c[i].cpu);
			kill(l->c[i].pid, SIGKILL);
		}
	/* A child stuck in a FUSE request waits for its connection's end. */
	fue_load_wait(l, 5000);
	return false;
}

void fue_load_free(struct fue_load *l)
{
	if (!l)
		return;
	fue_load_stop(l, 0);
	fue_shared_free(l, sizeof(*l));
}

void fue_dump_errlog(const struct fue_export *e)
{
	char *text = fue_slurp(e->errlog), *line, *save = NULL;

	if (!text)
		return;
	for (line = strtok_r(text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save))
		fprintf(stderr, "# daemon: %s\n", line);
	free(text);
}
