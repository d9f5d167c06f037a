# vp9_itxfm4: VP9 4x4 inverse transform + add, 8-bit, bit-exact with FFmpeg's
# itxfm_add[TX_4X4][type] (idct_idct, iadst_idct, idct_iadst, iadst_iadst), over a batch of
# blocks of any mix of the four types, with FFmpeg's DC-only shortcut (DCT_DCT, eob == 1).
#
# Layout: one block per lane, as h264_idct4. Every lane computes both the DCT and the ADST
# of each column and keeps the one its block's type asks for, so blocks of all four types
# share one dispatch.
#
# Per block, in memory:
#   coefficients  coef_base + 32 k: 16 int16 in FFmpeg's order; cleared afterwards as FFmpeg
#                 clears them (only block[0] after the DC-only shortcut)
#   record        table_base + 16 k: u32 GPU address of the top-left pixel (4-byte aligned),
#                 u32 row stride (a multiple of 4), u32 type (FFmpeg's TxfmType: 0 DCT_DCT,
#                 1 DCT_ADST = ADST first pass, 2 ADST_DCT = ADST second pass, 3 ADST_ADST),
#                 u32 eob
#
# Uniforms: coef_base, table_base, block count, thread-id shift, thread count, then the
# TMU configs for 1 and 4 words per lane, then the constants 11585, 6270, 15137, 8192,
# 5283, 15212, 9929, 13377 (FFmpeg vp9dsp_template.c).
#
# Threading: 2 threads per QPU (64 registers each).

.set COEF_BASE,  rf1
.set TABLE_BASE, rf2
.set NBLOCKS,    rf3
.set TID_SHIFT,  rf4
.set NTHREADS,   rf5
.set CFG1,       rf6
.set CFG4,       rf7
.set LANE,       rf8
.set GROUP,      rf9
.set BLK,        rf10
.set CADDR,      rf11
.set TMP,        rf12
.set DST,        rf13
.set STRIDE,     rf14
.set TYPE,       rf15
.set EOB,        rf16
.set ROW1,       rf17
.set ROW2,       rf18
.set ROW3,       rf19
# rf20..rf27: coefficient words, later the 4 destination rows (rf20..rf23) and scratch
.set K255,       rf28
.set K16,        rf29
.set K24,        rf30
.set C11585,     rf31
.set C6270,      rf32
.set C15137,     rf33
.set R8192,      rf34
.set C5283,      rf35
.set C15212,     rf36
.set C9929,      rf37
.set C13377,     rf38
.set P,          rf39
.set Q,          rf0
# rf40..rf55: the 16 values of the block; rf56..rf59 DCT outputs, rf60..rf63 ADST outputs

# (x * C + 8192) >> 14 into \dst, x in \x. Uses P.
.macro mulround dst, x, c
        nop                           ; smul24 P, \x, \c
        add P, P, R8192
        asr \dst, P, 14
.endm

# DCT of (a, b, c, d) into rf56..rf59 (FFmpeg idct4_1d).
.macro idct4 a, b, c, d
        add Q, \a, \c                 ; smul24 P, \b, C6270
        nop                           ; smul24 rf56, Q, C11585        # (a+c)*11585
        sub Q, \a, \c                 ; smul24 rf58, \d, C15137
        sub rf58, P, rf58             ; smul24 rf57, Q, C11585        # b*6270 - d*15137, (a-c)*11585
        add rf56, rf56, R8192         ; smul24 P, \b, C15137
        add rf57, rf57, R8192         ; smul24 Q, \d, C6270
        add rf58, rf58, R8192         ; add rf59, P, Q                # b*15137 + d*6270
        add rf59, rf59, R8192         ; nop
        asr rf56, rf56, 14            ; nop                           # t0
        asr rf57, rf57, 14            ; nop                           # t1
        asr rf58, rf58, 14            ; nop                           # t2
        asr rf59, rf59, 14            ; nop                           # t3
        add P, rf56, rf59             ; sub Q, rf56, rf59             # t0 + t3, t0 - t3
        add rf56, rf57, rf58          ; sub rf58, rf57, rf58          # t1 + t2, t1 - t2
        mov rf57, rf56                ; mov rf59, Q
        mov rf56, P                   ; nop
.endm

# ADST of (a, b, c, d) into rf60..rf63 (FFmpeg iadst4_1d).
.macro iadst4 a, b, c, d
        nop                           ; smul24 rf60, \a, C5283
        nop                           ; smul24 P, \c, C15212
        add rf60, rf60, P             ; smul24 P, \d, C9929
        add rf60, rf60, P             ; smul24 rf61, \a, C9929        # t0
        nop                           ; smul24 P, \c, C5283
        sub rf61, rf61, P             ; smul24 P, \d, C15212
        sub rf61, rf61, P             ; sub Q, \a, \c                 # t1
        add Q, Q, \d                  ; smul24 rf63, \b, C13377       # t3
        nop                           ; smul24 rf62, Q, C13377        # t2
        add P, rf60, rf61             ; add rf60, rf60, rf63          # t0 + t1, t0 + t3
        sub P, P, rf63                ; add rf61, rf61, rf63          # t0 + t1 - t3, t1 + t3
        add rf60, rf60, R8192         ; add rf61, rf61, R8192
        add rf62, rf62, R8192         ; add rf63, P, R8192
        asr rf60, rf60, 14            ; nop
        asr rf61, rf61, 14            ; nop
        asr rf62, rf62, 14            ; nop
        asr rf63, rf63, 14            ; nop
.endm

# Both transforms of (a, b, c, d); keep the ADST where the A flag is set, else the DCT, and
# store back truncated to int16 (FFmpeg keeps both passes' results in int16).
.macro transform a, b, c, d
        idct4 \a, \b, \c, \d
        iadst4 \a, \b, \c, \d
        mov.ifa rf56, rf60            ; mov.ifa rf57, rf61
        mov.ifa rf58, rf62            ; mov.ifa rf59, rf63
        mov \a, rf56.il               ; mov \b, rf57.il
        mov \c, rf58.il               ; mov \d, rf59.il
.endm

# (x + 8) >> 4 on four values: FFmpeg's final rounding for 4x4 (bits = 4). P holds 8.
.macro round4 a, b, c, d
        add \a, \a, P                 ; add \b, \b, P
        add \c, \c, P                 ; add \d, \d, P
        asr \a, \a, 4
        asr \b, \b, 4
        asr \c, \c, 4
        asr \d, \d, 4
.endm

# Adds residual row (r0..r3) to the 4 pixels of word \px, clamping to 0..255.
.macro add_row px, r0, r1, r2, r3
        and rf56, \px, K255           ; nop
        shr rf57, \px, 8              ; add rf56, rf56, \r0
        and rf57, rf57, K255          ; nop
        shr rf58, \px, K16            ; add rf57, rf57, \r1
        and rf58, rf58, K255          ; nop
        shr rf59, \px, K24            ; add rf58, rf58, \r2
        max rf56, rf56, 0             ; add rf59, rf59, \r3
        max rf57, rf57, 0
        max rf58, rf58, 0
        max rf59, rf59, 0
        min rf56, rf56, K255
        min rf57, rf57, K255
        min rf58, rf58, K255
        min rf59, rf59, K255
        shl rf57, rf57, 8
        shl rf58, rf58, K16
        shl rf59, rf59, K24
        or \px, rf56, rf57
        or rf58, rf58, rf59
        or \px, \px, rf58
.endm

        nop                           ; nop                       ; ldunifrf.rf1
        nop                           ; nop                       ; ldunifrf.rf2
        nop                           ; nop                       ; ldunifrf.rf3
        nop                           ; nop                       ; ldunifrf.rf4
        nop                           ; nop                       ; ldunifrf.rf5
        nop                           ; nop                       ; ldunifrf.rf6
        nop                           ; nop                       ; ldunifrf.rf7
        nop                           ; nop                       ; ldunifrf.rf31
        nop                           ; nop                       ; ldunifrf.rf32
        nop                           ; nop                       ; ldunifrf.rf33
        nop                           ; nop                       ; ldunifrf.rf34
        nop                           ; nop                       ; ldunifrf.rf35
        nop                           ; nop                       ; ldunifrf.rf36
        nop                           ; nop                       ; ldunifrf.rf37
        nop                           ; nop                       ; ldunifrf.rf38
        eidx LANE
        tidx GROUP
        shr GROUP, GROUP, TID_SHIFT
        mov K16, 8
        add K16, K16, K16
        add K24, K16, 8
        mov K255, 15
        shl K255, K255, 4
        or K255, K255, 15

        shl TMP, GROUP, 4
        sub.pushn -, TMP, NBLOCKS
        b.allna done
        nop
        nop
        nop

group_loop:
        shl BLK, GROUP, 4
        add BLK, BLK, LANE
        sub.pushn -, BLK, NBLOCKS     # A: this lane has a block
        shl CADDR, BLK, 5
        add CADDR, CADDR, COEF_BASE
        shl TMP, BLK, 4
        add TMP, TMP, TABLE_BASE

        # Record and first half of the coefficients: 8 words outstanding, the limit at 2
        # threads.
        mov tmuc, CFG4
        mov.ifa tmua, TMP
        mov tmuc, CFG4
        mov.ifa tmua, CADDR           ; nop                   ; thrsw
        add TMP, CADDR, K16           # thrsw delay slots: let the other thread run while
        nop                           # the TMU fetches
        ldtmu.DST
        ldtmu.STRIDE
        ldtmu.TYPE
        ldtmu.EOB
        mov tmuc, CFG4
        mov.ifa tmua, TMP             ; nop                   ; thrsw
        nop
        nop
        ldtmu.rf20
        ldtmu.rf21
        ldtmu.rf22
        ldtmu.rf23
        ldtmu.rf24
        ldtmu.rf25
        ldtmu.rf26
        ldtmu.rf27
        mov tmuc, CFG1
        mov.ifa tmua, DST
        add ROW1, DST, STRIDE
        mov tmuc, CFG1
        mov.ifa tmua, ROW1
        add ROW2, ROW1, STRIDE
        mov tmuc, CFG1
        mov.ifa tmua, ROW2
        add ROW3, ROW2, STRIDE
        mov tmuc, CFG1
        mov.ifa tmua, ROW3

        mov rf40, rf20.il             ; mov rf41, rf20.ih
        mov rf42, rf21.il             ; mov rf43, rf21.ih
        mov rf44, rf22.il             ; mov rf45, rf22.ih
        mov rf46, rf23.il             ; mov rf47, rf23.ih
        mov rf48, rf24.il             ; mov rf49, rf24.ih
        mov rf50, rf25.il             ; mov rf51, rf25.ih
        mov rf52, rf26.il             ; mov rf53, rf26.ih
        mov rf54, rf27.il             ; mov rf55, rf27.ih
        mov rf25, rf20                # word 0 (block[0], block[1]), for the DC-only write-back

        # DC-only value for DCT_DCT blocks with eob == 1 (no int16 steps in FFmpeg's shortcut):
        # t = ((b0 * 11585 + 8192) >> 14) * 11585 + 8192) >> 14; residual (t + 8) >> 4.
        mulround rf24, rf40, C11585
        mulround rf24, rf24, C11585
        add rf24, rf24, 8
        asr rf24, rf24, 4

        # Pass 1: columns, ADST where type bit 0 is set.
        and TMP, TYPE, 1
        sub.pushz -, TMP, 1           # A: ADST in pass 1
        transform rf40, rf44, rf48, rf52
        transform rf41, rf45, rf49, rf53
        transform rf42, rf46, rf50, rf54
        transform rf43, rf47, rf51, rf55

        # Pass 2: rows, ADST where type bit 1 is set.
        and TMP, TYPE, 2
        sub.pushz -, TMP, 2           # A: ADST in pass 2
        transform rf40, rf41, rf42, rf43
        transform rf44, rf45, rf46, rf47
        transform rf48, rf49, rf50, rf51
        transform rf52, rf53, rf54, rf55

        # (out + 8) >> 4, or the DC-only value where type == DCT_DCT and eob == 1.
        mov P, 8
        round4 rf40, rf41, rf42, rf43
        round4 rf44, rf45, rf46, rf47
        round4 rf48, rf49, rf50, rf51
        round4 rf52, rf53, rf54, rf55
        sub TMP, EOB, 1
        or.pushz -, TMP, TYPE         # A: DC-only block
        mov.ifa rf40, rf24            ; mov.ifa rf41, rf24
        mov.ifa rf42, rf24            ; mov.ifa rf43, rf24
        mov.ifa rf44, rf24            ; mov.ifa rf45, rf24
        mov.ifa rf46, rf24            ; mov.ifa rf47, rf24
        mov.ifa rf48, rf24            ; mov.ifa rf49, rf24
        mov.ifa rf50, rf24            ; mov.ifa rf51, rf24
        mov.ifa rf52, rf24            ; mov.ifa rf53, rf24
        mov.ifa rf54, rf24            ; mov.ifa rf55, rf24

        ldtmu.rf20
        ldtmu.rf21
        ldtmu.rf22
        ldtmu.rf23
        # Pixel (column i, row r) is element r of pass-2 row i.
        add_row rf20, rf40, rf44, rf48, rf52
        add_row rf21, rf41, rf45, rf49, rf53
        add_row rf22, rf42, rf46, rf50, rf54
        add_row rf23, rf43, rf47, rf51, rf55

        sub.pushn -, BLK, NBLOCKS     # A: this lane has a block
        mov tmud, rf20
        mov tmuc, CFG1
        mov.ifa tmua, DST
        mov tmud, rf21
        mov tmuc, CFG1
        mov.ifa tmua, ROW1
        mov tmud, rf22
        mov tmuc, CFG1
        mov.ifa tmua, ROW2
        mov tmud, rf23
        mov tmuc, CFG1
        mov.ifa tmua, ROW3
        # Clear the coefficients FFmpeg clears: all 16 after a full transform, only block[0]
        # after the DC-only shortcut (vp9dsp_template.c, itxfm_wrapper).
        sub TMP, EOB, 1
        sub.pushn -, BLK, NBLOCKS     # A: this lane has a block
        or.andnz -, TMP, TYPE         # A: ... and took the full transform
        mov tmud, 0
        mov tmud, 0
        mov tmud, 0
        mov tmud, 0
        mov tmuc, CFG4
        mov.ifa tmua, CADDR
        add TMP, CADDR, K16
        mov tmud, 0
        mov tmud, 0
        mov tmud, 0
        mov tmud, 0
        mov tmuc, CFG4
        mov.ifa tmua, TMP
        sub TMP, EOB, 1
        sub.pushn -, BLK, NBLOCKS     # A: this lane has a block
        or.andz -, TMP, TYPE          # A: ... and took the DC-only shortcut
        shr rf25, rf25, K16
        shl rf25, rf25, K16           # block[0] = 0, block[1] kept
        mov tmud, rf25
        mov tmuc, CFG1
        mov.ifa tmua, CADDR

        add GROUP, GROUP, NTHREADS
        shl TMP, GROUP, 4
        sub.pushn -, TMP, NBLOCKS
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
