// The integer product's inner loops, written once and compiled twice by
// IntegerKernels.c: with 256-bit vectors (AVX2, 8 weight rows a vector) and
// with 512-bit ones (AVX-512 VNNI, 16 rows). The includer defines:
//   R                the rows interleaved in a panel (the lanes of a float vector)
//   VI, VF           the integer and float vector types
//   ATTR             the functions' target attribute
//   NAME(x)          the functions' names
//   LOADI(p)         a vector of bytes from p
//   AND, OR, SLLI16, SRLI16, SET1_8, BCAST4(p) (the int32 at p in every lane)
//   DOT(acc, u, s)   acc (int32 lanes) + the sums of four products u8 x s8
//   optionally PAIRS(u, s) (16-bit sums of two products), ADD16, WIDEN(acc, p)
//                    (acc + the pairs of p summed to 32 bits): then used instead of DOT
//   ABS8(x), SIGN8(a, w) (a negated where w < 0)
//   CVT(acc)         int32 lanes to floats
//   FMA(a, b, c), MUL(a, b), SET1PS(x), ZEROPS, LOADH(p) (R float16 to floats)
//   STOREPS(p, v, count) the first `count` lanes of v
// See CKernels.h (east_ipack_weight) for the panel layout. The end of this
// file undefines them all, so the next includer starts clean.

// One 32-column block of R rows into eight vectors of unsigned codes, w[j]
// holding, for each row r, the codes of columns 4j..4j+3 in bytes 4r..4r+3
// (BITS 8: signed codes as stored).
static inline __attribute__((always_inline)) ATTR void NAME(unpack)(VI w[8], const uint8_t *codes, int BITS) {
    const VI low = SET1_8(0x0F);
    if (BITS == 8) {
        for (int j = 0; j < 8; j++) w[j] = LOADI(codes + j * R * 4);
        return;
    }
    for (int v = 0; v < 4; v++) {  // nibbles: columns 4v.. low, 4(v + 4).. high
        VI L = LOADI(codes + v * R * 4);
        w[v] = AND(L, low);
        w[v + 4] = AND(SRLI16(L, 4), low);
    }
    if (BITS == 5) {  // fifth bits: bit j of byte 4r + c is column 4j + c's
        const VI H = LOADI(codes + R * 16), bit = SET1_8(0x10);
        w[0] = OR(w[0], AND(SLLI16(H, 4), bit));
        w[1] = OR(w[1], AND(SLLI16(H, 3), bit));
        w[2] = OR(w[2], AND(SLLI16(H, 2), bit));
        w[3] = OR(w[3], AND(SLLI16(H, 1), bit));
        w[4] = OR(w[4], AND(H, bit));
        w[5] = OR(w[5], AND(SRLI16(H, 1), bit));
        w[6] = OR(w[6], AND(SRLI16(H, 2), bit));
        w[7] = OR(w[7], AND(SRLI16(H, 3), bit));
    }
    if (BITS == 6) {  // two high bits: bits 2i, 2i + 1 of plane h are column 4(4h + i) + c's
        const VI bits = SET1_8(0x30);
        for (int h = 0; h < 2; h++) {
            const VI H = LOADI(codes + R * 16 + h * R * 4);
            w[4 * h + 0] = OR(w[4 * h + 0], AND(SLLI16(H, 4), bits));
            w[4 * h + 1] = OR(w[4 * h + 1], AND(SLLI16(H, 2), bits));
            w[4 * h + 2] = OR(w[4 * h + 2], AND(H, bits));
            w[4 * h + 3] = OR(w[4 * h + 3], AND(SRLI16(H, 2), bits));
        }
    }
}

// Columns [n, n + R) of out for activation rows m0..m0 + rows - 1 (rows <=
// EAST_MTILE), from one panel: for every block, the codes are unpacked once
// and serve every row. Each output is one sum over the blocks in order,
// whatever `rows` and whichever columns the caller gave this call, so a
// row's result does not depend on its companions or on the threads.
static inline __attribute__((always_inline)) ATTR void
NAME(panel)(float *out, long N, long n, long valid, const uint8_t *acts, long m0, long rows, const uint8_t *panel,
            long blocks, long blockBytes, int BITS, int SUB) {
    const int halves = 32 / SUB, offsets = BITS != 8;
    VF acc[EAST_MTILE];
    for (long m = 0; m < rows; m++) acc[m] = ZEROPS;
    for (long b = 0; b < blocks; b++) {
        const uint8_t *block = panel + b * blockBytes;
        const uint8_t *codes = block + 2 * R * halves * (1 + offsets);
        _mm_prefetch((const char *)(block + 4 * blockBytes), _MM_HINT_T0);
        _mm_prefetch((const char *)(block + 4 * blockBytes + 64), _MM_HINT_T0);
        VI w[8], wa[8];
        NAME(unpack)(w, codes, BITS);
        if (BITS == 8)
            for (int j = 0; j < 8; j++) wa[j] = ABS8(w[j]);
        VF d[2], o[2];
        for (int h = 0; h < halves; h++) {
            d[h] = LOADH(block + 2 * R * h);
            o[h] = offsets ? LOADH(block + 2 * R * (halves + h)) : ZEROPS;
        }
        for (long m = 0; m < rows; m++) {
            const struct east_q8 *a = (const struct east_q8 *)acts + (m0 + m) * blocks + b;
            VI sum[2] = {SET1_8(0), SET1_8(0)};
#ifdef PAIRS
            // AVX2: maddubs's 16-bit sums of pairs of products added up in 16
            // bits over as many groups as cannot overflow (|u| <= 2^BITS - 1,
            // |x| <= 127: 8 groups of 4-bit codes, 4 of 5-bit, 2 of 6-bit,
            // 1 of 8-bit), then widened to 32 bits: fewer instructions than
            // widening every group
            const int run = BITS == 4 ? 8 : BITS == 5 ? 4 : BITS == 6 ? 2 : 1;
            for (int j0 = 0; j0 < 8; j0 += run) {
                VI pairs = SET1_8(0);
                for (int j = j0; j < j0 + run; j++) {
                    VI x = BCAST4(a->q + 4 * j);
                    pairs = ADD16(pairs, BITS == 8 ? PAIRS(wa[j], SIGN8(x, w[j])) : PAIRS(w[j], x));
                    if (halves == 2 && j == 3) {  // the first sub-block's sum ends here
                        sum[0] = WIDEN(sum[0], pairs);
                        pairs = SET1_8(0);
                    }
                }
                int h = halves == 2 && j0 + run > 4;
                sum[h] = WIDEN(sum[h], pairs);
            }
#else
            for (int j = 0; j < 8; j++) {
                VI x = BCAST4(a->q + 4 * j);
                int h = halves == 2 && j >= 4;
                if (BITS == 8) sum[0] = DOT(sum[0], wa[j], SIGN8(x, w[j]));
                else sum[h] = DOT(sum[h], w[j], x);
            }
#endif
            const VF scale = SET1PS(a->d);
            VF t = acc[m];
            if (halves == 1) {
                t = FMA(CVT(sum[0]), MUL(d[0], scale), t);
                if (offsets) t = FMA(o[0], SET1PS(a->sum[2]), t);
            } else {
                for (int h = 0; h < 2; h++) {
                    t = FMA(CVT(sum[h]), MUL(d[h], scale), t);
                    if (offsets) t = FMA(o[h], SET1PS(a->sum[h]), t);
                }
            }
            acc[m] = t;
        }
    }
    for (long m = 0; m < rows; m++) STOREPS(out + (m0 + m) * N + n, acc[m], valid);
}

// Every column group of [n0, n1) against all M rows, EAST_MTILE rows a pass.
static ATTR void NAME(product)(float *out, const void *acts, const void *packed, long M, long K, long N, long n0,
                               long n1, int bits, int sub) {
    const long blocks = K / 32, blockBytes = east_iblock_bytes(R, bits, sub);
    for (long n = n0; n < n1; n += R) {
        const uint8_t *panel = (const uint8_t *)packed + (n / R) * blocks * blockBytes;
        long valid = n1 - n < R ? n1 - n : R;
        for (long m0 = 0; m0 < M; m0 += EAST_MTILE) {
            long rows = M - m0 < EAST_MTILE ? M - m0 : EAST_MTILE;
            const uint8_t *x = (const uint8_t *)acts;
            switch (bits * 100 + sub) {
            case 432: NAME(panel)(out, N, n, valid, x, m0, rows, panel, blocks, blockBytes, 4, 32); break;
            case 416: NAME(panel)(out, N, n, valid, x, m0, rows, panel, blocks, blockBytes, 4, 16); break;
            case 532: NAME(panel)(out, N, n, valid, x, m0, rows, panel, blocks, blockBytes, 5, 32); break;
            case 616: NAME(panel)(out, N, n, valid, x, m0, rows, panel, blocks, blockBytes, 6, 16); break;
            default: NAME(panel)(out, N, n, valid, x, m0, rows, panel, blocks, blockBytes, 8, 32); break;
            }
        }
    }
}

#undef R
#undef VI
#undef VF
#undef ATTR
#undef NAME
#undef LOADI
#undef AND
#undef OR
#undef SLLI16
#undef SRLI16
#undef SET1_8
#undef BCAST4
#undef PAIRS
#undef ADD16
#undef WIDEN
#undef ABS8
#undef SIGN8
#undef CVT
#undef FMA
#undef MUL
#undef SET1PS
#undef ZEROPS
#undef LOADH
#undef STOREPS
#undef DOT
