//! `unlearn forget`: a classifier trained in real PyTorch (examples/pytorch/mnist_cnn.py, on a
//! small export of the built-in digits) forgets an index file and a class in one command; the
//! files it writes, the record's hashes, the report page in a real browser, and the errors.
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn python() -> PathBuf {
    unlearn::data::builtin::cache_dir().join("venv").join("bin").join("python")
}

fn example(args: &[&str]) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/pytorch/mnist_cnn.py");
    let out = Command::new(python()).arg(script).args(args).output().expect("the venv's python (run `make setup`)");
    assert!(out.status.success(), "mnist_cnn.py {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

fn forget(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_unlearn"))
        .current_dir(dir)
        .args(["forget", "--device", "cpu", "--data", "mnist:mnist", "--mean", "0.1307", "--std", "0.3081"])
        .args(args)
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn sha256_file(path: &Path) -> String {
    unlearn::resume::sha256_hex(&std::fs::read(path).unwrap())
}

/// 100 digits of each class (80 train, 20 test), a PyTorch model and its untrained twin.
fn setup(dir: &Path) {
    example(&["export-builtin", dir.join("mnist").to_str().unwrap(), "100"]);
    example(&["train", dir.join("mnist").to_str().unwrap(), dir.join("model").to_str().unwrap()]);
}

#[test]
fn one_command_forgets_from_a_pytorch_model_and_records_it() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    setup(d);
    let input_sha = sha256_file(&d.join("model/model.pt"));
    std::fs::write(d.join("forget.txt"), "# deletion request 1\n3, 17, 42\n100 101\n").unwrap();
    let o = forget(d, &["--model", "model/model.pt", "--forget", "forget.txt", "--out", "out1", "--blend", "ipc=2"]);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(t.contains("method: a_cf (the request is a subset"), "the choice and its reason are printed: {t}");
    assert!(t.contains("a_cf+blend") && t.contains("before"), "{t}");
    // the input is untouched; the output is TorchScript that loads for this data
    assert_eq!(sha256_file(&d.join("model/model.pt")), input_sha);
    let out = d.join("out1");
    let data = unlearn::data::source::load(
        &format!("mnist:{}", d.join("mnist").display()),
        &unlearn::data::LoadOptions { mean: Some(vec![0.1307]), std: Some(vec![0.3081]), ..Default::default() },
        tch::Device::Cpu,
    )
    .unwrap();
    unlearn::models::Model::load_file(
        out.join("unlearned.pt"),
        Some(&data.train),
        &Default::default(),
        tch::Device::Cpu,
    )
    .unwrap();
    // the record: what, by what, hashes that match the files, before and after
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("deletion-record.json")).unwrap()).unwrap();
    assert_eq!(record["request"]["forgotten"], 5);
    assert_eq!(record["request"]["indices_sha256"], unlearn::resume::sha256_hex(b"[3,17,42,100,101]"));
    assert_eq!(record["input_model"]["sha256"], input_sha);
    assert_eq!(record["output_model"]["sha256"], sha256_file(&out.join("unlearned.pt")));
    assert_eq!(record["method"], "a_cf");
    assert_eq!(record["method_options"]["lambda"], 34.0, "full options, defaults filled in");
    assert_eq!(record["condensation"]["method"], "blend");
    assert_eq!(record["condensation"]["ipc"], 2);
    for side in ["before", "after"] {
        assert!(record[side]["metrics"]["forget_acc"].is_number(), "{side}");
    }
    assert!(record["versions"]["libtorch"].is_string() || record["versions"].is_object());
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["table"]["rows"].as_array().unwrap().len(), 2);
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(
        html.contains("<table>") && html.matches("data:image/png;base64,").count() == 2,
        "losses and blend grid inline"
    );
    // a second job into the same folder keeps the first record unless told to replace it
    let o = forget(d, &["--model", "model/model.pt", "--forget", "forget.txt", "--out", "out1"]);
    assert!(!o.status.success() && text(&o).contains("--overwrite"), "{}", text(&o));

    // a whole class: SalUn by default, and the class is gone
    let o = forget(d, &["--model", "model/model.pt", "--forget", "class:7", "--out", "out2", "--option", "epochs=2"]);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(t.contains("method: salun (the request is a whole class"), "{t}");
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("out2/deletion-record.json")).unwrap()).unwrap();
    assert_eq!(record["method_options"]["epochs"], 2);
    assert_eq!(record["request"]["forgotten"], 80);
    assert!(record["condensation"].is_null());
    check_in_browser(&d.join("out1/report.html"));

    // an unlearn checkpoint and a request saved by a script: the result is a checkpoint again
    let mut spec = unlearn::models::ModelSpec::new(unlearn::models::Arch::Convnet, [1, 28, 28], 10, 1);
    spec.width = 8;
    unlearn::models::Model::new(spec, tch::Device::Cpu).unwrap().save(d.join("ours.safetensors")).unwrap();
    let request = unlearn::data::request::ForgetRequest::indices(&data.train, &[5, 6, 7], "test").unwrap();
    request.save(d.join("request.json")).unwrap();
    let o = forget(
        d,
        &[
            "--model",
            "ours.safetensors",
            "--forget",
            "request.json",
            "--out",
            "out3",
            "--method",
            "finetune",
            "--option",
            "epochs=1",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    // three images are too few for the MIA: not measured, and the table says so
    assert!(text(&o).contains("MIA: not measured"), "{}", text(&o));
    let back = unlearn::models::Model::load(d.join("out3/unlearned.safetensors"), tch::Device::Cpu).unwrap();
    assert_eq!(back.spec.width, 8);
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("out3/deletion-record.json")).unwrap()).unwrap();
    assert_eq!(record["request"]["forgotten"], 3);
    assert_eq!(record["method"], "finetune");
    assert_eq!(record["after"]["metrics"]["mia"]["n"], 0);
    assert!(record["after"]["metrics"]["mia"]["score"].is_null());
}

#[test]
fn bad_requests_and_models_are_errors_that_name_them() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    setup(d);
    std::fs::write(d.join("far.txt"), "1 2 99999").unwrap();
    let helper = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/pytorch/small_cnn.py");
    let made = Command::new(python()).arg(helper).args(["wrong", d.to_str().unwrap(), "1", "7"]).output().unwrap();
    assert!(made.status.success());
    let cases: [(&[&str], &[&str]); 6] = [
        (&["--model", "model/model.pt", "--forget", "class:eleven"], &["eleven"]),
        (&["--model", "model/model.pt", "--forget", "far.txt"], &["far.txt", "99999"]),
        (&["--model", "model/model.pt", "--forget", "nothing.txt"], &["nothing.txt", "class:NAME"]),
        (&["--model", "wrong.pt", "--forget", "class:1"], &["wrong.pt", "[2, 7]", "10 classes"]),
        (&["--model", "model/model.pt", "--forget", "class:1", "--method", "a_cff"], &["a_cff", "a_cf"]),
        (&["--model", "model/model.pt", "--forget", "class:1", "--blend", "ipc=0"], &["--blend", "ipc=N"]),
    ];
    for (args, expected) in cases {
        let o = forget(d, &[args, &["--out", "bad"][..]].concat());
        let t = text(&o);
        assert!(!o.status.success(), "{args:?} succeeded");
        for e in expected {
            assert!(t.contains(e), "{args:?}: `{e}` not in: {t}");
        }
        assert!(!d.join("bad/deletion-record.json").exists(), "{args:?}: no record of a failed job");
    }
}

/// Renders the page in headless Chromium (Debian's `chromium`, installed by the set-up): it must
/// log no console error and must not be blank.
fn check_in_browser(page: &Path) {
    if std::env::var_os("UNLEARN_SKIP_BROWSER").is_some() {
        eprintln!("UNLEARN_SKIP_BROWSER set: the report page is not checked in a browser");
        return;
    }
    let shot = page.with_file_name("report.png");
    let o = Command::new("chromium")
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--enable-logging=stderr", "--v=0"])
        .arg(format!("--screenshot={}", shot.display()))
        .arg("--window-size=1200,1600")
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("headless Chromium to check the report page (`apt-get install chromium`, done by `make setup` as root; UNLEARN_SKIP_BROWSER=1 skips the check)");
    let log = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "chromium failed: {log}");
    let console: Vec<&str> = log.lines().filter(|l| l.contains("CONSOLE") || l.contains("Uncaught")).collect();
    assert!(console.is_empty(), "console messages on the report page: {console:?}");
    let img = image::open(&shot).expect("a screenshot").to_rgb8();
    let dark = img.pixels().filter(|p| p.0.iter().map(|&c| c as u32).sum::<u32>() < 300).count();
    let colours: std::collections::HashSet<[u8; 3]> = img.pixels().map(|p| p.0).collect();
    assert!(dark > 2_000 && colours.len() > 50, "a blank page: {dark} dark pixels, {} colours", colours.len());
}
