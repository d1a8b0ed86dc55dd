// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target: arbitrary bytes as a /dev/fuse request or as a ring
 * entry (header + payload, with whatever payload_sz the header claims),
 * through the daemon's own decode and opcode handlers, over a null: image
 * or over a real regular file opened as with --direct, whose I/O runs on
 * a real io_uring: the completion path, falloc.c's steps and the choice
 * between the O_DIRECT descriptor and the other one all run.
 *
 * Input: byte 0 bit 0 picks the transport (0: /dev/fuse, 1: ring), bit 1
 * the image (0: null:, 1: the file).  For /dev/fuse the rest is the
 * request as read(2) would return it; for the ring the next 288 bytes are
 * the entry header and the rest its payload.  Buffers are allocated to
 * their exact size, so a read or write past any of them is an
 * AddressSanitizer report.  The file lives in $TMPDIR (default /tmp) and
 * is removed at once; where its file system has no O_DIRECT, it is
 * opened without.
 */
#include <assert.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "export.h"

#define IMAGE_SIZE (1024 * 1024)
#define MAX_IO (128 * 1024)

static struct export exp;
static struct init_result init;
static struct queue_thread thread;
static unsigned int replies;

/* The file image, and the null: one the export is switched between. */
static struct image file_image, null_image;

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

/*
 * A scratch regular file, opened by the daemon's own image_open() as
 * `--writable --growable=4M --direct` would, or without --direct where
 * the file system refuses O_DIRECT.
 */
static void open_file_image(void)
{
	const char *dir = getenv("TMPDIR");
	struct export_options opt = {
		.writable = true,
		.growable = true,
		.grow_limit = 4 * IMAGE_SIZE,
		.direct = true,
	};
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/fuzz-image.XXXXXX", dir ? dir : "/tmp");
	fd = mkstemp(path);
	if (fd < 0 || ftruncate(fd, IMAGE_SIZE))
		abort();
	close(fd);
	opt.image = path;
	if (image_open(&file_image, &opt)) {
		opt.direct = false;
		if (image_open(&file_image, &opt))
			abort();
	}
	unlink(path);
	file_image.allow_other = true;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	exp.opt.null_image = true;
	exp.opt.null_size = IMAGE_SIZE;
	exp.opt.writable = true;
	exp.opt.growable = true;
	if (image_open(&null_image, &exp.opt))
		abort();
	null_image.allow_other = true;
	open_file_image();
	if (io_uring_queue_init(64, &thread.ring, IORING_SETUP_SQE128))
		abort();
	init.max_write = MAX_IO;
	init.max_pages = MAX_IO / 4096;
	init.minor = FUE_PROTO_MINOR;
	exp.init = &init;
	exp.image = null_image;
	exp.payload_size = MAX_IO;
	exp.max_read = MAX_IO;
	exp.nr_threads = 1;
	exp.threads = &thread;
	/* Ring requests come from queue 0 and are counted there. */
	exp.nr_queues = 1;
	exp.qid_stats = stats_calloc_lines(1, sizeof(*exp.qid_stats));
	if (!exp.qid_stats)
		abort();
	thread.exp = &exp;
	/* Run the --stats and --trace bookkeeping too, minus the printing. */
	trace_requests_on = true;
	if (stats_alloc_ops(&thread.stats))
		abort();
	return 0;
}

/* Each input starts from the same image: its size, mode and no debt. */
static void reset_image(bool file)
{
	struct image *b = file ? &file_image : &null_image;

	if (file && ftruncate(b->fd, IMAGE_SIZE))
		abort();
	b->size = IMAGE_SIZE;
	b->mode = 0600;
	b->lacks = 0;
	exp.image = *b;
}

/* Run the image I/O a handler queued until the request is answered. */
static void run_ring_until_replied(void)
{
	struct io_uring_cqe *cqe;
	struct ring_op *op;

	while (!replies) {
		assert(thread.inflight);
		if (io_uring_submit_and_wait(&thread.ring, 1) < 0)
			abort();
		while (!io_uring_peek_cqe(&thread.ring, &cqe)) {
			op = io_uring_cqe_get_data(cqe);
			thread.inflight--;
			thread.image_inflight -= op->image;
			io_uring_cqe_seen(&thread.ring, cqe);
			op->done(op, cqe->res);
		}
	}
	assert(!thread.inflight);
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
	void *reply = aligned_alloc(4096, MAX_IO);
	int ret;

	exp.image.ops->request_init(&req);
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
		run_ring_until_replied();
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
		.qid = 0,
	};
	struct fuse_uring_req_header *h = calloc(1, sizeof(*h));
	size_t head = size < sizeof(*h) ? size : sizeof(*h);
	size_t body = size - head > MAX_IO ? MAX_IO : size - head;
	unsigned char *payload = aligned_alloc(4096, MAX_IO);
	int ret;

	exp.image.ops->request_init(&req);
	memset(payload, 0, MAX_IO);
	memcpy(h, data, head);
	memcpy(payload, data + head, body);
	ret = decode_ring_request(&req, h, payload, MAX_IO);
	request_begin(&req);
	if (ret)
		fuzz_reply(&req, ret, 0);
	else
		ops_dispatch(&req);
	run_ring_until_replied();
	assert(replies == 1);
	/* Every request counted as taken is counted as answered. */
	assert(!exp.qid_stats[0].inflight);
	free(payload);
	free(h);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	if (!size)
		return 0;
	replies = 0;
	reset_image(data[0] & 2);
	if (data[0] & 1)
		run_ring(data + 1, size - 1);
	else
		run_dev(data + 1, size - 1);
	return 0;
}
