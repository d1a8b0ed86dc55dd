/* SPDX-License-Identifier: GPL-2.0 */
#ifndef FUE_DECODE_H
#define FUE_DECODE_H

#include "export.h"

/* decode_dev_request() found no header: there is no one to answer. */
#define DECODE_NO_HEADER 1

uint32_t decode_arg_size(uint32_t opcode);
const char *decode_opcode_name(uint32_t opcode);
int decode_dev_request(struct fuse_request *req, const void *buf,
		       uint32_t len);
int decode_ring_request(struct fuse_request *req,
			const struct fuse_uring_req_header *h, void *payload,
			uint32_t payload_cap);

#endif /* FUE_DECODE_H */
