/* SPDX-License-Identifier: GPL-2.0 */
#ifndef FUE_RING_H
#define FUE_RING_H

#include "queue.h"

int ring_probe(void);
int ring_sizes(unsigned int inflight, unsigned int *sq, unsigned int *cq);
int ring_setup(struct queue_thread *t, unsigned int inflight);
struct io_uring_sqe *ring_sqe(struct queue_thread *t, struct ring_op *op);
unsigned int ring_reap(struct queue_thread *t);
int ring_run(struct queue_thread *t);
void ring_teardown(struct queue_thread *t);

#endif /* FUE_RING_H */
