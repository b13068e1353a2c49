//! Plots of results, written as PNG and SVG (plotters; text in the embedded DejaVu Sans, so no
//! system fonts are needed): metric bars per method, time against gap to the reference, forget
//! vs unseen loss distributions, and grids of blended images next to their cluster members.
//! A [`Figure`] holds its data and renders on demand, so the same figure saves as both formats.
use super::table::Table;
use crate::error::{Error, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use serde::Serialize;
use std::path::{Path, PathBuf};

const FONT: &str = "sans-serif";
static FONT_BYTES: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

fn register_font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // the font is compiled in: failing to parse it is a build defect, not a user error
        plotters::style::register_font(FONT, FontStyle::Normal, FONT_BYTES)
            .unwrap_or_else(|_| panic!("embedded DejaVuSans.ttf does not parse"));
    });
}

/// Colours of the series, in order (colour-blind-friendly Okabe-Ito palette).
const PALETTE: [RGBColor; 8] = [
    RGBColor(0, 114, 178),
    RGBColor(230, 159, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(86, 180, 233),
    RGBColor(213, 94, 0),
    RGBColor(240, 228, 66),
    RGBColor(0, 0, 0),
];

/// A named series of values.
#[derive(Debug, Clone, Serialize)]
pub struct Series {
    pub name: String,
    pub values: Vec<f64>,
}

/// One panel of a histogram figure: several distributions on one axis.
#[derive(Debug, Clone, Serialize)]
pub struct HistogramPanel {
    pub title: String,
    pub series: Vec<Series>,
}

/// A labelled point.
#[derive(Debug, Clone, Serialize)]
pub struct Point {
    pub label: String,
    pub x: f64,
    pub y: f64,
}

/// One panel of a curves figure: a line per series over its own x values, and the reference's
/// value with a band of ± `band` around it.
#[derive(Debug, Clone, Serialize)]
pub struct CurvePanel {
    pub title: String,
    pub series: Vec<(String, Vec<(f64, f64)>)>,
    pub reference: Option<f64>,
    pub band: f64,
}

/// One row of an image grid: a label and RGB images (all of one size).
#[derive(Debug, Clone)]
pub struct GridRow {
    pub label: String,
    pub images: Vec<image::RgbImage>,
}

/// What a figure shows.
#[derive(Debug, Clone)]
pub enum Figure {
    /// Grouped bars: one group per category, one bar per series (values in `y_label`'s unit).
    Bars { title: String, y_label: String, categories: Vec<String>, series: Vec<Series> },
    /// Labelled points; `log_x` for a logarithmic x axis.
    Scatter { title: String, x_label: String, y_label: String, points: Vec<Point>, log_x: bool },
    /// One line per series over shared x values, on log-log axes (positive values only).
    Lines { title: String, x_label: String, y_label: String, x: Vec<f64>, series: Vec<Series> },
    /// Side-by-side panels of density histograms over a shared x range.
    Histograms { title: String, x_label: String, panels: Vec<HistogramPanel>, bins: usize },
    /// Panels (two per row) of lines over linear axes, each with a reference band.
    Curves { title: String, x_label: String, panels: Vec<CurvePanel> },
    /// Rows of images with a header per column group.
    ImageGrid { title: String, header: Vec<String>, rows: Vec<GridRow>, scale: u32 },
}

/// The mesh of the line and scatter charts: compact x tick labels, no minor grid lines.
macro_rules! styled_mesh {
    ($chart:expr, $x:expr, $y:expr) => {
        $chart
            .configure_mesh()
            .x_labels(8)
            .x_label_formatter(&|v| tick(*v))
            .light_line_style(TRANSPARENT)
            .x_desc($x)
            .y_desc($y)
            .label_style((FONT, 14))
            .axis_desc_style((FONT, 15))
    };
}

/// The legend of every chart: framed, on a light background, at `position`.
macro_rules! draw_legend {
    ($chart:expr, $position:expr, $font:expr) => {
        $chart
            .configure_series_labels()
            .position($position)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font((FONT, $font))
            .draw()
            .map_err(draw_err)?
    };
}

/// A compact axis label: 200k, 1.5M, 12, 0.25, 0.001.
fn tick(v: f64) -> String {
    let a = v.abs();
    let trim = |s: String| if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s };
    if a >= 1e6 {
        format!("{}M", trim(format!("{:.1}", v / 1e6)))
    } else if a >= 1e4 {
        format!("{}k", trim(format!("{:.1}", v / 1e3)))
    } else if a >= 10.0 || a == 0.0 {
        format!("{v:.0}")
    } else {
        trim(format!("{:.3}", v))
    }
}

fn draw_err<E: std::error::Error + Send + Sync>(e: DrawingAreaErrorKind<E>) -> Error {
    Error::invalid("plot", e.to_string(), "a drawable figure")
}

impl Figure {
    fn size(&self) -> (u32, u32) {
        match self {
            Figure::Histograms { panels, .. } => (420 * panels.len().max(1) as u32 + 40, 440),
            Figure::ImageGrid { .. } => self.grid_size(),
            Figure::Curves { panels, .. } => (1100, 60 + 380 * panels.len().div_ceil(2).max(1) as u32),
            _ => (960, 560),
        }
    }

    /// Draws a chart figure on any backend.
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()>
    where
        DB::ErrorType: 'static,
    {
        register_font();
        root.fill(&WHITE).map_err(draw_err)?;
        match self {
            Figure::Bars { title, y_label, categories, series } => {
                let n = categories.len().max(1) as i32;
                let max = series.iter().flat_map(|s| s.values.iter().copied()).fold(0.0f64, f64::max);
                let top = if max <= 0.0 { 1.0 } else { max * 1.12 };
                let mut chart = ChartBuilder::on(root)
                    .caption(title, (FONT, 22))
                    .margin(12)
                    .x_label_area_size(48)
                    .y_label_area_size(64)
                    .build_cartesian_2d(-5i32..(10 * n - 5), 0f64..top)
                    .map_err(draw_err)?;
                chart
                    .configure_mesh()
                    .disable_x_mesh()
                    .x_labels(n as usize + 1)
                    .x_label_formatter(&|x| {
                        if x % 10 == 0 && *x >= 0 && *x < 10 * n {
                            categories[(*x / 10) as usize].clone()
                        } else {
                            String::new()
                        }
                    })
                    .y_desc(y_label.as_str())
                    .label_style((FONT, 14))
                    .axis_desc_style((FONT, 15))
                    .draw()
                    .map_err(draw_err)?;
                let k = series.len().max(1) as i32;
                let width = (8 / k).max(1);
                for (j, s) in series.iter().enumerate() {
                    let color = PALETTE[j % PALETTE.len()];
                    let left = -4 + j as i32 * width;
                    chart
                        .draw_series(s.values.iter().enumerate().map(|(i, &v)| {
                            let x0 = 10 * i as i32 + left;
                            Rectangle::new([(x0, 0.0), (x0 + width, v.max(0.0))], color.filled())
                        }))
                        .map_err(draw_err)?
                        .label(s.name.as_str())
                        .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled()));
                }
                draw_legend!(chart, SeriesLabelPosition::UpperRight, 14);
            }
            Figure::Scatter { title, x_label, y_label, points, log_x } => {
                let finite: Vec<&Point> = points.iter().filter(|p| p.x.is_finite() && p.y.is_finite()).collect();
                let (mut x0, mut x1) = finite.iter().fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.x), b.max(p.x)));
                let y1 = finite.iter().fold(0.0f64, |a, p| a.max(p.y));
                if finite.is_empty() {
                    (x0, x1) = (1.0, 10.0);
                }
                let y_top = if y1 > 0.0 { y1 * 1.25 } else { 1.0 };
                let mut builder = ChartBuilder::on(root);
                builder.caption(title, (FONT, 22)).margin(16).x_label_area_size(48).y_label_area_size(70);
                let style = |p: &Point, i: usize| {
                    let c = PALETTE[i % PALETTE.len()];
                    EmptyElement::at((p.x, p.y))
                        + Circle::new((0, 0), 6, c.filled())
                        + Text::new(p.label.clone(), (9, -16), (FONT, 15).into_font().color(&BLACK))
                };
                // the same chart on a log or a linear x axis (two coordinate types)
                macro_rules! body {
                    ($x_range:expr) => {{
                        let mut chart = builder.build_cartesian_2d($x_range, 0f64..y_top).map_err(draw_err)?;
                        styled_mesh!(chart, x_label.as_str(), y_label.as_str()).draw().map_err(draw_err)?;
                        chart.draw_series(finite.iter().enumerate().map(|(i, p)| style(p, i))).map_err(draw_err)?;
                    }};
                }
                if *log_x && x0 > 0.0 {
                    body!((x0 / 2.0..x1 * 2.0).log_scale());
                } else {
                    let pad = ((x1 - x0).abs() * 0.15).max(1e-3);
                    body!((x0 - pad)..(x1 + pad));
                }
            }
            Figure::Lines { title, x_label, y_label, x, series } => {
                let ok = |v: &f64| v.is_finite() && *v > 0.0;
                let (x0, x1) = x.iter().filter(|v| ok(v)).fold((f64::MAX, f64::MIN), |(a, b), &v| (a.min(v), b.max(v)));
                let ys = series.iter().flat_map(|s| s.values.iter()).filter(|v| ok(v));
                let (y0, y1) = ys.fold((f64::MAX, f64::MIN), |(a, b), &v| (a.min(v), b.max(v)));
                let (x0, x1) = if x0 < x1 { (x0, x1) } else { (1.0, 10.0) };
                let (y0, y1) = if y0 <= y1 { (y0, y1) } else { (0.1, 1.0) };
                let mut chart = ChartBuilder::on(root)
                    .caption(title, (FONT, 22))
                    .margin(16)
                    .x_label_area_size(48)
                    .y_label_area_size(70)
                    .build_cartesian_2d((x0 / 1.3..x1 * 1.3).log_scale(), (y0 / 2.0..y1 * 400.0).log_scale())
                    .map_err(draw_err)?;
                styled_mesh!(chart, x_label.as_str(), y_label.as_str())
                    .y_labels(8)
                    .y_label_formatter(&|v| tick(*v))
                    .draw()
                    .map_err(draw_err)?;
                for (j, s) in series.iter().enumerate() {
                    let color = PALETTE[j % PALETTE.len()];
                    let pts: Vec<(f64, f64)> =
                        x.iter().zip(&s.values).filter(|(a, b)| ok(a) && ok(b)).map(|(&a, &b)| (a, b)).collect();
                    chart
                        .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))
                        .map_err(draw_err)?
                        .label(s.name.as_str())
                        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2)));
                    chart.draw_series(pts.into_iter().map(|p| Circle::new(p, 4, color.filled()))).map_err(draw_err)?;
                }
                draw_legend!(chart, SeriesLabelPosition::UpperLeft, 14);
            }
            Figure::Histograms { title, x_label, panels, bins } => {
                let all = panels.iter().flat_map(|p| p.series.iter().flat_map(|s| s.values.iter().copied()));
                let (lo, hi) =
                    all.filter(|v| v.is_finite()).fold((f64::MAX, f64::MIN), |(a, b), v| (a.min(v), b.max(v)));
                let (lo, hi) = if lo < hi { (lo, hi) } else { (lo - 1.0, lo + 1.0) };
                let (title_area, body) = root.split_vertically(40);
                title_area.titled(title, (FONT, 22)).map_err(draw_err)?;
                let areas = body.split_evenly((1, panels.len().max(1)));
                let hists: Vec<Vec<Vec<f64>>> = panels
                    .iter()
                    .map(|p| p.series.iter().map(|s| density(&s.values, lo, hi, *bins)).collect())
                    .collect();
                let top = hists.iter().flatten().flatten().fold(0.0f64, |a, &v| a.max(v)) * 1.1;
                let top = if top > 0.0 { top } else { 1.0 };
                let width = (hi - lo) / *bins as f64;
                for ((panel, area), hist) in panels.iter().zip(&areas).zip(&hists) {
                    let mut chart = ChartBuilder::on(area)
                        .caption(panel.title.as_str(), (FONT, 17))
                        .margin(10)
                        .x_label_area_size(44)
                        .y_label_area_size(56)
                        .build_cartesian_2d(lo..hi, 0f64..top)
                        .map_err(draw_err)?;
                    chart
                        .configure_mesh()
                        .x_desc(x_label.as_str())
                        .y_desc("density")
                        .label_style((FONT, 13))
                        .axis_desc_style((FONT, 14))
                        .draw()
                        .map_err(draw_err)?;
                    for (j, (s, h)) in panel.series.iter().zip(hist).enumerate() {
                        let color = PALETTE[j % PALETTE.len()];
                        // a step outline of the histogram
                        let mut pts = vec![(lo, 0.0)];
                        for (b, &v) in h.iter().enumerate() {
                            let x = lo + b as f64 * width;
                            pts.push((x, v));
                            pts.push((x + width, v));
                        }
                        pts.push((hi, 0.0));
                        chart
                            .draw_series(LineSeries::new(pts, color.stroke_width(2)))
                            .map_err(draw_err)?
                            .label(format!("{} (n={})", s.name, s.values.len()))
                            .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], color.stroke_width(3)));
                    }
                    draw_legend!(chart, SeriesLabelPosition::UpperLeft, 13);
                }
            }
            Figure::Curves { title, x_label, panels } => {
                let (title_area, body) = root.split_vertically(44);
                title_area.titled(title, (FONT, 20)).map_err(draw_err)?;
                let areas = body.split_evenly((panels.len().div_ceil(2).max(1), 2));
                let x1 = panels
                    .iter()
                    .flat_map(|p| p.series.iter().flat_map(|(_, pts)| pts.iter().map(|q| q.0)))
                    .filter(|v| v.is_finite())
                    .fold(0.0f64, f64::max);
                let x1 = if x1 > 0.0 { x1 * 1.05 } else { 1.0 };
                for (panel, area) in panels.iter().zip(&areas) {
                    let ys = panel.series.iter().flat_map(|(_, pts)| pts.iter().map(|q| q.1));
                    let ys = ys.chain(panel.reference.iter().flat_map(|r| [r - panel.band, r + panel.band]));
                    let (y0, y1) =
                        ys.filter(|v| v.is_finite()).fold((f64::MAX, f64::MIN), |(a, b), v| (a.min(v), b.max(v)));
                    let (y0, y1) = if y0 < y1 { (y0, y1) } else { (y0 - 1.0, y0 + 1.0) };
                    let pad = (y1 - y0) * 0.08;
                    let mut chart = ChartBuilder::on(area)
                        .caption(panel.title.as_str(), (FONT, 15))
                        .margin(10)
                        .x_label_area_size(40)
                        .y_label_area_size(52)
                        .build_cartesian_2d(0f64..x1, (y0 - pad)..(y1 + pad))
                        .map_err(draw_err)?;
                    styled_mesh!(chart, x_label.as_str(), "").draw().map_err(draw_err)?;
                    if let Some(r) = panel.reference {
                        let grey = RGBColor(150, 150, 150);
                        chart
                            .draw_series([Rectangle::new(
                                [(0.0, r - panel.band), (x1, r + panel.band)],
                                grey.mix(0.2).filled(),
                            )])
                            .map_err(draw_err)?;
                        chart
                            .draw_series(LineSeries::new([(0.0, r), (x1, r)], grey.stroke_width(2)))
                            .map_err(draw_err)?
                            .label("Retrain ± tolerance")
                            .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], grey.stroke_width(3)));
                    }
                    for (j, (name, pts)) in panel.series.iter().enumerate() {
                        let color = PALETTE[j % PALETTE.len()];
                        let pts: Vec<(f64, f64)> =
                            pts.iter().copied().filter(|q| q.0.is_finite() && q.1.is_finite()).collect();
                        chart
                            .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))
                            .map_err(draw_err)?
                            .label(name.as_str())
                            .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], color.stroke_width(3)));
                        chart
                            .draw_series(pts.into_iter().map(|q| Circle::new(q, 3, color.filled())))
                            .map_err(draw_err)?;
                    }
                    draw_legend!(chart, SeriesLabelPosition::LowerRight, 12);
                }
            }
            Figure::ImageGrid { .. } => {
                return Err(Error::invalid("figure", "an image grid", "a chart (image grids are drawn as pixels)"))
            }
        }
        root.present().map_err(draw_err)?;
        Ok(())
    }

    const GRID_LABEL: u32 = 170;
    const GRID_HEAD: u32 = 56;
    const GRID_GAP: u32 = 4;

    fn grid_cell(&self) -> (u32, u32) {
        match self {
            Figure::ImageGrid { rows, scale, .. } => rows
                .iter()
                .flat_map(|r| r.images.first())
                .map(|i| (i.width() * scale, i.height() * scale))
                .next()
                .unwrap_or((32, 32)),
            _ => (0, 0),
        }
    }

    fn grid_size(&self) -> (u32, u32) {
        let Figure::ImageGrid { rows, .. } = self else { return (0, 0) };
        let (cw, ch) = self.grid_cell();
        let cols = rows.iter().map(|r| r.images.len()).max().unwrap_or(1) as u32;
        // one extra gap separates the first column (the blend) from the members
        let w = Self::GRID_LABEL + cols * (cw + Self::GRID_GAP) + 2 * Self::GRID_GAP + 8;
        let h = Self::GRID_HEAD + rows.len() as u32 * (ch + Self::GRID_GAP) + 8;
        (w, h)
    }

    /// The figure as RGB pixels.
    fn to_rgb(&self) -> Result<image::RgbImage> {
        let (w, h) = self.size();
        let mut buf = vec![255u8; (w * h * 3) as usize];
        if let Figure::ImageGrid { title, header, rows, .. } = self {
            let (cw, ch) = self.grid_cell();
            let mut canvas = image::RgbImage::from_raw(w, h, buf).expect("buffer of w*h*3");
            for (r, row) in rows.iter().enumerate() {
                let y = Self::GRID_HEAD + r as u32 * (ch + Self::GRID_GAP);
                for (c, img) in row.images.iter().enumerate() {
                    let big = image::imageops::resize(img, cw, ch, image::imageops::FilterType::Nearest);
                    let extra = if c > 0 { 2 * Self::GRID_GAP } else { 0 };
                    let x = Self::GRID_LABEL + c as u32 * (cw + Self::GRID_GAP) + extra;
                    image::imageops::replace(&mut canvas, &big, x as i64, y as i64);
                }
            }
            buf = canvas.into_raw();
            {
                register_font();
                let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
                let text = |s: &str, x: i32, y: i32, size: i32| {
                    root.draw(&Text::new(s.to_string(), (x, y), (FONT, size).into_font().color(&BLACK)))
                };
                text(title, 8, 6, 18).map_err(draw_err)?;
                for (c, hdr) in header.iter().enumerate() {
                    let x = if c == 0 {
                        Self::GRID_LABEL
                    } else {
                        Self::GRID_LABEL + cw + Self::GRID_GAP + 2 * Self::GRID_GAP
                    };
                    text(hdr, x as i32, 32, 14).map_err(draw_err)?;
                }
                for (r, row) in rows.iter().enumerate() {
                    let y = Self::GRID_HEAD + r as u32 * (ch + Self::GRID_GAP) + ch / 2 - 7;
                    text(&row.label, 8, y as i32, 13).map_err(draw_err)?;
                }
                root.present().map_err(draw_err)?;
            }
        } else {
            let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
            self.draw(&root)?;
        }
        Ok(image::RgbImage::from_raw(w, h, buf).expect("buffer of w*h*3"))
    }

    /// The figure as PNG bytes.
    pub fn to_png(&self) -> Result<Vec<u8>> {
        let img = self.to_rgb()?;
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Png)
            .map_err(|e| Error::invalid("PNG encoding", e.to_string(), "an encodable image"))?;
        Ok(out.into_inner())
    }

    /// The figure as SVG (vector for charts; an image grid embeds its PNG).
    fn to_svg(&self) -> Result<String> {
        let (w, h) = self.size();
        if let Figure::ImageGrid { title, .. } = self {
            let png = png_base64(&self.to_png()?);
            let title = title.replace('&', "&amp;").replace('<', "&lt;");
            return Ok(format!(
                "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\"><title>{title}</title><image width=\"{w}\" height=\"{h}\" href=\"data:image/png;base64,{png}\"/></svg>\n"
            ));
        }
        let mut s = String::new();
        {
            let root = SVGBackend::with_string(&mut s, (w, h)).into_drawing_area();
            self.draw(&root)?;
        }
        Ok(s)
    }

    /// Writes the figure atomically: `x.png` or `x.svg` by extension, both for a path without
    /// one. Returns the files written.
    pub fn save(&self, path: &Path) -> Result<Vec<PathBuf>> {
        let ext = path.extension().and_then(|e| e.to_str()).map(|e| e.to_ascii_lowercase());
        let targets: Vec<(PathBuf, &str)> = match ext.as_deref() {
            Some("png") => vec![(path.to_path_buf(), "png")],
            Some("svg") => vec![(path.to_path_buf(), "svg")],
            None => vec![(path.with_extension("png"), "png"), (path.with_extension("svg"), "svg")],
            Some(other) => {
                return Err(Error::invalid(
                    format!("plot file {}", path.display()),
                    format!(".{other}"),
                    "a .png or .svg file, or a path without extension for both",
                ))
            }
        };
        for (p, kind) in &targets {
            let bytes = if *kind == "png" { self.to_png()? } else { self.to_svg()?.into_bytes() };
            crate::io::write_atomic(p, &bytes)?;
        }
        Ok(targets.into_iter().map(|(p, _)| p).collect())
    }
}

/// Base64 of PNG bytes, for `data:` URLs (SVG image grids, notebooks).
pub fn png_base64(png: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(png)
}

/// Histogram densities of `values` in `bins` equal bins over [lo, hi] (values outside are
/// clamped into the end bins; non-finite ones are left out).
fn density(values: &[f64], lo: f64, hi: f64, bins: usize) -> Vec<f64> {
    let mut h = vec![0.0; bins.max(1)];
    let width = (hi - lo) / h.len() as f64;
    let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    for v in &finite {
        let b = (((v - lo) / width).floor().max(0.0) as usize).min(h.len() - 1);
        h[b] += 1.0;
    }
    let norm = finite.len().max(1) as f64 * width;
    h.iter_mut().for_each(|v| *v /= norm);
    h
}

/// Metric bars per method: retain, forget and test accuracy and the MIA score (all in %), and
/// the likelihood-ratio attack's AUC (×100) when the table has it.
pub fn metric_bars(table: &Table) -> Figure {
    let col = |f: &dyn Fn(&super::table::Row) -> f64| table.rows.iter().map(f).collect::<Vec<f64>>();
    let mut series = vec![
        Series { name: "retain acc".into(), values: col(&|r| 100.0 * r.metrics.retain_acc) },
        Series { name: "forget acc".into(), values: col(&|r| 100.0 * r.metrics.forget_acc) },
        Series { name: "test acc".into(), values: col(&|r| 100.0 * r.metrics.test_acc) },
        Series { name: "MIA".into(), values: col(&|r| r.metrics.mia.score) },
    ];
    if table.rows.iter().all(|r| r.metrics.lira.is_some()) {
        series.push(Series {
            name: "LiRA AUC x100".into(),
            values: col(&|r| 100.0 * r.metrics.lira.as_ref().map(|l| l.auc).unwrap_or(0.0)),
        });
    }
    Figure::Bars {
        title: "Metrics per method".into(),
        y_label: "%".into(),
        categories: table.rows.iter().map(|r| r.method.clone()).collect(),
        series,
    }
}

/// Each method's end-to-end time against its mean gap to the reference (lower left is better).
pub fn time_vs_gap(table: &Table) -> Result<Figure> {
    let reference = table.reference.clone().ok_or_else(|| {
        Error::invalid("table", "without a reference", "a table evaluated with #{ reference: retrained }")
    })?;
    let points: Vec<Point> = table
        .rows
        .iter()
        .filter(|r| r.phases.end_to_end() > 0.0)
        .filter_map(|r| r.gaps.as_ref().map(|g| Point { label: r.method.clone(), x: r.phases.end_to_end(), y: g.mean }))
        .collect();
    let (lo, hi) = points.iter().fold((f64::MAX, 0.0f64), |(a, b), p| (a.min(p.x), b.max(p.x)));
    Ok(Figure::Scatter {
        title: format!("Time vs mean gap to {reference}"),
        x_label: "end-to-end seconds (log)".into(),
        y_label: format!("mean |gap| to {reference}"),
        log_x: !points.is_empty() && hi / lo.max(1e-9) > 4.0,
        points,
    })
}

/// Quality versus time: for every traced row of `table`, its retain, forget and test accuracy and
/// MIA along its run (training seconds, evaluations excluded), one panel each, with the
/// reference's final value and the tolerance band of "Retrain-like" around it.
pub fn quality_curves(table: &Table, tolerances: &crate::metrics::curve::Tolerances) -> Result<Figure> {
    let traced: Vec<&super::table::Row> = table.rows.iter().filter(|r| r.curve.is_some()).collect();
    if traced.is_empty() {
        return Err(Error::invalid(
            "table",
            "without traced rows",
            "rows of unlearn() results run with `trace` (quality along the run)",
        ));
    }
    let reference = table.reference.as_ref().and_then(|name| table.rows.iter().find(|r| &r.method == name));
    let panel =
        |title: &str, pick: &dyn Fn(&crate::metrics::curve::CurvePoint) -> f64, refv: Option<f64>, band: f64| {
            CurvePanel {
                title: title.to_string(),
                series: traced
                    .iter()
                    .map(|r| {
                        let c = r.curve.as_ref().expect("traced rows have curves");
                        // a row on a reduced retain set starts after its condensation
                        let pre = r.phases.end_to_end() - r.phases.unlearning;
                        (r.method.clone(), c.points.iter().map(|p| (pre + p.seconds, pick(p))).collect())
                    })
                    .collect(),
                reference: refv,
                band,
            }
        };
    let acc = 100.0 * tolerances.accuracy;
    let m = reference.map(|r| &r.metrics);
    Ok(Figure::Curves {
        title: format!(
            "Quality vs time{}",
            table
                .reference
                .as_ref()
                .map(|r| format!(" (band: {r} ± tolerance; inside every band is Retrain-like)"))
                .unwrap_or_default()
        ),
        x_label: "seconds: condensation, then training (evaluation excluded)".into(),
        panels: vec![
            panel(
                "retain accuracy % (higher is better)",
                &|p| 100.0 * p.retain_acc,
                m.map(|m| 100.0 * m.retain_acc),
                acc,
            ),
            panel(
                "forget accuracy % (closer to Retrain is better)",
                &|p| 100.0 * p.forget_acc,
                m.map(|m| 100.0 * m.forget_acc),
                acc,
            ),
            panel("test accuracy % (higher is better)", &|p| 100.0 * p.test_acc, m.map(|m| 100.0 * m.test_acc), acc),
            panel(
                "MIA (50 ideal; closer to Retrain is better)",
                &|p| p.mia,
                m.filter(|m| m.mia.measured()).map(|m| m.mia.score),
                tolerances.mia,
            ),
        ],
    })
}

/// RGB images from a `[n, c, h, w]` tensor in [0, 1] (one or three channels).
pub fn rgb_images(unit: &tch::Tensor) -> Result<Vec<image::RgbImage>> {
    let size = unit.size();
    if size.len() != 4 || !(size[1] == 1 || size[1] == 3) {
        return Err(Error::Shape(format!("images of shape {size:?}, expected [n, 1 or 3, h, w]")));
    }
    let (n, c, h, w) = (size[0] as usize, size[1] as usize, size[2] as u32, size[3] as u32);
    let px = unit
        .f_clamp(0.0, 1.0)?
        .f_mul_scalar(255.0)?
        .f_round()?
        .f_to_kind(tch::Kind::Uint8)?
        .f_permute([0, 2, 3, 1])?
        .f_contiguous()?
        .f_to_device(tch::Device::Cpu)?;
    let bytes = Vec::<u8>::try_from(&px.f_flatten(0, -1)?)?;
    let per = (h * w) as usize * c;
    Ok((0..n)
        .map(|i| {
            let item = &bytes[i * per..(i + 1) * per];
            let rgb: Vec<u8> = if c == 3 { item.to_vec() } else { item.iter().flat_map(|&g| [g, g, g]).collect() };
            image::RgbImage::from_raw(w, h, rgb).expect("h*w*3 bytes")
        })
        .collect())
}

/// A grid of blended images, each next to up to `members` of the real images it blends
/// (`clusters` free clusters, a seeded sample ordered by class).
pub fn blend_grid(
    reduced: &crate::condense::ReducedRetainSet,
    train: &crate::data::Dataset,
    clusters: usize,
    members: usize,
    seed: u64,
) -> Result<Figure> {
    use rand::seq::SliceRandom;
    let split = reduced.split.as_ref().ok_or_else(|| {
        Error::invalid("reduced retain set", &reduced.method, "a Blend-reduced set (it knows its clusters)")
    })?;
    if split.free_items.iter().any(|&i| i as usize >= train.len()) {
        return Err(Error::Shape(format!("{} is not the training set this reduced set was made from", train.name)));
    }
    let mut r = crate::data::split::rng(seed);
    let mut chosen: Vec<usize> = (0..split.num_free()).collect();
    chosen.shuffle(&mut r);
    chosen.truncate(clusters.max(1));
    chosen.sort_by_key(|&j| (split.free_labels[j], j));
    let norm = train.normalization();
    let mut rows = Vec::new();
    let max_members = members;
    for &j in &chosen {
        let synth = reduced.dataset.images().f_narrow(0, (reduced.residual + j) as i64, 1)?;
        let mut items: Vec<i64> =
            split.free_items.iter().zip(&split.free_cluster).filter(|(_, &c)| c == j as i64).map(|(&i, _)| i).collect();
        let size = items.len();
        items.shuffle(&mut r);
        items.truncate(max_members);
        let idx = tch::Tensor::f_from_slice(&items)?.f_to_device(train.device())?;
        let real = train.images().f_index_select(0, &idx)?;
        let all = tch::Tensor::f_cat(&[&synth, &real], 0)?;
        let images = rgb_images(&norm.invert(&all)?)?;
        let class = &train.classes()[split.free_labels[j] as usize];
        rows.push(GridRow { label: format!("{class}: {size} image{}", if size == 1 { "" } else { "s" }), images });
    }
    Ok(Figure::ImageGrid {
        title: format!(
            "Blend: synthetic image (left) and members of its cluster, {} of {} clusters",
            chosen.len(),
            split.num_free()
        ),
        header: vec!["blend".into(), format!("cluster members (up to {max_members})")],
        rows,
        scale: if train.image_shape()[1] <= 32 { 2 } else { 1 },
    })
}

/// The forget vs unseen loss distributions of several models, one panel each, on a log10 axis:
/// `(title, forget losses, unseen losses)`. A model that forgot looks at its forget items as at
/// unseen ones (the aim of A-AMU's MMD term, method.md §2).
pub fn loss_distributions(panels: Vec<(String, Vec<f64>, Vec<f64>)>) -> Figure {
    let log = |v: Vec<f64>| v.into_iter().map(|l| l.max(1e-8).log10()).collect::<Vec<f64>>();
    Figure::Histograms {
        title: "Per-item cross-entropy: forget set vs unseen data".into(),
        x_label: "log10 loss".into(),
        panels: panels
            .into_iter()
            .map(|(title, f, u)| HistogramPanel {
                title,
                series: vec![
                    Series { name: "forget".into(), values: log(f) },
                    Series { name: "unseen".into(), values: log(u) },
                ],
            })
            .collect(),
        bins: 40,
    }
}

/// [`loss_distributions`] of `models`, one panel each: their per-item losses on `forget` and on
/// `unseen` (e.g. a model before and after unlearning).
pub fn model_loss_distributions(
    models: &[(String, &crate::models::Model)],
    forget: &crate::data::Dataset,
    unseen: &crate::data::Dataset,
) -> Result<Figure> {
    use crate::train::eval::per_item_loss;
    let panels = models
        .iter()
        .map(|(name, m)| Ok((name.clone(), per_item_loss(m, forget)?, per_item_loss(m, unseen)?)))
        .collect::<Result<Vec<_>>>()?;
    Ok(loss_distributions(panels))
}

impl Figure {
    /// evcxr's rich display: the figure as an inline PNG.
    pub fn evcxr_display(&self) {
        match self.to_png() {
            Ok(png) => crate::outln!("EVCXR_BEGIN_CONTENT image/png\n{}\nEVCXR_END_CONTENT", png_base64(&png)),
            Err(e) => crate::outln!("cannot render the figure: {e}"),
        }
    }

    /// One line: the kind of figure and what it holds.
    pub fn describe(&self) -> String {
        match self {
            Figure::Bars { title, categories, series, .. } => {
                format!("Figure (bars) \"{title}\": {} categories x {} series", categories.len(), series.len())
            }
            Figure::Scatter { title, points, .. } => format!("Figure (scatter) \"{title}\": {} points", points.len()),
            Figure::Lines { title, x, series, .. } => {
                format!("Figure (lines) \"{title}\": {} series over {} x values", series.len(), x.len())
            }
            Figure::Histograms { title, panels, .. } => {
                format!("Figure (histograms) \"{title}\": {} panels", panels.len())
            }
            Figure::ImageGrid { title, rows, .. } => format!("Figure (image grid) \"{title}\": {} rows", rows.len()),
            Figure::Curves { title, panels, .. } => format!(
                "Figure (curves) \"{title}\": {} panels of {} series",
                panels.len(),
                panels.first().map_or(0, |p| p.series.len())
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_image_grid_puts_the_blend_and_its_members_side_by_side_at_the_chosen_scale() {
        let grid = Figure::ImageGrid {
            title: "grid".into(),
            header: vec!["blend".into(), "members".into()],
            rows: vec![GridRow {
                label: "0: 3 images".into(),
                images: vec![image::RgbImage::from_pixel(8, 8, image::Rgb([200, 10, 10])); 3],
            }],
            scale: 2,
        };
        let img = grid.to_rgb().unwrap();
        assert!(img.pixels().filter(|p| **p == image::Rgb([200, 10, 10])).count() >= 3 * 16 * 16);
    }

    #[test]
    fn histogram_densities_integrate_to_one() {
        let v: Vec<f64> = (0..1000).map(|i| (i as f64 * 0.37).sin()).chain([f64::NAN, 5.0]).collect();
        let (lo, hi, bins) = (-1.0, 1.0, 20);
        let d = density(&v, lo, hi, bins);
        let width = (hi - lo) / bins as f64;
        let total: f64 = d.iter().map(|x| x * width).sum();
        assert!((total - 1.0).abs() < 1e-12, "{total}");
        // out-of-range values are clamped into the end bins
        assert!(d[bins - 1] > 0.0);
    }
}
