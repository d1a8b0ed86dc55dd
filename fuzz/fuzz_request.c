// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target: arbitrary bytes as a /dev/fuse request or as a ring
 * entry (header + payload, with whatever payload_sz the header claims),
 * through the daemon's own decode and opcode handlers, over a null: image.
 *
 * Input: byte 0 picks the transport (even: /dev/fuse, odd: ring).  For
 * /dev/fuse the rest is the request as read(2) would return it; for the
 * ring the next 288 bytes are the entry header and the rest its payload.
 * Buffers are allocated to their exact size, so a read or write past any
 * of them is an AddressSanitizer report.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "blockdev.h"
#include "decode.h"
#include "init.h"
#include "ops.h"
#include "queue.h"
#include "trace.h"

#define IMAGE_SIZE (1024 * 1024)
#define MAX_IO (128 * 1024)

static struct export exp;
static struct init_result init;
static struct queue_thread thread;
static unsigned int replies;

static void fuzz_reply(struct fuse_request *req, int error, uint32_t len)
{
	const unsigned char *reply = req->reply;
	unsigned int sum = 0;
	uint32_t i;

	/* What the kernel would refuse is a daemon bug. */
	assert(error <= 0 && error > -512);
	assert(len <= req->reply_cap);
	request_end(req, error, len);
	/* Touch every byte the reply claims, so ASan checks its extent. */
	for (i = 0; !error && i < len; i++)
		sum += reply[i];
	(void)sum;
	replies++;
}

static void fuzz_drop(struct fuse_request *req)
{
	request_end(req, 0, 0);
	replies++;
}

static const struct transport fuzz_transport = {
	.name = "fuzz",
	.reply = fuzz_reply,
	.drop = fuzz_drop,
};

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	exp.opt.null_image = true;
	exp.opt.null_size = IMAGE_SIZE;
	exp.opt.writable = true;
	exp.opt.growable = true;
	if (blockdev_open(&exp.backing, &exp.opt))
		abort();
	exp.backing.allow_other = true;
	init.max_write = MAX_IO;
	init.max_pages = MAX_IO / 4096;
	init.minor = FUE_PROTO_MINOR;
	exp.init = &init;
	exp.payload_size = MAX_IO;
	exp.max_read = MAX_IO;
	exp.nr_threads = 1;
	exp.threads = &thread;
	thread.exp = &exp;
	/* Run the --stats and --trace bookkeeping too, minus the printing. */
	trace_requests_on = true;
	if (stats_alloc_ops(&thread.stats))
		abort();
	return 0;
}

static void reset_image(void)
{
	exp.backing.size = IMAGE_SIZE;
	exp.backing.mode = 0600;
}

static void run_dev(const unsigned char *data, size_t size)
{
	struct fuse_request req = {
		.transport = &fuzz_transport,
		.thread = &thread,
		.qid = -1,
	};
	uint32_t len = size > MAX_IO + 4096 ? MAX_IO + 4096 : (uint32_t)size;
	unsigned char *buf = malloc(len ? len : 1);
	void *reply = malloc(MAX_IO);
	int ret;

	memcpy(buf, data, len);
	req.reply = reply;
	req.reply_cap = MAX_IO;
	ret = decode_dev_request(&req, buf, len);
	if (ret != DECODE_NO_HEADER) {
		request_begin(&req);
		if (ret)
			fuzz_reply(&req, ret, 0);
		else
			ops_dispatch(&req);
		assert(replies == 1);
	}
	free(reply);
	free(buf);
}

static void run_ring(const unsigned char *data, size_t size)
{
	struct fuse_request req = {
		.transport = &fuzz_transport,
		.thread = &thread,
	};
	struct fuse_uring_req_header *h = calloc(1, sizeof(*h));
	size_t head = size < sizeof(*h) ? size : sizeof(*h);
	size_t body = size - head > MAX_IO ? MAX_IO : size - head;
	unsigned char *payload = calloc(1, MAX_IO);
	int ret;

	memcpy(h, data, head);
	memcpy(payload, data + head, body);
	ret = decode_ring_request(&req, h, payload, MAX_IO);
	request_begin(&req);
	if (ret)
		fuzz_reply(&req, ret, 0);
	else
		ops_dispatch(&req);
	assert(replies == 1);
	free(payload);
	free(h);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	if (!size)
		return 0;
	replies = 0;
	reset_image();
	if (data[0] & 1)
		run_ring(data + 1, size - 1);
	else
		run_dev(data + 1, size - 1);
	return 0;
}
