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

/// Integer products for decoding (IntegerKernels.c).
///
/// Decoding reads every weight once a step; rebuilding each as a float and
/// multiplying in float costs a conversion and an FMA a weight. Instead, as
/// llama.cpp does: the activations are quantized once a product to 8-bit
/// blocks of 32 (east_quantize_acts), the weights stay integer codes at
/// close to the GGUF file's density, and the dot products run on bytes
/// (AVX2 maddubs: 32 products an instruction; AVX-512 VNNI dpbusd: 64),
/// with one float multiply-add per block of 32 (and one for the offset).
/// The weights are repacked at load time into panels of R rows interleaved
/// (east_int_rows(): 8 for AVX2, 16 for AVX-512), so that one unpack of a
/// block's codes serves R output rows and, at n = 16, every sequence.
/// Not bit-identical to the Float32 product: 8-bit activations round each
/// input to 1/254 of its block's largest magnitude.

/// One activation block: 32 codes and the scale d (value = d * q), and
/// d * (sum of the codes) over the first 16, the last 16 and all 32 (the
/// weight offsets multiply these).
struct east_q8 { int8_t q[32]; float d; float sum[3]; };

/// Bytes of quantized activations for an (M, K) input, K a multiple of 32.
static inline long east_acts_bytes(long M, long K) { return M * (K / 32) * (long)sizeof(struct east_q8); }

/// Quantizes x (M, K) into M * K / 32 east_q8 blocks (row by row): d =
/// max |x| / 127, q = x / d rounded to nearest.
void east_quantize_acts(void *acts, const float *x, long M, long K);

/// Which integer kernel runs: chosen when the library loads, AVX-512 VNNI
/// only when east_kernels_available() (so EAST_NO_AVX512=1 selects AVX2).
enum { EAST_INT_PATH_PORTABLE = 0, EAST_INT_PATH_AVX2 = 1, EAST_INT_PATH_AVX512_VNNI = 2 };
int east_int_path(void);
/// Rows of a panel for the kernel that runs (16 with AVX-512 VNNI, else 8).
int east_int_rows(void);

/// Bytes of one block (32 columns of R rows) of an integer panel:
///   R * 32 / sub float16 scales d, ordered [sub-block][row];
///   as many float16 offsets o, unless bits is 8 (no offsets);
///   the codes: bits 4, 5, 6: R * 16 bytes of nibbles, four vectors of R * 4
///   bytes, vector v byte 4r + c = row r's column 4v + c (low nibble) and
///   column 4(v + 4) + c (high nibble); then for 5 bits R * 4 bytes, bit j
///   of byte 4r + c the fifth bit of column 4j + c; for 6 bits two vectors
///   of R * 4 bytes, bits 2i, 2i + 1 of vector h byte 4r + c the top two
///   bits of column 4(4h + i) + c. 8 bits: eight vectors of R * 4 signed
///   bytes, vector j byte 4r + c = column 4j + c.
/// So a vector of codes holds, for each of R rows, the codes of 4 adjacent
/// columns, which is what one maddubs / dpbusd multiplies by 4 broadcast
/// activation bytes. weight = d * u + o, u the unsigned code.
static inline long east_iblock_bytes(int R, int bits, int sub) {
    long scales = 2L * R * (32 / sub) * (bits == 8 ? 1 : 2);
    return scales + (bits == 8 ? 32L * R : 16L * R + (bits - 4) * 4L * R);
}

/// Bytes east_ipack_weight writes for a (N, K) weight: N rounded up to R.
static inline long east_ipacked_bytes(long K, long N, int bits, int sub, int R) {
    return (N + R - 1) / R * (K / 32) * east_iblock_bytes(R, bits, sub);
}

/// Packs weight[n][k] = scales[n][k / sub] * codes[n][k] + offsets[n][k / sub]
/// (offsets NULL for none) into panels of R rows (east_iblock_bytes):
/// u = code - lowest must fit `bits` (4, 5 or 6; Q4_0's codes -8..7 come with
/// lowest -8), the stored offset is o + lowest * d; with bits 8 the codes
/// are kept signed and there are no offsets (Q8_0). d and o are rounded to
/// float16. sub is 32 or 16 (the k-quants with 16-value sub-blocks);
/// K a multiple of 32. codes: (N, K); scales, offsets: (N, K / sub)
void east_ipack_weight(void *packed, const int8_t *codes, const float *scales, const float *offsets, long K, long N,
                       int sub, int bits, int lowest, int R);

/// out[m * N + n] = sum_k x[m][k] w[n][k] for m < M, n0 <= n < n1 (n0 a
/// multiple of east_int_rows()), from activations quantized by
/// east_quantize_acts and a weight packed by east_ipack_weight with
/// east_int_rows() rows: per block of 32, an integer dot product, then
/// acc += (d_w * d_x) * dot + o_w * (d_x * sum of x's codes). Each output is
/// one sum over the blocks in order, so a row's result does not depend on
/// M, on its companions or on how the columns are split.
void east_imatmul(float *out, const void *acts, const void *packed, long M, long K, long N, long n0, long n1,
                  int bits, int sub);

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
/// Works on any CPU (AVX-512, AVX2 + FMA, or a portable loop).
void east_attend_one(float *out, const float *q, const float *prefixKeys, const float *prefixValues, long prefix,
                     const float *keys, const float *values,
                     long length, long heads, long kvHeads, long headDim, long keyBlockStride, long valueStride,
                     long valueHeadStride, float scale, float *scores);

/// out (M, N) = inp (M, K) W^T for output columns [n0, n1), W (N, K) as the
/// model stores it: every output one dot product in a fixed order, so a
/// row's result does not depend on M (the sampler's Float32 products without
/// AVX-512, where sgemm's would). AVX2 + FMA when the CPU has them, else C.
void east_matmul_rows(float *out, const float *inp, const float *weight, long M, long K, long N, long n0, long n1);

/// out[i] = exp((in[i] - shift) * scale) for i < n; returns their sum.
/// `out` may be `in`. Softmax with a temperature: shift = max, scale = 1 / T.
/// Works on any CPU (AVX-512 or AVX2 polynomial, about 1 ulp, or libm's expf).
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
