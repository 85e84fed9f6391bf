#!/bin/sh
# examples/echo-server with 3 executor threads: four clients at once each
# get back exactly what they sent.
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
[ $fail -eq 0 ] && echo "4 clients echoed back exactly"
exit $fail
