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
struct queue_thread;

/*
 * How a transport reports up to the loop that drives it; the loop hands
 * these down when its thread starts.
 */
struct thread_events {
	/*
	 * A fatal error: the thread arms nothing more and the whole export
	 * ends.  True for the export's first one, which the caller explains.
	 */
	bool (*fail)(struct queue_thread *t, int err);
	/* The connection has ended: arm nothing more, drain, stop. */
	void (*conn_gone)(struct queue_thread *t);
	/* The kernel refused a REGISTER: serve /dev/fuse from now on. */
	void (*ring_off)(struct queue_thread *t, int err);
};

struct queue_thread {
	unsigned int index;
	pthread_t tid;
	bool started;
	struct export *exp;
	const struct thread_events *events;
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

#endif /* FUE_QUEUE_H */
