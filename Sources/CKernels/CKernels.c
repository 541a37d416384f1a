#include "CKernels.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

// No a * b + c here may become an FMA behind our back: each kernel rounds
// where its code says (the tests compare the bits of a row computed alone and
// beside others). Package.swift also passes -ffp-contract=off.
#pragma clang fp contract(off)

// The AVX-512 code is compiled for x86-64 only, each function for the
// AVX-512 target whatever the build's baseline, and runs only when the CPU
// has it; elsewhere the portable paths (and BLAS, in Swift) take over.
// -DEAST_NO_AVX512 builds the portable variant on x86-64 too, and the
// environment variable EAST_NO_AVX512=1 selects it at run time.
#if defined(__x86_64__) && !defined(EAST_NO_AVX512)
#define EAST_X86 1
#include <immintrin.h>
#define AVX512 __attribute__((target("avx512f,fma,f16c")))
#else
#define EAST_X86 0
#endif

int east_kernels_available(void) {
#if EAST_X86
    const char *off = getenv("EAST_NO_AVX512");  // set (to anything but "0") to run the fallbacks
    if (off && *off && *off != '0') return 0;
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f");
#else
    return 0;
#endif
}

#if EAST_X86
// Detected once, when the library loads, so that threads only ever read it.
static int available;
__attribute__((constructor)) static void detect(void) { available = east_kernels_available(); }
static int avx512(void) { return available; }
#endif

#if EAST_X86
// The AVX2 fallbacks of the kernels below (decoding without AVX-512).
#define AVX2 __attribute__((target("avx2,fma")))
static int has_avx2;
__attribute__((constructor)) static void detect_avx2(void) {
    __builtin_cpu_init();
    has_avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
#endif

// ---------------------------------------------------------------------------
// Memory for streamed buffers

void *east_alloc_streamed(size_t bytes) {
    const size_t huge = (size_t)2 << 20;
    size_t rounded = (bytes + huge - 1) / huge * huge;
    void *p = NULL;
    if (posix_memalign(&p, huge, rounded ? rounded : huge) != 0) return NULL;
#ifdef MADV_HUGEPAGE
    madvise(p, rounded, MADV_HUGEPAGE);  // a hint: without transparent huge pages, plain pages
#endif
    return p;
}

void east_free_streamed(void *p) { free(p); }

// ---------------------------------------------------------------------------
// Matrix product with few rows

#if EAST_X86
// The mask of the first `count` of 16 lanes (none for count <= 0, all for
// count >= 16): every loop's tail, and the columns of a partial panel.
static inline __attribute__((always_inline)) __mmask16 lanes(long count) {
    return count >= 16 ? (__mmask16)0xFFFF : count <= 0 ? (__mmask16)0 : (__mmask16)((1u << count) - 1);
}

// Columns per chunk of the packed Float32 panels (see `product`).
#define KCHUNK 256

// Weight (N, K) as panels of 16 rows, each panel k-major: the 16 weights
// that column k contributes to 16 outputs sit in one 64-byte vector. The
// columns come in chunks of KCHUNK, every panel's first chunk, then every
// panel's second, ..., so that the product can finish one chunk of the input
// against all panels before it reads the next (see `product`).
AVX512 void east_pack_weight(float *packed, const float *weight, long K, long N) {
    long panels = (N + 15) / 16;
    for (long k0 = 0; k0 < K; k0 += KCHUNK) {
        long kc = K - k0 < KCHUNK ? K - k0 : KCHUNK;
        for (long p = 0; p < panels; p++) {
            float *panel = packed + k0 * panels * 16 + p * kc * 16;
            long rows = N - p * 16 < 16 ? N - p * 16 : 16;
            // 16 rows read side by side, the panel written in order
            for (long k = 0; k < kc; k++) {
                for (long i = 0; i < rows; i++) panel[k * 16 + i] = weight[(p * 16 + i) * K + k0 + k];
                for (long i = rows; i < 16; i++) panel[k * 16 + i] = 0;
            }
        }
    }
}

// A tile's accumulators, acc[NP * j + i] = row j, panel i, at their start:
// 0, or with `accumulate` the sums of the chunks of columns before, from
// out[j][n + 16 i ...] (a saved and reloaded float sum changes no bit, so
// chunks give the result of one pass over all columns); the last panel may
// be partial: nothing past `end` is read.
static inline __attribute__((always_inline)) AVX512 void
start_tile(__m512 acc[16], const float *out, long N, long n, long end, int accumulate, int NP, int MR) {
    for (int p = 0; p < 16; p++) acc[p] = _mm512_setzero_ps();
    if (accumulate)
        for (int i = 0; i < NP; i++)
            for (int j = 0; j < MR; j++) acc[NP * j + i] = _mm512_maskz_loadu_ps(lanes(end - n - 16 * i), out + j * N + n + 16 * i);
}

// Writes a tile's accumulators to out[j][n + 16 i ...]; nothing past `end`.
static inline __attribute__((always_inline)) AVX512 void
store_tile(float *out, long N, long n, long end, const __m512 acc[16], int NP, int MR) {
    for (int i = 0; i < NP; i++)
        for (int j = 0; j < MR; j++) _mm512_mask_storeu_ps(out + j * N + n + 16 * i, lanes(end - n - 16 * i), acc[NP * j + i]);
}

// NP panels (16 outputs each) times MR input rows, NP * MR <= 16
// accumulators. Each step of k loads NP weight vectors and broadcasts MR
// input values (folded into the FMAs), so one weight vector, read from
// memory once, feeds MR FMAs and nothing needs a horizontal sum. With 1 to 4
// rows the tile takes 4 panels, with 5 to 8 two, so there are always enough
// independent accumulators to hide the FMA latency. NP and MR are constants
// at every call: the compiler unrolls the loops and keeps the accumulators
// in registers. The input comes transposed, xt[k * 16 + j] = row j's column
// k, so the MR values of one step are side by side and every broadcast is a
// plain base + offset address (indexed addresses would split each FMA in two
// micro-ops and make the front end the bottleneck).
//
// K is one chunk's columns (the packed panels hold K steps each; see
// `start_tile` for `accumulate`).
static inline __attribute__((always_inline)) AVX512 void
panels(float *out, long N, long n, long end, const float *xt, const float *packed, long K, int accumulate,
       int NP, int MR) {
    __m512 acc[16];
    start_tile(acc, out, N, n, end, accumulate, NP, MR);
    const float *w = packed + (n / 16) * K * 16, *xk = xt;  // xk: the input's column k, 16 rows
    for (long k = 0; k < K; k++) {
        __m512 wv[4];
        for (int i = 0; i < NP; i++) wv[i] = _mm512_loadu_ps(w + i * K * 16 + k * 16);
        // The weights stream from memory once per call: ask for them into
        // L2 128 steps (8 KB) ahead and into L1 32 steps ahead, or each step
        // waits on a cache miss (the hardware prefetcher alone keeps too few
        // lines in flight here; the L2 hint took n = 16 sampling of the
        // width-512 bench model from about 1000 to 1300 tokens/s). Past the
        // end of its panel, each panel asks for the same step of the next
        // tile's panel, which is what the tile after this one reads.
        long far = k + 128 < K ? k + 128 : k + 128 + (NP - 1) * K;
        long near = k + 32 < K ? k + 32 : k + 32 + (NP - 1) * K;
        for (int i = 0; i < NP; i++) {
            _mm_prefetch((const char *)(w + (i * K + far) * 16), _MM_HINT_T1);
            _mm_prefetch((const char *)(w + (i * K + near) * 16), _MM_HINT_T0);
        }
        for (int j = 0; j < MR; j++) {
            __m512 x = _mm512_set1_ps(xk[j]);
            for (int i = 0; i < NP; i++) acc[NP * j + i] = _mm512_fmadd_ps(wv[i], x, acc[NP * j + i]);
        }
        // xk must stay a pointer of its own: left alone, the compiler steps
        // the input and the weights with one shared index, every broadcast
        // becomes a base + index address, and each FMA splits in two (see
        // above). The empty asm hides that xk moves with k. In L2, M = 16:
        // 147-164 GFLOP/s with the shared index, 165-210 without.
        xk += 16;
        __asm__("" : "+r"(xk));
    }
    store_tile(out, N, n, end, acc, NP, MR);
}

// Columns [n0, n1) against one group of MR rows: NP panels per tile, then
// single panels for what is left.
#define COLUMNS(tile, weights, MR, NP)                                                       \
    do {                                                                                     \
        long n = n0;                                                                         \
        for (; n + 16 * NP <= n1; n += 16 * NP) tile(out, N, n, n1, xt, weights, K, accumulate, NP, MR); \
        for (; n < n1; n += 16) tile(out, N, n, n1, xt, weights, K, accumulate, 1, MR);                  \
    } while (0)

// The tile shape for M (1 to 16) rows, with TILES(MR, NP) a constant-shape
// instance: 1 to 4 rows take 4 panels, 5 to 8 two, more one.
#define FOR_ROWS(M, TILES)                                                                    \
    switch (M) {                                                                              \
    case 1: TILES(1, 4); break;   case 2: TILES(2, 4); break;   case 3: TILES(3, 4); break;   \
    case 4: TILES(4, 4); break;   case 5: TILES(5, 2); break;   case 6: TILES(6, 2); break;   \
    case 7: TILES(7, 2); break;   case 8: TILES(8, 2); break;   case 9: TILES(9, 1); break;   \
    case 10: TILES(10, 1); break; case 11: TILES(11, 1); break; case 12: TILES(12, 1); break; \
    case 13: TILES(13, 1); break; case 14: TILES(14, 1); break; case 15: TILES(15, 1); break; \
    default: TILES(16, 1); break;                                                             \
    }

// Up to 16 transposed rows against columns [n0, n1) of a weight packed as
// Float32 panels (`product` takes the tile function as a parameter).
typedef void (*rows_fn)(float *out, const float *xt, const void *packed, long M, long K, long N, long n0, long n1,
                        int accumulate);

static AVX512 void float_rows(float *out, const float *xt, const void *packed, long M, long K, long N,
                              long n0, long n1, int accumulate) {
#define TILES(MR, NP) COLUMNS(panels, (const float *)packed, MR, NP)
    FOR_ROWS(M, TILES)
#undef TILES
}

// Scratch for the transposed input, one per thread, grown when needed and
// freed when the thread ends (Dispatch retires idle worker threads).
struct scratch { float *floats; long capacity; };
static pthread_key_t scratchKey;
static pthread_once_t scratchOnce = PTHREAD_ONCE_INIT;
static void freeScratch(void *p) {
    free(((struct scratch *)p)->floats);
    free(p);
}
static void makeScratchKey(void) { pthread_key_create(&scratchKey, freeScratch); }

static float *threadScratch(long count) {
    pthread_once(&scratchOnce, makeScratchKey);
    struct scratch *s = pthread_getspecific(scratchKey);
    if (!s) {
        if (!(s = calloc(1, sizeof *s))) abort();
        pthread_setspecific(scratchKey, s);
    }
    if (count > s->capacity) {
        free(s->floats);
        if (!(s->floats = malloc(sizeof(float) * count))) abort();
        s->capacity = count;
    }
    return s->floats;
}

// Transposes the 16 x 16 block r[0..<16] (16 floats each) in registers:
// on return r[k] holds column k. Three rounds of lane shuffles.
static inline __attribute__((always_inline)) AVX512 void transpose16(__m512 r[16]) {
    __m512 t[16];
    for (int i = 0; i < 16; i += 2) {  // interleave pairs of rows, 32-bit elements
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 16; i += 4)  // then 64-bit pairs of rows i, i + 1 with rows i + 2, i + 3
        for (int j = 0; j < 2; j++) {
            __m512d a = _mm512_castps_pd(t[i + j]), b = _mm512_castps_pd(t[i + j + 2]);
            r[i + 2 * j] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, b));      // column 2j of each 4
            r[i + 2 * j + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, b));  // column 2j + 1
        }
    // r[4q + c] now holds, in 128-bit lane l, column 4l + c of rows 4q..4q+3;
    // gather the lanes: column 4l + c = lanes l of r[c], r[4 + c], r[8 + c], r[12 + c]
    for (int c = 0; c < 4; c++) {
        __m512 a = _mm512_shuffle_f32x4(r[c], r[4 + c], 0x44), b = _mm512_shuffle_f32x4(r[c], r[4 + c], 0xEE);
        __m512 e = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0x44), f = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0xEE);
        t[c] = _mm512_shuffle_f32x4(a, e, 0x88);       // lane 0 of each: column c
        t[4 + c] = _mm512_shuffle_f32x4(a, e, 0xDD);   // lane 1: column 4 + c
        t[8 + c] = _mm512_shuffle_f32x4(b, f, 0x88);   // lane 2: column 8 + c
        t[12 + c] = _mm512_shuffle_f32x4(b, f, 0xDD);  // lane 3: column 12 + c
    }
    for (int i = 0; i < 16; i++) r[i] = t[i];
}

// Copies inp (M, K) into this thread's scratch in groups of 16 rows,
// xt[g * 16 * K + k * 16 + j] = inp[(16 g + j) * K + k] (zero past M),
// 16 x 16 blocks at a time, and returns it.
static AVX512 float *transpose_input(const float *inp, long M, long K) {
    long groups = (M + 15) / 16;
    float *transposed = threadScratch(groups * 16 * K);
    for (long g = 0; g < groups; g++) {
        long rows = M - 16 * g < 16 ? M - 16 * g : 16;
        for (long k0 = 0; k0 < K; k0 += 16) {
            long cols = K - k0 < 16 ? K - k0 : 16;
            __mmask16 mask = lanes(cols);
            __m512 r[16];
            for (int j = 0; j < 16; j++)
                r[j] = j < rows ? _mm512_maskz_loadu_ps(mask, inp + (16 * g + j) * K + k0) : _mm512_setzero_ps();
            transpose16(r);
            float *xt = transposed + g * 16 * K + k0 * 16;
            for (int k = 0; k < cols; k++) _mm512_storeu_ps(xt + k * 16, r[k]);
        }
    }
    return transposed;
}

// Transposes the input once, then, one chunk of `chunk` columns at a time,
// runs `rows` over 64 outputs (4 panels) at a time against every group of
// 16 rows: the panels come from memory once and from the cache for the
// other groups. Chunks keep the part of the input that every panel reads
// in L1: 16 rows of 512 columns are 32 KB, most of a 48 KB L1, and the
// streaming weights pushed them out (in L2, M = 16 ran at 130-140 GFLOP/s
// with K = 512 and 1408, at 145-155 in chunks of 256).
static AVX512 void product(rows_fn rows, float *out, const float *inp, const void *packed,
                           long M, long K, long N, long n0, long n1, long chunk) {
    long groups = (M + 15) / 16, panels = (N + 15) / 16;
    const float *transposed = transpose_input(inp, M, K);
    for (long k0 = 0; k0 < K; k0 += chunk) {
        long kc = K - k0 < chunk ? K - k0 : chunk;
        const float *weights = (const float *)packed + k0 * panels * 16;  // the chunk's panels (floats)
        for (long n = n0; n < n1; n += 64) {
            long end = n + 64 < n1 ? n + 64 : n1;
            for (long g = 0; g < groups; g++)
                rows(out + g * 16 * N, transposed + g * 16 * K + k0 * 16, weights, M - 16 * g < 16 ? M - 16 * g : 16,
                     kc, N, n, end, k0 > 0);
        }
    }
}

AVX512 void east_matmul_packed(float *out, const float *inp, const float *packed,
                               long M, long K, long N, long n0, long n1) {
    product(float_rows, out, inp, packed, M, K, N, n0, n1, KCHUNK);
}

#else
// Never called here: east_kernels_available() is 0.
static void unavailable(const char *name) {
    fprintf(stderr, "%s: the AVX-512 kernels are not compiled for this CPU\n", name);
    abort();
}
void east_pack_weight(float *packed, const float *weight, long K, long N) { unavailable(__func__); }
void east_matmul_packed(float *out, const float *inp, const float *packed, long M, long K, long N, long n0, long n1) {
    unavailable(__func__);
}
#endif

// ---------------------------------------------------------------------------
// Exponentials: softmax, token choice, SwiGLU

#if EAST_X86
// exp(x) for 16 lanes: x = n ln 2 + r with |r| <= ln 2 / 2, exp(r) by the
// Cephes polynomial (about 1 ulp), times 2^n by vscalefps. Inputs below -87
// give exp(-87) ~ 1.6e-38 instead of a denormal or 0: a token that far below
// the best one keeps a weight of 1.6e-38 instead of almost nothing.
static inline __attribute__((always_inline)) AVX512 __m512 exp16(__m512 x) {
    x = _mm512_max_ps(x, _mm512_set1_ps(-87.0f));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);  // ln 2 in two parts, exact first
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    return _mm512_scalef_ps(p, n);
}

static AVX512 float exp_sum_avx512(float *out, const float *in, long n, float shift, float scale) {
    __m512 acc = _mm512_setzero_ps(), s = _mm512_set1_ps(shift), c = _mm512_set1_ps(scale);
    for (long i = 0; i < n; i += 16) {
        __mmask16 mask = lanes(n - i);
        __m512 e = exp16(_mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(mask, in + i), s), c));
        e = _mm512_maskz_mov_ps(mask, e);
        _mm512_mask_storeu_ps(out + i, mask, e);
        acc = _mm512_add_ps(acc, e);
    }
    return _mm512_reduce_add_ps(acc);
}

#endif

#if EAST_X86
// exp16's polynomial on 8 lanes, 2^n built in the exponent bits (AVX2 has no
// vscalefps), inputs clamped to [-87, 88] so that n stays a normal exponent.
static inline __attribute__((always_inline)) AVX2 __m256 exp8(__m256 x) {
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.0f)), _mm256_set1_ps(88.0f));
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

static AVX2 float exp_sum_avx2(float *out, const float *in, long n, float shift, float scale) {
    __m256 acc = _mm256_setzero_ps(), s = _mm256_set1_ps(shift), c = _mm256_set1_ps(scale);
    long i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 e = exp8(_mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(in + i), s), c));
        _mm256_storeu_ps(out + i, e);
        acc = _mm256_add_ps(acc, e);
    }
    float lanes[8], sum = 0;
    _mm256_storeu_ps(lanes, acc);
    for (int l = 0; l < 8; l++) sum += lanes[l];
    for (; i < n; i++) {
        out[i] = expf((in[i] - shift) * scale);
        sum += out[i];
    }
    return sum;
}
#endif

float east_exp_sum(float *out, const float *in, long n, float shift, float scale) {
#if EAST_X86
    if (avx512()) return exp_sum_avx512(out, in, n, shift, scale);
    if (has_avx2) return exp_sum_avx2(out, in, n, shift, scale);
#endif
    float sum = 0;
    for (long i = 0; i < n; i++) {
        out[i] = expf((in[i] - shift) * scale);
        sum += out[i];
    }
    return sum;
}

#if EAST_X86
static AVX512 long argmax_avx512(const float *x, long n) {
    __m512 mx = _mm512_set1_ps(-INFINITY);
    for (long i = 0; i < n; i += 16) {
        __mmask16 mask = lanes(n - i);
        __m512 v = _mm512_maskz_loadu_ps(mask, x + i);
        __mmask16 ordered = _mm512_mask_cmp_ps_mask(mask, v, v, _CMP_ORD_Q);  // NaNs never win
        mx = _mm512_mask_max_ps(mx, ordered, mx, v);
    }
    float max = _mm512_reduce_max_ps(mx);
    __m512 target = _mm512_set1_ps(max);
    for (long i = 0; i < n; i += 16) {  // the first position holding the maximum
        __mmask16 mask = lanes(n - i);
        __mmask16 hit = _mm512_mask_cmp_ps_mask(mask, _mm512_maskz_loadu_ps(mask, x + i), target, _CMP_EQ_OQ);
        if (hit) return i + __builtin_ctz(hit);
    }
    return 0;  // only NaNs
}

#endif

long east_argmax(const float *x, long n) {
#if EAST_X86
    if (avx512()) return argmax_avx512(x, n);
#endif
    long best = 0;
    float max = -INFINITY;
    for (long i = 0; i < n; i++)
        if (x[i] > max) { max = x[i]; best = i; }  // NaNs never win
    return best;
}

#if EAST_X86
static AVX512 void swiglu_avx512(float *h, const float *gate, const float *up, long n) {
    for (long i = 0; i < n; i += 16) {
        __mmask16 mask = lanes(n - i);
        __m512 g = _mm512_maskz_loadu_ps(mask, gate + i), u = _mm512_maskz_loadu_ps(mask, up + i);
        // exp16 clamps its argument at -87: for g above 87, exp(-g) becomes
        // exp(-87) instead of smaller, and 1 + e is 1 either way
        __m512 e = exp16(_mm512_sub_ps(_mm512_setzero_ps(), g));
        __m512 silu = _mm512_div_ps(g, _mm512_add_ps(_mm512_set1_ps(1.0f), e));
        _mm512_mask_storeu_ps(h + i, mask, _mm512_mul_ps(silu, u));
    }
}

#endif

#if EAST_X86
static AVX2 void swiglu_avx2(float *h, const float *gate, const float *up, long n) {
    long i = 0;
    const __m256 one = _mm256_set1_ps(1), zero = _mm256_setzero_ps();
    for (; i + 8 <= n; i += 8) {
        __m256 g = _mm256_loadu_ps(gate + i);
        __m256 silu = _mm256_div_ps(g, _mm256_add_ps(one, exp8(_mm256_sub_ps(zero, g))));
        _mm256_storeu_ps(h + i, _mm256_mul_ps(silu, _mm256_loadu_ps(up + i)));
    }
    for (; i < n; i++) h[i] = gate[i] / (1 + expf(-gate[i])) * up[i];
}
#endif

void east_swiglu(float *h, const float *gate, const float *up, long n) {
#if EAST_X86
    if (avx512()) { swiglu_avx512(h, gate, up, n); return; }
    if (has_avx2) { swiglu_avx2(h, gate, up, n); return; }
#endif
    for (long i = 0; i < n; i++) h[i] = gate[i] / (1 + expf(-gate[i])) * up[i];
}

// ---------------------------------------------------------------------------
// Training: the output head's log-softmax, SwiGLU's backward, attention's softmax

#if EAST_X86
static AVX512 void softmax_stats_avx512(const float *x, long n, float *stats) {
    __m512 mx = _mm512_set1_ps(-INFINITY);
    for (long i = 0; i < n; i += 16) mx = _mm512_max_ps(mx, _mm512_mask_loadu_ps(mx, lanes(n - i), x + i));
    float max = _mm512_reduce_max_ps(mx);
    __m512 s = _mm512_set1_ps(max), sum = _mm512_setzero_ps(), squares = _mm512_setzero_ps();
    for (long i = 0; i < n; i += 16) {
        __mmask16 mask = lanes(n - i);
        __m512 e = _mm512_maskz_mov_ps(mask, exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(mask, x + i), s)));
        sum = _mm512_add_ps(sum, e);
        squares = _mm512_fmadd_ps(e, e, squares);
    }
    stats[0] = max;
    stats[1] = _mm512_reduce_add_ps(sum);
    stats[2] = _mm512_reduce_add_ps(squares);
}

static AVX512 void scaled_exp_avx512(float *x, long n, float shift, float factor) {
    __m512 s = _mm512_set1_ps(shift), f = _mm512_set1_ps(factor);
    for (long i = 0; i < n; i += 16) {
        __mmask16 mask = lanes(n - i);
        __m512 e = exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(mask, x + i), s));
        _mm512_mask_storeu_ps(x + i, mask, _mm512_mul_ps(f, e));
    }
}

static AVX512 void swiglu_backward_avx512(float *dgate, float *dup, const float *dh, const float *gate,
                                          const float *up, long n) {
    __m512 one = _mm512_set1_ps(1.0f);
    for (long i = 0; i < n; i += 16) {
        __mmask16 mask = lanes(n - i);
        __m512 g = _mm512_maskz_loadu_ps(mask, gate + i), u = _mm512_maskz_loadu_ps(mask, up + i);
        __m512 d = _mm512_maskz_loadu_ps(mask, dh + i);
        __m512 sig = _mm512_div_ps(one, _mm512_add_ps(one, exp16(_mm512_sub_ps(_mm512_setzero_ps(), g))));
        // silu'(g) = s * (1 + g * (1 - s))
        __m512 dsilu = _mm512_mul_ps(sig, _mm512_add_ps(one, _mm512_mul_ps(g, _mm512_sub_ps(one, sig))));
        _mm512_mask_storeu_ps(dgate + i, mask, _mm512_mul_ps(_mm512_mul_ps(d, u), dsilu));
        _mm512_mask_storeu_ps(dup + i, mask, _mm512_mul_ps(d, _mm512_mul_ps(g, sig)));
    }
}
#endif

void east_softmax_stats(const float *x, long n, float *stats) {
#if EAST_X86
    if (avx512()) { softmax_stats_avx512(x, n, stats); return; }
#endif
    float max = -INFINITY, sum = 0, squares = 0;
    for (long i = 0; i < n; i++) max = x[i] > max ? x[i] : max;
    for (long i = 0; i < n; i++) {
        float e = expf(x[i] - max);
        sum += e;
        squares += e * e;
    }
    stats[0] = max;
    stats[1] = sum;
    stats[2] = squares;
}

void east_scaled_exp(float *x, long n, float shift, float factor) {
#if EAST_X86
    if (avx512()) { scaled_exp_avx512(x, n, shift, factor); return; }
#endif
    for (long i = 0; i < n; i++) x[i] = factor * expf(x[i] - shift);
}

void east_swiglu_backward(float *dgate, float *dup, const float *dh, const float *gate, const float *up, long n) {
#if EAST_X86
    if (avx512()) { swiglu_backward_avx512(dgate, dup, dh, gate, up, n); return; }
#endif
    for (long i = 0; i < n; i++) {
        float g = gate[i], s = 1 / (1 + expf(-g));
        dgate[i] = dh[i] * up[i] * (s * (1 + g * (1 - s)));
        dup[i] = dh[i] * (g * s);
    }
}

void east_causal_softmax(float *row, long n, long kept) {
    float max = -INFINITY;
    for (long j = 0; j < kept; j++) max = row[j] > max ? row[j] : max;
    float inv = 1 / east_exp_sum(row, row, kept, max, 1);
    for (long j = 0; j < kept; j++) row[j] *= inv;
    for (long j = kept; j < n; j++) row[j] = 0;
}

// ---------------------------------------------------------------------------
// Drawing a token from unnormalized weights

// Token choice walks the vocabulary several times per token (the kept mass,
// top-k and top-p thresholds, the draw itself); as scalar loops these were
// chains of dependent adds, slower than the rest of the choice together.

#if EAST_X86
static AVX512 void kept_avx512(const float *p, long n, float tau, float *count, float *mass) {
    __m512 c = _mm512_setzero_ps(), m = _mm512_setzero_ps(), t = _mm512_set1_ps(tau);
    for (long i = 0; i < n; i += 16) {
        __m512 v = _mm512_maskz_loadu_ps(lanes(n - i), p + i);
        __mmask16 keep = _mm512_mask_cmp_ps_mask(lanes(n - i), v, t, _CMP_GE_OQ);
        c = _mm512_mask_add_ps(c, keep, c, _mm512_set1_ps(1));
        m = _mm512_mask_add_ps(m, keep, m, v);
    }
    *count = _mm512_reduce_add_ps(c);
    *mass = _mm512_reduce_add_ps(m);
}

static AVX512 long draw_avx512(const float *p, long n, float tau, float u) {
    __m512 t = _mm512_set1_ps(tau);
    long last = -1;
    for (long i = 0; i < n; i += 16) {
        __m512 v = _mm512_maskz_loadu_ps(lanes(n - i), p + i);
        __mmask16 keep = _mm512_mask_cmp_ps_mask(lanes(n - i), v, t, _CMP_GE_OQ);
        if (!keep) continue;
        float block = _mm512_reduce_add_ps(_mm512_maskz_mov_ps(keep, v));
        if (u - block >= 0) {  // not in this block
            u -= block;
            last = i + 31 - __builtin_clz((unsigned)keep);
            continue;
        }
        for (int l = 0; l < 16; l++)
            if (keep >> l & 1) {
                last = i + l;
                u -= p[i + l];
                if (u < 0) return i + l;
            }
    }
    return last;
}
#endif

void east_kept(const float *p, long n, float tau, float *count, float *mass) {
#if EAST_X86
    if (avx512()) { kept_avx512(p, n, tau, count, mass); return; }
#endif
    float c = 0, m = 0;
    for (long i = 0; i < n; i++)
        if (p[i] >= tau) { c += 1; m += p[i]; }
    *count = c;
    *mass = m;
}

long east_draw(const float *p, long n, float tau, float u) {
#if EAST_X86
    if (avx512()) return draw_avx512(p, n, tau, u);
#endif
    long last = -1;
    for (long i = 0; i < n; i++)
        if (p[i] >= tau) {
            last = i;
            u -= p[i];
            if (u < 0) return i;
        }
    return last;
}

// ---------------------------------------------------------------------------
// Attention of one query position

#if EAST_X86
// Scores of HS (1 or 2) query heads of one group for the positions in
// [from, to) of NB blocks of 16 from position j0 (a multiple of 16): the keys
// come in blocks of 16 positions, kb[(j / 16) * keyBlockStride + d * 16 + j % 16],
// so one vector holds column d of 16 positions and each broadcast query value
// meets it in one FMA (no horizontal sums); both heads share every key load.
// Lanes outside [from, to) are neither read nor written.
static inline __attribute__((always_inline)) AVX512 void
score_blocks(float *scores, long scoreStride, const float *q, long hd, const float *kb, long keyBlockStride,
             long j0, long from, long to, float scale, int HS, int NB) {
    __m512 acc[2][4];
    __mmask16 masks[4];
    for (int b = 0; b < NB; b++) {
        long jb = j0 + 16 * b;
        masks[b] = lanes(to - jb) & (__mmask16)~lanes(from - jb);
        for (int h = 0; h < HS; h++) acc[h][b] = _mm512_setzero_ps();
    }
    const float *block = kb + j0 / 16 * keyBlockStride;
    for (long d = 0; d < hd; d++) {
        for (int b = 0; b < NB; b++) {
            __m512 k = _mm512_maskz_loadu_ps(masks[b], block + b * keyBlockStride + d * 16);
            for (int h = 0; h < HS; h++) acc[h][b] = _mm512_fmadd_ps(_mm512_set1_ps(q[h * hd + d]), k, acc[h][b]);
        }
    }
    __m512 s = _mm512_set1_ps(scale);
    for (int h = 0; h < HS; h++)
        for (int b = 0; b < NB; b++)
            _mm512_mask_storeu_ps(scores + h * scoreStride + j0 + 16 * b, masks[b], _mm512_mul_ps(acc[h][b], s));
}

// The scores of positions [from, to), 64 positions at a time; the last
// group of 64 takes only the blocks it needs (a sample's own positions are
// often few).
static inline __attribute__((always_inline)) AVX512 void
group_scores(float *scores, long scoreStride, const float *q, long hd, const float *kb, long keyBlockStride,
             long from, long to, float scale, int HS) {
    for (long j0 = from / 16 * 16; j0 < to; j0 += 64) {
        switch ((to - j0 + 15) / 16) {
        case 1: score_blocks(scores, scoreStride, q, hd, kb, keyBlockStride, j0, from, to, scale, HS, 1); break;
        case 2: score_blocks(scores, scoreStride, q, hd, kb, keyBlockStride, j0, from, to, scale, HS, 2); break;
        case 3: score_blocks(scores, scoreStride, q, hd, kb, keyBlockStride, j0, from, to, scale, HS, 3); break;
        default: score_blocks(scores, scoreStride, q, hd, kb, keyBlockStride, j0, from, to, scale, HS, 4); break;
        }
    }
}

// out_h = sum_j p_h[j] v_j for HS heads sharing the value rows, 64 columns
// at a time, two positions per step into separate accumulators (16 FMA
// chains: fewer would wait on the FMA latency).
static inline __attribute__((always_inline)) AVX512 void
group_values(float *out, const float *scores, long scoreStride, const float *inv, const float *vp, long prefix,
             const float *v, long valueStride, long length, long hd, int HS) {
    for (long c0 = 0; c0 < hd; c0 += 64) {
        long width = hd - c0 < 64 ? hd - c0 : 64;
        __m512 acc[2][2][4];
        __mmask16 masks[4];
        for (int u = 0; u < 4; u++) {
            long left = width - 16 * u;
            masks[u] = lanes(left);
            for (int r = 0; r < 2; r++)
                for (int h = 0; h < HS; h++) acc[r][h][u] = _mm512_setzero_ps();
        }
        long j = 0;
        for (; j + 2 <= length; j += 2)
            for (int r = 0; r < 2; r++) {
                const float *vj = (j + r < prefix ? vp : v) + (j + r) * valueStride + c0;
                __m512 vv[4];
                for (int u = 0; u < 4; u++) vv[u] = _mm512_maskz_loadu_ps(masks[u], vj + 16 * u);
                for (int h = 0; h < HS; h++) {
                    __m512 p = _mm512_set1_ps(scores[h * scoreStride + j + r]);
                    for (int u = 0; u < 4; u++) acc[r][h][u] = _mm512_fmadd_ps(p, vv[u], acc[r][h][u]);
                }
            }
        for (; j < length; j++) {
            const float *vj = (j < prefix ? vp : v) + j * valueStride + c0;
            for (int h = 0; h < HS; h++) {
                __m512 p = _mm512_set1_ps(scores[h * scoreStride + j]);
                for (int u = 0; u < 4; u++)
                    acc[0][h][u] = _mm512_fmadd_ps(p, _mm512_maskz_loadu_ps(masks[u], vj + 16 * u), acc[0][h][u]);
            }
        }
        for (int h = 0; h < HS; h++) {
            __m512 s = _mm512_set1_ps(inv[h]);
            for (int u = 0; u < 4; u++)
                _mm512_mask_storeu_ps(out + h * hd + c0 + 16 * u, masks[u],
                                      _mm512_mul_ps(_mm512_add_ps(acc[0][h][u], acc[1][h][u]), s));
        }
    }
}

static AVX512 void attend_one_avx512(float *out, const float *q, const float *prefixKeys, const float *prefixValues,
                                     long prefix, const float *keys, const float *values,
                                     long length, long heads, long kvHeads, long hd, long keyBlockStride,
                                     long valueStride, long valueHeadStride, float scale, float *scores) {
    long group = heads / kvHeads;
    for (long g = 0; g < kvHeads; g++) {
        // head g in the shared prompt's row (kp, vp) and in the sample's own row (ko, v)
        const float *kp = prefixKeys + g * hd * 16, *vp = prefixValues + g * valueHeadStride;
        const float *ko = keys + g * hd * 16, *v = values + g * valueHeadStride;
        for (long h0 = 0; h0 < group; h0 += 2) {  // query heads of this group, two at a time
            long h = g * group + h0;
            int pair = group - h0 >= 2;
            // each score is its own sum over d: computing the prefix's and the
            // rest's separately changes no bit
            if (pair) {
                group_scores(scores, length, q + h * hd, hd, kp, keyBlockStride, 0, prefix, scale, 2);
                group_scores(scores, length, q + h * hd, hd, ko, keyBlockStride, prefix, length, scale, 2);
            } else {
                group_scores(scores, length, q + h * hd, hd, kp, keyBlockStride, 0, prefix, scale, 1);
                group_scores(scores, length, q + h * hd, hd, ko, keyBlockStride, prefix, length, scale, 1);
            }
            // softmax, unnormalized: 1 / sum scales the output once at the end
            float inv[2];
            for (int i = 0; i <= pair; i++) {
                float *sc = scores + i * length;
                __m512 mx = _mm512_set1_ps(-INFINITY);
                for (long j = 0; j < length; j += 16) {
                    __mmask16 m = lanes(length - j);
                    mx = _mm512_mask_max_ps(mx, m, mx, _mm512_maskz_loadu_ps(m, sc + j));
                }
                inv[i] = 1 / exp_sum_avx512(sc, sc, length, _mm512_reduce_max_ps(mx), 1);
            }
            if (pair) group_values(out + h * hd, scores, length, inv, vp, prefix, v, valueStride, length, hd, 2);
            else group_values(out + h * hd, scores, length, inv, vp, prefix, v, valueStride, length, hd, 1);
        }
    }
}

#endif

#if EAST_X86
// Scores of one query head against positions [from, to) of one row's keys
// (blocks of 16 positions, column d of a block contiguous), two blocks a
// step: 4 chains of 8 lanes, each summed over d in order, so a score does
// not depend on which range or step it was computed in.
static AVX2 void scores_avx2(float *scores, const float *q, long hd, const float *kb, long keyBlockStride, long from,
                             long to, float scale) {
    for (long j0 = from / 16 * 16; j0 < to; j0 += 32) {
        const float *k0 = kb + j0 / 16 * keyBlockStride, *k1 = k0 + keyBlockStride;
        int two = j0 + 16 < to;
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, b0 = a0, b1 = a0;
        for (long d = 0; d < hd; d++) {
            __m256 qd = _mm256_set1_ps(q[d]);
            a0 = _mm256_fmadd_ps(_mm256_loadu_ps(k0 + d * 16), qd, a0);
            a1 = _mm256_fmadd_ps(_mm256_loadu_ps(k0 + d * 16 + 8), qd, a1);
            if (two) {
                b0 = _mm256_fmadd_ps(_mm256_loadu_ps(k1 + d * 16), qd, b0);
                b1 = _mm256_fmadd_ps(_mm256_loadu_ps(k1 + d * 16 + 8), qd, b1);
            }
        }
        float lanes[32];
        __m256 s = _mm256_set1_ps(scale);
        _mm256_storeu_ps(lanes, _mm256_mul_ps(a0, s));
        _mm256_storeu_ps(lanes + 8, _mm256_mul_ps(a1, s));
        _mm256_storeu_ps(lanes + 16, _mm256_mul_ps(b0, s));
        _mm256_storeu_ps(lanes + 24, _mm256_mul_ps(b1, s));
        for (long j = j0 < from ? from : j0; j < j0 + 32 && j < to; j++) scores[j] = lanes[j - j0];
    }
}

// One query position over the cache, head by head: scores (8 positions a
// vector), softmax (AVX2 exp), then the weighted sum of the values, 8
// accumulators of 8 columns (a head of 64 columns in registers).
static AVX2 void attend_one_avx2(float *out, const float *q, const float *prefixKeys, const float *prefixValues,
                                 long prefix, const float *keys, const float *values,
                                 long length, long heads, long kvHeads, long hd, long keyBlockStride,
                                 long valueStride, long valueHeadStride, float scale, float *scores) {
    long group = heads / kvHeads;
    for (long h = 0; h < heads; h++) {
        long g = h / group;
        const float *qh = q + h * hd;
        scores_avx2(scores, qh, hd, prefixKeys + g * hd * 16, keyBlockStride, 0, prefix < length ? prefix : length, scale);
        if (prefix < length) scores_avx2(scores, qh, hd, keys + g * hd * 16, keyBlockStride, prefix, length, scale);
        float max = -INFINITY;
        for (long j = 0; j < length; j++) max = scores[j] > max ? scores[j] : max;
        float inv = 1 / exp_sum_avx2(scores, scores, length, max, 1);
        const float *vp = prefixValues + g * valueHeadStride, *vo = values + g * valueHeadStride;
        for (long c0 = 0; c0 < hd; c0 += 64) {
            long width = hd - c0 < 64 ? hd - c0 : 64, vectors = width / 8;
            __m256 acc[8];
            for (int u = 0; u < 8; u++) acc[u] = _mm256_setzero_ps();
            for (long j = 0; j < length; j++) {
                const float *vj = (j < prefix ? vp : vo) + j * valueStride + c0;
                __m256 p = _mm256_set1_ps(scores[j]);
                for (int u = 0; u < vectors; u++) acc[u] = _mm256_fmadd_ps(p, _mm256_loadu_ps(vj + 8 * u), acc[u]);
            }
            float *oh = out + h * hd + c0;
            for (int u = 0; u < vectors; u++) _mm256_storeu_ps(oh + 8 * u, _mm256_mul_ps(acc[u], _mm256_set1_ps(inv)));
            for (long c = vectors * 8; c < width; c++) {  // columns past the last whole vector
                float sum = 0;
                for (long j = 0; j < length; j++) sum += scores[j] * ((j < prefix ? vp : vo) + j * valueStride + c0)[c];
                oh[c] = sum * inv;
            }
        }
    }
}
#endif

static void attend_one_portable(float *out, const float *q, const float *prefixKeys, const float *prefixValues,
                                long prefix, const float *keys, const float *values,
                                long length, long heads, long kvHeads, long hd, long keyBlockStride,
                                long valueStride, long valueHeadStride, float scale, float *scores) {
    long group = heads / kvHeads;
    for (long h = 0; h < heads; h++) {
        const float *qh = q + h * hd;
        long g = h / group;
        float *oh = out + h * hd;
        for (long j = 0; j < length; j++) {
            const float *kb = (j < prefix ? prefixKeys : keys) + j / 16 * keyBlockStride + g * hd * 16 + j % 16;
            float s = 0;
            for (long d = 0; d < hd; d++) s += kb[d * 16] * qh[d];
            scores[j] = scale * s;
        }
        float max = -INFINITY;
        for (long j = 0; j < length; j++) max = scores[j] > max ? scores[j] : max;
        float inv = 1 / east_exp_sum(scores, scores, length, max, 1);
        for (long c = 0; c < hd; c++) oh[c] = 0;
        for (long j = 0; j < length; j++) {
            const float *vh = (j < prefix ? prefixValues : values) + g * valueHeadStride;
            for (long c = 0; c < hd; c++) oh[c] += scores[j] * vh[j * valueStride + c];
        }
        for (long c = 0; c < hd; c++) oh[c] *= inv;
    }
}

void east_attend_one(float *out, const float *q, const float *prefixKeys, const float *prefixValues, long prefix,
                     const float *keys, const float *values,
                     long length, long heads, long kvHeads, long headDim, long keyBlockStride, long valueStride,
                     long valueHeadStride, float scale, float *scores) {
#if EAST_X86
    if (avx512()) {
        attend_one_avx512(out, q, prefixKeys, prefixValues, prefix, keys, values, length, heads, kvHeads, headDim,
                          keyBlockStride, valueStride, valueHeadStride, scale, scores);
        return;
    }
    if (has_avx2) {
        attend_one_avx2(out, q, prefixKeys, prefixValues, prefix, keys, values, length, heads, kvHeads, headDim,
                        keyBlockStride, valueStride, valueHeadStride, scale, scores);
        return;
    }
#endif
    attend_one_portable(out, q, prefixKeys, prefixValues, prefix, keys, values, length, heads, kvHeads, headDim,
                        keyBlockStride, valueStride, valueHeadStride, scale, scores);
}

// ---------------------------------------------------------------------------
// Row-by-row products for the sampler without AVX-512 (no packed copy)
//
// sgemm's bits for a row depend on how many rows it is given, so a sample
// decoded beside others would differ from the same sample decoded alone.
// Here every output is one dot product in a fixed order (8 lanes, then a
// fixed horizontal sum, then the tail), whatever M, and the Swift side
// splits a product by columns only, so rows never depend on each other.

#if EAST_X86

// 8 lanes summed horizontally in a fixed order, then the tail k..<K one by one.
static inline __attribute__((always_inline)) AVX2 float finish_row(__m256 acc, const float *x, const float *w, long k,
                                                                   long K) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    float sum = _mm_cvtss_f32(s);
    for (; k < K; k++) sum = fmaf(x[k], w[k], sum);
    return sum;
}

// Four rows share each weight vector; the rest go one by one with the same
// steps, so a row's bits do not depend on which block it is in. Two
// accumulators a row (8-lane groups alternating between them, added before
// the horizontal sum): one would make a single row wait on the FMA latency
// at every step.
static AVX2 void rows_avx2(float *out, const float *inp, const float *weight, long M, long K, long N, long n0, long n1) {
    const long K8 = K & ~7L, K16 = K & ~15L;
    for (long n = n0; n < n1; n++) {
        const float *w = weight + n * K;
        long m = 0;
        for (; m + 4 <= M; m += 4) {
            const float *x0 = inp + m * K, *x1 = x0 + K, *x2 = x1 + K, *x3 = x2 + K;
            __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
            for (long k = 0; k < K16; k += 16) {
                const __m256 wa = _mm256_loadu_ps(w + k), wb = _mm256_loadu_ps(w + k + 8);
                a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x0 + k), wa, a0); b0 = _mm256_fmadd_ps(_mm256_loadu_ps(x0 + k + 8), wb, b0);
                a1 = _mm256_fmadd_ps(_mm256_loadu_ps(x1 + k), wa, a1); b1 = _mm256_fmadd_ps(_mm256_loadu_ps(x1 + k + 8), wb, b1);
                a2 = _mm256_fmadd_ps(_mm256_loadu_ps(x2 + k), wa, a2); b2 = _mm256_fmadd_ps(_mm256_loadu_ps(x2 + k + 8), wb, b2);
                a3 = _mm256_fmadd_ps(_mm256_loadu_ps(x3 + k), wa, a3); b3 = _mm256_fmadd_ps(_mm256_loadu_ps(x3 + k + 8), wb, b3);
            }
            if (K16 < K8) {
                const __m256 wa = _mm256_loadu_ps(w + K16);
                a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x0 + K16), wa, a0);
                a1 = _mm256_fmadd_ps(_mm256_loadu_ps(x1 + K16), wa, a1);
                a2 = _mm256_fmadd_ps(_mm256_loadu_ps(x2 + K16), wa, a2);
                a3 = _mm256_fmadd_ps(_mm256_loadu_ps(x3 + K16), wa, a3);
            }
            out[(m + 0) * N + n] = finish_row(_mm256_add_ps(a0, b0), x0, w, K8, K);
            out[(m + 1) * N + n] = finish_row(_mm256_add_ps(a1, b1), x1, w, K8, K);
            out[(m + 2) * N + n] = finish_row(_mm256_add_ps(a2, b2), x2, w, K8, K);
            out[(m + 3) * N + n] = finish_row(_mm256_add_ps(a3, b3), x3, w, K8, K);
        }
        for (; m < M; m++) {
            const float *x = inp + m * K;
            __m256 a = _mm256_setzero_ps(), b = a;
            for (long k = 0; k < K16; k += 16) {
                a = _mm256_fmadd_ps(_mm256_loadu_ps(x + k), _mm256_loadu_ps(w + k), a);
                b = _mm256_fmadd_ps(_mm256_loadu_ps(x + k + 8), _mm256_loadu_ps(w + k + 8), b);
            }
            if (K16 < K8) a = _mm256_fmadd_ps(_mm256_loadu_ps(x + K16), _mm256_loadu_ps(w + K16), a);
            out[m * N + n] = finish_row(_mm256_add_ps(a, b), x, w, K8, K);
        }
    }
}
#endif

void east_matmul_rows(float *out, const float *inp, const float *weight, long M, long K, long N, long n0, long n1) {
#if EAST_X86
    if (has_avx2) { rows_avx2(out, inp, weight, M, K, N, n0, n1); return; }
#endif
    // without AVX2: every output one dot product in column order
    for (long n = n0; n < n1; n++) {
        for (long m = 0; m < M; m++) {
            const float *x = inp + m * K, *w = weight + n * K;
            float sum = 0;
            for (long k = 0; k < K; k++) sum = fmaf(x[k], w[k], sum);
            out[m * N + n] = sum;
        }
    }
}
