// SPDX-License-Identifier: GPL-2.0
/*
 * Test aids.  They live here alone: the image I/O they act on goes
 * through a backend wrapped around the real one (file or null:), made only
 * when one is asked for, and the REGISTER path asks fault_register_qid()
 * once an entry, so the request path of an export without them runs no
 * test aid code at all.
 *
 *  - --fail-io fails image I/O before any SQE is made;
 *  - --fail-completion lets the real SQE run and then changes what its
 *    completion says, so that the code reading completions (short and
 *    failed transfers, an EOF that moved, a failed write still owing a
 *    sync) runs in tests;
 *  - --hold-sync keeps a sync's completion back until the test writes a
 *    byte to a FIFO, so that the order of syncs and writes in a test is
 *    the one it asks for, not the one a loaded machine happens to give;
 *  - --fail-thread makes queue thread 0 fail as if its io_uring broke,
 *    once it has started N requests' image I/O;
 *  - --fail-register sends REGISTERs from the N-th on with a qid the
 *    kernel has no queue for;
 *  - --fail-pool=queue|bufpool sends the first ADD_QUEUE or ADD_BUFPOOL
 *    with such a qid, so that the kernel refuses it.
 *
 * Each completion fault fires once; each line this file logs is a test's
 * proof that it did.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "export.h"

/* A range of the image whose I/O fails on purpose (--fail-io). */
struct fault_range {
	bool active;
	bool reads;
	bool writes;
	/* Every fdatasync/fsync, FLUSH's and FSYNC's and the final one. */
	bool syncs;
	uint64_t offset;
	uint64_t length;
	/* -errno */
	int error;
};

/* --fail-completion: the result one image I/O completion reports instead. */
struct completion_fault {
	/* IORING_OP_READ, IORING_OP_WRITE or IORING_OP_FSYNC. */
	uint8_t opcode;
	/* READ/WRITE: the request's offset; FSYNC: which sync, from 1. */
	uint64_t where;
	/* -errno, or a byte count (0 for an EOF). */
	int result;
};

#define COMPLETION_FAULTS_MAX 4

struct fault_options {
	struct fault_range io;
	struct completion_fault completion[COMPLETION_FAULTS_MAX];
	unsigned int nr_completion;
	/* --hold-sync=N:FIFO: sync N completes once a byte is read there. */
	unsigned int hold_sync;
	const char *hold_path;
	/* --fail-register=N: REGISTERs from the N-th on carry a bad qid. */
	unsigned int fail_register;
	/* --fail-thread=N: thread 0 fails at its N-th image I/O. */
	unsigned int fail_thread;
	/* --fail-pool: the ring command whose first one is refused, or 0. */
	uint32_t fail_pool_cmd;
};

/* Set by the command line, read-only once threads run. */
static struct fault_options options;

/* The real backend, and the table that wraps it. */
static const struct image_ops *inner;
static struct image_ops wrapped;
static void (*inner_io_done)(struct ring_op *op, int res);

static bool fired[COMPLETION_FAULTS_MAX];
/* Syncs of the image completed so far, the one at exit excepted. */
static uint64_t syncs_completed;
/* Image I/O thread 0 has started: only thread 0 counts it. */
static unsigned int thread0_started;
static unsigned int registers_sent;
static bool pool_cmd_failed;
static int hold_fd = -1;

/* A sync whose completion waits for one byte on the --hold-sync FIFO. */
struct held_sync {
	struct ring_op op;
	struct fuse_request *req;
	int res;
	uint64_t sync_no;
	char byte;
};

/* -errno for the names the test aids take, 0 for any other. */
static int parse_errno(const char *name)
{
	if (!strcmp(name, "EIO"))
		return -EIO;
	if (!strcmp(name, "ENOSPC"))
		return -ENOSPC;
	if (!strcmp(name, "EROFS"))
		return -EROFS;
	return 0;
}

/*
 * --fail-io=read:1M+64K:EIO or --fail-io=sync:EIO: image I/O errors, and
 * syncs that fail.
 */
static int parse_fail_io(const char *s, struct fault_range *f)
{
	char what[8], range[64], err[16] = "EIO";
	char *plus;

	if (f->active) {
		log_error("--fail-io: give it once (one range per export)");
		return -EINVAL;
	}
	if (!strncmp(s, "sync", 4) && (!s[4] || s[4] == ':')) {
		f->syncs = true;
		f->error = s[4] ? parse_errno(s + 5) : -EIO;
		if (!f->error)
			goto bad;
		f->active = true;
		return 0;
	}
	if (sscanf(s, "%7[a-z]:%63[^:]:%15s", what, range, err) < 2)
		goto bad;
	plus = strchr(range, '+');
	if (!plus)
		goto bad;
	*plus = '\0';
	if (cli_parse_size(range, &f->offset) ||
	    cli_parse_size(plus + 1, &f->length) || !f->length)
		goto bad;
	f->reads = !strcmp(what, "read") || !strcmp(what, "rw");
	f->writes = !strcmp(what, "write") || !strcmp(what, "rw");
	f->error = parse_errno(err);
	if (!(f->reads || f->writes) || !f->error)
		goto bad;
	f->active = true;
	return 0;
bad:
	memset(f, 0, sizeof(*f));
	log_error("--fail-io=%s: expected read|write|rw:OFFSET+LENGTH[:ERRNO] or sync[:ERRNO], ERRNO one of EIO, ENOSPC, EROFS",
		  s);
	return -EINVAL;
}

static int parse_result(const char *s, int *out)
{
	uint64_t bytes;

	*out = parse_errno(s);
	if (*out)
		return 0;
	if (!cli_parse_size(s, &bytes) && bytes <= INT32_MAX)
		*out = (int)bytes;
	else
		return -EINVAL;
	return 0;
}

/*
 * --fail-completion=read|write:OFFSET:RESULT or sync:N:RESULT, RESULT an
 * errno (EIO, ENOSPC, EROFS) or the byte count to report.
 */
static int parse_completion(const char *s, struct fault_options *aids)
{
	struct completion_fault *f;
	char what[8], where[32], result[16];
	char tail;

	if (aids->nr_completion == COMPLETION_FAULTS_MAX) {
		log_error("--fail-completion: at most %d",
			  COMPLETION_FAULTS_MAX);
		return -EINVAL;
	}
	f = &aids->completion[aids->nr_completion];
	if (sscanf(s, "%7[a-z]:%31[^:]:%15[^:]%c", what, where, result,
		   &tail) != 3)
		goto bad;
	if (!strcmp(what, "read"))
		f->opcode = IORING_OP_READ;
	else if (!strcmp(what, "write"))
		f->opcode = IORING_OP_WRITE;
	else if (!strcmp(what, "sync"))
		f->opcode = IORING_OP_FSYNC;
	else
		goto bad;
	if (cli_parse_size(where, &f->where) || parse_result(result, &f->result))
		goto bad;
	if (f->opcode == IORING_OP_FSYNC && (!f->where || f->result > 0))
		goto bad;
	aids->nr_completion++;
	return 0;
bad:
	log_error("--fail-completion=%s: expected read|write:OFFSET:RESULT or sync:N:RESULT, RESULT one of EIO, ENOSPC, EROFS or a byte count (0 for sync)",
		  s);
	return -EINVAL;
}

/* --hold-sync=N:FIFO */
static int parse_hold_sync(const char *s, struct fault_options *aids)
{
	uint64_t n;
	const char *colon = strchr(s, ':');
	char count[16];

	if (!colon || colon == s || (size_t)(colon - s) >= sizeof(count) ||
	    !colon[1])
		goto bad;
	memcpy(count, s, colon - s);
	count[colon - s] = '\0';
	if (cli_parse_size(count, &n) || !n || n > UINT32_MAX)
		goto bad;
	aids->hold_sync = (unsigned int)n;
	aids->hold_path = colon + 1;
	return 0;
bad:
	log_error("--hold-sync=%s: expected N:FIFO, N from 1", s);
	return -EINVAL;
}

static int parse_count(const char *name, const char *s, unsigned int *out)
{
	uint64_t n;

	if (cli_parse_size(s, &n) || !n || n > UINT_MAX) {
		log_error("--%s=%s: expected a count from 1", name, s);
		return -EINVAL;
	}
	*out = (unsigned int)n;
	return 0;
}

static int parse_fail_pool(const char *s, struct fault_options *aids)
{
	if (!strcmp(s, "queue")) {
		aids->fail_pool_cmd = FUSE_IO_URING_CMD_ADD_QUEUE;
	} else if (!strcmp(s, "bufpool")) {
		aids->fail_pool_cmd = FUSE_IO_URING_CMD_ADD_BUFPOOL;
	} else {
		log_error("--fail-pool=%s: expected queue or bufpool", s);
		return -EINVAL;
	}
	return 0;
}

/* One test aid of the command line: --NAME=ARG.  0 or -errno. */
int fault_parse_option(const char *name, const char *arg,
		       struct export_options *opt)
{
	int ret;

	if (!strcmp(name, "fail-io"))
		ret = parse_fail_io(arg, &options.io);
	else if (!strcmp(name, "fail-completion"))
		ret = parse_completion(arg, &options);
	else if (!strcmp(name, "hold-sync"))
		ret = parse_hold_sync(arg, &options);
	else if (!strcmp(name, "fail-pool"))
		ret = parse_fail_pool(arg, &options);
	else if (!strcmp(name, "fail-register"))
		ret = parse_count(name, arg, &options.fail_register);
	else
		ret = parse_count(name, arg, &options.fail_thread);
	if (!ret)
		opt->faults = &options;
	return ret;
}

static bool hits_fail_io(const struct fault_range *f,
			 const struct fuse_request *req)
{
	bool data_op = req->io.opcode == IORING_OP_READ ? f->reads :
		       req->io.opcode == IORING_OP_WRITE && f->writes;

	if (!f->active)
		return false;
	if (req->io.opcode == IORING_OP_FSYNC)
		return f->syncs;
	return data_op && req->io.offset < f->offset + f->length &&
	       f->offset < req->io.offset + req->io.len;
}

/*
 * --fail-thread: thread 0 alone counts, so no other thread ever writes
 * the count.  What it has in flight then is drained as after a real
 * failure.
 */
static void count_thread0_io(struct fuse_request *req)
{
	struct queue_thread *t = req->thread;

	if (!options.fail_thread || t->index || req->io.done)
		return;
	if (++thread0_started == options.fail_thread)
		queue_thread_fail_loudly(t, -EIO);
}

static void fault_submit(struct fuse_request *req)
{
	count_thread0_io(req);
	if (hits_fail_io(&options.io, req)) {
		image_io_finish(req, options.io.error);
		return;
	}
	inner->submit(req);
}

/* --fail-io=sync: the result of the sync at exit, before it is made. */
static int fault_sync(struct image *img)
{
	if (options.io.active && options.io.syncs)
		return options.io.error;
	return inner->sync(img);
}

/*
 * Opened on first use, by the one thread holding a sync; read and write
 * so that the FIFO never reads as ended while the test has it closed.
 */
static int hold_fifo(const char *path)
{
	int fd = __atomic_load_n(&hold_fd, __ATOMIC_ACQUIRE);
	int expected = -1;

	if (fd >= 0)
		return fd;
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (!__atomic_compare_exchange_n(&hold_fd, &expected, fd, false,
					 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
		close(fd);
		fd = expected;
	}
	return fd;
}

/* What the sync's SQE asked the kernel for, not what the request did. */
static const char *sync_kind(const struct fuse_request *req)
{
	return req->io.sync_sent & IORING_FSYNC_DATASYNC ? "fdatasync" : "fsync";
}

static void describe(const struct fuse_request *req, uint64_t sync_no,
		     char *buf, size_t len)
{
	if (req->io.opcode == IORING_OP_FSYNC)
		snprintf(buf, len, "sync %" PRIu64 " (%s)", sync_no,
			 sync_kind(req));
	else
		snprintf(buf, len, "%s of %u at %" PRIu64,
			 req->io.opcode == IORING_OP_READ ? "read" : "write",
			 req->io.len - req->io.done,
			 req->io.offset + req->io.done);
}

static void result_text(int res, char *buf, size_t len)
{
	if (res < 0)
		snprintf(buf, len, "%s", strerrorname_np(-res));
	else
		snprintf(buf, len, "%d", res);
}

static void release_held(struct ring_op *op, int res)
{
	struct held_sync *h = container_of(op, struct held_sync, op);

	log_info("test aid: sync %" PRIu64 " released%s", h->sync_no,
		 res == 1 ? "" : " (the FIFO failed)");
	inner_io_done(&h->req->io_op, h->res);
	free(h);
}

static bool hold(struct fuse_request *req, int res, uint64_t sync_no)
{
	const char *path = options.hold_path;
	struct io_uring_sqe *sqe;
	struct held_sync *h;
	int fd = hold_fifo(path);

	if (fd < 0) {
		log_error("--hold-sync: %s: %s; sync %" PRIu64 " not held",
			  path, strerror(-fd), sync_no);
		return false;
	}
	h = calloc(1, sizeof(*h));
	if (!h) {
		log_error("--hold-sync: out of memory; sync %" PRIu64
			  " not held", sync_no);
		return false;
	}
	h->op.done = release_held;
	h->req = req;
	h->res = res;
	h->sync_no = sync_no;
	sqe = queue_sqe(req->thread, &h->op);
	io_uring_prep_read(sqe, fd, &h->byte, 1, 0);
	log_info("test aid: sync %" PRIu64 " (%s) held, covering %" PRIu64
		 " writes", sync_no, sync_kind(req), req->io.sync.writes);
	return true;
}

/* True when a test aid took the completion over, to finish it later. */
static bool completion_fault(struct fuse_request *req, int *res)
{
	const struct fault_options *aids = &options;
	uint64_t sync_no = 0;
	char what[64], was[24], now[24];
	unsigned int i;

	if (req->io.opcode == IORING_OP_FSYNC)
		sync_no = atomic_add_return(&syncs_completed, 1);
	else if (req->io.opcode != IORING_OP_READ &&
		 req->io.opcode != IORING_OP_WRITE)
		return false;
	for (i = 0; i < aids->nr_completion; i++) {
		const struct completion_fault *f = &aids->completion[i];

		if (f->opcode != req->io.opcode)
			continue;
		/* A short transfer carries on at offset + done. */
		if (sync_no ? f->where != sync_no :
		    f->where != req->io.offset + req->io.done)
			continue;
		if (__atomic_exchange_n(&fired[i], true, __ATOMIC_ACQ_REL))
			continue;
		describe(req, sync_no, what, sizeof(what));
		result_text(*res, was, sizeof(was));
		result_text(f->result, now, sizeof(now));
		log_info("test aid: %s completed with %s, reported as %s",
			 what, was, now);
		*res = f->result;
		break;
	}
	if (sync_no && sync_no == aids->hold_sync)
		return hold(req, *res, sync_no);
	return false;
}

static void fault_io_done(struct ring_op *op, int res)
{
	struct fuse_request *req = container_of(op, struct fuse_request, io_op);

	if (completion_fault(req, &res))
		return;
	inner_io_done(op, res);
}

static void fault_request_init(struct fuse_request *req)
{
	inner->request_init(req);
	inner_io_done = req->io_op.done;
	req->io_op.done = fault_io_done;
}

/* The register path's one question: which qid this REGISTER names. */
uint16_t fault_register_qid(const struct export *exp, uint16_t qid)
{
	if (exp->opt.faults && options.fail_register &&
	    atomic_add_return(&registers_sent, 1) >= options.fail_register)
		return (uint16_t)exp->nr_queues;
	return qid;
}

/* The qid ADD_QUEUE or ADD_BUFPOOL (@cmd_op) names: --fail-pool's. */
uint16_t fault_pool_qid(const struct export *exp, uint32_t cmd_op,
			uint16_t qid)
{
	if (exp->opt.faults && options.fail_pool_cmd == cmd_op &&
	    !__atomic_exchange_n(&pool_cmd_failed, true, __ATOMIC_ACQ_REL)) {
		log_info("test aid: %s on qid %u sent with qid %u",
			 cmd_op == FUSE_IO_URING_CMD_ADD_QUEUE ?
			 "ADD_QUEUE" : "ADD_BUFPOOL", qid, exp->nr_queues);
		return (uint16_t)exp->nr_queues;
	}
	return qid;
}

bool fault_wanted(const struct export_options *opt)
{
	return opt->faults;
}

/* The backend @inner with the test aids of the command line around it. */
const struct image_ops *fault_wrap(const struct image_ops *backend)
{
	inner = backend;
	wrapped = *backend;
	wrapped.request_init = fault_request_init;
	wrapped.submit = fault_submit;
	wrapped.sync = fault_sync;
	return &wrapped;
}
