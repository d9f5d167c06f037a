# vector_add: c[i] = a[i] + b[i] (f32) in 16-element blocks.
#
# Run 24 batches without the THREADING flag (2 threads on each of 12 QPUs). Thread
# t = tidx >> 1 (py-videocore7 test_parallel.py's numbering for 24 threads) handles the blocks
# t, t + 24, t + 48, ... Uniforms:
#   0: a   1: b   2: c   3: iterations per thread   4: block stride in bytes (64 * 24)

    nop ; ldunifrf.rf1                  # a
    nop ; ldunifrf.rf2                  # b
    nop ; ldunifrf.rf3                  # c
    nop ; ldunifrf.rf4                  # iterations
    nop ; ldunifrf.rf5                  # stride
    tidx rf7
    shr rf7, rf7, 1
    shl rf7, rf7, 6                     # thread * 64 bytes
    eidx rf8
    shl rf8, rf8, 2
    add rf9, rf7, rf8
    add rf1, rf1, rf9
    add rf2, rf2, rf9
    add rf3, rf3, rf9
    mov rf13, 1
loop:
    mov tmua, rf1 ; add rf1, rf1, rf5
    mov tmua, rf2 ; add rf2, rf2, rf5
    sub.pushz rf4, rf4, rf13 ; thrsw     # let the other thread run while the TMU reads
    nop
    nop
    nop ; ldtmu.rf10
    nop ; ldtmu.rf11
    fadd rf12, rf10, rf11
    b.na0 loop
    mov tmud, rf12
    mov tmua, rf3 ; add rf3, rf3, rf5
    nop
    tmuwt -
    nop ; thrsw
    nop ; thrsw
    nop
    nop
    nop ; thrsw
    nop
    nop
    nop
