// SPDX-License-Identifier: GPL-2.0
/*
 * CPU lists and the deal of kernel queues over queue threads.
 *
 * The kernel creates one FUSE queue per possible CPU and routes a request
 * to the queue of the CPU its caller runs on, so the queue count comes
 * from /sys/devices/system/cpu/possible, not from the online count.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "compiler.h"
#include "export.h"

/* Room for CPUs 0 to @nr - 1, none in the set yet. */
int cpus_alloc(struct cpus *c, unsigned int nr)
{
	c->set = CPU_ALLOC(nr ? nr : 1);
	if (!c->set) {
		c->size = 0;
		return -ENOMEM;
	}
	c->size = CPU_ALLOC_SIZE(nr ? nr : 1);
	CPU_ZERO_S(c->size, c->set);
	return 0;
}

void cpus_free(struct cpus *c)
{
	if (c->set)
		CPU_FREE(c->set);
	c->set = NULL;
	c->size = 0;
}

bool cpus_has(const struct cpus *c, unsigned int cpu)
{
	return c->set && cpu / 8 < c->size && CPU_ISSET_S(cpu, c->size, c->set);
}

/* A CPU beyond the room cpus_alloc() made is the caller's bug: ignored. */
void cpus_add(struct cpus *c, unsigned int cpu)
{
	if (c->set && cpu / 8 < c->size)
		CPU_SET_S(cpu, c->size, c->set);
}

unsigned int cpus_count(const struct cpus *c)
{
	return c->set ? (unsigned int)CPU_COUNT_S(c->size, c->set) : 0;
}

static int parse_cpu(const char **pos, unsigned long *cpu)
{
	char *end;

	if (**pos < '0' || **pos > '9')
		return -EINVAL;
	errno = 0;
	*cpu = strtoul(*pos, &end, 10);
	if (errno || *cpu >= CPUS_MAX)
		return -EINVAL;
	*pos = end;
	return 0;
}

/*
 * One walk over a CPU list: checks its syntax and finds its highest CPU,
 * and when @c has room, adds every CPU to it.
 */
static int cpulist_walk(const char *list, struct cpus *c, unsigned long *max)
{
	const char *pos = list;
	unsigned long first, last, cpu;

	*max = 0;
	if (!*pos || *pos == '\n')
		return -EINVAL;
	while (*pos && *pos != '\n') {
		if (parse_cpu(&pos, &first))
			return -EINVAL;
		last = first;
		if (*pos == '-') {
			pos++;
			if (parse_cpu(&pos, &last) || last < first)
				return -EINVAL;
		}
		if (last > *max)
			*max = last;
		for (cpu = first; c->set && cpu <= last; cpu++)
			cpus_add(c, (unsigned int)cpu);
		if (*pos == ',')
			pos++;
		else if (*pos && *pos != '\n')
			return -EINVAL;
	}
	if (pos[0] == '\n' && pos[1])
		return -EINVAL;
	return 0;
}

/*
 * Parse a kernel CPU list such as "0-3,8-11\n" into @c, allocated to fit
 * its highest CPU (cpus_free() it).  Returns the number of CPUs in the
 * list, -EINVAL or -ENOMEM; on error @c is left empty.
 */
int cpus_parse_list(const char *list, struct cpus *c)
{
	unsigned long max;
	int ret;

	c->set = NULL;
	c->size = 0;
	ret = cpulist_walk(list, c, &max);
	if (ret)
		return ret;
	ret = cpus_alloc(c, (unsigned int)max + 1);
	if (ret)
		return ret;
	cpulist_walk(list, c, &max);
	return (int)cpus_count(c);
}

/* Lists of many sparse CPUs run long: "1,3,5,...,4095" is 9 KiB. */
#define CPULIST_BUF (256 * 1024)

/* One read of a /sys file, NUL-terminated: its length or -errno. */
static int read_sys_file(const char *path, char *buf, size_t len)
{
	ssize_t got;
	int fd;

	buf[0] = '\0';
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	got = read(fd, buf, len - 1);
	close(fd);
	if (got <= 0)
		return got < 0 ? -errno : -EINVAL;
	buf[got] = '\0';
	return (int)got;
}

int cpus_read_list(const char *path, struct cpus *c)
{
	char *buf = malloc(CPULIST_BUF);
	int ret;

	c->set = NULL;
	c->size = 0;
	if (!buf)
		return -ENOMEM;
	ret = read_sys_file(path, buf, CPULIST_BUF);
	if (ret >= 0)
		ret = cpus_parse_list(buf, c);
	free(buf);
	return ret;
}

/* Kernel queues are dealt round-robin: qid q is served by thread q % n. */
unsigned int cpus_qid_owner(unsigned int qid, unsigned int nr_threads)
{
	return qid % nr_threads;
}

unsigned int cpus_thread_qid_count(unsigned int thread, unsigned int nr_queues,
			      unsigned int nr_threads)
{
	if (thread >= nr_queues)
		return 0;
	return DIV_ROUND_UP(nr_queues - thread, nr_threads);
}

/*
 * Ring entries kernel queue @qid gets: a queue whose CPU is offline
 * receives no request (the caller's CPU picks the queue), but the ring is
 * ready only once every queue has an entry, so it gets just that one.
 * With no online list known, every queue counts as online.
 */
unsigned int cpus_qid_entries(unsigned int qid, const struct cpus *online,
			 unsigned int depth)
{
	if (!cpus_count(online) || cpus_has(online, qid))
		return depth;
	return 1;
}

/* Ring entries of all the queues dealt to @thread. */
unsigned int cpus_thread_entries(unsigned int thread, unsigned int nr_queues,
			    unsigned int nr_threads, const struct cpus *online,
			    unsigned int depth)
{
	unsigned int qid, n = 0;

	for (qid = thread; qid < nr_queues; qid += nr_threads)
		n += cpus_qid_entries(qid, online, depth);
	return n;
}
