#!/bin/sh
# The seed's workload end to end: examples/delayserver on a free port,
# examples/seed-runtime against it (12 threads x 5 requests); every body is
# checked, a malformed request must get 400 while the server keeps serving,
# and an unreachable server must give a clear error and a non-zero exit.
set -u
b="${top_builddir:-.}/examples"
[ -x "$b/delayserver" ] || { echo "no examples/delayserver (no libhttp-parser-dev): skipped"; exit 77; }
. "$(dirname "$0")/start-server.sh"
start_server "$b/delayserver" --port 0
out=$(mktemp)
trap 'kill $pid 2>/dev/null || true; rm -f "$out" "$srv_log"' EXIT

start=$(date +%s.%N)
timeout 60 "$b/seed-runtime" --port "$port" >"$out" || { echo "seed-runtime failed"; cat "$out"; exit 1; }
end=$(date +%s.%N)
lines=$(wc -l <"$out")
[ "$lines" -eq 60 ] || { echo "expected 60 responses, got $lines"; cat "$out"; exit 1; }
for i in 0 1 2 3 4; do
	n=$(grep -c " HelloWorld$i\$" "$out")
	[ "$n" -eq 12 ] || { echo "HelloWorld$i: $n of 12"; exit 1; }
done
echo "60 requests, every body checked, in $(awk "BEGIN { print $end - $start }") s"

# malformed: 400, and the server goes on serving
bad=$(timeout 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port; printf 'BLAH /x\r\n\r\n' >&3; head -n 1 <&3")
case "$bad" in
*"400 Bad Request"*) ;;
*) echo "malformed request got: $bad"; exit 1 ;;
esac
timeout 20 "$b/seed-runtime" --port "$port" --threads 2 --requests 2 >/dev/null ||
	{ echo "server stopped serving after a bad request"; exit 1; }

# unreachable: a clear message and a non-zero exit
kill $pid; wait $pid 2>/dev/null
if timeout 20 "$b/seed-runtime" --port "$port" --threads 1 --requests 1 2>"$out" >/dev/null; then
	echo "seed-runtime succeeded with no server"; exit 1
fi
grep -q "is the delay server running" "$out" || { echo "no clear message:"; cat "$out"; exit 1; }
echo "malformed request answered 400; unreachable server reported"
