# SPDX-License-Identifier: GPL-2.0
#
# bench/targets.sh, sourced by bench/run: start and stop one target at a
# time, and never leave its mount behind. Uses bench/run's $DAEMON, $img,
# $data (the directory holding only the image), $mnt (the file our export
# and qemu mount on), $peer_mnt (the directory passthrough_hp mounts on),
# $bytes, $work and $passthrough_hp.
# shellcheck disable=SC2154 # those are bench/run's

FUSECTL=/sys/fs/fuse/connections
# Seconds a target gets to stop on SIGTERM before it is aborted.
STOP_TIMEOUT=10
# Seconds a peer (qemu-storage-daemon, passthrough_hp) gets to mount.
PEER_MOUNT_TIMEOUT=10

# The target being measured: its pid (empty for raw), the start time from
# /proc/PID/stat that proves the pid is still the process we started,
# whether it is our child (a peer) rather than a daemonized one, and the
# mountpoint it was asked to mount on, if any.
cur_pid=
cur_start=
cur_child=0
cur_mnt=

# Fields of /proc/PID/stat after "(comm) ": [0] state, [11] utime,
# [12] stime, [19] starttime.
proc_stat()
{
	local s

	s=$(cat "/proc/$1/stat" 2> /dev/null) || return 1
	echo "${s##*) }"
}

# True while PID is alive and still the process we started.
alive()
{
	local f

	[ -n "$1" ] || return 1
	f=($(proc_stat "$1")) || return 1
	[ "${f[0]}" != Z ] && [ "${f[19]}" = "$cur_start" ]
}

wait_gone()
{
	local pid=$1 tries=$(($2 * 20))

	while alive "$pid" && [ $tries -gt 0 ]; do
		sleep 0.05
		tries=$((tries - 1))
	done
	! alive "$pid"
}

# "maj:min fstype" of the topmost mount on $1, nothing when none. The device
# comes from mountinfo: stat() of a FUSE mountpoint can hang on a stuck
# server. The paths are bench/run's own, with no character mountinfo
# escapes.
mount_of()
{
	local dev mp rest fstype found=

	while read -r _ _ dev _ mp rest; do
		[ "$mp" = "$1" ] || continue
		fstype=${rest#* - }
		found="$dev ${fstype%% *}"
	done < /proc/self/mountinfo
	[ -n "$found" ] && echo "$found"
}

# Stop the current target: SIGTERM, then after STOP_TIMEOUT abort its FUSE
# connection and detach the mount, then SIGKILL. Only the pid we started.
stop_target()
{
	local m dev fstype minor

	if alive "$cur_pid"; then
		kill -TERM "$cur_pid" 2> /dev/null
		wait_gone "$cur_pid" "$STOP_TIMEOUT"
	fi
	if [ -n "$cur_mnt" ] && m=$(mount_of "$cur_mnt"); then
		read -r dev fstype <<< "$m"
		case $fstype in
		fuse | fuse.*)
			minor=${dev#*:}
			if [ "${dev%%:*}" = 0 ] && [ -e "$FUSECTL/$minor/abort" ]; then
				echo 1 > "$FUSECTL/$minor/abort" 2> /dev/null
			fi
			umount -l "$cur_mnt" 2> /dev/null ||
				echo "bench: cannot unmount $cur_mnt" >&2
			;;
		esac
	fi
	if alive "$cur_pid"; then
		kill -KILL "$cur_pid" 2> /dev/null
		wait_gone "$cur_pid" 5
	fi
	if [ $cur_child -eq 1 ] && [ -n "$cur_pid" ]; then
		wait "$cur_pid" 2> /dev/null
	fi
	cur_pid=
	cur_start=
	cur_child=0
	cur_mnt=
}

# Our daemon on $mnt with the given options and image; its log goes to $1.
# Returns non-zero with the reason in the log when it cannot serve.
start_fue()
{
	local log=$1 pidfile=$work/pid f

	shift
	rm -f "$pidfile"
	cur_mnt=$mnt
	# -v logs the INIT exchange and why the daemon ended; nothing per I/O.
	"$DAEMON" --writable --stats -v --daemonize --pidfile="$pidfile" \
		"$@" "$mnt" 2>> "$log" || return 1
	cur_pid=$(cat "$pidfile" 2> /dev/null)
	if ! [[ $cur_pid =~ ^[0-9]+$ ]]; then
		echo "bench: no pid in $pidfile" >> "$log"
		cur_pid=
		return 1
	fi
	f=($(proc_stat "$cur_pid")) || {
		echo "bench: daemon $cur_pid is gone" >> "$log"
		cur_pid=
		return 1
	}
	cur_start=${f[19]}
}

# A peer started in the background as our child, logging to $1, that
# should mount a FUSE file system on $2 within PEER_MOUNT_TIMEOUT.
start_peer()
{
	local log=$1 where=$2 tries=$((PEER_MOUNT_TIMEOUT * 20)) f

	shift 2
	cur_mnt=$where
	"$@" >> "$log" 2>&1 < /dev/null &
	cur_pid=$!
	cur_child=1
	f=($(proc_stat "$cur_pid")) && cur_start=${f[19]}
	while [ $tries -gt 0 ]; do
		mount_of "$where" | grep -q ' fuse' && return 0
		alive "$cur_pid" || break
		sleep 0.05
		tries=$((tries - 1))
	done
	if alive "$cur_pid"; then
		echo "bench: $1 did not mount $where in $PEER_MOUNT_TIMEOUT s" >> "$log"
	else
		echo "bench: $1 ended before it mounted $where: $(tail -n 1 "$log")" >> "$log"
	fi
	return 1
}

start_qemu()
{
	start_peer "$1" "$mnt" qemu-storage-daemon \
		--blockdev "driver=file,node-name=f,filename=$img,cache.direct=on" \
		--blockdev driver=raw,node-name=r,file=f \
		--export "type=fuse,id=e,node-name=r,mountpoint=$mnt,writable=on"
}

# libfuse's example over the directory holding the image; every read and
# write goes through it (--nopassthrough: no kernel passthrough of the
# backing file), which opens the image with the caller's O_DIRECT.
# FUSE_INIT_STATUS makes libfuse log whether the ring was taken.
start_passthrough_hp()
{
	local log=$1

	shift
	FUSE_INIT_STATUS=1 start_peer "$log" "$peer_mnt" "$passthrough_hp" \
		--foreground --nopassthrough "$@" "$data" "$peer_mnt"
}

# Start target $1, logging to $2; sets $file to what fio runs on.
# base-TARGET is TARGET with the --baseline build of the daemon.
# shellcheck disable=SC2034 # bench/run reads $file
start_target()
{
	local ret

	if [ "${1#base-}" != "$1" ]; then
		DAEMON=$BASE_DAEMON
		start_target "${1#base-}" "$2"
		ret=$?
		DAEMON=$THIS_DAEMON
		return $ret
	fi
	file=$mnt
	case $1 in
	raw) file=$img; return 0 ;;
	ring) start_fue "$2" --io-uring=on "$img" ;;
	dev) start_fue "$2" --io-uring=off "$img" ;;
	ring-direct) start_fue "$2" --io-uring=on --direct "$img" ;;
	dev-direct) start_fue "$2" --io-uring=off --direct "$img" ;;
	ring-pin-off) start_fue "$2" --io-uring=on --pin=off "$img" ;;
	ring-direct-copies)
		start_fue "$2" --io-uring=on --direct --zero-copy=off "$img" ;;
	ring-direct-per-entry)
		start_fue "$2" --io-uring=on --direct --pool=0 "$img" ;;
	ring-null) start_fue "$2" --io-uring=on "null:$bytes" ;;
	dev-null) start_fue "$2" --io-uring=off "null:$bytes" ;;
	qemu) start_qemu "$2" ;;
	passthrough-hp)
		file=$peer_mnt/image
		start_passthrough_hp "$2"
		;;
	passthrough-hp-uring)
		file=$peer_mnt/image
		start_passthrough_hp "$2" -o io_uring
		;;
	esac
}

# Why a run of target $1 (log $2) measured the wrong thing, if it did;
# for peers, which have no --stats: libfuse says whether it took the ring.
wrong_peer_transport()
{
	local line

	[ "$1" = passthrough-hp-uring ] || return 1
	line=$(grep -o 'FUSE_INIT: io_uring=off[^ ]*' "$2" | tail -n 1)
	[ -n "$line" ] && echo "served over /dev/fuse (${line#FUSE_INIT: })"
}
