# vp9_itxfm16: VP9 16x16 inverse transform + add, 8-bit, bit-exact with FFmpeg's
# itxfm_add[TX_16X16][type] (idct_idct, iadst_idct, idct_iadst, iadst_iadst), over a batch of
# blocks of any mix of the four types, with FFmpeg's DC-only shortcut (DCT_DCT, eob == 1).
#
# Layout: one block per thread, lane i = column i. A 16x16 block is 256 values; one per lane
# and register would take 16 registers per lane for 16 blocks, which a thread does not have
# (64 registers at 2 threads per QPU). With lane = column the thread holds one block in 16
# registers (V0..V15: V_k is row k of the lane's column), so the 16 one-dimensional
# transforms of a pass run side by side, one per lane, with no cross-lane traffic.
#
#   coefficients  lane i reads block[16 k + i] for k = 0..15 as uint16, and sign-extends it
#                 (`.il`): Mesa reads 16-bit data the same way (nir_to_vir.c
#                 ntq_emit_tmu_general, GENERAL_TMU_LOOKUP_TYPE_16BIT_UI), and no public test
#                 shows what the TMU's signed type does.
#                 FFmpeg's pass 1 transform i (vp9dsp_template.c itxfm_wrapper,
#                 `type_a##sz##_1d(block + i, sz, tmp + i * sz, 0)`) reads exactly these.
#   pass 1        lane i leaves tmp[16 i + k] in V_k, truncated to int16 (tmp[] is dctcoef,
#                 int16_t at 8 bits).
#   transpose     pass 2 transform i reads tmp[i + 16 k], which lane k holds in V_i: the 16x16
#                 matrix (register, lane) is transposed in registers with the log-step
#                 transpose, 4 stages of `rot` by 8, 4, 2, 1 lanes and lane-masked `mov`s.
#   pass 2        lane i leaves out[j] in V_j: the residual of pixel row j, column i.
#   pixels        lane i reads and writes byte i of each row (uint8 TMU accesses, Mesa's
#                 8BIT_UI), so the residual needs no cross-lane traffic either.
#
# The transform type is the same in all lanes of a thread (one block), so each pass branches
# to the one 16-point transform its type asks for (idct16_1d or iadst16_1d), unlike the 4x4
# and 8x8 kernels, which compute both per lane. A DC-only block (DCT_DCT, eob == 1) branches
# to FFmpeg's shortcut: it reads only block[0], clears only block[0], and adds
# t = ((block[0] * 11585 + 8192) >> 14) * 11585 + 8192) >> 14 to every pixel the way the
# full path adds out[] (t fits in int16, so the int16 truncation of the shared pixel code
# does not change it).
#
# Arithmetic: FFmpeg computes in unsigned 32-bit (`* 11585U`) and converts to int, so every
# product and sum here wraps mod 2^32 the same way. smul24 takes its operands' low 24 bits;
# every operand is at most 2^20 in magnitude (the inputs of both passes are int16, a >> 14
# of a 32-bit value is below 2^17, and at most eight of those are summed before the next
# multiply), so the low 32 bits of the product are FFmpeg's. Subtracted products use negated multipliers
# (x * -c = -(x * c) mod 2^32), which also gives FFmpeg's -(a + b) * 11585U forms.
#
# Multipliers: the transforms take 44 (idct16) and 72 (iadst16) multiplies with 15 and 22
# distinct constants; the block, its 26 working values and the control words leave no room
# for them in registers. They come through the second uniform stream (`unifa`/`ldunifa` into
# rf0) from a table in the order the code multiplies (vp9_itxfm16.rs, `IDCT16`, `IADST16`):
# every smul24 reads rf0 and its own `ldunifa` fetches the next, as in vp9_itxfm8.
#
# Per block, in memory:
#   coefficients  coef_base + 512 k: 256 int16 in FFmpeg's order (block[16 h + v] holds
#                 horizontal frequency h, vertical frequency v); zeroed afterwards (a
#                 DC-only block: block[0] only, as FFmpeg does)
#   record        table_base + 16 k: u32 GPU address of the top-left pixel, u32 row stride,
#                 u32 type (FFmpeg's TxfmType: bit 0 = ADST in pass 1, bit 1 = ADST in
#                 pass 2), u32 eob. Read through the second uniform stream (lane 0 only, which
#                 is all a per-block value needs): the kernel driver invalidates the uniform
#                 caches before every job (Linux v3d_gem.c v3d_invalidate_caches, SLCACTL
#                 UCC), so the stream sees the table written for this dispatch.
#
# Uniforms: coef_base, table_base, block count, thread-id shift, thread count, then the GPU
# addresses of the idct16 and iadst16 multiplier tables, then three TMU configurations:
# 4 x uint16 accesses (0xfefefefe), 4 x uint8 accesses (0xfdfdfdfd), 2 x vec4 writes and the
# default (0xfffffcfc) (py-videocore7 TMULookUpConfig: per-pixel bit 7, op 15, type in bits
# 2:0).
#
# TMU: one configuration word covers up to 4 lookups, a byte each (py-videocore7
# examples/scopy.py configures four lookups with one tmuc write); it is written before every
# group of lookups. A thread has at most 8 words outstanding (16 per QPU at 2 threads, Mesa
# nir_to_vir.c): the coefficients come in two rounds of 8 rows, each ended by a thread
# switch; the first 8 pixel rows are requested before pass 1 and row j + 8 when row j is
# written, with a thread switch before rows 8..15 are added.
#
# rot: no public source says whether the 7.1 `rot` op may read a register written by the
# instruction before it. The transpose never does, so it does not depend on the answer.

.set COEF_BASE,  rf1
.set TABLE_BASE, rf2
.set NBLOCKS,    rf3
.set STEP,       rf4            # thread count: blocks between a thread's blocks
.set BLK,        rf5            # this thread's block (the same in every lane)
.set DST,        rf6            # pixel address of this lane's column in row 0; once PX
.set K14,        rf6            # and PW hold it, 14: the transforms' shift count (a small
                                # immediate cannot share an instruction with ldunifa)
.set STRIDE,     rf7
.set TYPE,       rf8
.set KDCT,       rf9            # idct16 multiplier table
.set R8192,      rf10
.set EIDX,       rf11
.set CFG16,      rf12
.set CFG8,       rf13
.set CFGV4,      rf14
.set K255,       rf15
.set V0,         rf16
.set V1,         rf17
.set V2,         rf18
.set V3,         rf19
.set V4,         rf20
.set V5,         rf21
.set V6,         rf22
.set V7,         rf23
.set V8,         rf24
.set V9,         rf25
.set V10,        rf26
.set V11,        rf27
.set V12,        rf28
.set V13,        rf29
.set V14,        rf30
.set V15,        rf31
.set K32,        rf32
.set KADST,      rf33           # iadst16 multiplier table
.set ADDR,       rf34           # the block's coefficients
.set PX,         rf35           # next pixel row to read (this lane's byte)
.set PW,         rf36           # next pixel row to write
.set P,          rf37           # a product
.set T0,         rf38
.set T1,         rf39
.set T2,         rf40
.set T3,         rf41
.set T4,         rf42
.set T5,         rf43
.set T6,         rf44
.set T7,         rf45
.set T8,         rf46
.set T9,         rf47
.set T10,        rf48
.set T11,        rf49
.set T12,        rf50
.set T13,        rf51
.set T14,        rf52
.set T15,        rf53
.set T16,        rf54
.set T17,        rf55
.set T18,        rf56
.set T19,        rf57
.set T20,        rf58
.set T21,        rf59
.set T22,        rf60
.set T23,        rf61
.set T24,        rf62
.set JUNK,       rf63           # takes a macro's "finish the previous one" op when there is none
.set X,          T0             # transpose: the rotated copies
.set Y,          T1
.set PA,         T0             # pixels: the row being added
.set PB,         T1


# Multiplier forms. Each consumes the multipliers k1..k4 (k1, k2 for bfly) from rf0 in order.

# \a = (\x * k1 + 8192 - \y * k2) >> 14; \b = \x * k3 + 8192 + \y * k4, its >> 14 left to
# the caller (the next form's first instruction takes it as \pb).
.macro rot14 x, y, a, b, pb
        asr \pb, \pb, K14              ; smul24 \a, \x, rf0        ; ldunifa
        add \a, \a, R8192             ; smul24 P, \y, rf0         ; ldunifa
        sub \a, \a, P                 ; smul24 \b, \x, rf0        ; ldunifa
        add \b, \b, R8192             ; smul24 P, \y, rf0         ; ldunifa
        asr \a, \a, K14                ; add \b, \b, P
.endm

# \s = ((\x + \y) * k1 + 8192) >> 14; \d = (\x - \y) * k2 + 8192, its >> 14 left to the caller.
# \pd: the previous form's pending shift. \s, \d may be \x, \y.
.macro bfly x, y, s, d, pd
        add \s, \x, \y                ; sub \d, \x, \y
        asr \pd, \pd, K14              ; smul24 \s, \s, rf0        ; ldunifa
        add \s, \s, R8192             ; smul24 \d, \d, rf0        ; ldunifa
        asr \s, \s, K14                ; add \d, \d, R8192
.endm

# \e = \x * k1 + \y * k2; \o = \x * k3 + \y * k4 without its last term, which the next form's
# first instruction adds (\po, from P). The `r` form adds the rounding 8192 to both.
.macro prod2 x, y, e, o, po
        add \po, \po, P               ; smul24 \e, \x, rf0        ; ldunifa
        nop                           ; smul24 P, \y, rf0         ; ldunifa
        add \e, \e, P                 ; smul24 \o, \x, rf0        ; ldunifa
        nop                           ; smul24 P, \y, rf0         ; ldunifa
.endm
.macro prod2r x, y, e, o, po
        add \po, \po, P               ; smul24 \e, \x, rf0        ; ldunifa
        add \e, \e, R8192             ; smul24 P, \y, rf0         ; ldunifa
        add \e, \e, P                 ; smul24 \o, \x, rf0        ; ldunifa
        add \o, \o, R8192             ; smul24 P, \y, rf0         ; ldunifa
.endm

# FFmpeg's idct16_1d of V0..V15, results back in V0..V15 (not yet truncated to int16).
# Multipliers (vp9_itxfm16.rs IDCT16): 44, in the order of the forms below.
.macro idct16
        bfly V0, V8, T0, T1, JUNK                   # t0a, t1a (pending)
        rot14 V4, V12, T2, T3, T1                   # t2a, t3a
        rot14 V2, V14, T4, T7, T3                   # t4a, t7a
        rot14 V10, V6, T5, T6, T7                   # t5a, t6a
        rot14 V1, V15, T8, T15, T6                  # t8a, t15a
        rot14 V9, V7, T9, T14, T15                  # t9a, t14a
        rot14 V5, V11, T10, T13, T14                # t10a, t13a
        rot14 V13, V3, T11, T12, T13                # t11a, t12a
        asr T12, T12, K14
        add T0, T0, T3                ; sub T3, T0, T3            # t0, t3
        add T1, T1, T2                ; sub T2, T1, T2            # t1, t2
        add T4, T4, T5                ; sub T5, T4, T5            # t4, t5
        add T7, T7, T6                ; sub T6, T7, T6            # t7, t6
        add T8, T8, T9                ; sub T9, T8, T9            # t8, t9
        add T11, T11, T10             ; sub T10, T11, T10         # t11, t10
        add T12, T12, T13             ; sub T13, T12, T13         # t12, t13
        add T15, T15, T14             ; sub T14, T15, T14         # t15, t14
        bfly T6, T5, T6, T5, JUNK                   # t6a, t5a
        rot14 T14, T9, T16, T17, T5                 # t9a, t14a
        rot14 T13, T10, T18, T19, T17               # t13a, t10a (negated multipliers)
        asr T19, T19, K14
        add T0, T0, T7                ; sub T7, T0, T7            # t0a, t7
        add T1, T1, T6                ; sub T6, T1, T6            # t1a, t6
        add T2, T2, T5                ; sub T5, T2, T5            # t2a, t5
        add T3, T3, T4                ; sub T4, T3, T4            # t3a, t4
        add T8, T8, T11               ; sub T11, T8, T11          # t8a, t11a
        add T15, T15, T12             ; sub T12, T15, T12         # t15a, t12a
        add T14, T17, T18             ; sub T13, T17, T18         # t14, t13
        add T9, T16, T19              ; sub T10, T16, T19         # t9, t10
        bfly T13, T10, T13, T10, JUNK               # t13a, t10a
        bfly T12, T11, T12, T11, T10                # t12, t11
        asr T11, T11, K14
        add V0, T0, T15               ; sub V15, T0, T15
        add V1, T1, T14               ; sub V14, T1, T14
        add V2, T2, T13               ; sub V13, T2, T13
        add V3, T3, T12               ; sub V12, T3, T12
        add V4, T4, T11               ; sub V11, T4, T11
        add V5, T5, T10               ; sub V10, T5, T10
        add V6, T6, T9                ; sub V9, T6, T9
        add V7, T7, T8                ; sub V8, T7, T8
.endm

# FFmpeg's iadst16_1d of V0..V15, results back in V0..V15 (not yet truncated to int16).
# Multipliers (vp9_itxfm16.rs IADST16): 72, in the order of the forms below. The shifts can
# only run on the add ALU, so sums and differences go to the mul ALU beside them, and the
# forms' free add slots take the butterflies and outputs that are ready.
.macro iadst16
        prod2r V15, V0, T0, T1, JUNK                # t0, t1 (+ 8192)
        prod2r V13, V2, T2, T3, T1                  # t2, t3 (+ 8192)
        prod2r V11, V4, T4, T5, T3                  # t4, t5 (+ 8192)
        prod2r V9, V6, T6, T7, T5                   # t6, t7 (+ 8192)
        prod2 V7, V8, T8, T9, T7                    # t8, t9
        prod2 V5, V10, T10, T11, T9                 # t10, t11
        prod2 V3, V12, T12, T13, T11                # t12, t13
        prod2 V1, V14, T14, T15, T13                # t14, t15
        # t0a..t7a land in T16, T0..T6 (each sum goes to the register the previous one
        # left), t8a..t15a in T8..T15.
        add T15, T15, P               ; add T16, T0, T8
        asr T16, T16, K14             ; sub T8, T0, T8            # t0a
        asr T8, T8, K14               ; add T0, T1, T9            # t8a
        asr T0, T0, K14               ; sub T9, T1, T9            # t1a
        asr T9, T9, K14               ; add T1, T2, T10           # t9a
        asr T1, T1, K14               ; sub T10, T2, T10          # t2a
        asr T10, T10, K14             ; add T2, T3, T11           # t10a
        asr T2, T2, K14               ; sub T11, T3, T11          # t3a
        asr T11, T11, K14             ; add T3, T4, T12           # t11a
        asr T3, T3, K14               ; sub T12, T4, T12          # t4a
        asr T12, T12, K14             ; add T4, T5, T13           # t12a
        asr T4, T4, K14               ; sub T13, T5, T13          # t5a
        asr T13, T13, K14             ; add T5, T6, T14           # t13a
        asr T5, T5, K14               ; sub T14, T6, T14          # t6a
        asr T14, T14, K14             ; add T6, T7, T15           # t14a
        asr T6, T6, K14               ; sub T15, T7, T15          # t7a
        asr T15, T15, K14             ; sub T7, T16, T3           # t15a; t4
        prod2r T8, T9, V8, V9, JUNK                 # t8, t9 (+ 8192)
        prod2r T10, T11, V10, V11, V9               # t10, t11 (+ 8192)
        # prod2 T13, T12, V12, V13 (t12, t13) and prod2 T15, T14, V14, V15 (t14, t15), with
        # t0..t3 in their free add slots.
        add V11, V11, P               ; smul24 V12, T13, rf0      ; ldunifa
        add T16, T16, T3              ; smul24 P, T12, rf0        ; ldunifa   # t0
        add V12, V12, P               ; smul24 V13, T13, rf0      ; ldunifa
        add T17, T0, T4               ; smul24 P, T12, rf0        ; ldunifa   # t1
        add V13, V13, P               ; smul24 V14, T15, rf0      ; ldunifa
        add T18, T1, T5               ; smul24 P, T14, rf0        ; ldunifa   # t2
        add V14, V14, P               ; smul24 V15, T15, rf0      ; ldunifa
        add T19, T2, T6               ; smul24 P, T14, rf0        ; ldunifa   # t3
        # t8a..t15a land in T20, V8, V9, V10 and V12..V15.
        add V15, V15, P               ; add T20, V8, V12
        asr T20, T20, K14             ; sub V12, V8, V12          # t8a
        asr V12, V12, K14             ; add V8, V9, V13           # t12a
        asr V8, V8, K14               ; sub V13, V9, V13          # t9a
        asr V13, V13, K14             ; add V9, V10, V14          # t13a
        asr V9, V9, K14               ; sub V14, V10, V14         # t10a
        asr V14, V14, K14             ; add V10, V11, V15         # t14a
        asr V10, V10, K14             ; sub V15, V11, V15         # t11a
        asr V15, V15, K14             ; sub T4, T0, T4            # t15a; t5
        nop                           ; sub T5, T1, T5            # t6
        nop                           ; sub T6, T2, T6            # t7
        prod2r T7, T4, T8, T9, JUNK                 # t4a, t5a (+ 8192)
        # prod2 T6, T5, T10, T11 (t6a, t7a) with out0 and t1 + t3 in its free add slots.
        add T9, T9, P                 ; smul24 T10, T6, rf0       ; ldunifa
        add V0, T16, T18              ; smul24 P, T5, rf0         ; ldunifa   # out0
        add T10, T10, P               ; smul24 T11, T6, rf0       ; ldunifa
        add T0, T17, T19              ; smul24 P, T5, rf0         ; ldunifa   # t1 + t3
        prod2r V12, V13, T12, T13, T11              # t12, t13 (+ 8192)
        # prod2 V15, V14, T14, T15 (t14, t15) with out1's sum and out15 in its free slots.
        add T13, T13, P               ; smul24 T14, V15, rf0      ; ldunifa
        add T1, T20, V9               ; smul24 P, V14, rf0        ; ldunifa   # t8a + t10a
        add T14, T14, P               ; smul24 T15, V15, rf0      ; ldunifa
        neg V15, T0                   ; smul24 P, V14, rf0        ; ldunifa   # out15
        add T15, T15, P               ; add T2, T8, T10
        neg V1, T1                    ; sub T10, T8, T10                      # out1
        asr T2, T2, K14               ; add T3, T9, T11
        asr T10, T10, K14             ; sub T11, T9, T11                      # t6
        neg V3, T2                    ; add T4, T12, T14                      # out3
        asr V12, T3, K14              ; sub T14, T12, T14                     # out12
        asr T11, T11, K14             ; add T5, T13, T15                      # t7
        asr V2, T4, K14               ; sub T15, T13, T15                     # out2
        asr T14, T14, K14             ; sub T18, T16, T18                     # t14a; t2a
        asr T5, T5, K14               ; sub T19, T17, T19                     # t3a
        asr T15, T15, K14             ; add V14, V8, V10                      # t15a; out14
        neg V13, T5                   ; sub T20, T20, V9                      # out13; t10
        sub T21, V8, V10                                                      # t11
        bfly T18, T19, V7, V8, JUNK                 # out7, out8
        bfly T11, T10, V4, V11, V8                  # out4, out11
        bfly T21, T20, V6, V9, V11                  # out6, out9
        bfly T14, T15, V5, V10, V9                  # out5, out10
        asr V10, V10, K14
.endm

# Pass 1's results are FFmpeg's int16 tmp[]; the two flag pushes set up the transpose's
# first two stages (B: lane bit 3 clear, A: lane bit 2 clear).
.macro trunc1_a
        and.pushz -, EIDX, 8          ; mov V0, V0.il
        and.pushz -, EIDX, 4          ; mov V1, V1.il
        mov V2, V2.il                 ; mov V3, V3.il
.endm
.macro trunc1_b
        mov V4, V4.il                 ; mov V5, V5.il
        mov V6, V6.il                 ; mov V7, V7.il
        mov V8, V8.il                 ; mov V9, V9.il
        mov V10, V10.il               ; mov V11, V11.il
        mov V12, V12.il               ; mov V13, V13.il
        mov V14, V14.il               ; mov V15, V15.il
.endm

# One pair (\ra, \rb = \ra + d) of a transpose stage over d lanes: lanes with bit d set of
# \ra take \rb's lanes from d below, lanes with bit d clear of \rb take \ra's from d above.
# \cl / \cs: the conditions for lanes with the bit clear / set. The first instruction
# finishes the previous pair (\prb with its condition \pcl).
.macro tpair ra, rb, d, cl, cs, prb, pcl
        rot X, \rb, -\d               ; mov.\pcl \prb, Y
        rot Y, \ra, \d                ; mov.\cs \ra, X
.endm

# V0..V15 (register k, lane i) -> (register i, lane k).
.macro transpose
        tpair V0, V8, 8, ifb, ifnb, JUNK, ifb
        tpair V1, V9, 8, ifb, ifnb, V8, ifb
        tpair V2, V10, 8, ifb, ifnb, V9, ifb
        tpair V3, V11, 8, ifb, ifnb, V10, ifb
        tpair V4, V12, 8, ifb, ifnb, V11, ifb
        tpair V5, V13, 8, ifb, ifnb, V12, ifb
        tpair V6, V14, 8, ifb, ifnb, V13, ifb
        tpair V7, V15, 8, ifb, ifnb, V14, ifb
        tpair V0, V4, 4, ifa, ifna, V15, ifb
        tpair V1, V5, 4, ifa, ifna, V4, ifa
        tpair V2, V6, 4, ifa, ifna, V5, ifa
        tpair V3, V7, 4, ifa, ifna, V6, ifa
        tpair V8, V12, 4, ifa, ifna, V7, ifa
        tpair V9, V13, 4, ifa, ifna, V12, ifa
        tpair V10, V14, 4, ifa, ifna, V13, ifa
        tpair V11, V15, 4, ifa, ifna, V14, ifa
        # B: lane bit 0 clear, A: lane bit 1 clear. The pending mov reads A before the push.
        and.pushz -, EIDX, 1          ; mov.ifa V15, Y
        and.pushz -, EIDX, 2
        tpair V0, V2, 2, ifa, ifna, JUNK, ifa
        tpair V1, V3, 2, ifa, ifna, V2, ifa
        tpair V4, V6, 2, ifa, ifna, V3, ifa
        tpair V5, V7, 2, ifa, ifna, V6, ifa
        tpair V8, V10, 2, ifa, ifna, V7, ifa
        tpair V9, V11, 2, ifa, ifna, V10, ifa
        tpair V12, V14, 2, ifa, ifna, V11, ifa
        tpair V13, V15, 2, ifa, ifna, V14, ifa
        tpair V0, V1, 1, ifb, ifnb, V15, ifa
        tpair V2, V3, 1, ifb, ifnb, V1, ifb
        tpair V4, V5, 1, ifb, ifnb, V3, ifb
        tpair V6, V7, 1, ifb, ifnb, V5, ifb
        tpair V8, V9, 1, ifb, ifnb, V7, ifb
        tpair V10, V11, 1, ifb, ifnb, V9, ifb
        tpair V12, V13, 1, ifb, ifnb, V11, ifb
        tpair V14, V15, 1, ifb, ifnb, V13, ifb
        nop                           ; mov.ifb V15, Y
.endm

# Residuals of two rows: FFmpeg's out[] is int16, then (out + 32) >> 6. The first two
# instructions finish the previous two rows' shifts (\pa, \pb). prep_a is the 3
# instructions the DCT path runs in its branch's delay slots.
.macro prep2 a, b, pa, pb
        asr \pa, \pa, 6               ; mov \a, \a.il
        asr \pb, \pb, 6               ; mov \b, \b.il
        add \a, \a, K32               ; add \b, \b, K32
.endm
.macro prep_a
        prep2 V0, V1, JUNK, JUNK
.endm
.macro prep_b
        prep2 V2, V3, V0, V1
        prep2 V4, V5, V2, V3
        prep2 V6, V7, V4, V5
        prep2 V8, V9, V6, V7
        prep2 V10, V11, V8, V9
        prep2 V12, V13, V10, V11
        asr V12, V12, 6               ; mov V14, V14.il
        asr V13, V13, 6               ; mov V15, V15.il
        add V14, V14, K32             ; add V15, V15, K32         ; ldtmu.PA   # row 0
        asr V14, V14, 6
        asr V15, V15, 6
.endm

# Rows j, j + 1 (row j's pixels in PA, residuals \va, \vb), requesting rows j + 8 and
# j + 9: four lookups, one configuration. Row j + 2 is popped into PA at the end. A small
# immediate cannot share an instruction with a signal, so the pops ride on the others.
.macro rows_ra va, vb
        rows_ra_head \va, \vb
        mov tmua, PW                  ; add PW, PW, STRIDE        ; ldtmu.PA   # write j + 1
.endm
# The same without the pop of row j + 2, for the last pair.
.macro rows_ra_nopop va, vb
        rows_ra_head \va, \vb
        mov tmua, PW                  ; add PW, PW, STRIDE                    # write j + 1
.endm
.macro rows_ra_head va, vb
        mov tmuc, CFG8                ; add PA, PA, \va           ; ldtmu.PB   # row j + 1
        max PA, PA, 0                 ; mov tmua, PX                          # read j + 8
        min tmud, PA, K255            ; add PB, PB, \vb
        max PB, PB, 0                 ; mov tmua, PW                          # write j
        add PX, PX, STRIDE            ; add PW, PW, STRIDE
        mov tmua, PX                                                          # read j + 9
        min tmud, PB, K255            ; add PX, PX, STRIDE
.endm

# Rows j .. j + 3 (row j's pixels in PA), nothing left to request: four writes, one
# configuration. rows_w pops row j + 4 into PA at the end, rows_w_last does not.
.macro rows_w va, vb, vc, vd
        rows_w_head \va, \vb, \vc, \vd
        mov tmua, PW                  ; add PW, PW, STRIDE        ; ldtmu.PA
.endm
.macro rows_w_last va, vb, vc, vd
        rows_w_head \va, \vb, \vc, \vd
        mov tmua, PW                  ; add PW, PW, STRIDE
.endm
.macro rows_w_head va, vb, vc, vd
        mov tmuc, CFG8                ; add PA, PA, \va           ; ldtmu.PB
        max PA, PA, 0
        min tmud, PA, K255            ; add PB, PB, \vb
        max PB, PB, 0                 ; mov tmua, PW
        min tmud, PB, K255            ; add PW, PW, STRIDE
        mov tmua, PW                  ; add PW, PW, STRIDE        ; ldtmu.PA
        add PA, PA, \vc               ; nop                       ; ldtmu.PB
        max PA, PA, 0
        min tmud, PA, K255            ; add PB, PB, \vd
        max PB, PB, 0                 ; mov tmua, PW
        min tmud, PB, K255            ; add PW, PW, STRIDE
.endm

        tidx T1                       ; nop                       ; ldunifrf.rf1
        eidx EIDX                     ; nop                       ; ldunifrf.rf2
        nop                           ; nop                       ; ldunifrf.rf3
        nop                           ; nop                       ; ldunifrf.T0  # thread-id shift
        nop                           ; nop                       ; ldunifrf.STEP
        nop                           ; nop                       ; ldunifrf.KDCT
        nop                           ; nop                       ; ldunifrf.KADST
        nop                           ; nop                       ; ldunifrf.CFG16
        nop                           ; nop                       ; ldunifrf.CFG8
        shr BLK, T1, T0               ; nop                       ; ldunifrf.CFGV4
        mov R8192, 1
        shl R8192, R8192, 13
        mov K32, 1
        shl K32, K32, 5
        mov K255, 15
        shl K255, K255, 4
        or K255, K255, 15

        sub.pushn -, BLK, NBLOCKS     # A: the thread has a block
        b.na0 done
        shl T0, BLK, 4                # record address
        add T0, T0, TABLE_BASE
        shl ADDR, BLK, 9              # coefficient address

block_loop:
        # The record, through the second uniform stream (every lane gets lane 0's words).
        mov unifa, T0                 ; add ADDR, ADDR, COEF_BASE
        shl T1, EIDX, 1
        add T2, ADDR, T1              # this lane's column, row 0
        mov tmuc, CFG16
        nop                           ; nop                       ; ldunifarf.DST
        nop                           ; nop                       ; ldunifarf.STRIDE
        nop                           ; nop                       ; ldunifarf.TYPE
        add DST, DST, EIDX            ; nop                       ; ldunifarf.T3   # eob
        sub T3, T3, 1
        or.pushz -, T3, TYPE          # A: DC-only (DCT_DCT and eob == 1)
        b.a0 dc_only
        mov PX, DST                   ; mov PW, DST
        mov K14, 14
        nop

        # Coefficient rows 0..7, then 8..15, each round ended by a thread switch.
        mov tmua, T2                  ; add T2, T2, K32
        mov tmua, T2                  ; add T2, T2, K32
        mov tmua, T2                  ; add T2, T2, K32
        mov tmua, T2                  ; add T2, T2, K32
        mov tmuc, CFG16
        mov tmua, T2                  ; add T2, T2, K32
        mov tmua, T2                  ; add T2, T2, K32
        mov tmua, T2                  ; add T2, T2, K32
        mov tmua, T2                  ; add T2, T2, K32           ; thrsw
        nop
        nop
        # Each coefficient is sign-extended (`.il`) in a free mul slot after its pop.
        mov tmuc, CFG16               ; nop                       ; ldtmu.V0
        nop                           ; mov V0, V0.il             ; ldtmu.V1
        mov tmua, T2                  ; add T2, T2, K32           ; ldtmu.V2
        mov tmua, T2                  ; add T2, T2, K32           ; ldtmu.V3
        mov tmua, T2                  ; add T2, T2, K32           ; ldtmu.V4
        mov tmua, T2                  ; add T2, T2, K32           ; ldtmu.V5
        mov tmuc, CFG16               ; mov V1, V1.il             ; ldtmu.V6
        mov tmua, T2                  ; add T2, T2, K32           ; ldtmu.V7
        mov tmua, T2                  ; add T2, T2, K32
        mov tmua, T2                  ; add T2, T2, K32
        mov tmua, T2                  ; mov V2, V2.il
        # Before the switch, what needs only rows 0..7, so that the other thread's run
        # covers more of the latency: clearing rows 0..7 (their 256 bytes, a vec4 write of 16
        # bytes a lane; FFmpeg clears the whole block) and pass 1's multiplier table.
        and.pushz -, TYPE, 1          ; mov V3, V3.il             # A: DCT in pass 1
        mov P, KDCT                   ; mov V4, V4.il
        mov.ifna P, KADST             ; mov V5, V5.il
        mov unifa, P                  ; mov tmuc, CFGV4
        shl T3, EIDX, 4               ; mov V6, V6.il
        add T3, T3, ADDR              ; mov tmud, 0
        shl T4, K32, 3                ; mov V7, V7.il             # 256
        mov tmud, 0
        mov tmud, 0
        mov tmud, 0
        mov tmua, T3                  ; add T3, T3, T4            ; thrsw
        nop
        nop
        # Clear rows 8..15, request pixel rows 0..7.
        mov tmuc, CFGV4               ; nop                       ; ldtmu.V8
        mov tmud, 0                   ; mov V8, V8.il
        mov tmud, 0
        mov tmud, 0
        mov tmud, 0
        mov tmua, T3                  ; nop                       ; ldtmu.V9
        mov tmuc, CFG8                ; mov V9, V9.il             ; ldtmu.V10
        nop                           ; mov V10, V10.il           ; ldtmu.V11
        nop                           ; mov V11, V11.il           ; ldtmu.V12
        mov tmua, PX                  ; add PX, PX, STRIDE        ; ldtmu.V13
        mov tmua, PX                  ; add PX, PX, STRIDE        ; ldtmu.V14
        mov tmua, PX                  ; add PX, PX, STRIDE        ; ldtmu.V15
        mov tmua, PX                  ; add PX, PX, STRIDE
        mov tmuc, CFG8                ; mov V12, V12.il
        mov tmua, PX                  ; add PX, PX, STRIDE
        mov tmua, PX                  ; add PX, PX, STRIDE
        mov tmua, PX                  ; add PX, PX, STRIDE
        mov tmua, PX                  ; add PX, PX, STRIDE

        # Pass 1: lane i transforms column i; the ADST where type bit 0 is set (A, pushed
        # above).
        b.na0 pass1_adst
        nop                           ; mov V13, V13.il
        nop                           ; mov V14, V14.il
        nop                           ; mov V15, V15.il           ; ldunifa   # first multiplier
        idct16
        b pass1_join
        trunc1_a
pass1_adst:
        iadst16
        trunc1_a
pass1_join:
        trunc1_b
        transpose

        # Pass 2: lane i transforms row i of tmp[]: the residuals of pixel column i. The ADST
        # where type bit 1 is set.
        and.pushz -, TYPE, 2          # A: DCT in pass 2
        mov P, KDCT
        mov.ifna P, KADST
        mov unifa, P
        b.na0 pass2_adst
        nop
        nop
        nop                           ; nop                       ; ldunifa   # first multiplier
        idct16
        b pass2_join
        prep_a
pass2_adst:
        iadst16
pixels:
        prep_a
pass2_join:
        prep_b

        # Rows 0..7 were requested before pass 1 (or by the DC-only path); row j + 8 is
        # requested as row j is written.
        rows_ra V0, V1
        rows_ra V2, V3
        rows_ra V4, V5
        rows_ra_nopop V6, V7
        # Rows 8..15 were requested in the last 30 instructions: let the other thread run
        # meanwhile (without this switch the waits here cost 54 modelled clocks per block).
        nop                           ; nop                       ; thrsw
        nop
        nop
        nop                           ; nop                       ; ldtmu.PA   # row 8
        rows_w V8, V9, V10, V11
        rows_w_last V12, V13, V14, V15

        # This thread's next block.
        add BLK, BLK, STEP
        sub.pushn -, BLK, NBLOCKS
        b.a0 block_loop
        shl T0, BLK, 4
        add T0, T0, TABLE_BASE
        shl ADDR, BLK, 9

done:
        tmuwt
        thrsw
        thrsw
        nop
        nop
        thrsw
        nop
        nop
        nop

        # FFmpeg's DC-only form: block[0] alone (read in every lane), cleared alone; the same
        # value t added to all 256 pixels. Entered with tmuc = CFG16, PX = PW = DST.
dc_only:
        mov tmua, ADDR                # block[0], every lane
        mov unifa, KDCT               # its first multiplier is 11585
        mov tmuc, CFG8
        mov tmua, PX                  ; add PX, PX, STRIDE
        mov tmua, PX                  ; add PX, PX, STRIDE
        mov tmua, PX                  ; add PX, PX, STRIDE
        mov tmua, PX                  ; add PX, PX, STRIDE
        mov tmuc, CFG8
        mov tmua, PX                  ; add PX, PX, STRIDE
        mov tmua, PX                  ; add PX, PX, STRIDE
        mov tmua, PX                  ; add PX, PX, STRIDE        ; thrsw
        mov.pushz -, EIDX             # A: lane 0
        nop
        nop                           ; nop                       ; ldunifarf.T1
        nop                           ; nop                       ; ldtmu.T0
        mov T0, T0.il
        nop                           ; smul24 T0, T0, T1
        add T0, T0, R8192             ; mov tmuc, CFG16
        asr T0, T0, 14
        mov tmud, 0                   ; smul24 T0, T0, T1
        mov.ifa tmua, ADDR            ; add T0, T0, R8192         # block[0] = 0, lane 0
        asr T0, T0, 14                ; mov tmuc, CFG8            # t
        mov tmua, PX                  ; add PX, PX, STRIDE        # row 7
        mov V0, T0                    ; mov V1, T0
        mov V2, T0                    ; mov V3, T0
        mov V4, T0                    ; mov V5, T0
        mov V6, T0                    ; mov V7, T0
        mov V8, T0                    ; mov V9, T0
        b pixels
        mov V10, T0                   ; mov V11, T0
        mov V12, T0                   ; mov V13, T0
        mov V14, T0                   ; mov V15, T0
