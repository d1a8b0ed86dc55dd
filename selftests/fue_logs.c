// SPDX-License-Identifier: GPL-2.0
/*
 * The daemon's output: whole log files as text, its "stats:" dumps, and
 * the sanitizers' reports in its stderr.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fue.h"

char *fue_slurp(const char *path)
{
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap);
	ssize_t n;
	int fd;

	if (!buf)
		return NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		free(buf);
		return NULL;
	}
	for (;;) {
		if (cap - len < 4096) {
			char *nbuf = realloc(buf, cap * 2);

			if (!nbuf)
				break;
			buf = nbuf;
			cap *= 2;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n <= 0)
			break;
		len += n;
	}
	close(fd);
	buf[len] = '\0';
	return buf;
}

int fue_count_lines(const char *text)
{
	int n = 0;

	if (!text)
		return -1;
	for (; *text; text++)
		if (*text == '\n')
			n++;
	return n;
}

/* Find "key=" as a whole word in line and parse its number. */
static int field_ull(const char *line, const char *key,
		     unsigned long long *val)
{
	size_t klen = strlen(key);
	const char *p = line;
	char *end;

	while ((p = strstr(p, key))) {
		if ((p == line || p[-1] == ' ') && p[klen] == '=') {
			errno = 0;
			*val = strtoull(p + klen + 1, &end, 10);
			if (errno || end == p + klen + 1 ||
			    (*end && *end != ' ' && *end != '\n'))
				return -EINVAL;
			return 0;
		}
		p += klen;
	}
	return -ENOENT;
}

static int field_int(const char *line, const char *key, int *val)
{
	unsigned long long v;
	int ret = field_ull(line, key, &v);

	if (!ret)
		*val = (int)v;
	return ret;
}

int fue_parse_stats(const char *text, struct fue_stats *s)
{
	struct fue_stats cur;
	const char *line = text;
	bool found = false;

	memset(&cur, 0, sizeof(cur));
	while (line && *line) {
		const char *nl = strchr(line, '\n');
		size_t len = nl ? (size_t)(nl - line) : strlen(line);
		char buf[512];
		int ret = 0;

		if (len >= sizeof(buf) || strncmp(line, "stats: ", 7))
			goto next;
		memcpy(buf, line, len);
		buf[len] = '\0';
		if (!strncmp(buf, "stats: total ", 13)) {
			char *t = strstr(buf, " transport=");

			ret |= field_ull(buf, "ring", &cur.ring);
			ret |= field_ull(buf, "dev", &cur.dev);
			ret |= field_ull(buf, "dev_io", &cur.dev_io);
			ret |= field_ull(buf, "errors", &cur.errors);
			if (!t || sscanf(t, " transport=%15s", cur.transport) != 1)
				ret = -EINVAL;
			if (ret)
				return -EINVAL;
			cur.have_total = true;
			/* A dump is complete: keep it, start a new one. */
			*s = cur;
			found = true;
			memset(&cur, 0, sizeof(cur));
		} else if (!strncmp(buf, "stats: qid=", 11)) {
			struct fue_qstat *q = &cur.q[cur.nr_queues];

			if (cur.nr_queues == FUE_MAX_QUEUES)
				return -EINVAL;
			ret |= field_int(buf, "qid", &q->qid);
			ret |= field_int(buf, "thread", &q->thread);
			ret |= field_int(buf, "cpu", &q->cpu);
			ret |= field_ull(buf, "ring", &q->ring);
			ret |= field_ull(buf, "errors", &q->errors);
			ret |= field_ull(buf, "inflight", &q->inflight);
			ret |= field_ull(buf, "peak", &q->peak);
			ret |= field_ull(buf, "offloaded", &q->offloaded);
			if (ret)
				return -EINVAL;
			cur.nr_queues++;
		} else if (!strncmp(buf, "stats: thread=", 14)) {
			struct fue_tstat *t = &cur.t[cur.nr_threads];

			if (cur.nr_threads == FUE_MAX_THREADS)
				return -EINVAL;
			ret |= field_int(buf, "thread", &t->thread);
			ret |= field_ull(buf, "dev", &t->dev);
			ret |= field_ull(buf, "dev_io", &t->dev_io);
			ret |= field_ull(buf, "errors", &t->errors);
			ret |= field_ull(buf, "readers", &t->readers);
			ret |= field_ull(buf, "polled", &t->polled);
			if (ret)
				return -EINVAL;
			cur.nr_threads++;
		}
next:
		line = nl ? nl + 1 : NULL;
	}
	return found ? 0 : -ENOENT;
}

/* Number of "stats: total" lines at or after offset off of text. */
static int count_totals(const char *text, size_t off)
{
	const char *p = text + off;
	int n = 0;

	while ((p = strstr(p, "stats: total ")))
		if (p == text || p[-1] == '\n')
			n++, p++;
		else
			p++;
	return n;
}

int fue_request_stats_dump(struct fue_export *e, char **dump)
{
	long long deadline = fue_now_ms() + FUE_IO_TIMEOUT_MS;
	char *text = fue_slurp(e->errlog);
	size_t off;

	*dump = NULL;
	if (!text)
		return -errno;
	off = strlen(text);
	free(text);
	if (!e->pid || e->exited || !fue_is_our_child(e->pid))
		return -ESRCH;
	if (kill(e->pid, SIGUSR1))
		return -errno;
	while (fue_now_ms() < deadline) {
		text = fue_slurp(e->errlog);
		if (!text)
			return -errno;
		/* Wait for the line ending the new dump to be complete. */
		if (strlen(text) > off && count_totals(text, off) &&
		    text[strlen(text) - 1] == '\n') {
			*dump = strdup(text + off);
			free(text);
			return *dump ? 0 : -ENOMEM;
		}
		free(text);
		fue_sleep_ms(10);
	}
	fue_log("no stats dump within %d ms of SIGUSR1", FUE_IO_TIMEOUT_MS);
	return -ETIMEDOUT;
}

int fue_request_stats(struct fue_export *e, struct fue_stats *s)
{
	char *dump;
	int ret;

	ret = fue_request_stats_dump(e, &dump);
	if (ret)
		return ret;
	ret = fue_parse_stats(dump, s);
	free(dump);
	return ret;
}

int fue_parse_op_stat(const char *text, const char *op, struct fue_opstat *o)
{
	const char *line = text, *found = NULL;
	size_t oplen = strlen(op);
	char buf[512];
	size_t len;
	int ret = 0;

	while (line && *line) {
		const char *nl = strchr(line, '\n');

		if (!strncmp(line, "stats: op=", 10) &&
		    !strncmp(line + 10, op, oplen) && line[10 + oplen] == ' ')
			found = line;
		line = nl ? nl + 1 : NULL;
	}
	if (!found)
		return -ENOENT;
	len = strcspn(found, "\n");
	if (len >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, found, len);
	buf[len] = '\0';
	memset(o, 0, sizeof(*o));
	ret |= field_ull(buf, "count", &o->count);
	ret |= field_ull(buf, "bytes", &o->bytes);
	ret |= field_ull(buf, "p50_us", &o->p50_us);
	ret |= field_ull(buf, "p99_us", &o->p99_us);
	ret |= field_ull(buf, "max_us", &o->max_us);
	/* Only requests with image I/O have an image part. */
	if (!field_ull(buf, "image_count", &o->image_count)) {
		ret |= field_ull(buf, "image_p50_us", &o->image_p50_us);
		ret |= field_ull(buf, "image_p99_us", &o->image_p99_us);
	}
	return ret ? -EINVAL : 0;
}

/* What ASan, LSan and UBSan print when they find something. */
static const char *const sanitizer_marks[] = {
	"ERROR: AddressSanitizer",
	"ERROR: LeakSanitizer",
	"runtime error:",
};

#define SANITIZER_CONTEXT_LINES	200

int fue_sanitizer_scan(struct fue_export *e)
{
	char *text, *line, *nl;
	const size_t nr_marks = sizeof(sanitizer_marks) /
				sizeof(sanitizer_marks[0]);
	int found = 0, shown = 0;
	size_t len, i;

	if (!e->errlog[0])
		return 0;
	text = fue_slurp(e->errlog);
	if (!text)
		return 0;
	len = strlen(text);
	/* fue_run() truncates the log for every run. */
	if ((off_t)len < e->errlog_scanned)
		e->errlog_scanned = 0;
	for (line = text + e->errlog_scanned; *line; line = nl + 1) {
		nl = strchr(line, '\n');
		/* A line still being written is judged on the next scan. */
		if (!nl)
			break;
		*nl = '\0';
		e->errlog_scanned = nl + 1 - text;
		for (i = 0; i < nr_marks; i++)
			if (strstr(line, sanitizer_marks[i]))
				break;
		if (i < nr_marks)
			found++;
		/* The report's stack follows its first line: show it all. */
		if (found && shown < SANITIZER_CONTEXT_LINES) {
			fprintf(stderr, "# daemon: %s\n", line);
			shown++;
		}
	}
	free(text);
	if (found)
		fue_log("%d sanitizer report line(s) in %s", found, e->errlog);
	e->sanitizer_reports += found;
	return found;
}

void fue_dump_file(const char *tag, const char *path)
{
	char *text = fue_slurp(path), *line, *save = NULL;

	if (!text)
		return;
	for (line = strtok_r(text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save))
		fprintf(stderr, "# %s: %s\n", tag, line);
	free(text);
}

void fue_dump_errlog(const struct fue_export *e)
{
	fue_dump_file("daemon", e->errlog);
}

/*
 * Wait until the daemon's stderr holds text; 0 or -ETIMEDOUT.  For the
 * lines a test aid prints when it acts.
 */
int fue_wait_errlog(const struct fue_export *e, const char *text,
		    int timeout_ms)
{
	long long deadline = fue_now_ms() + timeout_ms;

	for (;;) {
		char *log = fue_slurp(e->errlog);
		bool found = log && strstr(log, text);

		free(log);
		if (found)
			return 0;
		if (fue_now_ms() >= deadline)
			return -ETIMEDOUT;
		fue_sleep_ms(20);
	}
}
