//! The Rust layer: layouts, errors and handle ownership.

mod common;

use common::{check, lcg, naive, qkv};
use sparsa::{Context, Error, Layout, Mask, Pattern, Plan, Status, Tensor, TensorMut};

#[test]
fn strided_output_is_written_in_place() {
    let ctx = Context::cpu().unwrap();
    let (qd, kd, vd) = (lcg(1, 2 * 40 * 4 * 16), lcg(2, 2 * 48 * 2 * 16), lcg(3, 2 * 48 * 2 * 16));
    let q = Tensor::new(&qd, [2, 40, 4, 16]).unwrap();
    let k = Tensor::new(&kd, [2, 48, 2, 16]).unwrap();
    let v = Tensor::new(&vd, [2, 48, 2, 16]).unwrap();
    // A BHSD buffer seen as [batch, seq, heads, dim].
    let mut buf = vec![0f32; 2 * 4 * 40 * 16];
    let bhsd = Layout { shape: [2, 40, 4, 16], strides: [4 * 40 * 16, 16, 40 * 16] };
    let mut out = TensorMut::with_layout(&mut buf, bhsd).unwrap();
    let mut lse = vec![0f32; 2 * 4 * 40];
    sparsa::attention(&ctx, &q, &k, &v, None, &mut out, Some(&mut lse)).unwrap();
    check(&out, &lse, naive(&q, &k, &v, |_, _, _| true));
}

#[test]
fn kernel_path_names_a_cpu_path() {
    let ctx = Context::cpu().unwrap();
    let path = ctx.kernel_path().unwrap();
    assert!(["amxbf16", "avx512bf16", "avx512", "avx2", "generic"].contains(&path.as_str()), "{path}");
}

#[test]
fn one_plan_from_many_threads() {
    let ctx = Context::cpu().unwrap();
    let (qd, kd, vd) = qkv(32, 32, 2, 2, 16);
    let shape = [1, 32, 2, 16];
    let (q, k, v) = (Tensor::new(&qd, shape).unwrap(), Tensor::new(&kd, shape).unwrap(), Tensor::new(&vd, shape).unwrap());
    let causal = Pattern::causal().unwrap();
    let mask = Mask::new(&ctx, &[&causal], 32, 32, 16, 16).unwrap();
    let mut first = vec![0f32; 32 * 2 * 16];
    let plan = Plan::new(&ctx, &q, &k, &v, &TensorMut::new(&mut first, shape).unwrap(), Some(&mask)).unwrap();
    drop(mask); // the plan keeps its own reference
    assert!(plan.num_blocks().unwrap() > 0);
    let reference = naive(&q, &k, &v, |_, i, j| j <= i);
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                let mut od = vec![0f32; 32 * 2 * 16];
                let mut lse = vec![0f32; 2 * 32];
                let mut out = TensorMut::new(&mut od, shape).unwrap();
                plan.execute(&q, &k, &v, &mut out, Some(&mut lse)).unwrap();
                check(&out, &lse, reference.clone());
            });
        }
    });
    let shorter = Tensor::with_layout(&qd, Layout { shape: [1, 16, 2, 16], strides: [32 * 32, 32, 16] }).unwrap();
    let mut od = vec![0f32; 32 * 2 * 16];
    let err = plan.execute(&shorter, &k, &v, &mut TensorMut::new(&mut od, shape).unwrap(), None).unwrap_err();
    assert!(matches!(err, Error::Argument(_)) && err.to_string().contains("planned"), "{}", err);
}

#[test]
fn wrong_shapes_are_rejected() {
    let ctx = Context::cpu().unwrap();
    let (qd, kd, vd) = qkv(16, 16, 2, 2, 16);
    let shape = [1, 16, 2, 16];
    let (q, v) = (Tensor::new(&qd, shape).unwrap(), Tensor::new(&vd, shape).unwrap());
    let narrow = Tensor::new(&kd[..16 * 2 * 8], [1, 16, 2, 8]).unwrap();
    let mut od = vec![0f32; 16 * 2 * 16];
    let mut out = TensorMut::new(&mut od, shape).unwrap();
    let err = sparsa::attention(&ctx, &q, &narrow, &v, None, &mut out, None).unwrap_err();
    assert!(err.to_string().contains("head dim"), "{}", err);
    let err = Tensor::new(&qd[..10], shape).unwrap_err();
    assert!(matches!(err, Error::Argument(_)), "{}", err);
    let k = Tensor::new(&kd, shape).unwrap();
    let err = sparsa::attention(&ctx, &q, &k, &v, None, &mut out, Some(&mut [0f32; 3])).unwrap_err();
    assert!(err.to_string().contains("lse"), "{}", err);
}

#[test]
fn outputs_that_overlap_themselves_are_rejected() {
    let mut od = vec![0f32; 16 * 2 * 16];
    // Heads 8 elements apart but 16 wide: each row's heads share memory.
    let layout = Layout { shape: [1, 16, 2, 16], strides: [512, 32, 8] };
    let err = TensorMut::with_layout(&mut od, layout).unwrap_err();
    assert!(matches!(err, Error::Argument(_)) && err.to_string().contains("share an address"), "{}", err);
    // A row written twice (a seq stride of 0).
    let layout = Layout { shape: [1, 16, 2, 16], strides: [512, 0, 16] };
    assert!(TensorMut::with_layout(&mut od, layout).is_err());
    // Inputs may broadcast: one k and v row block for every query batch.
    let (qd, kd, vd) = qkv(16, 16, 2, 2, 16);
    let shape = [2, 16, 2, 16];
    let broadcast = Layout { shape, strides: [0, 32, 16] };
    let q2: Vec<f32> = qd.iter().chain(qd.iter()).copied().collect();
    let (q, k, v) = (Tensor::new(&q2, shape).unwrap(), Tensor::with_layout(&kd, broadcast).unwrap(),
                     Tensor::with_layout(&vd, broadcast).unwrap());
    let ctx = Context::cpu().unwrap();
    let mut out2 = vec![f32::NAN; 2 * 16 * 2 * 16];
    sparsa::attention(&ctx, &q, &k, &v, None, &mut TensorMut::new(&mut out2, shape).unwrap(), None).unwrap();
    let (half, rest) = out2.split_at(16 * 2 * 16);
    assert!(half.iter().all(|x| x.is_finite()) && half == rest, "both batches see the same k and v");
}

#[test]
fn library_errors_carry_status_and_message() {
    let err = Pattern::window(-1, 0).unwrap_err();
    assert_eq!(err.status(), Some(Status::InvalidArgument));
    assert!(err.to_string().starts_with("sparsa: invalid argument: "), "{}", err);
    let err = Context::new(sparsa::Engine::Cpu, 3).unwrap_err();
    assert_eq!(err.status(), Some(Status::InvalidArgument));
}

#[test]
fn patterns_and_masks() {
    let ctx = Context::cpu().unwrap();
    let local = Pattern::window(3, 0).unwrap();
    let glob = Pattern::global(&[0, 5]).unwrap();
    let both = Pattern::union(&[&local, &glob]).unwrap();
    drop((local, glob)); // the union keeps its parts
    assert!(both.is_visible(10, 10, 9, 0).unwrap());
    assert!(both.is_visible(10, 10, 9, 7).unwrap());
    assert!(!both.is_visible(10, 10, 9, 3).unwrap());
    let bitmap = Pattern::blocks_bitmap(16, 16, &[vec![true, false], vec![true, true]]).unwrap();
    let mask = Mask::new(&ctx, &[&bitmap, &Pattern::none().unwrap()], 32, 32, 16, 16).unwrap();
    assert_eq!(mask.num_heads().unwrap(), 2);
    assert_eq!(mask.density(Some(0)).unwrap(), 0.75);
    assert_eq!(mask.density(Some(1)).unwrap(), 0.0);
    let bsr = mask.export_bsr(0).unwrap();
    assert_eq!((bsr.row_ptr, bsr.col_idx), (vec![0, 1, 3], vec![0, 0, 1]));
    assert!(Pattern::neighborhood(&[4, 4], &[3, 3]).is_ok());
    assert!(Pattern::blocks_bsr(16, 16, &[0, 2], &[0]).is_err());
}

#[test]
fn bfloat16() {
    let ctx = Context::cpu().unwrap();
    let shape = [1, 32, 2, 16];
    let n = 32 * 2 * 16;
    // bfloat16 is the upper half of a float32: truncate, and keep the
    // rounded float32 values for the reference.
    let half = |seed| -> (Vec<sparsa::Bf16>, Vec<f32>) {
        lcg(seed, n)
            .into_iter()
            .map(|x| {
                let bits = (x.to_bits() >> 16) as u16;
                (sparsa::Bf16(bits), f32::from_bits((bits as u32) << 16))
            })
            .unzip()
    };
    let ((qb, qr), (kb, kr), (vb, vr)) = (half(1), half(2), half(3));
    let mut ob = vec![sparsa::Bf16::default(); n];
    let mut out = TensorMut::new(&mut ob, shape).unwrap();
    let t = |d| Tensor::new(d, shape).unwrap();
    sparsa::attention(&ctx, &t(&qb), &t(&kb), &t(&vb), None, &mut out, None).unwrap();
    let t32 = |d| Tensor::new(d, shape).unwrap();
    let (reference, _) = naive(&t32(&qr), &t32(&kr), &t32(&vr), |_, _, _| true);
    for (i, b) in ob.iter().enumerate() {
        let got = f32::from_bits((b.0 as u32) << 16) as f64;
        assert!((got - reference[i]).abs() <= 1e-2, "out[{}] = {}, want {}", i, got, reference[i]);
    }
}
