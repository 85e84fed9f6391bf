/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lfreactor/common.h - export macro, ids, error results.
 *
 * Every int result of the library is 0 on success (or, where a function
 * says so, another non-negative value: a port, an fd) or a negative errno
 * (-EINVAL, -ENOENT, -EEXIST, -EBADF, -EPERM, -ENOMEM, ...).  Nothing in
 * the library aborts, asserts or exits on a caller's mistake.
 */
#ifndef LFREACTOR_COMMON_H
#define LFREACTOR_COMMON_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) && __GNUC__ >= 4
#define LFR_EXTERN __attribute__((visibility("default")))
#else
#define LFR_EXTERN
#endif

/*
 * lfr_id - the key of one registration.
 *
 * Handed out by lfr_reactor_next_id() from a 64-bit fetch-and-add counter:
 * unique per reactor for the life of the process, never 0.  0 is never a
 * valid id.
 */
typedef uint64_t lfr_id;

/*
 * lfr_strerror - name an error result.
 *
 * err: a result of this library (0 or a negative errno).  Returns a static,
 * NUL-terminated description; never NULL.  Unknown values give
 * "unknown error".
 * Threads: any thread, any time, including from a waker.  Never blocks.
 */
LFR_EXTERN const char *lfr_strerror(int err);

#ifdef __cplusplus
}
#endif

#endif /* LFREACTOR_COMMON_H */
