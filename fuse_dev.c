// SPDX-License-Identifier: GPL-2.0
/*
 * The classic /dev/fuse transport.  Each queue thread polls its cloned
 * /dev/fuse fd through its ring and, when the poll fires, reads requests
 * itself with non-blocking read(2) until the kernel has none left or the
 * thread has no idle slot; replies go back with writev.  In ring mode it
 * stays up as the side channel for FORGET, INTERRUPT and requests queued
 * before every kernel queue had an entry, and its ENODEV tells of the
 * unmount.
 *
 * Why not IORING_OP_READ on /dev/fuse: the device ignores IOCB_NOWAIT and
 * cannot be read without possibly sleeping, so io_uring has to punt each
 * read to an io-wq worker.  On Linux 6.1 such a read is retried through
 * poll from task work and spins there forever (soft lockups), and without
 * DEFER_TASKRUN it crawls.  A one-shot POLL_ADD plus read(2) on an
 * O_NONBLOCK fd asks io_uring only for what every kernel with SQE128 does
 * well, and spares a worker thread hop per request.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include "compiler.h"
#include "export.h"

/* WRITE data follows these; reads are placed so that it is page-aligned. */
#define WRITE_HEADERS (sizeof(struct fuse_in_header) + \
		       sizeof(struct fuse_write_in))

struct dev_reader;

struct dev_slot {
	struct fuse_request req;
	struct dev_reader *reader;
	/* Next idle slot, while this one holds no request. */
	struct dev_slot *next_idle;
	char *read_buf;
	void *reply_buf;
	struct fuse_out_header out;
};

/* One queue thread's reading of its /dev/fuse fd. */
struct dev_reader {
	struct queue_thread *thread;
	/* Completion of the POLL_ADD that waits for a request. */
	struct ring_op poll_op;
	bool poll_armed;
	/* Set while dev_pump() runs, so that replies made inside it nest. */
	bool pumping;
	/* Slots free to take a request; the most recently used first. */
	struct dev_slot *idle;
	/* Slots kept back in ring mode, put to work by a fall-back. */
	struct dev_slot *spare;
	size_t map_len;
	unsigned int nr_slots;
	struct dev_slot slots[];
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
uint32_t fuse_dev_read_size(uint32_t max_write)
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

static void poll_done(struct ring_op *op, int res);

static void arm_poll(struct dev_reader *r)
{
	struct queue_thread *t = r->thread;
	struct io_uring_sqe *sqe;

	sqe = queue_sqe(t, &r->poll_op);
	io_uring_prep_poll_add(sqe, t->dev_fd, POLLIN);
	r->poll_armed = true;
}

static void serve_read(struct dev_slot *slot, uint32_t len);

static void take_spares(struct dev_reader *r)
{
	while (r->spare) {
		struct dev_slot *slot = r->spare;

		r->spare = slot->next_idle;
		slot->next_idle = r->idle;
		r->idle = slot;
		stat_inc(&r->thread->stats.readers);
	}
}

/*
 * Take requests while the kernel has some and a slot is idle; when it has
 * none, wait for the next through the ring.  With no idle slot, the slot
 * freed next calls back in.
 */
static void dev_pump(struct dev_reader *r)
{
	struct queue_thread *t = r->thread;

	if (r->pumping || r->poll_armed)
		return;
	if (__builtin_expect(r->spare != NULL, 0) &&
	    smp_load_acquire(&t->exp->uring_failed))
		take_spares(r);
	r->pumping = true;
	while (!t->stopping && r->idle) {
		struct dev_slot *slot = r->idle;
		ssize_t got;
		int err;

		got = read(t->dev_fd, slot->read_buf + read_skew(),
			   t->exp->dev_read_size);
		if (got >= 0) {
			r->idle = slot->next_idle;
			serve_read(slot, (uint32_t)got);
			continue;
		}
		if (errno == EAGAIN) {
			arm_poll(r);
			break;
		}
		/* ENOENT: the request was interrupted before we took it. */
		if (errno == EINTR || errno == ENOENT)
			continue;
		if (fuse_conn_gone(-errno)) {
			queue_thread_conn_gone(t);
			break;
		}
		err = errno;
		log_error("read from /dev/fuse failed: %s", strerror(err));
		queue_thread_fail_loudly(t, -err);
		break;
	}
	r->pumping = false;
}

static void poll_done(struct ring_op *op, int res)
{
	struct dev_reader *r = container_of(op, struct dev_reader, poll_op);

	r->poll_armed = false;
	/* Whatever the poll saw, the read that follows tells what it is. */
	if (res < 0 && res != -EINTR && res != -EAGAIN) {
		if (res == -ECANCELED) {
			queue_thread_conn_gone(r->thread);
			return;
		}
		log_error("poll of /dev/fuse failed: %s", strerror(-res));
		queue_thread_fail_loudly(r->thread, res);
		return;
	}
	dev_pump(r);
}

static void slot_release(struct dev_slot *slot)
{
	struct dev_reader *r = slot->reader;

	slot->next_idle = r->idle;
	r->idle = slot;
	dev_pump(r);
}

static void dev_reply(struct fuse_request *req, int error, uint32_t len)
{
	struct dev_slot *slot = container_of(req, struct dev_slot, req);
	struct queue_thread *t = req->thread;
	struct iovec iov[2];
	ssize_t ret;

	error = fuse_reply_error(error);
	if (error)
		len = 0;
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
		if (fuse_conn_gone(-errno))
			queue_thread_conn_gone(t);
		else
			log_error("reply to /dev/fuse failed: %s",
				  strerror(errno));
	}
	slot_release(slot);
}

static void dev_drop(struct fuse_request *req)
{
	request_end(req, 0, 0);
	slot_release(container_of(req, struct dev_slot, req));
}

static void serve_read(struct dev_slot *slot, uint32_t len)
{
	struct fuse_request *req = &slot->req;
	int ret;

	ret = decode_dev_request(req, slot->read_buf + read_skew(), len);
	if (ret == DECODE_NO_HEADER) {
		/* Without a header there is no unique to answer to. */
		log_error("short request from /dev/fuse: %u bytes", len);
		slot_release(slot);
		return;
	}
	request_begin(req);
	if (ret) {
		dev_reply(req, ret, 0);
		return;
	}
	ops_dispatch(req);
}

/*
 * @nr_slots buffers, of which @active take requests from the start; the
 * others wait for a fall-back from the ring.  Untouched, they cost only
 * address space.
 */
int fuse_dev_alloc(struct queue_thread *t, unsigned int nr_slots,
		     unsigned int active)
{
	struct export *exp = t->exp;
	size_t page = page_size();
	size_t read_len = round_up(read_skew() + exp->dev_read_size, page);
	size_t reply_len = exp->payload_size;
	struct dev_reader *r;
	unsigned int i;
	int fl;

	/* Reads only follow a poll, and must never sleep in this thread. */
	fl = fcntl(t->dev_fd, F_GETFL);
	if (fl < 0 || fcntl(t->dev_fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	r = calloc(1, sizeof(*r) + nr_slots * sizeof(r->slots[0]));
	if (!r)
		return -ENOMEM;
	r->thread = t;
	r->poll_op.done = poll_done;
	r->map_len = read_len + reply_len;
	t->dev = r;
	for (i = 0; i < nr_slots; i++) {
		struct dev_slot *slot = &r->slots[i];
		char *map;

		map = mmap(NULL, r->map_len, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (map == MAP_FAILED) {
			fuse_dev_free(t);
			return -ENOMEM;
		}
		/* A 4 KiB request must not make 2 MiB resident. */
		madvise(map, r->map_len, MADV_NOHUGEPAGE);
		r->nr_slots = i + 1;
		slot->reader = r;
		slot->read_buf = map;
		slot->reply_buf = map + read_len;
		slot->req.thread = t;
		slot->req.transport = &dev_transport;
		slot->req.qid = -1;
		slot->req.reply = slot->reply_buf;
		slot->req.reply_cap = (uint32_t)reply_len;
		/* Its command is the reader's poll; it has only its I/O. */
		t->exp->image.ops->request_init(&slot->req);
	}
	/* Handed out last first, so light load keeps touching one buffer. */
	for (i = nr_slots; i-- > 0;) {
		struct dev_slot **list = i < active ? &r->idle : &r->spare;

		r->slots[i].next_idle = *list;
		*list = &r->slots[i];
	}
	stat_add(&t->stats.readers, active < nr_slots ? active : nr_slots);
	return 0;
}

/* At most one poll and one image op per slot are in flight at once. */
unsigned int fuse_dev_sqes(const struct queue_thread *t)
{
	return t->dev ? t->dev->nr_slots + 1 : 0;
}

void fuse_dev_start(struct queue_thread *t)
{
	if (t->dev)
		dev_pump(t->dev);
}

void fuse_dev_free(struct queue_thread *t)
{
	struct dev_reader *r = t->dev;
	unsigned int i;

	if (!r)
		return;
	for (i = 0; i < r->nr_slots; i++)
		munmap(r->slots[i].read_buf, r->map_len);
	free(r);
	t->dev = NULL;
}
