// SPDX-License-Identifier: GPL-2.0
/*
 * The debugging aids, checked the way a kernel developer reads them:
 *
 *  - --trace=FILE: a scripted session shows up as request and reply lines
 *    with the right opcodes, offsets, sizes, results and a latency;
 *  - -v: the granted INIT flags name OVER_IO_URING exactly when the ring
 *    carries the export;
 *  - SIGUSR1 during I/O: a whole, consistent stats dump, per-opcode
 *    latencies with --stats, and the I/O goes on unharmed;
 *  - every long option in --help is documented in fuse-uring-export.8.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fue_harness.h"
#include "export.h"

/*
 * enable_uring is set for the whole program before any daemon starts (a
 * daemon's INIT is offered the ring only if it is Y then) and put back
 * when the program exits; why the ring is unavailable, or NULL.
 */
static const char *uring_unavailable;

static void __attribute__((constructor)) uring_for_the_program(void)
{
	if (!fue_check_env())
		uring_unavailable = fue_check_uring();
	else
		uring_unavailable = "not checked";
}

#define TIMEOUT_S	90
#define IMAGE_SIZE	(8 << 20)
#define MAX_CPUS	1024

FIXTURE(obs) {
	struct fue_export e;
	const char *skip;
	struct fue_load *load;
	char trace[PATH_MAX];
	/* An export whose image is another, stoppable, export. */
	struct fue_export under;
	pid_t client;
};

FUE_TRANSPORT_VARIANTS(obs);

FIXTURE_SETUP(obs)
{
	self->skip = fue_setup_skip(variant->ring);
	if (self->skip)
		return;
	ASSERT_EQ(0, fue_init(&self->e));
	snprintf(self->trace, sizeof(self->trace), "%s/trace", self->e.dir);
}

FIXTURE_TEARDOWN(obs)
{
	int status;

	/* A stopped export under this one would hold everything up. */
	if (self->under.pid > 0 && !self->under.exited)
		kill(self->under.pid, SIGCONT);
	if (self->client > 0) {
		kill(self->client, SIGKILL);
		waitpid(self->client, &status, 0);
	}
	fue_load_stop(self->load, 2000);
	fue_teardown(&self->e);
	fue_teardown(&self->under);
	fue_load_free(self->load);
}

/* --trace */

/* One trace line; see trace.c and the man page for the format. */
struct trace_line {
	bool reply;
	double at;
	unsigned int thread;
	int qid;
	char transport[8];
	unsigned long long unique;
	char opcode[32];
	/* request */
	unsigned long long node;
	unsigned long long off;
	unsigned int size;
	/* reply */
	char result[32];
	unsigned int len;
	unsigned long long lat_us;
	/* The backing I/O's part of it, for a request that had some. */
	bool has_image;
	unsigned long long image_us;
};

#define MAX_TRACE	256

/* Parse a whole line or nothing: returns 0 or -EINVAL. */
static int parse_trace_line(const char *line, struct trace_line *t)
{
	char dir;
	int n = -1, end = -1;

	memset(t, 0, sizeof(*t));
	if (sscanf(line, "%lf t%u q%d %7s %c %llu %31s %n", &t->at, &t->thread,
		   &t->qid, t->transport, &dir, &t->unique, t->opcode,
		   &n) != 7 || n < 0)
		return -EINVAL;
	line += n;
	if (dir == '>') {
		t->reply = false;
		if (sscanf(line, "node=%llu off=%llu size=%u%n", &t->node,
			   &t->off, &t->size, &end) != 3)
			return -EINVAL;
		line += end;
		/* FSYNC says whether it asks for fdatasync or fsync. */
		if (!strcmp(t->opcode, "FSYNC") &&
		    (!strcmp(line, " sync=fsync") ||
		     !strcmp(line, " sync=fdatasync")))
			return 0;
		return *line ? -EINVAL : 0;
	}
	if (dir != '<')
		return -EINVAL;
	t->reply = true;
	/* The latency: digits, then "us". */
	if (sscanf(line, "%31s len=%u %lluus%n", t->result, &t->len,
		   &t->lat_us, &end) != 3 || end < 2 ||
	    strncmp(line + end - 2, "us", 2))
		return -EINVAL;
	line += end;
	if (!*line)
		return 0;
	/* Then, last, the image's part, if the request had backing I/O. */
	end = -1;
	if (sscanf(line, " image=%lluus%n", &t->image_us, &end) != 1 ||
	    end < 2 || line[end] || strcmp(line + end - 2, "us"))
		return -EINVAL;
	t->has_image = true;
	return 0;
}

/* Index of the request line for opcode (with off/size if >= 0), or -1. */
static int find_request(const struct trace_line *t, int nr, const char *op,
			long long off, long long size)
{
	int i, found = -1;

	for (i = 0; i < nr; i++) {
		if (t[i].reply || strcmp(t[i].opcode, op))
			continue;
		if (off >= 0 && t[i].off != (unsigned long long)off)
			continue;
		if (size >= 0 && t[i].size != (unsigned long long)size)
			continue;
		if (found >= 0)
			return -2;	/* more than one */
		found = i;
	}
	return found;
}

static int find_reply(const struct trace_line *t, int nr,
		      unsigned long long unique)
{
	int i, found = -1;

	for (i = 0; i < nr; i++) {
		if (!t[i].reply || t[i].unique != unique)
			continue;
		if (found >= 0)
			return -2;
		found = i;
	}
	return found;
}

struct session {
	const char *path;
	int cpu;
	int err;	/* errno of the failing step */
	int step;
	bool bad_data;
};

/* open, pread 4096 at 8192, pwrite 1000 at 5000, fsync, close. */
static int session_main(void *arg)
{
	struct session *s = arg;
	char buf[4096];
	cpu_set_t set;
	int fd;

	CPU_ZERO(&set);
	CPU_SET(s->cpu, &set);
	s->step = 0;
	if (sched_setaffinity(0, sizeof(set), &set))
		goto fail;
	s->step++;
	fd = open(s->path, O_RDWR);
	if (fd < 0)
		goto fail;
	s->step++;
	if (pread(fd, buf, 4096, 8192) != 4096)
		goto fail;
	s->bad_data = fue_check_pattern(buf, 4096, 8192) >= 0;
	s->step++;
	fue_fill_pattern(buf, 1000, 5000);
	if (pwrite(fd, buf, 1000, 5000) != 1000)
		goto fail;
	s->step++;
	if (fsync(fd))
		goto fail;
	s->step++;
	if (close(fd))
		goto fail;
	s->step++;
	return 0;
fail:
	s->err = errno ? errno : EIO;
	return 1;
}

/* The request for op, its one reply, and what both must say. */
static void check_pair(struct __test_metadata *_metadata, const char *trace,
		       const struct trace_line *t, int nr, const char *op,
		       long long off, long long size, unsigned int reply_len,
		       bool image, const FIXTURE_VARIANT(obs) *variant,
		       int cpu, int *req)
{
	int r;

	*req = find_request(t, nr, op, off, size);
	ASSERT_LE(0, *req) {
		TH_LOG("%s off=%lld size=%lld: %s", op, off, size,
		       *req == -1 ? "no request line" :
				    "several request lines");
		fue_dump_file("trace", trace);
	}
	EXPECT_EQ(1, t[*req].node);
	r = find_reply(t, nr, t[*req].unique);
	ASSERT_LE(0, r) {
		TH_LOG("%s unique %llu: %s", op, t[*req].unique,
		       r == -1 ? "no reply line" : "several reply lines");
		fue_dump_file("trace", trace);
	}
	EXPECT_LT(*req, r) TH_LOG("%s: reply line before its request", op);
	EXPECT_STREQ(op, t[r].opcode);
	EXPECT_STREQ("OK", t[r].result);
	EXPECT_EQ(reply_len, t[r].len) TH_LOG("%s reply len", op);
	/* What went to the image says how long that took, within it all. */
	EXPECT_EQ(image, t[r].has_image) TH_LOG("%s image= part", op);
	EXPECT_LE(t[r].image_us, t[r].lat_us) TH_LOG("%s image= part", op);
	EXPECT_LE(t[*req].at, t[r].at);
	/* The reply goes out the way its request came in. */
	EXPECT_STREQ(t[*req].transport, t[r].transport);
	EXPECT_EQ(t[*req].qid, t[r].qid);
	EXPECT_EQ(t[*req].thread, t[r].thread);
	if (variant->ring) {
		/* A caller on cpu N is served by kernel queue N. */
		EXPECT_STREQ("ring", t[*req].transport);
		EXPECT_EQ(cpu, t[*req].qid);
	} else {
		EXPECT_STREQ("dev", t[*req].transport);
		EXPECT_EQ(-1, t[*req].qid);
	}
}

TEST_F_TIMEOUT(obs, trace_scripted_session, TIMEOUT_S)
{
	struct session *s = fue_shared_alloc(sizeof(*s));
	struct trace_line *t = calloc(MAX_TRACE, sizeof(*t));
	int cpus[MAX_CPUS], nr = 0, i, ret;
	int open_req, read_req, write_req, fsync_req, release_req;
	char opt[PATH_MAX + 16], *text, *line, *save = NULL;
	int malformed = 0;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_NE(NULL, s);
	ASSERT_NE(NULL, t);
	snprintf(opt, sizeof(opt), "--trace=%s", self->trace);
	ASSERT_EQ(0, fue_start_writable(&self->e, variant->transport,
					IMAGE_SIZE, opt, NULL));

	ASSERT_LT(0, fue_online_cpus(cpus, MAX_CPUS));
	s->path = self->e.mnt;
	/* The last online CPU, so that a wrong queue number shows. */
	s->cpu = cpus[fue_online_cpus(cpus, MAX_CPUS) - 1];
	ret = fue_in_child(session_main, s, FUE_IO_TIMEOUT_MS);
	ASSERT_EQ(0, ret) TH_LOG("session step %d: %s", s->step,
				 strerror(s->err));
	EXPECT_FALSE(s->bad_data);
	/*
	 * The RELEASE of the session's close() is queued in the background;
	 * an unmount before the daemon takes it drops it unseen.
	 */
	ASSERT_LE(0, fue_conn_waiting(self->e.conn))
		TH_LOG("no fusectl count of connection %u to wait on",
		       self->e.conn);
	for (i = 0; i < 500 && fue_conn_waiting(self->e.conn) > 0; i++)
		usleep(10000);
	/* At exit the trace is flushed and closed. */
	expect_clean_exit(_metadata, &self->e);

	text = fue_slurp(self->trace);
	ASSERT_NE(NULL, text) TH_LOG("no trace file %s", self->trace);
	for (line = strtok_r(text, "\n", &save); line && nr < MAX_TRACE;
	     line = strtok_r(NULL, "\n", &save)) {
		EXPECT_EQ(0, parse_trace_line(line, &t[nr])) {
			TH_LOG("malformed trace line: %s", line);
			malformed++;
		}
		nr++;
	}
	/* One dump of the whole trace explains any malformed line. */
	if (malformed)
		fue_dump_file("trace", self->trace);
	check_pair(_metadata, self->trace, t, nr, "OPEN", -1, -1, 16, false,
		   variant, s->cpu, &open_req);
	check_pair(_metadata, self->trace, t, nr, "READ", 8192, 4096, 4096,
		   true, variant, s->cpu, &read_req);
	/* A WRITE's reply is struct fuse_write_out, 8 bytes. */
	check_pair(_metadata, self->trace, t, nr, "WRITE", 5000, 1000, 8,
		   true, variant, s->cpu, &write_req);
	/* The WRITE before it left a sync owed: FSYNC goes to the image. */
	check_pair(_metadata, self->trace, t, nr, "FSYNC", -1, -1, 0, true,
		   variant, s->cpu, &fsync_req);
	/* RELEASE is sent after close() returns, from wherever it runs. */
	release_req = find_request(t, nr, "RELEASE", -1, -1);
	ASSERT_LE(0, release_req);
	EXPECT_LE(0, find_reply(t, nr, t[release_req].unique));
	/* The session's order. */
	EXPECT_LT(open_req, read_req);
	EXPECT_LT(read_req, write_req);
	EXPECT_LT(write_req, fsync_req);
	EXPECT_LT(fsync_req, release_req);
	/* Every request of the session has exactly one reply. */
	for (i = 0; i < nr; i++) {
		if (t[i].reply)
			continue;
		EXPECT_LE(0, find_reply(t, nr, t[i].unique))
			TH_LOG("%s unique %llu: no single reply",
			       t[i].opcode, t[i].unique);
	}
	free(text);
	free(t);
	fue_shared_free(s, sizeof(*s));
}

/* -v */

/* The words of the first stderr line starting with prefix, or NULL. */
static char *find_line(const char *text, const char *prefix)
{
	const char *p = text;
	size_t len = strlen(prefix);

	while (p && *p) {
		if (!strncmp(p, prefix, len))
			return strndup(p + len, strcspn(p + len, "\n"));
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return NULL;
}

static bool has_word(const char *words, const char *word)
{
	size_t len = strlen(word);
	const char *p = words;

	while ((p = strstr(p, word))) {
		if ((p == words || p[-1] == ' ') &&
		    (p[len] == ' ' || p[len] == '\0'))
			return true;
		p += len;
	}
	return false;
}

#define PREFIX "fuse-uring-export: "

/*
 * README: -v prints the ring buffers' sum, (entries) x (payload + 4 KiB)
 * with --queue-depth (32) entries per queue of an online CPU and one per
 * other queue, the payload max(max_write, max_pages pages, 8 KiB); the
 * /dev/fuse reader; and the io_uring set-up flags the kernel accepted.
 */
static void check_verbose_buffers(struct __test_metadata *_metadata,
				  const FIXTURE_VARIANT(obs) *variant,
				  const char *text, unsigned int max_write,
				  unsigned int max_pages)
{
	unsigned int entries = 0, buffers = 0, payload = 0, want_payload;
	int online, cpus[MAX_CPUS];
	double mib = 0, diff;
	char *line, *why;

	online = fue_online_cpus(cpus, MAX_CPUS);
	line = find_line(text, PREFIX "ring buffers: ");
	EXPECT_EQ(variant->ring, line != NULL) TH_LOG("%s", text);
	want_payload = max_pages * getpagesize();
	if (want_payload < max_write)
		want_payload = max_write;
	if (want_payload < 8192)
		want_payload = 8192;
	if (line && strstr(line, "sharing pools")) {
		/* FUSE 7.46: 128 headers, 32 pool buffers a queue (README). */
		EXPECT_EQ(4, sscanf(line, "%u entries (--queue-depth per queue with an online CPU, 1 per other queue) x 512 B header, sharing pools of %u buffers (--pool per queue with an online CPU, 1 per other queue) x %u B payload = %lf MiB",
				    &entries, &buffers, &payload, &mib))
			TH_LOG("ring buffers: %s", line);
		EXPECT_EQ(want_payload, payload);
		EXPECT_EQ(128 * online + (fue_possible_cpus() - online),
			  (int)entries);
		EXPECT_EQ(32 * online + (fue_possible_cpus() - online),
			  (int)buffers);
		diff = mib - ((double)buffers * payload + entries * 512.0) /
			     (1 << 20);
		EXPECT_TRUE(diff < 0.051 && diff > -0.051)
			TH_LOG("%u x %u B + %u x 512 B is not %.1f MiB",
			       buffers, payload, entries, mib);
	} else if (line) {
		EXPECT_EQ(3, sscanf(line, "%u entries (--queue-depth per queue with an online CPU, 1 per other queue) x (%u B payload + 4 KiB header) = %lf MiB",
				    &entries, &payload, &mib))
			TH_LOG("ring buffers: %s", line);
		EXPECT_EQ(want_payload, payload);
		EXPECT_EQ(32 * online + (fue_possible_cpus() - online),
			  (int)entries);
		/* Printed to a tenth of a MiB. */
		diff = mib - entries * (payload + 4096.0) / (1 << 20);
		EXPECT_TRUE(diff < 0.051 && diff > -0.051)
			TH_LOG("%u x (%u + 4096) B is not %.1f MiB", entries,
			       payload, mib);
	}
	free(line);

	line = find_line(text, PREFIX "/dev/fuse reader: ");
	ASSERT_NE(NULL, line) TH_LOG("-v names no /dev/fuse reader");
	EXPECT_EQ(0, strncmp(line, "POLL_ADD on the ring, then non-blocking read(2)", 47))
		TH_LOG("reader: %s", line);
	free(line);

	line = find_line(text, PREFIX "io_uring: ");
	ASSERT_NE(NULL, line) TH_LOG("-v names no io_uring flags");
	TH_LOG("io_uring: %s", line);
	/* The flags, without the words of the reason after them. */
	why = strstr(line, " (");
	if (why)
		*why = '\0';
	EXPECT_TRUE(has_word(line, "SQE128"));
	/* DEFER_TASKRUN, else COOP_TASKRUN, else neither: at most one. */
	EXPECT_FALSE(has_word(line, "DEFER_TASKRUN") &&
		     has_word(line, "COOP_TASKRUN"));
	if (has_word(line, "DEFER_TASKRUN"))
		EXPECT_TRUE(has_word(line, "SINGLE_ISSUER"));
	EXPECT_EQ(has_word(line, "DEFER_TASKRUN") ||
		  has_word(line, "COOP_TASKRUN"),
		  has_word(line, "TASKRUN_FLAG"));
	free(line);
}

/*
 * README: -v prints max_write and max_pages, and which thread serves
 * which kernel queue; the map must agree with the stats dump s.
 */
static void check_verbose_setup(struct __test_metadata *_metadata,
				const FIXTURE_VARIANT(obs) *variant,
				const char *text, const struct fue_stats *s)
{
	unsigned int max_write = 0, max_pages = 0, qid, thread;
	int i, mapped = 0, page = getpagesize();
	char *line, *p;

	line = find_line(text, PREFIX "INIT: max_write ");
	ASSERT_NE(NULL, line) TH_LOG("-v printed no max_write: %s", text);
	EXPECT_EQ(2, sscanf(line, "%u, max_pages %u", &max_write,
			    &max_pages)) TH_LOG("max_write %s", line);
	free(line);
	/* --max-io defaults to 1M; the kernel's limit may cut it. */
	EXPECT_LT(0, max_write);
	EXPECT_GE(1U << 20, max_write);
	EXPECT_EQ(max_write / page, max_pages);

	for (p = strstr(text, PREFIX "qid "); p;
	     p = strstr(p + 1, PREFIX "qid ")) {
		ASSERT_EQ(2, sscanf(p + strlen(PREFIX), "qid %u -> thread %u",
				    &qid, &thread));
		mapped++;
		for (i = 0; i < s->nr_queues; i++)
			if (s->q[i].qid == (int)qid)
				break;
		ASSERT_LT(i, s->nr_queues) TH_LOG("qid %u is in no stats line",
						  qid);
		EXPECT_EQ(s->q[i].thread, (int)thread)
			TH_LOG("-v: qid %u -> thread %u, stats: thread %d", qid,
			       thread, s->q[i].thread);
		/* Dealt round-robin over the threads. */
		EXPECT_EQ(qid % s->nr_threads, thread);
	}
	/* One line per kernel queue over the ring; no queues otherwise. */
	EXPECT_EQ(variant->ring ? fue_possible_cpus() : 0, mapped);
	check_verbose_buffers(_metadata, variant, text, max_write, max_pages);
}

TEST_F_TIMEOUT(obs, verbose_grants_ring_iff_used, TIMEOUT_S)
{
	char *text, *granted, *offered, *transport, *dump;
	struct fue_stats *s = malloc(sizeof(*s));

	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_NE(NULL, s);
	ASSERT_EQ(0, fue_start_writable(&self->e, variant->transport,
					IMAGE_SIZE, "-v", NULL));
	/* Without --stats or --trace a dump has no per-opcode lines. */
	ASSERT_EQ(0, fue_request_stats_dump(&self->e, &dump));
	ASSERT_EQ(0, fue_parse_stats(dump, s));
	EXPECT_EQ(NULL, strstr(dump, "stats: op="));
	free(dump);
	expect_clean_exit(_metadata, &self->e);

	text = fue_slurp(self->e.errlog);
	ASSERT_NE(NULL, text);
	granted = find_line(text, PREFIX "INIT: granted ");
	offered = find_line(text, PREFIX "INIT: offered ");
	transport = find_line(text, PREFIX "transport: ");
	ASSERT_NE(NULL, granted) fue_dump_file("daemon", self->e.errlog);
	ASSERT_NE(NULL, offered);
	ASSERT_NE(NULL, transport);
	TH_LOG("granted: %s", granted);
	TH_LOG("transport: %s", transport);
	EXPECT_EQ(variant->ring, has_word(granted, "OVER_IO_URING"));
	/* The kernel offers the ring exactly when enable_uring is Y. */
	EXPECT_EQ(!uring_unavailable, has_word(offered, "OVER_IO_URING"))
		TH_LOG("enable_uring %s", uring_unavailable ?: "is Y");
	/* OVER_IO_URING lives in flags2, which only INIT_EXT makes valid. */
	EXPECT_TRUE(has_word(granted, "INIT_EXT") ||
		    !has_word(granted, "OVER_IO_URING"));
	if (variant->ring) {
		EXPECT_STREQ("ring", transport);
	} else {
		EXPECT_EQ(0, strncmp(transport, "/dev/fuse", 9));
	}
	EXPECT_STREQ(variant->ring ? "ring" : "/dev/fuse", s->transport);
	check_verbose_setup(_metadata, variant, text, s);
	free(granted);
	free(offered);
	free(transport);
	free(text);
	free(s);
}

/* SIGUSR1 */

/*
 * A dump is consistent: its total is the sum of its lines.  Under load the
 * daemon reads each transport counter twice, once for its line and once
 * for the total, so then the total may only be ahead (quiet false).
 */
static void check_dump(struct __test_metadata *_metadata,
		       const FIXTURE_VARIANT(obs) *variant, const char *dump,
		       bool quiet, struct fue_opstat *read,
		       struct fue_opstat *write)
{
	struct fue_stats *s = malloc(sizeof(*s));
	unsigned long long ring = 0, dev = 0, errors = 0;
	int qid, i, seen, online, cpus[MAX_CPUS];

	ASSERT_NE(NULL, s);
	ASSERT_EQ(0, fue_parse_stats(dump, s)) TH_LOG("dump: %s", dump);
	ASSERT_TRUE(s->have_total);
	EXPECT_STREQ(variant->ring ? "ring" : "/dev/fuse", s->transport);
	/* A thread line per queue thread: one per online CPU by default. */
	online = fue_online_cpus(cpus, MAX_CPUS);
	EXPECT_EQ(online, s->nr_threads);
	if (variant->ring) {
		/* A qid line per kernel queue, i.e. per possible CPU. */
		EXPECT_EQ(fue_possible_cpus(), s->nr_queues);
		for (qid = 0; qid < s->nr_queues; qid++) {
			for (seen = 0, i = 0; i < s->nr_queues; i++)
				seen += s->q[i].qid == qid;
			EXPECT_EQ(1, seen) TH_LOG("qid %d", qid);
		}
	} else {
		EXPECT_EQ(0, s->nr_queues);
	}
	/* The total is the sum of its parts. */
	for (i = 0; i < s->nr_queues; i++) {
		ring += s->q[i].ring;
		errors += s->q[i].errors;
	}
	for (i = 0; i < s->nr_threads; i++) {
		dev += s->t[i].dev;
		errors += s->t[i].errors;
	}
	if (quiet) {
		EXPECT_EQ(ring, s->ring);
		EXPECT_EQ(dev, s->dev);
	} else {
		EXPECT_LE(ring, s->ring);
		EXPECT_LE(dev, s->dev);
		if (ring != s->ring || dev != s->dev)
			TH_LOG("total ring=%llu dev=%llu, lines add up to ring=%llu dev=%llu",
			       s->ring, s->dev, ring, dev);
	}
	EXPECT_EQ(0, errors);
	EXPECT_EQ(0, s->errors);
	/* --stats: per-opcode lines, percentiles in order. */
	ASSERT_EQ(0, fue_parse_op_stat(dump, "READ", read));
	ASSERT_EQ(0, fue_parse_op_stat(dump, "WRITE", write));
	EXPECT_LT(0, read->count);
	EXPECT_LT(0, write->count);
	EXPECT_LE(read->p50_us, read->p99_us);
	EXPECT_LE(read->p99_us, read->max_us);
	EXPECT_LE(write->p50_us, write->p99_us);
	EXPECT_LE(write->p99_us, write->max_us);
	/* The load moves 4K per request. */
	EXPECT_EQ(read->count * 4096, read->bytes);
	EXPECT_EQ(write->count * 4096, write->bytes);
	/*
	 * Every READ and WRITE reached the image, which took part of it: an
	 * opcode's line adds up even under load.
	 */
	EXPECT_EQ(read->count, read->image_count);
	EXPECT_EQ(write->count, write->image_count);
	EXPECT_LE(read->image_p50_us, read->p50_us);
	EXPECT_LE(read->image_p99_us, read->p99_us);
	EXPECT_LE(write->image_p50_us, write->p50_us);
	EXPECT_LE(write->image_p99_us, write->p99_us);
	/* A queue never has more taken than its entries. */
	for (i = 0, seen = 0; i < s->nr_queues; i++) {
		EXPECT_LE(s->q[i].inflight, s->q[i].peak) TH_LOG("qid %d", i);
		EXPECT_GE(32, s->q[i].peak) TH_LOG("qid %d", i);
		seen += s->q[i].peak > 0;
	}
	if (variant->ring)
		EXPECT_LT(0, seen);
	free(s);
}

TEST_F_TIMEOUT(obs, sigusr1_during_io, TIMEOUT_S)
{
	struct fue_opstat read, write, last_read = { 0 }, last_write = { 0 };
	char *dump;
	long ops;
	int round;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_EQ(0, fue_start_writable(&self->e, variant->transport,
					IMAGE_SIZE, "--stats", NULL));
	self->load = fue_load_start(self->e.mnt, 0, IMAGE_SIZE, 4096, 0,
				    FUE_LOAD_WRITERS | FUE_LOAD_VERIFY);
	ASSERT_NE(NULL, self->load);
	ASSERT_TRUE(fue_load_wait_ops(self->load, 200, 10000));

	for (round = 0; round < 5; round++) {
		ASSERT_EQ(0, fue_request_stats_dump(&self->e, &dump));
		check_dump(_metadata, variant, dump, false, &read, &write);
		free(dump);
		/* Counters only grow. */
		EXPECT_LE(last_read.count, read.count);
		EXPECT_LE(last_write.count, write.count);
		EXPECT_LE(last_read.max_us, read.max_us);
		last_read = read;
		last_write = write;
		/* And the I/O goes on after each dump. */
		ops = fue_load_ops(self->load);
		EXPECT_TRUE(fue_load_wait_ops(self->load, ops + 100, 10000))
			TH_LOG("no progress after dump %d", round);
	}
	EXPECT_EQ(0, fue_load_errors(self->load))
		TH_LOG("first error %s",
		       strerrorname_np(self->load->c[0].first_err));
	EXPECT_EQ(0, fue_load_bad(self->load));
	EXPECT_TRUE(fue_load_stop(self->load, 5000));
	EXPECT_EQ(0, fue_load_errors(self->load));
	/* Quiet now: the dump must add up exactly. */
	ASSERT_EQ(0, fue_request_stats_dump(&self->e, &dump));
	check_dump(_metadata, variant, dump, true, &read, &write);
	free(dump);
	EXPECT_LE(last_read.count, read.count);
	TH_LOG("READ count=%llu p50=%llu p99=%llu max=%llu us", read.count,
	       read.p50_us, read.p99_us, read.max_us);
	expect_clean_exit(_metadata, &self->e);
}

/*
 * The export under test over the file of a second export (self->under,
 * over /dev/fuse), which a test can stop to hold every request that
 * reaches the image.
 */
static void start_over_export(struct __test_metadata *_metadata,
			      FIXTURE_DATA(obs) *self,
			      const char *const *under_opts,
			      const char *const *opts)
{
	ASSERT_EQ(0, fue_init(&self->under));
	ASSERT_EQ(0, fue_make_image(self->under.image, IMAGE_SIZE));
	ASSERT_EQ(0, fue_make_mountpoint(self->under.mnt));
	ASSERT_EQ(0, fue_startv(&self->under, self->under.image,
				self->under.mnt, under_opts));
	ASSERT_EQ(0, fue_make_mountpoint(self->e.mnt));
	ASSERT_EQ(0, fue_startv(&self->e, self->under.mnt, self->e.mnt, opts));
}

/*
 * Is --queue-depth what holds requests back?  A queue's peak says: with
 * more clients on each CPU than the queue has entries, every online CPU's
 * queue fills to its depth, and none ever holds more.  The image is the
 * file of a second export, stopped while the clients start, so that no
 * request is answered before its queue has filled, however fast the
 * daemon is.
 */
#define SMALL_DEPTH 2

TEST_F_TIMEOUT(obs, peak_shows_a_full_queue, TIMEOUT_S)
{
	const char *under_opts[] = { "--io-uring=off", "--writable", NULL };
	const char *opts[] = { variant->transport, "--writable", "--stats",
			       "--queue-depth=2", NULL };
	int cpus[MAX_CPUS], online, i, full = 0, round;
	struct fue_stats *s = malloc(sizeof(*s));

	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_NE(NULL, s);
	if (!variant->ring) {
		free(s);
		SKIP(return, "/dev/fuse has no kernel queues");
	}
	start_over_export(_metadata, self, under_opts, opts);
	if (self->e.pid <= 0)
		return;
	online = fue_online_cpus(cpus, MAX_CPUS);
	ASSERT_LT(0, online);
	ASSERT_EQ(0, kill(self->under.pid, SIGSTOP));
	/* Four readers and a writer per CPU, each with a request in flight. */
	self->load = fue_load_start(self->e.mnt, 0, IMAGE_SIZE, 4096, 0,
				    FUE_LOAD_WRITERS | FUE_LOAD_DEEP);
	ASSERT_NE(NULL, self->load);
	for (round = 0; round < 100 && full < online; round++) {
		fue_sleep_ms(100);
		ASSERT_EQ(0, fue_request_stats(&self->e, s));
		ASSERT_LT(cpus[online - 1], s->nr_queues);
		for (i = 0, full = 0; i < online; i++)
			full += s->q[cpus[i]].peak == SMALL_DEPTH;
	}
	ASSERT_EQ(0, kill(self->under.pid, SIGCONT));
	/* Every held request is answered, and the clients go on. */
	EXPECT_TRUE(fue_load_wait_ops(self->load, 200, 10000));
	EXPECT_TRUE(fue_load_stop(self->load, 5000));
	EXPECT_EQ(0, fue_load_errors(self->load));
	ASSERT_EQ(0, fue_request_stats(&self->e, s));
	/* Braced: else the harness runs a TH_LOG() after the loop. */
	for (i = 0; i < s->nr_queues; i++) {
		EXPECT_GE(SMALL_DEPTH, s->q[i].peak) TH_LOG("qid %d", i);
	}
	for (i = 0; i < online; i++)
		EXPECT_EQ(SMALL_DEPTH, s->q[cpus[i]].peak)
			TH_LOG("qid %d (an online CPU's) never filled", cpus[i]);
	free(s);
	expect_clean_exit(_metadata, &self->e);
}

/*
 * A request held in the daemon: the export's image is the file of a
 * second export, which is stopped.  While the READ waits for it, the
 * stats count it in flight on the caller's queue; a signal to the caller
 * makes the kernel send INTERRUPT over /dev/fuse, which gets no reply
 * (the daemon counts no error and the READ still completes); once the
 * export underneath goes on, the bytes are right and nothing is left in
 * flight.
 */
struct stalled {
	const char *path;
	int cpu;
	ssize_t ret;
	int err;
	bool bad_data;
};

static void stalled_sigusr1(int sig)
{
	(void)sig;
}

static int stalled_client(struct stalled *c)
{
	struct sigaction sa = { .sa_handler = stalled_sigusr1 };
	cpu_set_t set;
	void *buf;
	int fd;

	CPU_ZERO(&set);
	CPU_SET(c->cpu, &set);
	/* No SA_RESTART: the kernel is asked to interrupt the request. */
	if (sched_setaffinity(0, sizeof(set), &set) ||
	    sigaction(SIGUSR1, &sa, NULL) || posix_memalign(&buf, 4096, 4096))
		return 1;
	fd = open(c->path, O_RDONLY | O_DIRECT);
	if (fd < 0)
		return 1;
	c->ret = pread(fd, buf, 4096, 8192);
	c->err = c->ret < 0 ? errno : 0;
	c->bad_data = c->ret == 4096 && fue_check_pattern(buf, 4096, 8192) >= 0;
	close(fd);
	return 0;
}

/* Request lines of op in the trace file, and the last one's unique. */
static int trace_requests(const char *path, const char *op,
			  unsigned long long *unique)
{
	char *text = fue_slurp(path), *line, *save = NULL;
	struct trace_line t;
	int n = 0;

	for (line = text ? strtok_r(text, "\n", &save) : NULL; line;
	     line = strtok_r(NULL, "\n", &save)) {
		if (parse_trace_line(line, &t) || t.reply || strcmp(t.opcode, op))
			continue;
		*unique = t.unique;
		n++;
	}
	free(text);
	return n;
}

/* The result word of the reply line for unique, or "" if none. */
static void trace_result(const char *path, unsigned long long unique,
			 char *result, size_t len)
{
	char *text = fue_slurp(path), *line, *save = NULL;
	struct trace_line t;

	result[0] = '\0';
	for (line = text ? strtok_r(text, "\n", &save) : NULL; line;
	     line = strtok_r(NULL, "\n", &save))
		if (!parse_trace_line(line, &t) && t.reply && t.unique == unique)
			snprintf(result, len, "%s", t.result);
	free(text);
}

static bool wait_trace(const char *path, const char *op, int want,
		       unsigned long long *unique, int timeout_ms)
{
	for (; timeout_ms > 0; timeout_ms -= 10) {
		if (trace_requests(path, op, unique) >= want)
			return true;
		usleep(10000);
	}
	return false;
}

/* How long an INTERRUPT may take from the kernel to the daemon's trace. */
#define INTERRUPT_NOTICED_MS	1000

/* Wait until pid sleeps interruptibly (state S): in its request's wait. */
static bool wait_sleeping(pid_t pid, int timeout_ms)
{
	char path[64], *text, *state;
	bool sleeping;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	for (; timeout_ms > 0; timeout_ms -= 10) {
		text = fue_slurp(path);
		/* The state follows the command name's closing paren. */
		state = text ? strrchr(text, ')') : NULL;
		sleeping = state && state[1] == ' ' && state[2] == 'S';
		free(text);
		if (sleeping)
			return true;
		usleep(10000);
	}
	return false;
}

TEST_F_TIMEOUT(obs, stalled_request_inflight_interrupt, TIMEOUT_S)
{
	struct stalled *c = fue_shared_alloc(sizeof(*c));
	struct fue_stats *s = malloc(sizeof(*s));
	const char *under_opts[] = { "--io-uring=off", NULL };
	unsigned long long read_unique = 0, intr_unique = 0, inflight;
	int cpus[MAX_CPUS], status, i, waited, busy;
	bool got_intr;
	char topt[PATH_MAX + 16], result[32];
	const char *opts[] = { variant->transport, "--stats", topt, NULL };
	char buf[4096];
	pid_t pid;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_NE(NULL, c);
	ASSERT_NE(NULL, s);
	snprintf(topt, sizeof(topt), "--trace=%s", self->trace);
	start_over_export(_metadata, self, under_opts, opts);
	if (self->e.pid <= 0)
		return;

	ASSERT_LT(0, fue_online_cpus(cpus, MAX_CPUS));
	c->path = self->e.mnt;
	c->cpu = cpus[fue_online_cpus(cpus, MAX_CPUS) - 1];
	ASSERT_EQ(0, kill(self->under.pid, SIGSTOP));
	fflush(NULL);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0)
		_exit(stalled_client(c));
	self->client = pid;
	ASSERT_TRUE(wait_trace(self->trace, "READ", 1, &read_unique, 10000))
		TH_LOG("the READ never reached the daemon");

	ASSERT_EQ(0, fue_request_stats(&self->e, s));
	if (variant->ring) {
		for (inflight = 0, i = 0; i < s->nr_queues; i++) {
			inflight += s->q[i].inflight;
			if (s->q[i].qid == c->cpu) {
				EXPECT_EQ(1, s->q[i].inflight)
					TH_LOG("qid %d: inflight %llu",
					       c->cpu, s->q[i].inflight);
			}
		}
		EXPECT_EQ(1, inflight);
	}

	/*
	 * A signal that lands before the client sleeps in the request's
	 * wait interrupts nothing, so signal once the client sleeps, and
	 * once only: the kernel queues the INTERRUPT at once, and a
	 * /dev/fuse reader is always armed on every thread (README), so
	 * the daemon sees it within a second or has missed it.
	 */
	ASSERT_TRUE(wait_sleeping(pid, 5000))
		TH_LOG("the client never slept in its READ");
	ASSERT_EQ(0, kill(pid, SIGUSR1));
	got_intr = wait_trace(self->trace, "INTERRUPT", 1, &intr_unique,
			      INTERRUPT_NOTICED_MS);
	EXPECT_TRUE(got_intr)
		TH_LOG("no INTERRUPT reached the daemon within %d ms",
		       INTERRUPT_NOTICED_MS);
	/* It is not an answer to the READ, which is still waiting. */
	EXPECT_FALSE(fue_wait_exit(&self->e, 0));
	ASSERT_EQ(0, kill(self->under.pid, SIGCONT));

	ASSERT_EQ(1, fue_wait_pid(pid, &status, 10000))
		TH_LOG("the READ never completed");
	self->client = 0;
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	EXPECT_EQ(4096, c->ret) TH_LOG("pread: %s", strerror(c->err));
	EXPECT_FALSE(c->bad_data);

	/* The READ was answered; the INTERRUPT was not, and nothing failed. */
	trace_result(self->trace, read_unique, result, sizeof(result));
	EXPECT_STREQ("OK", result);
	/* The client's RELEASE may still be on its way: give it a second. */
	for (waited = 0; waited <= 1000; waited += 50) {
		ASSERT_EQ(0, fue_request_stats(&self->e, s));
		for (busy = 0, i = 0; i < s->nr_queues; i++)
			busy += s->q[i].inflight != 0;
		if (!busy)
			break;
		usleep(50000);
	}
	EXPECT_EQ(0, s->errors);
	EXPECT_LE(1, s->dev) TH_LOG("the INTERRUPT was not counted");
	/* Braced: else the harness runs a TH_LOG() after the loop. */
	for (i = 0; i < s->nr_queues; i++) {
		EXPECT_EQ(0, s->q[i].inflight) TH_LOG("qid %d", s->q[i].qid);
	}
	/* And the export goes on serving. */
	ASSERT_EQ(4096, fue_pread(self->e.mnt, O_RDONLY, buf, 4096, 65536));
	EXPECT_EQ(-1, fue_check_pattern(buf, 4096, 65536));
	expect_clean_exit(_metadata, &self->e);
	free(s);
	fue_shared_free(c, sizeof(*c));
}

/*
 * With CPUs offline, thread t still serves qids t, t + n, ...  of every
 * possible CPU, and is pinned to those of them that are online; a thread
 * whose qids are all offline is left as free as the daemon.
 */
static void check_pin_with_offline_cpus(struct __test_metadata *_metadata,
					char lists[][64], int n,
					const char *main_list,
					const int *cpus, int online)
{
	struct cpus got, on;
	int i, qid;

	ASSERT_EQ(0, cpus_alloc(&on, fue_possible_cpus()));
	for (i = 0; i < online; i++)
		cpus_add(&on, cpus[i]);
	for (i = 0; i < n; i++) {
		bool any = false;

		for (qid = i; qid < fue_possible_cpus(); qid += n)
			any |= cpus_has(&on, qid);
		if (!any) {
			EXPECT_STREQ(main_list, lists[i])
				TH_LOG("thread %d, of offline CPUs only", i);
			continue;
		}
		ASSERT_LE(0, cpus_parse_list(lists[i], &got));
		/* Braced: else the harness runs a TH_LOG() after the loop. */
		for (qid = 0; qid < fue_possible_cpus(); qid++) {
			EXPECT_EQ(qid % n == i && cpus_has(&on, qid),
				  cpus_has(&got, qid))
				TH_LOG("thread %d: CPUs %s, CPU %d", i,
				       lists[i], qid);
		}
		cpus_free(&got);
	}
	cpus_free(&on);
}

/*
 * --pin: over the ring each queue thread is pinned to the CPUs of its
 * kernel queues (default on); with --pin=off, or over /dev/fuse, it may
 * run wherever the daemon may.  Queue threads are the daemon's tasks
 * other than its main thread and io_uring's workers (iou-*).
 */
#define MAX_TASKS	64

static int queue_thread_cpus(pid_t pid, char lists[][64], int max,
			     char *main_list, size_t len)
{
	char path[320], *text, *p, *comm;
	struct dirent *d;
	int n = 0;
	DIR *dir;

	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	dir = opendir(path);
	if (!dir)
		return -errno;
	while ((d = readdir(dir)) && n < max) {
		char *list;

		if (d->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%s/comm", pid,
			 d->d_name);
		comm = fue_slurp(path);
		snprintf(path, sizeof(path), "/proc/%d/task/%s/status", pid,
			 d->d_name);
		text = fue_slurp(path);
		p = text ? strstr(text, "\nCpus_allowed_list:") : NULL;
		if (p && comm && strncmp(comm, "iou-", 4)) {
			p += strlen("\nCpus_allowed_list:");
			p += strspn(p, " \t");
			list = atoi(d->d_name) == pid ? main_list : lists[n++];
			snprintf(list, atoi(d->d_name) == pid ? len : 64, "%.*s",
				 (int)strcspn(p, "\n"), p);
		}
		free(text);
		free(comm);
	}
	closedir(dir);
	return n;
}

static void check_pin(struct __test_metadata *_metadata,
		      FIXTURE_DATA(obs) *self,
		      const FIXTURE_VARIANT(obs) *variant, bool pin)
{
	char lists[MAX_TASKS][64], main_list[64] = "", want[16];
	int cpus[MAX_CPUS], online, n, i, j;

	if (pin) {
		ASSERT_EQ(0, fue_start_writable(&self->e, variant->transport,
						IMAGE_SIZE, "--pin=on", NULL));
	} else {
		ASSERT_EQ(0, fue_start_writable(&self->e, variant->transport,
						IMAGE_SIZE, "--pin=off", NULL));
	}
	online = fue_online_cpus(cpus, MAX_CPUS);
	n = queue_thread_cpus(self->e.pid, lists, MAX_TASKS, main_list,
			      sizeof(main_list));
	/* One queue thread per online CPU by default. */
	ASSERT_EQ(online, n);
	for (i = 0; i < n; i++)
		TH_LOG("queue thread %d: CPUs %s (main thread: %s)", i,
		       lists[i], main_list);
	if (!pin || !variant->ring) {
		/* Unpinned: as free as the daemon itself. */
		for (i = 0; i < n; i++)
			EXPECT_STREQ(main_list, lists[i]);
		return;
	}
	if (fue_possible_cpus() != online) {
		check_pin_with_offline_cpus(_metadata, lists, n, main_list,
					    cpus, online);
		return;
	}
	/* Pinned: thread t serves queue t alone, i.e. runs on CPU t only. */
	for (j = 0; j < online; j++) {
		int found = 0;

		snprintf(want, sizeof(want), "%d", cpus[j]);
		for (i = 0; i < n; i++)
			found += !strcmp(lists[i], want);
		EXPECT_EQ(1, found) TH_LOG("threads pinned to CPU %d alone: %d",
					   cpus[j], found);
	}
}

TEST_F_TIMEOUT(obs, pin_on_pins_queue_threads, TIMEOUT_S)
{
	if (self->skip)
		SKIP(return, "%s", self->skip);
	check_pin(_metadata, self, variant, true);
}

TEST_F_TIMEOUT(obs, pin_off_leaves_them_free, TIMEOUT_S)
{
	if (self->skip)
		SKIP(return, "%s", self->skip);
	check_pin(_metadata, self, variant, false);
}

/*
 * --poll: a lone reader has one image read in flight at a time, the depth
 * at which a queue thread spins for its image rather than sleep, and the
 * thread lines count the waits a spin ended (polled=): a read of tmpfs
 * completes within the spin, so nearly every one of the reads should be
 * (a few may lose the CPU mid-spin on a busy machine); --poll=0 never
 * spins.  Either way every byte read is the image's.
 */
#define LONE_READS 256

struct lone_reads {
	unsigned long long polled;
	/* READs that went to the image, from the daemon's own count. */
	unsigned long long image_reads;
};

/* @reads reads of @len bytes, one at a time, wrapping at the image end. */
static void read_alone(struct __test_metadata *_metadata,
		       FIXTURE_DATA(obs) *self, int oflags, size_t len,
		       int reads, struct lone_reads *r)
{
	struct fue_stats *s = malloc(sizeof(*s));
	struct fue_opstat op;
	char *dump = NULL;
	void *buf = NULL;
	int fd, i, bad = 0;

	memset(r, 0, sizeof(*r));
	ASSERT_NE(NULL, s);
	ASSERT_EQ(0, posix_memalign(&buf, 4096, len));
	fd = open(self->e.mnt, O_RDONLY | oflags);
	ASSERT_LE(0, fd);
	for (i = 0; i < reads; i++) {
		off_t off = (off_t)(i % (IMAGE_SIZE / len)) * len;

		ASSERT_EQ((ssize_t)len, pread(fd, buf, len, off));
		bad += fue_check_pattern(buf, len, off) >= 0;
	}
	close(fd);
	free(buf);
	EXPECT_EQ(0, bad);
	ASSERT_EQ(0, fue_request_stats_dump(&self->e, &dump));
	ASSERT_EQ(0, fue_parse_stats(dump, s));
	ASSERT_EQ(0, fue_parse_op_stat(dump, "READ", &op));
	for (i = 0; i < s->nr_threads; i++)
		r->polled += s->t[i].polled;
	r->image_reads = op.image_count;
	free(dump);
	free(s);
	TH_LOG("%d reads of %zu bytes, %llu to the image, %llu waits ended by a spin",
	       reads, len, r->image_reads, r->polled);
}

TEST_F_TIMEOUT(obs, poll_spins_for_a_lone_reader, TIMEOUT_S)
{
	struct lone_reads r;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_EQ(0, fue_start_writable(&self->e, variant->transport,
					IMAGE_SIZE, "--stats", NULL));
	read_alone(_metadata, self, 0, 4096, LONE_READS, &r);
	EXPECT_LE(1ULL, r.image_reads);
	EXPECT_LE(r.image_reads * 3 / 4, r.polled)
		TH_LOG("a lone reader's waits were not ended by the spin");
	expect_clean_exit(_metadata, &self->e);
}

TEST_F_TIMEOUT(obs, poll_0_never_spins, TIMEOUT_S)
{
	struct lone_reads r;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_EQ(0, fue_start_writable(&self->e, variant->transport,
					IMAGE_SIZE, "--stats", "--poll=0",
					NULL));
	read_alone(_metadata, self, 0, 4096, LONE_READS, &r);
	EXPECT_LE(1ULL, r.image_reads);
	EXPECT_EQ(0ULL, r.polled);
	expect_clean_exit(_metadata, &self->e);
}

/*
 * An image read larger than POLL_MAX_IMAGE_BYTES seldom completes within
 * a spin, so a lone reader of 1 MiB reads is never spun for, even where
 * the image (tmpfs) would answer at once.
 */
#define LARGE_READ (1 << 20)

TEST_F_TIMEOUT(obs, poll_skips_large_reads, TIMEOUT_S)
{
	int reads = 2 * IMAGE_SIZE / LARGE_READ;
	struct lone_reads r;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_LT(POLL_MAX_IMAGE_BYTES, LARGE_READ);
	ASSERT_EQ(0, fue_start_writable(&self->e, variant->transport,
					IMAGE_SIZE, "--stats", NULL));
	read_alone(_metadata, self, O_DIRECT, LARGE_READ, reads, &r);
	EXPECT_LE((unsigned long long)reads, r.image_reads);
	EXPECT_EQ(0ULL, r.polled)
		TH_LOG("%llu waits for 1 MiB reads were spun", r.polled);
	expect_clean_exit(_metadata, &self->e);
}

/* Every option in --help is in the man page, and back. */

/* Long option names (without "--") in text, as NUL-separated words. */
struct names {
	int nr;
	char name[64][32];
	char shortopt[64];	/* its short letter, or 0 */
};

static void add_name(struct names *n, const char *p, char shortopt)
{
	int len = 0, i;

	while (p[len] && (isalnum((unsigned char)p[len]) || p[len] == '-'))
		len++;
	if (!len || len >= 32 || n->nr == 64)
		return;
	for (i = 0; i < n->nr; i++)
		if (!strncmp(n->name[i], p, len) && !n->name[i][len])
			return;
	memcpy(n->name[n->nr], p, len);
	n->name[n->nr][len] = '\0';
	n->shortopt[n->nr++] = shortopt;
}

/* Option lines of --help: "  -x, --name..." or "      --name...". */
static void help_options(const char *help, struct names *n)
{
	const char *line = help;

	while (line && *line) {
		const char *p = line;
		char shortopt = 0;

		while (*p == ' ')
			p++;
		if (p > line && p[0] == '-' && isalnum((unsigned char)p[1]) &&
		    p[2] == ',' && p[3] == ' ' && p[4] == '-') {
			shortopt = p[1];
			p += 4;
		}
		if (p > line && !strncmp(p, "--", 2) &&
		    isalnum((unsigned char)p[2]))
			add_name(n, p + 2, shortopt);
		line = strchr(line, '\n');
		if (line)
			line++;
	}
}

/* Does the man source spell "\-\-name" (or "\-x") as a whole word? */
static bool man_has(const char *man, const char *dashes, const char *name)
{
	size_t dlen = strlen(dashes), len = strlen(name);
	const char *p = man;

	while ((p = strstr(p, dashes))) {
		p += dlen;
		if (!strncmp(p, name, len) &&
		    !isalnum((unsigned char)p[len]) && p[len] != '-')
			return true;
	}
	return false;
}

/* The option names on the .TP tag lines of the OPTIONS section. */
static void man_options(const char *man, struct names *n)
{
	const char *sec = strstr(man, "\n.SH OPTIONS\n"), *end, *p;

	if (!sec)
		return;
	end = strstr(sec + 1, "\n.SH ");
	for (p = strstr(sec, "\n.TP\n"); p && (!end || p < end);
	     p = strstr(p + 1, "\n.TP\n")) {
		const char *tag = p + 5, *eol = strchrnul(tag, '\n');
		const char *q = tag;

		while ((q = strstr(q, "\\-\\-")) && q < eol) {
			add_name(n, q + 4, 0);
			q += 4;
		}
	}
}

static char *man_path(char *buf, size_t len)
{
	const char *env = getenv("FUE_MAN");
	char bin[PATH_MAX];

	if (env && env[0]) {
		snprintf(buf, len, "%s", env);
		return buf;
	}
	/* Next to the daemon, as in the source tree. */
	snprintf(bin, sizeof(bin), "%s", fue_bin());
	snprintf(buf, len, "%s/fuse-uring-export.8", dirname(bin));
	return buf;
}

/* An idle export */

/* How long an idle export is watched, and the wake-ups it may have. */
#define IDLE_MS		3000
#define IDLE_WAKEUPS	3

/* Context switches of all of pid's threads, and its CPU time in ticks. */
static int idle_counts(pid_t pid, unsigned long long *switches,
		       unsigned long long *ticks)
{
	char path[320], *text, *p, *line;
	unsigned long long utime, stime;
	struct dirent *d;
	DIR *dir;

	*switches = 0;
	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	dir = opendir(path);
	if (!dir)
		return -errno;
	while ((d = readdir(dir))) {
		if (d->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%s/status", pid,
			 d->d_name);
		text = fue_slurp(path);
		for (line = text; line && *line; line = p ? p + 1 : NULL) {
			p = strchr(line, '\n');
			if (!strncmp(line, "voluntary_ctxt_switches:", 24) ||
			    !strncmp(line, "nonvoluntary_ctxt_switches:", 27))
				*switches += strtoull(strchr(line, ':') + 1,
						      NULL, 10);
			if (!p)
				break;
		}
		free(text);
	}
	closedir(dir);
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	text = fue_slurp(path);
	p = text ? strrchr(text, ')') : NULL;
	if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
			 &utime, &stime) != 2) {
		free(text);
		return -EINVAL;
	}
	free(text);
	*ticks = utime + stime;
	return 0;
}

/*
 * README: "an idle export costs no CPU".  Once serving, a daemon with
 * nothing to do sleeps: none of its threads wakes up on a timer.
 */
TEST_F_TIMEOUT(obs, idle_export_sleeps, TIMEOUT_S)
{
	unsigned long long sw0, sw1, t0, t1;
	struct stat st;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_EQ(0, fue_start_writable(&self->e, variant->transport,
					IMAGE_SIZE, NULL));
	/* One request, then quiet: what the start-up did is over. */
	ASSERT_EQ(0, stat(self->e.mnt, &st));
	fue_sleep_ms(500);
	ASSERT_EQ(0, idle_counts(self->e.pid, &sw0, &t0));
	fue_sleep_ms(IDLE_MS);
	ASSERT_EQ(0, idle_counts(self->e.pid, &sw1, &t1));
	TH_LOG("idle for %d ms: %llu context switches, %llu CPU ticks",
	       IDLE_MS, sw1 - sw0, t1 - t0);
	EXPECT_GE(IDLE_WAKEUPS, sw1 - sw0)
		TH_LOG("the idle daemon woke up %llu times in %d ms",
		       sw1 - sw0, IDLE_MS);
	EXPECT_GE(1, t1 - t0);
	expect_clean_exit(_metadata, &self->e);
}

/*
 * A fixture rather than TEST(): an older harness' TEST() leaves an unused
 * parameter that clang -Wextra rejects.  Needs neither root nor FUSE.
 */
FIXTURE(man) {
	struct fue_export e;
};

FIXTURE_SETUP(man)
{
}

FIXTURE_TEARDOWN(man)
{
	fue_teardown(&self->e);
}

TEST_F(man, page_documents_every_option)
{
	const char *args[] = { "--help", NULL };
	struct names *help = calloc(1, sizeof(*help));
	struct names *man_opts = calloc(1, sizeof(*man_opts));
	char path[PATH_MAX], letter[2] = { 0 };
	struct fue_export *e = &self->e;
	char *man, *out;
	int i;

	ASSERT_NE(NULL, help);
	ASSERT_NE(NULL, man_opts);
	if (access(fue_bin(), X_OK))
		SKIP(return, "daemon %.900s not found (build it or set FUE_BIN)",
		     fue_bin());
	man = fue_slurp(man_path(path, sizeof(path)));
	if (!man)
		SKIP(return, "no man page at %.900s (set FUE_MAN)", path);
	ASSERT_EQ(0, fue_init(e));
	ASSERT_EQ(0, fue_run(e, args, 5000));
	out = fue_slurp(e->outlog);
	ASSERT_NE(NULL, out);

	help_options(out, help);
	/* A parser that finds nothing would pass everything. */
	ASSERT_LE(10, help->nr) TH_LOG("--help: %s", out);
	for (i = 0; i < help->nr; i++) {
		EXPECT_TRUE(man_has(man, "\\-\\-", help->name[i]))
			TH_LOG("--%s is in --help but not in %s",
			       help->name[i], path);
		letter[0] = help->shortopt[i];
		if (letter[0]) {
			EXPECT_TRUE(man_has(man, "\\-", letter))
				TH_LOG("-%s (--%s) is not in %s", letter,
				       help->name[i], path);
		}
	}
	man_options(man, man_opts);
	ASSERT_LE(10, man_opts->nr);
	for (i = 0; i < man_opts->nr; i++) {
		int j;

		for (j = 0; j < help->nr; j++)
			if (!strcmp(help->name[j], man_opts->name[i]))
				break;
		EXPECT_LT(j, help->nr)
			TH_LOG("--%s is in %s but not in --help",
			       man_opts->name[i], path);
	}
	free(out);
	free(man);
	free(help);
	free(man_opts);
}

/*
 * Not TEST_HARNESS_MAIN only for symmetry with the other programs: the
 * man page test needs neither root nor FUSE, so nothing is skipped here
 * as a whole; the fixtures skip themselves with the reason.
 */
int main(int argc, char **argv)
{
	return test_harness_run(argc, argv);
}
