// SPDX-License-Identifier: GPL-2.0
/*
 * Fall-back tests: a FUSE_IO_URING_CMD_REGISTER that the kernel refuses
 * turns the ring off for the connection.  With --io-uring=auto the export
 * must then serve everything over /dev/fuse with all its readers and say
 * so (one line naming the errno, transport=/dev/fuse in the counters);
 * with --io-uring=on it must unmount and exit 1 naming the errno.  The
 * test aid --fail-register=N sends REGISTERs from the N-th on with a qid
 * the kernel has no queue for, so the refusal is the kernel's own.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "fue_mount.h"

#define TIMEOUT_S	90
#define IMAGE_SIZE	(4 << 20)
#define BS		4096
#define BLOCKS		64
#define DEPTH		"8"

FIXTURE(fallback) {
	struct fue_export e;
	const char *skip;
	struct fue_stats *s;
};

/* Bodies skip themselves: older harnesses run them after SKIP(). */
#define READY() do { \
	if (self->skip) \
		SKIP(return, "%s", self->skip); \
} while (0)

FIXTURE_SETUP(fallback)
{
	self->skip = fue_check_env();
	if (!self->skip)
		self->skip = fue_check_uring();
	if (self->skip)
		return;
	ASSERT_EQ(0, fue_init(&self->e));
	ASSERT_EQ(0, fue_make_image(self->e.image, IMAGE_SIZE));
	ASSERT_EQ(0, fue_make_mountpoint(self->e.mnt));
	self->s = calloc(1, sizeof(*self->s));
	ASSERT_NE(NULL, self->s);
}

FIXTURE_TEARDOWN(fallback)
{
	fue_teardown(&self->e);
	free(self->s);
}

/* Every line of the daemon's stderr that contains needle. */
static int count_lines_with(const char *text, const char *needle)
{
	const char *p = text;
	int n = 0;

	while ((p = strstr(p, needle))) {
		n++;
		p = strchr(p, '\n');
		if (!p)
			break;
	}
	return n;
}

TEST_F_TIMEOUT(fallback, auto_serves_dev_with_all_readers, TIMEOUT_S)
{
	const char *opts[] = { "--io-uring=auto", "-w", "--fail-register=1",
			       "--queue-depth=" DEPTH, NULL };
	char *buf, *text;
	int i;

	READY();
	ASSERT_EQ(0, fue_startv(&self->e, self->e.image, self->e.mnt, opts));
	buf = aligned_alloc(BS, BS);
	ASSERT_NE(NULL, buf);
	for (i = 0; i < BLOCKS; i++) {
		ASSERT_EQ(BS, fue_pread(self->e.mnt, O_RDONLY | O_DIRECT, buf,
					BS, (off_t)i * BS));
		ASSERT_EQ(-1, fue_check_pattern(buf, BS, (off_t)i * BS));
	}
	free(buf);
	ASSERT_EQ(0, fue_request_stats(&self->e, self->s));
	EXPECT_STREQ("/dev/fuse", self->s->transport);
	EXPECT_EQ(0, self->s->ring);
	EXPECT_LE(BLOCKS, self->s->legacy_io);
	text = fue_slurp(self->e.errlog);
	ASSERT_NE(NULL, text);
	/* One line says why, with the errno; every thread reads with all. */
	EXPECT_EQ(1, count_lines_with(text, "serving over /dev/fuse"))
		TH_LOG("%s", text);
	EXPECT_NE(NULL, strstr(text, "refused a ring REGISTER (Invalid argument)"))
		TH_LOG("%s", text);
	EXPECT_NE(NULL, strstr(text, "transport /dev/fuse"))
		TH_LOG("the serving line names another transport: %s", text);
	/* Every thread reads /dev/fuse with all its slots. */
	for (i = 0; i < self->s->nr_threads; i++)
		EXPECT_EQ(atoi(DEPTH), self->s->t[i].readers);
	free(text);
}

TEST_F_TIMEOUT(fallback, on_exits_1_naming_the_errno, TIMEOUT_S)
{
	const char *opts[] = { "--io-uring=on", "--fail-register=2", NULL };
	char *text;

	READY();
	EXPECT_EQ(1, fue_startv(&self->e, self->e.image, self->e.mnt, opts));
	text = fue_slurp(self->e.errlog);
	ASSERT_NE(NULL, text);
	EXPECT_NE(NULL, strstr(text, "refused FUSE_IO_URING_CMD_REGISTER"))
		TH_LOG("%s", text);
	EXPECT_NE(NULL, strstr(text, "Invalid argument")) TH_LOG("%s", text);
	EXPECT_EQ(0, fue_mount_info(self->e.mnt, NULL, NULL, 0))
		TH_LOG("the export is still mounted");
	free(text);
}

/* Without the test aid, the same options keep the ring and one reader. */
TEST_F_TIMEOUT(fallback, no_failure_keeps_the_ring, TIMEOUT_S)
{
	const char *opts[] = { "--io-uring=auto", "--queue-depth=" DEPTH,
			       NULL };
	char *buf;
	int i;

	READY();
	ASSERT_EQ(0, fue_startv(&self->e, self->e.image, self->e.mnt, opts));
	buf = aligned_alloc(BS, BS);
	ASSERT_NE(NULL, buf);
	for (i = 0; i < BLOCKS; i++)
		ASSERT_EQ(BS, fue_pread(self->e.mnt, O_RDONLY | O_DIRECT, buf,
					BS, (off_t)i * BS));
	free(buf);
	ASSERT_EQ(0, fue_request_stats(&self->e, self->s));
	EXPECT_STREQ("ring", self->s->transport);
	EXPECT_LE(BLOCKS, self->s->ring);
	EXPECT_EQ(0, self->s->legacy_io);
	for (i = 0; i < self->s->nr_threads; i++)
		EXPECT_EQ(1, self->s->t[i].readers);
}

int main(int argc, char **argv)
{
	const char *why = fue_check_env();

	if (why)
		ksft_exit_skip("%s\n", why);
	return test_harness_run(argc, argv);
}
