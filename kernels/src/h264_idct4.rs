//! `h264_idct4`: H.264 4x4 inverse transform + add (FFmpeg `ff_h264_idct_add_8_c`).

addr_stride_kernel!(
    /// H.264 4x4 IDCT + add over a batch of blocks.
    H264Idct4,
    code: H264_IDCT4,
    size: 4,
    coef_bytes: 32,
    coef_doc: "Bytes per coefficient block: 16 `i16` in FFmpeg's order (`block[i + 4 j]`).",
    run_doc: "Transforms block `k` (the 32 bytes at `32 k` in `coefs`) and adds it to the 4x4 \
              pixels at `dests[k]` in `plane`, with clipping; clears the coefficients. Blocks \
              must not overlap each other's pixels."
);
