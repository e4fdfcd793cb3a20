/*
 * npool-bench workloads: size mixes and their precomputed size sequences, so
 * that drawing random numbers stays outside the timed loops.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1 /* getopt_long, strtok_r, pthread barriers with -std=c11 */
#endif
#include "config.h"

#include "bench.h"

#include <stdio.h>
#include <stdlib.h>

const bench_mix_t bench_mixes[] = {
    { "request", "DESIGN.md 6: 70% 8-64 B, 25% 64-512 B, 4.5% 512 B-4 KiB, 0.5% 4-64 KiB", BENCH_PRIVATE,
      { { 700, 8, 64 }, { 250, 65, 512 }, { 45, 513, 4096 }, { 5, 4097, 65536 } } },
    { "tiny", "100% 16-64 B", BENCH_PRIVATE,
      { { 1000, 16, 64 } } },
    { "large-heavy", "60% 8-64 B, 25% 64-512 B, 5% 512 B-4 KiB, 10% 4-64 KiB", BENCH_PRIVATE,
      { { 600, 8, 64 }, { 250, 65, 512 }, { 50, 513, 4096 }, { 100, 4097, 65536 } } },
    { "shared", "request mix, all threads into one shared arena, released every epoch", BENCH_SHARED,
      { { 700, 8, 64 }, { 250, 65, 512 }, { 45, 513, 4096 }, { 5, 4097, 65536 } } },
#ifdef HAVE_CXX_PEERS
    /* No size mix: bench-cxx.cc builds its inputs (bench_pmr_prepare). */
    { "pmr-request", "C++: a parsed HTTP request in std::pmr containers from one memory_resource "
      "(method, path, map of ~12 headers, vector of ~20 spans, body), destroyed at request end",
      BENCH_PMR, { { 0, 0, 0 } } },
#endif
};
const size_t bench_nmixes = sizeof(bench_mixes) / sizeof(bench_mixes[0]);

/* xorshift64*: fast, deterministic, good enough for a size mix. */
static uint64_t next_random(uint64_t *state)
{
    uint64_t x = *state;

    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

static uint32_t draw_size(const bench_mix_t *mix, uint64_t *state)
{
    unsigned pick = (unsigned)(next_random(state) % 1000);
    const bench_band_t *b = &mix->bands[0];

    for (size_t i = 0; i < 4 && mix->bands[i].permille; i++) {
        b = &mix->bands[i];
        if (pick < b->permille)
            break;
        pick -= b->permille;
    }
    return b->lo + (uint32_t)(next_random(state) % (b->hi - b->lo + 1));
}

uint32_t *bench_sizes(const bench_mix_t *mix, uint64_t seed)
{
    size_t n = (size_t)BENCH_SEQ_REQUESTS * BENCH_ALLOCS;
    uint32_t *sizes = malloc(n * sizeof(*sizes));
    uint64_t state = seed ? seed : 0x9E3779B97F4A7C15ULL;

    if (sizes == NULL) {
        perror("npool-bench: size sequence");
        exit(1);
    }
    for (size_t i = 0; i < n; i++)
        sizes[i] = draw_size(mix, &state);
    return sizes;
}

size_t bench_max_request_bytes(const uint32_t *sizes)
{
    size_t max = 0;

    for (size_t r = 0; r < BENCH_SEQ_REQUESTS; r++) {
        size_t total = 0;
        for (size_t i = 0; i < BENCH_ALLOCS; i++)
            total += (sizes[r * BENCH_ALLOCS + i] + BENCH_ALIGN - 1) & ~(size_t)(BENCH_ALIGN - 1);
        if (total > max)
            max = total;
    }
    return max + BENCH_ALIGN;
}

double bench_mean_request_bytes(const uint32_t *sizes)
{
    double total = 0;

    for (size_t i = 0; i < (size_t)BENCH_SEQ_REQUESTS * BENCH_ALLOCS; i++)
        total += sizes[i];
    return total / BENCH_SEQ_REQUESTS;
}
