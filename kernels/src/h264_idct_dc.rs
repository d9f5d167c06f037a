//! `h264_idct4_dc` and `h264_idct8_dc`: H.264 DC-only inverse transforms + add (FFmpeg
//! `ff_h264_idct_dc_add_8_c`, `ff_h264_idct8_dc_add_8_c`).

addr_stride_kernel!(
    /// H.264 4x4 DC-only IDCT + add over a batch of blocks.
    H264Idct4Dc,
    code: H264_IDCT4_DC,
    size: 4,
    coef_bytes: 32,
    coef_doc: "Bytes per coefficient block (16 `i16`; only `block[0]` is read and cleared).",
    run_doc: "Adds `(block[0] + 32) >> 6` of block `k` (at `32 k` in `coefs`) to the 4x4 \
              pixels at `dests[k]`, with clipping, and clears `block[0]`."
);

addr_stride_kernel!(
    /// H.264 8x8 DC-only IDCT + add over a batch of blocks.
    H264Idct8Dc,
    code: H264_IDCT8_DC,
    size: 8,
    coef_bytes: 128,
    coef_doc: "Bytes per coefficient block (64 `i16`; only `block[0]` is read and cleared).",
    run_doc: "Adds `(block[0] + 32) >> 6` of block `k` (at `128 k` in `coefs`) to the 8x8 \
              pixels at `dests[k]`, with clipping, and clears `block[0]`."
);
