//! Which cursors this replica has delivered. An event can arrive up to three times (from the
//! local relay, from Redis, from the database catch-up) and out of order (a Redis message from
//! another replica may land after a later local one), so "deliver if above the highest" would
//! lose events. Cursors are gap-free, so a watermark (everything at or below it delivered) plus
//! the set of delivered cursors above it is exact and stays small.

use std::collections::BTreeSet;

/// Delivered cursors: everything `<= watermark`, plus `above`.
#[derive(Debug, Default)]
pub struct Seen {
    watermark: i64,
    above: BTreeSet<i64>,
}

/// Cursors kept above the watermark before the oldest gap is given up on (it can only persist
/// when the catch-up cannot run, e.g. SQLite with several writers, which is unsupported).
const MAX_ABOVE: usize = 100_000;

impl Seen {
    /// Everything at or below `cursor` counts as delivered (the history before this process).
    #[cfg(test)]
    pub fn starting_at(cursor: i64) -> Self {
        Self {
            watermark: cursor,
            above: BTreeSet::new(),
        }
    }

    /// Marks `cursor` delivered; `false` if it already was.
    pub fn insert(&mut self, cursor: i64) -> bool {
        if cursor <= self.watermark || !self.above.insert(cursor) {
            return false;
        }
        self.compact();
        if self.above.len() > MAX_ABOVE {
            if let Some(first) = self.above.first().copied() {
                self.watermark = first;
                self.above.remove(&first);
                self.compact();
            }
        }
        true
    }

    /// Whether `cursor` was delivered.
    pub fn contains(&self, cursor: i64) -> bool {
        cursor <= self.watermark || self.above.contains(&cursor)
    }

    /// Everything at or below `cursor` is accounted for (the catch-up delivered what was missing).
    pub fn advance_to(&mut self, cursor: i64) {
        if cursor > self.watermark {
            self.watermark = cursor;
            self.above = self.above.split_off(&(cursor + 1));
            self.compact();
        }
    }

    /// The highest cursor below which nothing is missing.
    pub fn watermark(&self) -> i64 {
        self.watermark
    }

    fn compact(&mut self) {
        while self.above.first() == Some(&(self.watermark + 1)) {
            self.above.pop_first();
            self.watermark += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_order_copies_are_delivered_once() {
        let mut s = Seen::starting_at(10);
        assert!(!s.insert(10), "history is already delivered");
        assert!(s.insert(13), "a later event first (local relay)");
        assert!(s.insert(11), "an earlier one from Redis still goes through");
        assert!(!s.insert(13), "the Redis copy of a local event is dropped");
        assert_eq!(s.watermark(), 11);
        assert!(s.insert(12));
        assert_eq!(s.watermark(), 13);
        assert!(!s.insert(12));
    }

    #[test]
    fn catch_up_advances_past_gaps() {
        let mut s = Seen::starting_at(0);
        assert!(s.insert(5));
        s.advance_to(7);
        assert_eq!(s.watermark(), 7);
        assert!(s.contains(3) && s.contains(6) && !s.contains(8));
        assert!(s.insert(8));
        assert_eq!(s.watermark(), 8);
    }
}
