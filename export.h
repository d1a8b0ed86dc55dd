/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The daemon's one internal header: the shared state of one export (its
 * options, its image and the request slot every transport hands to the
 * opcode handlers), and what each file offers the others, one section a
 * file.  The uapi supplement (fuse_abi.h) and the compiler helpers
 * (compiler.h) stay apart: the selftests use them on their own.
 */
#ifndef FUE_EXPORT_H
#define FUE_EXPORT_H

#include <errno.h>
#include <liburing.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <time.h>

#include "compiler.h"
#include "fuse_abi.h"

/* log.c: messages */

extern bool log_verbose;

void log_error(const char *fmt, ...) __printf(1, 2);
void log_info(const char *fmt, ...) __printf(1, 2);
void log_debug(const char *fmt, ...) __printf(1, 2);

/* cpus.c: CPU sets and lists, and the queue deal */

/*
 * A CPU set sized to the CPUs it must hold: the kernel numbers CPUs past
 * glibc's fixed CPU_SETSIZE (1024) on big machines.  An empty one (set
 * NULL) stands for "not known".
 */
struct cpus {
	cpu_set_t *set;
	/* Bytes, as the CPU_*_S macros and the affinity calls want them. */
	size_t size;
};

/* CPU numbers from 0 to CPUS_MAX - 1; Linux's NR_CPUS is far below it. */
#define CPUS_MAX (1u << 20)

int cpus_alloc(struct cpus *c, unsigned int nr);
void cpus_free(struct cpus *c);
bool cpus_has(const struct cpus *c, unsigned int cpu);
void cpus_add(struct cpus *c, unsigned int cpu);
unsigned int cpus_count(const struct cpus *c);
int cpus_parse_list(const char *list, struct cpus *c);
int cpus_read_list(const char *path, struct cpus *c);
unsigned int cpus_qid_owner(unsigned int qid, unsigned int nr_threads);
unsigned int cpus_thread_qid_count(unsigned int thread, unsigned int nr_queues,
			      unsigned int nr_threads);
unsigned int cpus_qid_entries(unsigned int qid, const struct cpus *online,
			 unsigned int depth);
unsigned int cpus_thread_entries(unsigned int thread, unsigned int nr_queues,
			    unsigned int nr_threads, const struct cpus *online,
			    unsigned int depth);

/* stats.c: the counters and their --stats lines */

/*
 * Counters are written by the one thread that owns them and read by main
 * for a report, hence relaxed atomics: no lock on the request path.
 */
typedef uint64_t stat_counter;

/* Latency buckets: four per power of two of microseconds, up to 2^40. */
#define LATENCY_BUCKETS 164
/* FUSE opcodes tracked one by one; larger ones share the last slot. */
#define STATS_OPCODES 64

struct op_stats {
	/*
	 * Odd while its owner records a request: a report copies the rest
	 * when it is even and unchanged, so one line adds up under load.
	 */
	stat_counter seq;
	stat_counter count;
	stat_counter bytes;
	stat_counter max_us;
	stat_counter latency[LATENCY_BUCKETS];
	/* The part the image I/O took, for requests that had some. */
	stat_counter image_count;
	stat_counter image_max_us;
	stat_counter image_latency[LATENCY_BUCKETS];
};

/* stats_record()'s image time of a request with no image I/O. */
#define STATS_NO_IMAGE UINT64_MAX

/* Written by one thread each: a cache line apiece, or they bounce. */
#define CACHE_LINE 64

struct qid_stats {
	stat_counter ring;
	stat_counter errors;
	/* Requests taken from the queue and not yet committed. */
	stat_counter inflight;
	/* The most there have been at once: at --queue-depth, it was full. */
	stat_counter peak;
	/* READs and WRITEs whose data the kernel handed over zero copy. */
	stat_counter zero_copy_reads;
	stat_counter zero_copy_writes;
	/* Replies whose copy to the client was left to an io-wq worker. */
	stat_counter offloaded;
	unsigned int thread;
} __aligned(CACHE_LINE);

struct thread_stats {
	/* /dev/fuse slots taking requests: 1 in ring mode until a fall-back. */
	stat_counter readers;
	stat_counter dev;
	stat_counter dev_io;
	stat_counter errors;
	/* Waits that a --poll spin ended with a completion. */
	stat_counter polled;
	/* [STATS_OPCODES], only while requests are observed. */
	struct op_stats *ops;
};

static inline void stat_add(stat_counter *c, uint64_t n)
{
	WRITE_ONCE(*c, READ_ONCE(*c) + n);
}

static inline void stat_inc(stat_counter *c)
{
	stat_add(c, 1);
}

void *stats_calloc_lines(size_t n, size_t size);

struct export;
int stats_alloc_ops(struct thread_stats *st);
void stats_free_ops(struct thread_stats *st);
void stats_record(struct thread_stats *st, uint32_t opcode, uint64_t lat_us,
		  uint64_t image_us, uint64_t bytes);
void stats_print(FILE *out, const struct export *exp);

/*
 * Where a request is counted, once as it starts (decoded) and once as it
 * is answered or dropped: its queue's or its thread's counters, and when
 * requests are observed its trace lines and latency.
 */
struct fuse_request;
void request_begin(struct fuse_request *req);
void request_end(struct fuse_request *req, int error, uint32_t len);

/*
 * The export: its options, its image, the request, and what main and the
 * queue threads share.
 */

#define PROGRAM_NAME "fuse-uring-export"
#define PROGRAM_VERSION "0.1.0"

enum tristate { TRI_AUTO, TRI_OFF, TRI_ON };

struct export_options {
	const char *image;
	/* IMAGE was null:SIZE. */
	bool null_image;
	uint64_t null_size;
	const char *mountpoint;
	bool writable;
	bool growable;
	/* --growable=SIZE: the largest the image may grow to; 0: default. */
	uint64_t grow_limit;
	bool direct;
	bool stats;
	bool verbose;
	/* --trace: "-" for stderr, else a file. */
	const char *trace;
	bool daemonize;
	const char *pidfile;
	enum tristate allow_other;
	enum tristate io_uring;
	/* --zero-copy: READ/WRITE data between client pages and IMAGE. */
	enum tristate zero_copy;
	/* --pool=N buffers per queue's pool, 0 for none; else the default. */
	unsigned int pool;
	bool pool_given;
	/* Pin queue threads to the CPUs of their kernel queues. */
	bool pin;
	/* --poll: microseconds to spin for an image completion, or 0. */
	unsigned int poll_us;
	unsigned int queues;
	/* --queue-depth; 0: the default, which depends on the kernel. */
	unsigned int queue_depth;
	uint32_t max_io;
	/* The test aids' options, for fault.c alone. */
	struct fault_options *faults;
};

struct image;
struct fuse_request;
struct queue_thread;

/*
 * Where the image's bytes live: a file (a regular file or a block
 * device), null:, or a test aid wrapped around either (fault.c).  image.c
 * keeps what every backend shares (size and growth, what is owed to stable
 * storage, mode and owner) and calls a backend only for its store.
 */
struct image_ops {
	int (*open)(struct image *img, const struct export_options *opt);
	void (*close)(struct image *img);
	/* GETATTR's times, and its allocation where the store knows it. */
	void (*attr)(struct image *img, struct fuse_attr *attr);
	/* A write or resize moved the times; NULL where the store does. */
	void (*touch)(struct image *img);
	/* The store's new size; under img->lock. */
	int (*truncate)(struct image *img, uint64_t size);
	/* SEEK_DATA/SEEK_HOLE, or -EOPNOTSUPP: data throughout. */
	int (*seek)(struct image *img, uint64_t offset, int whence,
		    uint64_t *result);
	/* The room of the store's file system; -ENODATA when it has none. */
	int (*room)(struct image *img, struct statvfs *vfs);
	/* Once per request slot: where its image I/O completes. */
	void (*request_init)(struct fuse_request *req);
	/*
	 * READ, WRITE or FSYNC from req->io.done on; the result goes to
	 * image_io_finish(), at once or from the ring.
	 */
	void (*submit)(struct fuse_request *req);
	/* FALLOCATE req->io.mode over [offset, end); to req->io.complete. */
	void (*fallocate)(struct fuse_request *req);
	/* The sync at exit, run in place: 0 or -errno. */
	int (*sync)(struct image *img);
};

extern const struct image_ops file_image_ops;
extern const struct image_ops null_image_ops;

struct image {
	const struct image_ops *ops;
	bool writable;
	bool growable;
	/* Growth past this answers EFBIG, as a file system's limit would. */
	uint64_t grow_limit;
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
	/* IMAGE_LACKS_* the store has turned down, so emulated since. */
	uint32_t lacks;

	/* The file backend's (image_file.c). */
	int fd;
	/*
	 * With --direct: the image opened again without O_DIRECT, for the
	 * rare request whose offset, length or buffer is not aligned.
	 */
	int unaligned_fd;
	bool direct;
	bool is_blockdev;
	/* Logical block size: the alignment O_DIRECT needs. */
	uint32_t block_size;

	/* null:'s times (image_null.c): it has no inode to keep them. */
	struct timespec mtime;
	struct timespec ctime;
};

/* What a store may lack, learnt from its first refusal. */
#define IMAGE_LACKS_ZERO_RANGE	0x1
#define IMAGE_LACKS_PUNCH_HOLE	0x2
#define IMAGE_LACKS_ALLOCATE	0x4
#define IMAGE_LACKS_SEEK	0x8



/* What a sync saw when it began: the image's @writes, @sync_failures. */
struct sync_ticket {
	uint64_t writes;
	uint64_t failures;
};

/* Completion of one submission on a queue thread's ring. */
struct ring_op {
	void (*done)(struct ring_op *op, int res);
	/* I/O on the image small enough for --poll to spin for (queue.c). */
	bool image;
};

/*
 * A larger image I/O takes long enough that a --poll spin seldom sees it
 * complete: spinning for 1 MiB reads tripled the queue thread's CPU and
 * gained no speed.
 */
#define POLL_MAX_IMAGE_BYTES (64 * 1024)

/* How a transport answers a request the opcode handlers have served. */
struct transport {
	const char *name;
	/* Send @len bytes of reply data (at req->reply) with @error. */
	void (*reply)(struct fuse_request *req, int error, uint32_t len);
	/* Finish a request the protocol does not answer (FORGET). */
	void (*drop)(struct fuse_request *req);
};

/*
 * A request's image I/O (image.c), and where it stands: a READ, WRITE
 * or FSYNC may take several SQEs (short transfers), a FALLOCATE several
 * steps (falloc.c).
 */
struct image_io {
	uint8_t opcode;
	/*
	 * A zero-copy READ or WRITE: the client's pages are the buffer at
	 * @buf_index of the thread's io_uring table, from address 0.
	 */
	bool fixed;
	uint16_t buf_index;
	/* O_DIRECT refused the zero-copy buffer: the page cache's fd then. */
	bool buffered;
	uint64_t offset;
	uint32_t len;
	uint32_t done;
	/* FALLOCATE mode; for a sync, IORING_FSYNC_DATASYNC or 0. */
	uint32_t mode;
	/* What the sync's SQE asked for: what the test aids name. */
	uint32_t sync_sent;
	struct sync_ticket sync;
	/*
	 * A FALLOCATE of [offset, end): the step it is on, and how far
	 * zeroes have been written.
	 */
	uint64_t end;
	uint64_t pos;
	uint8_t step;
	/* Called when it has all finished, short I/O resubmitted. */
	void (*complete)(struct fuse_request *req, int res);
};

/* What --trace and --stats keep of a request while it runs (trace.c). */
struct request_observation {
	uint64_t start_ns;
	/* Of that, the time its image I/O took; 0 when it had none. */
	uint64_t image_start_ns;
	uint64_t image_ns;
	uint64_t unique;
	uint32_t opcode;
	uint64_t offset;
	uint32_t size;
};

/*
 * One request in flight.  Ring entries and /dev/fuse slots embed one
 * each; it lives as long as its slot and is reused for every request.
 * Its two completion ops are set once, when the slot is allocated, so a
 * CQE means the same whatever the request is doing: @cmd_op the
 * transport's command (a ring entry's REGISTER or COMMIT_AND_FETCH),
 * @io_op the image I/O (the image's backend).
 */
struct fuse_request {
	struct ring_op cmd_op;
	struct ring_op io_op;
	const struct transport *transport;
	struct queue_thread *thread;
	/* The kernel queue it came from; -1 over /dev/fuse. */
	int qid;
	/* The decoded request; points into the transport's buffers. */
	const struct fuse_in_header *in;
	const void *arg;
	uint32_t arg_len;
	const void *data;
	uint32_t data_len;
	/* Where reply data goes: page-aligned, @reply_cap bytes. */
	void *reply;
	uint32_t reply_cap;
	/*
	 * Leading bytes of @reply that a null: READ zeroed and nothing has
	 * written since: the next READ need not zero them again.
	 */
	uint32_t reply_zeroes;
	struct image_io io;
	struct request_observation obs;
};

struct qid_stats;
struct init_result;

/* Everything one export shares between main and its queue threads. */
struct export {
	struct export_options opt;
	/* Online CPUs; empty when /sys does not say. */
	struct cpus online;
	struct image image;
	const struct init_result *init;
	/* The /dev/fuse fd the mount was made with. */
	int dev_fd;
	/* Kernel queues: one per possible CPU. */
	unsigned int nr_queues;
	unsigned int nr_threads;
	bool uring;
	/* Ring entries per queue with an online CPU; /dev/fuse reads. */
	unsigned int queue_depth;
	/* The kernel offers buffer pools (7.46): a queue's entries share one. */
	bool bufpool;
	/* Buffers of a pool, on a queue with an online CPU. */
	unsigned int pool_buffers;
	/* Queues are made zero copy, and OPEN asks for it (7.46). */
	bool zero_copy;
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

/* init.c: FUSE_INIT negotiation */

/* What the daemon wants from the connection. */
struct init_policy {
	bool want_uring;
	/* Largest READ/WRITE payload the daemon is prepared to serve. */
	uint32_t max_io;
	uint32_t page_size;
	/* /proc/sys/fs/fuse/max_pages_limit, or 0 when unknown. */
	uint32_t max_pages_limit;
	/* How many requests the kernel may keep in the background. */
	uint16_t max_background;
	/* The same where the kernel offers pools: queues are deeper then. */
	uint16_t max_background_pooled;
};

/* The outcome of one INIT exchange. */
struct init_result {
	struct fuse_init_out out;
	/* Bytes of @out to send back: older minors expect a shorter reply. */
	size_t out_len;
	uint32_t kernel_major;
	uint32_t kernel_minor;
	uint32_t minor;
	/* 64-bit flag words: flags2 folded into the upper half. */
	uint64_t offered;
	uint64_t granted;
	uint32_t max_write;
	uint32_t max_pages;
	bool uring;
	/* Buffer pools and zero copy: FUSE_HAS_IO_URING_BUFPOOL offered. */
	bool bufpool;
	/* Why the ring was not granted, NULL when it was. */
	const char *no_uring_reason;
};

int init_negotiate(const void *in, size_t in_len,
		   const struct init_policy *policy, struct init_result *res);

uint32_t init_open_flags(const struct init_result *res);

uint32_t init_ring_payload_size(const struct init_result *res,
				uint32_t page_size);

/* queue.c: a queue thread, and the calls every layer below makes on it */

/*
 * A queue thread: one io_uring, the ring entries of the kernel queues it
 * was dealt, and its /dev/fuse reader; and the calls every layer below
 * makes on it.
 */

struct uring_entry;
struct uring_queue;
struct dev_reader;
struct queue_thread;

struct queue_thread {
	unsigned int index;
	pthread_t tid;
	bool started;
	struct export *exp;
	struct io_uring ring;
	bool ring_ready;
	/* Submissions whose completion has not been reaped yet. */
	unsigned int inflight;
	/* Of them, I/O on the image. */
	unsigned int image_inflight;
	/* The most there can be: one per ring entry and /dev/fuse op. */
	unsigned int max_inflight;
	/* No new receive is armed once set; the loop ends at inflight 0. */
	bool stopping;
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
	/* The kernel queues it serves over the ring, and their pools. */
	struct uring_queue *uqueues;
	unsigned int nr_uqueues;
	struct dev_reader *dev;
	/* The io_uring_setup() flags the kernel accepted for this ring. */
	unsigned int ring_flags;
	struct thread_stats stats;
} __aligned(CACHE_LINE);

int queues_start(struct export *exp);
void queues_join(struct export *exp);
void queues_free(struct export *exp);

int queue_probe_io_uring(void);
int queue_io_uring_sizes(unsigned int inflight, unsigned int *sq,
			 unsigned int *cq);

/*
 * What a transport tells its thread.  A fatal error ends the whole export
 * (true for the export's first one, which the caller then explains; the
 * loudly variant explains it itself); the connection having ended, or
 * the kernel having turned FUSE-over-io_uring off, is no error.
 */
bool queue_fail_export(struct export *exp, int err);
bool queue_thread_fail(struct queue_thread *t, int err);
void queue_thread_fail_loudly(struct queue_thread *t, int err);
void queue_thread_conn_gone(struct queue_thread *t);
void queue_thread_uring_off(struct queue_thread *t, int err);

/* SQEs are always 128 bytes: FUSE ring commands need the big cmd area. */
#define SQE_BYTES 128

/*
 * A zeroed 128-byte SQE whose completion goes to @op.  liburing 2.3 hands
 * out SQEs with the previous user's bytes still in them, and the FUSE
 * command area lies beyond the 64 bytes its prep helpers touch.
 */
static inline struct io_uring_sqe *queue_sqe(struct queue_thread *t,
					     struct ring_op *op)
{
	struct io_uring_sqe *sqe;

	sqe = io_uring_get_sqe(&t->ring);
	while (!sqe) {
		io_uring_submit(&t->ring);
		sqe = io_uring_get_sqe(&t->ring);
	}
	memset(sqe, 0, SQE_BYTES);
	io_uring_sqe_set_data(sqe, op);
	t->inflight++;
	t->image_inflight += op->image;
	return sqe;
}

/* Image I/O: a --poll spin may wait for it when @short_io. */
static inline struct io_uring_sqe *queue_image_sqe(struct queue_thread *t,
						   struct ring_op *op,
						   bool short_io)
{
	/* Set before it is counted: its completion uncounts the same. */
	op->image = short_io;
	return queue_sqe(t, op);
}

/* image.c: the image, whatever backend holds it, and its I/O */

int image_open(struct image *img, const struct export_options *opt);
void image_close(struct image *img);
void image_fill_attr(struct image *img, struct fuse_attr *attr);
void image_touch(struct image *img);
void image_wrote(struct image *img);
int image_resize(struct image *img, uint64_t size);
int image_grow_to(struct image *img, uint64_t end);
int image_seek(struct image *img, uint64_t offset, int whence,
	       uint64_t *result);
int image_statfs(struct image *img, struct fuse_kstatfs *st);
bool image_sync_owed(struct image *img);
int image_sync(struct image *img);
void image_note_lack(struct image *img, uint32_t what);
void image_submit(struct fuse_request *req,
		  void (*complete)(struct fuse_request *req, int res));
void image_fallocate(struct fuse_request *req,
		     void (*complete)(struct fuse_request *req, int res));
void image_io_finish(struct fuse_request *req, int res);

static inline uint64_t image_size(struct image *img)
{
	return smp_load_acquire(&img->size);
}

static inline struct image *request_image(struct fuse_request *req)
{
	return &req->thread->exp->image;
}

/* image_file.c: a regular file or a block device */

int image_file_data_fd(struct image *img, uint64_t offset, uint32_t len,
		       const void *buf);

/* falloc.c: FALLOCATE on a file's store */

void falloc_submit(struct fuse_request *req);
void falloc_step_done(struct fuse_request *req, int res);

/*
 * fault.c: test aids, as a backend wrapped around the real one and one
 * point on the REGISTER path, so that nothing else knows of them.
 */

struct fault_options;

bool fault_wanted(const struct export_options *opt);
const struct image_ops *fault_wrap(const struct image_ops *backend);
int fault_parse_option(const char *name, const char *arg,
		       struct export_options *opt);
/* The qid a REGISTER of @qid carries: --fail-register's bad one. */
uint16_t fault_register_qid(const struct export *exp, uint16_t qid);
uint16_t fault_pool_qid(const struct export *exp, uint32_t cmd_op,
			uint16_t qid);

/* decode.c: received bytes to a request */

/* decode_dev_request() found no header: there is no one to answer. */
#define DECODE_NO_HEADER 1

uint32_t decode_arg_size(uint32_t opcode);
const char *decode_opcode_name(uint32_t opcode);
int decode_dev_request(struct fuse_request *req, const void *buf,
		       uint32_t len);
int decode_ring_request(struct fuse_request *req,
			const struct fuse_uring_req_header *h, void *payload,
			uint32_t payload_cap);

/* ops.c: the opcode handlers */

bool ops_is_io(uint32_t opcode);
void ops_dispatch(struct fuse_request *req);

/* fuse_uring.c: the FUSE-over-io_uring transport */

/* Queue depth where the kernel offers pools, and a pool's buffers. */
#define FUSE_URING_DEPTH_POOLED 128
#define FUSE_URING_DEPTH_DEFAULT 32
#define FUSE_URING_POOL_DEFAULT 32

int fuse_uring_plan(struct export *exp);
int fuse_uring_alloc(struct queue_thread *t);
void fuse_uring_register(struct queue_thread *t);
void fuse_uring_free(struct queue_thread *t);

/* fuse_dev.c: the /dev/fuse transport */

int fuse_dev_alloc(struct queue_thread *t, unsigned int nr_slots,
		     unsigned int active);
unsigned int fuse_dev_sqes(const struct queue_thread *t);
void fuse_dev_start(struct queue_thread *t);
void fuse_dev_free(struct queue_thread *t);
uint32_t fuse_dev_read_size(uint32_t max_write);

/* trace.c: per-request observation */

/*
 * Per-request observation: the --trace lines and the latency histograms
 * of --stats.  Off, each hook costs the request path one branch.
 */

extern bool trace_requests_on;

int trace_open(const char *path);
void trace_close(void);
void trace_observe_begin(struct fuse_request *req);
void trace_observe_end(struct fuse_request *req, int error, uint32_t len);
void trace_observe_image_begin(struct fuse_request *req);
void trace_observe_image_end(struct fuse_request *req);

/*
 * Around a request's image I/O, so that its latency splits into the
 * image's part and the rest: the kernel's queue, the daemon, the reply.
 */
static inline void request_image_begin(struct fuse_request *req)
{
	if (__builtin_expect(trace_requests_on, 0))
		trace_observe_image_begin(req);
}

static inline void request_image_end(struct fuse_request *req)
{
	if (__builtin_expect(trace_requests_on, 0))
		trace_observe_image_end(req);
}

/* mount.c: mounting, the fusectl connection, unmounting */

struct export_mount {
	/*
	 * MOUNTPOINT made absolute without following its last component:
	 * for messages and fusermount3; root mounts through @target_fd.
	 */
	char path[4096 + 256];
	/* MOUNTPOINT as checked: O_PATH, not a symlink, a regular file. */
	int target_fd;
	/* The mount @target_fd lives on: the parent of ours in mountinfo. */
	unsigned int parent_id;
	/* fusectl connection number: the minor of the mount's st_dev. */
	unsigned int conn;
	bool has_conn;
	/* fusectl's abort file, held open from the mount on. */
	int abort_fd;
	bool mounted;
	bool allow_other;
	/* Mounted by fusermount3, so unmounted by it too. */
	bool via_fusermount;
};

int mount_prepare(struct export_mount *m, const char *mountpoint);
int mount_export(struct export_mount *m, const char *source, bool read_only,
		 bool allow_other, uint32_t max_read);
bool mount_present(const struct export_mount *m);
void mount_remove(struct export_mount *m);
int mount_abort(const struct export_mount *m);
void mount_release(struct export_mount *m);
/* Undoes mountinfo's \ooo escapes in place. */
void mount_unescape(char *s);

/* daemon.c: --daemonize, --pidfile and the files the daemon writes */

int daemon_detach(void);
int daemon_open_output(const char *what, const char *path, mode_t mode,
		       bool *created);
int daemon_pidfile_open(const char *path);
int daemon_ready(void);
void daemon_cleanup(void);

/* cli.c: the command line */

/* Exit status of a command line the program cannot run. */
#define EXIT_USAGE 2
/* cli_parse() found a command line to run. */
#define CLI_RUN (-1)

#define QUEUES_MAX 1024
#define QUEUE_DEPTH_MAX 4096
#define POLL_US_MAX 10000
#define MAX_IO_MIN (4 * 1024)
#define MAX_IO_MAX (16 * 1024 * 1024)

int cli_parse(int argc, char **argv, struct export_options *opt);
/* "512", "4K", "1M", "2G", "1T": powers of 1024, into bytes; 0 or -errno. */
int cli_parse_size(const char *s, uint64_t *out);

/* report.c: the start-up report */

void report_init(const struct export *exp, const struct init_result *init);
void report_serving(const struct export *exp, const struct export_mount *m);

#endif /* FUE_EXPORT_H */
