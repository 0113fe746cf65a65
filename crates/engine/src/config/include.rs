//! `include = [...]`: TOML files merged into the config before it is parsed, so files another
//! tool rewrites (`switchyard eval`'s `quality.toml` and `gates.toml`) stay apart from the
//! hand-written config. The gateway checks them every `[server] watch_includes` and reloads
//! the config when one changes (`switchyard-server`, the same path as SIGHUP).
//!
//! ```toml
//! include = [
//!   "eval-out/quality.toml",                               # merged at the root
//!   { file = "eval-out/gates.toml", at = "routes.smart" },  # merged under [routes.smart]
//! ]
//! ```
//!
//! Tables merge key by key; any other value from an included file replaces the config's own,
//! and later includes win over earlier ones: an included file carries measurements meant to
//! supersede hand-written figures. Paths are relative to the config file. A missing file is a
//! warning, not an error: the first evaluation may not have run yet, and the gateway loads
//! the file when it appears.

use std::path::{Path, PathBuf};

use super::ConfigError;

/// Remove `include` from `root`, merge every included file into it, and return the resolved
/// paths of all included files (missing ones too, so a watcher notices when they appear).
pub(super) fn apply(
    root: &mut toml::Table,
    base_dir: &Path,
    errors: &mut Vec<ConfigError>,
) -> Vec<PathBuf> {
    let Some(list) = root.remove("include") else {
        return Vec::new();
    };
    let toml::Value::Array(list) = list else {
        errors.push(ConfigError::new(
            "include",
            "must be a list of paths or { file, at } tables",
        ));
        return Vec::new();
    };
    let mut files = Vec::new();
    for (i, entry) in list.into_iter().enumerate() {
        let path = format!("include[{i}]");
        let (file, at) = match entry_parts(entry) {
            Ok(p) => p,
            Err(m) => {
                errors.push(ConfigError::new(path, m));
                continue;
            }
        };
        let file = if file.is_relative() {
            base_dir.join(file)
        } else {
            file
        };
        files.push(file.clone());
        let keys = match at.as_deref().map(key_path).transpose() {
            Ok(k) => k.unwrap_or_default(),
            Err(m) => {
                errors.push(ConfigError::new(format!("{path}.at"), m));
                continue;
            }
        };
        let text = match std::fs::read_to_string(&file) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                tracing::warn!(file = %file.display(), "included file does not exist (yet); the config loads without it");
                continue;
            }
            Err(e) => {
                errors.push(ConfigError::new(
                    path,
                    format!("cannot read {}: {e}", file.display()),
                ));
                continue;
            }
        };
        let mut table: toml::Table = match toml::from_str(&text) {
            Ok(t) => t,
            Err(e) => {
                let first = e.to_string();
                let first = first.lines().next().unwrap_or_default().to_owned();
                errors.push(ConfigError::new(
                    path,
                    format!("{} is not valid TOML: {first}", file.display()),
                ));
                continue;
            }
        };
        if table.contains_key("include") {
            errors.push(ConfigError::new(
                path,
                format!("{}: nested includes are not supported", file.display()),
            ));
            continue;
        }
        for k in keys.into_iter().rev() {
            let mut outer = toml::Table::new();
            outer.insert(k, toml::Value::Table(table));
            table = outer;
        }
        merge(root, table);
    }
    files
}

/// `"file"` or `{ file = "...", at = "..." }`.
fn entry_parts(v: toml::Value) -> Result<(PathBuf, Option<String>), String> {
    match v {
        toml::Value::String(s) => Ok((PathBuf::from(s), None)),
        toml::Value::Table(mut t) => {
            let file = match t.remove("file") {
                Some(toml::Value::String(s)) => PathBuf::from(s),
                _ => return Err("needs `file`, a path".to_owned()),
            };
            let at = match t.remove("at") {
                None => None,
                Some(toml::Value::String(s)) => Some(s),
                Some(_) => return Err("`at` must be a dotted key such as \"routes.smart\"".into()),
            };
            if let Some(k) = t.keys().next() {
                return Err(format!("unknown key `{k}` (expected file, at)"));
            }
            Ok((file, at))
        }
        _ => Err("must be a path or a { file, at } table".to_owned()),
    }
}

/// A TOML dotted key (`routes.smart`, `routes."my.route"`) as its parts, parsed by the TOML
/// parser itself so quoting works as it does in the config.
fn key_path(at: &str) -> Result<Vec<String>, String> {
    // Whatever the text, only a single chain of keys ending in the 0 put here is accepted.
    let bad = || format!("`{at}` is not a dotted key such as \"routes.smart\"");
    let mut t: toml::Table = toml::from_str(&format!("{at} = 0")).map_err(|_| bad())?;
    let mut keys = Vec::new();
    loop {
        if t.len() != 1 {
            return Err(bad());
        }
        let Some((k, v)) = t.into_iter().next() else {
            return Err(bad());
        };
        keys.push(k);
        match v {
            toml::Value::Table(inner) => t = inner,
            toml::Value::Integer(0) => return Ok(keys),
            _ => return Err(bad()),
        }
    }
}

/// Merge `src` into `dst`: tables key by key, anything else replaced.
fn merge(dst: &mut toml::Table, src: toml::Table) {
    for (k, v) in src {
        match (dst.get_mut(&k), v) {
            (Some(toml::Value::Table(d)), toml::Value::Table(s)) => merge(d, s),
            (_, v) => {
                dst.insert(k, v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotted_keys_parse_with_quotes() {
        assert_eq!(
            key_path("routes.smart").ok(),
            Some(vec!["routes".into(), "smart".into()])
        );
        assert_eq!(
            key_path("models.\"openai/gpt-4o\"").ok(),
            Some(vec!["models".into(), "openai/gpt-4o".into()])
        );
        assert!(key_path("routes.smart = 1\nx").is_err());
        assert!(key_path("").is_err());
    }

    const BASE: &str = r#"
[providers.p]
kind = "openai"
keys = ["plain:k"]
[models.cheap]
provider = "p"
quality = { code = 0.7, chat = 0.6 }
[models.strong]
provider = "p"
[routes.smart]
strategy = "cascade"
tiers = ["cheap", "strong"]
[routes.smart.gates]
min_confidence = 0.5
"#;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("sy-include-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn load(d: &Path, include: &str) -> Result<crate::config::Config, Vec<ConfigError>> {
        let path = d.join("c.toml");
        std::fs::write(&path, format!("include = {include}\n{BASE}")).unwrap();
        crate::config::load_file(&path)
    }

    #[test]
    fn included_files_merge_at_the_root_or_under_a_key() {
        let d = dir("merge");
        std::fs::create_dir_all(d.join("out")).unwrap();
        std::fs::write(
            d.join("out/quality.toml"),
            "[models.\"cheap\".quality]\ncode = 0.9\n[models.strong.quality]\ncode = 0.95\n",
        )
        .unwrap();
        std::fs::write(
            d.join("out/gates.toml"),
            "[gates.min_confidence_by_tier]\n\"cheap\" = 0.8\n",
        )
        .unwrap();
        let cfg = load(
            &d,
            r#"["out/quality.toml", { file = "out/gates.toml", at = "routes.smart" }, "out/missing.toml"]"#,
        )
        .unwrap();
        // The measured figure replaces the inline one; the inline `chat` figure stays.
        assert_eq!(cfg.models["cheap"].quality["code"], 0.9);
        assert_eq!(cfg.models["cheap"].quality["chat"], 0.6);
        assert_eq!(cfg.models["strong"].quality["code"], 0.95);
        let gates = cfg.routes["smart"].gates.as_ref().unwrap();
        assert_eq!(gates["min_confidence"].as_float(), Some(0.5));
        assert_eq!(
            gates["min_confidence_by_tier"]["cheap"].as_float(),
            Some(0.8)
        );
        // Every named file is listed for the watcher, the missing one too.
        assert_eq!(
            cfg.include_files,
            ["out/quality.toml", "out/gates.toml", "out/missing.toml"].map(|f| d.join(f))
        );
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn bad_includes_are_errors_with_their_entry() {
        let d = dir("bad");
        std::fs::write(d.join("broken.toml"), "[models.cheap\n").unwrap();
        std::fs::write(d.join("nested.toml"), "include = [\"x.toml\"]\n").unwrap();
        std::fs::write(
            d.join("orphan.toml"),
            "[models.ghost.quality]\ncode = 1.0\n",
        )
        .unwrap();
        let err = |inc: &str| load(&d, inc).unwrap_err();
        let e = err(r#"["broken.toml"]"#);
        assert_eq!(e[0].path, "include[0]");
        assert!(e[0].message.contains("not valid TOML"), "{e:?}");
        let e = err(r#"["ok.toml", "nested.toml"]"#);
        assert_eq!(e[0].path, "include[1]");
        assert!(e[0].message.contains("nested"), "{e:?}");
        let e = err(r#"[{ file = "x.toml", where = "routes" }]"#);
        assert!(e[0].message.contains("unknown key `where`"), "{e:?}");
        let e = err(r#""x.toml""#);
        assert_eq!(e[0].path, "include");
        // A model the config does not declare is caught by the usual validation.
        let e = err(r#"["orphan.toml"]"#);
        assert!(e.iter().any(|e| e.path.contains("ghost")), "{e:?}");
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn tables_merge_and_values_replace() {
        let mut dst: toml::Table = toml::from_str("[a]\nx = 1\ny = 2\n[a.t]\nk = 1").unwrap();
        let src: toml::Table = toml::from_str("[a]\ny = 3\n[a.t]\nj = 2").unwrap();
        merge(&mut dst, src);
        let want: toml::Table = toml::from_str("[a]\nx = 1\ny = 3\n[a.t]\nk = 1\nj = 2").unwrap();
        assert_eq!(dst, want);
    }
}
