/*
 * npool-stress: the randomized allocation mix every mode uses.  Each
 * allocation is checked for alignment, filled with a pattern derived from
 * its owner thread and sequence number, recorded, and verified before it is
 * released (np_free, np_reset, np_destroy, or the end of a step).
 */
#include "stress.h"

#include <errno.h>
#include <string.h>

void st_limits_for(struct st_limits *lim, size_t block_size, size_t max_small)
{
    if (max_small) {
        lim->small_max = max_small;
        lim->large_min = max_small + 1;
        return;
    }
    /* nginx default: min(block space, page - 1); block space >= 240 for 1 KiB blocks */
    lim->small_max = block_size >= 4096 ? 2048 : 200;
    lim->large_min = st_g.page;
}

void st_recs_clear(struct st_recs *rs)
{
    rs->n = 0;
    rs->large_count = 0;
    rs->large_bytes = 0;
}

static size_t small_size(struct st_thread *t, const struct st_limits *lim)
{
    size_t cap = st_below(t, 4) ? 64 : lim->small_max;

    return (size_t)st_below(t, cap + 1);
}

static size_t large_size(struct st_thread *t, const struct st_limits *lim)
{
    return lim->large_min + (size_t)st_below(t, 2 * st_g.page);
}

static void check_align(struct st_thread *t, const void *p, size_t align, const char *what)
{
    if ((uintptr_t)p % align != 0)
        st_fail(t, "%s returned %p, not aligned to %zu", what, p, align);
}

/* A copy made by np_memdup or np_strndup must equal its source. */
static void *copy_random(struct st_thread *t, np_pool_t *pool, size_t size, uint64_t key,
                         bool as_string)
{
    unsigned char src[2049];
    unsigned char *p;

    if (size > sizeof(src) - 1)
        size = sizeof(src) - 1;
    st_fill(src, size, key);
    if (as_string) {
        for (size_t i = 0; i < size; i++)
            src[i] = (unsigned char)('a' + src[i] % 26);
        src[size] = '\0';
        p = (unsigned char *)np_strndup(pool, (const char *)src, size + (size_t)st_below(t, 3));
    } else {
        p = np_memdup(pool, src, size);
    }
    if (p && memcmp(p, src, size + as_string) != 0)
        st_fail(t, "%s copy of %zu bytes differs from its source", as_string ? "np_strndup" : "np_memdup", size);
    return p;
}

struct st_pick {
    size_t size;
    size_t align;                   /* what the result must be aligned to */
    bool large;
    bool zeroed;                    /* np_calloc: must read as zeros before the fill */
    const char *what;
};

/* Make one allocation of a random kind; pk describes it. */
static void *alloc_kind(struct st_thread *t, np_pool_t *pool, const struct st_limits *lim,
                        uint64_t key, struct st_pick *pk)
{
    unsigned kind = (unsigned)st_below(t, 20);
    size_t n;

    *pk = (struct st_pick){ .size = small_size(t, lim), .align = NP_ALIGNMENT, .what = "np_alloc" };
    switch (kind) {
    case 0: case 1: case 2: case 3: case 4: case 5:
        return np_alloc(pool, pk->size);
    case 6: case 7: case 8:
        pk->align = 1, pk->what = "np_nalloc";
        return np_nalloc(pool, pk->size);
    case 9: case 10:
        pk->what = "np_calloc", pk->zeroed = true;
        return np_calloc(pool, pk->size);
    case 11:
        n = 1 + (size_t)st_below(t, 8);
        pk->size = pk->size / n * n, pk->what = "np_alloc_array";
        return np_alloc_array(pool, n, pk->size / n);
    case 12: case 13:
        pk->align = (size_t)1 << st_below(t, 13), pk->large = true, pk->what = "np_memalign";
        pk->size = (size_t)st_below(t, 2 * st_g.page);
        return np_memalign(pool, pk->size, pk->align);
    case 14:
        pk->what = "np_memdup";
        return copy_random(t, pool, pk->size, key, false);
    case 15: {
        /* the copy takes size + 1 bytes: keep it small */
        size_t len = pk->size < lim->small_max ? pk->size : lim->small_max - 1;
        pk->align = 1, pk->what = "np_strndup", pk->size = len + 1;
        return copy_random(t, pool, len, key, true);
    }
    case 16: case 17:
        pk->size = large_size(t, lim), pk->large = true, pk->what = "np_alloc (large)";
        return np_alloc(pool, pk->size);
    default:
        pk->size = large_size(t, lim), pk->large = true, pk->align = 1;
        pk->what = "np_nalloc (large)";
        return np_nalloc(pool, pk->size);
    }
}

static void check_zero(struct st_thread *t, const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != 0)
            st_fail(t, "np_calloc(%zu) byte %zu is %#x, not zero", n, i, p[i]);
}

bool st_alloc_random(struct st_thread *t, np_pool_t *pool, struct st_recs *rs,
                     const struct st_limits *lim, bool faulty)
{
    uint64_t key = st_key(t->id, ++t->seq);
    struct st_pick pk;

    if (rs->n >= ST_MAXREC)
        st_fail(t, "internal: record set full");
    unsigned char *p = alloc_kind(t, pool, lim, key, &pk);
    if (p == NULL) {
        st_null(t, faulty, pk.what);
        return false;
    }
    check_align(t, p, pk.align, pk.what);
    if (pk.zeroed)
        check_zero(t, p, pk.size);
    st_fill(p, pk.size, key);
    rs->r[rs->n++] = (struct st_rec){ p, pk.size, key, pk.large };
    if (pk.large) {
        rs->large_count++;
        rs->large_bytes += pk.size;
    }
    return true;
}

void st_verify(struct st_thread *t, const struct st_rec *r, const char *where)
{
    size_t bad = st_check(r->p, r->size, r->key);

    if (bad != SIZE_MAX)
        st_fail(t, "%s: %s allocation %p (%zu bytes, key %#llx) corrupted at byte %zu: %#x",
                where, r->large ? "large" : "small", (void *)r->p, r->size,
                (unsigned long long)r->key, bad, r->p[bad]);
}

void st_verify_all(struct st_thread *t, const struct st_recs *rs, const char *where)
{
    for (unsigned i = 0; i < rs->n; i++)
        st_verify(t, &rs->r[i], where);
}

void st_free_random(struct st_thread *t, np_pool_t *pool, struct st_recs *rs, bool private_pool)
{
    if (rs->n == 0)
        return;
    unsigned i = (unsigned)st_below(t, rs->n);
    struct st_rec r = rs->r[i];

    st_verify(t, &r, "before np_free");
    int rc = np_free(pool, r.p);
    if (!r.large) {
        if (rc != -ENOENT)
            st_fail(t, "np_free of small allocation %p (%zu bytes) returned %d, not -ENOENT",
                    (void *)r.p, r.size, rc);
        st_verify(t, &r, "after np_free of a small allocation");
        return;
    }
    if (rc != 0)
        st_fail(t, "np_free of large allocation %p (%zu bytes) returned %d", (void *)r.p, r.size, rc);
    if (private_pool && (rc = np_free(pool, r.p)) != -ENOENT)
        st_fail(t, "second np_free of %p returned %d, not -ENOENT", (void *)r.p, rc);
    rs->r[i] = rs->r[--rs->n];
    rs->large_count--;
    rs->large_bytes -= r.size;
}

void st_check_pool_stats(struct st_thread *t, np_pool_t *pool, const struct st_recs *rs)
{
    np_stats_t s;
    int rc = np_pool_stats(pool, &s);

    if (rc != 0)
        st_fail(t, "np_pool_stats returned %d", rc);
    if (s.pools != 1 || s.blocks == 0 || s.used_bytes > s.block_bytes)
        st_fail(t, "np_pool_stats: pools %zu blocks %zu used %zu of %zu bytes", s.pools,
                s.blocks, s.used_bytes, s.block_bytes);
    if (!st_g.debug_palloc && (s.large_count != rs->large_count || s.large_bytes != rs->large_bytes))
        st_fail(t, "np_pool_stats: %zu large allocations (%zu bytes), expected %zu (%zu bytes)",
                s.large_count, s.large_bytes, rs->large_count, rs->large_bytes);
}

/*
 * np_grow a random record: a small one to a size still small, a large one
 * to a larger large size.  In place (same pointer) only for a small one;
 * a copy keeps the bytes, releases a large original and keeps a small one
 * (it stays recorded).  NULL only as expected ENOMEM, the original intact.
 */
bool st_grow_random(struct st_thread *t, np_pool_t *pool, struct st_recs *rs,
                    const struct st_limits *lim, bool faulty)
{
    if (rs->n == 0 || rs->n >= ST_MAXREC)
        return true;
    unsigned i = (unsigned)st_below(t, rs->n);
    struct st_rec r = rs->r[i];
    if (!r.large && r.size >= lim->small_max)
        return true;
    size_t new_size = r.large ? r.size + 1 + (size_t)st_below(t, 2 * st_g.page)
                              : r.size + (size_t)st_below(t, lim->small_max - r.size + 1);

    if (!r.large && new_size > lim->small_max)
        new_size = lim->small_max;
    if (new_size <= r.size)
        return true;
    st_verify(t, &r, "before np_grow");
    unsigned char *p = np_grow(pool, r.p, r.size, new_size);
    if (p == NULL) {
        st_null(t, faulty, "np_grow");
        st_verify(t, &r, "after a failed np_grow");
        return false;
    }
    struct st_rec moved = { p, r.size, r.key, r.large };
    st_verify(t, &moved, "np_grow's result");
    uint64_t key = st_key(t->id, ++t->seq);
    st_fill(p, new_size, key);
    if (p == r.p && r.large)
        st_fail(t, "np_grow grew large allocation %p in place", (void *)p);
    if (r.large) {
        rs->r[i] = (struct st_rec){ p, new_size, key, true };
        rs->large_bytes += new_size - r.size;
    } else if (p == r.p) {
        rs->r[i].size = new_size;
        rs->r[i].key = key;
    } else {
        check_align(t, p, NP_ALIGNMENT, "np_grow (copy)");
        rs->r[rs->n++] = (struct st_rec){ p, new_size, key, false };
    }
    return true;
}

/* np_shrink a random record: 0 or -EBUSY, never 0 for a large one. */
void st_shrink_random(struct st_thread *t, np_pool_t *pool, struct st_recs *rs)
{
    if (rs->n == 0)
        return;
    unsigned i = (unsigned)st_below(t, rs->n);
    struct st_rec *r = &rs->r[i];
    size_t new_size = (size_t)st_below(t, r->size + 1);
    int rc = np_shrink(pool, r->p, r->size, new_size);

    if (rc != 0 && rc != -EBUSY)
        st_fail(t, "np_shrink returned %d", rc);
    if (rc == 0 && r->large)
        st_fail(t, "np_shrink shrank large allocation %p", (void *)r->p);
    if (rc == 0)
        r->size = new_size;
    st_verify(t, r, "after np_shrink");
}

/* np_strcat of three filled pieces: one allocation, their concatenation. */
bool st_strcat_random(struct st_thread *t, np_pool_t *pool, struct st_recs *rs, bool faulty)
{
    char piece[3][40], want[121];
    size_t len = 0;

    if (rs->n >= ST_MAXREC)
        return true;
    for (int k = 0; k < 3; k++) {
        size_t n = (size_t)st_below(t, sizeof(piece[k]));
        for (size_t i = 0; i < n; i++)
            piece[k][i] = (char)('a' + st_below(t, 26));
        piece[k][n] = '\0';
        memcpy(want + len, piece[k], n + 1);
        len += n;
    }
    char *s = np_strcat(pool, piece[0], piece[1], piece[2], (char *)NULL);
    if (s == NULL) {
        st_null(t, faulty, "np_strcat");
        return false;
    }
    if (strcmp(s, want) != 0)
        st_fail(t, "np_strcat: \"%s\", expected \"%s\"", s, want);
    uint64_t key = st_key(t->id, ++t->seq);
    st_fill(s, len + 1, key);
    rs->r[rs->n++] = (struct st_rec){ (unsigned char *)s, len + 1, key, false };
    return true;
}
