//! Option maps (`#{ epochs: 5, lr: 0.1 }`) into validated config structs. The known keys come
//! from the config's own serialised default, so there is no second list to keep in sync; an
//! unknown key is rejected with the closest known one, a wrong type names the key.
use crate::error::{Error, Result};
use rhai::{Dynamic, Map};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// The option keys a config accepts (the fields of its serialised default).
pub fn known_keys<T: Serialize + Default>() -> Vec<String> {
    match serde_json::to_value(T::default()) {
        Ok(serde_json::Value::Object(m)) => m.keys().cloned().collect(),
        _ => Vec::new(),
    }
}

/// Deserialises `map` into `T` for the script function `func`.
pub fn parse<T: Serialize + DeserializeOwned + Default>(func: &str, map: &Map) -> Result<T> {
    let known = known_keys::<T>();
    for key in map.keys() {
        if !known.iter().any(|k| k == key.as_str()) {
            return Err(unknown(func, key, &known));
        }
    }
    let json = serde_json::to_value(Dynamic::from_map(map.clone())).map_err(|e| Error::BadOption {
        func: func.into(),
        key: "?".into(),
        msg: e.to_string(),
    })?;
    serde_path_to_error::deserialize::<_, T>(json).map_err(|e| Error::BadOption {
        func: func.into(),
        key: e.path().to_string(),
        msg: e.inner().to_string(),
    })
}

fn unknown(func: &str, key: &str, known: &[String]) -> Error {
    let best = known
        .iter()
        .map(|k| (strsim::jaro_winkler(key, k), k))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(std::cmp::Ordering::Equal));
    let hint = match best {
        Some((_, k)) => format!(" — did you mean `{k}`? (known: {})", known.join(", ")),
        None => format!(" (known: {})", known.join(", ")),
    };
    Error::UnknownOption { func: func.into(), key: key.into(), hint }
}
