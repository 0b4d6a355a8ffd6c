//! A per-address rate limit on requests that present no valid credential.
//! Each such request costs an audit record replicated to every node; the
//! limit keeps an anonymous client from filling the cluster's disks (and,
//! with fail-closed audit, stopping it). Authenticated requests are never
//! limited here. A refused request is answered `RateLimited` and gets no
//! record of its own: the first refusal of a burst is logged with the
//! address, and so is the count each time the address is let through again.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

/// Most addresses tracked; past that, addresses not yet tracked share one
/// bucket (so a client with many addresses gets no more than one more).
const MAX_ADDRESSES: usize = 4096;

/// Token buckets by source address.
pub struct Throttle {
    per_second: f64,
    burst: f64,
    buckets: Mutex<Buckets>,
}

#[derive(Default)]
struct Buckets {
    by_address: HashMap<IpAddr, Bucket>,
    overflow: Option<Bucket>,
}

#[derive(Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
    /// Requests refused since the last one let through.
    refused: u64,
}

impl Throttle {
    /// Allows `per_second` requests a second from each address, in bursts
    /// of up to `burst`.
    pub fn new(per_second: u32, burst: u32) -> Throttle {
        Throttle { per_second: per_second as f64, burst: burst.max(1) as f64, buckets: Mutex::default() }
    }

    /// Whether a request without a valid credential from `source` may go
    /// on (an unknown source shares the overflow bucket).
    pub fn admit(&self, source: Option<IpAddr>) -> bool {
        self.admit_at(source, Instant::now())
    }

    fn admit_at(&self, source: Option<IpAddr>, now: Instant) -> bool {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let Buckets { by_address, overflow } = &mut *buckets;
        if by_address.len() >= MAX_ADDRESSES {
            // Forget the addresses whose buckets have refilled: they are
            // where a new one would start.
            let full = self.burst;
            by_address.retain(|_, b| refilled(b, now, self.per_second, full) < full);
        }
        let fresh = Bucket { tokens: self.burst, at: now, refused: 0 };
        let bucket = match source {
            Some(ip) if by_address.len() < MAX_ADDRESSES || by_address.contains_key(&ip) => {
                by_address.entry(ip).or_insert(fresh)
            }
            _ => overflow.get_or_insert(fresh),
        };
        bucket.tokens = refilled(bucket, now, self.per_second, self.burst);
        bucket.at = now;
        let source = source.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string());
        if bucket.tokens < 1.0 {
            if bucket.refused == 0 {
                tracing::warn!(%source, "requests without a valid credential rate-limited");
            }
            bucket.refused += 1;
            return false;
        }
        if bucket.refused > 0 {
            tracing::warn!(%source, refused = bucket.refused, "rate limit on requests without a valid credential lifted");
            bucket.refused = 0;
        }
        bucket.tokens -= 1.0;
        true
    }
}

fn refilled(b: &Bucket, now: Instant, per_second: f64, burst: f64) -> f64 {
    (b.tokens + now.saturating_duration_since(b.at).as_secs_f64() * per_second).min(burst)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const A: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1)));
    const B: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2)));

    #[test]
    fn a_burst_then_the_rate_per_address() {
        let t = Throttle::new(2, 5);
        let start = Instant::now();
        assert!((0..5).all(|_| t.admit_at(A, start)), "the burst");
        assert!(!t.admit_at(A, start));
        assert!(t.admit_at(B, start), "another address has its own bucket");
        let later = start + Duration::from_millis(500);
        assert!(t.admit_at(A, later), "one more after half a second at 2/s");
        assert!(!t.admit_at(A, later));
        assert!((0..5).all(|_| t.admit_at(A, start + Duration::from_secs(60))), "refills to the burst, no more");
        assert!(!t.admit_at(A, start + Duration::from_secs(60)));
    }

    #[test]
    fn many_addresses_share_one_overflow_bucket() {
        let t = Throttle::new(1, 1);
        let now = Instant::now();
        for i in 0..MAX_ADDRESSES as u32 {
            assert!(t.admit_at(Some(IpAddr::V4(i.into())), now));
        }
        let extra = |i: u32| Some(IpAddr::V6(std::net::Ipv6Addr::from(i as u128)));
        assert!(t.admit_at(extra(1), now), "the overflow bucket's one request");
        assert!(!t.admit_at(extra(2), now), "new addresses share it");
        assert!(!t.admit_at(None, now));
        // Once the tracked buckets refill, new addresses get their own again.
        let later = now + Duration::from_secs(5);
        assert!(t.admit_at(extra(3), later) && t.admit_at(extra(4), later));
    }
}
