// SPDX-License-Identifier: GPL-2.0
/*
 * Lifecycle tests: the ways an export ends that transport_test does not
 * cover (it has umount, SIGINT, fusectl abort and SIGTERM under load), each
 * while clients pinned to every CPU keep reading and writing, on both
 * transports:
 *
 *  - SIGTERM twice in a row: the second one aborts at once, still exit 0;
 *  - SIGTERM or SIGHUP once: the mount goes at once, open files are served
 *    for the two-second grace period, then the daemon exits 0;
 *  - umount -l while clients hold the file open: they keep being served,
 *    and the daemon exits 0 once the last one closes it;
 *  - SIGKILL: clients fail with ENOTCONN or ECONNABORTED instead of
 *    hanging, and every write that was fsync'ed before is in the image;
 *  - image I/O errors (--fail-io) reach exactly the requests in the
 *    range while concurrent requests outside it succeed;
 *  - a failed start (a pid file that cannot be made) leaves
 *    no mount and no process behind;
 *  - a queue thread that fails (--fail-thread) takes the export down:
 *    clients are told, the daemon exits 1, no buffer goes while the
 *    kernel may still write it.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fue_harness.h"

#define TIMEOUT_S	120
#define IMAGE_SIZE	(8 << 20)
#define BS		4096
#define MAX_CPUS	64
/* Writers that must not look like the image pattern write it shifted. */
#define SHIFT		12345
/* README: files still open get two seconds after the first signal. */
#define GRACE_MS	2000
/* A second signal ends the daemon well inside that. */
#define SECOND_SIGNAL_MS	1000

FIXTURE(life) {
	struct fue_export e;
	const char *skip;
	struct fue_load *load;
};

FUE_TRANSPORT_VARIANTS(life);

FIXTURE_SETUP(life)
{
	self->skip = fue_setup_skip(variant->ring);
	if (self->skip)
		return;
	ASSERT_EQ(0, fue_init(&self->e));
}

FIXTURE_TEARDOWN(life)
{
	/*
	 * Clients first, but a client stuck in a request of a stuck daemon
	 * only ends once teardown has aborted the connection: reap again.
	 */
	fue_load_stop(self->load, 2000);
	fue_teardown(&self->e);
	fue_load_free(self->load);
}

static bool exited_with(const struct fue_export *e, int code)
{
	return e->exited && WIFEXITED(e->status) &&
	       WEXITSTATUS(e->status) == code;
}

/* The FUSE connection disappears once nothing holds the file any more. */
static bool wait_conn_gone(unsigned int conn, int timeout_ms)
{
	long long deadline = fue_now_ms() + timeout_ms;

	while (fue_conn_exists(conn)) {
		if (fue_now_ms() >= deadline)
			return false;
		usleep(10000);
	}
	return true;
}

static bool proc_gone(pid_t pid)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d", pid);
	return access(path, F_OK) && errno == ENOENT;
}

/* Signals pending for the whole process, from /proc/PID/status. */
static unsigned long long shared_pending(pid_t pid)
{
	char path[64], *text, *p;
	unsigned long long mask = 0;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	text = fue_slurp(path);
	if (!text)
		return 0;
	p = strstr(text, "\nShdPnd:");
	if (p)
		mask = strtoull(p + 8, NULL, 16);
	free(text);
	return mask;
}

/*
 * Two identical signals sent back to back merge into one if the first is
 * still pending; wait until the daemon has taken it so the second counts.
 */
static void wait_signal_taken(pid_t pid, int sig, int timeout_ms)
{
	long long deadline = fue_now_ms() + timeout_ms;

	while (shared_pending(pid) & (1ULL << (sig - 1)) &&
	       fue_now_ms() < deadline)
		usleep(200);
}

static void log_load(const struct fue_load *l)
{
	int i;

	for (i = 0; i < l->nr; i++)
		fprintf(stderr, "# load: %s on cpu %d: %ld ops, %ld errors, first %s, synced %ld\n",
			l->c[i].writer ? "writer" : "reader", l->c[i].cpu,
			l->c[i].ops, l->c[i].errors,
			l->c[i].first_err ? strerrorname_np(l->c[i].first_err) :
					    "none",
			l->c[i].synced);
}

TEST_F_TIMEOUT(life, sigterm_twice_under_load, TIMEOUT_S)
{
	unsigned int conn;
	long long t0;
	pid_t pid;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_EQ(0, fue_start_writable(&self->e, variant->transport,
					IMAGE_SIZE, NULL));
	conn = self->e.conn;
	pid = self->e.pid;
	self->load = fue_load_start(self->e.mnt, 0, IMAGE_SIZE, BS, 0,
				    FUE_LOAD_WRITERS | FUE_LOAD_VERIFY);
	ASSERT_NE(NULL, self->load);
	ASSERT_TRUE(fue_load_wait_ops(self->load, 200, 10000))
		log_load(self->load);

	ASSERT_EQ(0, kill(pid, SIGTERM));
	wait_signal_taken(pid, SIGTERM, 1000);
	t0 = fue_now_ms();
	ASSERT_EQ(0, kill(pid, SIGTERM));
	/*
	 * The second signal aborts without waiting out the grace period:
	 * a daemon that ignored it would exit only after GRACE_MS.
	 */
	ASSERT_TRUE(fue_wait_exit(&self->e, SECOND_SIGNAL_MS))
		TH_LOG("daemon still running %d ms after the second SIGTERM",
		       SECOND_SIGNAL_MS);
	TH_LOG("exited %lld ms after the second SIGTERM", fue_now_ms() - t0);
	/* README: a signal means exit 0; the second only makes it quick. */
	EXPECT_TRUE(exited_with(&self->e, 0))
		TH_LOG("daemon wait status %#x", self->e.status);
	EXPECT_TRUE(proc_gone(pid)) TH_LOG("/proc/%d is still there", pid);
	EXPECT_EQ(0, fue_mount_info(self->e.mnt, NULL, NULL, 0));

	/* The clients are told, not left hanging, and saw no bad data. */
	EXPECT_TRUE(fue_load_wait(self->load, 5000))
		TH_LOG("clients still blocked 5s after the daemon exited");
	EXPECT_LT(0, fue_load_errors(self->load));
	EXPECT_EQ(0, fue_load_bad(self->load));
	log_load(self->load);
	EXPECT_TRUE(wait_conn_gone(conn, 5000))
		TH_LOG("fusectl connection %u outlived its clients", conn);
}

TEST_F_TIMEOUT(life, lazy_umount_serves_open_files, TIMEOUT_S)
{
	struct fue_stats *before = malloc(sizeof(*before));
	struct fue_stats *after = malloc(sizeof(*after));
	unsigned int conn;
	long ops;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_NE(NULL, before);
	ASSERT_NE(NULL, after);
	ASSERT_EQ(0, fue_start_writable(&self->e, variant->transport,
					IMAGE_SIZE, NULL));
	conn = self->e.conn;
	self->load = fue_load_start(self->e.mnt, 0, IMAGE_SIZE, BS, 0,
				    FUE_LOAD_WRITERS | FUE_LOAD_VERIFY);
	ASSERT_NE(NULL, self->load);
	ASSERT_TRUE(fue_load_wait_ops(self->load, 200, 10000))
		log_load(self->load);

	/* umount -l: gone from the namespace, alive for open files. */
	ASSERT_EQ(0, umount2(self->e.mnt, MNT_DETACH));
	EXPECT_EQ(0, fue_mount_info(self->e.mnt, NULL, NULL, 0));
	ASSERT_EQ(0, fue_request_stats(&self->e, before));
	ops = fue_load_ops(self->load);
	EXPECT_TRUE(fue_load_wait_ops(self->load, ops + 1000, 10000))
		TH_LOG("clients made no progress after the detach");
	EXPECT_FALSE(fue_wait_exit(&self->e, 300))
		TH_LOG("daemon exited while files were open (status %#x)",
		       self->e.status);
	ASSERT_EQ(0, fue_request_stats(&self->e, after));
	/* It is the daemon that serves them, not the file underneath. */
	EXPECT_LT(before->ring + before->dev_io,
		  after->ring + after->dev_io);
	EXPECT_EQ(0, fue_load_errors(self->load));
	EXPECT_EQ(0, fue_load_bad(self->load));

	/* The last close ends the connection, and with it the daemon. */
	EXPECT_TRUE(fue_load_stop(self->load, 5000));
	EXPECT_EQ(0, fue_load_errors(self->load));
	log_load(self->load);
	ASSERT_TRUE(fue_wait_exit(&self->e, 3000))
		TH_LOG("daemon still running 3s after the last close");
	EXPECT_TRUE(exited_with(&self->e, 0))
		TH_LOG("daemon wait status %#x", self->e.status);
	EXPECT_TRUE(wait_conn_gone(conn, 2000));
	free(before);
	free(after);
}

/*
 * One signal: the mount is detached at once, files still open on it are
 * served through the grace period, then the connection is aborted and
 * the daemon exits 0.
 */
static void grace_after_signal(struct __test_metadata *_metadata,
			       FIXTURE_DATA(life) *self, int sig)
{
	long long t0, detached, exited;
	unsigned int conn = self->e.conn;
	long ops;

	self->load = fue_load_start(self->e.mnt, 0, IMAGE_SIZE, BS, 0,
				    FUE_LOAD_WRITERS | FUE_LOAD_VERIFY);
	ASSERT_NE(NULL, self->load);
	ASSERT_TRUE(fue_load_wait_ops(self->load, 200, 10000))
		log_load(self->load);

	t0 = fue_now_ms();
	ASSERT_EQ(0, kill(self->e.pid, sig));
	while (fue_mount_info(self->e.mnt, NULL, NULL, 0) > 0 &&
	       fue_now_ms() - t0 < GRACE_MS / 2)
		usleep(1000);
	detached = fue_now_ms() - t0;
	EXPECT_EQ(0, fue_mount_info(self->e.mnt, NULL, NULL, 0))
		TH_LOG("still mounted %lld ms after %s", detached,
		       strsignal(sig));
	/* The open files keep working after the detach... */
	ops = fue_load_ops(self->load);
	EXPECT_TRUE(fue_load_wait_ops(self->load, ops + 100, GRACE_MS / 4))
		TH_LOG("open files were not served after the detach");
	EXPECT_EQ(0, fue_load_errors(self->load)) log_load(self->load);
	EXPECT_FALSE(fue_wait_exit(&self->e, 0))
		TH_LOG("daemon exited within the grace period");
	/* ...until the grace period is over; then the daemon ends. */
	ASSERT_TRUE(fue_wait_exit(&self->e, 2 * GRACE_MS + 1000))
		TH_LOG("daemon still running %d ms after %s",
		       2 * GRACE_MS + 1000, strsignal(sig));
	exited = fue_now_ms() - t0;
	TH_LOG("%s: detached after %lld ms, exited after %lld ms",
	       strsignal(sig), detached, exited);
	EXPECT_LE(GRACE_MS - 100, exited)
		TH_LOG("exited before the grace period was over");
	EXPECT_TRUE(exited_with(&self->e, 0))
		TH_LOG("daemon wait status %#x", self->e.status);
	/* The clients are told, not left hanging, and saw no bad data. */
	EXPECT_TRUE(fue_load_wait(self->load, 5000))
		TH_LOG("clients still blocked 5s after the daemon exited");
	EXPECT_LT(0, fue_load_errors(self->load));
	EXPECT_EQ(0, fue_load_bad(self->load));
	log_load(self->load);
	EXPECT_TRUE(wait_conn_gone(conn, 5000))
		TH_LOG("fusectl connection %u outlived its clients", conn);
}

TEST_F_TIMEOUT(life, sigterm_grace_serves_open_files, TIMEOUT_S)
{
	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_EQ(0, fue_start_writable(&self->e, variant->transport,
					IMAGE_SIZE, NULL));
	grace_after_signal(_metadata, self, SIGTERM);
}

TEST_F_TIMEOUT(life, sighup_grace_serves_open_files, TIMEOUT_S)
{
	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_EQ(0, fue_start_writable(&self->e, variant->transport,
					IMAGE_SIZE, NULL));
	grace_after_signal(_metadata, self, SIGHUP);
}

static bool synced_enough(const struct fue_load *l, long want)
{
	int i;

	for (i = 0; i < l->nr; i++)
		if (l->c[i].writer &&
		    __atomic_load_n(&l->c[i].synced, __ATOMIC_ACQUIRE) < want &&
		    !__atomic_load_n(&l->c[i].done, __ATOMIC_ACQUIRE))
			return false;
	return true;
}

TEST_F_TIMEOUT(life, sigkill_fails_clients_keeps_synced, TIMEOUT_S)
{
	long long deadline;
	long checked = 0;
	char *buf;
	int i;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	buf = malloc(BS);
	ASSERT_NE(NULL, buf);
	ASSERT_EQ(0, fue_start_writable(&self->e, variant->transport,
					IMAGE_SIZE, NULL));
	/*
	 * Writers put a pattern unlike the image's into each block of their
	 * share once, each followed by fsync; readers read at random.
	 */
	self->load = fue_load_start(self->e.mnt, 0, IMAGE_SIZE, BS, SHIFT,
				    FUE_LOAD_WRITERS | FUE_LOAD_SYNC);
	ASSERT_NE(NULL, self->load);
	deadline = fue_now_ms() + 20000;
	while (!synced_enough(self->load, 32) && fue_now_ms() < deadline)
		usleep(1000);
	ASSERT_TRUE(synced_enough(self->load, 32)) log_load(self->load);

	ASSERT_EQ(0, kill(self->e.pid, SIGKILL));
	ASSERT_TRUE(fue_wait_exit(&self->e, 5000));
	EXPECT_TRUE(WIFSIGNALED(self->e.status) &&
		    WTERMSIG(self->e.status) == SIGKILL)
		TH_LOG("daemon wait status %#x", self->e.status);

	/*
	 * With the server gone the kernel aborts the connection: requests
	 * in flight end with ECONNABORTED, later ones with ENOTCONN.  Over
	 * the ring a request the kernel was handing to the dying server's
	 * ring entry ends with ECANCELED instead: fuse_uring_send_in_task()
	 * ends it with the error of its cancelled task work (seen on most
	 * runs on 6.18, README's Tests section says so).  Only that one.
	 */
	EXPECT_TRUE(fue_load_wait(self->load, 5000))
		TH_LOG("clients still blocked 5s after SIGKILL");
	log_load(self->load);
	for (i = 0; i < self->load->nr; i++) {
		const struct fue_load_child *c = &self->load->c[i];

		/* A writer may have finished its share before the kill. */
		if (c->writer && !c->first_err &&
		    c->synced * BS == c->share_len)
			continue;
		EXPECT_TRUE(c->first_err == ENOTCONN ||
			    c->first_err == ECONNABORTED ||
			    (variant->ring && c->first_err == ECANCELED))
			TH_LOG("%s on cpu %d failed with %s",
			       c->writer ? "writer" : "reader", c->cpu,
			       strerrorname_np(c->first_err) ?: "nothing");
	}
	EXPECT_EQ(-ENOTCONN, fue_pread(self->e.mnt, O_RDONLY, buf, BS, 0));

	/* Every fsync'ed block is in the image, read directly. */
	for (i = 0; i < self->load->nr; i++) {
		const struct fue_load_child *c = &self->load->c[i];
		long b;

		for (b = 0; c->writer && b < c->synced; b++) {
			off_t off = c->share_off + b * BS;

			ASSERT_EQ(BS, fue_file_pread(self->e.image, buf, BS,
						     off));
			EXPECT_EQ(-1, fue_check_pattern(buf, BS, off + SHIFT))
				TH_LOG("synced block at %lld lost",
				       (long long)off);
			checked++;
		}
	}
	TH_LOG("%ld fsync'ed blocks checked in the image", checked);
	EXPECT_LT(0, checked);

	/* The dead mount goes the way a user would remove it. */
	EXPECT_EQ(0, fue_abort_conn(self->e.conn));
	EXPECT_EQ(0, umount2(self->e.mnt, MNT_DETACH));
	EXPECT_EQ(0, fue_mount_info(self->e.mnt, NULL, NULL, 0));
	EXPECT_TRUE(wait_conn_gone(self->e.conn, 5000));
	free(buf);
}

/*
 * Backing I/O errors under load: a reader and a writer thread on every
 * CPU, each alternating requests inside the failing range, straddling its
 * start, and outside it.
 */
#define FAULT_OFF	(1 << 20)
#define FAULT_LEN	(256 << 10)
#define FAULT_ITERS	600

struct fault_worker {
	int cpu;
	bool writer;
	long in_failed;		/* in the range, failed as asked */
	long in_wrong;		/* in the range, anything else */
	int wrong_err;		/* what that was: errno, or 0 for success */
	long out_ok;
	long out_failed;
	int out_err;
	long bad;		/* a read outside the range got wrong data */
	int setup_err;
};

struct fault_load {
	const char *path;
	bool fail_reads;	/* else writes fail */
	int want_err;
	int nr;
	struct fault_worker w[2 * MAX_CPUS];
};

/* One worker thread's view: the shared load and its own results. */
struct fault_thread {
	struct fault_load *fl;
	struct fault_worker *w;
};

static void *fault_thread_main(void *arg)
{
	struct fault_thread *ft = arg;
	struct fault_load *fl = ft->fl;
	struct fault_worker *w = ft->w;
	bool failing = w->writer != fl->fail_reads;
	unsigned int seed = (unsigned int)(w->cpu * 31 + w->writer);
	cpu_set_t set;
	void *buf;
	int fd, i;

	CPU_ZERO(&set);
	CPU_SET(w->cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) ||
	    posix_memalign(&buf, 4096, 2 * BS)) {
		w->setup_err = errno ? errno : ENOMEM;
		return NULL;
	}
	fd = open(fl->path, (w->writer ? O_RDWR : O_RDONLY) | O_DIRECT);
	if (fd < 0) {
		w->setup_err = errno;
		free(buf);
		return NULL;
	}
	for (i = 0; i < FAULT_ITERS; i++) {
		/* 0: inside the range, 1: straddling its start, 2: outside */
		int kind = i % 3;
		size_t len = kind == 1 ? 2 * BS : BS;
		off_t off;
		ssize_t n;

		if (kind == 0)
			off = FAULT_OFF + (rand_r(&seed) % (FAULT_LEN / BS)) *
					  (off_t)BS;
		else if (kind == 1)
			off = FAULT_OFF - BS;
		else
			do {
				off = (rand_r(&seed) % (IMAGE_SIZE / BS)) *
				      (off_t)BS;
			} while (off + BS > FAULT_OFF - BS &&
				 off < FAULT_OFF + FAULT_LEN);
		if (w->writer) {
			/*
			 * A write meant to fail carries data unlike the
			 * image, so that one landing anyway shows there.
			 */
			off_t shift = kind < 2 && failing ? SHIFT : 0;

			fue_fill_pattern(buf, len, off + shift);
			n = pwrite(fd, buf, len, off);
		} else {
			n = pread(fd, buf, len, off);
		}
		if (kind < 2 && failing) {
			if (n < 0 && errno == fl->want_err) {
				w->in_failed++;
			} else {
				w->in_wrong++;
				w->wrong_err = n < 0 ? errno : 0;
			}
		} else if (n == (ssize_t)len) {
			w->out_ok++;
			if (!w->writer && fue_check_pattern(buf, len, off) >= 0)
				w->bad++;
		} else {
			w->out_failed++;
			w->out_err = n < 0 ? errno : EIO;
		}
	}
	close(fd);
	free(buf);
	return NULL;
}

static int fault_load_main(void *arg)
{
	struct fault_load *fl = arg;
	struct fault_thread ft[2 * MAX_CPUS];
	pthread_t tid[2 * MAX_CPUS];
	int i, n;

	for (n = 0; n < fl->nr; n++) {
		ft[n].fl = fl;
		ft[n].w = &fl->w[n];
		if (pthread_create(&tid[n], NULL, fault_thread_main, &ft[n])) {
			fl->w[n].setup_err = EAGAIN;
			break;
		}
	}
	for (i = 0; i < n; i++)
		pthread_join(tid[i], NULL);
	return 0;
}

static void fault_under_load(struct __test_metadata *_metadata,
			     FIXTURE_DATA(life) *self, bool fail_reads,
			     int want_err)
{
	struct fault_load *fl = fue_shared_alloc(sizeof(*fl));
	struct fue_stats *s = malloc(sizeof(*s));
	int cpus[MAX_CPUS], nr, i;
	uint64_t sum_before, sum_after;
	long in_failed = 0;
	off_t diff;

	ASSERT_NE(NULL, fl);
	ASSERT_NE(NULL, s);
	ASSERT_EQ(0, fue_file_checksum(self->e.image, 0, -1, &sum_before));
	nr = fue_online_cpus(cpus, MAX_CPUS);
	ASSERT_LT(0, nr);
	fl->path = self->e.mnt;
	fl->fail_reads = fail_reads;
	fl->want_err = want_err;
	for (i = 0; i < nr; i++) {
		fl->w[fl->nr].cpu = cpus[i];
		fl->w[fl->nr++].writer = false;
		fl->w[fl->nr].cpu = cpus[i];
		fl->w[fl->nr++].writer = true;
	}
	ASSERT_EQ(0, fue_in_child(fault_load_main, fl, 60000));

	for (i = 0; i < fl->nr; i++) {
		struct fault_worker *w = &fl->w[i];
		bool failing = w->writer != fail_reads;

		TH_LOG("%s cpu %d: in-range failed %ld, wrong %ld; outside ok %ld, failed %ld",
		       w->writer ? "writer" : "reader", w->cpu, w->in_failed,
		       w->in_wrong, w->out_ok, w->out_failed);
		EXPECT_EQ(0, w->setup_err)
			TH_LOG("setup: %s", strerror(w->setup_err));
		EXPECT_EQ(0, w->in_wrong)
			TH_LOG("%s in the range: %s instead of %s",
			       w->writer ? "write" : "read",
			       w->wrong_err ? strerrorname_np(w->wrong_err) :
					      "success",
			       strerrorname_np(want_err));
		EXPECT_EQ(0, w->out_failed)
			TH_LOG("outside the range: %s",
			       strerrorname_np(w->out_err));
		EXPECT_EQ(0, w->bad);
		if (failing) {
			EXPECT_EQ(FAULT_ITERS - FAULT_ITERS / 3, w->in_failed);
		} else {
			EXPECT_EQ(FAULT_ITERS, w->out_ok);
		}
		in_failed += w->in_failed;
	}
	/* The daemon counted each of them as an error reply. */
	ASSERT_EQ(0, fue_request_stats(&self->e, s));
	EXPECT_LE(in_failed, (long)s->errors);
	/*
	 * Successful writes wrote the image's own pattern and failed ones
	 * must not have landed, so the image is unchanged.
	 */
	ASSERT_EQ(0, fue_file_checksum(self->e.image, 0, -1, &sum_after));
	EXPECT_EQ(sum_before, sum_after);
	EXPECT_EQ(0, fue_cmp_files(self->e.image, self->e.mnt, FAULT_OFF,
				   &diff)) TH_LOG("differ at %lld",
						  (long long)diff);
	free(s);
	fue_shared_free(fl, sizeof(*fl));
}

TEST_F_TIMEOUT(life, read_errors_under_load, TIMEOUT_S)
{
	char opt[64];

	if (self->skip)
		SKIP(return, "%s", self->skip);
	snprintf(opt, sizeof(opt), "--fail-io=read:%d+%d", FAULT_OFF,
		 FAULT_LEN);
	ASSERT_EQ(0, fue_start_writable(&self->e, variant->transport,
					IMAGE_SIZE, "--stats", opt, NULL));
	fault_under_load(_metadata, self, true, EIO);
	fue_stop(&self->e);
	EXPECT_TRUE(exited_with(&self->e, 0));
}

TEST_F_TIMEOUT(life, write_enospc_under_load, TIMEOUT_S)
{
	char opt[64];

	if (self->skip)
		SKIP(return, "%s", self->skip);
	snprintf(opt, sizeof(opt), "--fail-io=write:%d+%d:ENOSPC", FAULT_OFF,
		 FAULT_LEN);
	ASSERT_EQ(0, fue_start_writable(&self->e, variant->transport,
					IMAGE_SIZE, "--stats", opt, NULL));
	fault_under_load(_metadata, self, false, ENOSPC);
	fue_stop(&self->e);
	EXPECT_TRUE(exited_with(&self->e, 0));
}

/*
 * The pid file is taken before the mount and written once the export
 * serves: a pid file in a missing directory fails the start with exit 1
 * and nothing mounted, daemonized or not.
 */
static void pidfile_fails(struct __test_metadata *_metadata,
			  FIXTURE_DATA(life) *self,
			  const FIXTURE_VARIANT(life) *variant, bool daemonize)
{
	char pidopt[PATH_MAX + 16], pidfile[PATH_MAX];
	const char *args[8];
	int n = 0;
	uint64_t sum_before, sum_after;
	char *err;
	int ret, status;

	ASSERT_EQ(0, fue_make_image(self->e.image, IMAGE_SIZE));
	ASSERT_EQ(0, fue_make_mountpoint(self->e.mnt));
	ASSERT_EQ(0, fue_file_checksum(self->e.image, 0, -1, &sum_before));
	snprintf(pidfile, sizeof(pidfile), "%s/missing/pid", self->e.dir);
	snprintf(pidopt, sizeof(pidopt), "--pidfile=%s", pidfile);
	args[n++] = variant->transport;
	args[n++] = "--writable";
	args[n++] = pidopt;
	if (daemonize)
		args[n++] = "--daemonize";
	args[n++] = self->e.image;
	args[n++] = self->e.mnt;
	args[n] = NULL;

	ret = fue_run(&self->e, args, 15000);
	err = fue_slurp(self->e.errlog);
	ASSERT_NE(NULL, err);
	EXPECT_NE(-ETIMEDOUT, ret) TH_LOG("the daemon served anyway");
	EXPECT_EQ(1, ret) TH_LOG("stderr: %s", err);
	EXPECT_NE(NULL, strstr(err, pidfile))
		TH_LOG("the message does not name the pid file: %s", err);
	EXPECT_EQ(0, fue_mount_info(self->e.mnt, NULL, NULL, 0))
		TH_LOG("the failed start left its mount");
	/* The launcher waited for the daemon; nothing was left to adopt. */
	EXPECT_EQ(-1, waitpid(-1, &status, WNOHANG))
		TH_LOG("a process of the failed start is still around");
	ASSERT_EQ(0, fue_file_checksum(self->e.image, 0, -1, &sum_after));
	EXPECT_EQ(sum_before, sum_after);
	free(err);
}

TEST_F_TIMEOUT(life, pidfile_missing_dir_daemonize, TIMEOUT_S)
{
	if (self->skip)
		SKIP(return, "%s", self->skip);
	pidfile_fails(_metadata, self, variant, true);
}

TEST_F_TIMEOUT(life, pidfile_missing_dir_foreground, TIMEOUT_S)
{
	if (self->skip)
		SKIP(return, "%s", self->skip);
	pidfile_fails(_metadata, self, variant, false);
}

/*
 * A queue thread that cannot start ends the whole export: run the daemon
 * with fewer and fewer file descriptors, so that each step of start-up
 * in turn is the one to fail, a queue thread's io_uring among them.  Every
 * attempt must serve, or exit 1 without a mount; none may hang.
 */
TEST_F_TIMEOUT(life, fd_exhaustion_at_every_step, TIMEOUT_S)
{
	const char *args[] = { variant->transport, "--writable", "--queues=2",
			       self->e.image, self->e.mnt, NULL };
	char prlimit[PATH_MAX], limit[32];
	const char *wrapper[] = { prlimit, limit, "--", NULL };
	bool served = false, thread_failed = false;
	unsigned int nofile;
	char *err;
	int ret;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	if (!fue_which("prlimit", prlimit, sizeof(prlimit)))
		SKIP(return, "prlimit is missing (util-linux)");
	ASSERT_EQ(0, fue_make_image(self->e.image, IMAGE_SIZE));
	ASSERT_EQ(0, fue_make_mountpoint(self->e.mnt));
	for (nofile = 3; nofile < 64 && !served; nofile++) {
		snprintf(limit, sizeof(limit), "--nofile=%u:%u", nofile,
			 nofile);
		ASSERT_EQ(0, truncate(self->e.errlog, 0) && errno != ENOENT);
		ASSERT_EQ(0, fue_spawn(&self->e, wrapper, args, self->e.mnt));
		ret = fue_wait_mounted(&self->e, 15000);
		ASSERT_TRUE(ret == 0 || ret == -ECHILD)
			TH_LOG("nofile=%u: neither mounted nor exited", nofile);
		/* Mounted; serving only once every queue is armed. */
		if (ret == 0)
			ret = fue_wait_serving(&self->e, 15000);
		if (ret == 0) {
			served = true;
			fue_stop(&self->e);
			EXPECT_TRUE(exited_with(&self->e, 0));
			break;
		}
		ASSERT_EQ(-ECHILD, ret)
			TH_LOG("nofile=%u: mounted, neither served nor exited",
			       nofile);
		ASSERT_TRUE(fue_wait_exit(&self->e, 15000))
			TH_LOG("nofile=%u: the daemon hangs", nofile);
		err = fue_slurp(self->e.errlog);
		ASSERT_NE(NULL, err);
		/* Too few for the dynamic loader: the daemon never ran. */
		if (exited_with(&self->e, 127) &&
		    strstr(err, "loading shared libraries")) {
			free(err);
			continue;
		}
		EXPECT_TRUE(exited_with(&self->e, 1))
			TH_LOG("nofile=%u: status %#x, stderr: %s", nofile,
			       self->e.status, err);
		EXPECT_EQ(0, fue_mount_info(self->e.mnt, NULL, NULL, 0))
			TH_LOG("nofile=%u left its mount", nofile);
		if (strstr(err, "queue thread"))
			thread_failed = true;
		free(err);
		fue_unmount_all(self->e.mnt, true);
	}
	EXPECT_TRUE(served) TH_LOG("never served, even with %u fds", nofile);
	EXPECT_TRUE(thread_failed)
		TH_LOG("no limit made a queue thread fail");
}

/*
 * Requests thread 0 takes before --fail-thread makes it fail: enough for
 * every client to have the file open first, as a client opening it after
 * the mount went would get the file underneath.
 */
#define FAIL_AFTER	3000

/*
 * A queue thread that fails under load (--fail-thread): the connection is
 * aborted, so clients on every CPU, those whose requests sat on the
 * failed thread's queues too, are told within a deadline instead of
 * hanging; the daemon exits 1 naming the failure and leaves no mount.
 * The thread's ring must go only once nothing is in flight into its
 * buffers: the daemon says when it was not so, and keeps them mapped.
 */
TEST_F_TIMEOUT(life, queue_thread_fails_under_load, TIMEOUT_S)
{
	char fail_opt[32], *log;
	unsigned int conn;
	long long t0;
	int i;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	snprintf(fail_opt, sizeof(fail_opt), "--fail-thread=%d", FAIL_AFTER);
	ASSERT_EQ(0, fue_start_writable(&self->e, variant->transport,
					IMAGE_SIZE, fail_opt, NULL));
	conn = self->e.conn;
	t0 = fue_now_ms();
	self->load = fue_load_start(self->e.mnt, 0, IMAGE_SIZE, BS, 0,
				    FUE_LOAD_WRITERS | FUE_LOAD_VERIFY);
	ASSERT_NE(NULL, self->load);
	ASSERT_FALSE(fue_wait_exit(&self->e, 0))
		TH_LOG("the thread failed before every client had the file open: raise FAIL_AFTER");

	ASSERT_TRUE(fue_wait_exit(&self->e, 20000))
		TH_LOG("daemon still running 20 s into the load");
	TH_LOG("daemon exited %lld ms into the load", fue_now_ms() - t0);
	EXPECT_TRUE(exited_with(&self->e, 1))
		TH_LOG("daemon wait status %#x", self->e.status);
	EXPECT_TRUE(fue_load_wait(self->load, 5000))
		TH_LOG("clients still blocked 5 s after the daemon exited");
	log_load(self->load);
	EXPECT_EQ(0, fue_load_bad(self->load));
	for (i = 0; i < self->load->nr; i++) {
		const struct fue_load_child *c = &self->load->c[i];

		EXPECT_TRUE(c->first_err == ENOTCONN ||
			    c->first_err == ECONNABORTED)
			TH_LOG("%s on cpu %d failed with %s",
			       c->writer ? "writer" : "reader", c->cpu,
			       strerrorname_np(c->first_err) ?: "nothing");
	}
	EXPECT_EQ(0, fue_mount_info(self->e.mnt, NULL, NULL, 0));
	EXPECT_TRUE(wait_conn_gone(conn, 5000))
		TH_LOG("fusectl connection %u outlived the daemon", conn);

	log = fue_slurp(self->e.errlog);
	ASSERT_NE(NULL, log);
	EXPECT_NE(NULL, strstr(log, "queue thread 0 failed: Input/output error"))
		fue_dump_errlog(&self->e);
	EXPECT_EQ(NULL, strstr(log, "in flight"))
		fue_dump_errlog(&self->e);
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
