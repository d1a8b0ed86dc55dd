/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The FUSE ABI bits this daemon needs beyond what older <linux/fuse.h>
 * (Debian 12 stops at 7.38) provides.  Every definition is guarded so
 * that a newer system header wins.
 */
#ifndef FUE_FUSE_ABI_H
#define FUE_FUSE_ABI_H

#include <stdint.h>
#include <linux/fuse.h>

/* The protocol minor this daemon speaks: 7.42 brought FUSE-over-io_uring. */
#define FUE_PROTO_MAJOR 7
#define FUE_PROTO_MINOR 42
/* Older minors change structure sizes we do not want to carry. */
#define FUE_PROTO_MINOR_MIN 27

#ifndef FUSE_MIN_READ_BUFFER
#define FUSE_MIN_READ_BUFFER 8192
#endif

#ifndef FUSE_DIRECT_IO_ALLOW_MMAP
#define FUSE_DIRECT_IO_ALLOW_MMAP (1ULL << 36)
#endif

#ifndef FUSE_OVER_IO_URING
#define FUSE_OVER_IO_URING (1ULL << 41)
#endif

#ifndef FUSE_URING_IN_OUT_HEADER_SZ
#define FUSE_URING_IN_OUT_HEADER_SZ 128
#define FUSE_URING_OP_IN_OUT_SZ 128

struct fuse_uring_ent_in_out {
	uint64_t flags;
	/* Echoed back in fuse_uring_cmd_req.commit_id on commit. */
	uint64_t commit_id;
	/* Bytes of variable data in the payload buffer, both directions. */
	uint32_t payload_sz;
	uint32_t padding;
	uint64_t reserved;
};

/* The header buffer of one ring entry (iov[0] of REGISTER). */
struct fuse_uring_req_header {
	char in_out[FUSE_URING_IN_OUT_HEADER_SZ];
	char op_in[FUSE_URING_OP_IN_OUT_SZ];
	struct fuse_uring_ent_in_out ring_ent_in_out;
};

enum fuse_uring_cmd {
	FUSE_IO_URING_CMD_INVALID = 0,
	FUSE_IO_URING_CMD_REGISTER = 1,
	FUSE_IO_URING_CMD_COMMIT_AND_FETCH = 2,
};

/* Lives in the 80-byte command area of a 128-byte SQE. */
struct fuse_uring_cmd_req {
	uint64_t flags;
	uint64_t commit_id;
	uint16_t qid;
	uint8_t padding[6];
};
#endif /* FUSE_URING_IN_OUT_HEADER_SZ */

_Static_assert(sizeof(struct fuse_uring_req_header) == 288,
	       "ring entry header must be 288 bytes");
_Static_assert(sizeof(struct fuse_uring_cmd_req) == 24,
	       "ring command must be 24 bytes");

#endif /* FUE_FUSE_ABI_H */
