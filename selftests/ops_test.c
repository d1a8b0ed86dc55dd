// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests of the opcode handlers (ops.c) over a null: image, with a
 * transport that only records the answer: requests that no client
 * program can put together, such as one SETATTR that changes the mode and
 * fails to change the size.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "kselftest_harness.h"
#include "export.h"

#define IMAGE_SIZE	(1 << 20)
#define REPLY_CAP	4096

static int answered;
static int answer;

static void record_reply(struct fuse_request *req, int error, uint32_t len)
{
	request_end(req, error, len);
	answered++;
	answer = error;
}

static void record_drop(struct fuse_request *req)
{
	request_end(req, 0, 0);
	answered++;
}

static const struct transport recorder = {
	.name = "test",
	.reply = record_reply,
	.drop = record_drop,
};

FIXTURE(ops) {
	struct export exp;
	struct init_result init;
	struct queue_thread thread;
	char reply[REPLY_CAP];
};

FIXTURE_SETUP(ops)
{
	memset(&self->exp, 0, sizeof(self->exp));
	self->exp.opt.null_image = true;
	self->exp.opt.null_size = IMAGE_SIZE;
	self->exp.opt.writable = true;
	self->exp.opt.growable = true;
	ASSERT_EQ(0, image_open(&self->exp.image, &self->exp.opt));
	self->init.minor = 45;
	self->init.max_write = 128 * 1024;
	self->exp.init = &self->init;
	self->exp.nr_threads = 1;
	self->exp.threads = &self->thread;
	self->thread.exp = &self->exp;
	answered = 0;
}

FIXTURE_TEARDOWN(ops)
{
	image_close(&self->exp.image);
}

/* Run one request through ops_dispatch(); returns its answer. */
static int dispatch(FIXTURE_DATA(ops) *self, uint32_t opcode,
		    const void *arg, uint32_t arg_len)
{
	struct fuse_in_header in = {
		.opcode = opcode,
		.unique = 2,
		.nodeid = FUSE_ROOT_ID,
	};
	struct fuse_request req = {
		.transport = &recorder,
		.thread = &self->thread,
		.qid = -1,
		.in = &in,
		.arg = arg,
		.arg_len = arg_len,
		.reply = self->reply,
		.reply_cap = REPLY_CAP,
	};

	in.len = sizeof(in) + arg_len;
	answered = 0;
	request_begin(&req);
	ops_dispatch(&req);
	return answered == 1 ? answer : 1000;
}

/* A size that cannot be had fails the request, and the mode stays. */
TEST_F(ops, setattr_failing_resize_changes_no_mode)
{
	struct fuse_setattr_in in = {
		.valid = FATTR_MODE | FATTR_SIZE,
		.mode = 0400,
		.size = (uint64_t)INT64_MAX + 1,
	};

	ASSERT_EQ(0600, self->exp.image.mode);
	EXPECT_EQ(-EFBIG, dispatch(self, FUSE_SETATTR, &in, sizeof(in)));
	EXPECT_EQ(0600, self->exp.image.mode);
	EXPECT_EQ(IMAGE_SIZE, image_size(&self->exp.image));
}

/* Ownership without allow_other is refused before the size changes. */
TEST_F(ops, setattr_refused_owner_changes_no_size)
{
	struct fuse_setattr_in in = {
		.valid = FATTR_UID | FATTR_SIZE,
		.uid = 12345,
		.size = 2 * IMAGE_SIZE,
	};

	EXPECT_EQ(-EPERM, dispatch(self, FUSE_SETATTR, &in, sizeof(in)));
	EXPECT_EQ(IMAGE_SIZE, image_size(&self->exp.image));
}

/* Both at once, and both possible: both happen. */
TEST_F(ops, setattr_mode_and_size_together)
{
	struct fuse_setattr_in in = {
		.valid = FATTR_MODE | FATTR_SIZE,
		.mode = 0400,
		.size = 2 * IMAGE_SIZE,
	};

	EXPECT_EQ(0, dispatch(self, FUSE_SETATTR, &in, sizeof(in)));
	EXPECT_EQ(0400, self->exp.image.mode);
	EXPECT_EQ(2 * IMAGE_SIZE, image_size(&self->exp.image));
}

TEST_HARNESS_MAIN
