# scopy: copy a buffer with vec4 TMU reads and writes, every QPU taking interleaved blocks.
#
# The shape of py-videocore7's examples/scopy.py (whose measured speed on a Pi 5 calibrates the
# emulator's timing model, docs/qpu-sim.md): per loop, two vec4 reads configured by one
# uniform word (read, read, prefetch, write), two vec4 writes, and a uniform-stream branch
# that rewinds the uniforms so every iteration reads the same configuration word.
#
# One batch (thread) per QPU. Uniforms:
#   0: iterations per thread = bytes / (512 * threads)
#   1: source address          2: destination address
#   3: stride = 256 * threads  4: 0xfc80fcfc (per-lookup TMU configuration bytes)
#   5: -8 (the branch's uniform offset: back to uniform 4)

    nop ; ldunifrf.rf5
    nop ; ldunifrf.rf6
    nop ; ldunifrf.rf7
    tidx rf1
    shr rf1, rf1, 2
    and rf8, rf1, 15
    shl rf1, rf8, 4
    eidx rf2
    add rf1, rf1, rf2
    shl rf1, rf1, 4
    add rf6, rf6, rf1
    add rf7, rf7, rf1 ; ldunifrf.rf9
    mov rf10, -4                        # 0xfffffffc: one vec4 lookup, then the defaults
loop:
    mov tmuau, rf6 ; add rf6, rf6, rf9  # read A (configuration word from the uniform)
    mov tmua, rf6 ; add rf6, rf6, rf9   # read B
    mov tmua, rf6                       # prefetch the next A
    nop ; ldtmu.rf1
    mov tmud, rf1 ; ldtmu.rf1
    mov tmud, rf1 ; ldtmu.rf1
    mov tmud, rf1 ; ldtmu.rf1
    sub.pushz rf5, rf5, 1 ; mov tmud, rf1
    mov tmua, rf7 ; add rf7, rf7, rf9   # write A
    mov tmuc, rf10
    nop ; ldtmu.rf1
    mov tmud, rf1 ; ldtmu.rf1
    mov tmud, rf1 ; ldtmu.rf1
    bu.na0 loop, r:unif
    mov tmud, rf1 ; ldtmu.rf1
    mov tmud, rf1
    mov tmua, rf7 ; add rf7, rf7, rf9   # write B
    tmuwt -
    nop ; thrsw
    nop ; thrsw
    nop
    nop
    nop ; thrsw
    nop
    nop
    nop
