//! What the benchmark measured: the phase times, the sizes, the scaling sweep and how each phase
//! grows over it; the report as a table, `bench.json` and plots, and `--replot` of a saved one.
use super::config::BenchConfig;
use serde::Serialize;
use std::path::{Path, PathBuf};
use unlearn::error::{Error, Result};
use unlearn::report::plot::{Figure, Series};
use unlearn::runtime::Versions;

/// One timed phase.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct PhaseTime {
    pub phase: String,
    pub seconds: f64,
    /// Steps or iterations it ran, where it has them.
    pub steps: Option<usize>,
    pub note: String,
}

/// Sizes the run used.
#[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct Sizes {
    pub train: usize,
    pub test: usize,
    pub forget: usize,
    pub retain: usize,
    pub unseen: usize,
    pub heldout: usize,
    pub reduced: usize,
    pub residual: usize,
    pub synthetic: usize,
    pub kmeans_iterations_mean: f64,
}

/// One point of the scaling sweep.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct SweepPoint {
    pub train: usize,
    pub ipc: usize,
    pub sizes: Sizes,
    pub phases: Vec<PhaseTime>,
}

/// How a phase grows over the training-set sweep at fixed ipc: the exponent b of t ∝ n^b between
/// the smallest and the largest size.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Growth {
    pub phase: String,
    pub exponent: f64,
    /// b ≤ 1.15 (linear, with room for timing noise and data-dependent iteration counts).
    pub at_most_linear: bool,
}

/// Everything `unlearn bench` measured.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    pub config: BenchConfig,
    pub device: String,
    /// The card ("NVIDIA H200") or "cpu".
    pub hardware: String,
    pub versions: Versions,
    pub started: String,
    pub warmup_seconds: Option<f64>,
    pub sizes: Sizes,
    pub phases: Vec<PhaseTime>,
    /// Largest device memory reading (CUDA: driver total − free, caching allocator included;
    /// CPU: peak resident set).
    pub peak_memory_bytes: Option<u64>,
    pub sweep: Vec<SweepPoint>,
    pub growth: Vec<Growth>,
}

/// The targets of the full workload on one H100/H200 (issue 8), by phase.
pub fn target(phase: &str) -> Option<f64> {
    match phase {
        "pre-processing" => Some(2.5),
        "a_cf" | "a_cf_fused" => Some(6.0),
        "blend + a_cf" => Some(8.0),
        "finetune" | "retrain" => Some(7.0),
        "mia" => Some(0.5),
        _ => None,
    }
}

/// Growth exponents over the training-set sweep at `ipc`.
pub fn growth(sweep: &[SweepPoint], ipc: usize) -> Vec<Growth> {
    let mut pts: Vec<&SweepPoint> = sweep.iter().filter(|p| p.ipc == ipc).collect();
    pts.sort_by_key(|p| p.train);
    pts.dedup_by_key(|p| p.train);
    let (Some(a), Some(b)) = (pts.first(), pts.last()) else { return Vec::new() };
    if a.train == b.train {
        return Vec::new();
    }
    a.phases
        .iter()
        .filter_map(|pa| {
            let pb = b.phases.iter().find(|p| p.phase == pa.phase)?;
            // Lloyd: per iteration (the number of iterations depends on the data, not the size)
            let per = |p: &PhaseTime| {
                if p.phase == "kmeans_lloyd" {
                    p.seconds / p.steps.unwrap_or(1).max(1) as f64
                } else {
                    p.seconds
                }
            };
            let (ta, tb) = (per(pa).max(1e-6), per(pb).max(1e-6));
            let exponent = (tb / ta).ln() / (b.train as f64 / a.train as f64).ln();
            Some(Growth { phase: pa.phase.clone(), exponent, at_most_linear: exponent <= 1.15 })
        })
        .collect()
}

impl BenchReport {
    /// The phase table (with the GPU targets of the full workload where they apply).
    pub fn to_text(&self) -> String {
        let full = self.config.train == 50_000 && self.config.ipc == 1000 && self.device.starts_with("cuda");
        let mut s = format!(
            "unlearn bench on {} ({}), {} train / {} test images of 3x32x32, ipc {}, {}{}\n",
            self.hardware,
            self.device,
            self.sizes.train,
            self.config.test,
            self.config.ipc,
            self.config.arch,
            if self.config.arch.starts_with("convnet") {
                format!(" (width {})", self.config.width)
            } else {
                String::new()
            }
        );
        s += &format!(
            "forget {}, retain {}, R̃ {} ({} residual + {} blended), unseen {}, held-out {}\n\n",
            self.sizes.forget,
            self.sizes.retain,
            self.sizes.reduced,
            self.sizes.residual,
            self.sizes.synthetic,
            self.sizes.unseen,
            self.sizes.heldout
        );
        s += &format!("{:<16}{:>10}{:>8}{:>10}  {}\n", "phase", "seconds", "steps", "target", "what");
        for p in &self.phases {
            let target = target(&p.phase).filter(|_| full).map(|t| {
                let mark = if p.seconds <= t { "ok" } else { "MISS" };
                format!("{t:.1} {mark}")
            });
            s += &format!(
                "{:<16}{:>10.3}{:>8}{:>10}  {}\n",
                p.phase,
                p.seconds,
                p.steps.map(|v| v.to_string()).unwrap_or_default(),
                target.unwrap_or_default(),
                p.note
            );
        }
        if let Some(b) = self.peak_memory_bytes {
            s += &format!("peak memory {}\n", unlearn::runtime::format_bytes(b));
        }
        if let Some(w) = self.warmup_seconds {
            s += &format!("warm-up (untimed) {w:.2} s\n");
        }
        if !self.sweep.is_empty() {
            let names: Vec<String> = self.sweep[0].phases.iter().map(|p| p.phase.clone()).collect();
            s += &format!("\nscaling sweep (seconds)\n{:>8}{:>6}{:>8}", "train", "ipc", "R̃");
            for n in &names {
                s += &format!("{:>15}", n);
            }
            s += "\n";
            for pt in &self.sweep {
                s += &format!("{:>8}{:>6}{:>8}", pt.train, pt.ipc, pt.sizes.reduced);
                for n in &names {
                    let v = pt.phases.iter().find(|p| &p.phase == n).map(|p| p.seconds).unwrap_or(f64::NAN);
                    s += &format!("{:>15.3}", v);
                }
                s += "\n";
            }
            if !self.growth.is_empty() {
                s += &format!(
                    "growth over the train sweep at ipc {} (t ∝ n^b; Lloyd per iteration):\n",
                    self.config.ipc
                );
                for g in &self.growth {
                    s += &format!(
                        "  {:<16} b = {:.2}{}\n",
                        g.phase,
                        g.exponent,
                        if g.at_most_linear { "" } else { "  (worse than linear)" }
                    );
                }
            }
        }
        s
    }

    /// Time of each phase against the training-set size (`by_train`) or ipc, log-log.
    fn sweep_figure(&self, by_train: bool) -> Option<Figure> {
        sweep_figure(&self.sweep, self.config.train, self.config.ipc, &self.hardware, by_train)
    }

    /// Writes `bench.json`, `bench.txt` and the sweep plots into `dir` (atomically).
    pub fn save(&self, dir: &Path) -> Result<Vec<PathBuf>> {
        let mut written = vec![dir.join("bench.json"), dir.join("bench.txt")];
        unlearn::io::write_json_atomic(&written[0], self)?;
        unlearn::io::write_atomic(&written[1], self.to_text().as_bytes())?;
        for (by_train, name) in [(true, "sweep_train"), (false, "sweep_ipc")] {
            if let Some(f) = self.sweep_figure(by_train) {
                written.extend(f.save(&dir.join(name))?);
            }
        }
        Ok(written)
    }
}

/// Time of each phase of `sweep` against the training-set size at `ipc` (`by_train`) or against
/// ipc at `train` images, log-log; `None` with fewer than two such points.
fn sweep_figure(sweep: &[SweepPoint], train: usize, ipc: usize, hardware: &str, by_train: bool) -> Option<Figure> {
    let mut pts: Vec<&SweepPoint> =
        sweep.iter().filter(|p| if by_train { p.ipc == ipc } else { p.train == train }).collect();
    pts.sort_by_key(|p| if by_train { p.train } else { p.ipc });
    pts.dedup_by_key(|p| if by_train { p.train } else { p.ipc });
    if pts.len() < 2 {
        return None;
    }
    let x: Vec<f64> = pts.iter().map(|p| if by_train { p.train } else { p.ipc } as f64).collect();
    let series = pts[0]
        .phases
        .iter()
        .map(|ph| Series {
            name: ph.phase.clone(),
            values: pts
                .iter()
                .map(|p| p.phases.iter().find(|q| q.phase == ph.phase).map(|q| q.seconds).unwrap_or(f64::NAN))
                .collect(),
        })
        .collect();
    let (what, fixed) = if by_train {
        ("training images".to_string(), format!("ipc {ipc}"))
    } else {
        ("ipc (clusters per class)".to_string(), format!("{train} training images"))
    };
    Some(Figure::Lines {
        title: format!("Phase time vs {what} ({fixed}, {hardware})"),
        x_label: format!("{what} (log)"),
        y_label: "seconds (log)".into(),
        x,
        series,
    })
}

/// Redraws the sweep plots of a saved `bench.json` (e.g. one brought back from a GPU machine)
/// into `dir`; returns the files written.
pub fn replot(json: &Path, dir: &Path) -> Result<Vec<PathBuf>> {
    let text = std::fs::read_to_string(json).map_err(|source| Error::Io { path: json.into(), source })?;
    let bad = |msg: String| Error::Format { path: json.into(), msg };
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| bad(format!("not JSON: {e}")))?;
    let sweep: Vec<SweepPoint> = serde_json::from_value(v["sweep"].clone())
        .map_err(|e| bad(format!("`sweep` is not a list of sweep points: {e}")))?;
    let field = |k: &str| v["config"][k].as_u64().map(|n| n as usize).ok_or_else(|| bad(format!("no config.{k}")));
    let (train, ipc) = (field("train")?, field("ipc")?);
    let hardware = v["hardware"].as_str().unwrap_or("unknown device");
    let mut written = Vec::new();
    for (by_train, name) in [(true, "sweep_train"), (false, "sweep_ipc")] {
        if let Some(f) = sweep_figure(&sweep, train, ipc, hardware, by_train) {
            written.extend(f.save(&dir.join(name))?);
        }
    }
    if written.is_empty() {
        return Err(bad("its sweep has fewer than two points along either axis".into()));
    }
    Ok(written)
}
