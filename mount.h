/* SPDX-License-Identifier: GPL-2.0 */
#ifndef FUE_MOUNT_H
#define FUE_MOUNT_H

#include <stdbool.h>
#include <stdint.h>

struct export_mount {
	/*
	 * MOUNTPOINT made absolute without following its last component:
	 * for messages and fusermount3; root mounts through @target_fd.
	 */
	char path[4096 + 256];
	/* MOUNTPOINT as checked: O_PATH, not a symlink, a regular file. */
	int target_fd;
	/* The mount @target_fd lives on: the parent of ours in mountinfo. */
	unsigned int parent_id;
	/* fusectl connection number: the minor of the mount's st_dev. */
	unsigned int conn;
	bool has_conn;
	/* fusectl's abort file, held open from the mount on. */
	int abort_fd;
	bool mounted;
	bool allow_other;
	/* Mounted by fusermount3, so unmounted by it too. */
	bool via_fusermount;
};

int mount_prepare(struct export_mount *m, const char *mountpoint);
int mount_export(struct export_mount *m, const char *source, bool read_only,
		 bool allow_other, uint32_t max_read);
bool mount_present(const struct export_mount *m);
void mount_remove(struct export_mount *m);
int mount_abort(const struct export_mount *m);
void mount_release(struct export_mount *m);
/* Undoes mountinfo's \ooo escapes in place. */
void mount_unescape(char *s);

#endif /* FUE_MOUNT_H */
