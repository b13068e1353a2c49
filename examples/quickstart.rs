//! The quickstart with the crate alone (no script): the same miniature of the unlearning protocol
//! as `scripts/quickstart.rhai`, written against the typed Rust API.
//!
//! An original ConvNet-3 is trained on 2,000 built-in MNIST digits until it has memorised them;
//! then 10 % of its training set is forgotten three ways, each at the protocol's proportions:
//! Retrain from scratch with the original's schedule, Fine-tune for half as many epochs, and
//! A-CF for one epoch on the Blend-reduced retain set. Every model is measured against Retrain,
//! in the same table (and reading) as the script's.
//!
//!     cargo run --release --example quickstart            # about a minute on 2 CPU cores
//!     cargo run --release --example quickstart -- --small # a few seconds (what the tests run)
use unlearn::condense::{self, blend::Blend, blend::BlendOptions, CondenseInput};
use unlearn::data::{builtin::builtin, request::ForgetRequest, LoadOptions, ReferenceSplitOptions};
use unlearn::metrics::{EvalContext, MiaOptions};
use unlearn::models::{Arch, Model, ModelSpec};
use unlearn::report::evaluate::Item;
use unlearn::report::table::Table;
use unlearn::train::{train, TrainConfig};
use unlearn::unlearn::a_cf::{ACf, AmuOptions};
use unlearn::unlearn::finetune::{Finetune, FinetuneOptions};
use unlearn::unlearn::retrain::{Retrain, RetrainOptions};
use unlearn::unlearn::{run, UnlearnInput};

/// The sizes of one run.
pub struct Scale {
    pub train: usize,
    pub test: usize,
    pub epochs: usize,
    pub width: i64,
}

impl Scale {
    /// The quickstart's miniature: 2,000 digits, 30 epochs, width 32.
    pub fn full() -> Self {
        Scale { train: 2000, test: 500, epochs: 30, width: 32 }
    }
    /// A few seconds on a CPU: what the tests run.
    pub fn small() -> Self {
        Scale { train: 300, test: 200, epochs: 3, width: 8 }
    }
}

/// Trains the original, forgets three ways, and measures every model against Retrain.
pub fn quickstart(scale: &Scale, seed: u64) -> unlearn::Result<Table> {
    let device = unlearn::runtime::parse_device("auto")?; // CUDA when present
    let data = builtin("mnist", &LoadOptions::default(), device)?.take(scale.train, scale.test)?;

    // 1. the original model, trained until it has memorised its training set
    let schedule = TrainConfig {
        epochs: scale.epochs,
        lr: 0.05,
        warmup_epochs: (scale.epochs / 10).max(1).min(scale.epochs),
        progress: false,
        ..Default::default()
    };
    let mut spec = ModelSpec::new(Arch::Convnet, data.train.image_shape(), data.train.num_classes(), seed);
    spec.width = scale.width;
    let mut original = Model::new(spec, device)?;
    train(&mut original, &data.train, &schedule, seed)?;

    // 2. the request, and the test set split into an unseen reference and an evaluation part
    let request = ForgetRequest::uniform(&data.train, 0.10, false, seed)?;
    let parts = data.test.reference_split(&ReferenceSplitOptions::default(), seed)?;
    let input = UnlearnInput {
        original: &original,
        train: &data.train,
        request: &request,
        retain: None,
        unseen: Some(&parts.unseen),
        seed,
        progress: false,
    };

    // 3. three ways to forget, at the protocol's proportions
    let retrained = run(&Retrain, &input, &RetrainOptions(schedule.clone()))?;
    let finetuned = run(&Finetune, &input, &FinetuneOptions::with_epochs((scale.epochs / 2).max(1)))?;
    let smallest = data.train.class_counts().into_iter().min().unwrap_or(5);
    let blend = BlendOptions { ipc: (smallest / 5).max(1), ..Default::default() };
    let condense_input =
        CondenseInput { train: &data.train, request: &request, clustering: None, feature_model: None, seed };
    let reduced = condense::run(&Blend, &condense_input, &blend)?;
    let fast = run(
        &ACf,
        &UnlearnInput { retain: Some(&reduced.dataset), ..input },
        &AmuOptions { progress: false, ..Default::default() },
    )?
    .condensed_by(&reduced); // its row: a_cf+blend, timed with Blend's phases too

    // 4. measure every model on the real retain and forget sets and the evaluation part, against
    //    Retrain (gaps, Tug-of-War, speed-up)
    let mia = MiaOptions { seed, swap_below: Some(42.0) };
    let ctx = EvalContext::new(&data.train, &request, &parts.evaluation, mia, None)?;
    let items = [
        Item::model("original", &original),
        Item::unlearned(&retrained, &retrained.model, &request),
        Item::unlearned(&finetuned, &finetuned.model, &request),
        Item::unlearned(&fast, &fast.model, &request),
    ];
    Table::evaluate(&items, Some(&items[1]), &ctx)
}

fn main() -> unlearn::Result<()> {
    let small = std::env::args().any(|a| a == "--small");
    let table = quickstart(&if small { Scale::small() } else { Scale::full() }, 1)?;
    print!("{}", table.to_text()); // the table, then a reading of its numbers
    Ok(())
}
