// SPDX-License-Identifier: GPL-2.0
/*
 * The test library's own promise: a test killed at any point, as by its
 * harness' or runner's timeout, leaves no daemon, mount or directory
 * behind.  Apart from lifecycle_test, whose every case must fail on a
 * sanitizer report of its daemon (the CI canary): the daemon here runs
 * in a test that is killed, so no one is left to read its log.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fue_harness.h"

#define IMAGE_SIZE	(8 << 20)

/*
 * Its export's watchdog, in a session of its own, ends the daemon,
 * detaches the mount and removes the directory.
 */
struct killed_test {
	pid_t daemon;
	char dir[PATH_MAX];
	char mnt[PATH_MAX];
	bool serving;
};

static void killed_test_main(struct killed_test *k)
{
	struct fue_export e;
	const char *opts[] = { "--writable", NULL };

	if (fue_init(&e) || fue_start_fresh(&e, IMAGE_SIZE, opts))
		_exit(1);
	k->daemon = e.pid;
	snprintf(k->dir, sizeof(k->dir), "%s", e.dir);
	snprintf(k->mnt, sizeof(k->mnt), "%s", e.mnt);
	__atomic_store_n(&k->serving, true, __ATOMIC_RELEASE);
	for (;;)
		pause();
}

static bool process_exists(pid_t pid)
{
	int status;

	/* Reparented to us, it would be a zombie until reaped. */
	waitpid(pid, &status, WNOHANG);
	return kill(pid, 0) == 0;
}

FIXTURE(killed) {
	int unused;
};

FIXTURE_SETUP(killed)
{
}

FIXTURE_TEARDOWN(killed)
{
}

TEST_F(killed, test_leaves_nothing)
{
	struct killed_test *k = fue_shared_alloc(sizeof(*k));
	long long deadline;
	int status, i;
	pid_t pid;

	ASSERT_NE(NULL, k);
	fflush(NULL);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0)
		killed_test_main(k);
	for (i = 0; i < FUE_START_TIMEOUT_MS / 10 &&
		    !__atomic_load_n(&k->serving, __ATOMIC_ACQUIRE); i++) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			break;
		fue_sleep_ms(10);
	}
	ASSERT_TRUE(__atomic_load_n(&k->serving, __ATOMIC_ACQUIRE))
		TH_LOG("the export in the child did not start");
	ASSERT_TRUE(process_exists(k->daemon));
	ASSERT_EQ(1, fue_mount_info(k->mnt, NULL, NULL, 0));

	kill(pid, SIGKILL);
	ASSERT_EQ(1, fue_wait_pid(pid, &status, 5000));
	deadline = fue_now_ms() + 10000;
	while (fue_now_ms() < deadline &&
	       (process_exists(k->daemon) || !access(k->dir, F_OK)))
		fue_sleep_ms(50);
	EXPECT_FALSE(process_exists(k->daemon))
		TH_LOG("daemon %d still runs after its test was killed",
		       k->daemon);
	EXPECT_EQ(0, fue_mount_info(k->mnt, NULL, NULL, 0))
		TH_LOG("%s still mounted after its test was killed", k->mnt);
	EXPECT_NE(0, access(k->dir, F_OK))
		TH_LOG("%s still there after its test was killed", k->dir);
	/* Leave nothing ourselves should the above have failed. */
	if (process_exists(k->daemon))
		kill(k->daemon, SIGKILL);
	fue_unmount_all(k->mnt, true);
	fue_shared_free(k, sizeof(*k));
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
