/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Test aids on image I/O: --fail-io fails it before it is submitted;
 * --fail-completion lets the real SQE run and replaces its result;
 * --hold-sync holds a sync's completion until the test lets it go.  Off,
 * each costs its path one predictable branch on a flag.
 */
#ifndef FUE_FAULT_H
#define FUE_FAULT_H

#include "export.h"

extern bool fault_completion_on;
extern bool fault_submission_on;

int fault_parse_completion(const char *s, struct completion_aids *aids);
int fault_parse_hold_sync(const char *s, struct completion_aids *aids);
void fault_setup(const struct export_options *opt);
bool fault_completion(struct fuse_request *req, int *res);
int fault_submission(const struct fuse_request *req);
int fault_sync_at_exit(void);

/*
 * Called before image I/O is submitted: 0, or the errno (negative) that
 * --fail-io says it fails with, without being submitted.
 */
static inline int fault_at_submission(const struct fuse_request *req)
{
	if (__builtin_expect(fault_submission_on, 0))
		return fault_submission(req);
	return 0;
}

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
