# vp9_iwht4: VP9 lossless 4x4 inverse Walsh-Hadamard transform + add, 8-bit, bit-exact with
# FFmpeg's iwht_iwht_4x4_add_c (itxfm_add[4][*]), over a batch of blocks.
#
# Layout, records and uniforms as h264_idct4: one block per lane, coefficient blocks 32 bytes
# apart (16 int16 in FFmpeg's order, zeroed afterwards), destination records of u32 address
# (4-byte aligned) and u32 stride; uniforms coef_base, table_base, block count, thread-id
# shift, thread count. Threading: 2 threads per QPU.

.set COEF_BASE,  rf1
.set TABLE_BASE, rf2
.set NBLOCKS,    rf3
.set TID_SHIFT,  rf4
.set NTHREADS,   rf5
.set CFG1,       rf6            # TMU config: one word per lane
.set CFG2,       rf7            # two consecutive words per lane
.set CFG4,       rf8            # four consecutive words per lane
.set LANE,       rf9
.set GROUP,      rf10           # this thread's current group of 16 blocks
.set K255,       rf11
.set BLK,        rf12           # block index of this lane
.set CADDR,      rf13           # coefficient address of this lane's block
.set T0,         rf14
.set DST,        rf15           # row 0 of this lane's block
.set STRIDE,     rf16
.set ROW1,       rf17
.set ROW2,       rf18
.set ROW3,       rf19
.set K16,        rf28
.set K24,        rf29
# rf20..rf27: the 8 coefficient words; rf30..rf45: the 16 coefficients b0..b15, then the
# pass-1 results, then the pass-2 residuals; rf46..rf49: butterfly temporaries;
# rf50..rf53: the 4 destination rows.

# One 4-point inverse WHT, in place: (a, b, c, d) = (IN(0), IN(1), IN(2), IN(3)) ->
# (out[0], out[1], out[2], out[3]) of FFmpeg's iwht4_1d (pass 1 first shifts every input
# right by 2: `wht_pre`).
.macro wht a, b, c, d
        add \a, \a, \b               ; sub \c, \c, \d           # t0 += t2, t3 -= t1
        sub rf46, \a, \c                                           # t0 - t3
        asr rf46, rf46, 1                                           # t4
        sub \d, rf46, \d              ; sub \b, rf46, \b          # t1 = t4 - t1, t2 = t4 - t2
        sub \a, \a, \d               ; add \c, \c, \b           # t0 -= t1, t3 += t2
        mov rf47, \d                  ; mov \d, \c               # out: t0, t1, t2, t3
        mov \c, \b                    ; mov \b, rf47
.endm

.macro wht_pre a, b, c, d
        asr \a, \a, 2                 ; nop
        asr \b, \b, 2
        asr \c, \c, 2
        asr \d, \d, 2
        wht \a, \b, \c, \d
.endm

# Pass 1 of FFmpeg stores each result back into the int16 block: keep the low 16 bits,
# sign-extended.
.macro trunc16 a, b
        mov \a, \a.il                 ; mov \b, \b.il
.endm

# Adds residual row (r0..r3, already >> 6) to the 4 pixels of word \px, clamping to 0..255.
.macro add_row px, r0, r1, r2, r3
        and rf46, \px, K255           ; nop
        shr rf47, \px, 8              ; add rf46, rf46, \r0
        and rf47, rf47, K255          ; nop
        shr rf48, \px, K16            ; add rf47, rf47, \r1
        and rf48, rf48, K255          ; nop
        shr rf49, \px, K24            ; add rf48, rf48, \r2
        max rf46, rf46, 0             ; add rf49, rf49, \r3
        max rf47, rf47, 0
        max rf48, rf48, 0
        max rf49, rf49, 0
        min rf46, rf46, K255
        min rf47, rf47, K255
        min rf48, rf48, K255
        min rf49, rf49, K255
        shl rf47, rf47, 8
        shl rf48, rf48, K16
        shl rf49, rf49, K24
        or \px, rf46, rf47
        or rf48, rf48, rf49
        or \px, \px, rf48
.endm

        nop                           ; nop                       ; ldunifrf.rf1
        nop                           ; nop                       ; ldunifrf.rf2
        nop                           ; nop                       ; ldunifrf.rf3
        nop                           ; nop                       ; ldunifrf.rf4
        nop                           ; nop                       ; ldunifrf.rf5
        eidx LANE                     ; nop
        tidx GROUP                    ; nop
        shr GROUP, GROUP, TID_SHIFT   ; nop
        mov CFG1, -1                                          # 0xffffffff
        mov CFG2, -6                                          # 0xfffffffa
        mov K16, 8
        mov T0, 5                     ; add K16, K16, K16     # K16 = 16
        shl T0, T0, 8
        or T0, T0, 4
        shl T0, T0, 8
        add K24, K16, 8
        or T0, T0, 3                                          # 0x00050403
        not CFG4, T0                                          # 0xfffafbfc
        mov K255, 15
        shl K255, K255, 4             ; nop
        or K255, K255, 15             ; nop                   # 255
        # (py-videocore7 TMULookUpConfig.sequential_read_write_vec(n): 0xffffffff for one word
        # per lane, 0xfffffffa for two, 0xfffafbfc for four.)

        # Nothing to do if even this thread's first group is past the end.
        shl T0, GROUP, 4
        sub.pushn -, T0, NBLOCKS
        b.allna done
        nop
        nop
        nop

group_loop:
        # Lanes whose block exists: A flag (BLK < NBLOCKS).
        shl BLK, GROUP, 4
        add BLK, BLK, LANE
        sub.pushn -, BLK, NBLOCKS     # A = BLK - NBLOCKS < 0
        shl CADDR, BLK, 5
        add CADDR, CADDR, COEF_BASE
        shl T0, BLK, 3
        add T0, T0, TABLE_BASE

        # Destination record (address, stride) and the first half of the coefficients. At 2
        # threads a thread may have 8 words outstanding in the TMU (16 per QPU, Mesa
        # nir_to_vir.c), so the second half waits for the first two words.
        mov tmuc, CFG2
        mov.ifa tmua, T0
        mov tmuc, CFG4
        mov.ifa tmua, CADDR           ; nop                   ; thrsw
        add T0, CADDR, K16            # thrsw delay slots: let the other thread run while
        nop                           # the TMU fetches
        ldtmu.DST
        ldtmu.STRIDE
        mov tmuc, CFG4
        mov.ifa tmua, T0              ; nop                   ; thrsw
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
        # Destination rows (one word each), issued now so that the transform hides their
        # latency.
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

        # Unpack: word k holds b[2k] (low half) and b[2k+1] (high half).
        mov rf30, rf20.il             ; mov rf31, rf20.ih
        mov rf32, rf21.il             ; mov rf33, rf21.ih
        mov rf34, rf22.il             ; mov rf35, rf22.ih
        mov rf36, rf23.il             ; mov rf37, rf23.ih
        mov rf38, rf24.il             ; mov rf39, rf24.ih
        mov rf40, rf25.il             ; mov rf41, rf25.ih
        mov rf42, rf26.il             ; mov rf43, rf26.ih
        mov rf44, rf27.il             ; mov rf45, rf27.ih

        # Pass 1: columns (block[i], block[i+4], block[i+8], block[i+12]).
        wht_pre rf30, rf34, rf38, rf42
        wht_pre rf31, rf35, rf39, rf43
        wht_pre rf32, rf36, rf40, rf44
        wht_pre rf33, rf37, rf41, rf45
        trunc16 rf30, rf31
        trunc16 rf32, rf33
        trunc16 rf34, rf35
        trunc16 rf36, rf37
        trunc16 rf38, rf39
        trunc16 rf40, rf41
        trunc16 rf42, rf43
        trunc16 rf44, rf45

        # Pass 2: rows (block[4i .. 4i+3]); row i of the block gives pixel column i. FFmpeg
        # keeps the outputs in int16 and adds them unrounded (bits = 0).
        wht rf30, rf31, rf32, rf33
        wht rf34, rf35, rf36, rf37
        wht rf38, rf39, rf40, rf41
        wht rf42, rf43, rf44, rf45
        trunc16 rf30, rf31
        trunc16 rf32, rf33
        trunc16 rf34, rf35
        trunc16 rf36, rf37
        trunc16 rf38, rf39
        trunc16 rf40, rf41
        trunc16 rf42, rf43
        trunc16 rf44, rf45

        ldtmu.rf50
        ldtmu.rf51
        ldtmu.rf52
        ldtmu.rf53
        # Output pixel (column i, row r) is element r of pass-2 row i.
        add_row rf50, rf30, rf34, rf38, rf42
        add_row rf51, rf31, rf35, rf39, rf43
        add_row rf52, rf32, rf36, rf40, rf44
        add_row rf53, rf33, rf37, rf41, rf45

        mov tmud, rf50
        mov tmuc, CFG1
        mov.ifa tmua, DST
        mov tmud, rf51
        mov tmuc, CFG1
        mov.ifa tmua, ROW1
        mov tmud, rf52
        mov tmuc, CFG1
        mov.ifa tmua, ROW2
        mov tmud, rf53
        mov tmuc, CFG1
        mov.ifa tmua, ROW3
        # Zero the coefficients: two 16-byte writes.
        mov tmud, 0
        mov tmud, 0
        mov tmud, 0
        mov tmud, 0
        mov tmuc, CFG4
        mov.ifa tmua, CADDR
        add T0, CADDR, K16
        mov tmud, 0
        mov tmud, 0
        mov tmud, 0
        mov tmud, 0
        mov tmuc, CFG4
        mov.ifa tmua, T0

        # Next group of this thread, while any block remains.
        add GROUP, GROUP, NTHREADS
        shl T0, GROUP, 4
        sub.pushn -, T0, NBLOCKS
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
