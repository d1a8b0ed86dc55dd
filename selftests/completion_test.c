// SPDX-License-Identifier: GPL-2.0
/*
 * Image I/O completions that fail, come up short, or find an EOF that
 * moved.  The test aid --fail-completion lets the read or write of the
 * image run and then replaces what its completion says, once, so that
 * the daemon's own completion code decides what the client sees: an
 * error reaches the client, a short transfer carries on from where it
 * stopped, 0 ends a read with what it got and fails a write that got
 * nothing, and a failed write still leaves a sync owed.  Each case also
 * finds the aid's line in the log, so that it cannot pass with the fault
 * never fired.  Both transports.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fue_harness.h"

#define TIMEOUT_S	90
#define IMAGE_SIZE	(4 << 20)
#define IO_SIZE		(64 << 10)
#define IO_OFF		(64 << 10)
#define SHIFT		1234

FIXTURE(cmp) {
	struct fue_export e;
	const char *skip;
	char *buf;
	struct fue_client client;
};

FUE_TRANSPORT_VARIANTS(cmp);

FIXTURE_SETUP(cmp)
{
	self->skip = fue_setup_skip(variant->ring);
	if (self->skip)
		return;
	ASSERT_EQ(0, fue_init(&self->e));
	ASSERT_EQ(0, posix_memalign((void **)&self->buf, 4096, IO_SIZE));
}

FIXTURE_TEARDOWN(cmp)
{
	fue_client_end(&self->client);
	fue_teardown(&self->e);
	free(self->buf);
}

/* The aid's line is in the log: the fault did fire. */
static bool fired(struct fue_export *e, const char *line)
{
	if (!fue_wait_errlog(e, line, FUE_IO_TIMEOUT_MS))
		return true;
	fue_log("no \"%s\" in the daemon's log:", line);
	fue_dump_errlog(e);
	return false;
}

static ssize_t read_at(struct fue_export *e, void *buf, off_t off)
{
	return fue_pread(e->mnt, O_RDONLY | O_DIRECT, buf, IO_SIZE, off);
}

/* A failed read reaches the reader; the next one is served. */
TEST_F_TIMEOUT(cmp, read_error_reaches_the_reader, TIMEOUT_S)
{
	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_EQ(0, fue_start_writable(&self->e, variant->transport,
					IMAGE_SIZE,
					"--fail-completion=read:64K:EIO",
					NULL));
	EXPECT_EQ(-EIO, read_at(&self->e, self->buf, IO_OFF))
		TH_LOG("a read whose image I/O failed did not fail");
	EXPECT_TRUE(fired(&self->e,
			  "read of 65536 at 65536 completed with 65536, reported as EIO"));
	ASSERT_EQ(IO_SIZE, read_at(&self->e, self->buf, IO_OFF));
	EXPECT_EQ(-1, fue_check_pattern(self->buf, IO_SIZE, IO_OFF));
	expect_clean_exit(_metadata, &self->e);
}

/* A short read of the image carries on from where it stopped. */
TEST_F_TIMEOUT(cmp, short_read_carries_on, TIMEOUT_S)
{
	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_EQ(0, fue_start_writable(&self->e, variant->transport,
					IMAGE_SIZE,
					"--fail-completion=read:64K:4096",
					NULL));
	EXPECT_EQ(IO_SIZE, read_at(&self->e, self->buf, IO_OFF))
		TH_LOG("a short image read was not carried on");
	EXPECT_EQ(-1, fue_check_pattern(self->buf, IO_SIZE, IO_OFF));
	EXPECT_TRUE(fired(&self->e,
			  "read of 65536 at 65536 completed with 65536, reported as 4096"));
	expect_clean_exit(_metadata, &self->e);
}

/*
 * 0 from the image after a short read (the image shrank under the
 * export): the reader gets what was read, and no error.
 */
TEST_F_TIMEOUT(cmp, read_at_a_moved_eof_returns_what_it_got, TIMEOUT_S)
{
	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_EQ(0, fue_start_writable(&self->e, variant->transport,
					IMAGE_SIZE,
					"--fail-completion=read:64K:4096",
					"--fail-completion=read:68K:0", NULL));
	EXPECT_EQ(4096, read_at(&self->e, self->buf, IO_OFF));
	EXPECT_EQ(-1, fue_check_pattern(self->buf, 4096, IO_OFF));
	EXPECT_TRUE(fired(&self->e,
			  "read of 61440 at 69632 completed with 61440, reported as 0"));
	expect_clean_exit(_metadata, &self->e);
}

/* 0 at once: an empty read, not an error. */
TEST_F_TIMEOUT(cmp, read_at_a_moved_eof_at_once_is_empty, TIMEOUT_S)
{
	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_EQ(0, fue_start_writable(&self->e, variant->transport,
					IMAGE_SIZE,
					"--fail-completion=read:64K:0", NULL));
	EXPECT_EQ(0, read_at(&self->e, self->buf, IO_OFF));
	EXPECT_TRUE(fired(&self->e,
			  "read of 65536 at 65536 completed with 65536, reported as 0"));
	expect_clean_exit(_metadata, &self->e);
}

/* A short write of the image carries on: all of it lands. */
TEST_F_TIMEOUT(cmp, short_write_carries_on, TIMEOUT_S)
{
	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_EQ(0, fue_start_writable(&self->e, variant->transport,
					IMAGE_SIZE,
					"--fail-completion=write:64K:4096",
					NULL));
	fue_fill_pattern(self->buf, IO_SIZE, IO_OFF + SHIFT);
	EXPECT_EQ(IO_SIZE, fue_pwrite(self->e.mnt, O_RDWR | O_DIRECT,
				      self->buf, IO_SIZE, IO_OFF))
		TH_LOG("a short image write was not carried on");
	EXPECT_TRUE(fired(&self->e,
			  "write of 65536 at 65536 completed with 65536, reported as 4096"));
	expect_clean_exit(_metadata, &self->e);
	memset(self->buf, 0, IO_SIZE);
	ASSERT_EQ(IO_SIZE, fue_file_pread(self->e.image, self->buf, IO_SIZE,
					  IO_OFF));
	EXPECT_EQ(-1, fue_check_pattern(self->buf, IO_SIZE, IO_OFF + SHIFT));
}

/* A write that gets 0 after a short one reports the part written. */
TEST_F_TIMEOUT(cmp, write_at_a_moved_eof_reports_what_it_wrote, TIMEOUT_S)
{
	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_EQ(0, fue_start_writable(&self->e, variant->transport,
					IMAGE_SIZE,
					"--fail-completion=write:64K:4096",
					"--fail-completion=write:68K:0", NULL));
	fue_fill_pattern(self->buf, IO_SIZE, IO_OFF + SHIFT);
	EXPECT_EQ(4096, fue_pwrite(self->e.mnt, O_RDWR | O_DIRECT,
				   self->buf, IO_SIZE, IO_OFF));
	EXPECT_TRUE(fired(&self->e,
			  "write of 61440 at 69632 completed with 61440, reported as 0"));
	expect_clean_exit(_metadata, &self->e);
}

/* A write that gets 0 at once wrote nothing: an error, not a success. */
TEST_F_TIMEOUT(cmp, write_at_a_moved_eof_at_once_fails, TIMEOUT_S)
{
	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_EQ(0, fue_start_writable(&self->e, variant->transport,
					IMAGE_SIZE,
					"--fail-completion=write:64K:0", NULL));
	fue_fill_pattern(self->buf, IO_SIZE, IO_OFF + SHIFT);
	EXPECT_EQ(-EIO, fue_pwrite(self->e.mnt, O_RDWR | O_DIRECT,
				   self->buf, IO_SIZE, IO_OFF));
	EXPECT_TRUE(fired(&self->e,
			  "write of 65536 at 65536 completed with 65536, reported as 0"));
	expect_clean_exit(_metadata, &self->e);
}

/*
 * A failed write may still have changed the image: the writer hears of
 * the error, and its fsync() makes a sync (the first, failed by the aid
 * so that the test sees it was made) rather than answer that none was
 * owed.
 */
TEST_F_TIMEOUT(cmp, failed_write_still_owes_a_sync, TIMEOUT_S)
{
	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_EQ(0, fue_start_writable(&self->e, variant->transport,
					IMAGE_SIZE,
					"--fail-completion=write:0:ENOSPC",
					"--fail-completion=sync:1:EIO", NULL));
	ASSERT_EQ(0, fue_client_start(&self->client, self->e.mnt));
	EXPECT_EQ(ENOSPC, fue_client_call(&self->client, FUE_CLIENT_WRITE,
					  0, SHIFT));
	EXPECT_TRUE(fired(&self->e,
			  "write of 4096 at 0 completed with 4096, reported as ENOSPC"));
	EXPECT_EQ(EIO, fue_client_call(&self->client, FUE_CLIENT_FSYNC, 0, 0))
		TH_LOG("fsync() after a failed write made no sync");
	EXPECT_EQ(0, fue_client_call(&self->client, FUE_CLIENT_CLOSE, 0, 0));
	expect_clean_exit(_metadata, &self->e);
}

int main(int argc, char **argv)
{
	const char *why = fue_check_env();

	if (why)
		ksft_exit_skip("%s\n", why);
	return test_harness_run(argc, argv);
}
