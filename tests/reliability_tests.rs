//! Issue 9: bad input gets a clear error, runs are bounded (limits, timeout, allowed folders),
//! outputs are never half-written (a killed run here; the atomic write itself is a unit test in
//! src/io.rs), and CPU runs repeat bit for bit.
mod common;
use common::{mat_file, matrix};
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};
use tch::Device;
use unlearn::condense::{condense, CondenseConfig, CondenseInput};
use unlearn::data::request::ForgetRequest;
use unlearn::data::synthetic::{synthetic, SyntheticOptions};
use unlearn::data::{Dataset, LoadOptions};
use unlearn::models::{Arch, Model, ModelSpec};
use unlearn::unlearn::{method, UnlearnInput};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_unlearn")
}

/// Runs `source` as a script in `dir` (also the output folder) with extra CLI arguments.
fn run(dir: &Path, source: &str, args: &[&str]) -> Output {
    let script = dir.join("s.rhai");
    std::fs::write(&script, source).unwrap();
    Command::new(bin())
        .args(["run", script.to_str().unwrap(), "--device", "cpu", "--out", dir.to_str().unwrap()])
        .args(args)
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn operation_limit_and_timeout_stop_runaway_scripts() {
    let dir = tempfile::tempdir().unwrap();
    let o = run(dir.path(), "let i = 0;\nloop { i += 1; }\n", &["--limit", "operations=100000"]);
    assert!(!o.status.success());
    assert!(stderr(&o).to_lowercase().contains("operations") && stderr(&o).contains("s.rhai:2"), "{}", stderr(&o));

    // the timeout ends a script loop ...
    let t = Instant::now();
    let o = run(dir.path(), "let i = 0;\nloop { i += 1; }\n", &["--limit", "operations=0", "--timeout", "1"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("--timeout of 1 s"), "{}", stderr(&o));
    assert!(t.elapsed() < Duration::from_secs(30));
    // ... and a long native call (training) at its next check
    let train = "let d = synthetic(#{ train: 2000, test: 100, classes: 4, channels: 1, height: 8, width: 8 });\n\
                 let m = convnet3(d, #{ width: 8 });\n\
                 train(m, d.train, #{ epochs: 100000, batch_size: 8, progress: false });\n";
    let t = Instant::now();
    let o = run(dir.path(), train, &["--timeout", "2"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("--timeout of 2 s"), "{}", stderr(&o));
    assert!(t.elapsed() < Duration::from_secs(60), "stopped after {:?}", t.elapsed());

    for (args, want) in [
        (vec!["--limit", "speed=3"], "unknown limit `speed`"),
        (vec!["--limit", "operations"], "expected NAME=VALUE"),
        (vec!["--timeout=0"], "--timeout 0"),
        (vec!["--limit", "call_depth=4"], "Stack overflow"),
    ] {
        let src = "fn f(n) { if n == 0 { 0 } else { f(n - 1) } }\nf(10);\n";
        let o = run(dir.path(), src, &args);
        assert!(!o.status.success() && stderr(&o).contains(want), "{args:?}: {}", stderr(&o));
    }
}

#[test]
fn script_paths_stay_under_the_allowed_folders() {
    let work = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let target = elsewhere.path().join("m.safetensors");
    let src = format!(
        "let d = synthetic(#{{ train: 20, test: 10, classes: 2, channels: 1, height: 8, width: 8 }});\n\
         let m = convnet3(d, #{{ width: 4 }});\nm.save(\"{}\");\n",
        target.display()
    );
    let o = run(work.path(), &src, &[]);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(
        e.contains("outside the folders this run may use") && e.contains("--allow") && e.contains("s.rhai:3"),
        "{e}"
    );
    assert!(!target.exists());
    // allowed explicitly, or any path
    let o = run(work.path(), &src, &["--allow", elsewhere.path().to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(target.is_file());
    std::fs::remove_file(&target).unwrap();
    let o = run(work.path(), &src, &["--allow-any-path"]);
    assert!(o.status.success(), "{}", stderr(&o));
    // reads too, and `..` cannot climb out of the output folder
    let o = run(work.path(), "let d = mnist(\"/no/such/mnist\");\n", &[]);
    assert!(stderr(&o).contains("dataset folder `/no/such/mnist`"), "{}", stderr(&o));
    let o = run(work.path(), "out_path(\"../../../../x\")\n", &[]);
    assert!(stderr(&o).contains("output path"), "{}", stderr(&o));
    // imports are reads too
    std::fs::write(elsewhere.path().join("helper.rhai"), "fn twice(x) { 2 * x }\n").unwrap();
    let src = format!("import \"{}/helper\" as h;\nprint(h::twice(21));\n", elsewhere.path().display());
    let o = run(work.path(), &src, &[]);
    assert!(!o.status.success() && stderr(&o).contains("imported module"), "{}", stderr(&o));
    let o = run(work.path(), &src, &["--allow", elsewhere.path().to_str().unwrap()]);
    assert!(o.status.success() && String::from_utf8_lossy(&o.stdout).contains("42"), "{}", stderr(&o));
}

#[test]
fn cpu_runs_with_the_same_seed_and_threads_are_bitwise_identical() {
    let src = "let d = synthetic(#{ train: 200, test: 50, classes: 4, channels: 1, height: 8, width: 8 });\n\
               let m = convnet3(d, #{ width: 8 });\n\
               train(m, d.train, #{ epochs: 2, batch_size: 16, progress: false });\n\
               let r = forget_uniform(d.train, 0.1, #{});\n\
               let u = unlearn(m, \"finetune\", #{ request: r, epochs: 1, progress: false });\n\
               u.model.save(out_path(\"u.safetensors\"));\n\
               save_result(\"run\", #{ accuracy: accuracy(u.model, d.test) });\n";
    let runs: Vec<(Vec<u8>, serde_json::Value)> = (0..2)
        .map(|_| {
            let dir = tempfile::tempdir().unwrap();
            let o = run(dir.path(), src, &["--seed", "7", "--threads", "2"]);
            assert!(o.status.success(), "{}", stderr(&o));
            let record: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(dir.path().join("run.json")).unwrap()).unwrap();
            (std::fs::read(dir.path().join("u.safetensors")).unwrap(), record)
        })
        .collect();
    assert!(runs[0].0 == runs[1].0, "the two checkpoints differ");
    assert_eq!(runs[0].1["result"]["accuracy"], runs[1].1["result"]["accuracy"]);
    let determinism = runs[0].1["run"]["determinism"].as_str().unwrap();
    assert!(determinism.starts_with("deterministic") && determinism.contains("2 threads"), "{determinism}");
    assert_eq!(runs[0].1["run"]["versions"]["threads"], 2);
}

fn data(train: usize, classes: usize, seed: u64) -> (Dataset, Dataset) {
    let o = SyntheticOptions { train, test: train, classes, channels: 1, height: 8, width: 8, separation: 0.5, seed };
    let s = synthetic(&o, &LoadOptions::default(), Device::Cpu).unwrap();
    (s.train, s.test)
}

fn small_model(d: &Dataset) -> Model {
    let mut spec = ModelSpec::new(Arch::Convnet, d.image_shape(), d.num_classes(), 1);
    spec.width = 8;
    Model::new(spec, Device::Cpu).unwrap()
}

#[test]
fn blend_with_a_class_smaller_than_ipc_and_a_request_that_empties_a_class() {
    // class 3 has 6 images, ipc is 20: one cluster per image there
    let (full, unseen) = data(200, 4, 2);
    let keep: Vec<i64> = (0..full.len() as i64)
        .filter(|&i| full.labels_host()[i as usize] != 3)
        .chain((0..full.len() as i64).filter(|&i| full.labels_host()[i as usize] == 3).take(6))
        .collect();
    let train = full.subset(&keep, "uneven").unwrap();
    assert_eq!(train.class_counts()[3], 6);
    let cfg = CondenseConfig::from_json("condense", &serde_json::json!({ "ipc": 20, "iters": 2 })).unwrap();
    let request = ForgetRequest::uniform(&train, 0.1, true, 1).unwrap();
    let r = condense(
        &CondenseInput { train: &train, request: &request, clustering: None, feature_model: None, seed: 1 },
        &cfg,
    )
    .unwrap();
    let clustering = r.clustering.as_ref().unwrap();
    let used: std::collections::HashSet<i64> =
        (0..train.len()).filter(|&i| train.labels_host()[i] == 3).map(|i| clustering.assignment[i]).collect();
    assert!(used.len() <= 6, "class 3 uses {} clusters for 6 images", used.len());
    assert!(r.dataset.len() <= request.retain.len());

    // forgetting every image of class 1: Blend and the unlearning methods still run, and nothing
    // of class 1 is retained
    let request = ForgetRequest::classes(&train, &[1]).unwrap();
    let r = condense(
        &CondenseInput { train: &train, request: &request, clustering: None, feature_model: None, seed: 1 },
        &cfg,
    )
    .unwrap();
    assert_eq!(r.dataset.class_counts()[1], 0);
    let model = small_model(&train);
    for (name, options) in [
        ("finetune", serde_json::json!({ "epochs": 1, "progress": false })),
        ("a_cf", serde_json::json!({ "progress": false, "batch_size": 32 })),
    ] {
        let input = UnlearnInput {
            original: &model,
            train: &train,
            request: &request,
            retain: Some(&r.dataset),
            unseen: Some(&unseen),
            seed: 1,
            progress: false,
        };
        method(name).unwrap().run_json(&input, &options).unwrap();
    }
}

#[test]
fn oversized_requests_and_diverging_unlearning_are_clear_errors() {
    let (train, unseen) = data(40, 4, 3);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("forget.txt");
    let all: Vec<String> = (0..40).map(|i| i.to_string()).collect();
    std::fs::write(&file, all.join(" ")).unwrap();
    let e = ForgetRequest::indices_file(&train, &file).unwrap_err().to_string();
    assert!(e.contains("forget.txt") && e.contains("retain"), "forgetting everything: {e}");
    std::fs::write(&file, (0..41).map(|i| i.to_string()).collect::<Vec<_>>().join(" ")).unwrap();
    let e = ForgetRequest::indices_file(&train, &file).unwrap_err().to_string();
    assert!(e.contains("forget.txt") && e.contains("40"), "more indices than images: {e}");
    assert!(ForgetRequest::uniform(&train, 1.5, false, 1).is_err());

    // NaN in unlearning: the error names the epoch and the batch
    let request = ForgetRequest::uniform(&train, 0.25, false, 1).unwrap();
    let model = small_model(&train);
    let input = UnlearnInput {
        original: &model,
        train: &train,
        request: &request,
        retain: None,
        unseen: Some(&unseen),
        seed: 1,
        progress: false,
    };
    let e = method("a_cf")
        .unwrap()
        .run_json(&input, &serde_json::json!({ "lr": 1e30, "batch_size": 4 }))
        .unwrap_err()
        .to_string();
    assert!(e.contains("non-finite loss") && e.contains("epoch 1") && e.contains("batch"), "{e}");
}

#[test]
fn checkpoints_for_another_model_or_tampered_headers_are_rejected() {
    let (train, _) = data(40, 4, 4);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    small_model(&train).save(&path).unwrap();
    // a 10-class dataset cannot train a 4-class checkpoint
    let (ten, _) = data(100, 10, 5);
    let mut m = Model::load(&path, Device::Cpu).unwrap();
    let e = unlearn::train::train(&mut m, &ten, &Default::default(), 0).unwrap_err().to_string();
    assert!(e.contains("10 classes") && e.contains("outputs 4"), "{e}");
    // the header's spec edited (class count, width) without the tensors: shape errors, and a
    // spec implying more parameters than the file holds is refused before anything is allocated
    let bytes = std::fs::read(&path).unwrap();
    let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header = std::str::from_utf8(&bytes[8..8 + header_len]).unwrap().to_string();
    for (from, to, want) in [
        ("\\\"num_classes\\\":4", "\\\"num_classes\\\":5", "shape"),
        ("\\\"width\\\":8", "\\\"width\\\":7", "shape"),
        ("\\\"width\\\":8", "\\\"width\\\":900000", "more than the file's"),
        ("\\\"width\\\":8", "\\\"width\\\":9223372036854775807", "more than the file's"),
        ("\\\"in_channels\\\":1", "\\\"in_channels\\\":1099511627776", "more than the file's"),
        ("\\\"arch\\\":\\\"convnet\\\"", "\\\"arch\\\":\\\"resnet50\\\"", "more than the file's"),
    ] {
        assert!(header.contains(from), "{from} not in the header {header}");
        let edited = header.replacen(from, to, 1);
        let mut out = (edited.len() as u64).to_le_bytes().to_vec();
        out.extend_from_slice(edited.as_bytes());
        out.extend_from_slice(&bytes[8 + header_len..]);
        std::fs::write(&path, &out).unwrap();
        let e = Model::load(&path, Device::Cpu).unwrap_err().to_string();
        assert!(e.contains("m.safetensors") && e.contains(want), "{to}: {e}");
    }
    // empty files of every format name the file
    std::fs::write(&path, b"").unwrap();
    assert!(Model::load(&path, Device::Cpu).unwrap_err().to_string().contains("m.safetensors"));
    for f in [
        "data_batch_1.bin",
        "data_batch_2.bin",
        "data_batch_3.bin",
        "data_batch_4.bin",
        "data_batch_5.bin",
        "test_batch.bin",
    ] {
        std::fs::write(dir.path().join(f), b"").unwrap();
    }
    let e =
        unlearn::data::cifar::load_cifar10(dir.path(), &LoadOptions::default(), Device::Cpu).unwrap_err().to_string();
    assert!(e.contains("data_batch_1.bin"), "{e}");
    let mat = dir.path().join("train_32x32.mat");
    std::fs::write(&mat, b"").unwrap();
    let e = unlearn::data::svhn::read_svhn_mat(&mat).unwrap_err().to_string();
    assert!(e.contains("train_32x32.mat"), "{e}");
}

#[test]
fn a_killed_multi_seed_run_keeps_its_finished_seeds_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let sets = ["take=400", "width=8", "epochs=1", "ipc=4", "seeds=3", "methods=retrain,finetune"];
    let command = || {
        let mut c = Command::new(bin());
        c.current_dir(env!("CARGO_MANIFEST_DIR")).args(["run", "scripts/single_round.rhai", "--out"]).arg(dir.path());
        for s in sets {
            c.args(["--set", s]);
        }
        c
    };
    // killed (SIGKILL) once seed 1 is on disk
    let mut child = command().stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).spawn().unwrap();
    let seed1 = dir.path().join("single_round_seed_1.json");
    let t = Instant::now();
    while !seed1.exists() {
        assert!(t.elapsed() < Duration::from_secs(300), "seed 1 never finished");
        assert!(child.try_wait().unwrap().is_none(), "the run ended before it could be killed");
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    // what was written is whole
    let record: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&seed1).unwrap()).unwrap();
    assert_eq!(record["result"]["rows"].as_array().unwrap().len(), 4, "2 settings x 2 methods");
    assert!(!dir.path().join("single_round.csv").exists(), "killed before the summary");
    // the rerun reuses seed 1 and finishes
    let o = command().output().unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{text}{}", stderr(&o));
    assert!(text.contains("seed 1: reusing"), "{text}");
    let summary = std::fs::read_to_string(dir.path().join("single_round.csv")).unwrap();
    assert_eq!(summary.lines().count(), 1 + 4, "{summary}");
    assert!(summary.lines().skip(1).all(|l| l.contains(",3,")), "three seeds per group: {summary}");
}

#[test]
fn svhn_with_wrong_dimensions_names_what_it_expected() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("train_32x32.mat");
    let y: Vec<u8> = [1.0f64, 2.0].iter().flat_map(|v| v.to_le_bytes()).collect();
    let x = vec![7u8; 28 * 28 * 3 * 2];
    std::fs::write(&path, mat_file(&[matrix("X", 9, &[28, 28, 3, 2], 2, &x), matrix("y", 6, &[2, 1], 9, &y)], false))
        .unwrap();
    let e = unlearn::data::svhn::read_svhn_mat(&path).unwrap_err().to_string();
    assert!(e.contains("train_32x32.mat") && e.contains("32") && e.contains("28"), "{e}");
}

/// Issue 17: a checkpoint whose weights hold NaN (a diverged run) is refused when loaded, naming
/// the file and the tensor, instead of a model that predicts one class.
#[test]
fn a_checkpoint_with_nan_weights_is_refused() {
    let (train, _) = data(40, 4, 4);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("diverged.safetensors");
    let m = small_model(&train);
    tch::no_grad(|| {
        let mut vars: Vec<_> = m.var_store().variables().into_iter().collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        let _ = vars[0].1.get(0).fill_(f64::NAN);
    });
    m.save(&path).unwrap();
    let e = Model::load(&path, Device::Cpu).unwrap_err().to_string();
    assert!(e.contains("diverged.safetensors") && e.contains("NaN or infinite"), "{e}");
}
