/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lfreactor.h - umbrella header of lfreactor, a lock-free multithreaded
 * reactor.  Include this one; the module headers sit under lfreactor/.
 */
#ifndef LFREACTOR_H
#define LFREACTOR_H

#include <lfreactor/common.h>
#include <lfreactor/version.h>
#include <lfreactor/waker.h>
#include <lfreactor/reactor.h>
#include <lfreactor/executor.h>
#include <lfreactor/timer.h>
#include <lfreactor/io.h>

#endif /* LFREACTOR_H */
