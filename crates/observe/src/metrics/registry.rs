//! A small Prometheus registry: labelled families of atomic counters, gauges and histograms.
//! Hand-rolled rather than `prometheus-client` because the gateway needs two things that crate
//! leaves to the caller anyway (folding label values past a cap into `other`, and money counted
//! as exact integer nano-dollars but shown as micro-dollars), and the text format is a page of
//! code. Updates take a read lock for the series lookup and then touch atomics only; the write
//! lock is taken once per new label combination.

use std::collections::{HashMap, HashSet};
use std::fmt::Write;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use parking_lot::RwLock;

pub const OTHER: &str = "other";

/// The Fx multiply-rotate hash (rustc's): a dozen label lookups per request made SipHash the
/// larger part of recording a request. Label values are config names, bounded per dimension,
/// so a hash-flooding client is not a concern here.
#[derive(Default, Clone, Copy)]
pub struct Fx(u64);

impl Hasher for Fx {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        for b in chunks.remainder() {
            self.add(u64::from(*b));
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

impl Fx {
    fn add(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

pub(super) type FxBuild = BuildHasherDefault<Fx>;

/// Bounds one label dimension: the first `cap` distinct values are kept, later ones read `other`.
pub struct LabelValues {
    cap: usize,
    seen: RwLock<HashSet<String, FxBuild>>,
}

impl LabelValues {
    pub fn new(cap: usize) -> LabelValues {
        LabelValues {
            cap,
            seen: RwLock::new(HashSet::default()),
        }
    }

    pub fn bound<'a>(&self, v: &'a str) -> &'a str {
        // Long values are never config names; they would bloat every scrape.
        if v.len() > 128 {
            return OTHER;
        }
        if self.seen.read().contains(v) {
            return v;
        }
        let mut seen = self.seen.write();
        if seen.contains(v) {
            return v;
        }
        if seen.len() >= self.cap {
            return OTHER;
        }
        seen.insert(v.to_string());
        v
    }
}

/// How an integer value is written: as is, or nano-units shown with three decimals of micro.
#[derive(Debug, Clone, Copy)]
pub enum Scale {
    One,
    NanoToMicro,
}

fn write_int(out: &mut String, v: i128, scale: Scale) {
    match scale {
        Scale::One => {
            let _ = write!(out, "{v}");
        }
        Scale::NanoToMicro => {
            let sign = if v < 0 { "-" } else { "" };
            let a = v.unsigned_abs();
            let _ = write!(out, "{sign}{}.{:03}", a / 1000, a % 1000);
        }
    }
}

pub trait Value: Send + Sync {
    const KIND: &'static str;
    fn create(meta: &FamilyMeta) -> Self;
    fn render(&self, name: &str, labels: &str, out: &mut String, family: &FamilyMeta);
}

pub struct FamilyMeta {
    pub scale: Scale,
    pub buckets: &'static [f64],
}

#[derive(Default)]
pub struct Counter(pub AtomicU64);

impl Value for Counter {
    const KIND: &'static str = "counter";
    fn create(_: &FamilyMeta) -> Self {
        Counter::default()
    }
    fn render(&self, name: &str, labels: &str, out: &mut String, f: &FamilyMeta) {
        let _ = write!(out, "{name}{labels} ");
        write_int(out, i128::from(self.0.load(Ordering::Relaxed)), f.scale);
        out.push('\n');
    }
}

#[derive(Default)]
pub struct Gauge(pub AtomicI64);

impl Value for Gauge {
    const KIND: &'static str = "gauge";
    fn create(_: &FamilyMeta) -> Self {
        Gauge::default()
    }
    fn render(&self, name: &str, labels: &str, out: &mut String, f: &FamilyMeta) {
        let _ = write!(out, "{name}{labels} ");
        write_int(out, i128::from(self.0.load(Ordering::Relaxed)), f.scale);
        out.push('\n');
    }
}

/// Per-bucket counts (not cumulative; summed at render) and the sum in 1e-9 units, so every
/// update is an integer atomic add rather than a float compare-and-swap loop.
pub struct Histogram {
    counts: Box<[AtomicU64]>,
    sum_nano: AtomicU64,
}

impl Histogram {
    /// `buckets` must be the family's bounds (what `Family::bucket_bounds` returns).
    pub fn observe(&self, buckets: &[f64], v: f64) {
        if !v.is_finite() || v < 0.0 {
            return;
        }
        let idx = buckets
            .partition_point(|b| *b < v)
            .min(self.counts.len() - 1);
        self.counts[idx].fetch_add(1, Ordering::Relaxed);
        self.sum_nano
            .fetch_add((v * 1e9).round() as u64, Ordering::Relaxed);
    }
}

impl Value for Histogram {
    const KIND: &'static str = "histogram";
    fn create(meta: &FamilyMeta) -> Self {
        Histogram {
            counts: (0..=meta.buckets.len())
                .map(|_| AtomicU64::new(0))
                .collect(),
            sum_nano: AtomicU64::new(0),
        }
    }
    fn render(&self, name: &str, labels: &str, out: &mut String, f: &FamilyMeta) {
        let counts = &self.counts;
        let inner = labels.trim_start_matches('{').trim_end_matches('}');
        let sep = if inner.is_empty() { "" } else { "," };
        let mut cum = 0u64;
        for (i, b) in f.buckets.iter().enumerate() {
            cum += counts.get(i).map_or(0, |c| c.load(Ordering::Relaxed));
            let _ = writeln!(out, "{name}_bucket{{{inner}{sep}le=\"{b}\"}} {cum}");
        }
        cum += counts
            .get(f.buckets.len())
            .map_or(0, |c| c.load(Ordering::Relaxed));
        let _ = writeln!(out, "{name}_bucket{{{inner}{sep}le=\"+Inf\"}} {cum}");
        let sum = self.sum_nano.load(Ordering::Relaxed) as f64 / 1e9;
        let _ = writeln!(out, "{name}_sum{labels} {sum}");
        // The count is the +Inf bucket by definition; reading it separately could tear.
        let _ = writeln!(out, "{name}_count{labels} {cum}");
    }
}

/// Distinct label combinations kept per family before new ones fold into all-`other`.
const MAX_SERIES: usize = 10_000;

pub struct Family<V: Value> {
    pub name: &'static str,
    help: &'static str,
    labels: &'static [&'static str],
    meta: FamilyMeta,
    series: RwLock<Series<V>>,
    hasher: FxBuild,
}

/// Values by the hash of their label values, so that a lookup hashes the caller's `&[&str]`
/// as it is: keying by `Vec<String>` allocated a vector and a string per label on every
/// update (a dozen updates per request). Sorted only when rendered.
pub(super) struct Series<V> {
    by_hash: HashMap<u64, Vec<Entry<V>>, FxBuild>,
    len: usize,
}

/// One series: its label values and its value.
type Entry<V> = (Vec<String>, Arc<V>);

// By hand: a derive would require `V: Default`.
impl<V> Default for Series<V> {
    fn default() -> Self {
        Series {
            by_hash: HashMap::default(),
            len: 0,
        }
    }
}

impl<V> Series<V> {
    /// `hash` is the label values' hash under [`FxBuild`].
    pub(super) fn get(&self, hash: u64, values: &[&str]) -> Option<&Arc<V>> {
        self.by_hash
            .get(&hash)?
            .iter()
            .find(|(k, _)| k.len() == values.len() && k.iter().zip(values).all(|(a, b)| a == b))
            .map(|(_, v)| v)
    }

    pub(super) fn insert(&mut self, hash: u64, values: &[&str], v: Arc<V>) {
        let key = values.iter().map(|s| (*s).to_owned()).collect();
        self.by_hash.entry(hash).or_default().push((key, v));
        self.len += 1;
    }

    pub(super) fn len(&self) -> usize {
        self.len
    }
}

impl<V: Value> Family<V> {
    pub fn new(name: &'static str, help: &'static str, labels: &'static [&'static str]) -> Self {
        Family {
            name,
            help,
            labels,
            meta: FamilyMeta {
                scale: Scale::One,
                buckets: &[],
            },
            series: RwLock::new(Series::default()),
            hasher: FxBuild::default(),
        }
    }

    pub fn scaled(mut self, scale: Scale) -> Self {
        self.meta.scale = scale;
        self
    }

    pub fn buckets(mut self, buckets: &'static [f64]) -> Self {
        self.meta.buckets = buckets;
        self
    }

    pub fn bucket_bounds(&self) -> &'static [f64] {
        self.meta.buckets
    }

    /// The series for these label values (one per label, in declaration order).
    pub fn with(&self, values: &[&str]) -> Arc<V> {
        debug_assert_eq!(values.len(), self.labels.len());
        let hash = self.hasher.hash_one(values);
        if let Some(v) = self.series.read().get(hash, values) {
            return v.clone();
        }
        let mut w = self.series.write();
        if let Some(v) = w.get(hash, values) {
            return v.clone();
        }
        let others = vec![OTHER; values.len()];
        let (hash, values) = if w.len() >= MAX_SERIES {
            (self.hasher.hash_one(&others[..]), &others[..])
        } else {
            (hash, values)
        };
        if let Some(v) = w.get(hash, values) {
            return v.clone();
        }
        let v = Arc::new(V::create(&self.meta));
        w.insert(hash, values, v.clone());
        v
    }

    pub fn render(&self, out: &mut String) {
        let _ = writeln!(out, "# HELP {} {}", self.name, escape_help(self.help));
        let _ = writeln!(out, "# TYPE {} {}", self.name, V::KIND);
        let series = self.series.read();
        // Sorted by label values, as a scrape of an ordered map would list them.
        let mut all: Vec<&Entry<V>> = series.by_hash.values().flatten().collect();
        all.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        for (values, v) in all {
            let labels = if values.is_empty() {
                String::new()
            } else {
                let parts: Vec<String> = self
                    .labels
                    .iter()
                    .zip(values)
                    .map(|(k, v)| format!("{k}=\"{}\"", escape_label(v)))
                    .collect();
                format!("{{{}}}", parts.join(","))
            };
            v.render(self.name, &labels, out, &self.meta);
        }
    }
}

pub fn escape_label(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s
}

fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}
