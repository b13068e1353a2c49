//! Models across PyTorch and unlearn, against the real PyTorch of the project venv:
//! - classifiers trained in PyTorch and saved as TorchScript (tests/pytorch/small_cnn.py) load
//!   with PyTorch's logits, every method trains them, the result loads back in PyTorch with
//!   unlearn's logits, and files that are not such classifiers are refused with errors that name
//!   them;
//! - our architectures as PyTorch state dicts (examples/pytorch/unlearn_models.py, driven by
//!   tests/pytorch/state_dict.py): the same logits both ways.
use std::path::{Path, PathBuf};
use std::process::Command;
use tch::{Device, Tensor};
use unlearn::data::request::ForgetRequest;
use unlearn::data::synthetic::{synthetic, SyntheticOptions};
use unlearn::data::{DataSplit, LoadOptions, ReferenceSplitOptions};
use unlearn::models::Model;
use unlearn::train::TrainConfig;
use unlearn::unlearn::a_cf::{ACf, AmuOptions};
use unlearn::unlearn::retrain::{Retrain, RetrainOptions};
use unlearn::unlearn::{run, UnlearnInput};

fn python(args: &[&str]) {
    let py = unlearn::data::builtin::cache_dir().join("venv").join("bin").join("python");
    let helper = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/pytorch/small_cnn.py");
    let out = Command::new(py).arg(helper).args(args).output().expect("the venv's python (run `make setup`)");
    assert!(out.status.success(), "small_cnn.py {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
}

fn data() -> DataSplit {
    let o = SyntheticOptions {
        train: 240,
        test: 60,
        classes: 3,
        channels: 1,
        height: 8,
        width: 8,
        seed: 5,
        ..Default::default()
    };
    synthetic(&o, &LoadOptions::default(), Device::Cpu).unwrap()
}

/// Writes the data as .npy and has PyTorch train and save its models in `dir`.
fn pytorch_models(dir: &Path, data: &DataSplit) -> PathBuf {
    data.train.images().write_npy(dir.join("train_x.npy")).unwrap();
    data.train.labels().write_npy(dir.join("train_y.npy")).unwrap();
    data.test.images().write_npy(dir.join("test_x.npy")).unwrap();
    python(&["train", dir.to_str().unwrap()]);
    dir.to_path_buf()
}

fn max_abs_diff(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.size(), b.size());
    a.f_sub(b).unwrap().abs().max().double_value(&[])
}

fn logits(model: &Model, x: &Tensor) -> Tensor {
    tch::no_grad(|| model.forward(x)).unwrap()
}

#[test]
fn a_pytorch_classifier_loads_unlearns_and_goes_back_to_pytorch() {
    tch::set_num_threads(1); // PyTorch's side runs on one thread too: the same kernels, the same sums
    let dir = tempfile::tempdir().unwrap();
    let data = data();
    let d = pytorch_models(dir.path(), &data);
    let shape = data.train.image_shape();
    let expected = Tensor::read_npy(d.join("logits.npy")).unwrap();
    // scripted and traced models give PyTorch's eval-mode logits (1e-5: the same libtorch and
    // kernels on one thread; float32 rounding of a different summation order stays below it)
    for file in ["scripted.pt", "traced.pt"] {
        let m = Model::load_torchscript(d.join(file), shape, 3, None, Device::Cpu).unwrap();
        let diff = max_abs_diff(&logits(&m, data.test.images()), &expected);
        assert!(diff < 1e-5, "{file}: logits differ from PyTorch's by {diff}");
        assert!(m.spec.name().contains(file), "{}", m.spec.name());
    }
    let original =
        Model::load_torchscript(d.join("scripted.pt"), shape, 3, Some(&d.join("init.pt")), Device::Cpu).unwrap();
    let before = original.digest().unwrap();
    let request = ForgetRequest::uniform(&data.train, 0.1, false, 1).unwrap();
    let parts = data.test.reference_split(&ReferenceSplitOptions::default(), 1).unwrap();
    let input = UnlearnInput {
        original: &original,
        train: &data.train,
        request: &request,
        retain: None,
        unseen: Some(&parts.unseen),
        seed: 1,
        progress: false,
    };
    let out = run(&ACf, &input, &AmuOptions { progress: false, ..Default::default() }).unwrap();
    assert_eq!(original.digest().unwrap(), before, "the original is never changed");
    let moved = max_abs_diff(&logits(&out.model, data.test.images()), &logits(&original, data.test.images()));
    assert!(moved > 1e-4, "A-CF trained the TorchScript model's parameters (logits moved by {moved})");
    // the result saves as TorchScript, and PyTorch computes unlearn's logits with it
    let saved = d.join("unlearned.pt");
    out.model.save(&saved).unwrap();
    python(&[
        "logits",
        saved.to_str().unwrap(),
        d.join("test_x.npy").to_str().unwrap(),
        d.join("back.npy").to_str().unwrap(),
    ]);
    let back = Tensor::read_npy(d.join("back.npy")).unwrap();
    let diff = max_abs_diff(&back, &logits(&out.model, data.test.images()));
    assert!(diff < 1e-5, "PyTorch's logits of the unlearned model differ from unlearn's by {diff}");
    // and it loads in unlearn again, with the same weights
    let reloaded = Model::load_torchscript(&saved, shape, 3, None, Device::Cpu).unwrap();
    assert_eq!(max_abs_diff(&logits(&reloaded, data.test.images()), &logits(&out.model, data.test.images())), 0.0);
    assert!(out.model.save(d.join("unlearned.safetensors")).unwrap_err().to_string().contains(".pt"));

    // every registered method trains it unchanged (one short epoch where a method has epochs)
    for m in unlearn::unlearn::registry() {
        let opts = if m.defaults().get("epochs").is_some() {
            serde_json::json!({ "epochs": 1 })
        } else {
            serde_json::json!({})
        };
        let out = m.run_json(&input, &opts).unwrap_or_else(|e| panic!("{} on a TorchScript model: {e}", m.name()));
        let y = logits(&out.model, data.test.images());
        assert!(bool::try_from(y.isfinite().all()).unwrap(), "{}", m.name());
    }
    assert_eq!(original.digest().unwrap(), before, "the original is never changed");

    // Retrain starts from the untrained TorchScript given as `init`, and says it needs one
    let schedule = TrainConfig { epochs: 1, progress: false, ..Default::default() };
    let retrained = run(&Retrain, &input, &RetrainOptions(schedule.clone())).unwrap();
    assert!(retrained.model.spec.name().contains("scripted.pt"));
    let no_init = Model::load_torchscript(d.join("scripted.pt"), shape, 3, None, Device::Cpu).unwrap();
    let err = run(&Retrain, &UnlearnInput { original: &no_init, ..input }, &RetrainOptions(schedule))
        .unwrap_err()
        .to_string();
    assert!(err.contains("scripted.pt") && err.contains("init"), "{err}");
}

#[test]
fn files_that_are_not_classifiers_of_the_data_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let shape = [1, 8, 8];
    // not TorchScript at all
    let text = d.join("notes.pt");
    std::fs::write(&text, "not a model").unwrap();
    let err = Model::load_torchscript(&text, shape, 3, None, Device::Cpu).unwrap_err().to_string();
    assert!(err.contains("notes.pt") && err.contains("TorchScript"), "{err}");
    let err = Model::load_torchscript(d.join("missing.pt"), shape, 3, None, Device::Cpu).unwrap_err().to_string();
    assert!(err.contains("missing.pt"), "{err}");
    // ten outputs for data of three classes
    python(&["wrong", d.to_str().unwrap(), "1", "10"]);
    let err = Model::load_torchscript(d.join("wrong.pt"), shape, 3, None, Device::Cpu).unwrap_err().to_string();
    assert!(err.contains("wrong.pt") && err.contains("[2, 10]") && err.contains("3 classes"), "{err}");
    // three input channels for one-channel images
    python(&["wrong", d.to_str().unwrap(), "3", "3"]);
    let err = Model::load_torchscript(d.join("wrong.pt"), shape, 3, None, Device::Cpu).unwrap_err().to_string();
    assert!(err.contains("wrong.pt") && err.contains("1x8x8"), "{err}");
    // an `init` of another architecture
    python(&["wrong", d.to_str().unwrap(), "1", "3"]);
    std::fs::rename(d.join("wrong.pt"), d.join("good.pt")).unwrap();
    python(&["wrong", d.to_str().unwrap(), "1", "4"]);
    let err = Model::load_torchscript(d.join("good.pt"), shape, 3, Some(&d.join("wrong.pt")), Device::Cpu)
        .unwrap_err()
        .to_string();
    assert!(err.contains("wrong.pt"), "{err}");
}

#[test]
fn scripts_load_a_torchscript_model_for_their_data_and_save_it_back() {
    use std::collections::BTreeMap;
    use std::rc::Rc;
    use unlearn::script::{self, RunContext};
    let dir = tempfile::tempdir().unwrap();
    let data = data();
    let d = pytorch_models(dir.path(), &data);
    let out = d.join("results");
    let src = format!(
        r#"
        let data = synthetic(#{{ train: 240, test: 60, classes: 3, channels: 1, height: 8, width: 8, seed: 5 }});
        let m = load_model("{d}/scripted.pt", data.train, #{{ init: "{d}/init.pt" }});
        if !m.to_string().contains("TorchScript") {{ throw `not described as TorchScript: ${{m}}`; }}
        let request = forget_uniform(data.train, 0.1, #{{ seed: 1 }});
        let parts = data.test.reference_split(#{{ seed: 1 }});
        let r = unlearn(m, "a_cf", #{{ request: request, unseen: parts.unseen, progress: false }});
        save(r.model, "{out}/unlearned.pt");
        let again = unlearn(m, "retrain", #{{ request: request, epochs: 1, progress: false }});
        "#,
        d = d.display(),
        out = out.display()
    );
    let ctx = Rc::new(RunContext::new("ts.rhai", Device::Cpu, 1, out.clone(), BTreeMap::new()));
    script::run(&script::engine(ctx.clone(), None), "ts.rhai", &src).unwrap();
    let back = Model::load_torchscript(out.join("unlearned.pt"), [1, 8, 8], 3, None, Device::Cpu).unwrap();
    assert!(back.spec.name().contains("unlearned.pt"));
    // without the data, a TorchScript file is refused with what it needs; unknown options too
    for (call, expected) in [
        (format!(r#"load_model("{}/scripted.pt")"#, d.display()), "the data it classifies"),
        (
            format!(
                r#"load_model("{}/scripted.pt", synthetic(#{{ classes: 3, channels: 1, height: 8, width: 8 }}).train, #{{ inti: "x" }})"#,
                d.display()
            ),
            "inti",
        ),
    ] {
        let err = script::run(&script::engine(ctx.clone(), None), "ts.rhai", &call).unwrap_err();
        assert!(err.contains(expected), "{err}");
    }
}

fn state_dict_helper(args: &[&str]) {
    let py = unlearn::data::builtin::cache_dir().join("venv").join("bin").join("python");
    let helper = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/pytorch/state_dict.py");
    let out = Command::new(py).arg(helper).args(args).output().expect("the venv's python (run `make setup`)");
    assert!(out.status.success(), "state_dict.py {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn our_architectures_are_pytorch_state_dicts_both_ways() {
    use unlearn::models::{Arch, ModelSpec};
    tch::set_num_threads(1); // as PyTorch's side
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let x = Tensor::randn([4, 3, 16, 16], (tch::Kind::Float, Device::Cpu));
    x.write_npy(d.join("x.npy")).unwrap();
    let dims = ["3", "5", "16", "16"];
    // 1. unlearn -> PyTorch: a checkpoint of ours is the state dict of the shipped definitions
    //    (1e-5: the same libtorch kernels on one thread; GroupNorm's and our group_norm call agree)
    for (arch, name) in [(Arch::Resnet18, "resnet18"), (Arch::Convnet, "convnet3"), (Arch::Resnet50, "resnet50")] {
        let mut spec = ModelSpec::new(arch, [3, 16, 16], 5, 3);
        spec.width = 16;
        if arch == Arch::Convnet {
            spec.width = 128; // the definitions' default width, as a plain `ConvNet(c, k)` builds
        }
        let m = Model::new(spec, Device::Cpu).unwrap();
        let file = d.join(format!("{name}.safetensors"));
        m.save(&file).unwrap();
        let out = d.join(format!("{name}.npy"));
        state_dict_helper(
            &[
                &["logits", name, file.to_str().unwrap(), d.join("x.npy").to_str().unwrap(), out.to_str().unwrap()][..],
                &dims[..],
            ]
            .concat(),
        );
        let diff = max_abs_diff(&Tensor::read_npy(&out).unwrap(), &logits(&m, &x));
        assert!(diff < 1e-5, "{name}: PyTorch's logits differ from unlearn's by {diff}");
    }
    // 2. PyTorch -> unlearn: a PyTorch initialisation of the ConvNet, saved with safetensors.torch
    let file = d.join("torch_convnet.safetensors");
    state_dict_helper(&[&["init", "convnet3", file.to_str().unwrap()][..], &dims[..]].concat());
    let spec = ModelSpec::new(Arch::Convnet, [3, 16, 16], 5, 0);
    let m = Model::load_state_dict(&file, spec.clone(), Device::Cpu).unwrap();
    let out = d.join("torch_convnet.npy");
    state_dict_helper(&[&["logits", "convnet3", file.to_str().unwrap(), d.join("x.npy").to_str().unwrap(), out.to_str().unwrap()][..], &dims[..]].concat());
    let diff = max_abs_diff(&Tensor::read_npy(&out).unwrap(), &logits(&m, &x));
    assert!(diff < 1e-5, "unlearn's logits of a PyTorch state dict differ by {diff}");
    // without the architecture it is not a checkpoint of ours; with the wrong one, the names say so
    let err = Model::load(&file, Device::Cpu).unwrap_err().to_string();
    assert!(err.contains("torch_convnet.safetensors") && err.contains("arch"), "{err}");
    let err = Model::load_state_dict(&file, ModelSpec::new(Arch::Resnet18, [3, 16, 16], 5, 0), Device::Cpu)
        .unwrap_err()
        .to_string();
    assert!(err.contains("torch_convnet.safetensors") && err.contains("ResNet-18"), "{err}");
    let mut shallow = spec.clone();
    shallow.depth = 2;
    let err = Model::load_state_dict(&file, shallow, Device::Cpu).unwrap_err().to_string();
    assert!(err.contains("unexpected features.2.conv.bias"), "{err}");
    let mut narrow = spec;
    narrow.width = 64;
    let err = Model::load_state_dict(&file, narrow, Device::Cpu).unwrap_err().to_string();
    assert!(err.contains("shape"), "{err}");
}
