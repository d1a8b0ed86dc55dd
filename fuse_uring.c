// SPDX-License-Identifier: GPL-2.0
/*
 * The FUSE-over-io_uring transport: ring entries registered with the
 * kernel through FUSE_IO_URING_CMD_REGISTER, each then living in a loop of
 * "request arrives as a CQE, answer with COMMIT_AND_FETCH".
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "compiler.h"
#include "export.h"

enum entry_state {
	ENTRY_REGISTERING,
	ENTRY_COMMITTING,
};

struct uring_entry {
	struct fuse_request req;
	struct fuse_uring_req_header *header;
	void *payload;
	/* REGISTER hands the kernel this pair: header, then payload. */
	struct iovec iov[2];
	uint64_t commit_id;
	uint16_t qid;
	enum entry_state state;
	/* The region this entry's buffers live in, for unmapping. */
	void *map;
	size_t map_len;
};

/*
 * The command is written into the zeroed SQE128 slot queue_sqe() hands out,
 * field by field: whatever the header's size (24 bytes up to 7.45, 40 in
 * 7.46), the bytes not written stay zero, as the kernel wants them.
 */
_Static_assert(offsetof(struct io_uring_sqe, cmd) + FUE_SQE128_CMD_BYTES ==
	       SQE_BYTES, "the command area must end the 128-byte SQE");

static void uring_reply(struct fuse_request *req, int error, uint32_t len);
static void uring_drop(struct fuse_request *req);

static const struct transport uring_transport = {
	.name = "ring",
	.reply = uring_reply,
	.drop = uring_drop,
};

static void entry_done(struct ring_op *op, int res);

static struct io_uring_sqe *uring_cmd_sqe(struct uring_entry *ent,
					  uint32_t cmd_op)
{
	struct queue_thread *t = ent->req.thread;
	struct io_uring_sqe *sqe = queue_sqe(t, &ent->req.cmd_op);
	struct fuse_uring_cmd_req *cmd = (struct fuse_uring_cmd_req *)sqe->cmd;

	sqe->opcode = IORING_OP_URING_CMD;
	sqe->fd = t->dev_fd;
	sqe->cmd_op = cmd_op;
	cmd->qid = ent->qid;
	return sqe;
}

static void submit_register(struct uring_entry *ent)
{
	struct export *exp = ent->req.thread->exp;
	struct fuse_uring_cmd_req *cmd;
	struct io_uring_sqe *sqe;

	ent->state = ENTRY_REGISTERING;
	sqe = uring_cmd_sqe(ent, FUSE_IO_URING_CMD_REGISTER);
	sqe->addr = (uintptr_t)ent->iov;
	sqe->len = 2;
	cmd = (struct fuse_uring_cmd_req *)sqe->cmd;
	cmd->qid = fault_register_qid(exp, cmd->qid);
}

static void submit_commit(struct uring_entry *ent)
{
	struct io_uring_sqe *sqe;
	struct fuse_uring_cmd_req *cmd;

	ent->state = ENTRY_COMMITTING;
	sqe = uring_cmd_sqe(ent, FUSE_IO_URING_CMD_COMMIT_AND_FETCH);
	cmd = (struct fuse_uring_cmd_req *)sqe->cmd;
	cmd->commit_id = ent->commit_id;
}

static void uring_reply(struct fuse_request *req, int error, uint32_t len)
{
	struct uring_entry *ent = container_of(req, struct uring_entry, req);
	struct fuse_out_header *out = (struct fuse_out_header *)
				      ent->header->in_out;
	struct qid_stats *st = &req->thread->exp->qid_stats[ent->qid];
	uint64_t unique = req->in->unique;

	error = fuse_reply_error(error);
	if (error) {
		len = 0;
		stat_inc(&st->errors);
	}
	request_end(req, error, len);
	stat_inc(&st->ring);
	/* Released like a take, so a reader's peak is never below it. */
	smp_store_release(&st->inflight, READ_ONCE(st->inflight) - 1);
	out->len = sizeof(*out) + len;
	out->error = error;
	out->unique = unique;
	ent->header->ring_ent_in_out.payload_sz = len;
	submit_commit(ent);
}

/*
 * FORGET and INTERRUPT never come over the ring, but an entry that is not
 * committed is lost to its queue, so answer whatever does.
 */
static void uring_drop(struct fuse_request *req)
{
	uring_reply(req, -ENOSYS, 0);
}

static void note_taken(struct qid_stats *st)
{
	uint64_t now = READ_ONCE(st->inflight) + 1;

	if (now > READ_ONCE(st->peak))
		WRITE_ONCE(st->peak, now);
	/* After the peak: a reader must never see the peak below it. */
	smp_store_release(&st->inflight, now);
}

static void serve_entry(struct uring_entry *ent)
{
	struct fuse_request *req = &ent->req;
	int ret;

	ent->commit_id = ent->header->ring_ent_in_out.commit_id;
	note_taken(&req->thread->exp->qid_stats[ent->qid]);
	ret = decode_ring_request(req, ent->header, ent->payload,
				  req->thread->exp->payload_size);
	request_begin(req);
	if (ret) {
		uring_reply(req, ret, 0);
		return;
	}
	ops_dispatch(req);
}

/*
 * The kernel has turned the ring off for the connection: requests now
 * come over /dev/fuse, or with --io-uring=on the export ends.  The entry
 * is left unregistered.  One line says so, however many entries fail.
 */
static void register_failed(struct uring_entry *ent, int res)
{
	struct queue_thread *t = ent->req.thread;

	stat_inc(&t->exp->qid_stats[ent->qid].errors);
	log_debug("FUSE_IO_URING_CMD_REGISTER failed on qid %u: %s",
		  ent->qid, strerror(-res));
	if (t->exp->opt.io_uring != TRI_ON) {
		queue_thread_uring_off(t, res);
		return;
	}
	if (queue_thread_fail(t, res))
		log_error("--io-uring=on: the kernel refused FUSE_IO_URING_CMD_REGISTER on qid %u: %s",
			  ent->qid, strerror(-res));
}

static void entry_done(struct ring_op *op, int res)
{
	struct fuse_request *req = container_of(op, struct fuse_request,
						cmd_op);
	struct uring_entry *ent = container_of(req, struct uring_entry, req);
	struct queue_thread *t = req->thread;

	if (res == 0) {
		serve_entry(ent);
		return;
	}
	/* -ECANCELED: this thread's ring is going away. */
	if (res == -ECANCELED || fuse_conn_gone(res)) {
		queue_thread_conn_gone(t);
		return;
	}
	if (ent->state == ENTRY_REGISTERING) {
		/* The INIT reply may still be on its way into the kernel. */
		if ((res == -EAGAIN || res == -EINTR) && !t->stopping) {
			submit_register(ent);
			return;
		}
		register_failed(ent, res);
		return;
	}
	/*
	 * A commit the kernel no longer wanted (its request was interrupted)
	 * loses the entry with it; register it again to keep the queue full.
	 */
	stat_inc(&t->exp->qid_stats[ent->qid].errors);
	log_debug("COMMIT_AND_FETCH on qid %u failed: %s; registering again",
		  ent->qid, strerror(-res));
	if (!t->stopping)
		submit_register(ent);
}

int fuse_uring_alloc(struct queue_thread *t)
{
	struct export *exp = t->exp;
	size_t page = (size_t)getpagesize();
	size_t header_len = round_up(sizeof(struct fuse_uring_req_header),
				     page);
	size_t per_entry = header_len + exp->payload_size;
	unsigned int depth = exp->opt.queue_depth;
	unsigned int qid, i, n;
	size_t map_len;
	char *map;

	n = cpus_thread_entries(t->index, exp->nr_queues, exp->nr_threads,
			   &exp->online, depth);
	if (!n)
		return 0;
	t->entries = calloc(n, sizeof(*t->entries));
	if (!t->entries)
		return -ENOMEM;
	map_len = per_entry * n;
	/* Untouched payload pages cost nothing until a request fills them. */
	map = mmap(NULL, map_len, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (map == MAP_FAILED) {
		free(t->entries);
		t->entries = NULL;
		return -errno;
	}
	t->nr_entries = n;
	i = 0;
	for (qid = t->index; qid < exp->nr_queues; qid += exp->nr_threads) {
		unsigned int d, nr = cpus_qid_entries(qid, &exp->online, depth);

		for (d = 0; d < nr; d++, i++) {
			struct uring_entry *ent = &t->entries[i];
			char *base = map + per_entry * i;

			ent->req.thread = t;
			ent->req.transport = &uring_transport;
			ent->req.qid = (int)qid;
			ent->req.cmd_op.done = entry_done;
			exp->image.ops->request_init(&ent->req);
			ent->qid = (uint16_t)qid;
			ent->header = (struct fuse_uring_req_header *)base;
			ent->payload = base + header_len;
			ent->iov[0].iov_base = ent->header;
			ent->iov[0].iov_len = sizeof(*ent->header);
			ent->iov[1].iov_base = ent->payload;
			ent->iov[1].iov_len = exp->payload_size;
		}
	}
	t->entries[0].map = map;
	t->entries[0].map_len = map_len;
	return 0;
}

void fuse_uring_register(struct queue_thread *t)
{
	unsigned int i;

	for (i = 0; i < t->nr_entries; i++)
		submit_register(&t->entries[i]);
}

/* Only after the thread's ring is gone: the kernel may write until then. */
void fuse_uring_free(struct queue_thread *t)
{
	if (!t->entries)
		return;
	munmap(t->entries[0].map, t->entries[0].map_len);
	free(t->entries);
	t->entries = NULL;
	t->nr_entries = 0;
}
