// SPDX-License-Identifier: GPL-2.0
/*
 * CPU lists and the deal of kernel queues over queue threads.
 *
 * The kernel creates one FUSE queue per possible CPU and routes a request
 * to the queue of the CPU its caller runs on, so the queue count comes
 * from /sys/devices/system/cpu/possible, not from the online count.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cpus.h"
#include "sysfile.h"

static int parse_cpu(const char **pos, unsigned long *cpu)
{
	char *end;

	if (**pos < '0' || **pos > '9')
		return -EINVAL;
	errno = 0;
	*cpu = strtoul(*pos, &end, 10);
	if (errno || *cpu >= CPU_SETSIZE)
		return -EINVAL;
	*pos = end;
	return 0;
}

/*
 * Parse a kernel CPU list such as "0-3,8-11\n" into @set.
 * Returns the number of CPUs in the list or -EINVAL.
 */
int cpulist_parse(const char *list, cpu_set_t *set)
{
	const char *pos = list;
	unsigned long first, last, cpu;

	CPU_ZERO(set);
	while (*pos && *pos != '\n') {
		if (parse_cpu(&pos, &first))
			return -EINVAL;
		last = first;
		if (*pos == '-') {
			pos++;
			if (parse_cpu(&pos, &last) || last < first)
				return -EINVAL;
		}
		for (cpu = first; cpu <= last; cpu++)
			CPU_SET(cpu, set);
		if (*pos == ',')
			pos++;
		else if (*pos && *pos != '\n')
			return -EINVAL;
	}
	if (pos[0] == '\n' && pos[1])
		return -EINVAL;
	return CPU_COUNT(set) ? CPU_COUNT(set) : -EINVAL;
}

int cpulist_read(const char *path, cpu_set_t *set)
{
	char buf[4096];
	int ret = sysfile_read(path, buf, sizeof(buf));

	return ret < 0 ? ret : cpulist_parse(buf, set);
}

/* Kernel queues are dealt round-robin: qid q is served by thread q % n. */
unsigned int qid_owner(unsigned int qid, unsigned int nr_threads)
{
	return qid % nr_threads;
}

unsigned int thread_qid_count(unsigned int thread, unsigned int nr_queues,
			      unsigned int nr_threads)
{
	if (thread >= nr_queues)
		return 0;
	return (nr_queues - thread + nr_threads - 1) / nr_threads;
}

/*
 * Ring entries kernel queue @qid gets: a queue whose CPU is offline
 * receives no request (the caller's CPU picks the queue), but the ring is
 * ready only once every queue has an entry, so it gets just that one.
 * With no online list known, every queue counts as online.
 */
unsigned int qid_entries(unsigned int qid, const cpu_set_t *online,
			 unsigned int depth)
{
	if (!CPU_COUNT(online) || CPU_ISSET(qid, online))
		return depth;
	return 1;
}

/* Ring entries of all the queues dealt to @thread. */
unsigned int thread_entries(unsigned int thread, unsigned int nr_queues,
			    unsigned int nr_threads, const cpu_set_t *online,
			    unsigned int depth)
{
	unsigned int qid, n = 0;

	for (qid = thread; qid < nr_queues; qid += nr_threads)
		n += qid_entries(qid, online, depth);
	return n;
}
