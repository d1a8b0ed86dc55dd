/* SPDX-License-Identifier: GPL-2.0 */
#ifndef FUE_OPS_H
#define FUE_OPS_H

#include "export.h"

bool ops_is_io(uint32_t opcode);
void ops_dispatch(struct fuse_request *req);

#endif /* FUE_OPS_H */
