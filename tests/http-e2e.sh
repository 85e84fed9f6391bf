#!/bin/sh
# examples/delayserver as an HTTP/1.1 server, with 2 executor threads and
# a 1 s idle timeout: pipelined keep-alive requests answered in order
# (301 in one write too), Connection: close, HTTP/1.0 with and without
# keep-alive, HEAD, the query left out of the message, 400 for NUL bytes,
# 431 for heads over 8 KiB (a 1 MB request line included), 405, 414, idle
# connections closed, both threads serving, and SIGTERM under load
# stopping it within 1 s.
set -u
b="${top_builddir:-.}/examples"
[ -x "$b/delayserver" ] || { echo "no examples/delayserver (no libhttp-parser-dev): skipped"; exit 77; }
. "$(dirname "$0")/start-server.sh"
start_server "$b/delayserver" --port 0 --threads 2 --idle-ms 1000
out=$(mktemp)
trap 'kill $pid 2>/dev/null || true; rm -f "$out" "$srv_log"' EXIT

# send FORMAT (printf's: \r\n, \0) on one connection, in one write (bash's
# printf writes line by line, and a request sent after one that closes the
# connection must be in the server's buffer when it answers, or the close
# resets the answer), print all that comes back until the server closes it
req() {
	timeout 10 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
		f=$(mktemp); printf "$2" >"$f"; cat "$f" >&3; rm -f "$f"
		cat <&3' sh "$port" "$1"
}
# the response to a request for BODY, with CONNECTION's header if given
ok() {
	printf 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n' "${#1}"
	[ -n "${2:-}" ] && printf 'Connection: %s\r\n' "$2"
	printf '\r\n%s' "$1"
}
fail() { echo "$1"; cat "$out"; exit 1; }
# the first line of what came back
status() { head -n 1 "$out" | tr -d '\r'; }

# keep-alive: three pipelined requests in one write, answered in order on
# one connection, the first after waiting (the others wait for it)
req 'GET /100/one HTTP/1.1\r\nHost: x\r\n\r\nGET /0/two?x=1 HTTP/1.1\r\n\r\nGET /0/three HTTP/1.1\r\nConnection: close\r\n\r\n' >"$out"
[ "$(cat "$out")" = "$(ok one; ok two; ok three close)" ] || fail "pipelined requests got:"

# 300 pipelined requests in one go (about 8 KiB of requests, 24 KiB of
# answers: several reads, and the answers written as the buffer fills)
many="" want=""
for i in $(seq 300); do
	many="${many}GET /0/r$i HTTP/1.1\r\n\r\n"
	want="$want$(ok "r$i")"
done
req "${many}GET /0/last HTTP/1.1\r\nConnection: close\r\n\r\n" >"$out"
[ "$(cat "$out")" = "$want$(ok last close)" ] ||
	fail "300 pipelined requests: $(grep -c '200 OK' "$out") answers:"

# HTTP/1.0: closed after the answer unless keep-alive is asked for
req 'GET /0/ten HTTP/1.0\r\n\r\nGET /0/never HTTP/1.0\r\n\r\n' >"$out"
[ "$(cat "$out")" = "$(ok ten close)" ] || fail "HTTP/1.0 got:"
req 'GET /0/ka HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /0/end HTTP/1.0\r\n\r\n' >"$out"
[ "$(cat "$out")" = "$(ok ka keep-alive; ok end close)" ] || fail "HTTP/1.0 keep-alive got:"
# HEAD: the headers alone
req 'HEAD /0/head HTTP/1.1\r\nConnection: close\r\n\r\n' >"$out"
[ "$(cat "$out")" = "$(ok head close | head -c -4)" ] || fail "HEAD got:"
echo "keep-alive, pipelining in order, Connection: close, HTTP/1.0, HEAD: ok"

# an idle keep-alive connection is closed after --idle-ms (1000), not
# before; one that sends a request every 0.4 s stays open past it
t0=$(date +%s.%N)
req 'GET /0/idle HTTP/1.1\r\n\r\n' >"$out"
t=$(awk "BEGIN { print $(date +%s.%N) - $t0 }")
[ "$(cat "$out")" = "$(ok idle)" ] || fail "before the idle timeout:"
awk "BEGIN { exit !($t >= 0.99 && $t < 10) }" || fail "closed after $t s idle, not 1:"
timeout 10 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
	for i in 1 2 3 4; do printf "GET /0/busy$i HTTP/1.1\r\n\r\n" >&3; sleep 0.4; done
	printf "GET /0/done HTTP/1.1\r\nConnection: close\r\n\r\n" >&3; cat <&3' sh "$port" >"$out"
[ "$(cat "$out")" = "$(ok busy1; ok busy2; ok busy3; ok busy4; ok done close)" ] ||
	fail "a connection busy for 1.6 s got:"
echo "an idle connection was closed after $t s (--idle-ms 1000); a busy one was not"

# malformed and oversize heads: an error status, then the server closes
req 'GET /0/a\0b HTTP/1.1\r\n\r\n' >"$out"
[ "$(status)" = "HTTP/1.1 400 Bad Request" ] || fail "NUL in the URL got:"
req 'GET /0/a HTTP/1.1\r\nX-A: a\0b\r\n\r\n' >"$out"
[ "$(status)" = "HTTP/1.1 400 Bad Request" ] || fail "NUL in a header got:"
req 'GET /0/a HTTP/1.1\r\nX: %08200d\r\n\r\n' >"$out"
[ "$(status)" = "HTTP/1.1 431 Request Header Fields Too Large" ] || fail "a 8 KiB head got:"
req 'GET /%01000000d HTTP/1.1\r\n\r\n' >"$out"
[ "$(status)" = "HTTP/1.1 431 Request Header Fields Too Large" ] || fail "a 1 MB request line got:"
req 'POST /0/a HTTP/1.1\r\nContent-Length: 2\r\n\r\nab' >"$out"
[ "$(status)" = "HTTP/1.1 405 Method Not Allowed" ] || fail "POST got:"
req 'GET /0/%01100d HTTP/1.1\r\n\r\n' >"$out"
[ "$(status)" = "HTTP/1.1 414 URI Too Long" ] || fail "a long URL got:"
grep -q "Connection: close" "$out" || fail "no Connection: close on an error:"
req 'GET /0/still HTTP/1.1\r\nConnection: close\r\n\r\n' >"$out"
[ "$(cat "$out")" = "$(ok still close)" ] || fail "after the bad requests:"
echo "400 for NUL bytes, 431 for 8 KiB and 1 MB heads, 405, 414; still serving"

# --threads 2: both executor threads exist and 20 clients at once are served
names=$(cat /proc/$pid/task/*/comm | sort | tr '\n' ' ')
case "$names" in
*delay-ex0*delay-ex1*) ;;
*) echo "threads: $names"; exit 1 ;;
esac
clients=""
for c in $(seq 20); do
	(
		got=$(req "GET /20/c$c HTTP/1.1\r\n\r\nGET /0/d$c HTTP/1.1\r\nConnection: close\r\n\r\n")
		[ "$got" = "$(ok c$c; ok d$c close)" ] || { echo "client $c got: $got"; exit 1; }
	) &
	clients="$clients $!"
done
bad=0
for c in $clients; do wait "$c" || bad=1; done
[ $bad -eq 0 ] || exit 1
echo "20 clients at once over 2 executor threads: ok"

# SIGTERM under load: the seed's clients waiting, and clients in a loop
"$b/seed-runtime" --port "$port" >/dev/null 2>&1 &
seed=$!
loaders=""
for l in 1 2 3 4; do
	( while :; do req 'GET /0/x HTTP/1.1\r\n\r\nGET /1/y HTTP/1.1\r\nConnection: close\r\n\r\n' >/dev/null 2>&1; done ) &
	loaders="$loaders $!"
done
sleep 0.5
stop_within_1s ||
	{ echo "still running 1 s after SIGTERM under load"; kill $loaders; exit 1; }
kill $loaders 2>/dev/null; kill "$seed" 2>/dev/null
wait 2>/dev/null
[ "$rc" -eq 0 ] || { echo "exit status $rc after SIGTERM"; cat "$srv_log"; exit 1; }
echo "SIGTERM under load: stopped within 1 s, exit 0"
