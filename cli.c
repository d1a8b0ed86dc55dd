// SPDX-License-Identifier: GPL-2.0
/*
 * The command line: every misuse is one line naming the option and the
 * reason, and exit status 2, before anything is opened or mounted.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "export.h"

enum {
	OPT_ALLOW_OTHER = 256,
	OPT_IO_URING,
	OPT_ZERO_COPY,
	OPT_POOL,
	OPT_QUEUE_DEPTH,
	OPT_MAX_IO,
	OPT_DIRECT,
	OPT_STATS,
	OPT_DAEMONIZE,
	OPT_PIDFILE,
	OPT_FAIL_IO,
	OPT_FAIL_COMPLETION,
	OPT_HOLD_SYNC,
	OPT_FAIL_REGISTER,
	OPT_FAIL_THREAD,
	OPT_FAIL_POOL,
	OPT_PIN,
	OPT_POLL,
};

static const char usage_text[] =
"Usage: " PROGRAM_NAME " [OPTION]... IMAGE MOUNTPOINT\n"
"Export the raw image IMAGE as the one regular file MOUNTPOINT through FUSE,\n"
"served over FUSE-over-io_uring when the kernel offers it, else /dev/fuse.\n"
"\n"
"  -w, --writable               allow writes (default: read-only, mounted ro)\n"
"  -g, --growable[=SIZE]        writes past the end grow IMAGE, up to SIZE\n"
"                               (default: its size plus the space its file\n"
"                               system leaves to non-root users); needs\n"
"                               --writable; regular files and null: only\n"
"      --allow-other=on|off|auto  let other users reach the file\n"
"                               (default auto: on when permitted)\n"
"      --io-uring=on|off|auto   transport: on fails unless the kernel offers\n"
"                               FUSE-over-io_uring, off uses /dev/fuse only,\n"
"                               auto (default) uses the ring when offered\n"
"  -q, --queues=N               queue threads (default: online CPUs); kernel\n"
"                               queues are dealt round-robin over them, so\n"
"                               with the ring there is at most one a queue\n"
"      --queue-depth=N          ring entries per kernel queue, and /dev/fuse\n"
"                               reads per thread without the ring\n"
"                               (default 32; 128 on the ring with buffer\n"
"                               pools; at most 4096)\n"
"      --pool=N                 with buffer pools (FUSE 7.46): payload\n"
"                               buffers per kernel queue, shared by its\n"
"                               entries (default 32, at most the depth);\n"
"                               0: a buffer per entry, no pools\n"
"      --zero-copy=on|off|auto  with buffer pools, READ and WRITE data go\n"
"                               between the client's pages and IMAGE with\n"
"                               no copy (needs CAP_SYS_ADMIN); on fails\n"
"                               unless possible, auto (default) uses it\n"
"                               when possible and says why not\n"
"      --pin=on|off             pin each queue thread to the CPUs of its\n"
"                               kernel queues (default on; ring only)\n"
"      --poll=USEC              with 1 to 4 image I/Os of up to 64 KiB in\n"
"                               flight, spin up to USEC for one to complete\n"
"                               before a queue thread sleeps (default 100,\n"
"                               at most 10000; 0 never spins)\n"
"      --max-io=SIZE            largest READ/WRITE in bytes, K/M suffixes\n"
"                               (default 1M, from 4K to 16M; the kernel's\n"
"                               max_pages_limit caps it further)\n"
"      --direct                 open IMAGE with O_DIRECT\n"
"      --stats                  print per-queue counters and per-opcode\n"
"                               latencies at exit; SIGUSR1 prints them at\n"
"                               any time\n"
"      --daemonize              detach once the export is serving; exit\n"
"                               non-zero with the reason if it cannot\n"
"      --pidfile=FILE           write the serving daemon's pid to FILE\n"
"  -t, --trace[=FILE]           one line per request and per reply, with its\n"
"                               latency, to stderr or FILE\n"
"  -v, --verbose                report the INIT negotiation and the setup\n"
"      --fail-io=WHAT:OFFSET+LENGTH[:ERRNO]  test aid: fail reads, writes\n"
"                               or both (WHAT is read, write or rw) that\n"
"                               touch the range, with EIO (default), ENOSPC\n"
"                               or EROFS\n"
"      --fail-io=sync[:ERRNO]   test aid: fail every fdatasync and fsync of\n"
"                               IMAGE (FLUSH, FSYNC and the one at exit)\n"
"      --fail-completion=read|write:OFFSET:RESULT  test aid: the first\n"
"                               read or write of IMAGE at OFFSET runs,\n"
"                               then reports RESULT (EIO, ENOSPC, EROFS\n"
"                               or a byte count) instead\n"
"      --fail-completion=sync:N:RESULT  test aid: the N-th sync of IMAGE\n"
"                               reports RESULT (EIO, ENOSPC, EROFS or 0)\n"
"      --hold-sync=N:FIFO       test aid: the N-th sync of IMAGE completes\n"
"                               only once a byte can be read from FIFO\n"
"      --fail-register=N        test aid: send the N-th ring REGISTER and\n"
"                               all later ones with a bad qid, so that the\n"
"                               kernel refuses them\n"
"      --fail-thread=N          test aid: queue thread 0 fails, as if its\n"
"                               io_uring broke, once it has started the\n"
"                               image I/O of N requests\n"
"      --fail-pool=queue|bufpool  test aid: send the first ADD_QUEUE or\n"
"                               ADD_BUFPOOL with a bad qid, so that the\n"
"                               kernel refuses it\n"
"  -h, --help                   show this help and exit\n"
"  -V, --version                show the version and exit\n"
"\n"
"IMAGE is a regular file, a block device, or null:SIZE (reads return\n"
"zeroes, writes are discarded). MOUNTPOINT is an existing regular file,\n"
"which may be IMAGE itself. The export ends on SIGINT or SIGTERM, or when\n"
"MOUNTPOINT is unmounted.\n"
"\n"
"Exit status: 0 after a clean shutdown, 1 on a runtime error or an aborted\n"
"connection, 2 on a usage error.\n";

static const struct option long_options[] = {
	{ "writable", no_argument, NULL, 'w' },
	{ "growable", optional_argument, NULL, 'g' },
	{ "allow-other", required_argument, NULL, OPT_ALLOW_OTHER },
	{ "io-uring", required_argument, NULL, OPT_IO_URING },
	{ "zero-copy", required_argument, NULL, OPT_ZERO_COPY },
	{ "pool", required_argument, NULL, OPT_POOL },
	{ "queues", required_argument, NULL, 'q' },
	{ "queue-depth", required_argument, NULL, OPT_QUEUE_DEPTH },
	{ "pin", required_argument, NULL, OPT_PIN },
	{ "poll", required_argument, NULL, OPT_POLL },
	{ "max-io", required_argument, NULL, OPT_MAX_IO },
	{ "direct", no_argument, NULL, OPT_DIRECT },
	{ "stats", no_argument, NULL, OPT_STATS },
	{ "daemonize", no_argument, NULL, OPT_DAEMONIZE },
	{ "pidfile", required_argument, NULL, OPT_PIDFILE },
	{ "fail-io", required_argument, NULL, OPT_FAIL_IO },
	{ "fail-completion", required_argument, NULL, OPT_FAIL_COMPLETION },
	{ "hold-sync", required_argument, NULL, OPT_HOLD_SYNC },
	{ "fail-register", required_argument, NULL, OPT_FAIL_REGISTER },
	{ "fail-thread", required_argument, NULL, OPT_FAIL_THREAD },
	{ "fail-pool", required_argument, NULL, OPT_FAIL_POOL },
	{ "trace", optional_argument, NULL, 't' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

/* Parse "512", "4K", "1M", "2G" (powers of 1024) into bytes. */
int cli_parse_size(const char *s, uint64_t *out)
{
	unsigned long long value;
	unsigned int shift = 0;
	char *end;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	value = strtoull(s, &end, 10);
	if (errno)
		return -EINVAL;
	switch (*end) {
	case 'k': case 'K':
		shift = 10;
		break;
	case 'm': case 'M':
		shift = 20;
		break;
	case 'g': case 'G':
		shift = 30;
		break;
	case 't': case 'T':
		shift = 40;
		break;
	case '\0':
		break;
	default:
		return -EINVAL;
	}
	if (shift && *++end)
		return -EINVAL;
	if (value > (UINT64_MAX >> shift))
		return -ERANGE;
	*out = (uint64_t)value << shift;
	return 0;
}

static int parse_uint(const char *name, const char *s, unsigned int min,
		      unsigned int max, unsigned int *out)
{
	unsigned long value;
	char *end;

	errno = 0;
	if (*s < '0' || *s > '9')
		goto bad;
	value = strtoul(s, &end, 10);
	if (errno || *end)
		goto bad;
	if (value < min || value > max) {
		log_error("%s=%s: must be between %u and %u", name, s, min,
			  max);
		return -ERANGE;
	}
	*out = (unsigned int)value;
	return 0;
bad:
	log_error("%s=%s: not a number", name, s);
	return -EINVAL;
}

static int parse_tristate(const char *name, const char *s,
			  enum tristate *out)
{
	if (!strcmp(s, "on")) {
		*out = TRI_ON;
	} else if (!strcmp(s, "off")) {
		*out = TRI_OFF;
	} else if (!strcmp(s, "auto")) {
		*out = TRI_AUTO;
	} else {
		log_error("%s=%s: must be on, off or auto", name, s);
		return -EINVAL;
	}
	return 0;
}

static int parse_max_io(const char *s, uint32_t *out)
{
	uint64_t size;

	if (cli_parse_size(s, &size)) {
		log_error("--max-io=%s: not a size (e.g. 128K, 1M)", s);
		return -EINVAL;
	}
	if (size < MAX_IO_MIN || size > MAX_IO_MAX || size % 4096) {
		log_error("--max-io=%s: must be a multiple of 4K from 4K to 16M",
			  s);
		return -ERANGE;
	}
	*out = (uint32_t)size;
	return 0;
}

static int parse_image(struct export_options *opt, const char *image)
{
	opt->image = image;
	if (strncmp(image, "null:", 5))
		return 0;
	opt->null_image = true;
	if (cli_parse_size(image + 5, &opt->null_size) ||
	    opt->null_size > INT64_MAX) {
		log_error("%s: not a size (e.g. null:4G)", image);
		return -EINVAL;
	}
	return 0;
}

static unsigned int online_cpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n > 0 ? (unsigned int)n : 1;
}

/* The long name of option @c, for the test aids that fault.c parses. */
static const char *option_name(int c)
{
	const struct option *o;

	for (o = long_options; o->name; o++)
		if (o->val == c)
			break;
	return o->name;
}

static int parse_option(int c, struct export_options *opt)
{
	switch (c) {
	case 'w':
		opt->writable = true;
		return 0;
	case 'g':
		opt->growable = true;
		if (optarg && (cli_parse_size(optarg, &opt->grow_limit) ||
			       !opt->grow_limit ||
			       opt->grow_limit > INT64_MAX)) {
			log_error("--growable=%s: not a size (e.g. 64G)",
				  optarg);
			return -EINVAL;
		}
		return 0;
	case OPT_ALLOW_OTHER:
		return parse_tristate("--allow-other", optarg,
				      &opt->allow_other);
	case OPT_IO_URING:
		return parse_tristate("--io-uring", optarg, &opt->io_uring);
	case OPT_ZERO_COPY:
		return parse_tristate("--zero-copy", optarg, &opt->zero_copy);
	case OPT_POOL:
		opt->pool_given = true;
		return parse_uint("--pool", optarg, 0, QUEUE_DEPTH_MAX,
				  &opt->pool);
	case 'q':
		return parse_uint("--queues", optarg, 1, QUEUES_MAX,
				  &opt->queues);
	case OPT_QUEUE_DEPTH:
		return parse_uint("--queue-depth", optarg, 1, QUEUE_DEPTH_MAX,
				  &opt->queue_depth);
	case OPT_POLL:
		return parse_uint("--poll", optarg, 0, POLL_US_MAX,
				  &opt->poll_us);
	case OPT_MAX_IO:
		return parse_max_io(optarg, &opt->max_io);
	case OPT_PIN:
		if (!strcmp(optarg, "on") || !strcmp(optarg, "off")) {
			opt->pin = !strcmp(optarg, "on");
			return 0;
		}
		log_error("--pin=%s: must be on or off", optarg);
		return -EINVAL;
	case OPT_DIRECT:
		opt->direct = true;
		return 0;
	case OPT_STATS:
		opt->stats = true;
		return 0;
	case OPT_DAEMONIZE:
		opt->daemonize = true;
		return 0;
	case OPT_PIDFILE:
		opt->pidfile = optarg;
		return 0;
	case OPT_FAIL_IO:
	case OPT_FAIL_COMPLETION:
	case OPT_HOLD_SYNC:
	case OPT_FAIL_REGISTER:
	case OPT_FAIL_THREAD:
	case OPT_FAIL_POOL:
		return fault_parse_option(option_name(c), optarg, opt);
	case 't':
		opt->trace = optarg ? optarg : "-";
		return 0;
	case 'v':
		opt->verbose = true;
		return 0;
	default:
		return -EINVAL;
	}
}

/*
 * Returns CLI_RUN to go on, or the status to exit with at once: 0 after
 * --help or --version, EXIT_USAGE on a usage error.
 */
int cli_parse(int argc, char **argv, struct export_options *opt)
{
	int c;

	memset(opt, 0, sizeof(*opt));
	opt->allow_other = TRI_AUTO;
	opt->io_uring = TRI_AUTO;
	opt->zero_copy = TRI_AUTO;
	opt->queues = online_cpus();
	opt->pin = true;
	opt->poll_us = 100;
	opt->max_io = 1024 * 1024;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":wg::q:t::vhV", long_options,
				NULL)) != -1) {
		switch (c) {
		case 'h':
			fputs(usage_text, stdout);
			return EXIT_SUCCESS;
		case 'V':
			printf("%s %s\n", PROGRAM_NAME, PROGRAM_VERSION);
			return EXIT_SUCCESS;
		case '?':
			if (optopt)
				log_error("unknown option -%c (see --help)",
					  optopt);
			else
				log_error("unknown option %s (see --help)",
					  argv[optind - 1]);
			return EXIT_USAGE;
		case ':':
			log_error("option %s needs a value (see --help)",
				  argv[optind - 1]);
			return EXIT_USAGE;
		default:
			if (parse_option(c, opt))
				return EXIT_USAGE;
		}
	}
	if (argc - optind != 2) {
		log_error("expected IMAGE and MOUNTPOINT, got %d argument%s (see --help)",
			  argc - optind, argc - optind == 1 ? "" : "s");
		return EXIT_USAGE;
	}
	if (parse_image(opt, argv[optind]))
		return EXIT_USAGE;
	opt->mountpoint = argv[optind + 1];
	if (opt->growable && !opt->writable) {
		log_error("--growable needs --writable");
		return EXIT_USAGE;
	}
	log_verbose = opt->verbose;
	return CLI_RUN;
}
