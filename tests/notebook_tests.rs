//! The notebook session: state across cells, captured output, rich renderings, errors.
use unlearn::notebook::Session;

fn session(dir: &std::path::Path) -> Session {
    Session::with(tch::Device::Cpu, 0, dir).unwrap()
}

#[test]
fn variables_and_functions_persist_across_cells() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = session(dir.path());
    let out = s.run("let x = 40; fn twice(v) { v * 2 } print(`x is ${x}`);").unwrap();
    assert_eq!(out.printed, "x is 40\n");
    let out = s.run("let y = twice(x) + 2; y").unwrap();
    assert_eq!(out.text.as_deref(), Some("82"));
    // a redefinition replaces the function; variables keep their values
    s.run("fn twice(v) { v * 3 }").unwrap();
    assert_eq!(s.run("twice(y)").unwrap().text.as_deref(), Some("246"));
    assert_eq!(s.functions(), vec!["twice".to_string()]);
    assert!(s.variables().contains(&"y".to_string()));
}

#[test]
fn datasets_models_tables_and_plots_render_richly() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = session(dir.path());
    let out = s
        .run(r#"let data = synthetic(#{ train: 120, test: 60, classes: 3, channels: 1, height: 8, width: 8, seed: 1 }); data"#)
        .unwrap();
    assert!(out.html.as_deref().unwrap().contains("3 classes") || out.html.as_deref().unwrap().contains("per class"));
    assert!(image::load_from_memory(out.png.as_deref().unwrap()).is_ok(), "sample grid PNG");
    let out = s
        .run(r#"let m = convnet3(data, #{ width: 8 }); train(m, data.train, #{ epochs: 2, progress: false }); m"#)
        .unwrap();
    let html = out.html.unwrap();
    assert!(html.contains("parameters") && html.contains("<td>2</td>"), "{html}");
    s.run(r#"let request = forget_uniform(data.train, 0.2, #{ seed: 1 }); let parts = data.test.reference_split(#{ seed: 1 });"#)
        .unwrap();
    let out = s
        .run(r#"let r = unlearn(m, "retrain", #{ request: request, epochs: 1, progress: false }); let f = unlearn(m, "finetune", #{ request: request, epochs: 1, progress: false });
               let table = evaluate([m, r, f], request, parts.evaluation, #{ reference: r }); table"#)
        .unwrap();
    let html = out.html.unwrap();
    assert!(html.starts_with("<table>") && html.contains("<td>finetune</td>"), "{html}");
    let out = s.run("plot_metrics(table)").unwrap();
    assert!(image::load_from_memory(out.png.as_deref().unwrap()).is_ok());
}

#[test]
fn errors_name_the_cell_line_and_leave_the_session_usable() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = session(dir.path());
    s.run("let a = 1;").unwrap();
    let err = s.run("let b = a + 1;\nlet c = b.no_such();").unwrap_err().to_string();
    assert!(err.contains("--> cell 2:2:11") && err.contains("no_such"), "{err}");
    let err = s.run("let d = (;").unwrap_err().to_string();
    assert!(err.contains("syntax error") && err.contains("cell 3:1"), "{err}");
    assert_eq!(s.run("a").unwrap().text.as_deref(), Some("1"));
}

#[test]
fn functions_persist_past_strings_and_comments_and_are_redefined() {
    let mut s = Session::with(tch::Device::Cpu, 0, std::env::temp_dir()).unwrap();
    let src = "let s = \"fn fake() { }\"; // fn nope() {}\nfn one(a) { if a { `}` } else { 2 } }\n/* fn two() {} */ private fn three() { #{ x: 1 } }";
    s.run(src).unwrap();
    assert_eq!(s.functions(), vec!["one", "three"], "strings and comments hold none");
    // a later cell calls them, and the closure kept in `t` still works
    assert_eq!(s.run("one(false) + three().x").unwrap().text.as_deref(), Some("3"));
    // a redefinition replaces the earlier one
    s.run("fn one(a) { 5 }").unwrap();
    assert_eq!(s.run("one(true)").unwrap().text.as_deref(), Some("5"));
    assert_eq!(s.functions(), vec!["one", "three"]);
}

#[test]
fn functions_follow_rhai_overloading_and_failed_cells_define_none() {
    let mut s = Session::with(tch::Device::Cpu, 0, std::env::temp_dir()).unwrap();
    s.run("let base = 10; fn f(a) { a + 1 } fn g() { 7 }").unwrap();
    // another arity is another function (rhai's overloading); both stay callable
    s.run("fn f(a, b) { a * b }").unwrap();
    assert_eq!(s.run("f(1) + f(2, 3) + base").unwrap().text.as_deref(), Some("18"));
    // a cell that fails defines nothing, not even the functions before the failing line
    assert!(s.run("fn g() { 100 }\nlet z = no_such_variable;").is_err());
    assert!(s.run("fn h() { 1 }\nthrow \"stop\";").is_err());
    assert_eq!(s.run("g()").unwrap().text.as_deref(), Some("7"));
    assert_eq!(s.functions(), vec!["f", "g"]);
    // redefining every function of the first cell leaves the first cell's variables alone
    s.run("fn f(a) { a - 1 } fn g() { 0 }").unwrap();
    assert_eq!(s.run("f(1) + f(2, 3) + g() + base").unwrap().text.as_deref(), Some("16"));
}
