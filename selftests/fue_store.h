/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Backing stores for test images: a tmpfs, a ramfs, an ext4, xfs or
 * btrfs file system on a loop device, or a loop block device with 512 or
 * 4096-byte sectors.  Each is made fresh for one test under its private
 * directory, whatever TMPDIR is, and torn down by fue_store_teardown():
 * unmounted and its loop devices detached, every step bounded.
 */
#ifndef FUE_STORE_H
#define FUE_STORE_H

#include <limits.h>
#include <stdbool.h>
#include <sys/types.h>

enum fue_store_kind {
	FUE_STORE_TMPFS,
	/* No fallocate and no O_DIRECT at all. */
	FUE_STORE_RAMFS,
	FUE_STORE_EXT4,
	FUE_STORE_XFS,
	FUE_STORE_BTRFS,
	/* A loop device over a file on tmpfs: it can discard. */
	FUE_STORE_BDEV512,
	/* 4 KiB sectors, over a file on ramfs: it cannot discard. */
	FUE_STORE_BDEV4096,
};

struct fue_store {
	enum fue_store_kind kind;
	const char *name;
	/* The mounted file system images (or bdev backing files) go to. */
	char dir[PATH_MAX - 64];
	bool mounted;
	/* The file system's own image and loop device (ext4, xfs, btrfs). */
	char fs_image[PATH_MAX];
	int fs_loop_fd;
	/* A block device store: the image's loop device. */
	int loop_fd;
	char loop_dev[64];
};

const char *fue_store_name(enum fue_store_kind kind);
bool fue_store_is_blockdev(enum fue_store_kind kind);

/*
 * Make the store under parent (a directory of the test's own): mount it
 * on parent/store.  Returns 0, or -errno with nothing left behind; a
 * missing mkfs tool is -ENOENT.
 */
int fue_store_setup(struct fue_store *s, enum fue_store_kind kind,
		    const char *parent);

/*
 * Make an image of size bytes, pattern in [off, off + len) and a hole
 * elsewhere, in the store; its path (a loop device on a block device
 * store) goes to image.  One image per store.  0 or -errno.
 */
int fue_store_make_image(struct fue_store *s, off_t size, off_t off,
			 off_t len, char *image, size_t image_len);

/* Unmount, detach and remove everything the store made; idempotent. */
void fue_store_teardown(struct fue_store *s);

#endif /* FUE_STORE_H */
