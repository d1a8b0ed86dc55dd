// SPDX-License-Identifier: GPL-2.0
/*
 * Canaries for fue_kernel_log.c, the check that fails a test program when
 * the kernel complains while it runs: a WARNING line written to /dev/kmsg,
 * and a new taint bit (in a stand-in for /proc/sys/kernel/tainted), must
 * each fail a program whose own tests all pass, naming the cause; a log
 * that cannot be read is said once and fails nothing.  The program under
 * the canary is init_test, from this program's own directory.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kselftest_harness.h"

#define RUN_TIMEOUT_S	120

FIXTURE(canary) {
	char dir[PATH_MAX - 64];
	char prog[PATH_MAX];
	char log[PATH_MAX];
	char tainted[PATH_MAX];
	char *out;
};

FIXTURE_SETUP(canary)
{
	char exe[PATH_MAX - 64];
	ssize_t n;

	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	ASSERT_LT(0, n);
	exe[n] = '\0';
	*strrchr(exe, '/') = '\0';
	snprintf(self->prog, sizeof(self->prog), "%s/init_test", exe);
	snprintf(self->dir, sizeof(self->dir), "%s/fue-klog.XXXXXX",
		 getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") :
		 "/tmp");
	ASSERT_NE(NULL, mkdtemp(self->dir));
	snprintf(self->log, sizeof(self->log), "%s/log", self->dir);
	snprintf(self->tainted, sizeof(self->tainted), "%s/tainted",
		 self->dir);
	self->out = NULL;
}

FIXTURE_TEARDOWN(canary)
{
	free(self->out);
	unlink(self->log);
	unlink(self->tainted);
	rmdir(self->dir);
}

static int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, text, strlen(text));
	close(fd);
	return n == (ssize_t)strlen(text) ? 0 : -EIO;
}

static char *slurp(const char *path)
{
	char *text = calloc(1, 1 << 20);
	ssize_t n;
	int fd;

	if (!text)
		return NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		n = read(fd, text, (1 << 20) - 1);
		if (n > 0)
			text[n] = '\0';
		close(fd);
	}
	return text;
}

/*
 * Run prog with the environment settings given (NAME=value, NULL ends),
 * output to log; its exit status, or -1 if it did not end in time.
 */
static int run_prog(const char *prog, const char *log, const char *const *env)
{
	int status, waited;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int in = open("/dev/null", O_RDONLY);
		int out = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		if (in < 0 || out < 0)
			_exit(126);
		dup2(in, 0);
		dup2(out, 1);
		dup2(out, 2);
		unsetenv("FUE_KERNEL_CANARY");
		for (; env && *env; env++)
			putenv((char *)*env);
		execl(prog, prog, (char *)NULL);
		_exit(127);
	}
	for (waited = 0; waited < RUN_TIMEOUT_S * 10; waited++) {
		struct timespec ts = { 0, 100 * 1000 * 1000 };

		if (waitpid(pid, &status, WNOHANG) == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
		nanosleep(&ts, NULL);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return -1;
}

static int count(const char *text, const char *what)
{
	int n = 0;

	for (; (text = strstr(text, what)); text++)
		n++;
	return n;
}

/* The program's own tests passed: what fails it is the check alone. */
#define EXPECT_TESTS_PASSED(out) do {					\
	EXPECT_NE(NULL, strstr(out, "\nok 1 "));			\
	EXPECT_EQ(0, count(out, "\nnot ok "));				\
} while (0)

TEST_F(canary, warning_in_kernel_log_fails_the_program)
{
	char env[PATH_MAX + 16];
	const char *envs[] = { "FUE_KERNEL_CANARY=warning", env, NULL };
	int rc;

	if (geteuid())
		SKIP(return, "writing to /dev/kmsg needs root");
	if (access("/dev/kmsg", R_OK | W_OK))
		SKIP(return, "/dev/kmsg is not readable and writable");
	/* A real taint that appears meanwhile is none of this case's. */
	ASSERT_EQ(0, write_file(self->tainted, "0\n"));
	snprintf(env, sizeof(env), "FUE_TAINTED=%s", self->tainted);
	rc = run_prog(self->prog, self->log, envs);
	self->out = slurp(self->log);
	ASSERT_NE(NULL, self->out);
	EXPECT_EQ(1, rc) TH_LOG("init_test with a WARNING logged: exit %d\n%s",
				rc, self->out);
	EXPECT_TESTS_PASSED(self->out);
	EXPECT_NE(NULL, strstr(self->out, "# kernel log: WARNING: CPU: 0 PID: 0 at fue-kernel-log-canary"));
	EXPECT_NE(NULL, strstr(self->out, "# kernel log: FAIL: 1 new splat line(s) while init_test ran"));
}

TEST_F(canary, new_taint_bit_fails_the_program)
{
	char env[PATH_MAX + 16];
	const char *envs[] = { "FUE_KERNEL_CANARY=taint", env,
			       "FUE_KMSG=/dev/null", NULL };
	int rc;

	ASSERT_EQ(0, write_file(self->tainted, "4096\n"));
	snprintf(env, sizeof(env), "FUE_TAINTED=%s", self->tainted);
	rc = run_prog(self->prog, self->log, envs);
	self->out = slurp(self->log);
	ASSERT_NE(NULL, self->out);
	EXPECT_EQ(1, rc) TH_LOG("init_test with a new taint bit: exit %d\n%s",
				rc, self->out);
	EXPECT_TESTS_PASSED(self->out);
	EXPECT_NE(NULL, strstr(self->out, "# kernel log: FAIL: the kernel got tainted while init_test ran: 4096 -> 4608 (new bits 0x200)"));
}

TEST_F(canary, old_taint_bit_passes)
{
	char env[PATH_MAX + 16];
	const char *envs[] = { env, "FUE_KMSG=/dev/null", NULL };
	int rc;

	ASSERT_EQ(0, write_file(self->tainted, "4608\n"));
	snprintf(env, sizeof(env), "FUE_TAINTED=%s", self->tainted);
	rc = run_prog(self->prog, self->log, envs);
	self->out = slurp(self->log);
	ASSERT_NE(NULL, self->out);
	EXPECT_EQ(0, rc) TH_LOG("%s", self->out);
	EXPECT_EQ(0, count(self->out, "kernel log:"));
}

TEST_F(canary, unreadable_log_is_said_once_and_passes)
{
	const char *envs[] = { "FUE_KMSG=/nonexistent/kmsg",
			       "FUE_TAINTED=/nonexistent/tainted", NULL };
	int rc;

	rc = run_prog(self->prog, self->log, envs);
	self->out = slurp(self->log);
	ASSERT_NE(NULL, self->out);
	EXPECT_EQ(0, rc) TH_LOG("%s", self->out);
	EXPECT_EQ(1, count(self->out, "# kernel log: cannot read /nonexistent/kmsg (No such file or directory): splats were not checked"));
	EXPECT_EQ(1, count(self->out, "# kernel log: cannot read /nonexistent/tainted: taint was not checked"));
	EXPECT_EQ(0, count(self->out, "FAIL"));
}

TEST_HARNESS_MAIN
