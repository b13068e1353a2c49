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
