//! The half-open trial leases, kept in a fixed array so that no allocator is needed.

use crate::config::MAX_HALF_OPEN_PERMITS;

const SLOTS: usize = MAX_HALF_OPEN_PERMITS as usize;

/// One outstanding half-open trial.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub(crate) struct Lease {
    pub(crate) id: u64,
    pub(crate) expires_at: u64,
}

/// Live leases: the first `len` slots, in the order they were granted. What lies beyond `len`
/// is left over and never read; equality looks at the live leases only, so a snapshot
/// round-trips exactly.
#[derive(Clone, Copy, Default)]
pub(crate) struct Leases {
    slots: [Lease; SLOTS],
    len: usize,
}

impl PartialEq for Leases {
    fn eq(&self, other: &Leases) -> bool {
        self.live() == other.live()
    }
}

impl Eq for Leases {}

impl core::fmt::Debug for Leases {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_list().entries(self.live()).finish()
    }
}

impl Leases {
    fn live(&self) -> &[Lease] {
        &self.slots[..self.len]
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &Lease> {
        self.live().iter()
    }

    /// Stores a lease; `false` when every slot is taken.
    pub(crate) fn insert(&mut self, lease: Lease) -> bool {
        match self.slots.get_mut(self.len) {
            Some(slot) => {
                *slot = lease;
                self.len += 1;
                true
            }
            None => false,
        }
    }

    /// Removes the lease with this id; `false` when it is not held.
    pub(crate) fn remove(&mut self, id: u64) -> bool {
        self.retain(|lease| lease.id != id) > 0
    }

    /// Drops every lease; says how many there were.
    pub(crate) fn clear(&mut self) -> u32 {
        let dropped = self.len as u32;
        self.len = 0;
        dropped
    }

    /// Drops every lease that has run out by `now`.
    pub(crate) fn expire(&mut self, now: u64) {
        let _ = self.retain(|lease| lease.expires_at > now);
    }

    /// Keeps the leases `keep` accepts, in their order, and says how many went.
    fn retain(&mut self, keep: impl Fn(&Lease) -> bool) -> usize {
        let mut kept = 0;
        for i in 0..self.len {
            let lease = self.slots[i];
            if keep(&lease) {
                self.slots[kept] = lease;
                kept += 1;
            }
        }
        let dropped = self.len - kept;
        self.len = kept;
        dropped
    }

    /// Shortens every lease to end no later than `latest`.
    pub(crate) fn clamp(&mut self, latest: u64) {
        for lease in &mut self.slots[..self.len] {
            lease.expires_at = lease.expires_at.min(latest);
        }
    }

    pub(crate) fn earliest_expiry(&self) -> Option<u64> {
        self.iter().map(|lease| lease.expires_at).min()
    }
}

#[cfg(feature = "serde")]
mod serde_impl {
    //! A sequence of the live leases; a snapshot with more than the slots can hold is rejected.

    use super::{Lease, Leases, SLOTS};
    use core::fmt;
    use serde::de::{Error, SeqAccess, Visitor};
    use serde::ser::SerializeSeq;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    impl Serialize for Leases {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            let mut seq = serializer.serialize_seq(Some(self.len()))?;
            for lease in self.iter() {
                seq.serialize_element(lease)?;
            }
            seq.end()
        }
    }

    impl<'de> Deserialize<'de> for Leases {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            deserializer.deserialize_seq(LeasesVisitor)
        }
    }

    struct LeasesVisitor;

    impl<'de> Visitor<'de> for LeasesVisitor {
        type Value = Leases;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "a list of at most {SLOTS} leases")
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Leases, A::Error> {
            let mut leases = Leases::default();
            while let Some(lease) = seq.next_element::<Lease>()? {
                if !leases.insert(lease) {
                    return Err(A::Error::invalid_length(SLOTS + 1, &self));
                }
            }
            Ok(leases)
        }
    }
}
