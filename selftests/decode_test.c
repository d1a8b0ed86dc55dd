// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests of request decoding (decode.c): a request is served only
 * when every length in it agrees, on /dev/fuse and over the ring alike,
 * so that no handler reads bytes the kernel did not send for it.
 */
#include <errno.h>
#include <string.h>

#include "kselftest_harness.h"
#include "export.h"

#define HDR sizeof(struct fuse_in_header)

static struct fuse_uring_req_header ring_header(uint32_t opcode,
						uint32_t in_len,
						uint32_t payload_sz)
{
	struct fuse_uring_req_header h;
	struct fuse_in_header *in = (struct fuse_in_header *)h.in_out;

	memset(&h, 0, sizeof(h));
	in->opcode = opcode;
	in->len = in_len;
	in->unique = 42;
	h.ring_ent_in_out.payload_sz = payload_sz;
	return h;
}

/* A WRITE: fuse_write_in in op_in, the data in the payload. */
TEST(ring_write_lengths_agree)
{
	uint32_t arg = sizeof(struct fuse_write_in);
	struct fuse_uring_req_header h = ring_header(FUSE_WRITE,
						     HDR + arg + 4096, 4096);
	struct fuse_request req;
	char payload[8192];

	EXPECT_EQ(0, decode_ring_request(&req, &h, payload, sizeof(payload)));
	EXPECT_EQ(arg, req.arg_len);
	EXPECT_EQ(4096, req.data_len);
	EXPECT_EQ((void *)payload, req.data);
}

/* in.len leaves no room for the opcode's argument: stale op_in bytes. */
TEST(ring_argument_shorter_than_opcode_struct)
{
	uint32_t arg = sizeof(struct fuse_read_in);
	struct fuse_uring_req_header h = ring_header(FUSE_READ,
						     HDR + arg - 8, 0);
	struct fuse_request req;
	char payload[64];

	EXPECT_EQ(-EINVAL, decode_ring_request(&req, &h, payload,
					       sizeof(payload)));
}

/* in.len smaller than the header and payload it claims. */
TEST(ring_len_below_payload)
{
	struct fuse_uring_req_header h = ring_header(FUSE_WRITE, HDR + 16,
						     4096);
	struct fuse_request req;
	char payload[8192];

	EXPECT_EQ(-EINVAL, decode_ring_request(&req, &h, payload,
					       sizeof(payload)));
}

TEST(ring_payload_larger_than_buffer)
{
	uint32_t arg = sizeof(struct fuse_write_in);
	struct fuse_uring_req_header h = ring_header(FUSE_WRITE,
						     HDR + arg + 8192, 8192);
	struct fuse_request req;
	char payload[4096];

	EXPECT_EQ(-EINVAL, decode_ring_request(&req, &h, payload,
					       sizeof(payload)));
}

/* An opcode without a fixed argument: just the header and the payload. */
TEST(ring_statfs_without_argument)
{
	struct fuse_uring_req_header h = ring_header(FUSE_STATFS, HDR, 0);
	struct fuse_request req;
	char payload[64];

	EXPECT_EQ(0, decode_ring_request(&req, &h, payload, sizeof(payload)));
	EXPECT_EQ(0, req.arg_len);
	EXPECT_EQ(0, req.data_len);
}

/*
 * The zeroes a null: READ left in a ring entry's payload are kept for the
 * next READ only while nothing else landed there: a request's payload,
 * or another opcode's reply.
 */
TEST(ring_reply_zeroes_survive_only_a_bare_read)
{
	uint32_t arg = sizeof(struct fuse_read_in);
	struct fuse_uring_req_header h = ring_header(FUSE_READ, HDR + arg, 0);
	struct fuse_request req;
	char payload[8192];

	memset(&req, 0, sizeof(req));
	req.reply_zeroes = sizeof(payload);
	EXPECT_EQ(0, decode_ring_request(&req, &h, payload, sizeof(payload)));
	EXPECT_EQ(sizeof(payload), req.reply_zeroes);

	/* The kernel sends no READ with data, but its bytes would land. */
	h = ring_header(FUSE_READ, HDR + arg + 16, 16);
	EXPECT_EQ(0, decode_ring_request(&req, &h, payload, sizeof(payload)));
	EXPECT_EQ(0, req.reply_zeroes);

	req.reply_zeroes = sizeof(payload);
	h = ring_header(FUSE_GETATTR, HDR + sizeof(struct fuse_getattr_in), 0);
	EXPECT_EQ(0, decode_ring_request(&req, &h, payload, sizeof(payload)));
	EXPECT_EQ(0, req.reply_zeroes);
}

/* Over /dev/fuse the request has a buffer of its own: only replies count. */
TEST(dev_reply_zeroes_survive_only_a_read)
{
	char buf[HDR + sizeof(struct fuse_write_in) + 8];
	struct fuse_in_header *in = (struct fuse_in_header *)buf;
	struct fuse_request req;

	memset(buf, 0, sizeof(buf));
	memset(&req, 0, sizeof(req));
	in->opcode = FUSE_READ;
	in->len = HDR + sizeof(struct fuse_read_in);
	req.reply_zeroes = 4096;
	EXPECT_EQ(0, decode_dev_request(&req, buf, in->len));
	EXPECT_EQ(4096, req.reply_zeroes);
	in->opcode = FUSE_WRITE;
	in->len = sizeof(buf);
	EXPECT_EQ(0, decode_dev_request(&req, buf, in->len));
	EXPECT_EQ(0, req.reply_zeroes);
}

TEST(dev_lengths)
{
	char buf[HDR + sizeof(struct fuse_read_in) + 8];
	struct fuse_in_header *in = (struct fuse_in_header *)buf;
	struct fuse_request req;

	memset(buf, 0, sizeof(buf));
	in->opcode = FUSE_READ;
	in->len = HDR + sizeof(struct fuse_read_in);
	EXPECT_EQ(0, decode_dev_request(&req, buf, in->len));
	EXPECT_EQ(sizeof(struct fuse_read_in), req.arg_len);
	EXPECT_EQ(0, req.data_len);
	/* The header's len must be what read(2) returned. */
	EXPECT_EQ(-EINVAL, decode_dev_request(&req, buf, in->len + 8));
	in->len = HDR + 8;
	EXPECT_EQ(-EINVAL, decode_dev_request(&req, buf, in->len));
	EXPECT_EQ(DECODE_NO_HEADER, decode_dev_request(&req, buf, HDR - 1));
}

TEST_HARNESS_MAIN
