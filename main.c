// SPDX-License-Identifier: GPL-2.0
/*
 * fuse-uring-export: export one raw image as one regular file through
 * FUSE, over FUSE-over-io_uring when the kernel offers it.
 *
 * main opens the image, mounts, answers FUSE_INIT, starts the queue
 * threads, and then only waits: for signals, for a queue thread to fail,
 * or for the connection to end.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "export.h"
#include "compiler.h"

/* After SIGTERM, how long files still open on a detached mount may finish. */
#define STOP_GRACE_SEC 2

#define ENABLE_URING_PARAM "/sys/module/fuse/parameters/enable_uring"

static bool want_allow_other(const struct export_options *opt)
{
	char line[256];
	bool allowed = false;
	FILE *f;

	if (opt->allow_other != TRI_AUTO)
		return opt->allow_other == TRI_ON;
	if (getuid() == 0)
		return true;
	/* Without root, fusermount3 permits it only with user_allow_other. */
	f = fopen("/etc/fuse.conf", "re");
	if (!f)
		return false;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "user_allow_other", 16))
			allowed = true;
	fclose(f);
	return allowed;
}

/* A number from a small /proc or /sys file: 0, or -errno. */
static int read_uint_file(const char *path, unsigned int *value)
{
	char buf[32];
	ssize_t got;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	got = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (got <= 0)
		return got < 0 ? -errno : -EINVAL;
	buf[got] = '\0';
	*value = (unsigned int)strtoul(buf, NULL, 10);
	return 0;
}

/* Two requests in the background per entry, 64 at least. */
static uint16_t max_background(unsigned int nr_queues, unsigned int depth)
{
	unsigned long background = 2UL * nr_queues * depth;

	if (background < 64)
		background = 64;
	return background > UINT16_MAX ? UINT16_MAX : (uint16_t)background;
}

static void init_policy_fill(const struct export *exp,
			     struct init_policy *policy)
{
	unsigned int limit = 0;

	memset(policy, 0, sizeof(*policy));
	policy->want_uring = exp->opt.io_uring != TRI_OFF;
	policy->max_io = exp->opt.max_io;
	policy->page_size = (uint32_t)getpagesize();
	if (read_uint_file("/proc/sys/fs/fuse/max_pages_limit", &limit) == 0)
		policy->max_pages_limit = limit;
	/*
	 * Async direct I/O travels as background requests: let every entry
	 * of every queue hold one, or the kernel throttles below the ring.
	 */
	policy->max_background = max_background(exp->nr_queues,
			exp->opt.queue_depth ?: FUSE_URING_DEPTH_DEFAULT);
	policy->max_background_pooled = max_background(exp->nr_queues,
			exp->opt.queue_depth ?: FUSE_URING_DEPTH_POOLED);
}

static int send_init_reply(int fd, uint64_t unique, int error,
			   const struct init_result *init)
{
	struct {
		struct fuse_out_header hdr;
		struct fuse_init_out out;
	} reply;
	size_t len = sizeof(reply.hdr) + (error ? 0 : init->out_len);

	memset(&reply, 0, sizeof(reply));
	reply.hdr.len = (uint32_t)len;
	reply.hdr.error = error;
	reply.hdr.unique = unique;
	if (!error)
		memcpy(&reply.out, &init->out, init->out_len);
	if (write(fd, &reply, len) != (ssize_t)len)
		return -errno;
	return 0;
}

static void explain_no_uring(const struct init_result *init)
{
	unsigned int enabled = 0;

	if (read_uint_file(ENABLE_URING_PARAM, &enabled) < 0)
		log_error("--io-uring=on: %s; this kernel has no FUSE-over-io_uring (build Linux 6.14+ with CONFIG_FUSE_IO_URING=y)",
			  init->no_uring_reason);
	else
		log_error("--io-uring=on: %s; turn it on with: echo Y > %s",
			  init->no_uring_reason, ENABLE_URING_PARAM);
}

/* Read FUSE_INIT, negotiate, answer.  Returns 0 or a negative errno. */
static int negotiate(struct export *exp, struct init_result *init)
{
	size_t len = fuse_dev_read_size(exp->opt.max_io);
	const struct fuse_in_header *in;
	struct init_policy policy;
	ssize_t got;
	char *buf;
	int ret;

	buf = malloc(len);
	if (!buf)
		return -ENOMEM;
	do {
		got = read(exp->dev_fd, buf, len);
	} while (got < 0 && errno == EINTR);
	in = (const struct fuse_in_header *)buf;
	if (got < (ssize_t)sizeof(*in) || in->opcode != FUSE_INIT) {
		log_error("/dev/fuse: expected FUSE_INIT, got %s",
			  got < 0 ? strerror(errno) : "something else");
		ret = -EPROTO;
		goto out;
	}
	init_policy_fill(exp, &policy);
	ret = init_negotiate(in + 1, (size_t)got - sizeof(*in), &policy, init);
	if (ret) {
		log_error("the kernel speaks FUSE %u.%u; this daemon needs %u.%u or newer",
			  init->kernel_major, init->kernel_minor,
			  FUE_PROTO_MAJOR, FUE_PROTO_MINOR_MIN);
		send_init_reply(exp->dev_fd, in->unique, -EPROTO, init);
		goto out;
	}
	ret = send_init_reply(exp->dev_fd, in->unique, 0, init);
	if (ret) {
		log_error("/dev/fuse: INIT reply failed: %s", strerror(-ret));
		goto out;
	}
	if (!init->uring && exp->opt.io_uring == TRI_ON) {
		explain_no_uring(init);
		ret = -EOPNOTSUPP;
	} else if (!init->uring && exp->opt.io_uring == TRI_AUTO) {
		log_info("serving over /dev/fuse: %s", init->no_uring_reason);
	}
out:
	free(buf);
	return ret;
}

static int setup_queues(struct export *exp, const struct init_result *init)
{
	unsigned int qid;

	exp->init = init;
	exp->uring = init->uring;
	if (fuse_uring_plan(exp))
		return -EINVAL;
	exp->nr_threads = exp->opt.queues;
	/* Threads beyond the kernel queue count would serve nothing. */
	if (exp->uring && exp->nr_threads > exp->nr_queues)
		exp->nr_threads = exp->nr_queues;
	exp->payload_size = init_ring_payload_size(init,
						   (uint32_t)getpagesize());
	exp->dev_read_size = fuse_dev_read_size(init->max_write);
	exp->max_read = init->max_pages * (uint32_t)getpagesize();
	exp->qid_stats = stats_calloc_lines(exp->nr_queues, sizeof(*exp->qid_stats));
	if (!exp->qid_stats)
		return -ENOMEM;
	for (qid = 0; qid < exp->nr_queues; qid++)
		exp->qid_stats[qid].thread = cpus_qid_owner(qid, exp->nr_threads);
	return queues_start(exp);
}

static void block_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGHUP);
	sigaddset(set, SIGUSR1);
	sigaddset(set, SIGUSR2);
	/* Queue threads inherit the mask: only main takes these. */
	pthread_sigmask(SIG_BLOCK, set, NULL);
}

static double now_sec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct waiter {
	struct export *exp;
	struct export_mount *mnt;
	sigset_t signals;
	bool stop_requested;
	bool aborted_by_us;
	double deadline;
};

/*
 * Detach and abort.  The abort needs fusectl's abort file, which is the
 * mounting user's, root or not; without it, open files keep the
 * connection, and the daemon serving it, until they are closed.
 */
static void take_down(struct waiter *w)
{
	int ret;

	mount_remove(w->mnt);
	if (!w->aborted_by_us) {
		ret = mount_abort(w->mnt);
		if (ret)
			log_error("%s: cannot abort FUSE connection %u (%s): files still open keep it until they are closed",
				  w->mnt->path, w->mnt->conn, strerror(-ret));
	}
	w->aborted_by_us = true;
}

static void handle_signal(struct waiter *w, int sig)
{
	switch (sig) {
	case SIGUSR1:
		stats_print(stderr, w->exp);
		break;
	case SIGINT:
	case SIGTERM:
	case SIGHUP:
		if (w->stop_requested) {
			/* A second signal: the user wants out now. */
			take_down(w);
			break;
		}
		w->stop_requested = true;
		w->deadline = now_sec() + STOP_GRACE_SEC;
		mount_remove(w->mnt);
		break;
	default:
		break;
	}
}

/*
 * Sleep until something happens: a signal, or a queue thread's SIGUSR2
 * (it armed, failed or ended).  Only a stop's grace period has a clock;
 * an idle export never wakes main.
 */
static void wait_once(struct waiter *w)
{
	struct timespec left, *timeout = NULL;
	double remaining;
	int sig;

	if (w->stop_requested && !w->aborted_by_us) {
		remaining = w->deadline - now_sec();
		if (remaining <= 0) {
			take_down(w);
			return;
		}
		left.tv_sec = (time_t)remaining;
		left.tv_nsec = (long)((remaining - (double)left.tv_sec) * 1e9);
		timeout = &left;
	}
	sig = timeout ? sigtimedwait(&w->signals, NULL, timeout) :
			sigwaitinfo(&w->signals, NULL);
	if (sig > 0)
		handle_signal(w, sig);
	/* A grace period that ran out is taken down on the next call. */
	if (smp_load_acquire(&w->exp->fatal) &&
	    !w->aborted_by_us)
		take_down(w);
}

static bool all_armed(const struct export *exp)
{
	return smp_load_acquire(&exp->armed) ==
	       exp->nr_threads;
}

static bool any_running(const struct export *exp)
{
	return smp_load_acquire(&exp->running) > 0;
}

static int fatal_error(const struct export *exp)
{
	return smp_load_acquire(&exp->fatal);
}

static int serve(struct export *exp, struct export_mount *mnt,
		 const sigset_t *signals)
{
	struct waiter w = { .exp = exp, .mnt = mnt, .signals = *signals };
	bool ready = false;

	while (any_running(exp)) {
		if (!ready && all_armed(exp) && !fatal_error(exp)) {
			ready = true;
			/* The pid file first: "serving" must be true once said. */
			if (daemon_ready())
				queue_fail_export(exp, -EIO);
			else
				report_serving(exp, mnt);
		}
		wait_once(&w);
	}
	queues_join(exp);
	if (fatal_error(exp)) {
		mount_remove(mnt);
		return EXIT_FAILURE;
	}
	if (w.stop_requested)
		return EXIT_SUCCESS;
	if (mount_present(mnt)) {
		log_error("%s: the FUSE connection %u was aborted",
			  mnt->path, mnt->conn);
		mount_remove(mnt);
		return EXIT_FAILURE;
	}
	log_debug("%s was unmounted", mnt->path);
	return EXIT_SUCCESS;
}

/* One line naming what the kernel lacks when io_uring cannot serve. */
static int check_io_uring(void)
{
	int ret = queue_probe_io_uring();

	switch (ret) {
	case 0:
		return 0;
	case -EINVAL:
		log_error("io_uring refuses 128-byte SQEs (IORING_SETUP_SQE128): this daemon needs Linux 5.19 or newer");
		break;
	case -ENOSYS:
		log_error("this kernel has no io_uring (CONFIG_IO_URING): this daemon needs Linux 5.19 or newer with io_uring");
		break;
	case -EPERM:
		log_error("io_uring is not allowed here (see /proc/sys/kernel/io_uring_disabled and the seccomp policy)");
		break;
	default:
		log_error("io_uring_setup failed: %s", strerror(-ret));
		break;
	}
	return ret;
}

static int run(struct export *exp)
{
	static struct init_result init;
	struct export_mount mnt;
	struct cpus possible;
	sigset_t signals;
	int ret, status = EXIT_FAILURE;

	block_signals(&signals);
	exp->main_thread = pthread_self();
	exp->dev_fd = -1;
	ret = cpus_read_list("/sys/devices/system/cpu/possible", &possible);
	if (ret < 0) {
		log_error("/sys/devices/system/cpu/possible: %s",
			  strerror(-ret));
		return EXIT_FAILURE;
	}
	exp->nr_queues = (unsigned int)ret;
	cpus_free(&possible);
	if (check_io_uring())
		return EXIT_FAILURE;
	if (trace_open(exp->opt.trace))
		return EXIT_FAILURE;
	/* Latency figures need both ends of every request timed. */
	if (exp->opt.stats)
		trace_requests_on = true;
	if (image_open(&exp->image, &exp->opt))
		return EXIT_FAILURE;
	if (mount_prepare(&mnt, exp->opt.mountpoint))
		goto out_image;
	if (daemon_pidfile_open(exp->opt.pidfile))
		goto out_release;
	exp->image.allow_other = want_allow_other(&exp->opt);
	exp->dev_fd = mount_export(&mnt, exp->opt.null_image ? "null" :
				   exp->opt.image, !exp->opt.writable,
				   exp->image.allow_other, exp->opt.max_io);
	if (exp->dev_fd < 0)
		goto out_release;
	if (negotiate(exp, &init))
		goto out_unmount;
	report_init(exp, &init);
	if (setup_queues(exp, &init))
		goto out_unmount;
	status = serve(exp, &mnt, &signals);
	ret = image_sync(&exp->image);
	if (ret) {
		log_error("%s: fdatasync failed: %s; writes may be lost",
			  exp->opt.image, strerror(-ret));
		status = EXIT_FAILURE;
	}
	if (exp->opt.stats)
		stats_print(stderr, exp);
	goto out_free;

out_unmount:
	mount_remove(&mnt);
	mount_abort(&mnt);
	queues_join(exp);
out_free:
	queues_free(exp);
	free(exp->qid_stats);
	close(exp->dev_fd);
out_release:
	mount_release(&mnt);
out_image:
	image_close(&exp->image);
	daemon_cleanup();
	trace_close();
	return status;
}

/*
 * A setuid or setgid install would open images and write files as its
 * owner for whoever runs it, with the real user's name on the mount:
 * refuse rather than guess which identity was meant.
 */
static bool runs_setid(void)
{
	uid_t ruid, euid, suid;
	gid_t rgid, egid, sgid;

	if (getresuid(&ruid, &euid, &suid) || getresgid(&rgid, &egid, &sgid))
		return true;
	if (ruid == euid && ruid == suid && rgid == egid && rgid == sgid)
		return false;
	log_error("runs set-user-ID or set-group-ID (real uid %u gid %u, effective uid %u gid %u): refusing; run it as the user who should own the export, or as root",
		  ruid, rgid, euid, egid);
	return true;
}

int main(int argc, char **argv)
{
	struct export exp;
	int status;

	if (runs_setid())
		return EXIT_FAILURE;
	memset(&exp, 0, sizeof(exp));
	status = cli_parse(argc, argv, &exp.opt);
	if (status != CLI_RUN)
		return status;
	signal(SIGPIPE, SIG_IGN);
	if (exp.opt.daemonize && daemon_detach())
		return EXIT_FAILURE;
	return run(&exp);
}
