// SPDX-License-Identifier: GPL-2.0
/*
 * Test aids on the completion of image I/O.  --fail-io answers before any
 * SQE is made; these let the real SQE run and then change what its
 * completion says, so that the code reading completions (short and
 * failed transfers, an EOF that moved, a failed write still owing a sync)
 * runs in tests.  --hold-sync keeps a sync's completion back until the
 * test writes a byte to a FIFO, so that the order of syncs and writes in
 * a test is the one it asks for, not the one a loaded machine happens to
 * give.  Each fault fires once; each line this file logs is a test's
 * proof that it did.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "export.h"

bool fault_completion_on;
bool fault_submission_on;

/* The export's --fail-io range; set once, before any thread starts. */
static const struct fault_range *fail_io;

static bool fired[COMPLETION_FAULTS_MAX];
/* Syncs of the image completed so far, the one at exit excepted. */
static uint64_t syncs_completed;
static int hold_fd = -1;

/* A sync whose completion waits for one byte on the --hold-sync FIFO. */
struct held_sync {
	struct ring_op op;
	struct fuse_request *req;
	int res;
	uint64_t sync_no;
	char byte;
};

static int parse_result(const char *s, int *out)
{
	uint64_t bytes;

	if (!strcmp(s, "EIO"))
		*out = -EIO;
	else if (!strcmp(s, "ENOSPC"))
		*out = -ENOSPC;
	else if (!strcmp(s, "EROFS"))
		*out = -EROFS;
	else if (!cli_parse_size(s, &bytes) && bytes <= INT32_MAX)
		*out = (int)bytes;
	else
		return -EINVAL;
	return 0;
}

/*
 * --fail-completion=read|write:OFFSET:RESULT or sync:N:RESULT, RESULT an
 * errno (EIO, ENOSPC, EROFS) or the byte count to report.
 */
int fault_parse_completion(const char *s, struct completion_aids *aids)
{
	struct completion_fault *f;
	char what[8], where[32], result[16];
	char tail;

	if (aids->nr_faults == COMPLETION_FAULTS_MAX) {
		log_error("--fail-completion: at most %d",
			  COMPLETION_FAULTS_MAX);
		return -EINVAL;
	}
	f = &aids->fault[aids->nr_faults];
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
	aids->nr_faults++;
	return 0;
bad:
	log_error("--fail-completion=%s: expected read|write:OFFSET:RESULT or sync:N:RESULT, RESULT one of EIO, ENOSPC, EROFS or a byte count (0 for sync)",
		  s);
	return -EINVAL;
}

/* --hold-sync=N:FIFO */
int fault_parse_hold_sync(const char *s, struct completion_aids *aids)
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

void fault_setup(const struct export_options *opt)
{
	fail_io = &opt->fault;
	fault_submission_on = opt->fault.active;
	fault_completion_on = opt->completion.nr_faults ||
			      opt->completion.hold_sync;
}

static bool hits_fault(const struct fault_range *f,
		       const struct fuse_request *req)
{
	bool data_op = req->io_opcode == IORING_OP_READ ? f->reads :
		       req->io_opcode == IORING_OP_WRITE && f->writes;

	if (req->io_opcode == IORING_OP_FSYNC)
		return f->syncs;
	return data_op && req->io_offset < f->offset + f->length &&
	       f->offset < req->io_offset + req->io_len;
}

/* --fail-io: the errno @req's image I/O fails with at once, or 0. */
int fault_submission(const struct fuse_request *req)
{
	return hits_fault(fail_io, req) ? -fail_io->error : 0;
}

/* --fail-io=sync: the result of the sync at exit, before it is made. */
int fault_sync_at_exit(void)
{
	return fault_submission_on && fail_io->syncs ? -fail_io->error : 0;
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
	return req->sync_sent & IORING_FSYNC_DATASYNC ? "fdatasync" : "fsync";
}

static void describe(const struct fuse_request *req, uint64_t sync_no,
		     char *buf, size_t len)
{
	if (req->io_opcode == IORING_OP_FSYNC)
		snprintf(buf, len, "sync %" PRIu64 " (%s)", sync_no,
			 sync_kind(req));
	else
		snprintf(buf, len, "%s of %u at %" PRIu64,
			 req->io_opcode == IORING_OP_READ ? "read" : "write",
			 req->io_len - req->io_done,
			 req->io_offset + req->io_done);
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
	blockdev_io_finish(h->req, h->res);
	free(h);
}

static bool hold(struct fuse_request *req, int res, uint64_t sync_no)
{
	const char *path = req->thread->exp->opt.completion.hold_path;
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
		 " writes", sync_no, sync_kind(req), req->sync.writes);
	return true;
}

bool fault_completion(struct fuse_request *req, int *res)
{
	const struct completion_aids *aids = &req->thread->exp->opt.completion;
	uint64_t sync_no = 0;
	char what[64], was[24], now[24];
	unsigned int i;

	if (req->io_opcode == IORING_OP_FSYNC)
		sync_no = atomic_add_return(&syncs_completed, 1);
	else if (req->io_opcode != IORING_OP_READ &&
		 req->io_opcode != IORING_OP_WRITE)
		return false;
	for (i = 0; i < aids->nr_faults; i++) {
		const struct completion_fault *f = &aids->fault[i];

		if (f->opcode != req->io_opcode)
			continue;
		/* A short transfer carries on at io_offset + io_done. */
		if (sync_no ? f->where != sync_no :
		    f->where != req->io_offset + req->io_done)
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
