//! A FIFO of buffer indices with room for every buffer of a queue, so pushing a buffer that the
//! state machine holds can never fail for lack of space.

use crate::MAX_BUFFERS;

/// Buffer indices in the order they were queued.
#[derive(Clone, Debug)]
pub struct IndexRing {
    slots: [u8; MAX_BUFFERS],
    head: usize,
    len: usize,
}

impl Default for IndexRing {
    fn default() -> Self {
        Self::new()
    }
}

impl IndexRing {
    /// An empty ring.
    pub const fn new() -> Self {
        Self {
            slots: [0; MAX_BUFFERS],
            head: 0,
            len: 0,
        }
    }

    /// Appends `index`; false if the ring is full or the index is out of range (the caller's
    /// ownership table makes both impossible, so a false is a bug it reports).
    pub fn push(&mut self, index: u32) -> bool {
        if self.len == MAX_BUFFERS || index as usize >= MAX_BUFFERS {
            return false;
        }
        self.slots[(self.head + self.len) % MAX_BUFFERS] = index as u8;
        self.len += 1;
        true
    }

    /// Removes the oldest index.
    pub fn pop(&mut self) -> Option<u32> {
        if self.len == 0 {
            return None;
        }
        let v = self.slots[self.head];
        self.head = (self.head + 1) % MAX_BUFFERS;
        self.len -= 1;
        Some(u32::from(v))
    }

    /// Removes `index` wherever it is, keeping the order of the rest.
    pub fn remove(&mut self, index: u32) -> bool {
        let Some(pos) =
            (0..self.len).find(|&i| u32::from(self.slots[(self.head + i) % MAX_BUFFERS]) == index)
        else {
            return false;
        };
        for i in pos..self.len - 1 {
            self.slots[(self.head + i) % MAX_BUFFERS] =
                self.slots[(self.head + i + 1) % MAX_BUFFERS];
        }
        self.len -= 1;
        true
    }

    /// Number of indices held.
    pub const fn len(&self) -> usize {
        self.len
    }

    /// Whether the ring is empty.
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Empties the ring.
    pub fn clear(&mut self) {
        self.head = 0;
        self.len = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifo_order_wraps_and_removes() {
        let mut r = IndexRing::new();
        for round in 0..3u32 {
            for i in 0..MAX_BUFFERS as u32 {
                assert!(r.push((i + round) % MAX_BUFFERS as u32));
            }
            assert!(!r.push(0), "a full ring must refuse");
            for i in 0..MAX_BUFFERS as u32 {
                assert_eq!(r.pop(), Some((i + round) % MAX_BUFFERS as u32));
            }
            assert_eq!(r.pop(), None);
            // Leave the head somewhere new for the next round.
            r.push(1);
            r.pop();
        }
        assert!(!r.push(MAX_BUFFERS as u32));
        for i in [5, 7, 9, 11] {
            r.push(i);
        }
        assert!(r.remove(7));
        assert!(!r.remove(7));
        assert_eq!(r.len(), 3);
        assert_eq!((r.pop(), r.pop(), r.pop()), (Some(5), Some(9), Some(11)));
        assert!(r.is_empty());
    }
}
