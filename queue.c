// SPDX-License-Identifier: GPL-2.0
/*
 * Queue threads: each owns one io_uring (created inside the thread, as
 * SINGLE_ISSUER wants), the ring entries of the kernel queues dealt to it,
 * and a cloned /dev/fuse fd with its reader.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
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

static void notify_main(struct export *exp)
{
	pthread_kill(exp->main_thread, SIGUSR2);
}

/* Record the first fatal error; main then takes the whole export down. */
bool export_fail(struct export *exp, int err)
{
	int none = 0;
	bool first;

	first = atomic_try_cmpxchg(&exp->fatal, &none, err);
	notify_main(exp);
	return first;
}

/*
 * A REGISTER the kernel refused: it serves the connection over /dev/fuse
 * from now on, so every thread takes up reading it with all its slots.
 */
void export_fall_back(struct export *exp, int err)
{
	int none = 0;

	if (atomic_try_cmpxchg(&exp->uring_failed, &none, -err))
		log_info("the kernel refused a ring REGISTER (%s) and turned FUSE-over-io_uring off for this connection: serving over /dev/fuse",
			 strerror(-err));
}

/* A fatal error on one queue ends the whole export, never just the queue. */
void queue_fail(struct queue_thread *t, int err)
{
	t->stopping = true;
	if (export_fail(t->exp, err))
		log_error("queue thread %u failed: %s", t->index,
			  strerror(-err));
}

/*
 * The connection ended (unmount or abort): arm nothing more; the loop ends
 * once what is in flight has completed.  main tells the two apart.
 */
void queue_conn_gone(struct queue_thread *t)
{
	t->stopping = true;
}

/*
 * --fail-thread=N, a test aid: thread 0 behaves as if its io_uring broke
 * once it has taken N requests, with whatever it has in flight then.
 */
bool queue_fail_due(struct queue_thread *t)
{
	unsigned int n = t->exp->opt.fail_thread;

	return n && t->index == 0 && !t->stopping && t->taken >= n;
}

static void pin_thread(struct queue_thread *t)
{
	int ret;

	if (!cpus_count(&t->cpus))
		return;
	ret = pthread_setaffinity_np(pthread_self(), t->cpus.size,
				     t->cpus.set);
	if (ret)
		log_debug("thread %u: cannot pin: %s", t->index, strerror(ret));
}

/*
 * io-wq workers (buffered writes to the image) inherit the thread's
 * pinning; left so, they crowd onto the client's CPU and spin there on
 * the image's inode lock.  Let them run on any online CPU.
 */
static void unpin_workers(struct queue_thread *t)
{
	int ret;

	if (!cpus_count(&t->cpus) || !cpus_count(&t->exp->online))
		return;
	ret = io_uring_register_iowq_aff(&t->ring, t->exp->online.size,
					 t->exp->online.set);
	if (ret)
		log_debug("thread %u: io-wq affinity: %s", t->index,
			  strerror(-ret));
}

/* Each ring entry and each /dev/fuse slot has one operation at a time. */
static unsigned int thread_inflight(const struct queue_thread *t)
{
	return t->nr_entries + fuse_dev_sqes(t);
}

static void *queue_main(void *arg)
{
	struct queue_thread *t = arg;
	struct export *exp = t->exp;
	int ret;

	pin_thread(t);
	ret = ring_setup(t, thread_inflight(t));
	if (ret) {
		log_error("io_uring setup failed on thread %u: %s", t->index,
			  strerror(-ret));
		queue_fail(t, ret);
		goto out;
	}
	unpin_workers(t);
	if (exp->uring)
		fuse_uring_register(t);
	fuse_dev_start(t);
	/*
	 * A REGISTER that fails does so while it is submitted; reap those
	 * results before telling main that this queue is armed.
	 */
	ret = io_uring_submit(&t->ring);
	if (ret < 0)
		queue_fail(t, ret);
	else
		ring_reap(t);
	atomic_add_return(&exp->armed, 1);
	notify_main(exp);
	ring_run(t);
out:
	ring_teardown(t);
	atomic_sub_return(&exp->running, 1);
	notify_main(exp);
	return NULL;
}

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
	if (ring_sizes(thread_inflight(t), &sq, &cq)) {
		log_error("thread %u would have %u operations in flight, more than io_uring's %u completions: use more --queues or a smaller --queue-depth",
			  t->index, thread_inflight(t), 65536);
		return -E2BIG;
	}
	return 0;
}

int queues_start(struct export *exp)
{
	struct cpus *online = &exp->online;
	unsigned int i;
	int ret;

	/* Not known (cpulist_read() leaves it empty): no pinning then. */
	cpulist_read("/sys/devices/system/cpu/online", online);
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
		ret = pthread_create(&t->tid, NULL, queue_main, t);
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
