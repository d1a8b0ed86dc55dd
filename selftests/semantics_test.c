// SPDX-License-Identifier: GPL-2.0
/*
 * Filesystem semantics of one exported image file, on real mounts, on both
 * transports and on every backing store: every case runs over /dev/fuse
 * and over the ring, with the image on tmpfs, ramfs, ext4, xfs and btrfs
 * and as a block device with 512 and 4096-byte sectors (fue_store.h), so
 * that what the export promises holds wherever the image lives, natively
 * or emulated, and wherever TMPDIR is.
 *
 * Each test starts its own export with the options it needs; the image is
 * read and checked directly, bypassing the export, so that a test proves
 * where the bytes really landed.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/falloc.h>
#include <linux/loop.h>

#include "fue_harness.h"
#include "fue_store.h"

#define KiB		1024LL
#define MiB		(1024 * KiB)
#define GiB		(1024 * MiB)

/* Mount, run, tear down; generous next to the helpers' own bounds. */
#define TIMEOUT_S	90

FIXTURE(sem) {
	struct fue_export e;
	struct fue_store store;
	const char *skip;
	char skip_buf[128];
	/* The store could not be made: the test fails, naming it. */
	int store_err;
	int loop_fd;
	char loop_dev[64];
};

FIXTURE_VARIANT(sem) {
	const char *transport;
	bool ring;
	enum fue_store_kind store;
};

/* Each store, over /dev/fuse and over the ring. */
#define STORE_VARIANTS(name, kind) \
	FIXTURE_VARIANT_ADD(sem, name##_dev) { \
		.transport = "--io-uring=off", \
		.ring = false, \
		.store = kind, \
	}; \
	FIXTURE_VARIANT_ADD(sem, name##_ring) { \
		.transport = "--io-uring=on", \
		.ring = true, \
		.store = kind, \
	}

STORE_VARIANTS(tmpfs, FUE_STORE_TMPFS);
STORE_VARIANTS(ramfs, FUE_STORE_RAMFS);
STORE_VARIANTS(ext4, FUE_STORE_EXT4);
STORE_VARIANTS(xfs, FUE_STORE_XFS);
STORE_VARIANTS(btrfs, FUE_STORE_BTRFS);
STORE_VARIANTS(bdev512, FUE_STORE_BDEV512);
STORE_VARIANTS(bdev4096, FUE_STORE_BDEV4096);

FIXTURE_SETUP(sem)
{
	int ret;

	self->loop_fd = -1;
	self->skip = fue_setup_skip(variant->ring);
	if (self->skip)
		return;
	ASSERT_EQ(0, fue_init(&self->e));
	/* No ASSERT from here: teardown runs only after a setup that passed. */
	ret = fue_store_setup(&self->store, variant->store, self->e.dir);
	if (ret == -ENOENT) {
		snprintf(self->skip_buf, sizeof(self->skip_buf),
			 "no mkfs for %s (scripts/install-deps installs it)",
			 fue_store_name(variant->store));
		self->skip = self->skip_buf;
	} else if (ret) {
		/* The body asserts it, where a failure cannot skip teardown. */
		self->store_err = ret;
		TH_LOG("cannot make the %s store: %s",
		       fue_store_name(variant->store), strerror(-ret));
	}
	snprintf(self->e.image, sizeof(self->e.image), "%s/image",
		 self->store.dir);
}

FIXTURE_TEARDOWN(sem)
{
	/* The daemon first: it holds the image the store is to let go of. */
	if (self->e.pid && !self->e.exited)
		fue_stop(&self->e);
	if (self->loop_fd >= 0)
		fue_loop_detach(self->loop_fd);
	fue_store_teardown(&self->store);
	fue_teardown(&self->e);
}

static bool is_blockdev(const FIXTURE_VARIANT(sem) *variant)
{
	return fue_store_is_blockdev(variant->store);
}

/* What a block device cannot be: of any size, growable, a mountpoint. */
/*
 * Whether files in dir take O_DIRECT: ramfs never does, tmpfs only since
 * Linux 6.6.  Without it the daemon refuses --direct and says so.
 */
static bool store_takes_o_direct(const char *dir)
{
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/.o_direct_probe", dir);
	fd = open(path, O_CREAT | O_RDWR | O_DIRECT | O_CLOEXEC, 0600);
	if (fd < 0)
		return errno != EINVAL;
	close(fd);
	unlink(path);
	return true;
}

#define NEEDS_O_DIRECT() do { \
	if (!is_blockdev(variant) && \
	    !store_takes_o_direct(self->store.dir)) \
		SKIP(return, "the %s store of this kernel has no O_DIRECT", \
		     fue_store_name(variant->store)); \
} while (0)

/* Stores that keep holes: the others hold data throughout. */
static bool has_holes(const FIXTURE_VARIANT(sem) *variant)
{
	switch (variant->store) {
	case FUE_STORE_TMPFS:
	case FUE_STORE_EXT4:
	case FUE_STORE_XFS:
	case FUE_STORE_BTRFS:
		return true;
	default:
		return false;
	}
}

/* The export of the store's image over the variant's transport. */
#define START(...) \
	ASSERT_EQ(0, fue_start(&self->e, self->e.image, self->e.mnt, \
			       variant->transport, ##__VA_ARGS__, NULL))

/*
 * An image in the store, pattern in [off, off + len) and a hole around:
 * self->e.image is its path, a loop device on a block device store.
 */
#define MAKE_IMAGE(size, off, len) \
	ASSERT_EQ(0, fue_store_make_image(&self->store, (size), (off), \
					  (len), self->e.image, \
					  sizeof(self->e.image)))

/* Image of the given size with the pattern, plus an empty mountpoint. */
#define SETUP_IMAGE(size) do { \
	MAKE_IMAGE((size), 0, (size)); \
	ASSERT_EQ(0, fue_make_mountpoint(self->e.mnt)); \
} while (0)

static bool ts_after(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec > b->tv_sec ||
	       (a->tv_sec == b->tv_sec && a->tv_nsec > b->tv_nsec);
}

TEST_F_TIMEOUT(sem, stat_read_only, TIMEOUT_S)
{
	struct stat st, img;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_EQ(0, self->store_err);
	if (is_blockdev(variant))
		SKIP(return, "a block device " "has whole sectors only");
	SETUP_IMAGE(1 * MiB + 123);
	START();
	ASSERT_EQ(0, stat(self->e.mnt, &st));
	ASSERT_EQ(0, stat(self->e.image, &img));
	EXPECT_TRUE(S_ISREG(st.st_mode));
	EXPECT_EQ(0400U, st.st_mode & 07777);
	EXPECT_EQ(geteuid(), st.st_uid);
	EXPECT_EQ(getegid(), st.st_gid);
	EXPECT_EQ(1UL, st.st_nlink);
	EXPECT_EQ(1 * MiB + 123, st.st_size);
	EXPECT_EQ(img.st_blocks, st.st_blocks);
}

TEST_F_TIMEOUT(sem, stat_writable, TIMEOUT_S)
{
	struct stat st;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_EQ(0, self->store_err);
	SETUP_IMAGE(64 * KiB);
	START("--writable");
	ASSERT_EQ(0, stat(self->e.mnt, &st));
	EXPECT_TRUE(S_ISREG(st.st_mode));
	EXPECT_EQ(0600U, st.st_mode & 07777);
	EXPECT_EQ(1UL, st.st_nlink);
	EXPECT_EQ(64 * KiB, st.st_size);
}

TEST_F_TIMEOUT(sem, stat_blocks_sparse, TIMEOUT_S)
{
	struct stat st, img;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_EQ(0, self->store_err);
	if (is_blockdev(variant))
		SKIP(return, "a block device " "has no allocation to report");
	MAKE_IMAGE(8 * MiB, 1 * MiB, 64 * KiB);
	ASSERT_EQ(0, fue_make_mountpoint(self->e.mnt));
	START();
	ASSERT_EQ(0, stat(self->e.image, &img));
	ASSERT_EQ(0, stat(self->e.mnt, &st));
	/* The export reports the image's allocation, not its size. */
	EXPECT_EQ(img.st_blocks, st.st_blocks);
	EXPECT_LT(st.st_blocks, 8 * MiB / 512);
	EXPECT_EQ(8 * MiB, st.st_size);
}

TEST_F_TIMEOUT(sem, mtime_moves_after_write, TIMEOUT_S)
{
	struct timespec pause = { 0, 50 * 1000 * 1000 };
	char buf[4096];
	struct stat before, after;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_EQ(0, self->store_err);
	SETUP_IMAGE(64 * KiB);
	START("--writable");
	ASSERT_EQ(0, stat(self->e.mnt, &before));
	/* Let the coarse filesystem clock tick past the first stamp. */
	nanosleep(&pause, NULL);
	fue_fill_pattern(buf, sizeof(buf), 1 * MiB);
	ASSERT_EQ((ssize_t)sizeof(buf), fue_pwrite(self->e.mnt, O_WRONLY, buf,
					  sizeof(buf), 0));
	ASSERT_EQ(0, stat(self->e.mnt, &after));
	EXPECT_TRUE(ts_after(&after.st_mtim, &before.st_mtim));
	EXPECT_TRUE(ts_after(&after.st_ctim, &before.st_ctim));
}

TEST_F_TIMEOUT(sem, read_whole_image, TIMEOUT_S)
{
	const off_t size = 3 * MiB + 777;
	char *buf = malloc(size + 4096);

	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_EQ(0, self->store_err);
	if (is_blockdev(variant))
		SKIP(return, "a block device " "has whole sectors only");
	ASSERT_NE(NULL, buf);
	SETUP_IMAGE(size);
	START();
	/* Larger than --max-io, so the kernel splits it into many READs. */
	ASSERT_EQ(size, fue_read_all(self->e.mnt, buf, size + 4096));
	EXPECT_EQ(-1, fue_check_pattern(buf, size, 0));
	free(buf);
}

TEST_F_TIMEOUT(sem, read_crossing_eof, TIMEOUT_S)
{
	const off_t size = 8192 + 100;
	char buf[4096];

	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_EQ(0, self->store_err);
	if (is_blockdev(variant))
		SKIP(return, "a block device " "has whole sectors only");
	SETUP_IMAGE(size);
	START();
	ASSERT_EQ(100, fue_pread(self->e.mnt, O_RDONLY, buf, sizeof(buf),
				 size - 100));
	EXPECT_EQ(-1, fue_check_pattern(buf, 100, size - 100));
	EXPECT_EQ(0, fue_pread(self->e.mnt, O_RDONLY, buf, sizeof(buf), size));
	EXPECT_EQ(0, fue_pread(self->e.mnt, O_RDONLY, buf, sizeof(buf),
			       size + 4096));
	EXPECT_EQ(0, fue_pread(self->e.mnt, O_RDONLY, buf, sizeof(buf),
			       1 * GiB));
}

TEST_F_TIMEOUT(sem, read_only_rejects_writes, TIMEOUT_S)
{
	uint64_t sum_before, sum_after;
	char buf[512] = { 1 };

	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_EQ(0, self->store_err);
	SETUP_IMAGE(64 * KiB);
	ASSERT_EQ(0, fue_file_checksum(self->e.image, 0, -1, &sum_before));
	START();
	EXPECT_EQ(-EROFS, fue_pwrite(self->e.mnt, O_WRONLY, buf, sizeof(buf),
				     0));
	EXPECT_EQ(-EROFS, fue_pwrite(self->e.mnt, O_RDWR, buf, sizeof(buf),
				     0));
	EXPECT_EQ(-1, chmod(self->e.mnt, 0600));
	EXPECT_EQ(EROFS, errno);
	EXPECT_EQ(-1, truncate(self->e.mnt, 0));
	EXPECT_EQ(EROFS, errno);
	ASSERT_EQ(0, fue_file_checksum(self->e.image, 0, -1, &sum_after));
	EXPECT_EQ(sum_before, sum_after);
	EXPECT_EQ(64 * KiB, fue_file_size(self->e.image));
}

TEST_F_TIMEOUT(sem, write_lands_in_image, TIMEOUT_S)
{
	const off_t size = 1 * MiB, off = 12345, len = 64 * KiB;
	uint64_t head_before, tail_before, head_after, tail_after;
	char *buf = malloc(len), *back = malloc(len);

	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_EQ(0, self->store_err);
	ASSERT_NE(NULL, buf);
	ASSERT_NE(NULL, back);
	SETUP_IMAGE(size);
	ASSERT_EQ(0, fue_file_checksum(self->e.image, 0, off, &head_before));
	ASSERT_EQ(0, fue_file_checksum(self->e.image, off + len, -1,
				       &tail_before));
	START("--writable");
	/* Pattern of another offset, so it differs from what is there. */
	fue_fill_pattern(buf, len, 7 * MiB);
	ASSERT_EQ(len, fue_pwrite(self->e.mnt, O_WRONLY, buf, len, off));
	ASSERT_EQ(len, fue_file_pread(self->e.image, back, len, off));
	EXPECT_EQ(0, memcmp(buf, back, len));
	ASSERT_EQ(0, fue_file_checksum(self->e.image, 0, off, &head_after));
	ASSERT_EQ(0, fue_file_checksum(self->e.image, off + len, -1,
				       &tail_after));
	EXPECT_EQ(head_before, head_after);
	EXPECT_EQ(tail_before, tail_after);
	EXPECT_EQ(size, fue_file_size(self->e.image));
	/* And the export reads back what was written. */
	memset(back, 0, len);
	ASSERT_EQ(len, fue_pread(self->e.mnt, O_RDONLY, back, len, off));
	EXPECT_EQ(0, memcmp(buf, back, len));
	free(buf);
	free(back);
}

TEST_F_TIMEOUT(sem, write_crossing_eof_is_cut, TIMEOUT_S)
{
	const off_t size = 64 * KiB;
	char buf[8192], back[8192];
	struct stat st;
	ssize_t n;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_EQ(0, self->store_err);
	SETUP_IMAGE(size);
	START("--writable");
	fue_fill_pattern(buf, sizeof(buf), 5 * MiB);
	n = fue_pwrite(self->e.mnt, O_WRONLY, buf, sizeof(buf), size - 4096);
	EXPECT_EQ(4096, n);
	EXPECT_EQ(size, fue_file_size(self->e.image));
	ASSERT_EQ(4096, fue_file_pread(self->e.image, back, sizeof(back),
				       size - 4096));
	EXPECT_EQ(0, memcmp(buf, back, 4096));
	ASSERT_EQ(0, stat(self->e.mnt, &st));
	EXPECT_EQ(size, st.st_size);
}

TEST_F_TIMEOUT(sem, write_at_eof_writes_nothing, TIMEOUT_S)
{
	const off_t size = 64 * KiB;
	const off_t offs[] = { size, size + 4096, 1 * GiB };
	char buf[4096] = { 0x5a };
	uint64_t sum_before, sum_after;
	struct stat st;
	unsigned int i;
	ssize_t n;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_EQ(0, self->store_err);
	SETUP_IMAGE(size);
	ASSERT_EQ(0, fue_file_checksum(self->e.image, 0, -1, &sum_before));
	START("--writable");
	for (i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
		n = fue_pwrite(self->e.mnt, O_WRONLY, buf, sizeof(buf),
			       offs[i]);
		/* README: 0 bytes written, which dd reports as ENOSPC. */
		EXPECT_EQ(0, n) TH_LOG("pwrite at %lld", (long long)offs[i]);
		EXPECT_EQ(size, fue_file_size(self->e.image));
	}
	ASSERT_EQ(0, stat(self->e.mnt, &st));
	EXPECT_EQ(size, st.st_size);
	ASSERT_EQ(0, fue_file_checksum(self->e.image, 0, -1, &sum_after));
	EXPECT_EQ(sum_before, sum_after);
}

TEST_F_TIMEOUT(sem, truncate_keeps_size, TIMEOUT_S)
{
	const off_t size = 64 * KiB;
	uint64_t sum_before, sum_after;
	struct stat st;
	int fd, ret;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_EQ(0, self->store_err);
	SETUP_IMAGE(size);
	ASSERT_EQ(0, fue_file_checksum(self->e.image, 0, -1, &sum_before));
	START("--writable");
	/*
	 * They succeed and leave the size alone, in the image and in what
	 * the export reports.
	 */
	ret = truncate(self->e.mnt, size / 2);
	EXPECT_EQ(0, ret) TH_LOG("truncate(size / 2): %s", strerror(errno));
	EXPECT_EQ(size, fue_file_size(self->e.image));
	ASSERT_EQ(0, stat(self->e.mnt, &st));
	EXPECT_EQ(size, st.st_size);
	ret = truncate(self->e.mnt, size * 2);
	EXPECT_EQ(0, ret) TH_LOG("truncate(size * 2): %s", strerror(errno));
	EXPECT_EQ(size, fue_file_size(self->e.image));
	ASSERT_EQ(0, stat(self->e.mnt, &st));
	EXPECT_EQ(size, st.st_size);
	fd = open(self->e.mnt, O_WRONLY | O_TRUNC);
	EXPECT_LE(0, fd) TH_LOG("open(O_TRUNC): %s", strerror(errno));
	if (fd >= 0) {
		ASSERT_EQ(0, fstat(fd, &st));
		EXPECT_EQ(size, st.st_size);
		close(fd);
	}
	EXPECT_EQ(size, fue_file_size(self->e.image));
	ASSERT_EQ(0, stat(self->e.mnt, &st));
	EXPECT_EQ(size, st.st_size);
	ASSERT_EQ(0, fue_file_checksum(self->e.image, 0, -1, &sum_after));
	EXPECT_EQ(sum_before, sum_after);
}

TEST_F_TIMEOUT(sem, growable_write_extends, TIMEOUT_S)
{
	const off_t size = 64 * KiB, off = 1 * MiB;
	char buf[4096], back[4096];
	char *gap = malloc(off - size);
	struct stat st;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_EQ(0, self->store_err);
	if (is_blockdev(variant))
		SKIP(return, "a block device " "cannot grow");
	ASSERT_NE(NULL, gap);
	SETUP_IMAGE(size);
	START("--writable", "--growable");
	fue_fill_pattern(buf, sizeof(buf), 9 * MiB);
	ASSERT_EQ((ssize_t)sizeof(buf), fue_pwrite(self->e.mnt, O_WRONLY, buf,
					  sizeof(buf), off));
	EXPECT_EQ(off + 4096, fue_file_size(self->e.image));
	ASSERT_EQ(4096, fue_file_pread(self->e.image, back, sizeof(back), off));
	EXPECT_EQ(0, memcmp(buf, back, sizeof(buf)));
	ASSERT_EQ(off - size, fue_file_pread(self->e.image, gap, off - size,
					     size));
	EXPECT_EQ(-1, fue_check_zero(gap, off - size));
	ASSERT_EQ(0, stat(self->e.mnt, &st));
	EXPECT_EQ(off + 4096, st.st_size);
	/* A write crossing the new end grows it too. */
	ASSERT_EQ((ssize_t)sizeof(buf), fue_pwrite(self->e.mnt, O_WRONLY, buf,
					  sizeof(buf), off + 2048));
	EXPECT_EQ(off + 2048 + 4096, fue_file_size(self->e.image));
	free(gap);
}

TEST_F_TIMEOUT(sem, growable_truncate, TIMEOUT_S)
{
	const off_t size = 64 * KiB;
	char buf[256 * 1024];
	struct stat st;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_EQ(0, self->store_err);
	if (is_blockdev(variant))
		SKIP(return, "a block device " "cannot grow");
	SETUP_IMAGE(size);
	START("--writable", "--growable");
	ASSERT_EQ(0, truncate(self->e.mnt, 32 * KiB));
	EXPECT_EQ(32 * KiB, fue_file_size(self->e.image));
	ASSERT_EQ(0, stat(self->e.mnt, &st));
	EXPECT_EQ(32 * KiB, st.st_size);
	ASSERT_EQ(0, truncate(self->e.mnt, 256 * KiB));
	EXPECT_EQ(256 * KiB, fue_file_size(self->e.image));
	ASSERT_EQ(0, stat(self->e.mnt, &st));
	EXPECT_EQ(256 * KiB, st.st_size);
	ASSERT_EQ(256 * KiB, fue_pread(self->e.mnt, O_RDONLY, buf, sizeof(buf),
				       0));
	EXPECT_EQ(-1, fue_check_pattern(buf, 32 * KiB, 0));
	EXPECT_EQ(-1, fue_check_zero(buf + 32 * KiB, 224 * KiB));
}

TEST_F_TIMEOUT(sem, chmod_chown_without_allow_other, TIMEOUT_S)
{
	struct stat st;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_EQ(0, self->store_err);
	SETUP_IMAGE(4096);
	START("--writable", "--allow-other=off");
	/* Others cannot reach the file, so granting them bits is refused. */
	EXPECT_EQ(-1, chmod(self->e.mnt, 0640));
	EXPECT_EQ(EPERM, errno);
	EXPECT_EQ(-1, chmod(self->e.mnt, 0604));
	EXPECT_EQ(EPERM, errno);
	EXPECT_EQ(-1, chown(self->e.mnt, 1, 1));
	EXPECT_EQ(EPERM, errno);
	ASSERT_EQ(0, stat(self->e.mnt, &st));
	EXPECT_EQ(0600U, st.st_mode & 07777);
	EXPECT_EQ(geteuid(), st.st_uid);
	EXPECT_EQ(getegid(), st.st_gid);
}

TEST_F_TIMEOUT(sem, chmod_chown_with_allow_other, TIMEOUT_S)
{
	struct stat st;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_EQ(0, self->store_err);
	SETUP_IMAGE(4096);
	START("--writable", "--allow-other=on");
	EXPECT_EQ(0, chmod(self->e.mnt, 0640));
	ASSERT_EQ(0, stat(self->e.mnt, &st));
	EXPECT_EQ(0640U, st.st_mode & 07777);
	EXPECT_TRUE(S_ISREG(st.st_mode));
	EXPECT_EQ(0, chown(self->e.mnt, 1, 1));
	ASSERT_EQ(0, stat(self->e.mnt, &st));
	EXPECT_EQ(1U, st.st_uid);
	EXPECT_EQ(1U, st.st_gid);
}

TEST_F_TIMEOUT(sem, fallocate_grows_growable, TIMEOUT_S)
{
	const off_t size = 64 * KiB;
	struct stat st;
	int fd;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_EQ(0, self->store_err);
	if (is_blockdev(variant))
		SKIP(return, "a block device " "cannot grow");
	SETUP_IMAGE(size);
	START("--writable", "--growable");
	fd = open(self->e.mnt, O_RDWR);
	ASSERT_LE(0, fd);
	EXPECT_EQ(0, fallocate(fd, 0, size + 4096, 64 * KiB));
	EXPECT_EQ(size + 4096 + 64 * KiB, fue_file_size(self->e.image));
	ASSERT_EQ(0, fstat(fd, &st));
	EXPECT_EQ(size + 4096 + 64 * KiB, st.st_size);
	close(fd);
}

TEST_F_TIMEOUT(sem, punch_hole_needs_keep_size, TIMEOUT_S)
{
	uint64_t sum_before, sum_after;
	int fd, ret;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_EQ(0, self->store_err);
	SETUP_IMAGE(64 * KiB);
	ASSERT_EQ(0, fue_file_checksum(self->e.image, 0, -1, &sum_before));
	START("--writable");
	fd = open(self->e.mnt, O_RDWR);
	ASSERT_LE(0, fd);
	ret = fallocate(fd, FALLOC_FL_PUNCH_HOLE, 4096, 8192);
	EXPECT_EQ(-1, ret);
	/* The VFS turns this down before the daemon sees it. */
	EXPECT_EQ(EOPNOTSUPP, errno) TH_LOG("errno %s", strerrorname_np(errno));
	close(fd);
	ASSERT_EQ(0, fue_file_checksum(self->e.image, 0, -1, &sum_after));
	EXPECT_EQ(sum_before, sum_after);
	EXPECT_EQ(64 * KiB, fue_file_size(self->e.image));
}

/* Zero [4K, 12K) of a 64K pattern image with mode; check both views. */
static void check_zeroed(struct __test_metadata *_metadata,
			 const struct fue_export *e, int mode)
{
	char buf[64 * 1024];
	int fd;

	fd = open(e->mnt, O_RDWR);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, fallocate(fd, mode, 4096, 8192));
	close(fd);
	ASSERT_EQ((ssize_t)sizeof(buf), fue_pread(e->mnt, O_RDONLY, buf, sizeof(buf),
					 0));
	EXPECT_EQ(-1, fue_check_pattern(buf, 4096, 0));
	EXPECT_EQ(-1, fue_check_zero(buf + 4096, 8192));
	EXPECT_EQ(-1, fue_check_pattern(buf + 12288, sizeof(buf) - 12288,
					12288));
	ASSERT_EQ((ssize_t)sizeof(buf), fue_file_pread(e->image, buf, sizeof(buf), 0));
	EXPECT_EQ(-1, fue_check_pattern(buf, 4096, 0));
	EXPECT_EQ(-1, fue_check_zero(buf + 4096, 8192));
	EXPECT_EQ(-1, fue_check_pattern(buf + 12288, sizeof(buf) - 12288,
					12288));
	EXPECT_EQ(64 * 1024, fue_file_size(e->image));
}

TEST_F_TIMEOUT(sem, punch_hole_reads_zero, TIMEOUT_S)
{
	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_EQ(0, self->store_err);
	SETUP_IMAGE(64 * KiB);
	START("--writable");
	check_zeroed(_metadata, &self->e,
		     FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE);
}

TEST_F_TIMEOUT(sem, zero_range_reads_zero, TIMEOUT_S)
{
	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_EQ(0, self->store_err);
	SETUP_IMAGE(64 * KiB);
	START("--writable");
	check_zeroed(_metadata, &self->e, FALLOC_FL_ZERO_RANGE);
}

TEST_F_TIMEOUT(sem, zero_range_extends_growable, TIMEOUT_S)
{
	const off_t size = 64 * KiB;
	char buf[16384];
	int fd;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_EQ(0, self->store_err);
	if (is_blockdev(variant))
		SKIP(return, "a block device " "cannot grow");
	SETUP_IMAGE(size);
	START("--writable", "--growable");
	fd = open(self->e.mnt, O_RDWR);
	ASSERT_LE(0, fd);
	EXPECT_EQ(0, fallocate(fd, FALLOC_FL_ZERO_RANGE, size - 4096, 16384));
	EXPECT_EQ(size + 12288, fue_file_size(self->e.image));
	/* With KEEP_SIZE the end stays where it is. */
	EXPECT_EQ(0, fallocate(fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE,
			       size + 12288, 16384));
	EXPECT_EQ(size + 12288, fue_file_size(self->e.image));
	close(fd);
	ASSERT_EQ((ssize_t)sizeof(buf), fue_file_pread(self->e.image, buf, sizeof(buf),
					      size - 4096));
	EXPECT_EQ(-1, fue_check_zero(buf, sizeof(buf)));
	ASSERT_EQ((ssize_t)sizeof(buf), fue_pread(self->e.mnt, O_RDONLY, buf,
					 sizeof(buf), size - 4096));
	EXPECT_EQ(-1, fue_check_zero(buf, sizeof(buf)));
}

/*
 * A range that starts and ends inside a 4 KiB block: a block device
 * takes only whole blocks, so the daemon writes the head and the tail.
 */
static void check_zeroed_unaligned(struct __test_metadata *_metadata,
				   const struct fue_export *e, int mode)
{
	const off_t off = 1000, len = 10000;
	char buf[64 * 1024];
	int fd;

	fd = open(e->mnt, O_RDWR);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, fallocate(fd, mode, off, len));
	close(fd);
	ASSERT_EQ((ssize_t)sizeof(buf), fue_pread(e->mnt, O_RDONLY, buf,
						  sizeof(buf), 0));
	EXPECT_EQ(-1, fue_check_pattern(buf, off, 0));
	EXPECT_EQ(-1, fue_check_zero(buf + off, len));
	EXPECT_EQ(-1, fue_check_pattern(buf + off + len,
					sizeof(buf) - off - len, off + len));
	ASSERT_EQ((ssize_t)sizeof(buf), fue_file_pread(e->image, buf,
						       sizeof(buf), 0));
	EXPECT_EQ(-1, fue_check_pattern(buf, off, 0));
	EXPECT_EQ(-1, fue_check_zero(buf + off, len));
	EXPECT_EQ(-1, fue_check_pattern(buf + off + len,
					sizeof(buf) - off - len, off + len));
	EXPECT_EQ(64 * 1024, fue_file_size(e->image));
}

TEST_F_TIMEOUT(sem, punch_hole_unaligned, TIMEOUT_S)
{
	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_EQ(0, self->store_err);
	SETUP_IMAGE(64 * KiB);
	START("--writable");
	check_zeroed_unaligned(_metadata, &self->e,
			       FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE);
}

TEST_F_TIMEOUT(sem, zero_range_unaligned, TIMEOUT_S)
{
	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_EQ(0, self->store_err);
	SETUP_IMAGE(64 * KiB);
	START("--writable");
	check_zeroed_unaligned(_metadata, &self->e, FALLOC_FL_ZERO_RANGE);
}

/*
 * Ranges many times the daemon's 1 MiB chunk of zeroes, unaligned at
 * both ends; checked byte for byte in the image.
 */
TEST_F_TIMEOUT(sem, zero_and_punch_large, TIMEOUT_S)
{
	const off_t size = 24 * MiB;
	const off_t z_off = 512, z_end = 10 * MiB + 1000;
	const off_t p_off = 12 * MiB + 333, p_end = 22 * MiB;
	char *buf = malloc(size);
	int fd;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_EQ(0, self->store_err);
	ASSERT_NE(NULL, buf);
	SETUP_IMAGE(size);
	START("--writable");
	fd = open(self->e.mnt, O_RDWR);
	ASSERT_LE(0, fd);
	EXPECT_EQ(0, fallocate(fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE,
			       z_off, z_end - z_off));
	EXPECT_EQ(0, fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			       p_off, p_end - p_off));
	close(fd);
	ASSERT_EQ(size, fue_file_pread(self->e.image, buf, size, 0));
	EXPECT_EQ(-1, fue_check_pattern(buf, z_off, 0));
	EXPECT_EQ(-1, fue_check_zero(buf + z_off, z_end - z_off));
	EXPECT_EQ(-1, fue_check_pattern(buf + z_end, p_off - z_end, z_end));
	EXPECT_EQ(-1, fue_check_zero(buf + p_off, p_end - p_off));
	EXPECT_EQ(-1, fue_check_pattern(buf + p_end, size - p_end, p_end));
	EXPECT_EQ(size, fue_file_size(self->e.image));
	free(buf);
}

struct zero_job {
	const char *path;
	off_t len;
	int done;
	int err;
};

/* stat() that the kernel must ask the daemon about, cache or not. */
static int force_getattr(void *arg)
{
	struct statx stx;

	return statx(AT_FDCWD, (const char *)arg, AT_STATX_FORCE_SYNC,
		     STATX_SIZE, &stx) ? errno : 0;
}

static void zero_job_main(struct zero_job *z)
{
	int fd = open(z->path, O_RDWR);

	if (fd < 0 || fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				0, z->len))
		z->err = errno;
	__atomic_store_n(&z->done, 1, __ATOMIC_RELEASE);
	_exit(0);
}

/* Reap pid within timeout_ms, killing it after; true if it ended. */
static bool reap_within(pid_t pid, int timeout_ms)
{
	int status;

	if (fue_wait_pid(pid, &status, timeout_ms) == 1)
		return true;
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return false;
}

/*
 * ramfs has no PUNCH_HOLE: punching 1 GiB means 1024 chunks of zeroes.
 * With one queue thread, a request must be answered while they are being
 * written, not after the last one.
 */
TEST_F_TIMEOUT(sem, zeroing_keeps_thread_serving, TIMEOUT_S)
{
	const off_t size = 1 * GiB;
	struct zero_job *z = fue_shared_alloc(sizeof(*z));
	char buf[4096];
	int waited;
	pid_t pid;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_EQ(0, self->store_err);
	if (variant->store != FUE_STORE_RAMFS)
		SKIP(return, "%s punches holes itself",
		     fue_store_name(variant->store));
	ASSERT_NE(NULL, z);
	/* Pattern in the first chunk only: the rest is a hole already. */
	MAKE_IMAGE(size, 0, 1 * MiB);
	ASSERT_EQ(0, fue_make_mountpoint(self->e.mnt));
	START("--writable", "--queues=1");
	z->path = self->e.mnt;
	z->len = size;
	fflush(NULL);
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid)
		zero_job_main(z);
	/* Under way once the first chunk is zero in the image. */
	for (waited = 0; waited < 10000; waited += 1) {
		/* (The pattern's byte 0 is 0; byte 1 is not.) */
		ASSERT_EQ(1, fue_file_pread(self->e.image, buf, 1, 1));
		if (!buf[0] || __atomic_load_n(&z->done, __ATOMIC_ACQUIRE))
			break;
		usleep(1000);
	}
	EXPECT_EQ(0, buf[0]);
	/*
	 * A GETATTR, which every kernel sends meanwhile: Linux 6.1 itself
	 * holds a READ back until the FALLOCATE is answered (6.18 does not).
	 */
	ASSERT_EQ(0, fue_in_child(force_getattr, (void *)self->e.mnt,
				  FUE_IO_TIMEOUT_MS));
	EXPECT_EQ(0, __atomic_load_n(&z->done, __ATOMIC_ACQUIRE))
		TH_LOG("the GETATTR waited for all of the zeroing");
	EXPECT_TRUE(reap_within(pid, 60000));
	EXPECT_EQ(0, z->err) TH_LOG("fallocate: %s", strerror(z->err));
	EXPECT_EQ(1, z->done);
	ASSERT_EQ(4096, fue_file_pread(self->e.image, buf, 4096, 4096));
	EXPECT_EQ(-1, fue_check_zero(buf, 4096));
	fue_shared_free(z, sizeof(*z));
}

/* How many -v lines name each emulation, on each store, at most once. */
struct notes {
	int zero_range;
	int punch_hole;
	int allocate;
	int seek;
};

static struct notes expected_notes(enum fue_store_kind store)
{
	switch (store) {
	case FUE_STORE_TMPFS:
		return (struct notes){ .zero_range = 1 };
	case FUE_STORE_RAMFS:
		/* ramfs reports all of a file as data itself. */
		return (struct notes){ 1, 1, 1, 0 };
	case FUE_STORE_BDEV512:
		/* A device answers no SEEK_DATA; the kernel zeroes itself. */
		return (struct notes){ .seek = 1 };
	case FUE_STORE_BDEV4096:
		/* Over a ramfs file, the loop device cannot discard. */
		return (struct notes){ .punch_hole = 1, .seek = 1 };
	default:
		/* ext4, xfs, btrfs */
		return (struct notes){ 0 };
	}
}

static int count_in(const char *text, const char *what)
{
	int n = 0;

	while (text && (text = strstr(text, what))) {
		n++;
		text += strlen(what);
	}
	return n;
}

TEST_F_TIMEOUT(sem, emulation_noted_once, TIMEOUT_S)
{
	struct notes want = expected_notes(variant->store);
	char *log;
	int fd, i;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_EQ(0, self->store_err);
	SETUP_IMAGE(1 * MiB);
	START("--writable", "-v");
	fd = open(self->e.mnt, O_RDWR);
	ASSERT_LE(0, fd);
	/*
	 * PUNCH_HOLE first: a loop device over tmpfs stops discarding once a
	 * ZERO_RANGE has found that tmpfs has none.
	 */
	for (i = 0; i < 2; i++)
		EXPECT_EQ(0, fallocate(fd, FALLOC_FL_PUNCH_HOLE |
				       FALLOC_FL_KEEP_SIZE,
				       256 * KiB + i * 64 * KiB, 8 * KiB));
	for (i = 0; i < 2; i++)
		EXPECT_EQ(0, fallocate(fd, FALLOC_FL_ZERO_RANGE,
				       i * 64 * KiB, 8 * KiB));
	/* Allocation, with and without KEEP_SIZE: a device has nothing to do. */
	for (i = 0; i < 2; i++)
		EXPECT_EQ(0, fallocate(fd, i ? FALLOC_FL_KEEP_SIZE : 0,
				       512 * KiB + i * 64 * KiB, 8 * KiB));
	for (i = 0; i < 2; i++)
		EXPECT_EQ(32 * KiB + i, lseek(fd, 32 * KiB + i, SEEK_DATA));
	close(fd);
	log = fue_slurp(self->e.errlog);
	ASSERT_NE(NULL, log);
	EXPECT_EQ(want.zero_range, count_in(log, "no ZERO_RANGE"));
	EXPECT_EQ(want.punch_hole, count_in(log, "no PUNCH_HOLE") +
				   count_in(log, "cannot discard"));
	EXPECT_EQ(want.allocate, count_in(log, "cannot preallocate"));
	EXPECT_EQ(want.seek, count_in(log, "no SEEK_DATA"));
	free(log);
}

TEST_F_TIMEOUT(sem, fsync_and_fdatasync, TIMEOUT_S)
{
	char buf[4096];
	int fd;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_EQ(0, self->store_err);
	SETUP_IMAGE(64 * KiB);
	START("--writable");
	fd = open(self->e.mnt, O_RDWR);
	ASSERT_LE(0, fd);
	fue_fill_pattern(buf, sizeof(buf), 3 * MiB);
	ASSERT_EQ((ssize_t)sizeof(buf), pwrite(fd, buf, sizeof(buf), 8192));
	EXPECT_EQ(0, fsync(fd));
	EXPECT_EQ(0, fdatasync(fd));
	close(fd);
	fd = open(self->e.mnt, O_RDONLY);
	ASSERT_LE(0, fd);
	EXPECT_EQ(0, fsync(fd));
	EXPECT_EQ(0, fdatasync(fd));
	close(fd);
}

/* lseek(whence) on fd: the offset, or -errno. */
static off_t seek(int fd, off_t off, int whence)
{
	off_t ret = lseek(fd, off, whence);

	return ret < 0 ? -errno : ret;
}

TEST_F_TIMEOUT(sem, seek_data_hole, TIMEOUT_S)
{
	const off_t size = 4 * MiB;
	const off_t offs[] = {
		0, 4096, 1 * MiB - 1, 1 * MiB, 1 * MiB + 4096,
		1 * MiB + 64 * KiB, 2 * MiB, 3 * MiB, 3 * MiB + 4095,
		3 * MiB + 4096, size - 1,
	};
	char buf[4096];
	unsigned int i;
	int fd, img;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_EQ(0, self->store_err);
	MAKE_IMAGE(size, 1 * MiB, 64 * KiB);
	/* A second extent, so there is data after a hole after data. */
	img = open(self->e.image, O_RDWR);
	ASSERT_LE(0, img);
	fue_fill_pattern(buf, sizeof(buf), 3 * MiB);
	ASSERT_EQ((ssize_t)sizeof(buf), pwrite(img, buf, sizeof(buf), 3 * MiB));
	ASSERT_EQ(0, fsync(img));
	ASSERT_EQ(0, fue_make_mountpoint(self->e.mnt));
	START();
	fd = open(self->e.mnt, O_RDONLY);
	ASSERT_LE(0, fd);
	/*
	 * The export must answer as the image does, offset by offset; a
	 * device, which may not answer at all, holds data throughout.
	 */
	for (i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
		off_t want_data = seek(img, offs[i], SEEK_DATA);
		off_t want_hole = seek(img, offs[i], SEEK_HOLE);

		if (is_blockdev(variant)) {
			want_data = offs[i];
			want_hole = size;
		}

		EXPECT_EQ(want_data, seek(fd, offs[i], SEEK_DATA))
			TH_LOG("SEEK_DATA from %lld", (long long)offs[i]);
		EXPECT_EQ(want_hole, seek(fd, offs[i], SEEK_HOLE))
			TH_LOG("SEEK_HOLE from %lld", (long long)offs[i]);
	}
	/* Spelled out for the layout made above. */
	if (has_holes(variant)) {
		EXPECT_EQ(1 * MiB, seek(fd, 0, SEEK_DATA));
		EXPECT_EQ(1 * MiB + 64 * KiB, seek(fd, 1 * MiB, SEEK_HOLE));
		EXPECT_EQ(3 * MiB, seek(fd, 2 * MiB, SEEK_DATA));
		EXPECT_EQ(-ENXIO, seek(fd, 3 * MiB + 4096, SEEK_DATA));
	} else {
		/* A store without holes holds data throughout. */
		EXPECT_EQ(0, seek(fd, 0, SEEK_DATA));
		EXPECT_EQ(size, seek(fd, 1 * MiB, SEEK_HOLE));
		EXPECT_EQ(3 * MiB + 4096, seek(fd, 3 * MiB + 4096, SEEK_DATA));
	}
	EXPECT_EQ(-ENXIO, seek(fd, size, SEEK_DATA));
	EXPECT_EQ(-ENXIO, seek(fd, size, SEEK_HOLE));
	EXPECT_EQ(-ENXIO, seek(fd, size + 4096, SEEK_DATA));
	EXPECT_EQ(-ENXIO, seek(fd, size + 4096, SEEK_HOLE));
	close(fd);
	close(img);
}

/*
 * README: 512-byte blocks, as many as the image's size, none free; with
 * --growable the image's file system's free space, or the room left
 * below the growth limit when that is less.
 */
TEST_F_TIMEOUT(sem, statfs_values, TIMEOUT_S)
{
	const off_t size = 64 * KiB + 100;
	struct statfs sfs, img;
	long long free_b, img_free;
	off_t image_size;
	char limit[64];

	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_EQ(0, self->store_err);
	SETUP_IMAGE(size);
	/* A device holds whole sectors of it. */
	image_size = fue_file_size(self->e.image);
	ASSERT_LT(0, image_size);
	START();
	ASSERT_EQ(0, statfs(self->e.mnt, &sfs));
	EXPECT_EQ(512, sfs.f_bsize);
	EXPECT_EQ(512, sfs.f_frsize);
	EXPECT_EQ((image_size + 511) / 512, (off_t)sfs.f_blocks);
	EXPECT_EQ(0, sfs.f_bfree);
	EXPECT_EQ(0, sfs.f_bavail);
	ASSERT_EQ(0, fue_stop(&self->e));

	/* Free space is a growable file's: a device cannot grow. */
	if (is_blockdev(variant))
		return;
	/* A limit far past the store's size: the store's room shows. */
	START("--writable", "--growable=1T");
	ASSERT_EQ(0, statfs(self->e.mnt, &sfs));
	ASSERT_EQ(0, statfs(self->store.dir, &img));
	EXPECT_EQ(512, sfs.f_bsize);
	EXPECT_EQ((size + 511) / 512, (off_t)sfs.f_blocks);
	/* Other writers on that file system move it a little meanwhile. */
	free_b = (long long)sfs.f_bavail * 512;
	img_free = (long long)img.f_bavail * img.f_frsize;
	EXPECT_GT(16 * MiB, llabs(free_b - img_free))
		TH_LOG("export: %lld bytes free, image's file system %lld",
		       free_b, img_free);
	free_b = (long long)sfs.f_bfree * 512;
	img_free = (long long)img.f_bfree * img.f_frsize;
	EXPECT_GT(16 * MiB, llabs(free_b - img_free))
		TH_LOG("export: %lld bytes free, image's file system %lld",
		       free_b, img_free);
	ASSERT_EQ(0, fue_stop(&self->e));

	/* A limit 1 MiB past the image: that MiB is the room, if it fits. */
	snprintf(limit, sizeof(limit), "--growable=%lld",
		 (long long)size + MiB);
	START("--writable", limit);
	ASSERT_EQ(0, statfs(self->e.mnt, &sfs));
	ASSERT_EQ(0, statfs(self->store.dir, &img));
	img_free = (long long)img.f_bavail * img.f_frsize;
	EXPECT_EQ(img_free < MiB ? img_free / 512 : MiB / 512,
		  (long long)sfs.f_bavail);
}

/*
 * README: every open is direct I/O, no page cache between the client and
 * the image.  A buffered read sees bytes written through another open
 * and bytes written to the image behind the export's back, and every
 * read reaches the daemon.
 */
TEST_F_TIMEOUT(sem, every_open_is_direct_io, TIMEOUT_S)
{
	char buf[4096], back[4096], *dump;
	struct fue_opstat before, after;
	int rd, wr, img;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_EQ(0, self->store_err);
	SETUP_IMAGE(64 * KiB);
	START("--writable", "--stats");
	rd = open(self->e.mnt, O_RDONLY);
	ASSERT_LE(0, rd);
	wr = open(self->e.mnt, O_WRONLY);
	ASSERT_LE(0, wr);
	ASSERT_EQ((ssize_t)sizeof(back), pread(rd, back, sizeof(back), 8192));
	EXPECT_EQ(-1, fue_check_pattern(back, sizeof(back), 8192));

	fue_fill_pattern(buf, sizeof(buf), 29 * MiB);
	ASSERT_EQ((ssize_t)sizeof(buf), pwrite(wr, buf, sizeof(buf), 8192));
	ASSERT_EQ((ssize_t)sizeof(back), pread(rd, back, sizeof(back), 8192));
	EXPECT_EQ(0, memcmp(buf, back, sizeof(buf)))
		TH_LOG("a read after a write through another open: old bytes");

	img = open(self->e.image, O_WRONLY);
	ASSERT_LE(0, img);
	fue_fill_pattern(buf, sizeof(buf), 37 * MiB);
	ASSERT_EQ((ssize_t)sizeof(buf), pwrite(img, buf, sizeof(buf), 8192));
	close(img);
	ASSERT_EQ((ssize_t)sizeof(back), pread(rd, back, sizeof(back), 8192));
	EXPECT_EQ(0, memcmp(buf, back, sizeof(buf)))
		TH_LOG("a read after a write to the image: cached bytes");

	ASSERT_EQ(0, fue_request_stats_dump(&self->e, &dump));
	ASSERT_EQ(0, fue_parse_op_stat(dump, "READ", &before));
	free(dump);
	ASSERT_EQ((ssize_t)sizeof(back), pread(rd, back, sizeof(back), 8192));
	ASSERT_EQ((ssize_t)sizeof(back), pread(rd, back, sizeof(back), 8192));
	ASSERT_EQ(0, fue_request_stats_dump(&self->e, &dump));
	ASSERT_EQ(0, fue_parse_op_stat(dump, "READ", &after));
	free(dump);
	EXPECT_EQ(before.count + 2, after.count)
		TH_LOG("two reads of the same block, %llu READs",
		       after.count - before.count);
	close(rd);
	close(wr);
}

TEST_F_TIMEOUT(sem, empty_image, TIMEOUT_S)
{
	char buf[4096];
	struct stat st;
	ssize_t n;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_EQ(0, self->store_err);
	if (is_blockdev(variant))
		SKIP(return, "a block device " "has whole sectors only");
	SETUP_IMAGE(0);
	START("--writable");
	ASSERT_EQ(0, stat(self->e.mnt, &st));
	EXPECT_EQ(0, st.st_size);
	EXPECT_EQ(0, fue_pread(self->e.mnt, O_RDONLY, buf, sizeof(buf), 0));
	n = fue_pwrite(self->e.mnt, O_WRONLY, buf, sizeof(buf), 0);
	EXPECT_EQ(0, n);
	EXPECT_EQ(0, fue_file_size(self->e.image));
}

TEST_F_TIMEOUT(sem, odd_size_image, TIMEOUT_S)
{
	char buf[8192];
	struct stat st;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_EQ(0, self->store_err);
	if (is_blockdev(variant))
		SKIP(return, "a block device " "has whole sectors only");
	SETUP_IMAGE(4097);
	START();
	ASSERT_EQ(0, stat(self->e.mnt, &st));
	EXPECT_EQ(4097, st.st_size);
	ASSERT_EQ(4097, fue_read_all(self->e.mnt, buf, sizeof(buf)));
	EXPECT_EQ(-1, fue_check_pattern(buf, 4097, 0));
	ASSERT_EQ(1, fue_pread(self->e.mnt, O_RDONLY, buf, 100, 4096));
	EXPECT_EQ(fue_pattern_byte(4096), (uint8_t)buf[0]);
	ASSERT_EQ(97, fue_pread(self->e.mnt, O_RDONLY, buf, sizeof(buf), 4000));
	EXPECT_EQ(-1, fue_check_pattern(buf, 97, 4000));
}

TEST_F_TIMEOUT(sem, mountpoint_is_image, TIMEOUT_S)
{
	const off_t size = 256 * KiB;
	uint64_t sum_before, sum_after;
	char *buf = malloc(size);
	struct stat st;
	int status;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_EQ(0, self->store_err);
	if (is_blockdev(variant))
		SKIP(return, "a block device " "is no file to mount on");
	ASSERT_NE(NULL, buf);
	MAKE_IMAGE(size, 0, size);
	ASSERT_EQ(0, fue_file_checksum(self->e.image, 0, -1, &sum_before));
	ASSERT_EQ(0, fue_start(&self->e, self->e.image, self->e.image,
			       variant->transport, NULL));
	ASSERT_EQ(1, fue_mount_info(self->e.image, NULL, NULL, 0));
	ASSERT_EQ(0, stat(self->e.image, &st));
	EXPECT_EQ(size, st.st_size);
	EXPECT_EQ(0400U, st.st_mode & 07777);
	ASSERT_EQ(size, fue_read_all(self->e.image, buf, size));
	EXPECT_EQ(-1, fue_check_pattern(buf, size, 0));
	/* Once the export ends, the file underneath is intact. */
	status = fue_stop(&self->e);
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	EXPECT_EQ(0, fue_mount_info(self->e.image, NULL, NULL, 0));
	ASSERT_EQ(0, fue_file_checksum(self->e.image, 0, -1, &sum_after));
	EXPECT_EQ(sum_before, sum_after);
	free(buf);
}

TEST_F_TIMEOUT(sem, null_image, TIMEOUT_S)
{
	const off_t offs[] = { 0, 512 * MiB + 4096, 1 * GiB - 4096 };
	char buf[4096];
	struct stat st;
	struct statfs sfs;
	unsigned int i;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_EQ(0, self->store_err);
	ASSERT_EQ(0, fue_make_mountpoint(self->e.mnt));
	ASSERT_EQ(0, fue_start(&self->e, "null:1G", self->e.mnt,
			       variant->transport, "--writable", NULL));
	ASSERT_EQ(0, stat(self->e.mnt, &st));
	EXPECT_EQ(1 * GiB, st.st_size);
	/*
	 * O_DIRECT keeps the client's page cache from answering for it; the
	 * export promises direct I/O, so a refusal fails.
	 */
	for (i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
		memset(buf, 0xff, sizeof(buf));
		ASSERT_EQ((ssize_t)sizeof(buf), fue_pread(self->e.mnt, O_RDONLY | O_DIRECT,
						 buf, sizeof(buf), offs[i]));
		EXPECT_EQ(-1, fue_check_zero(buf, sizeof(buf)));
		/*
		 * The daemon does not zero a buffer twice: neither another
		 * reply nor a WRITE's data may show through the next READ.
		 */
		ASSERT_EQ(0, statfs(self->e.mnt, &sfs));
		EXPECT_NE(0, sfs.f_bsize);
		memset(buf, 0xff, sizeof(buf));
		ASSERT_EQ((ssize_t)sizeof(buf), fue_pread(self->e.mnt, O_RDONLY | O_DIRECT,
						 buf, sizeof(buf), offs[i]));
		EXPECT_EQ(-1, fue_check_zero(buf, sizeof(buf)));
		fue_fill_pattern(buf, sizeof(buf), offs[i]);
		ASSERT_EQ((ssize_t)sizeof(buf), fue_pwrite(self->e.mnt, O_WRONLY | O_DIRECT,
						  buf, sizeof(buf), offs[i]));
		ASSERT_EQ((ssize_t)sizeof(buf), fue_pread(self->e.mnt, O_RDONLY | O_DIRECT,
						 buf, sizeof(buf), offs[i]));
		EXPECT_EQ(-1, fue_check_zero(buf, sizeof(buf)));
	}
	ASSERT_EQ(0, stat(self->e.mnt, &st));
	EXPECT_EQ(1 * GiB, st.st_size);
}

TEST_F_TIMEOUT(sem, direct_unaligned_io, TIMEOUT_S)
{
	const off_t size = 1 * MiB;
	char buf[8192], back[8192];

	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_EQ(0, self->store_err);
	NEEDS_O_DIRECT();
	SETUP_IMAGE(size);
	START("--writable", "--direct");
	/* The client may ask for any offset and length, --direct or not. */
	ASSERT_EQ(100, fue_pread(self->e.mnt, O_RDONLY, buf, 100, 4001));
	EXPECT_EQ(-1, fue_check_pattern(buf, 100, 4001));
	fue_fill_pattern(buf, 3, 11 * MiB);
	ASSERT_EQ(3, fue_pwrite(self->e.mnt, O_WRONLY, buf, 3, 1));
	ASSERT_EQ(8192, fue_file_pread(self->e.image, back, 8192, 0));
	EXPECT_EQ(fue_pattern_byte(0), (uint8_t)back[0]);
	EXPECT_EQ(0, memcmp(buf, back + 1, 3));
	EXPECT_EQ(-1, fue_check_pattern(back + 4, 8192 - 4, 4));
	fue_fill_pattern(buf, sizeof(buf), 13 * MiB);
	ASSERT_EQ((ssize_t)sizeof(buf), fue_pwrite(self->e.mnt, O_WRONLY, buf,
					  sizeof(buf), 65536 + 17));
	ASSERT_EQ((ssize_t)sizeof(back), fue_file_pread(self->e.image, back,
					       sizeof(back), 65536 + 17));
	EXPECT_EQ(0, memcmp(buf, back, sizeof(buf)));
}

TEST_F_TIMEOUT(sem, large_write_and_read, TIMEOUT_S)
{
	const off_t size = 8 * MiB, off = 1 * MiB + 512, len = 4 * MiB;
	char *buf = malloc(len), *back = malloc(len);

	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_EQ(0, self->store_err);
	ASSERT_NE(NULL, buf);
	ASSERT_NE(NULL, back);
	SETUP_IMAGE(size);
	START("--writable");
	/* Several max-sized WRITEs and READs in one call each. */
	fue_fill_pattern(buf, len, 17 * MiB);
	ASSERT_EQ(len, fue_pwrite(self->e.mnt, O_WRONLY, buf, len, off));
	ASSERT_EQ(len, fue_file_pread(self->e.image, back, len, off));
	EXPECT_EQ(0, memcmp(buf, back, len));
	memset(back, 0, len);
	ASSERT_EQ(len, fue_pread(self->e.mnt, O_RDONLY, back, len, off));
	EXPECT_EQ(0, memcmp(buf, back, len));
	ASSERT_EQ(4096, fue_file_pread(self->e.image, back, 4096, off - 4096));
	EXPECT_EQ(-1, fue_check_pattern(back, 4096, off - 4096));
	free(buf);
	free(back);
}

TEST_F_TIMEOUT(sem, smallest_max_io, TIMEOUT_S)
{
	const off_t size = 1 * MiB, len = 256 * KiB;
	char *buf = malloc(len), *back = malloc(len);

	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_EQ(0, self->store_err);
	ASSERT_NE(NULL, buf);
	ASSERT_NE(NULL, back);
	SETUP_IMAGE(size);
	START("--writable", "--max-io=4K");
	ASSERT_EQ(len, fue_pread(self->e.mnt, O_RDONLY, back, len, 100));
	EXPECT_EQ(-1, fue_check_pattern(back, len, 100));
	fue_fill_pattern(buf, len, 19 * MiB);
	ASSERT_EQ(len, fue_pwrite(self->e.mnt, O_WRONLY, buf, len, 4096 + 7));
	ASSERT_EQ(len, fue_file_pread(self->e.image, back, len, 4096 + 7));
	EXPECT_EQ(0, memcmp(buf, back, len));
	free(buf);
	free(back);
}

TEST_F_TIMEOUT(sem, block_device_image, TIMEOUT_S)
{
	const off_t size = 4 * MiB;
	char buf[8192], back[8192];
	struct stat st;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_EQ(0, self->store_err);
	if (is_blockdev(variant))
		SKIP(return, "a block device " "store runs every test on a device");
	SETUP_IMAGE(size);
	self->loop_fd = fue_loop_attach(self->e.image, self->loop_dev,
					sizeof(self->loop_dev));
	if (self->loop_fd < 0)
		SKIP(return, "no loop device: %s", strerror(-self->loop_fd));
	ASSERT_EQ(0, fue_start(&self->e, self->loop_dev, self->e.mnt,
			       variant->transport, "--writable", NULL));
	ASSERT_EQ(0, stat(self->e.mnt, &st));
	EXPECT_TRUE(S_ISREG(st.st_mode));
	EXPECT_EQ(size, st.st_size);
	ASSERT_EQ(sizeof(buf), (size_t)fue_pread(self->e.mnt, O_RDONLY, buf,
						 sizeof(buf), size - 8192));
	EXPECT_EQ(-1, fue_check_pattern(buf, sizeof(buf), size - 8192));
	EXPECT_EQ(100, fue_pread(self->e.mnt, O_RDONLY, buf, sizeof(buf),
				 size - 100));
	fue_fill_pattern(buf, sizeof(buf), 23 * MiB);
	ASSERT_EQ(sizeof(buf), (size_t)fue_pwrite(self->e.mnt, O_WRONLY, buf,
						  sizeof(buf), 12345));
	/* Through the device, which the daemon wrote to. */
	ASSERT_EQ(sizeof(back), (size_t)fue_file_pread(self->loop_dev, back,
						       sizeof(back), 12345));
	EXPECT_EQ(0, memcmp(buf, back, sizeof(buf)));
	/* A block device cannot grow: a write at the end writes nothing. */
	EXPECT_EQ(0, fue_pwrite(self->e.mnt, O_WRONLY, buf, 4096, size));
	ASSERT_EQ(0, stat(self->e.mnt, &st));
	EXPECT_EQ(size, st.st_size);
}

/*
 * A device with 4 KiB logical blocks and --direct: aligned requests go
 * straight to it, 512-byte and odd ones must still land byte-exact.
 */
TEST_F_TIMEOUT(sem, block_device_direct_4k_blocks, TIMEOUT_S)
{
	const off_t size = 4 * MiB;
	char buf[8192], back[8192];

	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_EQ(0, self->store_err);
	NEEDS_O_DIRECT();
	if (is_blockdev(variant))
		SKIP(return, "a block device " "store runs every test on a device");
	SETUP_IMAGE(size);
	self->loop_fd = fue_loop_attach(self->e.image, self->loop_dev,
					sizeof(self->loop_dev));
	if (self->loop_fd < 0)
		SKIP(return, "no loop device: %s", strerror(-self->loop_fd));
	if (ioctl(self->loop_fd, LOOP_SET_BLOCK_SIZE, 4096))
		SKIP(return, "cannot set 4 KiB blocks: %s", strerror(errno));
	ASSERT_EQ(0, fue_start(&self->e, self->loop_dev, self->e.mnt,
			       variant->transport, "--writable", "--direct",
			       NULL));
	/* Aligned to 4 KiB, to 512 only, and to nothing. */
	ASSERT_EQ(8192, fue_pread(self->e.mnt, O_RDONLY, buf, 8192, 8192));
	EXPECT_EQ(-1, fue_check_pattern(buf, 8192, 8192));
	ASSERT_EQ(1536, fue_pread(self->e.mnt, O_RDONLY, buf, 1536, 512));
	EXPECT_EQ(-1, fue_check_pattern(buf, 1536, 512));
	ASSERT_EQ(1000, fue_pread(self->e.mnt, O_RDONLY, buf, 1000, 777));
	EXPECT_EQ(-1, fue_check_pattern(buf, 1000, 777));

	fue_fill_pattern(buf, sizeof(buf), 31 * MiB);
	ASSERT_EQ(512, fue_pwrite(self->e.mnt, O_WRONLY, buf, 512, 1024));
	ASSERT_EQ(999, fue_pwrite(self->e.mnt, O_WRONLY, buf + 512, 999,
				  20000));
	ASSERT_EQ(512, fue_file_pread(self->loop_dev, back, 512, 1024));
	EXPECT_EQ(0, memcmp(buf, back, 512));
	ASSERT_EQ(999, fue_file_pread(self->loop_dev, back, 999, 20000));
	EXPECT_EQ(0, memcmp(buf + 512, back, 999));
	/* Bytes around the small writes are untouched. */
	ASSERT_EQ(512, fue_file_pread(self->loop_dev, back, 512, 512));
	EXPECT_EQ(-1, fue_check_pattern(back, 512, 512));
	ASSERT_EQ(1, fue_file_pread(self->loop_dev, back, 1, 20999));
	EXPECT_EQ(-1, fue_check_pattern(back, 1, 20999));
}

TEST_F_TIMEOUT(sem, direct_odd_size_tail, TIMEOUT_S)
{
	char buf[8192], back[8];

	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_EQ(0, self->store_err);
	NEEDS_O_DIRECT();
	if (is_blockdev(variant))
		SKIP(return, "a block device " "has whole sectors only");
	SETUP_IMAGE(4097);
	START("--writable", "--direct");
	/* The last block of the image is partial: alignment must not leak. */
	ASSERT_EQ(4097, fue_read_all(self->e.mnt, buf, sizeof(buf)));
	EXPECT_EQ(-1, fue_check_pattern(buf, 4097, 0));
	ASSERT_EQ(7, fue_pread(self->e.mnt, O_RDONLY, buf, 100, 4090));
	EXPECT_EQ(-1, fue_check_pattern(buf, 7, 4090));
	memcpy(buf, "ABCD", 4);
	EXPECT_EQ(2, fue_pwrite(self->e.mnt, O_WRONLY, buf, 4, 4095));
	EXPECT_EQ(4097, fue_file_size(self->e.image));
	ASSERT_EQ(2, fue_file_pread(self->e.image, back, sizeof(back), 4095));
	EXPECT_EQ(0, memcmp(back, "AB", 2));
	ASSERT_EQ(1, fue_file_pread(self->e.image, back, 1, 4094));
	EXPECT_EQ(fue_pattern_byte(4094), (uint8_t)back[0]);
}

/*
 * Random unaligned writes and reads from several threads at once, each
 * thread in its own region so that a model of the image predicts every
 * byte; runs in a bounded child.
 */
#define MIX_THREADS	4
#define MIX_REGION	(2 * MiB)
#define MIX_OPS		150

struct mix {
	const char *path;
	char *model;		/* MIX_THREADS * MIX_REGION, shared */
	int bad_reads[MIX_THREADS];
	int err[MIX_THREADS];
};

struct mix_arg {
	struct mix *m;
	int idx;
};

static void *mix_thread(void *arg)
{
	struct mix_arg *a = arg;
	struct mix *m = a->m;
	off_t base = (off_t)a->idx * MIX_REGION;
	unsigned int seed = 0x1234567u * (a->idx + 1);
	char *buf = malloc(128 * KiB);
	int fd, i;

	fd = open(m->path, O_RDWR);
	if (fd < 0 || !buf) {
		m->err[a->idx] = fd < 0 ? errno : ENOMEM;
		free(buf);
		return NULL;
	}
	for (i = 0; i < MIX_OPS; i++) {
		size_t len = 1 + rand_r(&seed) % (128 * KiB);
		off_t off = rand_r(&seed) % (MIX_REGION - len);
		char *want = m->model + base + off;

		if (rand_r(&seed) & 1) {
			fue_fill_pattern(buf, len, rand_r(&seed));
			if (pwrite(fd, buf, len, base + off) != (ssize_t)len) {
				m->err[a->idx] = errno ? errno : EIO;
				break;
			}
			memcpy(want, buf, len);
		} else {
			if (pread(fd, buf, len, base + off) != (ssize_t)len) {
				m->err[a->idx] = errno ? errno : EIO;
				break;
			}
			if (memcmp(buf, want, len))
				m->bad_reads[a->idx]++;
		}
	}
	close(fd);
	free(buf);
	return NULL;
}

static int mix_main(void *arg)
{
	struct mix_arg args[MIX_THREADS];
	pthread_t tid[MIX_THREADS];
	int i;

	for (i = 0; i < MIX_THREADS; i++) {
		args[i].m = arg;
		args[i].idx = i;
		if (pthread_create(&tid[i], NULL, mix_thread, &args[i]))
			return 1;
	}
	for (i = 0; i < MIX_THREADS; i++)
		pthread_join(tid[i], NULL);
	return 0;
}

TEST_F_TIMEOUT(sem, concurrent_random_io, TIMEOUT_S)
{
	const off_t size = MIX_THREADS * MIX_REGION;
	struct mix *m = fue_shared_alloc(sizeof(*m));
	char *model = fue_shared_alloc(size);
	char *image = malloc(size);
	off_t first_bad;
	int i;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_EQ(0, self->store_err);
	ASSERT_NE(NULL, m);
	ASSERT_NE(NULL, model);
	ASSERT_NE(NULL, image);
	SETUP_IMAGE(size);
	fue_fill_pattern(model, size, 0);
	m->path = self->e.mnt;
	m->model = model;
	START("--writable");
	ASSERT_EQ(0, fue_in_child(mix_main, m, 3 * FUE_IO_TIMEOUT_MS));
	for (i = 0; i < MIX_THREADS; i++) {
		EXPECT_EQ(0, m->err[i]) TH_LOG("thread %d: %s", i,
					       strerror(m->err[i]));
		EXPECT_EQ(0, m->bad_reads[i]) TH_LOG("thread %d", i);
	}
	ASSERT_EQ(size, fue_file_pread(self->e.image, image, size, 0));
	for (first_bad = 0; first_bad < size; first_bad++)
		if (image[first_bad] != model[first_bad])
			break;
	EXPECT_EQ(size, first_bad) TH_LOG("image differs from the model");
	EXPECT_EQ(size, fue_file_size(self->e.image));
	fue_shared_free(m, sizeof(*m));
	fue_shared_free(model, size);
	free(image);
}

TEST_F_TIMEOUT(sem, backing_errors_reach_client, TIMEOUT_S)
{
	const off_t bad = 64 * KiB;
	struct fue_stats *s = malloc(sizeof(*s));
	uint64_t sum_before, sum_after;
	char buf[4096];

	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_EQ(0, self->store_err);
	ASSERT_NE(NULL, s);
	SETUP_IMAGE(256 * KiB);
	ASSERT_EQ(0, fue_file_checksum(self->e.image, bad, 4096, &sum_before));
	/* --fail-io makes the backing I/O itself fail in [64K, 68K). */
	START("--writable", "--stats", "--fail-io=rw:65536+4096");
	EXPECT_EQ(-EIO, fue_pread(self->e.mnt, O_RDONLY, buf, 4096, bad));
	EXPECT_EQ(-EIO, fue_pread(self->e.mnt, O_RDONLY, buf, 4096, bad - 96));
	EXPECT_EQ(-EIO, fue_pwrite(self->e.mnt, O_WRONLY, buf, 4096, bad));
	/* The export keeps serving everything else. */
	ASSERT_EQ(4096, fue_pread(self->e.mnt, O_RDONLY, buf, 4096, 0));
	EXPECT_EQ(-1, fue_check_pattern(buf, 4096, 0));
	ASSERT_EQ(4096, fue_pread(self->e.mnt, O_RDONLY, buf, 4096, bad + 4096));
	EXPECT_EQ(-1, fue_check_pattern(buf, 4096, bad + 4096));
	ASSERT_EQ(4096, fue_pwrite(self->e.mnt, O_WRONLY, buf, 4096, 0));
	ASSERT_EQ(0, fue_file_checksum(self->e.image, bad, 4096, &sum_after));
	EXPECT_EQ(sum_before, sum_after);
	ASSERT_EQ(0, fue_request_stats(&self->e, s));
	EXPECT_LE(3, s->errors);
	free(s);
}

TEST_F_TIMEOUT(sem, allow_other_auto_as_root, TIMEOUT_S)
{
	struct stat st;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_EQ(0, self->store_err);
	SETUP_IMAGE(4096);
	/* auto means on when permitted, and root is always permitted. */
	START("--writable", "--allow-other=auto");
	EXPECT_EQ(0, chmod(self->e.mnt, 0644));
	ASSERT_EQ(0, stat(self->e.mnt, &st));
	EXPECT_EQ(0644U, st.st_mode & 07777);
}

/*
 * Not TEST_HARNESS_MAIN: without root, /dev/fuse or the daemon nothing
 * here can run, and kselftest wants exit 4 with the reason for that.
 */
int main(int argc, char **argv)
{
	const char *why = fue_check_env();

	if (why)
		ksft_exit_skip("%s\n", why);
	return test_harness_run(argc, argv);
}
