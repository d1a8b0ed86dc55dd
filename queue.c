// SPDX-License-Identifier: GPL-2.0
/*
 * Queue threads: their set-up, start, join and freeing.  Each owns one
 * io_uring (created inside the thread by ring.c, as SINGLE_ISSUER wants),
 * the ring entries of the kernel queues dealt to it, and a cloned
 * /dev/fuse fd with its reader, all allocated here before it starts.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "compiler.h"
#include "cpus.h"
#include "fuse_dev.h"
#include "fuse_uring.h"
#include "log.h"
#include "queue.h"
#include "ring.h"
#include "trace.h"

/*
 * In ring mode /dev/fuse carries little: one slot per thread will do
 * until a fall-back puts the others to work.
 */
#define SIDE_CHANNEL_SLOTS 1

/*
 * A clone has its own processing queue, so threads do not contend on one.
 * A user who may not open /dev/fuse (fusermount3 opened it for us) shares
 * the mount's descriptor instead: correct, only less parallel.
 */
static int clone_dev_fd(int master)
{
	uint32_t master_fd = (uint32_t)master;
	int fd;

	fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		if (errno != EACCES && errno != EPERM)
			return -errno;
		fd = fcntl(master, F_DUPFD_CLOEXEC, 0);
		return fd < 0 ? -errno : fd;
	}
	if (ioctl(fd, FUSE_DEV_IOC_CLONE, &master_fd) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

static int pick_cpus(struct export *exp, struct queue_thread *t,
		     const struct cpus *online)
{
	unsigned int qid;

	if (!exp->uring || !exp->opt.pin || !cpus_count(online))
		return 0;
	if (cpus_alloc(&t->cpus, exp->nr_queues))
		return -ENOMEM;
	/* A request lands on the queue of the CPU its caller runs on. */
	for (qid = t->index; qid < exp->nr_queues; qid += exp->nr_threads)
		if (cpus_has(online, qid))
			cpus_add(&t->cpus, qid);
	return 0;
}

static int prepare_thread(struct export *exp, struct queue_thread *t,
			  const struct cpus *online)
{
	unsigned int sq, cq;
	unsigned int active = exp->uring ? SIDE_CHANNEL_SLOTS :
					   exp->opt.queue_depth;
	int ret;

	if (trace_requests_on && stats_alloc_ops(&t->stats))
		return -ENOMEM;
	t->dev_fd = clone_dev_fd(exp->dev_fd);
	if (t->dev_fd < 0) {
		log_error("cannot clone /dev/fuse for thread %u: %s",
			  t->index, strerror(-t->dev_fd));
		return t->dev_fd;
	}
	if (pick_cpus(exp, t, online))
		return -ENOMEM;
	if (exp->uring) {
		ret = fuse_uring_alloc(t);
		if (ret) {
			log_error("cannot allocate ring entries: %s",
				  strerror(-ret));
			return ret;
		}
	}
	ret = fuse_dev_alloc(t, exp->opt.queue_depth, active);
	if (ret) {
		log_error("cannot allocate /dev/fuse buffers: %s",
			  strerror(-ret));
		return ret;
	}
	/* Each ring entry and each /dev/fuse slot has one op at a time. */
	t->max_inflight = t->nr_entries + fuse_dev_sqes(t);
	if (ring_sizes(t->max_inflight, &sq, &cq)) {
		log_error("thread %u would have %u operations in flight, more than io_uring's %u completions: use more --queues or a smaller --queue-depth",
			  t->index, t->max_inflight, 65536);
		return -E2BIG;
	}
	return 0;
}

int queues_start(struct export *exp)
{
	struct cpus *online = &exp->online;
	unsigned int i;
	int ret;

	/* Not known (cpus_read_list() leaves it empty): no pinning then. */
	cpus_read_list("/sys/devices/system/cpu/online", online);
	exp->threads = stats_calloc_lines(exp->nr_threads, sizeof(*exp->threads));
	if (!exp->threads)
		return -ENOMEM;
	for (i = 0; i < exp->nr_threads; i++) {
		exp->threads[i].exp = exp;
		exp->threads[i].index = i;
		exp->threads[i].dev_fd = -1;
	}
	for (i = 0; i < exp->nr_threads; i++) {
		ret = prepare_thread(exp, &exp->threads[i], online);
		if (ret)
			return ret;
	}
	for (i = 0; i < exp->nr_threads; i++) {
		struct queue_thread *t = &exp->threads[i];

		atomic_add_return(&exp->running, 1);
		ret = pthread_create(&t->tid, NULL, ring_thread, t);
		if (ret) {
			atomic_sub_return(&exp->running, 1);
			log_error("cannot start queue thread %u: %s", i,
				  strerror(ret));
			return -ret;
		}
		t->started = true;
	}
	return 0;
}

/* Called once the connection is gone: every thread's loop ends then. */
void queues_join(struct export *exp)
{
	unsigned int i;

	for (i = 0; exp->threads && i < exp->nr_threads; i++) {
		struct queue_thread *t = &exp->threads[i];

		if (t->started)
			pthread_join(t->tid, NULL);
		t->started = false;
	}
}

/* Buffers go only after each ring is torn down: the kernel may write them. */
void queues_free(struct export *exp)
{
	unsigned int i;

	queues_join(exp);
	for (i = 0; exp->threads && i < exp->nr_threads; i++) {
		struct queue_thread *t = &exp->threads[i];

		if (!t->keep_buffers) {
			fuse_uring_free(t);
			fuse_dev_free(t);
		}
		stats_free_ops(&t->stats);
		cpus_free(&t->cpus);
		if (t->dev_fd >= 0)
			close(t->dev_fd);
		t->dev_fd = -1;
	}
	free(exp->threads);
	exp->threads = NULL;
	cpus_free(&exp->online);
}
