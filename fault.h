/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Test aids that act where image I/O completes: the real SQE runs and its
 * result is replaced (--fail-completion), or a sync's completion is held
 * until the test lets it go (--hold-sync).  Off, they cost the completion
 * path one predictable branch on a flag.
 */
#ifndef FUE_FAULT_H
#define FUE_FAULT_H

#include "export.h"

extern bool fault_completion_on;

int fault_parse_completion(const char *s, struct completion_aids *aids);
int fault_parse_hold_sync(const char *s, struct completion_aids *aids);
void fault_setup(const struct completion_aids *aids);
bool fault_completion(struct fuse_request *req, int *res);

/*
 * Called with each image I/O result before it is looked at.  True when a
 * test aid took the completion over: it calls blockdev_io_finish() later.
 */
static inline bool fault_at_completion(struct fuse_request *req, int *res)
{
	if (__builtin_expect(fault_completion_on, 0))
		return fault_completion(req, res);
	return false;
}

#endif /* FUE_FAULT_H */
