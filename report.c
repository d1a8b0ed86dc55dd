// SPDX-License-Identifier: GPL-2.0
/*
 * What a kernel developer wants to know at startup: the INIT exchange in
 * words, the transport chosen, the queue deal and the memory it costs.
 */
#include <stdio.h>
#include <string.h>

#include "compiler.h"
#include "export.h"

/* INIT flag names by bit number: flags2 bits follow at 32 and up. */
static const char *const init_flag_names[64] = {
	[0] = "ASYNC_READ",		[1] = "POSIX_LOCKS",
	[2] = "FILE_OPS",		[3] = "ATOMIC_O_TRUNC",
	[4] = "EXPORT_SUPPORT",		[5] = "BIG_WRITES",
	[6] = "DONT_MASK",		[7] = "SPLICE_WRITE",
	[8] = "SPLICE_MOVE",		[9] = "SPLICE_READ",
	[10] = "FLOCK_LOCKS",		[11] = "HAS_IOCTL_DIR",
	[12] = "AUTO_INVAL_DATA",	[13] = "DO_READDIRPLUS",
	[14] = "READDIRPLUS_AUTO",	[15] = "ASYNC_DIO",
	[16] = "WRITEBACK_CACHE",	[17] = "NO_OPEN_SUPPORT",
	[18] = "PARALLEL_DIROPS",	[19] = "HANDLE_KILLPRIV",
	[20] = "POSIX_ACL",		[21] = "ABORT_ERROR",
	[22] = "MAX_PAGES",		[23] = "CACHE_SYMLINKS",
	[24] = "NO_OPENDIR_SUPPORT",	[25] = "EXPLICIT_INVAL_DATA",
	[26] = "MAP_ALIGNMENT",		[27] = "SUBMOUNTS",
	[28] = "HANDLE_KILLPRIV_V2",	[29] = "SETXATTR_EXT",
	[30] = "INIT_EXT",		[31] = "INIT_RESERVED",
	[32] = "SECURITY_CTX",		[33] = "HAS_INODE_DAX",
	[34] = "CREATE_SUPP_GROUP",	[35] = "HAS_EXPIRE_ONLY",
	[36] = "DIRECT_IO_ALLOW_MMAP",	[37] = "PASSTHROUGH",
	[38] = "NO_EXPORT_SUPPORT",	[39] = "HAS_RESEND",
	[40] = "ALLOW_IDMAP",		[41] = "OVER_IO_URING",
	[42] = "REQUEST_TIMEOUT",	[43] = "HAS_IO_URING_BUFPOOL",
};

static const char *report_flag_name(unsigned int bit)
{
	return bit < 64 ? init_flag_names[bit] : NULL;
}

static void flag_words(uint64_t flags, char *buf, size_t len)
{
	size_t used = 0;
	unsigned int bit;

	buf[0] = '\0';
	for (bit = 0; bit < 64 && used < len; bit++) {
		const char *name = report_flag_name(bit);
		char unknown[16];

		if (!(flags & (1ULL << bit)))
			continue;
		if (!name) {
			snprintf(unknown, sizeof(unknown), "BIT%u", bit);
			name = unknown;
		}
		used += (size_t)snprintf(buf + used, len - used, "%s%s",
					 used ? " " : "", name);
	}
}

void report_init(const struct export *exp, const struct init_result *init)
{
	char words[1024];

	if (!log_verbose)
		return;
	log_debug("INIT: kernel FUSE %u.%u, ours %u.%u, speaking %u.%u",
		  init->kernel_major, init->kernel_minor, FUE_PROTO_MAJOR,
		  FUE_PROTO_MINOR, FUE_PROTO_MAJOR, init->minor);
	flag_words(init->offered, words, sizeof(words));
	log_debug("INIT: offered %s", words);
	flag_words(init->granted, words, sizeof(words));
	log_debug("INIT: granted %s", words);
	log_debug("INIT: max_write %u, max_pages %u, max_background %u",
		  init->max_write, init->max_pages, init->out.max_background);
	log_debug("transport: %s%s%s", init->uring ? "ring" : "/dev/fuse",
		  init->uring ? "" : " because ",
		  init->uring ? "" : init->no_uring_reason);
	(void)exp;
}

/* The io_uring_setup() flags ring_setup() may choose among. */
static const struct {
	unsigned int flag;
	const char *name;
} ring_flag_names[] = {
	{ IORING_SETUP_SQE128, "SQE128" },
	{ IORING_SETUP_CQSIZE, "CQSIZE" },
	{ IORING_SETUP_COOP_TASKRUN, "COOP_TASKRUN" },
	{ IORING_SETUP_SINGLE_ISSUER, "SINGLE_ISSUER" },
	{ IORING_SETUP_DEFER_TASKRUN, "DEFER_TASKRUN" },
	{ IORING_SETUP_TASKRUN_FLAG, "TASKRUN_FLAG" },
};

static void report_ring(const struct queue_thread *t)
{
	char words[128];
	size_t used = 0, i;

	words[0] = '\0';
	for (i = 0; i < ARRAY_SIZE(ring_flag_names);
	     i++)
		if (t->ring_flags & ring_flag_names[i].flag)
			used += (size_t)snprintf(words + used,
						 sizeof(words) - used, "%s%s",
						 used ? " " : "",
						 ring_flag_names[i].name);
	log_debug("io_uring: %s (the first of DEFER_TASKRUN, COOP_TASKRUN, neither that this kernel accepts)",
		  words);
	log_debug("/dev/fuse reader: POLL_ADD on the ring, then non-blocking read(2) (io_uring never reads /dev/fuse: it cannot without a worker thread, and Linux 6.1 spins on it)");
}

/* What the ring's buffers take, at most, in MiB: headers and payloads. */
static double ring_memory_mib(const struct export *exp)
{
	unsigned int qid, i, entries = 0, buffers = 0;
	double bytes;

	for (i = 0; exp->uring && exp->threads && i < exp->nr_threads; i++)
		entries += exp->threads[i].nr_entries;
	if (!exp->bufpool) {
		/* Each entry: its payload and a page for its header. */
		bytes = (double)entries * (exp->payload_size + 4096);
		log_debug("ring buffers: %u entries (--queue-depth per queue with an online CPU, 1 per other queue) x (%u B payload + 4 KiB header) = %.1f MiB",
			  entries, exp->payload_size, bytes / (1024.0 * 1024.0));
		return bytes / (1024.0 * 1024.0);
	}
	for (qid = 0; qid < exp->nr_queues; qid++)
		buffers += cpus_qid_entries(qid, &exp->online,
					    exp->pool_buffers);
	bytes = (double)buffers * exp->payload_size + (double)entries * 512;
	log_debug("ring buffers: %u entries (--queue-depth per queue with an online CPU, 1 per other queue) x 512 B header, sharing pools of %u buffers (--pool per queue with an online CPU, 1 per other queue) x %u B payload = %.1f MiB; zero copy %s",
		  entries, buffers, exp->payload_size,
		  bytes / (1024.0 * 1024.0),
		  READ_ONCE(exp->zero_copy) ? "on" : "off");
	return bytes / (1024.0 * 1024.0);
}

void report_serving(const struct export *exp, const struct export_mount *m)
{
	double ring_mib = exp->uring ? ring_memory_mib(exp) : 0;
	unsigned int qid;

	if (log_verbose && exp->threads)
		report_ring(&exp->threads[0]);
	for (qid = 0; log_verbose && exp->uring && qid < exp->nr_queues; qid++)
		log_debug("qid %u -> thread %u", qid,
			  cpus_qid_owner(qid, exp->nr_threads));
	log_info("serving %s at %s: transport %s%s, %u kernel queues, %u threads, depth %u, max I/O %u KiB, ring memory %.1f MiB, fusectl connection %u",
		 exp->opt.image, m->path,
		 export_on_ring(exp) ? "ring" : "/dev/fuse",
		 !export_on_ring(exp) ? "" :
		 READ_ONCE(exp->zero_copy) ? " (buffer pools, zero copy)" :
		 exp->bufpool ? " (buffer pools)" : "",
		 exp->nr_queues, exp->nr_threads, exp->queue_depth,
		 exp->init->max_write / 1024, ring_mib, m->conn);
}
