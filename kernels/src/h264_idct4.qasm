# h264_idct4: H.264 4x4 inverse transform + add, 8-bit, bit-exact with FFmpeg's
# ff_h264_idct_add_8_c, over a batch of blocks.
#
# Layout: one block per lane. Each QPU thread takes groups of 16 consecutive blocks
# (group g = thread id, thread id + threads, ...); lane i of a group does block 16 g + i
# entirely in its own registers, so the transform needs no cross-lane traffic.
#
# Per block, in memory:
#   coefficients  coef_base + 32 k: 16 int16 in FFmpeg's order (block[i + 4 j] is
#                 horizontal frequency j, vertical i); zeroed afterwards, as FFmpeg does
#   destination   table_base + 8 k: u32 GPU address of the top-left pixel (4-byte aligned),
#                 u32 row stride in bytes (a multiple of 4)
#
# Uniforms: coef_base, table_base, block count, thread-id shift (tidx >> shift is the
# thread id: 2 with 1 thread per QPU, 1 with 2, 0 with 4), thread count.
#
# Threading: 2 threads per QPU (64 registers each).

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

# One 4-point H.264 butterfly, in place: (a, b, c, d) ->
#   z0 = a + c, z1 = a - c, z2 = (b >> 1) - d, z3 = b + (d >> 1)
#   a = z0 + z3, b = z1 + z2, c = z1 - z2, d = z0 - z3
.macro butterfly a, b, c, d
        asr rf46, \b, 1               ; add rf48, \a, \c          # rf46 = b >> 1, z0
        asr rf47, \d, 1               ; sub rf49, \a, \c          # rf47 = d >> 1, z1
        sub rf46, rf46, \d            ; add rf47, \b, rf47        # z2, z3
        add \a, rf48, rf47            ; add \b, rf49, rf46
        sub \c, rf49, rf46            ; sub \d, rf48, rf47
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

        # block[0] += 32, as an int16.
        add rf30, rf30, K16
        add rf30, rf30, K16
        mov rf30, rf30.il

        # Pass 1: columns (block[i], block[i+4], block[i+8], block[i+12]).
        butterfly rf30, rf34, rf38, rf42
        butterfly rf31, rf35, rf39, rf43
        butterfly rf32, rf36, rf40, rf44
        butterfly rf33, rf37, rf41, rf45
        trunc16 rf30, rf31
        trunc16 rf32, rf33
        trunc16 rf34, rf35
        trunc16 rf36, rf37
        trunc16 rf38, rf39
        trunc16 rf40, rf41
        trunc16 rf42, rf43
        trunc16 rf44, rf45

        # Pass 2: rows (block[4i .. 4i+3]); row i of the block gives pixel column i.
        butterfly rf30, rf31, rf32, rf33
        butterfly rf34, rf35, rf36, rf37
        butterfly rf38, rf39, rf40, rf41
        butterfly rf42, rf43, rf44, rf45
        asr rf30, rf30, 6             ; nop
        asr rf31, rf31, 6
        asr rf32, rf32, 6
        asr rf33, rf33, 6
        asr rf34, rf34, 6
        asr rf35, rf35, 6
        asr rf36, rf36, 6
        asr rf37, rf37, 6
        asr rf38, rf38, 6
        asr rf39, rf39, 6
        asr rf40, rf40, 6
        asr rf41, rf41, 6
        asr rf42, rf42, 6
        asr rf43, rf43, 6
        asr rf44, rf44, 6
        asr rf45, rf45, 6

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
