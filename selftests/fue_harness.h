/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The harness side of the mount tests: the transport variants a fixture
 * runs over, the skip at the top of each body, starting the fixture's
 * export under an assertion, and the check that it ended cleanly.  A
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
 * FIXTURE_SETUP, so the setup only notes why in self->skip.
 */
#define READY() do {					\
	if (self->skip)					\
		SKIP(return, "%s", self->skip);		\
} while (0)

/*
 * The start of a FIXTURE_SETUP: note in self->skip why this machine
 * cannot run the tests (need_ring: without the ring) and return, or make
 * the export's directory in self->e.
 */
#define SETUP_EXPORT(need_ring) do {				\
	self->skip = fue_check_env();				\
	if (!self->skip && (need_ring))				\
		self->skip = fue_check_uring();			\
	if (self->skip)						\
		return;						\
	ASSERT_EQ(0, fue_init(&self->e));			\
} while (0)

/*
 * Start self->e writable over the variant's transport with the extra
 * options given, on a fresh pattern image of the test's IMAGE_SIZE.
 */
#define START_WRITABLE(...) do {					\
	const char *__opts[] = { variant->transport, "--writable",	\
				 ##__VA_ARGS__, NULL };			\
	ASSERT_EQ(0, fue_start_fresh(&self->e, IMAGE_SIZE, __opts));	\
} while (0)

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
