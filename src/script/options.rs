//! Script option maps (`#{ epochs: 5, lr: 0.1 }`) into validated config structs, through
//! [`crate::config`].
use crate::error::{Error, Result};
use rhai::{Dynamic, Map};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// A script map as JSON.
pub fn map_to_json(func: &str, map: &Map) -> Result<serde_json::Value> {
    serde_json::to_value(Dynamic::from_map(map.clone())).map_err(|e| Error::BadOption {
        func: func.into(),
        key: "?".into(),
        msg: e.to_string(),
    })
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
