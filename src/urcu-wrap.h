/*
 * The only place that includes liburcu.  npool uses the urcu-memb flavour
 * through its prefixed library functions (no _LGPL_SOURCE) and the inline
 * rculist operations; it registers and unregisters threads itself (rcu.c).
 *
 * ThreadSanitizer: liburcu 0.13's atomics are inline assembly or volatile
 * accesses and its library is not instrumented, so TSan cannot see the
 * happens-before edges they create.  In TSan builds the shared-access and
 * uatomic macros that the inline code expands are redefined as __atomic
 * builtins (what liburcu >= 0.15 does with --enable-compiler-atomic-builtins),
 * and grace periods are annotated with np__tsan_* below:
 *   - every read unlock releases np__gp_token; every synchronize acquires it;
 *   - call_rcu releases the object; the callback acquires it and the token.
 * These annotations describe synchronisation inside liburcu only; npool's
 * own shared state uses C11 atomics and is never annotated.
 */
#ifndef NPOOL_URCU_WRAP_H
#define NPOOL_URCU_WRAP_H

#if defined(__SANITIZE_THREAD__)
#define NP_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define NP_TSAN 1
#endif
#endif

#ifdef NP_TSAN
/* rcu_dereference / rcu_assign_pointer inline (and so instrumented), not
 * through the library's uninstrumented wrapper functions */
#define URCU_INLINE_SMALL_FUNCTIONS 1
#endif

#include <urcu/compiler.h>
#include <urcu/arch.h>
#include <urcu/system.h>

#ifdef NP_TSAN
#undef _CMM_LOAD_SHARED
#undef _CMM_STORE_SHARED
#define _CMM_LOAD_SHARED(p) __atomic_load_n(&(p), __ATOMIC_ACQUIRE)
#define _CMM_STORE_SHARED(x, v) \
    __extension__({ __typeof__(x) _np_v = (v); __atomic_store_n(&(x), _np_v, __ATOMIC_RELEASE); _np_v; })
#endif

#include <urcu/uatomic.h>

#ifdef NP_TSAN
#undef uatomic_set
#undef uatomic_read
#undef uatomic_cmpxchg
#undef uatomic_xchg
#undef uatomic_add_return
#undef uatomic_sub_return
#undef uatomic_add
#undef uatomic_sub
#undef uatomic_inc
#undef uatomic_dec
#undef uatomic_and
#undef uatomic_or
#define uatomic_set(addr, v)  __atomic_store_n((addr), (v), __ATOMIC_RELEASE)
#define uatomic_read(addr)    __atomic_load_n((addr), __ATOMIC_ACQUIRE)
#define uatomic_cmpxchg(addr, old, _new) \
    __extension__({ __typeof__(*(addr)) _np_o = (old); \
        __atomic_compare_exchange_n((addr), &_np_o, (_new), 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST); _np_o; })
#define uatomic_xchg(addr, v)        __atomic_exchange_n((addr), (v), __ATOMIC_SEQ_CST)
#define uatomic_add_return(addr, v)  __atomic_add_fetch((addr), (v), __ATOMIC_SEQ_CST)
#define uatomic_sub_return(addr, v)  __atomic_sub_fetch((addr), (v), __ATOMIC_SEQ_CST)
#define uatomic_add(addr, v)         ((void)__atomic_add_fetch((addr), (v), __ATOMIC_SEQ_CST))
#define uatomic_sub(addr, v)         ((void)__atomic_sub_fetch((addr), (v), __ATOMIC_SEQ_CST))
#define uatomic_inc(addr)            uatomic_add((addr), 1)
#define uatomic_dec(addr)            uatomic_sub((addr), 1)
#define uatomic_and(addr, v)         ((void)__atomic_and_fetch((addr), (v), __ATOMIC_SEQ_CST))
#define uatomic_or(addr, v)          ((void)__atomic_or_fetch((addr), (v), __ATOMIC_SEQ_CST))
#endif

#include <urcu/urcu-memb.h>
#include <urcu/rculist.h>
#include <urcu/list.h>

#ifdef NP_TSAN
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
#define np__tsan_acquire(a) __tsan_acquire((void *)(a))
#define np__tsan_release(a) __tsan_release((void *)(a))
#else
#define np__tsan_acquire(a) ((void)(a))
#define np__tsan_release(a) ((void)(a))
#endif

#endif /* NPOOL_URCU_WRAP_H */
