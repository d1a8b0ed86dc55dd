// SPDX-License-Identifier: GPL-2.0
/*
 * The opcode handlers of a one-file file system, shared by both
 * transports: a handler sees a decoded request and answers through
 * request_reply(), at once or when its image I/O completes.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <string.h>
#include <sys/param.h>
#include <sys/stat.h>
#include <unistd.h>

#include "export.h"

/* How long the kernel may cache attributes: only this daemon changes them. */
#define ATTR_VALID_SEC 1

bool ops_is_io(uint32_t opcode)
{
	return opcode == FUSE_READ || opcode == FUSE_WRITE;
}

static void reply_error(struct fuse_request *req, int error)
{
	request_reply(req, error, 0);
}

static void reply_struct(struct fuse_request *req, const void *out,
			 uint32_t len)
{
	if (len > req->reply_cap) {
		reply_error(req, -EIO);
		return;
	}
	memcpy(req->reply, out, len);
	request_reply(req, 0, len);
}

static void reply_attr(struct fuse_request *req)
{
	struct fuse_attr_out out = {
		.attr_valid = ATTR_VALID_SEC,
	};

	image_fill_attr(request_image(req), &out.attr);
	reply_struct(req, &out, sizeof(out));
}

/*
 * Only the owner bits are the export's to give; group and other bits,
 * and ownership, mean something only when other users can reach it.
 */
static int setattr_mode_owner_check(const struct image *img,
				    const struct fuse_setattr_in *in)
{
	mode_t mode;

	if (in->valid & FATTR_MODE) {
		mode = in->mode & 07777;
		if ((mode & 0222) && !img->writable)
			return -EROFS;
		if ((mode & 077) && !img->allow_other)
			return -EPERM;
		if (mode & ~0777)
			return -EPERM;
	}
	if ((in->valid & (FATTR_UID | FATTR_GID)) && !img->allow_other)
		return -EPERM;
	return 0;
}

static void setattr_mode_owner_apply(struct image *img,
				     const struct fuse_setattr_in *in)
{
	pthread_mutex_lock(&img->lock);
	if (in->valid & FATTR_MODE)
		img->mode = in->mode & 0777;
	if (in->valid & FATTR_UID)
		img->uid = in->uid;
	if (in->valid & FATTR_GID)
		img->gid = in->gid;
	pthread_mutex_unlock(&img->lock);
}

/*
 * Everything is checked and the size changed before mode or owner: a
 * request answered with an error must have changed nothing.
 */
static void op_setattr(struct fuse_request *req)
{
	const struct fuse_setattr_in *in = req->arg;
	struct image *img = request_image(req);
	uint32_t handled = FATTR_MODE | FATTR_UID | FATTR_GID | FATTR_SIZE |
			   FATTR_FH | FATTR_LOCKOWNER | FATTR_KILL_SUIDGID;
	int ret;

	/* Timestamps follow the image: setting them is not supported. */
	if (in->valid & ~handled) {
		reply_error(req, -ENOTSUP);
		return;
	}
	if ((in->valid & FATTR_SIZE) && !img->writable) {
		reply_error(req, -EROFS);
		return;
	}
	ret = setattr_mode_owner_check(img, in);
	if (ret) {
		reply_error(req, ret);
		return;
	}
	/*
	 * A fixed-size export keeps its size: O_TRUNC and truncate() succeed
	 * and the reply tells the kernel the size is unchanged.
	 */
	if ((in->valid & FATTR_SIZE) && img->growable &&
	    in->size != image_size(img)) {
		ret = image_resize(img, in->size);
		if (ret) {
			reply_error(req, ret);
			return;
		}
	}
	setattr_mode_owner_apply(img, in);
	reply_attr(req);
}

static void op_open(struct fuse_request *req)
{
	const struct fuse_open_in *in = req->arg;
	struct export *exp = req->thread->exp;
	struct fuse_open_out out = {
		.open_flags = init_open_flags(exp->init),
	};

	/* Honoured by the kernel on zero-copy queues only. */
	if (READ_ONCE(exp->zero_copy))
		out.open_flags |= FOPEN_IO_URING_ZERO_COPY;

	if ((in->flags & O_ACCMODE) != O_RDONLY &&
	    !request_image(req)->writable) {
		reply_error(req, -EROFS);
		return;
	}
	reply_struct(req, &out, sizeof(out));
}

static void read_done(struct fuse_request *req, int res)
{
	if (res < 0)
		reply_error(req, res);
	else
		request_reply(req, 0, (uint32_t)res);
}

static uint32_t max_io_size(struct fuse_request *req)
{
	return req->thread->exp->init->max_write;
}

static void op_read(struct fuse_request *req)
{
	const struct fuse_read_in *in = req->arg;
	uint64_t size = image_size(request_image(req));
	uint32_t len = in->size;

	if (len > req->thread->exp->max_read || len > req->reply_cap) {
		reply_error(req, -EINVAL);
		return;
	}
	if (in->offset >= size) {
		request_reply(req, 0, 0);
		return;
	}
	if (len > size - in->offset)
		len = (uint32_t)(size - in->offset);
	req->io.opcode = IORING_OP_READ;
	req->io.offset = in->offset;
	req->io.len = len;
	image_submit(req, read_done);
}

static void write_done(struct fuse_request *req, int res)
{
	struct fuse_write_out out = { 0 };

	if (res < 0) {
		reply_error(req, res);
		return;
	}
	out.size = (uint32_t)res;
	reply_struct(req, &out, sizeof(out));
}

static void op_write(struct fuse_request *req)
{
	const struct fuse_write_in *in = req->arg;
	struct image *img = request_image(req);
	uint64_t size, end;
	uint32_t len = in->size;
	int ret;

	if (!img->writable) {
		reply_error(req, -EACCES);
		return;
	}
	if (len != req->data_len || len > max_io_size(req) ||
	    in->offset > INT64_MAX || len > INT64_MAX - in->offset) {
		reply_error(req, -EINVAL);
		return;
	}
	end = in->offset + len;
	size = image_size(img);
	if (end > size && img->growable) {
		ret = image_grow_to(img, MIN(end, img->grow_limit));
		if (ret) {
			reply_error(req, ret);
			return;
		}
		size = image_size(img);
	}
	/*
	 * What fits is written.  Nothing fits: a fixed-size export answers
	 * 0 bytes (ENOSPC to dd), a growable one at its limit EFBIG, as a
	 * file system at its largest file size would.
	 */
	if (in->offset >= size) {
		if (img->growable)
			reply_error(req, -EFBIG);
		else
			write_done(req, 0);
		return;
	}
	if (end > size)
		len = (uint32_t)(size - in->offset);
	req->io.opcode = IORING_OP_WRITE;
	req->io.offset = in->offset;
	req->io.len = len;
	image_submit(req, write_done);
}

static void sync_done(struct fuse_request *req, int res)
{
	reply_error(req, res < 0 ? res : 0);
}

/*
 * Answer only once a sync that began after every write completed so far
 * has succeeded; with nothing owed, one already has.
 */
static void sync_image(struct fuse_request *req, bool datasync)
{
	if (!image_sync_owed(request_image(req))) {
		reply_error(req, 0);
		return;
	}
	req->io.opcode = IORING_OP_FSYNC;
	req->io.mode = datasync ? IORING_FSYNC_DATASYNC : 0;
	image_submit(req, sync_done);
}

static void op_fsync(struct fuse_request *req)
{
	const struct fuse_fsync_in *in = req->arg;

	sync_image(req, in->fsync_flags & FUSE_FSYNC_FDATASYNC);
}

static void fallocate_done(struct fuse_request *req, int res)
{
	if (res == -EOPNOTSUPP || res == -ENOTSUP || res == -EINVAL)
		res = req->io.mode ? -EOPNOTSUPP : res;
	reply_error(req, res < 0 ? res : 0);
}

static int fallocate_prepare(struct image *img,
			     const struct fuse_fallocate_in *in,
			     uint64_t *end)
{
	uint32_t mode = in->mode;
	uint32_t known = FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE |
			 FALLOC_FL_ZERO_RANGE;
	uint64_t size = image_size(img);

	if (!img->writable)
		return -EROFS;
	if (mode & ~known)
		return -EOPNOTSUPP;
	if (in->offset > INT64_MAX || in->length > INT64_MAX - in->offset ||
	    !in->length)
		return -EINVAL;
	*end = in->offset + in->length;
	if ((mode & FALLOC_FL_PUNCH_HOLE) && !(mode & FALLOC_FL_KEEP_SIZE))
		return -EINVAL;
	if (mode == 0 && in->offset < size && *end <= size)
		return 0;
	if (!(mode & FALLOC_FL_KEEP_SIZE) && *end > size) {
		if (!img->growable)
			return -ENOSPC;
		return image_grow_to(img, *end);
	}
	return 0;
}

static void op_fallocate(struct fuse_request *req)
{
	const struct fuse_fallocate_in *in = req->arg;
	struct image *img = request_image(req);
	uint64_t end, size;
	int ret;

	ret = fallocate_prepare(img, in, &end);
	if (ret) {
		reply_error(req, ret);
		return;
	}
	size = image_size(img);
	if (in->offset >= size) {
		reply_error(req, 0);
		return;
	}
	if (end > size)
		end = size;
	req->io.mode = in->mode;
	req->io.offset = in->offset;
	req->io.end = end;
	image_fallocate(req, fallocate_done);
}

static void op_lseek(struct fuse_request *req)
{
	const struct fuse_lseek_in *in = req->arg;
	struct fuse_lseek_out out;
	uint64_t pos;
	int ret;

	if (in->whence != SEEK_DATA && in->whence != SEEK_HOLE) {
		reply_error(req, -EINVAL);
		return;
	}
	ret = image_seek(request_image(req), in->offset, (int)in->whence,
			   &pos);
	if (ret) {
		reply_error(req, ret);
		return;
	}
	out.offset = pos;
	reply_struct(req, &out, sizeof(out));
}

static void op_statfs(struct fuse_request *req)
{
	struct fuse_statfs_out out;

	image_statfs(request_image(req), &out.st);
	reply_struct(req, &out, sizeof(out));
}

/* A close after writes should find them on stable storage. */
static void op_flush(struct fuse_request *req)
{
	sync_image(req, true);
}

void ops_dispatch(struct fuse_request *req)
{
	switch (req->in->opcode) {
	case FUSE_READ:
		op_read(req);
		break;
	case FUSE_WRITE:
		op_write(req);
		break;
	case FUSE_GETATTR:
		reply_attr(req);
		break;
	case FUSE_SETATTR:
		op_setattr(req);
		break;
	case FUSE_OPEN:
		op_open(req);
		break;
	case FUSE_LOOKUP:
		reply_error(req, -ENOENT);
		break;
	case FUSE_FORGET:
	case FUSE_BATCH_FORGET:
	case FUSE_INTERRUPT:
		/* No reply: a one-file export keeps no state to forget. */
		req->transport->drop(req);
		break;
	case FUSE_RELEASE:
	case FUSE_DESTROY:
		reply_error(req, 0);
		break;
	case FUSE_FLUSH:
		op_flush(req);
		break;
	case FUSE_FSYNC:
		op_fsync(req);
		break;
	case FUSE_FALLOCATE:
		op_fallocate(req);
		break;
	case FUSE_LSEEK:
		op_lseek(req);
		break;
	case FUSE_STATFS:
		op_statfs(req);
		break;
	default:
		reply_error(req, -ENOSYS);
		break;
	}
}
