/*
 * The registry (registry.h): two RCU lists, written under one mutex.
 * Arenas are only ever added (arena.c parks and reuses them); shared pools
 * are removed when destroyed and their memory released only after a grace
 * period, so a reader inside np_rcu_read_lock never sees freed memory.
 */
#include "config.h"

#include <pthread.h>

#include "lockorder.h"
#include "registry.h"
#include "rcu.h"
#include "urcu-wrap.h"

_Static_assert(sizeof(np_reg_node_t) == sizeof(struct cds_list_head) &&
               offsetof(np_reg_node_t, next) == offsetof(struct cds_list_head, next) &&
               offsetof(np_reg_node_t, prev) == offsetof(struct cds_list_head, prev),
               "np_reg_node_t must match struct cds_list_head");

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static CDS_LIST_HEAD(arenas);
static CDS_LIST_HEAD(shared_pools);

static struct cds_list_head *list_of(np_reg_list_t list)
{
    return list == NP_REG_ARENAS ? &arenas : &shared_pools;
}

static struct cds_list_head *link_of(np_reg_node_t *node)
{
    return (struct cds_list_head *)(void *)node;
}

void np__registry_lock(void)
{
    np__lock_order_enter(NP_LOCK_REGISTRY);
    pthread_mutex_lock(&registry_lock);
}

void np__registry_unlock(void)
{
    pthread_mutex_unlock(&registry_lock);
    np__lock_order_leave(NP_LOCK_REGISTRY);
}

void np__registry_add(np_reg_list_t list, np_reg_node_t *node)
{
    np__registry_lock();
    cds_list_add_tail_rcu(link_of(node), list_of(list));
    np__registry_unlock();
}

void np__registry_del(np_reg_list_t list, np_reg_node_t *node)
{
    (void)list;
    np__registry_lock();
    cds_list_del_rcu(link_of(node));
    np__registry_unlock();
}

void np__registry_walk_rcu(np_reg_list_t list, void (*fn)(np_reg_node_t *, void *), void *ctx)
{
    struct cds_list_head *pos;

    np__read_lock();
    cds_list_for_each_rcu(pos, list_of(list))
        fn((np_reg_node_t *)(void *)pos, ctx);
    np__read_unlock();
}

void np__registry_walk_locked(np_reg_list_t list, void (*fn)(np_reg_node_t *, void *), void *ctx)
{
    struct cds_list_head *pos, *next;

    cds_list_for_each_safe(pos, next, list_of(list))
        fn((np_reg_node_t *)(void *)pos, ctx);
}

void np__registry_after_fork_child(void)
{
    pthread_mutex_init(&registry_lock, NULL);
}
