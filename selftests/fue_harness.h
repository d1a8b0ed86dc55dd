/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The harness side of the mount tests: the transport variants a fixture
 * runs over, and the check that its export ended cleanly.  A
 * fixture using these has an export self->e and a skip reason self->skip.
 */
#ifndef FUE_HARNESS_H
#define FUE_HARNESS_H

#include <sys/wait.h>

#include "kselftest_harness.h"
#include "fue.h"

/* Each test of fixture runs over /dev/fuse (dev) and over the ring. */
#define FUE_TRANSPORT_VARIANTS(fixture)			\
	FIXTURE_VARIANT(fixture) {			\
		const char *transport;			\
		bool ring;				\
	};						\
	FIXTURE_VARIANT_ADD(fixture, dev) {		\
		.transport = "--io-uring=off",		\
		.ring = false,				\
	};						\
	FIXTURE_VARIANT_ADD(fixture, ring) {		\
		.transport = "--io-uring=on",		\
		.ring = true,				\
	}

/*
 * Bodies skip themselves: older harnesses run them even after a SKIP() in
 * FIXTURE_SETUP, so a setup only notes why in self->skip, and each body
 * begins with
 *
 *	if (self->skip)
 *		SKIP(return, "%s", self->skip);
 */

/* SIGTERM ends the daemon with status 0. */
static inline void expect_clean_exit(struct __test_metadata *_metadata,
				     struct fue_export *e)
{
	int status = fue_stop(e);

	EXPECT_TRUE(status >= 0 && WIFEXITED(status) &&
		    WEXITSTATUS(status) == 0)
		TH_LOG("daemon wait status %#x", status);
}

#endif /* FUE_HARNESS_H */
