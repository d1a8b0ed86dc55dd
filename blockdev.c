// SPDX-License-Identifier: GPL-2.0
/*
 * The backing store: a regular file, a block device or null:SIZE, and its
 * I/O, queued as SQEs on the ring of the queue thread serving the request
 * so that a thread never blocks on the image.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/param.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "export.h"
#include "compiler.h"

/* Reported as st_blksize: large enough that cp and dd do not dawdle. */
#define PREFERRED_IO_SIZE (64 * 1024)

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
static int open_image(struct backing *b, const struct export_options *opt)
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
	b->fd = ret;
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
		b->unaligned_fd = ret;
	}
	ret = 0;
out:
	close(path_fd);
	return ret;
}

static int image_size(struct backing *b, const struct export_options *opt)
{
	struct stat st;

	if (fstat(b->fd, &st) < 0) {
		int err = errno;

		log_error("%s: %s", opt->image, strerror(err));
		return -err;
	}
	if (S_ISBLK(st.st_mode)) {
		uint64_t size;
		int lbs;

		b->is_blockdev = true;
		if (ioctl(b->fd, BLKGETSIZE64, &size) < 0 ||
		    ioctl(b->fd, BLKSSZGET, &lbs) < 0) {
			int err = errno;

			log_error("%s: cannot read the device size: %s",
				  opt->image, strerror(err));
			return -err;
		}
		b->size = size;
		b->block_size = lbs;
		if (opt->growable) {
			log_error("%s: a block device cannot grow (drop --growable)",
				  opt->image);
			return -EINVAL;
		}
		return 0;
	}
	b->size = st.st_size;
	b->block_size = file_dio_alignment(b->fd);
	return 0;
}

/*
 * By default a growable image may take what its file system leaves to
 * non-root users when the export starts, never the blocks reserved for
 * root: the daemon writes as root, and one FALLOCATE could take them all.
 * A file system that reports no size (ramfs) sets no default limit.
 */
static int set_grow_limit(struct backing *b, const struct export_options *opt)
{
	struct statvfs vfs;

	b->grow_limit = INT64_MAX;
	if (!b->growable)
		return 0;
	if (opt->grow_limit) {
		if (opt->grow_limit < b->size) {
			log_error("--growable=%" PRIu64 ": %s is larger already (%" PRIu64 " bytes)",
				  opt->grow_limit, opt->image, b->size);
			return -EINVAL;
		}
		b->grow_limit = opt->grow_limit;
	} else if (!b->is_null) {
		if (fstatvfs(b->fd, &vfs) < 0) {
			int err = errno;

			log_error("%s: cannot tell how far it may grow: %s (give --growable=SIZE)",
				  opt->image, strerror(err));
			return -err;
		}
		/* ramfs reports no size at all: it has no limit to keep. */
		if (vfs.f_blocks &&
		    (uint64_t)vfs.f_bavail * vfs.f_frsize < INT64_MAX - b->size)
			b->grow_limit = b->size + (uint64_t)vfs.f_bavail *
						   vfs.f_frsize;
	}
	log_debug("image: grows up to %" PRIu64 " bytes", b->grow_limit);
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

int blockdev_open(struct backing *b, const struct export_options *opt)
{
	struct timespec now;
	int ret;

	memset(b, 0, sizeof(*b));
	b->fd = -1;
	b->unaligned_fd = -1;
	b->writable = opt->writable;
	b->growable = opt->growable;
	b->direct = opt->direct;
	b->uid = getuid();
	b->gid = getgid();
	b->mode = opt->writable ? 0600 : 0400;
	pthread_mutex_init(&b->lock, NULL);

	if (opt->null_image) {
		b->is_null = true;
		b->size = opt->null_size;
		b->block_size = 512;
		b->direct = false;
		clock_gettime(CLOCK_REALTIME, &now);
		b->null_mtime = now;
		b->null_ctime = now;
		return set_grow_limit(b, opt);
	}
	ret = open_image(b, opt);
	if (!ret)
		ret = image_size(b, opt);
	if (!ret)
		ret = set_grow_limit(b, opt);
	if (ret < 0)
		blockdev_close(b);
	return ret;
}

void blockdev_close(struct backing *b)
{
	if (b->fd >= 0)
		close(b->fd);
	if (b->unaligned_fd >= 0)
		close(b->unaligned_fd);
	b->fd = -1;
	b->unaligned_fd = -1;
	pthread_mutex_destroy(&b->lock);
}

static uint32_t timespec_nsec(const struct timespec *ts)
{
	return (uint32_t)ts->tv_nsec;
}

void blockdev_fill_attr(struct backing *b, struct fuse_attr *attr)
{
	struct timespec atime, mtime, ctime;
	struct stat st;
	uint64_t size = blockdev_size(b);

	memset(attr, 0, sizeof(*attr));
	attr->blocks = DIV_ROUND_UP(size, 512);
	attr->blksize = PREFERRED_IO_SIZE;
	if (!b->is_null && fstat(b->fd, &st) == 0) {
		atime = st.st_atim;
		mtime = st.st_mtim;
		ctime = st.st_ctim;
		/* A file's allocation tells a sparse image from a full one. */
		if (!b->is_blockdev)
			attr->blocks = st.st_blocks;
	} else {
		pthread_mutex_lock(&b->lock);
		mtime = b->null_mtime;
		ctime = b->null_ctime;
		pthread_mutex_unlock(&b->lock);
		atime = mtime;
	}
	attr->ino = FUSE_ROOT_ID;
	attr->size = size;
	attr->atime = atime.tv_sec;
	attr->mtime = mtime.tv_sec;
	attr->ctime = ctime.tv_sec;
	attr->atimensec = timespec_nsec(&atime);
	attr->mtimensec = timespec_nsec(&mtime);
	attr->ctimensec = timespec_nsec(&ctime);
	pthread_mutex_lock(&b->lock);
	attr->mode = S_IFREG | b->mode;
	attr->uid = b->uid;
	attr->gid = b->gid;
	pthread_mutex_unlock(&b->lock);
	attr->nlink = 1;
}

/*
 * A file or device has its own mtime, which the kernel moves on every
 * write; a null: image keeps one for it.
 */
void blockdev_touch(struct backing *b)
{
	struct timespec now;

	if (!b->is_null)
		return;
	clock_gettime(CLOCK_REALTIME, &now);
	pthread_mutex_lock(&b->lock);
	b->null_mtime = now;
	b->null_ctime = now;
	pthread_mutex_unlock(&b->lock);
}

/*
 * Counted on completion, not submission: a sync begun before a write has
 * completed cannot be relied on to cover it.
 */
void blockdev_wrote(struct backing *b)
{
	if (!b->is_null)
		atomic_add_return(&b->writes, 1);
}

/* Resize under the lock so that concurrent growth never shrinks. */
static int resize_locked(struct backing *b, uint64_t size)
{
	if (size > b->grow_limit)
		return -EFBIG;
	if (!b->is_null && ftruncate(b->fd, (off_t)size) < 0)
		return -errno;
	smp_store_release(&b->size, size);
	return 0;
}

int blockdev_resize(struct backing *b, uint64_t size)
{
	int ret;

	pthread_mutex_lock(&b->lock);
	ret = resize_locked(b, size);
	pthread_mutex_unlock(&b->lock);
	if (!ret) {
		blockdev_touch(b);
		blockdev_wrote(b);
	}
	return ret;
}

int blockdev_grow_to(struct backing *b, uint64_t end)
{
	bool grew = false;
	int ret = 0;


	pthread_mutex_lock(&b->lock);
	if (end > blockdev_size(b)) {
		ret = resize_locked(b, end);
		grew = !ret;
	}
	pthread_mutex_unlock(&b->lock);
	if (grew)
		blockdev_wrote(b);
	return ret;
}

static const char *lack_note(const struct backing *b, uint32_t what)
{
	switch (what) {
	case STORE_LACKS_ZERO_RANGE:
		return b->is_blockdev ?
		       "image: the device has no ZERO_RANGE; writing zeroes instead" :
		       "image: the store has no ZERO_RANGE; emulated with PUNCH_HOLE and allocation";
	case STORE_LACKS_PUNCH_HOLE:
		return b->is_blockdev ?
		       "image: the device cannot discard; PUNCH_HOLE becomes ZERO_RANGE on the device" :
		       "image: the store has no PUNCH_HOLE; writing zeroes instead (the space stays allocated)";
	case STORE_LACKS_ALLOCATE:
		return "image: the store cannot preallocate; fallocate succeeds without reserving space";
	default:
		return "image: the store has no SEEK_DATA/SEEK_HOLE; the whole image counts as data";
	}
}

/* Remember that the store lacks @what (STORE_LACKS_*); -v says so once. */
void blockdev_note_lack(struct backing *b, uint32_t what)
{
	/* Threads may find out together: only the first one says so. */
	if (atomic_fetch_or_relaxed(&b->lacks, what) & what)
		return;
	log_debug("%s", lack_note(b, what));
}

int blockdev_seek(struct backing *b, uint64_t offset, int whence,
		 uint64_t *result)
{
	off_t pos = -1;

	if (offset >= blockdev_size(b))
		return -ENXIO;
	/* null: reads as data everywhere, with one hole at the end. */
	if (!b->is_null &&
	    !(READ_ONCE(b->lacks) & STORE_LACKS_SEEK)) {
		pos = lseek(b->fd, (off_t)offset, whence);
		if (pos >= 0) {
			*result = (uint64_t)pos;
			return 0;
		}
		if (errno != EINVAL && errno != EOPNOTSUPP && errno != ESPIPE)
			return -errno;
		/* A store that knows no holes holds data throughout. */
		blockdev_note_lack(b, STORE_LACKS_SEEK);
	}
	*result = whence == SEEK_DATA ? offset : blockdev_size(b);
	return 0;
}

int blockdev_statfs(struct backing *b, struct fuse_kstatfs *st)
{
	struct statvfs vfs;
	uint64_t size = blockdev_size(b);

	memset(st, 0, sizeof(*st));
	st->bsize = 512;
	st->frsize = 512;
	st->blocks = DIV_ROUND_UP(size, 512);
	st->files = 1;
	st->namelen = 255;
	/*
	 * A growable image has the room its limit leaves, or its file
	 * system has, whichever is less.
	 */
	if (b->growable) {
		st->bfree = (b->grow_limit - size) / 512;
		st->bavail = st->bfree;
	}
	if (b->growable && !b->is_null && fstatvfs(b->fd, &vfs) == 0) {
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
bool blockdev_sync_owed(struct backing *b)
{
	if (b->is_null || !b->writable)
		return false;
	return smp_load_acquire(&b->synced) < smp_load_acquire(&b->writes);
}

static void sync_begin(struct backing *b, struct sync_ticket *ticket)
{
	ticket->writes = smp_load_acquire(&b->writes);
	ticket->failures = smp_load_acquire(&b->sync_failures);
}

/*
 * A failure is counted and stays owed.  A success vouches for the writes
 * seen when it began, unless another sync failed meanwhile: the kernel
 * reports a writeback error to one fdatasync of a file only, and the
 * failed one may have taken the error that belonged to ours.
 */
static int sync_end(struct backing *b, const struct sync_ticket *ticket,
		    int res)
{
	if (res < 0) {
		smp_store_release(&b->sync_error, res);
		atomic_add_return(&b->sync_failures, 1);
		return res;
	}
	if (smp_load_acquire(&b->sync_failures) != ticket->failures)
		return smp_load_acquire(&b->sync_error);
	atomic_max(&b->synced, ticket->writes);
	return 0;
}

/* At exit: sync whatever is owed.  0 or a negative errno. */
int blockdev_sync(struct backing *b)
{
	struct sync_ticket ticket;
	int res = 0;

	if (!blockdev_sync_owed(b))
		return 0;
	sync_begin(b, &ticket);
	res = fault_sync_at_exit();
	if (!res && fdatasync(b->fd) < 0)
		res = -errno;
	return sync_end(b, &ticket, res);
}

static void submit_io(struct fuse_request *req);

static void backing_io_done(struct ring_op *op, int res)
{
	struct fuse_request *req = container_of(op, struct fuse_request, io_op);

	if (fault_at_completion(req, &res))
		return;
	blockdev_io_finish(req, res);
}

/* What an image I/O completion with result @res means for @req. */
void blockdev_io_finish(struct fuse_request *req, int res)
{
	struct backing *b = &req->thread->exp->backing;
	bool data_op = req->io_opcode == IORING_OP_READ ||
		       req->io_opcode == IORING_OP_WRITE;

	if (req->io_opcode == IORING_OP_FALLOCATE) {
		req->io_step_done(req, res);
		return;
	}
	if (req->io_opcode == IORING_OP_FSYNC) {
		request_image_end(req);
		req->io_complete(req, sync_end(b, &req->sync, res));
		return;
	}
	if (data_op && res > 0) {
		req->io_done += res;
		/* A short transfer is not an error: carry on from there. */
		if (req->io_done < req->io_len) {
			submit_io(req);
			return;
		}
		res = req->io_done;
	} else if (data_op && res == 0) {
		/* EOF moved under us (the image shrank): report what we got. */
		if (req->io_opcode == IORING_OP_WRITE && !req->io_done)
			res = -EIO;
		else
			res = req->io_done;
	}
	/* Even a failed write may have changed the image. */
	if (req->io_opcode != IORING_OP_READ)
		blockdev_wrote(b);
	request_image_end(req);
	req->io_complete(req, res);
}

static bool aligned(uint64_t value, uint32_t alignment)
{
	return !(value & (alignment - 1));
}

/* Once per request slot: its backing I/O completes here. */
void blockdev_request_init(struct fuse_request *req)
{
	req->io_op.done = backing_io_done;
	req->io_op.backing = true;
}

/* The descriptor I/O of this offset, length and buffer can go through. */
int blockdev_data_fd(struct backing *b, uint64_t offset, uint32_t len,
		    const void *buf)
{
	if (!b->direct)
		return b->fd;
	if (aligned(offset, b->block_size) && aligned(len, b->block_size) &&
	    aligned((uintptr_t)buf, b->block_size))
		return b->fd;
	return b->unaligned_fd;
}

static void submit_io(struct fuse_request *req)
{
	struct backing *b = &req->thread->exp->backing;
	struct io_uring_sqe *sqe = queue_sqe(req->thread, &req->io_op);
	uint64_t offset = req->io_offset + req->io_done;
	uint32_t left = req->io_len - req->io_done;
	char *read_to = (char *)req->reply + req->io_done;
	const char *write_from = (const char *)req->data + req->io_done;

	switch (req->io_opcode) {
	case IORING_OP_READ:
		io_uring_prep_read(sqe, blockdev_data_fd(b, offset, left, read_to),
				   read_to, left, offset);
		break;
	case IORING_OP_WRITE:
		io_uring_prep_write(sqe, blockdev_data_fd(b, offset, left, write_from),
				    write_from, left, offset);
		break;
	case IORING_OP_FSYNC:
		io_uring_prep_fsync(sqe, b->fd, req->io_mode);
		req->sync_sent = sqe->fsync_flags;
		break;
	}
}

/* null: completes at once, without a trip through the ring. */
static int null_io(struct fuse_request *req)
{
	switch (req->io_opcode) {
	case IORING_OP_READ:
		memset(req->reply, 0, req->io_len);
		return (int)req->io_len;
	case IORING_OP_WRITE:
		return (int)req->io_len;
	default:
		return 0;
	}
}

/*
 * Run req->io_opcode over [io_offset, io_offset + io_len): a READ lands in
 * req->reply, a WRITE comes from req->data, both with no copy.
 */
void blockdev_submit(struct fuse_request *req,
		    void (*complete)(struct fuse_request *req, int res))
{
	struct backing *b = &req->thread->exp->backing;
	int failed;

	req->io_complete = complete;
	if (req->io_opcode == IORING_OP_FSYNC)
		sync_begin(b, &req->sync);
	failed = fault_at_submission(req);
	if (failed) {
		if (req->io_opcode == IORING_OP_FSYNC)
			failed = sync_end(b, &req->sync, failed);
		complete(req, failed);
		return;
	}
	if (req->io_opcode == IORING_OP_WRITE)
		blockdev_touch(b);
	if (b->is_null) {
		complete(req, null_io(req));
		return;
	}
	req->io_done = 0;
	request_image_begin(req);
	submit_io(req);
}
