/* SPDX-License-Identifier: GPL-2.0 */
#ifndef FUE_CPUS_H
#define FUE_CPUS_H

#include <sched.h>

int cpulist_parse(const char *list, cpu_set_t *set);
int cpulist_read(const char *path, cpu_set_t *set);
unsigned int qid_owner(unsigned int qid, unsigned int nr_threads);
unsigned int thread_qid_count(unsigned int thread, unsigned int nr_queues,
			      unsigned int nr_threads);
unsigned int qid_entries(unsigned int qid, const cpu_set_t *online,
			 unsigned int depth);
unsigned int thread_entries(unsigned int thread, unsigned int nr_queues,
			    unsigned int nr_threads, const cpu_set_t *online,
			    unsigned int depth);

#endif /* FUE_CPUS_H */
