/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A queue thread: one io_uring, the ring entries of the kernel queues it
 * was dealt, and its /dev/fuse reader.
 */
#ifndef FUE_QUEUE_H
#define FUE_QUEUE_H

#include <liburing.h>
#include <sched.h>

#include "compiler.h"
#include "cpus.h"
#include "export.h"
#include "stats.h"

struct uring_entry;
struct dev_reader;

struct queue_thread {
	unsigned int index;
	pthread_t tid;
	bool started;
	struct export *exp;
	struct io_uring ring;
	bool ring_ready;
	/* Submissions whose completion has not been reaped yet. */
	unsigned int inflight;
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
bool export_fail(struct export *exp, int err);
void export_fall_back(struct export *exp, int err);
void queue_fail(struct queue_thread *t, int err);
void queue_conn_gone(struct queue_thread *t);
bool queue_fail_due(struct queue_thread *t);

#endif /* FUE_QUEUE_H */
