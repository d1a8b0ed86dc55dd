// SPDX-License-Identifier: GPL-2.0
/*
 * The machine under test: root, /dev/fuse, the daemon binary, the ring's
 * module parameter and the CPUs; sysfs-style one-word files.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "export.h"
#include "fue.h"

#define URING_PARAM	"/sys/module/fuse/parameters/enable_uring"

int fue_read_word(const char *path, char *buf, size_t len)
{
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	if (n < 0) {
		n = -errno;
		close(fd);
		return n;
	}
	close(fd);
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

int fue_write_word(const char *path, const char *word)
{
	size_t len = strlen(word);
	int fd, ret = 0;

	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, word, len) != (ssize_t)len)
		ret = -errno;
	close(fd);
	return ret;
}

/*
 * FUE_DAEMON_OPTS: options every daemon a test starts gets first, before
 * the test's own (which win where they differ), so that one suite can
 * run again another way: FUE_DAEMON_OPTS=--zero-copy=off, say.
 */
int fue_daemon_opts(const char **argv, int max)
{
	static char words[1024];
	static const char *opts[16];
	static int nr = -1;
	const char *env;
	char *save, *w;
	int i;

	if (nr < 0) {
		nr = 0;
		env = getenv("FUE_DAEMON_OPTS");
		snprintf(words, sizeof(words), "%s", env ? env : "");
		for (w = strtok_r(words, " ", &save); w && nr < 16;
		     w = strtok_r(NULL, " ", &save))
			opts[nr++] = w;
	}
	for (i = 0; i < nr && i < max; i++)
		argv[i] = opts[i];
	return i;
}

const char *fue_bin(void)
{
	static char path[PATH_MAX];
	char exe[PATH_MAX - 64], tmp[PATH_MAX];
	const char *env = getenv("FUE_BIN");
	ssize_t n;

	if (path[0])
		return path;
	if (env && env[0]) {
		if (!realpath(env, path))
			snprintf(path, sizeof(path), "%s", env);
		return path;
	}
	/*
	 * A kselftest build or install puts the daemon next to the tests;
	 * in this repository it sits one level up from selftests/.
	 */
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n < 0) {
		snprintf(path, sizeof(path), "../fuse-uring-export");
		return path;
	}
	exe[n] = '\0';
	*strrchr(exe, '/') = '\0';
	snprintf(tmp, sizeof(tmp), "%s/fuse-uring-export", exe);
	if (access(tmp, F_OK))
		snprintf(tmp, sizeof(tmp), "%s/../fuse-uring-export", exe);
	if (!realpath(tmp, path))
		snprintf(path, sizeof(path), "%s", tmp);
	return path;
}

/*
 * enable_uring as this program found it.  Tests that need the ring turn it
 * on and tests of its absence turn it off; whatever they leave, the value
 * found at the start is put back when the program exits, even after the
 * harness killed a test on its timeout before the test's own teardown ran.
 */
static char uring_orig[8];
static pid_t uring_orig_pid;

static void restore_uring_param(void)
{
	char now[8];

	if (getpid() != uring_orig_pid || !uring_orig[0] ||
	    fue_read_word(URING_PARAM, now, sizeof(now)) ||
	    !strcmp(now, uring_orig))
		return;
	if (fue_write_word(URING_PARAM, uring_orig))
		fue_log("could not restore %s to %s", URING_PARAM, uring_orig);
	else
		fue_log("restored %s to %s", URING_PARAM, uring_orig);
}

static void save_uring_param(void)
{
	if (uring_orig_pid)
		return;
	uring_orig_pid = getpid();
	if (fue_read_word(URING_PARAM, uring_orig, sizeof(uring_orig)))
		uring_orig[0] = '\0';
	else
		atexit(restore_uring_param);
}

const char *fue_check_env(void)
{
	static char reason[PATH_MAX + 64];

	save_uring_param();
	if (geteuid() != 0)
		return "must run as root (mounts FUSE filesystems)";
	if (access("/dev/fuse", R_OK | W_OK))
		return "/dev/fuse is missing (CONFIG_FUSE_FS, modprobe fuse)";
	if (access(fue_bin(), X_OK)) {
		snprintf(reason, sizeof(reason),
			 "daemon %s not found (build it or set FUE_BIN)",
			 fue_bin());
		return reason;
	}
	return NULL;
}

const char *fue_setup_skip(bool need_ring)
{
	const char *why = fue_check_env();

	if (!why && need_ring)
		why = fue_check_uring();
	return why;
}

const char *fue_check_uring(void)
{
	char val[16];

	save_uring_param();
	if (fue_read_word(URING_PARAM, val, sizeof(val)))
		return URING_PARAM " is absent (kernel without CONFIG_FUSE_IO_URING)";
	if (val[0] == 'Y')
		return NULL;
	/* A test of the ring turns it on itself; exit restores the value. */
	if (fue_write_word(URING_PARAM, "Y") ||
	    fue_read_word(URING_PARAM, val, sizeof(val)) || val[0] != 'Y')
		return "enable_uring is N and cannot be set to Y";
	return NULL;
}

/* CPU lists go through the daemon's own parser, which cpus_test covers. */
int fue_possible_cpus(void)
{
	struct cpus set;
	int n = cpus_read_list("/sys/devices/system/cpu/possible", &set);

	cpus_free(&set);
	return n < 0 ? -1 : n;
}

int fue_online_cpus(int *cpus, int max)
{
	unsigned int cpu, nr_bits;
	struct cpus set;
	int n = 0;

	if (cpus_read_list("/sys/devices/system/cpu/online", &set) < 0)
		return -1;
	nr_bits = set.size * 8;
	for (cpu = 0; cpu < nr_bits && n < max; cpu++)
		if (cpus_has(&set, cpu))
			cpus[n++] = (int)cpu;
	cpus_free(&set);
	return n;
}
