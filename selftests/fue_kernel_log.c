// SPDX-License-Identifier: GPL-2.0
/*
 * The kernel's own complaints fail the test program that was running.
 *
 * Linked into every test program: before main() it notes where the kernel
 * log (/dev/kmsg) ends and the taint mask (/proc/sys/kernel/tainted); when
 * the program exits it reads what the kernel logged since, and a splat
 * (WARNING:, BUG:, a lockdep, UBSAN, KASAN or RCU stall report, a general
 * protection fault, an Oops, a soft lockup, a hung task) or a new taint bit
 * turns the program's exit status into a failure, with the lines that
 * did it.  Doing this in the program itself covers every runner alike:
 * make check, lib.mk's run_tests, an installed run_kselftest.sh, a VM.
 *
 * A log that cannot be read is reported once and fails nothing.
 *
 * For the check's own tests: FUE_KMSG and FUE_TAINTED name other files to
 * read, and FUE_KERNEL_CANARY=warning writes a fake WARNING line to
 * /dev/kmsg right after the log's end was noted, =taint a new bit into
 * the FUE_TAINTED file (never the real one), so that the program must fail.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define KMSG_DEFAULT	"/dev/kmsg"
#define TAINTED_DEFAULT	"/proc/sys/kernel/tainted"
/* Marks the canary's line, so that no other program fails on it. */
#define CANARY_MARK	"fue-kernel-log-canary"
#define MAX_SHOWN	10

static const char *const splats[] = {
	"WARNING:",
	"BUG:",
	"UBSAN:",
	"KASAN:",
	"possible circular locking",
	"possible recursive locking",
	"inconsistent lock state",
	"self-detected stall",
	"rcu_preempt detected stall",
	"rcu_sched detected stall",
	"general protection fault",
	"Oops",
	"soft lockup",
	"blocked for more than",
	"Kernel panic",
};

static int kmsg_fd = -1;
static pid_t checked_pid;
static bool have_taint;
static unsigned long long taint_before;
static const char *canary;
static int kmsg_errno;

static const char *env_or(const char *name, const char *def)
{
	const char *v = getenv(name);

	return v && v[0] ? v : def;
}

static int read_taint(unsigned long long *mask)
{
	char buf[64];
	ssize_t n;
	int fd;

	fd = open(env_or("FUE_TAINTED", TAINTED_DEFAULT), O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -EIO;
	buf[n] = '\0';
	*mask = strtoull(buf, NULL, 10);
	return 0;
}

static void write_canary(void)
{
	const char *tainted = getenv("FUE_TAINTED");
	int fd;

	if (!strcmp(canary, "warning")) {
		static const char line[] =
			"<4>WARNING: CPU: 0 PID: 0 at " CANARY_MARK "\n";

		fd = open(KMSG_DEFAULT, O_WRONLY | O_CLOEXEC);
		if (fd < 0 || write(fd, line, strlen(line)) < 0)
			printf("# kernel log: canary cannot write %s: %s\n",
			       KMSG_DEFAULT, strerror(errno));
		if (fd >= 0)
			close(fd);
	} else if (!strcmp(canary, "taint") && tainted) {
		char word[32];

		snprintf(word, sizeof(word), "%llu\n", taint_before | 512);
		fd = open(tainted, O_WRONLY | O_TRUNC | O_CLOEXEC);
		if (fd < 0 || write(fd, word, strlen(word)) < 0)
			printf("# kernel log: canary cannot write %s\n",
			       tainted);
		if (fd >= 0)
			close(fd);
	}
}

static const char *splat_in(const char *msg)
{
	size_t i;

	for (i = 0; i < sizeof(splats) / sizeof(splats[0]); i++)
		if (strstr(msg, splats[i]))
			return splats[i];
	return NULL;
}

/* Splat lines logged since the start; prints up to MAX_SHOWN of them. */
static int new_splats(void)
{
	static char rec[16384];
	int found = 0;
	bool lost = false;

	for (;;) {
		ssize_t n = read(kmsg_fd, rec, sizeof(rec) - 1);
		char *msg, *end;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EPIPE) {
			/* Overwritten before we read them: say so, go on. */
			lost = true;
			continue;
		}
		if (n <= 0)
			break;
		rec[n] = '\0';
		msg = strchr(rec, ';');
		if (!msg)
			continue;
		msg++;
		end = strchr(msg, '\n');
		if (end)
			*end = '\0';
		if (!splat_in(msg))
			continue;
		if (strstr(msg, CANARY_MARK) && !canary)
			continue;
		if (found++ < MAX_SHOWN)
			printf("# kernel log: %s\n", msg);
	}
	if (lost)
		printf("# kernel log: some messages were overwritten before they could be read\n");
	return found;
}

static void check_at_exit(void)
{
	const char *name = program_invocation_short_name;
	unsigned long long taint_after;
	bool fail = false;
	int n;

	/* Children the harness or the library forked are not the program. */
	if (getpid() != checked_pid)
		return;
	fflush(NULL);
	if (kmsg_fd < 0)
		printf("# kernel log: cannot read %s (%s): splats were not checked\n",
		       env_or("FUE_KMSG", KMSG_DEFAULT), strerror(kmsg_errno));
	if (!have_taint)
		printf("# kernel log: cannot read %s: taint was not checked\n",
		       env_or("FUE_TAINTED", TAINTED_DEFAULT));
	if (kmsg_fd >= 0) {
		n = new_splats();
		if (n) {
			printf("# kernel log: FAIL: %d new splat line(s) while %s ran\n",
			       n, name);
			fail = true;
		}
	}
	if (have_taint && !read_taint(&taint_after) &&
	    (taint_after & ~taint_before)) {
		printf("# kernel log: FAIL: the kernel got tainted while %s ran: %llu -> %llu (new bits %#llx)\n",
		       name, taint_before, taint_after,
		       taint_after & ~taint_before);
		fail = true;
	}
	fflush(NULL);
	if (fail)
		_exit(1);
}

/*
 * First of the constructors, so that its atexit() handler runs last: after
 * the others (enable_uring's restore, say), since it may end the process.
 */
static void __attribute__((constructor(101))) note_kernel_log(void)
{
	const char *kmsg = env_or("FUE_KMSG", KMSG_DEFAULT);

	checked_pid = getpid();
	canary = getenv("FUE_KERNEL_CANARY");
	if (canary && !canary[0])
		canary = NULL;
	kmsg_fd = open(kmsg, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (kmsg_fd >= 0 && lseek(kmsg_fd, 0, SEEK_END) < 0) {
		kmsg_errno = errno;
		close(kmsg_fd);
		kmsg_fd = -1;
	} else if (kmsg_fd < 0) {
		kmsg_errno = errno;
	}
	have_taint = !read_taint(&taint_before);
	if (canary)
		write_canary();
	atexit(check_at_exit);
}
