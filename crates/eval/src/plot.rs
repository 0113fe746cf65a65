//! The zero-router line, a hand-written SVG of the cost-quality curves, and the figures table.

use std::fmt::Write as _;

use crate::bench::{Point, SourceResult};

/// Non-decreasing upper convex hull of (cost, quality) points: the best a random mix of
/// single models can do (RouterBench's zero router).
pub fn upper_hull(pts: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let mut p: Vec<(f64, f64)> = pts.to_vec();
    p.sort_by(|a, b| a.0.total_cmp(&b.0).then(b.1.total_cmp(&a.1)));
    // Drop points dominated by a cheaper, better one: the line only climbs.
    let mut best = f64::MIN;
    p.retain(|q| {
        if q.1 > best {
            best = q.1;
            true
        } else {
            false
        }
    });
    let mut h: Vec<(f64, f64)> = Vec::new();
    for q in p {
        while h.len() >= 2 {
            let (a, b) = (h[h.len() - 2], h[h.len() - 1]);
            // Remove b if it lies on or below the segment a-q.
            if (b.0 - a.0) * (q.1 - a.1) - (b.1 - a.1) * (q.0 - a.0) >= 0.0 {
                h.pop();
            } else {
                break;
            }
        }
        h.push(q);
    }
    h
}

/// The hull's quality at `cost` (flat beyond its ends: below the cheapest model nothing is
/// reachable by mixing, so the cheapest model's quality is used).
pub fn interp(h: &[(f64, f64)], cost: f64) -> f64 {
    let Some(first) = h.first() else { return 0.0 };
    if cost <= first.0 {
        return first.1;
    }
    for w in h.windows(2) {
        let (a, b) = (w[0], w[1]);
        if cost <= b.0 {
            return a.1 + (b.1 - a.1) * (cost - a.0) / (b.0 - a.0);
        }
    }
    h.last().map_or(0.0, |l| l.1)
}

const COLORS: [(&str, &str); 3] = [
    ("auto", "#1f77b4"),
    ("cascade", "#d62728"),
    ("task", "#2ca02c"),
];

pub fn svg(results: &[SourceResult]) -> String {
    let (w, h, pad) = (460.0, 340.0, 55.0);
    let cols = 2usize;
    let rows = results.len().div_ceil(cols).max(1);
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{}" font-family="sans-serif" font-size="11">"#,
        w * cols as f64,
        h * rows as f64 + 30.0
    );
    let _ = write!(
        s,
        r#"<text x="10" y="18" font-size="13">Switchyard routing on recorded outcomes (dev split, cross-validated; cascade uses synthetic confidence). Gray: straight line between single models.</text>"#
    );
    for (k, r) in results.iter().enumerate() {
        let (ox, oy) = ((k % cols) as f64 * w, (k / cols) as f64 * h + 30.0);
        let pts = &r.points;
        let cmax = pts.iter().map(|p| p.cost).fold(0.0, f64::max) * 1.05;
        let qmin = pts.iter().map(|p| p.quality).fold(1.0, f64::min) - 0.02;
        let qmax = pts.iter().map(|p| p.quality).fold(0.0, f64::max) + 0.02;
        let x = |c: f64| ox + pad + (c / cmax.max(1e-12)) * (w - pad - 15.0);
        let y =
            |q: f64| oy + h - pad + 10.0 - (q - qmin) / (qmax - qmin).max(1e-9) * (h - pad - 30.0);
        let _ = write!(
            s,
            r#"<text x="{}" y="{}" font-size="12" font-weight="bold">{} (n={})</text>"#,
            ox + pad,
            oy + 14.0,
            r.source,
            r.prompts
        );
        let _ = write!(
            s,
            r##"<rect x="{}" y="{}" width="{}" height="{}" fill="none" stroke="#999"/>"##,
            x(0.0),
            y(qmax),
            x(cmax) - x(0.0),
            y(qmin) - y(qmax)
        );
        let _ = write!(
            s,
            r#"<text x="{}" y="{}">mean cost per prompt, USD (0 .. {cmax:.6})</text>"#,
            ox + pad + 60.0,
            oy + h - 12.0
        );
        let _ = write!(
            s,
            r#"<text x="{}" y="{}" transform="rotate(-90 {} {})">mean score ({qmin:.2} .. {qmax:.2})</text>"#,
            ox + 14.0,
            oy + h / 2.0 + 40.0,
            ox + 14.0,
            oy + h / 2.0 + 40.0
        );
        let singles: Vec<(f64, f64)> = pts
            .iter()
            .filter(|p| p.policy == "single")
            .map(|p| (p.cost, p.quality))
            .collect();
        let hull = upper_hull(&singles);
        let line: Vec<String> = hull
            .iter()
            .map(|&(c, q)| format!("{:.1},{:.1}", x(c), y(q)))
            .collect();
        let _ = write!(
            s,
            r##"<polyline points="{}" fill="none" stroke="#aaa" stroke-width="2"/>"##,
            line.join(" ")
        );
        for p in pts.iter().filter(|p| p.policy == "single") {
            let _ = write!(
                s,
                r##"<circle cx="{:.1}" cy="{:.1}" r="3" fill="#000"/><text x="{:.1}" y="{:.1}" font-size="9" fill="#444">{}</text>"##,
                x(p.cost),
                y(p.quality),
                x(p.cost) + 4.0,
                y(p.quality) - 3.0,
                short(&p.setting)
            );
        }
        for (li, (policy, color)) in COLORS.iter().enumerate() {
            let mut ps: Vec<&Point> = pts
                .iter()
                .filter(|p| p.policy == *policy && !p.calibrated)
                .collect();
            ps.sort_by(|a, b| a.cost.total_cmp(&b.cost));
            let line: Vec<String> = ps
                .iter()
                .map(|p| format!("{:.1},{:.1}", x(p.cost), y(p.quality)))
                .collect();
            let _ = write!(
                s,
                r#"<polyline points="{}" fill="none" stroke="{color}" stroke-width="1.5"/>"#,
                line.join(" ")
            );
            for p in pts.iter().filter(|p| p.policy == *policy) {
                let r = if p.calibrated { 5.0 } else { 2.5 };
                let fill = if p.calibrated { "none" } else { color };
                let _ = write!(
                    s,
                    r#"<circle cx="{:.1}" cy="{:.1}" r="{r}" fill="{fill}" stroke="{color}"/>"#,
                    x(p.cost),
                    y(p.quality)
                );
            }
            let _ = write!(
                s,
                r#"<text x="{}" y="{}" fill="{color}">{policy}</text>"#,
                x(cmax) - 60.0,
                y(qmin) - 10.0 - 13.0 * li as f64
            );
        }
    }
    s.push_str("</svg>\n");
    s
}

fn short(m: &str) -> &str {
    m.rsplit('/').next().unwrap_or(m)
}

/// The figures table (markdown).
pub fn table(results: &[SourceResult], target: f64) -> String {
    let mut s = String::from(
        "# Routing benchmark (routing-data dev split, K-fold cross-validation)\n\nCascade rows use the simulator's **synthetic** logprob confidence (Beta(8,2) if the recorded answer is correct, Beta(4,6) if not, seeded); auto and task rows use only prompt text and task type. `*` = threshold calibrated on the other folds for the target, reported on the held-out fold. `vs line` = quality minus the straight line between single models at that cost. `SE` = standard error of the quality (per-prompt standard deviation / sqrt(n)).\n",
    );
    for r in results {
        let strong = r
            .points
            .iter()
            .find(|p| p.policy == "single" && p.setting == r.strongest);
        let (sq, sc) = strong.map_or((0.0, 0.0), |p| (p.quality, p.cost));
        let _ = write!(
            s,
            "\n## {} ({} prompts; strongest {} {:.3} / ${:.6}; cascade tiers {}; per-prompt router over {} rows: kNN prediction p50 {:.0} us, p99 {:.0} us (single runs; fastest of 3 runs per prompt: p50 {:.0} us, p99 {:.0} us); with the static embedding p50 {:.0} us, p99 {:.0} us; k, prior chosen per fold on its calibration part: {})\n\n| policy | setting | quality | SE | % of strongest | cost/prompt | % of strongest cost | vs line | failed |\n|---|---|---|---|---|---|---|---|---|\n",
            r.source,
            r.prompts,
            r.strongest,
            sq,
            sc,
            r.cascade_tiers.join(" > "),
            r.index_rows,
            r.timing.knn.0,
            r.timing.knn.1,
            r.timing.knn_best_of_3.0,
            r.timing.knn_best_of_3.1,
            r.timing.total.0,
            r.timing.total.1,
            r.knn_settings
                .iter()
                .map(|(k, p)| format!("{k}, {p}"))
                .collect::<Vec<_>>()
                .join("; ")
        );
        let mut pts: Vec<&Point> = r.points.iter().collect();
        pts.sort_by(|a, b| a.policy.cmp(&b.policy).then(a.cost.total_cmp(&b.cost)));
        for p in pts {
            let _ = writeln!(
                s,
                "| {} | {}{} | {:.4} | {:.4} | {:.1}% | ${:.6} | {:.1}% | {:+.4} | {} |",
                p.policy,
                p.setting,
                if p.calibrated { " *" } else { "" },
                p.quality,
                p.se,
                100.0 * p.quality / sq.max(1e-12),
                p.cost,
                100.0 * p.cost / sc.max(1e-12),
                p.above_line,
                p.failed
            );
        }
        // The target read off each curve: the cheapest point at >= target x strongest quality.
        for policy in ["auto", "cascade", "task"] {
            let best = r
                .points
                .iter()
                .filter(|p| p.policy == policy && p.quality >= target * sq)
                .min_by(|a, b| a.cost.total_cmp(&b.cost));
            match best {
                Some(p) => {
                    let _ = writeln!(
                        s,
                        "\n{policy}: cheapest point at >= {:.0}% of the strongest: {:.1}% quality at {:.1}% of its cost ({}).",
                        target * 100.0,
                        100.0 * p.quality / sq,
                        100.0 * p.cost / sc.max(1e-12),
                        p.setting
                    );
                }
                None => {
                    let _ = writeln!(
                        s,
                        "\n{policy}: no point reaches {:.0}% of the strongest.",
                        target * 100.0
                    );
                }
            }
            let below: Vec<&Point> = r
                .points
                .iter()
                .filter(|p| p.policy == policy && p.above_line < -1e-9)
                .collect();
            let worst = below
                .iter()
                .min_by(|a, b| a.above_line.total_cmp(&b.above_line));
            match worst {
                None => {
                    let _ = writeln!(s, "{policy}: 0 points below the straight line.");
                }
                Some(w) => {
                    let _ = writeln!(
                        s,
                        "{policy}: {} point(s) below the straight line; largest deficit {:.4} ({}), {:.1} standard errors of its quality (SE {:.4}).",
                        below.len(),
                        -w.above_line,
                        w.setting,
                        -w.above_line / w.se.max(1e-12),
                        w.se
                    );
                }
            }
        }
        // Switchyard's curve: the best operating points its policies offer, i.e. the auto,
        // cascade and task points that no other such point beats on both cost and quality.
        let ours: Vec<&Point> = r
            .points
            .iter()
            .filter(|p| matches!(p.policy.as_str(), "auto" | "cascade" | "task"))
            .collect();
        let frontier: Vec<&&Point> = ours
            .iter()
            .filter(|p| {
                !ours.iter().any(|o| {
                    o.cost <= p.cost
                        && o.quality >= p.quality
                        && (o.cost < p.cost || o.quality > p.quality)
                })
            })
            .collect();
        let below = frontier.iter().filter(|p| p.above_line < -1e-9).count();
        let _ = writeln!(
            s,
            "\nswitchyard (frontier of auto, cascade and task points): {} points, {below} below the straight line.",
            frontier.len()
        );
        let _ = writeln!(
            s,
            "\nPer task (calibrated points and singles):\n\n| policy | setting | task | n | quality | cost/prompt |\n|---|---|---|---|---|---|"
        );
        for p in r
            .points
            .iter()
            .filter(|p| p.calibrated || p.policy == "single")
        {
            for (t, (n, q, c)) in &p.by_task {
                let _ = writeln!(
                    s,
                    "| {} | {} | {t} | {n} | {q:.4} | ${c:.6} |",
                    p.policy, p.setting
                );
            }
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hull_and_interpolation() {
        let h = upper_hull(&[(1.0, 0.5), (2.0, 0.55), (3.0, 0.8), (4.0, 0.7), (10.0, 0.9)]);
        assert_eq!(h, vec![(1.0, 0.5), (3.0, 0.8), (10.0, 0.9)]);
        assert!((interp(&h, 2.0) - 0.65).abs() < 1e-12);
        assert_eq!(interp(&h, 0.5), 0.5);
        assert_eq!(interp(&h, 20.0), 0.9);
    }
}
