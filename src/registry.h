/*
 * The registry: every thread arena ever made and every live shared pool,
 * on two RCU lists.  Writers hold the registry lock; readers walk inside an
 * RCU read section and take no lock (np_global_stats never blocks anyone).
 * The registry knows list nodes only, never what contains them.
 *
 * Lock order (doc/DESIGN.md): fork lock, registry lock, a shared pool's
 * mutex.  Nothing takes the registry lock while holding a pool mutex.
 */
#ifndef NPOOL_REGISTRY_H
#define NPOOL_REGISTRY_H

#include <stddef.h>

/* The same layout as liburcu's struct cds_list_head (checked in registry.c). */
typedef struct np_reg_node_s {
    struct np_reg_node_s *next, *prev;
} np_reg_node_t;

typedef enum np_reg_list_e {
    NP_REG_ARENAS,              /* only ever added to */
    NP_REG_SHARED               /* live shared pools */
} np_reg_list_t;

#define np_container_of(ptr, type, member) \
    ((type *)(void *)((char *)(ptr) - offsetof(type, member)))

void np__registry_lock(void);
void np__registry_unlock(void);
void np__registry_add(np_reg_list_t list, np_reg_node_t *node);     /* takes the lock */
void np__registry_del(np_reg_list_t list, np_reg_node_t *node);     /* takes the lock;
                                         readers may still see node until a grace period */
/* fn on every node: inside a read section, no lock (fn must not block) */
void np__registry_walk_rcu(np_reg_list_t list, void (*fn)(np_reg_node_t *, void *), void *ctx);
/* fn on every node: the caller holds the registry lock */
void np__registry_walk_locked(np_reg_list_t list, void (*fn)(np_reg_node_t *, void *), void *ctx);
void np__registry_after_fork_child(void);  /* the lock, held by prefork, made anew */

#endif /* NPOOL_REGISTRY_H */
