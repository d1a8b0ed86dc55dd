// SPDX-License-Identifier: GPL-2.0
/*
 * Turning the bytes a transport received into a struct fuse_request,
 * trusting no length in them: every pointer handed on stays inside the
 * buffer it came from.  Kept apart from the transports so that the fuzzer
 * drives exactly this code.
 */
#include <errno.h>

#include "compiler.h"
#include "export.h"

/*
 * Size of each opcode's fixed argument struct: what a ring entry carries
 * in op_in and what precedes variable data on /dev/fuse.
 */
uint32_t decode_arg_size(uint32_t opcode)
{
	switch (opcode) {
	case FUSE_GETATTR:
		return sizeof(struct fuse_getattr_in);
	case FUSE_SETATTR:
		return sizeof(struct fuse_setattr_in);
	case FUSE_OPEN:
		return sizeof(struct fuse_open_in);
	case FUSE_READ:
		return sizeof(struct fuse_read_in);
	case FUSE_WRITE:
		return sizeof(struct fuse_write_in);
	case FUSE_RELEASE:
		return sizeof(struct fuse_release_in);
	case FUSE_FSYNC:
		return sizeof(struct fuse_fsync_in);
	case FUSE_FLUSH:
		return sizeof(struct fuse_flush_in);
	case FUSE_FALLOCATE:
		return sizeof(struct fuse_fallocate_in);
	case FUSE_LSEEK:
		return sizeof(struct fuse_lseek_in);
	case FUSE_FORGET:
		return sizeof(struct fuse_forget_in);
	case FUSE_BATCH_FORGET:
		return sizeof(struct fuse_batch_forget_in);
	case FUSE_INTERRUPT:
		return sizeof(struct fuse_interrupt_in);
	case FUSE_INIT:
		return 16;
	default:
		return 0;
	}
}

static const char *const opcode_names[] = {
	[FUSE_LOOKUP] = "LOOKUP",	[FUSE_FORGET] = "FORGET",
	[FUSE_GETATTR] = "GETATTR",	[FUSE_SETATTR] = "SETATTR",
	[FUSE_READLINK] = "READLINK",	[FUSE_SYMLINK] = "SYMLINK",
	[FUSE_MKNOD] = "MKNOD",		[FUSE_MKDIR] = "MKDIR",
	[FUSE_UNLINK] = "UNLINK",	[FUSE_RMDIR] = "RMDIR",
	[FUSE_RENAME] = "RENAME",	[FUSE_LINK] = "LINK",
	[FUSE_OPEN] = "OPEN",		[FUSE_READ] = "READ",
	[FUSE_WRITE] = "WRITE",		[FUSE_STATFS] = "STATFS",
	[FUSE_RELEASE] = "RELEASE",	[FUSE_FSYNC] = "FSYNC",
	[FUSE_SETXATTR] = "SETXATTR",	[FUSE_GETXATTR] = "GETXATTR",
	[FUSE_LISTXATTR] = "LISTXATTR",	[FUSE_REMOVEXATTR] = "REMOVEXATTR",
	[FUSE_FLUSH] = "FLUSH",		[FUSE_INIT] = "INIT",
	[FUSE_OPENDIR] = "OPENDIR",	[FUSE_READDIR] = "READDIR",
	[FUSE_RELEASEDIR] = "RELEASEDIR", [FUSE_FSYNCDIR] = "FSYNCDIR",
	[FUSE_GETLK] = "GETLK",		[FUSE_SETLK] = "SETLK",
	[FUSE_SETLKW] = "SETLKW",	[FUSE_ACCESS] = "ACCESS",
	[FUSE_CREATE] = "CREATE",	[FUSE_INTERRUPT] = "INTERRUPT",
	[FUSE_BMAP] = "BMAP",		[FUSE_DESTROY] = "DESTROY",
	[FUSE_IOCTL] = "IOCTL",		[FUSE_POLL] = "POLL",
	[FUSE_NOTIFY_REPLY] = "NOTIFY_REPLY",
	[FUSE_BATCH_FORGET] = "BATCH_FORGET",
	[FUSE_FALLOCATE] = "FALLOCATE",	[FUSE_READDIRPLUS] = "READDIRPLUS",
	[FUSE_RENAME2] = "RENAME2",	[FUSE_LSEEK] = "LSEEK",
	[FUSE_COPY_FILE_RANGE] = "COPY_FILE_RANGE",
	[FUSE_SETUPMAPPING] = "SETUPMAPPING",
	[FUSE_REMOVEMAPPING] = "REMOVEMAPPING",
	[FUSE_SYNCFS] = "SYNCFS",	[FUSE_TMPFILE] = "TMPFILE",
	[52] = "STATX",
};

/* The opcode's name in the protocol, for --trace and --stats. */
const char *decode_opcode_name(uint32_t opcode)
{
	if (opcode < ARRAY_SIZE(opcode_names) &&
	    opcode_names[opcode])
		return opcode_names[opcode];
	return "UNKNOWN";
}

/*
 * A READ is the one request whose reply leaves the zeroes of the last
 * null: READ in the reply buffer, as long as none of the request itself
 * @landed there (a ring entry's payload is both).  Any other reply may
 * put bytes in it.
 */
static void forget_reply_zeroes(struct fuse_request *req,
				const struct fuse_in_header *in,
				uint32_t landed)
{
	if (in->opcode != FUSE_READ || landed)
		req->reply_zeroes = 0;
}

/*
 * /dev/fuse: the header, the opcode's fixed argument, then variable data,
 * @len bytes in all.  Returns 0, -EINVAL for a request to refuse, or
 * DECODE_NO_HEADER when @len cannot even hold a header.
 */
int decode_dev_request(struct fuse_request *req, const void *buf,
		       uint32_t len)
{
	const struct fuse_in_header *in = buf;
	const char *body = (const char *)(in + 1);
	uint32_t arg_len;

	if (len < sizeof(*in))
		return DECODE_NO_HEADER;
	req->in = in;
	/* The request was read into a buffer of its own. */
	forget_reply_zeroes(req, in, 0);
	req->arg = body;
	req->arg_len = 0;
	req->data = body;
	req->data_len = 0;
	arg_len = decode_arg_size(in->opcode);
	if (in->len != len || len - sizeof(*in) < arg_len)
		return -EINVAL;
	req->arg_len = arg_len;
	req->data = body + arg_len;
	req->data_len = len - (uint32_t)sizeof(*in) - arg_len;
	return 0;
}

/*
 * A ring entry: the header in in_out, the fixed argument in op_in, and
 * ring_ent_in_out.payload_sz bytes of variable data in the payload.  The
 * reply goes to the payload, @payload_cap bytes.
 */
int decode_ring_request(struct fuse_request *req,
			const struct fuse_uring_req_header *h, void *payload,
			uint32_t payload_cap)
{
	const struct fuse_in_header *in = (const void *)h->in_out;
	uint32_t payload_sz = h->ring_ent_in_out.payload_sz;
	uint32_t arg_len = decode_arg_size(in->opcode);
	uint64_t header_and_data = sizeof(*in) + (uint64_t)payload_sz;

	forget_reply_zeroes(req, in, payload_sz);
	req->in = in;
	req->arg = h->op_in;
	req->arg_len = arg_len;
	req->data = payload;
	req->data_len = 0;
	req->reply = payload;
	req->reply_cap = payload_cap;
	if (payload_sz > payload_cap || arg_len > FUSE_URING_OP_IN_OUT_SZ)
		return -EINVAL;
	/*
	 * in.len counts the header, the argument the kernel put in op_in
	 * and the payload: an argument shorter than the opcode's struct
	 * would leave the previous request's bytes in op_in to be read.
	 */
	if (in->len < header_and_data || in->len - header_and_data < arg_len)
		return -EINVAL;
	req->data_len = payload_sz;
	return 0;
}
