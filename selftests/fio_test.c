// SPDX-License-Identifier: GPL-2.0
/*
 * Data integrity under a real workload: fio writes random 4K blocks with
 * io_uring and O_DIRECT from two jobs on different CPUs, 32 requests deep,
 * then reads everything back and checks each block's crc32c.  Afterwards
 * the image read directly must equal the export read through the mount,
 * byte for byte.  Both transports; fio missing means exit 4.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fue_harness.h"

#define TIMEOUT_S	150
/* fio's own bound, below the harness' so that its output gets shown. */
#define FIO_TIMEOUT_MS	100000
#define IMAGE_SIZE	(64 << 20)
#define NR_JOBS		2
#define MAX_CPUS	1024

static char fio_path[PATH_MAX];

FIXTURE(fio) {
	struct fue_export e;
	const char *skip;
	char fio_log[PATH_MAX];
};

FUE_TRANSPORT_VARIANTS(fio);

FIXTURE_SETUP(fio)
{
	self->skip = fue_setup_skip(variant->ring);
	if (self->skip)
		return;
	ASSERT_EQ(0, fue_init(&self->e));
	snprintf(self->fio_log, sizeof(self->fio_log), "%s/fio.log",
		 self->e.dir);
}

FIXTURE_TEARDOWN(fio)
{
	fue_teardown(&self->e);
}

TEST_F_TIMEOUT(fio, randwrite_verify_then_cmp, TIMEOUT_S)
{
	const char *opts[] = { variant->transport, "--writable", "--stats",
			       NULL };
	char filename[PATH_MAX + 16], cpus_opt[64], *out, *p, *dump;
	struct fue_opstat poll_stat = { 0 };
	int nr_err_fields = 0;
	const char *args[32];
	struct fue_stats *s = malloc(sizeof(*s));
	int cpus[MAX_CPUS], nr_cpus, n = 0, ret;
	off_t diff = -1;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_NE(NULL, s);
	/* Sparse: every block fio verifies is one it wrote itself. */
	ASSERT_EQ(0, fue_make_sparse_image(self->e.image, IMAGE_SIZE, 0, 0));
	ASSERT_EQ(0, fue_make_mountpoint(self->e.mnt));
	/*
	 * fio runs for a while; the watchdog must not cut it short.  It is
	 * armed at start-up, so this must come first.
	 */
	self->e.watchdog_s = TIMEOUT_S;
	ASSERT_EQ(0, fue_startv(&self->e, self->e.image, self->e.mnt, opts));

	snprintf(filename, sizeof(filename), "--filename=%s", self->e.mnt);
	args[n++] = fio_path;
	args[n++] = "--name=integrity";
	args[n++] = filename;
	args[n++] = "--rw=randwrite";
	args[n++] = "--bs=4k";
	args[n++] = "--iodepth=32";
	args[n++] = "--ioengine=io_uring";
	args[n++] = "--direct=1";
	/* Two jobs, each verifying only its own half of the export. */
	args[n++] = "--numjobs=2";
	args[n++] = "--size=32M";
	args[n++] = "--offset_increment=32M";
	args[n++] = "--verify=crc32c";
	args[n++] = "--do_verify=1";
	args[n++] = "--verify_fatal=1";
	/* No verify state files left in the current directory. */
	args[n++] = "--verify_state_save=0";
	/* Threads, so that killing fio on a timeout kills every job. */
	args[n++] = "--thread";
	/* The export has a fixed size: never lay it out or allocate it. */
	args[n++] = "--fallocate=none";
	args[n++] = "--group_reporting";
	nr_cpus = fue_online_cpus(cpus, MAX_CPUS);
	if (nr_cpus >= NR_JOBS) {
		/* One job per CPU: both kernel queues carry the load. */
		snprintf(cpus_opt, sizeof(cpus_opt), "--cpus_allowed=%d,%d",
			 cpus[0], cpus[1]);
		args[n++] = cpus_opt;
		args[n++] = "--cpus_allowed_policy=split";
	}
	args[n] = NULL;

	ret = fue_exec(args, self->fio_log, FIO_TIMEOUT_MS);
	if (ret)
		fue_dump_file("fio", self->fio_log);
	if (ret == -ETIMEDOUT && self->e.has_conn)
		fue_abort_conn(self->e.conn);
	ASSERT_EQ(0, ret) TH_LOG("fio failed (%d)", ret);
	out = fue_slurp(self->fio_log);
	ASSERT_NE(NULL, out);
	/* Both phases ran: the writes and the verifying reads. */
	EXPECT_NE(NULL, strstr(out, "WRITE:")) fue_dump_file("fio", self->fio_log);
	EXPECT_NE(NULL, strstr(out, "READ:")) fue_dump_file("fio", self->fio_log);
	EXPECT_EQ(NULL, strstr(out, "verify:"))
		fue_dump_file("fio", self->fio_log);
	/* fio counts no error in any job. */
	for (p = strstr(out, "err="); p; p = strstr(p + 1, "err=")) {
		EXPECT_EQ(0, strtol(p + 4, NULL, 10))
			TH_LOG("fio: %.*s", (int)strcspn(p, "\n"), p);
		nr_err_fields++;
	}
	EXPECT_LT(0, nr_err_fields) fue_dump_file("fio", self->fio_log);
	free(out);

	/* The transport really carried it. */
	ASSERT_EQ(0, fue_request_stats_dump(&self->e, &dump));
	ASSERT_EQ(0, fue_parse_stats(dump, s));
	/*
	 * fio poll()s the file: POLL is answered ENOSYS, after which the
	 * kernel never asks again; both jobs may ask before that.  Those
	 * are the only error replies.
	 */
	ret = fue_parse_op_stat(dump, "POLL", &poll_stat);
	ASSERT_TRUE(ret == 0 || ret == -ENOENT);
	EXPECT_EQ(ret ? 0 : poll_stat.count, s->errors)
		TH_LOG("%llu error replies", s->errors);
	free(dump);
	if (variant->ring) {
		EXPECT_LE(IMAGE_SIZE / 4096, s->ring);
		EXPECT_EQ(0, s->dev_io);
	} else {
		EXPECT_LE(IMAGE_SIZE / 4096, s->dev_io);
	}

	/* What the export serves is what the image holds. */
	ret = fue_cmp_files(self->e.image, self->e.mnt, IMAGE_SIZE, &diff);
	EXPECT_EQ(0, ret) TH_LOG("cmp: %d, first difference at %lld", ret,
				 (long long)diff);
	EXPECT_EQ(IMAGE_SIZE, fue_file_size(self->e.image));
	expect_clean_exit(_metadata, &self->e);
	free(s);
}

int main(int argc, char **argv)
{
	const char *why = fue_check_env();
	const char *fio = getenv("FUE_FIO");

	if (why)
		ksft_exit_skip("%s\n", why);
	if (!fue_which(fio && fio[0] ? fio : "fio", fio_path,
		       sizeof(fio_path)))
		ksft_exit_skip("fio not found (install fio, or set FUE_FIO)\n");
	return test_harness_run(argc, argv);
}
