/* SPDX-License-Identifier: GPL-2.0 */
#ifndef FUE_STATS_H
#define FUE_STATS_H

#include <stdint.h>
#include <stdio.h>

/*
 * Counters are written by the one thread that owns them and read by main
 * for a report, hence relaxed atomics: no lock on the request path.
 */
typedef uint64_t stat_counter;

struct qid_stats {
	stat_counter ring;
	stat_counter errors;
	unsigned int thread;
};

struct thread_stats {
	stat_counter legacy;
	stat_counter legacy_io;
	stat_counter errors;
};

static inline void stat_inc(stat_counter *c)
{
	__atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) + 1,
			 __ATOMIC_RELAXED);
}

struct export;
void stats_print(FILE *out, const struct export *exp);

#endif /* FUE_STATS_H */
