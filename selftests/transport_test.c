// SPDX-License-Identifier: GPL-2.0
/*
 * Transport tests: prove from the daemon's own counters that requests came
 * over the ring (a failed REGISTER silently falls back to /dev/fuse), that
 * every CPU's queue is served, that a shallow queue still completes deep
 * concurrent I/O, and that both transports end cleanly on an unmount.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fue_harness.h"

#define TIMEOUT_S	90
#define URING_PARAM	"/sys/module/fuse/parameters/enable_uring"
#define MAX_CPUS	1024
#define IMAGE_SIZE	(8 << 20)

/*
 * Client work, run in a child: reads (and with write set, writes first)
 * nr_blocks 4K blocks from block first, checking the data, on one CPU if
 * cpu >= 0.  O_DIRECT makes every block a request of its own instead of a
 * page cache hit.
 */
struct client {
	const char *path;
	int cpu;
	int threads;
	int nr_blocks;
	int first_block;
	bool write;
	/* results */
	int done;
	int bad;
	int err;
};

struct worker {
	struct client *c;
	int idx;
	int done;
	int bad;
	int err;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct client *c = w->c;
	int per = c->nr_blocks / c->threads;
	int first = c->first_block + w->idx * per;
	void *buf;
	int fd, i;

	if (posix_memalign(&buf, 4096, 4096)) {
		w->err = ENOMEM;
		return NULL;
	}
	/* Every open of the export is direct I/O: O_DIRECT must work. */
	fd = open(c->path, (c->write ? O_RDWR : O_RDONLY) | O_DIRECT);
	if (fd < 0) {
		w->err = errno;
		free(buf);
		return NULL;
	}
	for (i = 0; i < per; i++) {
		off_t off = (off_t)(first + i) * 4096;

		/* Write another offset's pattern, so a stale read shows. */
		if (c->write) {
			fue_fill_pattern(buf, 4096, off + IMAGE_SIZE);
			if (pwrite(fd, buf, 4096, off) != 4096) {
				w->err = errno ? errno : EIO;
				break;
			}
		}
		memset(buf, 0, 4096);
		if (pread(fd, buf, 4096, off) != 4096) {
			w->err = errno ? errno : EIO;
			break;
		}
		if (fue_check_pattern(buf, 4096,
				      c->write ? off + IMAGE_SIZE : off) >= 0)
			w->bad++;
		w->done++;
	}
	close(fd);
	free(buf);
	return NULL;
}

static int client_main(void *arg)
{
	struct client *c = arg;
	struct worker w[64];
	pthread_t tid[64];
	int i;

	if (c->cpu >= 0) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(c->cpu, &set);
		if (sched_setaffinity(0, sizeof(set), &set)) {
			c->err = errno;
			return 1;
		}
	}
	memset(w, 0, sizeof(w));
	for (i = 0; i < c->threads; i++) {
		w[i].c = c;
		w[i].idx = i;
		/* Threads inherit the affinity set above. */
		if (pthread_create(&tid[i], NULL, worker_main, &w[i])) {
			c->err = EAGAIN;
			c->threads = i;
			break;
		}
	}
	for (i = 0; i < c->threads; i++) {
		pthread_join(tid[i], NULL);
		c->done += w[i].done;
		c->bad += w[i].bad;
		if (w[i].err && !c->err)
			c->err = w[i].err;
	}
	return 0;
}

/* Run a client in a bounded child; returns the shared result block. */
static struct client *run_client(const char *path, int cpu, int threads,
				 int first_block, int nr_blocks, bool write)
{
	struct client *c = fue_shared_alloc(sizeof(*c));

	if (!c)
		return NULL;
	c->path = path;
	c->cpu = cpu;
	c->threads = threads > 64 ? 64 : threads;
	c->first_block = first_block;
	c->nr_blocks = nr_blocks;
	c->write = write;
	if (fue_in_child(client_main, c, FUE_IO_TIMEOUT_MS * 3) < 0)
		c->err = ETIMEDOUT;
	return c;
}

#define CHECK_CLIENT(c, want) do { \
	ASSERT_NE(NULL, (c)); \
	EXPECT_EQ(0, (c)->err) \
		TH_LOG("client error: %s", strerror((c)->err)); \
	EXPECT_EQ((want), (c)->done); \
	EXPECT_EQ(0, (c)->bad); \
} while (0)

static const struct fue_qstat *find_qid(const struct fue_stats *s, int qid)
{
	int i;

	for (i = 0; i < s->nr_queues; i++)
		if (s->q[i].qid == qid)
			return &s->q[i];
	return NULL;
}

/* Every kernel queue 0..possible-1 has exactly one stats line. */
static void check_all_qids(struct __test_metadata *_metadata,
			   const struct fue_stats *s)
{
	int nr = fue_possible_cpus(), qid, i, seen;

	ASSERT_LT(0, nr);
	EXPECT_EQ(nr, s->nr_queues);
	for (qid = 0; qid < nr; qid++) {
		for (seen = 0, i = 0; i < s->nr_queues; i++)
			seen += s->q[i].qid == qid;
		EXPECT_EQ(1, seen) TH_LOG("stats lines for qid %d", qid);
	}
}

/* Both transports. */

FIXTURE(xport) {
	struct fue_export e;
	const char *skip;
	struct fue_load *load;
};

FUE_TRANSPORT_VARIANTS(xport);

FIXTURE_SETUP(xport)
{
	self->skip = fue_setup_skip(variant->ring);
	if (self->skip)
		return;
	ASSERT_EQ(0, fue_init(&self->e));
}

FIXTURE_TEARDOWN(xport)
{
	/* A client still in a request ends once teardown aborts it. */
	fue_load_stop(self->load, 2000);
	fue_teardown(&self->e);
	fue_load_free(self->load);
}

TEST_F_TIMEOUT(xport, stats_show_transport, TIMEOUT_S)
{
	const char *opts[] = { variant->transport, "--stats", NULL };
	struct fue_stats *s = malloc(sizeof(*s));
	struct client *c;
	char *text;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_NE(NULL, s);
	ASSERT_EQ(0, fue_start_fresh(&self->e, IMAGE_SIZE, opts));
	c = run_client(self->e.mnt, -1, 1, 0, 64, false);
	CHECK_CLIENT(c, 64);
	ASSERT_EQ(0, fue_request_stats(&self->e, s));
	ASSERT_TRUE(s->have_total);
	EXPECT_LE(1, s->nr_threads);
	EXPECT_EQ(0, s->errors);
	if (variant->ring) {
		EXPECT_STREQ("ring", s->transport);
		EXPECT_LT(0, s->ring);
		EXPECT_EQ(0, s->dev_io);
		check_all_qids(_metadata, s);
	} else {
		EXPECT_STREQ("/dev/fuse", s->transport);
		EXPECT_EQ(0, s->ring);
		EXPECT_LE(64, s->dev_io);
		EXPECT_EQ(0, s->nr_queues);
	}
	/* And a last dump at exit. */
	expect_clean_exit(_metadata, &self->e);
	text = fue_slurp(self->e.errlog);
	ASSERT_NE(NULL, text);
	memset(s, 0, sizeof(*s));
	EXPECT_EQ(0, fue_parse_stats(text, s));
	EXPECT_STREQ(variant->ring ? "ring" : "/dev/fuse", s->transport);
	free(text);
	free(s);
}

TEST_F_TIMEOUT(xport, external_umount_exits_zero, TIMEOUT_S)
{
	const char *opts[] = { variant->transport, NULL };
	struct client *c;
	int status;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_EQ(0, fue_start_fresh(&self->e, IMAGE_SIZE, opts));
	c = run_client(self->e.mnt, -1, 2, 0, 32, false);
	CHECK_CLIENT(c, 32);
	/* What umount(8) does: a plain, non-lazy unmount. */
	ASSERT_EQ(0, umount2(self->e.mnt, 0));
	ASSERT_TRUE(fue_wait_exit(&self->e, 5000))
		TH_LOG("daemon still running 5s after the unmount");
	status = self->e.status;
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
		TH_LOG("daemon wait status %#x", status);
	EXPECT_EQ(0, fue_mount_info(self->e.mnt, NULL, NULL, 0));
}

TEST_F_TIMEOUT(xport, sigint_unmounts_and_exits_zero, TIMEOUT_S)
{
	const char *opts[] = { variant->transport, NULL };
	struct client *c;
	int status;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_EQ(0, fue_start_fresh(&self->e, IMAGE_SIZE, opts));
	c = run_client(self->e.mnt, -1, 2, 0, 32, false);
	CHECK_CLIENT(c, 32);
	ASSERT_EQ(0, kill(self->e.pid, SIGINT));
	ASSERT_TRUE(fue_wait_exit(&self->e, 5000))
		TH_LOG("daemon still running 5s after SIGINT");
	status = self->e.status;
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
		TH_LOG("daemon wait status %#x", status);
	/* A clean shutdown takes its mount along. */
	EXPECT_EQ(0, fue_mount_info(self->e.mnt, NULL, NULL, 0));
}

TEST_F_TIMEOUT(xport, fusectl_abort_exits_one, TIMEOUT_S)
{
	const char *opts[] = { variant->transport, NULL };
	struct client *c;
	char want[64], *text;
	int status;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_EQ(0, fue_start_fresh(&self->e, IMAGE_SIZE, opts));
	c = run_client(self->e.mnt, -1, 2, 0, 32, false);
	CHECK_CLIENT(c, 32);
	ASSERT_EQ(0, fue_abort_conn(self->e.conn));
	ASSERT_TRUE(fue_wait_exit(&self->e, 5000))
		TH_LOG("daemon still running 5s after the abort");
	status = self->e.status;
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1)
		TH_LOG("daemon wait status %#x", status);
	/* README: it says so and removes the dead mount. */
	snprintf(want, sizeof(want), "the FUSE connection %u was aborted",
		 self->e.conn);
	text = fue_slurp(self->e.errlog);
	ASSERT_NE(NULL, text);
	EXPECT_NE(NULL, strstr(text, want)) TH_LOG("stderr: %s", text);
	free(text);
	EXPECT_EQ(0, fue_mount_info(self->e.mnt, NULL, NULL, 0))
		TH_LOG("the dead mount is still there");
}

/* The load's reads: 64 KiB each, several per CPU in flight. */
#define LOAD_BS		(64 << 10)
#define LOAD_FLAGS	(FUE_LOAD_DEEP | FUE_LOAD_BUFFERED)

/*
 * More queue threads than CPUs: over /dev/fuse every one of them reads
 * requests (with all its slots), over the ring there is one a queue
 * (README); either way a load from every CPU gets the image's bytes.
 */
TEST_F_TIMEOUT(xport, more_threads_than_cpus, TIMEOUT_S)
{
	int possible = fue_possible_cpus(), want, i;
	char qopt[32];
	const char *opts[] = { variant->transport, "--stats", qopt,
			       "--queue-depth=8", NULL };
	struct fue_stats *s = malloc(sizeof(*s));
	struct fue_load *l;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_NE(NULL, s);
	ASSERT_LT(0, possible);
	want = 2 * possible + 1;
	snprintf(qopt, sizeof(qopt), "--queues=%d", want);
	ASSERT_EQ(0, fue_start_fresh(&self->e, IMAGE_SIZE, opts));
	l = self->load = fue_load_start(self->e.mnt, 0, IMAGE_SIZE, LOAD_BS, 0,
					FUE_LOAD_DEEP | FUE_LOAD_VERIFY);
	ASSERT_NE(NULL, l);
	EXPECT_TRUE(fue_load_wait_ops(l, 200, 5000));
	EXPECT_TRUE(fue_load_stop(l, 5000));
	EXPECT_EQ(0, fue_load_errors(l));
	EXPECT_EQ(0, fue_load_bad(l));
	ASSERT_EQ(0, fue_request_stats(&self->e, s));
	EXPECT_EQ(variant->ring ? possible : want, s->nr_threads);
	for (i = 0; i < s->nr_threads; i++)
		EXPECT_EQ(variant->ring ? 1ULL : 8ULL, s->t[i].readers)
			TH_LOG("thread %d: %llu readers", s->t[i].thread,
			       s->t[i].readers);
	if (variant->ring) {
		check_all_qids(_metadata, s);
		EXPECT_EQ(0, s->dev_io);
	} else {
		EXPECT_LE(200, s->dev_io);
	}
	free(s);
	expect_clean_exit(_metadata, &self->e);
}

TEST_F_TIMEOUT(xport, abort_under_load, TIMEOUT_S)
{
	const char *opts[] = { variant->transport, NULL };
	struct fue_load *l;
	int status;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_EQ(0, fue_start_fresh(&self->e, IMAGE_SIZE, opts));
	l = self->load = fue_load_start(self->e.mnt, 0, IMAGE_SIZE, LOAD_BS, 0,
					LOAD_FLAGS);
	ASSERT_NE(NULL, l);
	fue_load_wait_ops(l, 200, 5000);
	EXPECT_LE(200, fue_load_ops(l));
	EXPECT_EQ(0, fue_load_errors(l));
	ASSERT_EQ(0, fue_abort_conn(self->e.conn));
	/* Teardown must finish: the daemon ends, the clients get errors. */
	EXPECT_TRUE(fue_wait_exit(&self->e, 5000))
		TH_LOG("daemon still running 5s after the abort");
	EXPECT_TRUE(fue_load_wait(l, 5000))
		TH_LOG("clients still blocked 5s after the abort");
	EXPECT_NE(0, fue_load_errors(l));
	status = self->e.status;
	EXPECT_TRUE(self->e.exited && WIFEXITED(status) &&
		    WEXITSTATUS(status) == 1)
		TH_LOG("daemon wait status %#x", status);
}

TEST_F_TIMEOUT(xport, sigterm_under_load, TIMEOUT_S)
{
	const char *opts[] = { variant->transport, NULL };
	struct fue_load *l;
	int status;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_EQ(0, fue_start_fresh(&self->e, IMAGE_SIZE, opts));
	l = self->load = fue_load_start(self->e.mnt, 0, IMAGE_SIZE, LOAD_BS, 0,
					LOAD_FLAGS);
	ASSERT_NE(NULL, l);
	fue_load_wait_ops(l, 200, 5000);
	EXPECT_LE(200, fue_load_ops(l));
	EXPECT_EQ(0, fue_load_errors(l));
	ASSERT_EQ(0, kill(self->e.pid, SIGTERM));
	/* Open files must not keep a stopping daemon alive. */
	EXPECT_TRUE(fue_wait_exit(&self->e, 5000))
		TH_LOG("daemon still running 5s after SIGTERM");
	EXPECT_TRUE(fue_load_wait(l, 5000))
		TH_LOG("clients still blocked 5s after SIGTERM");
	EXPECT_NE(0, fue_load_errors(l));
	status = self->e.status;
	EXPECT_TRUE(self->e.exited && WIFEXITED(status) &&
		    WEXITSTATUS(status) == 0)
		TH_LOG("daemon wait status %#x", status);
}

/* Ring only. */

FIXTURE(ring) {
	struct fue_export e;
	const char *skip;
	struct fue_stats before, after;
};

FIXTURE_SETUP(ring)
{
	self->skip = fue_setup_skip(true);
	if (self->skip)
		return;
	ASSERT_EQ(0, fue_init(&self->e));
}

FIXTURE_TEARDOWN(ring)
{
	fue_teardown(&self->e);
}

static unsigned long long qid_ring(const struct fue_stats *s, int qid)
{
	const struct fue_qstat *q = find_qid(s, qid);

	return q ? q->ring : 0;
}

/* Pin a client to each online CPU; its requests must use that queue. */
static void per_cpu_traffic(struct __test_metadata *_metadata,
			    FIXTURE_DATA(ring) *self)
{
	int cpus[MAX_CPUS], nr, i;
	struct client *c;

	nr = fue_online_cpus(cpus, MAX_CPUS);
	ASSERT_LT(0, nr);
	for (i = 0; i < nr; i++) {
		ASSERT_EQ(0, fue_request_stats(&self->e, &self->before));
		c = run_client(self->e.mnt, cpus[i], 1, 16 * (i % 64), 16,
			       false);
		CHECK_CLIENT(c, 16);
		ASSERT_EQ(0, fue_request_stats(&self->e, &self->after));
		TH_LOG("cpu %d: qid %d ring %llu -> %llu", cpus[i], cpus[i],
		       qid_ring(&self->before, cpus[i]),
		       qid_ring(&self->after, cpus[i]));
		EXPECT_LT(qid_ring(&self->before, cpus[i]),
			  qid_ring(&self->after, cpus[i]))
			TH_LOG("no ring traffic on qid %d from cpu %d",
			       cpus[i], cpus[i]);
		EXPECT_EQ(self->before.dev_io, self->after.dev_io);
	}
}

TEST_F_TIMEOUT(ring, each_cpu_uses_its_queue, TIMEOUT_S)
{
	const char *opts[] = { "--io-uring=on", "--stats", NULL };

	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_EQ(0, fue_start_fresh(&self->e, IMAGE_SIZE, opts));
	per_cpu_traffic(_metadata, self);
	expect_clean_exit(_metadata, &self->e);
}

TEST_F_TIMEOUT(ring, one_thread_serves_all_queues, TIMEOUT_S)
{
	const char *opts[] = { "--io-uring=on", "--stats", "--queues=1", NULL };
	int i;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_EQ(0, fue_start_fresh(&self->e, IMAGE_SIZE, opts));
	ASSERT_EQ(0, fue_request_stats(&self->e, &self->before));
	check_all_qids(_metadata, &self->before);
	for (i = 0; i < self->before.nr_queues; i++)
		EXPECT_EQ(0, self->before.q[i].thread)
			TH_LOG("qid %d served by thread %d",
			       self->before.q[i].qid,
			       self->before.q[i].thread);
	EXPECT_EQ(1, self->before.nr_threads);
	per_cpu_traffic(_metadata, self);
	expect_clean_exit(_metadata, &self->e);
}

/*
 * --queues below, at and above the CPU count: kernel queues are dealt
 * round-robin over min(N, queues) threads (README: with the ring at most
 * one a queue), every queue is served, and each CPU's requests still go
 * to its own queue.
 */
TEST_F_TIMEOUT(ring, queues_below_at_and_above_the_cpus, TIMEOUT_S)
{
	int possible = fue_possible_cpus(), want[4], n = 0, i, k;
	char qopt[32];
	const char *opts[] = { "--io-uring=on", "--stats", qopt, NULL };

	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_LT(0, possible);
	if (possible > 1)
		want[n++] = possible - 1;
	want[n++] = possible;
	want[n++] = possible + 1;
	want[n++] = 2 * possible + 1;
	for (k = 0; k < n; k++) {
		int threads = want[k] < possible ? want[k] : possible;

		TH_LOG("--queues=%d over %d possible CPUs", want[k], possible);
		if (k) {
			fue_teardown(&self->e);
			ASSERT_EQ(0, fue_init(&self->e));
		}
		snprintf(qopt, sizeof(qopt), "--queues=%d", want[k]);
		ASSERT_EQ(0, fue_start_fresh(&self->e, IMAGE_SIZE, opts));
		ASSERT_EQ(0, fue_request_stats(&self->e, &self->before));
		check_all_qids(_metadata, &self->before);
		EXPECT_EQ(threads, self->before.nr_threads);
		for (i = 0; i < self->before.nr_queues; i++)
			EXPECT_EQ(self->before.q[i].qid % threads,
				  self->before.q[i].thread)
				TH_LOG("qid %d served by thread %d",
				       self->before.q[i].qid,
				       self->before.q[i].thread);
		per_cpu_traffic(_metadata, self);
		expect_clean_exit(_metadata, &self->e);
	}
}

/*
 * Two ring exports at once, each with its own connection and rings: an
 * abort of one (fusectl) ends that one alone, while the other goes on
 * serving its load, over its ring, with every byte right.
 */
FIXTURE(two) {
	struct fue_export e, survivor;
	const char *skip;
	struct fue_load *load;
};

FIXTURE_SETUP(two)
{
	self->skip = fue_setup_skip(true);
	if (self->skip)
		return;
	ASSERT_EQ(0, fue_init(&self->e));
	ASSERT_EQ(0, fue_init(&self->survivor));
}

FIXTURE_TEARDOWN(two)
{
	fue_load_free(self->load);
	fue_teardown(&self->e);
	fue_teardown(&self->survivor);
}

TEST_F_TIMEOUT(two, abort_one_ring_export_other_serves, TIMEOUT_S)
{
	const char *opts[] = { "--io-uring=on", "--writable", "--stats", NULL };
	struct fue_stats *before = malloc(sizeof(*before));
	struct fue_stats *after = malloc(sizeof(*after));
	struct fue_load *l;
	long ops;
	off_t diff = -1;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_NE(NULL, before);
	ASSERT_NE(NULL, after);
	ASSERT_EQ(0, fue_start_fresh(&self->e, IMAGE_SIZE, opts));
	ASSERT_EQ(0, fue_start_fresh(&self->survivor, IMAGE_SIZE, opts));
	ASSERT_NE(self->e.conn, self->survivor.conn);
	/* Writers put the image's own pattern back: readers can verify. */
	l = self->load = fue_load_start(self->survivor.mnt, 0, IMAGE_SIZE,
					LOAD_BS, 0, FUE_LOAD_WRITERS |
					FUE_LOAD_VERIFY);
	ASSERT_NE(NULL, l);
	EXPECT_TRUE(fue_load_wait_ops(l, 200, 5000));
	ASSERT_EQ(0, fue_request_stats(&self->survivor, before));

	ASSERT_EQ(0, fue_abort_conn(self->e.conn));

	/* The survivor serves on, after the abort as before it. */
	ops = fue_load_ops(l);
	EXPECT_TRUE(fue_load_wait_ops(l, ops + 200, 5000))
		TH_LOG("the other export stopped serving after the abort");
	EXPECT_TRUE(fue_load_stop(l, 5000));
	EXPECT_EQ(0, fue_load_errors(l));
	EXPECT_EQ(0, fue_load_bad(l));

	/*
	 * Only now wait for the aborted one: on a busy 2-CPU machine its
	 * threads, woken by the abort, were seen runnable yet unscheduled
	 * for tens of seconds while the load ran.
	 */
	EXPECT_TRUE(fue_wait_exit(&self->e, 5000))
		TH_LOG("the aborted export still running 5s after the abort");
	EXPECT_TRUE(self->e.exited && WIFEXITED(self->e.status) &&
		    WEXITSTATUS(self->e.status) == 1)
		TH_LOG("aborted daemon's wait status %#x", self->e.status);
	EXPECT_FALSE(fue_conn_exists(self->e.conn));

	ASSERT_EQ(0, fue_request_stats(&self->survivor, after));
	EXPECT_STREQ("ring", after->transport);
	EXPECT_LT(before->ring, after->ring)
		TH_LOG("no ring traffic on the survivor after the abort");
	EXPECT_EQ(before->dev_io, after->dev_io);
	EXPECT_EQ(0, after->errors);
	EXPECT_TRUE(fue_conn_exists(self->survivor.conn));
	EXPECT_EQ(0, fue_cmp_files(self->survivor.image, self->survivor.mnt,
				   IMAGE_SIZE, &diff))
		TH_LOG("the survivor's mount and image differ at %lld",
		       (long long)diff);
	expect_clean_exit(_metadata, &self->survivor);
	free(before);
	free(after);
}

/*
 * Requests larger than 1 MiB: with the kernel's fs.fuse.max_pages_limit
 * raised to 16 MiB of pages (and put back after), --max-io=16M lets one
 * 16 MiB direct write and one 16 MiB direct read each reach the daemon
 * whole, as one WRITE and one READ of 16 MiB in its trace, on both
 * transports, with the bytes right.
 */
/* The sysctl fs.fuse.max_pages_limit, or a module parameter of the name. */
static const char *const max_pages_limit_files[] = {
	"/proc/sys/fs/fuse/max_pages_limit",
	"/sys/module/fuse/parameters/max_pages_limit",
};
#define BIG_IO		(16 << 20)
/* Written data unlike the image's pattern, so that a stale read shows. */
#define SHIFT_BIG	4321

FIXTURE(big) {
	struct fue_export e;
	const char *skip;
	const char *limit;
	char limit_was[32];
	char trace[PATH_MAX + 16];
	void *buf;
};

FUE_TRANSPORT_VARIANTS(big);

FIXTURE_SETUP(big)
{
	unsigned int i;

	self->limit_was[0] = '\0';
	self->skip = fue_setup_skip(variant->ring);
	if (self->skip)
		return;
	ASSERT_EQ(0, fue_init(&self->e));
	for (i = 0; i < ARRAY_SIZE(max_pages_limit_files); i++)
		if (!fue_read_word(max_pages_limit_files[i], self->limit_was,
				   sizeof(self->limit_was))) {
			self->limit = max_pages_limit_files[i];
			break;
		}
	if (!self->limit) {
		self->limit_was[0] = '\0';
		self->skip = "the kernel has no fuse max_pages_limit: requests stay at most 1 MiB";
		return;
	}
	ASSERT_EQ(0, fue_write_word(self->limit, "4096"));
	ASSERT_EQ(0, posix_memalign(&self->buf, 4096, BIG_IO));
}

FIXTURE_TEARDOWN(big)
{
	fue_teardown(&self->e);
	if (self->limit_was[0] &&
	    fue_write_word(self->limit, self->limit_was))
		fue_log("could not put %s back to %s", self->limit,
			self->limit_was);
	free(self->buf);
}

TEST_F_TIMEOUT(big, request_of_16m_reaches_the_daemon_whole, TIMEOUT_S)
{
	const char *opts[] = { variant->transport, "--writable", "--max-io=16M",
			       "--queue-depth=2", self->trace, NULL };
	char want[64], *text;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	snprintf(self->trace, sizeof(self->trace), "--trace=%s/trace",
		 self->e.dir);
	ASSERT_EQ(0, fue_start_fresh(&self->e, 2 * BIG_IO, opts));
	fue_fill_pattern(self->buf, BIG_IO, BIG_IO + SHIFT_BIG);
	EXPECT_EQ(BIG_IO, fue_pwrite(self->e.mnt, O_RDWR | O_DIRECT,
				     self->buf, BIG_IO, BIG_IO));
	memset(self->buf, 0, BIG_IO);
	EXPECT_EQ(BIG_IO, fue_pread(self->e.mnt, O_RDONLY | O_DIRECT,
				    self->buf, BIG_IO, BIG_IO));
	EXPECT_EQ(-1, fue_check_pattern(self->buf, BIG_IO, BIG_IO + SHIFT_BIG));
	expect_clean_exit(_metadata, &self->e);

	text = fue_slurp(self->trace + strlen("--trace="));
	ASSERT_NE(NULL, text);
	snprintf(want, sizeof(want), " WRITE node=1 off=%d size=%d\n",
		 BIG_IO, BIG_IO);
	EXPECT_NE(NULL, strstr(text, want))
		TH_LOG("no 16 MiB WRITE reached the daemon whole");
	snprintf(want, sizeof(want), " READ node=1 off=%d size=%d\n",
		 BIG_IO, BIG_IO);
	EXPECT_NE(NULL, strstr(text, want))
		TH_LOG("no 16 MiB READ reached the daemon whole");
	free(text);
}

TEST_F_TIMEOUT(ring, queue_depth_one_many_requests, TIMEOUT_S)
{
	const char *opts[] = {
		"--io-uring=on", "--stats", "--queue-depth=1", "--writable",
		NULL
	};
	struct client *c;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_EQ(0, fue_start_fresh(&self->e, IMAGE_SIZE, opts));
	/* 8 threads on one CPU: 8 requests for one ring entry. */
	c = run_client(self->e.mnt, 0, 8, 0, 8 * 32, false);
	CHECK_CLIENT(c, 8 * 32);
	/* And spread over the CPUs, writing then reading back. */
	c = run_client(self->e.mnt, -1, 8, 512, 8 * 32, true);
	CHECK_CLIENT(c, 8 * 32);
	ASSERT_EQ(0, fue_request_stats(&self->e, &self->after));
	EXPECT_STREQ("ring", self->after.transport);
	EXPECT_LE(8 * 32 * 3, self->after.ring);
	EXPECT_EQ(0, self->after.errors);
	expect_clean_exit(_metadata, &self->e);
}

static unsigned long long offloaded(const struct fue_stats *s)
{
	unsigned long long sum = 0;
	int i;

	for (i = 0; i < s->nr_queues; i++)
		sum += s->q[i].offloaded;
	return sum;
}

/*
 * A 1 MiB READ's reply is copied to the client by an io-wq worker rather
 * than by the queue thread on the client's CPU; a 4 KiB one stays inline,
 * where a worker's wake-up would cost more than the copy.  Zero copy is
 * off: its data is never in a reply.
 */
TEST_F_TIMEOUT(ring, large_read_replies_are_offloaded, TIMEOUT_S)
{
	const char *opts[] = {
		"--io-uring=on", "--stats", "--zero-copy=off", NULL
	};
	size_t big = 1 << 20;
	char *buf;
	off_t off;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_EQ(0, fue_start_fresh(&self->e, IMAGE_SIZE, opts));
	buf = malloc(big);
	ASSERT_NE(NULL, buf);
	for (off = 0; off < 64 * 4096; off += 4096) {
		ASSERT_EQ(4096, fue_pread(self->e.mnt, O_RDONLY | O_DIRECT,
					  buf, 4096, off));
		ASSERT_EQ(-1, fue_check_pattern(buf, 4096, off));
	}
	ASSERT_EQ(0, fue_request_stats(&self->e, &self->before));
	EXPECT_LE(64, self->before.ring);
	EXPECT_EQ(0, offloaded(&self->before));
	ASSERT_EQ((ssize_t)big, fue_pread(self->e.mnt, O_RDONLY | O_DIRECT,
					  buf, big, big));
	EXPECT_EQ(-1, fue_check_pattern(buf, big, big));
	ASSERT_EQ(0, fue_request_stats(&self->e, &self->after));
	EXPECT_LE(1, offloaded(&self->after));
	EXPECT_EQ(0, self->after.errors);
	free(buf);
	expect_clean_exit(_metadata, &self->e);
}

#define PREFIX		"fuse-uring-export: "

/*
 * Lines of text starting with prefix; *rest_len is the length of what
 * follows the prefix on the last of them.
 */
static int count_prefixed(const char *text, const char *prefix,
			  int *rest_len)
{
	size_t len = strlen(prefix);
	const char *p = text;
	int n = 0;

	*rest_len = 0;
	while (p && *p) {
		if (!strncmp(p, prefix, len)) {
			n++;
			*rest_len = (int)strcspn(p + len, "\n");
		}
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return n;
}

/* enable_uring=N: the kernel no longer offers the ring. */

FIXTURE(no_uring) {
	struct fue_export e;
	const char *skip;
	char saved[8];
};

FIXTURE_SETUP(no_uring)
{
	self->skip = fue_check_env();
	if (!self->skip && fue_read_word(URING_PARAM, self->saved,
					 sizeof(self->saved)))
		self->skip = URING_PARAM " is absent";
	if (!self->skip)
		ASSERT_EQ(0, fue_init(&self->e));
}

FIXTURE_TEARDOWN(no_uring)
{
	fue_teardown(&self->e);
	/* Put the parameter back whatever happened in the test. */
	if (self->saved[0] && fue_write_word(URING_PARAM, self->saved))
		fprintf(stderr, "# could not restore %s to %s\n", URING_PARAM,
			self->saved);
}

TEST_F_TIMEOUT(no_uring, io_uring_on_fails, TIMEOUT_S)
{
	const char *opts[] = { "--io-uring=on", NULL };
	char *text;
	int ret;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_EQ(0, fue_write_word(URING_PARAM, "N"));
	ret = fue_start_fresh(&self->e, IMAGE_SIZE, opts);
	/* README: it unmounts and exits 1, naming the fix. */
	EXPECT_EQ(1, ret) TH_LOG("--io-uring=on without the ring: %d", ret);
	text = fue_slurp(self->e.errlog);
	ASSERT_NE(NULL, text);
	EXPECT_NE(NULL, strstr(text, "enable_uring"))
		TH_LOG("message does not name enable_uring: %s", text);
	EXPECT_EQ(0, strncmp(text, "fuse-uring-export: ", 19));
	EXPECT_EQ(1, fue_count_lines(text));
	EXPECT_EQ(0, fue_mount_info(self->e.mnt, NULL, NULL, 0));
	free(text);
}

TEST_F_TIMEOUT(no_uring, auto_falls_back_to_dev, TIMEOUT_S)
{
	const char *opts[] = { "--io-uring=auto", "--stats", NULL };
	struct fue_stats *s = malloc(sizeof(*s));
	struct client *c;
	int why, reason;
	char *text;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_NE(NULL, s);
	ASSERT_EQ(0, fue_write_word(URING_PARAM, "N"));
	ASSERT_EQ(0, fue_start_fresh(&self->e, IMAGE_SIZE, opts));
	/* It says why, in one line. */
	text = fue_slurp(self->e.errlog);
	ASSERT_NE(NULL, text);
	why = count_prefixed(text, PREFIX "serving over /dev/fuse: ", &reason);
	EXPECT_EQ(1, why) TH_LOG("stderr: %s", text);
	EXPECT_LT(0, reason) TH_LOG("no reason given: %s", text);
	free(text);
	c = run_client(self->e.mnt, -1, 1, 0, 16, false);
	CHECK_CLIENT(c, 16);
	ASSERT_EQ(0, fue_request_stats(&self->e, s));
	EXPECT_STREQ("/dev/fuse", s->transport);
	EXPECT_EQ(0, s->ring);
	EXPECT_LE(16, s->dev_io);
	expect_clean_exit(_metadata, &self->e);
	free(s);
}

/*
 * Buffer pools and zero copy (FUSE 7.46).  The daemon says with -v where
 * each queue's pool is; the pools are read from /proc/PID/mem to prove
 * whether a write's bytes passed through them.
 */

#define POOL_MAX	64
/* A write's bytes: the pattern of an offset no image here reaches. */
#define POOL_PATTERN_BASE	(1ULL << 40)
#define POOL_WRITE_LEN	(1 << 20)

struct pool_region {
	unsigned long long addr;
	unsigned long long len;
};

FIXTURE(pool) {
	struct fue_export e;
	const char *skip;
	struct pool_region pools[POOL_MAX];
	int nr_pools;
};

FIXTURE_SETUP(pool)
{
	self->skip = fue_setup_skip(true);
	if (self->skip)
		return;
	ASSERT_EQ(0, fue_init(&self->e));
}

FIXTURE_TEARDOWN(pool)
{
	fue_teardown(&self->e);
}

/* The "pool of qid N at ADDR, LEN B" lines of -v; how many there were. */
static int find_pools(const char *log, struct pool_region *pools, int max)
{
	const char *p = log;
	int nr = 0;

	while ((p = strstr(p, PREFIX "pool of qid ")) && nr < max) {
		if (sscanf(p, PREFIX "pool of qid %*u at %llx, %llu B",
			   &pools[nr].addr, &pools[nr].len) == 2)
			nr++;
		p++;
	}
	return nr;
}

/*
 * Start with opts plus -v, --stats and --writable (and --io-uring=on,
 * which opts may override): 1 when serving, 0 (with the daemon stopped)
 * when the kernel offers no buffer pools, -1 when the start failed.
 */
static int start_pooled(FIXTURE_DATA(pool) *self, const char *const *opts)
{
	const char *args[16] = { "--io-uring=on", "-v", "--stats",
				 "--writable" };
	char *log;
	int n = 4, i;

	for (i = 0; opts[i] && n < 15; i++)
		args[n++] = opts[i];
	args[n] = NULL;
	if (fue_start_fresh(&self->e, IMAGE_SIZE, args))
		return -1;
	log = fue_slurp(self->e.errlog);
	if (!log)
		return -1;
	if (!strstr(log, "HAS_IO_URING_BUFPOOL")) {
		free(log);
		fue_stop(&self->e);
		return 0;
	}
	self->nr_pools = find_pools(log, self->pools, POOL_MAX);
	free(log);
	return 1;
}


/* Whether len bytes at needle appear anywhere in the daemon's pools. */
static bool pools_hold(struct __test_metadata *_metadata,
		       FIXTURE_DATA(pool) *self, const void *needle,
		       size_t len)
{
	char path[64];
	bool found = false;
	int fd, i;

	snprintf(path, sizeof(path), "/proc/%d/mem", self->e.pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		TH_LOG("%s: %s", path, strerror(errno));
		return false;
	}
	for (i = 0; i < self->nr_pools && !found; i++) {
		char *buf = malloc(self->pools[i].len);

		if (!buf)
			break;
		if (pread(fd, buf, self->pools[i].len,
			  (off_t)self->pools[i].addr) ==
		    (ssize_t)self->pools[i].len)
			found = memmem(buf, self->pools[i].len, needle,
				       len) != NULL;
		else
			TH_LOG("pool %d unreadable: %s", i, strerror(errno));
		free(buf);
	}
	close(fd);
	return found;
}

/* Sum of a "NAME=N" field over the qid lines of a stats dump. */
static unsigned long long sum_field(const char *dump, const char *name)
{
	unsigned long long sum = 0, v;
	char key[64];
	const char *p = dump;

	snprintf(key, sizeof(key), " %s=", name);
	while ((p = strstr(p, key))) {
		p += strlen(key);
		if (sscanf(p, "%llu", &v) == 1)
			sum += v;
	}
	return sum;
}

/*
 * Write POOL_WRITE_LEN bytes of the write pattern at offset 0 with
 * O_DIRECT, read them back, and check them; then the stats dump.
 */
static char *write_and_check(struct __test_metadata *_metadata,
			     FIXTURE_DATA(pool) *self, char *buf)
{
	char *dump = NULL;

	fue_fill_pattern(buf, POOL_WRITE_LEN, POOL_PATTERN_BASE);
	EXPECT_EQ(POOL_WRITE_LEN, fue_pwrite(self->e.mnt, O_RDWR | O_DIRECT,
					     buf, POOL_WRITE_LEN, 0));
	memset(buf, 0, POOL_WRITE_LEN);
	EXPECT_EQ(POOL_WRITE_LEN, fue_pread(self->e.mnt, O_RDONLY | O_DIRECT,
					    buf, POOL_WRITE_LEN, 0));
	EXPECT_EQ(-1, fue_check_pattern(buf, POOL_WRITE_LEN,
					POOL_PATTERN_BASE));
	EXPECT_EQ(0, fue_request_stats_dump(&self->e, &dump));
	return dump;
}

/*
 * Through a started export with pools: the serving line, the write read
 * back, the zero-copy counters, and whether the write's bytes (a page
 * from its middle) are in a pool: never with zero copy, always without.
 */
static void check_pools(struct __test_metadata *_metadata,
			FIXTURE_DATA(pool) *self, char *buf, bool zero_copy)
{
	char *dump, *log;

	ASSERT_LT(0, self->nr_pools) fue_dump_errlog(&self->e);
	log = fue_slurp(self->e.errlog);
	ASSERT_NE(NULL, log);
	EXPECT_NE(NULL, strstr(log, zero_copy ?
			       "transport ring (buffer pools, zero copy)," :
			       "transport ring (buffer pools),"))
		TH_LOG("%s", log);
	free(log);
	dump = write_and_check(_metadata, self, buf);
	ASSERT_NE(NULL, dump);
	EXPECT_EQ(zero_copy, sum_field(dump, "zero_copy_writes") >= 1)
		TH_LOG("%s", dump);
	EXPECT_EQ(zero_copy, sum_field(dump, "zero_copy_reads") >= 1)
		TH_LOG("%s", dump);
	free(dump);
	fue_fill_pattern(buf, 4096, POOL_PATTERN_BASE + POOL_WRITE_LEN / 2);
	EXPECT_EQ(!zero_copy, pools_hold(_metadata, self, buf, 4096))
		TH_LOG("the write's bytes %s in a pool",
		       zero_copy ? "are" : "are not");
	expect_clean_exit(_metadata, &self->e);
}

/* auto: as root zero copy must be on, which the serving line says. */
TEST_F_TIMEOUT(pool, zero_copy_data_never_touches_the_pools, TIMEOUT_S)
{
	const char *opts[] = { "--zero-copy=auto", NULL };
	char *buf = malloc(POOL_WRITE_LEN);
	int ret;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_NE(NULL, buf);
	ret = start_pooled(self, opts);
	ASSERT_LE(0, ret) fue_dump_errlog(&self->e);
	if (!ret)
		SKIP(goto out, "the kernel offers no buffer pools (FUSE 7.46)");
	check_pools(_metadata, self, buf, true);
out:
	free(buf);
}

/* The proof above can see: with copies, the bytes are in a pool. */
TEST_F_TIMEOUT(pool, copies_pass_through_the_pools, TIMEOUT_S)
{
	const char *opts[] = { "--zero-copy=off", NULL };
	char *buf = malloc(POOL_WRITE_LEN);
	int ret;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_NE(NULL, buf);
	ret = start_pooled(self, opts);
	ASSERT_LE(0, ret) fue_dump_errlog(&self->e);
	if (!ret)
		SKIP(goto out, "the kernel offers no buffer pools (FUSE 7.46)");
	check_pools(_metadata, self, buf, false);
out:
	free(buf);
}

/* --pool=0: a buffer per entry, as on kernels without pools. */
TEST_F_TIMEOUT(pool, pool_zero_gives_each_entry_a_buffer, TIMEOUT_S)
{
	const char *opts[] = { "--pool=0", NULL };
	char *buf = malloc(POOL_WRITE_LEN), *dump, *log;
	int ret;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_NE(NULL, buf);
	ret = start_pooled(self, opts);
	ASSERT_LE(0, ret) fue_dump_errlog(&self->e);
	if (!ret)
		SKIP(goto out, "the kernel offers no buffer pools (FUSE 7.46)");
	EXPECT_EQ(0, self->nr_pools);
	log = fue_slurp(self->e.errlog);
	ASSERT_NE(NULL, log);
	EXPECT_NE(NULL, strstr(log, "transport ring, ")) TH_LOG("%s", log);
	EXPECT_NE(NULL, strstr(log, "depth 32,")) TH_LOG("%s", log);
	free(log);
	dump = write_and_check(_metadata, self, buf);
	ASSERT_NE(NULL, dump);
	EXPECT_LE(1, sum_field(dump, "ring")) TH_LOG("%s", dump);
	EXPECT_EQ(NULL, strstr(dump, "zero_copy_")) TH_LOG("%s", dump);
	free(dump);
	expect_clean_exit(_metadata, &self->e);
out:
	free(buf);
}

/*
 * A refused ADD_QUEUE or ADD_BUFPOOL never reaches REGISTER (whose
 * refusal turns the ring off): the queue gets per-entry buffers, one line
 * says so, and the export keeps serving over the ring.
 */
static void refused_falls_back(struct __test_metadata *_metadata,
			       FIXTURE_DATA(pool) *self,
			       const char *const *opts, const char *says,
			       const char *transport)
{
	char *buf = malloc(POOL_WRITE_LEN), *dump, *log;
	int ret;

	ASSERT_NE(NULL, buf);
	ret = start_pooled(self, opts);
	ASSERT_LE(0, ret) fue_dump_errlog(&self->e);
	if (!ret) {
		free(buf);
		SKIP(return, "the kernel offers no buffer pools (FUSE 7.46)");
	}
	log = fue_slurp(self->e.errlog);
	ASSERT_NE(NULL, log);
	EXPECT_NE(NULL, strstr(log, "test aid: ")) TH_LOG("%s", log);
	EXPECT_NE(NULL, strstr(log, says)) TH_LOG("%s", log);
	free(log);
	dump = write_and_check(_metadata, self, buf);
	ASSERT_NE(NULL, dump);
	EXPECT_NE(NULL, strstr(dump, transport)) TH_LOG("%s", dump);
	free(dump);
	free(buf);
	expect_clean_exit(_metadata, &self->e);
}

TEST_F_TIMEOUT(pool, refused_add_queue_keeps_the_ring, TIMEOUT_S)
{
	const char *opts[] = { "--fail-pool=queue", "--zero-copy=auto", NULL };

	if (self->skip)
		SKIP(return, "%s", self->skip);
	refused_falls_back(_metadata, self, opts,
			   "FUSE_IO_URING_CMD_ADD_QUEUE refused on qid",
			   " transport=ring");
}

TEST_F_TIMEOUT(pool, refused_bufpool_keeps_the_ring, TIMEOUT_S)
{
	const char *opts[] = { "--fail-pool=bufpool", "--zero-copy=off", NULL };

	if (self->skip)
		SKIP(return, "%s", self->skip);
	refused_falls_back(_metadata, self, opts,
			   "FUSE_IO_URING_CMD_ADD_BUFPOOL refused on qid",
			   " transport=ring");
}

/* A zero-copy queue without its pool cannot register: /dev/fuse then. */
TEST_F_TIMEOUT(pool, refused_bufpool_on_zero_copy_serves_dev, TIMEOUT_S)
{
	const char *opts[] = { "--fail-pool=bufpool", "--io-uring=auto",
			       "--zero-copy=auto", NULL };

	if (self->skip)
		SKIP(return, "%s", self->skip);
	refused_falls_back(_metadata, self, opts, "serving over /dev/fuse",
			   " transport=/dev/fuse");
}

/* --zero-copy=on where it cannot be had: exit 1, one line, the reason. */
TEST_F_TIMEOUT(pool, zero_copy_on_fails_naming_why, TIMEOUT_S)
{
	const char *probe[] = { "--zero-copy=auto", NULL };
	const char *on[] = { "--io-uring=on", "--zero-copy=on", NULL };
	const char *why;
	char *log;
	int ret;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	/* With pools, null: is what cannot have it; without, any image. */
	ret = start_pooled(self, probe);
	ASSERT_LE(0, ret) fue_dump_errlog(&self->e);
	if (ret) {
		expect_clean_exit(_metadata, &self->e);
		ret = fue_start(&self->e, "null:64M", self->e.mnt,
				"--io-uring=on", "--zero-copy=on", NULL);
		why = "--zero-copy=on: null: ";
	} else {
		ret = fue_start_fresh(&self->e, IMAGE_SIZE, on);
		why = "--zero-copy=on: the kernel does not offer buffer pools";
	}
	EXPECT_EQ(1, ret);
	log = fue_slurp(self->e.errlog);
	ASSERT_NE(NULL, log);
	EXPECT_NE(NULL, strstr(log, why)) TH_LOG("%s", log);
	EXPECT_EQ(0, fue_mount_info(self->e.mnt, NULL, NULL, 0));
	free(log);
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
