#!/bin/sh
# examples/echo-server out of fds (ulimit -n 32, 2 executor threads) with
# 60 connections at once: it must not spin.  Once they are gone it echoes
# again within 2 s, idles under 10% CPU, logged a few lines (not one per
# accept try), and SIGTERM stops it cleanly within 1 s.
set -u
b="${top_builddir:-.}/examples"
. "$(dirname "$0")/start-server.sh"
start_server sh -c "ulimit -n 32 && exec '$b/echo-server' --port 0 --threads 2"

# the load: 60 connections held 0.5 s; the first echoes on the way
got=$(timeout 10 bash -c '
	for i in $(seq 60); do exec {fd}<>"/dev/tcp/127.0.0.1/$1" || exit 1; done
	sleep 0.5' sh "$port" 2>&1) || { echo "load failed: $got"; exit 1; }

got=$(timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port; echo again >&3; head -n 1 <&3")
[ "$got" = again ] || { echo "no echo after the load: '$got'"; cat "$srv_log"; exit 1; }

expect_idle
stop_within_1s || { echo "still running 1 s after SIGTERM"; exit 1; }
[ "$rc" -eq 0 ] || { echo "exit status $rc after SIGTERM"; exit 1; }
expect_fd_episode echo-server 10
echo "out of fds: echoed again, idle at $t ticks/s, $lines lines logged, stopped by SIGTERM"
