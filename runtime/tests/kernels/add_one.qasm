# out[slot] = in[slot] + 1 for slot = workgroup_x * 16 + lane (see thread_ids.qasm).
#
# Uniforms: input address, output address.

        eidx rf4                      ; nop ; ldunifrf.rf10  # rf10 = input
        nop                           ; nop ; ldunifrf.rf11  # rf11 = output
        mov rf12, -16                                        # shifts by 16 (low 5 bits)
        shl rf5, rf3, rf12
        shr rf5, rf5, rf12                                   # rf5 = workgroup X
        shl rf6, rf5, 4
        add rf6, rf6, rf4
        shl rf6, rf6, 2                                      # rf6 = 4 * slot
        add rf7, rf6, rf10
        mov tmua, rf7
        add rf8, rf6, rf11
        ldtmu.rf9
        add rf9, rf9, 1
        mov tmud, rf9
        mov tmua, rf8
        tmuwt
        thrsw                                                # end of program
        thrsw
        nop
        nop
        thrsw
        nop
        nop
        nop
