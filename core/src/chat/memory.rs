//! The history memory budget (`Config::history_memory`): with a store, the history held in
//! memory over all rooms stays within it; beyond it, the quietest rooms (whose history
//! changed longest ago) let theirs go, and it is read back from the store when someone joins
//! them. Without a store nothing is let go (there would be nowhere to read it back from).

use super::Chat;
use crate::room::Room;
use std::sync::Arc;

impl Chat {
    /// Changes a room's history through `change`, keeping the byte count and the order of
    /// quiet rooms, then keeps the budget (the room just changed is never let go).
    pub(super) fn change_history(&mut self, room: &Arc<str>, change: impl FnOnce(&mut Room)) {
        let Some(r) = self.rooms.get_mut(room) else {
            return;
        };
        let before = r.history_bytes();
        change(r);
        self.history_bytes = self.history_bytes + r.history_bytes() - before;
        self.touches += 1;
        if let Some(old) = r.touched.replace(self.touches) {
            self.quiet.remove(&old);
        }
        self.quiet.insert(self.touches, room.clone());
        self.keep_history_budget();
    }

    /// A room leaves memory: its history's bytes go with it.
    pub(super) fn drop_room(&mut self, room: &str) {
        if let Some(r) = self.rooms.remove(room) {
            self.history_bytes -= r.history_bytes();
            if let Some(touched) = r.touched {
                self.quiet.remove(&touched);
            }
        }
    }

    /// Bytes of history held in memory over all rooms.
    pub fn history_bytes(&self) -> usize {
        self.history_bytes
    }

    fn keep_history_budget(&mut self) {
        if self.store.is_none() {
            return;
        }
        while self.history_bytes > self.config.history_memory && self.quiet.len() > 1 {
            let Some((_, room)) = self.quiet.pop_first() else {
                return;
            };
            if let Some(r) = self.rooms.get_mut(&room) {
                self.history_bytes -= r.history_bytes();
                r.forget_history();
                r.touched = None;
            }
        }
    }
}
