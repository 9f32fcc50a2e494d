//! Latency samples and their percentiles.

use std::time::Duration;

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
