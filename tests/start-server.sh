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
