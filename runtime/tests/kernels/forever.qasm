# Never ends: a kernel with a bug in its loop condition.
top:
        b top
        nop
        nop
        nop
