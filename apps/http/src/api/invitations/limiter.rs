//! The per-client limit on accepting invitations: links carry 256 random bits, so guessing one
//! is hopeless; the limit keeps anyone from trying at volume, and from using this endpoint to
//! load the database. Per instance (several instances each allow this much).

use std::net::IpAddr;
use std::num::NonZeroU32;

use governor::clock::{Clock as _, DefaultClock};
use governor::state::keyed::HashMapStateStore;
use governor::{Quota, RateLimiter};

/// Accept attempts a client may make per minute, in a burst or spread out.
pub const ACCEPTS_PER_MINUTE: u32 = 10;

/// Above this many clients remembered, those whose allowance is full again are forgotten.
const REMEMBERED_CLIENTS: usize = 10_000;

/// Counts accept attempts per client address.
#[derive(Debug)]
pub struct AcceptLimiter {
    limiter: RateLimiter<IpAddr, HashMapStateStore<IpAddr>, DefaultClock>,
    clock: DefaultClock,
}

impl Default for AcceptLimiter {
    fn default() -> Self {
        let per_minute = NonZeroU32::new(ACCEPTS_PER_MINUTE).expect("a positive quota");
        Self { limiter: RateLimiter::hashmap(Quota::per_minute(per_minute)), clock: DefaultClock::default() }
    }
}

impl AcceptLimiter {
    /// Counts one attempt of `client`: `Err` with the seconds to wait when it has no allowance left.
    pub fn attempt(&self, client: IpAddr) -> Result<(), u64> {
        if self.limiter.len() > REMEMBERED_CLIENTS {
            self.limiter.retain_recent();
        }
        self.limiter.check_key(&client).map_err(|not_until| {
            let wait = not_until.wait_time_from(self.clock.now());
            wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_gets_its_allowance_and_then_a_wait_while_others_are_unaffected() {
        let limiter = AcceptLimiter::default();
        let (one, other): (IpAddr, IpAddr) = ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
        for _ in 0..ACCEPTS_PER_MINUTE {
            assert_eq!(limiter.attempt(one), Ok(()));
        }
        let wait = limiter.attempt(one).unwrap_err();
        assert!((1..=6).contains(&wait), "one attempt back every 6 s: {wait}");
        assert_eq!(limiter.attempt(other), Ok(()));
    }
}
