//! `ipc_entry`: one slot of a space's table — what one name stands for.
//!
//! An entry packs its state into a 32-bit `ie_bits` word laid out as XNU's (reference §11.4):
//! user references in bits 0–15, the `MACH_PORT_TYPE_*` right bits in 16–20, and the slot's
//! generation in 24–31, which is also the low byte of the name. Keeping XNU's layout means the
//! numbers a debugger shows read the same as on macOS. The entry is plain data; the space that
//! owns the table enforces every rule about how the bits may change.

use mach::port::{
    MACH_PORT_TYPE_ALL_RIGHTS, MACH_PORT_TYPE_NONE, MACH_PORT_UREFS_MAX, MachPortName, MachPortType,
};

use super::ipc_port::PortRef;

/// User references, bits 0–15.
const IE_BITS_UREFS_MASK: u32 = 0x0000_ffff;
/// Right type bits, 16–20 (the `MACH_PORT_TYPE_*` values themselves).
const IE_BITS_TYPE_MASK: u32 = MACH_PORT_TYPE_ALL_RIGHTS;
/// A dead-name request is armed on this name (bit 21, XNU keeps its request index nearby).
const IE_BITS_DNREQUEST: u32 = 0x0020_0000;
/// Generation, bits 24–31.
const IE_BITS_GEN_MASK: u32 = 0xff00_0000;
/// One generation step. Adding it moves the name's low byte by 4, as in XNU (reference §5.2).
const IE_BITS_GEN_ONE: u32 = 0x0400_0000;
/// The generation of a slot never used: the first claim rolls it over to 0x03, so the first
/// name at index `i` is `(i << 8) | 0x03`, as on XNU.
const IE_BITS_GEN_FRESH: u32 = 0xff00_0000;

/// What an entry names: a port, or a port set.
#[derive(Clone, Debug)]
pub(crate) enum IpcObject {
    Port(PortRef),
    PortSet(super::ipc_pset::PsetRef),
}

/// One name's slot (XNU `struct ipc_entry`).
#[derive(Debug)]
pub(crate) struct IpcEntry {
    /// The port (or later port set) the rights are for; `None` for dead names and free slots.
    pub(crate) object: Option<IpcObject>,
    bits: u32,
}

/// What a name stands for, as reported to callers: a copy, so no lock is held while it is used.
#[derive(Clone, Debug)]
pub struct EntryView {
    /// `MACH_PORT_TYPE_*` bits.
    pub right_type: MachPortType,
    /// User references: send (or dead-name) references; 1 for send-once; 0 for a bare receive.
    pub urefs: u32,
    /// The port named, unless the name is dead.
    pub port: Option<PortRef>,
    /// A dead-name request is armed on the name.
    pub dnrequest: bool,
}

impl IpcEntry {
    /// A slot that has never held a right.
    pub(crate) const fn fresh() -> Self {
        Self { object: None, bits: IE_BITS_GEN_FRESH }
    }

    /// Start a new life for a free slot: advance the generation so no name the slot had
    /// before can reach what it holds next. The generation is a byte stepping by 4 from 0x03,
    /// so a name only comes back after 64 reuses of one slot. XNU picks a random roll-over
    /// period of 16–64 instead; a fixed one keeps our names reproducible from run to run.
    pub(crate) fn claim(&mut self, right_type: MachPortType, urefs: u32, object: IpcObject) {
        let generation = (self.bits & IE_BITS_GEN_MASK).wrapping_add(IE_BITS_GEN_ONE);
        self.bits = generation | (right_type & IE_BITS_TYPE_MASK) | urefs.min(MACH_PORT_UREFS_MAX);
        self.object = Some(object);
    }

    /// Start a new life for a free slot under a generation the caller picked (a name chosen
    /// by user space: `mach_port_insert_right` to an unused name).
    pub(crate) fn claim_as(
        &mut self,
        generation: u8,
        right_type: MachPortType,
        urefs: u32,
        object: IpcObject,
    ) {
        self.bits =
            (u32::from(generation) << 24) | (right_type & IE_BITS_TYPE_MASK) | urefs.min(MACH_PORT_UREFS_MAX);
        self.object = Some(object);
    }

    /// Is a dead-name request armed on this name?
    pub(crate) const fn has_dnrequest(&self) -> bool {
        self.bits & IE_BITS_DNREQUEST != 0
    }

    pub(crate) fn set_dnrequest(&mut self, armed: bool) {
        if armed {
            self.bits |= IE_BITS_DNREQUEST;
        } else {
            self.bits &= !IE_BITS_DNREQUEST;
        }
    }

    /// Return the slot to the free pool, keeping its generation for the next claim.
    pub(crate) fn free(&mut self) -> Option<IpcObject> {
        self.bits &= IE_BITS_GEN_MASK;
        self.object.take()
    }

    /// The name this slot answers to at `index`.
    pub(crate) fn name(&self, index: u32) -> MachPortName {
        mach::port::mach_port_make(index, self.generation())
    }

    pub(crate) const fn generation(&self) -> u8 {
        (self.bits >> 24) as u8
    }

    pub(crate) const fn right_type(&self) -> MachPortType {
        self.bits & IE_BITS_TYPE_MASK
    }

    pub(crate) const fn is_free(&self) -> bool {
        self.right_type() == MACH_PORT_TYPE_NONE
    }

    pub(crate) const fn urefs(&self) -> u32 {
        self.bits & IE_BITS_UREFS_MASK
    }

    pub(crate) fn set_right_type(&mut self, right_type: MachPortType) {
        self.bits = (self.bits & !IE_BITS_TYPE_MASK) | (right_type & IE_BITS_TYPE_MASK);
    }

    /// Set the user references; values above `MACH_PORT_UREFS_MAX` peg there (reference §5.3).
    pub(crate) fn set_urefs(&mut self, urefs: u32) {
        self.bits = (self.bits & !IE_BITS_UREFS_MASK) | urefs.min(MACH_PORT_UREFS_MAX);
    }

    /// The port named, if any.
    pub(crate) fn port(&self) -> Option<&PortRef> {
        match &self.object {
            Some(IpcObject::Port(port)) => Some(port),
            Some(IpcObject::PortSet(_)) | None => None,
        }
    }

    /// The port set named, if any.
    pub(crate) fn pset(&self) -> Option<&super::ipc_pset::PsetRef> {
        match &self.object {
            Some(IpcObject::PortSet(pset)) => Some(pset),
            _ => None,
        }
    }

    pub(crate) fn view(&self) -> EntryView {
        EntryView {
            right_type: self.right_type(),
            urefs: self.urefs(),
            port: self.port().cloned(),
            dnrequest: self.has_dnrequest(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipc::ipc_port::IpcPort;
    use alloc::sync::Weak;
    use mach::port::{MACH_PORT_TYPE_DEAD_NAME, MACH_PORT_TYPE_SEND};

    fn object() -> IpcObject {
        IpcObject::Port(IpcPort::new_receive(Weak::new()))
    }

    #[test]
    fn generations_step_by_four_and_roll_over() {
        let mut entry = IpcEntry::fresh();
        entry.claim(MACH_PORT_TYPE_SEND, 1, object());
        assert_eq!(entry.name(1), 0x103);
        let mut seen = alloc::vec::Vec::new();
        for _ in 0..64 {
            seen.push(entry.generation());
            entry.free();
            entry.claim(MACH_PORT_TYPE_SEND, 1, object());
        }
        // 64 distinct generations, then the cycle starts again.
        let mut distinct = seen.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), 64);
        assert_eq!(entry.generation(), 0x03);
        assert!(seen.iter().all(|g| g & 3 == 3));
    }

    #[test]
    fn bits_stay_in_their_fields() {
        let mut entry = IpcEntry::fresh();
        entry.claim(MACH_PORT_TYPE_SEND, 5, object());
        entry.set_urefs(u32::MAX);
        assert_eq!(entry.urefs(), MACH_PORT_UREFS_MAX);
        assert_eq!(entry.right_type(), MACH_PORT_TYPE_SEND);
        entry.set_right_type(MACH_PORT_TYPE_DEAD_NAME);
        assert_eq!(entry.right_type(), MACH_PORT_TYPE_DEAD_NAME);
        assert_eq!(entry.generation(), 0x03);
        assert!(entry.free().is_some());
        assert!(entry.is_free());
        assert_eq!(entry.generation(), 0x03);
    }
}
