/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What every file uses: container_of, array and alignment arithmetic, the
 * printf attribute, and names for the few memory orders the daemon needs,
 * so that each shared access says why it is atomic.  Each stays out of the
 * way of a header (the kselftest harness's, say) that defines it first.
 */
#ifndef FUE_COMPILER_H
#define FUE_COMPILER_H

#include <stddef.h>

#ifndef container_of
#define container_of(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))
#endif

#ifndef ARRAY_SIZE
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#endif

/* @a need not be a power of two. */
#ifndef round_up
#define round_up(v, a) (((v) + (a) - 1) / (a) * (a))
#endif
#ifndef round_down
#define round_down(v, a) ((v) / (a) * (a))
#endif
#ifndef DIV_ROUND_UP
#define DIV_ROUND_UP(v, d) (((v) + (d) - 1) / (d))
#endif

#ifndef __printf
#define __printf(a, b) __attribute__((format(printf, a, b)))
#endif
#ifndef __aligned
#define __aligned(n) __attribute__((aligned(n)))
#endif

/* A value one thread owns and others only glance at: no ordering. */
#ifndef READ_ONCE
#define READ_ONCE(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)
#endif
#ifndef WRITE_ONCE
#define WRITE_ONCE(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELAXED)
#endif

/* Publishing: what was written before the store is seen after the load. */
#ifndef smp_load_acquire
#define smp_load_acquire(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#endif
#ifndef smp_store_release
#define smp_store_release(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#endif

/* Fences: order a counter's stores, or loads, around a sequence count. */
#ifndef smp_wmb
#define smp_wmb() __atomic_thread_fence(__ATOMIC_RELEASE)
#endif
#ifndef smp_rmb
#define smp_rmb() __atomic_thread_fence(__ATOMIC_ACQUIRE)
#endif

/* In a spin loop: let the sibling hyperthread (or the hypervisor) in. */
#ifndef cpu_relax
static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#else
	__asm__ __volatile__("" ::: "memory");
#endif
}
#endif

/* Read-modify-write, ordered both ways; returns the new value. */
#ifndef atomic_add_return
#define atomic_add_return(p, n) __atomic_add_fetch((p), (n), __ATOMIC_ACQ_REL)
#endif
#ifndef atomic_sub_return
#define atomic_sub_return(p, n) __atomic_sub_fetch((p), (n), __ATOMIC_ACQ_REL)
#endif
/* Sets the bits, returns the old value; orders nothing else. */
#ifndef atomic_fetch_or_relaxed
#define atomic_fetch_or_relaxed(p, v) \
	__atomic_fetch_or((p), (v), __ATOMIC_RELAXED)
#endif
/* Stores @new if *@p is *@old; else loads *@p into *@old.  True if stored. */
#ifndef atomic_try_cmpxchg
#define atomic_try_cmpxchg(p, old, new) \
	__atomic_compare_exchange_n((p), (old), (new), false, \
				    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)
#endif

#endif /* FUE_COMPILER_H */
