//! `h264_idct8`: H.264 8x8 inverse transform + add (FFmpeg `ff_h264_idct8_add_8_c`).

addr_stride_kernel!(
    /// H.264 8x8 IDCT + add over a batch of blocks.
    H264Idct8,
    code: H264_IDCT8,
    size: 8,
    coef_bytes: 128,
    coef_doc: "Bytes per coefficient block: 64 `i16` in FFmpeg's order (`block[i + 8 j]`).",
    run_doc: "Transforms block `k` (the 128 bytes at `128 k` in `coefs`) and adds it to the \
              8x8 pixels at `dests[k]` in `plane`, with clipping; clears the coefficients."
);
