# h264_idct4_dc: H.264 4x4 DC-only inverse transform + add, 8-bit, bit-exact with FFmpeg's
# ff_h264_idct_dc_add_8_c, over a batch of blocks: dc = (block[0] + 32) >> 6 is added to the
# 16 pixels with clipping, and block[0] is cleared.
#
# Layout, records and uniforms as h264_idct4 (one block per lane; coefficient blocks 32 bytes
# apart; destination records of u32 address (4-byte aligned) and u32 stride).
# Threading: 2 threads per QPU.

.set COEF_SHIFT, 5                # 32 bytes per coefficient block

.set COEF_BASE,  rf1
.set TABLE_BASE, rf2
.set NBLOCKS,    rf3
.set TID_SHIFT,  rf4
.set NTHREADS,   rf5
.set CFG2,       rf7
.set LANE,       rf9
.set GROUP,      rf10
.set K255,       rf11
.set BLK,        rf12
.set CADDR,      rf13
.set T0,         rf14
.set DST,        rf15
.set STRIDE,     rf16
.set DC,         rf17
.set CWORD,      rf18
.set K16,        rf28
.set K24,        rf29
.set ROWADDR,    rf30

# Adds \dc to the 4 pixels of word \px, clamping to 0..255.
.macro add_dc px, dc
        and rf46, \px, K255           ; nop
        shr rf47, \px, 8              ; add rf46, rf46, \dc
        and rf47, rf47, K255          ; nop
        shr rf48, \px, K16            ; add rf47, rf47, \dc
        and rf48, rf48, K255          ; nop
        shr rf49, \px, K24            ; add rf48, rf48, \dc
        max rf46, rf46, 0             ; add rf49, rf49, \dc
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
        eidx LANE
        tidx GROUP
        shr GROUP, GROUP, TID_SHIFT
        mov CFG2, -6                                          # two words per lane
        mov K16, 8
        add K16, K16, K16
        add K24, K16, 8
        mov K255, 15
        shl K255, K255, 4
        or K255, K255, 15

        shl T0, GROUP, 4
        sub.pushn -, T0, NBLOCKS
        b.allna done
        nop
        nop
        nop

group_loop:
        shl BLK, GROUP, 4
        add BLK, BLK, LANE
        sub.pushn -, BLK, NBLOCKS     # A: this lane has a block
        shl CADDR, BLK, COEF_SHIFT
        add CADDR, CADDR, COEF_BASE
        shl T0, BLK, 3
        add T0, T0, TABLE_BASE
        mov tmuc, CFG2
        mov.ifa tmua, T0              # destination, stride
        mov tmuc, -1
        mov.ifa tmua, CADDR           ; nop                   ; thrsw   # block[0], block[1]
        nop                           # thrsw delay slots: let the other thread run while
        nop                           # the TMU fetches
        ldtmu.DST
        ldtmu.STRIDE
        ldtmu.CWORD
        # dc = (block[0] + 32) >> 6, in int (FFmpeg h264_idct_dc_add).
        mov DC, CWORD.il
        add DC, DC, K16
        add DC, DC, K16
        asr DC, DC, 6
        # Four rows of four pixels, one word each.
        mov tmuc, -1
        mov.ifa tmua, DST
        add ROWADDR, DST, STRIDE
        mov tmuc, -1
        mov.ifa tmua, ROWADDR
        add ROWADDR, ROWADDR, STRIDE
        mov tmuc, -1
        mov.ifa tmua, ROWADDR
        add ROWADDR, ROWADDR, STRIDE
        mov tmuc, -1
        mov.ifa tmua, ROWADDR         ; nop                   ; thrsw
        nop
        nop
        ldtmu.rf50
        ldtmu.rf51
        ldtmu.rf52
        ldtmu.rf53
        add_dc rf50, DC
        add_dc rf51, DC
        add_dc rf52, DC
        add_dc rf53, DC
        mov ROWADDR, DST
        mov tmud, rf50
        mov tmuc, -1
        mov.ifa tmua, ROWADDR
        add ROWADDR, ROWADDR, STRIDE
        mov tmud, rf51
        mov tmuc, -1
        mov.ifa tmua, ROWADDR
        add ROWADDR, ROWADDR, STRIDE
        mov tmud, rf52
        mov tmuc, -1
        mov.ifa tmua, ROWADDR
        add ROWADDR, ROWADDR, STRIDE
        mov tmud, rf53
        mov tmuc, -1
        mov.ifa tmua, ROWADDR

        # Only block[0] is cleared: keep block[1] in the high half.
        shr CWORD, CWORD, K16
        shl CWORD, CWORD, K16
        mov tmud, CWORD
        mov tmuc, -1
        mov.ifa tmua, CADDR

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
