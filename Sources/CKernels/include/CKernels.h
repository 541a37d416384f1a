// Hand-written AVX-512 kernels for the two places where OpenBLAS loses time
// in decoding: matrix products with few rows (one per sample being decoded)
// and attention of one new position over the KV cache.
//
// Why not sgemm: with M = 16 rows, OpenBLAS repacks the whole weight matrix
// on every call, and the packing costs about as much as the product itself.
// Here the sampler packs the weights once per model version (east_pack_weight)
// and every decode step reads the packed copy once. Why not one sgemv per head:
// decoding SmolLM2 makes thousands of tiny BLAS calls per step, and their
// overhead is larger than the arithmetic.
//
// Every output element is one dot product summed in the same order whatever
// M is, so a row's result does not depend on which other rows share the call.
//
// Also the exponentials of the training layers (the output head's
// log-softmax, SwiGLU, attention's softmax), vectorized with the same
// AVX-512 exp as sampling: with libm's scalar expf, on one thread, they took
// about a fifth of a LoRA step. Every function says whether it needs AVX-512.
#ifndef EAST_CKERNELS_H
#define EAST_CKERNELS_H

#include <stddef.h>
#include <stdint.h>

/// `bytes` of uninitialized memory aligned to 2 MB and advised to the kernel as
/// transparent huge pages, for buffers a decode step streams end to end (the
/// packed weights, the KV cache). With 4 KB pages each step crosses tens of
/// thousands of page boundaries, each a TLB miss and a stop for the hardware
/// prefetcher: huge pages took the packed product at M = 16 from about 90 to
/// 115 GFLOP/s on one 115 MB weight, and sampling of the width-512 bench
/// model about 5% faster at n = 1 and n = 16 alike. NULL when out of memory.
/// Free with east_free_streamed.
void *east_alloc_streamed(size_t bytes);
void east_free_streamed(void *p);

/// 1 when the CPU runs the AVX-512 kernels; 0 means callers should use BLAS
/// (also 0 when the environment sets EAST_NO_AVX512=1, to compare the paths).
int east_kernels_available(void);

/// Floats east_pack_weight writes for a (N, K) weight: N rounded up to 16, times K.
static inline long east_packed_count(long K, long N) { return (N + 15) / 16 * 16 * K; }

/// Copies weight (N, K), row-major as checkpoints store it, into `packed` as
/// panels of 16 rows, k-major inside a panel, the last panel zero-padded,
/// in chunks of 256 columns (every panel's first 256, then the next 256, ...).
/// Needs east_kernels_available().
void east_pack_weight(float *packed, const float *weight, long K, long N);

/// out[m * N + n] = sum_k inp[m * K + k] * weight[n * K + k]
/// for every m < M and n0 <= n < n1, from the packed weight; n0 must be a
/// multiple of 16, and nothing outside [n0, n1) is written (slices of the
/// columns let several threads share one product). Fast for M <= 16; larger M runs as groups of 16 rows.
/// Needs east_kernels_available().
/// inp: (M, K), out: (M, N)
void east_matmul_packed(float *out, const float *inp, const float *packed,
                        long M, long K, long N, long n0, long n1);

/// How east_qpack_weight stores a matrix's codes: one byte each (Q8_0), or
/// two to a byte, read back as -8..7 (Q4_0's q - 8) or as 0..15 (Q4_1's q).
enum { EAST_CODES_8 = 0, EAST_CODES_4_SIGNED = 1, EAST_CODES_4_UNSIGNED = 2 };

/// Bytes of one 32-column block of 16 rows: 16 float16 scales, 16 float16
/// offsets when the matrix has any, then 512 codes (256 bytes of nibbles or
/// 512 bytes). Q4_1: 320 bytes, 0.625 a weight, as in the GGUF file.
static inline long east_qblock_bytes(int format, int offsets) {
    return 32 + (offsets ? 32 : 0) + (format == EAST_CODES_8 ? 512 : 256);
}

/// Bytes east_qpack_weight writes for a (N, K) weight, K a multiple of 32.
static inline long east_qpacked_bytes(long K, long N, int format, int offsets) {
    return (N + 15) / 16 * (K / 32) * east_qblock_bytes(format, offsets);
}

/// Packs a weight given as one-byte codes with a scale and an offset per row
/// and 32 columns, weight[n][k] = scales[n][k / 32] * codes[n][k] + offsets[n][k / 32]
/// (a multiply, then an add: how GGUF's Q4_1 blocks dequantize; Q8_0 and
/// Q4_0 have no offsets, passed as NULL, and are rebuilt with + 0, which
/// changes no product). The scales and offsets are stored as float16, so
/// each must be a float16 value (GGUF's are); the codes must fit `format`.
///   codes: (N, K), scales, offsets: (N, K / 32). Needs east_kernels_available().
void east_qpack_weight(void *packed, const int8_t *codes, const float *scales, const float *offsets,
                       long K, long N, int format);

/// east_matmul_packed for a weight packed by east_qpack_weight with the same
/// `format` and offsets (or none): the same numbers, bit for bit, as the
/// Float32 weights it stands for, from a sixth (Q4) or a quarter (Q8) of the
/// bytes. Needs east_kernels_available().
void east_matmul_qpacked(float *out, const float *inp, const void *packed,
                         long M, long K, long N, long n0, long n1, int format, int offsets);

/// Causal attention of ONE query position over `length` cached positions,
/// every head. Query head h reads key/value head g = h / (heads / kvHeads).
/// Positions j < prefix are read from prefixKeys/prefixValues, the others
/// from keys/values, both indexed by the position itself: the samples of
/// one prompt read the prompt's keys from the row it was prefilled into
/// instead of each from a copy. Splitting changes no bit of the result.
///   q, out: (heads * headDim)
///   keys: in blocks of 16 positions, column c = g * headDim + d of position j
///         at keys[(j / 16) * keyBlockStride + c * 16 + j % 16] (so 16
///         positions of one column load as one vector, and appending a
///         position writes one contiguous run of lines)
///   values: values[g * valueHeadStride + j * valueStride + d]
///   scores: scratch of 2 * length floats
/// Works on any CPU (a portable loop when AVX-512 is missing).
void east_attend_one(float *out, const float *q, const float *prefixKeys, const float *prefixValues, long prefix,
                     const float *keys, const float *values,
                     long length, long heads, long kvHeads, long headDim, long keyBlockStride, long valueStride,
                     long valueHeadStride, float scale, float *scores);

/// out[i] = exp((in[i] - shift) * scale) for i < n; returns their sum.
/// `out` may be `in`. Softmax with a temperature: shift = max, scale = 1 / T.
/// Works on any CPU (AVX-512 polynomial, about 1 ulp, or libm's expf).
/// out (M, N) = inp (M, K) W^T for output columns [n0, n1), W (N, K) as the
/// model stores it: every output one dot product in a fixed order, so a
/// row's result does not depend on M (the sampler's products without
/// AVX-512, where sgemm's would). AVX2 + FMA when the CPU has them, else C.
void east_matmul_rows(float *out, const float *inp, const float *weight, long M, long K, long N, long n0, long n1);

/// east_matmul_rows with weight[n][k] = scales[n][k / 32] * codes[n][k] +
/// offsets[n][k / 32] (a multiply, then an add, as the GGUF loader
/// dequantizes; offsets NULL for none), rebuilt in registers: the same bits
/// as east_matmul_rows on those Float32 weights, from 1 byte a weight and 8
/// a block of 32 instead of 4 a weight. K a multiple of 32.
///   codes: (N, K), scales, offsets: (N, K / 32)
void east_matmul_rows_codes(float *out, const float *inp, const int8_t *codes, const float *scales,
                            const float *offsets, long M, long K, long N, long n0, long n1);

float east_exp_sum(float *out, const float *in, long n, float shift, float scale);

/// The first index of the largest of x[0..<n] (0 when all are NaN). Works on any CPU.
long east_argmax(const float *x, long n);

/// The count and the sum of the weights p[i] >= tau, i < n (a block-wise
/// sum: AVX-512 lanes, or in order without it). Works on any CPU.
void east_kept(const float *p, long n, float tau, float *count, float *mass);

/// Inverse-CDF draw among the weights p[i] >= tau: the first kept i at which
/// u minus the kept weights up to i turns negative, u in [0, kept mass).
/// Whole blocks of 16 are skipped by their sum (with AVX-512). When
/// rounding leaves u non-negative at the end, the last kept index; -1 when
/// none is kept. Works on any CPU.
long east_draw(const float *p, long n, float tau, float u);

/// h[i] = silu(gate[i]) * up[i], silu(g) = g / (1 + exp(-g)); `h` may be
/// `gate`. Works on any CPU.
void east_swiglu(float *h, const float *gate, const float *up, long n);

/// The log-softmax statistics of one row of logits: stats[0] = max x,
/// stats[1] = sum exp(x - max), stats[2] = sum exp(x - max)^2 (the output
/// head's log-sum-exp and WPO's sum of squared probabilities). Works on any CPU.
void east_softmax_stats(const float *x, long n, float *stats);

/// x[i] = factor * exp(x[i] - shift) in place: the output head's gradient
/// of a row's logits, -g * softmax, with shift = log-sum-exp. Works on any CPU.
void east_scaled_exp(float *x, long n, float shift, float factor);

/// SwiGLU's backward: dgate = dh * up * silu'(gate), dup = dh * silu(gate),
/// silu'(g) = s (1 + g (1 - s)), s = sigmoid(g). Works on any CPU.
void east_swiglu_backward(float *dgate, float *dup, const float *dh, const float *gate, const float *up, long n);

/// Softmax over row[0..<kept] in place, row[kept..<n] set to 0: one query
/// row of causal attention. Works on any CPU.
void east_causal_softmax(float *row, long n, long kept);

/// A spin-wait hint (x86 `pause`): a waiting thread yields the core's
/// pipeline to its sibling and saves power. For `WorkerPool`'s spinning.
static inline void east_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

#endif
