// SPDX-License-Identifier: GPL-2.0
/*
 * Fall-back tests: a FUSE_IO_URING_CMD_REGISTER that the kernel refuses
 * turns the ring off for the connection.  With --io-uring=auto the export
 * must then serve everything over /dev/fuse with all its readers and say
 * so (one line naming the errno, transport=/dev/fuse in the counters);
 * with --io-uring=on it must unmount and exit 1 naming the errno.  The
 * test aid --fail-register=N sends REGISTERs from the N-th on with a qid
 * the kernel has no queue for, so the refusal is the kernel's own.
 *
 * And a kernel whose io_uring cannot do what the daemon needs (no
 * SQE128 before 5.19, no io_uring at all): the daemon must refuse at
 * start with one line naming it, before it mounts anything, whatever
 * the transport.  A seccomp filter makes io_uring_setup() fail as such
 * a kernel's would.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fue_harness.h"

#define TIMEOUT_S	90
#define IMAGE_SIZE	(4 << 20)
#define BS		4096
#define BLOCKS		64
#define DEPTH		"8"

FIXTURE(fallback) {
	struct fue_export e;
	const char *skip;
	struct fue_stats *s;
};

FIXTURE_SETUP(fallback)
{
	self->skip = fue_setup_skip(true);
	if (self->skip)
		return;
	ASSERT_EQ(0, fue_init(&self->e));
	ASSERT_EQ(0, fue_make_image(self->e.image, IMAGE_SIZE));
	ASSERT_EQ(0, fue_make_mountpoint(self->e.mnt));
	self->s = calloc(1, sizeof(*self->s));
	ASSERT_NE(NULL, self->s);
}

FIXTURE_TEARDOWN(fallback)
{
	fue_teardown(&self->e);
	free(self->s);
}

/* Every line of the daemon's stderr that contains needle. */
static int count_lines_with(const char *text, const char *needle)
{
	const char *p = text;
	int n = 0;

	while ((p = strstr(p, needle))) {
		n++;
		p = strchr(p, '\n');
		if (!p)
			break;
	}
	return n;
}

/*
 * The bad qid is refused with EINVAL.  Since 7.2 that refusal turns the
 * ring off for the connection, and the REGISTERs still on their way,
 * on any thread, get EOPNOTSUPP: whichever the daemon reaps first is the
 * one it names.  @fmt places the errno's text in the expected words.
 */
static bool names_a_refusal(const char *text, const char *fmt)
{
	static const char *const errnos[] = { "Invalid argument",
					      "Operation not supported" };
	char want[128];
	unsigned int i;

	for (i = 0; i < sizeof(errnos) / sizeof(errnos[0]); i++) {
		snprintf(want, sizeof(want), fmt, errnos[i]);
		if (strstr(text, want))
			return true;
	}
	return false;
}

TEST_F_TIMEOUT(fallback, auto_serves_dev_with_all_readers, TIMEOUT_S)
{
	const char *opts[] = { "--io-uring=auto", "-w", "--fail-register=1",
			       "--queue-depth=" DEPTH, NULL };
	char *buf, *text;
	int i;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_EQ(0, fue_startv(&self->e, self->e.image, self->e.mnt, opts));
	buf = aligned_alloc(BS, BS);
	ASSERT_NE(NULL, buf);
	for (i = 0; i < BLOCKS; i++) {
		ASSERT_EQ(BS, fue_pread(self->e.mnt, O_RDONLY | O_DIRECT, buf,
					BS, (off_t)i * BS));
		ASSERT_EQ(-1, fue_check_pattern(buf, BS, (off_t)i * BS));
	}
	free(buf);
	ASSERT_EQ(0, fue_request_stats(&self->e, self->s));
	EXPECT_STREQ("/dev/fuse", self->s->transport);
	EXPECT_EQ(0, self->s->ring);
	EXPECT_LE(BLOCKS, self->s->dev_io);
	text = fue_slurp(self->e.errlog);
	ASSERT_NE(NULL, text);
	/* One line says why, with the errno; every thread reads with all. */
	EXPECT_EQ(1, count_lines_with(text, "serving over /dev/fuse"))
		TH_LOG("%s", text);
	EXPECT_TRUE(names_a_refusal(text, "refused a ring REGISTER (%s)"))
		TH_LOG("%s", text);
	EXPECT_NE(NULL, strstr(text, "transport /dev/fuse"))
		TH_LOG("the serving line names another transport: %s", text);
	/* Every thread reads /dev/fuse with all its slots. */
	for (i = 0; i < self->s->nr_threads; i++)
		EXPECT_EQ((unsigned long long)atoi(DEPTH),
			  self->s->t[i].readers);
	free(text);
}

TEST_F_TIMEOUT(fallback, on_exits_1_naming_the_errno, TIMEOUT_S)
{
	const char *opts[] = { "--io-uring=on", "--fail-register=2", NULL };
	char *text;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	EXPECT_EQ(1, fue_startv(&self->e, self->e.image, self->e.mnt, opts));
	text = fue_slurp(self->e.errlog);
	ASSERT_NE(NULL, text);
	EXPECT_NE(NULL, strstr(text, "refused FUSE_IO_URING_CMD_REGISTER"))
		TH_LOG("%s", text);
	EXPECT_TRUE(names_a_refusal(text, "%s")) TH_LOG("%s", text);
	EXPECT_EQ(0, fue_mount_info(self->e.mnt, NULL, NULL, 0))
		TH_LOG("the export is still mounted");
	free(text);
}

/* Without the test aid, the same options keep the ring and one reader. */
TEST_F_TIMEOUT(fallback, no_failure_keeps_the_ring, TIMEOUT_S)
{
	const char *opts[] = { "--io-uring=auto", "--queue-depth=" DEPTH,
			       NULL };
	char *buf;
	int i;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	ASSERT_EQ(0, fue_startv(&self->e, self->e.image, self->e.mnt, opts));
	buf = aligned_alloc(BS, BS);
	ASSERT_NE(NULL, buf);
	for (i = 0; i < BLOCKS; i++)
		ASSERT_EQ(BS, fue_pread(self->e.mnt, O_RDONLY | O_DIRECT, buf,
					BS, (off_t)i * BS));
	free(buf);
	ASSERT_EQ(0, fue_request_stats(&self->e, self->s));
	EXPECT_STREQ("ring", self->s->transport);
	EXPECT_LE(BLOCKS, self->s->ring);
	EXPECT_EQ(0, self->s->dev_io);
	for (i = 0; i < self->s->nr_threads; i++)
		EXPECT_EQ(1ULL, self->s->t[i].readers);
}

/*
 * Run as the daemon's wrapper (this program, then the daemon's command
 * line): make every io_uring_setup() fail with $FUE_FAKE_ERRNO, then
 * become the daemon.
 */
#define FAKE_ERRNO_ENV	"FUE_FAKE_ERRNO"

/*
 * The audit arch of this build, which the daemon shares: the filter must
 * match io_uring_setup() of this ABI and no other ABI's call of the same
 * number.  An architecture not listed gets no arch check, which only
 * means that another ABI's call of that number would fail too.
 */
#if defined(__x86_64__) && !defined(__ILP32__)
#define FUE_AUDIT_ARCH	AUDIT_ARCH_X86_64
#elif defined(__i386__)
#define FUE_AUDIT_ARCH	AUDIT_ARCH_I386
#elif defined(__aarch64__) && !defined(__AARCH64EB__)
#define FUE_AUDIT_ARCH	AUDIT_ARCH_AARCH64
#elif defined(__arm__) && !defined(__ARMEB__)
#define FUE_AUDIT_ARCH	AUDIT_ARCH_ARM
#elif defined(__riscv) && __riscv_xlen == 64
#define FUE_AUDIT_ARCH	AUDIT_ARCH_RISCV64
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define FUE_AUDIT_ARCH	AUDIT_ARCH_PPC64LE
#elif defined(__powerpc64__)
#define FUE_AUDIT_ARCH	AUDIT_ARCH_PPC64
#elif defined(__s390x__)
#define FUE_AUDIT_ARCH	AUDIT_ARCH_S390X
#elif defined(__loongarch64)
#define FUE_AUDIT_ARCH	AUDIT_ARCH_LOONGARCH64
#endif

static int exec_without_io_uring(char **argv)
{
	int err = atoi(getenv(FAKE_ERRNO_ENV));
	struct sock_filter filter[] = {
#ifdef FUE_AUDIT_ARCH
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, FUE_AUDIT_ARCH, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
#endif
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (err & 0xfff)),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {
		.len = sizeof(filter) / sizeof(filter[0]),
		.filter = filter,
	};
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog)) {
		perror("seccomp");
		return 126;
	}
	execv(argv[1], argv + 1);
	perror(argv[1]);
	return 127;
}

FIXTURE(no_io_uring) {
	struct fue_export e;
	const char *skip;
	char self_bin[PATH_MAX];
};

FIXTURE_VARIANT(no_io_uring) {
	int err;
	const char *transport;
	const char *says;
};

FIXTURE_VARIANT_ADD(no_io_uring, no_sqe128_dev) {
	.err = EINVAL,
	.transport = "--io-uring=off",
	.says = "Linux 5.19 or newer",
};

FIXTURE_VARIANT_ADD(no_io_uring, no_sqe128_auto) {
	.err = EINVAL,
	.transport = "--io-uring=auto",
	.says = "Linux 5.19 or newer",
};

FIXTURE_VARIANT_ADD(no_io_uring, no_io_uring_at_all) {
	.err = ENOSYS,
	.transport = "--io-uring=auto",
	.says = "CONFIG_IO_URING",
};

/* What kernel.io_uring_disabled, or a seccomp policy, answers. */
FIXTURE_VARIANT_ADD(no_io_uring, io_uring_not_allowed) {
	.err = EPERM,
	.transport = "--io-uring=auto",
	.says = "io_uring_disabled",
};

FIXTURE_SETUP(no_io_uring)
{
	ssize_t n;

	self->skip = fue_check_env();
	if (self->skip)
		return;
	ASSERT_EQ(0, fue_init(&self->e));
	ASSERT_EQ(0, fue_make_image(self->e.image, IMAGE_SIZE));
	ASSERT_EQ(0, fue_make_mountpoint(self->e.mnt));
	n = readlink("/proc/self/exe", self->self_bin,
		     sizeof(self->self_bin) - 1);
	ASSERT_LT(0, n);
	self->self_bin[n] = '\0';
}

FIXTURE_TEARDOWN(no_io_uring)
{
	fue_teardown(&self->e);
}

TEST_F_TIMEOUT(no_io_uring, refused_before_mounting, TIMEOUT_S)
{
	const char *args[] = { variant->transport, self->e.image,
			       self->e.mnt, NULL };
	const char *wrapper[] = { self->self_bin, NULL };
	char err[16], *text;
	int ret = -1;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	snprintf(err, sizeof(err), "%d", variant->err);
	ASSERT_EQ(0, setenv(FAKE_ERRNO_ENV, err, 1));
	ASSERT_EQ(0, fue_spawn(&self->e, wrapper, args, self->e.mnt));
	unsetenv(FAKE_ERRNO_ENV);
	ASSERT_TRUE(fue_wait_exit(&self->e, 10000))
		TH_LOG("the daemon still runs without io_uring");
	if (WIFEXITED(self->e.status))
		ret = WEXITSTATUS(self->e.status);
	EXPECT_EQ(1, ret);
	text = fue_slurp(self->e.errlog);
	ASSERT_NE(NULL, text);
	EXPECT_EQ(1, fue_count_lines(text)) TH_LOG("%s", text);
	EXPECT_NE(NULL, strstr(text, variant->says)) TH_LOG("%s", text);
	EXPECT_EQ(0, fue_mount_info(self->e.mnt, NULL, NULL, 0));
	free(text);
}

int main(int argc, char **argv)
{
	const char *why;

	if (getenv(FAKE_ERRNO_ENV) && argc > 1)
		return exec_without_io_uring(argv);
	why = fue_check_env();
	if (why)
		ksft_exit_skip("%s\n", why);
	return test_harness_run(argc, argv);
}
