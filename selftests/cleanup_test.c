// SPDX-License-Identifier: GPL-2.0
/*
 * The test library's own promises: a test killed at any point, as by its
 * harness' or runner's timeout, leaves no daemon, mount or directory
 * behind; and a test whose requests stop being answered fails within
 * the bound of the helper it called, seconds, rather than at its
 * harness' or runner's time limit.  Apart from lifecycle_test, whose
 * every case must fail on a sanitizer report of its daemon (the CI
 * canary): the daemon here runs in a test that is killed, so no one is
 * left to read its log.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
 * An export whose daemon is stopped (SIGSTOP) takes requests and answers
 * none, as one whose ring commits the kernel refuses.  Each helper a test
 * calls must then give up by its own bound: the I/O helpers' client after
 * FUE_IO_TIMEOUT_MS, and the probe of a new export after
 * FUE_PROBE_TIMEOUT_MS, each then killed and waited for up to
 * KILL_WAIT_MS (fue_in_child()'s: a request the ring has handed to the
 * daemon holds its caller until it is answered or aborted).
 */
#define KILL_WAIT_MS	5000
/* Forks, the kill and a loaded machine. */
#define MARGIN_MS	2000
#define STALL_TIMEOUT_S	90

FIXTURE(stalled) {
	struct fue_export e;
	const char *skip;
	bool stopped;
	struct fue_client client;
};

FUE_TRANSPORT_VARIANTS(stalled);

FIXTURE_SETUP(stalled)
{
	self->skip = fue_setup_skip(variant->ring);
	if (self->skip)
		return;
	ASSERT_EQ(0, fue_init(&self->e));
	/* Not to be aborted by the watchdog while the helpers wait. */
	self->e.watchdog_s = STALL_TIMEOUT_S;
}

FIXTURE_TEARDOWN(stalled)
{
	if (self->stopped && fue_is_our_child(self->e.pid))
		kill(self->e.pid, SIGCONT);
	fue_client_end(&self->client);
	fue_teardown(&self->e);
}

/* io_uring's workers do not take part in a group stop; they serve no one. */
static bool all_stopped(pid_t pid)
{
	char path[320], *stat, *comm, *p;
	bool stopped = true;
	struct dirent *d;
	DIR *dir;

	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	dir = opendir(path);
	if (!dir)
		return false;
	while (stopped && (d = readdir(dir))) {
		if (d->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%s/comm", pid,
			 d->d_name);
		comm = fue_slurp(path);
		snprintf(path, sizeof(path), "/proc/%d/task/%s/stat", pid,
			 d->d_name);
		stat = fue_slurp(path);
		p = stat ? strrchr(stat, ')') : NULL;
		if (comm && strncmp(comm, "iou-", 4))
			stopped = p && (p[2] == 'T' || p[2] == 't');
		free(stat);
		free(comm);
	}
	closedir(dir);
	return stopped;
}

static bool stop_daemon_threads(FIXTURE_DATA(stalled) *self)
{
	long long deadline = fue_now_ms() + 5000;

	if (!fue_is_our_child(self->e.pid) || kill(self->e.pid, SIGSTOP))
		return false;
	self->stopped = true;
	while (!all_stopped(self->e.pid)) {
		if (fue_now_ms() >= deadline)
			return false;
		fue_sleep_ms(10);
	}
	return true;
}

enum stalled_helper {
	STALL_PREAD,
	STALL_PWRITE,
	STALL_READ_ALL,
	STALL_CLIENT_WRITE,
	STALL_HELPERS,
};

static const char *const stalled_names[STALL_HELPERS] = {
	"fue_pread", "fue_pwrite", "fue_read_all", "fue_client_call",
};

struct stalled_call {
	long long ret;
	long long ms;
	bool done;
};

static long long call_helper(FIXTURE_DATA(stalled) *self,
			     enum stalled_helper h)
{
	char buf[4096];

	switch (h) {
	case STALL_PREAD:
		return fue_pread(self->e.mnt, O_RDONLY | O_DIRECT, buf,
				 sizeof(buf), 0);
	case STALL_PWRITE:
		fue_fill_pattern(buf, sizeof(buf), 4096);
		return fue_pwrite(self->e.mnt, O_WRONLY | O_DIRECT, buf,
				  sizeof(buf), 4096);
	case STALL_READ_ALL:
		return fue_read_all(self->e.mnt, buf, sizeof(buf));
	case STALL_CLIENT_WRITE:
		return fue_client_call(&self->client, FUE_CLIENT_WRITE, 8192,
				       0);
	default:
		return -EINVAL;
	}
}

/* What the helper may take at most before it gives up. */
static int stalled_bound_ms(enum stalled_helper h)
{
	if (h == STALL_CLIENT_WRITE)
		return FUE_IO_TIMEOUT_MS;
	return FUE_IO_TIMEOUT_MS + KILL_WAIT_MS;
}

/*
 * Every helper at once, each in a process of its own and timed there,
 * beside fue_request_stats() in this one (only a daemon's parent may
 * signal it): each must fail with -ETIMEDOUT by its bound.
 */
TEST_F_TIMEOUT(stalled, unanswered_io_fails_within_its_bound,
	       STALL_TIMEOUT_S)
{
	struct stalled_call *calls;
	pid_t pids[STALL_HELPERS];
	struct fue_stats *s;
	long long begin, ms;
	char buf[4096];
	int i, status, ret;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_EQ(0, fue_start_writable(&self->e, variant->transport,
					IMAGE_SIZE, NULL));
	/* Open before the stop: its write, not its open, goes unanswered. */
	ASSERT_EQ(0, fue_client_start(&self->client, self->e.mnt));
	calls = fue_shared_alloc(sizeof(*calls) * STALL_HELPERS);
	s = malloc(sizeof(*s));
	ASSERT_NE(NULL, calls);
	ASSERT_NE(NULL, s);
	ASSERT_TRUE(stop_daemon_threads(self))
		TH_LOG("daemon %d did not stop", self->e.pid);

	begin = fue_now_ms();
	for (i = 0; i < STALL_HELPERS; i++) {
		fflush(NULL);
		pids[i] = fork();
		ASSERT_LE(0, pids[i]);
		if (!pids[i]) {
			ms = fue_now_ms();
			calls[i].ret = call_helper(self, i);
			calls[i].ms = fue_now_ms() - ms;
			calls[i].done = true;
			_exit(0);
		}
	}
	ms = fue_now_ms();
	ret = fue_request_stats(&self->e, s);
	ms = fue_now_ms() - ms;
	TH_LOG("fue_request_stats: %d after %lld ms", ret, ms);
	EXPECT_EQ(-ETIMEDOUT, ret);
	EXPECT_GE(FUE_IO_TIMEOUT_MS + MARGIN_MS, ms);
	for (i = 0; i < STALL_HELPERS; i++) {
		long long left = begin + stalled_bound_ms(i) + MARGIN_MS -
				 fue_now_ms();

		/* Past its bound: then it would have waited for good. */
		if (left < 0)
			left = 0;
		if (fue_wait_pid(pids[i], &status, (int)left) != 1) {
			kill(pids[i], SIGKILL);
			fue_wait_pid(pids[i], &status, KILL_WAIT_MS);
		}
		EXPECT_TRUE(calls[i].done)
			TH_LOG("%s still blocked after %d ms", stalled_names[i],
			       stalled_bound_ms(i) + MARGIN_MS);
		if (!calls[i].done)
			continue;
		TH_LOG("%s: %lld after %lld ms", stalled_names[i],
		       calls[i].ret, calls[i].ms);
		EXPECT_EQ(-ETIMEDOUT, calls[i].ret)
			TH_LOG("%s", stalled_names[i]);
		EXPECT_GE(stalled_bound_ms(i) + MARGIN_MS, calls[i].ms)
			TH_LOG("%s", stalled_names[i]);
	}
	fue_shared_free(calls, sizeof(*calls) * STALL_HELPERS);
	free(s);

	/* Going on, the daemon answers again and ends cleanly. */
	ASSERT_EQ(0, kill(self->e.pid, SIGCONT));
	self->stopped = false;
	fue_client_end(&self->client);
	ASSERT_EQ(4096, fue_pread(self->e.mnt, O_RDONLY | O_DIRECT, buf,
				  sizeof(buf), 65536));
	EXPECT_EQ(-1, fue_check_pattern(buf, sizeof(buf), 65536));
	expect_clean_exit(_metadata, &self->e);
}

/*
 * A new export that answers no GETATTR fails its start by the probe's
 * bound, and the probe aborts it: once going on, the daemon finds its
 * connection gone and exits.
 */
TEST_F_TIMEOUT(stalled, unanswered_probe_fails_the_start, STALL_TIMEOUT_S)
{
	const char *args[] = { variant->transport, self->e.image,
			       self->e.mnt, NULL };
	long long ms;
	int ret;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_EQ(0, fue_make_image(self->e.image, IMAGE_SIZE));
	ASSERT_EQ(0, fue_make_mountpoint(self->e.mnt));
	ASSERT_EQ(0, fue_spawn(&self->e, NULL, args, self->e.mnt));
	ASSERT_EQ(0, fue_wait_mounted(&self->e, FUE_START_TIMEOUT_MS));
	ASSERT_EQ(0, fue_wait_errlog(&self->e, "fuse-uring-export: serving ",
				     FUE_START_TIMEOUT_MS));
	ASSERT_TRUE(stop_daemon_threads(self))
		TH_LOG("daemon %d did not stop", self->e.pid);

	ms = fue_now_ms();
	ret = fue_wait_serving(&self->e, FUE_START_TIMEOUT_MS);
	ms = fue_now_ms() - ms;
	TH_LOG("the start's probe: %d after %lld ms", ret, ms);
	EXPECT_EQ(-ETIMEDOUT, ret);
	EXPECT_GE(FUE_PROBE_TIMEOUT_MS + KILL_WAIT_MS + MARGIN_MS, ms);

	ASSERT_EQ(0, kill(self->e.pid, SIGCONT));
	self->stopped = false;
	EXPECT_TRUE(fue_wait_exit(&self->e, FUE_STOP_TIMEOUT_MS))
		TH_LOG("daemon still runs after its connection was aborted");
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
