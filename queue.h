/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A queue thread: one io_uring, the ring entries of the kernel queues it
 * was dealt, and its /dev/fuse reader; and the calls every layer below
 * makes on it.
 */
#ifndef FUE_QUEUE_H
#define FUE_QUEUE_H

#include <liburing.h>
#include <sched.h>
#include <string.h>

#include "compiler.h"
#include "cpus.h"
#include "export.h"
#include "stats.h"

struct uring_entry;
struct dev_reader;
struct queue_thread;

struct queue_thread {
	unsigned int index;
	pthread_t tid;
	bool started;
	struct export *exp;
	struct io_uring ring;
	bool ring_ready;
	/* Submissions whose completion has not been reaped yet. */
	unsigned int inflight;
	/* Of them, I/O on the image. */
	unsigned int backing_inflight;
	/* The most there can be: one per ring entry and /dev/fuse op. */
	unsigned int max_inflight;
	/* No new receive is armed once set; the loop ends at inflight 0. */
	bool stopping;
	/* Requests taken, for --fail-thread. */
	unsigned int taken;
	/*
	 * Set when the ring went away with operations still in flight: the
	 * kernel may still write the buffers, so they are never freed.
	 */
	bool keep_buffers;
	/* A cloned /dev/fuse fd, so that reads spread over threads. */
	int dev_fd;
	/* The CPUs whose kernel queues it serves, when pinned. */
	struct cpus cpus;
	struct uring_entry *entries;
	unsigned int nr_entries;
	struct dev_reader *dev;
	/* The io_uring_setup() flags the kernel accepted for this ring. */
	unsigned int ring_flags;
	struct thread_stats stats;
} __aligned(CACHE_LINE);

int queues_start(struct export *exp);
void queues_join(struct export *exp);
void queues_free(struct export *exp);

int queue_probe_io_uring(void);
int queue_io_uring_sizes(unsigned int inflight, unsigned int *sq,
			 unsigned int *cq);

/*
 * What a transport tells its thread.  A fatal error ends the whole export
 * (true for the export's first one, which the caller then explains; the
 * loudly variant explains it itself); the connection having ended, or
 * the kernel having turned FUSE-over-io_uring off, is no error.
 */
bool queue_fail_export(struct export *exp, int err);
bool queue_thread_fail(struct queue_thread *t, int err);
void queue_thread_fail_loudly(struct queue_thread *t, int err);
void queue_thread_conn_gone(struct queue_thread *t);
void queue_thread_uring_off(struct queue_thread *t, int err);

/* SQEs are always 128 bytes: FUSE ring commands need the big cmd area. */
#define SQE_BYTES 128

/*
 * A zeroed 128-byte SQE whose completion goes to @op.  liburing 2.3 hands
 * out SQEs with the previous user's bytes still in them, and the FUSE
 * command area lies beyond the 64 bytes its prep helpers touch.
 */
static inline struct io_uring_sqe *queue_sqe(struct queue_thread *t,
					     struct ring_op *op)
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
	t->backing_inflight += op->backing;
	return sqe;
}

#endif /* FUE_QUEUE_H */
