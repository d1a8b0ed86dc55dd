// SPDX-License-Identifier: GPL-2.0
/*
 * What README promises of scripts/smoke, as the shell sees it: exit 0 on
 * a pass, saying that it set enable_uring=Y when it was N; 1 on a
 * failure; 4 on a skip (not root).  The smoke script lives in the
 * project's scripts/, next to this directory; a kernel tree has no copy,
 * and there this test skips.
 *
 * Each run is in a mount namespace of its own with a private /run, so
 * that the fusectl mount and mark its enable-uring makes and releases
 * are its own and never those of the run around it.  The kernel ABI pass
 * is a stub that skips: uring_abi_test is a program of its own.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <grp.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fue_harness.h"

#define TIMEOUT_S	120
#define RUN_TIMEOUT_MS	90000
#define URING_PARAM	"/sys/module/fuse/parameters/enable_uring"
#define NOBODY		65534

FIXTURE(smoke) {
	struct fue_export e;
	const char *skip;
	char script[PATH_MAX];
	char stub[PATH_MAX];
	char log[PATH_MAX];
	char uring_before[8];
	char *out;
};

FIXTURE_SETUP(smoke)
{
	char exe[PATH_MAX - 64];
	ssize_t n;
	FILE *f;

	self->out = NULL;
	self->uring_before[0] = '\0';
	self->skip = fue_check_env();
	if (self->skip)
		return;
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	ASSERT_LT(0, n);
	exe[n] = '\0';
	*strrchr(exe, '/') = '\0';
	snprintf(self->script, sizeof(self->script), "%s/../scripts/smoke",
		 exe);
	if (access(self->script, X_OK)) {
		self->skip = "no scripts/smoke next to this directory (a kernel tree has none)";
		return;
	}
	ASSERT_EQ(0, fue_init(&self->e));
	/* The daemon and the script run as nobody too: let it in. */
	ASSERT_EQ(0, chmod(self->e.dir, 0755));
	snprintf(self->stub, sizeof(self->stub), "%s/abi-stub", self->e.dir);
	snprintf(self->log, sizeof(self->log), "%s/smoke.log", self->e.dir);
	f = fopen(self->stub, "w");
	ASSERT_NE(NULL, f);
	fputs("#!/bin/sh\necho '1..0 # SKIP the ABI pass is uring_abi_test'\nexit 4\n",
	      f);
	ASSERT_EQ(0, fclose(f));
	ASSERT_EQ(0, chmod(self->stub, 0755));
}

FIXTURE_TEARDOWN(smoke)
{
	if (self->uring_before[0])
		fue_write_word(URING_PARAM, self->uring_before);
	free(self->out);
	fue_teardown(&self->e);
}

struct smoke_run {
	const char *script;
	const char *log;
	const char *stub;
	const char *bin;
	bool as_nobody;
};

static void smoke_child(const struct smoke_run *r)
{
	int fd = open(r->log, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	if (fd < 0)
		_exit(126);
	dup2(fd, 1);
	dup2(fd, 2);
	/* Its fusectl mount and its mark in /run are its own. */
	if (unshare(CLONE_NEWNS) ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) ||
	    mount("tmpfs", "/run", "tmpfs", 0, NULL)) {
		perror("smoke_test: private mounts");
		_exit(126);
	}
	setenv("FUE_ABI_TEST", r->stub, 1);
	setenv("FUE_BIN", r->bin, 1);
	if (r->as_nobody && (setgroups(0, NULL) || setresgid(NOBODY, NOBODY, NOBODY) ||
			     setresuid(NOBODY, NOBODY, NOBODY))) {
		perror("smoke_test: become nobody");
		_exit(126);
	}
	execl(r->script, r->script, (char *)NULL);
	_exit(127);
}

/* scripts/smoke's exit status, or -1 if it did not end in time. */
static int run_smoke(FIXTURE_DATA(smoke) *self, const char *bin,
		     bool as_nobody)
{
	struct smoke_run r = {
		.script = self->script, .log = self->log, .stub = self->stub,
		.bin = bin, .as_nobody = as_nobody,
	};
	int status;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0)
		smoke_child(&r);
	if (fue_wait_pid(pid, &status, RUN_TIMEOUT_MS) != 1) {
		kill(pid, SIGKILL);
		fue_wait_pid(pid, &status, 5000);
		return -1;
	}
	free(self->out);
	self->out = fue_slurp(self->log);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* The verdict: the last line. */
static const char *last_line(const char *text)
{
	size_t len = strlen(text);
	const char *p;

	while (len && text[len - 1] == '\n')
		len--;
	for (p = text + len; p > text && p[-1] != '\n'; p--)
		;
	return p;
}

TEST_F_TIMEOUT(smoke, pass_exits_0_saying_it_set_enable_uring, TIMEOUT_S)
{
	int rc;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	if (fue_read_word(URING_PARAM, self->uring_before,
			  sizeof(self->uring_before)))
		SKIP(return, "%s is absent: no ring to smoke-test", URING_PARAM);
	/* Off, as after boot: the smoke test must turn it on and say so. */
	ASSERT_EQ(0, fue_write_word(URING_PARAM, "N"));
	rc = run_smoke(self, fue_bin(), false);
	ASSERT_NE(NULL, self->out);
	EXPECT_EQ(0, rc) TH_LOG("%s", self->out);
	EXPECT_EQ(0, strncmp(self->out, "# enable-uring: set enable_uring=Y\n", 35))
		TH_LOG("first line: %.*s", (int)strcspn(self->out, "\n"),
		       self->out);
	EXPECT_EQ(0, strncmp(last_line(self->out), "PASS: ", 6));
}

TEST_F_TIMEOUT(smoke, failure_exits_1, TIMEOUT_S)
{
	int rc;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	rc = run_smoke(self, "/nonexistent/fuse-uring-export", false);
	ASSERT_NE(NULL, self->out);
	EXPECT_EQ(1, rc) TH_LOG("%s", self->out);
	EXPECT_STREQ("FAIL: FUSE-over-io_uring smoke test: /nonexistent/fuse-uring-export is missing (run make)\n",
		     last_line(self->out));
}

TEST_F_TIMEOUT(smoke, skip_exits_4, TIMEOUT_S)
{
	int rc;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	rc = run_smoke(self, fue_bin(), true);
	ASSERT_NE(NULL, self->out);
	if (rc == 126 || rc == 127)
		SKIP(return, "user nobody cannot run scripts/smoke here: %.200s",
		     self->out);
	EXPECT_EQ(4, rc) TH_LOG("%s", self->out);
	EXPECT_STREQ("SKIP: FUSE-over-io_uring smoke test: must run as root (it mounts)\n",
		     last_line(self->out));
}

TEST_HARNESS_MAIN
