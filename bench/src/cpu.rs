//! How busy the machine's CPUs were while a case ran, from Linux's `/proc/stat`: the whole
//! machine (the clients, the server and, for PostgreSQL, the database), so that a case can be
//! told CPU-bound (near 100 %) from waiting (well below), and its cost read in CPU time per
//! operation.

use std::time::Duration;

/// CPU time counted by the kernel since boot, in its ticks, over all CPUs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CpuTime {
    /// Ticks spent running anything (user, nice, system, interrupts, steal).
    busy: u64,
    /// Ticks of any kind, idle and waiting for I/O included.
    total: u64,
    /// CPUs counted.
    cpus: u32,
}

impl CpuTime {
    /// The counters now; `None` where `/proc/stat` cannot be read or understood (not Linux).
    pub fn now() -> Option<Self> {
        parse(&std::fs::read_to_string("/proc/stat").ok()?)
    }

    /// What was counted between `earlier` and `self`.
    pub fn since(self, earlier: Self) -> Self {
        Self {
            busy: self.busy.saturating_sub(earlier.busy),
            total: self.total.saturating_sub(earlier.total),
            cpus: self.cpus,
        }
    }

    /// Adds what `other` counted.
    pub fn add(&mut self, other: Self) {
        self.busy += other.busy;
        self.total += other.total;
        self.cpus = self.cpus.max(other.cpus);
    }

    /// The share of the CPUs' time spent busy, 0 to 1; `None` when nothing was counted.
    pub fn busy_share(self) -> Option<f64> {
        (self.total > 0).then(|| self.busy as f64 / self.total as f64)
    }

    /// Busy CPU time per operation, `operations` done in `elapsed`.
    pub fn per_operation(self, elapsed: Duration, operations: usize) -> Option<Duration> {
        let share = self.busy_share()?;
        (operations > 0).then(|| elapsed.mul_f64(share * f64::from(self.cpus)).div_f64(operations as f64))
    }
}

/// The first line of `/proc/stat` (`cpu  user nice system idle iowait irq softirq steal ...`)
/// and the number of `cpuN` lines.
fn parse(stat: &str) -> Option<CpuTime> {
    let mut lines = stat.lines();
    let fields: Vec<u64> =
        lines.next()?.strip_prefix("cpu ")?.split_whitespace().map(str::parse).collect::<Result<_, _>>().ok()?;
    // user, nice, system, idle, iowait, irq, softirq, steal (guest time is counted in user).
    let [user, nice, system, idle, iowait, irq, softirq, steal] = *fields.get(..8)? else {
        return None;
    };
    let busy = user + nice + system + irq + softirq + steal;
    let cpus = lines
        .filter(|line| line.strip_prefix("cpu").is_some_and(|n| n.starts_with(|c: char| c.is_ascii_digit())))
        .count();
    Some(CpuTime { busy, total: busy + idle + iowait, cpus: u32::try_from(cpus).ok().filter(|&n| n > 0)? })
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT: &str = "cpu  300 0 100 500 50 0 50 0 0 0\ncpu0 150 0 50 250 25 0 25 0 0 0\n\
                        cpu1 150 0 50 250 25 0 25 0 0 0\nintr 1 2 3\nctxt 9\n";

    #[test]
    fn counts_busy_and_idle_ticks_and_the_cpus() {
        let time = parse(STAT).expect("parsed");
        assert_eq!(time, CpuTime { busy: 450, total: 1000, cpus: 2 });
        assert_eq!(time.busy_share(), Some(0.45));
    }

    #[test]
    fn the_cost_of_an_operation_is_the_busy_share_of_all_cpus_over_the_operations() {
        let before = CpuTime { busy: 100, total: 400, cpus: 2 };
        let after = CpuTime { busy: 400, total: 800, cpus: 2 };
        let spent = after.since(before);
        assert_eq!(spent.busy_share(), Some(0.75));
        // 0.75 of 2 CPUs for 1 s is 1.5 s of CPU; over 1,000 operations, 1.5 ms each.
        assert_eq!(spent.per_operation(Duration::from_secs(1), 1000), Some(Duration::from_micros(1500)));
        assert_eq!(spent.per_operation(Duration::from_secs(1), 0), None);
        assert_eq!(CpuTime::default().busy_share(), None);
    }

    #[test]
    fn anything_else_is_not_understood() {
        assert_eq!(parse(""), None);
        assert_eq!(parse("cpu  1 2 3\ncpu0 1 2 3\n"), None);
        assert_eq!(parse("cpu  a b c d e f g h\n"), None);
        assert_eq!(parse("cpu  1 2 3 4 5 6 7 8\n"), None, "no cpuN line");
    }
}
