// SPDX-License-Identifier: GPL-2.0
/*
 * Mounting the export over a regular file with mount(2), finding its
 * fusectl connection, and taking it down again.
 *
 * Nothing here stat()s a path that may be a FUSE mount: a GETATTR to a
 * daemon that is stuck, or is this one before it serves, would hang.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "export.h"

#define FUSECTL_DIR "/sys/fs/fuse/connections"
#define FUSERMOUNT "fusermount3"
#define MOUNT_SUBTYPE "fuse-uring-export"

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
void mount_unescape(char *s)
{
	char *out = s;

	while (*s) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' &&
		    s[2] >= '0' && s[2] <= '7' && s[3] >= '0' && s[3] <= '7') {
			*out++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 +
					(s[3] - '0'));
			s += 4;
		} else {
			*out++ = *s++;
		}
	}
	*out = '\0';
}

/*
 * Find the topmost FUSE mount at @path in /proc/self/mountinfo whose parent
 * is mount @parent_id (any parent when 0) and return its device minor, or
 * -ENOENT.
 */
static int find_fuse_mount(const char *path, unsigned int parent_id,
			   unsigned int *minor_out)
{
	char *line = NULL;
	size_t cap = 0;
	int found = -ENOENT;
	FILE *f;

	f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return -errno;
	while (getline(&line, &cap, f) > 0) {
		unsigned int parent, major, minor;
		char mnt[4096], fstype[256];
		char *sep;

		if (sscanf(line, "%*u %u %u:%u %*s %4095s", &parent, &major,
			   &minor, mnt) != 4)
			continue;
		sep = strstr(line, " - ");
		if (!sep || sscanf(sep, " - %255s", fstype) != 1)
			continue;
		mount_unescape(mnt);
		if (strcmp(mnt, path) || strncmp(fstype, "fuse", 4) ||
		    (fstype[4] && fstype[4] != '.') ||
		    (parent_id && parent != parent_id))
			continue;
		*minor_out = minor;
		found = 0;
	}
	free(line);
	fclose(f);
	return found;
}

/* The mount a descriptor's file lives on, from its fdinfo; 0 if unknown. */
static unsigned int fd_mount_id(int fd)
{
	char path[64], line[128];
	unsigned int id = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "re");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "mnt_id: %u", &id) == 1)
			break;
	fclose(f);
	return id;
}

/*
 * Where the file held by @m->target_fd is now, as mountinfo shows mount
 * points: the kernel's own answer, so a renamed or replaced path cannot
 * make us look at, or unmount, another file.
 */
static int target_path(const struct export_mount *m, char *out, size_t len)
{
	char link[64];
	ssize_t got;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", m->target_fd);
	got = readlink(link, out, len - 1);
	if (got < 0)
		return -errno;
	if ((size_t)got >= len - 1)
		return -ENAMETOOLONG;
	out[got] = '\0';
	return 0;
}

/* Our mount over the target file: its connection number, or -errno. */
static int find_our_mount(const struct export_mount *m, unsigned int *minor)
{
	char path[sizeof(m->path)];
	int ret;

	ret = target_path(m, path, sizeof(path));
	if (ret)
		return ret;
	return find_fuse_mount(path, m->parent_id, minor);
}

/* Names what a refused MOUNTPOINT symlink points to, for the message. */
static void refuse_symlink(const char *mountpoint, const char *path)
{
	char target[PATH_MAX];
	ssize_t got;

	got = readlink(path, target, sizeof(target) - 1);
	if (got < 0)
		got = 0;
	target[got] = '\0';
	log_error("%s: is a symbolic link to %s; refusing to mount over a link (name the file itself)",
		  mountpoint, got ? target : "an unreadable target");
}

/*
 * Resolve MOUNTPOINT once and hold it: an O_PATH descriptor that does not
 * follow a last-component symlink.  Everything after (the mount, finding
 * the connection, the unmount) goes through that descriptor, so a path
 * swapped for a link after this check cannot move the mount elsewhere.
 */
int mount_prepare(struct export_mount *m, const char *mountpoint)
{
	char dir_buf[PATH_MAX], base_buf[PATH_MAX], real_dir[PATH_MAX];
	unsigned int minor;
	struct stat st;
	int err;

	memset(m, 0, sizeof(*m));
	m->abort_fd = -1;
	m->target_fd = -1;
	snprintf(dir_buf, sizeof(dir_buf), "%s", mountpoint);
	snprintf(base_buf, sizeof(base_buf), "%s", mountpoint);
	if (!realpath(dirname(dir_buf), real_dir)) {
		err = errno;
		log_error("%s: %s", mountpoint, strerror(err));
		return -err;
	}
	if ((size_t)snprintf(m->path, sizeof(m->path), "%s/%s",
			     strcmp(real_dir, "/") ? real_dir : "",
			     basename(base_buf)) >= sizeof(m->path)) {
		log_error("%s: path too long", mountpoint);
		return -ENAMETOOLONG;
	}
	if (find_fuse_mount(m->path, 0, &minor) == 0) {
		log_error("%s: already a FUSE mount (unmount it first)",
			  mountpoint);
		return -EBUSY;
	}
	m->target_fd = open(m->path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (m->target_fd < 0) {
		err = errno;
		log_error("%s: %s (the mount point must be an existing regular file)",
			  mountpoint, strerror(err));
		return -err;
	}
	if (fstat(m->target_fd, &st) < 0) {
		err = errno;
		log_error("%s: %s", mountpoint, strerror(err));
		goto fail;
	}
	if (S_ISLNK(st.st_mode)) {
		refuse_symlink(mountpoint, m->path);
		err = ELOOP;
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		log_error("%s: not a regular file (the export is one file, so it mounts over a file)",
			  mountpoint);
		err = EINVAL;
		goto fail;
	}
	m->parent_id = fd_mount_id(m->target_fd);
	return 0;
fail:
	close(m->target_fd);
	m->target_fd = -1;
	return -err;
}

static int open_abort_file(unsigned int conn)
{
	char path[128];
	int fd;

	snprintf(path, sizeof(path), FUSECTL_DIR "/%u/abort", conn);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

/*
 * fusectl must be mounted for the abort file to exist.  Only root may
 * mount it; without root the daemon uses it where the system has.
 * Returns true when this call mounted it.
 */
static bool mount_fusectl(void)
{
	if (geteuid() != 0 || access(FUSECTL_DIR "/", F_OK) != 0)
		return false;
	if (mount("fusectl", FUSECTL_DIR, "fusectl", 0, NULL) == 0)
		return true;
	if (errno != EBUSY)
		log_debug("cannot mount fusectl: %s", strerror(errno));
	return false;
}

static int mount_direct(struct export_mount *m, const char *source,
			bool read_only, bool allow_other, uint32_t max_read)
{
	unsigned long flags = MS_NOSUID | MS_NODEV | MS_NOATIME;
	char opts[256], target[64];
	int fd;

	fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		int err = errno;

		log_error("/dev/fuse: %s (is the fuse module loaded? try: modprobe fuse)",
			  strerror(err));
		return -err;
	}
	if (read_only)
		flags |= MS_RDONLY;
	snprintf(opts, sizeof(opts),
		 "fd=%d,rootmode=%o,user_id=%u,group_id=%u,max_read=%u,default_permissions%s",
		 fd, S_IFREG, getuid(), getgid(), max_read,
		 allow_other ? ",allow_other" : "");
	/* The file checked in mount_prepare(), whatever the path holds now. */
	snprintf(target, sizeof(target), "/proc/self/fd/%d", m->target_fd);
	if (mount(source, target, "fuse." MOUNT_SUBTYPE, flags, opts) < 0) {
		int err = errno;

		log_error("%s: mount failed: %s", m->path, strerror(err));
		close(fd);
		return -err;
	}
	return fd;
}

/* Runs fusermount3 with @args; returns its exit status or -errno. */
static int run_fusermount(const char *const *args, int comm_fd)
{
	char env[32];
	int status;
	pid_t pid;

	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		if (comm_fd >= 0) {
			/* The socket must survive exec; nothing else need. */
			fcntl(comm_fd, F_SETFD, 0);
			snprintf(env, sizeof(env), "%d", comm_fd);
			setenv("_FUSE_COMMFD", env, 1);
		}
		execvp(FUSERMOUNT, (char *const *)args);
		fprintf(stderr, "%s: cannot run %s: %s\n", PROGRAM_NAME,
			FUSERMOUNT, strerror(errno));
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

/* fusermount3 hands the /dev/fuse descriptor back over the socket. */
static int receive_fd(int sock)
{
	char data, control[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { .iov_base = &data, .iov_len = 1 };
	struct msghdr msg = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = control,
		.msg_controllen = sizeof(control),
	};
	struct cmsghdr *cmsg;
	int fd;

	if (recvmsg(sock, &msg, MSG_CMSG_CLOEXEC) <= 0)
		return -EIO;
	cmsg = CMSG_FIRSTHDR(&msg);
	if (!cmsg || cmsg->cmsg_level != SOL_SOCKET ||
	    cmsg->cmsg_type != SCM_RIGHTS)
		return -EIO;
	memcpy(&fd, CMSG_DATA(cmsg), sizeof(fd));
	return fd;
}

/*
 * Without root, mount(2) is not ours to call: the setuid fusermount3
 * mounts, checks that we may, and passes the descriptor back.
 */
static int mount_fusermount(struct export_mount *m, bool read_only,
			    bool allow_other, uint32_t max_read)
{
	const char *args[] = { FUSERMOUNT, "-o", NULL, "--", m->path, NULL };
	char opts[256];
	int socks[2], status, fd;

	snprintf(opts, sizeof(opts),
		 "%s,nosuid,nodev,noatime,max_read=%u,default_permissions,subtype=%s,fsname=%s%s",
		 read_only ? "ro" : "rw", max_read, MOUNT_SUBTYPE,
		 MOUNT_SUBTYPE, allow_other ? ",allow_other" : "");
	args[2] = opts;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, socks) < 0)
		return -errno;
	status = run_fusermount(args, socks[1]);
	close(socks[1]);
	fd = status == 0 ? receive_fd(socks[0]) : -EPERM;
	close(socks[0]);
	if (fd < 0)
		log_error("%s: %s could not mount it (exit status %d; see its message above)",
			  m->path, FUSERMOUNT, status);
	else
		m->via_fusermount = true;
	return fd;
}

/* Returns the connection's /dev/fuse descriptor, or -errno. */
int mount_export(struct export_mount *m, const char *source, bool read_only,
		 bool allow_other, uint32_t max_read)
{
	bool fusectl_ours;
	int fd;

	if (geteuid() == 0)
		fd = mount_direct(m, source, read_only, allow_other, max_read);
	else
		fd = mount_fusermount(m, read_only, allow_other, max_read);
	if (fd < 0)
		return fd;
	m->mounted = true;
	m->allow_other = allow_other;
	fusectl_ours = mount_fusectl();
	if (find_our_mount(m, &m->conn) < 0) {
		log_error("%s: mounted, but not found in mountinfo", m->path);
	} else {
		m->has_conn = true;
		/*
		 * The kernel gives a connection's fusectl directory (0500)
		 * and abort file (0200) to the user who mounted it, so this
		 * works without root too, wherever fusectl is mounted.
		 */
		m->abort_fd = open_abort_file(m->conn);
		if (m->abort_fd < 0)
			log_debug("%s/%u/abort: %s; the connection cannot be aborted, open files keep it until they are closed",
				  FUSECTL_DIR, m->conn,
				  strerror(-m->abort_fd));
	}
	/*
	 * The open abort file keeps fusectl alive for this daemon; a mount
	 * of it made only for that is not left on the system.
	 */
	if (fusectl_ours && umount2(FUSECTL_DIR, MNT_DETACH) < 0)
		log_debug("cannot detach fusectl: %s", strerror(errno));
	return fd;
}

/* Our own mount is still there: found by connection, not just by path. */
bool mount_present(const struct export_mount *m)
{
	unsigned int minor;
	int ret = find_our_mount(m, &minor);

	/* Unable to look (out of descriptors, say): assume it is there. */
	if (ret < 0 && ret != -ENOENT)
		return true;
	return ret == 0 && minor == m->conn;
}

/*
 * Detach: a file still open through the mount keeps the connection up
 * until it is closed, so in-flight requests finish normally.
 */
void mount_remove(struct export_mount *m)
{
	const char *args[] = { FUSERMOUNT, "-u", "-z", "-q", "--", m->path,
			       NULL };
	char target[64];

	if (!m->mounted)
		return;
	if (!mount_present(m)) {
		m->mounted = false;
		return;
	}
	if (m->via_fusermount) {
		if (run_fusermount(args, -1) != 0)
			log_error("%s: %s -u failed", m->path, FUSERMOUNT);
	} else {
		/*
		 * Through the held descriptor: the kernel walks from the
		 * covered file up to the mount on it, ours as just checked.
		 */
		snprintf(target, sizeof(target), "/proc/self/fd/%d",
			 m->target_fd);
		if (umount2(target, MNT_DETACH) < 0 && errno != EINVAL &&
		    errno != ENOENT)
			log_error("%s: unmount failed: %s", m->path,
				  strerror(errno));
	}
	m->mounted = false;
}

/*
 * Abort through the file opened at mount time: when the daemon must give
 * up because it ran out of descriptors, it could open no new one.
 */
int mount_abort(const struct export_mount *m)
{
	int fd = m->abort_fd;
	int ret = 0;

	if (!m->has_conn)
		return -ENOENT;
	if (fd < 0)
		fd = open_abort_file(m->conn);
	if (fd < 0)
		return fd;
	if (write(fd, "1", 1) < 0)
		ret = -errno;
	if (fd != m->abort_fd)
		close(fd);
	return ret;
}

void mount_release(struct export_mount *m)
{
	if (m->abort_fd >= 0)
		close(m->abort_fd);
	if (m->target_fd >= 0)
		close(m->target_fd);
	m->abort_fd = -1;
	m->target_fd = -1;
}
