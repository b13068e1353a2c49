//! Condensation: Blend equals its per-cluster form, the lr polynomial, k-means, the
//! free/residual split and the reduced retain set.
use std::collections::HashSet;
use tch::{Device, Kind, Tensor};
use unlearn::condense::blend::{blend, blend_lr, BlendConfig};
use unlearn::condense::kmeans::{kmeans_per_class, KMeansConfig};
use unlearn::condense::split::free_residual_split;
use unlearn::condense::{condense, CondenseConfig, CondenseInput};
use unlearn::data::request::ForgetRequest;
use unlearn::data::synthetic::{synthetic, SyntheticOptions};
use unlearn::data::{Dataset, LoadOptions};
use unlearn::models::{Arch, Model, ModelSpec};

fn frozen_convnet(seed: u64, shape: [i64; 3]) -> Model {
    let mut m = Model::new(ModelSpec::new(Arch::Convnet, shape, 10, seed), Device::Cpu).unwrap();
    m.var_store_mut().freeze();
    m
}

fn small_data(n: usize, classes: usize, seed: u64) -> Dataset {
    let o = SyntheticOptions { train: n, test: 4, classes, channels: 3, height: 8, width: 8, separation: 0.5, seed };
    synthetic(&o, &LoadOptions::default(), Device::Cpu).unwrap().train
}

#[test]
fn blend_lr_polynomial_matches_method_md() {
    for (ipc, expected, tol) in
        [(2.0, 1.0, 1e-3), (10.0, 0.1656, 1e-4), (100.0, 99.98, 1e-2), (800.0, 6665.6, 0.1), (1000.0, 9998.7, 0.1)]
    {
        let lr = blend_lr(ipc);
        assert!((lr - expected).abs() < tol, "ipc {ipc}: {lr} vs {expected}");
    }
}

/// Blend written the straightforward way: one cluster at a time, one weight tensor per cluster.
fn blend_per_cluster(x: &Tensor, sizes: &[i64], net: &Model, cfg: &BlendConfig) -> (Vec<Tensor>, Vec<Tensor>) {
    let m = sizes.len() as f64;
    let mut a: Vec<Tensor> = sizes
        .iter()
        .map(|&n| Tensor::full([n], 1.0 / n as f64, (Kind::Float, Device::Cpu)).set_requires_grad(true))
        .collect();
    let mut bufs: Vec<Option<Tensor>> = sizes.iter().map(|_| None).collect();
    let mut start = 0;
    let members: Vec<Tensor> = sizes
        .iter()
        .map(|&n| {
            let t = x.narrow(0, start, n);
            start += n;
            t
        })
        .collect();
    let mu: Vec<Tensor> =
        tch::no_grad(|| members.iter().map(|xm| net.embed(xm).unwrap().mean_dim(0, true, Kind::Float)).collect());
    let synth = |a: &Tensor, xm: &Tensor| {
        (xm * (a / a.sum(Kind::Float)).view([-1, 1, 1, 1])).sum_dim_intlist(0, true, Kind::Float)
    };
    for _ in 0..cfg.iters {
        for (j, xm) in members.iter().enumerate() {
            let s = synth(&a[j], xm);
            let loss = (net.embed(&s).unwrap() - &mu[j]).square().mean(Kind::Float) / m;
            loss.backward();
        }
        tch::no_grad(|| {
            for j in 0..sizes.len() {
                let mut g = a[j].grad();
                let b = match bufs[j].take() {
                    None => g.copy(),
                    Some(b) => b * cfg.momentum + &g,
                };
                let _ = a[j].f_sub_(&(&b * cfg.lr)).unwrap();
                bufs[j] = Some(b);
                let _ = g.zero_();
            }
        });
    }
    let images = tch::no_grad(|| members.iter().zip(&a).map(|(xm, aj)| synth(aj, xm)).collect());
    (a.into_iter().map(|t| t.detach()).collect(), images)
}

#[test]
fn batched_blend_equals_the_per_cluster_form() {
    let shape = [3, 16, 16];
    let sizes = [1i64, 3, 5, 2, 4];
    let n: i64 = sizes.iter().sum();
    tch::manual_seed(1);
    let x = Tensor::randn([n, 3, 16, 16], (Kind::Float, Device::Cpu));
    let seg: Vec<i64> =
        sizes.iter().enumerate().flat_map(|(j, &s)| std::iter::repeat_n(j as i64, s as usize)).collect();
    let net = frozen_convnet(5, shape);
    // an lr that moves the weights well away from the start, yet keeps the 12 steps stable (at
    // lr 50 the loss rises and float rounding is amplified until the two forms part)
    let cfg = BlendConfig { iters: 12, lr: 5.0, momentum: 0.5, chunk_clusters: 2, embed_batch: 4 };
    let out = blend(&x, &seg, &net, &cfg).unwrap();
    let (weights, images) = blend_per_cluster(&x, &sizes, &net, &cfg);
    let ref_w = Tensor::cat(&weights, 0);
    let ref_s = Tensor::cat(&images, 0);
    let start_w = Tensor::cat(
        &sizes.iter().map(|&s| Tensor::full([s], 1.0 / s as f64, (Kind::Float, Device::Cpu))).collect::<Vec<_>>(),
        0,
    );
    assert!(
        (&ref_w - &start_w).abs().max().double_value(&[]) > 1e-3,
        "the weights did not move: the test would prove nothing"
    );
    let dw = (&out.weights - &ref_w).abs().max().double_value(&[]);
    let ds = (&out.images - &ref_s).abs().max().double_value(&[]);
    assert!(dw < 1e-5 && ds < 1e-5, "weights differ by {dw}, images by {ds}");
    assert_eq!(out.losses.len(), 12);
    // chunking is only about memory
    let whole = blend(&x, &seg, &net, &BlendConfig { chunk_clusters: 100, ..cfg.clone() }).unwrap();
    assert!((&whole.weights - &out.weights).abs().max().double_value(&[]) < 1e-6);
    // a one-member cluster's blend is that image, whatever its weight became
    assert!((out.images.get(0) - x.get(0)).abs().max().double_value(&[]) < 1e-6);
}

#[test]
fn blend_lowers_its_loss_at_a_sane_rate() {
    let shape = [3, 16, 16];
    tch::manual_seed(2);
    let x = Tensor::randn([40, 3, 16, 16], (Kind::Float, Device::Cpu));
    let seg: Vec<i64> = (0..40).map(|i| i / 5).collect();
    let net = frozen_convnet(6, shape);
    let out = blend(
        &x,
        &seg,
        &net,
        &BlendConfig { iters: 12, lr: blend_lr(5.0) * 100.0, momentum: 0.5, chunk_clusters: 3, embed_batch: 16 },
    )
    .unwrap();
    assert!(out.losses[11] < out.losses[0], "{:?}", out.losses);
}

/// Well-separated blobs in 6-d: 3 classes x 4 blobs x 25 points.
fn blobs() -> (Tensor, Vec<i64>, Vec<i64>) {
    let mut rng = unlearn::data::split::rng(3);
    use rand::Rng;
    let (mut feats, mut labels, mut blob) = (Vec::new(), Vec::new(), Vec::new());
    for c in 0..3 {
        for b in 0..4 {
            let centre: Vec<f32> = (0..6).map(|_| rng.random_range(-50.0..50.0)).collect();
            for _ in 0..25 {
                feats.extend(centre.iter().map(|v| v + rng.random_range(-0.5..0.5)));
                labels.push(c);
                blob.push(c * 4 + b);
            }
        }
    }
    (Tensor::from_slice(&feats).view([-1, 6]), labels, blob)
}

#[test]
fn kmeans_recovers_blobs_never_raises_its_objective_and_is_repeatable() {
    let (f, labels, blob) = blobs();
    let cfg = KMeansConfig { k: 4, max_iter: 100, tol: 1e-4, seed: 9 };
    let c = kmeans_per_class(&f, &labels, 3, &cfg).unwrap();
    // same blob <=> same cluster
    for i in 0..blob.len() {
        for j in 0..blob.len() {
            assert_eq!(blob[i] == blob[j], c.assignment[i] == c.assignment[j], "items {i}, {j}");
        }
    }
    // clusters never mix classes
    assert!(c.assignment.iter().zip(&labels).all(|(&g, &l)| g / 4 == l));
    for w in c.objective.windows(2) {
        assert!(w[1] <= w[0] * (1.0 + 1e-6), "objective rose: {:?}", c.objective);
    }
    let again = kmeans_per_class(&f, &labels, 3, &cfg).unwrap();
    assert_eq!(again.assignment, c.assignment);
}

#[test]
fn kmeans_objective_is_non_increasing_on_hard_data_and_small_classes_get_one_cluster_per_item() {
    tch::manual_seed(4);
    let f = Tensor::randn([230, 16], (Kind::Float, Device::Cpu));
    // class 2 has only 5 items for 8 clusters
    let labels: Vec<i64> = (0..230).map(|i| if i < 5 { 2 } else { (i % 2) as i64 }).collect();
    let c = kmeans_per_class(&f, &labels, 3, &KMeansConfig { k: 8, max_iter: 50, tol: 1e-4, seed: 1 }).unwrap();
    assert!(c.objective.len() > 1);
    for w in c.objective.windows(2) {
        assert!(w[1] <= w[0] * (1.0 + 1e-6), "objective rose: {:?}", c.objective);
    }
    let sizes = c.sizes();
    let small: Vec<usize> = sizes[16..24].to_vec();
    assert_eq!(small.iter().filter(|&&s| s > 0).count(), 5, "{small:?}");
    assert!(c.iterations.iter().all(|i| (1..=50).contains(i)));
}

#[test]
fn free_residual_split_invariants_single_and_multi_round() {
    let data = small_data(400, 4, 1);
    let f = unlearn::condense::features::embed_dataset(&frozen_convnet(2, [3, 8, 8]), &data, 128).unwrap();
    let clustering =
        kmeans_per_class(&f, data.labels_host(), 4, &KMeansConfig { k: 20, seed: 3, ..Default::default() }).unwrap();
    let rounds = ForgetRequest::rounds(&data, 2, 0.1, false, 7).unwrap();
    for r in &rounds {
        let split = free_residual_split(&clustering, r).unwrap();
        let gone: HashSet<i64> = r.forget.iter().chain(&r.earlier).copied().collect();
        assert!(
            split.residual.iter().chain(&split.free_items).all(|i| !gone.contains(i)),
            "a forgotten item reached the reduced set"
        );
        // every retained item is residual or in a free cluster, exactly once
        let mut covered: Vec<i64> = split.residual.iter().chain(&split.free_items).copied().collect();
        covered.sort();
        assert_eq!(covered, r.retain);
        // a free cluster holds no forgotten item; a residual item's cluster holds one
        let touched: HashSet<i64> = gone.iter().map(|&i| clustering.assignment[i as usize]).collect();
        assert!(split.free_global.iter().all(|g| !touched.contains(g)));
        assert!(split.residual.iter().all(|&i| touched.contains(&clustering.assignment[i as usize])));
        // compact ids are sorted, start at 0, every free cluster non-empty, labels are classes
        assert!(split.free_cluster.windows(2).all(|w| w[1] == w[0] || w[1] == w[0] + 1));
        assert_eq!(split.free_cluster.last().map(|&m| m as usize + 1).unwrap_or(0), split.num_free());
        for (k, &m) in split.free_cluster.iter().enumerate() {
            assert_eq!(data.labels_host()[split.free_items[k] as usize], split.free_labels[m as usize]);
        }
    }
}

#[test]
fn blend_condensation_end_to_end() {
    let data = small_data(600, 3, 2);
    let request = ForgetRequest::uniform(&data, 0.1, false, 4).unwrap();
    let input = CondenseInput { train: &data, request: &request, clustering: None, feature_model: None, seed: 11 };
    let cfg = CondenseConfig { ipc: 40, chunk_clusters: 16, ..Default::default() };
    let r = condense(&input, &cfg).unwrap();
    assert_eq!(r.dataset.len(), r.residual + r.synthetic);
    assert_eq!(r.retain_size, 540);
    assert!(r.synthetic > 0 && r.residual > 0 && r.ratio() < 1.0, "{}", r.describe());
    assert_eq!(r.blend_losses.len(), 12);
    assert!(r.timings.features > 0.0 && r.timings.condense > 0.0);
    // repeatable with the same seed
    let again = condense(&input, &cfg).unwrap();
    assert!(again.dataset.images().equal(r.dataset.images()));
    // multi-round reuse of the clustering: no new features or k-means
    let next = ForgetRequest::indices(&data, &request.forget[..10], "x").unwrap();
    let reuse = CondenseInput { clustering: r.clustering.clone(), ..input };
    let r2 = condense(&CondenseInput { request: &next, ..reuse }, &cfg).unwrap();
    assert_eq!(r2.timings.features, 0.0);
    assert!(r2.residual < r.residual);
}

#[test]
fn random_subset_baseline_takes_ipc_retained_images_per_class() {
    let data = small_data(300, 3, 3);
    let request = ForgetRequest::classes(&data, &[1]).unwrap();
    let input = CondenseInput { train: &data, request: &request, clustering: None, feature_model: None, seed: 1 };
    let r = condense(&input, &CondenseConfig { method: "random".into(), ipc: 7, ..Default::default() }).unwrap();
    assert_eq!(r.dataset.class_counts(), vec![7, 0, 7]);
    // or a given total, spread over the classes in proportion
    let r =
        condense(&input, &CondenseConfig { method: "random".into(), size: Some(50), ..Default::default() }).unwrap();
    assert_eq!(r.dataset.len(), 50);
    assert_eq!(r.dataset.class_counts()[1], 0);
    let err = condense(&input, &CondenseConfig { method: "dc".into(), ..Default::default() }).unwrap_err().to_string();
    assert!(err.contains("option `method` of condense()") && err.contains("blend"), "{err}");
}

#[test]
fn distribution_matching_moves_its_images_towards_the_real_mean_embedding() {
    let data = small_data(200, 2, 5);
    let request = ForgetRequest::uniform(&data, 0.1, false, 1).unwrap();
    let input = CondenseInput { train: &data, request: &request, clustering: None, feature_model: None, seed: 3 };
    let cfg = CondenseConfig { method: "dm".into(), ipc: 4, iters: Some(30), lr: Some(1.0), ..Default::default() };
    let r = condense(&input, &cfg).unwrap();
    assert_eq!(r.dataset.class_counts(), vec![4, 4]);
    assert_eq!(r.blend_losses.len(), 30);
    let first: f64 = r.blend_losses[..5].iter().sum();
    let last: f64 = r.blend_losses[25..].iter().sum();
    assert!(last < first, "DM loss did not fall: {:?}", r.blend_losses);
    // the images started as real retained images and moved
    assert!(r.dataset.images().isfinite().all().int64_value(&[]) == 1);
}

#[test]
fn dsa_is_siamese_and_keeps_shapes() {
    use unlearn::condense::dsa::Dsa;
    tch::manual_seed(3);
    let x = Tensor::rand([6, 3, 8, 8], (Kind::Float, Device::Cpu));
    let mut dsa = Dsa::new(1);
    for _ in 0..12 {
        let d = dsa.draw(6);
        let a = d.apply(&x).unwrap();
        assert_eq!(a.size(), x.size());
        // item i gets the same parameters in a batch of 6 and in a batch of its first 2 items
        let b = d.apply(&x.narrow(0, 0, 2)).unwrap();
        assert!((a.narrow(0, 0, 2) - b).abs().max().double_value(&[]) < 1e-5);
    }
}

/// Issue 17: an ipc at least every class's size would make Blend keep every image (ratio 1.0)
/// after all its work: an error naming the option, before the features are computed.
#[test]
fn an_ipc_no_smaller_than_every_class_is_refused() {
    let data = small_data(60, 3, 2);
    let request = ForgetRequest::uniform(&data, 0.1, false, 1).unwrap();
    let input = CondenseInput { train: &data, request: &request, clustering: None, feature_model: None, seed: 1 };
    let largest = *data.class_counts().iter().max().unwrap();
    let e = condense(&input, &CondenseConfig { ipc: largest, ..Default::default() }).unwrap_err().to_string();
    assert!(e.contains("`ipc`") && e.contains(&format!("largest has {largest} images")), "{e}");
    let r = condense(&input, &CondenseConfig { ipc: largest - 1, ..Default::default() }).unwrap();
    assert!(r.ratio() < 1.0, "{}", r.describe());
}
