//! Sweeps (issue 10): the plan, the local executor (in this process and N child processes),
//! resuming after a failure and after a kill, the 95 % confidence interval against SciPy, and the
//! Slurm executor against a stand-in `sbatch`/`squeue` (the real Slurm runs in `make test-slurm`).
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::SystemTime;
use unlearn::sweep::{self, slurm, Plan};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_unlearn")
}

/// A sweep without training: 2 methods x 3 seeds, x = 2 * seed (+ 1 for method b). Point
/// (b, seed 2) fails until the file `ok_file` exists; point (b, seed 3) waits for `go_file`
/// when one is named.
const PURE: &str = r#"
sweep(#{ grid: #{ method: ["a", "b"], seed: [1, 2, 3] } }, |p| {
    if p.method == "b" && p.seed == 2 && !file_exists(option("ok_file", "")) { throw "injected failure"; }
    let go_file = option("go_file", "");
    if go_file != "" && p.method == "b" && p.seed == 3 { while !file_exists(go_file) { } }
    let extra = if p.method == "b" { 1.0 } else { 0.0 };
    save_result("extra", #{ folder: out_dir() });
    #{ x: 2.0 * p.seed + extra, folder: out_dir() }
});
"#;

struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        let f = Fixture { dir: tempfile::tempdir().unwrap() };
        std::fs::write(f.script(), PURE).unwrap();
        f
    }
    fn script(&self) -> PathBuf {
        self.dir.path().join("pure.rhai")
    }
    fn root(&self) -> PathBuf {
        self.dir.path().join("out")
    }
    fn ok_file(&self) -> PathBuf {
        self.dir.path().join("ok")
    }
    /// `unlearn sweep pure.rhai --out OUT --device cpu --set ok_file=... ARGS` in the fixture
    /// folder.
    fn command(&self, out: &str, args: &[&str]) -> Command {
        let mut c = Command::new(bin());
        c.current_dir(self.dir.path())
            .args(["sweep", "pure.rhai", "--out", out, "--device", "cpu", "--set"])
            .arg(format!("ok_file={}", self.ok_file().display()))
            .args(args);
        c
    }
    /// [`Fixture::command`] into `out`, run to its end, with `path` as PATH when given.
    fn sweep(&self, args: &[&str], path: Option<&str>) -> Output {
        let mut c = self.command("out", args);
        if let Some(p) = path {
            c.env("PATH", p);
        }
        c.output().unwrap()
    }
    fn mtime(&self, folder: &str) -> SystemTime {
        std::fs::metadata(self.root().join(folder).join("point.json")).unwrap().modified().unwrap()
    }
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn csv_rows(path: &Path) -> Vec<Vec<String>> {
    let t = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    t.lines().map(|l| l.split(',').map(String::from).collect()).collect()
}

#[test]
fn grid_points_are_the_product_in_order_with_one_folder_each() {
    use serde_json::json;
    let grid =
        vec![("method".to_string(), vec![json!("a_cf"), json!("finetune")]), ("seed".into(), vec![json!(1), json!(2)])];
    let points = sweep::grid_points(&grid).unwrap();
    let names: Vec<String> = points.iter().map(sweep::folder_name).collect();
    assert_eq!(names, ["method=a_cf,seed=1", "method=a_cf,seed=2", "method=finetune,seed=1", "method=finetune,seed=2"]);
    let root = Path::new("/r");
    let plan =
        Plan::new("s", root, vec!["method".into(), "seed".into()], points, json!(null), Default::default(), 0).unwrap();
    assert_eq!(plan.points[3].folder, root.join("method=finetune,seed=2"));
    // values that differ only in characters a folder name cannot hold collide: an error, not a merge
    let clash = vec![("x".to_string(), vec![json!("a/b"), json!("a b")])];
    let err =
        Plan::new("s", root, vec!["x".into()], sweep::grid_points(&clash).unwrap(), json!(null), Default::default(), 0)
            .unwrap_err()
            .to_string();
    assert!(err.contains("x=a_b") && err.contains("point 0"), "{err}");
    assert!(sweep::grid_points(&[("seed".into(), vec![])]).unwrap_err().to_string().contains("non-empty"));
    assert!(plan.point(4).unwrap_err().to_string().contains("0 to 3"));
}

#[test]
fn array_spec_and_batch_script() {
    assert_eq!(slurm::array_spec(&[8, 0, 1, 2, 5, 7]), "0-2,5,7-8");
    assert_eq!(slurm::array_spec(&[3]), "3");
    let points = sweep::grid_points(&[("seed".into(), (1..=4).map(serde_json::Value::from).collect())]).unwrap();
    let plan =
        Plan::new("s", Path::new("/r"), vec!["seed".into()], points, serde_json::Value::Null, Default::default(), 0)
            .unwrap();
    let opts = slurm::SlurmOptions {
        partition: Some("gpu".into()),
        gpus_per_task: Some(1),
        time: Some("01:00:00".into()),
        max_parallel: Some(2),
        extra: vec!["--account=my proj".into()],
        ..Default::default()
    };
    let args = vec!["sweep".to_string(), "/x/a b.rhai".into(), "--set".into(), "k=v".into()];
    let s = slurm::batch_script(&plan, &[0, 1, 3], &opts, Path::new("/bin/unlearn"), &args, None, Path::new("/w"));
    for line in [
        "#SBATCH --array=0-2%2",
        "points=(0 1 3)",
        "#SBATCH --output=/r/slurm/logs/%A_%a.out",
        "#SBATCH --chdir=/w",
        "#SBATCH --partition=gpu",
        "#SBATCH --gpus-per-task=1",
        "#SBATCH --time=01:00:00",
        "#SBATCH '--account=my proj'",
        "exec /bin/unlearn sweep '/x/a b.rhai' --set k=v --threads \"${SLURM_CPUS_PER_TASK:-1}\" --point \"${points[$SLURM_ARRAY_TASK_ID]}\"",
    ] {
        assert!(s.lines().any(|l| l == line), "no line {line:?} in\n{s}");
    }
    let s = slurm::batch_script(&plan, &[2], &Default::default(), Path::new("/u"), &[], Some(4), Path::new("/w"));
    assert!(s.contains("--threads 4 --point") && s.contains("#SBATCH --array=0-0\n"), "{s}");
    assert_eq!(slurm::expand_tasks("[3-5,9%2]"), [3, 4, 5, 9]);
    assert_eq!(slurm::expand_tasks("7"), [7]);
    assert!(slurm::expand_tasks("x").is_empty());
}

#[test]
fn ci95_uses_students_t_as_scipy_does() {
    let py = unlearn::data::builtin::cache_dir().join("venv").join("bin").join("python");
    let out = Command::new(py)
        .args(["-c", "import scipy.stats as s, json; print(json.dumps([s.t.ppf(0.975, d) for d in range(1, 41)]))"])
        .output()
        .expect("the venv's python (run `make setup`)");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let want: Vec<f64> = serde_json::from_slice(&out.stdout).unwrap();
    // the summary's interval is t(0.975, n - 1) * s / sqrt(n): groups of 2..=41 runs give the
    // factor back for 1..=40 degrees of freedom (t itself is private: a unit test in
    // src/report/summary.rs holds SciPy's values)
    let rows: Vec<serde_json::Value> = (1..=want.len())
        .flat_map(|df| (0..=df).map(move |i| serde_json::json!({"g": df, "x": (i * i) as f64})))
        .collect();
    let s = unlearn::report::summary::summarize(&rows, &["g".to_string()]).unwrap();
    assert_eq!(s.groups.len(), want.len());
    for (i, (w, g)) in want.iter().zip(&s.groups).enumerate() {
        assert_eq!(g.n, i + 2);
        let got = g.ci95[0] * ((i + 2) as f64).sqrt() / g.stats[0].2;
        assert!((got - w).abs() < 1e-9 * w, "df {}: {got} vs SciPy {w}", i + 1);
    }
    // none for a single run
    let rows: Vec<serde_json::Value> = [2.0, 4.0, 6.0]
        .iter()
        .map(|x| serde_json::json!({"g": "a", "x": x}))
        .chain([serde_json::json!({"g": "b", "x": 1.0})])
        .collect();
    let s = unlearn::report::summary::summarize(&rows, &["g".to_string()]).unwrap();
    assert!((s.groups[0].ci95[0] - want[1] * 2.0 / 3f64.sqrt()).abs() < 1e-12);
    assert!(s.groups[1].ci95[0].is_nan());
    let csv = s.to_csv();
    assert_eq!(csv.lines().next().unwrap(), "g,n,x_mean,x_std,x_ci95");
    assert!(csv.lines().nth(2).unwrap().ends_with(",1.000000,0.000000,"), "{csv}");
}

#[test]
fn plan_lists_points_and_folders_and_writes_nothing() {
    let f = Fixture::new();
    let o = f.sweep(&["--plan"], None);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(t.contains("6 points (method 2 x seed 3), 0 complete"), "{t}");
    assert!(t.contains("out/method=b,seed=3"), "{t}");
    assert!(!f.root().exists(), "--plan wrote {}", f.root().display());
    let o = f.sweep(&["--point", "6"], None);
    assert!(!o.status.success() && text(&o).contains("an index from 0 to 5"), "{}", text(&o));
    // a script without a sweep
    std::fs::write(f.dir.path().join("none.rhai"), "let x = 1;").unwrap();
    let o = Command::new(bin()).current_dir(f.dir.path()).args(["sweep", "none.rhai", "--plan"]).output().unwrap();
    assert!(!o.status.success() && text(&o).contains("defines no sweep"), "{}", text(&o));
}

#[test]
fn local_sweep_reports_a_failed_point_and_a_rerun_runs_only_it() {
    let f = Fixture::new();
    let o = f.sweep(&[], None);
    let t = text(&o);
    assert!(!o.status.success(), "{t}");
    assert!(t.contains("1 of the 6 points of sweep `pure` failed") && t.contains("4: method=b, seed=2"), "{t}");
    let o = f.sweep(&["--status"], None);
    let t = text(&o);
    assert!(t.contains("5 complete, 1 failed") && t.contains("injected failure"), "{t}");
    let o = f.sweep(&["--collect"], None);
    assert!(!o.status.success() && text(&o).contains("1 of the 6 points"), "{}", text(&o));
    // the point's own folder was its out_dir()
    let extra = std::fs::read_to_string(f.root().join("method=a,seed=1/extra.json")).unwrap();
    assert!(extra.contains("method=a,seed=1"), "{extra}");

    let before: Vec<SystemTime> = ["method=a,seed=1", "method=b,seed=3"].iter().map(|p| f.mtime(p)).collect();
    std::fs::write(f.ok_file(), "").unwrap();
    let o = f.sweep(&[], None);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(t.contains("5 already complete, 1 to run"), "{t}");
    let after: Vec<SystemTime> = ["method=a,seed=1", "method=b,seed=3"].iter().map(|p| f.mtime(p)).collect();
    assert_eq!(before, after, "a finished point was run again");
    let rows = csv_rows(&f.root().join("sweep_summary.csv"));
    assert_eq!(rows[0], ["method", "n", "x_mean", "x_std", "x_ci95"]);
    // a: x = 2, 4, 6 -> mean 4, std 2, CI half-width t(0.975, 2) * 2 / sqrt(3)
    assert_eq!(rows[1][..4], ["a", "3", "4.000000", "2.000000"]);
    let half: f64 = rows[1][4].parse().unwrap();
    assert!((half - 4.302652729749464 * 2.0 / 3f64.sqrt()).abs() < 1e-6, "{half}");
    assert_eq!(rows[2][..4], ["b", "3", "5.000000", "2.000000"]);

    // N child processes give the same table
    let o = f.command("out2", &["--jobs", "3"]).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("3 at a time"), "{}", text(&o));
    assert!(f.dir.path().join("out2/logs/point-5.log").is_file());
    assert_eq!(
        std::fs::read_to_string(f.root().join("sweep_summary.csv")).unwrap(),
        std::fs::read_to_string(f.dir.path().join("out2/sweep_summary.csv")).unwrap()
    );
    // another --set makes the records stale: they are not replaced unless asked
    let o = f.sweep(&["--set", "extra=1", "--plan"], None);
    assert!(text(&o).contains("0 complete"), "{}", text(&o));
    let o = f.sweep(&["--set", "extra=1", "--status"], None);
    assert!(
        text(&o).contains("6 stale") && text(&o).contains("--set extra: `1` here, unset in the record"),
        "{}",
        text(&o)
    );
    let o = f.sweep(&["--set", "extra=1"], None);
    assert!(
        !o.status.success() && text(&o).contains("6 points of sweep `pure`") && text(&o).contains("--overwrite"),
        "{}",
        text(&o)
    );
    let o = f.sweep(&["--set", "extra=1", "--overwrite"], None);
    assert!(o.status.success() && text(&o).contains("0 already complete, 6 to run"), "{}", text(&o));
    // options of one action are errors elsewhere
    let o = f.sweep(&["--partition", "gpu"], None);
    assert!(!o.status.success() && text(&o).contains("need --slurm"), "{}", text(&o));
    let o = f.sweep(&["--jobs", "2", "--status"], None);
    assert!(!o.status.success() && text(&o).contains("--jobs runs points locally"), "{}", text(&o));
}

#[test]
fn a_killed_local_sweep_resumes_without_redoing_finished_points() {
    let f = Fixture::new();
    std::fs::write(f.ok_file(), "").unwrap();
    let go = f.dir.path().join("go");
    let go_set = format!("go_file={}", go.display());
    let mut child = f
        .command("out", &["--set", &go_set])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // points 0..=4 finish; point 5 (b, 3) waits for the go file: kill the sweep there
    let marker = f.root().join("method=b,seed=3").join("status.json");
    let t0 = std::time::Instant::now();
    while !marker.is_file() {
        assert!(t0.elapsed().as_secs() < 60, "the sweep did not reach its last point");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let o = f.sweep(&["--status", "--set", &go_set], None);
    let t = text(&o);
    assert!(t.contains("5 complete, 1 interrupted"), "{t}");
    let before: Vec<SystemTime> = (1..=3).map(|s| f.mtime(&format!("method=a,seed={s}"))).collect();
    std::fs::write(&go, "").unwrap();
    let o = f.sweep(&["--set", &go_set], None);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(t.contains("5 already complete, 1 to run"), "{t}");
    let after: Vec<SystemTime> = (1..=3).map(|s| f.mtime(&format!("method=a,seed={s}"))).collect();
    assert_eq!(before, after);
}

/// A stand-in `sbatch` that runs every array task of the script at once (in order, each with
/// its log where `--output` says), and a `squeue` that lists what `queue` holds.
fn fake_slurm(dir: &Path) -> String {
    let bin_dir = dir.join("fake-bin");
    std::fs::create_dir_all(&bin_dir).unwrap();
    let sbatch = r#"#!/bin/bash
set -u
script="${@: -1}"
state="$(dirname "$0")"
job=$(cat "$state/next-job" 2>/dev/null || echo 100)
echo $((job + 1)) > "$state/next-job"
spec=$(grep -m1 '^#SBATCH --array=' "$script" | sed 's/^#SBATCH --array=//; s/%.*//')
out=$(grep -m1 '^#SBATCH --output=' "$script" | sed "s/^#SBATCH --output=//; s/'//g")
for part in ${spec//,/ }; do
    a=${part%-*}; b=${part#*-}
    for ((i = a; i <= b; i++)); do
        log=${out//%A/$job}; log=${log//%a/$i}
        SLURM_ARRAY_JOB_ID=$job SLURM_ARRAY_TASK_ID=$i bash "$script" > "$log" 2>&1 || true
    done
done
echo "$job"
"#;
    let squeue = "#!/bin/bash\ncat \"$(dirname \"$0\")/queue\" 2>/dev/null || true\n";
    for (name, body) in [("sbatch", sbatch), ("squeue", squeue)] {
        let p = bin_dir.join(name);
        std::fs::write(&p, body).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default())
}

#[test]
fn slurm_executor_submits_reports_failures_and_resubmits_only_them() {
    let f = Fixture::new();
    let path = fake_slurm(f.dir.path());
    // more points than the array size: several arrays, each task id below it
    let o = f.sweep(&["--slurm", "--dry-run", "--max-array-size", "4"], Some(&path));
    assert!(o.status.success(), "{}", text(&o));
    let first = std::fs::read_to_string(f.root().join("slurm/dry-run-1.sbatch")).unwrap();
    let second = std::fs::read_to_string(f.root().join("slurm/dry-run-2.sbatch")).unwrap();
    assert!(first.contains("#SBATCH --array=0-3\n") && first.contains("points=(0 1 2 3)\n"), "{first}");
    assert!(second.contains("#SBATCH --array=0-1\n") && second.contains("points=(4 5)\n"), "{second}");
    assert!(!f.root().join("slurm/submissions.json").exists() && !f.root().join("method=a,seed=1").exists());
    let o = f.sweep(&["--slurm", "--partition", "cpu", "--time", "00:05:00"], Some(&path));
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(t.contains("submitted job 100: 6 points") && t.contains("(points 0-5)"), "{t}");
    let script = std::fs::read_to_string(f.root().join("slurm/job-1.sbatch")).unwrap();
    assert!(
        script.contains("#SBATCH --partition=cpu") && script.contains("--point \"${points[$SLURM_ARRAY_TASK_ID]}\"")
    );

    let o = f.sweep(&["--status"], Some(&path));
    let t = text(&o);
    assert!(t.contains("5 complete, 1 failed"), "{t}");
    assert!(t.contains("injected failure") && t.contains("slurm/logs/100_4.out"), "{t}");
    assert!(std::fs::read_to_string(f.root().join("slurm/logs/100_4.out")).unwrap().contains("injected failure"));

    // a point still in the queue is not submitted again by --slurm
    std::fs::write(f.dir.path().join("fake-bin/queue"), "100_4|PENDING\n").unwrap();
    let o = f.sweep(&["--status"], Some(&path));
    assert!(text(&o).contains("1 pending"), "{}", text(&o));
    let o = f.sweep(&["--slurm"], Some(&path));
    assert!(text(&o).contains("nothing to submit"), "{}", text(&o));
    std::fs::remove_file(f.dir.path().join("fake-bin/queue")).unwrap();

    let done = f.mtime("method=a,seed=1");
    std::fs::write(f.ok_file(), "").unwrap();
    let o = f.sweep(&["--resubmit-failed"], Some(&path));
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(t.contains("submitted job 101: 1 point of") && t.contains("(points 4)"), "{t}");
    let script = std::fs::read_to_string(f.root().join("slurm/job-2.sbatch")).unwrap();
    assert!(script.contains("#SBATCH --array=0-0\n") && script.contains("points=(4)\n"), "{script}");
    assert_eq!(done, f.mtime("method=a,seed=1"));
    let o = f.sweep(&["--resubmit-failed"], Some(&path));
    assert!(text(&o).contains("no failed points"), "{}", text(&o));

    let o = f.sweep(&["--collect"], Some(&path));
    assert!(o.status.success(), "{}", text(&o));
    // the same table as the local executor's
    let local = f.command("local", &[]).output().unwrap();
    assert!(local.status.success(), "{}", text(&local));
    assert_eq!(
        std::fs::read_to_string(f.root().join("sweep_summary.csv")).unwrap(),
        std::fs::read_to_string(f.dir.path().join("local/sweep_summary.csv")).unwrap()
    );
}

#[test]
fn mnist_points_give_the_same_rows_in_this_process_and_in_child_processes() {
    let dir = tempfile::tempdir().unwrap();
    let run = |out: &str, extra: &[&str]| {
        let o = Command::new(bin())
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(["sweep", "scripts/sweep_methods.rhai", "--device", "cpu", "--threads", "1", "--out"])
            .arg(dir.path().join(out))
            .args(["--set", "take=400", "--set", "epochs=1", "--set", "method_epochs=1", "--set", "seeds=2"])
            .args(extra)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o));
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join(out).join("sweep_rows.json")).unwrap())
                .unwrap();
        // every row without its times
        v["result"]["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let mut r = r.as_object().unwrap().clone();
                r.retain(|k, _| !(k.ends_with("_s") || k == "seconds" || k == "speedup"));
                r
            })
            .collect::<Vec<_>>()
    };
    let here = run("here", &[]);
    let children = run("children", &["--jobs", "2"]);
    assert_eq!(here.len(), 4);
    assert!(here[0].contains_key("forget_acc") && here[0]["method"] == "finetune" && here[0]["seed"] == 1);
    assert_eq!(here, children);
}

#[test]
fn in_process_sweep_returns_the_table_and_summarize_takes_a_spread() {
    use std::rc::Rc;
    use unlearn::report::summary::Summary;
    use unlearn::script::{self, RunContext};
    let dir = tempfile::tempdir().unwrap();
    let ctx = Rc::new(RunContext::new("t.rhai", tch::Device::Cpu, 10, dir.path().to_path_buf(), Default::default()));
    let engine = script::engine(ctx, None);
    // what a notebook does: the points run here and sweep() returns the collected table; each
    // point's seed() is --seed (10) plus its seed, and the run's seed again afterwards
    let s: Summary = engine
        .eval(r#"let s = sweep(#{ name: "t", grid: #{ seed: [1, 2, 3] } }, |p| #{ x: 2.0 * p.seed, s: seed() }); if seed() != 10 { throw "seed" } s"#)
        .unwrap();
    assert_eq!(s.by, Vec::<String>::new());
    assert_eq!(s.groups[0].n, 3);
    assert_eq!(s.fields, ["s", "x"]);
    assert_eq!(s.groups[0].stats[0], ("s".to_string(), 12.0, 1.0));
    assert!(s.to_text().contains("4.0000 ± 4.9683"), "{}", s.to_text());
    let record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("seed=3/point.json")).unwrap()).unwrap();
    assert_eq!(record["result"]["seed"], 13);
    assert_eq!(record["run"]["seed"], 13);
    let text: String = engine
        .eval(r#"summarize([#{ g: "a", x: 2.0 }, #{ g: "a", x: 4.0 }, #{ g: "a", x: 6.0 }], ["g"], #{ spread: "ci95" }).to_string()"#)
        .unwrap();
    assert!(text.contains("4.0000 ± 4.9683") && text.contains("95 % confidence interval"), "{text}");
    let err =
        engine.eval::<rhai::Dynamic>(r#"summarize([#{ x: 1.0 }], [], #{ spred: "ci95" })"#).unwrap_err().to_string();
    assert!(err.contains("unknown option `spred`"), "{err}");
    let err = engine.eval::<rhai::Dynamic>(r#"sweep(#{ gird: #{} }, |p| #{})"#).unwrap_err().to_string();
    assert!(err.contains("unknown option `gird`"), "{err}");
}

/// Issue 19: the sweep executor is the core's ([`sweep::Runner`]): a plain Rust closure runs a
/// sweep with the same records, failure markers, messages, seeds and resumption as a script's
/// function, and every action works without rhai.
#[test]
fn the_runner_runs_a_rust_closure_as_it_runs_a_scripts_function() {
    use serde_json::{json, Map, Value};
    use std::cell::RefCell;
    use sweep::{Action, Exec, Outcome, Point, Runner};
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("out");
    let grid =
        [("method".to_string(), vec![json!("a"), json!("b")]), ("seed".into(), vec![json!(1), json!(2), json!(3)])];
    let plan_of = |config: Value| {
        let points = sweep::grid_points(&grid).unwrap();
        Plan::new("rust", &root, vec!["method".into(), "seed".into()], points, config, Default::default(), 10).unwrap()
    };
    let plan = plan_of(json!({ "k": 1 }));
    let run = unlearn::report::RunInfo::new("rust", tch::Device::Cpu, 10, &root, Default::default());
    let exec = |action: Action| Exec { action, ..Exec::in_process() };
    let calls = RefCell::new(Vec::new());
    // x = 2 * seed (+ 1 for method b) and a draw of libtorch's generator, which the runner seeds
    // with the point's seed (--seed 10 plus its seed); point (b, 2) fails while `fail`
    let experiment = |fail: bool| {
        let calls = &calls;
        move |p: &Point| -> unlearn::Result<Vec<Map<String, Value>>> {
            calls.borrow_mut().push(p.index);
            let seed = p.values["seed"].as_i64().unwrap();
            let b = p.values["method"] == "b";
            if fail && b && seed == 2 {
                return Err(unlearn::Error::invalid("point", p.label(), "no injected failure"));
            }
            let draw = tch::Tensor::randn([1], (tch::Kind::Float, tch::Device::Cpu)).double_value(&[0]);
            let mut row = Map::new();
            row.insert("x".into(), json!(2.0 * seed as f64 + if b { 1.0 } else { 0.0 }));
            row.insert("draw".into(), json!(draw));
            Ok(vec![row])
        }
    };
    let record = |folder: &str| -> Value {
        serde_json::from_str(&std::fs::read_to_string(root.join(folder).join("point.json")).unwrap()).unwrap()
    };
    let stat = |s: &unlearn::report::summary::Summary, group: usize, field: &str| {
        s.groups[group].stats.iter().find(|(f, _, _)| f == field).map(|(_, mean, _)| *mean).unwrap()
    };

    // --plan: prints, writes nothing, runs nothing
    let e = exec(Action::Plan);
    assert!(matches!(Runner::new(&plan, &e, &run).execute(experiment(true)), Ok(Outcome::Done)));
    assert!(calls.borrow().is_empty() && !root.exists());

    // a run: every point runs; the failure is listed and marked, the others are recorded
    let e = exec(Action::Run { jobs: 1 });
    let err = Runner::new(&plan, &e, &run).execute(experiment(true)).unwrap_err().to_string();
    assert!(err.contains("1 of the 6 points of sweep `rust` failed (the others are complete"), "{err}");
    assert!(err.contains("  4: method=b, seed=2: invalid point `method=b, seed=2`"), "{err}");
    assert_eq!(*calls.borrow(), [0, 1, 2, 3, 4, 5]);
    let marker: Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("method=b,seed=2/status.json")).unwrap()).unwrap();
    assert_eq!(marker["state"], "failed");
    assert!(marker["error"].as_str().unwrap().contains("no injected failure"), "{marker}");
    let a1 = record("method=a,seed=1");
    assert_eq!(a1["result"]["seed"], 11);
    assert_eq!(a1["run"]["seed"], 11);
    assert_eq!(a1["result"]["rows"][0]["method"], "a", "the point's parameters are added to its rows");
    assert_eq!(a1["result"]["rows"][0]["seed"], 1);
    // the same seed gives the same draw, whatever the method and the order
    let draw = |r: &Value| r["result"]["rows"][0]["draw"].as_f64().unwrap();
    assert_eq!(draw(&a1), draw(&record("method=b,seed=1")));
    assert_ne!(draw(&a1), draw(&record("method=a,seed=2")));

    // the rerun runs only the failed point, then collects: grouped by method, mean x
    calls.borrow_mut().clear();
    let Outcome::Collected(s) = Runner::new(&plan, &e, &run).execute(experiment(false)).unwrap() else {
        panic!("a run collects its table")
    };
    assert_eq!(*calls.borrow(), [4]);
    assert_eq!(s.by, ["method"]);
    assert_eq!((s.groups[0].n, stat(&s, 0, "x"), stat(&s, 1, "x")), (3, 4.0, 5.0));
    for file in ["sweep_summary.csv", "sweep_summary.json", "sweep_rows.json", "sweep.json"] {
        assert!(root.join(file).is_file(), "no {file}");
    }
    assert!(!root.join("method=b,seed=2/status.json").exists(), "a finished point has no marker");

    // --collect and --point I of a complete point run nothing
    calls.borrow_mut().clear();
    let e = exec(Action::Collect { allow_partial: false });
    let Outcome::Collected(again) = Runner::new(&plan, &e, &run).execute(experiment(false)).unwrap() else {
        panic!("--collect returns the table")
    };
    assert_eq!(again.to_text(), s.to_text());
    let e = exec(Action::Point(0));
    assert!(matches!(Runner::new(&plan, &e, &run).execute(experiment(false)), Ok(Outcome::Done)));
    assert!(calls.borrow().is_empty());

    // an error that ends the run (the --timeout) stops at once: the next missing point never runs
    std::fs::remove_file(root.join("method=a,seed=1/point.json")).unwrap();
    std::fs::remove_file(root.join("method=b,seed=3/point.json")).unwrap();
    let e = exec(Action::Run { jobs: 1 });
    let timeout = |p: &Point| -> unlearn::Result<Vec<Map<String, Value>>> {
        calls.borrow_mut().push(p.index);
        Err(unlearn::Error::Timeout(1.0))
    };
    let err = Runner::new(&plan, &e, &run).execute(timeout).unwrap_err();
    assert!(matches!(err, unlearn::Error::Timeout(_)), "{err}");
    assert_eq!(*calls.borrow(), [0]);
    let e = exec(Action::Collect { allow_partial: false });
    let err = Runner::new(&plan, &e, &run).execute(experiment(false)).unwrap_err().to_string();
    assert!(
        err.contains("2 of the 6 points of sweep `rust` are not complete") && err.contains("--allow-partial"),
        "{err}"
    );

    // records of another configuration are refused unless overwritten
    let other = plan_of(json!({ "k": 2 }));
    let err = Runner::new(&other, &e, &run).execute(experiment(false)).unwrap_err().to_string();
    assert!(err.contains("are not complete"), "{err}");
    let e = exec(Action::Run { jobs: 1 });
    let err = Runner::new(&other, &e, &run).execute(experiment(false)).unwrap_err().to_string();
    assert!(err.contains("hold results of another configuration") && err.contains("--overwrite"), "{err}");
    calls.borrow_mut().clear();
    let e = Exec { overwrite: true, ..exec(Action::Run { jobs: 1 }) };
    assert!(matches!(Runner::new(&other, &e, &run).execute(experiment(false)), Ok(Outcome::Collected(_))));
    assert_eq!(*calls.borrow(), [0, 1, 2, 3, 4, 5]);
}
