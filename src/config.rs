//! Option maps into validated config structs. The known keys come from the config's own
//! serialised default, so there is no second list to keep in sync; an unknown key is rejected
//! with the closest known one, a wrong type names the key.
use crate::error::{Error, Result};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// Upper bounds of counts that set how long a call runs (not what it allocates: that is checked
/// against memory where it is allocated). They are far above any real use (the reference trains
/// for 100 to 200 epochs, DM for 20,000 iterations) and catch a typo such as `1000000000` before
/// a run is started that would never end.
pub const MAX_EPOCHS: usize = 100_000;
/// See [`MAX_EPOCHS`].
pub const MAX_ITERATIONS: usize = 100_000_000;
/// See [`MAX_EPOCHS`]: shadow models are each a full training run.
pub const MAX_SHADOWS: usize = 10_000;

/// The typed options of a registered method or condenser: defaults (`Default`), the JSON/rhai
/// form (serde) and their own checks.
pub trait Options: Default + Serialize + DeserializeOwned {
    /// Refuses values that cannot run, naming the option (`owner`: the method or function whose
    /// options these are). Types already refuse wrong kinds and unknown keys.
    fn check(&self, _owner: &str) -> Result<()> {
        Ok(())
    }
    /// Settles a default that depends on which options a caller gave (`given`: the JSON object of
    /// overrides), e.g. a warm-up that keeps its share of a shortened schedule.
    fn settle(&mut self, _given: &serde_json::Value) {}
}

/// A registered method or condenser: its registry name, a description and its typed options.
pub trait Named {
    type Options: Options;
    /// Registry name (`"a_cf"`, `"blend"`, ...).
    const NAME: &'static str;
    /// One line: what it does, with its method.md section (and, for methods, which requests it
    /// is for).
    const DESCRIPTION: &'static str;
}

/// What registries and listings see of a [`Named`] thing.
pub trait Listed {
    fn name(&self) -> &'static str;
    fn description(&self) -> &'static str;
    /// Its options with their defaults.
    fn defaults(&self) -> serde_json::Value;
}

impl<T: Named> Listed for T {
    fn name(&self) -> &'static str {
        T::NAME
    }
    fn description(&self) -> &'static str {
        T::DESCRIPTION
    }
    fn defaults(&self) -> serde_json::Value {
        defaults_json::<T::Options>()
    }
}

/// The entry called `name` of `registry`, or an error naming `what` and every name.
pub fn find<T: Listed + ?Sized>(registry: Vec<Box<T>>, what: &str, name: &str) -> Result<Box<T>> {
    let names: Vec<&str> = registry.iter().map(|e| e.name()).collect();
    let expected = format!("one of {names:?}");
    registry.into_iter().find(|e| e.name() == name).ok_or_else(|| Error::invalid(what, name, expected))
}

/// `given` (a JSON object of overrides) as `T`'s options for the function `func`: parsed ("did
/// you mean" for unknown keys), settled and checked.
pub fn options_of<T: Named>(func: &str, given: &serde_json::Value) -> Result<T::Options> {
    let mut o: T::Options = parse_json(func, given)?;
    o.settle(given);
    o.check(T::NAME)?;
    Ok(o)
}

/// Rejects `value` of option `key` of `func` when it is above `max` (see [`MAX_EPOCHS`]).
pub fn at_most(func: &str, key: &str, value: usize, max: usize) -> Result<()> {
    if value > max {
        return Err(Error::BadOption {
            func: func.into(),
            key: key.into(),
            msg: format!("{value} is more than {max}, the most this option takes (a bound against typos)"),
        });
    }
    Ok(())
}

/// The option keys a config accepts (the fields of its serialised default).
pub fn known_keys<T: Serialize + Default>() -> Vec<String> {
    match serde_json::to_value(T::default()) {
        Ok(serde_json::Value::Object(m)) => m.keys().cloned().collect(),
        _ => Vec::new(),
    }
}

/// Deserialises the JSON object `value` into `T` for the function `func`. Keys it does not give
/// keep `T::default()`'s values (so a config whose defaults differ from those of a struct it
/// wraps still gets its own).
pub fn parse_json<T: Serialize + DeserializeOwned + Default>(func: &str, value: &serde_json::Value) -> Result<T> {
    let known = known_keys::<T>();
    let mut merged = defaults_json::<T>();
    if let serde_json::Value::Object(m) = value {
        for key in m.keys() {
            if !known.iter().any(|k| k == key) {
                return Err(unknown(func, key, &known));
            }
        }
        if let serde_json::Value::Object(base) = &mut merged {
            for (k, v) in m {
                base.insert(k.clone(), v.clone());
            }
        }
    }
    serde_path_to_error::deserialize::<_, T>(merged).map_err(|e| Error::BadOption {
        func: func.into(),
        key: e.path().to_string(),
        msg: e.inner().to_string(),
    })
}

/// The config's defaults as JSON (what `methods()` shows).
pub fn defaults_json<T: Serialize + Default>() -> serde_json::Value {
    serde_json::to_value(T::default()).unwrap_or(serde_json::Value::Null)
}

/// The candidate most like `name` (Jaro-Winkler above 0.8, `name` itself excluded): the
/// suggestion of every "did you mean" (unknown options, functions, modules).
pub fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .filter(|c| *c != name)
        .map(|c| (strsim::jaro_winkler(name, c), c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(std::cmp::Ordering::Equal))
        .map(|(_, c)| c)
}

/// The error for the unknown option `key` of `func`, with the closest of `known` (also what
/// `unlearn check` reports for a literal option map).
pub fn unknown(func: &str, key: &str, known: &[String]) -> Error {
    let hint = match closest(key, known.iter().map(String::as_str)) {
        Some(k) => format!(" — did you mean `{k}`? (known: {})", known.join(", ")),
        None => format!(" (known: {})", known.join(", ")),
    };
    Error::UnknownOption { func: func.into(), key: key.into(), hint }
}
