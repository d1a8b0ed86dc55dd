// SPDX-License-Identifier: GPL-2.0
/*
 * null:SIZE, an image with no store: reads return zeroes, writes are
 * dropped, and every request completes at once, without a trip through
 * the ring, so that what is measured is the daemon and the transport.
 */
#include <errno.h>
#include <string.h>

#include "export.h"

static void null_touch(struct image *img)
{
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	pthread_mutex_lock(&img->lock);
	img->mtime = now;
	img->ctime = now;
	pthread_mutex_unlock(&img->lock);
}

static int null_open(struct image *img, const struct export_options *opt)
{
	img->size = opt->null_size;
	img->block_size = 512;
	null_touch(img);
	return 0;
}

static void null_close(struct image *img)
{
	(void)img;
}

static void null_attr(struct image *img, struct fuse_attr *attr)
{
	struct timespec mtime, ctime;

	pthread_mutex_lock(&img->lock);
	mtime = img->mtime;
	ctime = img->ctime;
	pthread_mutex_unlock(&img->lock);
	attr->atime = mtime.tv_sec;
	attr->mtime = mtime.tv_sec;
	attr->ctime = ctime.tv_sec;
	attr->atimensec = (uint32_t)mtime.tv_nsec;
	attr->mtimensec = (uint32_t)mtime.tv_nsec;
	attr->ctimensec = (uint32_t)ctime.tv_nsec;
}

static int null_truncate(struct image *img, uint64_t size)
{
	(void)img;
	(void)size;
	return 0;
}

/* Data everywhere, with one hole at the end. */
static int null_seek(struct image *img, uint64_t offset, int whence,
		     uint64_t *result)
{
	(void)img;
	(void)offset;
	(void)whence;
	(void)result;
	return -EOPNOTSUPP;
}

static int null_room(struct image *img, struct statvfs *vfs)
{
	(void)img;
	(void)vfs;
	return -ENODATA;
}

static void null_request_init(struct fuse_request *req)
{
	(void)req;
}

static void null_submit(struct fuse_request *req)
{
	int res = 0;

	switch (req->io.opcode) {
	case IORING_OP_READ:
		/*
		 * Zeroing a buffer that holds zeroes would only take the
		 * CPU the transport's copy of them needs.
		 */
		if (req->reply_zeroes < req->io.len) {
			memset(req->reply, 0, req->io.len);
			req->reply_zeroes = req->io.len;
		}
		res = (int)req->io.len;
		break;
	case IORING_OP_WRITE:
		res = (int)req->io.len;
		break;
	}
	image_io_finish(req, res);
}

/* Every mode has nothing to do: the range reads as zeroes already. */
static void null_fallocate(struct fuse_request *req)
{
	req->io.complete(req, 0);
}

static int null_sync(struct image *img)
{
	(void)img;
	return 0;
}

const struct image_ops null_image_ops = {
	.open = null_open,
	.close = null_close,
	.attr = null_attr,
	.touch = null_touch,
	.truncate = null_truncate,
	.seek = null_seek,
	.room = null_room,
	.request_init = null_request_init,
	.submit = null_submit,
	.fallocate = null_fallocate,
	.sync = null_sync,
};
