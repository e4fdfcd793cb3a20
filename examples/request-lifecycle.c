/*
 * request-lifecycle: one request's pool, from create to destroy, printed
 * step by step.  The README's quick start runs it, and `make installcheck`
 * builds it against the installed library with only
 * `pkg-config --cflags --libs npool`.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <npool.h>

static void cleanup_note(void *data)
{
    printf("  cleanup ran: %s\n", *(const char **)data);
}

static int show(np_pool_t *pool, const char *when)
{
    np_stats_t st;

    if (np_pool_stats(pool, &st) != 0)
        return -1;
    printf("%-16s blocks %zu, used %zu of %zu B, large %zu (%zu B), allocs %llu, resets %llu\n",
           when, st.blocks, st.used_bytes, st.block_bytes, st.large_count, st.large_bytes,
           st.allocs, st.resets);
    return 0;
}

/* What a server does for one request: headers, a URI copy, a large body. */
static int handle_request(np_pool_t *pool, int n)
{
    char *uri = np_asprintf(pool, "/items/%d?view=full", n);
    char *hdrs = np_alloc_array(pool, 16, 64);
    char *body = np_alloc(pool, 64 * 1024);     /* above the small limit: large */
    np_cleanup_t *cln = np_cleanup_add(pool, sizeof(const char *));

    if (uri == NULL || hdrs == NULL || body == NULL || cln == NULL)
        return -1;
    memset(body, 'x', 64 * 1024);
    *(const char **)cln->data = uri;            /* the cleanup sees pool memory */
    cln->handler = cleanup_note;
    printf("request %d: uri %s, 16 headers at %p, 64 KiB body at %p\n", n, uri,
           (void *)hdrs, (void *)body);
    return 0;
}

int main(void)
{
    np_pool_t *pool = np_create(0);
    int n;

    printf("npool %s (header %s)\n", np_version(), NP_VERSION);
    if (pool == NULL || show(pool, "created:") != 0)
        return 1;
    for (n = 1; n <= 2; n++) {
        if (handle_request(pool, n) != 0 || show(pool, "after request:") != 0)
            return 1;
        np_reset(pool);                         /* runs the cleanup, keeps the blocks */
        if (show(pool, "after reset:") != 0)
            return 1;
    }
    np_destroy(pool);
    printf("destroyed: everything released at once\n");
    return 0;
}
