//! Issue 19: one typed core, a thin rhai skin. The core (every file under `src/` except the
//! script binding `src/script/`, the notebook session `src/notebook.rs` and the command line
//! `src/main.rs`) never names `crate::script` or `crate::notebook`: a behaviour lives in the core
//! and the skins call it, never the other way round. Read from the sources, so a new import
//! fails here.
use std::path::{Path, PathBuf};

/// The layers above the core, as crate-level module names.
const SKINS: [&str; 2] = ["script", "notebook"];

/// What a source file holds once comments, strings and character literals are gone: identifiers
/// and punctuation.
#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    PathSep,
    Open,
    Close,
    Comma,
    Other,
}

/// The tokens of `source` that can form a path: comments, string literals (raw and byte strings
/// too) and character literals are dropped, so a path named in a doc comment or a message does
/// not count.
fn tokens(source: &str) -> Vec<Token> {
    let c: Vec<char> = source.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < c.len() {
        let ch = c[i];
        let next = c.get(i + 1).copied();
        if ch == '/' && next == Some('/') {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if ch == '/' && next == Some('*') {
            let mut depth = 0;
            while i < c.len() {
                if c[i] == '/' && c.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if c[i] == '*' && c.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if ch == '"' {
            i += 1;
            while i < c.len() && c[i] != '"' {
                i += if c[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            out.push(Token::Other);
        } else if ch == '\'' {
            // a character literal ('x', '\n', '\u{..}') or a lifetime ('a)
            if next == Some('\\') {
                // the quote, the backslash and the escaped character, then up to the closing quote
                i += 3;
                while i < c.len() && c[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else if c.get(i + 2) == Some(&'\'') {
                i += 3;
            } else {
                i += 1;
            }
            out.push(Token::Other);
        } else if ch.is_alphabetic() || ch == '_' {
            let start = i;
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                i += 1;
            }
            let ident: String = c[start..i].iter().collect();
            if matches!(ident.as_str(), "r" | "br" | "cr") && raw_string_start(&c, i) {
                // r"..." or r#"..."#: ends at a quote followed by as many #
                let mut hashes = 0;
                while c[i] == '#' {
                    hashes += 1;
                    i += 1;
                }
                i += 1;
                while i < c.len() && !(c[i] == '"' && (0..hashes).all(|k| c.get(i + 1 + k) == Some(&'#'))) {
                    i += 1;
                }
                i += 1 + hashes;
                out.push(Token::Other);
            } else {
                out.push(Token::Ident(ident));
            }
        } else if ch == ':' && next == Some(':') {
            out.push(Token::PathSep);
            i += 2;
        } else {
            match ch {
                '{' => out.push(Token::Open),
                '}' => out.push(Token::Close),
                ',' => out.push(Token::Comma),
                w if w.is_whitespace() => {}
                _ => out.push(Token::Other),
            }
            i += 1;
        }
    }
    out
}

/// Whether what starts at `at` (after an `r`, `br` or `cr`) is a raw string: `#`s, if any, then a
/// quote (not a raw identifier such as `r#type`).
fn raw_string_start(c: &[char], at: usize) -> bool {
    let mut j = at;
    while c.get(j) == Some(&'#') {
        j += 1;
    }
    c.get(j) == Some(&'"')
}

/// The module path of a source file under `src/` (`src/sweep/mod.rs` → [sweep],
/// `src/sweep/local.rs` → [sweep, local], `src/lib.rs` → []).
fn module_of(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    let file = parts.pop().unwrap_or_default();
    match file.as_str() {
        "lib.rs" | "main.rs" | "mod.rs" => {}
        f => parts.push(f.trim_end_matches(".rs").to_string()),
    }
    parts
}

/// The first identifiers of the items of the group that opens at `tokens[k]` (`{a::b, c}` →
/// [a, c]; a nested group gives its own items).
fn group_heads(tokens: &[Token], k: usize) -> Vec<String> {
    let mut heads = Vec::new();
    let mut depth = 0;
    let mut item_start = true;
    for (j, t) in tokens.iter().enumerate().skip(k) {
        match t {
            Token::Open => {
                depth += 1;
                if depth > 1 && item_start {
                    heads.extend(group_heads(tokens, j));
                }
                item_start = depth == 1;
            }
            Token::Close => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            Token::Comma if depth == 1 => item_start = true,
            Token::Ident(name) if depth == 1 && item_start => {
                heads.push(name.clone());
                item_start = false;
            }
            _ => {}
        }
    }
    heads
}

/// The crate-level modules that the paths in `source` (a file of module `module`) reach through
/// `crate::`, `$crate::`, `super::` or `self::`: `crate::script::x` and
/// `use crate::{io, script::X}` both give `script`.
fn crate_modules_named(source: &str, module: &[String]) -> Vec<String> {
    let t = tokens(source);
    let mut out = Vec::new();
    let mut k = 0;
    while k < t.len() {
        let starts_path = k == 0 || t[k - 1] != Token::PathSep;
        let Token::Ident(first) = &t[k] else {
            k += 1;
            continue;
        };
        if !starts_path
            || !matches!(first.as_str(), "crate" | "super" | "self")
            || t.get(k + 1) != Some(&Token::PathSep)
        {
            k += 1;
            continue;
        }
        // resolve the leading crate / super / self into a module path
        let mut at: Vec<String> = module.to_vec();
        let mut j = k;
        loop {
            match &t[j] {
                Token::Ident(s) if s == "crate" => at.clear(),
                Token::Ident(s) if s == "super" => {
                    at.pop();
                }
                Token::Ident(s) if s == "self" => {}
                _ => break,
            }
            if t.get(j + 1) != Some(&Token::PathSep) {
                break;
            }
            j += 2;
        }
        if let Some(top) = at.first() {
            out.push(top.clone());
        } else {
            match t.get(j) {
                Some(Token::Ident(name)) => out.push(name.clone()),
                Some(Token::Open) => out.extend(group_heads(&t, j)),
                _ => {}
            }
        }
        k = j + 1;
    }
    out
}

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Whether a file (relative to `src/`) is one of the skins, which may use the core and each
/// other.
fn is_skin(rel: &Path) -> bool {
    rel.starts_with("script") || rel == Path::new("notebook.rs") || rel == Path::new("main.rs")
}

#[test]
fn the_scanner_sees_every_form_of_import_and_nothing_in_comments_or_strings() {
    let found = |src: &str, module: &[&str]| {
        let module: Vec<String> = module.iter().map(|s| s.to_string()).collect();
        crate_modules_named(src, &module)
    };
    assert_eq!(found("use crate::script::RunContext;", &["io"]), ["script"]);
    assert_eq!(found("use crate::{io, script::{self, rt}, report};", &["io"]), ["io", "script", "report"]);
    assert_eq!(found("use crate::{{notebook}};", &["io"]), ["notebook"]);
    assert_eq!(found("let e = crate :: notebook :: escape(s);", &["report", "table"]), ["notebook"]);
    assert_eq!(found("$crate::script::x!()", &["console"]), ["script"]);
    assert_eq!(found("use super::super::script::ctx;", &["sweep", "local"]), ["script"]);
    assert_eq!(found("use super::{Plan, State};", &["sweep", "local"]), ["sweep"]);
    assert_eq!(found("use super::script;", &["sweep"]), ["script"]);
    assert_eq!(found("fn f() { self::helper() }", &[]), ["helper"]);
    assert!(found("// use crate::script::x;\n/* crate::notebook */ let a = 1;", &["io"]).is_empty());
    assert!(found(r##"let s = "crate::script"; let r = r#"crate::notebook"#; let c = '"';"##, &["io"]).is_empty());
    assert!(found("fn f<'a>(x: &'a str) -> &'a str { x } use unlearn_like::script;", &["io"]).is_empty());
    assert!(found(r##"let q = '\''; let b = br#"crate::script"#; let r#type = 1;"##, &["io"]).is_empty());
    assert_eq!(found("pub mod script; let scripts = crate::scripts::x;", &[]), ["scripts"]);
}

#[test]
fn the_core_never_imports_the_script_binding_or_the_notebook() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut core = 0;
    let mut offences = Vec::new();
    for path in &files {
        let rel = path.strip_prefix(&src).unwrap();
        if is_skin(rel) {
            continue;
        }
        core += 1;
        let source = std::fs::read_to_string(path).unwrap();
        let module: Vec<String> = module_of(rel);
        for name in crate_modules_named(&source, &module) {
            if SKINS.contains(&name.as_str()) {
                offences.push(format!("src/{} names crate::{name}", rel.display()));
            }
        }
    }
    // the scan covers the core: the sweep executor and the evaluation among it
    assert!(core > 50, "only {core} core files found under {}", src.display());
    for must in ["sweep/runner.rs", "report/evaluate.rs", "report/html.rs", "runtime.rs", "io.rs", "lib.rs"] {
        assert!(files.iter().any(|f| f.ends_with(must)), "src/{must} was not scanned");
    }
    assert!(
        offences.is_empty(),
        "the core must not depend on the rhai binding or the notebook (move the behaviour into the core):\n{}",
        offences.join("\n")
    );
}
