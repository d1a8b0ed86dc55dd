// SPDX-License-Identifier: GPL-2.0
/*
 * The mount table and fusectl.  Mounts are found in /proc/self/mountinfo,
 * never by stat()ing them, which could hang on a dead FUSE server; a stuck
 * connection is aborted through fusectl before it is unmounted.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "fue.h"
#include "export.h"

#define FUSECTL_DIR	"/sys/fs/fuse/connections"

/*
 * Walk /proc/self/mountinfo; for each mount call fn(mountpoint, major,
 * minor, fstype, arg).  Reading mountinfo never touches the filesystems,
 * so it cannot hang on a dead FUSE server the way stat() can.
 */
static int for_each_mount(void (*fn)(const char *mp, unsigned int maj,
				     unsigned int min, const char *fstype,
				     void *arg), void *arg)
{
	char *line = NULL;
	size_t cap = 0;
	FILE *f;

	f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return -errno;
	while (getline(&line, &cap, f) > 0) {
		char mp[PATH_MAX], fstype[64], *sep;
		unsigned int maj, min;

		if (sscanf(line, "%*u %*u %u:%u %*s %4095s", &maj, &min,
			   mp) != 3)
			continue;
		sep = strstr(line, " - ");
		if (!sep || sscanf(sep + 3, "%63s", fstype) != 1)
			continue;
		mount_unescape(mp);
		fn(mp, maj, min, fstype, arg);
	}
	free(line);
	fclose(f);
	return 0;
}

struct mount_query {
	const char *path;
	int count;
	unsigned int conn;
	char fstype[64];
};

static void match_mount(const char *mp, unsigned int maj, unsigned int min,
			const char *fstype, void *arg)
{
	struct mount_query *q = arg;

	if (strcmp(mp, q->path))
		return;
	/* Later lines are mounted later: the last match is the top one. */
	q->count++;
	q->conn = maj == 0 ? min : (maj << 20 | min);
	snprintf(q->fstype, sizeof(q->fstype), "%s", fstype);
}

int fue_mount_info(const char *path, unsigned int *conn, char *fstype,
		   size_t fstype_len)
{
	struct mount_query q = { .path = path };
	int ret;

	ret = for_each_mount(match_mount, &q);
	if (ret)
		return ret;
	if (q.count && conn)
		*conn = q.conn;
	if (q.count && fstype)
		snprintf(fstype, fstype_len, "%s", q.fstype);
	return q.count;
}

static void find_fusectl(const char *mp, unsigned int maj, unsigned int min,
			 const char *fstype, void *arg)
{
	(void)maj;
	(void)min;
	if (!strcmp(mp, FUSECTL_DIR) && !strcmp(fstype, "fusectl"))
		*(bool *)arg = true;
}

int fue_fusectl_borrow(bool *lent)
{
	bool mounted = false;

	*lent = false;
	for_each_mount(find_fusectl, &mounted);
	if (mounted)
		return 0;
	if (mount("fusectl", FUSECTL_DIR, "fusectl", 0, NULL))
		return -errno;
	*lent = true;
	return 0;
}

void fue_fusectl_give_back(bool lent)
{
	if (lent)
		umount2(FUSECTL_DIR, MNT_DETACH);
}

int fue_abort_conn(unsigned int conn)
{
	char path[128];
	bool lent;
	int ret;

	ret = fue_fusectl_borrow(&lent);
	if (ret)
		return ret;
	snprintf(path, sizeof(path), FUSECTL_DIR "/%u/abort", conn);
	ret = fue_write_word(path, "1");
	fue_fusectl_give_back(lent);
	return ret;
}

static int do_umount(void *arg)
{
	return umount2((const char *)arg, MNT_DETACH) ? errno : 0;
}

int fue_unmount_all(const char *path, bool abort_first)
{
	char fstype[64];
	unsigned int conn;
	int n, tries, ret;
	bool fuse;

	for (tries = 0; tries < 16; tries++) {
		n = fue_mount_info(path, &conn, fstype, sizeof(fstype));
		if (n <= 0)
			return n;
		fuse = !strncmp(fstype, "fuse", 4);
		if (abort_first && fuse)
			fue_abort_conn(conn);
		ret = fue_in_child(do_umount, (void *)path, 5000);
		if (ret == -ETIMEDOUT && fuse) {
			/* Whatever blocked, an aborted connection frees it. */
			fue_abort_conn(conn);
			ret = do_umount((void *)path);
		}
		if (ret) {
			fue_log("umount2(%s): %s", path, strerror(ret < 0 ?
								 -ret : ret));
			return n;
		}
	}
	return fue_mount_info(path, NULL, NULL, 0);
}

struct under_query {
	const char *dir;
	size_t len;
	char found[PATH_MAX];
};

static void match_under(const char *mp, unsigned int maj, unsigned int min,
			const char *fstype, void *arg)
{
	struct under_query *q = arg;

	(void)maj;
	(void)min;
	(void)fstype;
	if (!strncmp(mp, q->dir, q->len) && (mp[q->len] == '/' ||
					      !mp[q->len]))
		snprintf(q->found, sizeof(q->found), "%s", mp);
}

bool fue_mount_under(const char *dir, char *found, size_t len)
{
	struct under_query q = { .dir = dir, .len = strlen(dir) };

	q.found[0] = '\0';
	for_each_mount(match_under, &q);
	snprintf(found, len, "%s", q.found);
	return q.found[0];
}

/* Once per process: the waits that ask poll. */
static void say_no_fusectl(const char *what, unsigned int conn, int err)
{
	static bool said;

	if (said)
		return;
	said = true;
	fue_log("cannot mount fusectl on " FUSECTL_DIR " (%s): cannot %s of connection %u",
		strerror(-err), what, conn);
}

int fue_conn_waiting(unsigned int conn)
{
	char path[128], *text;
	bool lent;
	int n;

	n = fue_fusectl_borrow(&lent);
	if (n) {
		say_no_fusectl("count the requests", conn, n);
		return -ENODEV;
	}
	snprintf(path, sizeof(path), FUSECTL_DIR "/%u/waiting", conn);
	text = fue_slurp(path);
	fue_fusectl_give_back(lent);
	if (!text)
		return -ENOENT;
	n = atoi(text);
	free(text);
	return n;
}

bool fue_conn_exists(unsigned int conn)
{
	char path[128];
	bool lent, there;
	int err;

	/* Say it is there: a wait for its end must not pass for nothing. */
	err = fue_fusectl_borrow(&lent);
	if (err) {
		say_no_fusectl("tell the end", conn, err);
		return true;
	}
	snprintf(path, sizeof(path), FUSECTL_DIR "/%u", conn);
	there = access(path, F_OK) == 0;
	fue_fusectl_give_back(lent);
	return there;
}
