/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The FUSE ABI bits this daemon needs beyond what older <linux/fuse.h>
 * (Debian 12 stops at 7.38) provides.  Every definition is guarded on a
 * macro the header that brought it defines, so that any uapi header from
 * 7.38 to 7.46 wins where it has one; the asserts below hold with each.
 */
#ifndef FUE_FUSE_ABI_H
#define FUE_FUSE_ABI_H

#include <stdint.h>
#include <linux/fuse.h>

/* Before the fallbacks below define it: did <linux/fuse.h> bring 7.46? */
#ifdef FUSE_HAS_IO_URING_BUFPOOL
#define FUE_UAPI_HAS_BUFPOOL 1
#endif

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

/*
 * 7.46 (Linux 7.3): ADD_QUEUE and ADD_BUFPOOL, and fuse_uring_cmd_req grew
 * a union (bufpool, or the zero-copy slot) to 40 bytes.  Its header has
 * the commands as enum constants, so key on the flag that came with them.
 * The daemon does not use them yet; the structures are below.
 */
#ifndef FUSE_HAS_IO_URING_BUFPOOL
#define FUSE_HAS_IO_URING_BUFPOOL (1ULL << 43)
#define FUSE_IO_URING_CMD_ADD_QUEUE 3
#define FUSE_IO_URING_CMD_ADD_BUFPOOL 4
#endif

#ifndef FUSE_URING_ZERO_COPY
#define FUSE_URING_ZERO_COPY (1 << 0)
#endif
#ifndef FUSE_URING_ENT_ZERO_COPY
#define FUSE_URING_ENT_ZERO_COPY (1 << 0)
#endif
#ifndef FOPEN_IO_URING_ZERO_COPY
#define FOPEN_IO_URING_ZERO_COPY (1 << 8)
#endif

/*
 * The 7.46 view of the two ring structures, under names of our own: with
 * a 7.42 to 7.45 header the uapi names are the old layout and cannot be
 * redefined, and one spelling must build against every header.  The old
 * fields keep their place; padding became offset, and a union followed
 * the command's head.
 */
struct fue_uring_ent_in_out {
	uint64_t flags;
	uint64_t commit_id;
	uint32_t payload_sz;
	/* Where in the queue's pool this request's buffer starts. */
	uint32_t offset;
	uint64_t reserved;
};

struct fue_uring_cmd_req {
	uint64_t flags;
	uint64_t commit_id;
	uint16_t qid;
	uint8_t padding[6];
	union {
		/* ADD_BUFPOOL: the region the kernel cuts into payloads. */
		struct {
			uint64_t uaddr;
			uint32_t len;
			uint32_t reserved;
		} bufpool;
		/*
		 * REGISTER on a zero-copy queue: the io_uring registered
		 * buffer slot the kernel fills with a request's pages.
		 */
		uint16_t ent_zero_copy_buf_index;
	};
};

/* What an SQE128 leaves for the command after its 48-byte head. */
#define FUE_SQE128_CMD_BYTES 80

_Static_assert(sizeof(struct fuse_uring_req_header) == 288,
	       "ring entry header must be 288 bytes");
_Static_assert(__builtin_offsetof(struct fuse_uring_req_header,
				  ring_ent_in_out) == 256,
	       "ring_ent_in_out must follow the two 128-byte headers");
_Static_assert(__builtin_offsetof(struct fuse_uring_ent_in_out,
				  payload_sz) == 16,
	       "payload_sz must be at byte 16 of ring_ent_in_out");
/* 24 bytes up to 7.45, 40 from 7.46: the fields used keep their place. */
_Static_assert(sizeof(struct fuse_uring_cmd_req) >= 24 &&
	       sizeof(struct fuse_uring_cmd_req) <= FUE_SQE128_CMD_BYTES,
	       "ring command must fit the SQE128 command area");
_Static_assert(__builtin_offsetof(struct fuse_uring_cmd_req, commit_id) == 8 &&
	       __builtin_offsetof(struct fuse_uring_cmd_req, qid) == 16,
	       "ring command fields must be where the kernel reads them");

_Static_assert(sizeof(struct fue_uring_ent_in_out) ==
	       sizeof(struct fuse_uring_ent_in_out) &&
	       __builtin_offsetof(struct fue_uring_ent_in_out, offset) == 20,
	       "the 7.46 ring_ent_in_out must overlay the header's");
_Static_assert(sizeof(struct fue_uring_cmd_req) == 40 &&
	       __builtin_offsetof(struct fue_uring_cmd_req, bufpool.uaddr) == 24 &&
	       __builtin_offsetof(struct fue_uring_cmd_req, bufpool.len) == 32 &&
	       __builtin_offsetof(struct fue_uring_cmd_req, bufpool.reserved) == 36 &&
	       __builtin_offsetof(struct fue_uring_cmd_req,
				  ent_zero_copy_buf_index) == 24,
	       "the 7.46 ring command must be 40 bytes, its union at 24");
_Static_assert(__builtin_offsetof(struct fue_uring_cmd_req, commit_id) ==
	       __builtin_offsetof(struct fuse_uring_cmd_req, commit_id) &&
	       __builtin_offsetof(struct fue_uring_cmd_req, qid) ==
	       __builtin_offsetof(struct fuse_uring_cmd_req, qid),
	       "the 7.46 ring command must keep the older fields' places");
#ifdef FUE_UAPI_HAS_BUFPOOL
/* A 7.46 header: its own layout must be the one spelled out above. */
_Static_assert(sizeof(struct fuse_uring_cmd_req) ==
	       sizeof(struct fue_uring_cmd_req) &&
	       __builtin_offsetof(struct fuse_uring_cmd_req, bufpool.uaddr) ==
	       __builtin_offsetof(struct fue_uring_cmd_req, bufpool.uaddr) &&
	       __builtin_offsetof(struct fuse_uring_cmd_req, bufpool.len) ==
	       __builtin_offsetof(struct fue_uring_cmd_req, bufpool.len) &&
	       __builtin_offsetof(struct fuse_uring_cmd_req,
				  ent_zero_copy_buf_index) ==
	       __builtin_offsetof(struct fue_uring_cmd_req,
				  ent_zero_copy_buf_index),
	       "the 7.46 header's ring command differs from ours");
_Static_assert(__builtin_offsetof(struct fuse_uring_ent_in_out, offset) ==
	       __builtin_offsetof(struct fue_uring_ent_in_out, offset),
	       "the 7.46 header's pool offset differs from ours");
#endif

#endif /* FUE_FUSE_ABI_H */
