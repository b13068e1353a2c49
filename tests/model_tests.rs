//! Architectures and checkpoints.
use tch::{Device, Kind, Tensor};
use unlearn::models::{Arch, Model, ModelSpec};

fn spec(arch: Arch, shape: [i64; 3], classes: usize) -> ModelSpec {
    ModelSpec::new(arch, shape, classes, 7)
}

#[test]
fn output_shapes() {
    let x = Tensor::randn([2, 3, 32, 32], (Kind::Float, Device::Cpu));
    let conv = Model::new(spec(Arch::Convnet, [3, 32, 32], 10), Device::Cpu).unwrap();
    assert_eq!(conv.forward(&x).unwrap().size(), [2, 10]);
    assert_eq!(conv.embed(&x).unwrap().size(), [2, 2048], "ConvNet-3 embedding at 3x32x32 is 128x4x4");
    let r18 = Model::new(spec(Arch::Resnet18, [3, 32, 32], 10), Device::Cpu).unwrap();
    assert_eq!(r18.forward(&x).unwrap().size(), [2, 10]);
    assert_eq!(r18.embed(&x).unwrap().size(), [2, 512]);
    let r50 = Model::new(spec(Arch::Resnet50, [3, 32, 32], 100), Device::Cpu).unwrap();
    assert_eq!(r50.forward(&x).unwrap().size(), [2, 100]);
    assert_eq!(r50.embed(&x).unwrap().size(), [2, 2048]);
    // any channel count and size: grayscale 28x28
    let g = Tensor::randn([3, 1, 28, 28], (Kind::Float, Device::Cpu));
    let conv1 = Model::new(spec(Arch::Convnet, [1, 28, 28], 10), Device::Cpu).unwrap();
    assert_eq!(conv1.embed(&g).unwrap().size(), [3, 128 * 3 * 3]);
    let r18g = Model::new(spec(Arch::Resnet18, [1, 28, 28], 10), Device::Cpu).unwrap();
    assert_eq!(r18g.forward(&g).unwrap().size(), [3, 10]);
}

#[test]
fn parameter_counts_match_the_reference_architectures() {
    // ConvNet-3, 3 -> 128 x3, 2048 -> 10: convs 3*128*9+128, 2x(128*128*9+128), norms 3x256, fc 20490
    let conv = Model::new(spec(Arch::Convnet, [3, 32, 32], 10), Device::Cpu).unwrap();
    assert_eq!(conv.num_params(), 3584 + 2 * 147_584 + 768 + 20_490);
    // ResNet-18 (CIFAR stem, GroupNorm with affine parameters like BatchNorm): 11,173,962 in PyTorch
    let r18 = Model::new(spec(Arch::Resnet18, [3, 32, 32], 10), Device::Cpu).unwrap();
    assert_eq!(r18.num_params(), 11_173_962);
    // ResNet-50 (CIFAR stem): 23,520,842 in PyTorch
    let r50 = Model::new(spec(Arch::Resnet50, [3, 32, 32], 10), Device::Cpu).unwrap();
    assert_eq!(r50.num_params(), 23_520_842);
}

#[test]
fn wrong_input_is_an_error_not_a_panic() {
    let conv = Model::new(spec(Arch::Convnet, [3, 32, 32], 10), Device::Cpu).unwrap();
    let err = conv.forward(&Tensor::zeros([2, 1, 32, 32], (Kind::Float, Device::Cpu))).unwrap_err().to_string();
    assert!(err.contains("expects N x 3 x 32 x 32") && err.contains("[2, 1, 32, 32]"), "{err}");
    let err = Model::new(spec(Arch::Convnet, [3, 4, 4], 10), Device::Cpu).unwrap_err().to_string();
    assert!(err.contains("pools a 4x4 image to nothing"), "{err}");
}

#[test]
fn same_seed_same_initialisation() {
    let a = Model::new(spec(Arch::Convnet, [1, 28, 28], 10), Device::Cpu).unwrap();
    let b = Model::new(spec(Arch::Convnet, [1, 28, 28], 10), Device::Cpu).unwrap();
    let mut s = spec(Arch::Convnet, [1, 28, 28], 10);
    s.init_seed = 8;
    let c = Model::new(s, Device::Cpu).unwrap();
    let x = Tensor::randn([4, 1, 28, 28], (Kind::Float, Device::Cpu));
    assert!(a.forward(&x).unwrap().equal(&b.forward(&x).unwrap()));
    assert!(!a.forward(&x).unwrap().equal(&c.forward(&x).unwrap()));
}

#[test]
fn pytorch_default_init_bounds() {
    // conv weights and biases uniform in ±1/sqrt(fan_in), like torch.nn.Conv2d's reset_parameters
    let m = Model::new(spec(Arch::Convnet, [3, 32, 32], 10), Device::Cpu).unwrap();
    let vars = m.var_store().variables();
    let w = &vars["features.1.conv.weight"];
    let b = &vars["features.1.conv.bias"];
    let bound = 1.0 / ((128 * 9) as f64).sqrt();
    for t in [w, b] {
        let max = t.abs().max().double_value(&[]);
        assert!(max <= bound && max > 0.9 * bound, "max |v| {max} vs bound {bound}");
    }
    assert!(vars["features.1.norm.weight"].equal(&Tensor::ones([128], (Kind::Float, Device::Cpu))));
}

#[test]
fn safetensors_round_trip_gives_identical_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    let m = Model::new(spec(Arch::Resnet18, [3, 16, 16], 5), Device::Cpu).unwrap();
    m.save(&path).unwrap();
    let loaded = Model::load(&path, Device::Cpu).unwrap();
    assert_eq!(loaded.spec, m.spec);
    let x = Tensor::randn([3, 3, 16, 16], (Kind::Float, Device::Cpu));
    assert!(m.forward(&x).unwrap().equal(&loaded.forward(&x).unwrap()));
    // no temporary file is left behind
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names.len(), 1, "{names:?}");
    // and the copy is deep
    let copy = m.try_clone().unwrap();
    tch::no_grad(|| {
        for (_, mut v) in copy.var_store().variables() {
            let _ = v.zero_();
        }
    });
    assert!(m.forward(&x).unwrap().equal(&loaded.forward(&x).unwrap()));
}

#[test]
fn bad_checkpoints_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let err = Model::load(dir.path().join("none.safetensors"), Device::Cpu).unwrap_err().to_string();
    assert!(err.contains("none.safetensors"), "{err}");
    let junk = dir.path().join("junk.safetensors");
    std::fs::write(&junk, b"not a checkpoint").unwrap();
    let err = Model::load(&junk, Device::Cpu).unwrap_err().to_string();
    assert!(err.contains("junk.safetensors") && err.contains("not a readable safetensors file"), "{err}");
    // a plain safetensors file without our metadata
    let plain = dir.path().join("plain.safetensors");
    Tensor::write_safetensors(&[("w", Tensor::zeros([2], (Kind::Float, Device::Cpu)))], &plain).unwrap();
    let err = Model::load(&plain, Device::Cpu).unwrap_err().to_string();
    assert!(err.contains("not a checkpoint written by unlearn"), "{err}");
    let m = Model::new(spec(Arch::Convnet, [1, 28, 28], 10), Device::Cpu).unwrap();
    let err = m.save(dir.path().join("m.pt")).unwrap_err().to_string();
    assert!(err.contains(".safetensors"), "{err}");
}
