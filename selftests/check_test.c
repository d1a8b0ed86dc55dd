// SPDX-License-Identifier: GPL-2.0
/*
 * make check's last line, as README promises it: "N passed, N failed,
 * N skipped", counting test cases, through the real lib.mk, kselftest
 * runner and scripts/ksft-summary.  make check runs here on programs of
 * this test's own, shell scripts in a directory given as OUTPUT, whose
 * TAP is known: cases that pass, fail and skip, a program that skips
 * outright, one killed after two of its four cases, one that exits 1
 * with every case passed, and one that flips enable_uring, which the
 * summary must put back.  Standalone only: a kernel tree has no make
 * check.
 *
 * make check runs in a mount namespace with a /run of its own, so that
 * the fusectl mount and mark its enable-uring makes and releases are
 * never those of the run around it.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "fue.h"

#define TIMEOUT_S	150
#define RUN_TIMEOUT_MS	120000
#define URING_PARAM	"/sys/module/fuse/parameters/enable_uring"

struct fake {
	const char *name;
	const char *script;
	/* What each counts for in the summary, and why. */
	int passed, failed, skipped;
	/* The runner's line: VERDICT N selftests: fuse_uring: NAME[DIRECTIVE] */
	const char *verdict, *directive;
};

/* Cases of each kind; it exits 1 for its failed case. */
static const struct fake mixed = {
	"fake_mixed",
	"echo 'TAP version 13'; echo '1..3'\n"
	"echo \"# timeout $kselftest_timeout\"\n"
	"echo 'ok 1 t.passes'; echo 'ok 2 t.skips # SKIP no reason'\n"
	"echo 'not ok 3 t.fails'; exit 1\n",
	1, 1, 1, "not ok", " # exit=1",
};

/* Dies by SIGKILL in the middle of a line, two of its four cases untold. */
static const struct fake killed = {
	"fake_killed",
	"echo 'TAP version 13'; echo '1..4'\n"
	"echo 'ok 1 t.one'; echo 'ok 2 t.two'\n"
	"printf 'half a li'; kill -KILL $$\n",
	2, 2, 0, "not ok", " # exit=137",
};

/* Skips outright: one skip. */
static const struct fake skipped = {
	"fake_skipped",
	"echo 'TAP version 13'; echo '1..0 # SKIP not here'; exit 4\n",
	0, 0, 1, "ok", " # SKIP",
};

/* Every case passed and yet it exits 1: one failure more. */
static const struct fake exit1 = {
	"fake_exit1",
	"echo 'TAP version 13'; echo '1..2'\n"
	"echo 'ok 1 t.one'; echo 'ok 2 t.two'; exit 1\n",
	2, 1, 0, "not ok", " # exit=1",
};

/* Leaves enable_uring flipped, as a program killed on its timeout may. */
static const struct fake flips = {
	"fake_flips",
	"p=" URING_PARAM "\n"
	"echo 'TAP version 13'; echo '1..1'\n"
	"if [ -w $p ]; then\n"
	"	if [ \"$(cat $p)\" = Y ]; then echo N > $p; else echo Y > $p; fi\n"
	"fi\n"
	"echo 'ok 1 t.flips'\n",
	1, 0, 0, "ok", "",
};

static const struct fake passes = {
	"fake_passes",
	"echo 'TAP version 13'; echo '1..2'\n"
	"echo 'ok 1 t.one'; echo 'ok 2 t.two # SKIP later'\n",
	1, 0, 1, "ok", "",
};

FIXTURE(check) {
	const char *skip;
	char root[PATH_MAX - 32];
	char dir[64];
	char out[128];
	char err[128];
	char uring_before[8];
	/* Where .ksft/ came from: the make check inside uses the same. */
	char ksft_from[PATH_MAX];
	char *text;
	int timeout;
};

FIXTURE_SETUP(check)
{
	char exe[PATH_MAX - 64], path[PATH_MAX];
	char *settings, *t;
	ssize_t n;

	self->text = NULL;
	self->skip = NULL;
	self->uring_before[0] = '\0';
	self->dir[0] = '\0';
	if (geteuid() != 0) {
		self->skip = "must run as root (make check mounts fusectl)";
		return;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	ASSERT_LT(0, n);
	exe[n] = '\0';
	*strrchr(exe, '/') = '\0';
	snprintf(self->root, sizeof(self->root), "%s/..", exe);
	snprintf(path, sizeof(path), "%s/scripts/ksft-summary", self->root);
	if (access(path, X_OK)) {
		self->skip = "no scripts/ksft-summary next to this directory (a kernel tree has none)";
		return;
	}
	/* The runner's limit for each program comes from settings. */
	snprintf(path, sizeof(path), "%s/settings", exe);
	settings = fue_slurp(path);
	ASSERT_NE(NULL, settings);
	t = strstr(settings, "timeout=");
	ASSERT_NE(NULL, t);
	self->timeout = atoi(t + 8);
	free(settings);
	ASSERT_LT(0, self->timeout);
	snprintf(path, sizeof(path), "%s/.ksft/.from", exe);
	t = fue_slurp(path);
	ASSERT_NE(NULL, t);
	snprintf(self->ksft_from, sizeof(self->ksft_from), "%.*s",
		 (int)strcspn(t, "\n"), t);
	free(t);

	fue_read_word(URING_PARAM, self->uring_before,
		      sizeof(self->uring_before));
	strcpy(self->dir, "/tmp/fue.check.XXXXXX");
	ASSERT_NE(NULL, mkdtemp(self->dir));
	snprintf(self->out, sizeof(self->out), "%s/out", self->dir);
	snprintf(self->err, sizeof(self->err), "%s/err", self->dir);
}

FIXTURE_TEARDOWN(check)
{
	char cmd[128];

	if (self->uring_before[0])
		fue_write_word(URING_PARAM, self->uring_before);
	free(self->text);
	if (self->dir[0]) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", self->dir);
		if (system(cmd))
			fprintf(stderr, "# could not remove %s\n", self->dir);
	}
}

static int write_fake(const char *dir, const struct fake *f)
{
	char path[PATH_MAX];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", dir, f->name);
	fp = fopen(path, "w");
	if (!fp)
		return -1;
	fprintf(fp, "#!/bin/sh\n%s", f->script);
	if (fclose(fp))
		return -1;
	return chmod(path, 0755);
}

struct check_run {
	const char *root, *dir, *out, *err, *ksft_from;
	char tests[256];
};

static void check_child(const struct check_run *r)
{
	char output[128], tests[300], ksft[PATH_MAX + 16];
	struct stat st;
	int out = open(r->out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	int err = open(r->err, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	if (out < 0 || err < 0)
		_exit(126);
	dup2(out, 1);
	dup2(err, 2);
	if (unshare(CLONE_NEWNS) ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) ||
	    mount("tmpfs", "/run", "tmpfs", 0, NULL)) {
		perror("check_test: private mounts");
		_exit(126);
	}
	/* Nothing of a make check around this one reaches it. */
	unsetenv("MAKEFLAGS");
	unsetenv("MFLAGS");
	unsetenv("MAKELEVEL");
	unsetenv("MAKEOVERRIDES");
	unsetenv("FUE_TEST_TIMEOUT");
	unsetenv("kselftest_override_timeout");
	unsetenv("PWD");
	snprintf(output, sizeof(output), "OUTPUT=%s", r->dir);
	snprintf(tests, sizeof(tests), "TESTS=%s", r->tests);
	/* Another source would replace .ksft/ under the runner around. */
	snprintf(ksft, sizeof(ksft), "%s=%s",
		 !stat(r->ksft_from, &st) && S_ISDIR(st.st_mode) ?
		 "KSFT_DIR" : "KSFT_TARBALL", r->ksft_from);
	execlp("make", "make", "--no-print-directory", "-C", r->root, "check",
	       output, tests, ksft, (char *)NULL);
	_exit(127);
}

/* make check on these fakes: its exit status, or -1 if it hung. */
static int run_check(FIXTURE_DATA(check) *self,
		     const struct fake *const *fakes, int n)
{
	struct check_run r = {
		.root = self->root, .dir = self->dir,
		.out = self->out, .err = self->err,
		.ksft_from = self->ksft_from,
	};
	size_t len = 0;
	int i, status;
	pid_t pid;

	for (i = 0; i < n; i++) {
		if (write_fake(self->dir, fakes[i]))
			return -1;
		len += snprintf(r.tests + len, sizeof(r.tests) - len, "%s%s",
				i ? " " : "", fakes[i]->name);
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0)
		check_child(&r);
	if (fue_wait_pid(pid, &status, RUN_TIMEOUT_MS) != 1) {
		kill(pid, SIGKILL);
		fue_wait_pid(pid, &status, 5000);
		return -1;
	}
	free(self->text);
	self->text = fue_slurp(self->out);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

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

/* Lines of text that start with prefix, and contain what if not NULL. */
static int count_lines(const char *text, const char *prefix,
		       const char *what)
{
	size_t plen = strlen(prefix);
	const char *p, *end;
	int n = 0;

	for (p = text; *p; p = *end ? end + 1 : end) {
		end = strchrnul(p, '\n');
		if (strncmp(p, prefix, plen))
			continue;
		if (what && !memmem(p, end - p, what, strlen(what)))
			continue;
		n++;
	}
	return n;
}

/*
 * Indented, so that the runner around this test never takes its lines
 * for this program's own.
 */
static void dump_text(const char *what, const char *text)
{
	const char *p, *end;

	fprintf(stderr, "# %s:\n", what);
	for (p = text; *p; p = *end ? end + 1 : end) {
		end = strchrnul(p, '\n');
		fprintf(stderr, "#   %.*s\n", (int)(end - p), p);
	}
}

/*
 * The summary that make check must end with, from the fakes' TAP as it
 * came through the runner, and from the rules README gives.
 */
static void expect_summary(struct __test_metadata *_metadata,
			   const char *text, const struct fake *const *fakes,
			   int n)
{
	int passed = 0, failed = 0, skipped = 0, i;
	char line[256];

	for (i = 0; i < n; i++) {
		const struct fake *f = fakes[i];

		snprintf(line, sizeof(line), "%s %d selftests: fuse_uring: %s%s\n",
			 f->verdict, i + 1, f->name, f->directive);
		EXPECT_NE(NULL, strstr(text, line))
			TH_LOG("no runner line \"%.*s\"", (int)strlen(line) - 1,
			       line);
		passed += f->passed;
		failed += f->failed;
		skipped += f->skipped;
	}
	/* The cases themselves, indented by the runner. */
	EXPECT_EQ(passed, count_lines(text, "# ok ", NULL) -
		  count_lines(text, "# ok ", "# SKIP"));
	snprintf(line, sizeof(line), "%d passed, %d failed, %d skipped\n",
		 passed, failed, skipped);
	EXPECT_STREQ(line, last_line(text));
	if (strcmp(line, last_line(text)))
		dump_text("make check printed", text);
}

TEST_F_TIMEOUT(check, last_line_counts_cases, TIMEOUT_S)
{
	const struct fake *fakes[] = { &mixed, &killed, &skipped, &exit1, &flips };
	char want[64], now[8];
	int rc;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	rc = run_check(self, fakes, 5);
	ASSERT_NE(NULL, self->text);
	/* make's own status for a failed recipe. */
	EXPECT_EQ(2, rc);
	expect_summary(_metadata, self->text, fakes, 5);
	/* Two of fake_killed's four cases never came. */
	EXPECT_EQ(1, count_lines(self->text,
				 "# ksft-summary: fake_killed: 2 of its 4 cases never reported", NULL));
	snprintf(want, sizeof(want), "# # timeout %d\n", self->timeout);
	EXPECT_NE(NULL, strstr(self->text, want))
		TH_LOG("the runner did not give settings' timeout=%d",
		       self->timeout);
	/* make check turned enable_uring on; fake_flips turned it off. */
	if (!fue_read_word(URING_PARAM, now, sizeof(now))) {
		EXPECT_STREQ("Y", now);
		EXPECT_NE(NULL, strstr(self->text,
				       "# ksft-summary: enable_uring was N after fake_flips; restored Y\n"));
	}
}

TEST_F_TIMEOUT(check, nothing_failed_exits_0, TIMEOUT_S)
{
	const struct fake *fakes[] = { &passes, &skipped };
	int rc;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	rc = run_check(self, fakes, 2);
	ASSERT_NE(NULL, self->text);
	EXPECT_EQ(0, rc);
	expect_summary(_metadata, self->text, fakes, 2);
}

TEST_HARNESS_MAIN
