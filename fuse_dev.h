/* SPDX-License-Identifier: GPL-2.0 */
#ifndef FUE_FUSE_DEV_H
#define FUE_FUSE_DEV_H

#include "queue.h"

int fuse_dev_alloc(struct queue_thread *t, unsigned int nr_slots,
		     unsigned int active);
unsigned int fuse_dev_sqes(const struct queue_thread *t);
void fuse_dev_start(struct queue_thread *t);
void fuse_dev_free(struct queue_thread *t);
uint32_t fuse_dev_read_size(uint32_t max_write);

#endif /* FUE_FUSE_DEV_H */
