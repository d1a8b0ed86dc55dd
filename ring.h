/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A queue thread's loop, and the one call every layer below it makes on
 * the thread's ring: take a zeroed SQE whose completion goes to an op.
 */
#ifndef FUE_RING_H
#define FUE_RING_H

#include <string.h>

#include "queue.h"

/* SQEs are always 128 bytes: FUSE ring commands need the big cmd area. */
#define SQE_BYTES 128

int ring_probe(void);
int ring_sizes(unsigned int inflight, unsigned int *sq, unsigned int *cq);
void *ring_thread(void *arg);
bool ring_fail_export(struct export *exp, int err);

/*
 * A zeroed 128-byte SQE whose completion goes to @op.  liburing 2.3 hands
 * out SQEs with the previous user's bytes still in them, and the FUSE
 * command area lies beyond the 64 bytes its prep helpers touch.
 */
static inline struct io_uring_sqe *ring_sqe(struct queue_thread *t,
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

#endif /* FUE_RING_H */
