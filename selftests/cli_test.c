// SPDX-License-Identifier: GPL-2.0
/*
 * Command line tests: every bad input is refused with one line on stderr
 * and a non-zero exit, without touching the image and without leaving a
 * mount behind; --help and --version answer on stdout.
 *
 * The daemon runs in the foreground here, so a bad input that is wrongly
 * accepted shows up as a run that does not end; it is then stopped after
 * RUN_TIMEOUT_MS and the test fails.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/fs.h>

#include "fue_harness.h"

#define TIMEOUT_S	60
#define RUN_TIMEOUT_MS	5000
#define IMAGE_SIZE	(1 << 20)
#define PREFIX		"fuse-uring-export: "

/* Placeholders in argument lists, replaced by the fixture's paths. */
#define P_IMG		"@IMG"
#define P_MNT		"@MNT"
#define P_DIR		"@DIR"
#define P_NOENT		"@NOENT"

FIXTURE(cli) {
	struct fue_export e;
	const char *skip;
	uint64_t sum;
	char noent[PATH_MAX];
	char image2[PATH_MAX];
	int loop_fd;
	char loop_dev[64];
	bool immutable;
};

/* Set or clear FS_IMMUTABLE_FL; 0 or -errno (e.g. -ENOTTY if unsupported). */
static int set_immutable(const char *path, bool on)
{
	int fd, flags, ret = 0;

	fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (ioctl(fd, FS_IOC_GETFLAGS, &flags) < 0) {
		ret = -errno;
		goto out;
	}
	flags = on ? flags | FS_IMMUTABLE_FL : flags & ~FS_IMMUTABLE_FL;
	if (ioctl(fd, FS_IOC_SETFLAGS, &flags) < 0)
		ret = -errno;
out:
	close(fd);
	return ret;
}

FIXTURE_SETUP(cli)
{
	self->loop_fd = -1;
	self->skip = fue_check_env();
	if (self->skip)
		return;
	ASSERT_EQ(0, fue_init(&self->e));
	ASSERT_EQ(0, fue_make_image(self->e.image, IMAGE_SIZE));
	ASSERT_EQ(0, fue_make_mountpoint(self->e.mnt));
	ASSERT_EQ(0, fue_file_checksum(self->e.image, 0, -1, &self->sum));
	snprintf(self->noent, sizeof(self->noent), "%s/missing", self->e.dir);
	snprintf(self->image2, sizeof(self->image2), "%s/image2", self->e.dir);
}

FIXTURE_TEARDOWN(cli)
{
	fue_teardown(&self->e);
	if (self->immutable)
		set_immutable(self->e.image, false);
	if (self->loop_fd >= 0)
		fue_loop_detach(self->loop_fd);
}

/* Run the daemon with tmpl, placeholders replaced; returns its exit code. */
static int run(FIXTURE_DATA(cli) *self, const char *const *tmpl)
{
	const char *args[32];
	int i;

	for (i = 0; tmpl[i] && i < 31; i++) {
		if (!strcmp(tmpl[i], P_IMG))
			args[i] = self->e.image;
		else if (!strcmp(tmpl[i], P_MNT))
			args[i] = self->e.mnt;
		else if (!strcmp(tmpl[i], P_DIR))
			args[i] = self->e.dir;
		else if (!strcmp(tmpl[i], P_NOENT))
			args[i] = self->noent;
		else
			args[i] = tmpl[i];
	}
	args[i] = NULL;
	return fue_run(&self->e, args, RUN_TIMEOUT_MS);
}

/* Mounts under the test's directory, found without touching them. */
static int mounts_under(const char *dir)
{
	char *text = fue_slurp("/proc/self/mountinfo"), *line, *save = NULL;
	size_t len = strlen(dir);
	int n = 0;

	if (!text)
		return -1;
	for (line = strtok_r(text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char mp[PATH_MAX];

		if (sscanf(line, "%*u %*u %*s %*s %4095s", mp) == 1 &&
		    !strncmp(mp, dir, len) && (mp[len] == '/' || !mp[len]))
			n++;
	}
	free(text);
	return n;
}

/*
 * The refusal every bad input must give: exit code want (README: 2 for a
 * usage error, 1 for any other failure to start), exactly one line on
 * stderr with our prefix, no new mount and the image unchanged.
 */
static void check_refused(struct __test_metadata *_metadata,
			  FIXTURE_DATA(cli) *self, int code, int want,
			  int mounts_allowed)
{
	char *err = fue_slurp(self->e.errlog);
	uint64_t sum;

	ASSERT_NE(NULL, err);
	EXPECT_EQ(want, code);
	EXPECT_NE(-ETIMEDOUT, code) TH_LOG("the bad input was accepted");
	EXPECT_EQ(1, fue_count_lines(err)) TH_LOG("stderr: %s", err);
	EXPECT_EQ(0, strncmp(err, PREFIX, strlen(PREFIX)))
		TH_LOG("stderr: %s", err);
	if (fue_count_lines(err) == 1)
		TH_LOG("message: %.*s", (int)strcspn(err, "\n"), err);
	EXPECT_EQ(mounts_allowed, mounts_under(self->e.dir));
	ASSERT_EQ(0, fue_file_checksum(self->e.image, 0, -1, &sum));
	EXPECT_EQ(self->sum, sum);
	EXPECT_EQ(IMAGE_SIZE, fue_file_size(self->e.image));
	free(err);
}

TEST_F_TIMEOUT(cli, missing_image, TIMEOUT_S)
{
	const char *args[] = { P_NOENT, P_MNT, NULL };

	if (self->skip)
		SKIP(return, "%s", self->skip);
	check_refused(_metadata, self, run(self, args), 1, 0);
}

TEST_F_TIMEOUT(cli, image_is_directory, TIMEOUT_S)
{
	const char *args[] = { "--writable", P_DIR, P_MNT, NULL };

	if (self->skip)
		SKIP(return, "%s", self->skip);
	check_refused(_metadata, self, run(self, args), 1, 0);
}

TEST_F_TIMEOUT(cli, missing_mountpoint, TIMEOUT_S)
{
	const char *args[] = { "--writable", P_IMG, P_NOENT, NULL };

	if (self->skip)
		SKIP(return, "%s", self->skip);
	check_refused(_metadata, self, run(self, args), 1, 0);
	EXPECT_NE(0, access(self->noent, F_OK));
}

TEST_F_TIMEOUT(cli, mountpoint_is_directory, TIMEOUT_S)
{
	const char *args[] = { "--writable", P_IMG, P_DIR, NULL };

	if (self->skip)
		SKIP(return, "%s", self->skip);
	check_refused(_metadata, self, run(self, args), 1, 0);
}

TEST_F_TIMEOUT(cli, mountpoint_already_exported, TIMEOUT_S)
{
	const char *args[] = { "--writable", NULL, P_MNT, NULL };
	uint64_t sum2, sum2_after;
	char buf[4096];

	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_EQ(0, fue_make_image(self->image2, IMAGE_SIZE / 2));
	ASSERT_EQ(0, fue_file_checksum(self->image2, 0, -1, &sum2));
	ASSERT_EQ(0, fue_start(&self->e, self->e.image, self->e.mnt, NULL));
	args[1] = self->image2;
	/* fue_start's log is the same file; start the second one afresh. */
	check_refused(_metadata, self, run(self, args), 1, 1);
	EXPECT_EQ(1, fue_mount_info(self->e.mnt, NULL, NULL, 0));
	ASSERT_EQ(0, fue_file_checksum(self->image2, 0, -1, &sum2_after));
	EXPECT_EQ(sum2, sum2_after);
	/* The first export still serves its own image. */
	ASSERT_EQ(sizeof(buf), (size_t)fue_pread(self->e.mnt, O_RDONLY, buf,
						 sizeof(buf), 8192));
	EXPECT_EQ(-1, fue_check_pattern(buf, sizeof(buf), 8192));
}

TEST_F_TIMEOUT(cli, growable_block_device, TIMEOUT_S)
{
	const char *args[] = { "--writable", "--growable", NULL, P_MNT, NULL };

	if (self->skip)
		SKIP(return, "%s", self->skip);
	self->loop_fd = fue_loop_attach(self->e.image, self->loop_dev,
					sizeof(self->loop_dev));
	if (self->loop_fd < 0)
		SKIP(return, "no loop device: %s", strerror(-self->loop_fd));
	args[2] = self->loop_dev;
	check_refused(_metadata, self, run(self, args), 1, 0);
}

TEST_F_TIMEOUT(cli, writable_on_immutable_image, TIMEOUT_S)
{
	const char *args[] = { "--writable", P_IMG, P_MNT, NULL };
	int ret;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	/* Root opens a mode 0444 file for writing anyway; +i stops even root. */
	ret = set_immutable(self->e.image, true);
	if (ret)
		SKIP(return, "cannot make the image immutable: %s",
		     strerror(-ret));
	self->immutable = true;
	check_refused(_metadata, self, run(self, args), 1, 0);
}

TEST_F_TIMEOUT(cli, daemonize_reports_failure, TIMEOUT_S)
{
	char pidopt[PATH_MAX + 16], pidfile[PATH_MAX];
	const char *args[] = { "--daemonize", pidopt, P_NOENT, P_MNT, NULL };

	if (self->skip)
		SKIP(return, "%s", self->skip);
	snprintf(pidfile, sizeof(pidfile), "%s/pid", self->e.dir);
	snprintf(pidopt, sizeof(pidopt), "--pidfile=%s", pidfile);
	/* The launcher must wait for the verdict, not detach and exit 0. */
	check_refused(_metadata, self, run(self, args), 1, 0);
	EXPECT_NE(0, access(pidfile, F_OK));
}

/* README: "ramfs has no O_DIRECT, so --direct on it fails, saying so." */
TEST_F_TIMEOUT(cli, direct_on_a_store_without_o_direct, TIMEOUT_S)
{
	char store[PATH_MAX], image[PATH_MAX + 8], *err;
	const char *args[] = { "--direct", image, P_MNT, NULL };
	int code;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	snprintf(store, sizeof(store), "%s/ramfs", self->e.dir);
	snprintf(image, sizeof(image), "%s/image", store);
	ASSERT_EQ(0, mkdir(store, 0700));
	/* The ramfs lives and dies in this test's own mount namespace. */
	ASSERT_EQ(0, unshare(CLONE_NEWNS));
	ASSERT_EQ(0, mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL));
	if (mount("ramfs", store, "ramfs", 0, NULL))
		SKIP(return, "cannot mount ramfs: %s", strerror(errno));
	ASSERT_EQ(0, fue_make_image(image, IMAGE_SIZE));
	code = run(self, args);
	err = fue_slurp(self->e.errlog);
	ASSERT_NE(NULL, err);
	EXPECT_EQ(1, code);
	EXPECT_EQ(1, fue_count_lines(err)) TH_LOG("stderr: %s", err);
	EXPECT_NE(NULL, strstr(err, ": its file system has no O_DIRECT (drop --direct)"))
		TH_LOG("stderr: %s", err);
	EXPECT_EQ(0, fue_mount_info(self->e.mnt, NULL, NULL, 0));
	free(err);
	umount2(store, MNT_DETACH);
}

/* Usage errors: exit 2, one line, nothing mounted. */

FIXTURE(usage) {
	FIXTURE_DATA(cli) cli;
};

FIXTURE_VARIANT(usage) {
	/* What the one line must name: the option, or what is missing. */
	const char *names;
	const char *args[8];
};

#define BAD(name, what, ...) \
	FIXTURE_VARIANT_ADD(usage, name) { \
		.names = what, .args = { __VA_ARGS__, NULL } \
	}

BAD(queues_zero, "--queues", "--queues=0", P_IMG, P_MNT);
BAD(queues_abc, "--queues", "--queues=abc", P_IMG, P_MNT);
BAD(queues_too_many, "--queues", "--queues=1025", P_IMG, P_MNT);
BAD(queues_negative, "--queues", "-q", "-1", P_IMG, P_MNT);
BAD(queue_depth_zero, "--queue-depth", "--queue-depth=0", P_IMG, P_MNT);
BAD(queue_depth_above_max, "--queue-depth", "--queue-depth=4097", P_IMG,
    P_MNT);
BAD(queue_depth_huge, "--queue-depth", "--queue-depth=100000", P_IMG, P_MNT);
BAD(poll_above_max, "--poll", "--poll=10001", P_IMG, P_MNT);
BAD(poll_negative, "--poll", "--poll=-1", P_IMG, P_MNT);
BAD(poll_unit, "--poll", "--poll=100us", P_IMG, P_MNT);
BAD(max_io_one, "--max-io", "--max-io=1", P_IMG, P_MNT);
BAD(max_io_above_max, "--max-io", "--max-io=16388K", P_IMG, P_MNT);
BAD(max_io_3g, "--max-io", "--max-io=3G", P_IMG, P_MNT);
BAD(max_io_suffix, "--max-io", "--max-io=1X", P_IMG, P_MNT);
BAD(unknown_long_option, "--bogus", "--bogus", P_IMG, P_MNT);
BAD(unknown_short_option, "-Z", "-Z", P_IMG, P_MNT);
BAD(io_uring_bogus, "--io-uring", "--io-uring=bogus", P_IMG, P_MNT);
BAD(allow_other_bogus, "--allow-other", "--allow-other=maybe", P_IMG, P_MNT);
BAD(pin_bogus, "--pin", "--pin=maybe", P_IMG, P_MNT);
BAD(pin_empty, "--pin", "--pin=", P_IMG, P_MNT);
BAD(fail_io_what, "--fail-io", "--fail-io=erase:0+4K", P_IMG, P_MNT);
BAD(fail_io_no_length, "--fail-io", "--fail-io=read:4K", P_IMG, P_MNT);
BAD(fail_io_zero_length, "--fail-io", "--fail-io=read:0+0", P_IMG, P_MNT);
BAD(fail_io_errno, "--fail-io", "--fail-io=rw:0+4K:EPERM", P_IMG, P_MNT);
BAD(fail_io_twice, "--fail-io", "--fail-io=read:0+4K",
    "--fail-io=write:8K+4K", P_IMG, P_MNT);
BAD(fail_completion_what, "--fail-completion",
    "--fail-completion=erase:0:EIO", P_IMG, P_MNT);
BAD(fail_completion_result, "--fail-completion",
    "--fail-completion=read:0:EPERM", P_IMG, P_MNT);
BAD(fail_completion_no_result, "--fail-completion",
    "--fail-completion=write:4K", P_IMG, P_MNT);
BAD(fail_completion_sync_0, "--fail-completion",
    "--fail-completion=sync:0:EIO", P_IMG, P_MNT);
BAD(fail_completion_sync_bytes, "--fail-completion",
    "--fail-completion=sync:1:4096", P_IMG, P_MNT);
BAD(fail_completion_five, "--fail-completion",
    "--fail-completion=read:0:EIO", "--fail-completion=read:4K:EIO",
    "--fail-completion=read:8K:EIO", "--fail-completion=read:12K:EIO",
    "--fail-completion=read:16K:EIO", P_IMG, P_MNT);
BAD(hold_sync_no_fifo, "--hold-sync", "--hold-sync=1", P_IMG, P_MNT);
BAD(hold_sync_0, "--hold-sync", "--hold-sync=0:/dev/null", P_IMG, P_MNT);
BAD(growable_without_writable, "--growable", "--growable", P_IMG, P_MNT);
BAD(value_missing, "--pidfile", P_IMG, P_MNT, "--pidfile");
BAD(no_arguments, "IMAGE", "--writable");
BAD(one_argument, "IMAGE", P_IMG);
BAD(three_arguments, "IMAGE", P_IMG, P_MNT, P_MNT);

FIXTURE_SETUP(usage)
{
	FIXTURE_DATA(cli) *cli = &self->cli;

	cli->loop_fd = -1;
	cli->skip = fue_check_env();
	if (cli->skip)
		return;
	ASSERT_EQ(0, fue_init(&cli->e));
	ASSERT_EQ(0, fue_make_image(cli->e.image, IMAGE_SIZE));
	ASSERT_EQ(0, fue_make_mountpoint(cli->e.mnt));
	ASSERT_EQ(0, fue_file_checksum(cli->e.image, 0, -1, &cli->sum));
}

FIXTURE_TEARDOWN(usage)
{
	fue_teardown(&self->cli.e);
}

TEST_F_TIMEOUT(usage, exits_2, TIMEOUT_S)
{
	char *err;

	if (self->cli.skip)
		SKIP(return, "%s", self->cli.skip);
	check_refused(_metadata, &self->cli, run(&self->cli, variant->args),
		      2, 0);
	/* README: one line naming the option and the reason. */
	err = fue_slurp(self->cli.e.errlog);
	ASSERT_NE(NULL, err);
	EXPECT_NE(NULL, strstr(err, variant->names))
		TH_LOG("the message does not name %s: %s", variant->names,
		       err);
	free(err);
}

/* The upper bounds themselves are accepted, and the export serves. */

FIXTURE(bound) {
	FIXTURE_DATA(cli) cli;
};

FIXTURE_VARIANT(bound) {
	const char *opts[4];
};

FIXTURE_VARIANT_ADD(bound, queue_depth_max) {
	/* A small --max-io keeps 4096 ring entries per queue affordable. */
	.opts = { "--queue-depth=4096", "--max-io=4K", NULL },
};

FIXTURE_VARIANT_ADD(bound, max_io_max) {
	.opts = { "--max-io=16M", NULL },
};

FIXTURE_VARIANT_ADD(bound, poll_max) {
	.opts = { "--poll=10000", NULL },
};

FIXTURE_SETUP(bound)
{
	FIXTURE_DATA(cli) *cli = &self->cli;

	cli->loop_fd = -1;
	cli->skip = fue_check_env();
	if (!cli->skip)
		ASSERT_EQ(0, fue_init(&cli->e));
}

FIXTURE_TEARDOWN(bound)
{
	fue_teardown(&self->cli.e);
}

TEST_F_TIMEOUT(bound, serves, TIMEOUT_S)
{
	struct fue_export *e = &self->cli.e;
	char *buf = malloc(IMAGE_SIZE);

	if (self->cli.skip)
		SKIP(return, "%s", self->cli.skip);
	ASSERT_NE(NULL, buf);
	ASSERT_EQ(0, fue_make_image(e->image, IMAGE_SIZE));
	ASSERT_EQ(0, fue_make_mountpoint(e->mnt));
	ASSERT_EQ(0, fue_startv(e, e->image, e->mnt, variant->opts));
	ASSERT_EQ(IMAGE_SIZE, fue_read_all(e->mnt, buf, IMAGE_SIZE));
	EXPECT_EQ(-1, fue_check_pattern(buf, IMAGE_SIZE, 0));
	expect_clean_exit(_metadata, e);
	free(buf);
}

/* --help and --version. */

FIXTURE(info) {
	FIXTURE_DATA(cli) cli;
};

FIXTURE_VARIANT(info) {
	const char *arg;
	bool help;
};

FIXTURE_VARIANT_ADD(info, h) { .arg = "-h", .help = true };
FIXTURE_VARIANT_ADD(info, help) { .arg = "--help", .help = true };
FIXTURE_VARIANT_ADD(info, V) { .arg = "-V", .help = false };
FIXTURE_VARIANT_ADD(info, version) { .arg = "--version", .help = false };

FIXTURE_SETUP(info)
{
	FIXTURE_DATA(cli) *cli = &self->cli;

	cli->loop_fd = -1;
	cli->skip = fue_check_env();
	if (!cli->skip)
		ASSERT_EQ(0, fue_init(&cli->e));
}

FIXTURE_TEARDOWN(info)
{
	fue_teardown(&self->cli.e);
}

TEST_F_TIMEOUT(info, answers_on_stdout, TIMEOUT_S)
{
	static const char *const options[] = {
		"-w,", "--writable", "-g,", "--growable", "--allow-other=",
		"--io-uring=", "-q,", "--queues=", "--queue-depth=",
		"--max-io=", "--direct", "--stats", "--daemonize",
		"--pidfile=", "-v,", "--verbose", "-h,", "--help", "-V,",
		"--version",
	};
	const char *args[] = { variant->arg, NULL };
	char *out, *err;
	unsigned int i;
	int code;

	if (self->cli.skip)
		SKIP(return, "%s", self->cli.skip);
	code = run(&self->cli, args);
	EXPECT_EQ(0, code);
	out = fue_slurp(self->cli.e.outlog);
	err = fue_slurp(self->cli.e.errlog);
	ASSERT_NE(NULL, out);
	ASSERT_NE(NULL, err);
	EXPECT_STREQ("", err);
	if (variant->help) {
		for (i = 0; i < sizeof(options) / sizeof(options[0]); i++) {
			bool found = strstr(out, options[i]);

			EXPECT_TRUE(found) TH_LOG("--help does not mention %s",
						  options[i]);
		}
		EXPECT_NE(NULL, strstr(out, "IMAGE"));
		EXPECT_NE(NULL, strstr(out, "MOUNTPOINT"));
	} else {
		EXPECT_EQ(1, fue_count_lines(out)) TH_LOG("stdout: %s", out);
		EXPECT_NE(NULL, strstr(out, "fuse-uring-export"));
		EXPECT_NE(NULL, strpbrk(out, "0123456789"));
	}
	free(out);
	free(err);
}

/*
 * Not TEST_HARNESS_MAIN: without root, /dev/fuse or the daemon nothing
 * here can run, and kselftest wants exit 4 with the reason for that.
 */
int main(int argc, char **argv)
{
	const char *why = fue_check_env();

	if (why)
		ksft_exit_skip("%s\n", why);
	return test_harness_run(argc, argv);
}
