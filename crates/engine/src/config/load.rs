//! Loading: TOML text -> `Config`, collecting every error with its path rather than stopping
//! at the first, so `switchyard check` can list them all.

use std::fmt;
use std::path::Path;

use serde::de::DeserializeOwned;
use switchyard_core::Secret;

use super::Config;

/// One problem in a config, with the path of the offending value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub path: String,
    pub message: String,
}

impl ConfigError {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

pub fn load_file(path: &Path) -> Result<Config, Vec<ConfigError>> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        vec![ConfigError::new(
            "",
            format!("cannot read {}: {e}", path.display()),
        )]
    })?;
    let base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut cfg = load_str_in(&text, &base_dir)?;
    cfg.base_dir = base_dir;
    Ok(cfg)
}

/// Parse and validate. Each provider, model and route is parsed on its own so one bad entry
/// does not hide the errors of the others. Included files resolve against the working directory.
pub fn load_str(text: &str) -> Result<Config, Vec<ConfigError>> {
    load_str_in(text, Path::new(""))
}

fn load_str_in(text: &str, base_dir: &Path) -> Result<Config, Vec<ConfigError>> {
    let mut root: toml::Table = toml::from_str(text)
        .map_err(|e| vec![ConfigError::new("", format!("not valid TOML: {e}"))])?;
    let mut errors = Vec::new();
    // Before anything reads `root`: names and values from included files count like inline ones.
    let include_files = super::include::apply(&mut root, base_dir, &mut errors);
    let mut cfg = Config {
        include_files,
        ..Config::default()
    };
    // Names declared, even by entries that fail to parse, so one bad entry does not also
    // produce "unknown model" errors everywhere it is referenced.
    let declared = |section: &str| -> std::collections::BTreeSet<String> {
        root.get(section)
            .and_then(toml::Value::as_table)
            .map(|t| t.keys().cloned().collect())
            .unwrap_or_default()
    };
    let names = super::validate::Declared {
        providers: declared("providers"),
        models: declared("models"),
        routes: declared("routes"),
    };
    for (key, value) in root {
        match key.as_str() {
            "server" => cfg.server = parse(&key, value, &mut errors).unwrap_or_default(),
            "providers" => cfg.providers = parse_map(&key, value, &mut errors),
            "models" => cfg.models = parse_map(&key, value, &mut errors),
            "routes" => cfg.routes = parse_map(&key, value, &mut errors),
            "aliases" => cfg.aliases = parse(&key, value, &mut errors).unwrap_or_default(),
            "pricing" => cfg.pricing = Some(value),
            "cache" => cfg.cache = Some(value),
            "limits" => cfg.limits = Some(value),
            "store" => cfg.store = Some(value),
            "state" => cfg.state = Some(value),
            "telemetry" => cfg.telemetry = Some(value),
            "breaker" => cfg.breaker = Some(value),
            "batches" => cfg.batches = Some(value),
            other => errors.push(ConfigError::new(
                other,
                "unknown section (expected server, providers, models, routes, aliases, pricing, cache, limits, store, state, telemetry, breaker, batches)",
            )),
        }
    }
    super::validate::validate(&cfg, &names, &mut errors);
    if errors.is_empty() {
        Ok(cfg)
    } else {
        Err(errors)
    }
}

fn parse<T: DeserializeOwned>(
    path: &str,
    value: toml::Value,
    errors: &mut Vec<ConfigError>,
) -> Option<T> {
    match serde_path_to_error::deserialize::<_, T>(value) {
        Ok(v) => Some(v),
        Err(e) => {
            let inner = e.path().to_string();
            let full = if inner == "." || inner.is_empty() {
                path.to_owned()
            } else {
                format!("{path}.{inner}")
            };
            errors.push(ConfigError::new(
                full,
                clean_message(&e.into_inner().to_string()),
            ));
            None
        }
    }
}

fn parse_map<T: DeserializeOwned>(
    section: &str,
    value: toml::Value,
    errors: &mut Vec<ConfigError>,
) -> std::collections::BTreeMap<String, T> {
    let mut out = std::collections::BTreeMap::new();
    let toml::Value::Table(table) = value else {
        errors.push(ConfigError::new(section, "must be a table"));
        return out;
    };
    for (name, v) in table {
        if let Some(parsed) = parse(&format!("{section}.{}", quote_key(&name)), v, errors) {
            out.insert(name, parsed);
        }
    }
    out
}

/// `models."openai/gpt-4o"` reads better than `models.openai/gpt-4o` in an error path.
pub(crate) fn quote_key(k: &str) -> String {
    if k.chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        k.to_owned()
    } else {
        format!("\"{k}\"")
    }
}

/// toml's messages carry a span and the whole input line; keep the first line only.
fn clean_message(m: &str) -> String {
    m.lines().next().unwrap_or(m).trim().to_owned()
}

/// Resolve `env:NAME`, `file:PATH` or `plain:VALUE` (for local servers that want a dummy key).
/// Errors name the reference, never a value.
pub fn resolve_secret(reference: &str) -> Result<Secret, String> {
    if let Some(name) = reference.strip_prefix("env:") {
        match std::env::var(name) {
            Ok(v) if !v.trim().is_empty() => Ok(Secret::new(v.trim())),
            Ok(_) => Err(format!("environment variable {name} is empty")),
            Err(_) => Err(format!("environment variable {name} is not set")),
        }
    } else if let Some(path) = reference.strip_prefix("file:") {
        match std::fs::read_to_string(path) {
            Ok(v) if !v.trim().is_empty() => Ok(Secret::new(v.trim())),
            Ok(_) => Err(format!("secret file {path} is empty")),
            Err(e) => Err(format!("cannot read secret file {path}: {}", e.kind())),
        }
    } else if let Some(v) = reference.strip_prefix("plain:") {
        Ok(Secret::new(v))
    } else {
        Err("secrets must be references: env:NAME or file:PATH (plain:VALUE only for dummy keys of local servers); the literal value was not logged".to_owned())
    }
}
