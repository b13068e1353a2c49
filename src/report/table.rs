//! Result tables: one row per method, printed in the terminal and saved as CSV and JSON (the
//! JSON with the run record: config, seed, versions, device, times).
use super::RunInfo;
use crate::error::Result;
use crate::metrics::curve::QualityCurve;
use crate::metrics::forgetting::ForgettingScore;
use crate::metrics::mia::MiaScore;
use crate::metrics::relearn::Relearn;
use crate::metrics::{Gaps, Metrics};
use serde::Serialize;
use std::path::Path;

/// Seconds per phase of one method's run, each measured after a device synchronisation:
/// condensation (features, k-means, the condenser itself) when it trained on a reduced retain
/// set, the unlearning itself, and its evaluation.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Phases {
    pub features: f64,
    pub kmeans: f64,
    /// Blend's optimisation (or the whole of another condenser), with the free/residual split.
    pub condense: f64,
    pub unlearning: f64,
    pub evaluation: f64,
}

impl Phases {
    /// Pre-processing plus unlearning: the time a deletion request waits (method.md §4.4's
    /// "reported time" with Blend). Evaluation is not included.
    pub fn end_to_end(&self) -> f64 {
        self.features + self.kmeans + self.condense + self.unlearning
    }
}

/// How a row's model was made, where known: the method's options with every default filled in,
/// its epochs, and the set it trained on.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Provenance {
    /// The method's options (defaults filled in).
    pub options: Option<serde_json::Value>,
    /// Training epochs (the `epochs` option).
    pub epochs: Option<f64>,
    /// Name of the set it trained on (the retain set or R̃).
    pub trained_on: Option<String>,
    /// Its size.
    pub retain_size: Option<usize>,
}

impl Provenance {
    /// From a method's options and its training set.
    pub fn new(options: &serde_json::Value, trained_on: &str, size: usize) -> Self {
        let mut p = Provenance { trained_on: Some(trained_on.to_string()), retain_size: Some(size), ..Self::default() };
        p.set_options(options.clone());
        p
    }

    /// Records the method's options, and its epochs from their `epochs`.
    pub fn set_options(&mut self, options: serde_json::Value) {
        self.epochs = options.get("epochs").and_then(|e| e.as_f64());
        self.options = Some(options);
    }
}

/// One method's row.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// The method, with `+<condenser>` when it trained on a reduced retain set.
    pub method: String,
    /// Its options, epochs and training set.
    pub provenance: Provenance,
    /// Unlearning seconds (0 for the original model).
    pub seconds: f64,
    pub phases: Phases,
    /// Whether the row's time is known: false for a model evaluated without timing (the
    /// original, or `#{ name, model }` without `seconds`), shown as "–" and left empty in the CSV.
    pub timed: bool,
    pub metrics: Metrics,
    /// Gaps to the reference model, Tug-of-War and run-time efficiency (reference end-to-end
    /// time over this row's), when there is a reference.
    pub gaps: Option<Gaps>,
    pub tug_of_war: Option<f64>,
    pub speedup: Option<f64>,
    /// The unlearning challenge's forgetting score of the method's runs, when computed.
    pub forgetting: Option<ForgettingScore>,
    /// Its quality along its run, when traced, and the first time it was within the tolerances of
    /// the reference (`None` inside: never).
    pub curve: Option<QualityCurve>,
    pub time_to_retrain_like: Option<Option<f64>>,
    /// The relearning test, when run.
    pub relearn: Option<Relearn>,
    /// The retain-side MIA, and its change from the original model's, when audited.
    pub retain_mia: Option<MiaScore>,
    pub retain_mia_change: Option<f64>,
}

impl Row {
    pub fn new(method: String, phases: Phases, metrics: Metrics) -> Self {
        Row {
            method,
            provenance: Provenance::default(),
            seconds: phases.unlearning,
            phases,
            timed: true,
            metrics,
            gaps: None,
            tug_of_war: None,
            speedup: None,
            forgetting: None,
            curve: None,
            time_to_retrain_like: None,
            relearn: None,
            retain_mia: None,
            retain_mia_change: None,
        }
    }

    /// The row's numeric fields by column name (`None`: not available), in [`COLUMNS`] order
    /// after `method`. Used for the CSV and for flat script rows, so both list the same fields.
    pub fn fields(&self) -> Vec<(&'static str, Option<f64>)> {
        let m = &self.metrics;
        let g = self.gaps.as_ref();
        let l = m.lira.as_ref();
        let p = &self.phases;
        vec![
            ("retain_acc", Some(m.retain_acc)),
            ("forget_acc", Some(m.forget_acc)),
            ("test_acc", Some(m.test_acc)),
            ("mia", m.mia.measured().then_some(m.mia.score)),
            ("mia_raw", m.mia.measured().then_some(m.mia.raw)),
            ("mia_n", Some(m.mia.n as f64)),
            ("mia_swapped", m.mia.swapped),
            ("lira_auc", l.map(|l| l.auc)),
            ("lira_tpr_1pct", l.map(|l| l.tpr_at_1pct)),
            ("seconds", self.timed.then_some(self.seconds)),
            ("features_s", self.timed.then_some(p.features)),
            ("kmeans_s", self.timed.then_some(p.kmeans)),
            ("condense_s", self.timed.then_some(p.condense)),
            ("eval_s", Some(p.evaluation)),
            ("end_to_end_s", self.timed.then_some(p.end_to_end())),
            ("speedup", self.speedup),
            ("gap_retain", g.map(|g| g.retain)),
            ("gap_forget", g.map(|g| g.forget)),
            ("gap_test", g.map(|g| g.test)),
            ("gap_mia", g.map(|g| g.mia).filter(|v| !v.is_nan())),
            ("gap_mean", g.map(|g| g.mean)),
            ("tug_of_war", self.tug_of_war),
            ("epochs", self.provenance.epochs),
            ("retain_size", self.provenance.retain_size.map(|n| n as f64)),
            ("forget_score", self.forgetting.as_ref().map(|f| f.forget_score)),
            ("final_score", self.forgetting.as_ref().map(|f| f.final_score)),
            ("time_to_retrain_like_s", self.time_to_retrain_like.flatten()),
            ("retrain_like_reached", self.time_to_retrain_like.map(|t| if t.is_some() { 1.0 } else { 0.0 })),
            ("relearn_steps", self.relearn.as_ref().and_then(|r| r.steps).map(|s| s as f64)),
            ("relearn_reached", self.relearn.as_ref().map(|r| if r.steps.is_some() { 1.0 } else { 0.0 })),
            ("retain_mia", self.retain_mia.as_ref().filter(|m| m.measured()).map(|m| m.score)),
            ("retain_mia_change", self.retain_mia_change.filter(|v| !v.is_nan())),
        ]
    }

    /// The method's options as JSON text (empty when unknown): the CSV's last column.
    pub fn options_text(&self) -> String {
        self.provenance.options.as_ref().map(|o| o.to_string()).unwrap_or_default()
    }

    /// The row as one flat record: `method`, the numeric [`Row::fields`] it has, and `options`
    /// (JSON text) where known; what a summary groups and a sweep point records.
    pub fn flat(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut row = serde_json::Map::new();
        row.insert("method".into(), self.method.clone().into());
        for (k, v) in self.fields() {
            if let Some(v) = v {
                row.insert(k.into(), v.into());
            }
        }
        if self.provenance.options.is_some() {
            row.insert("options".into(), self.options_text().into());
        }
        row
    }
}

/// The optional columns of a table: those some row fills.
struct Optional {
    lira: bool,
    forgetting: bool,
    traced: bool,
    relearn: bool,
    retain_mia: bool,
}

/// A methods x metrics table.
#[derive(Debug, Clone, Serialize)]
pub struct Table {
    pub rows: Vec<Row>,
    /// The method the gaps refer to.
    pub reference: Option<String>,
}

/// CSV columns, in order.
pub const COLUMNS: [&str; 34] = [
    "method",
    "retain_acc",
    "forget_acc",
    "test_acc",
    "mia",
    "mia_raw",
    "mia_n",
    "mia_swapped",
    "lira_auc",
    "lira_tpr_1pct",
    "seconds",
    "features_s",
    "kmeans_s",
    "condense_s",
    "eval_s",
    "end_to_end_s",
    "speedup",
    "gap_retain",
    "gap_forget",
    "gap_test",
    "gap_mia",
    "gap_mean",
    "tug_of_war",
    "epochs",
    "retain_size",
    "forget_score",
    "final_score",
    "time_to_retrain_like_s",
    "retrain_like_reached",
    "relearn_steps",
    "relearn_reached",
    "retain_mia",
    "retain_mia_change",
    "options",
];

/// Rows of text cells as left-aligned columns two spaces apart (the first row is the header).
pub fn aligned(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> =
        (0..cols).map(|j| rows.iter().filter_map(|r| r.get(j)).map(|c| c.chars().count()).max().unwrap_or(0)).collect();
    let mut out = String::new();
    for r in rows {
        let cells: Vec<String> = r.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// A CSV cell: quoted when it holds a comma, a quote or a line break.
pub fn csv_cell(c: &str) -> String {
    if c.contains([',', '"', '\n']) {
        format!("\"{}\"", c.replace('"', "\"\""))
    } else {
        c.to_string()
    }
}

impl Table {
    /// Every row as a flat record ([`Row::flat`]).
    pub fn flat_rows(&self) -> Vec<serde_json::Map<String, serde_json::Value>> {
        self.rows.iter().map(Row::flat).collect()
    }

    /// The table as CSV (header + one line per method; empty cells for what a row lacks).
    pub fn to_csv(&self) -> String {
        let mut out = COLUMNS.join(",");
        out.push('\n');
        for r in &self.rows {
            let mut cells = vec![csv_cell(&r.method)];
            cells.extend(r.fields().into_iter().map(|(_, v)| v.map(|v| format!("{v:.6}")).unwrap_or_default()));
            cells.push(csv_cell(&r.options_text()));
            out.push_str(&cells.join(","));
            out.push('\n');
        }
        out
    }

    /// The columns shown in the terminal and in notebooks, each (header, width), and every row's
    /// cells formatted: accuracies in %, MIA, the LiRA AUC when any row has it, end-to-end
    /// seconds, speed-up, mean gap and Tug-of-War ("-" where a row lacks a value).
    /// Which optional columns the rows fill (the terminal table shows those and defines them).
    fn optional(&self) -> Optional {
        let any = |f: &dyn Fn(&Row) -> bool| self.rows.iter().any(f);
        Optional {
            lira: any(&|r| r.metrics.lira.is_some()),
            forgetting: any(&|r| r.forgetting.is_some()),
            traced: any(&|r| r.time_to_retrain_like.is_some()),
            relearn: any(&|r| r.relearn.is_some()),
            retain_mia: any(&|r| r.retain_mia.is_some()),
        }
    }

    fn display(&self) -> (Vec<(&'static str, usize)>, Vec<Vec<String>>) {
        let Optional { lira, forgetting, traced, relearn, retain_mia } = self.optional();
        let mut head = vec![("method", 16), ("retain%", 8), ("forget%", 8), ("test%", 8), ("MIA", 7)];
        if lira {
            let unlearned =
                self.rows.iter().any(|r| r.metrics.lira.as_ref().is_some_and(|l| l.attack.starts_with("U-LiRA")));
            head.push((if unlearned { "U-LiRA AUC" } else { "LiRA AUC" }, 10));
        }
        head.extend([("seconds", 9), ("speedup", 8), ("mean gap", 9), ("ToW", 6)]);
        if forgetting {
            head.extend([("F", 6), ("final", 6)]);
        }
        if traced {
            head.push(("to RL s", 8));
        }
        if relearn {
            head.push(("relearn", 7));
        }
        if retain_mia {
            head.extend([("ret MIA", 7), ("ret Δ", 6)]);
        }
        head.extend([("epochs", 6), ("trained on", 10)]);
        let dash = |v: Option<String>| v.unwrap_or_else(|| "–".into());
        let rows = self
            .rows
            .iter()
            .map(|r| {
                let m = &r.metrics;
                let mut cells = vec![
                    r.method.clone(),
                    format!("{:.2}", 100.0 * m.retain_acc),
                    format!("{:.2}", 100.0 * m.forget_acc),
                    format!("{:.2}", 100.0 * m.test_acc),
                    // marked where too few items make it rough (see the footer)
                    if !m.mia.measured() {
                        "–".into()
                    } else if m.mia.n < crate::metrics::mia::MIN_ITEMS_PER_SIDE {
                        format!("{:.2}*", m.mia.score)
                    } else {
                        format!("{:.2}", m.mia.score)
                    },
                ];
                if lira {
                    cells.push(dash(m.lira.as_ref().map(|l| format!("{:.3}", l.auc))));
                }
                cells.extend([
                    if r.timed { format!("{:.2}", r.phases.end_to_end()) } else { "–".into() },
                    dash(r.speedup.map(|s| format!("{s:.1}x"))),
                    dash(r.gaps.as_ref().map(|g| format!("{:.4}", g.mean))),
                    dash(r.tug_of_war.map(|t| format!("{t:.3}"))),
                ]);
                if forgetting {
                    cells.push(dash(r.forgetting.as_ref().map(|f| format!("{:.3}", f.forget_score))));
                    cells.push(dash(r.forgetting.as_ref().map(|f| format!("{:.3}", f.final_score))));
                }
                if traced {
                    cells.push(match r.time_to_retrain_like {
                        Some(Some(t)) => format!("{t:.2}"),
                        Some(None) => "never".into(),
                        None => "–".into(),
                    });
                }
                if relearn {
                    cells.push(match &r.relearn {
                        Some(Relearn { steps: Some(s), .. }) => s.to_string(),
                        Some(Relearn { max_steps, .. }) => format!(">{max_steps}"),
                        None => "–".into(),
                    });
                }
                if retain_mia {
                    cells.push(dash(r.retain_mia.as_ref().filter(|m| m.measured()).map(|m| format!("{:.2}", m.score))));
                    cells.push(dash(r.retain_mia_change.filter(|v| !v.is_nan()).map(|v| format!("{v:+.2}"))));
                }
                cells.extend([
                    dash(r.provenance.epochs.map(|e| format!("{e}"))),
                    dash(r.provenance.retain_size.map(|n| n.to_string())),
                ]);
                cells
            })
            .collect();
        (head, rows)
    }

    fn footer(&self) -> Option<String> {
        let mut lines = Vec::new();
        if let Some(reference) = &self.reference {
            lines.push(format!(
                "(seconds: end to end, condensation included; speed-up, gaps and Tug-of-War against {reference})"
            ));
        }
        if let Some(l) = self.rows.iter().find_map(|r| r.metrics.lira.as_ref()) {
            lines.push(format!(
                "({}: {} shadows, AUC of forget vs held-out targets; 0.5 is ideal)",
                l.attack, l.shadows
            ));
        }
        let min = crate::metrics::mia::MIN_ITEMS_PER_SIDE;
        if self.rows.iter().any(|r| !r.metrics.mia.measured()) {
            lines.push(format!(
                "(– MIA: not measured, fewer than {} forget items or held-out items of their classes; the mean gap is then over the three accuracies)",
                crate::metrics::mia::MIN_ATTACK_ITEMS
            ));
        }
        if let Some(n) =
            self.rows.iter().filter(|r| r.metrics.mia.measured()).map(|r| r.metrics.mia.n).filter(|&n| n < min).min()
        {
            lines.push(format!(
                "(* MIA from only {n} items per side, fewer than {min}: one item moves the AUC by several points, so read it as a rough indication; a larger evaluation split or forget set gives a firmer score)"
            ));
        }
        if let Some(f) = self.rows.iter().find_map(|r| r.forgetting.as_ref()) {
            lines.push(format!(
                "(F from {} runs against {} oracles, bank {}: F's scale depends on that number (with 4 a side, two samples of one distribution already score about 0.25), so compare F only at equal numbers; a deterministic method scores 0)",
                f.models,
                f.models,
                &f.oracle_hash[..f.oracle_hash.len().min(12)]
            ));
        }
        for d in crate::metrics::definitions::legend(self.shown_fields()) {
            lines.push(d);
        }
        (!lines.is_empty()).then(|| lines.join("\n"))
    }

    /// The metric fields the terminal table shows (for its definitions).
    fn shown_fields(&self) -> Vec<&'static str> {
        let o = self.optional();
        let mut out = vec!["retain_acc", "forget_acc", "test_acc", "mia"];
        if o.lira {
            out.push("lira_auc");
        }
        out.extend(["end_to_end_s", "speedup", "gap_mean", "tug_of_war"]);
        if o.forgetting {
            out.extend(["forget_score", "final_score"]);
        }
        if o.traced {
            out.push("time_to_retrain_like_s");
        }
        if o.relearn {
            out.push("relearn_steps");
        }
        if o.retain_mia {
            out.extend(["retain_mia", "retain_mia_change"]);
        }
        out
    }

    /// Two or three sentences reading the table against its reference: which method was fastest
    /// and by how much, which came closest to the reference and by how much, and what the
    /// fastest gives up (or that it is also the closest). Rows without timing or gaps are left
    /// out; `None` without a reference or a compared method.
    pub fn reading(&self) -> Option<String> {
        let reference = self.reference.as_ref()?;
        let rows: Vec<&Row> = self
            .rows
            .iter()
            .filter(|r| r.timed && &r.method != reference && r.gaps.is_some() && r.phases.end_to_end() > 0.0)
            .collect();
        let ref_row = self.rows.iter().find(|r| &r.method == reference)?;
        let ref_s = ref_row.phases.end_to_end();
        let fastest = rows.iter().min_by(|a, b| a.phases.end_to_end().total_cmp(&b.phases.end_to_end()))?;
        let gap = |r: &Row| 100.0 * r.gaps.as_ref().map(|g| g.mean).unwrap_or(f64::NAN);
        let closest = rows.iter().min_by(|a, b| gap(a).total_cmp(&gap(b)))?;
        let pace = |r: &Row| {
            let t = r.phases.end_to_end();
            if ref_s <= 0.0 {
                format!("{t:.1} s")
            } else if t <= ref_s {
                format!("{t:.1} s, {:.1}x faster than {reference}'s {ref_s:.1} s", ref_s / t)
            } else {
                format!("{t:.1} s, {:.1}x slower than {reference}'s {ref_s:.1} s", t / ref_s)
            }
        };
        let mut out = vec![format!("Fastest: {} ({}).", fastest.method, pace(fastest))];
        out.push(format!(
            "Closest to {reference}: {} (mean gap {:.2} points over retain, forget and test accuracy and MIA).",
            closest.method,
            gap(closest)
        ));
        if fastest.method != closest.method {
            out.push(format!(
                "{} is {:.2} points further from {reference} than {} ({:.2} vs {:.2}), which took {}.",
                fastest.method,
                gap(fastest) - gap(closest),
                closest.method,
                gap(fastest),
                gap(closest),
                pace(closest)
            ));
        } else {
            out.push(format!("{} is both the fastest and the closest here.", fastest.method));
        }
        if ref_s > 0.0 && rows.iter().all(|r| r.phases.end_to_end() > ref_s) {
            out.push(format!("Every method took longer than {reference} itself in this setting."));
        }
        Some(out.join(" "))
    }

    /// A terminal table: accuracies in %, MIA, end-to-end time, speed-up and mean gap.
    pub fn to_text(&self) -> String {
        let (head, rows) = self.display();
        let line = |cells: Vec<String>| -> String {
            let parts: Vec<String> = cells
                .iter()
                .zip(&head)
                .enumerate()
                .map(|(i, (c, (_, w)))| if i == 0 { format!("{c:<w$}") } else { format!("{c:>w$}") })
                .collect();
            parts.join(" ") + "\n"
        };
        let mut out = line(head.iter().map(|(h, _)| h.to_string()).collect());
        for cells in rows {
            out.push_str(&line(cells));
        }
        if let Some(f) = self.footer() {
            out.push_str(&f);
            out.push('\n');
        }
        if let Some(r) = self.reading() {
            out.push_str(&r);
            out.push('\n');
        }
        out
    }

    /// An HTML table (notebooks) with the terminal table's columns.
    pub fn to_html(&self) -> String {
        let esc = super::html::escape;
        let (head, rows) = self.display();
        let mut h = String::from("<table><tr>");
        for (c, _) in head {
            h.push_str(&format!("<th>{}</th>", esc(c)));
        }
        h.push_str("</tr>");
        for cells in rows {
            h.push_str("<tr>");
            for c in cells {
                h.push_str(&format!("<td>{}</td>", esc(&c)));
            }
            h.push_str("</tr>");
        }
        h.push_str("</table>");
        if let Some(f) = self.footer() {
            h.push_str(&format!("<p>{}</p>", esc(&f)));
        }
        if let Some(r) = self.reading() {
            h.push_str(&format!("<p>{}</p>", esc(&r)));
        }
        h
    }

    /// evcxr's rich display (a notebook cell whose value is a table).
    pub fn evcxr_display(&self) {
        crate::outln!("EVCXR_BEGIN_CONTENT text/html\n{}\nEVCXR_END_CONTENT", self.to_html());
    }

    /// Writes `<dir>/table.csv` and `<dir>/table.json` (with the run record and the definitions
    /// of every metric column), atomically.
    pub fn save(&self, dir: &Path, run: &RunInfo) -> Result<()> {
        crate::io::write_atomic(dir.join("table.csv"), self.to_csv().as_bytes())?;
        let definitions = crate::metrics::definitions::json(COLUMNS);
        super::save_result(&dir.join("table.json"), &super::WithDefinitions { result: self, definitions }, run)
    }
}
