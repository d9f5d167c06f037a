# Each QPU thread (one 16-lane batch, one workgroup of 16 with Dispatch::threads) writes
# `magic + slot` to word `slot` of the output, where slot = workgroup_x * 16 + lane. The
# workgroup X id comes from the compute payload in rf3 (bits 15:0, Mesa nir_to_vir.c), so
# every batch writes its own 16 words and a batch too many or too few shows.
#
# Uniforms: output address, magic.

        eidx rf4                      ; nop ; ldunifrf.rf10  # rf4 = lane, rf10 = output
        nop                           ; nop ; ldunifrf.rf11  # rf11 = magic
        mov rf12, -16                                        # shifts by 16 (low 5 bits)
        shl rf5, rf3, rf12
        shr rf5, rf5, rf12                                   # rf5 = workgroup X
        shl rf6, rf5, 4
        add rf6, rf6, rf4                                    # rf6 = slot
        add rf7, rf6, rf11                                   # rf7 = magic + slot
        shl rf6, rf6, 2
        add rf6, rf6, rf10                                   # rf6 = output + 4 * slot
        mov tmud, rf7
        mov tmua, rf6
        tmuwt
        thrsw                                                # end of program
        thrsw
        nop
        nop
        thrsw
        nop
        nop
        nop
