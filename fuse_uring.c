// SPDX-License-Identifier: GPL-2.0
/*
 * The FUSE-over-io_uring transport: ring entries registered with the
 * kernel through FUSE_IO_URING_CMD_REGISTER, each then living in a loop of
 * "request arrives as a CQE, answer with COMMIT_AND_FETCH".
 *
 * Where the kernel offers buffer pools (FUSE 7.46), a queue is first made
 * with ADD_QUEUE and given one pool with ADD_BUFPOOL; its entries then
 * have a header each and no payload of their own, and the kernel lends a
 * request one of the pool's buffers only while it needs one.  On a
 * zero-copy queue the kernel also registers the client's pages of a READ
 * or WRITE in the entry's slot of this thread's io_uring buffer table, and
 * the image I/O goes straight between them and the image.
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

/* One kernel queue this thread serves, and how its payloads are kept. */
struct uring_queue {
	uint16_t qid;
	/* Its entries: [first, first + nr) of the thread's. */
	unsigned int first;
	unsigned int nr;
	/* The pool ADD_BUFPOOL handed the kernel; NULL: per-entry buffers. */
	char *pool;
	size_t pool_len;
	bool zero_copy;
	/* Per-entry payloads made after a refused pool, for unmapping. */
	void *payload_map;
	size_t payload_map_len;
};

struct uring_entry {
	struct fuse_request req;
	struct uring_queue *queue;
	struct fuse_uring_req_header *header;
	/* Its own payload buffer; NULL on a queue with a pool. */
	void *payload;
	/* REGISTER hands the kernel this pair: header, then payload. */
	struct iovec iov[2];
	uint64_t commit_id;
	uint16_t qid;
	/* Its slot in the thread's buffer table, on a zero-copy queue. */
	uint16_t slot;
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
	struct fue_uring_cmd_req *cmd = (struct fue_uring_cmd_req *)sqe->cmd;

	sqe->opcode = IORING_OP_URING_CMD;
	sqe->fd = t->dev_fd;
	sqe->cmd_op = cmd_op;
	cmd->qid = ent->qid;
	return sqe;
}

static void submit_register(struct uring_entry *ent)
{
	struct export *exp = ent->req.thread->exp;
	struct fue_uring_cmd_req *cmd;
	struct io_uring_sqe *sqe;

	ent->state = ENTRY_REGISTERING;
	sqe = uring_cmd_sqe(ent, FUSE_IO_URING_CMD_REGISTER);
	sqe->addr = (uintptr_t)ent->iov;
	sqe->len = 2;
	cmd = (struct fue_uring_cmd_req *)sqe->cmd;
	cmd->qid = fault_register_qid(exp, cmd->qid);
	if (ent->queue->zero_copy)
		cmd->ent_zero_copy_buf_index = ent->slot;
}

/*
 * The kernel copies a reply's payload into the client's pages in the task
 * that issues the COMMIT_AND_FETCH.  For a large READ that copy is most of
 * the request's cost, and this thread shares the client's CPU (the kernel
 * queues a request by the CPU it was issued on): done inline, it keeps
 * the thread from its next request.  Issued async, an io-wq worker makes
 * it, on any online CPU (unpin_workers()).  Below this size a worker's
 * wake-up costs more than the copy it would take over.
 */
#define OFFLOAD_REPLY_BYTES (128 * 1024)

static void submit_commit(struct uring_entry *ent, bool offload)
{
	struct io_uring_sqe *sqe;
	struct fue_uring_cmd_req *cmd;

	ent->state = ENTRY_COMMITTING;
	sqe = uring_cmd_sqe(ent, FUSE_IO_URING_CMD_COMMIT_AND_FETCH);
	cmd = (struct fue_uring_cmd_req *)sqe->cmd;
	cmd->commit_id = ent->commit_id;
	if (offload) {
		sqe->flags |= IOSQE_ASYNC;
		stat_inc(&ent->req.thread->exp->qid_stats[ent->qid].offloaded);
	}
}

static void uring_reply(struct fuse_request *req, int error, uint32_t len)
{
	struct uring_entry *ent = container_of(req, struct uring_entry, req);
	struct fuse_out_header *out = (struct fuse_out_header *)
				      ent->header->in_out;
	uint64_t unique = req->in->unique;

	error = fuse_reply_error(error);
	if (error)
		len = 0;
	request_end(req, error, len);
	out->len = sizeof(*out) + len;
	out->error = error;
	out->unique = unique;
	ent->header->ring_ent_in_out.payload_sz = len;
	/* Zero-copy data is in the client's pages already. */
	submit_commit(ent, len >= OFFLOAD_REPLY_BYTES && !req->io.fixed);
}

/*
 * FORGET and INTERRUPT never come over the ring, but an entry that is not
 * committed is lost to its queue, so answer whatever does.
 */
static void uring_drop(struct fuse_request *req)
{
	uring_reply(req, -ENOSYS, 0);
}

/*
 * Where this request's payload is: the entry's own buffer, or the pool
 * buffer the kernel lent it.  NULL when the offset it gives is no buffer.
 */
static void *request_payload(struct uring_entry *ent,
			     const struct fue_uring_ent_in_out *io,
			     uint32_t payload_size)
{
	struct uring_queue *uq = ent->queue;

	if (!uq->pool)
		return ent->payload;
	if (io->offset % payload_size ||
	    (size_t)io->offset + payload_size > uq->pool_len)
		return NULL;
	return uq->pool + io->offset;
}

/* A zero-copy READ or WRITE: its data is in the entry's buffer slot. */
static void note_zero_copy(struct uring_entry *ent,
			   const struct fue_uring_ent_in_out *io)
{
	struct fuse_request *req = &ent->req;

	req->io.fixed = ent->queue->zero_copy &&
			(io->flags & FUSE_URING_ENT_ZERO_COPY) &&
			ops_is_io(req->in->opcode);
	req->io.buf_index = ent->slot;
}

static void serve_entry(struct uring_entry *ent)
{
	struct fuse_request *req = &ent->req;
	const struct fue_uring_ent_in_out *io =
		(const void *)&ent->header->ring_ent_in_out;
	uint32_t payload_size = req->thread->exp->payload_size;
	void *payload = request_payload(ent, io, payload_size);
	int ret;

	ent->commit_id = io->commit_id;
	ret = decode_ring_request(req, ent->header, payload, payload_size);
	/* A pool buffer is shared: another entry may have left bytes in it. */
	if (ent->queue->pool)
		req->reply_zeroes = 0;
	if (!ret && !payload)
		ret = -EIO;
	if (!ret)
		note_zero_copy(ent, io);
	else
		req->io.fixed = false;
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

/*
 * Buffer pools, queue depth and zero copy, decided once INIT has said
 * what the kernel offers: 0, or -EINVAL when --zero-copy=on cannot be
 * had.  What a queue thread then learns from the kernel may still turn
 * zero copy off.  With pools an entry costs a header only, so the queues
 * are deeper by default.
 */
int fuse_uring_plan(struct export *exp)
{
	const char *why = NULL;

	exp->bufpool = exp->uring && exp->init->bufpool &&
		       !(exp->opt.pool_given && !exp->opt.pool);
	exp->queue_depth = exp->opt.queue_depth;
	if (!exp->queue_depth)
		exp->queue_depth = exp->bufpool ? FUSE_URING_DEPTH_POOLED :
						  FUSE_URING_DEPTH_DEFAULT;
	exp->pool_buffers = exp->opt.pool_given ? exp->opt.pool :
			    FUSE_URING_POOL_DEFAULT;
	if (exp->pool_buffers > exp->queue_depth)
		exp->pool_buffers = exp->queue_depth;
	if (exp->opt.zero_copy == TRI_OFF)
		why = "--zero-copy=off";
	else if (!exp->uring)
		why = "the export is not served over the ring";
	else if (!exp->init->bufpool)
		why = "the kernel does not offer buffer pools and zero copy (FUSE 7.46)";
	else if (!exp->bufpool)
		why = "--pool=0: zero copy needs the pools";
	else if (exp->opt.null_image)
		why = "null: has no image I/O to carry the data";
	exp->zero_copy = !why;
	if (!why || exp->opt.zero_copy == TRI_OFF)
		return 0;
	if (exp->opt.zero_copy == TRI_ON) {
		log_error("--zero-copy=on: %s", why);
		return -EINVAL;
	}
	/*
	 * What was chosen or what the kernel lacks is -v's to say; a
	 * refusal at set-up (no CAP_SYS_ADMIN) is said always, below.
	 */
	if (exp->uring)
		log_debug("zero copy off: %s", why);
	return 0;
}

/* Headers of entries with a pool are packed: the kernel wants no page. */
#define POOL_HEADER_BYTES 512

_Static_assert(sizeof(struct fuse_uring_req_header) <= POOL_HEADER_BYTES,
	       "a ring header must fit its packed slot");

/*
 * Untouched pages cost nothing until a request fills them, as long as
 * they are small: with transparent huge pages "always", a 4 KiB request
 * in each buffer made every 2 MiB of a pool resident (64 MiB under 4k
 * writes in the 7.3 guest, against 6 MiB without).
 */
static void *map_anonymous(size_t len)
{
	void *map = mmap(NULL, len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (map == MAP_FAILED)
		return NULL;
	madvise(map, len, MADV_NOHUGEPAGE);
	return map;
}

/* Buffers of the pool of @qid: the default's worth where it has a CPU. */
static unsigned int qid_pool_buffers(const struct export *exp,
				     unsigned int qid)
{
	return cpus_qid_entries(qid, &exp->online, exp->pool_buffers);
}

static int alloc_queues(struct queue_thread *t)
{
	struct export *exp = t->exp;
	unsigned int qid, n = 0, first = 0;

	for (qid = t->index; qid < exp->nr_queues; qid += exp->nr_threads)
		n++;
	t->uqueues = calloc(n, sizeof(*t->uqueues));
	if (!t->uqueues)
		return -ENOMEM;
	t->nr_uqueues = n;
	n = 0;
	for (qid = t->index; qid < exp->nr_queues; qid += exp->nr_threads) {
		struct uring_queue *uq = &t->uqueues[n++];

		uq->qid = (uint16_t)qid;
		uq->first = first;
		uq->nr = cpus_qid_entries(qid, &exp->online, exp->queue_depth);
		first += uq->nr;
		if (!exp->bufpool)
			continue;
		uq->pool_len = (size_t)qid_pool_buffers(exp, qid) *
			       exp->payload_size;
		uq->pool = map_anonymous(uq->pool_len);
		if (!uq->pool)
			return -ENOMEM;
		log_debug("pool of qid %u at %p, %zu B", qid,
			  (void *)uq->pool, uq->pool_len);
	}
	return 0;
}

static void init_entry(struct queue_thread *t, struct uring_entry *ent,
		       struct uring_queue *uq, unsigned int index)
{
	ent->req.thread = t;
	ent->req.transport = &uring_transport;
	ent->req.qid = uq->qid;
	ent->req.cmd_op.done = entry_done;
	t->exp->image.ops->request_init(&ent->req);
	ent->queue = uq;
	ent->qid = uq->qid;
	ent->slot = (uint16_t)index;
	ent->iov[0].iov_base = ent->header;
	ent->iov[0].iov_len = sizeof(*ent->header);
	ent->iov[1].iov_base = ent->payload;
	ent->iov[1].iov_len = ent->payload ? t->exp->payload_size : 0;
}

int fuse_uring_alloc(struct queue_thread *t)
{
	struct export *exp = t->exp;
	size_t page = (size_t)getpagesize();
	size_t header_len = exp->bufpool ? POOL_HEADER_BYTES :
			    round_up(sizeof(struct fuse_uring_req_header),
				     page);
	size_t per_entry = header_len + (exp->bufpool ? 0 : exp->payload_size);
	unsigned int q, d, i, n;
	size_t map_len;
	char *map;
	int ret;

	ret = alloc_queues(t);
	if (ret)
		return ret;
	n = cpus_thread_entries(t->index, exp->nr_queues, exp->nr_threads,
				&exp->online, exp->queue_depth);
	if (!n)
		return 0;
	t->entries = calloc(n, sizeof(*t->entries));
	if (!t->entries)
		return -ENOMEM;
	map_len = round_up(per_entry * n, page);
	map = map_anonymous(map_len);
	if (!map)
		return -ENOMEM;
	t->nr_entries = n;
	t->entries[0].map = map;
	t->entries[0].map_len = map_len;
	for (q = 0, i = 0; q < t->nr_uqueues; q++) {
		struct uring_queue *uq = &t->uqueues[q];

		for (d = 0; d < uq->nr; d++, i++) {
			struct uring_entry *ent = &t->entries[i];
			char *base = map + per_entry * i;

			ent->header = (struct fuse_uring_req_header *)base;
			if (!exp->bufpool)
				ent->payload = base + header_len;
			init_entry(t, ent, uq, i);
		}
	}
	return 0;
}

/*
 * One ring command, waited for: only while the thread sets its queues up,
 * before anything else is in flight on its ring.  The INIT reply may
 * still be on its way into the kernel (EAGAIN): try again, a while.
 */
static int uring_cmd_now(struct queue_thread *t, uint32_t cmd_op,
			 const struct fue_uring_cmd_req *cmd)
{
	struct timespec pause = { .tv_nsec = 10 * 1000 * 1000 };
	struct io_uring_cqe *cqe;
	struct io_uring_sqe *sqe;
	int tries, ret = -EAGAIN;

	for (tries = 0; tries < 500 && (ret == -EAGAIN || ret == -EINTR);
	     tries++) {
		if (tries)
			nanosleep(&pause, NULL);
		sqe = io_uring_get_sqe(&t->ring);
		if (!sqe)
			return -EBUSY;
		memset(sqe, 0, SQE_BYTES);
		sqe->opcode = IORING_OP_URING_CMD;
		sqe->fd = t->dev_fd;
		sqe->cmd_op = cmd_op;
		memcpy(sqe->cmd, cmd, sizeof(*cmd));
	((struct fue_uring_cmd_req *)sqe->cmd)->qid =
		fault_pool_qid(t->exp, cmd_op, cmd->qid);
		ret = io_uring_submit_and_wait(&t->ring, 1);
		if (ret < 0)
			return ret;
		ret = io_uring_wait_cqe(&t->ring, &cqe);
		if (ret < 0)
			return ret;
		ret = cqe->res;
		io_uring_cqe_seen(&t->ring, cqe);
	}
	return ret;
}

static int add_queue(struct queue_thread *t, struct uring_queue *uq,
		     bool zero_copy)
{
	struct fue_uring_cmd_req cmd = {
		.qid = uq->qid,
		.flags = zero_copy ? FUSE_URING_ZERO_COPY : 0,
	};

	return uring_cmd_now(t, FUSE_IO_URING_CMD_ADD_QUEUE, &cmd);
}

static int add_bufpool(struct queue_thread *t, struct uring_queue *uq)
{
	struct fue_uring_cmd_req cmd = {
		.qid = uq->qid,
		.bufpool.uaddr = (uintptr_t)uq->pool,
		.bufpool.len = (uint32_t)uq->pool_len,
	};

	return uring_cmd_now(t, FUSE_IO_URING_CMD_ADD_BUFPOOL, &cmd);
}

/*
 * Zero copy is off for the export from the first refusal on: OPEN stops
 * asking for it, and one line says why.
 */
static void zero_copy_refused(struct export *exp, const char *why, int err)
{
	bool was = __atomic_exchange_n(&exp->zero_copy, false,
				       __ATOMIC_ACQ_REL);

	if (was)
		log_info("zero copy off: %s (%s)", why, strerror(-err));
}

/*
 * The kernel refused the pool of a queue that is not zero copy: the
 * queue's entries get buffers of their own, as on a kernel without pools.
 */
static int per_entry_payloads(struct queue_thread *t, struct uring_queue *uq,
			      const char *what, int err)
{
	uint32_t size = t->exp->payload_size;
	unsigned int i;
	char *map;

	log_info("%s refused on qid %u (%s): its entries get buffers of their own",
		 what, uq->qid, strerror(-err));
	munmap(uq->pool, uq->pool_len);
	uq->pool = NULL;
	uq->pool_len = 0;
	uq->zero_copy = false;
	if (!uq->nr)
		return 0;
	map = map_anonymous((size_t)size * uq->nr);
	if (!map)
		return -ENOMEM;
	uq->payload_map = map;
	uq->payload_map_len = (size_t)size * uq->nr;
	for (i = 0; i < uq->nr; i++) {
		struct uring_entry *ent = &t->entries[uq->first + i];

		ent->payload = map + (size_t)size * i;
		ent->iov[1].iov_base = ent->payload;
		ent->iov[1].iov_len = size;
	}
	return 0;
}

/* --zero-copy=on and a command a zero-copy queue needs was refused. */
static bool zero_copy_insisted(const struct export *exp, bool zero_copy,
			       const char *what, const struct uring_queue *uq,
			       int err)
{
	if (!zero_copy || exp->opt.zero_copy != TRI_ON)
		return false;
	log_error("--zero-copy=on: the kernel refused FUSE_IO_URING_CMD_%s on qid %u: %s",
		  what, uq->qid, strerror(-err));
	return true;
}

/*
 * ADD_QUEUE, zero copy where wanted, then ADD_BUFPOOL.  A refusal here
 * leaves the connection as it was: zero copy falls back to copies, a pool
 * to per-entry buffers.  Only a zero-copy queue whose pool is refused can
 * take no entry at all (the kernel takes zero copy only with a pool);
 * the kernel refuses its REGISTER then, which turns the ring off for the
 * connection and wakes the clients it holds back until the ring is
 * ready: the export serves /dev/fuse, as after any refused REGISTER.
 */
static int setup_queue(struct queue_thread *t, struct uring_queue *uq,
		       bool zero_copy)
{
	struct export *exp = t->exp;
	int ret;

	ret = add_queue(t, uq, zero_copy);
	if (ret == -EPERM && zero_copy) {
		if (exp->opt.zero_copy == TRI_ON) {
			log_error("--zero-copy=on: the kernel refused a zero-copy queue: %s (it needs CAP_SYS_ADMIN)",
				  strerror(-ret));
			return ret;
		}
		zero_copy_refused(exp, "the kernel refused a zero-copy queue; it needs CAP_SYS_ADMIN",
				  ret);
		zero_copy = false;
		ret = add_queue(t, uq, false);
	}
	if (ret && zero_copy_insisted(exp, zero_copy, "ADD_QUEUE", uq, ret))
		return ret;
	if (ret)
		return per_entry_payloads(t, uq, "FUSE_IO_URING_CMD_ADD_QUEUE",
					  ret);
	ret = add_bufpool(t, uq);
	if (!ret) {
		uq->zero_copy = zero_copy;
		return 0;
	}
	if (zero_copy_insisted(exp, zero_copy, "ADD_BUFPOOL", uq, ret))
		return ret;
	if (zero_copy)
		log_info("qid %u is zero copy without a pool, which the kernel refuses to register: FUSE-over-io_uring goes off for the connection",
			 uq->qid);
	return per_entry_payloads(t, uq, "FUSE_IO_URING_CMD_ADD_BUFPOOL",
				  ret);
}

/*
 * Set up the thread's queues: their slots for zero copy (one per entry,
 * filled by the kernel), then each queue.  0, or -errno when the ring
 * cannot be used.
 */
static int setup_queues(struct queue_thread *t)
{
	struct export *exp = t->exp;
	bool zero_copy = READ_ONCE(exp->zero_copy);
	unsigned int q;
	int ret;

	if (zero_copy && t->nr_entries) {
		ret = io_uring_register_buffers_sparse(&t->ring,
						       t->nr_entries);
		if (ret) {
			if (exp->opt.zero_copy == TRI_ON) {
				log_error("--zero-copy=on: io_uring has no sparse buffer table: %s",
					  strerror(-ret));
				return ret;
			}
			zero_copy_refused(exp, "io_uring refused a sparse buffer table",
					  ret);
			zero_copy = false;
		}
	}
	for (q = 0; q < t->nr_uqueues; q++) {
		ret = setup_queue(t, &t->uqueues[q], zero_copy);
		if (ret)
			return ret;
	}
	return 0;
}

void fuse_uring_register(struct queue_thread *t)
{
	unsigned int i;
	int ret;

	if (t->exp->bufpool) {
		ret = setup_queues(t);
		if (ret) {
			queue_thread_fail(t, ret);
			return;
		}
	}
	for (i = 0; i < t->nr_entries; i++)
		submit_register(&t->entries[i]);
}

/* Only after the thread's ring is gone: the kernel may write until then. */
void fuse_uring_free(struct queue_thread *t)
{
	unsigned int q;

	for (q = 0; t->uqueues && q < t->nr_uqueues; q++) {
		struct uring_queue *uq = &t->uqueues[q];

		if (uq->pool)
			munmap(uq->pool, uq->pool_len);
		if (uq->payload_map)
			munmap(uq->payload_map, uq->payload_map_len);
	}
	free(t->uqueues);
	t->uqueues = NULL;
	t->nr_uqueues = 0;
	if (!t->entries)
		return;
	munmap(t->entries[0].map, t->entries[0].map_len);
	free(t->entries);
	t->entries = NULL;
	t->nr_entries = 0;
}
