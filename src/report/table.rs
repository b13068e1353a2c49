//! Result tables: one row per method, printed in the terminal and saved as CSV and JSON (the
//! JSON with the run record: config, seed, versions, device, times).
use super::RunInfo;
use crate::error::Result;
use crate::metrics::{Gaps, Metrics};
use serde::Serialize;
use std::path::Path;

/// One method's row.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub method: String,
    /// Unlearning seconds (0 for the original model).
    pub seconds: f64,
    pub metrics: Metrics,
    /// Gaps to the reference model, Tug-of-War and run-time efficiency, when there is a reference.
    pub gaps: Option<Gaps>,
    pub tug_of_war: Option<f64>,
    pub speedup: Option<f64>,
}

/// A methods x metrics table.
#[derive(Debug, Clone, Serialize)]
pub struct Table {
    pub rows: Vec<Row>,
    /// The method the gaps refer to.
    pub reference: Option<String>,
}

/// CSV columns, in order.
pub const COLUMNS: [&str; 12] = [
    "method",
    "retain_acc",
    "forget_acc",
    "test_acc",
    "mia",
    "mia_raw",
    "seconds",
    "speedup",
    "gap_retain",
    "gap_forget",
    "gap_test",
    "gap_mean",
];

impl Table {
    fn cells(r: &Row) -> Vec<String> {
        let opt = |v: Option<f64>| v.map(|v| format!("{v:.6}")).unwrap_or_default();
        let g = r.gaps.as_ref();
        vec![
            r.method.clone(),
            format!("{:.6}", r.metrics.retain_acc),
            format!("{:.6}", r.metrics.forget_acc),
            format!("{:.6}", r.metrics.test_acc),
            format!("{:.4}", r.metrics.mia.score),
            format!("{:.4}", r.metrics.mia.raw),
            format!("{:.4}", r.seconds),
            opt(r.speedup),
            opt(g.map(|g| g.retain)),
            opt(g.map(|g| g.forget)),
            opt(g.map(|g| g.test)),
            opt(g.map(|g| g.mean)),
        ]
    }

    /// The table as CSV (header + one line per method).
    pub fn to_csv(&self) -> String {
        let mut out = COLUMNS.join(",");
        out.push('\n');
        for r in &self.rows {
            let cells: Vec<String> =
                Self::cells(r).into_iter().map(|c| if c.contains(',') { format!("\"{c}\"") } else { c }).collect();
            out.push_str(&cells.join(","));
            out.push('\n');
        }
        out
    }

    /// A terminal table: accuracies in %, MIA, time, speed-up and mean gap to the reference.
    pub fn to_text(&self) -> String {
        let mut out = format!(
            "{:<14} {:>8} {:>8} {:>8} {:>7} {:>9} {:>8} {:>9}\n",
            "method", "retain%", "forget%", "test%", "MIA", "seconds", "speedup", "mean gap"
        );
        for r in &self.rows {
            let m = &r.metrics;
            out.push_str(&format!(
                "{:<14} {:>8.2} {:>8.2} {:>8.2} {:>7.2} {:>9.2} {:>8} {:>9}\n",
                r.method,
                100.0 * m.retain_acc,
                100.0 * m.forget_acc,
                100.0 * m.test_acc,
                m.mia.score,
                r.seconds,
                r.speedup.map(|s| format!("{s:.1}x")).unwrap_or_else(|| "-".into()),
                r.gaps.as_ref().map(|g| format!("{:.4}", g.mean)).unwrap_or_else(|| "-".into()),
            ));
        }
        if let Some(reference) = &self.reference {
            out.push_str(&format!("(gaps and speed-up against {reference})\n"));
        }
        out
    }

    /// Writes `<dir>/table.csv` and `<dir>/table.json` (with the run record), atomically.
    pub fn save(&self, dir: &Path, run: &RunInfo) -> Result<()> {
        crate::io::write_atomic(dir.join("table.csv"), self.to_csv().as_bytes())?;
        super::save_result(&dir.join("table.json"), self, run)
    }
}
