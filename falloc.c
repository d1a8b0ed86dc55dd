// SPDX-License-Identifier: GPL-2.0
/*
 * FALLOCATE on the image, with the same answer to the client whatever
 * the image lives on.  A mode the store has is passed to it; one it turns
 * down (EOPNOTSUPP) is emulated with what it does have, and -v says so
 * the first time:
 *
 *  - ZERO_RANGE: PUNCH_HOLE, then allocation of the range; without
 *    PUNCH_HOLE either, zeroes written;
 *  - PUNCH_HOLE: zeroes written (the space stays allocated);
 *  - allocation (mode 0): nothing; the range reads as it did, but its
 *    space is not reserved.
 *
 * A block device takes whole logical blocks only: its unaligned head and
 * tail get zeroes written, the rest goes to fallocate on the device, and
 * a device that cannot discard gets ZERO_RANGE for a PUNCH_HOLE, which
 * the kernel carries out by whatever means the device has.
 *
 * Every step is one SQE on the queue thread's ring and zeroes go out in
 * bounded chunks, so a large range never holds up the thread's other
 * requests.
 */
#include <errno.h>
#include <linux/falloc.h>

#include "export.h"
#include "compiler.h"

/* The most zeroes one SQE writes: one chunk in flight per request. */
#define ZERO_CHUNK (1024 * 1024)

/*
 * Page-aligned for O_DIRECT; never written, so it stays on the shared
 * zero page and costs no memory (hence not const: .bss, not .rodata).
 */
static char zeroes[ZERO_CHUNK] __aligned(4096);

/*
 * Where a request stands.  "Middle" is the range a store's fallocate
 * takes: all of it for a file, its whole logical blocks on a device.
 */
enum falloc_step {
	STEP_ZERO_RANGE,	/* FALLOC_FL_ZERO_RANGE over the middle */
	STEP_PUNCH_HOLE,	/* FALLOC_FL_PUNCH_HOLE over the middle */
	STEP_ALLOCATE,		/* allocation (KEEP_SIZE) over the middle */
	STEP_ZEROES,		/* zeroes written over the middle */
	STEP_HEAD,		/* zeroes over what precedes the middle */
	STEP_TAIL,		/* zeroes over what follows it */
};

/* [*start, *end) of the middle; empty when no whole block is inside. */
static void falloc_middle(struct fuse_request *req, uint64_t *start,
			  uint64_t *end)
{
	struct image *img = request_image(req);
	uint32_t lbs = img->is_blockdev ? img->block_size : 1;

	*start = round_up(req->io.offset, lbs);
	*end = round_down(req->io.end, lbs);
	if (*start >= *end)
		*start = *end = req->io.offset;
}

static bool falloc_lacks(struct image *img, uint32_t what)
{
	return READ_ONCE(img->lacks) & what;
}

static void falloc_enter(struct fuse_request *req, enum falloc_step step);

/* Even a failed step may have changed the image: a sync is owed. */
static void falloc_finish(struct fuse_request *req, int res)
{
	image_wrote(request_image(req));
	req->io.complete(req, res);
}

/* After the middle is done, the head and the tail, which may be empty. */
static void middle_done(struct fuse_request *req)
{
	falloc_enter(req, STEP_HEAD);
}

static void zeroes_done(struct fuse_request *req)
{
	switch (req->io.step) {
	case STEP_ZEROES:
		middle_done(req);
		break;
	case STEP_HEAD:
		falloc_enter(req, STEP_TAIL);
		break;
	default:
		falloc_finish(req, 0);
		break;
	}
}

/* The step after one the store turned down with EOPNOTSUPP. */
static void fall_back(struct fuse_request *req)
{
	struct image *img = request_image(req);

	switch (req->io.step) {
	case STEP_ZERO_RANGE:
		image_note_lack(img, IMAGE_LACKS_ZERO_RANGE);
		/* The kernel already fell back to writing zeroes on a device. */
		falloc_enter(req, img->is_blockdev ? STEP_ZEROES :
						     STEP_PUNCH_HOLE);
		break;
	case STEP_PUNCH_HOLE:
		image_note_lack(img, IMAGE_LACKS_PUNCH_HOLE);
		falloc_enter(req, img->is_blockdev ? STEP_ZERO_RANGE :
						     STEP_ZEROES);
		break;
	default:
		/* Holes read as zeroes already; only the reservation is lost. */
		image_note_lack(img, IMAGE_LACKS_ALLOCATE);
		middle_done(req);
		break;
	}
}

static void step_done(struct fuse_request *req, int res)
{
	if (res == -EOPNOTSUPP) {
		fall_back(req);
		return;
	}
	if (res < 0) {
		falloc_finish(req, res);
		return;
	}
	/* A hole punched for ZERO_RANGE is allocated again. */
	if (req->io.step == STEP_PUNCH_HOLE &&
	    (req->io.mode & FALLOC_FL_ZERO_RANGE) &&
	    !request_image(req)->is_blockdev) {
		falloc_enter(req, STEP_ALLOCATE);
		return;
	}
	middle_done(req);
}

static void zeroes_segment(struct fuse_request *req, uint64_t *start,
			   uint64_t *end)
{
	uint64_t mid_start, mid_end;

	falloc_middle(req, &mid_start, &mid_end);
	switch (req->io.step) {
	case STEP_HEAD:
		*start = req->io.offset;
		*end = mid_start == mid_end ? req->io.end : mid_start;
		break;
	case STEP_TAIL:
		*start = mid_start == mid_end ? req->io.end : mid_end;
		*end = req->io.end;
		break;
	default:
		*start = mid_start;
		*end = mid_end;
		break;
	}
}

static void submit_zeroes(struct fuse_request *req);

static void zeroes_written(struct fuse_request *req, int res)
{
	uint64_t start, end;

	if (res < 0) {
		falloc_finish(req, res);
		return;
	}
	if (res == 0) {
		/* The store shrank under us: the range cannot be zeroed. */
		falloc_finish(req, -EIO);
		return;
	}
	req->io.pos += (uint64_t)res;
	zeroes_segment(req, &start, &end);
	if (req->io.pos < end)
		submit_zeroes(req);
	else
		zeroes_done(req);
}

static void submit_zeroes(struct fuse_request *req)
{
	struct image *img = request_image(req);
	struct io_uring_sqe *sqe = queue_image_sqe(req->thread, &req->io_op,
						   true);
	uint64_t start, end, left;
	uint32_t len;

	zeroes_segment(req, &start, &end);
	left = end - req->io.pos;
	/* Chunks end on chunk boundaries: --direct then takes all but one. */
	len = ZERO_CHUNK - (uint32_t)(req->io.pos % ZERO_CHUNK);
	if (len > left)
		len = (uint32_t)left;
	io_uring_prep_write(sqe, image_file_data_fd(img, req->io.pos, len, zeroes),
			    zeroes, len, req->io.pos);
}

/* Every SQE of a FALLOCATE completes here, by way of image_file.c. */
void falloc_step_done(struct fuse_request *req, int res)
{
	if (req->io.step >= STEP_ZEROES)
		zeroes_written(req, res);
	else
		step_done(req, res);
}

static int step_mode(enum falloc_step step)
{
	switch (step) {
	case STEP_ZERO_RANGE:
		return FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE;
	case STEP_PUNCH_HOLE:
		return FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
	default:
		/* Ops has grown the image already where that was asked. */
		return FALLOC_FL_KEEP_SIZE;
	}
}

static uint32_t step_needs(enum falloc_step step)
{
	switch (step) {
	case STEP_ZERO_RANGE:
		return IMAGE_LACKS_ZERO_RANGE;
	case STEP_PUNCH_HOLE:
		return IMAGE_LACKS_PUNCH_HOLE;
	default:
		return IMAGE_LACKS_ALLOCATE;
	}
}

static void falloc_enter(struct fuse_request *req, enum falloc_step step)
{
	struct image *img = request_image(req);
	uint64_t start, end;
	struct io_uring_sqe *sqe;

	req->io.step = step;
	if (step >= STEP_ZEROES) {
		zeroes_segment(req, &start, &end);
		req->io.pos = start;
		if (start < end)
			submit_zeroes(req);
		else
			zeroes_done(req);
		return;
	}
	falloc_middle(req, &start, &end);
	if (start == end) {
		middle_done(req);
		return;
	}
	/* What the store turned down once, it is not asked again. */
	if (falloc_lacks(img, step_needs(step))) {
		fall_back(req);
		return;
	}
	sqe = queue_image_sqe(req->thread, &req->io_op, true);
	io_uring_prep_fallocate(sqe, img->fd, step_mode(step), (off_t)start,
				(off_t)(end - start));
}

void falloc_submit(struct fuse_request *req)
{
	struct image *img = request_image(req);
	uint32_t mode = req->io.mode;

	/* A block device cannot preallocate: nothing to do but answer. */
	if (img->is_blockdev &&
	    !(mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE))) {
		req->io.complete(req, 0);
		return;
	}
	if (mode & FALLOC_FL_ZERO_RANGE)
		falloc_enter(req, STEP_ZERO_RANGE);
	else if (mode & FALLOC_FL_PUNCH_HOLE)
		falloc_enter(req, STEP_PUNCH_HOLE);
	else
		falloc_enter(req, STEP_ALLOCATE);
}
