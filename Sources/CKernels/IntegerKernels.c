// Integer decode products: weights as the GGUF file's integer codes, the
// activations quantized to 8 bits, and the dot products in integer
// arithmetic (see CKernels.h, east_imatmul, for why).

#include "CKernels.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && !defined(EAST_NO_AVX512)
#define EAST_X86 1
#include <immintrin.h>
#else
#define EAST_X86 0
#endif

// Activation rows per pass over a panel: each pass unpacks every block of
// the panel once, so the 16 samples of a decode step share one unpack.
#define EAST_MTILE 16

// ---------------------------------------------------------------------------
// Which kernel runs, decided once when the library loads

static int int_path;  // EAST_INT_PATH_*
__attribute__((constructor)) static void detect_int_path(void) {
    int_path = EAST_INT_PATH_PORTABLE;
#if EAST_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c"))
        int_path = EAST_INT_PATH_AVX2;
    if (east_kernels_available() && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vnni"))
        int_path = EAST_INT_PATH_AVX512_VNNI;
#endif
}

int east_int_path(void) { return int_path; }

int east_int_rows(void) { return int_path == EAST_INT_PATH_AVX512_VNNI ? 16 : 8; }

// ---------------------------------------------------------------------------
// Packing

static uint16_t half_bits(float x) {
    _Float16 h = (_Float16)x;
    uint16_t bits;
    memcpy(&bits, &h, 2);
    return bits;
}

void east_ipack_weight(void *packed, const int8_t *codes, const float *scales, const float *offsets, long K, long N,
                       int sub, int bits, int lowest, int R) {
    const long blocks = K / 32, subs = K / sub, halves = 32 / sub, blockBytes = east_iblock_bytes(R, bits, sub);
    const int withOffsets = bits != 8;
    for (long g = 0; g < (N + R - 1) / R; g++) {
        for (long b = 0; b < blocks; b++) {
            uint8_t *block = (uint8_t *)packed + (g * blocks + b) * blockBytes;
            uint16_t *d = (uint16_t *)block, *o = d + R * halves;
            uint8_t *c = block + 2 * R * halves * (1 + withOffsets);
            memset(c, 0, blockBytes - 2 * R * halves * (1 + withOffsets));
            for (long r = 0; r < R; r++) {
                long n = g * R + r;
                for (long h = 0; h < halves; h++) {
                    // past the last row: zero scales and codes (the outputs are never stored)
                    float s = n < N ? scales[n * subs + b * halves + h] : 0;
                    float m = n < N ? (offsets ? offsets[n * subs + b * halves + h] : 0) : 0;
                    d[h * R + r] = half_bits(s);
                    if (withOffsets) o[h * R + r] = half_bits(m + (float)lowest * s);  // u = code - lowest
                }
                for (long k = 0; k < 32; k++) {
                    int code = n < N ? codes[n * K + b * 32 + k] : lowest;
                    long j = k / 4, byte = 4 * r + k % 4;
                    if (bits == 8) {
                        c[j * R * 4 + byte] = (uint8_t)code;
                        continue;
                    }
                    unsigned u = (unsigned)(code - lowest);
                    c[(j % 4) * R * 4 + byte] |= (uint8_t)((u & 0x0F) << (j < 4 ? 0 : 4));
                    if (bits == 5) c[R * 16 + byte] |= (uint8_t)(((u >> 4) & 1) << j);
                    if (bits == 6) c[R * 16 + (j / 4) * R * 4 + byte] |= (uint8_t)(((u >> 4) & 3) << (2 * (j % 4)));
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Activations

#if EAST_X86
// One block of 32 with AVX2: the same numbers as the loop below (the
// maximum is exact in any order, and the rounding is the same
// round-to-nearest-even of the same products).
static __attribute__((target("avx2,fma"))) void quantize_block_avx2(struct east_q8 *a, const float *v) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 x[4], amax = _mm256_setzero_ps();
    for (int i = 0; i < 4; i++) {
        x[i] = _mm256_loadu_ps(v + 8 * i);
        amax = _mm256_max_ps(amax, _mm256_andnot_ps(sign, x[i]));
    }
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(amax), _mm256_extractf128_ps(amax, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    float d = _mm_cvtss_f32(m) / 127, id = d != 0 ? 1 / d : 0;
    __m256i q[4];
    for (int i = 0; i < 4; i++) q[i] = _mm256_cvtps_epi32(_mm256_mul_ps(x[i], _mm256_set1_ps(id)));  // nearest even
    // sums of the first and last 16 codes
    __m256i s0 = _mm256_add_epi32(q[0], q[1]), s1 = _mm256_add_epi32(q[2], q[3]);
    int lanes0[8], lanes1[8], sum0 = 0, sum1 = 0;
    _mm256_storeu_si256((__m256i *)lanes0, s0);
    _mm256_storeu_si256((__m256i *)lanes1, s1);
    for (int i = 0; i < 8; i++) { sum0 += lanes0[i]; sum1 += lanes1[i]; }
    // 32 int32 to 32 int8, in order (packs interleave 128-bit lanes; the permute restores the order)
    __m256i p16a = _mm256_packs_epi32(q[0], q[1]), p16b = _mm256_packs_epi32(q[2], q[3]);
    __m256i p8 = _mm256_packs_epi16(p16a, p16b);
    p8 = _mm256_permutevar8x32_epi32(p8, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256((__m256i *)a->q, p8);
    a->d = d;
    a->sum[0] = d * (float)sum0;
    a->sum[1] = d * (float)sum1;
    a->sum[2] = d * (float)(sum0 + sum1);
}
#endif

static void quantize_block(struct east_q8 *a, const float *v) {
    float amax = 0;
    for (int i = 0; i < 32; i++) amax = fabsf(v[i]) > amax ? fabsf(v[i]) : amax;
    float d = amax / 127, id = d != 0 ? 1 / d : 0;
    int sum[2] = {0, 0};
    for (int i = 0; i < 32; i++) {
        int q = (int)lrintf(v[i] * id);
        a->q[i] = (int8_t)q;
        sum[i / 16] += q;
    }
    a->d = d;
    a->sum[0] = d * (float)sum[0];
    a->sum[1] = d * (float)sum[1];
    a->sum[2] = d * (float)(sum[0] + sum[1]);
}

void east_quantize_acts(void *acts, const float *x, long M, long K) {
    struct east_q8 *a = acts;
    for (long m = 0; m < M; m++) {
        for (long b = 0; b < K / 32; b++, a++) {
#if EAST_X86
            if (int_path != EAST_INT_PATH_PORTABLE) { quantize_block_avx2(a, x + m * K + b * 32); continue; }
#endif
            quantize_block(a, x + m * K + b * 32);
        }
    }
}

// ---------------------------------------------------------------------------
// The product, vectorized

#if EAST_X86
#define R 8
#define VI __m256i
#define VF __m256
#define ATTR __attribute__((target("avx2,fma,f16c")))
#define NAME(x) avx2_##x
#define LOADI(p) _mm256_loadu_si256((const __m256i *)(p))
#define AND _mm256_and_si256
#define OR _mm256_or_si256
#define SLLI16 _mm256_slli_epi16
#define SRLI16 _mm256_srli_epi16
#define SET1_8(x) _mm256_set1_epi8((char)(x))
#define BCAST4(p) _mm256_set1_epi32(*(const int32_t *)(p))
#define PAIRS _mm256_maddubs_epi16
#define ADD16 _mm256_add_epi16
#define WIDEN(acc, p) _mm256_add_epi32(acc, _mm256_madd_epi16(p, _mm256_set1_epi16(1)))
#define ABS8 _mm256_abs_epi8
#define SIGN8(a, w) _mm256_sign_epi8(a, w)
#define CVT _mm256_cvtepi32_ps
#define FMA _mm256_fmadd_ps
#define MUL _mm256_mul_ps
#define SET1PS _mm256_set1_ps
#define ZEROPS _mm256_setzero_ps()
#define LOADH(p) _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p)))
#define STOREPS(p, v, count)                                    \
    do {                                                        \
        if ((count) == 8) _mm256_storeu_ps(p, v);               \
        else {                                                  \
            float lanes_[8];                                    \
            _mm256_storeu_ps(lanes_, v);                        \
            for (long i_ = 0; i_ < (count); i_++) (p)[i_] = lanes_[i_]; \
        }                                                       \
    } while (0)
#include "IntegerPanels.h"

#define R 16
#define VI __m512i
#define VF __m512
#define ATTR __attribute__((target("avx512f,avx512bw,avx512vnni,fma,f16c")))
#define NAME(x) vnni_##x
#define LOADI(p) _mm512_loadu_si512((const void *)(p))
#define AND _mm512_and_si512
#define OR _mm512_or_si512
#define SLLI16 _mm512_slli_epi16
#define SRLI16 _mm512_srli_epi16
#define SET1_8(x) _mm512_set1_epi8((char)(x))
#define BCAST4(p) _mm512_set1_epi32(*(const int32_t *)(p))
#define DOT _mm512_dpbusd_epi32
#define ABS8 _mm512_abs_epi8
#define SIGN8(a, w) _mm512_mask_sub_epi8(a, _mm512_movepi8_mask(w), _mm512_setzero_si512(), a)
#define CVT _mm512_cvtepi32_ps
#define FMA _mm512_fmadd_ps
#define MUL _mm512_mul_ps
#define SET1PS _mm512_set1_ps
#define ZEROPS _mm512_setzero_ps()
#define LOADH(p) _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(p)))
#define STOREPS(p, v, count) _mm512_mask_storeu_ps(p, (__mmask16)((count) >= 16 ? 0xFFFF : (1u << (count)) - 1), v)
#include "IntegerPanels.h"
#endif

// ---------------------------------------------------------------------------
// The product, portable: the same sums, one code at a time

// Unsigned (or, 8 bits, signed) code of row r, column k of a block's codes.
static int code_at(const uint8_t *c, int bits, int R, int r, int k) {
    long j = k / 4, byte = 4 * r + k % 4;
    if (bits == 8) return (int8_t)c[j * R * 4 + byte];
    int u = (c[(j % 4) * R * 4 + byte] >> (j < 4 ? 0 : 4)) & 0x0F;
    if (bits == 5) u |= ((c[R * 16 + byte] >> j) & 1) << 4;
    if (bits == 6) u |= ((c[R * 16 + (j / 4) * R * 4 + byte] >> (2 * (j % 4))) & 3) << 4;
    return u;
}

static float half_value(const uint8_t *p) {
    _Float16 h;
    memcpy(&h, p, 2);
    return (float)h;
}

static void portable_product(float *out, const void *acts, const void *packed, long M, long K, long N, long n0,
                             long n1, int bits, int sub, int R) {
    const long blocks = K / 32, halves = 32 / sub, blockBytes = east_iblock_bytes(R, bits, sub);
    const int withOffsets = bits != 8;
    for (long n = n0; n < n1; n++) {
        long r = n % R;
        const uint8_t *panel = (const uint8_t *)packed + (n / R) * blocks * blockBytes;
        for (long m = 0; m < M; m++) {
            float acc = 0;
            for (long b = 0; b < blocks; b++) {
                const uint8_t *block = panel + b * blockBytes, *c = block + 2 * R * halves * (1 + withOffsets);
                const struct east_q8 *a = (const struct east_q8 *)acts + m * blocks + b;
                for (long h = 0; h < halves; h++) {
                    int sum = 0;
                    for (int k = (int)(h * sub); k < (int)((h + 1) * sub); k++) sum += code_at(c, bits, R, (int)r, k) * a->q[k];
                    float d = half_value(block + 2 * (h * R + r));
                    acc = fmaf((float)sum, d * a->d, acc);
                    if (withOffsets) acc = fmaf(half_value(block + 2 * ((halves + h) * R + r)), a->sum[halves == 1 ? 2 : h], acc);
                }
            }
            out[m * N + n] = acc;
        }
    }
}

void east_imatmul(float *out, const void *acts, const void *packed, long M, long K, long N, long n0, long n1, int bits,
                  int sub) {
#if EAST_X86
    if (int_path == EAST_INT_PATH_AVX512_VNNI) { vnni_product(out, acts, packed, M, K, N, n0, n1, bits, sub); return; }
    if (int_path == EAST_INT_PATH_AVX2) { avx2_product(out, acts, packed, M, K, N, n0, n1, bits, sub); return; }
#endif
    portable_product(out, acts, packed, M, K, N, n0, n1, bits, sub, east_int_rows());
}
