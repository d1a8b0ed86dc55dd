// SPDX-License-Identifier: GPL-2.0
/*
 * FUSE_INIT negotiation, kept free of I/O so that it can be unit-tested
 * against any kernel offer.
 */
#include <errno.h>
#include <string.h>

#include "compiler.h"
#include "export.h"

/* The classic 16-byte fuse_init_in before flags2 existed. */
#define INIT_IN_COMPAT_SIZE 16
/* Pages per request a kernel allows when it does not negotiate MAX_PAGES. */
#define DEFAULT_MAX_PAGES 32

/*
 * Every flag granted when the kernel offers it.  The export is one file
 * accessed with direct I/O, so caching and directory features stay off.
 */
#define WANTED_FLAGS (FUSE_ASYNC_READ | FUSE_BIG_WRITES | FUSE_MAX_PAGES | \
		      FUSE_ASYNC_DIO | FUSE_PARALLEL_DIROPS)

static uint64_t fold_flags(const struct fuse_init_in *in, size_t in_len)
{
	uint64_t flags = in->flags;

	if ((flags & FUSE_INIT_EXT) &&
	    in_len >= offsetof(struct fuse_init_in, flags2) + sizeof(in->flags2))
		flags |= (uint64_t)in->flags2 << 32;
	return flags;
}

static uint32_t pick_max_pages(const struct init_policy *policy,
			       uint64_t granted)
{
	uint32_t pages;

	if (!(granted & FUSE_MAX_PAGES))
		return DEFAULT_MAX_PAGES;
	pages = policy->max_io / policy->page_size;
	if (policy->max_pages_limit && pages > policy->max_pages_limit)
		pages = policy->max_pages_limit;
	if (pages > UINT16_MAX)
		pages = UINT16_MAX;
	return pages ? pages : 1;
}

int init_negotiate(const void *in_buf, size_t in_len,
		   const struct init_policy *policy, struct init_result *res)
{
	struct fuse_init_in in = { 0 };
	uint32_t io_cap;

	memset(res, 0, sizeof(*res));
	if (in_len < INIT_IN_COMPAT_SIZE)
		return -EINVAL;
	memcpy(&in, in_buf, in_len < sizeof(in) ? in_len : sizeof(in));

	res->kernel_major = in.major;
	res->kernel_minor = in.minor;
	res->out.major = FUE_PROTO_MAJOR;
	res->out.minor = FUE_PROTO_MINOR;
	if (in.major != FUE_PROTO_MAJOR)
		return -EPROTO;
	if (in.minor < FUE_PROTO_MINOR_MIN)
		return -EPROTO;

	res->minor = in.minor < FUE_PROTO_MINOR ? in.minor : FUE_PROTO_MINOR;
	res->offered = fold_flags(&in, in_len);
	res->granted = res->offered & WANTED_FLAGS;

	if (!policy->want_uring)
		res->no_uring_reason = "disabled by --io-uring=off";
	else if (!(res->offered & FUSE_INIT_EXT))
		res->no_uring_reason = "the kernel does not send INIT flags2";
	else if (!(res->offered & FUSE_OVER_IO_URING))
		res->no_uring_reason = "the kernel did not offer FUSE_OVER_IO_URING";
	else
		res->granted |= FUSE_OVER_IO_URING;
	res->uring = !!(res->granted & FUSE_OVER_IO_URING);
	/* Offered, never granted: a server just uses the commands. */
	res->bufpool = res->uring &&
		       (res->offered & FUSE_HAS_IO_URING_BUFPOOL);

	/* flags2 is read by the kernel only when INIT_EXT is echoed back. */
	if (res->granted >> 32)
		res->granted |= FUSE_INIT_EXT;

	res->max_pages = pick_max_pages(policy, res->granted);
	io_cap = res->max_pages * policy->page_size;
	res->max_write = policy->max_io < io_cap ? policy->max_io : io_cap;

	res->out.minor = res->minor;
	res->out.max_readahead = in.max_readahead;
	res->out.flags = (uint32_t)res->granted;
	res->out.flags2 = (uint32_t)(res->granted >> 32);
	res->out.max_background = res->bufpool ?
				  policy->max_background_pooled :
				  policy->max_background;
	res->out.congestion_threshold = res->out.max_background / 4 * 3;
	res->out.max_write = res->max_write;
	res->out.time_gran = 1;
	res->out.max_pages = (uint16_t)res->max_pages;
	res->out_len = sizeof(res->out);
	return 0;
}

/*
 * The kernel refuses a REGISTER whose payload is smaller than the largest
 * request it may send: max(FUSE_MIN_READ_BUFFER, max_write, max_pages
 * pages).  Round up to whole pages so the buffer can be page-aligned.
 */
uint32_t init_ring_payload_size(const struct init_result *res,
				uint32_t page_size)
{
	uint32_t size = FUSE_MIN_READ_BUFFER;

	if (res->max_write > size)
		size = res->max_write;
	if (res->max_pages * page_size > size)
		size = res->max_pages * page_size;
	return round_up(size, page_size);
}

/*
 * What every OPEN answers: direct I/O, no page cache between the client
 * and the image; and parallel direct writes where the protocol has them
 * (7.38: an older kernel would read the bit as something else).
 */
uint32_t init_open_flags(const struct init_result *res)
{
	uint32_t flags = FOPEN_DIRECT_IO;

	if (res->minor >= 38)
		flags |= FOPEN_PARALLEL_DIRECT_WRITES;
	return flags;
}
