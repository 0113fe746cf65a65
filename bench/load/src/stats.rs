//! Exact percentiles over every measured request, and the RSS series summary.

pub struct Sample {
    pub total_us: u32,
    /// Until the first body bytes (for a stream: the first event).
    pub ttfb_us: u32,
}

pub struct Summary {
    pub requests: u64,
    pub errors: u64,
    secs: f64,
    total: Vec<u32>,
    ttfb: Vec<u32>,
}

/// Nearest-rank percentile of sorted values: the smallest value with at least p% at or below it.
pub fn percentile(sorted: &[u32], p: f64) -> Option<u32> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1).copied()
}

impl Summary {
    pub fn new(samples: Vec<Sample>, errors: u64, secs: f64) -> Summary {
        let mut total: Vec<u32> = samples.iter().map(|s| s.total_us).collect();
        let mut ttfb: Vec<u32> = samples.iter().map(|s| s.ttfb_us).collect();
        total.sort_unstable();
        ttfb.sort_unstable();
        Summary {
            requests: total.len() as u64,
            errors,
            secs,
            total,
            ttfb,
        }
    }

    pub fn to_json(&self, label: &str, stream: bool, concurrency: usize) -> serde_json::Value {
        let mean = if self.total.is_empty() {
            0.0
        } else {
            self.total.iter().map(|&v| f64::from(v)).sum::<f64>() / self.total.len() as f64
        };
        let mut v = serde_json::json!({
            "label": label,
            "stream": stream,
            "concurrency": concurrency,
            "secs": self.secs,
            "requests": self.requests,
            "errors": self.errors,
            "rps": ((self.requests as f64 / self.secs) * 10.0).round() / 10.0,
            "p50_us": percentile(&self.total, 50.0),
            "p99_us": percentile(&self.total, 99.0),
            "p999_us": percentile(&self.total, 99.9),
            "max_us": self.total.iter().copied().max().unwrap_or(0),
            "mean_us": mean.round(),
        });
        if stream {
            v["ttfb_p50_us"] = percentile(&self.ttfb, 50.0).into();
            v["ttfb_p99_us"] = percentile(&self.ttfb, 99.0).into();
        }
        v
    }
}

/// RSS over a run: the peak while loaded, the peak in the first and last third of the measured
/// window (flat = last/first close to 1), and the value after the load stopped.
pub fn rss_json(series: &[(f64, u64)], warmup_s: f64, after_kb: Option<u64>) -> serde_json::Value {
    let measured: Vec<&(f64, u64)> = series.iter().filter(|(t, _)| *t >= warmup_s).collect();
    let n = measured.len();
    let third = (n / 3).max(1);
    let max_of = |xs: &[&(f64, u64)]| xs.iter().map(|(_, kb)| *kb).max();
    let first = max_of(&measured[..third.min(n)]);
    let last = max_of(&measured[n.saturating_sub(third)..]);
    let ratio = match (first, last) {
        (Some(f), Some(l)) if f > 0 => Some(((l as f64 / f as f64) * 1000.0).round() / 1000.0),
        _ => None,
    };
    serde_json::json!({
        "samples": series.len(),
        "peak_kb": series.iter().map(|(_, kb)| *kb).max(),
        "first_third_peak_kb": first,
        "last_third_peak_kb": last,
        "last_over_first": ratio,
        "after_kb": after_kb,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        let v: Vec<u32> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), Some(50));
        assert_eq!(percentile(&v, 99.0), Some(99));
        assert_eq!(percentile(&v, 100.0), Some(100));
        assert_eq!(percentile(&[7], 99.0), Some(7));
        assert_eq!(percentile(&[], 50.0), None);
        assert_eq!(percentile(&[1, 2, 3], 50.0), Some(2));
    }

    #[test]
    fn rss_flatness() {
        let series: Vec<(f64, u64)> = (0..12)
            .map(|i| (f64::from(i), 1000 + 10 * i as u64))
            .collect();
        let j = rss_json(&series, 3.0, Some(900));
        // Measured: t = 3..11 -> thirds of 3: first peak 1050, last peak 1110.
        assert_eq!(j["first_third_peak_kb"], 1050);
        assert_eq!(j["last_third_peak_kb"], 1110);
        assert_eq!(j["peak_kb"], 1110);
        assert_eq!(j["after_kb"], 900);
    }

    #[test]
    fn summary_counts() {
        let s: Vec<Sample> = (1..=10)
            .map(|i| Sample {
                total_us: i * 100,
                ttfb_us: i,
            })
            .collect();
        let j = Summary::new(s, 2, 2.0).to_json("x", true, 4);
        assert_eq!(j["requests"], 10);
        assert_eq!(j["errors"], 2);
        assert_eq!(j["rps"], 5.0);
        assert_eq!(j["p50_us"], 500);
        assert_eq!(j["p99_us"], 1000);
        assert_eq!(j["ttfb_p50_us"], 5);
    }
}
