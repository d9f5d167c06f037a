//! Per-session bookkeeping that one message alone cannot validate, shared by both ends.
//!
//! * [`BufferSet`]: which buffer indices are attached, or currently handed to the peer. The
//!   module uses it to check that a `FrameDone` names a capture buffer the daemon really
//!   holds; the daemon uses it to refuse a capture buffer queued twice.
//! * [`CookieTable`]: decode requests in flight (sent, `InputDone` not yet received), with
//!   their timestamps. Rejects zero, duplicate and unknown cookies.
//! * [`CookieRing`]: the most recent finished requests, for `FrameDone`, which names a
//!   request whose `InputDone` was already sent (a frame is reordered behind later input).
//!
//! All fixed-size, no allocation.

use core::fmt;

use crate::MAX_BUFFERS;

/// Why a state update was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StateError {
    /// Buffer index at or above [`MAX_BUFFERS`].
    IndexOutOfRange { index: u32 },
    /// The buffer is already in the set.
    BufferAlreadyPresent { index: u32 },
    /// The buffer is not in the set.
    BufferNotPresent { index: u32 },
    /// Cookie 0 is reserved for "no request".
    ZeroCookie,
    /// The cookie is already in flight.
    DuplicateCookie { cookie: u32 },
    /// The cookie is not known.
    UnknownCookie { cookie: u32 },
    /// More requests in flight than the table holds.
    TableFull { capacity: usize },
}

impl fmt::Display for StateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::IndexOutOfRange { index } => {
                write!(f, "buffer index {index} is not below {MAX_BUFFERS}")
            }
            Self::BufferAlreadyPresent { index } => write!(f, "buffer {index} is already held"),
            Self::BufferNotPresent { index } => write!(f, "buffer {index} is not held"),
            Self::ZeroCookie => f.write_str("cookie 0 is reserved"),
            Self::DuplicateCookie { cookie } => write!(f, "cookie {cookie} is already in flight"),
            Self::UnknownCookie { cookie } => write!(f, "cookie {cookie} is not in flight"),
            Self::TableFull { capacity } => {
                write!(f, "more than {capacity} requests in flight")
            }
        }
    }
}

impl core::error::Error for StateError {}

/// A set of V4L2 buffer indices (`0..64`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BufferSet(u64);

impl BufferSet {
    /// The empty set.
    pub const fn new() -> Self {
        Self(0)
    }

    fn bit(index: u32) -> Result<u64, StateError> {
        if index < MAX_BUFFERS {
            Ok(1 << index)
        } else {
            Err(StateError::IndexOutOfRange { index })
        }
    }

    /// Adds `index`; refuses one already present.
    pub fn insert(&mut self, index: u32) -> Result<(), StateError> {
        let bit = Self::bit(index)?;
        if self.0 & bit != 0 {
            return Err(StateError::BufferAlreadyPresent { index });
        }
        self.0 |= bit;
        Ok(())
    }

    /// Removes `index`; refuses one not present.
    pub fn remove(&mut self, index: u32) -> Result<(), StateError> {
        let bit = Self::bit(index)?;
        if self.0 & bit == 0 {
            return Err(StateError::BufferNotPresent { index });
        }
        self.0 &= !bit;
        Ok(())
    }

    /// Whether `index` is present.
    pub const fn contains(&self, index: u32) -> bool {
        index < MAX_BUFFERS && self.0 & (1 << index) != 0
    }

    /// Number of indices present.
    pub const fn len(&self) -> u32 {
        self.0.count_ones()
    }

    /// Whether the set is empty.
    pub const fn is_empty(&self) -> bool {
        self.0 == 0
    }

    /// Removes everything.
    pub fn clear(&mut self) {
        self.0 = 0;
    }

    /// The indices present, ascending.
    pub fn iter(&self) -> impl Iterator<Item = u32> + use<> {
        let bits = self.0;
        (0..MAX_BUFFERS).filter(move |i| bits & (1 << i) != 0)
    }
}

/// Requests in flight: cookie → timestamp, at most `N`.
#[derive(Clone, Debug)]
pub struct CookieTable<const N: usize> {
    slots: [(u32, u64); N],
    len: usize,
}

impl<const N: usize> Default for CookieTable<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> CookieTable<N> {
    /// An empty table.
    pub const fn new() -> Self {
        Self {
            slots: [(0, 0); N],
            len: 0,
        }
    }

    /// Records a new request.
    pub fn insert(&mut self, cookie: u32, timestamp: u64) -> Result<(), StateError> {
        if cookie == 0 {
            return Err(StateError::ZeroCookie);
        }
        if self.get(cookie).is_some() {
            return Err(StateError::DuplicateCookie { cookie });
        }
        if self.len == N {
            return Err(StateError::TableFull { capacity: N });
        }
        self.slots[self.len] = (cookie, timestamp);
        self.len += 1;
        Ok(())
    }

    /// Timestamp of a request in flight.
    pub fn get(&self, cookie: u32) -> Option<u64> {
        self.slots[..self.len]
            .iter()
            .find(|(c, _)| *c == cookie)
            .map(|&(_, t)| t)
    }

    /// Finishes a request and returns its timestamp.
    pub fn remove(&mut self, cookie: u32) -> Result<u64, StateError> {
        if cookie == 0 {
            return Err(StateError::ZeroCookie);
        }
        let pos = self.slots[..self.len]
            .iter()
            .position(|(c, _)| *c == cookie)
            .ok_or(StateError::UnknownCookie { cookie })?;
        let ts = self.slots[pos].1;
        self.slots[pos] = self.slots[self.len - 1];
        self.len -= 1;
        Ok(ts)
    }

    /// Requests in flight, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (u32, u64)> + '_ {
        self.slots[..self.len].iter().copied()
    }

    /// Number in flight.
    pub const fn len(&self) -> usize {
        self.len
    }

    /// Whether none is in flight.
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Forgets every request (after a flush or a lost daemon).
    pub fn clear(&mut self) {
        self.len = 0;
    }
}

/// The last `N` finished requests (cookie → timestamp), oldest overwritten first.
#[derive(Clone, Debug)]
pub struct CookieRing<const N: usize> {
    slots: [(u32, u64); N],
    next: usize,
}

impl<const N: usize> Default for CookieRing<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> CookieRing<N> {
    /// An empty ring.
    pub const fn new() -> Self {
        Self {
            slots: [(0, 0); N],
            next: 0,
        }
    }

    /// Remembers a finished request.
    pub fn push(&mut self, cookie: u32, timestamp: u64) {
        if N == 0 || cookie == 0 {
            return;
        }
        self.slots[self.next] = (cookie, timestamp);
        self.next = (self.next + 1) % N;
    }

    /// Timestamp of a remembered request; the newest entry wins if a cookie was reused.
    pub fn get(&self, cookie: u32) -> Option<u64> {
        if cookie == 0 || N == 0 {
            return None;
        }
        (1..=N)
            .map(|back| self.slots[(self.next + N - back) % N])
            .find(|(c, _)| *c == cookie)
            .map(|(_, t)| t)
    }

    /// Forgets everything.
    pub fn clear(&mut self) {
        self.slots = [(0, 0); N];
        self.next = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffer_set_tracks_ownership() {
        let mut s = BufferSet::new();
        assert!(s.is_empty());
        s.insert(0).unwrap();
        s.insert(63).unwrap();
        assert_eq!(
            s.insert(63),
            Err(StateError::BufferAlreadyPresent { index: 63 })
        );
        assert_eq!(s.insert(64), Err(StateError::IndexOutOfRange { index: 64 }));
        assert_eq!(
            s.insert(u32::MAX),
            Err(StateError::IndexOutOfRange { index: u32::MAX })
        );
        assert!(s.contains(0) && s.contains(63) && !s.contains(1) && !s.contains(64));
        assert_eq!(s.len(), 2);
        let mut it = s.iter();
        assert_eq!((it.next(), it.next(), it.next()), (Some(0), Some(63), None));
        s.remove(0).unwrap();
        assert_eq!(s.remove(0), Err(StateError::BufferNotPresent { index: 0 }));
        s.clear();
        assert!(s.is_empty());
    }

    #[test]
    fn cookie_table_rejects_zero_duplicate_unknown_and_overflow() {
        let mut t = CookieTable::<4>::new();
        assert_eq!(t.insert(0, 5), Err(StateError::ZeroCookie));
        for c in 1..=4 {
            t.insert(c, u64::from(c) * 100).unwrap();
        }
        assert_eq!(
            t.insert(2, 1),
            Err(StateError::DuplicateCookie { cookie: 2 })
        );
        assert_eq!(t.insert(9, 1), Err(StateError::TableFull { capacity: 4 }));
        assert_eq!(t.remove(2), Ok(200));
        assert_eq!(t.remove(2), Err(StateError::UnknownCookie { cookie: 2 }));
        assert_eq!(t.remove(0), Err(StateError::ZeroCookie));
        assert_eq!(t.len(), 3);
        // The freed slot is reusable and the survivors keep their timestamps.
        t.insert(9, 900).unwrap();
        assert_eq!(
            (t.get(1), t.get(3), t.get(4), t.get(9)),
            (Some(100), Some(300), Some(400), Some(900))
        );
        let mut seen = [false; 10];
        for (c, _) in t.iter() {
            seen[c as usize] = true;
        }
        assert_eq!(
            seen,
            [
                false, true, false, true, true, false, false, false, false, true
            ]
        );
        t.clear();
        assert!(t.is_empty() && t.get(1).is_none());
    }

    #[test]
    fn cookie_ring_keeps_the_newest_n() {
        let mut r = CookieRing::<3>::new();
        assert_eq!(r.get(1), None);
        for c in 1..=5u32 {
            r.push(c, u64::from(c) * 10);
        }
        assert_eq!((r.get(1), r.get(2)), (None, None));
        assert_eq!(
            (r.get(3), r.get(4), r.get(5)),
            (Some(30), Some(40), Some(50))
        );
        // A reused cookie resolves to its latest timestamp.
        r.push(4, 99);
        assert_eq!(r.get(4), Some(99));
        r.push(0, 1);
        assert_eq!(r.get(0), None);
        r.clear();
        assert_eq!(r.get(5), None);
    }
}
