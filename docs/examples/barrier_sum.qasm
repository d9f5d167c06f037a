# barrier_sum: every batch sums its 16 inputs, publishes the sum, meets the others at a
# barrier, then adds up all the published sums. Shows rot, bcastf, conditional TMU writes and
# barrierid/syncb.
#
# Run 12 batches (one per QPU, 1 or 2 threads per QPU) in one supergroup (cfg[3]: 12 batches
# per supergroup). Batch b = tidx >> 2. Uniforms:
#   0: input (16 u32 per batch)   1: partial sums (1 u32 per batch)
#   2: totals (16 u32 per batch)  3: number of batches (at most 16)

    tidx rf1 ; ldunifrf.rf20            # input
    nop ; ldunifrf.rf21                 # partial sums
    nop ; ldunifrf.rf22                 # totals
    nop ; ldunifrf.rf23                 # batches
    shr rf31, rf1, 2                    # batch number
    eidx rf4
    shl rf4, rf4, 2
    shl rf5, rf31, 6
    add rf6, rf20, rf5
    add rf6, rf6, rf4
    mov tmua, rf6 ; thrsw
    nop
    nop
    nop ; ldtmu.rf10
    # After rotations by 8, 4, 2 and 1 every lane holds the sum of all 16.
    rot rf12, rf10, 8
    add rf10, rf10, rf12
    rot rf12, rf10, 4
    add rf10, rf10, rf12
    rot rf12, rf10, 2
    add rf10, rf10, rf12
    rot rf12, rf10, 1
    add rf10, rf10, rf12
    shl rf7, rf31, 2
    add rf7, rf21, rf7
    mov.pushz -, rf4                    # only lane 0 writes the partial sum
    mov tmud, rf10
    mov.ifa tmua, rf7
    tmuwt -
    barrierid syncb ; thrsw
    nop
    nop
    # Lane i reads partial sum i; lanes past the batch count take 0.
    eidx rf8
    sub.pushn -, rf8, rf23
    shl rf8, rf8, 2
    add rf8, rf21, rf8
    mov.ifa tmua, rf8 ; thrsw
    mov rf10, 0
    nop
    nop ; ldtmu.rf13
    mov.ifa rf10, rf13
    rot rf12, rf10, 8
    add rf10, rf10, rf12
    rot rf12, rf10, 4
    add rf10, rf10, rf12
    rot rf12, rf10, 2
    add rf10, rf10, rf12
    rot rf12, rf10, 1
    add rf10, rf10, rf12
    bcastf rf10, rf10
    add rf9, rf22, rf5
    add rf9, rf9, rf4
    mov tmud, rf10
    mov tmua, rf9
    tmuwt -
    nop ; thrsw
    nop ; thrsw
    nop
    nop
    nop ; thrsw
    nop
    nop
    nop
