# Writes each lane's number to word `lane` at the address given as the only uniform: with an
# address outside every buffer object this is the out-of-bounds kernel.
        eidx rf4                      ; nop ; ldunifrf.rf10
        shl rf5, rf4, 2
        add rf10, rf10, rf5
        mov tmud, rf4
        mov tmua, rf10
        tmuwt
        thrsw
        thrsw
        nop
        nop
        thrsw
        nop
        nop
        nop
