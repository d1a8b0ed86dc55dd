// SPDX-License-Identifier: GPL-2.0
/*
 * --trace: one line per request and one per reply, with the thread, the
 * kernel queue, the transport, and the reply's latency; and the latency
 * and byte figures --stats reports per opcode.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "compiler.h"
#include "export.h"

bool trace_requests_on;
static FILE *trace_file;
static uint64_t trace_epoch_ns;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000 + (uint64_t)ts.tv_nsec;
}

int trace_open(const char *path)
{
	trace_epoch_ns = now_ns();
	if (!path)
		return 0;
	if (!strcmp(path, "-")) {
		trace_file = stderr;
	} else {
		struct stat st;
		bool created;
		int fd;

		/* Every offset the client touched: for our user's eyes only. */
		fd = daemon_open_output("--trace", path, 0600, &created);
		if (fd < 0)
			return fd;
		if (!fstat(fd, &st) && S_ISREG(st.st_mode))
			(void)!ftruncate(fd, 0);
		trace_file = fdopen(fd, "w");
		if (!trace_file) {
			int err = errno;

			log_error("--trace=%s: %s", path, strerror(err));
			close(fd);
			return -err;
		}
		/* Whole lines, in order, even if the daemon is killed. */
		setvbuf(trace_file, NULL, _IOLBF, 0);
	}
	trace_requests_on = true;
	return 0;
}

void trace_close(void)
{
	if (trace_file && trace_file != stderr)
		fclose(trace_file);
	trace_file = NULL;
}

/* Where an opcode's offset and size live, for the ones that have them. */
static void note_range(struct fuse_request *req)
{
	const struct fuse_read_in *rd = req->arg;
	const struct fuse_write_in *wr = req->arg;
	const struct fuse_fallocate_in *fa = req->arg;
	const struct fuse_lseek_in *ls = req->arg;
	const struct fuse_setattr_in *sa = req->arg;

	req->obs.offset = 0;
	req->obs.size = 0;
	switch (req->obs.opcode) {
	case FUSE_READ:
		req->obs.offset = rd->offset;
		req->obs.size = rd->size;
		break;
	case FUSE_WRITE:
		req->obs.offset = wr->offset;
		req->obs.size = wr->size;
		break;
	case FUSE_FALLOCATE:
		req->obs.offset = fa->offset;
		req->obs.size = (uint32_t)fa->length;
		break;
	case FUSE_LSEEK:
		req->obs.offset = ls->offset;
		break;
	case FUSE_SETATTR:
		req->obs.offset = sa->size;
		break;
	}
}

/* FSYNC asks for fdatasync or for fsync: the trace says which. */
static const char *sync_kind(const struct fuse_request *req)
{
	const struct fuse_fsync_in *in = req->arg;

	if (req->obs.opcode != FUSE_FSYNC || req->arg_len < sizeof(*in))
		return "";
	return in->fsync_flags & FUSE_FSYNC_FDATASYNC ? " sync=fdatasync" :
						       " sync=fsync";
}

static void trace_prefix(char *buf, size_t len, struct fuse_request *req,
			 uint64_t at_ns)
{
	uint64_t rel = at_ns - trace_epoch_ns;

	snprintf(buf, len, "%" PRIu64 ".%06" PRIu64 " t%u q%d %s",
		 rel / 1000000000, rel % 1000000000 / 1000,
		 req->thread->index, req->qid, req->transport->name);
}

/* Called once the request is decoded and its size checked. */
void trace_observe_begin(struct fuse_request *req)
{
	char prefix[96];

	req->obs.start_ns = now_ns();
	req->obs.image_ns = 0;
	req->obs.unique = req->in->unique;
	req->obs.opcode = req->in->opcode;
	if (req->arg_len >= decode_arg_size(req->obs.opcode))
		note_range(req);
	if (!trace_file)
		return;
	trace_prefix(prefix, sizeof(prefix), req, req->obs.start_ns);
	fprintf(trace_file, "%s > %" PRIu64 " %s node=%" PRIu64
		" off=%" PRIu64 " size=%u%s\n", prefix, req->obs.unique,
		decode_opcode_name(req->obs.opcode), (uint64_t)req->in->nodeid,
		req->obs.offset, req->obs.size, sync_kind(req));
}

void trace_observe_image_begin(struct fuse_request *req)
{
	req->obs.image_start_ns = now_ns();
}

void trace_observe_image_end(struct fuse_request *req)
{
	req->obs.image_ns = now_ns() - req->obs.image_start_ns;
}

void trace_observe_end(struct fuse_request *req, int error, uint32_t len)
{
	uint64_t end = now_ns();
	uint64_t lat_us = (end - req->obs.start_ns) / 1000;
	uint64_t image_us = req->obs.image_ns ? req->obs.image_ns / 1000 :
					    STATS_NO_IMAGE;
	char prefix[96], image[32] = "";
	uint64_t bytes = 0;

	if (!error && req->obs.opcode == FUSE_READ)
		bytes = len;
	else if (!error && req->obs.opcode == FUSE_WRITE &&
		 len >= sizeof(struct fuse_write_out))
		bytes = ((const struct fuse_write_out *)req->reply)->size;
	stats_record(&req->thread->stats, req->obs.opcode, lat_us, image_us,
		     bytes);
	if (!trace_file)
		return;
	trace_prefix(prefix, sizeof(prefix), req, end);
	if (image_us != STATS_NO_IMAGE)
		snprintf(image, sizeof(image), " image=%" PRIu64 "us",
			 image_us);
	fprintf(trace_file, "%s < %" PRIu64 " %s %s len=%u %" PRIu64 "us%s\n",
		prefix, req->obs.unique, decode_opcode_name(req->obs.opcode),
		error ? strerrorname_np(-error) : "OK", len, lat_us, image);
}
