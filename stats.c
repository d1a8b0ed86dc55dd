// SPDX-License-Identifier: GPL-2.0
/*
 * Per-queue and per-thread counters, one machine-readable line each, so
 * that a kernel developer sees at a glance which transport carried what.
 */
#include <inttypes.h>

#include "export.h"
#include "queue.h"
#include "stats.h"

static uint64_t stat_read(const stat_counter *c)
{
	return __atomic_load_n(c, __ATOMIC_RELAXED);
}

void stats_print(FILE *out, const struct export *exp)
{
	uint64_t ring = 0, legacy = 0, legacy_io = 0, errors = 0;
	unsigned int i;

	for (i = 0; exp->uring && i < exp->nr_queues; i++) {
		const struct qid_stats *q = &exp->qid_stats[i];

		fprintf(out, "stats: qid=%u thread=%u cpu=%u ring=%" PRIu64
			" errors=%" PRIu64 "\n", i, q->thread, i,
			stat_read(&q->ring), stat_read(&q->errors));
		ring += stat_read(&q->ring);
		errors += stat_read(&q->errors);
	}
	for (i = 0; exp->threads && i < exp->nr_threads; i++) {
		const struct thread_stats *s = &exp->threads[i].stats;

		fprintf(out, "stats: thread=%u legacy=%" PRIu64 " legacy_io=%"
			PRIu64 " errors=%" PRIu64 "\n", i,
			stat_read(&s->legacy), stat_read(&s->legacy_io),
			stat_read(&s->errors));
		legacy += stat_read(&s->legacy);
		legacy_io += stat_read(&s->legacy_io);
		errors += stat_read(&s->errors);
	}
	fprintf(out, "stats: total ring=%" PRIu64 " legacy=%" PRIu64
		" legacy_io=%" PRIu64 " errors=%" PRIu64 " transport=%s\n",
		ring, legacy, legacy_io, errors, exp->uring ? "ring" : "dev");
	fflush(out);
}
