# Sourced by the end-to-end scripts: start_server PROGRAM ARGS... runs an
# example server that prints "listening on 127.0.0.1:PORT" first (within
# 20 s, time enough under valgrind), sets
# $pid and $port, and kills it on exit.  The caller passes --port 0.
start_server() {
	srv_log=$(mktemp)
	"$@" >"$srv_log" 2>&1 &
	pid=$!
	trap 'kill $pid 2>/dev/null || true; rm -f "$srv_log"' EXIT
	port=
	for i in $(seq 400); do
		port=$(sed -n 's/.*listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$srv_log")
		[ -n "$port" ] && return 0
		sleep 0.05
	done
	echo "$1 did not start"; cat "$srv_log"
	exit 1
}

# expect_idle: the server used under 10% of a CPU (user + system ticks of
# /proc/PID/stat) over one second; sets $t to the ticks, fails otherwise
expect_idle() {
	sleep 0.1
	t=$(idle_ticks_); sleep 1; t=$(( $(idle_ticks_) - t ))
	hz=$(getconf CLK_TCK)
	[ "$t" -lt $((hz / 10)) ] || { echo "$t ticks of $hz in an idle second"; exit 1; }
}
idle_ticks_() { awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$pid/stat"; }

# stop_within_1s: SIGTERM; returns 1 if the server still runs 1 s later,
# else 0 with its exit status in $rc
stop_within_1s() {
	kill -TERM "$pid"
	for i in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.01; done
	kill -0 "$pid" 2>/dev/null && return 1
	wait "$pid"; rc=$?
	return 0
}

# expect_fd_episode NAME MAX: the server's log shows it ran out of fds (or
# the test tested nothing) in at most MAX lines; sets $lines
expect_fd_episode() {
	grep -q "Too many open files" "$srv_log" ||
		{ echo "$1 never ran out of fds: the test tests nothing"; cat "$srv_log"; exit 1; }
	lines=$(grep -c . "$srv_log")
	[ "$lines" -le "$2" ] || { echo "$lines lines logged:"; head -30 "$srv_log"; exit 1; }
}
