// SPDX-License-Identifier: GPL-2.0
/*
 * Durability tests: FLUSH (close) and FSYNC answer only after a sync of
 * the image that covers every write completed before them, a failed sync
 * is reported to every close()/fsync() it leaves unsynced, the debt
 * stays after a failure, and the daemon's exit status says when the sync
 * at shutdown failed.  The test aid --fail-io=sync makes every fdatasync
 * and fsync of the image fail, so each case is deterministic.
 *
 * The order of syncs: --hold-sync keeps one sync's completion back until
 * the test writes a byte to a FIFO, and --fail-completion=sync:N fails
 * the N-th sync after it ran, so a test can finish a write, or fail
 * another sync, while a sync is in flight, and see which calls that sync
 * may answer.  Both transports.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fue_harness.h"

#define TIMEOUT_S	90
#define IMAGE_SIZE	(4 << 20)
#define BS		4096

/* What a scripted client saw: 0 or the errno of each step. */
struct sync_client {
	char path[PATH_MAX];
	/* which script to run */
	int script;
	int open_err;
	int write_err[2];
	int fsync_err[2];
	int close_err[2];
	int falloc_err;
};

enum {
	SCRIPT_WRITE_FSYNC_TWICE_CLOSE,
	SCRIPT_TWO_WRITERS,
	SCRIPT_READ_ONLY,
	SCRIPT_FALLOCATE_FSYNC,
	SCRIPT_FSYNC_AND_FDATASYNC,
};

static int err_of(int ret)
{
	return ret < 0 ? errno : 0;
}

static int write_block(int fd, off_t off)
{
	char *buf;
	int ret;

	if (posix_memalign((void **)&buf, BS, BS))
		return ENOMEM;
	fue_fill_pattern(buf, BS, off + 777);
	ret = pwrite(fd, buf, BS, off) == BS ? 0 : (errno ? errno : EIO);
	free(buf);
	return ret;
}

static int run_script(void *arg)
{
	struct sync_client *c = arg;
	int fd[2];

	fd[0] = open(c->path, O_RDWR | O_DIRECT);
	if (fd[0] < 0) {
		c->open_err = errno;
		return 0;
	}
	switch (c->script) {
	case SCRIPT_WRITE_FSYNC_TWICE_CLOSE:
		c->write_err[0] = write_block(fd[0], 0);
		c->fsync_err[0] = err_of(fsync(fd[0]));
		c->fsync_err[1] = err_of(fsync(fd[0]));
		c->close_err[0] = err_of(close(fd[0]));
		break;
	case SCRIPT_TWO_WRITERS:
		fd[1] = open(c->path, O_RDWR | O_DIRECT);
		if (fd[1] < 0) {
			c->open_err = errno;
			close(fd[0]);
			break;
		}
		c->write_err[0] = write_block(fd[0], 0);
		c->write_err[1] = write_block(fd[1], BS);
		c->close_err[0] = err_of(close(fd[0]));
		c->close_err[1] = err_of(close(fd[1]));
		break;
	case SCRIPT_READ_ONLY: {
		char *buf;

		if (posix_memalign((void **)&buf, BS, BS)) {
			c->open_err = ENOMEM;
			close(fd[0]);
			break;
		}
		c->write_err[0] = pread(fd[0], buf, BS, 0) == BS ? 0 : EIO;
		free(buf);
		c->fsync_err[0] = err_of(fsync(fd[0]));
		c->close_err[0] = err_of(close(fd[0]));
		break;
	}
	case SCRIPT_FALLOCATE_FSYNC:
		c->falloc_err = err_of(fallocate(fd[0], FALLOC_FL_PUNCH_HOLE |
						 FALLOC_FL_KEEP_SIZE, 0, BS));
		c->fsync_err[0] = err_of(fsync(fd[0]));
		c->close_err[0] = err_of(close(fd[0]));
		break;
	case SCRIPT_FSYNC_AND_FDATASYNC:
		c->write_err[0] = write_block(fd[0], 0);
		c->fsync_err[0] = err_of(fdatasync(fd[0]));
		c->write_err[1] = write_block(fd[0], BS);
		c->fsync_err[1] = err_of(fsync(fd[0]));
		c->close_err[0] = err_of(close(fd[0]));
		break;
	}
	return 0;
}

FIXTURE(dur) {
	struct fue_export e;
	const char *skip;
	struct sync_client *c;
	/* The --hold-sync FIFO and our end of it (read-write: no block). */
	char fifo[PATH_MAX];
	int fifo_fd;
	char hold_opt[PATH_MAX + 16];
	struct fue_client a, b;
};

FUE_TRANSPORT_VARIANTS(dur);

FIXTURE_SETUP(dur)
{
	self->fifo_fd = -1;
	self->skip = fue_setup_skip(variant->ring);
	if (self->skip)
		return;
	ASSERT_EQ(0, fue_init(&self->e));
	self->c = fue_shared_alloc(sizeof(*self->c));
	ASSERT_NE(NULL, self->c);
	snprintf(self->c->path, sizeof(self->c->path), "%s", self->e.mnt);
	snprintf(self->fifo, sizeof(self->fifo), "%s/hold", self->e.dir);
	ASSERT_EQ(0, mkfifo(self->fifo, 0600));
	self->fifo_fd = open(self->fifo, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	ASSERT_LE(0, self->fifo_fd);
	snprintf(self->hold_opt, sizeof(self->hold_opt),
		 "--hold-sync=1:%s", self->fifo);
}

FIXTURE_TEARDOWN(dur)
{
	/* Let any sync still held go, so that the clients and daemon end. */
	if (self->fifo_fd >= 0) {
		if (write(self->fifo_fd, "xxxxxxxx", 8) < 0)
			fue_log("cannot release held syncs: %m");
		close(self->fifo_fd);
	}
	fue_client_end(&self->a);
	fue_client_end(&self->b);
	fue_teardown(&self->e);
	if (self->c)
		fue_shared_free(self->c, sizeof(*self->c));
}

static int script(struct sync_client *c, int which)
{
	c->script = which;
	return fue_in_child(run_script, c, FUE_IO_TIMEOUT_MS);
}

/* The daemon's exit status after SIGTERM, or -1. */
static int stop_status(struct fue_export *e)
{
	int status = fue_stop(e);

	if (status < 0 || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

/*
 * A write, then fsync twice and close: each must report the failed sync,
 * the second because the first left the write unsynced; and the daemon's
 * own sync at exit fails too, so it exits 1 and says so.
 */
TEST_F_TIMEOUT(dur, failed_sync_reaches_fsync_close_and_exit, TIMEOUT_S)
{
	char *text;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_EQ(0, fue_start_writable(&self->e, variant->transport,
					IMAGE_SIZE, "--fail-io=sync", NULL));
	ASSERT_EQ(0, script(self->c, SCRIPT_WRITE_FSYNC_TWICE_CLOSE));
	ASSERT_EQ(0, self->c->open_err);
	EXPECT_EQ(0, self->c->write_err[0]);
	EXPECT_EQ(EIO, self->c->fsync_err[0]);
	EXPECT_EQ(EIO, self->c->fsync_err[1])
		TH_LOG("a second fsync() after a failed one answered 0");
	EXPECT_EQ(EIO, self->c->close_err[0])
		TH_LOG("close() after unsynced writes answered 0");
	EXPECT_EQ(1, stop_status(&self->e));
	text = fue_slurp(self->e.errlog);
	ASSERT_NE(NULL, text);
	EXPECT_NE(NULL, strstr(text, "fdatasync failed"))
		TH_LOG("exit does not say the sync failed: %s", text);
	free(text);
}

/*
 * Two files written, then both closed: the second close must not answer
 * 0 because the first close's sync "took" the owed sync and failed.
 */
TEST_F_TIMEOUT(dur, second_writer_hears_of_failed_sync, TIMEOUT_S)
{
	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_EQ(0, fue_start_writable(&self->e, variant->transport,
					IMAGE_SIZE, "--fail-io=sync:EIO",
					NULL));
	ASSERT_EQ(0, script(self->c, SCRIPT_TWO_WRITERS));
	ASSERT_EQ(0, self->c->open_err);
	EXPECT_EQ(0, self->c->write_err[0]);
	EXPECT_EQ(0, self->c->write_err[1]);
	EXPECT_EQ(EIO, self->c->close_err[0]);
	EXPECT_EQ(EIO, self->c->close_err[1])
		TH_LOG("the second writer's close() answered 0 with its write unsynced");
	EXPECT_EQ(1, stop_status(&self->e));
}

/*
 * Nothing written, nothing owed: fsync, close and the exit all succeed
 * although every sync would fail, so no sync is made that is not owed.
 */
TEST_F_TIMEOUT(dur, nothing_written_nothing_synced, TIMEOUT_S)
{
	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_EQ(0, fue_start_writable(&self->e, variant->transport,
					IMAGE_SIZE, "--fail-io=sync", NULL));
	ASSERT_EQ(0, script(self->c, SCRIPT_READ_ONLY));
	ASSERT_EQ(0, self->c->open_err);
	EXPECT_EQ(0, self->c->write_err[0]);
	EXPECT_EQ(0, self->c->fsync_err[0]);
	EXPECT_EQ(0, self->c->close_err[0]);
	EXPECT_EQ(0, stop_status(&self->e));
}

/* A punched hole changes the image as a write does: a sync is owed. */
TEST_F_TIMEOUT(dur, fallocate_owes_a_sync, TIMEOUT_S)
{
	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_EQ(0, fue_start_writable(&self->e, variant->transport,
					IMAGE_SIZE, "--fail-io=sync", NULL));
	ASSERT_EQ(0, script(self->c, SCRIPT_FALLOCATE_FSYNC));
	ASSERT_EQ(0, self->c->open_err);
	EXPECT_EQ(0, self->c->falloc_err);
	EXPECT_EQ(EIO, self->c->fsync_err[0])
		TH_LOG("fsync() after fallocate() did not sync");
	EXPECT_EQ(1, stop_status(&self->e));
}

/* Without a fault: syncs succeed, the exit is clean, the data is there. */
TEST_F_TIMEOUT(dur, synced_writes_are_in_the_image, TIMEOUT_S)
{
	char *buf;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_EQ(0, fue_start_writable(&self->e, variant->transport,
					IMAGE_SIZE, "--trace", NULL));
	ASSERT_EQ(0, script(self->c, SCRIPT_FSYNC_AND_FDATASYNC));
	ASSERT_EQ(0, self->c->open_err);
	EXPECT_EQ(0, self->c->write_err[0]);
	EXPECT_EQ(0, self->c->fsync_err[0]);
	EXPECT_EQ(0, self->c->write_err[1]);
	EXPECT_EQ(0, self->c->fsync_err[1]);
	EXPECT_EQ(0, self->c->close_err[0]);
	EXPECT_EQ(0, stop_status(&self->e));
	buf = malloc(2 * BS);
	ASSERT_NE(NULL, buf);
	ASSERT_EQ(2 * BS, fue_file_pread(self->e.image, buf, 2 * BS, 0));
	EXPECT_EQ(-1, fue_check_pattern(buf, BS, 777));
	EXPECT_EQ(-1, fue_check_pattern(buf + BS, BS, BS + 777));
	free(buf);
}

/* Let the held sync complete. */
static int release_sync(int fifo_fd)
{
	return write(fifo_fd, "x", 1) == 1 ? 0 : -errno;
}

/*
 * A sync covers only the writes that had completed when it began.  A
 * close() starts sync 1, held; a second client's write completes while
 * it is in flight; sync 1 ends.  The second client's fsync() or close()
 * must then make a sync of its own (sync 2, which fails), not take sync
 * 1's success for its write.  The one exit status is 0: sync 3, at exit
 * or at the fsync()-er's close(), succeeds.
 */
static void sync_covers_only_writes_done_when_it_began(
	struct __test_metadata *_metadata, FIXTURE_DATA(dur) *self,
	const FIXTURE_VARIANT(dur) *variant, enum fue_client_call call)
{
	ASSERT_EQ(0, fue_start_writable(&self->e, variant->transport,
					IMAGE_SIZE, self->hold_opt,
					"--fail-completion=sync:2:EIO", NULL));
	ASSERT_EQ(0, fue_client_start(&self->a, self->e.mnt));
	ASSERT_EQ(0, fue_client_start(&self->b, self->e.mnt));
	ASSERT_EQ(0, fue_client_call(&self->a, FUE_CLIENT_WRITE, 0, 777));
	ASSERT_EQ(0, fue_client_send(&self->a, FUE_CLIENT_CLOSE, 0, 0));
	ASSERT_EQ(0, fue_wait_errlog(&self->e,
			"sync 1 (fdatasync) held, covering 1 writes",
			FUE_IO_TIMEOUT_MS)) {
		fue_dump_errlog(&self->e);
	}
	EXPECT_EQ(-ETIMEDOUT, fue_client_result(&self->a, 200))
		TH_LOG("close() answered before its sync completed");
	ASSERT_EQ(0, fue_client_call(&self->b, FUE_CLIENT_WRITE, BS, 777));
	ASSERT_EQ(0, release_sync(self->fifo_fd));
	EXPECT_EQ(0, fue_client_result(&self->a, FUE_IO_TIMEOUT_MS));
	EXPECT_EQ(EIO, fue_client_call(&self->b, call, 0, 0))
		TH_LOG("%s was answered by a sync begun before its write completed",
		       call == FUE_CLIENT_FSYNC ? "fsync()" : "close()");
	/* Sync 2 failed, so the debt stays and the next sync is made. */
	if (call == FUE_CLIENT_FSYNC)
		EXPECT_EQ(0, fue_client_call(&self->b, FUE_CLIENT_CLOSE, 0, 0));
	EXPECT_EQ(0, stop_status(&self->e));
}

TEST_F_TIMEOUT(dur, fsync_covered_only_by_a_sync_begun_after_its_write,
	       TIMEOUT_S)
{
	if (self->skip)
		SKIP(return, "%s", self->skip);
	sync_covers_only_writes_done_when_it_began(_metadata, self, variant,
						   FUE_CLIENT_FSYNC);
}

TEST_F_TIMEOUT(dur, flush_covered_only_by_a_sync_begun_after_its_write,
	       TIMEOUT_S)
{
	if (self->skip)
		SKIP(return, "%s", self->skip);
	sync_covers_only_writes_done_when_it_began(_metadata, self, variant,
						   FUE_CLIENT_CLOSE);
}

/*
 * A sync that ran beside a failed one cannot vouch for anything: the
 * kernel reports a writeback error to one sync of a file, and the failed
 * sync may have taken the error of our writes.  Sync 1 (a close()) is
 * held; sync 2 (the other client's fsync()) fails meanwhile; sync 1 then
 * completes without an error and must still report one.
 */
TEST_F_TIMEOUT(dur, sync_beside_a_failed_one_fails, TIMEOUT_S)
{
	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_EQ(0, fue_start_writable(&self->e, variant->transport,
					IMAGE_SIZE, self->hold_opt,
					"--fail-completion=sync:2:EIO", NULL));
	ASSERT_EQ(0, fue_client_start(&self->a, self->e.mnt));
	ASSERT_EQ(0, fue_client_start(&self->b, self->e.mnt));
	ASSERT_EQ(0, fue_client_call(&self->a, FUE_CLIENT_WRITE, 0, 777));
	ASSERT_EQ(0, fue_client_send(&self->a, FUE_CLIENT_CLOSE, 0, 0));
	ASSERT_EQ(0, fue_wait_errlog(&self->e, "sync 1 (fdatasync) held",
				     FUE_IO_TIMEOUT_MS)) {
		fue_dump_errlog(&self->e);
	}
	ASSERT_EQ(0, fue_client_call(&self->b, FUE_CLIENT_WRITE, BS, 777));
	EXPECT_EQ(EIO, fue_client_call(&self->b, FUE_CLIENT_FSYNC, 0, 0));
	ASSERT_EQ(0, fue_wait_errlog(&self->e,
			"sync 2 (fsync) completed with 0, reported as EIO",
			FUE_IO_TIMEOUT_MS)) {
		fue_dump_errlog(&self->e);
	}
	ASSERT_EQ(0, release_sync(self->fifo_fd));
	EXPECT_EQ(EIO, fue_client_result(&self->a, FUE_IO_TIMEOUT_MS))
		TH_LOG("a sync that ran beside a failed one reported success");
	/* Nothing has vouched for either write: the next sync is made. */
	EXPECT_EQ(0, fue_client_call(&self->b, FUE_CLIENT_CLOSE, 0, 0));
	EXPECT_EQ(0, stop_status(&self->e));
}

/*
 * What reaches the image: fdatasync() as an fdatasync, fsync() (no
 * FUSE_FSYNC_FDATASYNC) as a full fsync, which also writes the image
 * file's metadata.  The completion aid names the sync it saw.
 */
TEST_F_TIMEOUT(dur, fsync_reaches_the_image_as_fsync, TIMEOUT_S)
{
	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_EQ(0, fue_start_writable(&self->e, variant->transport,
					IMAGE_SIZE,
					"--fail-completion=sync:1:0",
					"--fail-completion=sync:2:0", NULL));
	ASSERT_EQ(0, script(self->c, SCRIPT_FSYNC_AND_FDATASYNC));
	EXPECT_EQ(0, self->c->fsync_err[0]);
	EXPECT_EQ(0, self->c->fsync_err[1]);
	EXPECT_EQ(0, fue_wait_errlog(&self->e, "sync 1 (fdatasync) completed",
				     FUE_IO_TIMEOUT_MS))
		TH_LOG("fdatasync() did not reach the image as fdatasync");
	EXPECT_EQ(0, fue_wait_errlog(&self->e, "sync 2 (fsync) completed",
				     FUE_IO_TIMEOUT_MS))
		TH_LOG("fsync() did not reach the image as fsync");
	EXPECT_EQ(0, stop_status(&self->e));
}

/* fdatasync() and fsync() reach the daemon as what they are. */
TEST_F_TIMEOUT(dur, fsync_flags_are_told_apart, TIMEOUT_S)
{
	char *text, *datasync, *full;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_EQ(0, fue_start_writable(&self->e, variant->transport,
					IMAGE_SIZE, "--trace", NULL));
	ASSERT_EQ(0, script(self->c, SCRIPT_FSYNC_AND_FDATASYNC));
	EXPECT_EQ(0, self->c->fsync_err[0]);
	EXPECT_EQ(0, self->c->fsync_err[1]);
	EXPECT_EQ(0, stop_status(&self->e));
	text = fue_slurp(self->e.errlog);
	ASSERT_NE(NULL, text);
	datasync = strstr(text, " FSYNC node=1 off=0 size=0 sync=fdatasync\n");
	full = strstr(text, " FSYNC node=1 off=0 size=0 sync=fsync\n");
	EXPECT_NE(NULL, datasync) TH_LOG("no FSYNC for fdatasync(): %s", text);
	EXPECT_NE(NULL, full) TH_LOG("no FSYNC for fsync(): %s", text);
	if (datasync && full)
		EXPECT_LT(datasync, full);
	free(text);
}

int main(int argc, char **argv)
{
	const char *why = fue_check_env();

	if (why)
		ksft_exit_skip("%s\n", why);
	return test_harness_run(argc, argv);
}
