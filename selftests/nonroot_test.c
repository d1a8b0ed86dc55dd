// SPDX-License-Identifier: GPL-2.0
/*
 * Non-root exports: the daemon run as an unprivileged user mounts through
 * fusermount3, and --allow-other decides whether other users get in.
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
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "fue_mount.h"

#define IMAGE_SIZE (4 << 20)
#define FUSE_CONF "/etc/fuse.conf"

struct start_args {
	uid_t uid;
	gid_t gid;
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
	int status;
	pid_t pid;

	if (become(a->uid, a->gid))
		return 125;
	pid = fork();
	if (pid < 0)
		return 126;
	if (pid == 0) {
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

FIXTURE(nonroot) {
	struct fue_export e;
	const char *skip;
	char conf_backup[PATH_MAX];
	bool conf_saved;
	bool conf_existed;
	mode_t fuse_mode;
	uid_t owner_uid, other_uid;
	gid_t owner_gid, other_gid;
	pid_t daemon;
};

static void save_conf(struct _test_data_nonroot *self)
{
	struct stat st;
	char cmd[PATH_MAX * 2 + 16];

	self->conf_existed = stat(FUSE_CONF, &st) == 0;
	snprintf(self->conf_backup, sizeof(self->conf_backup),
		 "%s/fuse.conf.saved", self->e.dir);
	if (self->conf_existed) {
		snprintf(cmd, sizeof(cmd), "cp -p %s %s", FUSE_CONF,
			 self->conf_backup);
		self->conf_saved = system(cmd) == 0;
	} else {
		self->conf_saved = true;
	}
}

static void restore_conf(struct _test_data_nonroot *self)
{
	char cmd[PATH_MAX * 2 + 16];

	if (!self->conf_saved)
		return;
	if (self->conf_existed) {
		snprintf(cmd, sizeof(cmd), "cp -p %s %s", self->conf_backup,
			 FUSE_CONF);
		if (system(cmd))
			fprintf(stderr, "# could not restore %s\n", FUSE_CONF);
	} else {
		unlink(FUSE_CONF);
	}
}

static void set_user_allow_other(bool on)
{
	FILE *f = fopen(FUSE_CONF, "w");

	if (!f)
		return;
	fprintf(f, "# written by nonroot_test for its duration\n%s",
		on ? "user_allow_other\n" : "");
	fclose(f);
}

/*
 * Setup only notes why the tests cannot run: a SKIP() there is followed by
 * the body on older harnesses and by no teardown on newer ones.  What must
 * be undone is done by prepare(), in the body, where every harness that
 * runs teardown after a failed ASSERT finds it half done at worst.
 */
FIXTURE_SETUP(nonroot)
{
	self->daemon = 0;
	self->conf_saved = false;
	self->fuse_mode = 0;
	self->skip = fue_check_env();
	if (!self->skip && access("/usr/bin/fusermount3", X_OK) &&
	    access("/bin/fusermount3", X_OK))
		self->skip = "fusermount3 is missing (install fuse3)";
}

static void prepare(struct __test_metadata *_metadata,
		    FIXTURE_DATA(nonroot) *self)
{
	struct passwd *owner, *other;
	struct stat st;

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

	ASSERT_EQ(0, stat("/dev/fuse", &st));
	self->fuse_mode = st.st_mode & 07777;
	ASSERT_EQ(0, chmod("/dev/fuse", 0666));
	save_conf(self);
	ASSERT_TRUE(self->conf_saved);
}

#define READY() do { \
	if (self->skip) \
		SKIP(return, "%s", self->skip); \
	prepare(_metadata, self); \
} while (0)

FIXTURE_TEARDOWN(nonroot)
{
	if (self->daemon > 0)
		kill(self->daemon, SIGTERM);
	if (self->e.dir[0])
		fue_unmount_all(self->e.mnt, true);
	if (self->daemon > 0) {
		usleep(200 * 1000);
		kill(self->daemon, SIGKILL);
	}
	if (self->fuse_mode)
		chmod("/dev/fuse", self->fuse_mode);
	restore_conf(self);
	fue_teardown(&self->e);
}

static int start_nobody(struct _test_data_nonroot *self, const char *opt)
{
	struct start_args *a = fue_shared_alloc(sizeof(*a));
	char pidfile[PATH_MAX + 32], arg_pid[PATH_MAX + 48];
	char *text;
	int ret, i = 0;

	snprintf(pidfile, sizeof(pidfile), "%s/nobody.pid", self->e.dir);
	snprintf(arg_pid, sizeof(arg_pid), "--pidfile=%s", pidfile);
	/* nobody cannot write into a root-owned 0755 directory. */
	chmod(self->e.dir, 0777);
	a->uid = self->owner_uid;
	a->gid = self->owner_gid;
	a->argv[i++] = fue_bin();
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
	self->daemon = (pid_t)atoi(text);
	free(text);
	return 0;
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

static bool wait_gone(pid_t pid, int ms)
{
	for (; ms > 0; ms -= 50) {
		if (kill(pid, 0) && errno == ESRCH)
			return true;
		usleep(50 * 1000);
	}
	return false;
}

/* Mounted by fusermount3 as nobody; only nobody gets in. */
TEST_F(nonroot, owner_only_without_allow_other)
{
	unsigned int conn;
	char fstype[64];

	READY();
	set_user_allow_other(false);
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

	ASSERT_EQ(0, kill(self->daemon, SIGTERM));
	EXPECT_TRUE(wait_gone(self->daemon, 5000));
	EXPECT_EQ(0, fue_mount_info(self->e.mnt, NULL, NULL, 0));
	self->daemon = 0;
}

/* With user_allow_other, auto turns allow_other on; modes then decide. */
TEST_F(nonroot, other_users_with_allow_other)
{
	struct fue_export *e = &self->e;
	char *buf;

	READY();
	buf = malloc(IMAGE_SIZE);
	ASSERT_NE(NULL, buf);
	set_user_allow_other(true);
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

	ASSERT_EQ(0, kill(self->daemon, SIGTERM));
	EXPECT_TRUE(wait_gone(self->daemon, 5000));
	EXPECT_EQ(0, fue_mount_info(e->mnt, NULL, NULL, 0));
	self->daemon = 0;
}

/* --allow-other=on without user_allow_other: fusermount3 refuses, cleanly. */
TEST_F(nonroot, allow_other_on_refused)
{
	READY();
	set_user_allow_other(false);
	EXPECT_NE(0, start_nobody(self, "--allow-other=on"));
	EXPECT_EQ(0, fue_mount_info(self->e.mnt, NULL, NULL, 0));
	self->daemon = 0;
}

TEST_HARNESS_MAIN
