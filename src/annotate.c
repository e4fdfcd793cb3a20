/*
 * The memory-checker hooks' one piece of state (annotate.h): whether the
 * process runs under memcheck, read once at load.
 */
#include "config.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "annotate.h"

#ifdef NP_VALGRIND
bool np__on_valgrind;

/*
 * Only memcheck reads the mempool client requests, and pools made under
 * valgrind leave the fast path to issue them: under callgrind or cachegrind
 * (which preload no vgpreload_memcheck) npool runs its native code, so
 * their instruction counts are those of a real run.
 */
__attribute__((constructor)) static void np__annotate_init(void)
{
    const char *preload = getenv("LD_PRELOAD");

    np__on_valgrind = RUNNING_ON_VALGRIND != 0 &&
                      (preload == NULL || strstr(preload, "vgpreload_memcheck"));
}
#endif
