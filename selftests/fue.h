/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Test library for fuse-uring-export: start an export, talk to it from
 * bounded child processes, read its counters, and always tear it down.
 * One section per file of the library, each file one concern.
 *
 * Everything here may meet a hung FUSE connection, so no helper blocks
 * without a deadline: client I/O runs in a child that is killed on timeout,
 * the daemon is waited for with a timeout, and a stuck connection is aborted
 * through fusectl before anything is unmounted.
 */
#ifndef FUE_H
#define FUE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

/* Default bounds, in milliseconds. */
#define FUE_START_TIMEOUT_MS	15000
#define FUE_STOP_TIMEOUT_MS	10000
#define FUE_IO_TIMEOUT_MS	10000
/* How long a new export may take to answer its first request. */
#define FUE_PROBE_TIMEOUT_MS	5000
/* How long one export may live before the watchdog aborts it. */
#define FUE_WATCHDOG_S		30

/* Diagnostics are TAP comments so that they never break the TAP stream. */
#define fue_log(fmt, ...) \
	fprintf(stderr, "# fue: " fmt "\n", ##__VA_ARGS__)

/* fue_proc.c: the clock and bounded child processes. */

long long fue_now_ms(void);
void fue_sleep_ms(int ms);

/*
 * Wait for our child pid with a deadline.  Returns 1 if reaped (*status
 * filled), 0 on timeout, -errno on error.
 */
int fue_wait_pid(pid_t pid, int *status, int timeout_ms);

/* True if pid is our (possibly zombie) child: the only pids we signal. */
bool fue_is_our_child(pid_t pid);

/*
 * Run fn(arg) in a child process with a timeout.  arg should live in memory
 * from fue_shared_alloc() when fn returns data through it.  Returns fn's
 * return value (0..255), or -ETIMEDOUT if the child had to be killed, or
 * -ECHILD if it died otherwise.
 */
int fue_in_child(int (*fn)(void *arg), void *arg, int timeout_ms);
void *fue_shared_alloc(size_t len);
void fue_shared_free(void *p, size_t len);

/*
 * Run a command (argv[0] found on PATH) with stdout and stderr to log and
 * a deadline; on timeout it is killed.  Returns its exit code, 128 +
 * signal if it was killed by one, -ETIMEDOUT or -errno.
 */
int fue_exec(const char *const *argv, const char *log, int timeout_ms);

/* Find prog on PATH (or take it as is if it has a '/'); NULL if absent. */
const char *fue_which(const char *prog, char *buf, size_t len);

/* fue_env.c: the machine under test. */

/*
 * Environment checks; each returns NULL if fine, else a reason to skip.
 * fue_check_uring() turns enable_uring on when it is off.  The first call
 * of either notes enable_uring's value, and the program puts that value
 * back when it exits.
 */
const char *fue_check_env(void);
const char *fue_check_uring(void);
/*
 * Why a fixture's tests cannot run here (fue_check_env(), and with
 * need_ring fue_check_uring()), or NULL.
 */
const char *fue_setup_skip(bool need_ring);

/*
 * The daemon binary: $FUE_BIN, else fuse-uring-export in the test's own
 * directory, else in its parent.
 */
const char *fue_bin(void);
/*
 * Put FUE_DAEMON_OPTS's options (space-separated) at argv, at most max;
 * returns how many.
 */
int fue_daemon_opts(const char **argv, int max);

/* Number of possible CPUs (= kernel FUSE queues) and the online CPU list. */
int fue_possible_cpus(void);
int fue_online_cpus(int *cpus, int max);

/* Read or write a sysfs-style one-word file; return 0 or -errno. */
int fue_read_word(const char *path, char *buf, size_t len);
int fue_write_word(const char *path, const char *word);

/* fue_mounts.c: the mount table and fusectl. */

/*
 * A kselftest run on a bare system may have no fusectl mounted: mount it
 * if absent, for as long as needed, then give it back to leave the
 * machine as found.  0 or -errno; *lent says whether to give it back.
 * The fusectl calls below borrow it for the call.
 */
int fue_fusectl_borrow(bool *lent);
void fue_fusectl_give_back(bool lent);

/* Abort a FUSE connection via fusectl; 0 or -errno. */
int fue_abort_conn(unsigned int conn);

/*
 * Find the topmost mount on path in /proc/self/mountinfo (never stat()ing
 * it).  Returns the number of mounts stacked there; *conn and *fstype (may
 * be NULL) describe the topmost one.
 */
int fue_mount_info(const char *path, unsigned int *conn, char *fstype,
		   size_t fstype_len);

/* Unmount everything on path, aborting FUSE connections first if asked. */
int fue_unmount_all(const char *path, bool abort_first);

/*
 * The mountpoint of some mount strictly under dir or on it, into found;
 * true if there is one.
 */
bool fue_mount_under(const char *dir, char *found, size_t len);

/*
 * Requests of connection conn not yet answered (fusectl's "waiting"),
 * -ENOENT when fusectl does not list it, -ENODEV (said on stderr) when
 * fusectl cannot be mounted.
 */
int fue_conn_waiting(unsigned int conn);

/*
 * True while fusectl still lists connection conn, and (said on stderr)
 * when fusectl cannot be mounted: a wait for a connection's end then fails.
 */
bool fue_conn_exists(unsigned int conn);

/* fue_io.c: bounded client I/O, images and direct file access. */

/*
 * One-shot client I/O through the mount, each in a bounded child process:
 * open(path, flags), the call, close.  Return bytes or 0 on success, -errno
 * on failure, -ETIMEDOUT on timeout.  With O_DIRECT in flags the transfer
 * goes through an aligned bounce buffer.
 */
ssize_t fue_pread(const char *path, int flags, void *buf, size_t len,
		  off_t off);
ssize_t fue_pwrite(const char *path, int flags, const void *buf, size_t len,
		   off_t off);
/* Read the whole file into buf (up to len); returns bytes or -errno. */
ssize_t fue_read_all(const char *path, void *buf, size_t len);

/*
 * The image pattern: byte at offset off of a pattern image.  Mixes all bits
 * of the offset so that data read from a wrong offset is noticed.
 */
static inline uint8_t fue_pattern_byte(uint64_t off)
{
	return (uint8_t)((off * 0x9e3779b97f4a7c15ULL) >> 56);
}

void fue_fill_pattern(void *buf, size_t len, off_t off);
/* Returns the index of the first byte differing from the pattern, or -1. */
ssize_t fue_check_pattern(const void *buf, size_t len, off_t off);
/* Returns the index of the first non-zero byte, or -1. */
ssize_t fue_check_zero(const void *buf, size_t len);

/* Create (or empty) the regular file an export mounts over; 0 or -errno. */
int fue_make_mountpoint(const char *path);
/* Create path with size bytes of pattern; 0 or -errno. */
int fue_make_image(const char *path, off_t size);
/* Create a sparse file of size bytes with pattern only in [off, off+len). */
int fue_make_sparse_image(const char *path, off_t size, off_t off, off_t len);

/*
 * Back a free loop device with file (a block device image); the device
 * name goes to dev.  Returns the device's open fd, or -errno.
 */
int fue_loop_attach(const char *file, char *dev, size_t len);
void fue_loop_detach(int fd);

/* Direct access to an image file, bypassing the export. */
/* The size of a file, or of a block device; -errno on error. */
off_t fue_file_size(const char *path);
ssize_t fue_file_pread(const char *path, void *buf, size_t len, off_t off);
/* FNV-1a over [off, off+len), len < 0 meaning to EOF; 0 or -errno. */
int fue_file_checksum(const char *path, off_t off, off_t len, uint64_t *sum);

/*
 * Compare the first len bytes of files a and b, in a bounded child (one of
 * them may be a FUSE mount).  Returns 0 if equal, 1 if they differ (*diff
 * is then the first differing offset), -errno on error (a short file
 * counts as -ENODATA) or -ETIMEDOUT.
 */
int fue_cmp_files(const char *a, const char *b, off_t len, off_t *diff);

/* fue_daemon.c: one export's life, from start to teardown. */

struct fue_export {
	/* private temporary directory; short enough to append file names */
	char dir[PATH_MAX - 64];
	char image[PATH_MAX];	/* default image path: dir/image */
	char mnt[PATH_MAX];	/* default mountpoint: dir/mnt */
	char pidfile[PATH_MAX];
	char errlog[PATH_MAX];	/* the daemon's stderr */
	char outlog[PATH_MAX];	/* the daemon's stdout */
	char mounted_on[PATH_MAX]; /* mountpoint of the running export */
	pid_t pid;		/* serving daemon, or 0 */
	pid_t watchdog;		/* watchdog process, or 0 */
	int watchdog_fd;	/* what we start goes to it through this pipe */
	unsigned int conn;	/* fusectl connection id, valid if has_conn */
	bool has_conn;
	bool exited;		/* daemon has been reaped */
	int status;		/* its wait status, valid if exited */
	unsigned int watchdog_s; /* 0: FUE_WATCHDOG_S */
	/* Sanitizer reports found in errlog so far, and how far it was read. */
	int sanitizer_reports;
	off_t errlog_scanned;
};

/* Set up e->dir and the default paths; returns 0 or -errno. */
int fue_init(struct fue_export *e);

/*
 * Start the daemon with the given options (NULL-terminated), image and
 * mountpoint, adding --daemonize and --pidfile.  Returns the launcher's exit
 * code (0: serving and answering a GETATTR), or -errno/-ETIMEDOUT if it
 * could not be run or does not answer (it is aborted then).  On 0,
 * e->pid is the serving daemon, reparented to the caller, which becomes a
 * child subreaper so that the daemon's exit status can be collected.
 * A failed start prints the daemon's stderr as TAP comments.
 */
int fue_start(struct fue_export *e, const char *image, const char *mnt, ...)
	__attribute__((sentinel));
int fue_startv(struct fue_export *e, const char *image, const char *mnt,
	       const char *const *opts);
/*
 * Start opts on a fresh pattern image of image_size bytes at e->image,
 * mounted over an empty e->mnt.  A failed start shows the daemon's stderr.
 */
int fue_start_fresh(struct fue_export *e, off_t image_size,
		    const char *const *opts);
/*
 * fue_start_fresh() of a writable export over transport (an --io-uring=
 * option) with the further options given, NULL-terminated.
 */
int fue_start_writable(struct fue_export *e, const char *transport,
		       off_t image_size, ...) __attribute__((sentinel));

/*
 * Run the daemon in the foreground with args (NULL-terminated, everything
 * after the program name), stdout to e->outlog and stderr to e->errlog.
 * Returns its exit code, 128 + signal if killed, or -ETIMEDOUT if it was
 * still running after timeout_ms (it is then stopped).
 */
int fue_run(struct fue_export *e, const char *const *args, int timeout_ms);

/*
 * For a test that starts the daemon its own way (as another user, say):
 * fue_claim() takes e for a daemon that will mount on mnt and starts its
 * watchdog; fue_watch() then tells the watchdog e->pid and e->conn, once
 * the test has set them.  0 or -errno.
 */
int fue_claim(struct fue_export *e, const char *mnt);
void fue_watch(struct fue_export *e);

/* Reap the daemon if it exited; wait up to timeout_ms.  True if reaped. */
bool fue_wait_exit(struct fue_export *e, int timeout_ms);

/*
 * SIGTERM the daemon, wait, abort the connection and SIGKILL it if needed.
 * Returns its wait status, or -1 if it had to be killed or was not ours.
 */
int fue_stop(struct fue_export *e);

/* Stop, unmount whatever is left on the mountpoints, remove e->dir. */
void fue_teardown(struct fue_export *e);

/*
 * Run the daemon in the foreground without waiting for it: wrapper (a
 * NULL-terminated command that takes the daemon's command line after it,
 * e.g. valgrind and its options; may be NULL), then fue_bin() and args.
 * stdout and stderr go to e->outlog and e->errlog.  e->pid is then our
 * child and mnt the mountpoint that fue_wait_mounted() waits for.
 * Returns 0 or -errno.
 */
int fue_spawn(struct fue_export *e, const char *const *wrapper,
	      const char *const *args, const char *mnt);

/*
 * Wait until the spawned daemon's FUSE mount shows up in mountinfo; then
 * e->conn is valid and the watchdog runs.  0, -ETIMEDOUT, or -ECHILD if
 * the daemon exited first.
 */
int fue_wait_mounted(struct fue_export *e, int timeout_ms);

/*
 * Wait until the daemon's stderr holds its "serving" line, which it prints
 * once every queue thread is armed, and it answers a GETATTR.  0,
 * -ETIMEDOUT (the export is then aborted), or -ECHILD if the daemon (our
 * child) exited first.
 */
int fue_wait_serving(struct fue_export *e, int timeout_ms);

/* fue_logs.c: the daemon's output: text, stats dumps, sanitizer reports. */

/* Read a whole small file into a NUL-terminated malloc()ed string. */
char *fue_slurp(const char *path);
/* Count the lines of a file's contents; returns -1 on error. */
int fue_count_lines(const char *text);
/* Print a file as TAP comments, each line after tag. */
void fue_dump_file(const char *tag, const char *path);
/* Print the daemon's stderr (e->errlog) as TAP comments. */
void fue_dump_errlog(const struct fue_export *e);

#define FUE_MAX_QUEUES		1024
#define FUE_MAX_THREADS		1024

/* Counters from the daemon's "stats:" lines (one dump). */
struct fue_qstat {
	int qid;
	int thread;
	int cpu;
	unsigned long long ring;
	unsigned long long errors;
	unsigned long long inflight;	/* taken, not yet answered */
	unsigned long long peak;	/* the most inflight has been */
	unsigned long long offloaded;	/* replies copied by io-wq */
};

struct fue_tstat {
	int thread;
	unsigned long long dev;
	unsigned long long dev_io;
	unsigned long long errors;
	/* /dev/fuse slots taking requests */
	unsigned long long readers;
	/* waits a --poll spin ended with a completion */
	unsigned long long polled;
};

struct fue_stats {
	int nr_queues;
	struct fue_qstat q[FUE_MAX_QUEUES];
	int nr_threads;
	struct fue_tstat t[FUE_MAX_THREADS];
	bool have_total;
	unsigned long long ring;
	unsigned long long dev;
	unsigned long long dev_io;
	unsigned long long errors;
	char transport[16];
};

/*
 * Parse the last complete stats dump (ending with "stats: total") in text.
 * Returns 0, or -ENOENT if there is none, or -EINVAL on a malformed line.
 */
int fue_parse_stats(const char *text, struct fue_stats *s);
/* SIGUSR1 the daemon and parse the dump it prints; 0 or -errno. */
int fue_request_stats(struct fue_export *e, struct fue_stats *s);

/*
 * The newest stats dump after a SIGUSR1, as text (malloc()ed, from its
 * first "stats:" line through "stats: total"); 0 or -errno.
 */
int fue_request_stats_dump(struct fue_export *e, char **dump);

/* One "stats: op=NAME ..." line: per-opcode count, bytes and latencies. */
struct fue_opstat {
	unsigned long long count;
	unsigned long long bytes;
	unsigned long long p50_us;
	unsigned long long p99_us;
	unsigned long long max_us;
	/* The backing I/O's part; image_count 0 when the line has none. */
	unsigned long long image_count;
	unsigned long long image_p50_us;
	unsigned long long image_p99_us;
};

/*
 * Parse the last "stats: op=<op>" line in text.  Returns 0, -ENOENT if
 * there is none, or -EINVAL on a malformed line.
 */
int fue_parse_op_stat(const char *text, const char *op, struct fue_opstat *o);

/*
 * Sanitizers.  A daemon built with make SANITIZE=1 reports what ASan, LSan
 * or UBSan find on its stderr (e->errlog) and may still exit 0, so the log
 * itself is the verdict.  fue_sanitizer_scan() reads what was added to
 * errlog since the last scan, prints any report line as a TAP comment and
 * returns how many it found (also added to e->sanitizer_reports).
 *
 * fue_teardown() scans last and, if any report was ever found for this
 * export, ends the calling process with FUE_SANITIZER_EXIT after it has
 * cleaned up: teardown runs in the harness' per-test child, so that marks
 * the test failed even when the test itself never looks at the log.
 */
#define FUE_SANITIZER_EXIT	1
int fue_sanitizer_scan(struct fue_export *e);

/* fue_load.c: background load from every CPU. */

/*
 * Background load: children pinned to each online CPU with
 * sched_setaffinity(), a reader on every CPU (with FUE_LOAD_DEEP several,
 * to keep more requests in flight) and with FUE_LOAD_WRITERS a writer
 * too, doing bs-sized pread/pwrite on random blocks of [off, off + len)
 * of path in a loop until told to stop.  The file stays open
 * in each child for the whole run, so the load also keeps a detached
 * mount busy.  Counters live in shared memory and are read while the
 * children run.
 *
 * Writers write the image pattern (fue_fill_pattern() at the offset plus
 * l->shift), so a pattern image stays one when shift is 0; readers check
 * data against it with FUE_LOAD_VERIFY.
 *
 * With FUE_LOAD_SYNC the writers instead walk their own share of the
 * range once, in order, each block followed by fsync(); a child's synced
 * blocks [share_off, share_off + synced * bs) are then known to be in the
 * image whatever happens to the daemon afterwards.
 */
#define FUE_LOAD_MAX		64

#define FUE_LOAD_WRITERS	0x1	/* a writer child per CPU */
#define FUE_LOAD_KEEP_GOING	0x2	/* count errors, do not stop at one */
#define FUE_LOAD_BUFFERED	0x4	/* no O_DIRECT */
#define FUE_LOAD_VERIFY		0x8	/* readers check the pattern */
#define FUE_LOAD_SYNC		0x10	/* writers: each block once, fsync */
#define FUE_LOAD_DEEP		0x20	/* FUE_LOAD_DEEP_READERS per CPU */

#define FUE_LOAD_DEEP_READERS	4

struct fue_load_child {
	pid_t pid;
	int cpu;
	bool writer;
	/* share of a FUE_LOAD_SYNC writer */
	off_t share_off;
	off_t share_len;
	/* written by the child */
	long ops;
	long errors;
	long bad;		/* reads that did not match the pattern */
	long synced;		/* FUE_LOAD_SYNC: blocks written and fsync'ed */
	int first_err;		/* errno of the first failure, 0 if none */
	int last_err;
	bool started;		/* the file is open */
	bool done;		/* the child left its loop */
	/* parent side */
	bool reaped;
	int status;
};

struct fue_load {
	char path[PATH_MAX];
	off_t off;
	off_t len;
	size_t bs;
	off_t shift;
	unsigned int flags;
	int stop;
	int nr;
	struct fue_load_child c[FUE_LOAD_MAX];
};

/*
 * Fork the children and return once each has the file open (or failed to
 * open it); NULL on failure (none is left running then).
 */
struct fue_load *fue_load_start(const char *path, off_t off, off_t len,
				size_t bs, off_t shift, unsigned int flags);
long fue_load_ops(const struct fue_load *l);
long fue_load_errors(const struct fue_load *l);
long fue_load_bad(const struct fue_load *l);
/* Wait up to timeout_ms until the children did want operations in all. */
bool fue_load_wait_ops(struct fue_load *l, long want, int timeout_ms);
/* Wait up to timeout_ms for every child to end by itself (after errors). */
bool fue_load_wait(struct fue_load *l, int timeout_ms);
/*
 * Tell the children to stop and wait up to timeout_ms; SIGKILL whoever is
 * left.  True if all ended before the kill.
 */
bool fue_load_stop(struct fue_load *l, int timeout_ms);
/* Kill and reap what is left, then free; NULL is fine. */
void fue_load_free(struct fue_load *l);

/* fue_client.c: a client the test drives one call at a time. */

/*
 * A child holding one file open (O_RDWR | O_DIRECT) that makes the calls
 * it is sent, one at a time, and answers each with 0 or its errno, so that
 * a test can keep a call blocked in the daemon while it makes others.
 */
struct fue_client {
	pid_t pid;
	int cmd_fd;
	int res_fd;
};

enum fue_client_call {
	FUE_CLIENT_WRITE = 'w',		/* fue_client_block_size bytes */
	FUE_CLIENT_FSYNC = 'f',
	FUE_CLIENT_FDATASYNC = 'd',
	FUE_CLIENT_CLOSE = 'c',
};

#define FUE_CLIENT_BLOCK	4096

/*
 * Fork the client and wait until it has path open.  0, or -errno (the
 * open's error included; nothing is left running then).
 */
int fue_client_start(struct fue_client *c, const char *path);
/*
 * Send one call; FUE_CLIENT_WRITE writes the pattern of off + shift at
 * off.  0 or -errno.
 */
int fue_client_send(struct fue_client *c, enum fue_client_call call,
		    off_t off, off_t shift);
/*
 * The answer to the oldest call not yet answered: 0 or the call's errno,
 * -ETIMEDOUT when none came within timeout_ms, -EPIPE if the client died.
 */
int fue_client_result(struct fue_client *c, int timeout_ms);
/* send, then result within FUE_IO_TIMEOUT_MS. */
int fue_client_call(struct fue_client *c, enum fue_client_call call,
		    off_t off, off_t shift);
/* SIGKILL what is left of the client and reap it; a zeroed one is fine. */
void fue_client_end(struct fue_client *c);

/* fue_logs.c, continued: wait for text in the daemon's stderr. */
int fue_wait_errlog(const struct fue_export *e, const char *text,
		    int timeout_ms);

#endif /* FUE_H */
