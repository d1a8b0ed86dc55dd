// SPDX-License-Identifier: GPL-2.0
/*
 * What the kernel accepts, rejects and cleans up on FUSE-over-io_uring.
 *
 * No daemon: every case mounts a file-backed FUSE connection with mount(2),
 * answers FUSE_INIT itself and speaks raw /dev/fuse and io_uring, so that
 * it can send the commands and replies a well-behaved server never sends
 * and check the exact answer of fs/fuse/dev_uring.c.  Each failure names
 * the kernel function whose check is in question.
 *
 * Every case runs in its own mount namespace (the harness forks one child
 * a case), so a mount that outlives a crashed case dies with the child;
 * teardown still aborts the connection, unmounts and closes the ring.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/capability.h>

#include "fue_harness.h"

/*
 * The ring's uapi (7.42, and 7.46's pools and zero copy) from the
 * project's header, guarded so that a newer <linux/fuse.h> wins; in a
 * kernel tree the uapi header has it all.
 */
#if __has_include("fuse_abi.h")
#include "fuse_abi.h"
#else
#include <linux/fuse.h>
/* fuse_abi.h's names for the 7.46 layout, which this uapi has. */
#define fue_uring_cmd_req fuse_uring_cmd_req
#define fue_uring_ent_in_out fuse_uring_ent_in_out
#endif

/* 6.18: the mount waits for INIT; a device not yet mounted is -EPERM. */
#ifndef FUSE_DEV_IOC_SYNC_INIT
#define FUSE_DEV_IOC_SYNC_INIT	_IO(FUSE_DEV_IOC_MAGIC, 3)
#endif

#define URING_PARAM	"/sys/module/fuse/parameters/enable_uring"
#define FUSECTL		"/sys/fs/fuse/connections"

/* The INIT reply's minor: 7.42 brought FUSE_OVER_IO_URING. */
#define REPLY_MINOR	42

/* What INIT negotiates; the ring then wants max(8K, 64K, 64 pages). */
#define NEG_MAX_WRITE	(64 * 1024)
#define NEG_MAX_PAGES	64

/* Deadlines, in milliseconds. */
#define CQE_MS		3000	/* a CQE the kernel owes us */
#define QUIET_MS	250	/* how long "nothing happens" is watched */
#define CLIENT_MS	5000	/* a client's stat() */
#define UMOUNT_MS	5000
/*
 * Seconds a whole case may take: each wait above is bounded, and the sum
 * stays far below this even in a guest under TCG on a busy machine,
 * where the harness's 30 s default has cut cases short.
 */
#define CASE_S		120

/* File sizes a GETATTR reply carries: which transport answered. */
#define SIZE_RING	(3 * 4096)
#define SIZE_DEV	(5 * 4096)

#define MAX_QUEUES	64
#define MAX_ENTS	(2 * MAX_QUEUES + 8)
#define MAX_CLIENTS	(MAX_QUEUES + 4)

/* user_data of ring entries' commands; anything below is a one-off. */
#define TAG_ENT		0x1000
#define TAG_CMD		0x1

#define DEV_BUF_SIZE	(NEG_MAX_WRITE + 64 * 1024)

struct ent {
	struct fuse_uring_req_header *hdr;
	void *payload;
	size_t map_len;
	struct iovec iov[2];
	int qid;
	/* 7.46: its payload is lent from the queue's pool, at an offset. */
	bool pooled;
	/* 7.46: its zero-copy slot in the ring's registered buffers. */
	uint16_t slot;
};

struct client {
	pid_t pid;
	int fd;		/* read end: the result, 8 bytes */
	bool done;
	int64_t result;	/* st_size, or -errno */
};

FIXTURE(abi) {
	const char *skip;
	char dir[64];
	char mnt[96];
	char saved_param[8];
	bool param_touched;
	int dev;
	bool mounted;
	unsigned int conn;
	bool has_ring;
	struct io_uring ring;
	int nr_queues;
	int online[MAX_QUEUES];
	int nr_online;
	size_t payload_size;
	uint64_t offered;
	uint32_t kminor;
	uint64_t init_unique;
	uint32_t init_readahead;
	struct ent ents[MAX_ENTS];
	int nr_ents;
	struct client clients[MAX_CLIENTS];
	int nr_clients;
	char *buf;
	/* 7.46: each queue's buffer pool, pool_len bytes, or NULL. */
	char *pool[MAX_QUEUES];
	size_t pool_len;
};

/*
 * What this kernel does where kernels differ, probed once on a scratch
 * connection before the cases run (never from the version string: a
 * distribution may backport either way).  The cases assert the answer
 * that goes with what was found, and say which.
 */
#define HELD	1	/* a REGISTER accepted: no CQE until the ring stops */

static struct kernel_answers {
	/*
	 * REGISTER on a connection whose INIT did not grant the ring: HELD
	 * on 6.14 to 6.18, which check only "!enable_uring && !fc->io_uring";
	 * -EOPNOTSUPP from 7.2, whose fuse_uring_cmd() refuses every command
	 * while !fch->io_uring, which a refused REGISTER also clears.
	 */
	int grantless;
	/* FUSE_DEV_IOC_SYNC_INIT known (6.18+). */
	bool sync_init;
	/* 7.46: cmd_op 3 is ADD_QUEUE, 4 ADD_BUFPOOL. */
	bool queue_cmds;
	uint32_t minor;
} kern;

static bool strict_grant(void)
{
	return kern.grantless == -EOPNOTSUPP;
}

static const char *grant_found(void)
{
	return strict_grant() ? "strict grant check found (7.2+: !fch->io_uring refuses every command)" :
	       "no grant check found (6.14-6.18: !enable_uring && !fc->io_uring)";
}

/* Environment */

static const char *check_env(void)
{
	char val[8];

	if (geteuid() != 0)
		return "must run as root (mounts FUSE)";
	if (access("/dev/fuse", R_OK | W_OK))
		return "/dev/fuse is missing (CONFIG_FUSE_FS, modprobe fuse)";
	if (fue_read_word(URING_PARAM, val, sizeof(val)))
		return URING_PARAM " is absent (kernel without CONFIG_FUSE_IO_URING; the ring came with 6.14)";
	if (val[0] != 'Y' && fue_write_word(URING_PARAM, "Y"))
		return "enable_uring is N and cannot be set to Y";
	if (val[0] != 'Y')
		fue_write_word(URING_PARAM, val);
	return NULL;
}

/* The connection: mount, INIT, /dev/fuse */

static int find_conn(FIXTURE_DATA(abi) *self)
{
	return fue_mount_info(self->mnt, &self->conn, NULL, 0) > 0 ? 0 : -ENOENT;
}

static int conn_file(FIXTURE_DATA(abi) *self, const char *name,
		     const char *word, char *out, size_t len)
{
	char path[128];

	snprintf(path, sizeof(path), FUSECTL "/%u/%s", self->conn, name);
	return word ? fue_write_word(path, word) : fue_read_word(path, out, len);
}

static int mount_conn(FIXTURE_DATA(abi) *self)
{
	char opts[128];

	snprintf(opts, sizeof(opts),
		 "fd=%d,rootmode=100000,user_id=0,group_id=0", self->dev);
	if (mount("uring_abi", self->mnt, "fuse", MS_NOSUID | MS_NODEV, opts))
		return -errno;
	self->mounted = true;
	return find_conn(self);
}

/* Read one request from /dev/fuse into self->buf; bytes or -errno. */
static ssize_t dev_read(FIXTURE_DATA(abi) *self, int timeout_ms)
{
	struct pollfd pfd = { .fd = self->dev, .events = POLLIN };
	ssize_t n;
	int ret;

	ret = poll(&pfd, 1, timeout_ms);
	if (ret < 0)
		return -errno;
	if (ret == 0)
		return -ETIMEDOUT;
	n = read(self->dev, self->buf, DEV_BUF_SIZE);
	return n < 0 ? -errno : n;
}

static int read_init(FIXTURE_DATA(abi) *self)
{
	struct fuse_in_header *in = (struct fuse_in_header *)self->buf;
	struct fuse_init_in *arg = (struct fuse_init_in *)(in + 1);
	ssize_t n = dev_read(self, CQE_MS);

	if (n < 0)
		return (int)n;
	if ((size_t)n < sizeof(*in) + 16 || in->opcode != FUSE_INIT)
		return -EPROTO;
	self->init_unique = in->unique;
	self->kminor = arg->minor;
	self->init_readahead = arg->max_readahead;
	self->offered = arg->flags;
	if ((arg->flags & FUSE_INIT_EXT) &&
	    (size_t)n >= sizeof(*in) + sizeof(*arg))
		self->offered |= (uint64_t)arg->flags2 << 32;
	return 0;
}

/*
 * The payload fuse_uring_create() requires for what reply_init()
 * negotiates: max(FUSE_MIN_READ_BUFFER, max_write, max_pages pages).
 */
static size_t payload_need(void)
{
	size_t need = FUSE_MIN_READ_BUFFER;

	if (need < NEG_MAX_WRITE)
		need = NEG_MAX_WRITE;
	if (need < NEG_MAX_PAGES * (size_t)getpagesize())
		need = NEG_MAX_PAGES * (size_t)getpagesize();
	return need;
}

/* Answer INIT granting FUSE_MAX_PAGES, FUSE_INIT_EXT and what grant adds. */
static int reply_init(FIXTURE_DATA(abi) *self, uint64_t grant)
{
	struct {
		struct fuse_out_header h;
		struct fuse_init_out o;
	} r;
	uint64_t flags = FUSE_INIT_EXT | FUSE_MAX_PAGES | grant;

	memset(&r, 0, sizeof(r));
	r.h.len = sizeof(r);
	r.h.unique = self->init_unique;
	r.o.major = FUSE_KERNEL_VERSION;
	r.o.minor = REPLY_MINOR;
	r.o.max_readahead = self->init_readahead;
	r.o.flags = (uint32_t)flags;
	r.o.flags2 = (uint32_t)(flags >> 32);
	r.o.max_background = 16;
	r.o.congestion_threshold = 12;
	r.o.max_write = NEG_MAX_WRITE;
	r.o.time_gran = 1;
	r.o.max_pages = NEG_MAX_PAGES;
	if (write(self->dev, &r, sizeof(r)) != (ssize_t)sizeof(r))
		return -errno;
	self->payload_size = payload_need();
	return 0;
}

static void fill_attr(struct fuse_attr_out *a, uint64_t size)
{
	memset(a, 0, sizeof(*a));
	a->attr.ino = FUSE_ROOT_ID;
	a->attr.mode = S_IFREG | 0644;
	a->attr.nlink = 1;
	a->attr.size = size;
	a->attr.blksize = 4096;
}

/* Answer the GETATTR in self->buf over /dev/fuse with SIZE_DEV. */
static int dev_reply_getattr(FIXTURE_DATA(abi) *self)
{
	struct fuse_in_header *in = (struct fuse_in_header *)self->buf;
	struct {
		struct fuse_out_header h;
		struct fuse_attr_out a;
	} r;

	if (in->opcode != FUSE_GETATTR)
		return -EPROTO;
	fill_attr(&r.a, SIZE_DEV);
	r.h.len = sizeof(r);
	r.h.error = 0;
	r.h.unique = in->unique;
	if (write(self->dev, &r, sizeof(r)) != (ssize_t)sizeof(r))
		return -errno;
	return 0;
}

/* Clients: one stat() or I/O each, in a child, optionally pinned to a CPU */

/* What a client does; its result, st_size or -errno. */
typedef int64_t (*client_fn)(FIXTURE_DATA(abi) *self, int arg);

static int64_t client_stat(FIXTURE_DATA(abi) *self, int arg)
{
	struct statx stx;

	(void)arg;
	/* Force a GETATTR: a cached attribute proves nothing. */
	if (statx(AT_FDCWD, self->mnt, AT_STATX_FORCE_SYNC,
		  STATX_BASIC_STATS, &stx))
		return -errno;
	return (int64_t)stx.stx_size;
}

static int client_fork(FIXTURE_DATA(abi) *self, int cpu, client_fn fn,
		       int arg)
{
	struct client *c = &self->clients[self->nr_clients];
	int pfd[2];

	if (self->nr_clients >= MAX_CLIENTS || pipe2(pfd, O_CLOEXEC))
		return -1;
	c->pid = fork();
	if (c->pid < 0) {
		close(pfd[0]);
		close(pfd[1]);
		return -1;
	}
	if (c->pid == 0) {
		int64_t res;

		/* The server's descriptors must die with the server alone. */
		if (self->has_ring)
			close(self->ring.ring_fd);
		close(self->dev);
		close(pfd[0]);
		if (cpu >= 0) {
			cpu_set_t set;

			CPU_ZERO(&set);
			CPU_SET(cpu, &set);
			if (sched_setaffinity(0, sizeof(set), &set))
				_exit(2);
		}
		res = fn(self, arg);
		if (write(pfd[1], &res, sizeof(res)) != sizeof(res))
			_exit(3);
		_exit(0);
	}
	close(pfd[1]);
	c->fd = pfd[0];
	c->done = false;
	return self->nr_clients++;
}

static int client_start(FIXTURE_DATA(abi) *self, int cpu)
{
	return client_fork(self, cpu, client_stat, 0);
}

/* Wait for client i's result; 0, or -ETIMEDOUT while it still waits. */
static int client_wait(FIXTURE_DATA(abi) *self, int i, int timeout_ms)
{
	struct client *c = &self->clients[i];
	struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
	int status;

	if (c->done)
		return 0;
	if (poll(&pfd, 1, timeout_ms) <= 0)
		return -ETIMEDOUT;
	if (read(c->fd, &c->result, sizeof(c->result)) != sizeof(c->result))
		return -EPROTO;
	c->done = true;
	close(c->fd);
	c->fd = -1;
	waitpid(c->pid, &status, 0);
	c->pid = 0;
	return 0;
}

static void clients_kill(FIXTURE_DATA(abi) *self)
{
	int i, status;

	for (i = 0; i < self->nr_clients; i++) {
		struct client *c = &self->clients[i];

		if (c->pid > 0) {
			kill(c->pid, SIGKILL);
			/* A client stuck in FUSE dies once the abort lands. */
			fue_wait_pid(c->pid, &status, 3000);
			c->pid = 0;
		}
		if (c->fd >= 0)
			close(c->fd);
		c->fd = -1;
	}
	self->nr_clients = 0;
}

/* The ring */

static int ring_init(FIXTURE_DATA(abi) *self)
{
	int ret = io_uring_queue_init(64, &self->ring, IORING_SETUP_SQE128);

	if (ret)
		return ret;
	self->has_ring = true;
	/* Forked clients must not keep the ring alive through its maps. */
	return io_uring_ring_dontfork(&self->ring);
}

static int ent_new(FIXTURE_DATA(abi) *self, int qid, size_t payload_len)
{
	size_t page = (size_t)getpagesize();
	struct ent *e;
	char *map;

	if (self->nr_ents >= MAX_ENTS)
		return -1;
	e = &self->ents[self->nr_ents];
	e->map_len = page + payload_len + page;
	map = mmap(NULL, e->map_len, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (map == MAP_FAILED)
		return -1;
	e->hdr = (struct fuse_uring_req_header *)map;
	e->payload = map + page;
	e->iov[0].iov_base = e->hdr;
	e->iov[0].iov_len = sizeof(*e->hdr);
	e->iov[1].iov_base = e->payload;
	e->iov[1].iov_len = payload_len;
	e->qid = qid;
	return self->nr_ents++;
}

/* A zeroed 128-byte SQE for a FUSE command, its cmd area filled in. */
static struct io_uring_sqe *cmd_sqe(struct io_uring *ring, int fd,
				    uint32_t op, uint64_t tag, bool sqe128)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);

	if (!sqe)
		return NULL;
	memset(sqe, 0, sqe128 ? 128 : 64);
	sqe->opcode = IORING_OP_URING_CMD;
	sqe->fd = fd;
	sqe->cmd_op = op;
	sqe->user_data = tag;
	return sqe;
}

static struct fuse_uring_cmd_req *cmd_req(struct io_uring_sqe *sqe)
{
	return (struct fuse_uring_cmd_req *)sqe->cmd;
}

/* REGISTER entry i with its own qid and iovecs. */
static int submit_register(FIXTURE_DATA(abi) *self, int i)
{
	struct ent *e = &self->ents[i];
	struct io_uring_sqe *sqe;

	sqe = cmd_sqe(&self->ring, self->dev, FUSE_IO_URING_CMD_REGISTER,
		      TAG_ENT + i, true);
	if (!sqe)
		return -EBUSY;
	cmd_req(sqe)->qid = (uint16_t)e->qid;
	/* Past the 24 bytes older kernels read: they ignore it. */
	((struct fue_uring_cmd_req *)sqe->cmd)->ent_zero_copy_buf_index =
		e->slot;
	sqe->addr = (uintptr_t)e->iov;
	sqe->len = 2;
	return io_uring_submit(&self->ring) == 1 ? 0 : -EIO;
}

static int submit_commit_on(struct io_uring *ring, int dev, uint64_t tag,
			    int qid, uint64_t commit_id)
{
	struct io_uring_sqe *sqe;

	sqe = cmd_sqe(ring, dev, FUSE_IO_URING_CMD_COMMIT_AND_FETCH, tag,
		      true);
	if (!sqe)
		return -EBUSY;
	cmd_req(sqe)->qid = (uint16_t)qid;
	cmd_req(sqe)->commit_id = commit_id;
	return io_uring_submit(ring) == 1 ? 0 : -EIO;
}

static int submit_commit(FIXTURE_DATA(abi) *self, uint64_t tag, int qid,
			 uint64_t commit_id)
{
	return submit_commit_on(&self->ring, self->dev, tag, qid, commit_id);
}

/*
 * Where entry e's payload is: its own buffer, or on a pool queue (7.46)
 * the buffer the kernel lent it, at the offset it wrote into the entry.
 */
static void *ent_payload(FIXTURE_DATA(abi) *self, struct ent *e)
{
	const struct fue_uring_ent_in_out *io =
		(const void *)&e->hdr->ring_ent_in_out;

	if (!e->pooled)
		return e->payload;
	return self->pool[e->qid] + io->offset;
}

/* Next CQE within timeout_ms: 0 with *tag and *res, or -ETIMEDOUT. */
static int next_cqe(struct io_uring *ring, int timeout_ms, uint64_t *tag,
		    int *res)
{
	struct __kernel_timespec ts = {
		.tv_sec = timeout_ms / 1000,
		.tv_nsec = (timeout_ms % 1000) * 1000000LL,
	};
	struct io_uring_cqe *cqe;
	int ret;

	do {
		ret = io_uring_wait_cqe_timeout(ring, &cqe, &ts);
	} while (ret == -EINTR);
	if (ret == -ETIME)
		return -ETIMEDOUT;
	if (ret)
		return ret;
	*tag = cqe->user_data;
	*res = cqe->res;
	io_uring_cqe_seen(ring, cqe);
	return 0;
}

/*
 * The result of the one-off command tagged tag.  Returns INT_MIN when no
 * CQE came, INT_MIN + 1 when a CQE of something else came first.
 */
#define NO_CQE		INT_MIN
#define OTHER_CQE	(INT_MIN + 1)

static int cmd_result(struct io_uring *ring, uint64_t want)
{
	uint64_t tag;
	int res;

	if (next_cqe(ring, CQE_MS, &tag, &res)) {
		fprintf(stderr, "# no CQE within %d ms: the command was accepted and is held\n",
			CQE_MS);
		return NO_CQE;
	}
	if (tag != want) {
		fprintf(stderr, "# unexpected CQE tag %#llx res %d\n",
			(unsigned long long)tag, res);
		return OTHER_CQE;
	}
	return res;
}

/* Register one entry on every queue and see that none is refused. */
static int register_all(FIXTURE_DATA(abi) *self, int depth)
{
	uint64_t tag;
	int q, d, i, res;

	for (q = 0; q < self->nr_queues; q++) {
		for (d = 0; d < depth; d++) {
			i = ent_new(self, q, self->payload_size);
			if (i < 0 || submit_register(self, i))
				return -ENOMEM;
		}
	}
	/* An accepted REGISTER stays queued: no CQE is the answer. */
	if (next_cqe(&self->ring, QUIET_MS, &tag, &res) == 0) {
		fprintf(stderr, "# REGISTER tag %#llx completed with %d\n",
			(unsigned long long)tag, res);
		return res ? res : -EPROTO;
	}
	return 0;
}

/* How a ring reply is built; zero means "correct". */
struct reply_fault {
	int error;
	bool bad_error;		/* use error even if 0 */
	int64_t unique_delta;
	bool unique_zero;
	bool set_payload_sz;
	uint32_t payload_sz;
};

/*
 * Wait for a request on any entry, check it is a GETATTR, answer it as
 * told and commit.  *ent_out is the entry it came on.  0 or -errno.
 */
static int ring_serve(FIXTURE_DATA(abi) *self, const struct reply_fault *f,
		      int *ent_out, uint64_t *commit_out)
{
	struct fuse_in_header *in;
	struct fuse_out_header *out;
	struct ent *e;
	uint64_t tag, commit_id, unique;
	int res, i, ret;

	ret = next_cqe(&self->ring, CQE_MS, &tag, &res);
	if (ret)
		return ret;
	if (tag < TAG_ENT || tag >= TAG_ENT + (uint64_t)self->nr_ents) {
		fprintf(stderr, "# CQE of tag %#llx res %d, not an entry\n",
			(unsigned long long)tag, res);
		return -EPROTO;
	}
	i = (int)(tag - TAG_ENT);
	if (ent_out)
		*ent_out = i;
	if (res) {
		fprintf(stderr, "# entry %d completed with %d\n", i, res);
		return res;
	}
	e = &self->ents[i];
	in = (struct fuse_in_header *)e->hdr->in_out;
	commit_id = e->hdr->ring_ent_in_out.commit_id;
	if (commit_out)
		*commit_out = commit_id;
	if (in->opcode != FUSE_GETATTR) {
		fprintf(stderr, "# opcode %u over the ring\n", in->opcode);
		return -EPROTO;
	}
	unique = in->unique;
	fill_attr(ent_payload(self, e), SIZE_RING);
	out = (struct fuse_out_header *)e->hdr->in_out;
	out->len = sizeof(*out) + sizeof(struct fuse_attr_out);
	out->error = f && (f->error || f->bad_error) ? f->error : 0;
	out->unique = unique;
	if (f && f->unique_zero)
		out->unique = 0;
	else if (f)
		out->unique = unique + f->unique_delta;
	e->hdr->ring_ent_in_out.payload_sz = f && f->set_payload_sz ?
		f->payload_sz : sizeof(struct fuse_attr_out);
	return submit_commit(self, tag, e->qid, commit_id);
}

/* Fixture */

/*
 * What every connection needs: enable_uring=Y (the old value kept), a
 * mount point in a mount namespace of this process's own, so that a
 * mount dies with it, fusectl, a buffer and a /dev/fuse.  NULL, or why
 * not.
 */
static const char *env_open(FIXTURE_DATA(abi) *self)
{
	int fd;

	self->nr_queues = fue_possible_cpus();
	self->nr_online = fue_online_cpus(self->online, MAX_QUEUES);
	if (self->nr_queues <= 0 || self->nr_queues > MAX_QUEUES ||
	    self->nr_online <= 0)
		return "cannot read the possible and online CPUs, or more than 64";
	if (fue_read_word(URING_PARAM, self->saved_param,
			  sizeof(self->saved_param)))
		return "cannot read " URING_PARAM;
	self->param_touched = true;
	if (fue_write_word(URING_PARAM, "Y"))
		return "cannot set enable_uring";

	snprintf(self->dir, sizeof(self->dir), "/tmp/uring_abi.XXXXXX");
	if (!mkdtemp(self->dir)) {
		self->dir[0] = '\0';
		return "cannot make a directory in /tmp";
	}
	snprintf(self->mnt, sizeof(self->mnt), "%s/mnt", self->dir);
	fd = open(self->mnt, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	if (fd < 0)
		return "cannot make the mount point";
	close(fd);

	if (unshare(CLONE_NEWNS) ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL))
		return "cannot make a private mount namespace";
	if (access(FUSECTL "/", F_OK) == 0 &&
	    mount("fusectl", FUSECTL, "fusectl", 0, NULL) && errno != EBUSY)
		fprintf(stderr, "# cannot mount fusectl: %s\n", strerror(errno));

	self->buf = malloc(DEV_BUF_SIZE);
	if (!self->buf)
		return "out of memory";
	self->dev = open("/dev/fuse", O_RDWR | O_CLOEXEC);
	if (self->dev < 0)
		return "cannot open /dev/fuse";
	return NULL;
}

/*
 * End the connection: abort first (it releases clients stuck in a
 * request), unmount, close the ring and /dev/fuse, unmap the entries.
 */
static void conn_close(FIXTURE_DATA(abi) *self)
{
	int i, status;
	pid_t pid;

	if (self->mounted && fue_conn_exists(self->conn))
		conn_file(self, "abort", "1", NULL, 0);
	clients_kill(self);
	if (self->mounted) {
		/* A bounded child, as umount(2) waits for the ring to stop. */
		pid = fork();
		if (pid == 0)
			_exit(umount2(self->mnt, MNT_DETACH) ? 1 : 0);
		if (pid > 0 && fue_wait_pid(pid, &status, UMOUNT_MS) != 1)
			fprintf(stderr, "# umount of %s did not finish\n",
				self->mnt);
		self->mounted = false;
	}
	if (self->has_ring)
		io_uring_queue_exit(&self->ring);
	self->has_ring = false;
	if (self->dev >= 0)
		close(self->dev);
	self->dev = -1;
	for (i = 0; i < self->nr_ents; i++)
		munmap(self->ents[i].hdr, self->ents[i].map_len);
	self->nr_ents = 0;
	for (i = 0; i < MAX_QUEUES; i++) {
		if (self->pool[i])
			munmap(self->pool[i], self->pool_len);
		self->pool[i] = NULL;
	}
}

static void env_close(FIXTURE_DATA(abi) *self)
{
	conn_close(self);
	free(self->buf);
	self->buf = NULL;
	if (self->param_touched)
		fue_write_word(URING_PARAM, self->saved_param);
	if (self->dir[0]) {
		unlink(self->mnt);
		rmdir(self->dir);
	}
}

FIXTURE_SETUP(abi)
{
	const char *why;

	self->dev = -1;
	self->skip = check_env();
	if (self->skip)
		return;
	why = env_open(self);
	ASSERT_EQ(NULL, why)
		TH_LOG("%s", why);
}

FIXTURE_TEARDOWN(abi)
{
	env_close(self);
}

/* Mount, read INIT, answer it granting grant, set up a ring. */
#define START(grant) do { \
	ASSERT_EQ(0, mount_conn(self)); \
	ASSERT_EQ(0, read_init(self)); \
	ASSERT_EQ(0, reply_init(self, grant)); \
	ASSERT_EQ(0, ring_init(self)); \
} while (0)

/*
 * A connection of its own for what follows: since 7.2 a refused REGISTER
 * leaves the connection refusing every command, which would decide the
 * next check instead of the kernel's check in question.
 */
#define RESTART(grant) do { \
	conn_close(self); \
	self->dev = open("/dev/fuse", O_RDWR | O_CLOEXEC); \
	ASSERT_LE(0, self->dev); \
	START(grant); \
} while (0)

/* A client's stat() is answered over /dev/fuse: the ring is not in use. */
static void serves_over_dev(struct __test_metadata *_metadata,
			    FIXTURE_DATA(abi) *self)
{
	int c = client_start(self, -1);
	ssize_t n;

	ASSERT_LE(0, c);
	n = dev_read(self, CQE_MS);
	ASSERT_LT(0, n) TH_LOG("no request on /dev/fuse: %zd", n);
	ASSERT_EQ(0, dev_reply_getattr(self));
	ASSERT_EQ(0, client_wait(self, c, CLIENT_MS));
	EXPECT_EQ(SIZE_DEV, self->clients[c].result)
		TH_LOG("the /dev/fuse reply did not reach the client");
}

/* A client's stat() is answered over the ring, on whatever queue. */
static void serves_over_ring(struct __test_metadata *_metadata,
			     FIXTURE_DATA(abi) *self)
{
	int c = client_start(self, -1);

	ASSERT_LE(0, c);
	ASSERT_EQ(0, ring_serve(self, NULL, NULL, NULL))
		TH_LOG("fuse_uring_queue_fuse_req(): no request over the ring");
	ASSERT_EQ(0, client_wait(self, c, CLIENT_MS));
	EXPECT_EQ(SIZE_RING, self->clients[c].result)
		TH_LOG("fuse_uring_commit(): the ring reply did not reach the client");
}

/* Register every queue, then a request must come over the ring. */
static void ring_becomes_usable(struct __test_metadata *_metadata,
				FIXTURE_DATA(abi) *self)
{
	ASSERT_EQ(0, register_all(self, 1))
		TH_LOG("fuse_uring_register() refused a well-formed REGISTER");
	serves_over_ring(_metadata, self);
}

/* One bad REGISTER SQE built by the caller: its CQE result. */
static int bad_register(FIXTURE_DATA(abi) *self, int qid, struct iovec *iov,
			unsigned int nr_iov)
{
	struct io_uring_sqe *sqe;

	sqe = cmd_sqe(&self->ring, self->dev, FUSE_IO_URING_CMD_REGISTER,
		      TAG_CMD, true);
	if (!sqe)
		return NO_CQE;
	cmd_req(sqe)->qid = (uint16_t)qid;
	sqe->addr = (uintptr_t)iov;
	sqe->len = nr_iov;
	if (io_uring_submit(&self->ring) != 1)
		return NO_CQE;
	return cmd_result(&self->ring, TAG_CMD);
}

/* REGISTER */

/*
 * fuse_uring_cmd() refuses every command until the INIT reply has set
 * fc->initialized: the ring is sized from what INIT negotiated.
 */
TEST_F_TIMEOUT(abi, register_before_init_reply, CASE_S)
{
	struct iovec iov[2];
	int i;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_EQ(0, mount_conn(self));
	ASSERT_EQ(0, read_init(self));
	EXPECT_TRUE(self->offered & FUSE_OVER_IO_URING)
		TH_LOG("fuse_send_init(): enable_uring=Y must offer FUSE_OVER_IO_URING");
	ASSERT_EQ(0, ring_init(self));
	i = ent_new(self, 0, payload_need());
	ASSERT_LE(0, i);
	memcpy(iov, self->ents[i].iov, sizeof(iov));
	EXPECT_EQ(-EAGAIN, bad_register(self, 0, iov, 2))
		TH_LOG("fuse_uring_cmd(): REGISTER before the INIT reply (!fc->initialized)");
	ASSERT_EQ(0, reply_init(self, FUSE_OVER_IO_URING));
	/* Refused before the command switch: the connection keeps the ring. */
	ring_becomes_usable(_metadata, self);
}

/* A well-formed REGISTER of a new entry on qid 0: its CQE result. */
static int good_register(FIXTURE_DATA(abi) *self)
{
	struct iovec iov[2];
	int i = ent_new(self, 0, self->payload_size);

	if (i < 0)
		return NO_CQE;
	memcpy(iov, self->ents[i].iov, sizeof(iov));
	return bad_register(self, 0, iov, 2);
}

/*
 * After a refused REGISTER: fuse_uring_cmd() cleared fc->io_uring, so
 * requests go to /dev/fuse.  With the strict grant check (7.2+) every
 * later command of the connection is refused too; 6.14 to 6.18 let a later
 * REGISTER in (register_short_payload checks that it then works).
 */
static void after_refused_register(struct __test_metadata *_metadata,
				   FIXTURE_DATA(abi) *self)
{
	if (strict_grant())
		EXPECT_EQ(-EOPNOTSUPP, good_register(self))
			TH_LOG("fuse_uring_cmd(): %s, yet a REGISTER after a refused one was not refused",
			       grant_found());
	serves_over_dev(_metadata, self);
}

/*
 * INIT did not grant FUSE_OVER_IO_URING, enable_uring=Y.  6.14 to 6.18
 * accept REGISTER anyway: fuse_uring_cmd() refuses only when
 * "!enable_uring && !fc->io_uring", nothing checks the grant itself, and
 * once every queue has an entry fuse_uring_do_register() switches the
 * connection's requests to the ring.  7.2 refuses every command while
 * !fch->io_uring with -EOPNOTSUPP.  The probe found which; this case must
 * give the same answer and the requests go where it says.
 */
TEST_F_TIMEOUT(abi, register_without_grant, CASE_S)
{
	if (self->skip)
		SKIP(return, "%s", self->skip);
	START(0);
	if (kern.grantless == HELD) {
		TH_LOG("%s: REGISTER accepted, the ring serves", grant_found());
		ring_becomes_usable(_metadata, self);
		return;
	}
	EXPECT_EQ(kern.grantless, good_register(self))
		TH_LOG("fuse_uring_cmd(): REGISTER without the grant, answered %d in the probe",
		       kern.grantless);
	ASSERT_EQ(-EOPNOTSUPP, kern.grantless)
		TH_LOG("fuse_uring_cmd(): REGISTER without the grant answered %d: neither accepted (6.14-6.18) nor -EOPNOTSUPP (7.2+)",
		       kern.grantless);
	TH_LOG("%s: REGISTER refused, /dev/fuse serves", grant_found());
	serves_over_dev(_metadata, self);
}

/*
 * A /dev/fuse that no mount uses has no connection: fuse_uring_cmd()
 * fails at fuse_get_dev().  Kernels without FUSE_DEV_IOC_SYNC_INIT answer
 * -ENOTCONN ("No fuse device found"); with it (6.18+) fuse_get_dev()
 * returns ERR_PTR(-EPERM) for a device not yet installed whose opener did
 * not ask for a synchronous INIT, passed on as is.
 */
TEST_F_TIMEOUT(abi, register_unmounted_dev, CASE_S)
{
	int want = kern.sync_init ? -EPERM : -ENOTCONN;
	struct io_uring_sqe *sqe;
	int fd, i;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_EQ(0, ring_init(self));
	i = ent_new(self, 0, payload_need());
	ASSERT_LE(0, i);
	fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, fd);
	sqe = cmd_sqe(&self->ring, fd, FUSE_IO_URING_CMD_REGISTER, TAG_CMD,
		      true);
	ASSERT_NE(NULL, sqe);
	sqe->addr = (uintptr_t)self->ents[i].iov;
	sqe->len = 2;
	ASSERT_EQ(1, io_uring_submit(&self->ring));
	EXPECT_EQ(want, cmd_result(&self->ring, TAG_CMD))
		TH_LOG("fuse_uring_cmd(): fuse_get_dev() on an unmounted /dev/fuse, FUSE_DEV_IOC_SYNC_INIT %s",
		       kern.sync_init ? "found (6.18+: -EPERM)" :
					"not found (-ENOTCONN)");
	close(fd);
}

/*
 * enable_uring=N when the connection was made: INIT does not offer the
 * ring and fuse_uring_cmd() answers -EOPNOTSUPP.
 */
TEST_F_TIMEOUT(abi, register_with_param_off, CASE_S)
{
	struct iovec iov[2];
	int i;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_EQ(0, fue_write_word(URING_PARAM, "N"));
	ASSERT_EQ(0, mount_conn(self));
	ASSERT_EQ(0, read_init(self));
	EXPECT_FALSE(self->offered & FUSE_OVER_IO_URING)
		TH_LOG("fuse_send_init(): enable_uring=N must not offer FUSE_OVER_IO_URING");
	/* Ask for it anyway: process_init_reply() must not grant it. */
	ASSERT_EQ(0, reply_init(self, FUSE_OVER_IO_URING));
	ASSERT_EQ(0, ring_init(self));
	i = ent_new(self, 0, self->payload_size);
	ASSERT_LE(0, i);
	memcpy(iov, self->ents[i].iov, sizeof(iov));
	EXPECT_EQ(-EOPNOTSUPP, bad_register(self, 0, iov, 2))
		TH_LOG("fuse_uring_cmd(): REGISTER with enable_uring=N on a connection without the ring");
	serves_over_dev(_metadata, self);
}

/*
 * enable_uring=N after INIT granted the ring: a connection that has the
 * ring keeps it (6.14's "prevent disabling io-uring on active
 * connections"), so REGISTER still works.
 */
TEST_F_TIMEOUT(abi, param_off_after_init, CASE_S)
{
	if (self->skip)
		SKIP(return, "%s", self->skip);
	START(FUSE_OVER_IO_URING);
	ASSERT_EQ(0, fue_write_word(URING_PARAM, "N"));
	ring_becomes_usable(_metadata, self);
}

/*
 * A qid past the last possible CPU: fuse_uring_register() -EINVAL.  Each
 * bad qid on a connection of its own (see RESTART).
 */
TEST_F_TIMEOUT(abi, register_bad_qid, CASE_S)
{
	static const int bad[] = { -1, 0xffff };	/* -1: possible CPUs */
	struct iovec iov[2];
	unsigned int k;
	int i, qid;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	START(FUSE_OVER_IO_URING);
	for (k = 0; k < ARRAY_SIZE(bad); k++) {
		if (k)
			RESTART(FUSE_OVER_IO_URING);
		qid = bad[k] < 0 ? self->nr_queues : bad[k];
		i = ent_new(self, 0, self->payload_size);
		ASSERT_LE(0, i);
		memcpy(iov, self->ents[i].iov, sizeof(iov));
		EXPECT_EQ(-EINVAL, bad_register(self, qid, iov, 2))
			TH_LOG("fuse_uring_register(): qid %d with %d possible CPUs",
			       qid, self->nr_queues);
		/* A failed REGISTER clears fc->io_uring: back to /dev/fuse. */
		after_refused_register(_metadata, self);
	}
}

/*
 * sqe->len must be 2: fuse_uring_get_iovec_from_sqe() -EINVAL.  Each
 * count on a connection of its own.
 */
TEST_F_TIMEOUT(abi, register_iovec_count, CASE_S)
{
	static const unsigned int counts[] = { 1, 3, 0 };
	struct iovec iov[3];
	unsigned int k;
	int i;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	START(FUSE_OVER_IO_URING);
	for (k = 0; k < ARRAY_SIZE(counts); k++) {
		if (k)
			RESTART(FUSE_OVER_IO_URING);
		i = ent_new(self, 0, self->payload_size);
		ASSERT_LE(0, i);
		memcpy(iov, self->ents[i].iov, 2 * sizeof(iov[0]));
		iov[2] = iov[1];
		EXPECT_EQ(-EINVAL, bad_register(self, 0, iov, counts[k]))
			TH_LOG("fuse_uring_get_iovec_from_sqe(): %u iovecs",
			       counts[k]);
		after_refused_register(_metadata, self);
	}
}

/* iov[0] shorter than the 288-byte header: fuse_uring_create_ring_ent(). */
TEST_F_TIMEOUT(abi, register_short_header, CASE_S)
{
	struct iovec iov[2];
	int i;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	START(FUSE_OVER_IO_URING);
	i = ent_new(self, 0, self->payload_size);
	ASSERT_LE(0, i);
	memcpy(iov, self->ents[i].iov, sizeof(iov));
	iov[0].iov_len = sizeof(struct fuse_uring_req_header) - 1;
	EXPECT_EQ(-EINVAL, bad_register(self, 0, iov, 2))
		TH_LOG("fuse_uring_create_ring_ent(): header of %zu bytes",
		       iov[0].iov_len);
	after_refused_register(_metadata, self);
}

/*
 * iov[1] shorter than max(FUSE_MIN_READ_BUFFER, max_write, max_pages *
 * PAGE_SIZE): fuse_uring_create_ring_ent() -EINVAL.  A payload of exactly
 * that size is then accepted and carries requests: on the same connection
 * where the kernel has no grant check (6.14-6.18), on a new one where a
 * refusal ends the ring (7.2+).
 */
TEST_F_TIMEOUT(abi, register_short_payload, CASE_S)
{
	size_t bad[2];
	struct iovec iov[2];
	unsigned int k;
	int i;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	START(FUSE_OVER_IO_URING);
	bad[0] = self->payload_size - 1;
	/* Sized from max_write alone, forgetting max_pages. */
	bad[1] = NEG_MAX_WRITE;
	for (k = 0; k < ARRAY_SIZE(bad); k++) {
		if (k)
			RESTART(FUSE_OVER_IO_URING);
		i = ent_new(self, 0, self->payload_size);
		ASSERT_LE(0, i);
		memcpy(iov, self->ents[i].iov, sizeof(iov));
		iov[1].iov_len = bad[k];
		EXPECT_EQ(-EINVAL, bad_register(self, 0, iov, 2))
			TH_LOG("fuse_uring_create_ring_ent(): payload %zu < %zu",
			       iov[1].iov_len, self->payload_size);
		after_refused_register(_metadata, self);
	}
	if (strict_grant())
		RESTART(FUSE_OVER_IO_URING);
	TH_LOG("%s: the exact size registered on %s connection", grant_found(),
	       strict_grant() ? "a new" : "the same");
	ring_becomes_usable(_metadata, self);
}

/* A ring without IORING_SETUP_SQE128: fuse_uring_cmd() -EINVAL. */
TEST_F_TIMEOUT(abi, no_sqe128, CASE_S)
{
	struct io_uring small;
	struct io_uring_sqe *sqe;
	struct iovec iov[2];
	int i, op;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	START(FUSE_OVER_IO_URING);
	i = ent_new(self, 0, self->payload_size);
	ASSERT_LE(0, i);
	memcpy(iov, self->ents[i].iov, sizeof(iov));
	ASSERT_EQ(0, io_uring_queue_init(8, &small, 0));
	for (op = FUSE_IO_URING_CMD_REGISTER;
	     op <= FUSE_IO_URING_CMD_COMMIT_AND_FETCH; op++) {
		/* 64-byte SQE: the 16-byte cmd area stays zero. */
		sqe = cmd_sqe(&small, self->dev, op, TAG_CMD, false);
		ASSERT_NE(NULL, sqe);
		if (op == FUSE_IO_URING_CMD_REGISTER) {
			sqe->addr = (uintptr_t)iov;
			sqe->len = 2;
		}
		ASSERT_EQ(1, io_uring_submit(&small));
		EXPECT_EQ(-EINVAL, cmd_result(&small, TAG_CMD))
			TH_LOG("fuse_uring_cmd(): cmd_op %d without IO_URING_F_SQE128",
			       op);
	}
	io_uring_queue_exit(&small);
	/* Refused before the command switch: the ring stays negotiated. */
	ring_becomes_usable(_metadata, self);
}

/*
 * A cmd_op no kernel defines (0 is FUSE_IO_URING_CMD_INVALID; 7.46 took
 * 3 and 4): fuse_uring_cmd()'s default case, -EINVAL, and the ring stays
 * negotiated.
 */
TEST_F_TIMEOUT(abi, unknown_command, CASE_S)
{
	static const uint32_t ops[] = {
		FUSE_IO_URING_CMD_INVALID, 0xff00, 0x80000001u,
	};
	struct io_uring_sqe *sqe;
	unsigned int k;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	START(FUSE_OVER_IO_URING);
	for (k = 0; k < ARRAY_SIZE(ops); k++) {
		sqe = cmd_sqe(&self->ring, self->dev, ops[k], TAG_CMD, true);
		ASSERT_NE(NULL, sqe);
		ASSERT_EQ(1, io_uring_submit(&self->ring));
		EXPECT_EQ(-EINVAL, cmd_result(&self->ring, TAG_CMD))
			TH_LOG("fuse_uring_cmd(): unknown cmd_op %#x", ops[k]);
	}
	ring_becomes_usable(_metadata, self);
}

/* A queue command (ADD_QUEUE, ADD_BUFPOOL) on qid: its CQE result. */
static int queue_cmd_on(struct io_uring *ring, int dev, uint32_t op, int qid,
			uint64_t flags, const void *pool, uint32_t pool_len,
			uint32_t reserved)
{
	struct fue_uring_cmd_req *req;
	struct io_uring_sqe *sqe;

	sqe = cmd_sqe(ring, dev, op, TAG_CMD, true);
	if (!sqe)
		return NO_CQE;
	req = (struct fue_uring_cmd_req *)sqe->cmd;
	req->qid = (uint16_t)qid;
	req->flags = flags;
	req->bufpool.uaddr = (uintptr_t)pool;
	req->bufpool.len = pool_len;
	req->bufpool.reserved = reserved;
	if (io_uring_submit(ring) != 1)
		return NO_CQE;
	return cmd_result(ring, TAG_CMD);
}

static int queue_cmd(FIXTURE_DATA(abi) *self, uint32_t op, int qid,
		     uint64_t flags, const void *pool, uint32_t pool_len,
		     uint32_t reserved)
{
	return queue_cmd_on(&self->ring, self->dev, op, qid, flags, pool,
			    pool_len, reserved);
}

/*
 * cmd_op 3 and 4.  A kernel of 7.46 (INIT minor 46, or it offers
 * FUSE_HAS_IO_URING_BUFPOOL) knows them as ADD_QUEUE and ADD_BUFPOOL, and
 * a queue added before its entries takes entries of their own buffers as
 * before; their rules are the add_queue_*, add_bufpool_* and register_*
 * cases below.  Older kernels refuse both as unknown, -EINVAL.
 */
TEST_F_TIMEOUT(abi, queue_commands, CASE_S)
{
	int op, q;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	START(FUSE_OVER_IO_URING);
	if (!kern.queue_cmds) {
		TH_LOG("FUSE 7.%u without FUSE_HAS_IO_URING_BUFPOOL: cmd_op 3 and 4 are unknown",
		       kern.minor);
		for (op = 3; op <= 4; op++)
			EXPECT_EQ(-EINVAL, queue_cmd(self, op, 0, 0, NULL, 0, 0))
				TH_LOG("fuse_uring_cmd(): FUSE 7.%u, no FUSE_HAS_IO_URING_BUFPOOL: cmd_op %d must be unknown",
				       kern.minor, op);
		ring_becomes_usable(_metadata, self);
		return;
	}
	TH_LOG("FUSE 7.%u with FUSE_HAS_IO_URING_BUFPOOL %s: cmd_op 3 is ADD_QUEUE, 4 ADD_BUFPOOL",
	       kern.minor, self->offered & FUSE_HAS_IO_URING_BUFPOOL ?
	       "offered" : "not offered");
	EXPECT_TRUE(self->offered & FUSE_HAS_IO_URING_BUFPOOL)
		TH_LOG("fuse_send_init(): ADD_BUFPOOL known but FUSE_HAS_IO_URING_BUFPOOL not offered");
	for (q = 0; q < self->nr_queues; q++)
		ASSERT_EQ(0, queue_cmd(self, FUSE_IO_URING_CMD_ADD_QUEUE, q, 0,
				       NULL, 0, 0))
			TH_LOG("fuse_uring_add_queue(): queue %d", q);
	ring_becomes_usable(_metadata, self);
}

/* 7.46: ADD_QUEUE, ADD_BUFPOOL, zero copy */

/*
 * scripts/vm-tests accepts this skip, by its words, on a ring kernel that
 * it sees offer no buffer pools, and nowhere else.
 */
#define NEED_QUEUE_CMDS() do { \
	if (!kern.queue_cmds) \
		SKIP(return, "FUSE 7.%u: no ADD_QUEUE, ADD_BUFPOOL or zero copy (7.46, Linux 7.3)", \
		     kern.minor); \
} while (0)

/* Bytes a zero-copy I/O client writes at 0, then reads at IO_LEN. */
#define IO_LEN		(2 * 4096)
/* user_data of the server's own fixed-buffer reads and writes. */
#define TAG_FIXED	0x2

/*
 * On every queue: ADD_QUEUE with flags, then a pool of nbufs payloads
 * mapped here (at address 0 when at_zero, mapping nothing).  0, or the
 * first refusal.
 */
static int pools_add(FIXTURE_DATA(abi) *self, uint64_t flags, int nbufs,
		     bool at_zero)
{
	int q, ret;

	self->pool_len = (size_t)nbufs * self->payload_size;
	for (q = 0; q < self->nr_queues; q++) {
		ret = queue_cmd(self, FUSE_IO_URING_CMD_ADD_QUEUE, q, flags,
				NULL, 0, 0);
		if (ret)
			return ret;
		if (!at_zero) {
			self->pool[q] = mmap(NULL, self->pool_len,
					     PROT_READ | PROT_WRITE,
					     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			if (self->pool[q] == MAP_FAILED) {
				self->pool[q] = NULL;
				return -ENOMEM;
			}
		}
		ret = queue_cmd(self, FUSE_IO_URING_CMD_ADD_BUFPOOL, q, 0,
				self->pool[q], (uint32_t)self->pool_len, 0);
		if (ret)
			return ret;
	}
	return 0;
}

/* An entry for a pool queue: headers only, no payload iovec. */
static int ent_new_pooled(FIXTURE_DATA(abi) *self, int qid, uint16_t slot)
{
	int i = ent_new(self, qid, 0);

	if (i < 0)
		return i;
	self->ents[i].iov[1].iov_base = NULL;
	self->ents[i].iov[1].iov_len = 0;
	self->ents[i].pooled = true;
	self->ents[i].slot = slot;
	return i;
}

/*
 * depth pool entries on every queue, each with its own zero-copy slot
 * (its index) when zero_copy; none may be refused.
 */
static int register_pooled(FIXTURE_DATA(abi) *self, int depth,
			   bool zero_copy, uint16_t slot_base)
{
	uint64_t tag;
	int q, d, i, res;

	for (q = 0; q < self->nr_queues; q++) {
		for (d = 0; d < depth; d++) {
			i = ent_new_pooled(self, q, 0);
			if (i < 0)
				return -ENOMEM;
			if (zero_copy)
				self->ents[i].slot = (uint16_t)(slot_base + i);
			if (submit_register(self, i))
				return -EIO;
		}
	}
	if (next_cqe(&self->ring, QUIET_MS, &tag, &res) == 0) {
		fprintf(stderr, "# REGISTER tag %#llx completed with %d\n",
			(unsigned long long)tag, res);
		return res ? res : -EPROTO;
	}
	return 0;
}

/* The file's byte at off, as the I/O clients and the server know it. */
static uint8_t pattern(uint64_t off)
{
	return (uint8_t)(off * 131 + 17 + (off >> 12));
}

/*
 * Open the mount, write IO_LEN bytes of pattern at 0 (arg & 1), read
 * IO_LEN at IO_LEN and check them (arg & 2), close.  0, or
 * -(step * 1000 + errno) with step 1 open, 2 write, 3 read, 4 the data.
 */
#define IO_WRITE	1
#define IO_READ		2

static int64_t client_io(FIXTURE_DATA(abi) *self, int arg)
{
	uint8_t *buf;
	ssize_t n;
	int fd, k;

	buf = mmap(NULL, IO_LEN, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED)
		return -ENOMEM;
	fd = open(self->mnt, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -(1000 + errno);
	if (arg & IO_WRITE) {
		for (k = 0; k < IO_LEN; k++)
			buf[k] = pattern(k);
		n = pwrite(fd, buf, IO_LEN, 0);
		if (n != IO_LEN)
			return -(2000 + (n < 0 ? errno : EIO));
	}
	if (arg & IO_READ) {
		memset(buf, 0, IO_LEN);
		n = pread(fd, buf, IO_LEN, IO_LEN);
		if (n != IO_LEN)
			return -(3000 + (n < 0 ? errno : EIO));
		for (k = 0; k < IO_LEN; k++)
			if (buf[k] != pattern(IO_LEN + k))
				return -(4000 + EBADMSG);
	}
	/* FOPEN_NOFLUSH: the close waits for nobody. */
	close(fd);
	return 0;
}

/* What serve_one() saw, and how it answers. */
struct io_served {
	int img;		/* the file: a memfd of 2 * IO_LEN */
	uint32_t open_flags;	/* added to FOPEN_DIRECT_IO | FOPEN_NOFLUSH */
	/* Commit zero-copy READs there instead (NULL: self->ring). */
	struct io_uring *zc_read_commit_ring;
	int reads, writes, zc_reads, zc_writes, last_zc_slot;
};

/* The file: IO_LEN zeroes, then IO_LEN of pattern. */
static int img_new(struct io_served *st)
{
	uint8_t buf[IO_LEN];
	int k;

	memset(st, 0, sizeof(*st));
	st->last_zc_slot = -1;
	st->img = memfd_create("uring_abi_img", MFD_CLOEXEC);
	if (st->img < 0)
		return -errno;
	memset(buf, 0, sizeof(buf));
	if (pwrite(st->img, buf, IO_LEN, 0) != IO_LEN)
		return -EIO;
	for (k = 0; k < IO_LEN; k++)
		buf[k] = pattern(IO_LEN + k);
	return pwrite(st->img, buf, IO_LEN, IO_LEN) == IO_LEN ? 0 : -EIO;
}

/* Did the client's write of pattern at 0 reach the file? */
static bool img_written(struct io_served *st)
{
	uint8_t buf[IO_LEN];
	int k;

	if (pread(st->img, buf, IO_LEN, 0) != IO_LEN)
		return false;
	for (k = 0; k < IO_LEN; k++)
		if (buf[k] != pattern(k))
			return false;
	return true;
}

/*
 * READ_FIXED or WRITE_FIXED of len bytes at file offset off between fd
 * and the start of registered buffer slot on ring: its result.
 */
static int fixed_io(struct io_uring *ring, int op, int fd, int slot,
		    uint32_t len, uint64_t off)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
	uint64_t tag;
	int res;

	if (!sqe)
		return -EBUSY;
	/* A buffer the kernel registered starts at address 0. */
	if (op == IORING_OP_READ_FIXED)
		io_uring_prep_read_fixed(sqe, fd, NULL, len, off, slot);
	else
		io_uring_prep_write_fixed(sqe, fd, NULL, len, off, slot);
	sqe->user_data = TAG_FIXED;
	if (io_uring_submit(ring) != 1)
		return -EIO;
	if (next_cqe(ring, CQE_MS, &tag, &res))
		return -ETIMEDOUT;
	return tag == TAG_FIXED ? res : -EPROTO;
}

/*
 * Take one request from an entry within timeout_ms and answer it as a
 * file of 2 * IO_LEN bytes in st->img would: OPEN, GETATTR, READ, WRITE
 * (zero copy when the entry says so), RELEASE; -ENOSYS to the rest.
 * 0, -ETIMEDOUT, or what went wrong.
 */
static int serve_one(FIXTURE_DATA(abi) *self, struct io_served *st,
		     int timeout_ms)
{
	struct fue_uring_ent_in_out *io;
	struct fuse_out_header *out;
	struct fuse_in_header *in;
	struct io_uring *commit_ring = &self->ring;
	uint64_t tag, unique, commit_id;
	uint32_t out_sz = 0, opcode;
	int res, i, error = 0;
	struct ent *e;
	bool zc;
	void *pl;
	ssize_t n;

	if (next_cqe(&self->ring, timeout_ms, &tag, &res))
		return -ETIMEDOUT;
	if (tag < TAG_ENT || tag >= TAG_ENT + (uint64_t)self->nr_ents) {
		fprintf(stderr, "# CQE of tag %#llx res %d, not an entry\n",
			(unsigned long long)tag, res);
		return -EPROTO;
	}
	i = (int)(tag - TAG_ENT);
	if (res) {
		fprintf(stderr, "# entry %d completed with %d\n", i, res);
		return res;
	}
	e = &self->ents[i];
	in = (struct fuse_in_header *)e->hdr->in_out;
	out = (struct fuse_out_header *)e->hdr->in_out;
	io = (struct fue_uring_ent_in_out *)&e->hdr->ring_ent_in_out;
	unique = in->unique;
	opcode = in->opcode;
	commit_id = io->commit_id;
	zc = io->flags & FUSE_URING_ENT_ZERO_COPY;
	pl = ent_payload(self, e);

	switch (opcode) {
	case FUSE_OPEN: {
		struct fuse_open_out *o = pl;

		memset(o, 0, sizeof(*o));
		o->fh = 1;
		/* Direct: the client's own pages travel, not the cache's. */
		o->open_flags = FOPEN_DIRECT_IO | FOPEN_NOFLUSH | st->open_flags;
		out_sz = sizeof(*o);
		break;
	}
	case FUSE_GETATTR:
		fill_attr(pl, 2 * IO_LEN);
		out_sz = sizeof(struct fuse_attr_out);
		break;
	case FUSE_READ: {
		struct fuse_read_in *r = (struct fuse_read_in *)e->hdr->op_in;

		st->reads++;
		if (zc) {
			st->zc_reads++;
			st->last_zc_slot = e->slot;
			n = fixed_io(&self->ring, IORING_OP_READ_FIXED, st->img,
				     e->slot, r->size, r->offset);
			if (st->zc_read_commit_ring)
				commit_ring = st->zc_read_commit_ring;
		} else {
			n = pread(st->img, pl, r->size, r->offset);
			n = n < 0 ? -errno : n;
		}
		if (n < 0)
			error = (int)n;
		else
			out_sz = (uint32_t)n;
		break;
	}
	case FUSE_WRITE: {
		struct fuse_write_in *w = (struct fuse_write_in *)e->hdr->op_in;
		struct fuse_write_out *wo = pl;

		st->writes++;
		if (zc) {
			st->zc_writes++;
			n = fixed_io(&self->ring, IORING_OP_WRITE_FIXED, st->img,
				     e->slot, w->size, w->offset);
		} else {
			/* The data is where the kernel said: pl. */
			n = pwrite(st->img, pl, io->payload_sz, w->offset);
			n = n < 0 ? -errno : n;
		}
		if (n < 0) {
			error = (int)n;
			break;
		}
		memset(wo, 0, sizeof(*wo));
		wo->size = (uint32_t)n;
		out_sz = sizeof(*wo);
		break;
	}
	case FUSE_RELEASE:
		break;
	default:
		error = -ENOSYS;
	}
	out->len = sizeof(*out) + out_sz;
	out->error = error;
	out->unique = unique;
	io->payload_sz = error ? 0 : out_sz;
	return submit_commit_on(commit_ring, self->dev, tag, e->qid,
				commit_id);
}

/*
 * Serve requests until client c has its result, then the RELEASE its
 * close sent: 0, or why not.
 */
static int serve_client(FIXTURE_DATA(abi) *self, struct io_served *st,
			int c)
{
	long long end = fue_now_ms() + CLIENT_MS;
	int ret;

	while (client_wait(self, c, 0) == -ETIMEDOUT) {
		if (fue_now_ms() > end)
			return -ETIMEDOUT;
		ret = serve_one(self, st, 100);
		if (ret && ret != -ETIMEDOUT)
			return ret;
	}
	do {
		ret = serve_one(self, st, QUIET_MS);
	} while (!ret);
	return ret == -ETIMEDOUT ? 0 : ret;
}

/*
 * A qid past the last possible CPU: fuse_uring_add_queue() -EINVAL.  A
 * refused queue command, unlike a refused REGISTER, leaves the
 * connection its ring.
 */
TEST_F_TIMEOUT(abi, add_queue_bad_qid, CASE_S)
{
	int qid[] = { self->nr_queues, 0xffff };
	unsigned int k;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	NEED_QUEUE_CMDS();
	START(FUSE_OVER_IO_URING);
	for (k = 0; k < ARRAY_SIZE(qid); k++) {
		int q = qid[k];

		EXPECT_EQ(-EINVAL, queue_cmd(self, FUSE_IO_URING_CMD_ADD_QUEUE,
					     q, 0, NULL, 0, 0))
			TH_LOG("fuse_uring_add_queue(): qid %d >= %d queues",
			       q, self->nr_queues);
	}
	ring_becomes_usable(_metadata, self);
}

/*
 * Flags beyond FUSE_URING_ZERO_COPY: fuse_uring_add_queue() -EINVAL,
 * before it looks at the capability, and no queue is made.
 */
TEST_F_TIMEOUT(abi, add_queue_unknown_flag, CASE_S)
{
	static const uint64_t bad[] = {
		1ULL << 1, 1ULL << 31, 1ULL << 63,
		FUSE_URING_ZERO_COPY | 1ULL << 1,
	};
	unsigned int k;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	NEED_QUEUE_CMDS();
	START(FUSE_OVER_IO_URING);
	for (k = 0; k < ARRAY_SIZE(bad); k++)
		EXPECT_EQ(-EINVAL, queue_cmd(self, FUSE_IO_URING_CMD_ADD_QUEUE,
					     0, bad[k], NULL, 0, 0))
			TH_LOG("fuse_uring_add_queue(): flags %#llx",
			       (unsigned long long)bad[k]);
	EXPECT_EQ(0, queue_cmd(self, FUSE_IO_URING_CMD_ADD_QUEUE, 0, 0, NULL,
			       0, 0))
		TH_LOG("fuse_uring_create_queue(): a refused ADD_QUEUE made queue 0");
	ring_becomes_usable(_metadata, self);
}

/* ADD_QUEUE from a process without CAP_SYS_ADMIN, in a child. */
struct unprivileged_add {
	int dev;
	int res;
};

static int add_queue_unprivileged(void *arg)
{
	struct unprivileged_add *u = arg;
	struct __user_cap_header_struct h = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct d[2];
	struct io_uring ring;

	if (syscall(SYS_capget, &h, d))
		return 1;
	d[CAP_SYS_ADMIN / 32].effective &= ~(1U << (CAP_SYS_ADMIN % 32));
	d[CAP_SYS_ADMIN / 32].permitted &= ~(1U << (CAP_SYS_ADMIN % 32));
	if (syscall(SYS_capset, &h, d))
		return 2;
	if (io_uring_queue_init(8, &ring, IORING_SETUP_SQE128))
		return 3;
	u->res = queue_cmd_on(&ring, u->dev, FUSE_IO_URING_CMD_ADD_QUEUE, 0,
			      FUSE_URING_ZERO_COPY, NULL, 0, 0);
	io_uring_queue_exit(&ring);
	return 0;
}

/*
 * A zero-copy queue lets the kernel put a client's pages into the
 * server's io_uring: fuse_uring_add_queue() wants CAP_SYS_ADMIN, -EPERM
 * without it.  The same command with it makes the queue, so the refused
 * one made none.
 */
TEST_F_TIMEOUT(abi, add_queue_zero_copy_needs_cap, CASE_S)
{
	struct unprivileged_add *u;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	NEED_QUEUE_CMDS();
	START(FUSE_OVER_IO_URING);
	u = fue_shared_alloc(sizeof(*u));
	ASSERT_NE(NULL, u);
	u->dev = self->dev;
	u->res = NO_CQE;
	ASSERT_EQ(0, fue_in_child(add_queue_unprivileged, u, 2 * CQE_MS))
		TH_LOG("cannot drop CAP_SYS_ADMIN or make a ring in the child");
	EXPECT_EQ(-EPERM, u->res)
		TH_LOG("fuse_uring_add_queue(): FUSE_URING_ZERO_COPY without CAP_SYS_ADMIN");
	fue_shared_free(u, sizeof(*u));
	EXPECT_EQ(0, queue_cmd(self, FUSE_IO_URING_CMD_ADD_QUEUE, 0,
			       FUSE_URING_ZERO_COPY, NULL, 0, 0))
		TH_LOG("fuse_uring_add_queue(): FUSE_URING_ZERO_COPY with CAP_SYS_ADMIN");
}

/*
 * A queue is made once: a second ADD_QUEUE, with or without zero copy,
 * and an ADD_QUEUE of a queue a REGISTER made, are -EEXIST
 * (fuse_uring_create_queue(..., fail_if_exists)), and the ring is not
 * disturbed.
 */
TEST_F_TIMEOUT(abi, add_queue_twice, CASE_S)
{
	int last = self->nr_queues - 1;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	NEED_QUEUE_CMDS();
	START(FUSE_OVER_IO_URING);
	ASSERT_EQ(0, queue_cmd(self, FUSE_IO_URING_CMD_ADD_QUEUE, 0, 0, NULL,
			       0, 0));
	EXPECT_EQ(-EEXIST, queue_cmd(self, FUSE_IO_URING_CMD_ADD_QUEUE, 0, 0,
				     NULL, 0, 0))
		TH_LOG("fuse_uring_create_queue(): queue 0 a second time");
	EXPECT_EQ(-EEXIST, queue_cmd(self, FUSE_IO_URING_CMD_ADD_QUEUE, 0,
				     FUSE_URING_ZERO_COPY, NULL, 0, 0))
		TH_LOG("fuse_uring_create_queue(): queue 0 again, zero copy");
	ASSERT_EQ(0, register_all(self, 1));
	EXPECT_EQ(-EEXIST, queue_cmd(self, FUSE_IO_URING_CMD_ADD_QUEUE, last,
				     0, NULL, 0, 0))
		TH_LOG("fuse_uring_create_queue(): queue %d, made by a REGISTER",
		       last);
	serves_over_ring(_metadata, self);
}

/*
 * fuse_uring_add_bufpool() -EINVAL: flags, bufpool.reserved, a qid past
 * the last queue, a queue not yet added.  None of them sets a pool: the
 * right one then does, and pool queues serve.
 */
TEST_F_TIMEOUT(abi, add_bufpool_bad_fields, CASE_S)
{
	struct {
		const char *what;
		int qid;
		uint64_t flags;
		uint32_t reserved;
	} bad[] = {
		{ "flags not zero", 0, 1, 0 },
		{ "flags, high bit", 0, 1ULL << 63, 0 },
		{ "bufpool.reserved not zero", 0, 0, 1 },
		{ "a qid past the last queue", self->nr_queues, 0, 0 },
		{ "a queue not added", self->nr_queues > 1 ? 1 : -1, 0, 0 },
	};
	unsigned int k;
	size_t len;
	void *pool;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	NEED_QUEUE_CMDS();
	START(FUSE_OVER_IO_URING);
	len = self->payload_size;
	pool = mmap(NULL, len, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, pool);
	ASSERT_EQ(0, queue_cmd(self, FUSE_IO_URING_CMD_ADD_QUEUE, 0, 0, NULL,
			       0, 0));
	for (k = 0; k < ARRAY_SIZE(bad); k++) {
		if (bad[k].qid < 0)
			continue;
		EXPECT_EQ(-EINVAL, queue_cmd(self, FUSE_IO_URING_CMD_ADD_BUFPOOL,
					     bad[k].qid, bad[k].flags, pool,
					     (uint32_t)len, bad[k].reserved))
			TH_LOG("fuse_uring_add_bufpool(): %s", bad[k].what);
	}
	EXPECT_EQ(0, queue_cmd(self, FUSE_IO_URING_CMD_ADD_BUFPOOL, 0, 0, pool,
			       (uint32_t)len, 0))
		TH_LOG("fuse_uring_add_bufpool(): a refused ADD_BUFPOOL set a pool");
	munmap(pool, len);
	/* A connection of its own whose every queue has a pool serves. */
	RESTART(FUSE_OVER_IO_URING);
	ASSERT_EQ(0, pools_add(self, 0, 1, false));
	ASSERT_EQ(0, register_pooled(self, 1, false, 0))
		TH_LOG("fuse_uring_create_ring_ent(): a pool entry refused");
	serves_over_ring(_metadata, self);
}

/*
 * A pool must hold one payload of max(8K, max_write, max_pages pages):
 * fuse_uring_add_bufpool() -EINVAL for less, 0 and one byte short.
 */
TEST_F_TIMEOUT(abi, add_bufpool_too_short, CASE_S)
{
	uint32_t len[2];
	unsigned int k;
	void *pool;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	NEED_QUEUE_CMDS();
	START(FUSE_OVER_IO_URING);
	len[0] = 0;
	len[1] = (uint32_t)self->payload_size - 1;
	pool = mmap(NULL, self->payload_size, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, pool);
	ASSERT_EQ(0, queue_cmd(self, FUSE_IO_URING_CMD_ADD_QUEUE, 0, 0, NULL,
			       0, 0));
	for (k = 0; k < ARRAY_SIZE(len); k++) {
		uint32_t l = len[k];

		EXPECT_EQ(-EINVAL, queue_cmd(self, FUSE_IO_URING_CMD_ADD_BUFPOOL,
					     0, 0, pool, l, 0))
			TH_LOG("fuse_uring_add_bufpool(): %u bytes < one payload of %zu",
			       l, self->payload_size);
	}
	EXPECT_EQ(0, queue_cmd(self, FUSE_IO_URING_CMD_ADD_BUFPOOL, 0, 0, pool,
			       (uint32_t)self->payload_size, 0))
		TH_LOG("fuse_uring_add_bufpool(): exactly one payload");
	conn_close(self);
	munmap(pool, self->payload_size);
}

/*
 * A queue's payloads are set once: ADD_BUFPOOL on a queue whose entries
 * brought their own (a REGISTER made it), or on a queue that has a pool,
 * is -EINVAL (payload_mode no longer FUSE_PAYLOAD_UNSET), and the ring
 * serves on.
 */
TEST_F_TIMEOUT(abi, add_bufpool_after_register, CASE_S)
{
	size_t len;
	void *pool;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	NEED_QUEUE_CMDS();
	START(FUSE_OVER_IO_URING);
	len = self->payload_size;
	pool = mmap(NULL, len, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, pool);
	ASSERT_EQ(0, register_all(self, 1));
	EXPECT_EQ(-EINVAL, queue_cmd(self, FUSE_IO_URING_CMD_ADD_BUFPOOL, 0, 0,
				     pool, (uint32_t)len, 0))
		TH_LOG("fuse_uring_add_bufpool(): a pool after a REGISTER of qid 0");
	serves_over_ring(_metadata, self);

	RESTART(FUSE_OVER_IO_URING);
	ASSERT_EQ(0, pools_add(self, 0, 1, false));
	EXPECT_EQ(-EINVAL, queue_cmd(self, FUSE_IO_URING_CMD_ADD_BUFPOOL, 0, 0,
				     pool, (uint32_t)len, 0))
		TH_LOG("fuse_uring_add_bufpool(): a second pool on queue 0");
	ASSERT_EQ(0, register_pooled(self, 1, false, 0));
	serves_over_ring(_metadata, self);
	conn_close(self);
	munmap(pool, len);
}

/*
 * A pool queue lends its entries their payload: a REGISTER that brings a
 * payload iovec (its address, its length, or both) is -EINVAL in
 * fuse_uring_create_ring_ent(), and as every refused REGISTER it ends
 * the ring.  Each on a connection of its own.
 */
TEST_F_TIMEOUT(abi, register_payload_on_pool_queue, CASE_S)
{
	unsigned int k;
	int i;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	NEED_QUEUE_CMDS();
	START(FUSE_OVER_IO_URING);
	for (k = 0; k < 3; k++) {
		if (k)
			RESTART(FUSE_OVER_IO_URING);
		ASSERT_EQ(0, pools_add(self, 0, 1, false));
		i = ent_new(self, 0, self->payload_size);
		ASSERT_LE(0, i);
		if (k == 1)
			self->ents[i].iov[1].iov_base = NULL;
		if (k == 2)
			self->ents[i].iov[1].iov_len = 0;
		EXPECT_EQ(-EINVAL, bad_register(self, 0, self->ents[i].iov, 2))
			TH_LOG("fuse_uring_create_ring_ent(): payload iovec %p, %zu on a pool queue",
			       self->ents[i].iov[1].iov_base,
			       self->ents[i].iov[1].iov_len);
		after_refused_register(_metadata, self);
	}
}

/*
 * Zero copy only with a pool: on a zero-copy queue without one,
 * fuse_uring_create_ring_ent() refuses an entry with its own payload
 * ("Can only use zero copy with bufpools") and one without (too short),
 * -EINVAL.
 */
TEST_F_TIMEOUT(abi, register_zero_copy_without_pool, CASE_S)
{
	unsigned int k;
	int i;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	NEED_QUEUE_CMDS();
	START(FUSE_OVER_IO_URING);
	for (k = 0; k < 2; k++) {
		if (k)
			RESTART(FUSE_OVER_IO_URING);
		ASSERT_EQ(0, queue_cmd(self, FUSE_IO_URING_CMD_ADD_QUEUE, 0,
				       FUSE_URING_ZERO_COPY, NULL, 0, 0));
		i = k ? ent_new_pooled(self, 0, 0) :
			ent_new(self, 0, self->payload_size);
		ASSERT_LE(0, i);
		EXPECT_EQ(-EINVAL, bad_register(self, 0, self->ents[i].iov, 2))
			TH_LOG("fuse_uring_create_ring_ent(): %s on a zero-copy queue without a pool",
			       k ? "no payload" : "a payload of its own");
		after_refused_register(_metadata, self);
	}
}

/*
 * ent_zero_copy_buf_index must be 0 on a queue without zero copy: a
 * plain queue (made by the REGISTER) and a pool queue,
 * fuse_uring_create_ring_ent() -EINVAL.
 */
TEST_F_TIMEOUT(abi, register_bad_slot_index, CASE_S)
{
	struct io_uring_sqe *sqe;
	unsigned int k;
	int i;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	NEED_QUEUE_CMDS();
	START(FUSE_OVER_IO_URING);
	for (k = 0; k < 2; k++) {
		if (k) {
			RESTART(FUSE_OVER_IO_URING);
			ASSERT_EQ(0, pools_add(self, 0, 1, false));
		}
		i = k ? ent_new_pooled(self, 0, 0) :
			ent_new(self, 0, self->payload_size);
		ASSERT_LE(0, i);
		sqe = cmd_sqe(&self->ring, self->dev,
			      FUSE_IO_URING_CMD_REGISTER, TAG_CMD, true);
		ASSERT_NE(NULL, sqe);
		((struct fue_uring_cmd_req *)sqe->cmd)->ent_zero_copy_buf_index = 1;
		sqe->addr = (uintptr_t)self->ents[i].iov;
		sqe->len = 2;
		ASSERT_EQ(1, io_uring_submit(&self->ring));
		EXPECT_EQ(-EINVAL, cmd_result(&self->ring, TAG_CMD))
			TH_LOG("fuse_uring_create_ring_ent(): slot index 1 on a %s queue without zero copy",
			       k ? "pool" : "plain");
		after_refused_register(_metadata, self);
	}
}

/*
 * Pool queues serve.  Two requests in flight on one queue get two of its
 * buffers, at offsets the kernel gives in ring_ent_in_out.offset (a
 * multiple of the payload size inside the pool); each reply is read from
 * there.  A WRITE's data arrives at its offset, a READ's reply is taken
 * from it, and nothing is zero copy.
 */
TEST_F_TIMEOUT(abi, pool_queue_serves, CASE_S)
{
	const struct fue_uring_ent_in_out *io;
	int c[2], i[2], k, cpu = self->online[0];
	uint64_t tag, cid[2];
	struct io_served st;
	uint32_t off[2];
	int64_t got[2];
	struct ent *e;
	int res;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	NEED_QUEUE_CMDS();
	START(FUSE_OVER_IO_URING);
	ASSERT_EQ(0, pools_add(self, 0, 2, false));
	ASSERT_EQ(0, register_pooled(self, 2, false, 0))
		TH_LOG("fuse_uring_create_ring_ent(): a pool entry refused");
	for (k = 0; k < 2; k++) {
		c[k] = client_start(self, cpu);
		ASSERT_LE(0, c[k]);
	}
	for (k = 0; k < 2; k++) {
		ASSERT_EQ(0, next_cqe(&self->ring, CQE_MS, &tag, &res))
			TH_LOG("request %d of CPU %d did not reach an entry", k,
			       cpu);
		ASSERT_EQ(0, res);
		ASSERT_LE(TAG_ENT, tag);
		i[k] = (int)(tag - TAG_ENT);
		e = &self->ents[i[k]];
		io = (const void *)&e->hdr->ring_ent_in_out;
		off[k] = io->offset;
		cid[k] = io->commit_id;
		EXPECT_EQ(cpu, e->qid);
		EXPECT_EQ(0, off[k] % self->payload_size)
			TH_LOG("fuse_uring_args_to_ring(): offset %u not a buffer's start",
			       off[k]);
		ASSERT_GT(self->pool_len, off[k])
			TH_LOG("fuse_uring_args_to_ring(): offset %u past the pool of %zu",
			       off[k], self->pool_len);
	}
	EXPECT_NE(off[0], off[1])
		TH_LOG("fuse_uring_select_buffer(): two requests in flight share the buffer at %u",
		       off[0]);
	/* Answer each at its own offset with a size that tells which. */
	for (k = 0; k < 2; k++) {
		struct fuse_out_header *out;
		struct fuse_in_header *in;

		e = &self->ents[i[k]];
		in = (struct fuse_in_header *)e->hdr->in_out;
		out = (struct fuse_out_header *)e->hdr->in_out;
		ASSERT_EQ(FUSE_GETATTR, in->opcode);
		fill_attr((struct fuse_attr_out *)(self->pool[cpu] + off[k]),
			  SIZE_RING + off[k]);
		out->unique = in->unique;
		out->error = 0;
		out->len = sizeof(*out) + sizeof(struct fuse_attr_out);
		e->hdr->ring_ent_in_out.payload_sz = sizeof(struct fuse_attr_out);
		ASSERT_EQ(0, submit_commit(self, TAG_ENT + i[k], e->qid,
					   cid[k]));
	}
	for (k = 0; k < 2; k++) {
		ASSERT_EQ(0, client_wait(self, c[k], CLIENT_MS));
		got[k] = self->clients[c[k]].result;
	}
	EXPECT_TRUE((got[0] == SIZE_RING + off[0] && got[1] == SIZE_RING + off[1]) ||
		    (got[0] == SIZE_RING + off[1] && got[1] == SIZE_RING + off[0]))
		TH_LOG("fuse_uring_copy_from_ring(): sizes %lld, %lld, not the replies at %u and %u",
		       (long long)got[0], (long long)got[1], off[0], off[1]);

	ASSERT_EQ(0, img_new(&st));
	k = client_fork(self, -1, client_io, IO_WRITE | IO_READ);
	ASSERT_LE(0, k);
	ASSERT_EQ(0, serve_client(self, &st, k));
	EXPECT_EQ(0, self->clients[k].result)
		TH_LOG("the I/O client failed: step %lld errno %lld",
		       (long long)-self->clients[k].result / 1000,
		       (long long)-self->clients[k].result % 1000);
	EXPECT_TRUE(img_written(&st))
		TH_LOG("the WRITE's data was not at the offset the kernel gave");
	EXPECT_LT(0, st.reads);
	EXPECT_LT(0, st.writes);
	EXPECT_EQ(0, st.zc_reads + st.zc_writes)
		TH_LOG("FUSE_URING_ENT_ZERO_COPY on a queue without zero copy");
	close(st.img);
}

/*
 * A zero-copy queue with a pool, every entry with a slot of a sparse
 * registered-buffer table.  A file opened with FOPEN_IO_URING_ZERO_COPY:
 * its READ and WRITE come flagged FUSE_URING_ENT_ZERO_COPY, the client's
 * pages in the entry's slot, and READ_FIXED and WRITE_FIXED move the data
 * between them and the file.  Opened without the flag, the same queue
 * copies through the pool.
 */
TEST_F_TIMEOUT(abi, zero_copy_serves, CASE_S)
{
	struct io_served st;
	int c, k;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	NEED_QUEUE_CMDS();
	START(FUSE_OVER_IO_URING);
	ASSERT_EQ(0, io_uring_register_buffers_sparse(&self->ring, MAX_ENTS));
	ASSERT_EQ(0, pools_add(self, FUSE_URING_ZERO_COPY, 1, false));
	ASSERT_EQ(0, register_pooled(self, 1, true, 0))
		TH_LOG("fuse_uring_create_ring_ent(): a zero-copy entry refused");
	for (k = 0; k < 2; k++) {
		ASSERT_EQ(0, img_new(&st));
		st.open_flags = k ? 0 : FOPEN_IO_URING_ZERO_COPY;
		c = client_fork(self, -1, client_io, IO_WRITE | IO_READ);
		ASSERT_LE(0, c);
		ASSERT_EQ(0, serve_client(self, &st, c));
		EXPECT_EQ(0, self->clients[c].result)
			TH_LOG("the I/O client failed: step %lld errno %lld",
			       (long long)-self->clients[c].result / 1000,
			       (long long)-self->clients[c].result % 1000);
		EXPECT_TRUE(img_written(&st));
		EXPECT_LT(0, st.reads);
		EXPECT_LT(0, st.writes);
		if (k) {
			EXPECT_EQ(0, st.zc_reads + st.zc_writes)
				TH_LOG("can_zero_copy_req(): zero copy without FOPEN_IO_URING_ZERO_COPY");
		} else {
			EXPECT_EQ(st.reads, st.zc_reads)
				TH_LOG("can_zero_copy_req(): a READ copied with FOPEN_IO_URING_ZERO_COPY");
			EXPECT_EQ(st.writes, st.zc_writes)
				TH_LOG("can_zero_copy_req(): a WRITE copied with FOPEN_IO_URING_ZERO_COPY");
		}
		close(st.img);
	}
	/* Requests without data pages still come through the pool. */
	serves_over_ring(_metadata, self);
}

/* COMMIT_AND_FETCH */

/*
 * A request sits in an entry (client waiting); a bogus commit is refused
 * and the real one still answers the client.
 */
static int request_in_entry(struct __test_metadata *_metadata,
			    FIXTURE_DATA(abi) *self, int cpu, int *ent,
			    uint64_t *commit_id)
{
	uint64_t tag;
	int c, res;

	c = client_start(self, cpu);
	if (c < 0)
		return c;
	if (next_cqe(&self->ring, CQE_MS, &tag, &res) || res ||
	    tag < TAG_ENT || tag >= TAG_ENT + (uint64_t)self->nr_ents) {
		TH_LOG("fuse_uring_send_in_task(): no request reached an entry");
		return -1;
	}
	*ent = (int)(tag - TAG_ENT);
	*commit_id = self->ents[*ent].hdr->ring_ent_in_out.commit_id;
	return c;
}

/* Answer the request held by entry i correctly; the client must see it. */
static void commit_good(struct __test_metadata *_metadata,
			FIXTURE_DATA(abi) *self, int c, int i,
			uint64_t commit_id)
{
	struct ent *e = &self->ents[i];
	struct fuse_in_header *in = (struct fuse_in_header *)e->hdr->in_out;
	struct fuse_out_header *out = (struct fuse_out_header *)e->hdr->in_out;
	uint64_t unique = in->unique;

	fill_attr(ent_payload(self, e), SIZE_RING);
	out->len = sizeof(*out) + sizeof(struct fuse_attr_out);
	out->error = 0;
	out->unique = unique;
	e->hdr->ring_ent_in_out.payload_sz = sizeof(struct fuse_attr_out);
	ASSERT_EQ(0, submit_commit(self, TAG_ENT + i, e->qid, commit_id));
	ASSERT_EQ(0, client_wait(self, c, CLIENT_MS))
		TH_LOG("fuse_uring_commit_fetch(): the good commit did not end the request");
	EXPECT_EQ(SIZE_RING, self->clients[c].result);
}

/* A commit_id no request has: fuse_uring_commit_fetch() -ENOENT. */
TEST_F_TIMEOUT(abi, commit_unknown_id, CASE_S)
{
	uint64_t commit_id;
	int c, i;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	START(FUSE_OVER_IO_URING);
	ASSERT_EQ(0, register_all(self, 1));
	c = request_in_entry(_metadata, self, -1, &i, &commit_id);
	ASSERT_LE(0, c);
	ASSERT_EQ(0, submit_commit(self, TAG_CMD, self->ents[i].qid,
				   commit_id + 1000));
	EXPECT_EQ(-ENOENT, cmd_result(&self->ring, TAG_CMD))
		TH_LOG("fuse_uring_commit_fetch(): commit_id %llu has no request",
		       (unsigned long long)commit_id + 1000);
	ASSERT_EQ(0, submit_commit(self, TAG_CMD, self->ents[i].qid, 0));
	EXPECT_EQ(-ENOENT, cmd_result(&self->ring, TAG_CMD))
		TH_LOG("fuse_uring_commit_fetch(): commit_id 0");
	commit_good(_metadata, self, c, i, commit_id);
	serves_over_ring(_metadata, self);
}

/* The commit_id of a request already answered: -ENOENT. */
TEST_F_TIMEOUT(abi, commit_answered_id, CASE_S)
{
	uint64_t commit_id;
	int c, i;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	START(FUSE_OVER_IO_URING);
	ASSERT_EQ(0, register_all(self, 1));
	c = request_in_entry(_metadata, self, -1, &i, &commit_id);
	ASSERT_LE(0, c);
	commit_good(_metadata, self, c, i, commit_id);
	ASSERT_EQ(0, submit_commit(self, TAG_CMD, self->ents[i].qid,
				   commit_id));
	EXPECT_EQ(-ENOENT, cmd_result(&self->ring, TAG_CMD))
		TH_LOG("fuse_uring_commit_fetch(): commit_id %llu was answered",
		       (unsigned long long)commit_id);
	serves_over_ring(_metadata, self);
}

/*
 * The right commit_id on another queue: each queue looks only in its own
 * processing list, -ENOENT; a qid past the last queue is -EINVAL.
 */
TEST_F_TIMEOUT(abi, commit_wrong_qid, CASE_S)
{
	uint64_t commit_id;
	int c, i, qid, other;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	if (self->nr_queues < 2)
		SKIP(return, "one possible CPU: no other queue to commit on");
	START(FUSE_OVER_IO_URING);
	ASSERT_EQ(0, register_all(self, 1));
	c = request_in_entry(_metadata, self, self->online[0], &i,
			     &commit_id);
	ASSERT_LE(0, c);
	qid = self->ents[i].qid;
	EXPECT_EQ(self->online[0], qid)
		TH_LOG("fuse_uring_task_to_queue(): CPU %d's request on qid %d",
		       self->online[0], qid);
	other = (qid + 1) % self->nr_queues;
	ASSERT_EQ(0, submit_commit(self, TAG_CMD, other, commit_id));
	EXPECT_EQ(-ENOENT, cmd_result(&self->ring, TAG_CMD))
		TH_LOG("fuse_uring_commit_fetch(): qid %d's request committed on qid %d",
		       qid, other);
	ASSERT_EQ(0, submit_commit(self, TAG_CMD, self->nr_queues, commit_id));
	EXPECT_EQ(-EINVAL, cmd_result(&self->ring, TAG_CMD))
		TH_LOG("fuse_uring_commit_fetch(): qid %d >= %d queues",
		       self->nr_queues, self->nr_queues);
	commit_good(_metadata, self, c, i, commit_id);
}

/* Replies */

/* One request answered with fault f: the client's result. */
static int64_t faulty_reply(struct __test_metadata *_metadata,
			    FIXTURE_DATA(abi) *self,
			    const struct reply_fault *f)
{
	int c = client_start(self, -1);

	if (c < 0)
		return INT64_MIN;
	if (ring_serve(self, f, NULL, NULL)) {
		TH_LOG("fuse_uring_queue_fuse_req(): no request over the ring");
		return INT64_MIN;
	}
	if (client_wait(self, c, CLIENT_MS)) {
		TH_LOG("fuse_uring_commit(): the faulty reply left the client waiting");
		return INT64_MIN;
	}
	return self->clients[c].result;
}

/*
 * fuse_uring_out_header_has_err(): an error outside (-ERESTARTSYS, 0]
 * ends the request with -EINVAL; one inside reaches the caller.
 */
TEST_F_TIMEOUT(abi, reply_error_out_of_range, CASE_S)
{
	static const int bad[] = { 1, 4096, -512, -4096, INT_MIN };
	struct reply_fault f = { .bad_error = true };
	unsigned int k;
	int64_t r;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	START(FUSE_OVER_IO_URING);
	ASSERT_EQ(0, register_all(self, 1));
	for (k = 0; k < ARRAY_SIZE(bad); k++) {
		f.error = bad[k];
		r = faulty_reply(_metadata, self, &f);
		ASSERT_NE(INT64_MIN, r);
		EXPECT_EQ(-EINVAL, r)
			TH_LOG("fuse_uring_out_header_has_err(): error %d", bad[k]);
	}
	f.error = -EIO;
	r = faulty_reply(_metadata, self, &f);
	ASSERT_NE(INT64_MIN, r);
	EXPECT_EQ(-EIO, r)
		TH_LOG("fuse_uring_out_header_has_err(): a valid error must reach the caller");
	f.error = -511;
	r = faulty_reply(_metadata, self, &f);
	ASSERT_NE(INT64_MIN, r);
	EXPECT_EQ(-511, r)
		TH_LOG("fuse_uring_out_header_has_err(): -511 is the lowest valid error");
	serves_over_ring(_metadata, self);
}

/*
 * payload_sz must match the reply: fuse_copy_out_args() -EINVAL for more
 * than the reply holds (up to past the registered buffer) and for less
 * than a fixed-size reply.
 */
TEST_F_TIMEOUT(abi, reply_payload_size, CASE_S)
{
	struct reply_fault f = { .set_payload_sz = true };
	int64_t r;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	START(FUSE_OVER_IO_URING);
	ASSERT_EQ(0, register_all(self, 1));
	f.payload_sz = (uint32_t)self->payload_size + 1;
	r = faulty_reply(_metadata, self, &f);
	ASSERT_NE(INT64_MIN, r);
	EXPECT_EQ(-EINVAL, r)
		TH_LOG("fuse_copy_out_args(): payload_sz %u > buffer %zu",
		       f.payload_sz, self->payload_size);
	f.payload_sz = UINT32_MAX;
	r = faulty_reply(_metadata, self, &f);
	ASSERT_NE(INT64_MIN, r);
	EXPECT_EQ(-EINVAL, r)
		TH_LOG("fuse_copy_out_args(): payload_sz %u", f.payload_sz);
	f.payload_sz = sizeof(struct fuse_attr_out) + 1;
	r = faulty_reply(_metadata, self, &f);
	ASSERT_NE(INT64_MIN, r);
	EXPECT_EQ(-EINVAL, r)
		TH_LOG("fuse_copy_out_args(): payload_sz %u > the GETATTR reply",
		       f.payload_sz);
	f.payload_sz = 0;
	r = faulty_reply(_metadata, self, &f);
	ASSERT_NE(INT64_MIN, r);
	EXPECT_EQ(-EINVAL, r)
		TH_LOG("fuse_copy_out_args(): payload_sz 0 for a fixed-size reply");
	serves_over_ring(_metadata, self);
}

/*
 * The out header's unique must be the request's: -ENOENT when it is
 * another's, -EINVAL when 0 (a notification, not supported on the ring).
 */
TEST_F_TIMEOUT(abi, reply_unique_mismatch, CASE_S)
{
	struct reply_fault f = { .unique_delta = 2 };
	int64_t r;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	START(FUSE_OVER_IO_URING);
	ASSERT_EQ(0, register_all(self, 1));
	r = faulty_reply(_metadata, self, &f);
	ASSERT_NE(INT64_MIN, r);
	EXPECT_EQ(-ENOENT, r)
		TH_LOG("fuse_uring_out_header_has_err(): unique off by 2");
	f.unique_delta = 0;
	f.unique_zero = true;
	r = faulty_reply(_metadata, self, &f);
	ASSERT_NE(INT64_MIN, r);
	EXPECT_EQ(-EINVAL, r)
		TH_LOG("fuse_uring_out_header_has_err(): unique 0");
	serves_over_ring(_metadata, self);
}

/* Write a GETATTR reply for the request in self->buf; write()'s errno. */
static int dev_write_reply(FIXTURE_DATA(abi) *self, int error,
			   uint64_t unique, size_t extra)
{
	struct {
		struct fuse_out_header h;
		struct fuse_attr_out a;
		char pad[8];
	} r;
	size_t len = sizeof(r.h) + sizeof(r.a) + extra;

	memset(&r, 0, sizeof(r));
	fill_attr(&r.a, SIZE_DEV);
	r.h.error = error;
	r.h.unique = unique;
	if (error)
		len = sizeof(r.h);
	r.h.len = (uint32_t)len;
	return write(self->dev, &r, len) == (ssize_t)len ? 0 : -errno;
}

/*
 * The same faults over /dev/fuse, for comparison: fuse_dev_do_write()
 * fails the server's write() and, for a bad error value or unique, leaves
 * the request waiting for a correct reply; a reply of the wrong size ends
 * the request with -EIO.
 */
TEST_F_TIMEOUT(abi, dev_reply_faults, CASE_S)
{
	struct fuse_in_header *in = (struct fuse_in_header *)self->buf;
	uint64_t unique;
	int c;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	START(0);
	c = client_start(self, -1);
	ASSERT_LE(0, c);
	ASSERT_LT(0, dev_read(self, CQE_MS));
	ASSERT_EQ(FUSE_GETATTR, in->opcode);
	unique = in->unique;
	EXPECT_EQ(-EINVAL, dev_write_reply(self, 1, unique, 0))
		TH_LOG("fuse_dev_do_write(): error 1");
	EXPECT_EQ(-ENOENT, dev_write_reply(self, 0, unique + 2, 0))
		TH_LOG("fuse_dev_do_write(): unique off by 2");
	EXPECT_EQ(-ETIMEDOUT, client_wait(self, c, QUIET_MS))
		TH_LOG("fuse_dev_do_write(): a refused reply must leave the request waiting");
	ASSERT_EQ(0, dev_write_reply(self, 0, unique, 0));
	ASSERT_EQ(0, client_wait(self, c, CLIENT_MS));
	EXPECT_EQ(SIZE_DEV, self->clients[c].result);

	c = client_start(self, -1);
	ASSERT_LE(0, c);
	ASSERT_LT(0, dev_read(self, CQE_MS));
	EXPECT_EQ(-EINVAL, dev_write_reply(self, 0, in->unique, 1))
		TH_LOG("fuse_copy_out_args(): a reply 1 byte too long");
	ASSERT_EQ(0, client_wait(self, c, CLIENT_MS));
	EXPECT_EQ(-EIO, self->clients[c].result)
		TH_LOG("fuse_dev_do_write(): a reply of the wrong size ends the request with -EIO");
	serves_over_dev(_metadata, self);
}

/* Lifecycle */

/* umount(2) in a bounded child: 0, the child's errno, or -ETIMEDOUT. */
static int bounded_umount(FIXTURE_DATA(abi) *self)
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return -errno;
	if (pid == 0)
		_exit(umount2(self->mnt, 0) ? errno : 0);
	if (fue_wait_pid(pid, &status, UMOUNT_MS) == 1)
		return WIFEXITED(status) ? WEXITSTATUS(status) : -ECHILD;
	return -ETIMEDOUT;
}

/* Wait until fusectl no longer lists the connection: 0 or -ETIMEDOUT. */
static int wait_conn_gone(FIXTURE_DATA(abi) *self)
{
	int ms;

	for (ms = 0; ms < CQE_MS; ms += 10) {
		if (!fue_conn_exists(self->conn))
			return 0;
		usleep(10000);
	}
	return -ETIMEDOUT;
}

/*
 * want CQEs of entries, each with result res_want: every tag an entry's
 * (held excepted), each tag once, and no CQE more after them.
 */
static void expect_entry_cqes(struct __test_metadata *_metadata,
			      FIXTURE_DATA(abi) *self, int want, int res_want,
			      int held, const char *after)
{
	bool seen[MAX_ENTS] = { false };
	int got = 0, bad = 0, res = 0, i;
	uint64_t tag = 0;

	while (got < want && next_cqe(&self->ring, CQE_MS, &tag, &res) == 0) {
		got++;
		i = (int)(tag - TAG_ENT);
		if (tag >= TAG_ENT && i < self->nr_ents && i != held &&
		    !seen[i] && res == res_want) {
			seen[i] = true;
			continue;
		}
		bad++;
		TH_LOG("after %s: CQE tag %#llx res %d%s", after,
		       (unsigned long long)tag, res,
		       tag >= TAG_ENT && i < self->nr_ents && seen[i] ?
		       ", a second time" : "");
	}
	EXPECT_EQ(want, got)
		TH_LOG("fuse_uring_entry_teardown(): after %s %d of %d idle entries completed",
		       after, got, want);
	EXPECT_EQ(0, bad)
		TH_LOG("fuse_uring_entry_teardown(): after %s each idle entry must end once, with %d",
		       after, res_want);
	EXPECT_EQ(-ETIMEDOUT, next_cqe(&self->ring, QUIET_MS, &tag, &res))
		TH_LOG("after %s: a CQE more than the %d idle entries: tag %#llx res %d",
		       after, want, (unsigned long long)tag, res);
}

/*
 * umount with every entry registered and idle: fuse_abort_conn() ->
 * fuse_uring_stop_queues() completes each entry's CQE with -ENOTCONN, the
 * connection goes away and /dev/fuse reads -ENODEV.
 */
TEST_F_TIMEOUT(abi, umount_idle_entries, CASE_S)
{
	int depth = 2;
	ssize_t n;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	START(FUSE_OVER_IO_URING);
	ASSERT_EQ(0, register_all(self, depth));
	serves_over_ring(_metadata, self);
	ASSERT_EQ(0, bounded_umount(self))
		TH_LOG("fuse_conn_destroy(): umount with idle ring entries");
	self->mounted = false;
	expect_entry_cqes(_metadata, self, self->nr_queues * depth, -ENOTCONN,
			  -1, "umount");
	n = dev_read(self, CQE_MS);
	EXPECT_EQ(-ENODEV, n)
		TH_LOG("fuse_dev_do_read() after umount");
	EXPECT_EQ(0, wait_conn_gone(self))
		TH_LOG("fuse_ctl_remove_conn(): connection %u still listed %d ms after umount",
		       self->conn, CQE_MS);
	io_uring_queue_exit(&self->ring);
	self->has_ring = false;
}

/* Wait until fusectl counts at least n requests waiting for an answer. */
static int wait_waiting(FIXTURE_DATA(abi) *self, int n)
{
	char waiting[16] = "0";
	int ms;

	for (ms = 0; ms < CQE_MS; ms += 10) {
		if (!conn_file(self, "waiting", NULL, waiting,
			       sizeof(waiting)) && atoi(waiting) >= n)
			return 0;
		usleep(10000);
	}
	return -ETIMEDOUT;
}

/*
 * fusectl abort with one request held in an entry and one queued behind
 * it on the same queue.  Both callers get -ECONNABORTED
 * (fuse_uring_stop_fuse_req_end(), fuse_uring_abort_end_requests()), the
 * idle entries complete with -ENOTCONN (fuse_uring_entry_teardown()) and
 * new calls get -ENOTCONN (fuse_get_req()).  What the server itself sees
 * next depends on FUSE_ABORT_ERROR: fuse_conn_abort_write() sets
 * fc->aborted only when INIT granted it, so a late COMMIT_AND_FETCH and a
 * /dev/fuse read get -ECONNABORTED with it and -ENOTCONN / -ENODEV
 * without (fuse_uring_cmd(), fuse_dev_do_read()).
 */
static void abort_in_flight(struct __test_metadata *_metadata,
			    FIXTURE_DATA(abi) *self, bool abort_error)
{
	int want_cmd = abort_error ? -ECONNABORTED : -ENOTCONN;
	int want_read = abort_error ? -ECONNABORTED : -ENODEV;
	uint64_t commit_id;
	int c1, c2, c3, i;
	ssize_t n;

	ASSERT_EQ(0, register_all(self, 1));
	c1 = request_in_entry(_metadata, self, self->online[0], &i,
			      &commit_id);
	ASSERT_LE(0, c1);
	/* Same CPU, same queue, no free entry: it waits in the queue. */
	c2 = client_start(self, self->online[0]);
	ASSERT_LE(0, c2);
	ASSERT_EQ(0, wait_waiting(self, 2))
		TH_LOG("the second request never queued");
	ASSERT_EQ(0, conn_file(self, "abort", "1", NULL, 0));

	ASSERT_EQ(0, client_wait(self, c1, CLIENT_MS))
		TH_LOG("fuse_uring_stop_queues(): the request held in an entry still waits");
	EXPECT_EQ(-ECONNABORTED, self->clients[c1].result)
		TH_LOG("fuse_uring_stop_fuse_req_end(): request held by the server");
	ASSERT_EQ(0, client_wait(self, c2, CLIENT_MS))
		TH_LOG("fuse_uring_abort_end_requests(): the queued request still waits");
	EXPECT_EQ(-ECONNABORTED, self->clients[c2].result)
		TH_LOG("fuse_uring_abort_end_requests(): request queued for an entry");

	/* The held entry's command completed when its request came. */
	expect_entry_cqes(_metadata, self, self->nr_queues - 1, -ENOTCONN, i,
			  "abort");

	ASSERT_EQ(0, submit_commit(self, TAG_CMD, self->ents[i].qid,
				   commit_id));
	EXPECT_EQ(want_cmd, cmd_result(&self->ring, TAG_CMD))
		TH_LOG("fuse_uring_cmd(): COMMIT_AND_FETCH after abort, FUSE_ABORT_ERROR %s",
		       abort_error ? "granted" : "not granted");
	n = dev_read(self, CQE_MS);
	EXPECT_EQ(want_read, n)
		TH_LOG("fuse_dev_do_read() after abort, FUSE_ABORT_ERROR %s",
		       abort_error ? "granted" : "not granted");
	c3 = client_start(self, -1);
	ASSERT_LE(0, c3);
	ASSERT_EQ(0, client_wait(self, c3, CLIENT_MS));
	EXPECT_EQ(-ENOTCONN, self->clients[c3].result)
		TH_LOG("fuse_get_req(): a new call on an aborted connection");
}

TEST_F_TIMEOUT(abi, abort_in_flight, CASE_S)
{
	if (self->skip)
		SKIP(return, "%s", self->skip);
	START(FUSE_OVER_IO_URING);
	abort_in_flight(_metadata, self, false);
}

TEST_F_TIMEOUT(abi, abort_in_flight_abort_error, CASE_S)
{
	if (self->skip)
		SKIP(return, "%s", self->skip);
	START(FUSE_OVER_IO_URING | FUSE_ABORT_ERROR);
	abort_in_flight(_metadata, self, true);
}

/*
 * The server dies holding a request, with idle entries registered.
 * Closing the ring cancels the idle entries (fuse_uring_cancel()); the
 * last reference to /dev/fuse then ends the connection (fuse_dev_release()
 * -> fuse_abort_conn()), which ends the held request with -ECONNABORTED
 * (fuse_uring_stop_fuse_req_end()).  From then on the mount fails at once
 * with -ENOTCONN.
 */
TEST_F_TIMEOUT(abi, server_gone, CASE_S)
{
	struct timespec t0, t1;
	uint64_t commit_id;
	int c1, c2, i;
	long ms;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	START(FUSE_OVER_IO_URING);
	ASSERT_EQ(0, register_all(self, 2));
	c1 = request_in_entry(_metadata, self, -1, &i, &commit_id);
	ASSERT_LE(0, c1);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	io_uring_queue_exit(&self->ring);
	self->has_ring = false;
	close(self->dev);
	self->dev = -1;
	ASSERT_EQ(0, client_wait(self, c1, CLIENT_MS))
		TH_LOG("fuse_dev_release(): the request the dead server held still waits");
	clock_gettime(CLOCK_MONOTONIC, &t1);
	EXPECT_EQ(-ECONNABORTED, self->clients[c1].result)
		TH_LOG("fuse_uring_stop_fuse_req_end(): request held by the dead server");
	ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	TH_LOG("the held request ended %ld ms after the server closed its ring and /dev/fuse",
	       ms);
	c2 = client_start(self, -1);
	ASSERT_LE(0, c2);
	ASSERT_EQ(0, client_wait(self, c2, CLIENT_MS))
		TH_LOG("a call after the server died hangs");
	EXPECT_EQ(-ENOTCONN, self->clients[c2].result)
		TH_LOG("fuse_get_req(): a call on a connection whose server died");
}


/* The state letter of /proc/PID/stat ('R', 'S', 'D'...), or '?'. */
static char task_state(pid_t pid)
{
	char path[64], buf[512], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return '?';
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return '?';
	buf[n] = '\0';
	/* The name may hold spaces and ')': the state follows the last. */
	p = strrchr(buf, ')');
	return p && p[1] == ' ' && p[2] ? p[2] : '?';
}

/*
 * Wait until client c is known to be blocked in FUSE: fusectl counts a
 * waiting request, the client sleeps (S or D) and has no answer yet.
 * 0, or -ETIMEDOUT with the last state seen in *state.
 */
static int wait_client_blocked(FIXTURE_DATA(abi) *self, int c, char *state)
{
	int ms;

	for (ms = 0; ms < CQE_MS; ms += 10) {
		*state = task_state(self->clients[c].pid);
		if (fue_conn_waiting(self->conn) >= 1 &&
		    (*state == 'S' || *state == 'D') &&
		    client_wait(self, c, 0) == -ETIMEDOUT)
			return 0;
		usleep(10000);
	}
	return -ETIMEDOUT;
}

/*
 * is_ring_ready(): requests keep blocking in fuse_get_req() until every
 * queue has an entry, then go over the ring, never to /dev/fuse.
 */
TEST_F_TIMEOUT(abi, ready_needs_every_queue, CASE_S)
{
	uint64_t tag = 0;
	int c, q, i, missing, res = 0, cpu = self->online[0];
	char state = '?';
	ssize_t n;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	if (self->nr_queues < 2)
		SKIP(return, "needs two possible CPUs");
	START(FUSE_OVER_IO_URING);
	missing = (cpu + 1) % self->nr_queues;
	for (q = 0; q < self->nr_queues; q++) {
		if (q == missing)
			continue;
		i = ent_new(self, q, self->payload_size);
		ASSERT_LE(0, i);
		ASSERT_EQ(0, submit_register(self, i));
	}
	c = client_start(self, cpu);
	ASSERT_LE(0, c);
	ASSERT_EQ(0, wait_client_blocked(self, c, &state))
		TH_LOG("fuse_get_req(): the client is not seen blocked (fusectl waiting, task state '%c')",
		       state);
	EXPECT_EQ(-ETIMEDOUT, next_cqe(&self->ring, QUIET_MS, &tag, &res))
		TH_LOG("fuse_uring_queue_fuse_req(): a request before qid %d registered (tag %#llx res %d)",
		       missing, (unsigned long long)tag, res);
	n = dev_read(self, QUIET_MS);
	EXPECT_EQ(-ETIMEDOUT, n)
		TH_LOG("fuse_block_alloc(): a request went to /dev/fuse while the ring was not ready");
	EXPECT_EQ(-ETIMEDOUT, client_wait(self, c, 0))
		TH_LOG("the client finished before the ring was ready");
	i = ent_new(self, missing, self->payload_size);
	ASSERT_LE(0, i);
	ASSERT_EQ(0, submit_register(self, i));
	ASSERT_EQ(0, ring_serve(self, NULL, &i, NULL))
		TH_LOG("fuse_uring_do_register(): the last queue did not wake the waiting request");
	EXPECT_EQ(cpu, self->ents[i].qid);
	ASSERT_EQ(0, client_wait(self, c, CLIENT_MS));
	EXPECT_EQ(SIZE_RING, self->clients[c].result);
}

/* fuse_uring_task_to_queue(): a request goes to its caller's CPU's queue. */
TEST_F_TIMEOUT(abi, request_on_callers_cpu_queue, CASE_S)
{
	int k, c, i, cpu;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	START(FUSE_OVER_IO_URING);
	ASSERT_EQ(0, register_all(self, 1));
	for (k = 0; k < self->nr_online; k++) {
		cpu = self->online[k];
		c = client_start(self, cpu);
		ASSERT_LE(0, c);
		ASSERT_EQ(0, ring_serve(self, NULL, &i, NULL))
			TH_LOG("no request from CPU %d over the ring", cpu);
		EXPECT_EQ(cpu, self->ents[i].qid)
			TH_LOG("fuse_uring_task_to_queue(): CPU %d's request on qid %d",
			       cpu, self->ents[i].qid);
		ASSERT_EQ(0, client_wait(self, c, CLIENT_MS));
		EXPECT_EQ(SIZE_RING, self->clients[c].result);
	}
}

/* Findings: today's behaviour, kept so that a change shows */

/*
 * Finding (7.2+): a REGISTER refused after the ring is ready.
 * fuse_uring_cmd() clears fch->io_uring on any refused REGISTER (7.3
 * dev_uring.c:1699) but the ring stays ready and fiq->ops stays the ring's
 * (dev_uring.c:1388), so requests keep coming to its entries, while the
 * strict grant check (dev_uring.c:1684-1690) now refuses every
 * COMMIT_AND_FETCH with -EOPNOTSUPP: the request waits until an abort.
 * 6.14 to 6.18 check only "!enable_uring && !fc->io_uring" and take the
 * commit.
 *
 * Reproducer: register one entry per queue, let one request through, send
 * one REGISTER with a 1-byte payload (-EINVAL), stat() the mount: the
 * request arrives in an entry, its COMMIT_AND_FETCH gets -EOPNOTSUPP and
 * stat() hangs until /sys/fs/fuse/connections/N/abort.
 */
TEST_F_TIMEOUT(abi, register_refused_after_ready, CASE_S)
{
	struct iovec iov[2];
	uint64_t commit_id;
	int c, i, k, res;
	uint64_t tag;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	START(FUSE_OVER_IO_URING);
	ASSERT_EQ(0, register_all(self, 1));
	serves_over_ring(_metadata, self);
	k = ent_new(self, 0, self->payload_size);
	ASSERT_LE(0, k);
	memcpy(iov, self->ents[k].iov, sizeof(iov));
	iov[1].iov_len = 1;
	ASSERT_EQ(-EINVAL, bad_register(self, 0, iov, 2));
	c = request_in_entry(_metadata, self, -1, &i, &commit_id);
	ASSERT_LE(0, c)
		TH_LOG("after a refused REGISTER the ready ring no longer gets requests: the finding is gone");
	if (!strict_grant()) {
		TH_LOG("%s: the commit is taken", grant_found());
		commit_good(_metadata, self, c, i, commit_id);
		return;
	}
	ASSERT_EQ(0, submit_commit(self, TAG_CMD, self->ents[i].qid, commit_id));
	res = cmd_result(&self->ring, TAG_CMD);
	EXPECT_EQ(-EOPNOTSUPP, res)
		TH_LOG("finding, 7.3 dev_uring.c:1699 then :1690: a ready ring after a refused REGISTER refuses the commit");
	EXPECT_EQ(-ETIMEDOUT, client_wait(self, c, QUIET_MS))
		TH_LOG("finding: the request dispatched to the ring must wait for an abort");
	ASSERT_EQ(0, conn_file(self, "abort", "1", NULL, 0));
	ASSERT_EQ(0, client_wait(self, c, CLIENT_MS))
		TH_LOG("the abort did not end the stranded request");
	EXPECT_EQ(-ECONNABORTED, self->clients[c].result);
	while (next_cqe(&self->ring, QUIET_MS, &tag, &res) == 0)
		;
}

/*
 * Finding (7.2+): fuse_chan_abort() stores its abort_with_err argument
 * before it looks whether the channel is still connected (7.3 dev.c:2163),
 * so the umount after a fusectl abort with FUSE_ABORT_ERROR granted
 * (fuse_conn_destroy(), inode.c:1967, passes false) turns the server's
 * -ECONNABORTED (dev_uring.c:1676, dev.c:1591) into -ENOTCONN and -ENODEV.
 * 6.14 to 6.18 keep fc->aborted once set.  The case asserts the answers
 * before the umount, and that the commit and the read agree after it,
 * saying which they are.
 *
 * Reproducer: grant FUSE_ABORT_ERROR, register, write 1 to
 * /sys/fs/fuse/connections/N/abort: read(/dev/fuse) gives ECONNABORTED;
 * umount; read(/dev/fuse) now gives ENODEV.
 */
TEST_F_TIMEOUT(abi, abort_error_then_umount, CASE_S)
{
	bool flipped;
	int cmd;
	ssize_t n;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	START(FUSE_OVER_IO_URING | FUSE_ABORT_ERROR);
	ASSERT_EQ(0, register_all(self, 1));
	serves_over_ring(_metadata, self);
	ASSERT_EQ(0, conn_file(self, "abort", "1", NULL, 0));
	expect_entry_cqes(_metadata, self, self->nr_queues, -ENOTCONN, -1,
			  "abort");
	ASSERT_EQ(0, submit_commit(self, TAG_CMD, 0, 1));
	EXPECT_EQ(-ECONNABORTED, cmd_result(&self->ring, TAG_CMD))
		TH_LOG("fuse_uring_cmd(): COMMIT_AND_FETCH after an abort with FUSE_ABORT_ERROR");
	EXPECT_EQ(-ECONNABORTED, dev_read(self, CQE_MS))
		TH_LOG("fuse_dev_do_read() after an abort with FUSE_ABORT_ERROR");
	ASSERT_EQ(0, bounded_umount(self));
	self->mounted = false;
	ASSERT_EQ(0, submit_commit(self, TAG_CMD, 0, 1));
	cmd = cmd_result(&self->ring, TAG_CMD);
	n = dev_read(self, CQE_MS);
	flipped = cmd == -ENOTCONN;
	TH_LOG("after the umount: COMMIT_AND_FETCH %d, /dev/fuse read %zd: %s",
	       cmd, n, flipped ?
	       "flipped to ENOTCONN (finding: 7.3 dev.c:2163)" :
	       "still ECONNABORTED");
	EXPECT_EQ(flipped ? -ENODEV : -ECONNABORTED, n)
		TH_LOG("the commit and the read disagree on why the connection ended");
	if (!flipped)
		EXPECT_EQ(-ECONNABORTED, cmd);
}

/*
 * Finding (6.14+): the server closes its ring but keeps /dev/fuse open.
 * fuse_uring_cancel() ends the idle entries (7.3 dev_uring.c:581), but
 * nothing undoes ring->ready or fiq->ops (dev_uring.c:1388), and the
 * connection lives on through /dev/fuse: a new call is queued on the ring
 * for an entry that will never come (fuse_uring_queue_fuse_req(),
 * dev_uring.c:1797), nothing reaches /dev/fuse, and the call waits until
 * an abort.
 *
 * Reproducer: register one entry per queue, let one request through,
 * close the io_uring, keep /dev/fuse open, stat() the mount: it hangs and
 * read(/dev/fuse) has nothing; /sys/fs/fuse/connections/N/abort ends it
 * with ECONNABORTED.
 */
TEST_F_TIMEOUT(abi, ring_closed_dev_open, CASE_S)
{
	char state = '?';
	int c, tries;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	START(FUSE_OVER_IO_URING);
	ASSERT_EQ(0, register_all(self, 1));
	serves_over_ring(_metadata, self);
	io_uring_queue_exit(&self->ring);
	self->has_ring = false;
	/*
	 * io_uring tears the ring down in the background: a call that still
	 * finds an entry ends with -ECANCELED (fuse_uring_send_in_task()),
	 * as a dead ring's calls do.  The finding is about the calls after.
	 */
	for (tries = 0; tries < 20; tries++) {
		c = client_start(self, -1);
		ASSERT_LE(0, c);
		if (!wait_client_blocked(self, c, &state))
			break;
		ASSERT_EQ(0, client_wait(self, c, CLIENT_MS));
		ASSERT_EQ(-ECANCELED, self->clients[c].result)
			TH_LOG("a call as the ring closed ended with %lld",
			       (long long)self->clients[c].result);
		usleep(50000);
	}
	ASSERT_GT(20, tries)
		TH_LOG("no call blocked after the ring closed (task state '%c')",
		       state);
	EXPECT_EQ(-ETIMEDOUT, dev_read(self, QUIET_MS))
		TH_LOG("the call came over /dev/fuse: the finding is gone");
	EXPECT_EQ(-ETIMEDOUT, client_wait(self, c, QUIET_MS))
		TH_LOG("finding, 7.3 dev_uring.c:1797: the call must wait on the closed ring");
	ASSERT_EQ(0, conn_file(self, "abort", "1", NULL, 0));
	ASSERT_EQ(0, client_wait(self, c, CLIENT_MS))
		TH_LOG("the abort did not end the call queued on the ring");
	EXPECT_EQ(-ECONNABORTED, self->clients[c].result)
		TH_LOG("fuse_uring_abort_end_requests(): a call queued on the ring");
}

/*
 * Finding (7.46): ADD_BUFPOOL takes a pool at address 0.
 * fuse_uring_add_bufpool() checks neither bufpool.uaddr (7.3
 * dev_uring.c:1596) nor that the pool is mapped, and the rest of the code
 * takes a NULL payload address to mean "no buffer": buffer 0 of a pool at
 * 0 is handed out (fuse_uring_select_buffer(), :989) but never given back
 * (fuse_uring_recycle_buffer() returns early on !iov_base, :1004), so a
 * pool of one buffer serves one request with data and then none: the next
 * waits for a buffer (-ENOBUFS in fuse_uring_prep_buffer(), :1821) until
 * an abort.  A reply with data into that buffer is a kernel BUG (see
 * null_payload_reply), so the case answers without.  The same pool at a
 * real address serves both.
 *
 * Reproducer: ADD_QUEUE and ADD_BUFPOOL (uaddr 0, len one payload) on every
 * queue, REGISTER one entry per queue without payload, stat() the mount on
 * CPU 0, answer the GETATTR with an error: stat() gets it; stat() again on
 * CPU 0: no request reaches the ring, stat() hangs until
 * /sys/fs/fuse/connections/N/abort.
 */
TEST_F_TIMEOUT(abi, pool_at_address_zero, CASE_S)
{
	int c, i, k, res, cpu = self->online[0];
	struct fuse_out_header *out;
	uint64_t commit_id, tag = 0;
	char state = '?';
	struct ent *e;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	NEED_QUEUE_CMDS();
	START(FUSE_OVER_IO_URING);
	for (k = 0; k < 2; k++) {
		if (k)
			RESTART(FUSE_OVER_IO_URING);
		res = pools_add(self, 0, 1, k);
		if (k && res) {
			TH_LOG("fuse_uring_add_bufpool() refused a pool at 0 (%d): the finding is gone",
			       res);
			EXPECT_EQ(-EINVAL, res);
			return;
		}
		ASSERT_EQ(0, res)
			TH_LOG("fuse_uring_add_bufpool(): a pool of one payload at %s",
			       k ? "address 0" : "a mapped address");
		ASSERT_EQ(0, register_pooled(self, 1, false, 0));
		c = request_in_entry(_metadata, self, cpu, &i, &commit_id);
		ASSERT_LE(0, c);
		/* No data: nothing may be written to a buffer at 0. */
		e = &self->ents[i];
		out = (struct fuse_out_header *)e->hdr->in_out;
		out->unique = ((struct fuse_in_header *)e->hdr->in_out)->unique;
		out->error = -EIO;
		out->len = sizeof(*out);
		e->hdr->ring_ent_in_out.payload_sz = 0;
		ASSERT_EQ(0, submit_commit(self, TAG_ENT + i, e->qid, commit_id));
		ASSERT_EQ(0, client_wait(self, c, CLIENT_MS));
		ASSERT_EQ(-EIO, self->clients[c].result)
			TH_LOG("the first request, answered -EIO, on a pool at %s",
			       k ? "0" : "a mapped address");
		c = client_start(self, cpu);
		ASSERT_LE(0, c);
		if (!k) {
			/* The control: the buffer came back for the next. */
			ASSERT_EQ(0, ring_serve(self, NULL, NULL, NULL))
				TH_LOG("fuse_uring_recycle_buffer(): a mapped pool's one buffer did not come back");
			ASSERT_EQ(0, client_wait(self, c, CLIENT_MS));
			EXPECT_EQ(SIZE_RING, self->clients[c].result);
			continue;
		}
		EXPECT_EQ(-ETIMEDOUT, next_cqe(&self->ring, QUIET_MS, &tag, &res))
			TH_LOG("a second request reached the ring (tag %#llx res %d): the finding is gone",
			       (unsigned long long)tag, res);
		EXPECT_EQ(0, wait_client_blocked(self, c, &state))
			TH_LOG("finding, 7.3 dev_uring.c:1004: buffer 0 at address 0 never comes back, the call must wait (task state '%c')",
			       state);
		ASSERT_EQ(0, conn_file(self, "abort", "1", NULL, 0));
		ASSERT_EQ(0, client_wait(self, c, CLIENT_MS))
			TH_LOG("the abort did not end the call waiting for a buffer");
		EXPECT_EQ(-ECONNABORTED, self->clients[c].result);
	}
}

/*
 * Finding (7.46): a reply with data from a payload at address 0 is a
 * kernel BUG.  7.3's fuse_uring_import_payload() (dev_uring.c:723) takes
 * a NULL payload address to mean "no buffer" (a pool entry between
 * requests) and gives fuse_copy_args() an empty iterator; its first
 * fuse_copy_fill() gets 0 pages from iov_iter_get_pages2() and meets
 * BUG_ON(!err) (dev.c:1064).  Nothing keeps the address away: as before
 * 7.46, fuse_uring_create_ring_ent() takes an entry's own payload iovec
 * {NULL, max payload} (access_ok() passes), and fuse_uring_add_bufpool()
 * a pool at 0 (pool_at_address_zero).  Seen in the 7.3 guest: "kernel BUG
 * at fs/fuse/dev.c:1064!", fuse_copy_fill() from
 * fuse_uring_copy_from_ring() in io_uring_enter(2); a request with data
 * for the server meets the same BUG on its way to the entry.  Kernels
 * without the pools import the address and fail the copy with -EFAULT,
 * which ends the request.
 *
 * Reproducer: REGISTER one entry per queue with payload iovec {NULL, max
 * payload}, stat() the mount, commit the GETATTR's reply with payload_sz
 * sizeof(struct fuse_attr_out): BUG on 7.3, stat() fails with EFAULT
 * before.  Where the pools are (the probe found cmd_op 3 and 4) the case
 * answers with an error instead, unless URING_ABI_OOPS=1 asks for the
 * BUG.
 */
TEST_F_TIMEOUT(abi, null_payload_reply, CASE_S)
{
	bool safe = kern.queue_cmds && !getenv("URING_ABI_OOPS");
	struct fuse_out_header *out;
	uint64_t commit_id;
	int c, i, q;
	struct ent *e;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	START(FUSE_OVER_IO_URING);
	for (q = 0; q < self->nr_queues; q++) {
		i = ent_new(self, q, self->payload_size);
		ASSERT_LE(0, i);
		self->ents[i].iov[1].iov_base = NULL;
		ASSERT_EQ(0, submit_register(self, i));
	}
	c = request_in_entry(_metadata, self, -1, &i, &commit_id);
	ASSERT_LE(0, c)
		TH_LOG("fuse_uring_create_ring_ent() refused a payload at NULL: the finding is gone");
	e = &self->ents[i];
	out = (struct fuse_out_header *)e->hdr->in_out;
	out->unique = ((struct fuse_in_header *)e->hdr->in_out)->unique;
	out->error = safe ? -EIO : 0;
	out->len = sizeof(*out) + (safe ? 0 : sizeof(struct fuse_attr_out));
	e->hdr->ring_ent_in_out.payload_sz = safe ? 0 :
		sizeof(struct fuse_attr_out);
	if (safe)
		TH_LOG("FUSE 7.%u has the pools: a reply with data from the payload at NULL would be a kernel BUG (dev.c:1064), answered -EIO instead",
		       kern.minor);
	ASSERT_EQ(0, submit_commit(self, TAG_ENT + i, e->qid, commit_id));
	ASSERT_EQ(0, client_wait(self, c, CLIENT_MS));
	EXPECT_EQ(safe ? -EIO : -EFAULT, self->clients[c].result)
		TH_LOG("fuse_uring_copy_from_ring(): a reply with data from a payload at NULL");
}

/*
 * Finding (7.46): REGISTER takes any zero-copy slot index.
 * fuse_uring_create_ring_ent() only checks that a non-zero
 * ent_zero_copy_buf_index is on a zero-copy queue (7.3 dev_uring.c:1443);
 * a slot past the server's registered-buffer table is found out at the
 * first zero-copy request, when io_buffer_register_bvec() fails
 * (io_uring/rsrc.c:1030, -EINVAL) in fuse_uring_set_up_zero_copy()
 * (:830): the request ends with that error and the server never sees it,
 * so the client's read(2) fails with EINVAL for a mistake of the server's
 * setup, on every zero-copy READ and WRITE of that entry.
 *
 * Reproducer: a sparse table of 4 buffers, ADD_QUEUE with
 * FUSE_URING_ZERO_COPY and a pool on every queue, REGISTER one entry per
 * queue with slot 1000 (accepted), open the mount (FOPEN_IO_URING_ZERO_COPY
 * | FOPEN_DIRECT_IO) and pread(): EINVAL, no READ over the ring.
 */
TEST_F_TIMEOUT(abi, slot_index_unchecked, CASE_S)
{
	struct io_served st;
	int c;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	NEED_QUEUE_CMDS();
	START(FUSE_OVER_IO_URING);
	ASSERT_EQ(0, io_uring_register_buffers_sparse(&self->ring, 4));
	ASSERT_EQ(0, pools_add(self, FUSE_URING_ZERO_COPY, 1, false));
	ASSERT_EQ(0, register_pooled(self, 1, true, 1000))
		TH_LOG("fuse_uring_create_ring_ent() refused slots past the table: the finding is gone");
	ASSERT_EQ(0, img_new(&st));
	st.open_flags = FOPEN_IO_URING_ZERO_COPY;
	c = client_fork(self, -1, client_io, IO_READ);
	ASSERT_LE(0, c);
	ASSERT_EQ(0, serve_client(self, &st, c));
	EXPECT_EQ(-(3000 + EINVAL), self->clients[c].result)
		TH_LOG("finding, 7.3 dev_uring.c:1443 then :830: the read must fail with EINVAL, not %lld",
		       (long long)self->clients[c].result);
	EXPECT_EQ(0, st.reads)
		TH_LOG("a READ reached the server through a slot past the table");
	close(st.img);
	/* Requests without data pages need no slot and still serve. */
	serves_over_ring(_metadata, self);
}

/*
 * Finding (7.46): the client's pages registered on one ring are released
 * on another.  fuse_uring_set_up_zero_copy() registers them in the
 * io_uring of the command that fetched the request (7.3
 * dev_uring.c:830), but fuse_uring_req_end() unregisters the slot
 * (zero_copy_unregister(), :141) in the io_uring of the command that
 * commits it, and nothing requires the two to be one ring
 * (fuse_uring_commit_fetch(), :1234, checks qid and commit_id).  Committed
 * from another ring, the unregister misses (an empty slot there: a
 * warning; a slot of its own: the wrong buffer goes) and the fetching
 * ring keeps the client's pages: after the client's read(2) returned, the
 * server still writes them with READ_FIXED into that slot.
 *
 * Reproducer: rings A and B, each a sparse table; zero-copy queue with a
 * pool, entries REGISTERed on A with slot k; the client preads; the server
 * READ_FIXEDs into slot k on A and commits on B; the read returns, and a
 * READ_FIXED into slot k on A still succeeds (an empty slot is -EFAULT).
 */
TEST_F_TIMEOUT(abi, zero_copy_commit_other_ring, CASE_S)
{
	struct io_served st;
	struct io_uring other;
	int c, res;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	NEED_QUEUE_CMDS();
	START(FUSE_OVER_IO_URING);
	ASSERT_EQ(0, io_uring_queue_init(8, &other, IORING_SETUP_SQE128));
	ASSERT_EQ(0, io_uring_register_buffers_sparse(&other, MAX_ENTS));
	ASSERT_EQ(0, io_uring_register_buffers_sparse(&self->ring, MAX_ENTS));
	ASSERT_EQ(0, pools_add(self, FUSE_URING_ZERO_COPY, 1, false));
	ASSERT_EQ(0, register_pooled(self, 1, true, 0));
	ASSERT_EQ(0, img_new(&st));
	st.open_flags = FOPEN_IO_URING_ZERO_COPY;
	st.zc_read_commit_ring = &other;
	c = client_fork(self, -1, client_io, IO_READ);
	ASSERT_LE(0, c);
	ASSERT_EQ(0, serve_client(self, &st, c));
	ASSERT_EQ(0, self->clients[c].result)
		TH_LOG("a zero-copy READ committed on another ring: step %lld errno %lld",
		       (long long)-self->clients[c].result / 1000,
		       (long long)-self->clients[c].result % 1000);
	ASSERT_EQ(1, st.zc_reads);
	res = fixed_io(&self->ring, IORING_OP_READ_FIXED, st.img,
		       st.last_zc_slot, 4096, 0);
	TH_LOG("READ_FIXED into slot %d of the fetching ring after the read returned: %d",
	       st.last_zc_slot, res);
	EXPECT_EQ(4096, res)
		TH_LOG("finding, 7.3 dev_uring.c:141: the slot must still hold the client's pages");
	if (res != 4096)
		EXPECT_EQ(-EFAULT, res)
			TH_LOG("the slot is empty: the finding is gone");
	close(st.img);
	io_uring_queue_exit(&other);
}

/* The probe */

/*
 * On a scratch connection of a child of its own: the INIT offer, and one
 * well-formed REGISTER on a connection whose INIT reply did not grant the
 * ring; on a fresh /dev/fuse whether FUSE_DEV_IOC_SYNC_INIT is known.
 * Returns 0, or 1 with the reason in ans->why.
 */
struct probe {
	struct kernel_answers ans;
	char why[160];
};

static int probe_kernel(void *arg)
{
	struct probe *p = arg;
	FIXTURE_DATA(abi) conn, *self = &conn;
	const char *why;
	uint64_t tag;
	int fd, ret;

	memset(self, 0, sizeof(*self));
	self->dev = -1;
	fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		snprintf(p->why, sizeof(p->why), "cannot open /dev/fuse");
		return 1;
	}
	p->ans.sync_init = ioctl(fd, FUSE_DEV_IOC_SYNC_INIT) == 0;
	close(fd);

	why = env_open(self);
	if (!why && mount_conn(self))
		why = "cannot mount a FUSE connection";
	if (!why && read_init(self))
		why = "no FUSE_INIT on /dev/fuse";
	if (!why && reply_init(self, 0))
		why = "cannot answer FUSE_INIT";
	if (!why && ring_init(self))
		why = "cannot set up an io_uring with 128-byte SQEs";
	if (why) {
		snprintf(p->why, sizeof(p->why), "%s", why);
		env_close(self);
		return 1;
	}
	p->ans.minor = self->kminor;
	p->ans.queue_cmds = self->kminor >= 46 ||
			    (self->offered & FUSE_HAS_IO_URING_BUFPOOL);
	ret = good_register(self);
	if (ret == NO_CQE) {
		p->ans.grantless = HELD;
	} else {
		p->ans.grantless = ret;
		/* Nothing else may have completed before or after. */
		if (ret == OTHER_CQE ||
		    next_cqe(&self->ring, QUIET_MS, &tag, &ret) == 0)
			snprintf(p->why, sizeof(p->why),
				 "REGISTER without the grant: more than one CQE");
	}
	env_close(self);
	return p->why[0] ? 1 : 0;
}

static const char *probe(void)
{
	static char why[200];
	struct probe *p = fue_shared_alloc(sizeof(*p));
	int ret;

	if (!p)
		return "out of memory";
	ret = fue_in_child(probe_kernel, p, 4 * CQE_MS);
	if (ret) {
		snprintf(why, sizeof(why), "the probe of the kernel failed: %s",
			 ret > 0 && p->why[0] ? p->why :
			 ret == -ETIMEDOUT ? "it hung" : "it died");
		fue_shared_free(p, sizeof(*p));
		return why;
	}
	kern = p->ans;
	fue_shared_free(p, sizeof(*p));
	ksft_print_msg("kernel: FUSE 7.%u; REGISTER without the grant: %s; FUSE_DEV_IOC_SYNC_INIT %s; cmd_op 3, 4: %s\n",
		       kern.minor,
		       kern.grantless == HELD ? "accepted (no grant check, as 6.14-6.18)" :
		       kern.grantless == -EOPNOTSUPP ? "-EOPNOTSUPP (strict grant check, as 7.2+)" :
		       "something else",
		       kern.sync_init ? "known (as 6.18+)" : "unknown",
		       kern.queue_cmds ? "ADD_QUEUE, ADD_BUFPOOL (as 7.46)" :
		       "unknown");
	return NULL;
}

/*
 * Not TEST_HARNESS_MAIN: without root, /dev/fuse or the ring nothing here
 * can run, and kselftest wants exit 4 with the reason for that.  Whether
 * the ring exists is told by enable_uring alone, whatever the version.
 */
int main(int argc, char **argv)
{
	const char *why = check_env();
	char saved[8];
	int ret;

	if (!why && fue_read_word(URING_PARAM, saved, sizeof(saved)))
		why = URING_PARAM " is unreadable";
	if (why)
		ksft_exit_skip("%s\n", why);
	why = probe();
	fue_write_word(URING_PARAM, saved);
	if (why)
		ksft_exit_fail_msg("%s\n", why);
	ret = test_harness_run(argc, argv);
	/* Even a case killed on timeout leaves enable_uring as it was. */
	fue_write_word(URING_PARAM, saved);
	return ret;
}
