// SPDX-License-Identifier: GPL-2.0
/*
 * Background load: pinned reader and writer children doing random block
 * I/O on an export until told to stop, counting in shared memory.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fue.h"

/* Background load. */

static void load_note_error(struct fue_load_child *c, int err)
{
	if (!c->first_err)
		__atomic_store_n(&c->first_err, err, __ATOMIC_RELAXED);
	__atomic_store_n(&c->last_err, err, __ATOMIC_RELAXED);
	__atomic_fetch_add(&c->errors, 1, __ATOMIC_RELAXED);
}

/* One load child's whole life; never returns. */
static void load_child(struct fue_load *l, struct fue_load_child *c,
		       unsigned int seed)
{
	long blocks = l->len / (off_t)l->bs, i;
	bool sync = c->writer && (l->flags & FUE_LOAD_SYNC);
	int flags = c->writer ? O_RDWR : O_RDONLY;
	cpu_set_t set;
	void *buf;
	int fd;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() == 1)
		_exit(0);
	CPU_ZERO(&set);
	CPU_SET(c->cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) ||
	    posix_memalign(&buf, 4096, l->bs)) {
		load_note_error(c, errno ? errno : ENOMEM);
		__atomic_store_n(&c->done, true, __ATOMIC_RELEASE);
		_exit(1);
	}
	if (!(l->flags & FUE_LOAD_BUFFERED))
		flags |= O_DIRECT;
	fd = open(l->path, flags | O_CLOEXEC);
	if (fd < 0 && errno == EINVAL && (flags & O_DIRECT))
		fd = open(l->path, (flags & ~O_DIRECT) | O_CLOEXEC);
	if (fd < 0) {
		load_note_error(c, errno);
		__atomic_store_n(&c->done, true, __ATOMIC_RELEASE);
		_exit(0);
	}
	__atomic_store_n(&c->started, true, __ATOMIC_RELEASE);
	for (i = 0; !__atomic_load_n(&l->stop, __ATOMIC_ACQUIRE); i++) {
		off_t off;
		ssize_t n;

		if (sync) {
			/* Each block once: a synced block has one content. */
			if (i >= c->share_len / (off_t)l->bs)
				break;
			off = c->share_off + i * (off_t)l->bs;
		} else {
			off = l->off + (off_t)(rand_r(&seed) % blocks) *
				       (off_t)l->bs;
		}
		if (c->writer) {
			fue_fill_pattern(buf, l->bs, off + l->shift);
			n = pwrite(fd, buf, l->bs, off);
			if (sync && n == (ssize_t)l->bs && fsync(fd))
				n = -1;
		} else {
			n = pread(fd, buf, l->bs, off);
			if (n == (ssize_t)l->bs &&
			    (l->flags & FUE_LOAD_VERIFY) &&
			    fue_check_pattern(buf, l->bs, off + l->shift) >= 0)
				__atomic_fetch_add(&c->bad, 1,
						   __ATOMIC_RELAXED);
		}
		if (n != (ssize_t)l->bs) {
			load_note_error(c, n < 0 ? errno : EIO);
			if (!(l->flags & FUE_LOAD_KEEP_GOING))
				break;
			continue;
		}
		__atomic_fetch_add(&c->ops, 1, __ATOMIC_RELAXED);
		if (sync)
			__atomic_fetch_add(&c->synced, 1, __ATOMIC_RELEASE);
	}
	__atomic_store_n(&c->done, true, __ATOMIC_RELEASE);
	close(fd);
	_exit(0);
}

struct fue_load *fue_load_start(const char *path, off_t off, off_t len,
				size_t bs, off_t shift, unsigned int flags)
{
	int cpus[FUE_LOAD_MAX], nr_cpus, nr_writers, nr_readers, i, r, w = 0;
	long long deadline;
	struct fue_load *l;

	if (!bs || len < (off_t)bs || bs % 512)
		return NULL;
	nr_readers = (flags & FUE_LOAD_DEEP) ? FUE_LOAD_DEEP_READERS : 1;
	nr_cpus = fue_online_cpus(cpus, FUE_LOAD_MAX / (nr_readers + 1));
	if (nr_cpus <= 0)
		return NULL;
	l = fue_shared_alloc(sizeof(*l));
	if (!l)
		return NULL;
	snprintf(l->path, sizeof(l->path), "%s", path);
	l->off = off;
	l->len = len;
	l->bs = bs;
	l->shift = shift;
	l->flags = flags;
	nr_writers = (flags & FUE_LOAD_WRITERS) ? nr_cpus : 0;
	for (i = 0; i < nr_cpus; i++) {
		for (r = 0; r < nr_readers; r++)
			l->c[l->nr++].cpu = cpus[i];
		if (!nr_writers)
			continue;
		l->c[l->nr].cpu = cpus[i];
		l->c[l->nr].writer = true;
		/* Synced writers get disjoint, block-aligned shares. */
		l->c[l->nr].share_len = len / nr_writers / (off_t)bs *
					(off_t)bs;
		l->c[l->nr].share_off = off + w++ * l->c[l->nr].share_len;
		l->nr++;
	}
	fflush(NULL);
	for (i = 0; i < l->nr; i++) {
		pid_t pid = fork();

		if (pid < 0) {
			l->nr = i;
			fue_load_free(l);
			return NULL;
		}
		if (pid == 0)
			load_child(l, &l->c[i],
				   (unsigned int)(getpid() * 7919 + i));
		l->c[i].pid = pid;
	}
	/*
	 * Return only once every child has the file open (or failed to):
	 * a test may detach the mount next, and a child opening after that
	 * would get the file underneath instead of the export.
	 */
	deadline = fue_now_ms() + FUE_START_TIMEOUT_MS;
	for (i = 0; i < l->nr; i++)
		while (!__atomic_load_n(&l->c[i].started, __ATOMIC_ACQUIRE) &&
		       !__atomic_load_n(&l->c[i].done, __ATOMIC_ACQUIRE) &&
		       fue_now_ms() < deadline)
			fue_sleep_ms(1);
	return l;
}

/* Sum one counter of every load child; @field is its offset in a child. */
static long load_sum(const struct fue_load *l, size_t field)
{
	long n = 0;
	int i;

	for (i = 0; i < l->nr; i++)
		n += __atomic_load_n((const long *)((const char *)&l->c[i] +
						    field), __ATOMIC_RELAXED);
	return n;
}

long fue_load_ops(const struct fue_load *l)
{
	return load_sum(l, offsetof(struct fue_load_child, ops));
}

long fue_load_errors(const struct fue_load *l)
{
	return load_sum(l, offsetof(struct fue_load_child, errors));
}

long fue_load_bad(const struct fue_load *l)
{
	return load_sum(l, offsetof(struct fue_load_child, bad));
}

bool fue_load_wait_ops(struct fue_load *l, long want, int timeout_ms)
{
	long long deadline = fue_now_ms() + timeout_ms;

	while (fue_load_ops(l) < want) {
		if (fue_now_ms() >= deadline)
			return false;
		fue_sleep_ms(5);
	}
	return true;
}

bool fue_load_wait(struct fue_load *l, int timeout_ms)
{
	long long deadline = fue_now_ms() + timeout_ms;
	bool all;
	int i;

	for (;;) {
		all = true;
		for (i = 0; i < l->nr; i++) {
			struct fue_load_child *c = &l->c[i];

			if (c->reaped)
				continue;
			if (waitpid(c->pid, &c->status, WNOHANG) == c->pid)
				c->reaped = true;
			else
				all = false;
		}
		if (all || fue_now_ms() >= deadline)
			return all;
		fue_sleep_ms(10);
	}
}

bool fue_load_stop(struct fue_load *l, int timeout_ms)
{
	bool clean;
	int i;

	if (!l)
		return true;
	__atomic_store_n(&l->stop, 1, __ATOMIC_RELEASE);
	clean = fue_load_wait(l, timeout_ms);
	if (clean)
		return true;
	for (i = 0; i < l->nr; i++)
		if (!l->c[i].reaped) {
			fue_log("load child %d (cpu %d) still running, killing it",
				l->c[i].pid, l->c[i].cpu);
			kill(l->c[i].pid, SIGKILL);
		}
	/* A child stuck in a FUSE request waits for its connection's end. */
	fue_load_wait(l, 5000);
	return false;
}

void fue_load_free(struct fue_load *l)
{
	if (!l)
		return;
	fue_load_stop(l, 0);
	fue_shared_free(l, sizeof(*l));
}
