//! `budget`: what user space can make the kernel allocate, and the limits on it (DESIGN
//! "Budgets") — the one list of them all. The rule: every kernel allocation whose size or
//! count a user controls is charged to one of these before it is made, or is fallible with a
//! clean error; past a limit the call fails with the error given and the kernel keeps running.
//! A new kind of user-driven allocation gets a row here.
//!
//! Mach IPC's budgets are charged by the code in this module:
//!
//! | budget | limit | error |
//! |---|---|---|
//! | messages in flight, per task ([`KmsgCharge`]) | [`IPC_KMSG_TASK_MAX`] (4 MiB) of kernel heap | `MACH_SEND_NO_BUFFER` |
//! | messages in flight, all tasks | a quarter of the kernel heap ([`KMSG_HEAP_SHARE`]) | `MACH_SEND_NO_BUFFER` |
//! | out-of-line copies (`vm_map_copy` segments), charged to the message carrying them | [`VM_MAP_COPY_SEGMENT_COST`] per segment, plus the fresh pages of a small range copied eagerly, within the two above | `MACH_SEND_NO_BUFFER`; `KERN_RESOURCE_SHORTAGE` from `mach_vm_read` |
//! | MIG replies (unknown ids' errors too): charged to the request's sender (the request's charge moves to the reply, grown to the reply's bytes, port arrays and out-of-line pages) | within the two above | `MACH_SEND_NO_BUFFER` on the request; a reply that outgrows it is `KERN_RESOURCE_SHORTAGE` |
//! | notifications: charged to the task that receives on their destination, else to the task whose action sent them, else the kernel's own counter | per task as above; kernel [`IPC_KMSG_TASK_MAX`] | none to give: the notification is dropped (its right consumed); duplicates to a full queue coalesce first |
//! | ports and port sets users allocate | a quarter of the kernel heap ([`PORT_HEAP_SHARE`]) at [`PORT_HEAP_COST`] each | `KERN_RESOURCE_SHORTAGE` |
//! | names per task | [`TASK_IPC_SPACE_MAX`] − 1 (16383) | `KERN_NO_SPACE` |
//! | name-table slots, all spaces | a sixteenth of the kernel heap ([`NAME_TABLE_HEAP_SHARE`]), [`IPC_ENTRY_SLOT_COST`] per dense slot, [`IPC_ENTRY_SPARSE_COST`] per sparse name | `KERN_RESOURCE_SHORTAGE` |
//!
//! The others live with the mechanism they bound:
//!
//! | budget | limit | error |
//! |---|---|---|
//! | map entries per map ([`VM_MAP_ENTRY_MAX`]) | 65536 | `KERN_NO_SPACE` (mmap, mprotect: ENOMEM) |
//! | map entries, all maps ([`VM_MAP_ENTRY_TOTAL_MAX`], `VM_MAP_ENTRY_BUDGET`) | 131072, at most a quarter of the heap ([`MAP_ENTRY_HEAP_SHARE`]) | `KERN_RESOURCE_SHORTAGE` (fork, mmap: ENOMEM) |
//! | a task's address space (RLIMIT_AS, `VmMap::set_size_limit`) | the limit | `KERN_NO_SPACE` (ENOMEM) |
//! | physical pages | the frame pool | a fault with none left: SIGKILL for the faulting process; calls: `KERN_RESOURCE_SHORTAGE` / ENOMEM |
//! | kernel stacks, so threads, all tasks ([`KSTACK_SLOTS`]) | 16384 | `KERN_RESOURCE_SHORTAGE` (bsdthread_create: EAGAIN) |
//! | threads per task (`bsd::kern::pthread_support::MAX_THREADS_PER_TASK`) | 512 | EAGAIN |
//! | semaphores per task (`Task::semaphore_create`) | 4096 | `KERN_RESOURCE_SHORTAGE` |
//! | processes (`bsd::kern::kern_fork::MAXPROC`; RLIMIT_NPROC per user, half of it) | 1000 | EAGAIN |
//! | descriptors per process (`bsd::kern::kern_descrip::NOFILE`, RLIMIT_NOFILE) | 256 | EMFILE |
//! | open file descriptions, all processes (`kern.maxfiles`, `bsd::kern::kern_descrip::MAXFILES`) | 30720 (root may change it) | ENFILE |
//! | files and their metadata in the ramfs file systems (`bsd::fs::ramfs::RamQuota`; file data in VM pages from the frame pool, charged by file length, holes too; metadata on the heap) | bytes equal to a sixteenth of the heap ([`FILE_SYSTEM_HEAP_SHARE`]) beyond the initrd, split: `/tmp` half, the ramfs file systems `mount(2)` makes a quarter, the root the rest; a node costs 640 bytes plus its name | ENOSPC (also when the frame pool has no page for a write) |
//! | vnodes, all file systems (`kern.maxvnodes`, `bsd::vfs::vnode::VNODES`) | memsize / 64 KiB + 1024, at most 263168 (root may change it) | ENFILE |
//! | mounts (`bsd::vfs::vfs_mount::MOUNT_MAX`) | 64, the boot's three included | ENOMEM |
//! | ramfs file systems `mount(2)` made, alive at once (`bsd::fs::ramfs::RAMFS_MOUNT_MAX`) | 8, each a fixed eighth of that quarter, held until its last vnode goes | ENOMEM |
//! | ramfs nodes (files, directories, links) (`RAMFS_NODE_GROWTH_MAX`) | 2048 beyond the initrd | ENOSPC |
//! | exec: argv + envp (`bsd::kern::exec_stack::ARG_MAX`), program headers | 256 KiB; one page of headers | E2BIG; ENOEXEC |
//! | pipe buffers (`bsd::kern::sys_pipe`) | 16 KiB each, within the open-description budget; growth to 64 KiB only while all pipes' growth stays under `PIPE_KVA_MAX` (4 MiB) | none: a pipe that may not grow stays small |
//! | FIFO buffers (`bsd::miscfs::fifofs`) | 8 KiB per FIFO while it is open, freed at its last close; FIFOs are ramfs nodes (node budget) | ENOSPC (mkfifo), ENOMEM (open) |
//! | `select` / `poll` per call (`bsd::kern::sys_generic`) | the sets (descriptor-table size) or at most `OPEN_MAX` (10240) pollfds; one wait-queue entry per (file, direction) however often it is named | EINVAL past the counts, ENOMEM |
//! | advisory lock records (`flock`; `bsd::kern::kern_lockf`) | one per open file description per file, so within the descriptor and fileport budgets; allocated fallibly | ENOLCK |
//! | threads waiting for an advisory lock | one entry per blocked thread, within the thread budget | |
//!
//! The heap-relative shares add up to less than the heap (see [`KMSG_HEAP_SHARE`]).
//! Heap-relative limits apply once the kernel heap is known; before that (and in host tests)
//! only the fixed per-task ones do.
//!
//! [`VM_MAP_ENTRY_MAX`]: crate::vm::vm_map::VM_MAP_ENTRY_MAX
//! [`VM_MAP_ENTRY_TOTAL_MAX`]: crate::vm::vm_map::VM_MAP_ENTRY_TOTAL_MAX
//! [`KSTACK_SLOTS`]: crate::kern::stack::KSTACK_SLOTS

use alloc::sync::Arc;
use core::sync::atomic::{AtomicUsize, Ordering};

/// The most kernel heap the messages one task has sent may hold while in flight.
pub const IPC_KMSG_TASK_MAX: usize = 4 << 20;

/// What a queued message costs besides its bytes (the kmsg, its vectors, the queue slot).
pub const KMSG_OVERHEAD: usize = 256;

/// What one segment of an out-of-line copy costs the heap: the segment itself, the key the
/// source map's clip hands back for it and, for a shared source entry, the private object the
/// copy gets (rounded up).
pub const VM_MAP_COPY_SEGMENT_COST: usize = 256;

/// What a port costs the kernel heap, roughly, for the port budget.
pub const PORT_HEAP_COST: usize = 512;

/// Most slots one task's IPC space may hold (slot 0 is never a name). Names and the ports
/// behind them live on the kernel heap, so one task allocating without end hits this limit
/// long before the heap runs dry. Generous for any real program.
pub const TASK_IPC_SPACE_MAX: u32 = 1 << 14;

/// What one slot of a space's dense table costs: the entry and its free-list index.
pub const IPC_ENTRY_SLOT_COST: usize = core::mem::size_of::<crate::ipc::ipc_entry::IpcEntry>() + 4;

/// What one name held outside the dense table costs: the entry, its key and the tree node's
/// share (B-tree nodes are at least half full).
pub const IPC_ENTRY_SPARSE_COST: usize =
    2 * (core::mem::size_of::<crate::ipc::ipc_entry::IpcEntry>() + 4) + 16;

/// Add `cost` to `counter` if the total stays within `limit`.
fn take(counter: &AtomicUsize, cost: usize, limit: usize) -> bool {
    counter
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
            held.checked_add(cost).filter(|&total| total <= limit)
        })
        .is_ok()
}

/// The shares of the kernel heap the heap-relative budgets may hold, as divisors. Together
/// they come to at most 7/8 — messages ¼, ports ¼, map entries ¼ (their count, 131072, is
/// the tighter limit below a 64 MiB heap), name tables 1/16, file data and metadata 1/16 — so
/// users filling every budget at once still leave the kernel an eighth, for its own objects
/// and the bookkeeping of resident pages (which grows with RAM, as the heap does). A new
/// heap-relative budget takes its share from these, never on top.
pub const KMSG_HEAP_SHARE: u64 = 4;
/// Ports and port sets that users allocate (see [`KMSG_HEAP_SHARE`]).
pub const PORT_HEAP_SHARE: u64 = 4;
/// Map entries over all maps (`VM_MAP_ENTRY_BUDGET`; see [`KMSG_HEAP_SHARE`]).
pub const MAP_ENTRY_HEAP_SHARE: u64 = 4;
/// Name tables of all IPC spaces (see [`KMSG_HEAP_SHARE`]).
pub const NAME_TABLE_HEAP_SHARE: u64 = 16;
/// The ramfs file systems' files beyond the initrd, data and metadata: the root's, `/tmp`'s
/// and those `mount(2)` makes share it (see [`KMSG_HEAP_SHARE`]).
pub const FILE_SYSTEM_HEAP_SHARE: u64 = 16;

/// `1/divisor` of the kernel heap, or no limit before the heap is known.
pub fn heap_share(divisor: u64) -> usize {
    match crate::vm::vm_page::kernel_heap_size() {
        0 => usize::MAX,
        size => usize::try_from(size / divisor).unwrap_or(usize::MAX),
    }
}

/// Kernel heap bytes held by messages in flight (user and kernel-made).
static KMSG_BYTES: AtomicUsize = AtomicUsize::new(0);

/// What kernel-made messages cost when no task can be charged (host tests, the kernel's own
/// threads before any task runs).
static KERNEL_KMSG_BYTES: AtomicUsize = AtomicUsize::new(0);

/// A message's share of the kernel heap, charged to a task (or to the kernel). A task's
/// messages in flight may hold at most [`IPC_KMSG_TASK_MAX`], and all messages together at
/// most a quarter of the heap, so no sender — however many ports and queues it fills — can
/// starve the kernel (or, alone, everyone else) of memory.
#[derive(Debug)]
pub struct KmsgCharge {
    cost: usize,
    /// The task's counter; `None` is the kernel's.
    task: Option<Arc<AtomicUsize>>,
}

impl KmsgCharge {
    /// Charge `bytes` (plus the fixed overhead) to the sender's counter `task`, if both its
    /// budget and the kernel's allow.
    pub fn new(bytes: usize, task: &Arc<AtomicUsize>) -> Option<KmsgCharge> {
        Self::charge(bytes.saturating_add(KMSG_OVERHEAD), Some(task.clone()))
    }

    /// Charge a message the kernel makes (a notification) to the task running now — whose
    /// action made it — or, with none, to the kernel's own counter.
    pub fn kernel_made(bytes: usize) -> Option<KmsgCharge> {
        Self::charge(bytes.saturating_add(KMSG_OVERHEAD), current_task_counter())
    }

    /// Charge a notification to `receiver`, the budget of the task that receives on its
    /// destination — which asked for it (a request it registered, a send-once right it
    /// made) and lets it pile up unread — or, for a port no task receives on, as
    /// [`kernel_made`](Self::kernel_made). So a client cannot spend a server's budget by
    /// handing it send-once rights to drop.
    pub fn notification(bytes: usize, receiver: Option<Arc<AtomicUsize>>) -> Option<KmsgCharge> {
        Self::charge(bytes.saturating_add(KMSG_OVERHEAD), receiver.or_else(current_task_counter))
    }

    fn charge(cost: usize, task: Option<Arc<AtomicUsize>>) -> Option<KmsgCharge> {
        let counter = task.as_deref().unwrap_or(&KERNEL_KMSG_BYTES);
        if !take(counter, cost, IPC_KMSG_TASK_MAX) {
            return None;
        }
        if !take(&KMSG_BYTES, cost, heap_share(KMSG_HEAP_SHARE)) {
            counter.fetch_sub(cost, Ordering::AcqRel);
            return None;
        }
        Some(KmsgCharge { cost, task })
    }

    fn counter(&self) -> &AtomicUsize {
        self.task.as_deref().unwrap_or(&KERNEL_KMSG_BYTES)
    }

    /// What the charge holds now.
    pub fn cost(&self) -> usize {
        self.cost
    }

    /// Charge `more` bytes on top (what the message turns out to carry besides its bytes:
    /// rights of out-of-line port arrays, out-of-line copies). False, charging nothing, if a
    /// budget is spent.
    pub fn grow(&mut self, more: usize) -> bool {
        if !take(self.counter(), more, IPC_KMSG_TASK_MAX) {
            return false;
        }
        if !take(&KMSG_BYTES, more, heap_share(KMSG_HEAP_SHARE)) {
            self.counter().fetch_sub(more, Ordering::AcqRel);
            return false;
        }
        self.cost += more;
        true
    }
}

impl Drop for KmsgCharge {
    fn drop(&mut self) {
        KMSG_BYTES.fetch_sub(self.cost, Ordering::AcqRel);
        self.counter().fetch_sub(self.cost, Ordering::AcqRel);
    }
}

/// The message counter of the task whose thread runs now.
fn current_task_counter() -> Option<Arc<AtomicUsize>> {
    #[cfg(target_os = "none")]
    if crate::kern::sched_prim::sched_running() {
        return Some(crate::kern::sched_prim::current_thread().task.ipc_kmsg_bytes.clone());
    }
    None
}

/// Ports alive now (kernel and user).
static PORTS_IN_USE: AtomicUsize = AtomicUsize::new(0);

/// A port was made (any port: the kernel's count against the users' budget too).
pub fn port_created() {
    PORTS_IN_USE.fetch_add(1, Ordering::Relaxed);
}

/// A port was freed.
pub fn port_freed() {
    PORTS_IN_USE.fetch_sub(1, Ordering::Relaxed);
}

/// May a task make another port? Ports and sets that users allocate may use at most a
/// [`PORT_HEAP_SHARE`] of the kernel heap between them: past that, allocation fails with
/// `KERN_RESOURCE_SHORTAGE` instead of the kernel running out of memory. Ports the kernel
/// makes for its own objects are not refused.
pub fn user_port_allowed() -> bool {
    PORTS_IN_USE.load(Ordering::Relaxed).saturating_mul(PORT_HEAP_COST) < heap_share(PORT_HEAP_SHARE)
}

/// Heap bytes held by the name tables of all spaces.
static NAME_TABLE_BYTES: AtomicUsize = AtomicUsize::new(0);

/// Charge `bytes` of name table: false, charging nothing, past its share of the heap.
pub fn name_table_charge(bytes: usize) -> bool {
    take(&NAME_TABLE_BYTES, bytes, heap_share(NAME_TABLE_HEAP_SHARE))
}

/// Give back `bytes` of name table.
pub fn name_table_release(bytes: usize) {
    NAME_TABLE_BYTES.fetch_sub(bytes, Ordering::AcqRel);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charges_are_bounded_per_task_and_given_back() {
        let task = Arc::new(AtomicUsize::new(0));
        let big = KmsgCharge::new(IPC_KMSG_TASK_MAX - KMSG_OVERHEAD, &task).expect("fits exactly");
        assert!(KmsgCharge::new(1, &task).is_none(), "the task's budget is spent");
        let other = Arc::new(AtomicUsize::new(0));
        assert!(KmsgCharge::new(1, &other).is_some(), "another task still may send");
        drop(big);
        assert_eq!(task.load(Ordering::Acquire), 0);
        let mut small = KmsgCharge::new(0, &task).expect("small");
        assert!(small.grow(100) && !small.grow(IPC_KMSG_TASK_MAX));
        assert_eq!(task.load(Ordering::Acquire), KMSG_OVERHEAD + 100);
        drop(small);
        assert!(KmsgCharge::new(1, &task).is_some());
    }
}
