//! Plots: every figure kind renders to a PNG that decodes and an SVG; saving is atomic and by
//! extension (the image grid's layout and the histogram densities: unit tests in
//! src/report/plot.rs). Tables: their marks, their reading, and an evaluation made with the core
//! API alone.
use unlearn::report::plot::{loss_distributions, Figure, GridRow, Point, Series};

fn figures() -> Vec<Figure> {
    vec![
        Figure::Bars {
            title: "bars".into(),
            y_label: "%".into(),
            categories: vec!["a".into(), "b".into(), "c".into()],
            series: vec![
                Series { name: "x".into(), values: vec![10.0, 50.0, 90.0] },
                Series { name: "y".into(), values: vec![20.0, 0.0, 100.0] },
            ],
        },
        Figure::Scatter {
            title: "scatter".into(),
            x_label: "s".into(),
            y_label: "gap".into(),
            points: vec![Point { label: "p".into(), x: 0.5, y: 0.01 }, Point { label: "q".into(), x: 50.0, y: 0.0 }],
            log_x: true,
        },
        loss_distributions(vec![
            ("before".into(), vec![0.01, 0.02, 0.5], vec![0.1, 1.0, 2.0, 0.3]),
            ("after".into(), vec![0.2, 0.9], vec![0.1, 1.0, 2.0]),
        ]),
        Figure::ImageGrid {
            title: "grid".into(),
            header: vec!["blend".into(), "members".into()],
            rows: vec![GridRow {
                label: "0: 3 images".into(),
                images: vec![image::RgbImage::from_pixel(8, 8, image::Rgb([200, 10, 10])); 3],
            }],
            scale: 2,
        },
    ]
}

#[test]
fn every_figure_renders_as_png_and_svg() {
    let dir = tempfile::tempdir().unwrap();
    for (i, f) in figures().iter().enumerate() {
        let written = f.save(&dir.path().join(format!("f{i}"))).unwrap();
        assert_eq!(written.len(), 2);
        let png = image::open(&written[0]).unwrap().to_rgb8();
        // not a blank canvas
        let first = *png.get_pixel(0, 0);
        assert!(png.pixels().any(|p| *p != first), "figure {i} ({}) is blank", f.describe());
        let svg = std::fs::read_to_string(&written[1]).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("</svg>"), "figure {i}");
        // no temporary files left behind
        let names: Vec<String> =
            std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into()).collect();
        assert!(names.iter().all(|n| n.ends_with(".png") || n.ends_with(".svg")), "{names:?}");
    }
}

#[test]
fn saving_picks_the_format_by_extension_and_rejects_others() {
    let dir = tempfile::tempdir().unwrap();
    let f = &figures()[0];
    assert_eq!(f.save(&dir.path().join("a.svg")).unwrap().len(), 1);
    assert!(std::fs::read_to_string(dir.path().join("a.svg")).unwrap().starts_with("<svg"));
    assert_eq!(f.save(&dir.path().join("a.png")).unwrap().len(), 1);
    assert!(image::open(dir.path().join("a.png")).is_ok());
    let err = f.save(&dir.path().join("a.jpg")).unwrap_err().to_string();
    assert!(err.contains("a.jpg") && err.contains(".png or .svg"), "{err}");
}

/// A MIA from fewer than 50 items per side is marked in the table and explained in its footer;
/// n and the swapped score are columns of the CSV.
#[test]
fn a_mia_from_few_items_is_marked_and_explained() {
    use unlearn::metrics::mia::MiaScore;
    use unlearn::metrics::Metrics;
    use unlearn::report::table::{Phases, Row, Table};
    let row = |method: &str, n: usize| {
        let metrics =
            Metrics { mia: MiaScore { score: 61.5, raw: 38.0, n, swapped: Some(61.5) }, ..Default::default() };
        Row::new(method.into(), Phases::default(), metrics)
    };
    let few = Table { rows: vec![row("a_cf", 10), row("finetune", 400)], reference: None };
    let text = few.to_text();
    assert!(text.contains("61.50*"), "{text}");
    assert_eq!(text.matches('*').count(), 2, "one mark and the footer's: {text}");
    assert!(text.contains("only 10 items per side, fewer than 50"), "{text}");
    let enough = Table { rows: vec![row("finetune", 400)], reference: None };
    assert!(!enough.to_text().contains('*'), "{}", enough.to_text());
    let fields = few.rows[0].fields();
    assert!(fields.contains(&("mia_n", Some(10.0))) && fields.contains(&("mia_swapped", Some(61.5))), "{fields:?}");
}

/// The table's reading names the fastest method and the one closest to the reference with the
/// numbers, says what the fastest gives up, and says when every method was slower than the
/// reference; rows without timing show "–" and take no part.
#[test]
fn the_table_reads_its_numbers_honestly() {
    use unlearn::metrics::{gaps, Metrics};
    use unlearn::report::table::{Phases, Row, Table};
    let metrics = |forget: f64| Metrics { retain_acc: 0.98, forget_acc: forget, test_acc: 0.95, ..Default::default() };
    let reference = metrics(0.95);
    let row = |method: &str, seconds: f64, forget: f64| {
        let m = metrics(forget);
        let mut r = Row::new(method.into(), Phases { unlearning: seconds, ..Default::default() }, m.clone());
        r.gaps = Some(gaps(&m, &reference));
        r
    };
    let mut original = row("original", 0.0, 1.0);
    original.timed = false;
    let table = |rows: Vec<Row>| Table { rows, reference: Some("retrain".into()) };
    let t = table(vec![
        original.clone(),
        row("retrain", 20.0, 0.95),
        row("finetune", 10.0, 0.99),
        row("a_cf+blend", 4.0, 1.0),
    ]);
    let reading = t.reading().unwrap();
    assert!(reading.contains("Fastest: a_cf+blend (4.0 s, 5.0x faster than retrain's 20.0 s)"), "{reading}");
    assert!(reading.contains("Closest to retrain: finetune (mean gap 1.00 points"), "{reading}");
    assert!(
        reading.contains("a_cf+blend is 0.25 points further from retrain than finetune (1.25 vs 1.00)"),
        "{reading}"
    );
    let text = t.to_text();
    assert!(text.contains(&reading), "print(table) shows the reading: {text}");
    let first = text.lines().find(|l| l.starts_with("original")).unwrap();
    assert!(first.contains('–'), "no time for the original: {first}");
    assert!(t.to_csv().lines().nth(1).unwrap().contains(",,"), "empty cells for unknown times");
    // the method of interest losing on time is said plainly
    let slow = table(vec![row("retrain", 2.0, 0.95), row("a_cf+blend", 4.0, 0.95)]).reading().unwrap();
    assert!(
        slow.contains("2.0x slower than retrain's 2.0 s") && slow.contains("both the fastest and the closest"),
        "{slow}"
    );
    assert!(slow.contains("Every method took longer than retrain itself"), "{slow}");
    assert!(Table { rows: vec![row("a", 1.0, 0.9)], reference: None }.reading().is_none());
}

/// Issue 19: an evaluation table made with the core API alone (no rhai), as `evaluate()` makes
/// it: every row's metrics are the model's own, the reference row has no gap, Tug-of-War 1 and
/// speed-up 1, the others their gaps, Tug-of-War and speed-up against it, the original stays
/// untimed, a reference outside the items gives the same numbers, and a result unlearned on
/// another request is refused before anything is evaluated.
#[test]
fn an_evaluation_table_from_the_core_api() {
    use serde_json::json;
    use tch::Device;
    use unlearn::condense::Timings;
    use unlearn::data::request::ForgetRequest;
    use unlearn::data::synthetic::{synthetic, SyntheticOptions};
    use unlearn::data::LoadOptions;
    use unlearn::metrics::{evaluate_model, gaps, tug_of_war, EvalContext, MiaOptions};
    use unlearn::models::{Arch, Model, ModelSpec};
    use unlearn::report::evaluate::Item;
    use unlearn::report::table::{Table, COLUMNS};
    use unlearn::unlearn::{unlearn, UnlearnInput};

    let o = SyntheticOptions {
        train: 120,
        test: 60,
        classes: 3,
        channels: 1,
        height: 8,
        width: 8,
        separation: 0.5,
        seed: 1,
    };
    let data = synthetic(&o, &LoadOptions::default(), Device::Cpu).unwrap();
    let mut spec = ModelSpec::new(Arch::Convnet, data.train.image_shape(), data.train.num_classes(), 1);
    spec.width = 8;
    let original = Model::new(spec, Device::Cpu).unwrap();
    let request = ForgetRequest::uniform(&data.train, 0.1, false, 2).unwrap();
    let input = UnlearnInput {
        original: &original,
        train: &data.train,
        request: &request,
        retain: None,
        unseen: None,
        seed: 3,
        progress: false,
    };
    let retrained = unlearn("retrain", &input, &json!({ "epochs": 1 })).unwrap();
    let tuned = unlearn("finetune", &input, &json!({ "epochs": 1 })).unwrap();
    let mia = MiaOptions { seed: 3, swap_below: Some(42.0) };
    let ctx = EvalContext::new(&data.train, &request, &data.test, mia.clone(), None).unwrap();
    let items = [
        Item::model("original", &original),
        Item::unlearned(&retrained, &retrained.model, &request),
        Item::unlearned(&tuned, &tuned.model, &request),
    ];
    let table = Table::evaluate(&items, Some(&items[1]), &ctx).unwrap();
    assert_eq!(table.reference.as_deref(), Some("retrain"));
    let names: Vec<&str> = table.rows.iter().map(|r| r.method.as_str()).collect();
    assert_eq!(names, ["original", "retrain", "finetune"]);
    for (row, model) in table.rows.iter().zip([&original, &retrained.model, &tuned.model]) {
        let own = evaluate_model(model, &data.train, &request, &data.test, &mia).unwrap();
        assert_eq!(
            (row.metrics.retain_acc, row.metrics.forget_acc, row.metrics.test_acc, &row.metrics.mia),
            (own.retain_acc, own.forget_acc, own.test_acc, &own.mia),
            "{}",
            row.method
        );
        assert!(row.phases.evaluation > 0.0 && row.metrics.lira.is_none());
    }
    let [orig, reference, fine] = &table.rows[..] else { panic!("three rows") };
    assert_eq!(reference.gaps.as_ref().map(|g| g.mean), Some(0.0));
    assert_eq!((reference.tug_of_war, reference.speedup), (Some(1.0), Some(1.0)));
    for row in [orig, fine] {
        let g = gaps(&row.metrics, &reference.metrics);
        assert_eq!(row.gaps.as_ref(), Some(&g));
        assert_eq!(row.tug_of_war, Some(tug_of_war(&g)));
    }
    assert!(!orig.timed && orig.speedup.is_none() && orig.provenance.options.is_none());
    assert_eq!((fine.seconds, fine.phases.unlearning), (tuned.seconds, tuned.seconds));
    assert_eq!(fine.speedup, Some(retrained.seconds / tuned.seconds));
    assert_eq!(reference.provenance.epochs, Some(1.0));
    assert_eq!(reference.provenance.retain_size, Some(request.retain.len()));
    assert!(reference.provenance.options.as_ref().is_some_and(|o| o.get("lr").is_some()));
    let csv = table.to_csv();
    assert_eq!(csv.lines().count(), 4);
    assert_eq!(csv.lines().next(), Some(COLUMNS.join(",").as_str()));
    assert!(table.to_text().contains("against retrain"), "{}", table.to_text());
    assert_eq!(table.flat_rows()[2]["method"], "finetune");

    // the reference need not be an item: its metrics are measured then, to the same numbers
    let apart = Table::evaluate(&[items[0].clone(), items[2].clone()], Some(&items[1]), &ctx).unwrap();
    assert_eq!(apart.rows[1].gaps, fine.gaps);
    assert_eq!(apart.rows[1].speedup, fine.speedup);
    assert_eq!(apart.reference.as_deref(), Some("retrain"));

    // a result trained on a reduced set is named after its condenser and timed with it
    let timings = Timings { features: 1.0, kmeans_init: 0.5, kmeans_lloyd: 0.25, split: 0.125, condense: 2.0 };
    let on_reduced = unlearn::unlearn::Unlearned {
        method: tuned.method.clone(),
        model: tuned.model.try_clone().unwrap(),
        seconds: tuned.seconds,
        options: tuned.options.clone(),
        retain: tuned.retain.clone(),
        history: None,
        condensed: Some(("blend".into(), timings)),
    };
    let blended = Item::unlearned(&on_reduced, &on_reduced.model, &request);
    assert_eq!(blended.name, "finetune+blend");
    assert_eq!((blended.phases.features, blended.phases.kmeans, blended.phases.condense), (1.0, 0.75, 2.125));

    // a result of another request is refused, naming the item
    let other = ForgetRequest::uniform(&data.train, 0.1, false, 5).unwrap();
    let wrong = Item::unlearned(&tuned, &tuned.model, &other);
    let err = Table::evaluate(&[items[0].clone(), wrong], None, &ctx).unwrap_err().to_string();
    let want =
        format!("item 1 (`finetune`) was unlearned on another forget request ({} of 120 items)", other.forget.len());
    assert!(err.contains(&want), "{err}");
}
