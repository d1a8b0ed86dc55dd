/* SPDX-License-Identifier: GPL-2.0 */
#ifndef FUE_BLOCKDEV_H
#define FUE_BLOCKDEV_H

#include "compiler.h"
#include "export.h"

int blockdev_open(struct backing *b, const struct export_options *opt);
void blockdev_close(struct backing *b);
void blockdev_fill_attr(struct backing *b, struct fuse_attr *attr);
void blockdev_touch(struct backing *b);
void blockdev_wrote(struct backing *b);
int blockdev_resize(struct backing *b, uint64_t size);
int blockdev_grow_to(struct backing *b, uint64_t end);
int blockdev_seek(struct backing *b, uint64_t offset, int whence,
		 uint64_t *result);
int blockdev_statfs(struct backing *b, struct fuse_kstatfs *st);
bool blockdev_sync_owed(struct backing *b);
int blockdev_sync(struct backing *b);
void blockdev_note_lack(struct backing *b, uint32_t what);
int blockdev_data_fd(struct backing *b, uint64_t offset, uint32_t len,
		    const void *buf);
void blockdev_request_init(struct fuse_request *req);
void blockdev_io_finish(struct fuse_request *req, int res);
void blockdev_submit(struct fuse_request *req,
		    void (*complete)(struct fuse_request *req, int res));

static inline uint64_t blockdev_size(struct backing *b)
{
	return smp_load_acquire(&b->size);
}

#endif /* FUE_BLOCKDEV_H */
