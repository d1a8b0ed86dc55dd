// SPDX-License-Identifier: GPL-2.0
/*
 * Per-queue and per-thread counters, one machine-readable line each, so
 * that a kernel developer sees at a glance which transport carried what;
 * and the two points where every request is counted and observed.
 */
#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "compiler.h"
#include "export.h"

static uint64_t stat_read(const stat_counter *c)
{
	return READ_ONCE(*c);
}

/* calloc() for arrays of per-thread structs aligned to cache lines. */
void *stats_calloc_lines(size_t n, size_t size)
{
	size_t bytes = round_up(n * size, CACHE_LINE);
	void *p = aligned_alloc(CACHE_LINE, bytes ? bytes : CACHE_LINE);

	if (p)
		memset(p, 0, bytes);
	return p;
}

int stats_alloc_ops(struct thread_stats *st)
{
	st->ops = calloc(STATS_OPCODES, sizeof(*st->ops));
	return st->ops ? 0 : -ENOMEM;
}

void stats_free_ops(struct thread_stats *st)
{
	free(st->ops);
	st->ops = NULL;
}

void request_begin(struct fuse_request *req)
{
	struct queue_thread *t = req->thread;

	if (req->qid >= 0) {
		struct qid_stats *q = &t->exp->qid_stats[req->qid];
		uint64_t now = READ_ONCE(q->inflight) + 1;

		if (now > READ_ONCE(q->peak))
			WRITE_ONCE(q->peak, now);
		/* After the peak: a reader must never see the peak below it. */
		smp_store_release(&q->inflight, now);
		if (req->io.fixed)
			stat_inc(req->in->opcode == FUSE_READ ?
				 &q->zero_copy_reads : &q->zero_copy_writes);
	} else {
		stat_inc(&t->stats.dev);
		if (ops_is_io(req->in->opcode))
			stat_inc(&t->stats.dev_io);
	}
	if (__builtin_expect(trace_requests_on, 0))
		trace_observe_begin(req);
}

void request_end(struct fuse_request *req, int error, uint32_t len)
{
	struct queue_thread *t = req->thread;

	if (__builtin_expect(trace_requests_on, 0))
		trace_observe_end(req, error, len);
	if (req->qid >= 0) {
		struct qid_stats *q = &t->exp->qid_stats[req->qid];

		if (error)
			stat_inc(&q->errors);
		stat_inc(&q->ring);
		/* Released like a take, so a reader's peak is never below it. */
		smp_store_release(&q->inflight, READ_ONCE(q->inflight) - 1);
	} else if (error) {
		stat_inc(&t->stats.errors);
	}
}

static unsigned int latency_bucket(uint64_t us)
{
	unsigned int msb, sub;

	if (us < 4)
		return (unsigned int)us;
	msb = 63 - (unsigned int)__builtin_clzll(us);
	sub = (unsigned int)(us >> (msb - 2)) & 3;
	if (msb > 40)
		return LATENCY_BUCKETS - 1;
	return msb * 4 + sub;
}

/* The largest latency a bucket holds: what a percentile reports. */
static uint64_t bucket_ceiling(unsigned int bucket)
{
	unsigned int msb = bucket / 4, sub = bucket % 4;

	if (bucket < 4)
		return bucket;
	return ((4ULL | sub) << (msb - 2)) + (1ULL << (msb - 2)) - 1;
}

static void record_latency(stat_counter *hist, stat_counter *max,
			   uint64_t us)
{
	stat_inc(&hist[latency_bucket(us)]);
	if (us > stat_read(max))
		WRITE_ONCE(*max, us);
}

void stats_record(struct thread_stats *st, uint32_t opcode, uint64_t lat_us,
		  uint64_t image_us, uint64_t bytes)
{
	struct op_stats *op;

	if (!st->ops)
		return;
	op = &st->ops[opcode < STATS_OPCODES ? opcode : STATS_OPCODES - 1];
	WRITE_ONCE(op->seq, op->seq + 1);
	/* Odd before any counter moves: pairs with snapshot_op()'s rmb. */
	smp_wmb();
	stat_inc(&op->count);
	stat_add(&op->bytes, bytes);
	record_latency(op->latency, &op->max_us, lat_us);
	if (image_us != STATS_NO_IMAGE) {
		stat_inc(&op->image_count);
		record_latency(op->image_latency, &op->image_max_us,
			       image_us);
	}
	/* Even again once every counter moved: pairs with its acquire. */
	smp_store_release(&op->seq, op->seq + 1);
}

/* A bucket's ceiling, but never above the largest latency seen. */
static uint64_t percentile(const uint64_t *hist, uint64_t count,
			   unsigned int pct, uint64_t max)
{
	uint64_t want = (count * pct + 99) / 100, seen = 0;
	unsigned int b;

	for (b = 0; b < LATENCY_BUCKETS; b++) {
		seen += hist[b];
		if (seen >= want)
			break;
	}
	if (b == LATENCY_BUCKETS)
		b--;
	return bucket_ceiling(b) < max ? bucket_ceiling(b) : max;
}

/* One latency histogram of one opcode, merged over the threads. */
struct merged_latency {
	uint64_t hist[LATENCY_BUCKETS];
	uint64_t count;
	uint64_t max;
};

static void merge_latency(struct merged_latency *m, const stat_counter *hist,
			  stat_counter count, stat_counter max)
{
	unsigned int b;

	m->count += count;
	if (max > m->max)
		m->max = max;
	for (b = 0; b < LATENCY_BUCKETS; b++)
		m->hist[b] += hist[b];
}

static void copy_latency(stat_counter *dst, const stat_counter *src)
{
	unsigned int b;

	for (b = 0; b < LATENCY_BUCKETS; b++)
		dst[b] = READ_ONCE(src[b]);
}

/* How long a report waits for an owner preempted mid-record. */
#define SNAPSHOT_PATIENCE_S 1

/*
 * A copy of one opcode's counters as they stood between two requests, so
 * that its count, bytes and histograms describe the same requests.  The
 * owner never blocks while it records, but may be preempted; one that
 * stays so past the patience gets a last, maybe torn, copy rather than a
 * report that never comes.
 */
static void snapshot_op(struct op_stats *copy, const struct op_stats *op)
{
	time_t give_up = time(NULL) + SNAPSHOT_PATIENCE_S;
	uint64_t seq;

	for (;;) {
		/* No counter read before the count that says it is whole. */
		seq = smp_load_acquire(&op->seq);
		copy->count = READ_ONCE(op->count);
		copy->bytes = READ_ONCE(op->bytes);
		copy->max_us = READ_ONCE(op->max_us);
		copy_latency(copy->latency, op->latency);
		copy->image_count = READ_ONCE(op->image_count);
		copy->image_max_us = READ_ONCE(op->image_max_us);
		copy_latency(copy->image_latency, op->image_latency);
		/* Every counter read before the count that says none moved. */
		smp_rmb();
		if ((!(seq & 1) && READ_ONCE(op->seq) == seq) ||
		    time(NULL) > give_up)
			return;
		sched_yield();
	}
}

/*
 * One line per opcode seen, merged over the threads; with image_ figures
 * when its requests had image I/O, the part of their latency the image
 * took.
 */
static void print_ops(FILE *out, const struct export *exp)
{
	unsigned int opcode, i;

	for (opcode = 0; opcode < STATS_OPCODES; opcode++) {
		struct merged_latency all = { 0 }, image = { 0 };
		uint64_t bytes = 0;

		for (i = 0; i < exp->nr_threads; i++) {
			struct op_stats op;

			if (!exp->threads[i].stats.ops)
				continue;
			snapshot_op(&op, &exp->threads[i].stats.ops[opcode]);
			bytes += op.bytes;
			merge_latency(&all, op.latency, op.count, op.max_us);
			merge_latency(&image, op.image_latency, op.image_count,
				      op.image_max_us);
		}
		if (!all.count)
			continue;
		fprintf(out, "stats: op=%s count=%" PRIu64 " bytes=%" PRIu64
			" p50_us=%" PRIu64 " p99_us=%" PRIu64 " max_us=%"
			PRIu64, decode_opcode_name(opcode), all.count, bytes,
			percentile(all.hist, all.count, 50, all.max),
			percentile(all.hist, all.count, 99, all.max), all.max);
		if (image.count)
			fprintf(out, " image_count=%" PRIu64 " image_p50_us=%"
				PRIu64 " image_p99_us=%" PRIu64,
				image.count,
				percentile(image.hist, image.count, 50,
					   image.max),
				percentile(image.hist, image.count, 99,
					   image.max));
		fputc('\n', out);
	}
}

void stats_print(FILE *out, const struct export *exp)
{
	uint64_t ring = 0, dev = 0, dev_io = 0, errors = 0;
	unsigned int i;

	for (i = 0; exp->uring && i < exp->nr_queues; i++) {
		const struct qid_stats *q = &exp->qid_stats[i];
		/* Read once: the total must add up to the lines printed. */
		uint64_t q_ring = stat_read(&q->ring);
		uint64_t q_errors = stat_read(&q->errors);
		/* Before the peak, which is never below it once published. */
		uint64_t q_inflight = smp_load_acquire(&q->inflight);

		fprintf(out, "stats: qid=%u thread=%u cpu=%u ring=%" PRIu64
			" errors=%" PRIu64 " inflight=%" PRIu64 " peak=%"
			PRIu64 " offloaded=%" PRIu64, i, q->thread, i, q_ring,
			q_errors, q_inflight, stat_read(&q->peak),
			stat_read(&q->offloaded));
		if (exp->bufpool)
			fprintf(out, " zero_copy_reads=%" PRIu64
				" zero_copy_writes=%" PRIu64,
				stat_read(&q->zero_copy_reads),
				stat_read(&q->zero_copy_writes));
		fputc('\n', out);
		ring += q_ring;
		errors += q_errors;
	}
	for (i = 0; exp->threads && i < exp->nr_threads; i++) {
		const struct thread_stats *s = &exp->threads[i].stats;
		uint64_t t_dev = stat_read(&s->dev);
		uint64_t t_dev_io = stat_read(&s->dev_io);
		uint64_t t_errors = stat_read(&s->errors);

		fprintf(out, "stats: thread=%u dev=%" PRIu64 " dev_io=%"
			PRIu64 " errors=%" PRIu64 " readers=%" PRIu64
			" polled=%" PRIu64 "\n", i, t_dev, t_dev_io,
			t_errors, stat_read(&s->readers),
			stat_read(&s->polled));
		dev += t_dev;
		dev_io += t_dev_io;
		errors += t_errors;
	}
	if (exp->threads)
		print_ops(out, exp);
	fprintf(out, "stats: total ring=%" PRIu64 " dev=%" PRIu64
		" dev_io=%" PRIu64 " errors=%" PRIu64 " transport=%s\n",
		ring, dev, dev_io, errors,
		export_on_ring(exp) ? "ring" : "/dev/fuse");
	fflush(out);
}
