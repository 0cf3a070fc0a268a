//! Randomized host tests of mach_msg's copyin and copyout (`ipc_kmsg`): random headers and
//! descriptors — random bits, sizes, descriptor counts and types, dispositions, names that
//! exist and names that do not, truncated messages, out-of-line addresses inside and outside
//! the sender's address space — sent from a simulated task (its space, and a `VmMap` that the
//! host copy routines reach as the target's reach the current map).
//!
//! What must hold, for every input: nothing panics; the parse agrees with a reference decoder
//! written from the layouts in the ABI reference (§4.1–4.4) with bare byte offsets; a copyin
//! that fails leaves every count as it was (names and their rights and urefs in both spaces,
//! every port's send, send-once and make-send counts and queue, the sender's message budget,
//! the pages of its map); one that succeeds gives a message that copies out — back to the
//! sender, or through a queue to a receiver — with every port's counts equal to the rights
//! the spaces hold.
//!
//! The generator is seeded (`KMSG_SEED=<hex>` replays a run); a failure prints its seed.

use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicUsize, Ordering};

use mach::message::*;
use mach::port::{
    MACH_PORT_DEAD, MACH_PORT_NULL, MACH_PORT_TYPE_RECEIVE, MACH_PORT_TYPE_SEND, MACH_PORT_TYPE_SEND_ONCE,
};
use mach::vm::{VM_FLAGS_FIXED, VmProt};
use zerocopy::{FromBytes, IntoBytes};

use super::ipc_kmsg::{
    CopyoutMode, IpcKmsg, IpcTask, KmsgCharge, KmsgDescriptor, MACH_MSG_OOL_PORTS_MAX, MsgRight, SenderToken,
    UserDesc, UserMsg, ipc_kmsg_check_size, ipc_kmsg_copyin_from_user, ipc_kmsg_copyout_to_user,
    ipc_kmsg_parse,
};
use super::ipc_mqueue::{IpcTimeout, Received, ipc_mqueue_receive, ipc_mqueue_send};
use super::ipc_port::PortRef;
use super::ipc_space::{IpcSpace, SpaceRef};
use super::tests::{Task as KObjectTask, check_accounting, kernel_port};
use crate::arm64::pmap::{USER_VM_MAX, USER_VM_MIN};
use crate::kern::budget::{IPC_KMSG_TASK_MAX, KMSG_OVERHEAD};
use crate::test_rng::Rng;
use crate::vm::test_support::{FakePmap, FakePool};
use crate::vm::user_ptr::{UserSlice, host_user_memory};
use crate::vm::vm_map::VmMap;
use crate::vm::vm_map_lock::VmMapLock;
use crate::vm::vm_page::PAGE_SIZE;
use crate::vm::vm_user;

const P: u64 = PAGE_SIZE;
/// The sender's message buffer: four pages.
const MSG: u64 = USER_VM_MIN + 0x100_0000;
const MSG_LEN: u64 = 4 * P;
/// Out-of-line data: eight pages in four entries, then two pages no one may read.
const OOL: u64 = USER_VM_MIN + 0x200_0000;
const OOL_LEN: u64 = 8 * P;
const OOL_NONE: u64 = OOL + OOL_LEN;
/// Port-name arrays.
const NAMES: u64 = USER_VM_MIN + 0x300_0000;
/// Never mapped: far above where the kernel places what it maps anywhere (first fit from the
/// bottom). The regions above are followed by a page no one may read, for the same reason.
const HOLE: u64 = USER_VM_MAX - 0x1000_0000;
/// The receiver's buffer (in the receiver's map).
const RBUF: u64 = USER_VM_MIN + 0x400_0000;
const RBUF_LEN: u64 = 4 * P;

/// Inputs per randomized test (the issue asks for at least 10^5 per parser).
const CASES: usize = 100_000;

/// The run's seed: `KMSG_SEED` (hex) if set, else a fixed one.
fn seed() -> u64 {
    let given = std::env::var("KMSG_SEED").ok();
    given
        .and_then(|s| u64::from_str_radix(s.trim_start_matches("0x"), 16).ok())
        .unwrap_or(0x6b6d_7367_5eed_0001)
}

/// Prints the seed if the test fails (an assertion or a panic anywhere below).
struct SeedOnFailure(&'static str, u64);

impl Drop for SeedOnFailure {
    fn drop(&mut self) {
        if std::thread::panicking() {
            std::eprintln!("{} failed with seed {:#x}: replay with KMSG_SEED={:#x}", self.0, self.1, self.1);
        }
    }
}

/// A generator for one test: the run's seed mixed with the test's own salt.
fn rng_for(name: &'static str, salt: u64) -> (Rng, SeedOnFailure) {
    let seed = seed();
    (Rng((seed ^ salt) | 1), SeedOnFailure(name, seed))
}

// ---- The reference decoder -------------------------------------------------------------------

fn word(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at.checked_add(4)?).map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
}

/// What a correct copyin must make of `message` (its first `send_size` bytes), through the
/// parse step: the checks in the order the reference gives them, over bare offsets.
fn model_parse(message: &[u8], given: Option<(MachMsgHeader, u32)>) -> Result<UserMsg, MachMsgReturn> {
    let too_small = MACH_SEND_MSG_TOO_SMALL;
    let mut h = [0u32; 6];
    for (i, w) in h.iter_mut().enumerate() {
        *w = word(message, 4 * i).ok_or(too_small)?;
    }
    let mut header = MachMsgHeader {
        msgh_bits: h[0],
        msgh_size: h[1],
        msgh_remote_port: h[2],
        msgh_local_port: h[3],
        msgh_voucher_port: h[4],
        msgh_id: h[5] as i32,
    };
    let body = &message[24..];
    let mut count = word(body, 0);
    let mut count_override = None;
    if let Some((regs, n)) = given {
        header = regs;
        if regs.msgh_bits & 0x8000_0000 == 0 && n != 0 {
            return Err(MACH_SEND_TOO_LARGE);
        }
        if body.len() >= 4 && regs.msgh_bits & 0x8000_0000 != 0 {
            (count, count_override) = (Some(n), Some(n));
        }
    }
    header.msgh_bits &= 0x801f_1f1f;
    let (dest_type, reply_type) = (header.msgh_bits & 0x1f, (header.msgh_bits >> 8) & 0x1f);
    let any_send = |t: u32| (17..=21).contains(&t);
    if !any_send(dest_type) || (reply_type != 0 && !any_send(reply_type)) {
        return Err(MACH_SEND_INVALID_HEADER);
    }
    if header.msgh_remote_port == MACH_PORT_NULL || header.msgh_remote_port == MACH_PORT_DEAD {
        return Err(MACH_SEND_INVALID_DEST);
    }
    let reply = if reply_type == 0 { 0 } else { header.msgh_local_port };
    let mut descs = Vec::new();
    let mut rights = 0u64;
    if header.msgh_bits & 0x8000_0000 != 0 {
        let count = count.ok_or(too_small)?;
        if u64::from(count) * 12 > body.len() as u64 {
            return Err(too_small);
        }
        let mut at = 4;
        for _ in 0..count {
            let kind = *body.get(at + 11).ok_or(too_small)?;
            let size = match kind {
                0 => 12,
                1..=3 => 16,
                _ => return Err(MACH_SEND_INVALID_TYPE),
            };
            if at + size > body.len() {
                return Err(too_small);
            }
            let (flags, first) = (word(body, at + 8).unwrap(), word(body, at).unwrap());
            let address = u64::from(first) | (u64::from(word(body, at + 4).unwrap()) << 32);
            let (deallocate, copy, disposition) =
                (flags & 0xff != 0, (flags >> 8) & 0xff, (flags >> 16) & 0xff);
            let port_any = (16..=21).contains(&disposition);
            descs.push(match kind {
                0 if port_any => UserDesc::Port { offset: at, name: first, disposition },
                2 if port_any && word(body, at + 12).unwrap() <= 65536 => UserDesc::OolPorts {
                    offset: at,
                    address,
                    count: word(body, at + 12).unwrap(),
                    deallocate,
                    disposition,
                },
                1 | 3 if copy <= 1 => {
                    UserDesc::Ool { offset: at, address, size: word(body, at + 12).unwrap(), deallocate }
                }
                _ => return Err(MACH_SEND_INVALID_TYPE),
            });
            // At most 65536 rights in all, counting each port descriptor as one.
            rights += match descs.last() {
                Some(UserDesc::Port { .. }) => 1,
                Some(UserDesc::OolPorts { count, .. }) => u64::from(*count),
                _ => 0,
            };
            if rights > 65536 {
                return Err(MACH_SEND_TOO_LARGE);
            }
            at += size;
        }
    }
    Ok(UserMsg { header, dest_type, reply_type, reply, count_override, descs })
}

/// The size rule (reference §4.1).
fn model_size(send_size: u32) -> Result<(), MachMsgReturn> {
    if send_size < 24 || !send_size.is_multiple_of(4) {
        Err(MACH_SEND_MSG_TOO_SMALL)
    } else if send_size - 24 > (64 << 20) * 3 / 4 - 68 {
        Err(MACH_SEND_TOO_LARGE)
    } else {
        Ok(())
    }
}

// ---- The generator ---------------------------------------------------------------------------

/// Dispositions a message may carry: every valid one, and some that are not.
const DISPOSITIONS: [u32; 12] = [16, 17, 17, 18, 19, 19, 20, 21, 0, 15, 22, 25];

/// Random messages, half of them hostile (any of the fields below may be wrong) and half
/// careful (well formed, with names the sender holds), so that copyin reaches every step.
struct Gen<'a> {
    rng: &'a mut Rng,
    /// Names the message may use, with the rights they hold (`MACH_PORT_TYPE_*`, 0 for none).
    names: &'a [(u32, u32)],
    hostile: bool,
}

impl Gen<'_> {
    /// One in `n`, when hostile.
    fn odd(&mut self, n: u64) -> bool {
        self.hostile && self.rng.below(n) == 0
    }

    fn disposition(&mut self) -> u32 {
        if self.odd(16) {
            self.rng.below(256) as u32
        } else if self.hostile {
            DISPOSITIONS[self.rng.index(DISPOSITIONS.len())]
        } else {
            DISPOSITIONS[self.rng.index(8)]
        }
    }

    fn name(&mut self) -> u32 {
        if self.odd(10) {
            self.rng.next() as u32
        } else {
            self.rng.pick(self.names).map_or(0, |(name, _)| name)
        }
    }

    /// A name and a disposition: when careful, one the name's rights allow.
    fn right(&mut self) -> (u32, u32) {
        let Some((name, rights)) = self.rng.pick(self.names).filter(|_| !self.hostile) else {
            return (self.name(), self.disposition());
        };
        let allowed: &[u32] = match (rights & MACH_PORT_TYPE_SEND != 0, rights & MACH_PORT_TYPE_RECEIVE != 0)
        {
            (true, true) => &[16, 17, 19, 20, 21],
            (true, false) => &[17, 19],
            (false, true) => &[16, 20, 21],
            _ if rights & MACH_PORT_TYPE_SEND_ONCE != 0 => &[18],
            _ => &DISPOSITIONS,
        };
        (name, allowed[self.rng.index(allowed.len())])
    }

    /// A user address for out-of-line data or a name array: mostly where the sender has
    /// memory, else at its edges, in a hole, in memory it may not read, or outside user space.
    fn address(&mut self, home: u64, len: u64) -> u64 {
        let rng = &mut *self.rng;
        match if self.hostile { rng.below(12) } else { 0 } {
            0..=5 => home + rng.below(len),
            6 => home + len - rng.below(64),
            7 => OOL_NONE + rng.below(2 * P),
            8 => HOLE + rng.below(P),
            9 => [0, USER_VM_MIN - P, USER_VM_MAX - 8, u64::MAX - 3][rng.index(4)],
            10 => home + rng.below(len) * 0x1_0000,
            _ => rng.next(),
        }
    }

    fn ool_size(&mut self) -> u32 {
        let rng = &mut *self.rng;
        match rng.below(if self.hostile { 8 } else { 6 }) {
            0 => 0,
            1..=3 => rng.below(P) as u32,
            4 | 5 => rng.below(OOL_LEN + 2 * P) as u32,
            6 => u32::MAX - rng.below(P) as u32,
            _ => rng.next() as u32,
        }
    }

    /// One descriptor's bytes (12 or 16).
    fn descriptor(&mut self) -> Vec<u8> {
        match self.rng.below(if self.hostile { 8 } else { 7 }) {
            0..=2 => {
                let (name, disposition) = self.right();
                port_descriptor(name, disposition).to_vec()
            }
            3 | 4 => {
                let copy = if self.hostile {
                    [0, 1, 1, 2, 3, self.rng.below(256) as u32][self.rng.index(6)]
                } else {
                    1
                };
                let (address, size, deallocate) =
                    (self.address(OOL, OOL_LEN), self.ool_size(), self.rng.below(8) == 0);
                let mut d = ool_descriptor(address, size, deallocate, copy);
                if self.rng.below(4) == 0 {
                    d[MACH_MSG_DESCRIPTOR_TYPE_OFFSET] = MACH_MSG_OOL_VOLATILE_DESCRIPTOR as u8;
                }
                d.to_vec()
            }
            5 | 6 => {
                let rng = &mut *self.rng;
                let count = match rng.below(if self.hostile { 8 } else { 5 }) {
                    0 => 0,
                    1..=4 => 1 + rng.below(16) as u32,
                    5 => MACH_MSG_OOL_PORTS_MAX + rng.below(2) as u32,
                    6 => rng.below(4096) as u32,
                    _ => rng.next() as u32,
                };
                let at = if self.odd(4) { self.address(NAMES, P) } else { NAMES + 4 * self.rng.below(64) };
                let deallocate = self.rng.below(8) == 0;
                ool_ports_descriptor(at, count, deallocate, self.disposition()).to_vec()
            }
            _ => {
                let rng = &mut *self.rng;
                let mut d: Vec<u8> = (0..16).map(|_| rng.next() as u8).collect();
                if rng.below(2) == 0 {
                    d[MACH_MSG_DESCRIPTOR_TYPE_OFFSET] = rng.below(6) as u8;
                }
                d.truncate(if rng.below(2) == 0 { 12 } else { 16 });
                d
            }
        }
    }

    fn header(&mut self, complex: bool) -> MachMsgHeader {
        // A careful header does not move a receive right (no header field may).
        let sendable = |(name, d): (u32, u32)| (name, if d == MACH_MSG_TYPE_MOVE_RECEIVE { 20 } else { d });
        let (remote_name, remote) = sendable(self.right());
        let (local_name, local) =
            if self.rng.below(3) == 0 { (self.name(), 0) } else { sendable(self.right()) };
        let mut bits = mach_msgh_bits(remote, local);
        if complex {
            bits |= MACH_MSGH_BITS_COMPLEX;
        }
        if self.odd(8) {
            bits ^= self.rng.next() as u32;
        }
        let voucher = if self.odd(8) { self.name() } else { 0 };
        MachMsgHeader {
            msgh_bits: bits,
            msgh_size: self.rng.next() as u32,
            msgh_remote_port: remote_name,
            msgh_local_port: local_name,
            msgh_voucher_port: voucher,
            msgh_id: self.rng.next() as i32,
        }
    }
}

/// One random message: its bytes, the size to send, and (for `mach_msg2`) the header and
/// descriptor count given in registers.
struct Input {
    bytes: Vec<u8>,
    send_size: u32,
    given: Option<(MachMsgHeader, u32)>,
    hostile: bool,
}

/// A message, complex unless one in `complex_odds`.
fn message(rng: &mut Rng, names: &[(u32, u32)], complex_odds: u64) -> Input {
    let hostile = rng.below(2) == 0;
    let mut g = Gen { rng, names, hostile };
    let complex = g.rng.below(complex_odds) != 0;
    let head = g.header(complex);
    let mut bytes = head.to_bytes().to_vec();
    let mut count = 0u32;
    if complex || g.odd(4) {
        let n: u32 = [0, 1, 1, 2, 3, 4, 6, 12][g.rng.index(8)];
        let mut descs = Vec::new();
        for _ in 0..n {
            descs.extend(g.descriptor());
        }
        count = match if g.hostile { g.rng.below(10) } else { 9 } {
            0 => n.wrapping_add(1),
            1 => n.wrapping_sub(1),
            2 => g.rng.next() as u32,
            _ => n,
        };
        bytes.extend_from_slice(&count.to_le_bytes());
        bytes.extend(descs);
    }
    bytes.extend((0..g.rng.below(48)).map(|_| g.rng.next() as u8));
    if g.odd(16) {
        bytes = (0..g.rng.below(200)).map(|_| g.rng.next() as u8).collect();
    }
    if g.odd(4) {
        for _ in 0..1 + g.rng.below(3) {
            if !bytes.is_empty() {
                let at = g.rng.index(bytes.len());
                bytes[at] ^= 1 << g.rng.below(8);
            }
        }
    }
    let len = bytes.len() as u32;
    let send_size = match if g.hostile { g.rng.below(10) } else { 9 } {
        0 => len.saturating_sub(g.rng.below(24) as u32),
        1 => g.rng.below(u64::from(len) + 8) as u32,
        2 => len + 4 * g.rng.below(8) as u32,
        3 if g.rng.below(8) == 0 => g.rng.next() as u32,
        _ => len & !3,
    };
    let given = (g.rng.below(8) == 0).then(|| {
        let complex = if g.hostile { g.rng.below(2) == 0 } else { complex };
        let regs = g.header(complex);
        (regs, if g.odd(3) { g.rng.next() as u32 % 16 } else { count })
    });
    Input { bytes, send_size, given, hostile }
}

// ---- The simulated tasks ---------------------------------------------------------------------

/// A task as copyin and copyout see it: a space, a map over a fake pool, a message budget.
struct FakeTask {
    space: SpaceRef,
    map: Arc<VmMapLock>,
    pool: Arc<FakePool>,
    bytes: Arc<AtomicUsize>,
}

impl IpcTask for FakeTask {
    fn space(&self) -> &IpcSpace {
        &self.space
    }
    fn map(&self) -> Option<&VmMapLock> {
        Some(&self.map)
    }
    fn kmsg_bytes(&self) -> &Arc<AtomicUsize> {
        &self.bytes
    }
    fn sender_token(&self) -> SenderToken {
        SenderToken { security: [501, 20], audit: [501, 501, 20, 501, 20, 77, 0, 1] }
    }
}

impl FakeTask {
    /// A task whose map takes pages from `pool` (one pool for all, as on the target: pages
    /// shared copy-on-write move between maps).
    fn new(pool: &Arc<FakePool>) -> FakeTask {
        let pool_ref: crate::vm::vm_page::PoolRef = pool.clone();
        let pool = pool.clone();
        let map = Arc::new(VmMapLock::new(VmMap::create(FakePmap::create().0, pool_ref)));
        let space = IpcSpace::new();
        // Notifications are charged to the kernel here, so that `bytes` counts only what
        // the task sent.
        let bytes = Arc::new(AtomicUsize::new(0));
        FakeTask { space, map, pool, bytes }
    }

    /// Map `[addr, addr + len)` and touch every page, so that reading it later faults
    /// nothing in (a failed copyin must leave the pool as it was).
    fn memory(&self, mem: &host_user_memory::Session, addr: u64, len: u64) {
        let at = vm_user::mach_vm_allocate(&mut self.map.write(), addr, len, VM_FLAGS_FIXED);
        assert_eq!(at, Ok(addr));
        mem.use_map(self.map.clone());
        let fill: Vec<u8> = (0..len).map(|i| (i * 7 + (addr >> 12)) as u8).collect();
        UserSlice::new(addr, fill.len()).and_then(|s| s.write_at(0, &fill)).expect("fill");
    }
}

/// The sender, a receiver, and the ports between them.
struct World {
    sender: FakeTask,
    receiver: FakeTask,
    /// Every port made, for the counts.
    ports: Vec<PortRef>,
    _kobjects: Vec<Arc<KObjectTask>>,
    /// Names a message may use, with their rights: the sender's, stale ones, the null and
    /// dead names.
    names: Vec<(u32, u32)>,
}

impl World {
    fn new(mem: &host_user_memory::Session) -> World {
        let pool = FakePool::new().0;
        let (sender, receiver) = (FakeTask::new(&pool), FakeTask::new(&pool));
        for (addr, len) in [(OOL, 2 * P), (OOL + 2 * P, P), (OOL + 3 * P, 4 * P), (OOL + 7 * P, P)] {
            sender.memory(mem, addr, len);
        }
        sender.memory(mem, NAMES, P);
        sender.memory(mem, MSG, MSG_LEN);
        for (guard, len) in [(OOL_NONE, 2 * P), (NAMES + P, P), (MSG + MSG_LEN, P)] {
            sender.memory(mem, guard, len);
            let none = vm_user::mach_vm_protect(&mut sender.map.write(), guard, len, false, VmProt::NONE.0);
            assert_eq!(none, Ok(()));
        }
        receiver.memory(mem, RBUF, RBUF_LEN);
        let mut ports = Vec::new();
        let mut stale = Vec::new();
        let s = &sender.space;
        for i in 0..4 {
            let (name, port) = s.alloc_receive().expect("receive");
            if i % 2 == 0 {
                s.copyout_send(port.make_send()).expect("send");
            }
            ports.push(port);
            stale.push(name);
        }
        for i in 0..4 {
            let (_, port) = receiver.space.alloc_receive().expect("receive");
            if i == 3 {
                s.copyout_send_once(port.make_send_once()).expect("send-once");
            } else {
                s.copyout_send(port.make_send()).expect("send");
            }
            if i == 0 {
                s.copyout_send(port.make_send()).expect("second uref");
            }
            ports.push(port);
        }
        // A dead name: a send right whose port's receive right dies.
        let (dying_name, dying) = receiver.space.alloc_receive().expect("receive");
        s.copyout_send(dying.make_send()).expect("send");
        receiver.space.destroy_receive(dying_name).expect("destroy");
        ports.push(dying);
        // A name that was and is no more.
        let (gone, port) = s.alloc_receive().expect("receive");
        s.destroy_receive(gone).expect("destroy");
        ports.push(port);
        let kobjects: Vec<_> = (0..2).map(|_| kernel_port()).collect();
        for (_, port) in &kobjects {
            s.insert_send(port).expect("kernel port");
            ports.push(port.clone());
        }
        let _ = s.alloc_port_set().expect("set");
        let mut world = World {
            sender,
            receiver,
            ports,
            _kobjects: kobjects.into_iter().map(|(t, _)| t).collect(),
            names: Vec::new(),
        };
        world.refresh_names(&stale);
        world
    }

    /// The names messages pick from: the sender's live ones, some it no longer holds, the
    /// null and dead names, one name past its table.
    fn refresh_names(&mut self, extra: &[u32]) {
        let live = self.sender.space.names().expect("names");
        self.names = live.iter().map(|(name, view)| (*name, view.right_type)).collect();
        self.names.extend(extra.iter().map(|&name| (name, 0)));
        self.names.extend([MACH_PORT_NULL, MACH_PORT_DEAD, 0x7f03, 0x103 ^ 0x04].map(|name| (name, 0)));
    }

    /// Empty the queues of the ports the sender receives on, so later sends do not meet
    /// full queues.
    fn drain_queues(&self) {
        for (_, view) in self.sender.space.names().expect("names") {
            if let Some(port) = view.port.filter(|_| view.right_type & MACH_PORT_TYPE_RECEIVE != 0) {
                while let Ok(Received::Message(..)) =
                    ipc_mqueue_receive(&port, 1 << 20, false, IpcTimeout::Poll)
                {}
            }
        }
    }

    fn spaces(&self) -> [SpaceRef; 2] {
        [self.sender.space.clone(), self.receiver.space.clone()]
    }
}

/// Everything a failed copyin must leave as it was.
#[derive(Debug, PartialEq, Eq)]
struct Counts {
    /// Per space: (name, right bits, urefs).
    names: Vec<Vec<(u32, u32, u32)>>,
    /// Per port: active, srights, sorights, mscount, queued, seqno.
    ports: Vec<(bool, u32, u32, u32, u32, u32)>,
    kmsg_bytes: usize,
    frames: usize,
    resident: u64,
}

fn counts(w: &World) -> Counts {
    let names = w
        .spaces()
        .iter()
        .map(|s| s.names().expect("names").into_iter().map(|(n, v)| (n, v.right_type, v.urefs)).collect())
        .collect();
    let ports = w
        .ports
        .iter()
        .map(|p| {
            let s = p.status();
            (s.active, s.srights, s.sorights, s.mscount, s.msgcount, s.seqno)
        })
        .collect();
    Counts {
        names,
        ports,
        kmsg_bytes: w.sender.bytes.load(Ordering::Acquire),
        frames: w.sender.pool.outstanding(),
        resident: w.sender.map.read().resident_pages(),
    }
}

/// Where the message goes in the sender's memory, and whether all of `[at, at + len)` is there.
fn placement(rng: &mut Rng, len: u64, hostile: bool) -> (u64, bool) {
    let at = match if hostile { rng.below(16) } else { 15 } {
        0 => MSG + MSG_LEN - (len & !3).min(MSG_LEN) + 4 * rng.below(4),
        1 => HOLE,
        2 => [0, USER_VM_MAX - 16, u64::MAX - 0x1000][rng.index(3)],
        3 => MSG + 4 * rng.below(P / 4),
        _ => MSG,
    };
    let readable = at >= MSG && at.checked_add(len).is_some_and(|end| end <= MSG + MSG_LEN);
    (at, readable)
}

/// What a successful copyin made must say what the sender asked for.
fn check_kmsg(kmsg: &IpcKmsg, parsed: &UserMsg, send_size: u32, task: &FakeTask, held: usize) {
    assert_eq!(kmsg.size, send_size);
    assert_eq!(kmsg.body.len() as u32 + MACH_MSG_HEADER_SIZE, send_size);
    assert_eq!(kmsg.descriptors.len(), parsed.descs.len());
    assert_eq!(kmsg.id, parsed.header.msgh_id);
    assert!(matches!(kmsg.remote, MsgRight::Send(_) | MsgRight::SendOnce(_)), "a destination to send to");
    for (k, d) in kmsg.descriptors.iter().zip(&parsed.descs) {
        match (k, d) {
            (KmsgDescriptor::Port { offset: a, .. }, UserDesc::Port { offset: b, .. }) => assert_eq!(a, b),
            (KmsgDescriptor::Ool { offset: a, copy }, UserDesc::Ool { offset: b, size, .. }) => {
                assert_eq!(a, b);
                assert_eq!(copy.as_ref().map_or(0, |c| c.size()), u64::from(*size));
            }
            (
                KmsgDescriptor::OolPorts { offset: a, rights, .. },
                UserDesc::OolPorts { offset: b, count, .. },
            ) => {
                assert_eq!((a, rights.len()), (b, *count as usize));
            }
            _ => panic!("descriptor kinds differ: {k:?} for {d:?}"),
        }
    }
    let charged = kmsg.charge.as_ref().map(|c| c.cost() + held);
    assert_eq!(
        charged,
        Some(task.bytes.load(Ordering::Acquire)),
        "the sender is charged what the kmsg holds"
    );
}

/// Send `kmsg` on and copy it out: through the destination's queue to whoever holds its
/// receive right, or back to the sender (a failed send's pseudo-receive).
fn dispose(w: &World, mem: &host_user_memory::Session, kmsg: IpcKmsg, rng: &mut Rng) -> MachMsgReturn {
    let port = kmsg.remote.port().cloned().expect("a destination");
    let holder = [&w.sender, &w.receiver].into_iter().find(|t| port.receiver_is(&t.space));
    let kmsg = match holder {
        Some(holder) if rng.below(2) == 0 => {
            let send_once = matches!(kmsg.remote, MsgRight::SendOnce(_));
            match ipc_mqueue_send(&port, kmsg, send_once, IpcTimeout::Poll) {
                Ok(()) => {
                    let name = holder.space.name_of(&port).expect("receiver's name");
                    let lookup = holder.space.lookup_port(name, MACH_PORT_TYPE_RECEIVE);
                    assert!(lookup.is_ok_and(|p| Arc::ptr_eq(&p, &port)));
                    let (buffer, trailer) =
                        if core::ptr::eq(holder, &w.sender) { (MSG, 20) } else { (RBUF, 68) };
                    mem.use_map(holder.map.clone());
                    // Everything queued (notifications may be ahead of it), the message last.
                    let mut mr = MACH_MSG_SUCCESS;
                    while let Ok(Received::Message(kmsg, seqno)) =
                        ipc_mqueue_receive(&port, 1 << 20, false, IpcTimeout::Poll)
                    {
                        let mode = CopyoutMode::Receive(name);
                        mr = ipc_kmsg_copyout_to_user(holder, kmsg, seqno, buffer, trailer, mode);
                    }
                    mem.use_map(w.sender.map.clone());
                    return mr;
                }
                Err((_, kmsg)) => kmsg,
            }
        }
        _ => kmsg,
    };
    // Now and then into a buffer the sender does not have: the rights still come back.
    let (buffer, bad) = if rng.below(8) == 0 { (HOLE + rng.below(P), true) } else { (MSG, false) };
    let mr = ipc_kmsg_copyout_to_user(&w.sender, kmsg, 0, buffer, 0, CopyoutMode::Pseudo);
    assert!(!bad || mr == MACH_RCV_INVALID_DATA, "a copyout to no memory: {mr:#x}");
    mr
}

/// What a copyout may answer here: success, a buffer too small for what it got (a message
/// sent with a size beyond the sender's buffer), or rights or memory that did not fit.
fn copyout_ok(mr: MachMsgReturn) -> bool {
    let resources = 0x3e00;
    [MACH_MSG_SUCCESS, MACH_RCV_INVALID_DATA, MACH_RCV_BODY_ERROR, MACH_RCV_HEADER_ERROR]
        .contains(&(mr & !resources))
}

/// How often each outcome happened, so the test shows it reached every step.
#[derive(Default, Debug)]
struct Outcomes {
    by_error: alloc::collections::BTreeMap<MachMsgReturn, usize>,
    sent: usize,
    with_descriptors: usize,
}

/// Run `cases` random messages through copyin from a fresh world, checking what the module
/// comment says must hold.
fn run(name: &'static str, salt: u64, cases: usize, complex_odds: u64) -> Outcomes {
    let (mut rng, _report) = rng_for(name, salt);
    let mem = host_user_memory::session();
    let mut world = World::new(&mem);
    let mut out = Outcomes::default();
    for case in 0..cases {
        if case % 5000 == 4999 {
            world = World::new(&mem);
        }
        mem.use_map(world.sender.map.clone());
        let input = message(&mut rng, &world.names, complex_odds);
        let (at, readable) = placement(&mut rng, u64::from(input.send_size), input.hostile);
        // What the sender's memory holds from `at` on, as far as the model looks.
        let mut sent_bytes = input.bytes.clone();
        sent_bytes.resize(input.send_size.min((MSG_LEN + P) as u32) as usize, 0);
        if let Ok(buffer) = UserSlice::new(at, sent_bytes.len()) {
            let _ = buffer.write_at(0, &sent_bytes);
        }
        let mut names: Vec<u32> =
            (0..64).map(|_| rng.pick(&world.names).map_or(0, |(name, _)| name)).collect();
        names.iter_mut().for_each(|n| *n = if rng.below(16) == 0 { rng.next() as u32 } else { *n });
        UserSlice::new(NAMES, 256).and_then(|s| s.write_at(0, names.as_bytes())).expect("names");

        // The parse step alone against the reference decoder.
        let expected = model_size(input.send_size).and_then(|()| model_parse(&sent_bytes, input.given));
        if ipc_kmsg_check_size(input.send_size).is_ok() {
            assert_eq!(ipc_kmsg_parse(&sent_bytes, input.given), expected, "case {case}: parse");
        } else {
            assert!(expected.is_err());
        }

        // Sometimes other messages in flight hold nearly all of the sender's budget.
        let held = (rng.below(16) == 0).then(|| {
            let room = rng.below(16 * 1024) as usize;
            KmsgCharge::new(IPC_KMSG_TASK_MAX - KMSG_OVERHEAD - room, &world.sender.bytes).expect("budget")
        });
        let held_cost = held.as_ref().map_or(0, KmsgCharge::cost);
        let before = counts(&world);
        let result = ipc_kmsg_copyin_from_user(&world.sender, at, input.send_size, input.given);
        match result {
            Err(mr) => {
                *out.by_error.entry(mr).or_default() += 1;
                assert_eq!(
                    counts(&world),
                    before,
                    "case {case}: a failed copyin ({mr:#x}) changed something"
                );
                let over_budget = input.send_size as usize + KMSG_OVERHEAD + held_cost > IPC_KMSG_TASK_MAX;
                match (&expected, model_size(input.send_size)) {
                    (_, Err(size)) => assert_eq!(mr, size, "case {case}"),
                    _ if over_budget => assert_eq!(mr, MACH_SEND_NO_BUFFER, "case {case}"),
                    _ if !readable => assert_eq!(mr, MACH_SEND_INVALID_DATA, "case {case}"),
                    (Err(parse), _) => assert_eq!(mr, *parse, "case {case}"),
                    (Ok(_), _) => assert!(
                        [
                            MACH_SEND_INVALID_DEST,
                            MACH_SEND_INVALID_REPLY,
                            MACH_SEND_INVALID_RIGHT,
                            MACH_SEND_INVALID_MEMORY,
                            MACH_SEND_NO_BUFFER,
                        ]
                        .contains(&mr),
                        "case {case}: {mr:#x} after a good parse"
                    ),
                }
            }
            Ok(kmsg) => {
                assert!(readable, "case {case}: copyin read what it could not");
                let parsed = expected.as_ref().expect("copyin accepted what the parse refuses");
                check_kmsg(&kmsg, parsed, input.send_size, &world.sender, held_cost);
                drop(held);
                out.sent += 1;
                out.with_descriptors += usize::from(!kmsg.descriptors.is_empty());
                let deallocated = parsed.descs.iter().any(UserDesc::deallocates);
                let mr = dispose(&world, &mem, kmsg, &mut rng);
                assert!(copyout_ok(mr), "case {case}: copyout {mr:#x}");
                check_accounting(&world.spaces(), &world.ports, &[]);
                assert_eq!(world.sender.bytes.load(Ordering::Acquire), 0, "case {case}: charge given back");
                if deallocated {
                    // The sender gave memory away: start again with all of it.
                    world = World::new(&mem);
                } else {
                    world.drain_queues();
                    world.refresh_names(&[]);
                }
            }
        }
    }
    out
}

#[test]
fn random_headers_never_panic_and_change_nothing_on_error() {
    let out = run("random_headers", 0x4845_4144, CASES, 8);
    assert!(out.sent > CASES / 50, "enough messages got through: {out:?}");
    for mr in
        [MACH_SEND_INVALID_HEADER, MACH_SEND_INVALID_DEST, MACH_SEND_INVALID_REPLY, MACH_SEND_MSG_TOO_SMALL]
    {
        assert!(out.by_error.get(&mr).is_some_and(|&n| n > 100), "{mr:#x} seen: {out:?}");
    }
}

#[test]
fn random_descriptors_never_panic_and_change_nothing_on_error() {
    let out = run("random_descriptors", 0x4445_5343, CASES, 64);
    assert!(out.with_descriptors > CASES / 200, "enough complex messages got through: {out:?}");
    for mr in [
        MACH_SEND_NO_BUFFER,
        MACH_SEND_INVALID_TYPE,
        MACH_SEND_INVALID_RIGHT,
        MACH_SEND_INVALID_MEMORY,
        MACH_SEND_MSG_TOO_SMALL,
        MACH_SEND_INVALID_DATA,
    ] {
        assert!(out.by_error.get(&mr).is_some_and(|&n| n > 100), "{mr:#x} seen: {out:?}");
    }
}

/// The parse step alone, over bytes with no structure at all and over messages made to be
/// nearly right: it agrees with the reference decoder and never panics.
#[test]
fn parse_agrees_with_the_reference_on_random_bytes() {
    let (mut rng, _report) = rng_for("parse_agrees_with_the_reference_on_random_bytes", 0x5041_5253);
    let names =
        [(0x103, MACH_PORT_TYPE_SEND), (0x203, MACH_PORT_TYPE_RECEIVE), (0x307, 0), (MACH_PORT_DEAD, 0)];
    let mut accepted = 0;
    for case in 0..2 * CASES {
        let input = if case % 2 == 0 {
            let len = rng.below(160) as usize;
            let mut bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            // Often a plausible header so the parse reaches the descriptors.
            if len >= 24 && rng.below(2) == 0 {
                bytes[0..4].copy_from_slice(&(0x13 | (rng.below(2) as u32) << 31).to_le_bytes());
                bytes[8..12].copy_from_slice(&0x103u32.to_le_bytes());
            }
            Input { send_size: len as u32, bytes, given: None, hostile: true }
        } else {
            message(&mut rng, &names, 2)
        };
        let mut bytes = input.bytes.clone();
        bytes.resize(input.send_size.min(1 << 16) as usize, 0);
        let expected = model_size(input.send_size).and_then(|()| model_parse(&bytes, input.given));
        let got = ipc_kmsg_check_size(input.send_size).and_then(|_| ipc_kmsg_parse(&bytes, input.given));
        assert_eq!(got, expected, "case {case}");
        accepted += usize::from(got.is_ok_and(|m| !m.descs.is_empty()));
    }
    assert!(accepted > CASES / 100, "descriptors parsed: {accepted}");
}

/// A message with every kind of descriptor, received by another task: names, memory and port
/// arrays arrive, and the trailer says who sent it.
#[test]
fn a_complex_message_arrives_whole() {
    let mem = host_user_memory::session();
    let w = World::new(&mem);
    mem.use_map(w.sender.map.clone());
    let (dest_name, dest) = w.receiver.space.alloc_receive().expect("receive");
    let dest_send = w.sender.space.copyout_send(dest.make_send()).expect("send");
    let (carried_name, carried) = w.sender.space.alloc_receive().expect("carried");
    assert_eq!(w.sender.space.copyout_send(carried.make_send()), Ok(carried_name));
    let pattern: Vec<u8> = (0..3 * P).map(|i| (i % 251) as u8).collect();
    UserSlice::new(OOL + 10, pattern.len()).and_then(|s| s.write_at(0, &pattern)).expect("data");
    UserSlice::new(NAMES, 8)
        .and_then(|s| s.write_at(0, [carried_name, dest_send].as_bytes()))
        .expect("names");
    let mut msg = MachMsgHeader {
        msgh_bits: MACH_MSGH_BITS_COMPLEX
            | mach_msgh_bits(MACH_MSG_TYPE_COPY_SEND, MACH_MSG_TYPE_MAKE_SEND_ONCE),
        msgh_size: 0,
        msgh_remote_port: dest_send,
        msgh_local_port: carried_name,
        msgh_voucher_port: 0,
        msgh_id: 4242,
    }
    .to_bytes()
    .to_vec();
    msg.extend_from_slice(&3u32.to_le_bytes());
    msg.extend_from_slice(&port_descriptor(carried_name, MACH_MSG_TYPE_MAKE_SEND));
    msg.extend_from_slice(&ool_descriptor(OOL + 10, pattern.len() as u32, false, MACH_MSG_VIRTUAL_COPY));
    msg.extend_from_slice(&ool_ports_descriptor(NAMES, 2, false, MACH_MSG_TYPE_COPY_SEND));
    msg.extend_from_slice(b"tail");
    UserSlice::new(MSG, msg.len()).and_then(|s| s.write_at(0, &msg)).expect("message");
    let kmsg = ipc_kmsg_copyin_from_user(&w.sender, MSG, msg.len() as u32, None).expect("copyin");
    ipc_mqueue_send(&dest, kmsg, false, IpcTimeout::Poll).map_err(|(mr, _)| mr).expect("queued");
    let Ok(Received::Message(kmsg, seqno)) = ipc_mqueue_receive(&dest, 4096, false, IpcTimeout::Poll) else {
        panic!("queued")
    };
    mem.use_map(w.receiver.map.clone());
    let trailer = requested_trailer_size(mach_rcv_trailer_elements(MACH_RCV_TRAILER_AUDIT));
    let mr =
        ipc_kmsg_copyout_to_user(&w.receiver, kmsg, seqno, RBUF, trailer, CopyoutMode::Receive(dest_name));
    assert_eq!(mr, MACH_MSG_SUCCESS);
    let mut got = vec![0u8; msg.len() + trailer as usize];
    UserSlice::new(RBUF, got.len()).and_then(|s| s.read_at(0, &mut got)).expect("read back");
    let h = MachMsgHeader::from_bytes(got[..24].try_into().unwrap());
    assert_eq!((h.msgh_size, h.msgh_local_port, h.msgh_id), (msg.len() as u32, dest_name, 4242));
    assert_eq!(mach_msgh_bits_remote(h.msgh_bits), MACH_MSG_TYPE_PORT_SEND_ONCE);
    let rspace = &w.receiver.space;
    let reply = rspace.lookup_port(h.msgh_remote_port, mach::port::MACH_PORT_TYPE_SEND_ONCE).expect("reply");
    assert!(Arc::ptr_eq(&reply, &carried));
    let port_name = word(&got, 28).unwrap();
    assert!(
        rspace
            .lookup_port(port_name, mach::port::MACH_PORT_TYPE_SEND)
            .is_ok_and(|p| Arc::ptr_eq(&p, &carried))
    );
    let ool = MachMsgOolDescriptor64::read_from_bytes(&got[40..56]).unwrap();
    let mut data = vec![0u8; pattern.len()];
    UserSlice::new(ool.address, data.len()).and_then(|s| s.read_at(0, &mut data)).expect("ool");
    assert_eq!(data, pattern);
    let ports = MachMsgOolPortsDescriptor64::read_from_bytes(&got[56..72]).unwrap();
    assert_eq!((ports.count, u32::from(ports.disposition)), (2, MACH_MSG_TYPE_PORT_SEND));
    let mut names = [0u32; 2];
    UserSlice::new(ports.address, 8).and_then(|s| s.read_at(0, names.as_mut_bytes())).expect("names");
    assert!(
        rspace
            .lookup_port(names[0], mach::port::MACH_PORT_TYPE_SEND)
            .is_ok_and(|p| Arc::ptr_eq(&p, &carried))
    );
    assert_eq!(names[1], dest_name, "a send right to the receiver's own port merges with its receive right");
    assert_eq!(&got[72..76], b"tail");
    assert_eq!(word(&got, 76 + MACH_MSG_TRAILER_AUDIT_OFFSET + 4 * AUDIT_TOKEN_PID), Some(77));
    check_accounting(&w.spaces(), &[dest, carried], &[]);
}

/// Regression: `SpaceState::take_right` used to forget the reverse-index entry of a port when a
/// send-once right to it left the space, though send-once entries are never indexed: the
/// port's receive (or send) entry was then unindexed, and a send right later copied out for
/// the port got a second name instead of merging. Found by the randomized copyin test.
#[test]
fn moving_a_send_once_right_keeps_its_ports_other_name() {
    let space = IpcSpace::new();
    let (name, port) = space.alloc_receive().expect("receive");
    let once = space.copyout_send_once(port.make_send_once()).expect("send-once");
    let rights = space.copyin_rights(&[(once, MACH_MSG_TYPE_MOVE_SEND_ONCE)], false).expect("move");
    space.check_invariants();
    let send = rights.into_iter().next().map(|_| port.make_send()).expect("a right");
    assert_eq!(space.copyout_send(send), Ok(name), "a send right merges with the receive right");
}

/// A message may carry at most 65536 rights in all: two port arrays of 40000 names each are
/// refused at parse (before anything is charged or taken), one of 65536 is not.
#[test]
fn the_rights_of_one_message_are_bounded_in_all() {
    let array = |count: u32| MachMsgOolPortsDescriptor64 {
        address: 0x1_0000_0000,
        deallocate: 0,
        copy: 0,
        disposition: MACH_MSG_TYPE_COPY_SEND as u8,
        type_: MACH_MSG_OOL_PORTS_DESCRIPTOR as u8,
        count,
    };
    let message = |arrays: &[u32]| {
        let header = MachMsgHeader {
            msgh_bits: MACH_MSGH_BITS_COMPLEX | MACH_MSG_TYPE_COPY_SEND,
            msgh_size: (24 + 4 + 16 * arrays.len()) as u32,
            msgh_remote_port: 0x103,
            msgh_local_port: 0,
            msgh_voucher_port: 0,
            msgh_id: 1,
        };
        let mut m = header.as_bytes().to_vec();
        m.extend_from_slice(MachMsgBody { msgh_descriptor_count: arrays.len() as u32 }.as_bytes());
        for &n in arrays {
            m.extend_from_slice(array(n).as_bytes());
        }
        m
    };
    assert!(ipc_kmsg_parse(&message(&[65536]), None).is_ok());
    assert_eq!(ipc_kmsg_parse(&message(&[40000, 40000]), None).err(), Some(MACH_SEND_TOO_LARGE));
    assert_eq!(model_parse(&message(&[40000, 40000]), None).err(), Some(MACH_SEND_TOO_LARGE));
}
