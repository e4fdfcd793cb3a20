/*
 * liburcu (the urcu-memb flavour) behind npool's names (rcu.h): thread
 * registration, read-side sections, grace periods, deferral, the exit
 * barrier, and fork safety.
 *
 * npool registers every thread with liburcu itself, on its first read lock,
 * deferral or barrier, and unregisters it at thread exit (a pthread key of
 * its own).  liburcu takes its internal locks in exactly these calls and in
 * synchronize_rcu; npool makes each of them, and every call_rcu enqueue,
 * under the fork lock held shared, and fork takes it exclusive (prefork).
 * With liburcu's call_rcu workers paused by call_rcu_before_fork, a fork
 * then never splits anything liburcu does: no registration, no thread exit
 * (urcu-bp's thread exit took a lock no fork handler covered, which is why
 * npool left it), no enqueue half done.  The call_rcu worker is created
 * once, outside any read section, before the first enqueue (its creation
 * takes a mutex prefork holds).
 *
 * A deferral's function (a pool's cleanups and backend: user code) runs on
 * npool's own thread, the reaper, not on liburcu's worker: the worker's
 * callback only moves the deferral onto the reaper's queue.  A fork pauses
 * the worker and waits for it; were user code running there, a cleanup
 * that forks, or that waits for a grace period a forking reader holds up,
 * would wait for a fork that waits for it.  The reaper is an ordinary
 * thread for the fork protocol: nothing waits for it but barriers.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "debug.h"
#include "lockorder.h"
#include "npool.h"
#include "rcu.h"
#include "urcu-wrap.h"
#include <urcu/static/urcu-common.h>

_Static_assert(sizeof(struct rcu_head) <= sizeof(((np_rcu_head_t *)0)->urcu),
               "np_rcu_head_t has no room for struct rcu_head");

static __thread bool registered __attribute__((tls_model("initial-exec")));
static __thread bool liburcu_thread __attribute__((tls_model("initial-exec")));  /* its own */
static __thread unsigned read_depth __attribute__((tls_model("initial-exec")));
static __thread bool on_worker __attribute__((tls_model("initial-exec")));
static pthread_once_t worker_once = PTHREAD_ONCE_INIT;

/*
 * fork() inside a read section.  prefork must pause liburcu's call_rcu
 * worker and take the fork lock, and both wait for grace periods in
 * progress, which wait for the forking thread's own read section: a fork
 * from inside one would never return.  So the forking thread leaves its read
 * sections for the length of the fork and enters them again before anything
 * may free what it reads: while reader_forks is not 0, a deferral whose
 * grace period ends gets another one on the reaper before it runs, and
 * npool's synchronize calls wait for a fork in progress, then take a new
 * grace period if a fork cut short a section older than theirs.
 *
 * Which sections are older: every synchronize attempt takes a number
 * (sync_epoch, counted up before its grace period), every outermost read
 * section the number current when it began (section_epoch, read before
 * the lock); a fork from a section logs that number (cut_log, by the cut's
 * sequence number).  A section whose number is at least the attempt's
 * began after the caller unpublished what it retires, so cutting it short
 * is harmless: a reader that forks from read sections without pause does
 * not starve synchronize.
 */
static _Atomic unsigned reader_forks;
static _Atomic unsigned long fork_gen;
static __thread unsigned fork_saved_depth;
#define NP_CUT_LOG 64
static _Atomic unsigned long sync_epoch, cuts;
static _Atomic unsigned long cut_epoch[NP_CUT_LOG], cut_tag[NP_CUT_LOG];
static __thread unsigned long section_epoch __attribute__((tls_model("initial-exec")));
static __thread unsigned long fork_saved_section;
#ifdef NP_TSAN
static __thread unsigned long fork_saved_epoch;  /* the sections' epoch (TSan) */
#endif

/*
 * The fork lock: held shared around liburcu's calls and every enqueue,
 * exclusive by a fork.  A fork waiting for it keeps new shared holders out,
 * so that forks are not starved, except a thread inside a read section: the
 * fork may be waiting for a holder whose grace period waits for that very
 * section (a deferral from a read section while another thread
 * synchronizes).  A mutex and a condition variable, not a rwlock, for that
 * exception.
 */
static pthread_mutex_t fork_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t fork_cond = PTHREAD_COND_INITIALIZER;
static unsigned fork_shared;            /* shared holders */
static unsigned fork_waiting;           /* forks waiting for exclusive */
static bool fork_exclusive;

static void fork_lock_shared(void)
{
    np__lock_order_enter(NP_LOCK_FORK);
    pthread_mutex_lock(&fork_mutex);
    while (fork_exclusive || (fork_waiting != 0 && read_depth == 0))
        pthread_cond_wait(&fork_cond, &fork_mutex);
    fork_shared++;
    pthread_mutex_unlock(&fork_mutex);
}

static void fork_unlock_shared(void)
{
    pthread_mutex_lock(&fork_mutex);
    np_assert(fork_shared > 0 && !fork_exclusive);
    if (--fork_shared == 0 && fork_waiting != 0)
        pthread_cond_broadcast(&fork_cond);
    pthread_mutex_unlock(&fork_mutex);
    np__lock_order_leave(NP_LOCK_FORK);
}

static void fork_lock_exclusive(void)
{
    np__lock_order_enter(NP_LOCK_FORK);
    pthread_mutex_lock(&fork_mutex);
    fork_waiting++;
    while (fork_exclusive || fork_shared != 0)
        pthread_cond_wait(&fork_cond, &fork_mutex);
    fork_waiting--;
    fork_exclusive = true;
    pthread_mutex_unlock(&fork_mutex);
}

static void fork_unlock_exclusive(void)
{
    pthread_mutex_lock(&fork_mutex);
    np_assert(fork_exclusive && fork_shared == 0);
    fork_exclusive = false;
    pthread_cond_broadcast(&fork_cond);
    pthread_mutex_unlock(&fork_mutex);
    np__lock_order_leave(NP_LOCK_FORK);
}

/* The child: only the forking thread, which holds it exclusive, survived. */
static void fork_lock_renew(void)
{
    pthread_mutex_init(&fork_mutex, NULL);
    pthread_cond_init(&fork_cond, NULL);
    fork_shared = fork_waiting = 0;
    fork_exclusive = false;             /* the lock order is reset after */
}

/*
 * Every thread npool registered, with liburcu's reader record of it (its
 * TLS urcu_memb_reader), so that a forked child can drop the threads that
 * did not survive the fork: liburcu's memb flavour keeps them registered,
 * and one that was inside a read section at fork would hold every grace
 * period of the child for ever (urcu-bp prunes them in its child handler;
 * memb has none).  Written under the fork lock held shared and this mutex.
 */
extern __thread struct urcu_reader urcu_memb_reader;

static struct cds_list_head readers = CDS_LIST_HEAD_INIT(readers);
static pthread_mutex_t readers_lock = PTHREAD_MUTEX_INITIALIZER;
static __thread struct np_reader {
    struct cds_list_head node;          /* on readers */
    struct urcu_reader *urcu;           /* this thread's urcu_memb_reader */
} my_reader;

static pthread_key_t exit_key;
static pthread_once_t exit_once = PTHREAD_ONCE_INIT;
static bool exit_key_ok;

/* Thread exit: leave liburcu (the key's value is set while registered). */
static void unregister_thread(void *arg)
{
    (void)arg;
    if (!registered || liburcu_thread)
        return;
    while (read_depth != 0) {           /* a thread that exits reading */
        urcu_memb_read_unlock();
        read_depth--;
    }
    fork_lock_shared();
    urcu_memb_unregister_thread();
    pthread_mutex_lock(&readers_lock);
    cds_list_del(&my_reader.node);
    pthread_mutex_unlock(&readers_lock);
    fork_unlock_shared();
    registered = false;
}

static void exit_key_init(void)
{
    exit_key_ok = pthread_key_create(&exit_key, unregister_thread) == 0;
}

static void register_thread(void)
{
    pthread_once(&exit_once, exit_key_init);
    fork_lock_shared();
    urcu_memb_register_thread();
    pthread_mutex_lock(&readers_lock);
    my_reader.urcu = &urcu_memb_reader;
    cds_list_add(&my_reader.node, &readers);
    pthread_mutex_unlock(&readers_lock);
    fork_unlock_shared();
    registered = true;
    /* a thread npool cannot see exit stays registered: liburcu then waits
     * for nothing it reads (it is never inside a read section again) */
    if (exit_key_ok)
        (void)pthread_setspecific(exit_key, &registered);
}

static inline void ensure_registered(void)
{
    if (__builtin_expect(!registered, 0))
        register_thread();
}

static _Atomic bool worker_created;

static void create_worker(void)
{
    (void)urcu_memb_get_default_call_rcu_data();
    atomic_store(&worker_created, true);
}

/*
 * TSan: the happens-before edges of grace periods and barriers (see
 * urcu-wrap.h).  Grace periods go by epoch, so that only the read sections a
 * grace period waits for are ordered before it: a read section takes the
 * epoch current after it began (read_epoch) and releases that epoch's token
 * at each unlock; a deferral or a synchronize closes the current epoch (e)
 * and, after its grace period, acquires the tokens of the epochs up to e.  A
 * section tagged e or earlier began before the close, so the grace period
 * waited for it and it has released; a section that began after the close
 * gets no edge, and TSan sees its accesses to what was retired race with the
 * destroy (a pool destroyed while still reachable).  A thread acquires each
 * epoch once (acquired_epoch).  Tokens are a ring: only a thread NP_GP_EPOCHS
 * epochs behind, or a callback queue that far behind, acquires later epochs
 * too (never a false report; at worst a missed one, as with one token).
 */
static char barrier_token;
#ifdef NP_TSAN
#define NP_GP_EPOCHS 64
static char gp_token[NP_GP_EPOCHS];
static _Atomic unsigned long gp_epoch;
static __thread unsigned long read_epoch __attribute__((tls_model("initial-exec")));
static __thread unsigned long acquired_epoch __attribute__((tls_model("initial-exec")));

static unsigned long gp_close(void)
{
    return atomic_fetch_add(&gp_epoch, 1);
}

static void gp_acquire(unsigned long e)
{
    unsigned long from = acquired_epoch;

    if (e + 1 <= from)
        return;
    if (e + 1 - from > NP_GP_EPOCHS)
        from = e + 1 - NP_GP_EPOCHS;
    for (unsigned long x = from; x <= e; x++)
        np__tsan_acquire(&gp_token[x % NP_GP_EPOCHS]);
    acquired_epoch = e + 1;
}
#else
#define gp_close() 0UL
#define gp_acquire(e) ((void)(e))
#endif

void np__read_lock(void)
{
    ensure_registered();
    if (read_depth == 0)                /* before the lock: see reader_forks */
        section_epoch = atomic_load(&sync_epoch);
    read_depth++;
    urcu_memb_read_lock();
#ifdef NP_TSAN
    if (read_depth == 1)                /* after the lock: see above */
        read_epoch = atomic_load(&gp_epoch);
#endif
}

void np__read_unlock(void)
{
#ifdef NP_TSAN
    np__tsan_release(&gp_token[read_epoch % NP_GP_EPOCHS]);
#endif
    urcu_memb_read_unlock();
    read_depth--;
}

bool np__rcu_reading(void)
{
    return read_depth != 0;
}

bool np__rcu_on_worker(void)
{
    return on_worker;
}

/*
 * Under the fork lock: liburcu holds its grace-period lock meanwhile.  A
 * grace period that a fork from inside a read section cut short (see
 * reader_forks) does not count: wait for the fork and take another.
 */
/* Whether a fork numbered g0 .. g1 - 1 cut short a section older than attempt my. */
static bool cut_an_older_section(unsigned long g0, unsigned long g1, unsigned long my)
{
    if (g1 - g0 > NP_CUT_LOG)
        return true;
    for (unsigned long g = g0; g != g1; g++) {
        if (atomic_load(&cut_tag[g % NP_CUT_LOG]) != g + 1)
            return true;                /* not logged yet, or overwritten: assume so */
        if (atomic_load(&cut_epoch[g % NP_CUT_LOG]) < my)
            return true;
    }
    return false;
}

void np__rcu_synchronize(void)
{
    ensure_registered();
    unsigned long e = gp_close();
    for (;;) {
        /* the cuts counted before this: their forks are over after the
           wait, their readers back in sections the grace period waits for */
        unsigned long g0 = atomic_load(&cuts);
        while (atomic_load_explicit(&reader_forks, memory_order_acquire) != 0)
            sched_yield();
        unsigned long my = atomic_fetch_add(&sync_epoch, 1) + 1;
        fork_lock_shared();
        urcu_memb_synchronize_rcu();
        fork_unlock_shared();
        if (!cut_an_older_section(g0, atomic_load(&cuts), my))
            break;
    }
    gp_acquire(e);
}

/* ---- public read side ---------------------------------------------------- */

void np_rcu_synchronize(void)
{
    if (read_depth != 0) {
        errno = EDEADLK;
        return;
    }
    np__rcu_synchronize();
}

void np_rcu_read_lock(void)
{
    np__read_lock();
}

void np_rcu_read_unlock(void)
{
    if (read_depth == 0) {              /* no matching np_rcu_read_lock */
#ifdef NP_DEBUG
        fprintf(stderr, "npool: np_rcu_read_unlock() without a matching np_rcu_read_lock()\n");
        abort();
#endif
        errno = EINVAL;
        return;
    }
    np__read_unlock();
}

/* ---- deferral ------------------------------------------------------------ */

/*
 * The reaper's queue: deferrals whose grace period ended, oldest first.
 * queued and done count every deferral that reached it and every one run
 * (barriers wait for done to reach queued); batch, those the reaper took
 * and has not started, current the one it runs (a fork's child queues the
 * batch again; current is lost to it, the parent finishes it).  A deferral
 * whose grace period a forking reader may have cut short (fork_gen moved
 * since it was queued) gets another one on the reaper before it runs
 * (resync).  The mutex is a leaf: held only around these fields, never
 * while user code runs.
 *
 * backlog: the weights of the deferrals made and not yet run, which
 * np__rcu_backlog reports (the pool layer bounds it).  A deferral's weight
 * leaves it once its function has returned, under reap_lock together with
 * current on the reaper, so that a child never takes it off twice.
 */
static pthread_mutex_t reap_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t reap_work = PTHREAD_COND_INITIALIZER;
static pthread_cond_t reap_progress = PTHREAD_COND_INITIALIZER;
static np_rcu_head_t *reap_first, *reap_last;
static np_rcu_head_t *reap_batch, *reap_current;
static size_t reap_current_weight;
static np_rcu_head_t *reap_to_queue;    /* deferred before liburcu's worker existed (below) */
static np_rcu_head_t *reap_queuing;     /* taken off reap_to_queue, not yet in liburcu's queue */
static bool reap_queuing_done;          /* it is: set under the fork lock (a child knows) */
static unsigned long reap_queued, reap_done;
static _Atomic size_t backlog;
static bool reap_resync, reaper_running;
static bool reap_retired;               /* the finalizer ran: the reaper ends, later deferrals
                                           go through liburcu's worker (deferred) */
static pthread_t reaper_tid;
static __thread bool on_reaper __attribute__((tls_model("initial-exec")));

/* The caller takes head's weight off the backlog after: fn may free head. */
static void run_deferral(np_rcu_head_t *head)
{
    gp_acquire(head->epoch);            /* on the thread that runs it (per-thread epochs) */
    on_worker = true;
    head->fn(head->obj);                /* may free head */
    on_worker = false;
    np__tsan_release(&barrier_token);
}

static void backlog_less(size_t weight)
{
    size_t was = atomic_fetch_sub_explicit(&backlog, weight, memory_order_relaxed);

    np_assert(was >= weight);
    (void)was;
}

size_t np__rcu_backlog(void)
{
    return atomic_load_explicit(&backlog, memory_order_relaxed);
}

/* Deferrals on the reaper's side: queued to it and not run (the one it runs included). */
unsigned long np__rcu_reaper_waiting(void)
{
    pthread_mutex_lock(&reap_lock);
    unsigned long n = reap_queued - reap_done;
    pthread_mutex_unlock(&reap_lock);
    return n;
}

static void enqueue(np_rcu_head_t *head, bool weigh);

static void *reaper(void *arg)
{
    (void)arg;
    on_reaper = true;
    pthread_mutex_lock(&reap_lock);
    for (;;) {
        while (reap_first == NULL && reap_to_queue == NULL && !reap_retired)
            pthread_cond_wait(&reap_work, &reap_lock);
        if (reap_to_queue != NULL) {    /* outside any read section: create the worker, queue */
            np_rcu_head_t *h = reap_queuing = reap_to_queue;
            reap_to_queue = h->next;
            reap_queuing_done = false;
            pthread_mutex_unlock(&reap_lock);
            ensure_registered();
            pthread_once(&worker_once, create_worker);
            enqueue(h, false);
            pthread_mutex_lock(&reap_lock);
            reap_queuing = NULL;
            pthread_cond_broadcast(&reap_progress);
            continue;
        }
        if (reap_first == NULL)
            break;
        np_assert(reap_batch == NULL && reap_current == NULL);
        reap_batch = reap_first;
        reap_first = reap_last = NULL;
        if (reap_resync) {              /* the readers that forked are back: wait for them */
            reap_resync = false;
            pthread_mutex_unlock(&reap_lock);
            np__rcu_synchronize();
            pthread_mutex_lock(&reap_lock);
        }
        while (reap_batch != NULL) {
            np_rcu_head_t *h = reap_current = reap_batch;
            reap_batch = h->next;
            reap_current_weight = h->weight;
            pthread_mutex_unlock(&reap_lock);
            run_deferral(h);
            pthread_mutex_lock(&reap_lock);
            backlog_less(reap_current_weight);
            reap_current = NULL;
            reap_done++;
            pthread_cond_broadcast(&reap_progress);
        }
    }
    reaper_running = false;             /* it ends only after the finalizer: the
                                           finalizer's, or one started after it */
    pthread_mutex_unlock(&reap_lock);
    return NULL;
}

/* Under reap_lock: the reaper runs (started on first use, anew in a child
   whose fork another thread made, and after the library's finalizer for a
   deferral from a read section before liburcu's worker exists: detached,
   it ends once it has queued that).  Signals go to other threads. */
static void ensure_reaper(void)
{
    if (reaper_running)
        return;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    reaper_running = pthread_create(&reaper_tid, NULL, reaper, NULL) == 0;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (!reaper_running) {
        fprintf(stderr, "npool: cannot start the thread that runs deferred destroys\n");
        abort();
    }
    if (reap_retired)                   /* after the finalizer: nobody joins it */
        pthread_detach(reaper_tid);
}

/* liburcu's worker, after the grace period: onto the reaper's queue. */
static void deferred(struct rcu_head *rh)
{
    np_rcu_head_t *head = (np_rcu_head_t *)(void *)rh;

    np__tsan_acquire(head);             /* the deferral, before reading it (the
                                           reaper's reads follow through reap_lock) */
    bool cut = atomic_load_explicit(&reader_forks, memory_order_acquire) != 0 ||
               atomic_load_explicit(&fork_gen, memory_order_acquire) != head->fork_gen;

    registered = liburcu_thread = true;     /* liburcu registered its worker */
    head->next = NULL;
    pthread_mutex_lock(&reap_lock);
    if (reap_retired) {                 /* the library's finalizer ended the reaper */
        pthread_mutex_unlock(&reap_lock);
        if (cut) {                      /* a forking reader left early: a grace period more */
            head->fork_gen = atomic_load_explicit(&fork_gen, memory_order_acquire);
            urcu_memb_call_rcu(rh, deferred);
            return;
        }
        size_t weight = head->weight;
        run_deferral(head);
        backlog_less(weight);
        return;
    }
    ensure_reaper();
    if (reap_last)
        reap_last->next = head;
    else
        reap_first = head;
    reap_last = head;
    reap_resync |= cut;
    reap_queued++;
    pthread_cond_signal(&reap_work);
    pthread_mutex_unlock(&reap_lock);
}

/*
 * Into liburcu's queue, under the fork lock: a fork sees it queued or not.
 * weigh: its weight joins the backlog in the same step (a deferral from the
 * reaper's to-queue list was weighed when it went there), so that a child
 * never counts a deferral that its thread, gone with the fork, had not
 * queued yet.
 */
static void enqueue(np_rcu_head_t *head, bool weigh)
{
    size_t weight = weigh ? head->weight : 0;

    np__tsan_release(head);             /* what this thread wrote or read of it: the callback's */
    fork_lock_shared();
    atomic_fetch_add_explicit(&backlog, weight, memory_order_relaxed);
    urcu_memb_call_rcu((struct rcu_head *)(void *)head, deferred);
    if (on_reaper)
        reap_queuing_done = true;       /* a fork now finds it in liburcu's queue */
    fork_unlock_shared();
}

/*
 * liburcu's worker is created by the first deferral.  Its creation takes a
 * mutex a fork holds while it waits for grace periods; from inside a read
 * section that wait could be for this very section.  So a deferral made in
 * a read section before the worker exists goes to the reaper, which
 * creates the worker and queues it from outside any section (its grace
 * period only begins later).
 */
void np__rcu_defer(np_rcu_head_t *head, void (*fn)(void *obj), void *obj, size_t weight)
{
    ensure_registered();
    head->fn = fn;
    head->obj = obj;
    head->weight = weight;
    head->epoch = gp_close();           /* the caller unpublished obj before */
    head->fork_gen = atomic_load_explicit(&fork_gen, memory_order_acquire);
    if (read_depth != 0 && !atomic_load(&worker_created)) {     /* the reaper's, via reap_lock */
        pthread_mutex_lock(&reap_lock);
        ensure_reaper();
        atomic_fetch_add_explicit(&backlog, weight, memory_order_relaxed);
        head->next = reap_to_queue;
        reap_to_queue = head;
        pthread_cond_signal(&reap_work);
        pthread_mutex_unlock(&reap_lock);
        return;
    }
    pthread_once(&worker_once, create_worker);
    enqueue(head, true);
}

/* The reaper runs if deferrals wait for it (a forked child's queue, which
   only the next deferral through liburcu or a barrier would start it for). */
void np__rcu_kick(void)
{
    pthread_mutex_lock(&reap_lock);
    if ((reap_first != NULL || reap_to_queue != NULL) && !reaper_running && !reap_retired)
        ensure_reaper();
    pthread_mutex_unlock(&reap_lock);
}

/* Every deferral queued before the call has run: liburcu's queue, then the reaper's. */
static void barrier_wait(void)
{
    pthread_mutex_lock(&reap_lock);
    if (reap_to_queue != NULL)
        ensure_reaper();
    while (reap_to_queue != NULL || reap_queuing != NULL)  /* in liburcu's queue first */
        pthread_cond_wait(&reap_progress, &reap_lock);
    pthread_mutex_unlock(&reap_lock);
    urcu_memb_barrier();
    pthread_mutex_lock(&reap_lock);
    if (reap_first != NULL)
        ensure_reaper();                /* a child's queue, its reaper gone with the fork */
    unsigned long target = reap_queued;
    while (reap_done < target)
        pthread_cond_wait(&reap_progress, &reap_lock);
    pthread_mutex_unlock(&reap_lock);
    np__tsan_acquire(&barrier_token);
}

/*
 * Not inside a read section (the deferrals wait for it) and not from a
 * deferral's own cleanups on the reaper (the queue it would wait for is the
 * one it is running): EDEADLK, at once.
 */
void np_rcu_barrier(void)
{
    if (read_depth != 0 || on_worker) {
        errno = EDEADLK;
        return;
    }
    ensure_registered();
    barrier_wait();
}

/*
 * Process exit: the exiting thread may be inside read sections (exit()
 * called from one), which the barrier would wait for; npool knows its
 * nesting and leaves them first.  From a deferral's cleanup there is no
 * barrier to run: the worker is busy with this very queue.
 */
void np__rcu_exit_barrier(void)
{
    if (on_worker)
        return;
    while (read_depth != 0)
        np__read_unlock();
    ensure_registered();
    barrier_wait();
}

/*
 * The end of the library's finalizer, after the exiting thread's pool
 * (whose cleanups may defer more): what is queued runs, then the reaper
 * ends (memcheck would call a live thread's TLS lost).  A deferral made
 * after this, by a thread still running while the process exits, runs on
 * liburcu's worker.
 */
void np__rcu_exit_end(void)
{
    if (on_worker)
        return;
    np__rcu_exit_barrier();
    pthread_mutex_lock(&reap_lock);
    bool join = reaper_running && !on_reaper;
    reap_retired = true;
    pthread_cond_signal(&reap_work);
    pthread_mutex_unlock(&reap_lock);
    if (join)
        pthread_join(reaper_tid, NULL);
}

/* ---- fork ---------------------------------------------------------------- */

/* The forking thread leaves its read sections (see reader_forks). */
static void leave_for_fork(void)
{
    fork_saved_depth = read_depth;
    if (read_depth == 0)
        return;
#ifdef NP_TSAN
    fork_saved_epoch = read_epoch;
#endif
    fork_saved_section = section_epoch;
    atomic_fetch_add_explicit(&fork_gen, 1, memory_order_acq_rel);
    atomic_fetch_add(&reader_forks, 1);     /* before the cut is counted (synchronize) */
    unsigned long g = atomic_fetch_add(&cuts, 1);
    atomic_store(&cut_epoch[g % NP_CUT_LOG], section_epoch);
    atomic_store(&cut_tag[g % NP_CUT_LOG], g + 1);
    while (read_depth != 0)
        np__read_unlock();
}

/* Back in them, before the worker resumes and the fork lock is released. */
static void enter_after_fork(bool child)
{
    unsigned depth = fork_saved_depth;

    fork_saved_depth = 0;
    /* in a child, no thread is forking from a read section any more:
       another thread's count (made before it waited for the fork lock
       this fork took) must not stay, whatever this thread held */
    if (child)
        atomic_store_explicit(&reader_forks, 0, memory_order_release);
    if (depth == 0)
        return;
    for (unsigned i = 0; i < depth; i++)
        np__read_lock();
    section_epoch = fork_saved_section; /* the same sections: as old as they were */
#ifdef NP_TSAN
    read_epoch = fork_saved_epoch;      /* the same sections, which deferrals wait for */
#endif
    if (!child)
        atomic_fetch_sub_explicit(&reader_forks, 1, memory_order_acq_rel);
}

void np__rcu_prefork_begin(void)
{
    leave_for_fork();
    urcu_memb_call_rcu_before_fork();
    fork_lock_exclusive();
}

/* memb has no fork handlers of its own: the fork lock covers its locks.
   The reaper's queue last (a leaf, held only around its fields). */
void np__rcu_prefork_end(void)
{
    pthread_mutex_lock(&reap_lock);
}

void np__rcu_postfork_parent(void)
{
    pthread_mutex_unlock(&reap_lock);
}

void np__rcu_postfork_parent_end(void)
{
    enter_after_fork(false);
    fork_unlock_exclusive();
    urcu_memb_call_rcu_after_fork_parent();
}

/*
 * The reaper's queue in the child.  Unless the forking thread is the
 * reaper (a cleanup forked), the reaper is gone: the deferral it was
 * running is lost to the child (half done; the parent finishes it) and
 * counts as done, the rest of its batch goes back to the head of the queue
 * (after one more grace period: the forking thread may have cut its
 * sections short), and the next deferral or barrier starts a new reaper.
 */
void np__rcu_postfork_child_begin(void)
{
    pthread_mutex_init(&reap_lock, NULL);
    pthread_cond_init(&reap_work, NULL);
    pthread_cond_init(&reap_progress, NULL);
    if (!on_reaper) {
        reaper_running = false;
        if (reap_current != NULL) {
            backlog_less(reap_current_weight);
            reap_current = NULL;
            reap_done++;
        }
        if (reap_batch != NULL) {
            np_rcu_head_t *last = reap_batch;
            while (last->next != NULL)
                last = last->next;
            last->next = reap_first;
            if (reap_first == NULL)
                reap_last = last;
            reap_first = reap_batch;
            reap_batch = NULL;
            reap_resync = true;
        }
        if (reap_queuing != NULL && !reap_queuing_done) {  /* not in liburcu's queue yet */
            reap_queuing->next = reap_to_queue;
            reap_to_queue = reap_queuing;
        }
        reap_queuing = NULL;
    }
}

/*
 * The child: only the forking thread survived.  The others' reader records
 * leave liburcu's registry (quiescent first), as urcu-bp's child handler
 * does for its flavour; no other thread exists to race with it.
 */
static void prune_dead_readers(void)
{
    struct cds_list_head *pos, *next;

    cds_list_for_each_safe(pos, next, &readers) {
        struct np_reader *dead = caa_container_of(pos, struct np_reader, node);
        if (dead == &my_reader)
            continue;
        dead->urcu->ctr = 0;                /* quiescent */
        cds_list_del(&dead->urcu->node);    /* off liburcu's registry */
        dead->urcu->registered = 0;
        cds_list_del(pos);
    }
}

void np__rcu_postfork_child_end(void)
{
    prune_dead_readers();
    pthread_mutex_init(&readers_lock, NULL);
    fork_lock_renew();
    np__lock_order_reset();
    enter_after_fork(true);             /* back in the sections before a new worker runs */
    urcu_memb_call_rcu_after_fork_child();
}
