//! Rate limits on guessing: short codes per client address and per session number, and failed
//! sign-ins per client address.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures counted in fixed windows; a key over its limit is refused until its window ends.
#[derive(Debug)]
struct Windows<K> {
    limit: u32,
    window: Duration,
    map: Mutex<HashMap<K, (Instant, u32)>>,
}

impl<K: Eq + Hash + Copy> Windows<K> {
    fn new(limit: u32, window: Duration) -> Self {
        Windows {
            limit,
            window,
            map: Mutex::new(HashMap::new()),
        }
    }

    /// Seconds to wait when `key` is over its limit.
    fn blocked(&self, key: K, now: Instant) -> Option<u64> {
        let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        let (start, failures) = *map.get(&key)?;
        let end = start + self.window;
        (failures >= self.limit && now < end).then(|| (end - now).as_secs().max(1))
    }

    fn fail(&self, key: K, now: Instant) {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() > 100_000 {
            // Bound memory under a flood of addresses: forget finished windows.
            map.retain(|_, (start, _)| now < *start + self.window);
        }
        let entry = map.entry(key).or_insert((now, 0));
        if now >= entry.0 + self.window {
            *entry = (now, 0);
        }
        entry.1 += 1;
    }
}

/// Which limit stopped a guess.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limited {
    Address { retry_after_secs: u64 },
    Session { retry_after_secs: u64 },
}

#[derive(Debug)]
pub struct Limiter {
    by_address: Windows<IpAddr>,
    by_session: Windows<u16>,
    logins: Windows<IpAddr>,
}

impl Limiter {
    pub fn new(
        per_address: u32,
        per_session: u32,
        logins_per_address: u32,
        window: Duration,
    ) -> Self {
        Limiter {
            by_address: Windows::new(per_address, window),
            by_session: Windows::new(per_session, window),
            logins: Windows::new(logins_per_address, window),
        }
    }

    /// Seconds to wait before this address may try to sign in again, if it must wait.
    pub fn login_blocked(&self, addr: IpAddr) -> Option<u64> {
        self.logins.blocked(addr, Instant::now())
    }

    pub fn login_failed(&self, addr: IpAddr) {
        self.logins.fail(addr, Instant::now());
    }

    pub fn check(&self, addr: IpAddr, session_number: u16) -> Result<(), Limited> {
        let now = Instant::now();
        if let Some(s) = self.by_address.blocked(addr, now) {
            return Err(Limited::Address {
                retry_after_secs: s,
            });
        }
        if let Some(s) = self.by_session.blocked(session_number, now) {
            return Err(Limited::Session {
                retry_after_secs: s,
            });
        }
        Ok(())
    }

    /// Count a wrong guess against the address and, when it named a live session, that session.
    pub fn fail(&self, addr: IpAddr, session_number: Option<u16>) {
        let now = Instant::now();
        self.by_address.fail(addr, now);
        if let Some(n) = session_number {
            self.by_session.fail(n, now);
        }
    }
}
