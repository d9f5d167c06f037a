# h264_idct8: H.264 8x8 inverse transform + add, 8-bit, bit-exact with FFmpeg's
# ff_h264_idct8_add_8_c, over a batch of blocks.
#
# Layout: one block per lane, as h264_idct4, with the 64 coefficients held as 32 words of
# int16 pairs (word w = block[2w] | block[2w+1] << 16). FFmpeg stores pass 1's results back
# into the int16 block, so keeping pass-1 results as int16 pairs is exact, and it keeps the
# block within the 64 registers a thread has at 2 threads per QPU.
#
# Per block, in memory:
#   coefficients  coef_base + 128 k: 64 int16 in FFmpeg's order (block[i + 8 j]); zeroed
#                 afterwards
#   destination   table_base + 8 k: u32 GPU address of the top-left pixel (4-byte aligned),
#                 u32 row stride in bytes (a multiple of 4)
#
# Uniforms: coef_base, table_base, block count, thread-id shift, thread count.
#
# Shift counts use their low 5 bits (py-videocore7 test_alu.py: `b % 32`), so the small
# immediates -16 and -8 shift by 16 and 24.

.set COEF_BASE,  rf1
.set TABLE_BASE, rf2
.set NBLOCKS,    rf3
.set STEP,       rf4            # blocks between a thread's groups: 16 x thread count
.set BLK,        rf5            # block index of this lane
.set CADDR,      rf6            # coefficient address of this lane's block
.set DST,        rf7
.set STRIDE,     rf8
.set K255,       rf9
.set CFG4,       rf10           # TMU config: four consecutive words per lane
.set ADDR,       rf11
# rf12..rf43: the 32 coefficient words W0..W31
.set T0,         rf52
.set T1,         rf53
.set T2,         rf54
.set T3,         rf55
.set T4,         rf56
.set T5,         rf57
.set T6,         rf58
.set T7,         rf59
.set CPTR,       rf60
# rf44..rf51: eight values V0..V7

# FFmpeg's 8-point H.264 inverse butterfly, in place on (v0..v7) = (in[0]..in[7]), using
# T0..T7. The add ALU does the shifts; the mul ALU adds and subtracts alongside.
.macro butterfly8 v0, v1, v2, v3, v4, v5, v6, v7
        add T0, \v0, \v4               ; sub T1, \v0, \v4          # a0, a2
        asr T2, \v2, 1                ; nop
        asr T3, \v6, 1                ; sub T2, T2, \v6           # a4 = (in2 >> 1) - in6
        asr \v0, \v7, 1                ; add T3, T3, \v2           # a6 = (in6 >> 1) + in2
        add T4, T0, T3                ; sub T5, T0, T3            # b0, b6
        add T6, T1, T2                ; sub T7, T1, T2            # b2, b4
        asr \v2, \v3, 1                ; sub T1, \v5, \v3
        asr \v4, \v5, 1                ; sub T1, T1, \v7
        asr \v6, \v1, 1                ; sub T1, T1, \v0           # a1 = -in3 + in5 - in7 - (in7 >> 1)
        add T3, \v1, \v7               ; sub T2, \v7, \v1
        sub T3, T3, \v3                ; add T2, T2, \v5
        sub T3, T3, \v2                ; add T2, T2, \v4           # a3, a5
        add T0, \v3, \v5               ; nop
        add T0, T0, \v1                ; nop
        add T0, T0, \v6                ; nop                       # a7 = in3 + in5 + in1 + (in1 >> 1)
        asr \v0, T0, 2                ; nop
        asr \v1, T1, 2                ; add \v0, \v0, T1           # b1 = (a7 >> 2) + a1
        asr \v2, T2, 2                ; sub \v1, T0, \v1           # b7 = a7 - (a1 >> 2)
        asr \v3, T3, 2                ; add \v2, T3, \v2           # b3 = a3 + (a5 >> 2)
        sub \v3, \v3, T2               ; nop                       # b5 = (a3 >> 2) - a5
        add T0, T4, \v1                ; sub \v7, T4, \v1           # out0, out7
        add T1, T6, \v3                ; sub \v6, T6, \v3           # out1, out6
        add T2, T7, \v2                ; sub \v5, T7, \v2           # out2, out5
        add T3, T5, \v0                ; sub \v4, T5, \v0           # out3, out4
        mov \v0, T0                   ; mov \v1, T1
        mov \v2, T2                   ; mov \v3, T3
.endm

# Pass 1 on columns 2m and 2m+1: their inputs are the low and high halves of words
# w0, w4, ..., w28 (block[2m + 8k], block[2m+1 + 8k]); their results go back as int16 pairs.
.macro pass1_pair w0, w1, w2, w3, w4, w5, w6, w7
        mov rf44, \w0.il               ; mov \w0, \w0.ih
        mov rf45, \w1.il               ; mov \w1, \w1.ih
        mov rf46, \w2.il               ; mov \w2, \w2.ih
        mov rf47, \w3.il               ; mov \w3, \w3.ih
        mov rf48, \w4.il               ; mov \w4, \w4.ih
        mov rf49, \w5.il               ; mov \w5, \w5.ih
        mov rf50, \w6.il               ; mov \w6, \w6.ih
        mov rf51, \w7.il               ; mov \w7, \w7.ih
        butterfly8 rf44, rf45, rf46, rf47, rf48, rf49, rf50, rf51
        butterfly8 \w0, \w1, \w2, \w3, \w4, \w5, \w6, \w7
        pack_pair \w0, rf44
        pack_pair \w1, rf45
        pack_pair \w2, rf46
        pack_pair \w3, rf47
        pack_pair \w4, rf48
        pack_pair \w5, rf49
        pack_pair \w6, rf50
        pack_pair \w7, rf51
.endm

# \hi = (\hi << 16) | (\lo & 0xffff): keeps both as int16, as FFmpeg's int16 block does.
.macro pack_pair hi, lo
        shl \hi, \hi, -16              ; mov \lo, \lo.ul
        or \hi, \hi, \lo
.endm

# Pass 2 on row i (words w0..w3 = block[8i .. 8i+7]): residual (out + 0) >> 6 for pixel
# column i, rows 0..7, stored back as int16 pairs (rows 2q, 2q+1 in word q).
.macro pass2_row w0, w1, w2, w3
        mov rf44, \w0.il               ; mov rf45, \w0.ih
        mov rf46, \w1.il               ; mov rf47, \w1.ih
        mov rf48, \w2.il               ; mov rf49, \w2.ih
        mov rf50, \w3.il               ; mov rf51, \w3.ih
        butterfly8 rf44, rf45, rf46, rf47, rf48, rf49, rf50, rf51
        asr rf44, rf44, 6
        asr rf45, rf45, 6
        asr rf46, rf46, 6             ; mov rf44, rf44.ul
        asr rf47, rf47, 6
        asr rf48, rf48, 6             ; mov rf46, rf46.ul
        asr rf49, rf49, 6
        asr rf50, rf50, 6             ; mov rf48, rf48.ul
        asr rf51, rf51, 6
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
# of word \px, clamping to 0..255.
.macro add_px px, r0, h0, r1, h1, r2, h2, r3, h3
        and rf44, \px, K255            ; mov rf48, \r0.\h0
        shr rf45, \px, 8               ; mov rf49, \r1.\h1
        and rf45, rf45, K255           ; mov T0, \r2.\h2
        shr rf46, \px, -16             ; mov T1, \r3.\h3
        and rf46, rf46, K255           ; add rf44, rf44, rf48
        shr rf47, \px, -8              ; add rf45, rf45, rf49
        max rf44, rf44, 0             ; add rf46, rf46, T0
        max rf45, rf45, 0             ; add rf47, rf47, T1
        max rf46, rf46, 0
        max rf47, rf47, 0
        min rf44, rf44, K255
        min rf45, rf45, K255
        min rf46, rf46, K255
        min rf47, rf47, K255
        shl rf45, rf45, 8
        shl rf46, rf46, -16
        shl rf47, rf47, -8
        or rf44, rf44, rf45
        or rf46, rf46, rf47
        or \px, rf44, rf46
.endm


        nop                           ; nop                       ; ldunifrf.rf1
        nop                           ; nop                       ; ldunifrf.rf2
        nop                           ; nop                       ; ldunifrf.rf3
        nop                           ; nop                       ; ldunifrf.T0   # thread-id shift
        nop                           ; nop                       ; ldunifrf.T1   # thread count
        tidx T2
        shr T2, T2, T0                                            # thread id
        shl STEP, T1, 4
        shl BLK, T2, 4
        eidx T3
        add BLK, BLK, T3
        mov T0, 5                                                 # CFG4 = ~0x00050403 = 0xfffafbfc
        shl T0, T0, 8                                             # (py-videocore7 TMULookUpConfig)
        or T0, T0, 4
        shl T0, T0, 8
        or T0, T0, 3
        not CFG4, T0
        mov K255, 15
        shl K255, K255, 4
        or K255, K255, 15

        sub.pushn -, BLK, NBLOCKS     # any lane with a block?
        b.allna done
        nop
        nop
        nop

group_loop:
        sub.pushn -, BLK, NBLOCKS     # A: this lane has a block
        shl CADDR, BLK, 7
        add CADDR, CADDR, COEF_BASE
        shl ADDR, BLK, 3
        add ADDR, ADDR, TABLE_BASE

        # The destination record and the 32 coefficient words, four at a time. At 2 threads a
        # thread may have 8 words outstanding (16 per QPU, Mesa nir_to_vir.c); each read is
        # issued with a thread switch so the other thread computes meanwhile.
        mov tmuc, -6
        mov.ifa tmua, ADDR
        mov tmuc, CFG4
        mov.ifa tmua, CADDR           ; nop                   ; thrsw
        sub CPTR, CADDR, -16
        nop
        ldtmu.DST
        ldtmu.STRIDE
        mov tmuc, CFG4
        mov.ifa tmua, CPTR            ; nop                   ; thrsw
        sub CPTR, CPTR, -16
        nop
        ldtmu.rf12
        ldtmu.rf13
        ldtmu.rf14
        ldtmu.rf15
        mov tmuc, CFG4
        mov.ifa tmua, CPTR            ; nop                   ; thrsw
        sub CPTR, CPTR, -16
        nop
        ldtmu.rf16
        ldtmu.rf17
        ldtmu.rf18
        ldtmu.rf19
        mov tmuc, CFG4
        mov.ifa tmua, CPTR            ; nop                   ; thrsw
        sub CPTR, CPTR, -16
        nop
        ldtmu.rf20
        ldtmu.rf21
        ldtmu.rf22
        ldtmu.rf23
        mov tmuc, CFG4
        mov.ifa tmua, CPTR            ; nop                   ; thrsw
        sub CPTR, CPTR, -16
        nop
        ldtmu.rf24
        ldtmu.rf25
        ldtmu.rf26
        ldtmu.rf27
        mov tmuc, CFG4
        mov.ifa tmua, CPTR            ; nop                   ; thrsw
        sub CPTR, CPTR, -16
        nop
        ldtmu.rf28
        ldtmu.rf29
        ldtmu.rf30
        ldtmu.rf31
        mov tmuc, CFG4
        mov.ifa tmua, CPTR            ; nop                   ; thrsw
        sub CPTR, CPTR, -16
        nop
        ldtmu.rf32
        ldtmu.rf33
        ldtmu.rf34
        ldtmu.rf35
        mov tmuc, CFG4
        mov.ifa tmua, CPTR            ; nop                   ; thrsw
        sub CPTR, CPTR, -16
        nop
        ldtmu.rf36
        ldtmu.rf37
        ldtmu.rf38
        ldtmu.rf39
        ldtmu.rf40
        ldtmu.rf41
        ldtmu.rf42
        ldtmu.rf43

        # Pass 1: columns, in pairs sharing words.
        # block[0] += 32, as an int16 (the low half of word 0).
        mov T0, rf12.il
        sub T0, T0, -16
        sub T0, T0, -16
        shr rf12, rf12, -16
        shl rf12, rf12, -16           ; mov T0, T0.ul
        or rf12, rf12, T0
        pass1_pair rf12, rf16, rf20, rf24, rf28, rf32, rf36, rf40
        pass1_pair rf13, rf17, rf21, rf25, rf29, rf33, rf37, rf41
        pass1_pair rf14, rf18, rf22, rf26, rf30, rf34, rf38, rf42
        pass1_pair rf15, rf19, rf23, rf27, rf31, rf35, rf39, rf43

        # Pass 2: rows; row i gives the residuals of pixel column i.
        pass2_row rf12, rf13, rf14, rf15
        pass2_row rf16, rf17, rf18, rf19
        pass2_row rf20, rf21, rf22, rf23
        pass2_row rf24, rf25, rf26, rf27
        pass2_row rf28, rf29, rf30, rf31
        pass2_row rf32, rf33, rf34, rf35
        pass2_row rf36, rf37, rf38, rf39
        pass2_row rf40, rf41, rf42, rf43

        # Pixels: 8 rows of two words. Rows r and r + 4 are in flight together (4 rows of 2
        # words = the 8 words a thread may have outstanding).
        mov ADDR, DST
        mov tmuc, -6
        mov.ifa tmua, ADDR
        add ADDR, ADDR, STRIDE
        mov tmuc, -6
        mov.ifa tmua, ADDR
        add ADDR, ADDR, STRIDE
        mov tmuc, -6
        mov.ifa tmua, ADDR
        add ADDR, ADDR, STRIDE
        mov tmuc, -6
        mov.ifa tmua, ADDR
        add ADDR, ADDR, STRIDE
        mov T6, DST                   ; nop                   ; thrsw   # write address
        nop
        nop
        # row 0
        ldtmu.rf50
        ldtmu.rf51
        mov tmuc, -6
        mov.ifa tmua, ADDR
        add ADDR, ADDR, STRIDE
        add_px rf50, rf12, il, rf16, il, rf20, il, rf24, il
        add_px rf51, rf28, il, rf32, il, rf36, il, rf40, il
        mov tmud, rf50
        mov tmud, rf51
        mov tmuc, -6
        mov.ifa tmua, T6
        add T6, T6, STRIDE
        # row 1
        ldtmu.rf50
        ldtmu.rf51
        mov tmuc, -6
        mov.ifa tmua, ADDR
        add ADDR, ADDR, STRIDE
        add_px rf50, rf12, ih, rf16, ih, rf20, ih, rf24, ih
        add_px rf51, rf28, ih, rf32, ih, rf36, ih, rf40, ih
        mov tmud, rf50
        mov tmud, rf51
        mov tmuc, -6
        mov.ifa tmua, T6
        add T6, T6, STRIDE
        # row 2
        ldtmu.rf50
        ldtmu.rf51
        mov tmuc, -6
        mov.ifa tmua, ADDR
        add ADDR, ADDR, STRIDE
        add_px rf50, rf13, il, rf17, il, rf21, il, rf25, il
        add_px rf51, rf29, il, rf33, il, rf37, il, rf41, il
        mov tmud, rf50
        mov tmud, rf51
        mov tmuc, -6
        mov.ifa tmua, T6
        add T6, T6, STRIDE
        # row 3
        ldtmu.rf50
        ldtmu.rf51
        mov tmuc, -6
        mov.ifa tmua, ADDR
        add ADDR, ADDR, STRIDE
        add_px rf50, rf13, ih, rf17, ih, rf21, ih, rf25, ih
        add_px rf51, rf29, ih, rf33, ih, rf37, ih, rf41, ih
        mov tmud, rf50
        mov tmud, rf51
        mov tmuc, -6
        mov.ifa tmua, T6
        add T6, T6, STRIDE
        # row 4
        ldtmu.rf50
        ldtmu.rf51
        add_px rf50, rf14, il, rf18, il, rf22, il, rf26, il
        add_px rf51, rf30, il, rf34, il, rf38, il, rf42, il
        mov tmud, rf50
        mov tmud, rf51
        mov tmuc, -6
        mov.ifa tmua, T6
        add T6, T6, STRIDE
        # row 5
        ldtmu.rf50
        ldtmu.rf51
        add_px rf50, rf14, ih, rf18, ih, rf22, ih, rf26, ih
        add_px rf51, rf30, ih, rf34, ih, rf38, ih, rf42, ih
        mov tmud, rf50
        mov tmud, rf51
        mov tmuc, -6
        mov.ifa tmua, T6
        add T6, T6, STRIDE
        # row 6
        ldtmu.rf50
        ldtmu.rf51
        add_px rf50, rf15, il, rf19, il, rf23, il, rf27, il
        add_px rf51, rf31, il, rf35, il, rf39, il, rf43, il
        mov tmud, rf50
        mov tmud, rf51
        mov tmuc, -6
        mov.ifa tmua, T6
        add T6, T6, STRIDE
        # row 7
        ldtmu.rf50
        ldtmu.rf51
        add_px rf50, rf15, ih, rf19, ih, rf23, ih, rf27, ih
        add_px rf51, rf31, ih, rf35, ih, rf39, ih, rf43, ih
        mov tmud, rf50
        mov tmud, rf51
        mov tmuc, -6
        mov.ifa tmua, T6
        add T6, T6, STRIDE

        # Clear the 64 coefficients: eight 16-byte writes.
        mov CPTR, CADDR
        mov tmud, 0
        mov tmud, 0
        mov tmud, 0
        mov tmud, 0
        mov tmuc, CFG4
        mov.ifa tmua, CPTR
        sub CPTR, CPTR, -16
        mov tmud, 0
        mov tmud, 0
        mov tmud, 0
        mov tmud, 0
        mov tmuc, CFG4
        mov.ifa tmua, CPTR
        sub CPTR, CPTR, -16
        mov tmud, 0
        mov tmud, 0
        mov tmud, 0
        mov tmud, 0
        mov tmuc, CFG4
        mov.ifa tmua, CPTR
        sub CPTR, CPTR, -16
        mov tmud, 0
        mov tmud, 0
        mov tmud, 0
        mov tmud, 0
        mov tmuc, CFG4
        mov.ifa tmua, CPTR
        sub CPTR, CPTR, -16
        mov tmud, 0
        mov tmud, 0
        mov tmud, 0
        mov tmud, 0
        mov tmuc, CFG4
        mov.ifa tmua, CPTR
        sub CPTR, CPTR, -16
        mov tmud, 0
        mov tmud, 0
        mov tmud, 0
        mov tmud, 0
        mov tmuc, CFG4
        mov.ifa tmua, CPTR
        sub CPTR, CPTR, -16
        mov tmud, 0
        mov tmud, 0
        mov tmud, 0
        mov tmud, 0
        mov tmuc, CFG4
        mov.ifa tmua, CPTR
        sub CPTR, CPTR, -16
        mov tmud, 0
        mov tmud, 0
        mov tmud, 0
        mov tmud, 0
        mov tmuc, CFG4
        mov.ifa tmua, CPTR

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
