//! The cross-language conformance cases (bindings/CONFORMANCE.md).

mod common;

use std::fs;

use common::{check, naive, qkv};
use sparsa::{Cache, CacheKey, Context, Estimator, Mask, Method, Pattern, PatternConfig, Selection, Status, Tensor, TensorMut};

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("sparsa-rust-{}-{}", name, std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn sink_window() {
    let ctx = Context::cpu().unwrap();
    let (qd, kd, vd) = qkv(100, 120, 2, 1, 16);
    let (q, k, v) = (
        Tensor::new(&qd, [1, 100, 2, 16]).unwrap(),
        Tensor::new(&kd, [1, 120, 1, 16]).unwrap(),
        Tensor::new(&vd, [1, 120, 1, 16]).unwrap(),
    );
    let mut od = vec![0f32; 100 * 2 * 16];
    let mut out = TensorMut::new(&mut od, [1, 100, 2, 16]).unwrap();
    let mut lse = vec![0f32; 2 * 100];
    let mask = Mask::new(&ctx, &[&Pattern::sink_window(4, 32).unwrap()], 100, 120, 16, 16).unwrap();
    sparsa::attention(&ctx, &q, &k, &v, Some(&mask), &mut out, Some(&mut lse)).unwrap();
    let reference = naive(&q, &k, &v, |_, i, j| {
        let d = i as i64 + 20 - j as i64;
        d >= 0 && (j < 4 || d < 32)
    });
    check(&out, &lse, reference);
}

const ROW_PTR: [&[i64]; 2] = [&[0, 1, 3], &[0, 1, 2]];
const COL_IDX: [&[i32]; 2] = [&[0, 0, 1], &[1, 0]];

#[test]
fn bsr_per_head() {
    let ctx = Context::cpu().unwrap();
    let (qd, kd, vd) = qkv(64, 64, 2, 2, 16);
    let shape = [1, 64, 2, 16];
    let (q, k, v) = (Tensor::new(&qd, shape).unwrap(), Tensor::new(&kd, shape).unwrap(), Tensor::new(&vd, shape).unwrap());
    let mut od = vec![0f32; 64 * 2 * 16];
    let mut out = TensorMut::new(&mut od, shape).unwrap();
    let mut lse = vec![0f32; 2 * 64];
    let heads = [Pattern::blocks_bsr(32, 32, ROW_PTR[0], COL_IDX[0]).unwrap(), Pattern::blocks_bsr(32, 32, ROW_PTR[1], COL_IDX[1]).unwrap()];
    let mask = Mask::new(&ctx, &[&heads[0], &heads[1]], 64, 64, 16, 16).unwrap();
    sparsa::attention(&ctx, &q, &k, &v, Some(&mask), &mut out, Some(&mut lse)).unwrap();
    let reference = naive(&q, &k, &v, |h, i, j| {
        let r = i / 32;
        COL_IDX[h][ROW_PTR[h][r] as usize..ROW_PTR[h][r + 1] as usize].contains(&((j / 32) as i32))
    });
    check(&out, &lse, reference);
}

fn estimator() -> Estimator {
    Estimator {
        blocks: Some((16, 16)),
        selection: Some(Selection::TopK(2)),
        keep_sink_blocks: Some(0),
        keep_diagonal: Some(false),
        causal: Some(true),
        ..Estimator::new(Method::PooledBlocks)
    }
}

fn masks_bsr(mask: &Mask) -> Vec<sparsa::Bsr> {
    (0..mask.num_heads().unwrap()).map(|h| mask.export_bsr(h).unwrap()).collect()
}

#[test]
fn estimator_case() {
    let ctx = Context::cpu().unwrap();
    let (qd, kd, vd) = qkv(128, 128, 2, 2, 16);
    let shape = [1, 128, 2, 16];
    let (q, k, v) = (Tensor::new(&qd, shape).unwrap(), Tensor::new(&kd, shape).unwrap(), Tensor::new(&vd, shape).unwrap());
    let mask = estimator().estimate(&ctx, &q, &k).unwrap();
    let mut tiles = [[[false; 8]; 8]; 2];
    for (h, bsr) in masks_bsr(&mask).iter().enumerate() {
        for r in 0..8 {
            let (from, to) = (bsr.row_ptr[r] as usize, bsr.row_ptr[r + 1] as usize);
            assert!(to - from <= 2, "head {} row {} keeps {} blocks", h, r, to - from);
            for &c in &bsr.col_idx[from..to] {
                tiles[h][r][c as usize] = true;
            }
        }
    }
    let mut od = vec![0f32; 128 * 2 * 16];
    let mut out = TensorMut::new(&mut od, shape).unwrap();
    let mut lse = vec![0f32; 2 * 128];
    sparsa::attention(&ctx, &q, &k, &v, Some(&mask), &mut out, Some(&mut lse)).unwrap();
    check(&out, &lse, naive(&q, &k, &v, |h, i, j| tiles[h][i / 16][j / 16] && j <= i));
}

#[test]
fn config_round_trip() {
    let ctx = Context::cpu().unwrap();
    let (qd, kd, _) = qkv(128, 128, 2, 2, 16);
    let shape = [1, 128, 2, 16];
    let (q, k) = (Tensor::new(&qd, shape).unwrap(), Tensor::new(&kd, shape).unwrap());
    let dir = temp_dir("config");
    let path = dir.join("heads.cfg");
    let cfg = PatternConfig::search(&ctx, &q, &k, 0.9, (16, 16), true).unwrap();
    cfg.save(&path).unwrap();
    let loaded = PatternConfig::load(&path).unwrap();
    assert_eq!(cfg.num_heads().unwrap(), 2);
    assert_eq!(loaded.num_heads().unwrap(), 2);
    for h in 0..2 {
        assert_eq!(cfg.head_kind(h).unwrap(), loaded.head_kind(h).unwrap());
    }
    assert_eq!(masks_bsr(&cfg.mask(&ctx, 128, 128).unwrap()), masks_bsr(&loaded.mask(&ctx, 128, 128).unwrap()));
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn cache_round_trip() {
    let ctx = Context::cpu().unwrap();
    let (qd, kd, _) = qkv(128, 128, 2, 2, 16);
    let shape = [1, 128, 2, 16];
    let (q, k) = (Tensor::new(&qd, shape).unwrap(), Tensor::new(&kd, shape).unwrap());
    let est = estimator();
    let dir = temp_dir("cache");
    let path = dir.join("wisdom.bin");
    let saved = {
        let cache = Cache::new(&ctx, 0, 0).unwrap();
        let first = cache.acquire(&est, &q, &k, CacheKey { layer: 3, step: 0, tag: 0 }).unwrap();
        let second = cache.acquire(&est, &q, &k, CacheKey { layer: 3, step: 1, tag: 0 }).unwrap();
        let saved = masks_bsr(&first.mask().unwrap());
        assert_eq!(saved, masks_bsr(&second.mask().unwrap()));
        let stats = cache.stats().unwrap();
        assert_eq!((stats.hits, stats.misses), (1, 1));
        cache.save(&path).unwrap();
        saved
    };
    let fresh = Cache::new(&ctx, 0, 0).unwrap();
    let at = CacheKey { layer: 3, ..CacheKey::default() };
    assert!(fresh.lookup(&est, &q, &k, at).unwrap().is_none());
    fresh.load(&path).unwrap();
    let entry = fresh.lookup(&est, &q, &k, at).unwrap().expect("the loaded cache misses");
    assert_eq!(masks_bsr(&entry.mask().unwrap()), saved);
    assert_eq!(masks_bsr(&est.estimate(&ctx, &q, &k).unwrap()), saved);
    assert!(fresh.lookup(&est, &q, &k, CacheKey { layer: 4, ..at }).unwrap().is_none());
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn merge() {
    let ctx = Context::cpu().unwrap();
    let (qd, kd, vd) = qkv(32, 64, 2, 2, 16);
    let row = 2 * 16;
    let q = Tensor::new(&qd, [1, 32, 2, 16]).unwrap();
    let part = |data: &'_ [f32], from: usize, n: usize| -> Vec<f32> { data[from * row..(from + n) * row].to_vec() };
    let (ka, va, kb, vb) = (part(&kd, 0, 24), part(&vd, 0, 24), part(&kd, 24, 40), part(&vd, 24, 40));
    let (mut oa, mut ob, mut om) = (vec![0f32; 32 * row], vec![0f32; 32 * row], vec![0f32; 32 * row]);
    let (mut la, mut lb, mut lm) = (vec![0f32; 64], vec![0f32; 64], vec![0f32; 64]);
    let shape = [1, 32, 2, 16];
    {
        let mut out_a = TensorMut::new(&mut oa, shape).unwrap();
        let (k, v) = (Tensor::new(&ka, [1, 24, 2, 16]).unwrap(), Tensor::new(&va, [1, 24, 2, 16]).unwrap());
        sparsa::attention(&ctx, &q, &k, &v, None, &mut out_a, Some(&mut la)).unwrap();
        let mut out_b = TensorMut::new(&mut ob, shape).unwrap();
        let (k, v) = (Tensor::new(&kb, [1, 40, 2, 16]).unwrap(), Tensor::new(&vb, [1, 40, 2, 16]).unwrap());
        sparsa::attention(&ctx, &q, &k, &v, None, &mut out_b, Some(&mut lb)).unwrap();
    }
    let mut out = TensorMut::new(&mut om, shape).unwrap();
    sparsa::merge_states(&ctx, &Tensor::new(&oa, shape).unwrap(), &la, &Tensor::new(&ob, shape).unwrap(), &lb, &mut out, Some(&mut lm)).unwrap();
    let (k, v) = (Tensor::new(&kd, [1, 64, 2, 16]).unwrap(), Tensor::new(&vd, [1, 64, 2, 16]).unwrap());
    check(&out, &lm, naive(&q, &k, &v, |_, _, _| true));
}

#[test]
fn error_bad_shape() {
    let ctx = Context::cpu().unwrap();
    let (qd, kd, vd) = qkv(16, 16, 3, 2, 16);
    let (q, k, v) = (
        Tensor::new(&qd, [1, 16, 3, 16]).unwrap(),
        Tensor::new(&kd, [1, 16, 2, 16]).unwrap(),
        Tensor::new(&vd, [1, 16, 2, 16]).unwrap(),
    );
    let mut od = vec![0f32; 16 * 3 * 16];
    let mut out = TensorMut::new(&mut od, [1, 16, 3, 16]).unwrap();
    let err = sparsa::attention(&ctx, &q, &k, &v, None, &mut out, None).unwrap_err();
    assert_eq!(err.status(), Some(Status::InvalidArgument), "{}", err);
    assert!(err.to_string().contains("kv_heads"), "{}", err);
}

#[test]
fn error_corrupt_file() {
    let ctx = Context::cpu().unwrap();
    let dir = temp_dir("corrupt");
    let path = dir.join("corrupt.cfg");
    fs::write(&path, "not a pattern config").unwrap();
    let err = PatternConfig::load(&path).unwrap_err();
    assert_eq!(err.status(), Some(Status::Format), "{}", err);
    fs::write(&path, "not a sparsa cache file, long enough to hold a header".repeat(4)).unwrap();
    let err = Cache::new(&ctx, 0, 0).unwrap().load(&path).unwrap_err();
    assert_eq!(err.status(), Some(Status::Format), "{}", err);
    fs::remove_dir_all(dir).unwrap();
}
