//! Behaviour of spaces, entries and ports together, through the public API: the XNU-visible
//! rules (names, merging, dead names, uref limits, error codes) and randomized checks that the
//! right accounting stays exact whatever the sequence of operations.

use alloc::collections::BTreeMap;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;

use mach::KernReturn;
use mach::port::{
    MACH_PORT_DEAD, MACH_PORT_NULL, MACH_PORT_RIGHT_DEAD_NAME, MACH_PORT_RIGHT_NUMBER,
    MACH_PORT_RIGHT_PORT_SET, MACH_PORT_RIGHT_RECEIVE, MACH_PORT_RIGHT_SEND, MACH_PORT_RIGHT_SEND_ONCE,
    MACH_PORT_TYPE_DEAD_NAME, MACH_PORT_TYPE_PORT_RIGHTS, MACH_PORT_TYPE_RECEIVE, MACH_PORT_TYPE_SEND,
    MACH_PORT_TYPE_SEND_ONCE, MACH_PORT_TYPE_SEND_RECEIVE, MACH_PORT_UREFS_MAX, MachPortName, mach_port_gen,
    mach_port_index,
};

use super::ipc_entry::EntryView;
use super::ipc_kmsg::MsgRight;
use super::ipc_port::{IkotType, IpcPort, KObjectRef, PortRef};
use super::ipc_space::{IpcSpace, SpaceRef};
use crate::test_rng::Rng;

/// Stands in for `task_t` behind a task control port.
pub(super) struct Task;

pub(super) fn kernel_port() -> (Arc<Task>, PortRef) {
    let task = Arc::new(Task);
    let weak: Weak<Task> = Arc::downgrade(&task);
    let object: KObjectRef = weak;
    (task, IpcPort::new_kobject(IkotType::TaskControl, object))
}

/// Receive the next message on `port` (poll) and return its id.
fn notification_id(port: &PortRef) -> Option<i32> {
    use super::ipc_mqueue::{IpcTimeout, Received, ipc_mqueue_receive};
    match ipc_mqueue_receive(port, 4096, false, IpcTimeout::Poll) {
        Ok(Received::Message(m, _)) => Some(m.id),
        _ => None,
    }
}

fn urefs(space: &IpcSpace, name: MachPortName) -> u32 {
    space.lookup(name).map(|view| view.urefs).unwrap_or(0)
}

const INVALID_NAME: Result<(), KernReturn> = Err(KernReturn::KERN_INVALID_NAME);
const INVALID_RIGHT: Result<(), KernReturn> = Err(KernReturn::KERN_INVALID_RIGHT);
const INVALID_VALUE: Result<(), KernReturn> = Err(KernReturn::KERN_INVALID_VALUE);

#[test]
fn first_names_in_a_fresh_space() {
    let space = IpcSpace::new();
    let (first, port) = space.alloc_receive().expect("first");
    let (second, _) = space.alloc_receive().expect("second");
    assert_eq!((first, second), (0x103, 0x203));
    assert_eq!(space.port_type(first), Ok(MACH_PORT_TYPE_RECEIVE));
    assert!(port.receiver_is(&space));
    assert!(!port.is_kernel_receiver());
    assert_eq!(urefs(&space, first), 0);
}

#[test]
fn names_stay_sequential_while_the_table_grows() {
    let space = IpcSpace::new();
    for index in 1..200u32 {
        let (name, _) = space.alloc_receive().expect("alloc");
        assert_eq!(name, (index << 8) | 0x03);
    }
    space.check_invariants();
}

#[test]
fn a_reused_slot_gets_a_new_generation() {
    let space = IpcSpace::new();
    let (_task, port) = kernel_port();
    let old = space.insert_send(&port).expect("insert");
    assert_eq!(space.deallocate(old), Ok(()));
    let new = space.insert_send(&port).expect("insert again");
    assert_eq!(mach_port_index(new), mach_port_index(old));
    assert_eq!(new, 0x107);
    assert_eq!(space.lookup(old).map(|_| ()), INVALID_NAME);
    assert_eq!(space.deallocate(old), INVALID_NAME);
}

#[test]
fn task_self_returns_the_same_name_every_time() {
    let space = IpcSpace::new();
    let (task, port) = kernel_port();
    let first = space.insert_send(&port).expect("first");
    let again = space.insert_send(&port).expect("again");
    assert_eq!(first, again);
    assert_eq!(urefs(&space, first), 2);
    let status = port.status();
    assert_eq!((status.srights, status.mscount), (1, 2));
    // The typed, rights-checked way from the name back to the task.
    let found = space.lookup_port(first, MACH_PORT_TYPE_SEND).expect("port");
    let object = found.kobject::<Task>(IkotType::TaskControl).expect("task");
    assert!(Arc::ptr_eq(&object, &task));
    assert_eq!(space.lookup_port(first, MACH_PORT_TYPE_RECEIVE).map(|_| ()), INVALID_RIGHT);
}

#[test]
fn send_once_rights_get_names_of_their_own() {
    let space = IpcSpace::new();
    let (_task, port) = kernel_port();
    let send = space.insert_send(&port).expect("send");
    let once = space.insert_send_once(&port).expect("once");
    let twice = space.insert_send_once(&port).expect("twice");
    assert!(send != once && once != twice);
    assert_eq!(space.port_type(once), Ok(MACH_PORT_TYPE_SEND_ONCE));
    assert_eq!(urefs(&space, once), 1);
    assert_eq!(port.status().sorights, 2);
    assert_eq!(space.deallocate(once), Ok(()));
    assert_eq!(port.status().sorights, 1);
    assert_eq!(space.lookup(once).map(|_| ()), INVALID_NAME);
}

#[test]
fn send_merges_with_receive() {
    let space = IpcSpace::new();
    let (name, port) = space.alloc_receive().expect("alloc");
    assert_eq!(space.insert_send(&port), Ok(name));
    assert_eq!(space.port_type(name), Ok(MACH_PORT_TYPE_SEND_RECEIVE));
    assert_eq!(urefs(&space, name), 1);
    assert_eq!(port.status().srights, 1);
    assert_eq!(space.deallocate(name), Ok(()));
    assert_eq!(space.port_type(name), Ok(MACH_PORT_TYPE_RECEIVE));
    assert_eq!(port.status().srights, 0);
    assert_eq!(space.deallocate(name), INVALID_RIGHT);
    space.check_invariants();
}

#[test]
fn send_rights_die_lazily_into_dead_names() {
    let owner = IpcSpace::new();
    let holder = IpcSpace::new();
    let (receive, port) = owner.alloc_receive().expect("alloc");
    let send = holder.insert_send(&port).expect("send");
    holder.insert_send(&port).expect("send again");
    let once = holder.insert_send_once(&port).expect("once");
    assert_eq!(owner.destroy_receive(receive), Ok(()));
    assert!(!port.is_active());
    assert_eq!(owner.lookup(receive).map(|_| ()), INVALID_NAME);
    // Nothing has looked at the holder's names yet.
    assert_eq!((port.status().srights, port.status().sorights), (1, 1));

    assert_eq!(holder.port_type(send), Ok(MACH_PORT_TYPE_DEAD_NAME));
    assert_eq!(urefs(&holder, send), 2);
    assert!(holder.lookup(send).expect("dead").port.is_none());
    assert_eq!(port.status().srights, 0);
    assert_eq!(holder.port_type(once), Ok(MACH_PORT_TYPE_DEAD_NAME));
    assert_eq!(urefs(&holder, once), 1);
    assert_eq!(port.status().sorights, 0);

    // Rights to a dead port come out as MACH_PORT_DEAD and are released at once.
    assert_eq!(holder.insert_send(&port), Ok(MACH_PORT_DEAD));
    assert_eq!(holder.insert_send_once(&port), Ok(MACH_PORT_DEAD));
    assert_eq!((port.status().srights, port.status().sorights), (0, 0));

    assert_eq!(holder.deallocate(send), Ok(()));
    assert_eq!(holder.deallocate(send), Ok(()));
    assert_eq!(holder.lookup(send).map(|_| ()), INVALID_NAME);
    holder.check_invariants();
}

#[test]
fn destroying_receive_leaves_own_send_as_dead_name() {
    let space = IpcSpace::new();
    let (name, port) = space.alloc_receive().expect("alloc");
    space.insert_send(&port).expect("send");
    space.insert_send(&port).expect("send");
    assert_eq!(space.mod_refs(name, MACH_PORT_RIGHT_RECEIVE, -1), Ok(()));
    assert!(!port.is_active());
    assert_eq!(space.port_type(name), Ok(MACH_PORT_TYPE_DEAD_NAME));
    assert_eq!(urefs(&space, name), 2);
    assert_eq!(port.status().srights, 0);
    assert_eq!(space.mod_refs(name, MACH_PORT_RIGHT_DEAD_NAME, 3), Ok(()));
    assert_eq!(urefs(&space, name), 5);
    assert_eq!(space.mod_refs(name, MACH_PORT_RIGHT_DEAD_NAME, -5), Ok(()));
    assert_eq!(space.lookup(name).map(|_| ()), INVALID_NAME);
    space.check_invariants();
}

#[test]
fn mod_refs_error_codes() {
    let space = IpcSpace::new();
    let (receive, port) = space.alloc_receive().expect("alloc");
    let (_task, kport) = kernel_port();
    let send = space.insert_send(&kport).expect("send");
    let once = space.insert_send_once(&port).expect("once");

    assert_eq!(space.mod_refs(send, MACH_PORT_RIGHT_NUMBER, 0), INVALID_VALUE);
    assert_eq!(space.mod_refs(send, 5, 0), INVALID_VALUE);
    assert_eq!(space.mod_refs(send, MACH_PORT_RIGHT_RECEIVE, 0), INVALID_RIGHT);
    assert_eq!(space.mod_refs(send, MACH_PORT_RIGHT_DEAD_NAME, 1), INVALID_RIGHT);
    assert_eq!(space.mod_refs(send, MACH_PORT_RIGHT_PORT_SET, 0), INVALID_RIGHT);
    assert_eq!(space.mod_refs(send, MACH_PORT_RIGHT_SEND, -2), INVALID_VALUE);
    assert_eq!(space.mod_refs(send, MACH_PORT_RIGHT_SEND, 0x1_0000), INVALID_VALUE);
    assert_eq!(space.mod_refs(receive, MACH_PORT_RIGHT_RECEIVE, 1), INVALID_VALUE);
    assert_eq!(space.mod_refs(receive, MACH_PORT_RIGHT_RECEIVE, 0), Ok(()));
    assert_eq!(space.mod_refs(receive, MACH_PORT_RIGHT_SEND, 1), INVALID_RIGHT);
    assert_eq!(space.mod_refs(once, MACH_PORT_RIGHT_SEND_ONCE, 1), INVALID_VALUE);
    assert_eq!(space.mod_refs(once, MACH_PORT_RIGHT_SEND, 1), INVALID_RIGHT);
    assert_eq!(space.mod_refs(once, MACH_PORT_RIGHT_SEND_ONCE, 0), Ok(()));
    assert_eq!(space.mod_refs(once, MACH_PORT_RIGHT_SEND_ONCE, -1), Ok(()));
    // A send-once right destroyed unused tells its port so, travelling in the notification.
    assert_eq!((port.status().sorights, port.status().msgcount), (1, 1));
    assert_eq!(notification_id(&port), Some(mach::port::MACH_NOTIFY_SEND_ONCE));
    assert_eq!(port.status().sorights, 0);

    // The null and dead names hold any send right, and nothing else.
    for name in [MACH_PORT_NULL, MACH_PORT_DEAD] {
        assert_eq!(space.mod_refs(name, MACH_PORT_RIGHT_SEND, -1), Ok(()));
        assert_eq!(space.mod_refs(name, MACH_PORT_RIGHT_SEND_ONCE, -1), Ok(()));
        assert_eq!(space.mod_refs(name, MACH_PORT_RIGHT_RECEIVE, -1), INVALID_NAME);
        assert_eq!(space.deallocate(name), Ok(()));
    }
    assert_eq!(space.port_type(MACH_PORT_DEAD), Ok(MACH_PORT_TYPE_DEAD_NAME));
    assert_eq!(space.port_type(MACH_PORT_NULL).map(|_| ()), INVALID_NAME);
    assert_eq!(space.port_type(0x0dea_d103).map(|_| ()), INVALID_NAME);
    assert_eq!(space.port_type(receive | 0xff).map(|_| ()), INVALID_NAME);
    assert_eq!(space.destroy_receive(send), INVALID_RIGHT);
    space.check_invariants();
}

#[test]
fn urefs_peg_at_the_maximum() {
    let space = IpcSpace::new();
    let (_task, port) = kernel_port();
    let name = space.insert_send(&port).expect("send");
    assert_eq!(space.mod_refs(name, MACH_PORT_RIGHT_SEND, 0xFFFF), Ok(()));
    assert_eq!(urefs(&space, name), MACH_PORT_UREFS_MAX);
    // Pegged: everything but minus the maximum is ignored.
    assert_eq!(space.deallocate(name), Ok(()));
    assert_eq!(space.mod_refs(name, MACH_PORT_RIGHT_SEND, -1), Ok(()));
    assert_eq!(space.insert_send(&port), Ok(name));
    assert_eq!(urefs(&space, name), MACH_PORT_UREFS_MAX);
    assert_eq!(port.status().srights, 1);
    assert_eq!(space.mod_refs(name, MACH_PORT_RIGHT_SEND, -0xFFFF), Ok(()));
    assert_eq!(space.lookup(name).map(|_| ()), INVALID_NAME);
    assert_eq!(port.status().srights, 0);
}

#[test]
fn a_full_table_is_no_space() {
    let space = IpcSpace::with_limit(4);
    let (_task, port) = kernel_port();
    for _ in 0..3 {
        space.insert_send_once(&port).expect("fits");
    }
    assert_eq!(space.insert_send_once(&port), Err(KernReturn::KERN_NO_SPACE));
    assert_eq!(space.alloc_receive().map(|_| ()), Err(KernReturn::KERN_NO_SPACE));
    assert_eq!(space.insert_send(&port), Err(KernReturn::KERN_NO_SPACE));
    // The refused rights were released, not leaked.
    assert_eq!((port.status().sorights, port.status().srights), (3, 0));
}

#[test]
fn destroy_releases_everything() {
    let space = IpcSpace::new();
    let other = IpcSpace::new();
    let (_task, kport) = kernel_port();
    let (_, own) = space.alloc_receive().expect("alloc");
    let (_, foreign) = other.alloc_receive().expect("alloc");
    let to_own = other.insert_send(&own).expect("send");
    space.insert_send(&kport).expect("send");
    space.insert_send(&own).expect("send");
    space.insert_send(&foreign).expect("send");
    space.insert_send_once(&foreign).expect("once");

    space.destroy();
    assert!(!space.is_active());
    assert!(!own.is_active());
    assert!(kport.is_active() && foreign.is_active());
    assert_eq!((kport.status().srights, foreign.status().srights), (0, 0));
    assert_eq!(notification_id(&foreign), Some(mach::port::MACH_NOTIFY_SEND_ONCE));
    assert_eq!(foreign.status().sorights, 0);
    assert_eq!(other.port_type(to_own), Ok(MACH_PORT_TYPE_DEAD_NAME));
    assert_eq!(own.status().srights, 0);

    let dead: Result<(), KernReturn> = Err(KernReturn::KERN_INVALID_TASK);
    assert_eq!(space.alloc_receive().map(|_| ()), dead);
    assert_eq!(space.insert_send(&kport).map(|_| ()), dead);
    assert_eq!(kport.status().srights, 0);
    assert_eq!(space.deallocate(0x103), dead);
    space.destroy();
}

#[test]
fn dropping_a_space_releases_its_rights() {
    let (_task, kport) = kernel_port();
    let port = {
        let space = IpcSpace::new();
        space.insert_send(&kport).expect("send");
        space.alloc_receive().expect("alloc").1
    };
    assert!(!port.is_active());
    assert_eq!(kport.status().srights, 0);
}

/// One space in the randomized world, with the names it ever handed out.
struct Tracked {
    space: SpaceRef,
    /// Every name ever returned, so stale names keep being tried.
    issued: Vec<MachPortName>,
    /// Per slot index, the generations it has had, oldest first.
    generations: BTreeMap<u32, Vec<u8>>,
}

impl Tracked {
    fn new() -> Self {
        Self { space: IpcSpace::new(), issued: Vec::new(), generations: BTreeMap::new() }
    }

    fn live_names(&self) -> Vec<MachPortName> {
        self.space.names().unwrap_or_default().into_iter().map(|(name, _)| name).collect()
    }

    /// Record a name an operation returned; if it was not live before, its slot must have a
    /// generation it has not had in the last 63 reuses.
    fn note(&mut self, before: &mut Vec<MachPortName>, name: MachPortName) {
        if name == MACH_PORT_DEAD || name == MACH_PORT_NULL {
            return;
        }
        self.issued.push(name);
        if before.contains(&name) {
            return;
        }
        before.push(name);
        let history = self.generations.entry(mach_port_index(name)).or_default();
        let recent = history.iter().rev().take(63);
        assert!(
            recent.clone().all(|&g| g != mach_port_gen(name)),
            "name {name:#x} reused without a generation change"
        );
        history.push(mach_port_gen(name));
    }
}

/// Check that every port's counts equal what the spaces hold, and that receive rights are
/// where the ports think they are.
pub(super) fn check_accounting(world: &[SpaceRef], ports: &[PortRef], in_flight: &[Vec<MsgRight>]) {
    let mut views = Vec::new();
    for right in in_flight.iter().flatten() {
        let right_type = match right {
            MsgRight::Send(_) => MACH_PORT_TYPE_SEND,
            MsgRight::SendOnce(_) => MACH_PORT_TYPE_SEND_ONCE,
            MsgRight::Receive(_) => MACH_PORT_TYPE_RECEIVE,
            MsgRight::Null | MsgRight::Dead => continue,
        };
        let view = EntryView { right_type, urefs: 1, port: right.port().cloned(), dnrequest: false };
        views.push((core::ptr::null::<IpcSpace>(), view));
    }
    for space in world {
        space.check_invariants();
        for (_, view) in space.names().expect("names") {
            views.push((Arc::as_ptr(space), view));
        }
    }
    for port in ports {
        let holds = |bit| {
            views
                .iter()
                .filter(|(_, v)| v.right_type & bit != 0)
                .filter(|(_, v)| v.port.as_ref().is_some_and(|p| Arc::ptr_eq(p, port)))
                .count()
        };
        let status = port.status();
        assert_eq!(status.srights as usize, holds(MACH_PORT_TYPE_SEND), "srights");
        assert_eq!(status.sorights as usize, holds(MACH_PORT_TYPE_SEND_ONCE), "sorights");
        let receivers: Vec<_> = views
            .iter()
            .filter(|(_, v)| v.right_type & MACH_PORT_TYPE_RECEIVE != 0)
            .filter(|(_, v)| v.port.as_ref().is_some_and(|p| Arc::ptr_eq(p, port)))
            .collect();
        if port.is_kernel_receiver() {
            assert!(receivers.is_empty());
        } else if status.active {
            assert_eq!(receivers.len(), 1, "one receive right per live port");
            let owner = world.iter().find(|space| receivers.iter().any(|r| r.0 == Arc::as_ptr(space)));
            // A receive right in flight has no space; one in a space is where the port says.
            assert!(owner.is_none_or(|space| port.receiver_is(space)));
            assert_eq!(owner.is_none(), receivers.iter().any(|r| r.0.is_null()));
        } else {
            // Spaces settle rights to dead ports when they look; rights in flight stay counted
            // until the message is received or destroyed.
            let in_spaces = views
                .iter()
                .filter(|(space, v)| !space.is_null() && v.right_type & MACH_PORT_TYPE_PORT_RIGHTS != 0)
                .filter(|(_, v)| v.port.as_ref().is_some_and(|p| Arc::ptr_eq(p, port)))
                .count();
            assert_eq!(in_spaces, 0);
        }
    }
}

/// How often the interesting paths ran, so the randomized test proves it exercised them.
#[derive(Default)]
struct Coverage {
    merged: usize,
    dead_names: usize,
    deallocated: usize,
    mod_refs_ok: usize,
    receives_destroyed: usize,
    spaces_destroyed: usize,
    sent: usize,
    refused: usize,
    delivered: usize,
    notifications: usize,
}

fn run_random_sequence(seed: u64, steps: usize, seen: &mut Coverage) {
    let mut rng = Rng(seed | 1);
    let mut world: Vec<Tracked> = (0..3).map(|_| Tracked::new()).collect();
    let kernel: Vec<_> = (0..2).map(|_| kernel_port()).collect();
    let mut ports: Vec<PortRef> = kernel.iter().map(|(_, port)| port.clone()).collect();
    let deltas = [-0xFFFF, -0x1_0000, -2, -1, -1, 0, 1, 1, 2, 0xFFFF, 0x1_0000];
    let dispositions = [16, 17, 17, 18, 19, 20, 21, 22, 0];
    let mut in_flight: Vec<Vec<MsgRight>> = Vec::new();

    for _ in 0..steps {
        let from = rng.index(world.len());
        let to = rng.index(world.len());
        let Some(source) = world.get(from) else {
            continue;
        };
        let live = source.live_names();
        // Half the time a live name, otherwise one issued earlier (possibly stale) or junk.
        let name = match rng.index(4) {
            0 | 1 => rng.pick(&live),
            2 => rng.pick(&source.issued),
            _ => Some(rng.next() as u32),
        }
        .unwrap_or(MACH_PORT_NULL);
        let receive_port = source.space.lookup_port(name, MACH_PORT_TYPE_RECEIVE).ok();
        let send_port = source.space.lookup_port(name, MACH_PORT_TYPE_SEND).ok();
        let Some(target) = world.get_mut(to) else {
            continue;
        };
        let mut before = target.live_names();

        match rng.index(13) {
            10 | 11 => {
                // Put one to three rights in a message: all or nothing.
                let Some(source) = world.get(from) else { continue };
                let mut requests = Vec::new();
                for _ in 0..1 + rng.index(3) {
                    let n = if rng.index(3) == 0 { name } else { rng.pick(&live).unwrap_or(name) };
                    requests.push((n, rng.pick(&dispositions).unwrap_or(17)));
                }
                let first_is_dest = rng.index(2) == 0;
                let snapshot = |space: &IpcSpace| -> Vec<(MachPortName, u32, u32)> {
                    let names = space.names().unwrap_or_default();
                    names.into_iter().map(|(n, v)| (n, v.right_type, v.urefs)).collect()
                };
                let before_send = snapshot(&source.space);
                match source.space.copyin_rights(&requests, first_is_dest) {
                    Ok(rights) => {
                        assert_eq!(rights.len(), requests.len());
                        seen.sent += 1;
                        in_flight.push(rights);
                    }
                    Err((at, _)) => {
                        assert!(at < requests.len());
                        assert_eq!(snapshot(&source.space), before_send, "a refused copyin took something");
                        seen.refused += 1;
                    }
                }
            }
            12 => {
                // Deliver a message in flight into the target space.
                if !in_flight.is_empty() {
                    let rights = in_flight.swap_remove(rng.index(in_flight.len()));
                    for right in rights {
                        let was_receive = matches!(right, MsgRight::Receive(_));
                        let port = right.port().cloned();
                        let new = target.space.copyout_right(right).expect("copyout");
                        if was_receive && let Some(port) = port {
                            assert!(port.receiver_is(&target.space));
                        }
                        target.note(&mut before, new);
                    }
                    seen.delivered += 1;
                }
            }
            0 => {
                let (new, port) = target.space.alloc_receive().expect("alloc");
                target.note(&mut before, new);
                ports.push(port);
            }
            1 | 2 => {
                // Make-send from a receive right, or from a kernel port.
                let port = receive_port.or_else(|| rng.pick(&ports).filter(|p| p.is_kernel_receiver()));
                if let Some(port) = port {
                    let new = target.space.insert_send(&port).expect("insert");
                    seen.merged += usize::from(before.contains(&new));
                    target.note(&mut before, new);
                }
            }
            3 => {
                // Copy-send: a second right from an existing one, both moved out.
                if let Some(port) = send_port {
                    let right = port.make_send();
                    let copy = right.copy();
                    for right in [right, copy] {
                        let new = target.space.copyout_send(right).expect("insert");
                        target.note(&mut before, new);
                    }
                }
            }
            4 => {
                if let Some(port) = receive_port {
                    let new = target.space.insert_send_once(&port).expect("once");
                    target.note(&mut before, new);
                }
            }
            5 | 6 => {
                let result = world.get(from).map(|t| t.space.deallocate(name));
                seen.deallocated += usize::from(result == Some(Ok(())) && live.contains(&name));
                assert!(
                    result.is_some_and(|r| r.is_ok() || live.contains(&name) || r == INVALID_NAME),
                    "deallocate of a non-live name must be INVALID_NAME"
                );
            }
            7 => {
                let right = rng.index(MACH_PORT_RIGHT_NUMBER as usize + 1) as u32;
                let delta = rng.pick(&deltas).unwrap_or(0);
                if let Some(t) = world.get(from) {
                    seen.mod_refs_ok += usize::from(t.space.mod_refs(name, right, delta).is_ok());
                }
            }
            8 => {
                if let Some(t) = world.get(from) {
                    seen.receives_destroyed += usize::from(t.space.destroy_receive(name).is_ok());
                }
            }
            _ => {
                if rng.index(8) == 0
                    && let Some(t) = world.get_mut(from)
                {
                    t.space.destroy();
                    *t = Tracked::new();
                    seen.spaces_destroyed += 1;
                }
            }
        }
        // Receivers take whatever was queued (notifications): the rights those messages carry
        // are in flight until some space takes them.
        for port in &ports {
            use super::ipc_mqueue::{IpcTimeout, Received, ipc_mqueue_receive};
            while let Ok(Received::Message(m, _)) =
                ipc_mqueue_receive(port, u32::MAX, false, IpcTimeout::Poll)
            {
                seen.notifications += 1;
                let mut rights = alloc::vec![m.local];
                for d in m.descriptors {
                    if let super::ipc_kmsg::KmsgDescriptor::Port { right, .. } = d {
                        rights.push(right);
                    }
                }
                in_flight.push(rights);
            }
        }
        let spaces: Vec<SpaceRef> = world.iter().map(|t| t.space.clone()).collect();
        check_accounting(&spaces, &ports, &in_flight);
        seen.dead_names += world
            .iter()
            .flat_map(|t| t.space.names().unwrap_or_default())
            .filter(|(_, view)| view.right_type == MACH_PORT_TYPE_DEAD_NAME)
            .count();
    }

    drop(in_flight);
    for tracked in &world {
        tracked.space.destroy();
    }
    for port in &ports {
        let status = port.status();
        assert_eq!((status.srights, status.sorights), (0, 0), "rights left after teardown");
        assert_eq!(status.active, port.is_kernel_receiver(), "user ports die with their spaces");
    }
}

#[test]
fn random_sequences_keep_accounting_exact() {
    let mut seen = Coverage::default();
    for seed in 0..40u64 {
        run_random_sequence(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15), 300, &mut seen);
    }
    assert!(seen.merged > 0 && seen.dead_names > 0 && seen.deallocated > 0);
    assert!(seen.mod_refs_ok > 0 && seen.receives_destroyed > 0 && seen.spaces_destroyed > 0);
    assert!(seen.sent > 0 && seen.refused > 0 && seen.delivered > 0 && seen.notifications > 0);
}

mod messages {
    use super::*;
    use crate::ipc::ipc_kmsg::{IpcKmsg, SenderToken};
    use crate::ipc::ipc_mqueue::{IpcTimeout, IpcWaiter, Received, ipc_mqueue_receive, ipc_mqueue_send};
    use mach::message::{
        MACH_MSG_TYPE_COPY_SEND, MACH_MSG_TYPE_MAKE_SEND, MACH_MSG_TYPE_MAKE_SEND_ONCE,
        MACH_MSG_TYPE_MOVE_RECEIVE, MACH_MSG_TYPE_MOVE_SEND, MACH_RCV_PORT_DIED, MACH_RCV_TIMED_OUT,
        MACH_SEND_INVALID_DEST, MACH_SEND_TIMED_OUT,
    };
    use mach::port::MACH_PORT_QLIMIT_DEFAULT;

    fn kmsg(remote: MsgRight, size: u32) -> IpcKmsg {
        IpcKmsg {
            bits: 0,
            size,
            remote,
            local: MsgRight::Null,
            id: 1,
            body: Vec::new(),
            descriptors: Vec::new(),
            sender: SenderToken::KERNEL,
            charge: None,
        }
    }

    #[test]
    fn queue_limit_poll_and_order() {
        let space = IpcSpace::new();
        let (name, port) = space.alloc_receive().expect("alloc");
        for i in 0..MACH_PORT_QLIMIT_DEFAULT {
            let mut m = kmsg(MsgRight::Send(port.make_send()), 24);
            m.id = i as i32;
            assert!(ipc_mqueue_send(&port, m, false, IpcTimeout::Poll).is_ok());
        }
        assert_eq!(port.status().msgcount, MACH_PORT_QLIMIT_DEFAULT);
        // Full: a poll times out and gives the message (and its right) back.
        let back =
            ipc_mqueue_send(&port, kmsg(MsgRight::Send(port.make_send()), 24), false, IpcTimeout::Poll);
        let Err((code, m)) = back else { panic!("queue should be full") };
        assert_eq!(code, MACH_SEND_TIMED_OUT);
        drop(m);
        // Send-once and kernel sends ignore the limit.
        let once = kmsg(MsgRight::SendOnce(port.make_send_once()), 24);
        assert!(ipc_mqueue_send(&port, once, true, IpcTimeout::Poll).is_ok());
        for want in 0..MACH_PORT_QLIMIT_DEFAULT as i32 {
            match ipc_mqueue_receive(&port, 1024, false, IpcTimeout::Poll) {
                Ok(Received::Message(m, seqno)) => assert_eq!((m.id, seqno), (want, want as u32)),
                other => panic!("{other:?}"),
            }
        }
        assert!(matches!(
            ipc_mqueue_receive(&port, 1024, false, IpcTimeout::Poll),
            Ok(Received::Message(..))
        ));
        let empty = ipc_mqueue_receive(&port, 1024, false, IpcTimeout::Poll);
        assert_eq!(empty.err(), Some(MACH_RCV_TIMED_OUT));
        // Every right the messages carried is gone with them.
        let st = port.status();
        assert_eq!((st.srights, st.sorights), (0, 0));
        space.destroy_receive(name).expect("destroy");
    }

    #[test]
    fn too_large_stays_queued_only_when_asked() {
        let space = IpcSpace::new();
        let (_, port) = space.alloc_receive().expect("alloc");
        assert!(ipc_mqueue_send(&port, kmsg(MsgRight::Null, 100), false, IpcTimeout::Poll).is_ok());
        assert!(matches!(ipc_mqueue_receive(&port, 64, true, IpcTimeout::Poll), Ok(Received::TooLarge(100))));
        assert_eq!(port.status().msgcount, 1);
        // Without MACH_RCV_LARGE the receiver takes it (to report and destroy it).
        assert!(matches!(ipc_mqueue_receive(&port, 64, false, IpcTimeout::Poll), Ok(Received::Message(..))));
        assert_eq!(port.status().msgcount, 0);
    }

    #[test]
    fn hand_off_goes_to_the_waiting_receiver() {
        let space = IpcSpace::new();
        let (_, port) = space.alloc_receive().expect("alloc");
        let small = IpcWaiter::new(32, true);
        let big = IpcWaiter::new(4096, false);
        {
            let mut st = port.state.lock();
            st.messages.add_receiver(small.clone());
            st.messages.add_receiver(big.clone());
        }
        assert!(ipc_mqueue_send(&port, kmsg(MsgRight::Null, 100), false, IpcTimeout::Poll).is_ok());
        use crate::ipc::ipc_mqueue::Outcome;
        assert!(matches!(*small.outcome.lock(), Outcome::TooLarge(100)));
        assert!(matches!(*big.outcome.lock(), Outcome::Message(_, 0)));
        // Handed off, never queued.
        assert_eq!(port.status().msgcount, 0);
    }

    #[test]
    fn a_dying_port_destroys_its_messages_and_fails_senders() {
        let a = IpcSpace::new();
        let b = IpcSpace::new();
        let (dest_name, dest) = a.alloc_receive().expect("dest");
        let (carried_name, carried) = b.alloc_receive().expect("carried");
        // b sends its receive right and a send right for dest inside a message to dest.
        let send_name = b.insert_send(&dest).expect("send");
        let rights = b
            .copyin_rights(
                &[(send_name, MACH_MSG_TYPE_COPY_SEND), (carried_name, MACH_MSG_TYPE_MOVE_RECEIVE)],
                true,
            )
            .expect("copyin");
        assert_eq!(b.port_type(carried_name), Err(KernReturn::KERN_INVALID_NAME));
        assert!(carried.is_active() && !carried.receiver_is(&b));
        let mut rights = rights.into_iter();
        let mut m = kmsg(rights.next().expect("dest"), 36);
        m.local = rights.next().expect("carried");
        assert!(ipc_mqueue_send(&dest, m, false, IpcTimeout::Poll).is_ok());
        a.destroy_receive(dest_name).expect("destroy");
        // The queued message died with its port, and the receive right it carried with it.
        assert!(!carried.is_active());
        assert_eq!(dest.status().srights, 1, "only b's entry is left");
        let again = ipc_mqueue_send(&dest, kmsg(MsgRight::Null, 24), false, IpcTimeout::Poll);
        assert_eq!(again.err().map(|e| e.0), Some(MACH_SEND_INVALID_DEST));
        assert_eq!(ipc_mqueue_receive(&dest, 64, false, IpcTimeout::Poll).err(), Some(MACH_RCV_PORT_DIED));
        assert_eq!(b.port_type(send_name), Ok(MACH_PORT_TYPE_DEAD_NAME));
    }

    #[test]
    fn copyin_is_all_or_nothing_and_guards_the_destination() {
        let space = IpcSpace::new();
        let (recv, port) = space.alloc_receive().expect("alloc");
        let send = space.insert_send(&port).expect("send");
        assert_eq!(send, recv, "send merges into the receive name");
        // MOVE_SEND twice from one uref: the second fails, and the first is not taken either.
        let r =
            space.copyin_rights(&[(send, MACH_MSG_TYPE_MOVE_SEND), (send, MACH_MSG_TYPE_MOVE_SEND)], false);
        assert_eq!(r.err(), Some((1, KernReturn::KERN_INVALID_RIGHT)));
        assert_eq!(urefs(&space, send), 1);
        // A port's own receive right cannot ride in a message to it.
        let r =
            space.copyin_rights(&[(send, MACH_MSG_TYPE_MAKE_SEND), (recv, MACH_MSG_TYPE_MOVE_RECEIVE)], true);
        assert_eq!(r.err(), Some((1, KernReturn::KERN_INVALID_RIGHT)));
        // Make-send-once bumps sorights; make-send the make-send count.
        let before = port.status();
        let rights = space
            .copyin_rights(&[(recv, MACH_MSG_TYPE_MAKE_SEND), (recv, MACH_MSG_TYPE_MAKE_SEND_ONCE)], false)
            .expect("make");
        let after = port.status();
        assert_eq!((after.mscount, after.srights, after.sorights), (before.mscount + 1, 2, 1));
        drop(rights);
        // The unused send-once right becomes a send-once notification on the port.
        assert_eq!(notification_id(&port), Some(mach::port::MACH_NOTIFY_SEND_ONCE));
        assert_eq!((port.status().srights, port.status().sorights), (1, 0));
    }
}

mod notifications {
    use super::*;
    use crate::ipc::ipc_kmsg::{IpcKmsg, KmsgDescriptor};
    use crate::ipc::ipc_mqueue::{IpcTimeout, Received, ipc_mqueue_receive};
    use mach::message::{MACH_MSG_TYPE_COPY_SEND, MACH_MSG_TYPE_MAKE_SEND_ONCE, MACH_MSG_TYPE_MOVE_SEND};
    use mach::port::{
        MACH_NOTIFY_DEAD_NAME, MACH_NOTIFY_NO_SENDERS, MACH_NOTIFY_PORT_DELETED, MACH_NOTIFY_PORT_DESTROYED,
        MACH_PORT_TYPE_DNREQUEST,
    };

    fn next(port: &PortRef) -> Option<IpcKmsg> {
        match ipc_mqueue_receive(port, 4096, false, IpcTimeout::Poll) {
            Ok(Received::Message(m, _)) => Some(m),
            _ => None,
        }
    }

    /// The word after the NDR record.
    fn word(m: &IpcKmsg) -> u32 {
        u32::from_le_bytes([m.body[8], m.body[9], m.body[10], m.body[11]])
    }

    /// A send-once right to `notify`, made from the receive right `space` holds.
    fn once(space: &IpcSpace, notify: MachPortName) -> MsgRight {
        let mut r = space.copyin_rights(&[(notify, MACH_MSG_TYPE_MAKE_SEND_ONCE)], false).expect("once");
        r.pop().expect("right")
    }

    #[test]
    fn dead_name_and_port_deleted() {
        let (a, b) = (IpcSpace::new(), IpcSpace::new());
        let (notify, nport) = a.alloc_receive().expect("notify");
        let (_, target) = b.alloc_receive().expect("target");
        let send = a.insert_send(&target).expect("send");
        let prev = a.request_notification(send, MACH_NOTIFY_DEAD_NAME, 0, once(&a, notify)).expect("arm");
        assert!(matches!(prev, MsgRight::Null));
        assert_eq!(a.port_type(send), Ok(MACH_PORT_TYPE_SEND | MACH_PORT_TYPE_DNREQUEST));
        assert_eq!(target.status().dnrequests, 1);
        b.destroy();
        let m = next(&nport).expect("dead-name notification");
        assert_eq!((m.id, word(&m)), (MACH_NOTIFY_DEAD_NAME, send));
        // The name is dead, with one more reference for the notification.
        assert_eq!(a.port_type(send), Ok(MACH_PORT_TYPE_DEAD_NAME));
        assert_eq!(urefs(&a, send), 2);

        // Port-deleted: the name goes away while the port lives.
        let c = IpcSpace::new();
        let (_, target) = c.alloc_receive().expect("t");
        let send = a.insert_send(&target).expect("send");
        a.request_notification(send, MACH_NOTIFY_DEAD_NAME, 0, once(&a, notify)).expect("arm");
        a.deallocate(send).expect("deallocate");
        let m = next(&nport).expect("port-deleted notification");
        assert_eq!((m.id, word(&m)), (MACH_NOTIFY_PORT_DELETED, send));
        assert_eq!(target.status().dnrequests, 0);
        // Bad requests: unknown id, a send right as notify port, a dead name without sync.
        let send = a.insert_send(&target).expect("send");
        assert!(a.request_notification(send, 99, 0, MsgRight::Null).is_err());
        let s = a.copyin_rights(&[(send, MACH_MSG_TYPE_COPY_SEND)], false).expect("copy").pop().expect("r");
        assert_eq!(
            a.request_notification(send, MACH_NOTIFY_DEAD_NAME, 0, s).err(),
            Some(KernReturn::KERN_INVALID_CAPABILITY)
        );
    }

    #[test]
    fn no_senders_counts_make_sends() {
        let (a, b) = (IpcSpace::new(), IpcSpace::new());
        let (notify, nport) = a.alloc_receive().expect("notify");
        let (name, port) = a.alloc_receive().expect("port");
        // Armed with no senders and sync 0: fires at once with mscount 0.
        a.request_notification(name, MACH_NOTIFY_NO_SENDERS, 0, once(&a, notify)).expect("arm");
        let m = next(&nport).expect("immediate");
        assert_eq!((m.id, word(&m)), (MACH_NOTIFY_NO_SENDERS, 0));
        // Armed with sync 1: fires when the first made send right is gone.
        a.request_notification(name, MACH_NOTIFY_NO_SENDERS, 1, once(&a, notify)).expect("arm");
        assert!(next(&nport).is_none());
        let given = b.insert_send(&port).expect("give");
        assert!(next(&nport).is_none());
        b.deallocate(given).expect("drop");
        let m = next(&nport).expect("no-senders");
        assert_eq!((m.id, word(&m)), (MACH_NOTIFY_NO_SENDERS, 1));
        // Moving the only send right in a message is not losing it.
        a.request_notification(name, MACH_NOTIFY_NO_SENDERS, 0, once(&a, notify)).expect("arm");
        let _ = next(&nport);
        a.request_notification(name, MACH_NOTIFY_NO_SENDERS, 2, once(&a, notify)).expect("arm");
        let given = b.insert_send(&port).expect("give");
        let moved = b.copyin_rights(&[(given, MACH_MSG_TYPE_MOVE_SEND)], false).expect("move");
        assert!(next(&nport).is_none());
        drop(moved);
        assert_eq!(next(&nport).map(|m| (m.id, word(&m))), Some((MACH_NOTIFY_NO_SENDERS, 2)));
    }

    #[test]
    fn port_destroyed_hands_the_receive_right_back() {
        let a = IpcSpace::new();
        let (notify, nport) = a.alloc_receive().expect("notify");
        let (name, port) = a.alloc_receive().expect("port");
        assert!(a.request_notification(name, MACH_NOTIFY_PORT_DESTROYED, 1, MsgRight::Null).is_err());
        a.request_notification(name, MACH_NOTIFY_PORT_DESTROYED, 0, once(&a, notify)).expect("arm");
        assert!(port.status().pdrequest);
        a.destroy_receive(name).expect("destroy");
        assert!(port.is_active(), "not destroyed: in transit to the requester");
        let m = next(&nport).expect("port-destroyed");
        assert_eq!(m.id, MACH_NOTIFY_PORT_DESTROYED);
        let Some(KmsgDescriptor::Port { right, .. }) = m.descriptors.into_iter().next() else {
            panic!("no port")
        };
        let back = a.copyout_right(right).expect("copyout");
        assert!(port.receiver_is(&a) && a.port_type(back) == Ok(MACH_PORT_TYPE_RECEIVE));
        // Without a request (it was used), the port dies for real.
        a.destroy_receive(back).expect("destroy");
        assert!(!port.is_active());
    }
}

mod port_sets {
    use super::*;
    use crate::ipc::ipc_kmsg::{IpcKmsg, SenderToken};
    use crate::ipc::ipc_mqueue::{IpcTimeout, Received, ipc_mqueue_send};
    use crate::ipc::ipc_pset::ipc_pset_receive;
    use mach::message::{MACH_MSG_TYPE_MOVE_RECEIVE, MACH_RCV_PORT_DIED, MACH_RCV_TIMED_OUT};
    use mach::port::MACH_PORT_TYPE_PORT_SET;

    fn post(port: &PortRef, id: i32) {
        let m = IpcKmsg {
            bits: 0,
            size: 24,
            remote: MsgRight::Send(port.make_send()),
            local: MsgRight::Null,
            id,
            body: Vec::new(),
            descriptors: Vec::new(),
            sender: SenderToken::KERNEL,
            charge: None,
        };
        assert!(ipc_mqueue_send(port, m, false, IpcTimeout::Poll).is_ok());
    }

    #[test]
    fn receive_from_any_member() {
        let space = IpcSpace::new();
        let (set_name, set) = space.alloc_port_set().expect("set");
        assert_eq!(space.port_type(set_name), Ok(MACH_PORT_TYPE_PORT_SET));
        let (a, pa) = space.alloc_receive().expect("a");
        let (b, pb) = space.alloc_receive().expect("b");
        space.insert_member(a, set_name).expect("insert a");
        space.move_member(b, set_name).expect("move b in");
        assert_eq!(space.insert_member(a, set_name), Err(KernReturn::KERN_ALREADY_IN_SET));
        assert_eq!(space.insert_member(set_name, set_name), Err(KernReturn::KERN_INVALID_RIGHT));
        space.check_invariants();
        assert_eq!(ipc_pset_receive(&set, 64, false, IpcTimeout::Poll).err(), Some(MACH_RCV_TIMED_OUT));
        post(&pb, 2);
        let (got, from) = ipc_pset_receive(&set, 64, false, IpcTimeout::Poll).expect("message");
        assert!(matches!(got, Received::Message(ref m, 0) if m.id == 2));
        assert!(Arc::ptr_eq(&from, &pb));
        assert_eq!(space.name_of(&from), Some(b));
        // Leaving: extract, move to NULL, and not twice.
        space.extract_member(a, set_name).expect("extract a");
        assert_eq!(space.extract_member(a, set_name), Err(KernReturn::KERN_NOT_IN_SET));
        space.move_member(b, MACH_PORT_NULL).expect("b leaves");
        assert_eq!(space.move_member(b, MACH_PORT_NULL), Err(KernReturn::KERN_NOT_IN_SET));
        post(&pa, 1);
        assert_eq!(ipc_pset_receive(&set, 64, false, IpcTimeout::Poll).err(), Some(MACH_RCV_TIMED_OUT));
        // A receive right that leaves the space leaves its set.
        space.insert_member(a, set_name).expect("a again");
        assert!(pa.in_set());
        let moved = space.copyin_rights(&[(a, MACH_MSG_TYPE_MOVE_RECEIVE)], false).expect("move a");
        assert!(!pa.in_set());
        drop(moved);
        // Destroying the set frees its members.
        space.insert_member(b, set_name).expect("b again");
        space.mod_refs(set_name, mach::port::MACH_PORT_RIGHT_PORT_SET, -1).expect("destroy set");
        assert!(!pb.in_set());
        assert_eq!(ipc_pset_receive(&set, 64, false, IpcTimeout::Poll).err(), Some(MACH_RCV_PORT_DIED));
        space.check_invariants();
    }
}

mod circularity {
    use super::*;
    use crate::ipc::ipc_kmsg::{IpcKmsg, KmsgDescriptor, SenderToken};
    use crate::ipc::ipc_mqueue::{IpcTimeout, ipc_mqueue_send};
    use mach::message::MACH_MSG_TYPE_MOVE_RECEIVE;

    /// A message to `dest` carrying `right`.
    fn carrying(dest: &PortRef, right: MsgRight) -> IpcKmsg {
        IpcKmsg {
            bits: 0,
            size: 40,
            remote: MsgRight::Send(dest.make_send()),
            local: MsgRight::Null,
            id: 0,
            body: Vec::new(),
            descriptors: alloc::vec![KmsgDescriptor::Port { offset: 4, right }],
            sender: SenderToken::KERNEL,
            charge: None,
        }
    }

    #[test]
    fn ports_carried_in_each_others_queues_die_instead_of_leaking() {
        let space = IpcSpace::new();
        let (a, pa) = space.alloc_receive().expect("a");
        let (b, pb) = space.alloc_receive().expect("b");
        let take =
            |name| space.copyin_rights(&[(name, MACH_MSG_TYPE_MOVE_RECEIVE)], false).expect("take").pop();
        // a's receive right goes into b's queue: fine.
        let ra = take(a).expect("a's right");
        assert!(ipc_mqueue_send(&pb, carrying(&pb, ra), false, IpcTimeout::Poll).is_ok());
        assert_eq!(pb.status().msgcount, 1);
        // b's receive right into a's queue would close the loop: the message is destroyed,
        // and with it b's receive right — so b dies, and a (carried in b's queue) with it.
        let rb = take(b).expect("b's right");
        assert!(ipc_mqueue_send(&pa, carrying(&pa, rb), false, IpcTimeout::Poll).is_ok());
        assert!(!pb.is_active() && !pa.is_active(), "both ports are gone, nothing leaks");
        let weak = (Arc::downgrade(&pa), Arc::downgrade(&pb));
        drop((pa, pb));
        assert!(weak.0.upgrade().is_none() && weak.1.upgrade().is_none(), "no reference cycle left");
    }
}

#[test]
fn a_dead_destination_takes_nothing() {
    use mach::message::MACH_MSG_TYPE_MOVE_SEND;
    let (a, b) = (IpcSpace::new(), IpcSpace::new());
    let (name, port) = b.alloc_receive().expect("port");
    let send = a.insert_send(&port).expect("send");
    b.destroy_receive(name).expect("kill it");
    let r = a.copyin_rights(&[(send, MACH_MSG_TYPE_MOVE_SEND)], true);
    assert_eq!(r.err(), Some((0, KernReturn::KERN_INVALID_RIGHT)));
    assert_eq!(a.port_type(send), Ok(MACH_PORT_TYPE_DEAD_NAME));
    assert_eq!(urefs(&a, send), 1, "the dead name keeps its reference");
}

/// Issue 11: holes that hung or panicked the kernel (lock re-entry, recursion, unbounded
/// kernel-made messages, name tables sized by the largest name).
mod robustness {
    use super::*;
    use crate::ipc::ipc_kmsg::{IpcKmsg, KmsgDescriptor, SenderToken};
    use crate::ipc::ipc_mqueue::{IpcTimeout, Received, ipc_mqueue_receive, ipc_mqueue_send};
    use crate::ipc::ipc_pset::ipc_pset_receive;
    use mach::message::{MACH_MSG_TYPE_MAKE_SEND_ONCE, MACH_MSG_TYPE_MOVE_RECEIVE};
    use mach::port::{
        MACH_NOTIFY_NO_SENDERS, MACH_NOTIFY_PORT_DESTROYED, MACH_NOTIFY_SEND_ONCE, MACH_PORT_QLIMIT_DEFAULT,
    };
    use std::sync::mpsc;
    use std::time::Duration;

    /// Run `f` on a thread with a `stack`-byte stack; a hang shows as a failed test after
    /// `secs` seconds (the thread is left spinning), a stack overflow aborts the test run.
    fn within(secs: u64, stack: usize, f: impl FnOnce() + Send + 'static) {
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new()
            .stack_size(stack)
            .spawn(move || {
                f();
                let _ = tx.send(());
            })
            .expect("spawn");
        assert!(rx.recv_timeout(Duration::from_secs(secs)).is_ok(), "did not finish: hung or panicked");
    }

    fn message(remote: MsgRight, descriptors: Vec<KmsgDescriptor>) -> IpcKmsg {
        IpcKmsg {
            bits: 0,
            size: 40,
            remote,
            local: MsgRight::Null,
            id: 1234,
            body: Vec::new(),
            descriptors,
            sender: SenderToken::KERNEL,
            charge: None,
        }
    }

    fn once(space: &IpcSpace, name: MachPortName) -> MsgRight {
        let mut r = space.copyin_rights(&[(name, MACH_MSG_TYPE_MAKE_SEND_ONCE)], false).expect("once");
        r.pop().expect("right")
    }

    /// Item 1: receiving on a set uses up the message's destination right; when that is the
    /// last send right, the no-senders notification goes to a member of the same set, whose
    /// wakeup takes the set's lock — which the receive must no longer hold.
    #[test]
    fn pset_receive_releases_the_destination_right_after_unlocking() {
        within(10, 1 << 20, || {
            let space = IpcSpace::new();
            let (set_name, set) = space.alloc_port_set().expect("set");
            let (name, port) = space.alloc_receive().expect("port");
            space.insert_member(name, set_name).expect("member");
            // The only send right rides in the message; the notification comes to the port.
            let m = message(MsgRight::Send(port.make_send()), Vec::new());
            assert!(ipc_mqueue_send(&port, m, false, IpcTimeout::Poll).is_ok());
            space.request_notification(name, MACH_NOTIFY_NO_SENDERS, 1, once(&space, name)).expect("arm");
            let (got, _) = ipc_pset_receive(&set, 4096, false, IpcTimeout::Poll).expect("the message");
            assert!(matches!(got, Received::Message(ref m, _) if m.id == 1234));
            let (got, _) = ipc_pset_receive(&set, 4096, false, IpcTimeout::Poll).expect("the notification");
            assert!(matches!(got, Received::Message(ref m, _) if m.id == MACH_NOTIFY_NO_SENDERS));
            space.check_invariants();
        });
    }

    /// Item 1, sibling: a dead-name request on a name already dead is answered at once — after
    /// the space's lock is dropped (the notification to a member of a set wakes the set).
    #[test]
    fn an_immediate_dead_name_notification_is_sent_after_unlocking() {
        use mach::port::MACH_NOTIFY_DEAD_NAME;
        within(10, 1 << 20, || {
            let (a, b) = (IpcSpace::new(), IpcSpace::new());
            let (set_name, set) = a.alloc_port_set().expect("set");
            let (notify, _) = a.alloc_receive().expect("notify");
            a.insert_member(notify, set_name).expect("member");
            let (target_name, target) = b.alloc_receive().expect("target");
            let send = a.insert_send(&target).expect("send");
            b.destroy_receive(target_name).expect("kill");
            a.request_notification(send, MACH_NOTIFY_DEAD_NAME, 1, once(&a, notify)).expect("arm");
            let (got, _) = ipc_pset_receive(&set, 4096, false, IpcTimeout::Poll).expect("notification");
            assert!(matches!(got, Received::Message(ref m, _) if m.id == MACH_NOTIFY_DEAD_NAME));
        });
    }

    /// A chain of `depth` ports, each one's receive right queued on the next (built bottom
    /// up, so no message is circular); the top's receive right stays in `space`. With
    /// `pdrequest_to_dead`, every port also has a port-destroyed request aimed at a port that
    /// has died, so each notification fails and the right must be destroyed after all.
    fn chain(space: &IpcSpace, depth: usize, pdrequest_to_dead: bool) -> (MachPortName, Vec<Weak<IpcPort>>) {
        let (dead_name, _) = space.alloc_receive().expect("notify port");
        let mut weak = Vec::new();
        let (mut below, port) = space.alloc_receive().expect("bottom");
        weak.push(Arc::downgrade(&port));
        for _ in 0..depth {
            let (name, port) = space.alloc_receive().expect("next");
            weak.push(Arc::downgrade(&port));
            if pdrequest_to_dead {
                space
                    .request_notification(below, MACH_NOTIFY_PORT_DESTROYED, 0, once(space, dead_name))
                    .expect("pdrequest");
            }
            let right = space.copyin_rights(&[(below, MACH_MSG_TYPE_MOVE_RECEIVE)], false).expect("take");
            let right = right.into_iter().next().expect("right");
            let m = message(
                MsgRight::Send(port.make_send()),
                alloc::vec![KmsgDescriptor::Port { offset: 4, right }],
            );
            assert!(ipc_mqueue_send(&port, m, false, IpcTimeout::Poll).is_ok());
            below = name;
        }
        space.destroy_receive(dead_name).expect("the requests' port dies");
        (below, weak)
    }

    /// Item 2: destroying the top of a deep chain destroys every port below it without
    /// recursion (a thread with a 256 KiB stack overflowed at a few thousand levels), with and
    /// without failing port-destroyed requests, through a right and through task exit.
    #[test]
    fn nested_receive_rights_are_destroyed_iteratively() {
        for (pdrequests, by_exit) in [(false, false), (true, false), (false, true), (true, true)] {
            within(60, 256 << 10, move || {
                let space = IpcSpace::new();
                let (top, weak) = chain(&space, 5000, pdrequests);
                if by_exit {
                    space.destroy();
                } else {
                    space.destroy_receive(top).expect("destroy the top");
                }
                assert!(weak.iter().all(|w| w.upgrade().is_none()), "every port in the chain is gone");
            });
        }
    }

    /// Item 4: a send-once notification to a full queue that repeats the last message there
    /// coalesces with it (the loop `insert_right(MAKE_SEND_ONCE)` + `deallocate` on a port
    /// nobody reads grew the queue without bound), and every notification is charged.
    #[test]
    fn repeated_notifications_to_a_full_queue_coalesce_and_are_charged() {
        let space = IpcSpace::new();
        let (_, port) = space.alloc_receive().expect("port");
        for _ in 0..2000 {
            let name = space.insert_send_once(&port).expect("send-once");
            space.deallocate(name).expect("deallocate");
        }
        let st = port.status();
        assert!(st.msgcount <= MACH_PORT_QLIMIT_DEFAULT + 1, "queued {} notifications", st.msgcount);
        assert_eq!(st.sorights, st.msgcount, "each queued notification holds its right, no more");
        let Ok(Received::Message(m, _)) = ipc_mqueue_receive(&port, 4096, false, IpcTimeout::Poll) else {
            panic!("no notification")
        };
        assert_eq!(m.id, MACH_NOTIFY_SEND_ONCE);
        assert!(m.charge.is_some(), "kernel-made messages are charged");
    }

    /// Item 11: a name far out in the index space costs one entry, not a table grown to it;
    /// names below still grow the table as usual, and sparse names move into it on the way.
    #[test]
    fn a_far_name_costs_one_entry() {
        let space = IpcSpace::with_limit(1 << 14);
        let (_, _port) = space.alloc_receive().expect("port");
        let (_task, other) = kernel_port();
        let far = mach::port::mach_port_make(0x3fff, 0x07);
        space.insert_right_named(far, MsgRight::Send(other.make_send())).expect("insert far");
        assert!(space.table_bytes() < 4096, "{} bytes of table for two names", space.table_bytes());
        assert_eq!(space.port_type(far), Ok(MACH_PORT_TYPE_SEND));
        assert_eq!(space.names().expect("names").len(), 2);
        space.check_invariants();
        // Fill the table up to and past the far name: it moves in and keeps its name.
        let (_t, kport) = kernel_port();
        let mut held = Vec::new();
        for _ in 0..0x4000 {
            match space.insert_send_once(&kport) {
                Ok(name) => held.push(name),
                Err(kr) => {
                    assert_eq!(kr, KernReturn::KERN_NO_SPACE);
                    break;
                }
            }
        }
        assert_eq!(held.len(), 0x4000 - 3, "every slot but 0, the port's and the far name's");
        assert_eq!(space.port_type(far), Ok(MACH_PORT_TYPE_SEND));
        space.check_invariants();
        space.deallocate(far).expect("deallocate far");
        assert_eq!(space.port_type(far), Err(KernReturn::KERN_INVALID_NAME));
        space.check_invariants();
    }

    /// Review of item 11: when the sparse names a growth takes in fill all of its new slots,
    /// claiming a name grows again instead of failing with `KERN_NO_SPACE`; and
    /// `mach_port_names` lists every name whatever settling does to sparse entries.
    #[test]
    fn a_growth_full_of_sparse_names_grows_again() {
        let min = crate::ipc::ipc_space::IPC_ENTRY_TABLE_MIN;
        let space = IpcSpace::with_limit(1 << 14);
        let (_t, kport) = kernel_port();
        // Beyond one doubling of the first table: sparse entries, [2 min, 4 min) all taken.
        for index in 2 * min..4 * min {
            let name = mach::port::mach_port_make(index, 0x07);
            space.insert_right_named(name, MsgRight::SendOnce(kport.make_send_once())).expect("sparse");
        }
        // Fill the table, which grows once to 2 min on the way.
        for _ in 1..2 * min {
            space.insert_send_once(&kport).expect("a slot below 2 min");
        }
        space.check_invariants();
        // The next growth (to 4 min) takes in only sparse names: there must be a next one.
        let name = space.insert_send_once(&kport).expect("a name after a growth full of sparse entries");
        assert!(mach::port::mach_port_index(name) >= 4 * min);
        assert_eq!(space.names().expect("names").len() as u32, 4 * min);
        space.check_invariants();
    }

    /// Review of item 4: a notification is charged to the task receiving on its destination
    /// (which asked for it), not to whoever happens to run — so a client that hands a server
    /// send-once rights to drop spends its own budget, not the server's.
    #[test]
    fn notifications_are_charged_to_their_receiver() {
        use core::sync::atomic::{AtomicUsize, Ordering};
        let (client, server) = (IpcSpace::new(), IpcSpace::new());
        let (client_budget, server_budget) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        client.set_kmsg_counter(client_budget.clone());
        server.set_kmsg_counter(server_budget.clone());
        let (_, port) = client.alloc_receive().expect("the client's port");
        // The server holds a send-once right to the client's port and drops it unused.
        let name = server.insert_send_once(&port).expect("send-once");
        server.deallocate(name).expect("deallocate");
        assert_eq!(port.status().msgcount, 1, "the send-once notification is queued");
        assert!(client_budget.load(Ordering::Acquire) > 0, "the receiver pays");
        assert_eq!(server_budget.load(Ordering::Acquire), 0, "not the task that dropped the right");
        let Ok(Received::Message(m, _)) = ipc_mqueue_receive(&port, 4096, false, IpcTimeout::Poll) else {
            panic!("no notification")
        };
        assert_eq!(m.id, MACH_NOTIFY_SEND_ONCE);
        drop(m);
        assert_eq!(client_budget.load(Ordering::Acquire), 0, "received and gone: the charge comes back");
    }
}
