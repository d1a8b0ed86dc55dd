// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests of the FUSE_INIT negotiation (init.c) against the offers of
 * old and new kernels, with no kernel involved.
 */
#include <errno.h>
#include <string.h>

#include "kselftest_harness.h"
#include "export.h"

#define MIB (1024 * 1024)

static void kernel_offer(struct fuse_init_in *in, uint32_t minor,
			 uint64_t flags)
{
	memset(in, 0, sizeof(*in));
	in->major = 7;
	in->minor = minor;
	in->max_readahead = 128 * 1024;
	in->flags = (uint32_t)flags;
	in->flags2 = (uint32_t)(flags >> 32);
}

static struct init_policy policy(bool want_uring)
{
	struct init_policy p = {
		.want_uring = want_uring,
		.max_io = MIB,
		.page_size = 4096,
		.max_pages_limit = 256,
		.max_background = 64,
	};

	return p;
}

/* A 7.45 kernel that offers everything a ring needs. */
#define MODERN_FLAGS (FUSE_ASYNC_READ | FUSE_BIG_WRITES | FUSE_MAX_PAGES | \
		      FUSE_ASYNC_DIO | FUSE_INIT_EXT | FUSE_WRITEBACK_CACHE | \
		      FUSE_OVER_IO_URING | FUSE_PASSTHROUGH_BIT)
#define FUSE_PASSTHROUGH_BIT (1ULL << 37)

TEST(ring_offered_and_wanted)
{
	struct fuse_init_in in;
	struct init_policy p = policy(true);
	struct init_result r;

	kernel_offer(&in, 45, MODERN_FLAGS);
	ASSERT_EQ(0, init_negotiate(&in, sizeof(in), &p, &r));
	EXPECT_TRUE(r.uring);
	EXPECT_EQ(FUSE_OVER_IO_URING, r.granted & FUSE_OVER_IO_URING);
	/* flags2 is read only when INIT_EXT comes back with it. */
	EXPECT_EQ(FUSE_INIT_EXT, r.out.flags & FUSE_INIT_EXT);
	EXPECT_EQ((uint32_t)(FUSE_OVER_IO_URING >> 32),
		  r.out.flags2 & (uint32_t)(FUSE_OVER_IO_URING >> 32));
	EXPECT_EQ(r.offered, MODERN_FLAGS);
	/* Nothing granted that was not offered or that we do not want. */
	EXPECT_EQ(0, r.granted & ~r.offered);
	EXPECT_EQ(0, r.granted & FUSE_WRITEBACK_CACHE);
	EXPECT_EQ(0, r.granted & FUSE_PASSTHROUGH_BIT);
	EXPECT_EQ(NULL, r.no_uring_reason);
}

TEST(ring_offered_but_off)
{
	struct fuse_init_in in;
	struct init_policy p = policy(false);
	struct init_result r;

	kernel_offer(&in, 45, MODERN_FLAGS);
	ASSERT_EQ(0, init_negotiate(&in, sizeof(in), &p, &r));
	EXPECT_FALSE(r.uring);
	EXPECT_EQ(0, r.out.flags2);
	/* No high bit granted: INIT_EXT need not be echoed. */
	EXPECT_EQ(0, r.out.flags & FUSE_INIT_EXT);
	ASSERT_NE(NULL, r.no_uring_reason);
	EXPECT_NE(NULL, strstr(r.no_uring_reason, "--io-uring=off"));
}

TEST(flags2_without_ring_bit)
{
	struct fuse_init_in in;
	struct init_policy p = policy(true);
	struct init_result r;

	kernel_offer(&in, 45, MODERN_FLAGS & ~FUSE_OVER_IO_URING);
	ASSERT_EQ(0, init_negotiate(&in, sizeof(in), &p, &r));
	EXPECT_FALSE(r.uring);
	EXPECT_EQ(0, r.out.flags2);
	ASSERT_NE(NULL, r.no_uring_reason);
	EXPECT_NE(NULL, strstr(r.no_uring_reason, "OVER_IO_URING"));
}

/* An old kernel sends no INIT_EXT: flags2 holds garbage to be ignored. */
TEST(old_kernel_without_init_ext)
{
	struct fuse_init_in in;
	struct init_policy p = policy(true);
	struct init_result r;

	kernel_offer(&in, 35, FUSE_ASYNC_READ | FUSE_MAX_PAGES);
	in.flags2 = 0xffffffff;
	ASSERT_EQ(0, init_negotiate(&in, sizeof(in), &p, &r));
	EXPECT_EQ(FUSE_ASYNC_READ | FUSE_MAX_PAGES, r.offered);
	EXPECT_FALSE(r.uring);
	EXPECT_EQ(0, r.out.flags2);
	EXPECT_EQ(35, r.out.minor);
}

/* The 16-byte INIT of kernels before 7.36 carries no flags2 at all. */
TEST(compat_sized_init)
{
	struct fuse_init_in in;
	struct init_policy p = policy(true);
	struct init_result r;

	kernel_offer(&in, 31, FUSE_ASYNC_READ | FUSE_INIT_EXT);
	in.flags2 = (uint32_t)(FUSE_OVER_IO_URING >> 32);
	ASSERT_EQ(0, init_negotiate(&in, 16, &p, &r));
	EXPECT_FALSE(r.uring);
	EXPECT_EQ(0, r.offered >> 32);
	EXPECT_EQ(-EINVAL, init_negotiate(&in, 12, &p, &r));
}

TEST(minor_clamped_to_ours)
{
	struct fuse_init_in in;
	struct init_policy p = policy(true);
	struct init_result r;

	kernel_offer(&in, 99, FUSE_ASYNC_READ);
	ASSERT_EQ(0, init_negotiate(&in, sizeof(in), &p, &r));
	EXPECT_EQ(FUE_PROTO_MINOR, r.out.minor);
	EXPECT_EQ(7, r.out.major);
	EXPECT_EQ(99, r.kernel_minor);

	kernel_offer(&in, 38, FUSE_ASYNC_READ);
	ASSERT_EQ(0, init_negotiate(&in, sizeof(in), &p, &r));
	EXPECT_EQ(38, r.out.minor);
}

TEST(major_other_than_7_refused)
{
	struct fuse_init_in in;
	struct init_policy p = policy(true);
	struct init_result r;

	kernel_offer(&in, 45, MODERN_FLAGS);
	in.major = 8;
	EXPECT_EQ(-EPROTO, init_negotiate(&in, sizeof(in), &p, &r));
	in.major = 6;
	EXPECT_EQ(-EPROTO, init_negotiate(&in, sizeof(in), &p, &r));
	kernel_offer(&in, FUE_PROTO_MINOR_MIN - 1, FUSE_ASYNC_READ);
	EXPECT_EQ(-EPROTO, init_negotiate(&in, sizeof(in), &p, &r));
}

TEST(max_pages_follows_max_io_and_kernel_cap)
{
	struct fuse_init_in in;
	struct init_policy p = policy(true);
	struct init_result r;

	kernel_offer(&in, 45, MODERN_FLAGS);
	ASSERT_EQ(0, init_negotiate(&in, sizeof(in), &p, &r));
	EXPECT_EQ(256, r.out.max_pages);
	EXPECT_EQ(MIB, r.out.max_write);
	EXPECT_EQ(MIB, init_ring_payload_size(&r, 4096));

	/* The kernel's max_pages_limit wins over a larger --max-io. */
	p.max_io = 4 * MIB;
	ASSERT_EQ(0, init_negotiate(&in, sizeof(in), &p, &r));
	EXPECT_EQ(256, r.out.max_pages);
	EXPECT_EQ(MIB, r.out.max_write);

	p.max_io = 128 * 1024;
	ASSERT_EQ(0, init_negotiate(&in, sizeof(in), &p, &r));
	EXPECT_EQ(32, r.out.max_pages);
	EXPECT_EQ(128 * 1024, r.out.max_write);

	/* Payloads never shrink below FUSE_MIN_READ_BUFFER. */
	p.max_io = 4096;
	ASSERT_EQ(0, init_negotiate(&in, sizeof(in), &p, &r));
	EXPECT_EQ(8192, init_ring_payload_size(&r, 4096));
}

TEST(no_max_pages_means_32_pages)
{
	struct fuse_init_in in;
	struct init_policy p = policy(true);
	struct init_result r;

	kernel_offer(&in, 45, FUSE_ASYNC_READ | FUSE_INIT_EXT);
	ASSERT_EQ(0, init_negotiate(&in, sizeof(in), &p, &r));
	EXPECT_EQ(0, r.granted & FUSE_MAX_PAGES);
	EXPECT_EQ(32 * 4096, r.max_write);
}

/* FOPEN_PARALLEL_DIRECT_WRITES came with 7.38; direct I/O always. */
TEST(parallel_direct_writes_from_7_38)
{
	struct init_result res;

	memset(&res, 0, sizeof(res));
	res.minor = 37;
	EXPECT_EQ(FOPEN_DIRECT_IO, init_open_flags(&res));
	res.minor = 38;
	EXPECT_EQ(FOPEN_DIRECT_IO | FOPEN_PARALLEL_DIRECT_WRITES,
		  init_open_flags(&res));
	res.minor = 45;
	EXPECT_EQ(FOPEN_DIRECT_IO | FOPEN_PARALLEL_DIRECT_WRITES,
		  init_open_flags(&res));
}

TEST_HARNESS_MAIN
