/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* error.c - lfr_strerror and the version API. */
#include "config.h"

#include <string.h>
#include <lfreactor.h>

const char *lfr_strerror(int err)
{
	const char *s;

	if (err == 0)
		return "success";
	if (err > 0 || err == -2147483647 - 1)
		return "unknown error";
	/* glibc's descriptions are static and thread-safe */
	s = strerrordesc_np(-err);
	return s ? s : "unknown error";
}

unsigned lfr_version(void)
{
	return LFR_VERSION_HEX;
}

const char *lfr_version_string(void)
{
	return LFR_VERSION_STRING;
}
