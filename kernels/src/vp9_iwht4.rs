//! `vp9_iwht4`: VP9 lossless 4x4 inverse Walsh-Hadamard transform + add (FFmpeg
//! `iwht_iwht_4x4_add_c`, `itxfm_add[4][*]`).

addr_stride_kernel!(
    /// VP9 lossless 4x4 inverse WHT + add over a batch of blocks.
    Vp9Iwht4,
    code: VP9_IWHT4,
    size: 4,
    coef_bytes: 32,
    coef_doc: "Bytes per coefficient block: 16 `i16` in FFmpeg's order.",
    run_doc: "Transforms block `k` (at `32 k` in `coefs`) and adds it to the 4x4 pixels at \
              `dests[k]`, with clipping; clears the coefficients."
);
