//! Per-user counts of things held open (deploys in flight, log streams), each taken with a guard
//! that gives its slot back when dropped, however the holder ends.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// How many slots each user holds, up to a limit per user.
#[derive(Clone, Debug, Default)]
pub(crate) struct Slots {
    held: Arc<Mutex<HashMap<String, usize>>>,
}

/// One slot of a user's, held until dropped.
#[derive(Debug)]
pub(crate) struct Slot {
    held: Arc<Mutex<HashMap<String, usize>>>,
    user: String,
}

impl Slots {
    /// A slot for `user`, or `None` when they already hold `max`.
    pub(crate) fn take(&self, user: &str, max: usize) -> Option<Slot> {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        let count = held.entry(user.to_string()).or_default();
        if *count >= max {
            return None;
        }
        *count += 1;
        Some(Slot { held: self.held.clone(), user: user.to_string() })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = held.get_mut(&self.user) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                held.remove(&self.user);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_holds_at_most_max_and_a_dropped_slot_comes_back() {
        let slots = Slots::default();
        let (a, b) = (slots.take("ann", 2).unwrap(), slots.take("ann", 2).unwrap());
        assert!(slots.take("ann", 2).is_none(), "a third slot over a limit of 2");
        assert!(slots.take("bob", 2).is_some(), "another user is counted apart");
        drop(a);
        let _c = slots.take("ann", 2).expect("the dropped slot is free again");
        drop(b);
    }
}
