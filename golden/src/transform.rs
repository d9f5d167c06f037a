//! Forward transforms for realistic coefficients, following checkasm's recipe: a residual
//! (source minus prediction) goes through the forward transform, so the coefficients are the
//! kind an encoder produces and stay inside the decoder's range.
//!
//! Each inverse transform is modelled in floating point from its definition (H.264 spec
//! 8.5.12/8.5.13, the VP9 bitstream spec's DCT, ADST and WHT), as the matrix `T` with
//! `residual = T_v X T_h^T / 2^shift`; the forward transform is that model's exact inverse.
//! The tests check that FFmpeg's fixed-point inverse of these coefficients gives back the
//! residual to within rounding, which also pins down the coefficient layout.

use std::f64::consts::{FRAC_1_SQRT_2, PI};

/// Square matrix, `m[out][in]`.
pub type Mat = Vec<Vec<f64>>;

fn matrix_of(n: usize, f: impl Fn(&[f64]) -> Vec<f64>) -> Mat {
    let mut m = vec![vec![0.0; n]; n];
    for k in 0..n {
        let mut e = vec![0.0; n];
        e[k] = 1.0;
        let col = f(&e);
        for (row, v) in m.iter_mut().zip(col) {
            row[k] = v;
        }
    }
    m
}

/// Gauss-Jordan inverse with partial pivoting; the matrices here are well conditioned.
pub fn invert(m: &Mat) -> Mat {
    let n = m.len();
    let mut a: Vec<Vec<f64>> = m
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let mut row = r.clone();
            row.extend((0..n).map(|j| if i == j { 1.0 } else { 0.0 }));
            row
        })
        .collect();
    for c in 0..n {
        let p = (c..n)
            .max_by(|&x, &y| a[x][c].abs().total_cmp(&a[y][c].abs()))
            .expect("non-empty");
        a.swap(c, p);
        let d = a[c][c];
        assert!(d.abs() > 1e-9, "singular transform model");
        for v in a[c].iter_mut() {
            *v /= d;
        }
        for r in 0..n {
            if r != c {
                let f = a[r][c];
                if f != 0.0 {
                    let pivot = a[c].clone();
                    for (v, pv) in a[r].iter_mut().zip(pivot) {
                        *v -= f * pv;
                    }
                }
            }
        }
    }
    a.into_iter().map(|r| r[n..].to_vec()).collect()
}

/// H.264 4x4 inverse core transform (spec 8.5.12.2), one dimension.
fn h264_inv4(d: &[f64]) -> Vec<f64> {
    let e0 = d[0] + d[2];
    let e1 = d[0] - d[2];
    let e2 = d[1] / 2.0 - d[3];
    let e3 = d[1] + d[3] / 2.0;
    vec![e0 + e3, e1 + e2, e1 - e2, e0 - e3]
}

/// H.264 8x8 inverse core transform (spec 8.5.13.2), one dimension.
fn h264_inv8(d: &[f64]) -> Vec<f64> {
    let e0 = d[0] + d[4];
    let e1 = -d[3] + d[5] - d[7] - d[7] / 2.0;
    let e2 = d[0] - d[4];
    let e3 = d[1] + d[7] - d[3] - d[3] / 2.0;
    let e4 = d[2] / 2.0 - d[6];
    let e5 = -d[1] + d[7] + d[5] + d[5] / 2.0;
    let e6 = d[2] + d[6] / 2.0;
    let e7 = d[3] + d[5] + d[1] + d[1] / 2.0;
    let f0 = e0 + e6;
    let f1 = e1 + e7 / 4.0;
    let f2 = e2 + e4;
    let f3 = e3 + e5 / 4.0;
    let f4 = e2 - e4;
    let f5 = e3 / 4.0 - e5;
    let f6 = e0 - e6;
    let f7 = e7 - e1 / 4.0;
    vec![
        f0 + f7,
        f2 + f5,
        f4 + f3,
        f6 + f1,
        f6 - f1,
        f4 - f3,
        f2 - f5,
        f0 - f7,
    ]
}

/// VP9 inverse DCT: `x[n] = X0/sqrt(2) + sum_k Xk cos(pi (2n+1) k / 2N)` (the cospi
/// butterflies with 14-bit constants approximate exactly this).
fn vp9_idct(n: usize) -> Mat {
    matrix_of(n, |d| {
        (0..n)
            .map(|i| {
                d.iter()
                    .enumerate()
                    .map(|(k, &v)| {
                        let c = (PI * (2 * i + 1) as f64 * k as f64 / (2 * n) as f64).cos();
                        v * if k == 0 { FRAC_1_SQRT_2 } else { c }
                    })
                    .sum()
            })
            .collect()
    })
}

/// VP9 inverse ADST. 4-point: the sinpi_k_9 transform `(2 sqrt(2) / 3) sin(pi (n+1)(2k+1) / 9)`;
/// 8 and 16 points: `sin(pi (2n+1)(2k+1) / 4N)`.
fn vp9_iadst(n: usize) -> Mat {
    matrix_of(n, |d| {
        (0..n)
            .map(|i| {
                d.iter()
                    .enumerate()
                    .map(|(k, &v)| {
                        if n == 4 {
                            v * (2.0 * 2f64.sqrt() / 3.0)
                                * (PI * (i + 1) as f64 * (2 * k + 1) as f64 / 9.0).sin()
                        } else {
                            v * (PI * (2 * i + 1) as f64 * (2 * k + 1) as f64 / (4 * n) as f64)
                                .sin()
                        }
                    })
                    .sum()
            })
            .collect()
    })
}

/// VP9 inverse Walsh-Hadamard transform (lossless mode), one dimension, without the input
/// shift (applied as the overall scale).
fn vp9_iwht(d: &[f64]) -> Vec<f64> {
    let (mut a, mut c, mut dd, mut b) = (d[0], d[1], d[2], d[3]);
    a += c;
    dd -= b;
    let e = (a - dd) / 2.0;
    b = e - b;
    c = e - c;
    a -= b;
    dd += c;
    vec![a, b, c, dd]
}

/// 1-D transform kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind1d {
    H264,
    Dct,
    Adst,
    Wht,
}

fn inverse_model(kind: Kind1d, n: usize) -> Mat {
    match kind {
        Kind1d::H264 if n == 4 => matrix_of(4, h264_inv4),
        Kind1d::H264 => matrix_of(8, h264_inv8),
        Kind1d::Dct => vp9_idct(n),
        Kind1d::Adst => vp9_iadst(n),
        Kind1d::Wht => matrix_of(4, vp9_iwht),
    }
}

/// A 2-D forward transform: the inverse of `residual = T_v X T_h^T / scale`.
#[derive(Clone, Debug)]
pub struct Forward {
    n: usize,
    inv_v: Mat,
    inv_h: Mat,
    scale: f64,
}

impl Forward {
    /// `vertical` and `horizontal` are the inverse transform's 1-D kinds; `scale` is
    /// 2^(final shift) of the inverse (64 for H.264, 16/32/64/64 for VP9 4..32, 4 for WHT).
    pub fn new(n: usize, vertical: Kind1d, horizontal: Kind1d, scale: f64) -> Forward {
        Forward {
            n,
            inv_v: invert(&inverse_model(vertical, n)),
            inv_h: invert(&inverse_model(horizontal, n)),
            scale,
        }
    }

    /// Coefficients for `residual` (`r[y * n + x]`), in FFmpeg's transposed layout
    /// (`block[kh * n + kv]`), unrounded.
    pub fn apply(&self, residual: &[i32]) -> Vec<f64> {
        let n = self.n;
        // tmp[kv][x] = sum_y inv_v[kv][y] r[y][x]
        let mut tmp = vec![0.0; n * n];
        for kv in 0..n {
            for y in 0..n {
                let a = self.inv_v[kv][y];
                for x in 0..n {
                    tmp[kv * n + x] += a * f64::from(residual[y * n + x]);
                }
            }
        }
        let mut out = vec![0.0; n * n];
        for kv in 0..n {
            for kh in 0..n {
                let s: f64 = (0..n).map(|x| tmp[kv * n + x] * self.inv_h[kh][x]).sum();
                out[kh * n + kv] = s * self.scale;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inverse_of_inverse_is_identity() {
        for (k, n) in [
            (Kind1d::H264, 4),
            (Kind1d::H264, 8),
            (Kind1d::Dct, 16),
            (Kind1d::Adst, 8),
            (Kind1d::Adst, 4),
            (Kind1d::Wht, 4),
        ] {
            let m = inverse_model(k, n);
            let i = invert(&m);
            for (r, row) in m.iter().enumerate() {
                for c in 0..n {
                    let v: f64 = row.iter().zip(&i).map(|(a, irow)| a * irow[c]).sum();
                    assert!(
                        (v - if r == c { 1.0 } else { 0.0 }).abs() < 1e-9,
                        "{k:?} {n}"
                    );
                }
            }
        }
    }

    #[test]
    fn h264_dc_of_flat_residual() {
        // A flat residual of 3 has only a DC coefficient, 64 * 3 / (1/4 * 1/4) / 16 = 192.
        let f = Forward::new(4, Kind1d::H264, Kind1d::H264, 64.0);
        let x = f.apply(&[3; 16]);
        assert!((x[0] - 192.0).abs() < 1e-9);
        assert!(x[1..].iter().all(|v| v.abs() < 1e-9));
    }
}
