#!/bin/sh
# examples/delayserver out of fds (ulimit -n 64, 2 executor threads, so
# two listeners back off) with 80 connections held open at once, each with
# a request waiting 100 ms: it must not spin.  Once they are gone it
# answers again within 1 s, idles under 10% of a CPU, logged a bounded
# number of lines (not one per accept try, nor per listener), and SIGTERM
# stops it cleanly within 1 s.  (tests/test_e2e.c does the same in
# process, through delay_server_main.)
set -u
b="${top_builddir:-.}/examples"
[ -x "$b/delayserver" ] || { echo "delayserver not built (http_parser)"; exit 77; }
. "$(dirname "$0")/start-server.sh"
start_server sh -c "ulimit -n 64 && exec '$b/delayserver' --port 0 --threads 2"

# the load: 80 connections, each sending a request, held 0.5 s
got=$(timeout 10 bash -c '
	for i in $(seq 80); do
		exec {fd}<>"/dev/tcp/127.0.0.1/$1" || exit 1
		printf "GET /100/load$i HTTP/1.1\r\n\r\n" >&$fd
	done
	sleep 0.5' sh "$port" 2>&1) || { echo "load failed: $got"; exit 1; }

got=$(timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port
	printf 'GET /0/again HTTP/1.1\r\nConnection: close\r\n\r\n' >&3
	cat <&3" | tr -d '\r' | tail -n 1)
[ "$got" = again ] || { echo "no answer within 1 s after the load: '$got'"; cat "$srv_log"; exit 1; }

expect_idle
stop_within_1s || { echo "still running 1 s after SIGTERM"; exit 1; }
[ "$rc" -eq 0 ] || { echo "exit status $rc after SIGTERM"; exit 1; }
expect_fd_episode delayserver 19
echo "out of fds: answered again, idle at $t ticks/s, $lines lines logged, stopped by SIGTERM"
cat "$srv_log"
