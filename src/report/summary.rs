//! Mean ± standard deviation (or 95 % confidence interval) over repeated runs (seeds): rows (flat
//! JSON objects) grouped by some of their fields, every other numeric field summarised.
use super::RunInfo;
use crate::error::{Error, Result};
use serde::Serialize;
use std::path::Path;

/// Fields shown in the terminal when present (accuracies, MIA, time, gap); the CSV has all.
const HEADLINE: [&str; 17] = [
    "retain_acc",
    "forget_acc",
    "test_acc",
    "mia",
    "lira_auc",
    "end_to_end_s",
    "speedup",
    "gap_mean",
    "train_acc",
    "condense_seconds",
    "images",
    "forget_score",
    "final_score",
    "time_to_retrain_like_s",
    "retrain_like_reached",
    "relearn_steps",
    "retain_mia_change",
];

/// One group's statistics.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Group {
    /// The grouping fields' values, as text.
    pub key: Vec<String>,
    /// Runs in the group.
    pub n: usize,
    /// (field, mean, sample standard deviation; 0 for a single run).
    pub stats: Vec<(String, f64, f64)>,
    /// Half-width of the two-sided 95 % confidence interval of each field's mean (Student's t
    /// with n - 1 degrees of freedom, n the runs that have the field), in the order of `stats`;
    /// NaN (JSON null) for fewer than two runs.
    pub ci95: Vec<f64>,
    /// Runs that have each field (a run may lack one: e.g. a time to Retrain-like it never
    /// reached), in the order of `stats`; its mean and spread are over these.
    pub counts: Vec<usize>,
}

/// What the text and HTML tables show after the mean (the CSV and JSON have both).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Spread {
    /// ± the sample standard deviation.
    #[default]
    Std,
    /// ± the half-width of the 95 % confidence interval of the mean.
    Ci95,
}

impl Spread {
    /// `std` or `ci95`.
    pub fn parse(s: &str) -> Result<Spread> {
        match s {
            "std" => Ok(Spread::Std),
            "ci95" => Ok(Spread::Ci95),
            other => Err(Error::invalid("spread", other, "std or ci95")),
        }
    }
}

/// The 0.975 quantile of Student's t with `df` degrees of freedom (the 95 % two-sided factor).
fn t975(df: usize) -> f64 {
    if df == 0 {
        return f64::NAN;
    }
    use statrs::distribution::{ContinuousCDF, StudentsT};
    StudentsT::new(0.0, 1.0, df as f64).map(|t| t.inverse_cdf(0.975)).unwrap_or(f64::NAN)
}

/// Half-width of the 95 % confidence interval of the mean of `n` values with sample standard
/// deviation `std`: t(0.975, n - 1) · std / √n; NaN for n < 2.
fn ci95_half_width(n: usize, std: f64) -> f64 {
    if n < 2 {
        return f64::NAN;
    }
    t975(n - 1) * std / (n as f64).sqrt()
}

/// A summary table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    pub by: Vec<String>,
    pub fields: Vec<String>,
    pub groups: Vec<Group>,
    /// What the text and HTML tables show after the mean.
    pub spread: Spread,
}

fn text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => "-".into(),
        other => other.to_string(),
    }
}

/// Groups `rows` by the fields `by` (first-seen order) and summarises every numeric field that
/// is not a grouping field and not `seed`.
pub fn summarize(rows: &[serde_json::Value], by: &[String]) -> Result<Summary> {
    let mut fields: Vec<String> = Vec::new();
    for (i, r) in rows.iter().enumerate() {
        let obj = r.as_object().ok_or_else(|| Error::invalid(format!("row {i}"), r, "a map of values"))?;
        for b in by {
            if !obj.contains_key(b) {
                return Err(Error::invalid(
                    format!("row {i}"),
                    format!("{r}"),
                    format!("a value for the grouping field `{b}`"),
                ));
            }
        }
        for (k, v) in obj {
            if v.is_number() && !by.contains(k) && k != "seed" && !fields.contains(k) {
                fields.push(k.clone());
            }
        }
    }
    // a field that is a number in some rows must be one (or absent) in all: a text value would
    // otherwise drop that row from the field's mean without a word
    for (i, r) in rows.iter().enumerate() {
        for f in &fields {
            if let Some(v) = r.get(f).filter(|v| !v.is_number() && !v.is_null()) {
                return Err(Error::invalid(
                    format!("field `{f}` of row {i}"),
                    v,
                    "a number, as in the other rows (or no value)",
                ));
            }
        }
    }
    let mut groups: Vec<(Vec<String>, Vec<&serde_json::Value>)> = Vec::new();
    for r in rows {
        let key: Vec<String> = by.iter().map(|b| text(&r[b])).collect();
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, members)) => members.push(r),
            None => groups.push((key, vec![r])),
        }
    }
    let groups = groups
        .into_iter()
        .map(|(key, members)| {
            let counts: Vec<usize> =
                fields.iter().map(|f| members.iter().filter(|r| r[f].as_f64().is_some()).count()).collect();
            let (stats, ci95) = fields
                .iter()
                .map(|f| {
                    let vals: Vec<f64> = members.iter().filter_map(|r| r[f].as_f64()).collect();
                    let n = vals.len() as f64;
                    // no run has it: no mean (NaN, shown "–")
                    let mean = vals.iter().sum::<f64>() / n;
                    let var = if vals.len() > 1 {
                        vals.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)
                    } else {
                        0.0
                    };
                    ((f.clone(), mean, var.sqrt()), ci95_half_width(vals.len(), var.sqrt()))
                })
                .unzip();
            Group { key, n: members.len(), stats, ci95, counts }
        })
        .collect();
    Ok(Summary { by: by.to_vec(), fields, groups, spread: Spread::Std })
}

impl Summary {
    /// The same summary, its tables showing `spread`.
    pub fn with_spread(mut self, spread: Spread) -> Summary {
        self.spread = spread;
        self
    }

    /// `mean ± spread` of field `i` of group `g`, with `decimals` digits.
    fn cell(&self, g: &Group, i: usize, decimals: usize) -> String {
        let (_, m, s) = &g.stats[i];
        let m = if *m == 0.0 { &0.0 } else { m }; // no "-0.0000"
        let spread = match self.spread {
            Spread::Std => *s,
            Spread::Ci95 => g.ci95[i],
        };
        let n = g.counts.get(i).copied().unwrap_or(g.n);
        if n == 0 {
            "–".into()
        } else if n == 1 {
            // one run has no spread
            format!("{m:.decimals$} (n = 1)")
        } else if n < g.n {
            // a mean over the runs that have the field only: say so
            if spread.is_nan() {
                format!("{m:.decimals$} ± - (n = {n})")
            } else {
                format!("{m:.decimals$} ± {spread:.decimals$} (n = {n})")
            }
        } else if spread.is_nan() {
            format!("{m:.decimals$} ± -")
        } else {
            format!("{m:.decimals$} ± {spread:.decimals$}")
        }
    }

    /// What follows the mean in the tables, in words.
    fn spread_words(&self) -> &'static str {
        match self.spread {
            Spread::Std => "mean ± sample std",
            Spread::Ci95 => "mean ± half-width of the 95 % confidence interval (Student's t)",
        }
    }

    /// `by..., n, field_mean, field_std, field_ci95, ...` as CSV (ci95 empty for a single run).
    pub fn to_csv(&self) -> String {
        let mut head: Vec<String> = self.by.clone();
        head.push("n".into());
        for f in &self.fields {
            head.push(format!("{f}_mean"));
            head.push(format!("{f}_std"));
            head.push(format!("{f}_ci95"));
        }
        let mut out = head.join(",") + "\n";
        for g in &self.groups {
            let mut cells: Vec<String> = g.key.iter().map(|k| super::table::csv_cell(k)).collect();
            cells.push(g.n.to_string());
            for (((_, m, s), c), n) in g.stats.iter().zip(&g.ci95).zip(&g.counts) {
                if *n == 0 {
                    // no run has the field
                    cells.extend([String::new(), String::new(), String::new()]);
                    continue;
                }
                cells.push(format!("{m:.6}"));
                cells.push(format!("{s:.6}"));
                cells.push(if c.is_nan() { String::new() } else { format!("{c:.6}") });
            }
            out.push_str(&(cells.join(",") + "\n"));
        }
        out
    }

    /// The fields shown in the terminal and in notebooks: the headline ones when the summary has
    /// them (every field is in the CSV).
    fn shown(&self) -> Vec<usize> {
        let head: Vec<usize> = HEADLINE.iter().filter_map(|h| self.fields.iter().position(|f| f == h)).collect();
        if head.is_empty() {
            (0..self.fields.len()).collect()
        } else {
            head
        }
    }

    /// A terminal table of mean ± std (or ± the 95 % CI half-width).
    pub fn to_text(&self) -> String {
        let shown = self.shown();
        let key_w: Vec<usize> = (0..self.by.len())
            .map(|j| self.groups.iter().map(|g| g.key[j].len()).chain([self.by[j].len()]).max().unwrap_or(4) + 2)
            .collect();
        let mut out = String::new();
        for (j, b) in self.by.iter().enumerate() {
            out.push_str(&format!("{b:<w$}", w = key_w[j]));
        }
        out.push_str(&format!("{:>3}", "n"));
        let width = |i: usize| {
            let cells = self.groups.iter().map(|g| self.cell(g, i, 4).chars().count());
            cells.chain([self.fields[i].len(), 18]).max().unwrap_or(18) + 2
        };
        for &i in &shown {
            out.push_str(&format!("{:>w$}", self.fields[i], w = width(i)));
        }
        out.push('\n');
        for g in &self.groups {
            for (j, k) in g.key.iter().enumerate() {
                out.push_str(&format!("{k:<w$}", w = key_w[j]));
            }
            out.push_str(&format!("{:>3}", g.n));
            for &i in &shown {
                out.push_str(&format!("{:>w$}", self.cell(g, i, 4), w = width(i)));
            }
            out.push('\n');
        }
        if shown.len() < self.fields.len() {
            out.push_str(&format!("({}; every field is in the CSV)\n", self.spread_words()));
        } else {
            out.push_str(&format!("({})\n", self.spread_words()));
        }
        for d in self.legend() {
            out.push_str(&d);
            out.push('\n');
        }
        out
    }

    /// An HTML table of mean ± spread (notebooks), the terminal's columns.
    pub fn to_html(&self) -> String {
        let esc = super::html::escape;
        let shown = self.shown();
        let mut h = String::from("<table><tr>");
        for b in &self.by {
            h.push_str(&format!("<th>{}</th>", esc(b)));
        }
        h.push_str("<th>n</th>");
        for &i in &shown {
            h.push_str(&format!("<th>{}</th>", esc(&self.fields[i])));
        }
        h.push_str("</tr>");
        for g in &self.groups {
            h.push_str("<tr>");
            for k in &g.key {
                h.push_str(&format!("<td>{}</td>", esc(k)));
            }
            h.push_str(&format!("<td>{}</td>", g.n));
            for &i in &shown {
                h.push_str(&format!("<td>{}</td>", esc(&self.cell(g, i, 4))));
            }
            h.push_str("</tr>");
        }
        h.push_str("</table>");
        let legend = self.legend();
        if !legend.is_empty() {
            h.push_str(&format!("<p>{}</p>", esc(&legend.join("; "))));
        }
        h
    }

    /// evcxr's rich display.
    pub fn evcxr_display(&self) {
        crate::outln!("EVCXR_BEGIN_CONTENT text/html\n{}\nEVCXR_END_CONTENT", self.to_html());
    }

    /// Writes `<dir>/<name>.csv` and `<dir>/<name>.json` (with the run record and the
    /// definitions of its metric fields), atomically.
    pub fn save(&self, dir: &Path, name: &str, run: &RunInfo) -> Result<()> {
        crate::io::write_atomic(dir.join(format!("{name}.csv")), self.to_csv().as_bytes())?;
        let definitions = crate::metrics::definitions::json(self.fields.iter().map(String::as_str));
        super::save_result(
            &dir.join(format!("{name}.json")),
            &super::WithDefinitions { result: self, definitions },
            run,
        )
    }

    /// The definitions of the metric fields shown, one line each.
    fn legend(&self) -> Vec<String> {
        crate::metrics::definitions::legend(self.shown().into_iter().map(|i| self.fields[i].as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `scipy.stats.t.ppf(0.975, df)` for df = 1..=40 (SciPy 1.17.1; tests/sweep_tests.rs asks the
    /// venv's SciPy again through the summary's intervals).
    const SCIPY_T975: [f64; 40] = [
        12.706204736174694,
        4.302652729749462,
        3.1824463052837078,
        2.7764451051977934,
        2.5705818356363146,
        2.4469118511449786,
        2.364624251592784,
        2.306004135204166,
        2.262157162798205,
        2.228138851986274,
        2.200985160091639,
        2.1788128296672284,
        2.1603686564627913,
        2.144786687917804,
        2.131449545559776,
        2.1199052992212546,
        2.1098155778333156,
        2.1009220402410382,
        2.0930240544083087,
        2.085963447265864,
        2.0796138447276795,
        2.0738730679040254,
        2.0686576104190486,
        2.0638985616280245,
        2.0595385527532972,
        2.0555294386428735,
        2.0518305164802846,
        2.0484071417952454,
        2.045229642132703,
        2.0422724563012378,
        2.039513446396408,
        2.0369333434601016,
        2.0345152974493383,
        2.0322445093177186,
        2.030107928250343,
        2.0280940009804502,
        2.0261924630291093,
        2.0243941639119694,
        2.022690920036761,
        2.021075390306273,
    ];

    #[test]
    fn t975_is_scipys_students_t_quantile() {
        for (i, w) in SCIPY_T975.iter().enumerate() {
            let got = t975(i + 1);
            assert!((got - w).abs() < 1e-9 * w, "df {}: {got} vs SciPy {w}", i + 1);
        }
        assert!(t975(0).is_nan());
        // the interval's half-width: t(0.975, n - 1) * s / sqrt(n); none for a single run
        assert!((ci95_half_width(3, 2.0) - SCIPY_T975[1] * 2.0 / 3f64.sqrt()).abs() < 1e-12);
        assert!(ci95_half_width(1, 0.0).is_nan());
    }
}
