// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests of the sizes of a queue thread's io_uring (ring.c) and of
 * how many ring entries each thread registers (cpus.c): io_uring refuses
 * more than 32768 SQ / 65536 CQ entries, and a machine with many
 * possible but few online CPUs must not pay full depth for queues that
 * can never receive a request.
 */
#include <errno.h>

#include "kselftest_harness.h"
#include "export.h"

TEST(small_rings_round_up)
{
	unsigned int sq, cq;

	ASSERT_EQ(0, queue_io_uring_sizes(1, &sq, &cq));
	EXPECT_EQ(8, sq);
	EXPECT_EQ(8, cq);
	ASSERT_EQ(0, queue_io_uring_sizes(65, &sq, &cq));
	EXPECT_EQ(128, sq);
	EXPECT_EQ(128, cq);
}

/* -q 1 --queue-depth 4096 with 8 queues: 8 x 4096 + 4096 + 1. */
TEST(deep_queues_stay_within_io_uring_limits)
{
	unsigned int sq, cq;

	ASSERT_EQ(0, queue_io_uring_sizes(8 * 4096 + 4096 + 1, &sq, &cq));
	EXPECT_LE(sq, 32768);
	EXPECT_EQ(65536, cq);
	EXPECT_LE(sq, cq);
	ASSERT_EQ(0, queue_io_uring_sizes(65536, &sq, &cq));
	EXPECT_EQ(65536, cq);
}

/* More than the CQ can hold: refused, not set up to overflow. */
TEST(too_much_in_flight_is_refused)
{
	unsigned int sq, cq;

	EXPECT_EQ(-E2BIG, queue_io_uring_sizes(65537, &sq, &cq));
	EXPECT_EQ(-E2BIG, queue_io_uring_sizes(16 * 4096 + 4096 + 1, &sq, &cq));
}

/* 240 possible CPUs, 8 online: 8 queues deep, 232 with one entry. */
TEST(offline_queues_get_one_entry)
{
	struct cpus online;
	unsigned int t, total = 0;

	ASSERT_EQ(8, cpus_parse_list("0-7\n", &online));
	EXPECT_EQ(32, cpus_qid_entries(3, &online, 32));
	EXPECT_EQ(1, cpus_qid_entries(8, &online, 32));
	EXPECT_EQ(1, cpus_qid_entries(239, &online, 32));
	for (t = 0; t < 8; t++)
		total += cpus_thread_entries(t, 240, 8, &online, 32);
	EXPECT_EQ(8 * 32 + 232, total);
	/* Thread 0 has qids 0, 8, 16, ..., 232: one online. */
	EXPECT_EQ(32 + 29, cpus_thread_entries(0, 240, 8, &online, 32));
	cpus_free(&online);
}

/* Online CPUs need not be the first ones. */
TEST(sparse_online_list)
{
	struct cpus online;

	ASSERT_EQ(3, cpus_parse_list("1,5,9\n", &online));
	EXPECT_EQ(1, cpus_qid_entries(0, &online, 16));
	EXPECT_EQ(16, cpus_qid_entries(5, &online, 16));
	EXPECT_EQ(16 * 3 + 9, cpus_thread_entries(0, 12, 1, &online, 16));
	cpus_free(&online);
}

/*
 * 4096 possible CPUs, the online ones past CPU_SETSIZE: 2048-2055 online
 * get the depth, the other 4088 queues one entry each.
 */
TEST(online_cpus_past_1024)
{
	struct cpus online;
	unsigned int t, total = 0;

	ASSERT_EQ(8, cpus_parse_list("2048-2055\n", &online));
	EXPECT_EQ(1, cpus_qid_entries(0, &online, 32));
	EXPECT_EQ(32, cpus_qid_entries(2048, &online, 32));
	EXPECT_EQ(1, cpus_qid_entries(2056, &online, 32));
	EXPECT_EQ(1, cpus_qid_entries(4095, &online, 32));
	for (t = 0; t < 64; t++)
		total += cpus_thread_entries(t, 4096, 64, &online, 32);
	EXPECT_EQ(8 * 32 + 4088, total);
	/* Thread 0 has qids 0, 64, ..., 4032: 2048 among them. */
	EXPECT_EQ(32 + 63, cpus_thread_entries(0, 4096, 64, &online, 32));
	cpus_free(&online);
}

TEST_HARNESS_MAIN
