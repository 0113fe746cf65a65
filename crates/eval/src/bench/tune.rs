//! Setting the per-prompt router on the calibration part only: leave-one-out predictions on
//! the part's own prompts, run through the router's own rule ([`choose`]), pick `k` and the
//! shrinkage `prior`, then the lowest `min_quality` that reaches the target. The report fold
//! is never seen here.

use switchyard_engine::prompt_router::{Cand, PromptIndex, choose};

/// The calibration part as the rule sees it, one row per prompt.
pub struct Rows {
    /// Recorded score and cost of each model (in the index's model order).
    pub scores: Vec<Vec<f64>>,
    pub paid: Vec<Vec<f64>>,
    /// Mean cost per model: what the router compares.
    pub costs: Vec<f64>,
    /// The frontier in effect for the row (overall for `knn`, the row's task for `task`).
    pub front: Vec<Vec<bool>>,
    /// Mean quality per model over the part, and its frontier (the rule's cap).
    pub means: Vec<f64>,
    pub overall: Vec<bool>,
}

impl Rows {
    /// Mean (quality, cost) of the rule at minimum `t` with these predictions.
    pub fn simulate(&self, preds: &[Vec<f64>], t: f64) -> (f64, f64) {
        let (mut q, mut c) = (0.0, 0.0);
        for (r, p) in preds.iter().enumerate() {
            let cands: Vec<Cand> = (0..p.len())
                .map(|j| Cand {
                    predicted: p[j],
                    cost: self.costs[j],
                    frontier: self.front[r][j],
                    mean: self.means[j],
                    overall: self.overall[j],
                })
                .collect();
            let j = choose(&cands, t).map_or(0, |x| x.0);
            q += self.scores[r][j];
            c += self.paid[r][j];
        }
        let n = preds.len().max(1) as f64;
        (q / n, c / n)
    }

    /// The straight line between single models on this part: (mean cost, mean score) hull.
    fn line(&self) -> Vec<(f64, f64)> {
        let m = self.costs.len();
        let n = self.scores.len().max(1) as f64;
        let singles: Vec<(f64, f64)> = (0..m)
            .map(|j| {
                let c = self.paid.iter().map(|r| r[j]).sum::<f64>() / n;
                let q = self.scores.iter().map(|r| r[j]).sum::<f64>() / n;
                (c, q)
            })
            .collect();
        crate::plot::upper_hull(&singles)
    }
}

/// The lowest minimum (0.00, 0.01, .. 1.00) whose quality on the part reaches `target`.
pub fn calibrate_min_quality(rows: &Rows, preds: &[Vec<f64>], target: f64) -> f64 {
    (0..=100)
        .map(|i| f64::from(i) / 100.0)
        .find(|&t| rows.simulate(preds, t).0 >= target)
        .unwrap_or(1.0)
}

pub const K_GRID: [usize; 4] = [5, 10, 20, 40];
pub const PRIOR_GRID: [f64; 3] = [0.5, 2.0, 8.0];

pub struct Tuned {
    pub k: usize,
    pub prior: f64,
    /// Leave-one-out predictions with these settings, per calibration row.
    pub preds: Vec<Vec<f64>>,
}

/// Choose `k` and `prior` for the kNN router. Each pair is scored over the thresholds `grid`
/// (the benchmark's own) by the mean plus the minimum of (quality - straight line at its
/// cost): the mean rewards lift over the line, the minimum penalises the worst point, which
/// the target says must not fall below the line.
pub fn tune_knn(index: &PromptIndex, embs: &[Vec<f32>], rows: &Rows, grid: &[f64]) -> Tuned {
    let kmax = K_GRID.iter().copied().max().unwrap_or(20);
    // Neighbours once (the expensive part), for the largest k; smaller k take a prefix.
    let neigh: Vec<Vec<(f32, usize)>> = embs
        .iter()
        .enumerate()
        .map(|(r, e)| index.neighbours(e, kmax, Some(r)))
        .collect();
    let line = rows.line();
    let mut best: Option<(f64, Tuned)> = None;
    for k in K_GRID {
        for prior in PRIOR_GRID {
            let preds: Vec<Vec<f64>> = neigh
                .iter()
                .map(|nb| index.predict_from(&nb[..k.min(nb.len())], prior))
                .collect();
            let devs: Vec<f64> = grid
                .iter()
                .map(|&t| {
                    let (q, c) = rows.simulate(&preds, t);
                    q - crate::plot::interp(&line, c)
                })
                .collect();
            let mean = devs.iter().sum::<f64>() / devs.len().max(1) as f64;
            let worst = devs.iter().copied().fold(f64::INFINITY, f64::min);
            let score = mean + worst.min(0.0);
            if best.as_ref().is_none_or(|b| score > b.0) {
                best = Some((score, Tuned { k, prior, preds }));
            }
        }
    }
    best.map(|b| b.1).unwrap_or(Tuned {
        k: 20,
        prior: 0.5,
        preds: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simulation_follows_the_rule_and_calibration_finds_the_lowest_minimum() {
        // Model 0 cheap (right on row 0), model 1 strong (right on both).
        let rows = Rows {
            scores: vec![vec![1.0, 1.0], vec![0.0, 1.0]],
            paid: vec![vec![1.0, 10.0], vec![1.0, 10.0]],
            costs: vec![1.0, 10.0],
            front: vec![vec![true, true]; 2],
            means: vec![0.3, 1.0],
            overall: vec![true, true],
        };
        let preds = vec![vec![0.9, 0.95], vec![0.2, 0.95]];
        assert_eq!(rows.simulate(&preds, 0.5), (1.0, 5.5));
        assert_eq!(rows.simulate(&preds, 0.0), (0.5, 1.0));
        // Up to 0.30 the cheap model clears on average, so it caps every pick (the anchor).
        assert_eq!(calibrate_min_quality(&rows, &preds, 1.0), 0.31);
        // Off the frontier, the cheap model is never served.
        let off = Rows {
            front: vec![vec![false, true]; 2],
            overall: vec![false, true],
            ..rows
        };
        assert_eq!(off.simulate(&preds, 0.0), (1.0, 10.0));
    }
}
