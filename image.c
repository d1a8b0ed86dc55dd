// SPDX-License-Identifier: GPL-2.0
/*
 * The image, whatever backend holds it: its size and how far it may grow,
 * its mode and owner, what is owed to stable storage, and the request's
 * image I/O from submission to the answer.  A backend (image_file.c,
 * image_null.c) is asked only what its store alone can say or do.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/param.h>
#include <unistd.h>

#include "export.h"

/* Reported as st_blksize: large enough that cp and dd do not dawdle. */
#define PREFERRED_IO_SIZE (64 * 1024)

/*
 * By default a growable image may take what its file system leaves to
 * non-root users when the export starts, never the blocks reserved for
 * root: the daemon writes as root, and one FALLOCATE could take them all.
 * A file system that reports no size (ramfs) sets no default limit, nor
 * does a store with no file system (null:).
 */
static int set_grow_limit(struct image *img, const struct export_options *opt)
{
	struct statvfs vfs;
	int ret;

	img->grow_limit = INT64_MAX;
	if (!img->growable)
		return 0;
	if (opt->grow_limit) {
		if (opt->grow_limit < img->size) {
			log_error("--growable=%" PRIu64 ": %s is larger already (%" PRIu64 " bytes)",
				  opt->grow_limit, opt->image, img->size);
			return -EINVAL;
		}
		img->grow_limit = opt->grow_limit;
	} else {
		ret = img->ops->room(img, &vfs);
		if (ret && ret != -ENODATA) {
			log_error("%s: cannot tell how far it may grow: %s (give --growable=SIZE)",
				  opt->image, strerror(-ret));
			return ret;
		}
		if (!ret && vfs.f_blocks &&
		    (uint64_t)vfs.f_bavail * vfs.f_frsize < INT64_MAX - img->size)
			img->grow_limit = img->size + (uint64_t)vfs.f_bavail *
						       vfs.f_frsize;
	}
	log_debug("image: grows up to %" PRIu64 " bytes", img->grow_limit);
	return 0;
}

int image_open(struct image *img, const struct export_options *opt)
{
	int ret;

	memset(img, 0, sizeof(*img));
	img->ops = opt->null_image ? &null_image_ops : &file_image_ops;
	if (fault_wanted(opt))
		img->ops = fault_wrap(img->ops);
	img->fd = -1;
	img->unaligned_fd = -1;
	img->writable = opt->writable;
	img->growable = opt->growable;
	img->uid = getuid();
	img->gid = getgid();
	img->mode = opt->writable ? 0600 : 0400;
	pthread_mutex_init(&img->lock, NULL);

	ret = img->ops->open(img, opt);
	if (!ret)
		ret = set_grow_limit(img, opt);
	if (ret < 0)
		image_close(img);
	return ret;
}

void image_close(struct image *img)
{
	img->ops->close(img);
	pthread_mutex_destroy(&img->lock);
}

void image_fill_attr(struct image *img, struct fuse_attr *attr)
{
	uint64_t size = image_size(img);

	memset(attr, 0, sizeof(*attr));
	attr->ino = FUSE_ROOT_ID;
	attr->size = size;
	attr->blocks = DIV_ROUND_UP(size, 512);
	attr->blksize = PREFERRED_IO_SIZE;
	attr->nlink = 1;
	img->ops->attr(img, attr);
	pthread_mutex_lock(&img->lock);
	attr->mode = S_IFREG | img->mode;
	attr->uid = img->uid;
	attr->gid = img->gid;
	pthread_mutex_unlock(&img->lock);
}

void image_touch(struct image *img)
{
	if (img->ops->touch)
		img->ops->touch(img);
}

/*
 * Counted on completion, not submission: a sync begun before a write has
 * completed cannot be relied on to cover it.
 */
void image_wrote(struct image *img)
{
	atomic_add_return(&img->writes, 1);
}

/* Resize under the lock so that concurrent growth never shrinks. */
static int resize_locked(struct image *img, uint64_t size)
{
	int ret;

	if (size > img->grow_limit)
		return -EFBIG;
	ret = img->ops->truncate(img, size);
	if (ret)
		return ret;
	smp_store_release(&img->size, size);
	return 0;
}

int image_resize(struct image *img, uint64_t size)
{
	int ret;

	pthread_mutex_lock(&img->lock);
	ret = resize_locked(img, size);
	pthread_mutex_unlock(&img->lock);
	if (!ret) {
		image_touch(img);
		image_wrote(img);
	}
	return ret;
}

int image_grow_to(struct image *img, uint64_t end)
{
	bool grew = false;
	int ret = 0;

	pthread_mutex_lock(&img->lock);
	if (end > image_size(img)) {
		ret = resize_locked(img, end);
		grew = !ret;
	}
	pthread_mutex_unlock(&img->lock);
	if (grew)
		image_wrote(img);
	return ret;
}

/* Remember that the store lacks @what (IMAGE_LACKS_*); -v says so once. */
void image_note_lack(struct image *img, uint32_t what)
{
	/* Threads may find out together: only the first one says so. */
	if (atomic_fetch_or_relaxed(&img->lacks, what) & what)
		return;
	switch (what) {
	case IMAGE_LACKS_ZERO_RANGE:
		log_debug("%s", img->is_blockdev ?
			  "image: the device has no ZERO_RANGE; writing zeroes instead" :
			  "image: the store has no ZERO_RANGE; emulated with PUNCH_HOLE and allocation");
		break;
	case IMAGE_LACKS_PUNCH_HOLE:
		log_debug("%s", img->is_blockdev ?
			  "image: the device cannot discard; PUNCH_HOLE becomes ZERO_RANGE on the device" :
			  "image: the store has no PUNCH_HOLE; writing zeroes instead (the space stays allocated)");
		break;
	case IMAGE_LACKS_ALLOCATE:
		log_debug("image: the store cannot preallocate; fallocate succeeds without reserving space");
		break;
	default:
		log_debug("image: the store has no SEEK_DATA/SEEK_HOLE; the whole image counts as data");
		break;
	}
}

/* A store that cannot tell holes from data holds data throughout. */
int image_seek(struct image *img, uint64_t offset, int whence,
	       uint64_t *result)
{
	int ret;

	if (offset >= image_size(img))
		return -ENXIO;
	ret = img->ops->seek(img, offset, whence, result);
	if (ret != -EOPNOTSUPP)
		return ret;
	*result = whence == SEEK_DATA ? offset : image_size(img);
	return 0;
}

int image_statfs(struct image *img, struct fuse_kstatfs *st)
{
	struct statvfs vfs;
	uint64_t size = image_size(img);

	memset(st, 0, sizeof(*st));
	st->bsize = 512;
	st->frsize = 512;
	st->blocks = DIV_ROUND_UP(size, 512);
	st->files = 1;
	st->namelen = 255;
	if (!img->growable)
		return 0;
	/*
	 * A growable image has the room its limit leaves, or its file
	 * system has, whichever is less.
	 */
	st->bfree = (img->grow_limit - size) / 512;
	st->bavail = st->bfree;
	if (!img->ops->room(img, &vfs)) {
		st->bfree = MIN(st->bfree, vfs.f_bfree * vfs.f_frsize / 512);
		st->bavail = MIN(st->bavail, vfs.f_bavail * vfs.f_frsize / 512);
	}
	return 0;
}

static void atomic_max(uint64_t *p, uint64_t value)
{
	uint64_t cur = smp_load_acquire(p);

	while (cur < value &&
	       !atomic_try_cmpxchg(p, &cur, value))
		;
}

/* True when a write has completed since the newest successful sync began. */
bool image_sync_owed(struct image *img)
{
	return img->writable &&
	       smp_load_acquire(&img->synced) < smp_load_acquire(&img->writes);
}

static void sync_begin(struct image *img, struct sync_ticket *ticket)
{
	ticket->writes = smp_load_acquire(&img->writes);
	ticket->failures = smp_load_acquire(&img->sync_failures);
}

/*
 * A failure is counted and stays owed.  A success vouches for the writes
 * seen when it began, unless another sync failed meanwhile: the kernel
 * reports a writeback error to one fdatasync of a file only, and the
 * failed one may have taken the error that belonged to ours.
 */
static int sync_end(struct image *img, const struct sync_ticket *ticket,
		    int res)
{
	if (res < 0) {
		smp_store_release(&img->sync_error, res);
		atomic_add_return(&img->sync_failures, 1);
		return res;
	}
	if (smp_load_acquire(&img->sync_failures) != ticket->failures)
		return smp_load_acquire(&img->sync_error);
	atomic_max(&img->synced, ticket->writes);
	return 0;
}

/* At exit: sync whatever is owed.  0 or a negative errno. */
int image_sync(struct image *img)
{
	struct sync_ticket ticket;

	if (!image_sync_owed(img))
		return 0;
	sync_begin(img, &ticket);
	return sync_end(img, &ticket, img->ops->sync(img));
}

/* What the image I/O of @req, now at result @res, means for it. */
void image_io_finish(struct fuse_request *req, int res)
{
	struct image *img = request_image(req);
	struct image_io *io = &req->io;
	bool data_op = io->opcode == IORING_OP_READ ||
		       io->opcode == IORING_OP_WRITE;

	if (io->opcode == IORING_OP_FSYNC) {
		request_image_end(req);
		io->complete(req, sync_end(img, &io->sync, res));
		return;
	}
	if (data_op && res > 0) {
		io->done += res;
		/* A short transfer is not an error: carry on from there. */
		if (io->done < io->len) {
			img->ops->submit(req);
			return;
		}
		res = io->done;
	} else if (data_op && res == 0) {
		/* EOF moved under us (the image shrank): report what we got. */
		if (io->opcode == IORING_OP_WRITE && !io->done)
			res = -EIO;
		else
			res = io->done;
	}
	/* Even a failed write may have changed the image. */
	if (io->opcode != IORING_OP_READ)
		image_wrote(img);
	request_image_end(req);
	io->complete(req, res);
}

/*
 * Run req->io.opcode over [offset, offset + len): a READ lands in
 * req->reply, a WRITE comes from req->data, both with no copy.
 */
void image_submit(struct fuse_request *req,
		  void (*complete)(struct fuse_request *req, int res))
{
	struct image *img = request_image(req);

	req->io.complete = complete;
	req->io.done = 0;
	req->io.buffered = false;
	if (req->io.opcode == IORING_OP_FSYNC)
		sync_begin(img, &req->io.sync);
	else if (req->io.opcode == IORING_OP_WRITE)
		image_touch(img);
	request_image_begin(req);
	img->ops->submit(req);
}

/*
 * FALLOCATE mode req->io.mode over [req->io.offset, req->io.end), with
 * what the store lacks emulated; complete() gets 0 or -errno.
 */
void image_fallocate(struct fuse_request *req,
		     void (*complete)(struct fuse_request *req, int res))
{
	struct image *img = request_image(req);

	req->io.complete = complete;
	req->io.opcode = IORING_OP_FALLOCATE;
	image_touch(img);
	img->ops->fallocate(req);
}
