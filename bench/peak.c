/* The machine's limits, for bench/run.py: float64 FMA throughput and STREAM-like memory
 * bandwidth, on 1 and on 2 threads (or the count given).  Built by the benchmark at run time,
 * never part of convcalc's build:
 *
 *     gcc -O3 -march=native -fopenmp bench/peak.c -o peak && ./peak [THREADS...]
 *
 * Prints one `key value` line per measurement, for the script to read:
 *     fma_gflops_T     float64 GFLOP/s (2 per FMA), T threads, best of 20
 *     triad_gbs_T      a[i] = b[i] + s*c[i], GB/s counting 24 bytes per element (as STREAM), best of 5
 *     copy_gbs_T       a[i] = b[i], GB/s counting 16 bytes per element (as STREAM)
 * The FMA loop keeps 16 independent accumulators of the widest vector the CPU has (AVX-512:
 * 16 zmm registers; 2 FMA ports × 4 cycles of latency need at least 8), so it measures the
 * units' throughput, not the latency of one chain.  The arrays are 512 MiB each, larger than
 * any cache here.
 */
#include <immintrin.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

#if defined(__AVX512F__)
typedef __m512d vec;
#define LANES 8
#define SET1 _mm512_set1_pd
#define FMA _mm512_fmadd_pd
#define ADD _mm512_add_pd
#define REDUCE _mm512_reduce_add_pd
#elif defined(__FMA__)
typedef __m256d vec;
#define LANES 4
#define SET1 _mm256_set1_pd
#define FMA _mm256_fmadd_pd
#define ADD _mm256_add_pd
static double REDUCE(vec v) { double t[4]; _mm256_storeu_pd(t, v); return t[0] + t[1] + t[2] + t[3]; }
#else
#error "needs FMA (compile with -march=native on an x86-64 with FMA)"
#endif

#define ACCUMULATORS 16

/* `iterations` rounds of 16 independent FMAs; returns a value so the work is kept. */
static double fma_loop(long iterations, double seed) {
    vec acc[ACCUMULATORS];
    for (int i = 0; i < ACCUMULATORS; i++) acc[i] = SET1(seed + i);
    const vec a = SET1(0.999999999), b = SET1(1e-9);
    for (long n = 0; n < iterations; n++) {
#pragma GCC unroll 16
        for (int i = 0; i < ACCUMULATORS; i++) acc[i] = FMA(acc[i], a, b);
    }
    vec sum = acc[0];
    for (int i = 1; i < ACCUMULATORS; i++) sum = ADD(sum, acc[i]);
    return REDUCE(sum);
}

static double fma_gflops(int threads) {
    const long iterations = 50000000;   /* 50e6 × 16 × LANES × 2 FLOPs per thread */
    double best = 0, sink = 0;
    for (int round = 0; round < 20; round++) {   /* best of 20: a shared machine has quiet moments */
        double start = now();
#pragma omp parallel num_threads(threads) reduction(+ : sink)
        sink += fma_loop(iterations, omp_get_thread_num());
        double seconds = now() - start;
        double gflops = 2.0 * ACCUMULATORS * LANES * iterations * threads / seconds / 1e9;
        if (gflops > best) best = gflops;
    }
    if (sink == 42) puts("");   /* keeps the loop */
    return best;
}

enum { N = 1 << 26 };   /* 64 Mi doubles, 512 MiB per array */

static void bandwidth(int threads, double *a, double *b, double *c, double *triad, double *copy) {
    *triad = *copy = 0;
    for (int round = 0; round < 5; round++) {
        double start = now();
#pragma omp parallel for num_threads(threads) schedule(static)
        for (long i = 0; i < N; i++) a[i] = b[i] + 3.0 * c[i];
        double seconds = now() - start;
        if (24.0 * N / seconds / 1e9 > *triad) *triad = 24.0 * N / seconds / 1e9;
        start = now();
#pragma omp parallel for num_threads(threads) schedule(static)
        for (long i = 0; i < N; i++) c[i] = a[i];
        seconds = now() - start;
        if (16.0 * N / seconds / 1e9 > *copy) *copy = 16.0 * N / seconds / 1e9;
    }
}

int main(int argc, char **argv) {
    int counts[8] = {1, 2}, ncounts = 2;
    if (argc > 1) {
        ncounts = 0;
        for (int i = 1; i < argc && ncounts < 8; i++) counts[ncounts++] = atoi(argv[i]);
    }
    double *a = aligned_alloc(64, sizeof(double) * N);
    double *b = aligned_alloc(64, sizeof(double) * N);
    double *c = aligned_alloc(64, sizeof(double) * N);
    if (!a || !b || !c) { fprintf(stderr, "peak: out of memory\n"); return 1; }
    /* First touch in parallel, so the pages are spread as the loops use them. */
#pragma omp parallel for schedule(static)
    for (long i = 0; i < N; i++) { a[i] = 1.0; b[i] = 2.0; c[i] = 0.5; }
    printf("vector_bits %d\n", LANES * 64);
    for (int i = 0; i < ncounts; i++) {
        int t = counts[i];
        printf("fma_gflops_%d %.2f\n", t, fma_gflops(t));
        double triad, copy;
        bandwidth(t, a, b, c, &triad, &copy);
        printf("triad_gbs_%d %.2f\n", t, triad);
        printf("copy_gbs_%d %.2f\n", t, copy);
        fflush(stdout);
    }
    free(a); free(b); free(c);
    return 0;
}
