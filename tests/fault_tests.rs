//! Issue 16: no input or fault kills a run. Each test runs the `unlearn` binary as a child process,
//! as a user would, and requires a clear error with exit code 1 (never a signal), or a run that
//! goes on and saves its outputs.
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_unlearn")
}

/// `unlearn ARGS` in `dir` (the working directory: scripts and outputs are relative to it).
fn unlearn(dir: &Path, args: &[&str]) -> Output {
    Command::new(bin()).current_dir(dir).args(args).output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Exit code 1 with `want` in the message: an error, not a crash.
fn assert_error(o: &Output, want: &str) {
    let e = stderr(o);
    assert_eq!(o.status.code(), Some(1), "expected exit code 1 (not a signal or panic): {:?}\n{e}", o.status);
    assert!(e.contains(want), "expected `{want}` in:\n{e}");
    assert!(!e.contains("panicked") && !e.contains("stack backtrace"), "{e}");
}

const DATA: &str = "let d = synthetic(#{ train: 64, test: 32, classes: 4, channels: 1, height: 8, width: 8 });\n\
                    let m = convnet3(d, #{ width: 8 });\n\
                    let r = forget_uniform(d.train, 0.1);\n";

/// A pid that no process has now (a child that has exited and been reaped).
fn dead_pid() -> u32 {
    let mut c = Command::new("true").spawn().unwrap();
    let pid = c.id();
    c.wait().unwrap();
    pid
}

/// A child process that a failing assertion does not leave running.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn host() -> String {
    unlearn::runtime::host_name()
}

#[test]
fn huge_size_options_are_errors_naming_the_option_not_aborts() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("train(m, d.train, #{ epochs: 1000000000, progress: false });", "`epochs`"),
        ("convnet3(d, #{ width: 1000000 });", "option `width`"),
        ("condense(d.train, r, #{ iters: 1000000000000 });", "`iters`"),
        ("condense(d.train, r, #{ ipc: 1000000000000 });", "`ipc`"),
        ("condense(d.train, r, #{ kmeans_max_iter: 1000000000 });", "`kmeans_max_iter`"),
        ("forget_rounds(d.train, #{ rounds: 1000000000000 });", "rounds"),
        ("unlearn(m, \"finetune\", #{ request: r, epochs: 1000000000, progress: false });", "`epochs`"),
    ];
    for (i, (line, want)) in cases.iter().enumerate() {
        let script = format!("s{i}.rhai");
        std::fs::write(dir.path().join(&script), format!("{DATA}{line}\n")).unwrap();
        // the aborts happened under --timeout too
        let o = unlearn(dir.path(), &["run", &script, "--device", "cpu", "--out", "out", "--timeout", "120"]);
        assert_error(&o, want);
        assert!(stderr(&o).contains(&format!("{script}:4")), "the script line is named: {}", stderr(&o));
    }
}

#[test]
fn sweep_plan_status_and_collect_never_run_experiment_work() {
    let dir = tempfile::tempdir().unwrap();
    let work = format!("{DATA}train(m, d.train, #{{ progress: false }});\nsave_result(#{{ a: 1 }});\n");
    std::fs::write(dir.path().join("nosweep.rhai"), &work).unwrap();
    std::fs::write(
        dir.path().join("before.rhai"),
        format!("{work}sweep(#{{ grid: #{{ seed: [1, 2] }} }}, |p| #{{ x: 1 }});\n"),
    )
    .unwrap();
    for action in ["--plan", "--status", "--collect"] {
        let t = Instant::now();
        let o = unlearn(dir.path(), &["sweep", "nosweep.rhai", action, "--device", "cpu", "--out", "o1"]);
        assert_error(&o, "defines no sweep");
        assert!(stderr(&o).contains("nothing was run"), "{}", stderr(&o));
        assert!(!dir.path().join("o1").exists(), "{action} wrote nothing");
        assert!(t.elapsed() < Duration::from_secs(30));
        // work before the sweep() call stops at its first experiment call, before it starts
        let o = unlearn(dir.path(), &["sweep", "before.rhai", action, "--device", "cpu", "--out", "o2"]);
        assert_error(&o, "train() is experiment work");
        assert!(stderr(&o).contains("before.rhai:4"), "{}", stderr(&o));
        assert!(!dir.path().join("o2").join("result.json").exists());
    }
    // what a script does with the table that sweep() returns is for --collect to do too
    std::fs::write(
        dir.path().join("after.rhai"),
        "let t = sweep(#{ grid: #{ seed: [1, 2] } }, |p| #{ x: p.seed });\nt.save(out_dir(), \"mine\");\n",
    )
    .unwrap();
    let o = unlearn(dir.path(), &["sweep", "after.rhai", "--device", "cpu", "--out", "o3"]);
    assert!(o.status.success(), "{}", stderr(&o));
    std::fs::remove_file(dir.path().join("o3/mine.csv")).unwrap();
    let o = unlearn(dir.path(), &["sweep", "after.rhai", "--collect", "--device", "cpu", "--out", "o3"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(dir.path().join("o3/mine.csv").is_file());
}

#[test]
fn a_closed_stdout_stops_the_printing_not_the_run() {
    let dir = tempfile::tempdir().unwrap();
    // more output than a pipe buffers, then a result
    std::fs::write(
        dir.path().join("s.rhai"),
        "for i in 0..100000 { print(`line ${i} of the output`); }\nsave_result(#{ done: true });\n",
    )
    .unwrap();
    let mut child = Command::new(bin())
        .current_dir(dir.path())
        .args(["run", "s.rhai", "--device", "cpu", "--out", "out"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // read two lines, then close the pipe (`| head -2`)
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "line 0 of the output");
    assert_eq!(lines.next().unwrap().unwrap(), "line 1 of the output");
    drop(lines);
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{:?}: {}", o.status, stderr(&o));
    let record = std::fs::read_to_string(dir.path().join("out/result.json")).unwrap();
    assert!(record.contains("\"done\": true"), "{record}");
}

#[test]
fn one_run_at_a_time_per_output_folder_and_stale_locks_are_taken_over() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("slow.rhai"),
        "let x = 0;\nfor i in 0..option(\"n\", 3000000) { x += 1; }\nsave_result(#{ seed: seed() });\n",
    )
    .unwrap();
    let mut first = KillOnDrop(
        Command::new(bin())
            .current_dir(dir.path())
            .args(["run", "slow.rhai", "--device", "cpu", "--out", "out", "--seed", "1", "--set", "n=100000000"])
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let lock = dir.path().join("out").join(unlearn::io::LOCK_FILE);
    let t = Instant::now();
    while !lock.exists() {
        assert!(t.elapsed() < Duration::from_secs(60), "the first run takes the lock");
        std::thread::sleep(Duration::from_millis(20));
    }
    let o = unlearn(dir.path(), &["run", "slow.rhai", "--device", "cpu", "--out", "out", "--seed", "2"]);
    assert_error(&o, "is in use by another run");
    assert!(stderr(&o).contains(&format!("pid {}", first.0.id())) && stderr(&o).contains(&host()), "{}", stderr(&o));
    first.0.kill().unwrap();
    first.0.wait().unwrap();
    // the killed run's lock is stale: the next run takes it over and releases it at the end
    let o = unlearn(dir.path(), &["run", "slow.rhai", "--device", "cpu", "--out", "out", "--seed", "2"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(std::fs::read_to_string(dir.path().join("out/result.json")).unwrap().contains("\"seed\": 2"));
    assert!(!lock.exists(), "released");
    // a lock naming another host is never taken over
    std::fs::write(
        &lock,
        format!(r#"{{"pid": {}, "host": "another-node", "started": "x", "command": "y"}}"#, dead_pid()),
    )
    .unwrap();
    let o = unlearn(dir.path(), &["run", "slow.rhai", "--device", "cpu", "--out", "out"]);
    assert_error(&o, "another-node");
    // --plan and --status do not need the folder; sweep points have their own folders
    std::fs::write(dir.path().join("sw.rhai"), "sweep(#{ grid: #{ seed: [1, 2] } }, |p| #{ x: 1 });\n").unwrap();
    let o = unlearn(dir.path(), &["sweep", "sw.rhai", "--plan", "--device", "cpu", "--out", "out"]);
    assert!(o.status.success(), "{}", stderr(&o));
    std::fs::remove_file(&lock).unwrap();
    let o = unlearn(dir.path(), &["sweep", "sw.rhai", "--jobs", "2", "--device", "cpu", "--out", "out"]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn stale_temporaries_of_killed_writers_are_removed_at_start() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("s.rhai"), "save_result(#{ a: 1 });\n").unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir_all(out.join("point")).unwrap();
    let dead = dead_pid();
    let stale = [
        out.join(format!(".result.json.{dead}.tmp.json")),
        out.join(format!("point/.model.safetensors.{dead}@{}.tmp.safetensors", host())),
    ];
    // a live writer's (this test's), another host's, and a user's own dot-file stay
    let kept = [
        out.join(format!(".table.csv.{}@{}.tmp.csv", std::process::id(), host())),
        out.join(format!(".table.csv.{dead}@another-node.tmp.csv")),
        out.join(".notes.txt"),
    ];
    for f in stale.iter().chain(&kept) {
        std::fs::write(f, b"half").unwrap();
    }
    let o = unlearn(dir.path(), &["run", "s.rhai", "--device", "cpu", "--out", "out"]);
    assert!(o.status.success(), "{}", stderr(&o));
    for f in &stale {
        assert!(!f.exists(), "{} removed", f.display());
    }
    for f in &kept {
        assert!(f.exists(), "{} kept", f.display());
    }
}

// Linux: other systems' file systems (APFS) refuse names that are not UTF-8
#[cfg(target_os = "linux")]
#[test]
fn a_non_utf8_output_folder_gets_every_output_and_is_allowed() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("s.rhai"),
        "save_result(#{ a: 1 });\n\
         summarize([#{ method: \"a\", acc: 0.5 }, #{ method: \"a\", acc: 0.7 }], [\"method\"]).save(out_dir(), \"summary\");\n\
         let d = synthetic(#{ train: 16, test: 8, classes: 2, channels: 1, height: 8, width: 8 });\n\
         convnet3(d, #{ width: 4 }).save(out_path(\"m.safetensors\"));\n\
         let m = load_model(out_dir() + \"/m.safetensors\");\n",
    )
    .unwrap();
    let name = OsStr::from_bytes(b"res\xffults");
    let absolute = dir.path().join("abs").join(name);
    for (out, folder) in [(PathBuf::from(name), dir.path().join(name)), (absolute.clone(), absolute.clone())] {
        let o = Command::new(bin())
            .current_dir(dir.path())
            .args(["run", "s.rhai", "--device", "cpu", "--out"])
            .arg(&out)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        let mut files: Vec<String> = std::fs::read_dir(&folder)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        files.sort();
        assert_eq!(files, ["m.safetensors", "result.json", "summary.csv", "summary.json"]);
    }
    // sweep points in child processes write into the same folder
    std::fs::write(dir.path().join("sw.rhai"), "sweep(#{ grid: #{ seed: [1, 2] } }, |p| #{ x: p.seed });\n").unwrap();
    let o = Command::new(bin())
        .current_dir(dir.path())
        .args(["sweep", "sw.rhai", "--jobs", "2", "--device", "cpu", "--out"])
        .arg(name)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    for point in ["seed=1", "seed=2"] {
        assert!(dir.path().join(name).join(point).join("point.json").is_file(), "{point}");
    }
    assert!(dir.path().join(name).join("sweep_summary.csv").is_file());
    // nothing went to a look-alike folder with U+FFFD in its name
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(names.iter().all(|n| n.to_str().is_none_or(|s| !s.contains('\u{FFFD}'))), "{names:?}");
}

#[cfg(unix)]
#[test]
fn links_inside_an_image_folder_stay_within_the_allowed_folders() {
    let dir = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let png = |path: &Path, v: u8| {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        image::RgbImage::from_fn(8, 8, |x, y| image::Rgb([v, (x * 8) as u8, (y * 8) as u8])).save(path).unwrap();
    };
    let root = dir.path().join("imgs");
    for split in ["train", "test"] {
        for (c, class) in ["cat", "dog"].iter().enumerate() {
            png(&root.join(split).join(class).join("a.png"), c as u8 * 100);
        }
    }
    // a link to an image outside every allowed folder
    png(&outside.path().join("secret.png"), 7);
    std::os::unix::fs::symlink(outside.path().join("secret.png"), root.join("train/cat/b.png")).unwrap();
    std::fs::write(dir.path().join("s.rhai"), "let d = image_folder(\"imgs\");\nprint(d.train.len());\n").unwrap();
    let o = unlearn(dir.path(), &["run", "s.rhai", "--device", "cpu", "--out", "out"]);
    assert_error(&o, "is outside the folders this run may use");
    assert!(stderr(&o).contains("b.png") && stderr(&o).contains("secret.png"), "{}", stderr(&o));
    // allowed where the link leads, it loads
    let allow = outside.path().to_str().unwrap();
    let o = unlearn(dir.path(), &["run", "s.rhai", "--device", "cpu", "--out", "out", "--allow", allow]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "3");
    // the same for the fixed files of a format loader
    let mnist = dir.path().join("mnist");
    std::fs::create_dir_all(&mnist).unwrap();
    std::fs::write(outside.path().join("data"), b"x").unwrap();
    for f in ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]
    {
        std::os::unix::fs::symlink(outside.path().join("data"), mnist.join(f)).unwrap();
    }
    std::fs::write(dir.path().join("m.rhai"), "let d = mnist(\"mnist\");\n").unwrap();
    let o = unlearn(dir.path(), &["run", "m.rhai", "--device", "cpu", "--out", "out"]);
    assert_error(&o, "is outside the folders this run may use");
}

#[test]
fn messages_say_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let run = |script: &str, source: &str, args: &[&str]| {
        std::fs::write(dir.path().join(script), source).unwrap();
        let mut a = vec!["run", script, "--device", "cpu", "--out", "out"];
        a.extend_from_slice(args);
        unlearn(dir.path(), &a)
    };
    // NaN is named as such, not as a JSON null
    let o = run(
        "lr.rhai",
        &format!("{DATA}train(m, d.train, #{{ lr: option(\"lr\", 0.1), progress: false }});\n"),
        &["--set", "lr=NaN"],
    );
    assert_error(&o, "NaN is not a valid learning rate");
    // a loaded checkpoint says where it came from, not "trained 0 epochs"
    let o = run(
        "load.rhai",
        &format!(
            "{DATA}print(m);\ntrain(m, d.train, #{{ progress: false }});\nprint(m);\nm.save(out_path(\"m.safetensors\"));\n\
             let l = load_model(out_path(\"m.safetensors\"));\nprint(l);\n\
             let u = unlearn(l, \"finetune\", #{{ request: r, epochs: 1, progress: false }});\nprint(u.model);\n\
             print(summarize([#{{ method: \"a\", acc: 0.5 }}], [\"method\"]));\n"
        ),
        &[],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].contains("untrained"), "{out}");
    assert!(lines[1].contains("trained 1 epoch(s)"), "{out}");
    assert!(lines[2].contains("loaded from out/m.safetensors") && !lines[2].contains("trained"), "{out}");
    assert!(lines[3].contains("unlearned by finetune") && !lines[3].contains("then trained"), "{out}");
    // one run has no spread
    assert!(out.contains("0.5000 (n = 1)") && !out.contains("± 0.0000"), "{out}");

    // --set read inside a sweep's point function: no warning where the points ran elsewhere or
    // were complete already; a real typo is still reported
    std::fs::write(dir.path().join("sw.rhai"), "sweep(#{ grid: #{ seed: [1, 2] } }, |p| #{ v: option(\"n\", 1) });\n")
        .unwrap();
    let sweep = |args: &[&str]| {
        let mut a = vec!["sweep", "sw.rhai", "--device", "cpu", "--out", "sw", "--set", "n=3"];
        a.extend_from_slice(args);
        unlearn(dir.path(), &a)
    };
    for args in [&["--jobs", "2"][..], &[][..], &["--status"][..], &["--plan"][..], &["--collect"][..]] {
        let o = sweep(args);
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
        assert!(!stderr(&o).contains("never read"), "{args:?}: {}", stderr(&o));
    }
    let o = unlearn(
        dir.path(),
        &["sweep", "sw.rhai", "--device", "cpu", "--out", "sw2", "--set", "n=3", "--set", "typo=1"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("--set typo=... was never read") && !stderr(&o).contains("--set n="), "{}", stderr(&o));
}
