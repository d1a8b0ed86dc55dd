// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests of CPU list parsing and the round-robin deal of kernel queues
 * over queue threads (cpus.c).
 */
#include <errno.h>
#include <stdio.h>

#include "kselftest_harness.h"
#include "export.h"

static int parse(const char *list, struct cpus *set)
{
	cpus_free(set);
	return cpus_parse_list(list, set);
}

TEST(parse_single_and_ranges)
{
	struct cpus set = { 0 };

	EXPECT_EQ(1, parse("0\n", &set));
	EXPECT_TRUE(cpus_has(&set, 0));
	EXPECT_EQ(2, parse("0-1\n", &set));
	EXPECT_EQ(8, parse("0-3,8-11\n", &set));
	EXPECT_TRUE(cpus_has(&set, 3));
	EXPECT_FALSE(cpus_has(&set, 4));
	EXPECT_TRUE(cpus_has(&set, 11));
	EXPECT_FALSE(cpus_has(&set, 12));
	EXPECT_FALSE(cpus_has(&set, 100000));
	EXPECT_EQ(4, parse("1,3,5,7", &set));
	EXPECT_FALSE(cpus_has(&set, 0));
	EXPECT_EQ(256, parse("0-255", &set));
	cpus_free(&set);
}

/* CPU_SETSIZE is 1024; the kernel numbers CPUs well past it. */
TEST(parse_cpus_past_1024)
{
	struct cpus set = { 0 };

	EXPECT_EQ(8, parse("0-3,1500-1503\n", &set));
	EXPECT_TRUE(cpus_has(&set, 3));
	EXPECT_FALSE(cpus_has(&set, 4));
	EXPECT_FALSE(cpus_has(&set, 1499));
	EXPECT_TRUE(cpus_has(&set, 1500));
	EXPECT_TRUE(cpus_has(&set, 1503));
	EXPECT_FALSE(cpus_has(&set, 1504));
	EXPECT_GE(set.size * 8, 1504);
	EXPECT_EQ(1, parse("1024", &set));
	EXPECT_TRUE(cpus_has(&set, 1024));
	EXPECT_FALSE(cpus_has(&set, 1023));
	EXPECT_EQ(4096, parse("0-4095\n", &set));
	EXPECT_TRUE(cpus_has(&set, 4095));
	EXPECT_EQ(1, parse("8191", &set));
	EXPECT_TRUE(cpus_has(&set, 8191));
	cpus_free(&set);
}

/* The long form of a 4096-CPU list: every CPU on its own. */
TEST(parse_long_list_of_4096)
{
	static char list[5 * 4096 + 2];
	struct cpus set = { 0 };
	unsigned int cpu;
	size_t len = 0;

	for (cpu = 0; cpu < 4096; cpu += 2)
		len += (size_t)snprintf(list + len, sizeof(list) - len,
					"%u,", cpu);
	list[len - 1] = '\n';
	EXPECT_EQ(2048, parse(list, &set));
	EXPECT_TRUE(cpus_has(&set, 4094));
	EXPECT_FALSE(cpus_has(&set, 4095));
	EXPECT_FALSE(cpus_has(&set, 1025));
	EXPECT_TRUE(cpus_has(&set, 1026));
	cpus_free(&set);
}

TEST(parse_rejects_garbage)
{
	struct cpus set = { 0 };

	EXPECT_EQ(-EINVAL, parse("", &set));
	EXPECT_EQ(-EINVAL, parse("\n", &set));
	EXPECT_EQ(-EINVAL, parse("a", &set));
	EXPECT_EQ(-EINVAL, parse("3-1", &set));
	EXPECT_EQ(-EINVAL, parse("0-", &set));
	EXPECT_EQ(-EINVAL, parse("0,,1", &set));
	EXPECT_EQ(-EINVAL, parse("0 1", &set));
	EXPECT_EQ(-EINVAL, parse("99999999", &set));
	EXPECT_EQ(NULL, set.set);
	EXPECT_EQ(0, cpus_count(&set));
}

TEST(possible_cpus_of_this_machine)
{
	struct cpus set = { 0 };
	int n = cpus_read_list("/sys/devices/system/cpu/possible", &set);

	ASSERT_GT(n, 0);
	EXPECT_TRUE(cpus_has(&set, 0));
	cpus_free(&set);
}

/* Every qid has exactly one thread, and loads differ by at most one. */
TEST(deal_covers_every_queue_once)
{
	unsigned int queues, threads, qid, t;

	for (queues = 1; queues <= 256; queues++) {
		for (threads = 1; threads <= 64; threads++) {
			unsigned int count[64] = { 0 };
			unsigned int min = ~0u, max = 0, total = 0;

			for (qid = 0; qid < queues; qid++) {
				t = cpus_qid_owner(qid, threads);
				ASSERT_LT(t, threads);
				count[t]++;
			}
			for (t = 0; t < threads; t++) {
				ASSERT_EQ(count[t],
					  cpus_thread_qid_count(t, queues, threads));
				total += count[t];
				if (t >= queues)
					continue;
				min = count[t] < min ? count[t] : min;
				max = count[t] > max ? count[t] : max;
			}
			ASSERT_EQ(queues, total);
			ASSERT_LE(max - min, 1);
		}
	}
}

TEST(one_thread_serves_all)
{
	unsigned int qid;

	for (qid = 0; qid < 256; qid++)
		EXPECT_EQ(0, cpus_qid_owner(qid, 1));
	EXPECT_EQ(256, cpus_thread_qid_count(0, 256, 1));
}

TEST_HARNESS_MAIN
