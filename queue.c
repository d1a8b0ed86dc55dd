// SPDX-License-Identifier: GPL-2.0
/*
 * A queue thread, whole: its set-up before it starts (buffers, CPUs, a
 * cloned /dev/fuse), its io_uring, the loop that submits, waits (spinning
 * briefly for the image at low depth) and hands every completion to the
 * ring_op carried in its user_data, its failure and drain, and its join
 * and freeing.  The transports (fuse_uring.c, fuse_dev.c) call back into
 * it directly when the connection ends or fails.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "compiler.h"
#include "export.h"

/* io_uring_setup() refuses more than these without IORING_SETUP_CLAMP. */
#define IO_URING_MAX_SQ 32768
#define IO_URING_MAX_CQ 65536
/* queue_sqe() submits whenever the SQ is full: it bounds a batch only. */
#define IO_URING_SQ_BATCH 4096
#define IO_URING_MIN 8

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
int queue_io_uring_sizes(unsigned int inflight, unsigned int *sq, unsigned int *cq)
{
	unsigned int need = inflight < IO_URING_MIN ? IO_URING_MIN : inflight;

	if (need > IO_URING_MAX_CQ)
		return -E2BIG;
	*cq = round_up_pow2(need);
	*sq = *cq < IO_URING_SQ_BATCH ? *cq : IO_URING_SQ_BATCH;
	if (*sq > IO_URING_MAX_SQ)
		*sq = IO_URING_MAX_SQ;
	return 0;
}

/*
 * Every ring this daemon sets up has 128-byte SQEs (SQE128, Linux 5.19):
 * find out before mounting anything whether the kernel can.  0, or the
 * errno of io_uring_setup().
 */
int queue_probe_io_uring(void)
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

static int queue_io_uring_setup(struct queue_thread *t, unsigned int inflight)
{
	static const unsigned int flag_sets[] = {
		/*
		 * Task work runs only when the loop enters the kernel; the
		 * flag tells a spinning loop (queue_poll) when to.
		 */
		IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
			IORING_SETUP_TASKRUN_FLAG,
		IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG,
		0,
	};
	struct io_uring_params p;
	unsigned int i, sq, cq;
	int ret;

	ret = queue_io_uring_sizes(inflight, &sq, &cq);
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

/* Hand every completion already posted to its op; returns how many. */
static unsigned int queue_reap(struct queue_thread *t)
{
	struct io_uring_cqe *cqe;
	unsigned int head, seen = 0;

	io_uring_for_each_cqe(&t->ring, head, cqe) {
		struct ring_op *op = io_uring_cqe_get_data(cqe);

		seen++;
		t->inflight--;
		t->image_inflight -= op->image;
		op->done(op, cqe->res);
	}
	io_uring_cq_advance(&t->ring, seen);
	return seen;
}

static void notify_main(struct export *exp)
{
	pthread_kill(exp->main_thread, SIGUSR2);
}

/* Record the first fatal error; main then takes the whole export down. */
bool queue_fail_export(struct export *exp, int err)
{
	int none = 0;
	bool first;

	first = atomic_try_cmpxchg(&exp->fatal, &none, err);
	notify_main(exp);
	return first;
}

/* A fatal error on one queue ends the whole export, never just the queue. */
bool queue_thread_fail(struct queue_thread *t, int err)
{
	t->stopping = true;
	return queue_fail_export(t->exp, err);
}

void queue_thread_fail_loudly(struct queue_thread *t, int err)
{
	if (queue_thread_fail(t, err))
		log_error("queue thread %u failed: %s", t->index,
			  strerror(-err));
}

/*
 * The connection ended (unmount or abort): arm nothing more; the loop ends
 * once what is in flight has completed.  main tells the two apart.
 */
void queue_thread_conn_gone(struct queue_thread *t)
{
	t->stopping = true;
}

/*
 * A REGISTER the kernel refused: it serves the connection over /dev/fuse
 * from now on, so every thread takes up reading it with all its slots.
 */
void queue_thread_uring_off(struct queue_thread *t, int err)
{
	int none = 0;

	if (atomic_try_cmpxchg(&t->exp->uring_failed, &none, -err))
		log_info("the kernel refused a ring REGISTER (%s) and turned FUSE-over-io_uring off for this connection: serving over /dev/fuse",
			 strerror(-err));
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

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static long long now_ms(void)
{
	return now_ns() / 1000000;
}

/*
 * A thread that failed may still have operations in flight: ring entries
 * the kernel holds and image I/O into its buffers.  main aborts the
 * connection, which ends the entries; image I/O ends by itself or is
 * cancelled.  Only with nothing in flight may the ring go and the
 * buffers be freed; if that takes too long, they are kept instead.
 * Bounded by the clock: a broken ring may fail every wait at once.
 */
static int queue_drain(struct queue_thread *t)
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
			sqe = queue_sqe(t, &cancel_op);
			io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
			cancelled = true;
		}
		io_uring_submit_and_wait_timeout(&t->ring, &cqe, 1, &tick,
						 NULL);
		if (!queue_reap(t))
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

/*
 * A queue thread that sleeps for its image costs the request two wake-ups
 * instead of one, and on a VM each wake-up from idle is expensive: at low
 * depth that was a third of a 4 KiB read's time.  So with a few short
 * image I/Os in flight (ring_op.image) the thread submits, then spins
 * for up to --poll microseconds for a completion before it sleeps.  With
 * more in flight completions come often enough that spinning measured
 * only as CPU.
 * True when the spin found a completion: everything is submitted then.
 */
#define POLL_MAX_IMAGE 4

static bool queue_poll(struct queue_thread *t, long long budget_ns)
{
	long long deadline;

	if (!budget_ns || !t->image_inflight ||
	    t->image_inflight > POLL_MAX_IMAGE)
		return false;
	if (io_uring_submit(&t->ring) < 0)
		return false;
	deadline = now_ns() + budget_ns;
	do {
		/* Completions wait as task work until the thread enters. */
		if (IO_URING_READ_ONCE(*t->ring.sq.kflags) & IORING_SQ_TASKRUN)
			io_uring_get_events(&t->ring);
		if (io_uring_cq_ready(&t->ring))
			return true;
		cpu_relax();
	} while (now_ns() < deadline);
	return false;
}

static int queue_loop(struct queue_thread *t)
{
	long long poll_ns = t->exp->opt.poll_us * 1000LL;
	int ret;

	while (!t->stopping || t->inflight) {
		if (!t->inflight) {
			/* Nothing can ever complete: do not wait forever. */
			queue_thread_fail_loudly(t, -EPIPE);
			break;
		}
		/* Failed here or in a handler: wait for the rest, bounded. */
		if (t->stopping &&
		    smp_load_acquire(&t->exp->fatal))
			return queue_drain(t);
		if (queue_poll(t, poll_ns)) {
			stat_inc(&t->stats.polled);
			ret = 0;
		} else {
			ret = io_uring_submit_and_wait(&t->ring, 1);
		}
		if (ret < 0 && ret != -EINTR && ret != -EAGAIN &&
		    ret != -EBUSY) {
			queue_thread_fail_loudly(t, ret);
			return queue_drain(t);
		}
		queue_reap(t);
	}
	return 0;
}

/*
 * Exiting the ring cancels whatever is still registered with the kernel,
 * but the cancelling runs on after io_uring_queue_exit() returns: with
 * operations still in flight, the buffers must outlive the process.
 */
static void queue_io_uring_teardown(struct queue_thread *t)
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

/* The body of queue thread @arg, from pinning to its ring's teardown. */
static void *queue_thread_main(void *arg)
{
	struct queue_thread *t = arg;
	struct export *exp = t->exp;
	int ret;

	pin_thread(t);
	ret = queue_io_uring_setup(t, t->max_inflight);
	if (ret) {
		log_error("io_uring setup failed on thread %u: %s", t->index,
			  strerror(-ret));
		queue_thread_fail_loudly(t, ret);
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
		queue_thread_fail_loudly(t, ret);
	else
		queue_reap(t);
	atomic_add_return(&exp->armed, 1);
	notify_main(exp);
	queue_loop(t);
out:
	queue_io_uring_teardown(t);
	atomic_sub_return(&exp->running, 1);
	notify_main(exp);
	return NULL;
}

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
					   exp->queue_depth;
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
	ret = fuse_dev_alloc(t, exp->queue_depth, active);
	if (ret) {
		log_error("cannot allocate /dev/fuse buffers: %s",
			  strerror(-ret));
		return ret;
	}
	/* Each ring entry and each /dev/fuse slot has one op at a time. */
	t->max_inflight = t->nr_entries + fuse_dev_sqes(t);
	if (queue_io_uring_sizes(t->max_inflight, &sq, &cq)) {
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
		ret = pthread_create(&t->tid, NULL, queue_thread_main, t);
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
