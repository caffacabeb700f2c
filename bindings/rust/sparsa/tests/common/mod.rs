//! The conformance inputs and a naive float64 attention
//! (bindings/CONFORMANCE.md), shared by the integration tests.

#![allow(dead_code)]

use sparsa::{Tensor, TensorMut};

/// The cross-language input generator.
pub fn lcg(seed: u32, n: usize) -> Vec<f32> {
    let mut state = seed;
    (0..n)
        .map(|_| {
            state = state.wrapping_mul(1664525).wrapping_add(1013904223);
            ((state >> 8) as f64 / 16777216.0 * 2.0 - 1.0) as f32
        })
        .collect()
}

/// q, k, v data for [1, len, heads, dim] tensors.
pub fn qkv(q_len: usize, kv_len: usize, q_heads: usize, kv_heads: usize, dim: usize) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    (lcg(1, q_len * q_heads * dim), lcg(2, kv_len * kv_heads * dim), lcg(3, kv_len * kv_heads * dim))
}

/// out [b, i, h, d] and lse [b, h, i] of attention over the visible keys.
pub fn naive(q: &Tensor<f32>, k: &Tensor<f32>, v: &Tensor<f32>, visible: impl Fn(usize, usize, usize) -> bool) -> (Vec<f64>, Vec<f64>) {
    let [batch, q_len, heads, dim] = q.layout().shape;
    let (kv_len, group, dv) = (k.layout().shape[1], heads / k.layout().shape[2], v.layout().shape[3]);
    let scale = 1.0 / (dim as f64).sqrt();
    let mut out = vec![0.0; batch * q_len * heads * dv];
    let mut lse = vec![f64::NEG_INFINITY; batch * heads * q_len];
    let mut s = vec![0.0f64; kv_len];
    for b in 0..batch {
        for h in 0..heads {
            for i in 0..q_len {
                let mut max = f64::NEG_INFINITY;
                for j in 0..kv_len {
                    s[j] = f64::NEG_INFINITY;
                    if visible(h, i, j) {
                        let dot: f64 = (0..dim).map(|d| q.at(b, i, h, d) as f64 * k.at(b, j, h / group, d) as f64).sum();
                        s[j] = scale * dot;
                        max = max.max(s[j]);
                    }
                }
                if max == f64::NEG_INFINITY {
                    continue;
                }
                let mut sum = 0.0;
                for x in s.iter_mut() {
                    *x = (*x - max).exp();
                    sum += *x;
                }
                lse[(b * heads + h) * q_len + i] = sum.ln() + max;
                for d in 0..dv {
                    let acc: f64 = (0..kv_len).map(|j| s[j] * v.at(b, j, h / group, d) as f64).sum();
                    out[((b * q_len + i) * heads + h) * dv + d] = acc / sum;
                }
            }
        }
    }
    (out, lse)
}

pub fn check(out: &TensorMut<f32>, lse: &[f32], reference: (Vec<f64>, Vec<f64>)) {
    let [batch, q_len, heads, dv] = out.layout().shape;
    let mut n = 0;
    for b in 0..batch {
        for i in 0..q_len {
            for h in 0..heads {
                for d in 0..dv {
                    let got = out.at(b, i, h, d) as f64;
                    assert!(!got.is_nan() && (got - reference.0[n]).abs() <= 1e-4, "out[{},{},{},{}] = {}, want {}", b, i, h, d, got, reference.0[n]);
                    n += 1;
                }
            }
        }
    }
    for (r, &want) in reference.1.iter().enumerate() {
        let got = lse[r] as f64;
        if want == f64::NEG_INFINITY {
            assert_eq!(got, f64::NEG_INFINITY, "lse[{}]", r);
        } else {
            assert!((got - want).abs() <= 1e-4, "lse[{}] = {}, want {}", r, got, want);
        }
    }
}
