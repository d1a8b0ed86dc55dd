/* SPDX-License-Identifier: GPL-2.0 */
#ifndef FUE_FUSE_DEV_H
#define FUE_FUSE_DEV_H

#include "queue.h"

int dev_reader_alloc(struct queue_thread *t, unsigned int nr_slots,
		     unsigned int active);
unsigned int dev_reader_sqes(const struct queue_thread *t);
void dev_reader_start(struct queue_thread *t);
void dev_reader_free(struct queue_thread *t);
uint32_t dev_read_size(uint32_t max_write);

#endif /* FUE_FUSE_DEV_H */
