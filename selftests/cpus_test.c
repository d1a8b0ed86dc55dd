// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests of CPU list parsing and the round-robin deal of kernel queues
 * over queue threads (cpus.c).
 */
#include <errno.h>

#include "kselftest_harness.h"
#include "cpus.h"

TEST(parse_single_and_ranges)
{
	cpu_set_t set;

	EXPECT_EQ(1, cpulist_parse("0\n", &set));
	EXPECT_TRUE(CPU_ISSET(0, &set));
	EXPECT_EQ(2, cpulist_parse("0-1\n", &set));
	EXPECT_EQ(8, cpulist_parse("0-3,8-11\n", &set));
	EXPECT_TRUE(CPU_ISSET(3, &set));
	EXPECT_FALSE(CPU_ISSET(4, &set));
	EXPECT_TRUE(CPU_ISSET(11, &set));
	EXPECT_EQ(4, cpulist_parse("1,3,5,7", &set));
	EXPECT_FALSE(CPU_ISSET(0, &set));
	EXPECT_EQ(256, cpulist_parse("0-255", &set));
}

TEST(parse_rejects_garbage)
{
	cpu_set_t set;

	EXPECT_EQ(-EINVAL, cpulist_parse("", &set));
	EXPECT_EQ(-EINVAL, cpulist_parse("\n", &set));
	EXPECT_EQ(-EINVAL, cpulist_parse("a", &set));
	EXPECT_EQ(-EINVAL, cpulist_parse("3-1", &set));
	EXPECT_EQ(-EINVAL, cpulist_parse("0-", &set));
	EXPECT_EQ(-EINVAL, cpulist_parse("0,,1", &set));
	EXPECT_EQ(-EINVAL, cpulist_parse("0 1", &set));
	EXPECT_EQ(-EINVAL, cpulist_parse("99999999", &set));
}

TEST(possible_cpus_of_this_machine)
{
	cpu_set_t set;
	int n = cpulist_read("/sys/devices/system/cpu/possible", &set);

	ASSERT_GT(n, 0);
	EXPECT_TRUE(CPU_ISSET(0, &set));
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
				t = qid_owner(qid, threads);
				ASSERT_LT(t, threads);
				count[t]++;
			}
			for (t = 0; t < threads; t++) {
				ASSERT_EQ(count[t],
					  thread_qid_count(t, queues, threads));
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
		EXPECT_EQ(0, qid_owner(qid, 1));
	EXPECT_EQ(256, thread_qid_count(0, 256, 1));
}

TEST_HARNESS_MAIN
