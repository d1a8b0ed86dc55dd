// SPDX-License-Identifier: GPL-2.0
/*
 * Backing stores for test images, each made fresh for one test.
 *
 * The test process first moves into a mount namespace of its own, so
 * that whatever happens to it, its mounts die with it and their loop
 * devices (all set to autoclear) go too; teardown still unmounts and
 * detaches everything itself, each step in a bounded child.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/loop.h>

#include "fue.h"
#include "fue_store.h"

#define fue_log(fmt, ...) \
	fprintf(stderr, "# fue: " fmt "\n", ##__VA_ARGS__)

#define MiB		(1024LL * 1024)
#define MKFS_TIMEOUT_MS	30000
#define MOUNT_TIMEOUT_MS 10000

struct store_info {
	const char *name;
	/* mkfs tool, or NULL for a memory file system. */
	const char *mkfs;
	/* What is mounted on dir: the file system, or the medium under it. */
	const char *fstype;
	off_t fs_size;
	/* Sector size of a block device store, 0 for a file one. */
	unsigned int sector;
};

/* Sizes are the tools' minimums or near; the images stay sparse. */
static const struct store_info stores[] = {
	[FUE_STORE_TMPFS] = { "tmpfs", NULL, "tmpfs", 0, 0 },
	[FUE_STORE_RAMFS] = { "ramfs", NULL, "ramfs", 0, 0 },
	[FUE_STORE_EXT4] = { "ext4", "mkfs.ext4", "ext4", 64 * MiB, 0 },
	[FUE_STORE_XFS] = { "xfs", "mkfs.xfs", "xfs", 320 * MiB, 0 },
	[FUE_STORE_BTRFS] = { "btrfs", "mkfs.btrfs", "btrfs", 256 * MiB, 0 },
	[FUE_STORE_BDEV512] = { "bdev512", NULL, "tmpfs", 0, 512 },
	[FUE_STORE_BDEV4096] = { "bdev4096", NULL, "ramfs", 0, 4096 },
};

const char *fue_store_name(enum fue_store_kind kind)
{
	return stores[kind].name;
}

bool fue_store_is_blockdev(enum fue_store_kind kind)
{
	return stores[kind].sector != 0;
}

/* Once per process: mounts made from here on are ours alone. */
static int private_mounts(void)
{
	static bool done;

	if (done)
		return 0;
	if (unshare(CLONE_NEWNS))
		return -errno;
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL))
		return -errno;
	done = true;
	return 0;
}

/*
 * A free loop device over file, with sector-byte blocks (0: the default)
 * and autoclear; its fd, or -errno.  dev gets its name.
 */
static int loop_configure(const char *file, unsigned int sector, char *dev,
			  size_t len)
{
	struct loop_config cfg;
	int ctl, lfd, n, tries, ret = -EBUSY;

	memset(&cfg, 0, sizeof(cfg));
	cfg.fd = open(file, O_RDWR | O_CLOEXEC);
	if ((int)cfg.fd < 0)
		return -errno;
	cfg.block_size = sector;
	cfg.info.lo_flags = LO_FLAGS_AUTOCLEAR;
	ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	if (ctl < 0) {
		ret = -errno;
		close(cfg.fd);
		return ret;
	}
	/* Someone else may take the free device first: ask again. */
	for (tries = 0; tries < 8; tries++) {
		n = ioctl(ctl, LOOP_CTL_GET_FREE);
		if (n < 0) {
			ret = -errno;
			break;
		}
		snprintf(dev, len, "/dev/loop%d", n);
		lfd = open(dev, O_RDWR | O_CLOEXEC);
		if (lfd < 0) {
			ret = -errno;
			break;
		}
		if (!ioctl(lfd, LOOP_CONFIGURE, &cfg)) {
			ret = lfd;
			break;
		}
		ret = -errno;
		close(lfd);
		if (ret != -EBUSY)
			break;
	}
	close(ctl);
	close(cfg.fd);
	return ret;
}

static void loop_detach(int *fd)
{
	if (*fd < 0)
		return;
	/* A device still in use is cleared when its last user lets go. */
	ioctl(*fd, LOOP_CLR_FD, 0);
	close(*fd);
	*fd = -1;
}

struct mount_req {
	const char *source;
	const char *target;
	const char *fstype;
	const char *data;
};

static int do_mount(void *arg)
{
	struct mount_req *m = arg;

	return mount(m->source, m->target, m->fstype, 0, m->data) ? errno : 0;
}

static int do_umount(void *arg)
{
	return umount2((const char *)arg, 0) ? errno : 0;
}

static int do_umount_lazy(void *arg)
{
	return umount2((const char *)arg, MNT_DETACH) ? errno : 0;
}

static int mount_bounded(const char *source, const char *target,
			 const char *fstype, const char *data)
{
	struct mount_req m = { source, target, fstype, data };
	int ret = fue_in_child(do_mount, &m, MOUNT_TIMEOUT_MS);

	return ret > 0 ? -ret : ret;
}

static int make_fs(struct fue_store *s, const struct store_info *info,
		   const char *parent)
{
	char log[PATH_MAX], tool[PATH_MAX];
	const char *argv[8];
	int fd, ret, n = 0;

	if (!fue_which(info->mkfs, tool, sizeof(tool)))
		return -ENOENT;
	snprintf(s->fs_image, sizeof(s->fs_image), "%s/%s.img", parent,
		 info->name);
	snprintf(log, sizeof(log), "%s/mkfs.log", parent);
	fd = open(s->fs_image, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	ret = ftruncate(fd, info->fs_size) ? -errno : 0;
	close(fd);
	if (ret)
		return ret;
	argv[n++] = tool;
	argv[n++] = "-q";
	/* mkfs.ext4 and xfs want -F / -f to write over a plain file. */
	argv[n++] = s->kind == FUE_STORE_EXT4 ? "-F" : "-f";
	argv[n++] = s->fs_image;
	argv[n] = NULL;
	ret = fue_exec(argv, log, MKFS_TIMEOUT_MS);
	if (ret) {
		char *text = fue_slurp(log);

		fue_log("%s failed (%d): %s", info->mkfs, ret,
			text ? text : "");
		free(text);
		return ret < 0 ? ret : -EIO;
	}
	ret = loop_configure(s->fs_image, 0, s->loop_dev,
			     sizeof(s->loop_dev));
	if (ret < 0)
		return ret;
	s->fs_loop_fd = ret;
	return mount_bounded(s->loop_dev, s->dir, info->fstype, NULL);
}

int fue_store_setup(struct fue_store *s, enum fue_store_kind kind,
		    const char *parent)
{
	const struct store_info *info = &stores[kind];
	int ret;

	memset(s, 0, sizeof(*s));
	s->kind = kind;
	s->name = info->name;
	s->fs_loop_fd = -1;
	s->loop_fd = -1;
	ret = private_mounts();
	if (ret)
		return ret;
	snprintf(s->dir, sizeof(s->dir), "%s/store", parent);
	if (mkdir(s->dir, 0700))
		return -errno;
	if (info->mkfs)
		ret = make_fs(s, info, parent);
	else
		ret = mount_bounded(info->fstype, s->dir, info->fstype,
				    "mode=0700");
	if (!ret)
		s->mounted = true;
	else
		fue_store_teardown(s);
	return ret;
}

int fue_store_make_image(struct fue_store *s, off_t size, off_t off,
			 off_t len, char *image, size_t image_len)
{
	const struct store_info *info = &stores[s->kind];
	char file[PATH_MAX];
	int ret;

	snprintf(file, sizeof(file), "%s/image", s->dir);
	ret = fue_make_sparse_image(file, size, off, len);
	if (ret || !info->sector) {
		snprintf(image, image_len, "%s", file);
		return ret;
	}
	if (s->loop_fd >= 0)
		return -EBUSY;
	ret = loop_configure(file, info->sector, s->loop_dev,
			     sizeof(s->loop_dev));
	if (ret < 0)
		return ret;
	s->loop_fd = ret;
	snprintf(image, image_len, "%s", s->loop_dev);
	return 0;
}

void fue_store_teardown(struct fue_store *s)
{
	int ret;

	if (!s->dir[0])
		return;
	loop_detach(&s->loop_fd);
	if (s->mounted && fue_mount_info(s->dir, NULL, NULL, 0) > 0) {
		ret = fue_in_child(do_umount, s->dir, MOUNT_TIMEOUT_MS);
		if (ret) {
			fue_log("umount %s: %s; detaching it", s->dir,
				strerror(ret < 0 ? -ret : ret));
			fue_in_child(do_umount_lazy, s->dir,
				     MOUNT_TIMEOUT_MS);
		}
	}
	s->mounted = false;
	loop_detach(&s->fs_loop_fd);
	if (s->fs_image[0])
		unlink(s->fs_image);
	rmdir(s->dir);
	s->dir[0] = '\0';
}
