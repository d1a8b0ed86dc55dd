/* SPDX-License-Identifier: GPL-2.0 */
#ifndef FUE_BLOCKDEV_H
#define FUE_BLOCKDEV_H

#include "compiler.h"
#include "export.h"

int backing_open(struct backing *b, const struct export_options *opt);
void backing_close(struct backing *b);
void backing_fill_attr(struct backing *b, struct fuse_attr *attr);
void backing_touch(struct backing *b);
void backing_wrote(struct backing *b);
int backing_resize(struct backing *b, uint64_t size);
int backing_grow_to(struct backing *b, uint64_t end);
int backing_seek(struct backing *b, uint64_t offset, int whence,
		 uint64_t *result);
int backing_statfs(struct backing *b, struct fuse_kstatfs *st);
bool backing_sync_owed(struct backing *b);
int backing_sync(struct backing *b);
void backing_note_lack(struct backing *b, uint32_t what);
int backing_data_fd(struct backing *b, uint64_t offset, uint32_t len,
		    const void *buf);
void backing_request_init(struct fuse_request *req);
void backing_submit(struct fuse_request *req,
		    void (*complete)(struct fuse_request *req, int res));

static inline uint64_t backing_size(struct backing *b)
{
	return smp_load_acquire(&b->size);
}

#endif /* FUE_BLOCKDEV_H */
