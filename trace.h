/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Per-request observation: the --trace lines and the latency histograms
 * of --stats.  Off, each hook costs the request path one branch.
 */
#ifndef FUE_TRACE_H
#define FUE_TRACE_H

#include <stdio.h>

#include "export.h"

extern bool trace_requests_on;

int trace_open(const char *path);
void trace_close(void);
void trace_observe_begin(struct fuse_request *req);
void trace_observe_end(struct fuse_request *req, int error, uint32_t len);
void trace_observe_image_begin(struct fuse_request *req);
void trace_observe_image_end(struct fuse_request *req);

static inline void request_begin(struct fuse_request *req)
{
	if (__builtin_expect(trace_requests_on, 0))
		trace_observe_begin(req);
}

static inline void request_end(struct fuse_request *req, int error,
			       uint32_t len)
{
	if (__builtin_expect(trace_requests_on, 0))
		trace_observe_end(req, error, len);
}

/*
 * Around a request's backing I/O, so that its latency splits into the
 * image's part and the rest: the kernel's queue, the daemon, the reply.
 */
static inline void request_image_begin(struct fuse_request *req)
{
	if (__builtin_expect(trace_requests_on, 0))
		trace_observe_image_begin(req);
}

static inline void request_image_end(struct fuse_request *req)
{
	if (__builtin_expect(trace_requests_on, 0))
		trace_observe_image_end(req);
}

#endif /* FUE_TRACE_H */
