// SPDX-License-Identifier: GPL-2.0
/*
 * What a root daemon must not be talked into: mounting over a file that a
 * symlink points to, serving another file than the one it checked,
 * opening a FIFO or a device, writing its pid or trace file through a
 * link, running set-user-ID, or growing an image without bound.
 *
 * The attacker's moves are made for real (links planted in a directory
 * of mode 1777, a link flipped between two of the daemon's system calls
 * under ptrace); every test then checks what a victim would: the target
 * file's bytes, the mount table, the descriptors the daemon holds.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fue_harness.h"

#define TIMEOUT_S	60
#define RUN_TIMEOUT_MS	10000
#define IMAGE_SIZE	(1 << 20)
#define VICTIM_TEXT	"root:secret:0:0\n"
#define PREFIX		"fuse-uring-export: "


FIXTURE(sec) {
	struct fue_export e;
	const char *skip;
	/* A directory anyone may write to, and a root file outside it. */
	char pub[PATH_MAX - 32];
	char victim[PATH_MAX];
	char link[PATH_MAX];
};

FIXTURE_SETUP(sec)
{
	int fd;

	self->skip = fue_check_env();
	if (self->skip)
		return;
	ASSERT_EQ(0, fue_init(&self->e));
	ASSERT_EQ(0, fue_make_image(self->e.image, IMAGE_SIZE));
	ASSERT_EQ(0, fue_make_mountpoint(self->e.mnt));
	snprintf(self->pub, sizeof(self->pub), "%s/pub", self->e.dir);
	snprintf(self->victim, sizeof(self->victim), "%s/victim",
		 self->e.dir);
	snprintf(self->link, sizeof(self->link), "%s/link", self->pub);
	ASSERT_EQ(0, mkdir(self->pub, 0755));
	ASSERT_EQ(0, chmod(self->pub, 01777));
	fd = open(self->victim, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
		  0600);
	ASSERT_LE(0, fd);
	ASSERT_EQ((ssize_t)strlen(VICTIM_TEXT),
		  write(fd, VICTIM_TEXT, strlen(VICTIM_TEXT)));
	close(fd);
}

FIXTURE_TEARDOWN(sec)
{
	fue_teardown(&self->e);
}

static int run(FIXTURE_DATA(sec) *self, const char *const *args)
{
	return fue_run(&self->e, args, RUN_TIMEOUT_MS);
}

/* The victim is untouched: no mount on it, its bytes and mode as made. */
static void expect_victim_untouched(struct __test_metadata *_metadata,
				    FIXTURE_DATA(sec) *self)
{
	char *text = fue_slurp(self->victim);
	struct stat st;

	EXPECT_EQ(0, fue_mount_info(self->victim, NULL, NULL, 0))
		TH_LOG("something is mounted over the victim file");
	ASSERT_NE(NULL, text);
	EXPECT_STREQ(VICTIM_TEXT, text);
	free(text);
	ASSERT_EQ(0, lstat(self->victim, &st));
	EXPECT_EQ(0600, st.st_mode & 07777);
}

/*
 * Refused with exit status 1 and one line on stderr that holds each of
 * the words given (NULL-terminated), and nothing mounted.
 */
static void expect_refused(struct __test_metadata *_metadata,
			   FIXTURE_DATA(sec) *self, int code, ...)
{
	char *err = fue_slurp(self->e.errlog);
	const char *word;
	va_list ap;

	ASSERT_NE(NULL, err);
	EXPECT_NE(-ETIMEDOUT, code) TH_LOG("it was accepted, or hung");
	EXPECT_EQ(1, code) TH_LOG("stderr: %s", err);
	EXPECT_EQ(1, fue_count_lines(err)) TH_LOG("stderr: %s", err);
	EXPECT_EQ(0, strncmp(err, PREFIX, strlen(PREFIX)))
		TH_LOG("stderr: %s", err);
	va_start(ap, code);
	while ((word = va_arg(ap, const char *))) {
		EXPECT_NE(NULL, strstr(err, word))
			TH_LOG("the message does not say \"%s\": %s", word,
			       err);
	}
	va_end(ap);
	EXPECT_FALSE(fue_mount_under(self->e.dir, NULL, 0))
		TH_LOG("the refused start left a mount");
	free(err);
}

/* The case the issue was found with: as root, MOUNTPOINT a planted link. */
TEST_F_TIMEOUT(sec, mountpoint_symlink_refused, TIMEOUT_S)
{
	const char *args[] = { "--writable", self->e.image, self->link, NULL };

	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_EQ(0, symlink(self->victim, self->link));
	expect_refused(_metadata, self, run(self, args), self->link,
		       self->victim, "symbolic link", NULL);
	expect_victim_untouched(_metadata, self);
}

/* Likewise with --daemonize: the launcher reports the refusal. */
TEST_F_TIMEOUT(sec, mountpoint_symlink_refused_daemonized, TIMEOUT_S)
{
	const char *args[] = { "--daemonize", self->e.image, self->link,
			       NULL };

	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_EQ(0, symlink(self->victim, self->link));
	expect_refused(_metadata, self, run(self, args), self->link,
		       "symbolic link", NULL);
	expect_victim_untouched(_metadata, self);
}

/*
 * A FIFO as IMAGE is refused at once and never opened: a writer blocked
 * in open() on it, waiting for a reader, is still blocked afterwards.
 */
TEST_F_TIMEOUT(sec, image_fifo_refused_unopened, TIMEOUT_S)
{
	char fifo[PATH_MAX];
	const char *args[] = { fifo, self->e.mnt, NULL };
	int status;
	pid_t writer;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	snprintf(fifo, sizeof(fifo), "%s/fifo", self->pub);
	ASSERT_EQ(0, mkfifo(fifo, 0600));
	writer = fork();
	ASSERT_LE(0, writer);
	if (writer == 0) {
		alarm(TIMEOUT_S);
		_exit(open(fifo, O_WRONLY) < 0 ? 1 : 0);
	}
	/* Let the writer reach its open(). */
	fue_sleep_ms(100);
	expect_refused(_metadata, self, run(self, args), fifo, "FIFO", NULL);
	EXPECT_EQ(0, waitpid(writer, &status, WNOHANG))
		TH_LOG("the daemon opened the FIFO: its writer went on");
	kill(writer, SIGKILL);
	waitpid(writer, &status, 0);
}

TEST_F_TIMEOUT(sec, image_char_device_refused, TIMEOUT_S)
{
	const char *args[] = { "--writable", "/dev/null", self->e.mnt, NULL };

	if (self->skip)
		SKIP(return, "%s", self->skip);
	expect_refused(_metadata, self, run(self, args), "/dev/null",
		       "character device", NULL);
}

/* A symlink as IMAGE is how /dev/disk/by-id names devices: it serves. */
TEST_F_TIMEOUT(sec, image_symlink_serves, TIMEOUT_S)
{
	char buf[4096];

	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_EQ(0, symlink(self->e.image, self->link));
	ASSERT_EQ(0, fue_start(&self->e, self->link, self->e.mnt, NULL));
	ASSERT_EQ(sizeof(buf), (size_t)fue_pread(self->e.mnt, O_RDONLY, buf,
						 sizeof(buf), 4096));
	EXPECT_EQ(-1, fue_check_pattern(buf, sizeof(buf), 4096));
	expect_clean_exit(_metadata, &self->e);
}

/* The path of the file an openat() at a syscall-entry stop names. */
static bool openat_path(pid_t pid, char *path, size_t len)
{
	struct __ptrace_syscall_info info;
	struct iovec local, remote;
	ssize_t got;

	if (ptrace(PTRACE_GET_SYSCALL_INFO, pid, sizeof(info), &info) <= 0 ||
	    info.op != PTRACE_SYSCALL_INFO_ENTRY ||
	    info.entry.nr != __NR_openat)
		return false;
	local.iov_base = path;
	local.iov_len = len - 1;
	remote.iov_base = (void *)(uintptr_t)info.entry.args[1];
	remote.iov_len = len - 1;
	got = process_vm_readv(pid, &local, 1, &remote, 1, 0);
	if (got <= 0)
		return false;
	path[got] = '\0';
	path[strnlen(path, got)] = '\0';
	return true;
}

/*
 * A traced child's next stop, bounded.  Not fue_wait_pid(): it sleeps
 * for a stop, which comes at every system call here.
 */
static int wait_stop(pid_t pid, int *status)
{
	long long deadline = fue_now_ms() + RUN_TIMEOUT_MS;
	int ret;

	while ((ret = waitpid(pid, status, WNOHANG)) == 0) {
		if (fue_now_ms() > deadline)
			return -ETIMEDOUT;
		usleep(20);
	}
	return ret == pid ? 0 : -errno;
}

/* Point @link at @target in one step, as an attacker racing us would. */
static int flip_link(const char *link, const char *target)
{
	char tmp[PATH_MAX + 8];

	snprintf(tmp, sizeof(tmp), "%s.new", link);
	unlink(tmp);
	if (symlink(target, tmp) || rename(tmp, link))
		return -errno;
	return 0;
}

/*
 * Run the daemon under ptrace and, as soon as it has opened IMAGE (a
 * link) once, point the link at @other: every later open the daemon makes
 * to get at IMAGE then finds the other file if it goes by the name.
 * Detach at its first mount(2) and return its pid, or -errno.
 */
static pid_t start_with_image_swap(FIXTURE_DATA(sec) *self,
				   const char *const *args, const char *other)
{
	const char *argv[16];
	char path[PATH_MAX];
	int argc = 0, status, opens = 0;
	bool flipped = false, in_open = false;
	pid_t pid;

	argv[argc++] = fue_bin();
	while (*args && argc < 15)
		argv[argc++] = *args++;
	argv[argc] = NULL;
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		int err = open(self->e.errlog, O_WRONLY | O_CREAT | O_TRUNC,
			       0600);

		if (err < 0)
			_exit(126);
		dup2(err, 2);
		ptrace(PTRACE_TRACEME, 0, NULL, NULL);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	self->e.pid = pid;
	/* The stop at exec. */
	if (wait_stop(pid, &status) || !WIFSTOPPED(status))
		return -ECHILD;
	ptrace(PTRACE_SETOPTIONS, pid, NULL,
	       PTRACE_O_TRACESYSGOOD | PTRACE_O_EXITKILL);
	for (;;) {
		if (ptrace(PTRACE_SYSCALL, pid, NULL, NULL) < 0)
			return -errno;
		if (wait_stop(pid, &status))
			return -ETIMEDOUT;
		if (WIFEXITED(status) || WIFSIGNALED(status)) {
			self->e.exited = true;
			self->e.status = status;
			return pid;
		}
		if (!WIFSTOPPED(status) || WSTOPSIG(status) != (SIGTRAP | 0x80))
			continue;
		if (in_open) {
			/* The exit of the open that named IMAGE. */
			in_open = false;
			if (++opens == 1 && !flipped) {
				if (flip_link(self->link, other))
					return -EIO;
				flipped = true;
			}
			continue;
		}
		if (openat_path(pid, path, sizeof(path)))
			in_open = !strcmp(path, self->link) ||
				  !strncmp(path, "/proc/self/fd/", 14);
		else if (flipped) {
			struct __ptrace_syscall_info info;

			if (ptrace(PTRACE_GET_SYSCALL_INFO, pid, sizeof(info),
				   &info) > 0 &&
			    info.op == PTRACE_SYSCALL_INFO_ENTRY &&
			    info.entry.nr == __NR_mount)
				break;
		}
	}
	ptrace(PTRACE_DETACH, pid, NULL, NULL);
	return pid;
}

/* Every descriptor of the daemon's that is a regular file: its inodes. */
static int image_fds(pid_t pid, const struct stat *want,
		     const struct stat *other, int *same, int *wrong)
{
	char path[64];
	struct stat st;
	int fd;

	*same = 0;
	*wrong = 0;
	for (fd = 0; fd < 1024; fd++) {
		snprintf(path, sizeof(path), "/proc/%d/fd/%d", pid, fd);
		if (stat(path, &st) || !S_ISREG(st.st_mode))
			continue;
		if (st.st_dev == want->st_dev && st.st_ino == want->st_ino)
			(*same)++;
		if (st.st_dev == other->st_dev && st.st_ino == other->st_ino)
			(*wrong)++;
	}
	return 0;
}

/*
 * IMAGE swapped for another file between the daemon's opens: with
 * --direct it holds two descriptors of the image, and both must be the
 * file it checked, never the one the link points to by then.
 */
TEST_F_TIMEOUT(sec, image_swapped_between_opens, TIMEOUT_S)
{
	char other[PATH_MAX], buf[4096];
	const char *args[] = { "--direct", "--io-uring=off", self->link,
			       self->e.mnt, NULL };
	struct stat want, wrong;
	int same, bad;
	pid_t pid;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	snprintf(other, sizeof(other), "%s/other", self->e.dir);
	ASSERT_EQ(0, fue_make_mountpoint(other));
	ASSERT_EQ(0, truncate(other, IMAGE_SIZE));
	ASSERT_EQ(0, stat(self->e.image, &want));
	ASSERT_EQ(0, stat(other, &wrong));
	ASSERT_EQ(0, symlink(self->e.image, self->link));
	pid = start_with_image_swap(self, args, other);
	ASSERT_LT(0, pid) TH_LOG("tracing the daemon: %s", strerror(-pid));
	if (self->e.exited) {
		/* Refusing to serve a changed file is a right answer too. */
		fue_dump_errlog(&self->e);
		EXPECT_TRUE(WIFEXITED(self->e.status) &&
			    WEXITSTATUS(self->e.status) == 1);
		return;
	}
	if (fue_wait_serving(&self->e, RUN_TIMEOUT_MS) == -ECHILD) {
		EXPECT_TRUE(WIFEXITED(self->e.status) &&
			    WEXITSTATUS(self->e.status) == 1);
		return;
	}
	ASSERT_EQ(0, image_fds(pid, &want, &wrong, &same, &bad));
	EXPECT_EQ(0, bad) TH_LOG("the daemon holds the swapped-in file open");
	EXPECT_EQ(2, same) TH_LOG("--direct holds two descriptors of IMAGE");
	/* An unaligned read goes through the second descriptor. */
	ASSERT_EQ(100, fue_pread(self->e.mnt, O_RDONLY, buf, 100, 4097));
	EXPECT_EQ(-1, fue_check_pattern(buf, 100, 4097));
	expect_clean_exit(_metadata, &self->e);
}

/* --pidfile or --trace through a planted link: refused, victim intact. */
static void output_link_refused(struct __test_metadata *_metadata,
				FIXTURE_DATA(sec) *self, const char *option)
{
	char opt[PATH_MAX + 16];
	const char *args[] = { opt, self->e.image, self->e.mnt, NULL };

	ASSERT_EQ(0, symlink(self->victim, self->link));
	snprintf(opt, sizeof(opt), "%s=%s", option, self->link);
	expect_refused(_metadata, self, run(self, args), self->link,
		       "symbolic link", NULL);
	expect_victim_untouched(_metadata, self);
}

TEST_F_TIMEOUT(sec, pidfile_symlink_refused, TIMEOUT_S)
{
	if (self->skip)
		SKIP(return, "%s", self->skip);
	output_link_refused(_metadata, self, "--pidfile");
}

TEST_F_TIMEOUT(sec, trace_symlink_refused, TIMEOUT_S)
{
	if (self->skip)
		SKIP(return, "%s", self->skip);
	output_link_refused(_metadata, self, "--trace");
}

/* A hard link to the victim is refused the same way. */
TEST_F_TIMEOUT(sec, trace_hardlink_refused, TIMEOUT_S)
{
	char opt[PATH_MAX + 16], hard[PATH_MAX];
	const char *args[] = { opt, self->e.image, self->e.mnt, NULL };

	if (self->skip)
		SKIP(return, "%s", self->skip);
	snprintf(hard, sizeof(hard), "%s/hard", self->e.dir);
	ASSERT_EQ(0, link(self->victim, hard));
	snprintf(opt, sizeof(opt), "--trace=%s", hard);
	expect_refused(_metadata, self, run(self, args), hard, "hard link",
		       NULL);
	expect_victim_untouched(_metadata, self);
}

static mode_t file_mode(const char *path)
{
	struct stat st;

	return lstat(path, &st) ? (mode_t)-1 : st.st_mode & 07777;
}

/*
 * Whatever the umask: the pid file 0644, the trace (every offset the
 * client touched) 0600, and the pid file gone after a clean exit.
 */
TEST_F_TIMEOUT(sec, pidfile_and_trace_modes, TIMEOUT_S)
{
	char opt[PATH_MAX + 16], trace[PATH_MAX];
	mode_t old;
	int ret;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	snprintf(trace, sizeof(trace), "%s/trace", self->e.dir);
	snprintf(opt, sizeof(opt), "--trace=%s", trace);
	old = umask(0);
	ret = fue_start(&self->e, self->e.image, self->e.mnt, opt, NULL);
	umask(old);
	ASSERT_EQ(0, ret);
	EXPECT_EQ(0644, file_mode(self->e.pidfile));
	EXPECT_EQ(0600, file_mode(trace));
	expect_clean_exit(_metadata, &self->e);
	EXPECT_NE(0, access(self->e.pidfile, F_OK))
		TH_LOG("the pid file outlived the daemon");
	/* A umask that takes the read bits still leaves 0644. */
	old = umask(077);
	ret = fue_start(&self->e, self->e.image, self->e.mnt, NULL);
	umask(old);
	ASSERT_EQ(0, ret);
	EXPECT_EQ(0644, file_mode(self->e.pidfile));
	expect_clean_exit(_metadata, &self->e);
}

/* Two daemons given one pid file: the second is refused, unmounted. */
TEST_F_TIMEOUT(sec, pidfile_shared_refused, TIMEOUT_S)
{
	char opt[PATH_MAX + 16], img2[PATH_MAX], mnt2[PATH_MAX];
	const char *args[] = { opt, img2, mnt2, NULL };
	char *before, *after;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	snprintf(img2, sizeof(img2), "%s/image2", self->e.dir);
	snprintf(mnt2, sizeof(mnt2), "%s/mnt2", self->e.dir);
	ASSERT_EQ(0, fue_make_image(img2, IMAGE_SIZE));
	ASSERT_EQ(0, fue_make_mountpoint(mnt2));
	ASSERT_EQ(0, fue_start(&self->e, self->e.image, self->e.mnt, NULL));
	before = fue_slurp(self->e.pidfile);
	ASSERT_NE(NULL, before);
	snprintf(opt, sizeof(opt), "--pidfile=%s", self->e.pidfile);
	/* fue_run logs to the same file; the first daemon is quiet now. */
	EXPECT_EQ(1, run(self, args));
	EXPECT_EQ(0, fue_mount_info(mnt2, NULL, NULL, 0))
		TH_LOG("the refused daemon left its mount");
	after = fue_slurp(self->e.pidfile);
	ASSERT_NE(NULL, after);
	EXPECT_STREQ(before, after);
	free(before);
	free(after);
	expect_clean_exit(_metadata, &self->e);
	EXPECT_NE(0, access(self->e.pidfile, F_OK));
}

/* A pid file that no longer holds our pid is somebody else's: kept. */
TEST_F_TIMEOUT(sec, pidfile_taken_over_kept, TIMEOUT_S)
{
	char tmp[PATH_MAX + 8];
	int fd;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_EQ(0, fue_start(&self->e, self->e.image, self->e.mnt, NULL));
	snprintf(tmp, sizeof(tmp), "%s.new", self->e.pidfile);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	ASSERT_LE(0, fd);
	ASSERT_EQ(2, write(fd, "1\n", 2));
	close(fd);
	ASSERT_EQ(0, rename(tmp, self->e.pidfile));
	expect_clean_exit(_metadata, &self->e);
	EXPECT_EQ(0, access(self->e.pidfile, F_OK))
		TH_LOG("the daemon removed a pid file that was not its own");
}

/*
 * A set-user-ID root copy of the daemon, run by nobody: refused before it
 * opens anything, naming why.
 */
TEST_F_TIMEOUT(sec, setuid_refused, TIMEOUT_S)
{
	char dir[PATH_MAX - 32], bin[PATH_MAX];
	const char *cp[] = { "cp", fue_bin(), bin, NULL };
	struct statvfs vfs;
	int status;
	pid_t pid;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	snprintf(dir, sizeof(dir), "%s/bin", self->e.dir);
	snprintf(bin, sizeof(bin), "%s/fuse-uring-export", dir);
	ASSERT_EQ(0, mkdir(dir, 0755));
	/* The test's directory is 0700: let nobody through to bin/. */
	ASSERT_EQ(0, chmod(self->e.dir, 0711));
	if (statvfs(dir, &vfs) == 0 && (vfs.f_flag & ST_NOSUID))
		SKIP(return, "the test directory is on a nosuid file system");
	ASSERT_EQ(0, fue_exec(cp, "/dev/null", RUN_TIMEOUT_MS));
	ASSERT_EQ(0, chown(bin, 0, 0));
	ASSERT_EQ(0, chmod(bin, 04755));
	ASSERT_EQ(0, chmod(self->e.image, 0666));
	ASSERT_EQ(0, chmod(self->e.mnt, 0666));
	fflush(NULL);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		int err = open(self->e.errlog, O_WRONLY | O_CREAT | O_TRUNC,
			       0644);

		if (err < 0 || dup2(err, 2) < 0 || setgroups(0, NULL) ||
		    setresgid(65534, 65534, 65534) ||
		    setresuid(65534, 65534, 65534))
			_exit(126);
		execl(bin, bin, self->e.image, self->e.mnt, (char *)NULL);
		_exit(127);
	}
	if (fue_wait_pid(pid, &status, RUN_TIMEOUT_MS) != 1) {
		kill(pid, SIGTERM);
		fue_wait_pid(pid, &status, FUE_STOP_TIMEOUT_MS);
		ASSERT_TRUE(false) TH_LOG("the set-user-ID daemon ran");
	}
	ASSERT_TRUE(WIFEXITED(status));
	expect_refused(_metadata, self, WEXITSTATUS(status), "set-user-ID",
		       NULL);
}

/* --growable=SIZE: the image grows to SIZE and no further. */

FIXTURE(grow) {
	struct fue_export e;
	const char *skip;
	char tmpfs[PATH_MAX - 32];
	bool tmpfs_mounted;
};

FUE_TRANSPORT_VARIANTS(grow);

FIXTURE_SETUP(grow)
{
	self->skip = fue_setup_skip(variant->ring);
	if (self->skip)
		return;
	ASSERT_EQ(0, fue_init(&self->e));
	snprintf(self->tmpfs, sizeof(self->tmpfs), "%s/small", self->e.dir);
}

FIXTURE_TEARDOWN(grow)
{
	/* The daemon holds the image on the tmpfs: it goes first. */
	if (self->e.pid && !self->e.exited)
		fue_stop(&self->e);
	if (self->tmpfs_mounted)
		umount2(self->tmpfs, MNT_DETACH);
	fue_teardown(&self->e);
}

struct falloc_arg {
	const char *path;
	off_t offset;
	off_t length;
	int error;
};

static int do_fallocate(void *p)
{
	struct falloc_arg *a = p;
	int fd = open(a->path, O_RDWR | O_CLOEXEC);

	a->error = 0;
	if (fd < 0 || fallocate(fd, 0, a->offset, a->length))
		a->error = errno;
	if (fd >= 0)
		close(fd);
	return 0;
}

static int do_truncate(void *p)
{
	struct falloc_arg *a = p;

	a->error = truncate(a->path, a->length) ? errno : 0;
	return 0;
}

/* The errno of a bounded fallocate() or truncate() on the mount. */
static int client_call(int (*fn)(void *), const char *path, off_t offset,
		       off_t length)
{
	struct falloc_arg *a = fue_shared_alloc(sizeof(*a));
	int ret, err;

	if (!a)
		return -ENOMEM;
	a->path = path;
	a->offset = offset;
	a->length = length;
	ret = fue_in_child(fn, a, FUE_IO_TIMEOUT_MS);
	err = ret ? ret : a->error;
	fue_shared_free(a, sizeof(*a));
	return err;
}

#define LIMIT	(IMAGE_SIZE + 256 * 1024)

TEST_F_TIMEOUT(grow, limit_answers_efbig, TIMEOUT_S)
{
	char opt[64], buf[64 * 1024];

	if (self->skip)
		SKIP(return, "%s", self->skip);
	snprintf(opt, sizeof(opt), "--growable=%d", LIMIT);
	ASSERT_EQ(0, fue_start_writable(&self->e, variant->transport,
					IMAGE_SIZE, opt, NULL));
	fue_fill_pattern(buf, sizeof(buf), 0);
	/* Up to the limit a write lands; across it, what fits does. */
	EXPECT_EQ((ssize_t)sizeof(buf),
		  fue_pwrite(self->e.mnt, O_WRONLY, buf, sizeof(buf),
			     IMAGE_SIZE));
	EXPECT_EQ(4096, fue_pwrite(self->e.mnt, O_WRONLY, buf, sizeof(buf),
				   LIMIT - 4096));
	EXPECT_EQ(LIMIT, fue_file_size(self->e.image));
	EXPECT_EQ(-EFBIG, fue_pwrite(self->e.mnt, O_WRONLY, buf, 4096, LIMIT));
	EXPECT_EQ(EFBIG, client_call(do_fallocate, self->e.mnt, LIMIT, 4096));
	EXPECT_EQ(EFBIG, client_call(do_truncate, self->e.mnt, 0, LIMIT + 1));
	EXPECT_EQ(LIMIT, fue_file_size(self->e.image));
	/* Shrinking and growing back within the limit still work. */
	EXPECT_EQ(0, client_call(do_truncate, self->e.mnt, 0, IMAGE_SIZE));
	EXPECT_EQ(0, client_call(do_fallocate, self->e.mnt, 0, LIMIT));
	EXPECT_EQ(LIMIT, fue_file_size(self->e.image));
	expect_clean_exit(_metadata, &self->e);
}

/*
 * The default limit is what the image's file system leaves to users: on
 * a small tmpfs, asking for more than it has free is EFBIG from the
 * export, not the file system's ENOSPC after it has been filled.
 */
TEST_F_TIMEOUT(grow, default_limit_is_free_space, TIMEOUT_S)
{
	const char *opts[] = { variant->transport, "--writable", "--growable",
			       NULL };
	char image[PATH_MAX];
	struct statvfs vfs;
	uint64_t room;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_EQ(0, mkdir(self->tmpfs, 0700));
	ASSERT_EQ(0, mount("tmpfs", self->tmpfs, "tmpfs", 0, "size=8m"));
	self->tmpfs_mounted = true;
	snprintf(image, sizeof(image), "%s/image", self->tmpfs);
	ASSERT_EQ(0, fue_make_image(image, IMAGE_SIZE));
	ASSERT_EQ(0, statvfs(self->tmpfs, &vfs));
	room = (uint64_t)vfs.f_bavail * vfs.f_frsize;
	ASSERT_EQ(0, fue_make_mountpoint(self->e.mnt));
	ASSERT_EQ(0, fue_startv(&self->e, image, self->e.mnt, opts));
	EXPECT_EQ(EFBIG, client_call(do_fallocate, self->e.mnt, IMAGE_SIZE,
				     room + 1024 * 1024));
	EXPECT_EQ(IMAGE_SIZE, fue_file_size(image));
	/* Within the room it grows. */
	EXPECT_EQ(0, client_call(do_fallocate, self->e.mnt, IMAGE_SIZE,
				 1024 * 1024));
	EXPECT_EQ(IMAGE_SIZE + 1024 * 1024, fue_file_size(image));
	expect_clean_exit(_metadata, &self->e);
}

TEST_HARNESS_MAIN
