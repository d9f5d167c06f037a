# vp9_itxfm8: VP9 8x8 inverse transform + add, 8-bit, bit-exact with FFmpeg's
# itxfm_add[TX_8X8][type] (idct_idct, iadst_idct, idct_iadst, iadst_iadst), over a batch of
# blocks of any mix of the four types, with FFmpeg's DC-only shortcut (DCT_DCT, eob == 1).
#
# Layout: one block per lane, as h264_idct8: the 64 coefficients are 32 words of int16 pairs
# (word w = block[2w] | block[2w+1] << 16), pass 1 works on column pairs and packs its results
# back as int16 pairs (FFmpeg's tmp[] is int16), pass 2 row i gives the residuals of pixel
# column i, packed the same way (FFmpeg's out[] is int16 too).
#
# Mixed types: every lane computes both the DCT and the ADST of each column (and row) and
# keeps the one its type asks for. Per column the DCT's 8 results are packed into 4 words
# first (exact: they are stored as int16 anyway), so the ADST can run while they wait.
#
# Constants: the two transforms use 15 multipliers, one per smul24, and the block, the
# control words and the two transforms' working values leave no registers for them (32
# coefficient words + 8 unpacked values + 4 packed DCT results + 8 working values + 1
# product, out of 64 at 2 threads per QPU). Branching per group to run one transform would
# only help groups whose 16 lanes agree; a mixed group still needs both transforms in
# registers at once. Freeing the destination, stride and record words (re-reading them for
# the pixels) gains 3 registers, not 15. So the multipliers come from a table through the
# second uniform stream, in the order the code uses them: every smul24 reads rf0 and its own
# `ldunifa` fetches the next multiplier, so the loads ride on instructions the transform
# issues anyway. unifa is rewound for every column and row (Mesa qpu_schedule.c: three
# instructions between the unifa write and the first ldunifa; no thread switch in that
# window, and the transforms have none).
#
# Per block, in memory:
#   coefficients  coef_base + 128 k: 64 int16 in FFmpeg's order (block[i + 8 j]); zeroed
#                 afterwards (a DC-only block: block[0] only, as FFmpeg does; the kernel
#                 keeps block[1] to write the first word back)
#   record        table_base + 16 k: u32 GPU address of the top-left pixel (4-byte aligned),
#                 u32 row stride (a multiple of 4), u32 type (FFmpeg's TxfmType: 0 DCT_DCT,
#                 1 DCT_ADST = ADST in pass 1, 2 ADST_DCT = ADST in pass 2, 3 ADST_ADST),
#                 u32 eob
#
# Uniforms: coef_base, table_base, block count, thread-id shift, thread count, then the GPU
# address of the multiplier table (vp9_itxfm8.rs, `MULTIPLIERS`): 11585 for the DC-only
# value, then one column's 44 multipliers (DCT, then ADST), then a pad word read by the last
# multiply's prefetch.
#
# TMU: the record and coefficients are read in rounds of 8 words with a thread switch each,
# as h264_idct8; the first 4 pixel rows are requested before pass 1, so the two passes hide
# their latency.
#
# Shift counts use their low 5 bits (py-videocore7 test_alu.py: `b % 32`), so the small
# immediate -16 shifts by 16.

.set COEF_BASE,  rf1
.set TABLE_BASE, rf2
.set NBLOCKS,    rf3
.set STEP,       rf4            # blocks between a thread's groups: 16 x thread count
.set BLK,        rf5            # block index of this lane
.set DST,        rf6
.set STRIDE,     rf7
.set MODE,       rf8            # type | DC-only << 2 | DC-only residual << 4 (12 bits)
                                # | block[1] << 16
.set KTAB,       rf9
.set R8192,      rf10
.set P,          rf11
# rf12..rf43: the 32 coefficient words W0..W31
# rf44..rf51: eight unpacked values V0..V7
.set D0,         rf52           # the DCT's results of one column, as int16 pairs
.set D1,         rf53
.set D2,         rf54
.set D3,         rf55
.set A0,         rf56           # working values
.set A1,         rf57
.set A2,         rf58
.set A3,         rf59
.set A4,         rf60
.set A5,         rf61
.set A6,         rf62
.set A7,         rf63


# FFmpeg's idct8_1d of (i0..i7), its results packed into D0..D3 as int16 pairs
# (D0 = out0 | out1 << 16, ...). Inputs are kept. Multipliers, in order: 6270 15137 15137
# 6270 11585 11585 3196 16069 16069 3196 13623 9102 9102 13623 11585 11585.
.macro idct8 i0, i1, i2, i3, i4, i5, i6, i7
        add A0, \i0, \i4              ; smul24 A2, \i2, rf0       ; ldunifa
        sub A1, \i0, \i4              ; smul24 P, \i6, rf0        ; ldunifa
        sub A2, A2, P                 ; smul24 A3, \i2, rf0       ; ldunifa   # in2*6270 - in6*15137
        nop                           ; smul24 P, \i6, rf0        ; ldunifa
        add A3, A3, P                 ; smul24 A0, A0, rf0        ; ldunifa   # in2*15137 + in6*6270
        nop                           ; smul24 A1, A1, rf0        ; ldunifa
        add A2, A2, R8192             ; smul24 A4, \i1, rf0       ; ldunifa
        add A3, A3, R8192             ; smul24 P, \i7, rf0        ; ldunifa
        sub A4, A4, P                 ; smul24 A7, \i1, rf0       ; ldunifa   # in1*3196 - in7*16069
        add A0, A0, R8192             ; smul24 P, \i7, rf0        ; ldunifa
        add A7, A7, P                 ; smul24 A5, \i5, rf0       ; ldunifa   # in1*16069 + in7*3196
        add A1, A1, R8192             ; smul24 P, \i3, rf0        ; ldunifa
        sub A5, A5, P                 ; smul24 A6, \i5, rf0       ; ldunifa   # in5*13623 - in3*9102
        add A4, A4, R8192             ; smul24 P, \i3, rf0        ; ldunifa
        add A6, A6, P                 ; add A5, A5, R8192                     # in5*9102 + in3*13623
        add A6, A6, R8192             ; add A7, A7, R8192
        asr A0, A0, 14                                                        # t0a
        asr A3, A3, 14                                                        # t3a
        asr A1, A1, 14                ; add P, A0, A3                         # t1a; t0
        asr A2, A2, 14                ; sub A3, A0, A3                        # t2a; t3
        asr A4, A4, 14                ; add A0, A1, A2                        # t4a; t1
        asr A5, A5, 14                ; sub A2, A1, A2                        # t5a; t2
        asr A6, A6, 14                                                        # t6a
        asr A7, A7, 14                                                        # t7a
        add A1, A4, A5                ; sub A5, A4, A5                        # t4, t5a
        add A4, A7, A6                ; sub A6, A7, A6                        # t7, t6a
        sub A7, A6, A5                ; add A6, A6, A5
        nop                           ; smul24 A7, A7, rf0        ; ldunifa
        nop                           ; smul24 A6, A6, rf0        ; ldunifa
        add A7, A7, R8192             ; add A6, A6, R8192
        asr A7, A7, 14                                                        # t5
        asr A6, A6, 14                                                        # t6
        add A5, P, A4                 ; sub D3, P, A4                         # out0, out7
        add P, A0, A6                 ; sub D2, A0, A6                        # out1, out6
        add D0, A2, A7                ; sub A0, A2, A7                        # out2, out5
        add D1, A3, A1                ; sub A1, A3, A1                        # out3, out4
        shl P, P, -16                 ; mov A5, A5.ul
        shl D1, D1, -16               ; mov A2, D0.ul
        shl D3, D3, -16               ; mov A1, A1.ul
        shl A0, A0, -16               ; mov D2, D2.ul
        or D0, A5, P
        or D1, A2, D1
        or D3, D2, D3
        or D2, A1, A0
.endm

# FFmpeg's iadst8_1d of (i0..i7), in place. Multipliers, in order: 16305 1606 1606 16305
# 10394 12665 12665 10394 14449 7723 7723 14449 4756 15679 15679 4756 15137 6270 6270 15137
# 15137 6270 6270 15137 11585 11585 11585 11585.
.macro iadst8 i0, i1, i2, i3, i4, i5, i6, i7
        nop                           ; smul24 A0, \i7, rf0       ; ldunifa
        nop                           ; smul24 P, \i0, rf0        ; ldunifa
        add A0, A0, P                 ; smul24 A1, \i7, rf0       ; ldunifa   # t0a
        add A0, A0, R8192             ; smul24 P, \i0, rf0        ; ldunifa
        sub A1, A1, P                 ; smul24 A4, \i3, rf0       ; ldunifa   # t1a
        add A1, A1, R8192             ; smul24 P, \i4, rf0        ; ldunifa
        add A4, A4, P                 ; smul24 A5, \i3, rf0       ; ldunifa   # t4a
        nop                           ; smul24 P, \i4, rf0        ; ldunifa
        sub A5, A5, P                 ; smul24 A2, \i5, rf0       ; ldunifa   # t5a
        nop                           ; smul24 P, \i2, rf0        ; ldunifa
        add A2, A2, P                 ; smul24 A3, \i5, rf0       ; ldunifa   # t2a
        add A2, A2, R8192             ; smul24 P, \i2, rf0        ; ldunifa
        sub A3, A3, P                 ; smul24 A6, \i1, rf0       ; ldunifa   # t3a
        add A3, A3, R8192             ; smul24 P, \i6, rf0        ; ldunifa
        add A6, A6, P                 ; smul24 A7, \i1, rf0       ; ldunifa   # t6a
        nop                           ; smul24 P, \i6, rf0        ; ldunifa
        sub A7, A7, P                                                         # t7a
        add P, A0, A4                 ; sub A4, A0, A4
        add A0, A1, A5                ; sub A5, A1, A5
        add A1, A2, A6                ; sub A6, A2, A6
        add A2, A3, A7                ; sub A7, A3, A7
        asr A3, P, 14                                                         # t0
        asr A0, A0, 14                                                        # t1
        asr A1, A1, 14                                                        # t2
        asr A2, A2, 14                ; add \i0, A3, A1                       # t3; out0
        asr A4, A4, 14                ; sub A1, A3, A1                        # t4; t2 = t0 - t2
        asr A5, A5, 14                ; add P, A0, A2                         # t5; t1 + t3
        asr A6, A6, 14                ; sub A2, A0, A2                        # t6; t3 = t1 - t3
        asr A7, A7, 14                                                        # t7
        neg \i7, P                    ; smul24 A0, A4, rf0        ; ldunifa   # out7
        nop                           ; smul24 A3, A5, rf0        ; ldunifa
        add A0, A0, A3                ; smul24 P, A4, rf0         ; ldunifa   # t4a
        nop                           ; smul24 A3, A5, rf0        ; ldunifa
        sub A4, P, A3                 ; smul24 P, A7, rf0         ; ldunifa   # t5a
        nop                           ; smul24 A3, A6, rf0        ; ldunifa
        sub A5, P, A3                 ; smul24 P, A7, rf0         ; ldunifa   # t6a
        nop                           ; smul24 A3, A6, rf0        ; ldunifa
        add A6, P, A3                 ; add A0, A0, R8192                     # t7a
        add A4, A4, R8192             ; nop
        add P, A0, A5                 ; sub A5, A0, A5
        add A0, A4, A6                ; sub A6, A4, A6
        asr P, P, 14
        asr \i6, A0, 14                                                       # out6
        asr A5, A5, 14                                                        # t6
        asr A6, A6, 14                                                        # t7
        neg \i1, P                                                            # out1
        add A0, A1, A2                ; sub A1, A1, A2                        # t2 + t3, t2 - t3
        add A2, A5, A6                ; sub A5, A5, A6                        # t6 + t7, t6 - t7
        nop                           ; smul24 A0, A0, rf0        ; ldunifa
        nop                           ; smul24 A1, A1, rf0        ; ldunifa
        add A0, A0, R8192             ; smul24 A2, A2, rf0        ; ldunifa
        add A1, A1, R8192             ; smul24 A5, A5, rf0        ; ldunifa
        add A2, A2, R8192             ; add A5, A5, R8192
        asr A0, A0, 14                ; mov unifa, KTAB           # rewind for the next column
        asr \i4, A1, 14                                                       # out4
        asr \i2, A2, 14                                                       # out2
        asr A5, A5, 14
        neg \i3, A0                                                           # out3
        neg \i5, A5                                                           # out5
.endm

# Both transforms of (i0..i7), in place; the DCT's results where the A flag is set. The
# multiplier stream is left at the start of the next column's sequence (the DC-only
# multiplier skipped, the first DCT multiplier in rf0): iadst8 rewinds it, far enough back.
.macro transform i0, i1, i2, i3, i4, i5, i6, i7
        idct8 \i0, \i1, \i2, \i3, \i4, \i5, \i6, \i7
        iadst8 \i0, \i1, \i2, \i3, \i4, \i5, \i6, \i7
        mov.ifa \i0, D0.il            ; mov.ifa \i1, D0.ih       ; ldunifa
        mov.ifa \i2, D1.il            ; mov.ifa \i3, D1.ih       ; ldunifa
        mov.ifa \i4, D2.il            ; mov.ifa \i5, D2.ih
        mov.ifa \i6, D3.il            ; mov.ifa \i7, D3.ih
.endm

# \hi = (\hi << 16) | (\lo & 0xffff): keeps both as int16, as FFmpeg's int16 tmp[] does.
.macro pack_pair hi, lo
        shl \hi, \hi, -16              ; mov \lo, \lo.ul
        or \hi, \hi, \lo
.endm

# Pass 1 on columns 2m and 2m+1: their inputs are the low and high halves of words
# w0, w4, ..., w28; their results go back as int16 pairs.
.macro pass1_pair w0, w1, w2, w3, w4, w5, w6, w7
        mov unifa, KTAB
        mov rf44, \w0.il               ; mov \w0, \w0.ih
        mov rf45, \w1.il               ; mov \w1, \w1.ih
        mov rf46, \w2.il               ; mov \w2, \w2.ih
        mov rf47, \w3.il               ; mov \w3, \w3.ih
        mov rf48, \w4.il               ; mov \w4, \w4.ih          ; ldunifa
        mov rf49, \w5.il               ; mov \w5, \w5.ih          ; ldunifa
        mov rf50, \w6.il               ; mov \w6, \w6.ih
        mov rf51, \w7.il               ; mov \w7, \w7.ih
        transform rf44, rf45, rf46, rf47, rf48, rf49, rf50, rf51
        transform \w0, \w1, \w2, \w3, \w4, \w5, \w6, \w7
        pack_pair \w0, rf44
        pack_pair \w1, rf45
        pack_pair \w2, rf46
        pack_pair \w3, rf47
        pack_pair \w4, rf48
        pack_pair \w5, rf49
        pack_pair \w6, rf50
        pack_pair \w7, rf51
.endm

# Pass 2 on row i (words w0..w3 = tmp row i as int16 pairs): residuals (out + 16) >> 5 of
# pixel column i, rows 0..7, stored back as int16 pairs (rows 2q, 2q+1 in word q).
.macro pass2_row w0, w1, w2, w3
        mov unifa, KTAB
        mov rf44, \w0.il               ; mov rf45, \w0.ih
        mov rf46, \w1.il               ; mov rf47, \w1.ih
        mov rf48, \w2.il               ; mov rf49, \w2.ih
        mov rf50, \w3.il               ; mov rf51, \w3.ih         ; ldunifa
        nop                           ; nop                       ; ldunifa
        idct8 rf44, rf45, rf46, rf47, rf48, rf49, rf50, rf51
        iadst8 rf44, rf45, rf46, rf47, rf48, rf49, rf50, rf51
        # out[] is int16: truncate the ADST's results, then take the DCT's where A is set.
        mov rf44, rf44.il             ; mov rf45, rf45.il
        mov rf46, rf46.il             ; mov rf47, rf47.il
        mov rf48, rf48.il             ; mov rf49, rf49.il
        mov rf50, rf50.il             ; mov rf51, rf51.il
        mov.ifa rf44, D0.il           ; mov.ifa rf45, D0.ih
        mov.ifa rf46, D1.il           ; mov.ifa rf47, D1.ih
        mov.ifa rf48, D2.il           ; mov.ifa rf49, D2.ih
        mov.ifa rf50, D3.il           ; mov.ifa rf51, D3.ih
        mov P, 8
        add P, P, P                   # 16: one small immediate per instruction
        add rf44, rf44, P             ; add rf45, rf45, P
        add rf46, rf46, P             ; add rf47, rf47, P
        add rf48, rf48, P             ; add rf49, rf49, P
        add rf50, rf50, P             ; add rf51, rf51, P
        asr rf44, rf44, 5
        asr rf45, rf45, 5
        asr rf46, rf46, 5             ; mov rf44, rf44.ul
        asr rf47, rf47, 5
        asr rf48, rf48, 5             ; mov rf46, rf46.ul
        asr rf49, rf49, 5
        asr rf50, rf50, 5             ; mov rf48, rf48.ul
        asr rf51, rf51, 5
        shl rf45, rf45, -16           ; mov rf50, rf50.ul
        shl rf47, rf47, -16
        shl rf49, rf49, -16
        shl rf51, rf51, -16
        or \w0, rf44, rf45
        or \w1, rf46, rf47
        or \w2, rf48, rf49
        or \w3, rf50, rf51
.endm

# Adds the residuals r0..r3 (int16 halves selected by h0..h3, `il` or `ih`) to the 4 pixels
# of word \px, clamping to 0..255. Uses rf44..rf49, D0, D1; K255 is A4.
.macro add_px px, r0, h0, r1, h1, r2, h2, r3, h3
        and rf44, \px, A4              ; mov rf48, \r0.\h0
        shr rf45, \px, 8               ; mov rf49, \r1.\h1
        and rf45, rf45, A4             ; mov D0, \r2.\h2
        shr rf46, \px, -16             ; mov D1, \r3.\h3
        and rf46, rf46, A4             ; add rf44, rf44, rf48
        shr rf47, \px, -8              ; add rf45, rf45, rf49
        max rf44, rf44, 0             ; add rf46, rf46, D0
        max rf45, rf45, 0             ; add rf47, rf47, D1
        max rf46, rf46, 0
        max rf47, rf47, 0
        min rf44, rf44, A4
        min rf45, rf45, A4
        min rf46, rf46, A4
        min rf47, rf47, A4
        shl rf45, rf45, 8
        shl rf46, rf46, -16
        shl rf47, rf47, -8
        or rf44, rf44, rf45
        or rf46, rf46, rf47
        or \px, rf44, rf46
.endm

# A7 = the TMU config for four consecutive words per lane: ~0x00050403 = 0xfffafbfc
# (py-videocore7 TMULookUpConfig.sequential_read_write_vec(4)).
.macro cfg4
        mov A7, 5
        shl A7, A7, 8
        or A7, A7, 4
        shl A7, A7, 8
        or A7, A7, 3
        not A7, A7
.endm

        nop                           ; nop                       ; ldunifrf.rf1
        nop                           ; nop                       ; ldunifrf.rf2
        nop                           ; nop                       ; ldunifrf.rf3
        nop                           ; nop                       ; ldunifrf.A0   # thread-id shift
        nop                           ; nop                       ; ldunifrf.A1   # thread count
        nop                           ; nop                       ; ldunifrf.KTAB
        tidx A2
        shr A2, A2, A0                                            # thread id
        shl STEP, A1, 4
        shl BLK, A2, 4
        eidx A3
        add BLK, BLK, A3
        mov R8192, 1
        shl R8192, R8192, 13

        sub.pushn -, BLK, NBLOCKS     # any lane with a block?
        b.allna done
        nop
        nop
        nop

group_loop:
        sub.pushn -, BLK, NBLOCKS     # A: this lane has a block
        shl A6, BLK, 7                # coefficient address
        add A6, A6, COEF_BASE
        shl A5, BLK, 4                # record address
        add A5, A5, TABLE_BASE
        cfg4

        # The record and the 32 coefficient words, four at a time. At 2 threads a thread may
        # have 8 words outstanding (16 per QPU, Mesa nir_to_vir.c); each read is issued with a
        # thread switch so the other thread computes meanwhile.
        mov tmuc, A7
        mov.ifa tmua, A5
        mov tmuc, A7
        mov.ifa tmua, A6              ; nop                   ; thrsw
        sub A4, A6, -16
        nop
        ldtmu.DST
        ldtmu.STRIDE
        ldtmu.A0                      # type
        ldtmu.A1                      # eob

        mov tmuc, A7
        mov.ifa tmua, A4              ; nop                   ; thrsw
        sub A4, A4, -16
        nop
        ldtmu.rf12
        ldtmu.rf13
        ldtmu.rf14
        ldtmu.rf15
        mov tmuc, A7
        mov.ifa tmua, A4              ; nop                   ; thrsw
        sub A4, A4, -16
        nop
        ldtmu.rf16
        ldtmu.rf17
        ldtmu.rf18
        ldtmu.rf19
        mov tmuc, A7
        mov.ifa tmua, A4              ; nop                   ; thrsw
        sub A4, A4, -16
        nop
        ldtmu.rf20
        ldtmu.rf21
        ldtmu.rf22
        ldtmu.rf23
        mov tmuc, A7
        mov.ifa tmua, A4              ; nop                   ; thrsw
        sub A4, A4, -16
        nop
        ldtmu.rf24
        ldtmu.rf25
        ldtmu.rf26
        ldtmu.rf27
        mov tmuc, A7
        mov.ifa tmua, A4              ; nop                   ; thrsw
        sub A4, A4, -16
        nop
        ldtmu.rf28
        ldtmu.rf29
        ldtmu.rf30
        ldtmu.rf31
        mov tmuc, A7
        mov.ifa tmua, A4              ; nop                   ; thrsw
        sub A4, A4, -16
        nop
        ldtmu.rf32
        ldtmu.rf33
        ldtmu.rf34
        ldtmu.rf35
        mov tmuc, A7
        mov.ifa tmua, A4              ; nop                   ; thrsw
        sub A4, A4, -16
        nop
        ldtmu.rf36
        ldtmu.rf37
        ldtmu.rf38
        ldtmu.rf39
        ldtmu.rf40
        ldtmu.rf41
        ldtmu.rf42
        ldtmu.rf43

        # MODE, and FFmpeg's DC-only value for DCT_DCT blocks with eob == 1 (no int16 steps
        # there): t = ((b0 * 11585 + 8192) >> 14) * 11585 + 8192) >> 14; residual
        # (t + 16) >> 5.
        mov unifa, KTAB
        sub A1, A1, 1
        or.pushz -, A1, A0            # A: DC-only
        mov P, rf12.il
        nop                           ; nop                       ; ldunifa   # 11585
        nop                           ; smul24 P, P, rf0
        add P, P, R8192
        asr P, P, 14
        nop                           ; smul24 P, P, rf0
        add P, P, R8192
        asr P, P, 14
        sub P, P, -16
        asr P, P, 5                   # |residual| <= 512: 12 bits hold it
        shl P, P, -12                 # << 20
        shr P, P, -16                 # >> 16: bits 4..15
        shr MODE, rf12, -16
        shl MODE, MODE, -16           # block[1] << 16, which the DC-only form keeps
        or MODE, MODE, P
        or MODE, MODE, A0
        or.ifa MODE, MODE, 4

        # The first 4 pixel rows (8 words, all a thread may have outstanding): the two passes
        # hide their latency.
        sub.pushn -, BLK, NBLOCKS     # A: this lane has a block
        mov A3, DST
        mov tmuc, -6
        mov.ifa tmua, A3
        add A3, A3, STRIDE
        mov tmuc, -6
        mov.ifa tmua, A3
        add A3, A3, STRIDE
        mov tmuc, -6
        mov.ifa tmua, A3
        add A3, A3, STRIDE
        mov tmuc, -6
        mov.ifa tmua, A3

        # Pass 1: columns, in pairs sharing words; the DCT where type bit 0 is clear.
        and.pushz -, MODE, 1          # A: DCT in pass 1
        pass1_pair rf12, rf16, rf20, rf24, rf28, rf32, rf36, rf40
        pass1_pair rf13, rf17, rf21, rf25, rf29, rf33, rf37, rf41
        pass1_pair rf14, rf18, rf22, rf26, rf30, rf34, rf38, rf42
        pass1_pair rf15, rf19, rf23, rf27, rf31, rf35, rf39, rf43

        # Pass 2: rows; row i gives the residuals of pixel column i. The DCT where type bit 1
        # is clear.
        and.pushz -, MODE, 2          # A: DCT in pass 2
        pass2_row rf12, rf13, rf14, rf15
        pass2_row rf16, rf17, rf18, rf19
        pass2_row rf20, rf21, rf22, rf23
        pass2_row rf24, rf25, rf26, rf27
        pass2_row rf28, rf29, rf30, rf31
        pass2_row rf32, rf33, rf34, rf35
        pass2_row rf36, rf37, rf38, rf39
        pass2_row rf40, rf41, rf42, rf43

        # DC-only blocks take the DC value everywhere instead.
        shl P, MODE, -16
        asr P, P, -12                 # >> 20
        shl A0, P, -16                ; mov P, P.ul
        or A0, A0, P
        and.pushz -, MODE, 4          # A: not DC-only
        mov.ifna rf12, A0             ; mov.ifna rf13, A0
        mov.ifna rf14, A0             ; mov.ifna rf15, A0
        mov.ifna rf16, A0             ; mov.ifna rf17, A0
        mov.ifna rf18, A0             ; mov.ifna rf19, A0
        mov.ifna rf20, A0             ; mov.ifna rf21, A0
        mov.ifna rf22, A0             ; mov.ifna rf23, A0
        mov.ifna rf24, A0             ; mov.ifna rf25, A0
        mov.ifna rf26, A0             ; mov.ifna rf27, A0
        mov.ifna rf28, A0             ; mov.ifna rf29, A0
        mov.ifna rf30, A0             ; mov.ifna rf31, A0
        mov.ifna rf32, A0             ; mov.ifna rf33, A0
        mov.ifna rf34, A0             ; mov.ifna rf35, A0
        mov.ifna rf36, A0             ; mov.ifna rf37, A0
        mov.ifna rf38, A0             ; mov.ifna rf39, A0
        mov.ifna rf40, A0             ; mov.ifna rf41, A0
        mov.ifna rf42, A0             ; mov.ifna rf43, A0

        # Pixels: 8 rows of two words. Rows 0..3 were requested before pass 1; row r + 4 is
        # requested when row r arrives (4 rows of 2 words = the 8 words a thread may have
        # outstanding).
        sub.pushn -, BLK, NBLOCKS     # A: this lane has a block
        mov A4, 15                    # K255
        shl A4, A4, 4
        or A4, A4, 15
        shl A3, STRIDE, 2
        add A3, A3, DST               # row 4
        mov A2, DST                   # write address
        # row 0
        ldtmu.rf50
        ldtmu.rf51
        mov tmuc, -6
        mov.ifa tmua, A3
        add A3, A3, STRIDE
        add_px rf50, rf12, il, rf16, il, rf20, il, rf24, il
        add_px rf51, rf28, il, rf32, il, rf36, il, rf40, il
        mov tmud, rf50
        mov tmud, rf51
        mov tmuc, -6
        mov.ifa tmua, A2
        add A2, A2, STRIDE
        # row 1
        ldtmu.rf50
        ldtmu.rf51
        mov tmuc, -6
        mov.ifa tmua, A3
        add A3, A3, STRIDE
        add_px rf50, rf12, ih, rf16, ih, rf20, ih, rf24, ih
        add_px rf51, rf28, ih, rf32, ih, rf36, ih, rf40, ih
        mov tmud, rf50
        mov tmud, rf51
        mov tmuc, -6
        mov.ifa tmua, A2
        add A2, A2, STRIDE
        # row 2
        ldtmu.rf50
        ldtmu.rf51
        mov tmuc, -6
        mov.ifa tmua, A3
        add A3, A3, STRIDE
        add_px rf50, rf13, il, rf17, il, rf21, il, rf25, il
        add_px rf51, rf29, il, rf33, il, rf37, il, rf41, il
        mov tmud, rf50
        mov tmud, rf51
        mov tmuc, -6
        mov.ifa tmua, A2
        add A2, A2, STRIDE
        # row 3
        ldtmu.rf50
        ldtmu.rf51
        mov tmuc, -6
        mov.ifa tmua, A3
        add A3, A3, STRIDE
        add_px rf50, rf13, ih, rf17, ih, rf21, ih, rf25, ih
        add_px rf51, rf29, ih, rf33, ih, rf37, ih, rf41, ih
        mov tmud, rf50
        mov tmud, rf51
        mov tmuc, -6
        mov.ifa tmua, A2
        add A2, A2, STRIDE
        # row 4
        ldtmu.rf50
        ldtmu.rf51
        add_px rf50, rf14, il, rf18, il, rf22, il, rf26, il
        add_px rf51, rf30, il, rf34, il, rf38, il, rf42, il
        mov tmud, rf50
        mov tmud, rf51
        mov tmuc, -6
        mov.ifa tmua, A2
        add A2, A2, STRIDE
        # row 5
        ldtmu.rf50
        ldtmu.rf51
        add_px rf50, rf14, ih, rf18, ih, rf22, ih, rf26, ih
        add_px rf51, rf30, ih, rf34, ih, rf38, ih, rf42, ih
        mov tmud, rf50
        mov tmud, rf51
        mov tmuc, -6
        mov.ifa tmua, A2
        add A2, A2, STRIDE
        # row 6
        ldtmu.rf50
        ldtmu.rf51
        add_px rf50, rf15, il, rf19, il, rf23, il, rf27, il
        add_px rf51, rf31, il, rf35, il, rf39, il, rf43, il
        mov tmud, rf50
        mov tmud, rf51
        mov tmuc, -6
        mov.ifa tmua, A2
        add A2, A2, STRIDE
        # row 7
        ldtmu.rf50
        ldtmu.rf51
        add_px rf50, rf15, ih, rf19, ih, rf23, ih, rf27, ih
        add_px rf51, rf31, ih, rf35, ih, rf39, ih, rf43, ih
        mov tmud, rf50
        mov tmud, rf51
        mov tmuc, -6
        mov.ifa tmua, A2
        add A2, A2, STRIDE

        # Clear the 64 coefficients (eight 16-byte writes), or, as FFmpeg's DC-only form
        # does, only block[0].
        shl A6, BLK, 7
        add A6, A6, COEF_BASE
        shr A5, MODE, -16
        shl A5, A5, -16               # block[1] << 16
        mov tmud, A5
        mov tmuc, -1
        and.andnz -, MODE, 4          # A: a DC-only block
        mov.ifa tmua, A6
        sub.pushn -, BLK, NBLOCKS
        and.andz -, MODE, 4           # A: a block, not DC-only
        cfg4
        mov tmud, 0
        mov tmud, 0
        mov tmud, 0
        mov tmud, 0
        mov tmuc, A7
        mov.ifa tmua, A6
        sub A6, A6, -16
        mov tmud, 0
        mov tmud, 0
        mov tmud, 0
        mov tmud, 0
        mov tmuc, A7
        mov.ifa tmua, A6
        sub A6, A6, -16
        mov tmud, 0
        mov tmud, 0
        mov tmud, 0
        mov tmud, 0
        mov tmuc, A7
        mov.ifa tmua, A6
        sub A6, A6, -16
        mov tmud, 0
        mov tmud, 0
        mov tmud, 0
        mov tmud, 0
        mov tmuc, A7
        mov.ifa tmua, A6
        sub A6, A6, -16
        mov tmud, 0
        mov tmud, 0
        mov tmud, 0
        mov tmud, 0
        mov tmuc, A7
        mov.ifa tmua, A6
        sub A6, A6, -16
        mov tmud, 0
        mov tmud, 0
        mov tmud, 0
        mov tmud, 0
        mov tmuc, A7
        mov.ifa tmua, A6
        sub A6, A6, -16
        mov tmud, 0
        mov tmud, 0
        mov tmud, 0
        mov tmud, 0
        mov tmuc, A7
        mov.ifa tmua, A6
        sub A6, A6, -16
        mov tmud, 0
        mov tmud, 0
        mov tmud, 0
        mov tmud, 0
        mov tmuc, A7
        mov.ifa tmua, A6

        # Next group of this thread, while any of its lanes has a block.
        add BLK, BLK, STEP
        sub.pushn -, BLK, NBLOCKS
        b.anya group_loop
        nop
        nop
        nop

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
