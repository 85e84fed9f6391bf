#!/bin/sh
# examples/echo-server with 3 executor threads: four clients at once each
# get back exactly what they sent.  Then every thread accepts: 96
# connections from 96 client ports, spread over the 3 listeners
# (SO_REUSEPORT) by a hash of addresses and ports, all miss one listener
# with a chance of 3 (2/3)^96, under 1e-16; the count each thread
# accepted is printed at SIGTERM.
set -u
b="${top_builddir:-.}/examples"
. "$(dirname "$0")/start-server.sh"
start_server "$b/echo-server" --port 0 --threads 3
fail=0
clients=""
for c in 1 2 3 4; do
	(
		msg="client $c: $(seq -s, 1 500)"
		got=$(timeout 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port; printf '%s\n' '$msg' >&3; head -n 1 <&3")
		[ "$got" = "$msg" ] || { echo "client $c got: $got"; exit 1; }
	) &
	clients="$clients $!"
done
for c in $clients; do wait "$c" || fail=1; done
[ $fail -eq 0 ] || exit 1
echo "4 clients echoed back exactly"

got=$(timeout 10 bash -c '
	for i in $(seq 96); do exec {fd}<>"/dev/tcp/127.0.0.1/$1" || exit 1; done
	exec 3<>"/dev/tcp/127.0.0.1/$1"; echo last >&3; head -n 1 <&3' sh "$port")
[ "$got" = last ] || { echo "the last of 97 connections got: '$got'"; exit 1; }
sleep 0.5 # the listeners get to the connections that were closed unaccepted
kill -TERM "$pid"
wait "$pid" || { echo "exit status $? after SIGTERM"; exit 1; }
counts=$(sed -n 's/.*connections accepted by thread: //p' "$srv_log")
set -- $counts
[ $# -eq 3 ] || { echo "no per-thread counts:"; cat "$srv_log"; exit 1; }
[ $(($1 + $2 + $3)) -le 101 ] || { echo "accepted $counts: over 101 in all"; exit 1; }
for n; do
	[ "$n" -gt 0 ] || { echo "a thread accepted nothing: $counts"; exit 1; }
done
echo "every thread accepted: $counts"
