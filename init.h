/* SPDX-License-Identifier: GPL-2.0 */
#ifndef FUE_INIT_H
#define FUE_INIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fuse_abi.h"

/* What the daemon wants from the connection. */
struct init_policy {
	bool want_uring;
	/* Largest READ/WRITE payload the daemon is prepared to serve. */
	uint32_t max_io;
	uint32_t page_size;
	/* /proc/sys/fs/fuse/max_pages_limit, or 0 when unknown. */
	uint32_t max_pages_limit;
	/* How many requests the kernel may keep in the background. */
	uint16_t max_background;
};

/* The outcome of one INIT exchange. */
struct init_result {
	struct fuse_init_out out;
	/* Bytes of @out to send back: older minors expect a shorter reply. */
	size_t out_len;
	uint32_t kernel_major;
	uint32_t kernel_minor;
	uint32_t minor;
	/* 64-bit flag words: flags2 folded into the upper half. */
	uint64_t offered;
	uint64_t granted;
	uint32_t max_write;
	uint32_t max_pages;
	bool uring;
	/* Why the ring was not granted, NULL when it was. */
	const char *no_uring_reason;
};

int init_negotiate(const void *in, size_t in_len,
		   const struct init_policy *policy, struct init_result *res);

uint32_t init_open_flags(const struct init_result *res);

uint32_t init_ring_payload_size(const struct init_result *res,
				uint32_t page_size);

#endif /* FUE_INIT_H */
