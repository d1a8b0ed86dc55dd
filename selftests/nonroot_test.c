// SPDX-License-Identifier: GPL-2.0
/*
 * Non-root exports: the daemon run as an unprivileged user mounts through
 * fusermount3, --allow-other decides whether other users get in, and the
 * daemon can abort its own connection through fusectl.
 *
 * Needs root to set the stage: the test drops to "nobody" for the daemon
 * and to "daemon" as the other user.  /dev/fuse is made 0666 (Debian's
 * usual mode) and /etc/fuse.conf edited for the duration, then restored.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fue_harness.h"

#define IMAGE_SIZE (4 << 20)
#define FUSE_CONF "/etc/fuse.conf"
/* README: after one signal, files still open get two seconds. */
#define GRACE_MS 2000

struct start_args {
	uid_t uid;
	gid_t gid;
	const char *errlog;
	const char *argv[16];
};

struct client_args {
	uid_t uid;
	gid_t gid;
	const char *path;
	int flags;
	/* 0 for a read, else the mode to chmod the file to. */
	mode_t chmod_to;
};

static int become(uid_t uid, gid_t gid)
{
	if (setgroups(0, NULL) || setresgid(gid, gid, gid) ||
	    setresuid(uid, uid, uid))
		return -1;
	return 0;
}

/* In a bounded child: drop to the user, run the daemon, wait for it. */
static int start_as_user(void *arg)
{
	struct start_args *a = arg;
	int status, err;
	pid_t pid;

	/* Opened as root: the log lives in the test's own directory. */
	err = open(a->errlog, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (err < 0 || become(a->uid, a->gid))
		return 125;
	pid = fork();
	if (pid < 0)
		return 126;
	if (pid == 0) {
		dup2(err, STDERR_FILENO);
		execv(a->argv[0], (char *const *)a->argv);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) < 0)
		return 126;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 124;
}

/* In a bounded child: as the user, read a byte or chmod; 0 or errno. */
static int client_as_user(void *arg)
{
	struct client_args *a = arg;
	char byte;
	int fd;

	if (become(a->uid, a->gid))
		return 125;
	if (a->chmod_to)
		return chmod(a->path, a->chmod_to) ? errno : 0;
	fd = open(a->path, a->flags);
	if (fd < 0)
		return errno;
	if (pread(fd, &byte, 1, 0) != 1) {
		close(fd);
		return errno ? errno : EIO;
	}
	close(fd);
	return 0;
}

/*
 * /etc/fuse.conf and /dev/fuse as found: the test changes both and must
 * put them back whatever happens, and never rewrites fuse.conf without a
 * copy of it in hand.
 */
struct machine {
	bool saved;
	bool conf_existed;
	char *conf;
	mode_t conf_mode;
	mode_t fuse_mode;
};

static int save_machine(struct machine *m)
{
	struct stat st;

	memset(m, 0, sizeof(*m));
	if (stat("/dev/fuse", &st))
		return -errno;
	m->fuse_mode = st.st_mode & 07777;
	if (stat(FUSE_CONF, &st) == 0) {
		m->conf_existed = true;
		m->conf_mode = st.st_mode & 07777;
		m->conf = fue_slurp(FUSE_CONF);
		if (!m->conf)
			return -EIO;
	} else if (errno != ENOENT) {
		return -errno;
	}
	m->saved = true;
	return 0;
}

static int write_conf(const char *text, mode_t mode)
{
	size_t len = strlen(text);
	int fd, ret = 0;

	fd = open(FUSE_CONF, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return -errno;
	if (write(fd, text, len) != (ssize_t)len)
		ret = -EIO;
	if (fchmod(fd, mode))
		ret = -errno;
	if (close(fd))
		ret = -errno;
	return ret;
}

static void restore_machine(struct machine *m)
{
	char *now;

	if (!m->saved)
		return;
	chmod("/dev/fuse", m->fuse_mode);
	now = fue_slurp(FUSE_CONF);
	if (m->conf_existed) {
		if ((!now || strcmp(now, m->conf)) &&
		    write_conf(m->conf, m->conf_mode))
			fprintf(stderr, "# could not restore %s\n", FUSE_CONF);
	} else if (now && unlink(FUSE_CONF)) {
		fprintf(stderr, "# could not remove %s\n", FUSE_CONF);
	}
	free(now);
}

/* What main() found, put back at exit even after a test was killed. */
static struct machine at_start;
static pid_t main_pid;

static void restore_at_exit(void)
{
	if (getpid() == main_pid)
		restore_machine(&at_start);
}

FIXTURE(nonroot) {
	struct fue_export e;
	const char *skip;
	/* The daemon's copy that nobody runs, in the test's directory. */
	char daemon[PATH_MAX];
	char why[PATH_MAX + 128];
	struct machine m;
	uid_t owner_uid, other_uid;
	gid_t owner_gid, other_gid;
	/* The kernel offers the ring: an unprivileged export must use it. */
	bool ring;
	/* kernel.io_uring_disabled as found, while a test has changed it. */
	char uring_disabled_was[16];
	/* fusectl mounted by the test, for the daemon's own abort. */
	bool fusectl_lent;
};

#define IO_URING_DISABLED "/proc/sys/kernel/io_uring_disabled"

static void restore_uring_disabled(struct _test_data_nonroot *self)
{
	if (!self->uring_disabled_was[0])
		return;
	if (fue_write_word(IO_URING_DISABLED, self->uring_disabled_was))
		fue_log("could not put %s back to %s", IO_URING_DISABLED,
			self->uring_disabled_was);
	self->uring_disabled_was[0] = '\0';
}

/* Only once the original is in hand. */
static int set_user_allow_other(struct _test_data_nonroot *self, bool on)
{
	if (!self->m.saved)
		return -EPERM;
	return write_conf(on ? "# written by nonroot_test for its duration\nuser_allow_other\n" :
			       "# written by nonroot_test for its duration\n",
			  0644);
}

static bool io_uring_allowed_to_all(void)
{
	char val[16];

	return fue_read_word("/proc/sys/kernel/io_uring_disabled", val,
			     sizeof(val)) || !strcmp(val, "0");
}

/* In a bounded child: can the user run path?  0 or errno. */
static int exec_access_as_user(void *arg)
{
	struct client_args *a = arg;

	if (become(a->uid, a->gid))
		return 125;
	return access(a->path, X_OK) ? errno : 0;
}

static int copy_file(const char *from, const char *to, mode_t mode)
{
	char buf[65536];
	int in, out, ret = 0;
	ssize_t n;

	in = open(from, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return -errno;
	out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (out < 0) {
		ret = -errno;
		close(in);
		return ret;
	}
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, n) != n) {
			ret = -EIO;
			break;
		}
	if (n < 0)
		ret = -errno;
	close(in);
	if (close(out) && !ret)
		ret = -errno;
	if (!ret && chmod(to, mode))
		ret = -errno;
	return ret;
}

/*
 * The daemon built in a tree under a directory only its owner may enter
 * (a home directory, a mktemp -d) is out of nobody's reach: run a copy
 * in the test's own 0755 directory, removed with it.  Returns NULL, or
 * why nobody cannot run it even there (self->why).
 */
static const char *stage_daemon(struct _test_data_nonroot *self,
				const char *src)
{
	struct client_args *a;
	int ret;

	snprintf(self->daemon, sizeof(self->daemon), "%s/fuse-uring-export",
		 self->e.dir);
	ret = copy_file(src, self->daemon, 0755);
	if (ret) {
		snprintf(self->why, sizeof(self->why), "cannot copy %s to %s: %s",
			 src, self->daemon, strerror(-ret));
		return self->why;
	}
	a = fue_shared_alloc(sizeof(*a));
	if (!a)
		return "out of memory";
	a->uid = self->owner_uid;
	a->gid = self->owner_gid;
	a->path = self->daemon;
	ret = fue_in_child(exec_access_as_user, a, FUE_IO_TIMEOUT_MS);
	fue_shared_free(a, sizeof(*a));
	if (ret) {
		snprintf(self->why, sizeof(self->why),
			 "user nobody cannot run %s (%s): a directory above it is closed to others; set TMPDIR to one that is not",
			 self->daemon, ret > 0 ? strerror(ret) : "no answer");
		return self->why;
	}
	return NULL;
}

FIXTURE_SETUP(nonroot)
{
	struct passwd *owner, *other;

	/*
	 * Only note the reason: older harnesses run the body after a
	 * SKIP() here, so each body skips itself.
	 */
	self->skip = fue_check_env();
	if (!self->skip && access("/usr/bin/fusermount3", X_OK) &&
	    access("/bin/fusermount3", X_OK))
		self->skip = "fusermount3 is missing (install fuse3)";
	if (self->skip)
		return;
	/*
	 * Turns enable_uring on if it is off; the program puts it back.
	 * kernel.io_uring_disabled other than 0 refuses nobody io_uring.
	 */
	self->ring = !fue_check_uring() && io_uring_allowed_to_all();
	owner = getpwnam("nobody");
	ASSERT_NE(NULL, owner);
	self->owner_uid = owner->pw_uid;
	self->owner_gid = owner->pw_gid;
	other = getpwnam("daemon");
	ASSERT_NE(NULL, other);
	self->other_uid = other->pw_uid;
	self->other_gid = other->pw_gid;

	ASSERT_EQ(0, fue_init(&self->e));
	/* The unprivileged daemon must reach its image and mountpoint. */
	ASSERT_EQ(0, chmod(self->e.dir, 0755));
	ASSERT_EQ(0, fue_make_image(self->e.image, IMAGE_SIZE));
	ASSERT_EQ(0, close(open(self->e.mnt, O_CREAT | O_WRONLY, 0644)));
	ASSERT_EQ(0, chown(self->e.image, self->owner_uid, self->owner_gid));
	ASSERT_EQ(0, chown(self->e.mnt, self->owner_uid, self->owner_gid));
	self->skip = stage_daemon(self, fue_bin());
	if (self->skip)
		return;

	ASSERT_EQ(0, save_machine(&self->m));
	ASSERT_EQ(0, chmod("/dev/fuse", 0666));
}

FIXTURE_TEARDOWN(nonroot)
{
	char *text, *line, *save = NULL;

	restore_uring_disabled(self);
	/* Only a daemon that is our child is signalled (fue_stop()). */
	fue_stop(&self->e);
	if (self->e.dir[0])
		fue_unmount_all(self->e.mnt, true);
	fue_fusectl_give_back(self->fusectl_lent);
	restore_machine(&self->m);
	free(self->m.conf);
	text = self->e.dir[0] ? fue_slurp(self->e.errlog) : NULL;
	for (line = text ? strtok_r(text, "\n", &save) : NULL; line;
	     line = strtok_r(NULL, "\n", &save))
		fprintf(stderr, "# daemon: %s\n", line);
	free(text);
	/* Scans the daemon's stderr for sanitizer reports. */
	fue_teardown(&self->e);
}

/* The pid's parent, from /proc/PID/stat; -1 if unknown. */
static pid_t parent_of(pid_t pid)
{
	char path[64], *text, *p;
	int ppid = -1;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	text = fue_slurp(path);
	if (!text)
		return -1;
	p = strrchr(text, ')');
	if (!p || sscanf(p + 1, " %*c %d", &ppid) != 1)
		ppid = -1;
	free(text);
	return ppid;
}

static int start_nobody(struct _test_data_nonroot *self, const char *opt)
{
	struct start_args *a = fue_shared_alloc(sizeof(*a));
	char pidfile[PATH_MAX + 32], arg_pid[PATH_MAX + 48];
	char *text;
	int ret, i = 0;
	pid_t pid;

	snprintf(pidfile, sizeof(pidfile), "%s/nobody.pid", self->e.dir);
	snprintf(arg_pid, sizeof(arg_pid), "--pidfile=%s", pidfile);
	/*
	 * The daemon detaches: adopt it, so that it is ours to signal, and
	 * let the watchdog remove it should this test be killed.
	 */
	if (!a || fue_claim(&self->e, self->e.mnt))
		return -ENOMEM;
	/* nobody cannot write into a root-owned 0755 directory. */
	chmod(self->e.dir, 0777);
	a->uid = self->owner_uid;
	a->gid = self->owner_gid;
	a->errlog = self->e.errlog;
	a->argv[i++] = self->daemon;
	a->argv[i++] = "--daemonize";
	a->argv[i++] = arg_pid;
	a->argv[i++] = "--writable";
	a->argv[i++] = opt;
	a->argv[i++] = self->e.image;
	a->argv[i++] = self->e.mnt;
	a->argv[i] = NULL;
	ret = fue_in_child(start_as_user, a, FUE_START_TIMEOUT_MS);
	fue_shared_free(a, sizeof(*a));
	chmod(self->e.dir, 0755);
	if (ret)
		return ret;
	text = fue_slurp(pidfile);
	if (!text)
		return -ENOENT;
	pid = (pid_t)atoi(text);
	free(text);
	if (pid <= 0 || parent_of(pid) != getpid())
		return -ESRCH;
	self->e.pid = pid;
	self->e.exited = false;
	snprintf(self->e.mounted_on, sizeof(self->e.mounted_on), "%s",
		 self->e.mnt);
	self->e.has_conn = fue_mount_info(self->e.mnt, &self->e.conn, NULL,
					  0) > 0;
	fue_watch(&self->e);
	return 0;
}

/*
 * The transport the export serves over: the ring whenever the kernel
 * offers it, root or not, and the requests so far came over it.  Where
 * the kernel offers buffer pools (the qid lines count zero copy), the
 * kernel refused nobody's zero-copy queues and the daemon said why, once.
 */
static void expect_transport(struct __test_metadata *_metadata,
			     struct _test_data_nonroot *self)
{
	struct fue_stats *s = malloc(sizeof(*s));
	const char *refused = "zero copy off: the kernel refused a zero-copy queue; it needs CAP_SYS_ADMIN";
	char *dump = NULL, *log, *p;
	int said = 0;

	ASSERT_NE(NULL, s);
	ASSERT_EQ(0, fue_request_stats_dump(&self->e, &dump));
	ASSERT_EQ(0, fue_parse_stats(dump, s));
	EXPECT_STREQ(self->ring ? "ring" : "/dev/fuse", s->transport);
	if (self->ring)
		EXPECT_LT(0ULL, s->ring)
			TH_LOG("no request came over the ring");
	if (self->ring && strstr(dump, " zero_copy_reads=")) {
		for (p = strstr(dump, " zero_copy_"); p;
		     p = strstr(p + 1, " zero_copy_"))
			EXPECT_EQ(0, atoi(strchr(p, '=') + 1)) TH_LOG("%s", dump);
		log = fue_slurp(self->e.errlog);
		ASSERT_NE(NULL, log);
		for (p = strstr(log, refused); p; p = strstr(p + 1, refused))
			said++;
		EXPECT_EQ(1, said) TH_LOG("%s", log);
		free(log);
	}
	free(dump);
	free(s);
}

/* SIGTERM: README says the daemon unmounts and exits 0. */
static void stop_clean(struct __test_metadata *_metadata,
		       struct _test_data_nonroot *self)
{
	expect_clean_exit(_metadata, &self->e);
	EXPECT_EQ(0, fue_mount_info(self->e.mnt, NULL, NULL, 0));
}

static int as_user(uid_t uid, gid_t gid, const char *path, int flags,
		   mode_t chmod_to)
{
	struct client_args *a = fue_shared_alloc(sizeof(*a));
	int ret;

	a->uid = uid;
	a->gid = gid;
	a->path = path;
	a->flags = flags;
	a->chmod_to = chmod_to;
	ret = fue_in_child(client_as_user, a, FUE_IO_TIMEOUT_MS);
	fue_shared_free(a, sizeof(*a));
	return ret;
}

/* Mounted by fusermount3 as nobody; only nobody gets in. */
TEST_F(nonroot, owner_only_without_allow_other)
{
	unsigned int conn;
	char fstype[64];

	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_EQ(0, set_user_allow_other(self, false));
	ASSERT_EQ(0, start_nobody(self, "--allow-other=auto"));
	ASSERT_EQ(1, fue_mount_info(self->e.mnt, &conn, fstype,
				    sizeof(fstype)));
	EXPECT_STREQ("fuse.fuse-uring-export", fstype);

	EXPECT_EQ(0, as_user(self->owner_uid, self->owner_gid, self->e.mnt,
			     O_RDONLY, 0));
	EXPECT_EQ(EACCES, as_user(self->other_uid, self->other_gid,
				  self->e.mnt, O_RDONLY, 0));
	/* Other users' bits mean nothing without allow_other. */
	EXPECT_EQ(EPERM, as_user(self->owner_uid, self->owner_gid,
				 self->e.mnt, 0, 0644));
	expect_transport(_metadata, self);

	stop_clean(_metadata, self);
}

/*
 * A kernel tree under a directory only its owner may enter: the daemon
 * built there still serves nobody, from its staged copy.
 */
TEST_F(nonroot, daemon_built_under_a_private_directory)
{
	char private[PATH_MAX], built[PATH_MAX + 32];

	if (self->skip)
		SKIP(return, "%s", self->skip);
	snprintf(private, sizeof(private), "%s/home", self->e.dir);
	snprintf(built, sizeof(built), "%s/fuse-uring-export", private);
	ASSERT_EQ(0, mkdir(private, 0700));
	ASSERT_EQ(0, copy_file(fue_bin(), built, 0755));
	ASSERT_EQ(NULL, stage_daemon(self, built));
	ASSERT_EQ(0, set_user_allow_other(self, false));
	ASSERT_EQ(0, start_nobody(self, "--allow-other=off"));
	EXPECT_EQ(0, as_user(self->owner_uid, self->owner_gid, self->e.mnt,
			     O_RDONLY, 0));
	stop_clean(_metadata, self);
}

/* With user_allow_other, auto turns allow_other on; modes then decide. */
TEST_F(nonroot, other_users_with_allow_other)
{
	struct fue_export *e = &self->e;
	char *buf = malloc(IMAGE_SIZE);

	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_NE(NULL, buf);
	ASSERT_EQ(0, set_user_allow_other(self, true));
	ASSERT_EQ(0, start_nobody(self, "--allow-other=auto"));

	/* 0600 owned by nobody: the other user is refused by the mode. */
	EXPECT_EQ(EACCES, as_user(self->other_uid, self->other_gid, e->mnt,
				  O_RDONLY, 0));
	EXPECT_EQ(0, as_user(self->owner_uid, self->owner_gid, e->mnt, 0,
			     0644));
	EXPECT_EQ(0, as_user(self->other_uid, self->other_gid, e->mnt,
			     O_RDONLY, 0));
	/* And the bytes are the image's. */
	EXPECT_EQ(IMAGE_SIZE, fue_read_all(e->mnt, buf, IMAGE_SIZE));
	EXPECT_EQ(-1, fue_check_pattern(buf, IMAGE_SIZE, 0));
	free(buf);
	expect_transport(_metadata, self);

	stop_clean(_metadata, self);
}

/* --allow-other=on without user_allow_other: fusermount3 refuses, cleanly. */
TEST_F(nonroot, allow_other_on_refused)
{
	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_EQ(0, set_user_allow_other(self, false));
	/* A start-up failure: exit 1, as README says. */
	EXPECT_EQ(1, start_nobody(self, "--allow-other=on"));
	EXPECT_EQ(0, fue_mount_info(self->e.mnt, NULL, NULL, 0));
}

/*
 * kernel.io_uring_disabled=1 refuses io_uring to users outside
 * io_uring_group (EPERM): the daemon as nobody must refuse at start with
 * one line naming the setting, before it mounts anything.  The setting
 * is put back at once, since it holds for the whole machine.
 */
TEST_F(nonroot, io_uring_disabled_refuses_at_start)
{
	char was[16], *text;
	int ret;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	if (fue_read_word(IO_URING_DISABLED, was, sizeof(was)))
		SKIP(return, "no %s on this kernel", IO_URING_DISABLED);
	if (strcmp(was, "0"))
		SKIP(return, "%s is %s already", IO_URING_DISABLED, was);
	ASSERT_EQ(0, set_user_allow_other(self, false));
	snprintf(self->uring_disabled_was, sizeof(self->uring_disabled_was),
		 "%s", was);
	ASSERT_EQ(0, fue_write_word(IO_URING_DISABLED, "1"));
	ret = start_nobody(self, "--allow-other=auto");
	restore_uring_disabled(self);
	EXPECT_EQ(1, ret);
	EXPECT_EQ(0, fue_mount_info(self->e.mnt, NULL, NULL, 0));
	text = fue_slurp(self->e.errlog);
	ASSERT_NE(NULL, text);
	EXPECT_EQ(1, fue_count_lines(text)) TH_LOG("%s", text);
	EXPECT_NE(NULL, strstr(text, "io_uring_disabled")) TH_LOG("%s", text);
	free(text);
}

/* What a client as nobody saw, in shared memory. */
struct holder {
	volatile int opened;
	volatile int reads;
	volatile int err;
};

/*
 * As nobody, hold the export open and read it every few milliseconds
 * until a read fails; the errno is left in @h.  Bounded by its caller.
 */
static pid_t hold_open(struct _test_data_nonroot *self, struct holder *h)
{
	pid_t pid = fork();
	char byte;
	int fd;

	if (pid)
		return pid;
	if (become(self->owner_uid, self->owner_gid))
		_exit(125);
	fd = open(self->e.mnt, O_RDONLY);
	if (fd < 0) {
		h->err = errno;
		_exit(1);
	}
	h->opened = 1;
	for (;;) {
		if (pread(fd, &byte, 1, 0) != 1) {
			h->err = errno ? errno : EIO;
			_exit(0);
		}
		h->reads++;
		usleep(5000);
	}
}

/*
 * The kernel gives a connection's fusectl abort file to the user who
 * mounted it (mode 0200, in a 0500 directory of theirs), so a daemon run
 * as nobody through fusermount3 can abort its own connection: a file held
 * open then cannot keep it serving past a second signal, or past the
 * grace period after the first.
 */
static void nobody_aborts(struct __test_metadata *_metadata,
			  struct _test_data_nonroot *self, bool twice)
{
	struct holder *h = fue_shared_alloc(sizeof(*h));
	char path[64];
	long long signalled_ms;
	struct stat st;
	int i, status, reads;
	pid_t holder;

	ASSERT_NE(NULL, h);
	ASSERT_EQ(0, fue_fusectl_borrow(&self->fusectl_lent));
	ASSERT_EQ(0, set_user_allow_other(self, false));
	ASSERT_EQ(0, start_nobody(self, "--allow-other=auto"));
	ASSERT_TRUE(self->e.has_conn);
	snprintf(path, sizeof(path), "/sys/fs/fuse/connections/%u/abort",
		 self->e.conn);
	ASSERT_EQ(0, stat(path, &st));
	EXPECT_EQ(self->owner_uid, st.st_uid);
	EXPECT_EQ(0200, st.st_mode & 07777);

	holder = hold_open(self, h);
	ASSERT_LT(0, holder);
	for (i = 0; i < 500 && h->reads < 3 && !h->err; i++)
		usleep(10000);
	ASSERT_LE(3, h->reads) TH_LOG("client as nobody: %s",
				      strerror(h->err));
	expect_transport(_metadata, self);

	signalled_ms = fue_now_ms();
	ASSERT_EQ(0, kill(self->e.pid, SIGTERM));
	if (twice) {
		/* Once the first is taken; two pending merge into one. */
		usleep(300 * 1000);
		ASSERT_EQ(0, kill(self->e.pid, SIGTERM));
	} else {
		/* The held file is served through the grace period. */
		reads = h->reads;
		usleep(GRACE_MS / 2 * 1000);
		EXPECT_LT(reads, h->reads)
			TH_LOG("the held file was not served after one signal: %s",
			       strerror(h->err));
	}
	/* Twice: at once; once: after the 2 s grace, not before. */
	EXPECT_TRUE(fue_wait_exit(&self->e, twice ? 1500 : 5000))
		TH_LOG("daemon as nobody still serving a held file");
	if (!twice)
		EXPECT_LE(GRACE_MS, fue_now_ms() - signalled_ms)
			TH_LOG("one signal ended the export before its grace period");
	EXPECT_TRUE(self->e.exited && WIFEXITED(self->e.status) &&
		    WEXITSTATUS(self->e.status) == 0)
		TH_LOG("daemon wait status %#x", self->e.status);

	for (i = 0; i < 300 && !h->err; i++)
		usleep(10000);
	EXPECT_TRUE(h->err == ECONNABORTED || h->err == ENOTCONN)
		TH_LOG("client: %s after %d reads",
		       h->err ? strerror(h->err) : "still reading", h->reads);
	kill(holder, SIGKILL);
	EXPECT_EQ(holder, waitpid(holder, &status, 0));
	EXPECT_EQ(0, fue_mount_info(self->e.mnt, NULL, NULL, 0));
	for (i = 0; i < 300 && fue_conn_exists(self->e.conn); i++)
		usleep(10000);
	EXPECT_FALSE(fue_conn_exists(self->e.conn));
	fue_shared_free(h, sizeof(*h));
}

TEST_F(nonroot, sigterm_twice_aborts_held_file)
{
	if (self->skip)
		SKIP(return, "%s", self->skip);
	nobody_aborts(_metadata, self, true);
}

TEST_F(nonroot, grace_ends_with_abort_of_held_file)
{
	if (self->skip)
		SKIP(return, "%s", self->skip);
	nobody_aborts(_metadata, self, false);
}

int main(int argc, char **argv)
{
	const char *why = fue_check_env();

	if (why)
		ksft_exit_skip("%s\n", why);
	main_pid = getpid();
	if (save_machine(&at_start))
		ksft_exit_fail_msg("cannot save %s and the mode of /dev/fuse\n",
				   FUSE_CONF);
	atexit(restore_at_exit);
	return test_harness_run(argc, argv);
}
