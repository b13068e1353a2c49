//! The script engine and the CLI: options, errors with positions, the stdlib, results on disk.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::rc::Rc;
use tch::Device;
use unlearn::script::{self, RunContext};

fn run_source(src: &str, out: &Path, options: &[(&str, &str)]) -> Result<(), String> {
    let opts: BTreeMap<String, String> = options.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let ctx = Rc::new(RunContext::new("test.rhai", Device::Cpu, 3, out.to_path_buf(), opts));
    let engine = script::engine(ctx, None);
    script::run(&engine, "test.rhai", src)
}

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_unlearn"))
}

#[test]
fn unknown_option_key_is_rejected_with_a_suggestion_and_position() {
    let dir = tempfile::tempdir().unwrap();
    let src = "let data = builtin(\"mnist\");\nlet m = convnet3(data, #{ width: 8 });\nlet model = train(m, data.train, #{ epoch: 8 });\n";
    let err = run_source(src, dir.path(), &[]).unwrap_err();
    assert!(err.contains("unknown option `epoch` for train() — did you mean `epochs`?"), "{err}");
    assert!(err.contains("--> test.rhai:3:13"), "{err}");
    assert!(err.contains("3 | let model = train("), "{err}");
}

#[test]
fn wrong_option_type_names_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let src = "let data = builtin(\"mnist\");\nlet m = convnet3(data, #{ width: \"wide\" });\n";
    let err = run_source(src, dir.path(), &[]).unwrap_err();
    assert!(err.contains("option `width` of convnet3()") && err.contains("expected i64"), "{err}");
    assert!(err.contains("test.rhai:2:9"), "{err}");
}

#[test]
fn load_data_names_a_dataset_in_one_string_and_says_what_it_expects() {
    let dir = tempfile::tempdir().unwrap();
    let ok = "let d = load_data(\"builtin\"); if d.train.len() != 8000 { throw `train ${d.train.len()}`; }";
    run_source(ok, dir.path(), &[]).unwrap();
    let err = run_source("load_data(\"nope\")", dir.path(), &[]).unwrap_err();
    assert!(err.contains("nope") && err.contains("KIND:PATH"), "{err}");
    let err = run_source("load_data(\"tiff:pictures\")", dir.path(), &[]).unwrap_err();
    assert!(err.contains("tiff") && err.contains("image_folder"), "{err}");
    // a folder is resolved and checked as the loaders' are
    let err = run_source("load_data(\"cifar10:/nowhere/cifar\")", dir.path(), &[]).unwrap_err();
    assert!(err.contains("/nowhere/cifar"), "{err}");
}

#[test]
fn runtime_errors_carry_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let err = run_source("let a = 1;\n\n  let b = a.no_such_method();\n", dir.path(), &[]).unwrap_err();
    assert!(err.contains("--> test.rhai:3:13"), "{err}");
    assert!(err.contains("Function not found: no_such_method"), "{err}");
    // errors inside stdlib functions point into the stdlib and name the call site
    let src =
        "import \"experiments\" as ex;\nlet data = builtin(\"mnist\");\nex::original_model(data, \"vgg\", #{});\n";
    let err = run_source(src, dir.path(), &[]).unwrap_err();
    assert!(err.contains("invalid architecture `vgg`"), "{err}");
    assert!(err.contains("--> stdlib/experiments.rhai:"), "{err}");
    assert!(err.contains("note: in call to `original_model` at test.rhai:3:"), "{err}");
}

#[test]
fn syntax_errors_carry_line_and_column() {
    let engine = script::offline_engine(None);
    let err = script::check(&engine, "bad.rhai", "let x = 1;\nlet y = (x + ;\n").unwrap_err();
    assert!(err.contains("syntax error") && err.contains("--> bad.rhai:2:14"), "{err}");
}

#[test]
fn options_from_the_command_line_are_typed() {
    let dir = tempfile::tempdir().unwrap();
    let src = r#"
        let e = option("epochs", 3);
        if type_of(e) != "i64" || e != 7 { throw `epochs ${e}`; }
        let lr = option("lr", 0.1);
        if lr != 0.5 { throw `lr ${lr}`; }
        let name = option("name", "x");
        if name != "hello" { throw name; }
        if option("absent", 42) != 42 { throw "default"; }
        if seed() != 3 || device() != "cpu" { throw "context"; }
    "#;
    run_source(src, dir.path(), &[("epochs", "7"), ("lr", "0.5"), ("name", "hello")]).unwrap();
    let err = run_source("option(\"epochs\", 3);", dir.path(), &[("epochs", "many")]).unwrap_err();
    assert!(err.contains("--set epochs=many: expected an integer"), "{err}");
}

#[test]
fn a_script_trains_saves_and_records_its_run() {
    let dir = tempfile::tempdir().unwrap();
    let src = r#"
        let data = builtin("mnist");
        let small = data.train.subset(0..512);
        let m = convnet3(data, #{ width: 16 });
        train(m, small, #{ epochs: 1, lr: 0.05, progress: false });
        let acc = accuracy(m, data.test);
        if acc < 0.3 { throw `accuracy ${acc}`; }
        let path = m.save(out_path("m.safetensors"));
        let again = load_model(path);
        if accuracy(again, data.test) != acc { throw "reloaded model differs"; }
        if m.history.len() != 1 || m.history[0].epochs.len() != 1 { throw "history"; }
        save_result(#{ test_accuracy: acc, params: m.params });
    "#;
    run_source(src, dir.path(), &[]).unwrap();
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("result.json")).unwrap()).unwrap();
    assert!(json["result"]["test_accuracy"].as_f64().unwrap() >= 0.3);
    assert_eq!(json["run"]["seed"], 3);
    assert_eq!(json["run"]["device"], "cpu");
    assert_eq!(json["run"]["versions"]["libtorch"].as_str().unwrap().split('+').next(), Some("2.11.0"));
    assert!(json["run"]["started"].as_str().is_some() && json["written"].as_str().is_some());
}

#[test]
fn cli_check_fails_on_a_syntax_error_and_passes_the_shipped_scripts() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.rhai");
    std::fs::write(&bad, "let x = ;\n").unwrap();
    let out = Command::new(bin()).args(["check", bad.to_str().unwrap()]).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("bad.rhai:1:9"), "{stderr}");
    let scripts = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts");
    for entry in std::fs::read_dir(scripts).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "rhai") {
            let out = Command::new(bin()).args(["check", path.to_str().unwrap()]).output().unwrap();
            assert!(out.status.success(), "{}: {}", path.display(), String::from_utf8_lossy(&out.stderr));
        }
    }
}

#[test]
fn cli_run_reports_errors_and_bad_devices() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("s.rhai");
    std::fs::write(&script, "let x = 1;\nthrow \"stop here\";\n").unwrap();
    let out = Command::new(bin()).args(["run", script.to_str().unwrap(), "--device", "cpu"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("stop here") && stderr.contains("s.rhai:2:1"), "{stderr}");
    let out = Command::new(bin()).args(["run", "/no/such/script.rhai"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/no/such/script.rhai"));
    if !tch::Cuda::is_available() {
        let out = Command::new(bin()).args(["run", script.to_str().unwrap(), "--device", "cuda"]).output().unwrap();
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("no CUDA device is available"), "{stderr}");
    }
    let out = Command::new(bin()).args(["run", script.to_str().unwrap(), "--set", "novalue"]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("expected KEY=VALUE"));
}

#[test]
fn cli_functions_lists_the_script_api_and_version_reports_libtorch() {
    let out = Command::new(bin()).arg("functions").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for f in [
        "builtin(",
        "mnist(",
        "convnet3(",
        "resnet18(",
        "train(",
        "accuracy(",
        "load_model(",
        "option(",
        "save_result(",
    ] {
        assert!(text.contains(f), "`unlearn functions` lacks {f}:\n{text}");
    }
    for m in unlearn::unlearn::registry() {
        assert!(text.contains(&format!("\n{:<14}", m.name())), "`unlearn functions` lacks method {}", m.name());
    }
    // grouped by domain, script-level types only, the overloads the README uses, the stdlib
    for want in [
        "== data ==",
        "== unlearning ==",
        "== evaluation and tables ==",
        "mia(item: any, members: Dataset, nonmembers: Dataset) -> any",
        "plot_blend(reduced: ReducedRetainSet, train: Dataset) -> Figure",
        "shadow_models(model: Model, request: Request, heldout: Dataset, options: map) -> ShadowBank",
        "subset(d: Dataset, range: range) -> Dataset",
        "== stdlib experiments (import \"experiments\" as ex;) ==",
        "ex::single_round(cfg)",
        "ex::run_methods(model, names, inputs, options)",
        "options: {\"batch_size\":64",
    ] {
        assert!(text.contains(want), "`unlearn functions` lacks {want}");
    }
    assert!(!text.contains("Rc<") && !text.contains("std::") && !text.contains("RhaiResult"), "Rust types shown");
    // a filter word keeps what mentions it
    let out = Command::new(bin()).args(["functions", "shadow"]).output().unwrap();
    let filtered = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && filtered.contains("shadow_models(") && !filtered.contains("builtin("),
        "{filtered}"
    );
    let out = Command::new(bin()).args(["functions", "zzzz-nothing"]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("no script function, method or profile matches"));
    // --json: the same catalogue, machine-readable
    let out = Command::new(bin()).args(["functions", "--json", "train"]).output().unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = json["functions"].as_array().unwrap().iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert!(names.contains(&"train") && json["functions"][0]["domain"].is_string(), "{json}");
    assert!(json["methods"].as_array().unwrap().iter().any(|m| m["name"] == "retrain"), "{json}");
    // --definitions: rhai definition files for editors, in script names
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(bin()).args(["functions", "--definitions"]).arg(dir.path()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let defs = std::fs::read_to_string(dir.path().join("__static__.d.rhai")).unwrap();
    assert!(defs.contains("fn train(model: Model, data: Dataset, options: map) -> Model;"), "{defs}");
    assert!(!defs.contains("RhaiResult") && !defs.contains("ModelHandle"));
    let stdlib = std::fs::read_to_string(dir.path().join("experiments.d.rhai")).unwrap();
    assert!(stdlib.starts_with("module experiments;") && stdlib.contains("fn single_round(cfg: ?) -> ?;"), "{stdlib}");
    let out = Command::new(bin()).arg("--version").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("libtorch 2.11.0") && text.contains("CUDA available:"), "{text}");
}

#[test]
fn datasets_splits_and_requests_from_a_script() {
    let dir = tempfile::tempdir().unwrap();
    let req_path = dir.path().join("req.json");
    let src = format!(
        r#"
        let data = synthetic(#{{ train: 200, test: 100, classes: 4, channels: 1, height: 8, width: 8, seed: 2 }});
        if data.train.len() != 200 || data.train.classes.len() != 4 {{ throw "synthetic"; }}
        let parts = data.test.reference_split(#{{ seed: 1 }});
        if parts.unseen.len() != 70 || parts.evaluation.len() != 30 {{ throw `reference split ${{parts.unseen.len()}}`; }}
        let halves = data.train.split(0.5);
        if halves.first.len() != 100 {{ throw "split"; }}
        let r = forget_uniform(data.train, 0.1, #{{ seed: 3, stratified: true }});
        if r.size != 20 || r.retain.len() != 180 || r.forget.len() != 20 {{ throw "uniform"; }}
        if r.definition.kind != "uniform" || r.definition.seed != 3 {{ throw "definition"; }}
        r.save("{req}");
        let again = load_request("{req}", data.train);
        if again.forget_indices != r.forget_indices {{ throw "replay"; }}
        let c = forget_class(data.train, "class2");
        if c.size != 50 {{ throw `class ${{c.size}}`; }}
        if forget_classes(data.train, [0, 1]).size != 100 {{ throw "classes"; }}
        if forget_indices(data.train, [5, 1]).forget_indices != [1, 5] {{ throw "indices"; }}
        let rounds = forget_rounds(data.train, #{{ rounds: 2, fraction: 0.5, seed: 1 }});
        if rounds.len() != 2 || rounds[0].size != 100 || rounds[1].size != 50 || rounds[1].earlier_indices.len() != 100 {{ throw "rounds"; }}
        let rgb = data.train.with_channels(3).resize(16);
        if rgb.shape != [3, 16, 16] {{ throw `shape ${{rgb.shape}}`; }}
        "#,
        req = req_path.display()
    );
    run_source(&src, dir.path(), &[]).unwrap();
    let err = run_source(
        "let d = synthetic(#{ train: 10, test: 5, classes: 2 });\nforget_uniform(d.train, 1.5);\n",
        dir.path(),
        &[],
    )
    .unwrap_err();
    assert!(err.contains("forget fraction `1.5`") && err.contains("test.rhai:2:1"), "{err}");
    let err = run_source(
        "let d = synthetic(#{ train: 10, test: 5, classes: 2 });\nforget_class(d.train, \"dog\");\n",
        dir.path(),
        &[],
    )
    .unwrap_err();
    assert!(err.contains("invalid class `dog`"), "{err}");
    let err = run_source("cifar10(\"/no/such/folder\");\n", dir.path(), &[]).unwrap_err();
    assert!(err.contains("/no/such/folder/data_batch_1.bin: missing"), "{err}");
    let err = run_source("synthetic(#{ size: 3 });\n", dir.path(), &[]).unwrap_err();
    assert!(err.contains("unknown option `size` for synthetic()"), "{err}");
}

#[test]
fn condensation_from_a_script() {
    let dir = tempfile::tempdir().unwrap();
    let src = r#"
        let data = synthetic(#{ train: 300, test: 10, classes: 3, height: 8, width: 8, seed: 1 });
        let request = forget_uniform(data.train, 0.1, #{ seed: 2 });
        let reduced = condense(data.train, request, #{ method: "blend", ipc: 20, seed: 1 });
        if reduced.dataset.len() != reduced.residual + reduced.synthetic { throw "sizes"; }
        if reduced.ratio >= 1.0 || reduced.ratio <= 0.0 { throw `ratio ${reduced.ratio}`; }
        let t = reduced.timings;
        if t.total < t.features || reduced.losses.len() != 12 || reduced.kmeans_iterations.len() != 3 { throw "timings"; }
        if reduced.images(5).len() != 5 { throw "images"; }
        let same_size = condense(data.train, request, #{ method: "random", size: reduced.dataset.len() });
        if same_size.dataset.len() != reduced.dataset.len() { throw "random size"; }
        let rounds = forget_rounds(data.train, #{ rounds: 2, fraction: 0.1, seed: 3 });
        let r0 = condense(data.train, rounds[0], #{ ipc: 20 });
        let r1 = recondense(r0, rounds[1]);
        if r1.timings.features != 0.0 || r1.timings.kmeans_lloyd != 0.0 { throw "recondense reran k-means"; }
        print(reduced.describe());
    "#;
    run_source(src, dir.path(), &[]).unwrap();
    let err = run_source("let d = synthetic(#{ train: 30, test: 5, classes: 3 });\nlet r = forget_uniform(d.train, 0.1);\ncondense(d.train, r, #{ ipcs: 3 });\n", dir.path(), &[]).unwrap_err();
    assert!(
        err.contains("unknown option `ipcs` for condense() — did you mean `ipc`?") && err.contains("test.rhai:3:1"),
        "{err}"
    );
}

#[test]
fn scripts_import_the_stdlib_and_modules_next_to_them() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("helpers.rhai"), "fn double(x) { x * 2 }\n").unwrap();
    let script = dir.path().join("main.rhai");
    std::fs::write(
        &script,
        "import \"helpers\" as h;\nimport \"experiments\" as ex;\nif h::double(21) != 42 { throw \"import\"; }\nprint(`ok ${h::double(2)}`);\n",
    )
    .unwrap();
    let out = Command::new(bin()).args(["run", script.to_str().unwrap(), "--device", "cpu"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("ok 4"));
    std::fs::write(&script, "import \"nowhere\" as n;\n").unwrap();
    let out = Command::new(bin()).args(["run", script.to_str().unwrap(), "--device", "cpu"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("nowhere"), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn unlearning_from_a_script() {
    let dir = tempfile::tempdir().unwrap();
    let src = r#"
        let data = synthetic(#{ train: 200, test: 100, classes: 3, channels: 1, height: 8, width: 8, seed: 1 });
        let m = convnet3(data, #{ width: 16 });
        train(m, data.train, #{ epochs: 1, progress: false });
        let request = forget_uniform(data.train, 0.1, #{ seed: 2 });
        let parts = data.test.reference_split();
        let reduced = condense(data.train, request, #{ ipc: 10 });
        let names = methods().map(|m| m.name);
        for info in methods() {
            let name = info.name;
            let opts = #{ request: request, retain: reduced, unseen: parts.unseen, progress: false };
            if "epochs" in info.defaults { opts.epochs = 1; }
            let r = unlearn(m, name, opts);
            if r.method != name || r.seconds <= 0.0 || r.retain_size != reduced.dataset.len() { throw `${name}: ${r}`; }
            if accuracy(r.model, parts.evaluation) < 0.0 { throw "accuracy"; }
        }
        if !names.contains("a_cf") || !names.contains("retrain") { throw `${names}`; }
    "#;
    run_source(src, dir.path(), &[]).unwrap();
    let err = run_source(
        "let d = synthetic(#{ train: 30, test: 5, classes: 3 });\nlet m = convnet3(d);\nunlearn(m, \"a_cf\", #{ epochs: 1 });\n",
        dir.path(),
        &[],
    )
    .unwrap_err();
    assert!(err.contains("option `request` (a forget request) is required") && err.contains("test.rhai:3:1"), "{err}");
}

#[test]
fn multi_round_and_method_lists_from_a_script() {
    let dir = tempfile::tempdir().unwrap();
    let src = r#"
        import "experiments" as ex;
        let data = synthetic(#{ train: 150, test: 90, classes: 3, channels: 1, height: 8, width: 8, seed: 1 });
        let m = convnet3(data, #{ width: 16 });
        let parts = data.test.reference_split();
        let rounds = forget_rounds(data.train, #{ rounds: 2, fraction: 0.1, seed: 3 });
        let run = unlearn_rounds(m, #{ requests: rounds, methods: #{ a_cf: #{}, finetune: #{ epochs: 1 } },
                                       condense: #{ ipc: 10 }, unseen: parts.unseen, progress: false });
        if run.records.len() != 4 || run.models.keys().len() != 2 { throw `records ${run.records.len()}`; }
        let results = ex::run_methods(m, ["a_cf", "neggrad_plus"], #{ request: rounds[0], unseen: parts.unseen, progress: false },
                                      #{ neggrad_plus: #{ epochs: 1 } });
        if results.len() != 2 || results[1].result.options.epochs != 1 { throw "run_methods"; }
        // a seed in the inputs goes to every method that takes one (all do: SSD for its batch order)
        let seeded = ex::run_methods(m, ["a_cf", "ssd"], #{ request: rounds[0], unseen: parts.unseen, progress: false, seed: 7 }, #{});
        if seeded[0].result.options.seed != 7 { throw `a_cf seed ${seeded[0].result.options.seed}`; }
        if seeded[1].result.options.seed != 7 { throw `ssd seed ${seeded[1].result.options.seed}`; }
    "#;
    run_source(src, dir.path(), &[]).unwrap();
    assert!(dir.path().join("multiround/manifest.json").is_file());
}

#[test]
fn evaluation_tables_from_a_script() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("table");
    let src = format!(
        r#"
        let data = synthetic(#{{ train: 200, test: 120, classes: 3, channels: 1, height: 8, width: 8, seed: 1 }});
        let m = convnet3(data, #{{ width: 16 }});
        train(m, data.train, #{{ epochs: 2, progress: false }});
        let request = forget_uniform(data.train, 0.1, #{{ seed: 2 }});
        let parts = data.test.reference_split();
        let retrained = unlearn(m, "retrain", #{{ request: request, epochs: 2, progress: false }});
        let fast = unlearn(m, "a_cf", #{{ request: request, unseen: parts.unseen, progress: false }});
        let table = evaluate([m, retrained, fast], request, parts.evaluation, #{{ reference: retrained }});
        print(table);
        let rows = table.rows;
        if rows.len() != 3 || rows[0].method != "original" || rows[2].method != "a_cf" {{ throw "rows"; }}
        if rows[1].gaps.mean != 0.0 || rows[2].speedup <= 0.0 {{ throw `reference ${{rows[1].gaps}}`; }}
        table.save("{out}");
        "#,
        out = out.display()
    );
    run_source(&src, dir.path(), &[]).unwrap();
    let csv = std::fs::read_to_string(out.join("table.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 4);
    assert_eq!(lines[0], unlearn::report::table::COLUMNS.join(","));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("table.json")).unwrap()).unwrap();
    assert_eq!(json["result"]["reference"], "retrain");
    assert_eq!(json["run"]["seed"], 3);
    // every row says how its model was made: the method's options with the defaults filled in,
    // its epochs and the size of the set it trained on (the original has none)
    let rows = json["result"]["rows"].as_array().unwrap();
    let retrain = &rows[1]["provenance"];
    assert_eq!(retrain["epochs"], 2.0);
    assert_eq!(retrain["retain_size"], 180);
    for key in ["lr", "momentum", "weight_decay", "batch_size", "warmup_epochs", "init_seed"] {
        assert!(retrain["options"].get(key).is_some(), "retrain's options lack `{key}`: {retrain}");
    }
    assert!(rows[2]["provenance"]["options"].get("lambda").is_some(), "{}", rows[2]);
    assert!(rows[0]["provenance"]["options"].is_null());
    let header: Vec<&str> = lines[0].split(',').collect();
    assert_eq!(header.last(), Some(&"options"));
    assert!(lines[2].ends_with('"') && lines[2].contains("\"momentum\""), "{}", lines[2]);
}

#[test]
fn summaries_are_means_and_sample_deviations() {
    let rows = vec![
        serde_json::json!({ "method": "a", "seed": 1, "x": 1.0 }),
        serde_json::json!({ "method": "a", "seed": 2, "x": 3.0 }),
        serde_json::json!({ "method": "b", "seed": 1, "x": 5.0 }),
    ];
    let s = unlearn::report::summary::summarize(&rows, &["method".to_string()]).unwrap();
    assert_eq!(s.fields, vec!["x".to_string()]);
    assert_eq!(s.groups[0].stats[0], ("x".to_string(), 2.0, 2f64.sqrt()));
    assert_eq!(s.groups[1].stats[0], ("x".to_string(), 5.0, 0.0));
    assert!(unlearn::report::summary::summarize(&rows, &["condense".to_string()]).is_err());
    // a text where the other rows have numbers is an error, not a row left out of the mean
    let mut mixed = rows.clone();
    mixed.push(serde_json::json!({ "method": "a", "seed": 3, "x": "n/a" }));
    let e = unlearn::report::summary::summarize(&mixed, &["method".to_string()]).unwrap_err().to_string();
    assert!(e.contains("field `x` of row 3") && e.contains("n/a"), "{e}");
    // no value at all (a metric a row lacks) is fine
    let mut absent = rows.clone();
    absent.push(serde_json::json!({ "method": "a", "seed": 3, "x": null }));
    let s = unlearn::report::summary::summarize(&absent, &["method".to_string()]).unwrap();
    assert_eq!(s.groups[0].stats[0], ("x".to_string(), 2.0, 2f64.sqrt()));
    assert_eq!(s.groups[0].counts, vec![2]);
    // a group where one run has the field says n = 1; one where none has it shows "–", an
    // empty CSV cell, never a mean of 0
    let sparse = vec![
        serde_json::json!({ "method": "a", "seed": 1, "x": 4.0 }),
        serde_json::json!({ "method": "a", "seed": 2 }),
        serde_json::json!({ "method": "b", "seed": 1 }),
    ];
    let s = unlearn::report::summary::summarize(&sparse, &["method".to_string()]).unwrap();
    let text = s.to_text();
    assert!(text.contains("4.0000 (n = 1)"), "{text}");
    let b_line = text.lines().find(|l| l.starts_with("b ")).unwrap();
    assert!(b_line.trim_end().ends_with('–') && !b_line.contains("0.0000"), "{text}");
    assert!(s.to_csv().lines().nth(2).unwrap().starts_with("b,1,,,"), "{}", s.to_csv());
    // two of three runs: the mean says it is over two
    let mut three = sparse.clone();
    three.push(serde_json::json!({ "method": "a", "seed": 3, "x": 6.0 }));
    let text = unlearn::report::summary::summarize(&three, &["method".to_string()]).unwrap().to_text();
    assert!(text.contains("5.0000 ± 1.4142 (n = 2)"), "{text}");
}

/// Issue 17: every run record names the exact script that ran (its SHA-256), not only sweeps'.
#[test]
fn run_records_hold_the_scripts_sha256() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("s.rhai");
    std::fs::write(&script, "save_result(#{ a: 1 });\n").unwrap();
    let o = std::process::Command::new(bin())
        .args(["run", script.to_str().unwrap(), "--device", "cpu", "--out", dir.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("result.json")).unwrap()).unwrap();
    let want = unlearn::sweep::sha256_hex(&std::fs::read(&script).unwrap());
    assert_eq!(json["run"]["script_sha256"], want.as_str());
    assert_eq!(want.len(), 64);
}

/// Issue 17: evaluate() with another request than the one a result was unlearned on is an
/// error (its forget accuracy, gaps and MIA would be about the wrong items).
#[test]
fn evaluate_refuses_a_result_of_another_request() {
    let dir = tempfile::tempdir().unwrap();
    let src = r#"
        let d = synthetic(#{ train: 80, test: 40, classes: 2, channels: 1, height: 8, width: 8 });
        let m = convnet3(d, #{ width: 4 });
        let r1 = forget_uniform(d.train, 0.1, #{ seed: 1 });
        let r2 = forget_uniform(d.train, 0.1, #{ seed: 2 });
        let u = unlearn(m, "finetune", #{ request: r1, epochs: 1, progress: false });
        let ok = evaluate([u, #{ name: "again", model: u }], r1, d.test);
        evaluate([m, u], r2, d.test);
    "#;
    let e = run_source(src, dir.path(), &[]).unwrap_err();
    assert!(
        e.contains("item 1 (`finetune`) was unlearned on another forget request") && e.contains("test.rhai:8"),
        "{e}"
    );
}

/// The experiments' `dataset()` reads CINIC-10 through its folder layout (train/ and test/
/// class folders, CINIC-10's normalisation) and any image folder with `image_folder:PATH`;
/// `cap_per_class` and `random_class` give the paper profile's SVHN cap and per-seed class.
#[test]
fn the_experiments_read_cinic10_and_image_folders_and_cap_classes() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("cinic");
    for (part, n) in [("train", 5u8), ("test", 2)] {
        for class in ["airplane", "cat", "ship"] {
            let folder = root.join(part).join(class);
            std::fs::create_dir_all(&folder).unwrap();
            for i in 0..n {
                let v = i.wrapping_mul(37).wrapping_add(class.len() as u8 * 20);
                image::RgbImage::from_fn(32, 32, |x, y| image::Rgb([v, (x * 8) as u8, (y * 8) as u8]))
                    .save(folder.join(format!("{class}-{i}.png")))
                    .unwrap();
            }
        }
    }
    let src = format!(
        r#"
        import "experiments" as ex;
        let c = ex::dataset("cinic10:{root}", 0);
        if c.train.len() != 15 || c.test.len() != 6 {{ throw `sizes ${{c.train.len()}} ${{c.test.len()}}`; }}
        if c.train.classes != ["airplane", "cat", "ship"] {{ throw `classes ${{c.train.classes}}`; }}
        if !c.train.describe().contains("0.478") {{ throw `not CINIC-10's normalisation: ${{c.train.describe()}}`; }}
        let f = ex::dataset("image_folder:{root}", 0);
        if f.train.len() != 15 || f.train.describe().contains("0.478") {{ throw "image_folder"; }}
        let capped = c.cap_per_class(3, 7);
        if capped.train.class_counts() != [3, 3, 3] || capped.test.len() != 6 {{ throw "cap"; }}
        if capped.train.digest() != c.cap_per_class(3, 7).train.digest() {{ throw "the cap repeats"; }}
        if capped.train.digest() == c.cap_per_class(3, 8).train.digest() {{ throw "another seed, another choice"; }}
        let k = random_class(c.train, 4);
        if k < 0 || k > 2 || k != random_class(c.train, 4) {{ throw `random_class ${{k}}`; }}
        if ex::dataset_kind("cinic10:/x") != "cinic10" || ex::dataset_kind("builtin") != "builtin" {{ throw "kind"; }}
        "#,
        root = root.display()
    );
    run_source(&src, dir.path(), &[]).unwrap();
}

/// `unlearn check SCRIPT` on `src` written to `dir/name`: (exit code, stdout + stderr, path).
fn check_cli(dir: &Path, name: &str, src: &str) -> (Option<i32>, String, PathBuf) {
    let script = dir.join(name);
    std::fs::write(&script, src).unwrap();
    let o = Command::new(bin()).args(["check", script.to_str().unwrap()]).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    (o.status.code(), text, script)
}

/// `unlearn check` finds a call to an unknown function without running anything: at the top
/// level, in a function, in a closure and in nested blocks, with the closest known name.
#[test]
fn check_finds_unknown_functions() {
    let dir = tempfile::tempdir().unwrap();
    let (code, err, script) = check_cli(
        dir.path(),
        "t.rhai",
        "let data = builtin(\"mnist\");\nlet m = convnet3(data);\ntrian(m, data.train);\n",
    );
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("unknown function `trian` — did you mean `train`?"), "{err}");
    assert!(err.contains(&format!("--> {}:3:1", script.display())), "{err}");
    assert!(err.contains("3 | trian(m, data.train);"), "{err}");
    let src = "fn step(m, d) {\n    if true {\n        for i in 0..2 { trian(m, d); }\n    }\n}\nlet f = |x| {\n    evalute(x)\n};\nlet xs = [1];\nxs.lenght();\n";
    let (code, err, script) = check_cli(dir.path(), "t.rhai", src);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains(&format!("--> {}:3:25", script.display())) && err.contains("`trian`"), "{err}");
    assert!(err.contains(&format!("--> {}:7:5", script.display())), "{err}");
    assert!(err.contains("unknown function `evalute` — did you mean `evaluate`?"), "{err}");
    assert!(err.contains("unknown method `.lenght()`: no function `lenght` — did you mean `len`?"), "{err}");
    // a registered function with another number of arguments
    let (code, err, _) = check_cli(
        dir.path(),
        "t.rhai",
        "let d = builtin(\"mnist\");\nlet m = convnet3(d);\ntrain(m, d.train, #{}, 4);\n",
    );
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("`train` takes 2 or 3 arguments, here 4"), "{err}");
    // a closure in a variable is called with .call()
    let (code, err, _) = check_cli(dir.path(), "t.rhai", "let g = |x| x + 1;\nprint(g(1));\n");
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("unknown function `g`") && err.contains("g.call(...)"), "{err}");
}

/// An import of a missing module is found with the run's resolution rules (the stdlib, then
/// files next to the script), with the closest module name; so is a call of a function the
/// module does not define.
#[test]
fn check_finds_missing_modules_and_module_functions() {
    let dir = tempfile::tempdir().unwrap();
    let (code, err, script) = check_cli(dir.path(), "t.rhai", "// experiments\nimport \"experimentz\" as ex;\n");
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("module `experimentz` not found") && err.contains("did you mean `experiments`?"), "{err}");
    assert!(err.contains(&format!("--> {}:2:8", script.display())), "{err}");
    std::fs::write(dir.path().join("helpers.rhai"), "fn double(x) { x * 2 }\nprivate fn hidden() { 1 }\n").unwrap();
    let (code, err, _) = check_cli(dir.path(), "t.rhai", "import \"helpres\" as h;\n");
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("did you mean `helpers`?"), "{err}");
    let src = "import \"helpers\" as h;\nimport \"experiments\" as ex;\nprint(h::double(2));\nh::hidden();\nex::single_rond(#{});\n";
    let (code, err, script) = check_cli(dir.path(), "t.rhai", src);
    assert_eq!(code, Some(1), "{err}");
    assert!(!err.contains(":3:"), "{err}");
    assert!(err.contains("unknown function `h::hidden`"), "{err}");
    assert!(err.contains("module `experiments` defines no `single_rond` — did you mean `single_round`?"), "{err}");
    assert!(err.contains(&format!("--> {}:5:5", script.display())), "{err}");
    // a typo in a module next to the script is found too, at its own file and line
    std::fs::write(dir.path().join("helpers.rhai"), "fn double(x) {\n    x * tow()\n}\n").unwrap();
    let (code, err, _) = check_cli(dir.path(), "t.rhai", "import \"helpers\" as h;\nprint(h::double(2));\n");
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("unknown function `tow`") && err.contains("helpers.rhai:2:9"), "{err}");
}

/// Unknown keys in an option map written in the call are found with the runtime's message and
/// key list; a map built elsewhere or extended with `+` is left to the run.
#[test]
fn check_finds_unknown_option_keys() {
    let dir = tempfile::tempdir().unwrap();
    let src = "let data = builtin(\"mnist\");\nlet m = convnet3(data, #{ width: 8 });\ntrain(m, data.train, #{ epoch: 8 });\nlet r = forget_uniform(data.train, 0.1);\nlet u = unlearn(m, \"a_cf\", #{ request: r, lamda: 3 });\n";
    let (code, err, script) = check_cli(dir.path(), "t.rhai", src);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("unknown option `epoch` for train() — did you mean `epochs`?"), "{err}");
    assert!(err.contains(&format!("--> {}:3:25", script.display())), "{err}");
    assert!(err.contains("unknown option `lamda` for a_cf() — did you mean `lambda`?"), "{err}");
    assert!(err.contains(&format!("--> {}:5:43", script.display())), "{err}");
    // the other functions with option maps, also called as methods
    let src = r#"let d = builtin("mnist", #{ chanels: 1 });
let m = model("convnet3", d, #{ widht: 8 });
let r = forget_rounds(d.train, #{ round: 2 });
let c = condense(d.train, r[0], #{ ipcs: 3 });
let p = d.test.reference_split(#{ fractoin: 0.5 });
evaluate([m], r[0], p.evaluation, #{ refrence: m });
shadow_models(m, r[0], p.evaluation, #{ shadow: 2, unseen: p.unseen });
mia(m, d.train, d.test, #{ mia_swp: false });
unlearn_rounds(m, #{ request: r });
unlearn(m, "a_cff", #{ request: r[0] });
"#;
    let (code, err, _) = check_cli(dir.path(), "t.rhai", src);
    assert_eq!(code, Some(1), "{err}");
    for (key, func) in [
        ("chanels", "builtin"),
        ("widht", "model"),
        ("round", "forget_rounds"),
        ("ipcs", "condense"),
        ("fractoin", "reference_split"),
        ("refrence", "evaluate"),
        ("shadow", "shadow_models"),
        ("mia_swp", "mia"),
        ("request", "unlearn_rounds"),
    ] {
        assert!(err.contains(&format!("unknown option `{key}` for {func}()")), "{key}: {err}");
    }
    assert!(!err.contains("`unseen`"), "{err}");
    assert!(err.contains("unknown unlearning method `a_cff` — did you mean `a_cf`?"), "{err}");
    // maps that are not written in the call are for the run to check
    let src = "let data = builtin(\"mnist\");\nlet m = convnet3(data);\nlet o = #{ epoch: 8 };\nlet name = \"a_cf\";\nif false {\n  train(m, data.train, o);\n  train(m, data.train, o + #{ epochz: 1 });\n  unlearn(m, name, #{ lamda: 3 });\n}\n";
    let (code, err, _) = check_cli(dir.path(), "t.rhai", src);
    assert_eq!(code, Some(0), "{err}");
}

/// Scripts that use their own functions, the stdlib, closures, method calls and rhai's string
/// and array functions pass.
#[test]
fn check_passes_correct_scripts() {
    let dir = tempfile::tempdir().unwrap();
    let src = r#"import "experiments" as ex;
fn twice(x) { x * 2 }
fn tripled() { this * 3 }
let data = ex::dataset("builtin", 100);
let xs = [3, 1, 2];
xs.push(4);
let ys = xs.map(|x| twice(x)).filter(|x| x > 2);
let total = ys.reduce(|a, b| a + b, 0);
let parts = "a,b,c".split(",");
let n = "12".parse_int() + "abc".index_of("b") + "hello".sub_string(1, 2).len() + parts.len();
let f = |x| x + total;
print(f.call(1));
let obj = #{ g: |x| x * 2 };
print(obj.g(3) + 5.tripled());
print(type_of(xs) + `${xs.len()}` + xs.contains(3).to_string() + #{ a: 1 }.keys().len());
if is_def_var("total") { debug(total); }
let z = max(1, 2) + min(3, 4) + 2.5.round().to_int() + 2.5.floor().to_int() + 1.2.ceiling().to_int() + 3.to_float().to_int();
let c = Fn("twice");
print(c.call(2) + c.curry(3).call());
print(3 in xs);
let m = convnet3(data, #{ width: 8 });
train(m, data.train, #{ epochs: 1, progress: false, keep_best: data.test });
"#;
    let (code, out, script) = check_cli(dir.path(), "good.rhai", src);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains(&format!("{}: ok", script.display())), "{out}");
}

/// Every problem is reported, not only the first.
#[test]
fn check_reports_every_problem() {
    let dir = tempfile::tempdir().unwrap();
    let src = "import \"experimentz\" as ex;\nlet d = builtin(\"mnist\");\nlet m = convnet3(d, #{ widht: 8 });\nfn step() { prnt(1); }\ntrian(m, d.train);\n";
    let (code, err, script) = check_cli(dir.path(), "t.rhai", src);
    assert_eq!(code, Some(1), "{err}");
    for at in ["1:8", "3:24", "4:13", "5:1"] {
        assert!(err.contains(&format!("--> {}:{at}", script.display())), "{at}: {err}");
    }
    assert!(err.contains("4 problems found"), "{err}");
}

/// `unlearn run` checks the script the same way before it starts: a typo after some work
/// stops it at once, before that work and before the output folder is made.
#[test]
fn run_stops_on_a_typo_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("t.rhai");
    std::fs::write(&script, "save_result(#{ a: 1 });\nlet d = builtin(\"mnist\");\ntrian(convnet3(d), d.train);\n")
        .unwrap();
    let out = dir.path().join("out");
    let o = Command::new(bin())
        .args(["run", script.to_str().unwrap(), "--device", "cpu", "--out", out.to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("unknown function `trian` — did you mean `train`?") && err.contains("t.rhai:3:1"), "{err}");
    assert!(!out.exists(), "the output folder was made");
}
