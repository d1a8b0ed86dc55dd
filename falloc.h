/* SPDX-License-Identifier: GPL-2.0 */
#ifndef FUE_FALLOC_H
#define FUE_FALLOC_H

#include "export.h"

/*
 * Carry out FALLOCATE mode req->io_mode over [req->io_offset,
 * req->io_end), emulating what the store lacks; complete() gets 0 or
 * -errno.
 */
void falloc_submit(struct fuse_request *req,
		   void (*complete)(struct fuse_request *req, int res));

#endif /* FUE_FALLOC_H */
