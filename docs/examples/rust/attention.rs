//! Sparse attention from Rust: a sink + window mask over slices (no
//! copies), one output row checked against a plain Rust computation.
//!
//! Run from bindings/rust: `cargo run --example attention`.

use sparsa::{Context, Mask, Pattern, Tensor, TensorMut};

fn main() -> sparsa::Result<()> {
    const Q_LEN: usize = 256;
    const KV_LEN: usize = 256;
    const HEADS: usize = 4;
    const DIM: usize = 64;
    // A small deterministic generator keeps the example free of crates.
    let mut state = 7u64;
    let mut random = |n: usize| -> Vec<f32> {
        (0..n)
            .map(|_| {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                (state >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
            })
            .collect()
    };
    let (qd, kd, vd) = (random(Q_LEN * HEADS * DIM), random(KV_LEN * HEADS * DIM), random(KV_LEN * HEADS * DIM));
    let mut od = vec![0f32; Q_LEN * HEADS * DIM];
    let mut lse = vec![0f32; HEADS * Q_LEN];
    let q = Tensor::new(&qd, [1, Q_LEN, HEADS, DIM])?;
    let k = Tensor::new(&kd, [1, KV_LEN, HEADS, DIM])?;
    let v = Tensor::new(&vd, [1, KV_LEN, HEADS, DIM])?;
    let mut out = TensorMut::new(&mut od, [1, Q_LEN, HEADS, DIM])?;

    let ctx = Context::cpu()?;
    // 4 sink tokens + a window of 64 recent tokens, for every head.
    let mask = Mask::new(&ctx, &[&Pattern::sink_window(4, 64)?], Q_LEN as i64, KV_LEN as i64, 64, 64)?;
    println!("sparsa {}, block density {:.3}", sparsa::version(), mask.density(None)?);
    sparsa::attention(&ctx, &q, &k, &v, Some(&mask), &mut out, Some(&mut lse))?;

    // Query 200 of head 1, by hand.
    let (i, h) = (200usize, 1usize);
    let scores: Vec<f64> = (0..KV_LEN)
        .map(|j| {
            if j <= i && (j < 4 || i - j < 64) {
                (0..DIM).map(|d| q.at(0, i, h, d) as f64 * k.at(0, j, h, d) as f64).sum::<f64>() / (DIM as f64).sqrt()
            } else {
                f64::NEG_INFINITY
            }
        })
        .collect();
    let max = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let weights: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
    let sum: f64 = weights.iter().sum();
    let worst = (0..DIM)
        .map(|d| {
            let want: f64 = (0..KV_LEN).map(|j| weights[j] / sum * v.at(0, j, h, d) as f64).sum();
            (want - out.at(0, i, h, d) as f64).abs()
        })
        .fold(0.0, f64::max);
    println!("query {} head {}: max |error| vs plain Rust {:.2e}, lse {:.4}", i, h, worst, lse[h * Q_LEN + i]);
    assert!(worst < 1e-4, "sparsa and the plain computation disagree");
    Ok(())
}
