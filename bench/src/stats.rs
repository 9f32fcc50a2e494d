//! Latency samples, their percentiles, and the loops that take them.

use std::future::Future;
use std::time::{Duration, Instant};

use crate::BoxError;

/// How many measured runs a case gets at least, whatever its budget.
const MIN_SAMPLES: usize = 5;

/// How long a case is measured.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// Unmeasured runs first.
    pub warmup: usize,
    /// Measured runs at most.
    pub requests: usize,
    /// Time a case may take; slow cases stop early (after [`MIN_SAMPLES`] measured runs).
    pub case: Duration,
}

impl Budget {
    pub fn new(warmup: usize, requests: usize, case_secs: f64) -> Self {
        Self { warmup, requests, case: Duration::from_secs_f64(case_secs) }
    }
}

/// Runs `op` `budget.warmup` times unmeasured, then up to `budget.requests` times measured,
/// one at a time, stopping early (after [`MIN_SAMPLES`]) when the case has used its time.
pub async fn measure<F, Fut>(budget: &Budget, mut op: F) -> Result<Samples, BoxError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), BoxError>>,
{
    let started = Instant::now();
    for _ in 0..budget.warmup {
        op().await?;
        if started.elapsed() > budget.case / 5 {
            break;
        }
    }
    let mut samples = Samples::default();
    while samples.len() < budget.requests && (samples.len() < MIN_SAMPLES || started.elapsed() < budget.case) {
        let run = Instant::now();
        op().await?;
        samples.push(run.elapsed());
    }
    Ok(samples)
}

/// The measured latencies of one case.
#[derive(Debug, Clone, Default)]
pub struct Samples {
    millis: Vec<f64>,
}

impl Samples {
    pub fn push(&mut self, elapsed: Duration) {
        self.millis.push(elapsed.as_secs_f64() * 1000.0);
    }

    pub fn len(&self) -> usize {
        self.millis.len()
    }

    /// Adds the samples of `other`.
    pub fn extend(&mut self, other: Samples) {
        self.millis.extend(other.millis);
    }

    /// The `p`th percentile (nearest rank), in milliseconds; 0 without samples.
    pub fn percentile(&self, p: f64) -> f64 {
        if self.millis.is_empty() {
            return 0.0;
        }
        let mut sorted = self.millis.clone();
        sorted.sort_by(f64::total_cmp);
        let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
        sorted[rank.clamp(1, sorted.len()) - 1]
    }

    pub fn summary(&self) -> Summary {
        Summary { p50: self.percentile(50.0), p95: self.percentile(95.0), p99: self.percentile(99.0), n: self.len() }
    }
}

/// p50, p95 and p99 in milliseconds, over `n` samples.
#[derive(Debug, Clone, Copy)]
pub struct Summary {
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub n: usize,
}

/// A latency for a table cell.
pub fn ms(value: f64) -> String {
    if value >= 100.0 { format!("{value:.0}") } else { format!("{value:.2}") }
}
