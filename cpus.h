/* SPDX-License-Identifier: GPL-2.0 */
#ifndef FUE_CPUS_H
#define FUE_CPUS_H

#include <sched.h>
#include <stdbool.h>
#include <stddef.h>

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

#endif /* FUE_CPUS_H */
