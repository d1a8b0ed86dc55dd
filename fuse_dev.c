// SPDX-License-Identifier: GPL-2.0
/*
 * The classic /dev/fuse transport: reads kept in flight as SQEs on the
 * queue thread's ring, replies written with writev.  In ring mode it stays
 * up as the side channel for FORGET, INTERRUPT and requests queued before
 * every kernel queue had an entry, and its ENODEV tells of the unmount.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include "decode.h"
#include "fuse_dev.h"
#include "log.h"
#include "ops.h"
#include "ring.h"
#include "trace.h"

#define container_of(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))

/* WRITE data follows these; reads are placed so that it is page-aligned. */
#define WRITE_HEADERS (sizeof(struct fuse_in_header) + \
		       sizeof(struct fuse_write_in))

struct dev_slot {
	struct fuse_request req;
	char *read_buf;
	void *reply_buf;
	struct fuse_out_header out;
};

static void dev_reply(struct fuse_request *req, int error, uint32_t len);
static void dev_drop(struct fuse_request *req);

static const struct transport dev_transport = {
	.name = "dev",
	.reply = dev_reply,
	.drop = dev_drop,
};

/*
 * The kernel refuses a read smaller than the largest request it may
 * queue: FUSE_MIN_READ_BUFFER or a full WRITE with its headers.
 */
uint32_t dev_read_size(uint32_t max_write)
{
	uint32_t size = (uint32_t)WRITE_HEADERS + max_write;

	return size < FUSE_MIN_READ_BUFFER ? FUSE_MIN_READ_BUFFER : size;
}

static size_t page_size(void)
{
	return (size_t)getpagesize();
}

static size_t read_skew(void)
{
	return page_size() - WRITE_HEADERS;
}

static void read_done(struct ring_op *op, int res);

static void arm_read(struct dev_slot *slot)
{
	struct queue_thread *t = slot->req.thread;
	struct io_uring_sqe *sqe;

	if (t->stopping)
		return;
	slot->req.op.done = read_done;
	sqe = ring_sqe(t, &slot->req.op);
	io_uring_prep_read(sqe, t->dev_fd, slot->read_buf + read_skew(),
			   t->exp->dev_read_size, 0);
	/*
	 * /dev/fuse ignores IOCB_NOWAIT: a read issued inline, as io_uring
	 * does on a poll retry, would sleep in this thread and stall its
	 * ring.  Always hand it to an io-wq worker, where sleeping is fine.
	 */
	sqe->flags |= IOSQE_ASYNC;
}

static void dev_reply(struct fuse_request *req, int error, uint32_t len)
{
	struct dev_slot *slot = container_of(req, struct dev_slot, req);
	struct queue_thread *t = req->thread;
	struct iovec iov[2];
	ssize_t ret;

	if (error > 0 || error <= -512)
		error = -EIO;
	if (error) {
		len = 0;
		stat_inc(&t->stats.errors);
	}
	request_end(req, error, len);
	slot->out.len = sizeof(slot->out) + len;
	slot->out.error = error;
	slot->out.unique = req->in->unique;
	iov[0].iov_base = &slot->out;
	iov[0].iov_len = sizeof(slot->out);
	iov[1].iov_base = req->reply;
	iov[1].iov_len = len;
	ret = writev(t->dev_fd, iov, len ? 2 : 1);
	/* ENOENT: the request was interrupted meanwhile; nothing is owed. */
	if (ret < 0 && errno != ENOENT) {
		if (errno == ENODEV || errno == ENOTCONN)
			queue_conn_gone(t);
		else
			log_error("reply to /dev/fuse failed: %s",
				  strerror(errno));
	}
	arm_read(slot);
}

static void dev_drop(struct fuse_request *req)
{
	request_end(req, 0, 0);
	arm_read(container_of(req, struct dev_slot, req));
}

static void serve_read(struct dev_slot *slot, uint32_t len)
{
	struct fuse_request *req = &slot->req;
	int ret;

	ret = decode_dev_request(req, slot->read_buf + read_skew(), len);
	if (ret == DECODE_NO_HEADER) {
		/* Without a header there is no unique to answer to. */
		log_error("short request from /dev/fuse: %u bytes", len);
		arm_read(slot);
		return;
	}
	stat_inc(&req->thread->stats.legacy);
	if (ops_is_io(req->in->opcode))
		stat_inc(&req->thread->stats.legacy_io);
	request_begin(req);
	if (ret) {
		dev_reply(req, ret, 0);
		return;
	}
	ops_dispatch(req);
}

static void read_done(struct ring_op *op, int res)
{
	struct fuse_request *req = container_of(op, struct fuse_request, op);
	struct dev_slot *slot = container_of(req, struct dev_slot, req);
	struct queue_thread *t = req->thread;

	if (res >= 0) {
		serve_read(slot, (uint32_t)res);
		return;
	}
	switch (res) {
	case -ENODEV:
	case -ECANCELED:
	case -ENOTCONN:
	case -ECONNABORTED:
		queue_conn_gone(t);
		return;
	case -EINTR:
	case -EAGAIN:
	case -ENOENT:
		arm_read(slot);
		return;
	default:
		log_error("read from /dev/fuse failed: %s", strerror(-res));
		queue_fail(t, res);
	}
}

int dev_slots_alloc(struct queue_thread *t, unsigned int nr_slots)
{
	struct export *exp = t->exp;
	size_t page = page_size();
	size_t read_len = (read_skew() + exp->dev_read_size + page - 1) /
			  page * page;
	size_t reply_len = exp->payload_size;
	unsigned int i;

	t->slots = calloc(nr_slots, sizeof(*t->slots));
	if (!t->slots)
		return -ENOMEM;
	t->nr_slots = nr_slots;
	for (i = 0; i < nr_slots; i++) {
		struct dev_slot *slot = &t->slots[i];
		char *map;

		map = mmap(NULL, read_len + reply_len, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (map == MAP_FAILED) {
			t->nr_slots = i;
			dev_slots_free(t);
			return -ENOMEM;
		}
		slot->read_buf = map;
		slot->reply_buf = map + read_len;
		slot->req.thread = t;
		slot->req.transport = &dev_transport;
		slot->req.qid = -1;
		slot->req.reply = slot->reply_buf;
		slot->req.reply_cap = (uint32_t)reply_len;
	}
	return 0;
}

void dev_slots_arm(struct queue_thread *t)
{
	unsigned int i;

	for (i = 0; i < t->nr_slots; i++)
		arm_read(&t->slots[i]);
}

void dev_slots_free(struct queue_thread *t)
{
	size_t page = page_size();
	size_t read_len = (read_skew() + t->exp->dev_read_size + page - 1) /
			  page * page;
	unsigned int i;

	for (i = 0; i < t->nr_slots; i++)
		munmap(t->slots[i].read_buf, read_len + t->exp->payload_size);
	free(t->slots);
	t->slots = NULL;
	t->nr_slots = 0;
}
