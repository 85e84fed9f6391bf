#!/bin/sh
# Every thread-local the shared library reads is initial-exec: its own
# (LFR__TLS) and, where configure defined LFR_URCU_READER_IE, liburcu-bp's
# reader pointer.  A dynamic-model access (a __tls_get_addr call) shows as a
# DTPMOD or TLSDESC relocation; a declaration that the compiler did not take
# (clang and gcc differ on which redeclaration counts) leaves one behind.
top="${top_builddir:-.}"
lib="$top/.libs/liblfreactor.so"
command -v readelf >/dev/null 2>&1 || { echo "no readelf: skipped"; exit 77; }
[ -f "$lib" ] || { echo "no $lib (static build): skipped"; exit 77; }
dyn=$(readelf -rW "$lib" | grep -E 'DTPMOD|TLSDESC' || true)
if ! grep -q '^#define LFR_URCU_READER_IE 1' "$top/config.h"; then
	# liburcu's reader keeps the default model there
	dyn=$(printf '%s\n' "$dyn" | grep -v 'urcu_bp_reader' || true)
fi
if [ -n "$dyn" ]; then
	echo "dynamic-model TLS accesses in $lib:"; printf '%s\n' "$dyn"
	exit 1
fi
echo "tls ok: every thread-local access is initial-exec"
