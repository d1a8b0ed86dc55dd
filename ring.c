// SPDX-License-Identifier: GPL-2.0
/*
 * The per-thread io_uring and its poll-free loop: submit, wait, and hand
 * every completion to the ring_op carried in its user_data.
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "compiler.h"
#include "log.h"
#include "ring.h"

/* SQEs are always 128 bytes: FUSE ring commands need the big cmd area. */
#define SQE_BYTES 128

/* io_uring_setup() refuses more than these without IORING_SETUP_CLAMP. */
#define RING_MAX_SQ 32768
#define RING_MAX_CQ 65536
/* ring_sqe() submits whenever the SQ is full: it bounds a batch only. */
#define RING_SQ_BATCH 4096
#define RING_MIN 8

static unsigned int round_up_pow2(unsigned int n)
{
	unsigned int p = 1;

	while (p < n && p < (1u << 31))
		p <<= 1;
	return p;
}

/*
 * Sizes for a ring with at most @inflight operations outstanding: a CQ
 * with room for every completion, so that none can overflow, and an SQ
 * for a batch.  -E2BIG when the CQ would have to pass io_uring's limit.
 */
int ring_sizes(unsigned int inflight, unsigned int *sq, unsigned int *cq)
{
	unsigned int need = inflight < RING_MIN ? RING_MIN : inflight;

	if (need > RING_MAX_CQ)
		return -E2BIG;
	*cq = round_up_pow2(need);
	*sq = *cq < RING_SQ_BATCH ? *cq : RING_SQ_BATCH;
	if (*sq > RING_MAX_SQ)
		*sq = RING_MAX_SQ;
	return 0;
}

/*
 * Every ring this daemon sets up has 128-byte SQEs (SQE128, Linux 5.19):
 * find out before mounting anything whether the kernel can.  0, or the
 * errno of io_uring_setup().
 */
int ring_probe(void)
{
	struct io_uring_params p;
	struct io_uring ring;
	int ret;

	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_SQE128;
	ret = io_uring_queue_init_params(1, &ring, &p);
	if (!ret)
		io_uring_queue_exit(&ring);
	return ret;
}

int ring_setup(struct queue_thread *t, unsigned int inflight)
{
	static const unsigned int flag_sets[] = {
		/* Task work runs only when the loop enters the kernel. */
		IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
		IORING_SETUP_COOP_TASKRUN,
		0,
	};
	struct io_uring_params p;
	unsigned int i, sq, cq;
	int ret;

	ret = ring_sizes(inflight, &sq, &cq);
	if (ret)
		return ret;
	for (i = 0; i < ARRAY_SIZE(flag_sets); i++) {
		memset(&p, 0, sizeof(p));
		p.flags = IORING_SETUP_SQE128 | IORING_SETUP_CQSIZE |
			  flag_sets[i];
		p.cq_entries = cq;
		ret = io_uring_queue_init_params(sq, &t->ring, &p);
		if (ret != -EINVAL)
			break;
	}
	if (ret == 0) {
		t->ring_ready = true;
		t->ring_flags = p.flags;
	}
	return ret;
}

/*
 * A zeroed 128-byte SQE whose completion goes to @op.  liburing 2.3 hands
 * out SQEs with the previous user's bytes still in them, and the FUSE
 * command area lies beyond the 64 bytes its prep helpers touch.
 */
struct io_uring_sqe *ring_sqe(struct queue_thread *t, struct ring_op *op)
{
	struct io_uring_sqe *sqe;

	sqe = io_uring_get_sqe(&t->ring);
	while (!sqe) {
		io_uring_submit(&t->ring);
		sqe = io_uring_get_sqe(&t->ring);
	}
	memset(sqe, 0, SQE_BYTES);
	io_uring_sqe_set_data(sqe, op);
	t->inflight++;
	return sqe;
}

/* Hand every completion already posted to its op; returns how many. */
unsigned int ring_reap(struct queue_thread *t)
{
	struct io_uring_cqe *cqe;
	unsigned int head, seen = 0;

	io_uring_for_each_cqe(&t->ring, head, cqe) {
		struct ring_op *op = io_uring_cqe_get_data(cqe);

		seen++;
		t->inflight--;
		op->done(op, cqe->res);
	}
	io_uring_cq_advance(&t->ring, seen);
	return seen;
}

/* How long a failed thread waits for what it has in flight. */
#define DRAIN_TICK_MS 10
#define DRAIN_CANCEL_MS 1000
#define DRAIN_MS 10000

static void cancel_done(struct ring_op *op, int res)
{
	(void)op;
	(void)res;
}

static struct ring_op cancel_op = { .done = cancel_done };

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/*
 * A thread that failed may still have operations in flight: ring entries
 * the kernel holds and backing I/O into its buffers.  main aborts the
 * connection, which ends the entries; backing I/O ends by itself or is
 * cancelled.  Only with nothing in flight may the ring go and the
 * buffers be freed; if that takes too long, they are kept instead.
 * Bounded by the clock: a broken ring may fail every wait at once.
 */
static int ring_drain(struct queue_thread *t)
{
	struct __kernel_timespec tick = {
		.tv_nsec = DRAIN_TICK_MS * 1000 * 1000,
	};
	struct timespec pause = { .tv_nsec = tick.tv_nsec };
	long long start = now_ms(), waited = 0;
	struct io_uring_cqe *cqe;
	struct io_uring_sqe *sqe;
	bool cancelled = false;

	while (t->inflight && waited < DRAIN_MS) {
		if (!cancelled && waited >= DRAIN_CANCEL_MS) {
			sqe = ring_sqe(t, &cancel_op);
			io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
			cancelled = true;
		}
		io_uring_submit_and_wait_timeout(&t->ring, &cqe, 1, &tick,
						 NULL);
		if (!ring_reap(t))
			nanosleep(&pause, NULL);
		waited = now_ms() - start;
	}
	if (!t->inflight)
		return 0;
	log_error("queue thread %u: %u operations still in flight after %lld ms; its buffers stay mapped",
		  t->index, t->inflight, waited);
	t->keep_buffers = true;
	return -EBUSY;
}

int ring_run(struct queue_thread *t)
{
	int ret;

	while (!t->stopping || t->inflight) {
		if (!t->inflight) {
			/* Nothing can ever complete: do not wait forever. */
			queue_fail(t, -EPIPE);
			break;
		}
		/* Failed here or in a handler: wait for the rest, bounded. */
		if (t->stopping &&
		    smp_load_acquire(&t->exp->fatal))
			return ring_drain(t);
		ret = io_uring_submit_and_wait(&t->ring, 1);
		if (queue_fail_due(t))
			ret = -EIO;
		if (ret < 0 && ret != -EINTR && ret != -EAGAIN &&
		    ret != -EBUSY) {
			queue_fail(t, ret);
			return ring_drain(t);
		}
		ring_reap(t);
	}
	return 0;
}

/*
 * Exiting the ring cancels whatever is still registered with the kernel,
 * but the cancelling runs on after io_uring_queue_exit() returns: with
 * operations still in flight, the buffers must outlive the process.
 */
void ring_teardown(struct queue_thread *t)
{
	if (t->ring_ready && t->inflight && !t->keep_buffers) {
		log_error("queue thread %u: ring torn down with %u operations in flight; its buffers stay mapped",
			  t->index, t->inflight);
		t->keep_buffers = true;
	}
	if (t->ring_ready)
		io_uring_queue_exit(&t->ring);
	t->ring_ready = false;
}
