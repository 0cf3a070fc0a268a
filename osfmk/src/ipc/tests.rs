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
    MACH_PORT_TYPE_DEAD_NAME, MACH_PORT_TYPE_RECEIVE, MACH_PORT_TYPE_SEND, MACH_PORT_TYPE_SEND_ONCE,
    MACH_PORT_TYPE_SEND_RECEIVE, MACH_PORT_TYPE_SEND_RIGHTS, MACH_PORT_UREFS_MAX, MachPortName,
    mach_port_gen, mach_port_index,
};

use super::ipc_port::{IkotType, IpcPort, KObjectRef, PortRef};
use super::ipc_space::{IpcSpace, SpaceRef};
use crate::test_rng::Rng;

/// Stands in for `task_t` behind a task control port.
struct Task;

fn kernel_port() -> (Arc<Task>, PortRef) {
    let task = Arc::new(Task);
    let weak: Weak<Task> = Arc::downgrade(&task);
    let object: KObjectRef = weak;
    (task, IpcPort::new_kobject(IkotType::TaskControl, object))
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
        if name == MACH_PORT_DEAD {
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
fn check_accounting(world: &[Tracked], ports: &[PortRef]) {
    let mut views = Vec::new();
    for tracked in world {
        tracked.space.check_invariants();
        for (_, view) in tracked.space.names().expect("names") {
            views.push((Arc::as_ptr(&tracked.space), view));
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
            let owner = world.iter().find(|t| receivers.iter().any(|r| r.0 == Arc::as_ptr(&t.space)));
            assert!(owner.is_some_and(|t| port.receiver_is(&t.space)));
        } else {
            assert_eq!(holds(MACH_PORT_TYPE_SEND_RIGHTS | MACH_PORT_TYPE_RECEIVE), 0);
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
}

fn run_random_sequence(seed: u64, steps: usize, seen: &mut Coverage) {
    let mut rng = Rng(seed | 1);
    let mut world: Vec<Tracked> = (0..3).map(|_| Tracked::new()).collect();
    let kernel: Vec<_> = (0..2).map(|_| kernel_port()).collect();
    let mut ports: Vec<PortRef> = kernel.iter().map(|(_, port)| port.clone()).collect();
    let deltas = [-0xFFFF, -0x1_0000, -2, -1, -1, 0, 1, 1, 2, 0xFFFF, 0x1_0000];

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

        match rng.index(10) {
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
        check_accounting(&world, &ports);
        seen.dead_names += world
            .iter()
            .flat_map(|t| t.space.names().unwrap_or_default())
            .filter(|(_, view)| view.right_type == MACH_PORT_TYPE_DEAD_NAME)
            .count();
    }

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
}
