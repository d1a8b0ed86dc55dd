/* SPDX-License-Identifier: GPL-2.0 */
#ifndef FUE_STATS_H
#define FUE_STATS_H

#include <stdint.h>
#include <stdio.h>

#include "compiler.h"

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
	/* The part the backing I/O took, for requests that had some. */
	stat_counter image_count;
	stat_counter image_max_us;
	stat_counter image_latency[LATENCY_BUCKETS];
};

/* stats_record()'s image time of a request with no backing I/O. */
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
	unsigned int thread;
} __aligned(CACHE_LINE);

struct thread_stats {
	/* /dev/fuse slots taking requests: 1 in ring mode until a fall-back. */
	stat_counter readers;
	stat_counter legacy;
	stat_counter legacy_io;
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

#endif /* FUE_STATS_H */
