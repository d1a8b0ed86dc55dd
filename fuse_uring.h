/* SPDX-License-Identifier: GPL-2.0 */
#ifndef FUE_FUSE_URING_H
#define FUE_FUSE_URING_H

#include "queue.h"

int fuse_uring_alloc(struct queue_thread *t);
void fuse_uring_register(struct queue_thread *t);
void fuse_uring_free(struct queue_thread *t);

#endif /* FUE_FUSE_URING_H */
