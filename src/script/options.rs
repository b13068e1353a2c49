//! Script option maps (`#{ epochs: 5, lr: 0.1 }`) into validated config structs, through
//! [`crate::config`].
use crate::error::{Error, Result};
use rhai::{Dynamic, Map};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// A script map as JSON.
pub fn map_to_json(func: &str, map: &Map) -> Result<serde_json::Value> {
    // JSON has no NaN or infinity (serde turns them into null, and the message would then be
    // about a null): name the option and the value instead
    for (key, v) in map {
        if let Some(bad) = non_finite(v) {
            return Err(Error::BadOption {
                func: func.into(),
                key: key.to_string(),
                msg: format!("{bad} is not a valid {}: expected a finite number", what_option_is(key)),
            });
        }
    }
    serde_json::to_value(Dynamic::from_map(map.clone())).map_err(|e| Error::BadOption {
        func: func.into(),
        key: "?".into(),
        msg: e.to_string(),
    })
}

/// A NaN or infinite float in `v` (at any depth).
fn non_finite(v: &Dynamic) -> Option<f64> {
    if let Ok(x) = v.as_float() {
        return (!x.is_finite()).then_some(x);
    }
    if let Some(a) = v.read_lock::<rhai::Array>() {
        return a.iter().find_map(non_finite);
    }
    if let Some(m) = v.read_lock::<Map>() {
        return m.values().find_map(non_finite);
    }
    None
}

/// What an option is, in words, for messages.
fn what_option_is(key: &str) -> &'static str {
    match key {
        "lr" => "learning rate",
        "momentum" => "momentum",
        "weight_decay" => "weight decay",
        "fraction" => "fraction",
        _ => "value",
    }
}

/// Deserialises `map` into `T` for the script function `func`.
pub fn parse<T: Serialize + DeserializeOwned + Default>(func: &str, map: &Map) -> Result<T> {
    crate::config::parse_json(func, &map_to_json(func, map)?)
}

/// Rejects a key of `map` that is not in `known`, naming the function and the known keys
/// (for option maps that are not a config struct).
pub fn check_keys(func: &str, map: &Map, known: &[&str]) -> Result<(), Box<rhai::EvalAltResult>> {
    match map.keys().find(|k| !known.contains(&k.as_str())) {
        Some(k) => Err(super::rt(format!("unknown option `{k}` for {func}() (known: {})", known.join(", ")))),
        None => Ok(()),
    }
}

/// The integer option `key` of `map`, or `default`.
pub fn int_or(func: &str, map: &Map, key: &str, default: i64) -> Result<i64, Box<rhai::EvalAltResult>> {
    match map.get(key) {
        Some(v) => v.as_int().map_err(|t| super::rt(format!("{func}(): `{key}` is a {t}, expected an integer"))),
        None => Ok(default),
    }
}

/// The boolean option `key` of `map`, or `default`.
pub fn bool_or(func: &str, map: &Map, key: &str, default: bool) -> Result<bool, Box<rhai::EvalAltResult>> {
    match map.get(key) {
        Some(v) => v.as_bool().map_err(|t| super::rt(format!("{func}(): `{key}` is a {t}, expected true or false"))),
        None => Ok(default),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_finite_numbers_are_named_not_turned_into_null() {
        let mut m = Map::new();
        m.insert("lr".into(), Dynamic::from_float(f64::NAN));
        let e = map_to_json("train", &m).unwrap_err().to_string();
        assert!(e.contains("`lr`") && e.contains("NaN is not a valid learning rate"), "{e}");
        let mut m = Map::new();
        m.insert(
            "mean".into(),
            Dynamic::from_array(vec![Dynamic::from_float(0.5), Dynamic::from_float(f64::INFINITY)]),
        );
        let e = map_to_json("mnist", &m).unwrap_err().to_string();
        assert!(e.contains("`mean`") && e.contains("inf is not a valid value"), "{e}");
        let mut m = Map::new();
        m.insert("lr".into(), Dynamic::from_float(0.1));
        assert_eq!(map_to_json("train", &m).unwrap()["lr"], 0.1);
    }
}
