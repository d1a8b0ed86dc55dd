/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The shared state of one export: its options, its backing store and the
 * request slot every transport hands to the opcode handlers.
 */
#ifndef FUE_EXPORT_H
#define FUE_EXPORT_H

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "compiler.h"
#include "cpus.h"
#include "fuse_abi.h"

#define PROGRAM_NAME "fuse-uring-export"
#define PROGRAM_VERSION "0.1.0"

enum tristate { TRI_AUTO, TRI_OFF, TRI_ON };

/* A range of the image whose I/O fails on purpose (--fail-io, a test aid). */
struct fault_range {
	bool active;
	bool reads;
	bool writes;
	/* Every fdatasync/fsync, FLUSH's and FSYNC's and the final one. */
	bool syncs;
	uint64_t offset;
	uint64_t length;
	int error;
};

/* --fail-completion: the result one image I/O completion reports instead. */
struct completion_fault {
	/* IORING_OP_READ, IORING_OP_WRITE or IORING_OP_FSYNC. */
	uint8_t opcode;
	/* READ/WRITE: the request's offset; FSYNC: which sync, from 1. */
	uint64_t where;
	/* -errno, or a byte count (0 for an EOF). */
	int result;
};

#define COMPLETION_FAULTS_MAX 4

/* Test aids on the completion of image I/O (fault.c). */
struct completion_aids {
	struct completion_fault fault[COMPLETION_FAULTS_MAX];
	unsigned int nr_faults;
	/* --hold-sync=N:FIFO: sync N completes once a byte is read there. */
	unsigned int hold_sync;
	const char *hold_path;
};

struct export_options {
	const char *image;
	/* IMAGE was null:SIZE. */
	bool null_image;
	uint64_t null_size;
	const char *mountpoint;
	bool writable;
	bool growable;
	bool direct;
	bool stats;
	bool verbose;
	/* --trace: "-" for stderr, else a file. */
	const char *trace;
	bool daemonize;
	const char *pidfile;
	enum tristate allow_other;
	enum tristate io_uring;
	/* Pin queue threads to the CPUs of their kernel queues. */
	bool pin;
	/* --poll: microseconds to spin for a backing completion, or 0. */
	unsigned int poll_us;
	unsigned int queues;
	unsigned int queue_depth;
	uint32_t max_io;
	struct fault_range fault;
	struct completion_aids completion;
	/* --fail-register=N: REGISTERs from the N-th on carry a bad qid. */
	unsigned int fail_register;
	/* --fail-thread=N: thread 0 fails once it has taken N requests. */
	unsigned int fail_thread;
};

struct backing {
	int fd;
	/*
	 * With --direct: the image opened again without O_DIRECT, for the
	 * rare request whose offset, length or buffer is not aligned.
	 */
	int unaligned_fd;
	bool is_null;
	bool is_blockdev;
	bool writable;
	bool growable;
	bool direct;
	/* Logical block size: the alignment O_DIRECT needs. */
	uint32_t block_size;
	/* Current size; changes only under @lock. */
	uint64_t size;
	/*
	 * What is owed to stable storage.  @writes counts writes, resizes
	 * and fallocates that have completed; @synced is the value @writes
	 * had when the newest successful sync began, so a sync is owed while
	 * @synced < @writes.  @sync_failures counts failed syncs: a sync
	 * that ran while another failed cannot vouch for the same writes.
	 */
	uint64_t writes;
	uint64_t synced;
	uint64_t sync_failures;
	int sync_error;
	pthread_mutex_t lock;
	/* Attributes the export owns rather than the image file. */
	mode_t mode;
	uid_t uid;
	gid_t gid;
	bool allow_other;
	struct fault_range fault;
	/* Timestamps of a null: image, which has no inode of its own. */
	struct timespec null_mtime;
	struct timespec null_ctime;
	/* STORE_LACKS_* the store has turned down, so emulated since. */
	uint32_t lacks;
};

/* What a store may lack, learnt from its first refusal. */
#define STORE_LACKS_ZERO_RANGE	0x1
#define STORE_LACKS_PUNCH_HOLE	0x2
#define STORE_LACKS_ALLOCATE	0x4
#define STORE_LACKS_SEEK	0x8

struct fuse_request;
struct queue_thread;

/* What a sync saw when it began: the backing's @writes, @sync_failures. */
struct sync_ticket {
	uint64_t writes;
	uint64_t failures;
};

/* Completion of one submission on a queue thread's ring. */
struct ring_op {
	void (*done)(struct ring_op *op, int res);
	/* I/O on the image, which --poll spins for (ring.c). */
	bool backing;
};

/* How a transport answers a request the opcode handlers have served. */
struct transport {
	const char *name;
	/* Send @len bytes of reply data (at req->reply) with @error. */
	void (*reply)(struct fuse_request *req, int error, uint32_t len);
	/* Finish a request the protocol does not answer (FORGET). */
	void (*drop)(struct fuse_request *req);
};

/*
 * One request in flight.  Ring entries and /dev/fuse slots embed one
 * each; it lives as long as its slot and is reused for every request.
 * Its two completion ops are set once, when the slot is allocated, so a
 * CQE means the same whatever the request is doing: @cmd_op the
 * transport's command (a ring entry's REGISTER or COMMIT_AND_FETCH),
 * @io_op the backing I/O (blockdev.c).
 */
struct fuse_request {
	struct ring_op cmd_op;
	struct ring_op io_op;
	const struct transport *transport;
	struct queue_thread *thread;
	/* The decoded request; points into the transport's buffers. */
	const struct fuse_in_header *in;
	const void *arg;
	uint32_t arg_len;
	const void *data;
	uint32_t data_len;
	/* Where reply data goes: page-aligned, @reply_cap bytes. */
	void *reply;
	uint32_t reply_cap;
	/* Backing I/O progress of a READ/WRITE/FSYNC/FALLOCATE. */
	uint64_t io_offset;
	uint32_t io_len;
	uint32_t io_done;
	uint8_t io_opcode;
	/* FALLOCATE mode; for a sync, IORING_FSYNC_DATASYNC or 0. */
	uint32_t io_mode;
	/* The fsync_flags the sync's SQE carried: what the test aids name. */
	uint32_t sync_sent;
	struct sync_ticket sync;
	/*
	 * A FALLOCATE of [io_offset, io_end), done in steps (falloc.c):
	 * the step it is on, and how far zeroes have been written.
	 */
	uint64_t io_end;
	uint64_t io_pos;
	uint8_t io_step;
	/* Called when the backing I/O has finished, short I/O resubmitted. */
	void (*io_complete)(struct fuse_request *req, int res);
	/* I/O run in steps (a FALLOCATE): each step's result goes here. */
	void (*io_step_done)(struct fuse_request *req, int res);
	int qid;
	/* Kept by request_begin() for the trace and the latency figures. */
	uint64_t start_ns;
	/* Of that, the time its backing I/O took; 0 when it had none. */
	uint64_t image_start_ns;
	uint64_t image_ns;
	uint64_t unique;
	uint32_t opcode;
	uint64_t trace_offset;
	uint32_t trace_size;
};

struct qid_stats;
struct init_result;

/* Everything one export shares between main and its queue threads. */
struct export {
	struct export_options opt;
	/* Online CPUs; empty when /sys does not say. */
	struct cpus online;
	struct backing backing;
	const struct init_result *init;
	/* The /dev/fuse fd the mount was made with. */
	int dev_fd;
	/* Kernel queues: one per possible CPU. */
	unsigned int nr_queues;
	unsigned int nr_threads;
	bool uring;
	/* Ring entry payload and /dev/fuse read buffer sizes. */
	uint32_t payload_size;
	uint32_t dev_read_size;
	/* The largest READ the kernel was told it may send. */
	uint32_t max_read;
	struct queue_thread *threads;
	struct qid_stats *qid_stats;
	pthread_t main_thread;
	/* Queue threads still running; main is told when one ends. */
	unsigned int running;
	/* Queue threads whose entries and reads have been submitted. */
	unsigned int armed;
	/* First fatal error a queue thread hit, 0 if none. */
	int fatal;
	/*
	 * The errno of the first REGISTER the kernel refused, 0 if none:
	 * the kernel has then turned the ring off for the connection, and
	 * every thread serves /dev/fuse with all its slots.
	 */
	int uring_failed;
	/* REGISTERs sent so far, for --fail-register. */
	unsigned int registers_sent;
};

/* What carries requests now: the ring, or /dev/fuse after a fallback. */
static inline bool export_on_ring(const struct export *exp)
{
	return exp->uring &&
	       !smp_load_acquire(&exp->uring_failed);
}

/* The kernel takes an answer's error only in (-512, 0]. */
static inline int fuse_reply_error(int error)
{
	return error > 0 || error <= -512 ? -EIO : error;
}

/* How the kernel says that the connection has ended (unmount, abort). */
static inline bool fuse_conn_gone(int err)
{
	return err == -ENOTCONN || err == -ECONNABORTED || err == -ENODEV;
}

static inline void request_reply(struct fuse_request *req, int error,
				 uint32_t len)
{
	req->transport->reply(req, error, len);
}

#endif /* FUE_EXPORT_H */
