// SPDX-License-Identifier: GPL-2.0
/*
 * One memcheck cycle of the daemon: started in the foreground under
 * valgrind, mixed reads and writes from every CPU, then ended by an
 * unmount from outside.  valgrind must report no error and no definite
 * leak (its exit status, --error-exitcode, says so).
 *
 * Not part of the default run (valgrind makes it slow and it cannot run
 * a make SANITIZE=1 daemon); .ci/run runs it with
 * make -C selftests run_tests TESTS=memcheck_test.
 *
 * valgrind 3.19 keeps its big lock while a thread blocks in
 * io_uring_enter, and every queue thread spends its idle time there.  So:
 *  - --queues=1: with two queue threads the first one to block would keep
 *    the second from ever registering its ring entries, and the kernel
 *    uses the ring only once every queue has them, so nothing would be
 *    served; one thread serves every kernel queue instead;
 *  - the cycle ends with umount, not SIGTERM: the main thread, which
 *    takes the signals, cannot run while the queue thread waits in the
 *    kernel, but an unmount completes that wait (-ENOTCONN or -ENODEV)
 *    and the daemon then exits 0 by itself.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fue_harness.h"

#define TIMEOUT_S	200
#define IMAGE_SIZE	(16 << 20)
/* Everything is 20-50 times slower under memcheck. */
#define SERVE_TIMEOUT_MS	60000
#define EXIT_TIMEOUT_MS		120000
#define LOAD_OPS		2000
#define VALGRIND_ERROR_EXIT	99

static char valgrind_path[PATH_MAX];

/* A make SANITIZE=1 daemon carries the ASan runtime's entry point. */
static bool daemon_is_sanitized(void)
{
	static const char mark[] = "__asan_init";
	const size_t mlen = sizeof(mark) - 1;
	char buf[65536];
	size_t keep = 0, have;
	bool found = false;
	ssize_t n;
	int fd;

	fd = open(fue_bin(), O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	while ((n = read(fd, buf + keep, sizeof(buf) - keep)) > 0) {
		have = keep + n;
		if (memmem(buf, have, mark, mlen)) {
			found = true;
			break;
		}
		/* Keep the tail: a mark may straddle two reads. */
		keep = have < mlen ? have : mlen;
		memmove(buf, buf + have - keep, keep);
	}
	close(fd);
	return found;
}

FIXTURE(memcheck) {
	struct fue_export e;
	const char *skip;
	struct fue_load *load;
	char vglog[PATH_MAX];
};

FUE_TRANSPORT_VARIANTS(memcheck);

FIXTURE_SETUP(memcheck)
{
	self->skip = fue_setup_skip(variant->ring);
	if (self->skip)
		return;
	ASSERT_EQ(0, fue_init(&self->e));
	snprintf(self->vglog, sizeof(self->vglog), "%s/valgrind.log",
		 self->e.dir);
}

FIXTURE_TEARDOWN(memcheck)
{
	fue_load_stop(self->load, 2000);
	/* SIGTERM cannot get through (see above); this aborts instead. */
	fue_teardown(&self->e);
	fue_load_free(self->load);
}

TEST_F_TIMEOUT(memcheck, mixed_io_then_umount, TIMEOUT_S)
{
	char logopt[PATH_MAX + 16], errcode[32];
	const char *wrapper[] = {
		valgrind_path, "--leak-check=full",
		"--errors-for-leak-kinds=definite", errcode, logopt, NULL
	};
	const char *args[] = {
		variant->transport, "--writable", "--stats", "--queues=1",
		self->e.image, self->e.mnt, NULL
	};
	char buf[256 << 10], *text, *summary, *leaks;
	int ret;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	snprintf(logopt, sizeof(logopt), "--log-file=%s", self->vglog);
	snprintf(errcode, sizeof(errcode), "--error-exitcode=%d",
		 VALGRIND_ERROR_EXIT);
	ASSERT_EQ(0, fue_make_image(self->e.image, IMAGE_SIZE));
	ASSERT_EQ(0, fue_make_mountpoint(self->e.mnt));
	self->e.watchdog_s = TIMEOUT_S;
	ASSERT_EQ(0, fue_spawn(&self->e, wrapper, args, self->e.mnt));
	ret = fue_wait_mounted(&self->e, SERVE_TIMEOUT_MS);
	if (ret) {
		fue_dump_file("daemon", self->e.errlog);
		fue_dump_file("valgrind", self->vglog);
	}
	ASSERT_EQ(0, ret);

	/* Readers and writers pinned to every CPU: every kernel queue. */
	self->load = fue_load_start(self->e.mnt, 0, IMAGE_SIZE, 4096, 0,
				    FUE_LOAD_WRITERS | FUE_LOAD_VERIFY);
	ASSERT_NE(NULL, self->load);
	EXPECT_TRUE(fue_load_wait_ops(self->load, LOAD_OPS, SERVE_TIMEOUT_MS))
		TH_LOG("only %ld operations", fue_load_ops(self->load));
	EXPECT_TRUE(fue_load_stop(self->load, 10000));
	EXPECT_EQ(0, fue_load_errors(self->load));
	EXPECT_EQ(0, fue_load_bad(self->load));
	/* And large requests, which fill whole ring entries. */
	fue_fill_pattern(buf, sizeof(buf), 1 << 20);
	EXPECT_EQ(sizeof(buf), fue_pwrite(self->e.mnt, O_WRONLY, buf,
					  sizeof(buf), 1 << 20));
	memset(buf, 0, sizeof(buf));
	EXPECT_EQ(sizeof(buf), fue_pread(self->e.mnt, O_RDONLY, buf,
					 sizeof(buf), 1 << 20));
	EXPECT_EQ(-1, fue_check_pattern(buf, sizeof(buf), 1 << 20));

	/* umount(8) from outside: the daemon exits 0 by itself. */
	ASSERT_EQ(0, umount2(self->e.mnt, 0));
	if (!fue_wait_exit(&self->e, EXIT_TIMEOUT_MS)) {
		fue_dump_file("valgrind", self->vglog);
		ASSERT_TRUE(false) TH_LOG("still running %d ms after umount",
					  EXIT_TIMEOUT_MS);
	}
	if (!WIFEXITED(self->e.status) || WEXITSTATUS(self->e.status)) {
		fue_dump_file("daemon", self->e.errlog);
		fue_dump_file("valgrind", self->vglog);
	}
	EXPECT_TRUE(WIFEXITED(self->e.status))
		TH_LOG("killed by signal %d", WTERMSIG(self->e.status));
	EXPECT_NE(VALGRIND_ERROR_EXIT, WEXITSTATUS(self->e.status))
		TH_LOG("valgrind found errors or definite leaks");
	EXPECT_EQ(0, WEXITSTATUS(self->e.status));

	/* Proof that memcheck really ran, and what it concluded. */
	text = fue_slurp(self->vglog);
	ASSERT_NE(NULL, text);
	summary = strstr(text, "ERROR SUMMARY: ");
	ASSERT_NE(NULL, summary) fue_dump_file("valgrind", self->vglog);
	TH_LOG("%.*s", (int)strcspn(summary, "\n"), summary);
	EXPECT_EQ(0, strncmp(summary, "ERROR SUMMARY: 0 errors", 23));
	leaks = strstr(text, "definitely lost: ");
	if (leaks)
		TH_LOG("%.*s", (int)strcspn(leaks, "\n"), leaks);
	free(text);
}

int main(int argc, char **argv)
{
	const char *why = fue_check_env();
	const char *vg = getenv("FUE_VALGRIND");

	if (why)
		ksft_exit_skip("%s\n", why);
	if (!fue_which(vg && vg[0] ? vg : "valgrind", valgrind_path,
		       sizeof(valgrind_path)))
		ksft_exit_skip("valgrind not found (install valgrind, or set FUE_VALGRIND)\n");
	if (daemon_is_sanitized())
		ksft_exit_skip("%s is built with SANITIZE=1; valgrind cannot run it\n",
			       fue_bin());
	return test_harness_run(argc, argv);
}
