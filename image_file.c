// SPDX-License-Identifier: GPL-2.0
/*
 * The file backend: IMAGE a regular file or a block device, its I/O
 * queued as SQEs on the ring of the queue thread serving the request so
 * that a thread never blocks on the image.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "export.h"

static uint32_t file_dio_alignment(int fd);

static const char *file_type_name(mode_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFIFO:
		return "a FIFO";
	case S_IFCHR:
		return "a character device";
	case S_IFSOCK:
		return "a socket";
	case S_IFDIR:
		return "a directory";
	default:
		return "not a regular file";
	}
}

/*
 * Open the file @path_fd (O_PATH) holds, with @flags: through /proc, so
 * that it is the very inode whose type was checked, whatever the path
 * names by now.  Checked to be the same file all the same.
 */
static int reopen_same(const char *image, int path_fd, const struct stat *want,
		       int flags)
{
	char link[64];
	struct stat st;
	int fd;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", path_fd);
	fd = open(link, flags);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || st.st_dev != want->st_dev ||
	    st.st_ino != want->st_ino) {
		log_error("%s: changed while it was being opened; refusing to serve another file",
			  image);
		close(fd);
		return -ESTALE;
	}
	return fd;
}

/* Whether the file @path_fd holds could be opened read-only. */
static bool readable(int path_fd)
{
	char link[64];
	int fd;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", path_fd);
	fd = open(link, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return false;
	close(fd);
	return true;
}

static void explain_open_error(const struct export_options *opt,
			       int path_fd, int err)
{
	if (err == ESTALE)
		return;
	if (opt->writable && (err == EROFS || err == EACCES || err == EPERM) &&
	    readable(path_fd))
		log_error("%s: cannot open for writing: %s (export it without --writable)",
			  opt->image, strerror(err));
	else if (err == EINVAL && opt->direct)
		log_error("%s: its file system has no O_DIRECT (drop --direct)",
			  opt->image);
	else if (err == ENOENT && access("/proc/self/fd", F_OK))
		log_error("%s: cannot reopen it: /proc is not mounted",
			  opt->image);
	else
		log_error("%s: %s", opt->image, strerror(err));
}

/*
 * IMAGE is resolved once, symlinks followed (/dev/disk/by-id names are
 * links), into an O_PATH descriptor: opening that has no side effects on
 * a FIFO or a device, so its type is checked before anything is opened
 * for I/O.  Every descriptor for I/O is a reopen of that same inode.
 */
static int open_image(struct image *img, const struct export_options *opt)
{
	int flags = O_CLOEXEC | (opt->writable ? O_RDWR : O_RDONLY);
	struct stat st;
	int path_fd, ret;

	path_fd = open(opt->image, O_PATH | O_CLOEXEC);
	if (path_fd < 0) {
		ret = -errno;
		log_error("%s: %s", opt->image, strerror(-ret));
		return ret;
	}
	if (fstat(path_fd, &st) < 0) {
		ret = -errno;
		log_error("%s: %s", opt->image, strerror(-ret));
		goto out;
	}
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
		log_error("%s: is %s; IMAGE must be a regular file or a block device",
			  opt->image, file_type_name(st.st_mode));
		ret = S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
		goto out;
	}
	ret = reopen_same(opt->image, path_fd, &st,
			  flags | (opt->direct ? O_DIRECT : 0));
	if (ret < 0) {
		explain_open_error(opt, path_fd, -ret);
		goto out;
	}
	img->fd = ret;
	/*
	 * Direct I/O takes only aligned requests.  The rest go through the
	 * page cache on a second descriptor of the same inode: the kernel
	 * keeps the two coherent, and no bounce buffer or read-modify-write
	 * is needed for a block's tail.
	 */
	if (opt->direct) {
		ret = reopen_same(opt->image, path_fd, &st, flags);
		if (ret < 0) {
			explain_open_error(opt, path_fd, -ret);
			goto out;
		}
		img->unaligned_fd = ret;
	}
	ret = 0;
out:
	close(path_fd);
	return ret;
}

static int read_size(struct image *img, const struct export_options *opt)
{
	struct stat st;

	if (fstat(img->fd, &st) < 0) {
		int err = errno;

		log_error("%s: %s", opt->image, strerror(err));
		return -err;
	}
	if (S_ISBLK(st.st_mode)) {
		uint64_t size;
		int lbs;

		img->is_blockdev = true;
		if (ioctl(img->fd, BLKGETSIZE64, &size) < 0 ||
		    ioctl(img->fd, BLKSSZGET, &lbs) < 0) {
			int err = errno;

			log_error("%s: cannot read the device size: %s",
				  opt->image, strerror(err));
			return -err;
		}
		img->size = size;
		img->block_size = lbs;
		if (opt->growable) {
			log_error("%s: a block device cannot grow (drop --growable)",
				  opt->image);
			return -EINVAL;
		}
		return 0;
	}
	img->size = st.st_size;
	img->block_size = file_dio_alignment(img->fd);
	return 0;
}

/* What O_DIRECT on this file must be aligned to; a page when unknown. */
static uint32_t file_dio_alignment(int fd)
{
	struct statx stx;

	if (statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) == 0 &&
	    (stx.stx_mask & STATX_DIOALIGN) && stx.stx_dio_offset_align)
		return stx.stx_dio_offset_align > stx.stx_dio_mem_align ?
		       stx.stx_dio_offset_align : stx.stx_dio_mem_align;
	return 4096;
}

static int file_open(struct image *img, const struct export_options *opt)
{
	int ret;

	img->direct = opt->direct;
	ret = open_image(img, opt);
	if (!ret)
		ret = read_size(img, opt);
	return ret;
}

static void file_close(struct image *img)
{
	if (img->fd >= 0)
		close(img->fd);
	if (img->unaligned_fd >= 0)
		close(img->unaligned_fd);
	img->fd = -1;
	img->unaligned_fd = -1;
}

static void file_attr(struct image *img, struct fuse_attr *attr)
{
	struct stat st;

	if (fstat(img->fd, &st))
		return;
	attr->atime = st.st_atim.tv_sec;
	attr->mtime = st.st_mtim.tv_sec;
	attr->ctime = st.st_ctim.tv_sec;
	attr->atimensec = (uint32_t)st.st_atim.tv_nsec;
	attr->mtimensec = (uint32_t)st.st_mtim.tv_nsec;
	attr->ctimensec = (uint32_t)st.st_ctim.tv_nsec;
	/* A file's allocation tells a sparse image from a full one. */
	if (!img->is_blockdev)
		attr->blocks = st.st_blocks;
}

static int file_truncate(struct image *img, uint64_t size)
{
	return ftruncate(img->fd, (off_t)size) ? -errno : 0;
}

static int file_seek(struct image *img, uint64_t offset, int whence,
		     uint64_t *result)
{
	off_t pos;

	if (READ_ONCE(img->lacks) & IMAGE_LACKS_SEEK)
		return -EOPNOTSUPP;
	pos = lseek(img->fd, (off_t)offset, whence);
	if (pos >= 0) {
		*result = (uint64_t)pos;
		return 0;
	}
	if (errno != EINVAL && errno != EOPNOTSUPP && errno != ESPIPE)
		return -errno;
	image_note_lack(img, IMAGE_LACKS_SEEK);
	return -EOPNOTSUPP;
}

static int file_room(struct image *img, struct statvfs *vfs)
{
	return fstatvfs(img->fd, vfs) ? -errno : 0;
}

static bool aligned(uint64_t value, uint32_t alignment)
{
	return !(value & (alignment - 1));
}

/* The descriptor I/O of this offset, length and buffer can go through. */
int image_file_data_fd(struct image *img, uint64_t offset, uint32_t len,
		       const void *buf)
{
	if (!img->direct)
		return img->fd;
	if (aligned(offset, img->block_size) && aligned(len, img->block_size) &&
	    aligned((uintptr_t)buf, img->block_size))
		return img->fd;
	return img->unaligned_fd;
}

static void file_submit(struct fuse_request *req);

/* Every SQE of a request's image I/O completes here. */
static void file_io_done(struct ring_op *op, int res)
{
	struct fuse_request *req = container_of(op, struct fuse_request, io_op);
	struct image *img = request_image(req);

	if (req->io.opcode == IORING_OP_FALLOCATE) {
		falloc_step_done(req, res);
		return;
	}
	/*
	 * The client's pages of a zero-copy request may sit at offsets
	 * O_DIRECT refuses, which only the kernel knows: the page cache's
	 * descriptor takes the rest.
	 */
	if (res == -EINVAL && req->io.fixed && img->direct &&
	    !req->io.buffered) {
		req->io.buffered = true;
		file_submit(req);
		return;
	}
	image_io_finish(req, res);
}

static void file_request_init(struct fuse_request *req)
{
	req->io_op.done = file_io_done;
}

static void file_submit(struct fuse_request *req)
{
	struct image *img = request_image(req);
	struct image_io *io = &req->io;
	uint64_t offset = io->offset + io->done;
	uint32_t left = io->len - io->done;
	struct io_uring_sqe *sqe = queue_image_sqe(req->thread, &req->io_op,
						   left <= POLL_MAX_IMAGE_BYTES);
	char *read_to = (char *)req->reply + io->done;
	const char *write_from = (const char *)req->data + io->done;
	int fd;

	/* A zero-copy request's buffer starts at address 0 of its slot. */
	if (io->fixed) {
		read_to = (char *)(uintptr_t)io->done;
		write_from = read_to;
	}
	switch (io->opcode) {
	case IORING_OP_READ:
		fd = io->buffered ? img->unaligned_fd :
		     image_file_data_fd(img, offset, left, read_to);
		if (io->fixed)
			io_uring_prep_read_fixed(sqe, fd, read_to, left, offset,
						 io->buf_index);
		else
			io_uring_prep_read(sqe, fd, read_to, left, offset);
		break;
	case IORING_OP_WRITE:
		fd = io->buffered ? img->unaligned_fd :
		     image_file_data_fd(img, offset, left, write_from);
		if (io->fixed)
			io_uring_prep_write_fixed(sqe, fd, write_from, left,
						  offset, io->buf_index);
		else
			io_uring_prep_write(sqe, fd, write_from, left, offset);
		break;
	case IORING_OP_FSYNC:
		io_uring_prep_fsync(sqe, img->fd, io->mode);
		io->sync_sent = sqe->fsync_flags;
		break;
	}
}

static int file_sync(struct image *img)
{
	return fdatasync(img->fd) ? -errno : 0;
}

const struct image_ops file_image_ops = {
	.open = file_open,
	.close = file_close,
	.attr = file_attr,
	.truncate = file_truncate,
	.seek = file_seek,
	.room = file_room,
	.request_init = file_request_init,
	.submit = file_submit,
	.fallocate = falloc_submit,
	.sync = file_sync,
};
