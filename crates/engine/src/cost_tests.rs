//! Unknown prices: warned about once per model, never billed as zero; listed prices are the
//! live book's per-token rates.

use std::io::Write;
use std::sync::{Arc, Mutex};

use switchyard_core::{Capabilities, Usage, Usd};

use crate::runtime::{Engine, NullSink, Shared};

const CONFIG: &str = r#"
[providers.p]
kind = "openai-compatible"
base_url = "http://127.0.0.1:9/v1"
keys = ["plain:k"]

[models.priced]
provider = "p"
price_id = "t/priced"

[models.unpriced]
provider = "p"

[models.vectors]
provider = "p"
mode = "embedding"

[pricing.overrides."t/priced"]
input = "0.15"
output = "0.6"
cached_input = "0.075"
context_window = 128000
"#;

fn engine() -> Engine {
    let cfg = crate::config::load_str(CONFIG).unwrap();
    Engine::build(cfg, Shared::new(), Arc::new(NullSink)).unwrap()
}

/// Everything written through `tracing` while it is the default subscriber.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn an_unknown_price_is_null_and_warned_about_once_per_model() {
    let e = engine();
    let out = Captured::default();
    let w = out.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || w.clone())
        .with_ansi(false)
        .finish();
    let usage = Usage::from_classes(10, 0, 0, 5, 0);
    tracing::subscriber::with_default(subscriber, || {
        let m = e.model("unpriced").unwrap();
        for _ in 0..3 {
            assert_eq!(e.price(m, &usage), None);
        }
        assert!(e.price(e.model("priced").unwrap(), &usage).is_some());
    });
    let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
    let warnings: Vec<&str> = text.lines().filter(|l| l.contains("WARN")).collect();
    assert_eq!(warnings.len(), 1, "{text}");
    assert!(warnings[0].contains("unpriced"), "{text}");
}

#[test]
fn listed_prices_are_per_token_from_the_live_book() {
    let e = engine();
    let p = e.listed_prices(e.model("priced").unwrap()).unwrap();
    assert_eq!(p.prompt, Usd::from_str_exact("0.00000015").unwrap());
    assert_eq!(p.completion.to_string(), "0.0000006");
    assert_eq!(
        p.input_cache_read.map(|u| u.to_string()).as_deref(),
        Some("0.000000075")
    );
    // No own rate in the catalog: left out (it bills at the input rate).
    assert_eq!(p.input_cache_write, None);
    assert_eq!(e.listed_prices(e.model("unpriced").unwrap()), None);
}

#[test]
fn an_undescribed_embedding_model_has_no_chat_capabilities() {
    let e = engine();
    assert_eq!(
        e.model("vectors").unwrap().caps,
        Capabilities {
            embeddings: true,
            ..Capabilities::default()
        }
    );
    let chat = e.model("unpriced").unwrap().caps;
    assert!(chat.tools && chat.json_schema && !chat.embeddings);
}
