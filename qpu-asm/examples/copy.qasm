# A TMU copy kernel in the style of py-videocore7's scopy: each QPU thread (one per QPU)
# copies its own run of 64-byte rows, 16 lanes x 4 bytes per TMU access.
#
# Uniforms: source address, destination address, rows per thread.

.set ROW_BYTES_SHIFT, 6          # 64 bytes per row

        eidx rf4                      ; nop ; ldunifrf.rf1   # rf1 = source, rf4 = lane
        tidx rf5                      ; nop ; ldunifrf.rf2   # rf2 = destination
        nop                           ; nop ; ldunifrf.rf3   # rf3 = rows per thread
        mov rf7, 8
        shl rf4, rf4, 2                                       # rf4 = lane * 4
        shr rf5, rf5, 2                                       # QPU index (1 thread per QPU)
        nop                           ; umul24 rf6, rf5, rf3  # first row of this thread
        shl rf6, rf6, ROW_BYTES_SHIFT
        add rf1, rf1, rf6
        add rf2, rf2, rf6
        add rf1, rf1, rf4
        add rf2, rf2, rf4
        shl rf7, rf7, 3                                       # rf7 = 64, the row stride
loop:
        mov tmua, rf1                                         # read one row
        sub.pushz rf3, rf3, 1
        add rf1, rf1, rf7
        ldtmu.rf8                                             # wait for the data
        mov tmud, rf8
        mov tmua, rf2                                         # write it
        b.anyna loop
        add rf2, rf2, rf7                                     # delay slot 1
        nop                                                   # delay slot 2
        nop                                                   # delay slot 3
        tmuwt
        thrsw                                                 # end of program
        thrsw
        nop
        nop
        thrsw
        nop
        nop
        nop
