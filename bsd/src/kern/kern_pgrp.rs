//! Process groups and sessions (XNU's `pgrp` and `session`, `bsd/kern/kern_proc.c` and
//! `kern_prot.c`): which group and session every process is in, the `setpgid`, `setsid`,
//! `getpgid` and `getsid` rules, and orphaned process groups — a group is orphaned when no
//! member has a parent in another group of the same session, i.e. no shell left to resume
//! its stopped jobs. As XNU's `pg_jobc`, each group counts the members that have such a
//! parent, kept in step by every change, so "is it orphaned" is one lookup, not a walk over
//! the members and their parents on every exit. Modelled over pids: the table keeps, per process, its parent, group,
//! liveness and whether it has exec'd, so it is testable without real processes. The caller
//! holds the process-list lock around every call and keeps this table in step with fork,
//! exec, exit and reaping.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;

use sys::Errno;

use crate::kern::kern_pid::Pid;

/// Process groups that a change has just orphaned and that still have live members: if any
/// member is stopped, the caller sends every member SIGHUP then SIGCONT (POSIX), since
/// nobody is left to continue them.
pub type Orphaned = Vec<Pid>;

/// One process as job control sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct ProcEntry {
    ppid: Pid,
    pgid: Pid,
    /// False once it exited (a zombie still holds its group until reaped).
    alive: bool,
    /// It exec'd since fork (`P_EXEC`): its parent may no longer move it.
    exec: bool,
}

/// A process group.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Pgrp {
    /// The session id (the session leader's pid).
    session: Pid,
    members: BTreeSet<Pid>,
    /// Live members whose live parent is in another group of the same session (XNU's
    /// `pg_jobc`): while there is one, a shell can continue the group's stopped jobs.
    jobc: usize,
}

/// Every process's group and session.
#[derive(Clone, Debug, Default)]
pub struct PgrpTable {
    procs: BTreeMap<Pid, ProcEntry>,
    pgrps: BTreeMap<Pid, Pgrp>,
    /// Session id → number of groups in it; a session lives while it has groups.
    sessions: BTreeMap<Pid, usize>,
}

impl PgrpTable {
    /// No processes.
    pub fn new() -> PgrpTable {
        PgrpTable::default()
    }

    /// No processes, usable in a `static`.
    pub const fn new_const() -> PgrpTable {
        PgrpTable { procs: BTreeMap::new(), pgrps: BTreeMap::new(), sessions: BTreeMap::new() }
    }

    /// A process made by hand at boot (kernel task, init) leading a new session and group
    /// of its own id. EEXIST if `pid` is known or its id is taken as a group or session.
    pub fn insert_leader(&mut self, pid: Pid, ppid: Pid) -> Result<(), Errno> {
        if self.id_in_use(pid) {
            return Err(Errno::EEXIST);
        }
        self.procs.insert(pid, ProcEntry { ppid, pgid: pid, alive: true, exec: false });
        self.join(pid, pid, pid);
        self.count_as_child(pid, true);
        Ok(())
    }

    /// Fork: `child` joins `parent`'s group and session. ESRCH for an unknown or dead
    /// parent, EEXIST if `child` is already known.
    pub fn fork(&mut self, parent: Pid, child: Pid) -> Result<(), Errno> {
        let p = self.live(parent)?;
        if self.procs.contains_key(&child) {
            return Err(Errno::EEXIST);
        }
        let session = self.session_of_pgrp(p.pgid).ok_or(Errno::ESRCH)?;
        self.procs.insert(child, ProcEntry { ppid: parent, pgid: p.pgid, alive: true, exec: false });
        self.join(child, p.pgid, session);
        self.count_as_child(child, true);
        Ok(())
    }

    /// Exec: from now on the parent cannot `setpgid` this process (EACCES).
    pub fn mark_exec(&mut self, pid: Pid) {
        if let Some(e) = self.procs.get_mut(&pid) {
            e.exec = true;
        }
    }

    /// Has `pid` exec'd since it was made (`P_EXEC`)?
    pub fn has_exec(&self, pid: Pid) -> bool {
        self.procs.get(&pid).is_some_and(|e| e.exec)
    }

    /// Exit: `pid` stops counting for job control and its children (live or zombie) get
    /// `reaper` (init) as parent. Its group stays until it is reaped.
    pub fn exit(&mut self, pid: Pid, reaper: Pid) -> Orphaned {
        let children = self.children(pid);
        let watch = self.watch(pid, &children);
        self.count_as_child(pid, false);
        self.count_as_parent(&children, false);
        if let Some(e) = self.procs.get_mut(&pid) {
            e.alive = false;
        }
        for &c in &children {
            if let Some(e) = self.procs.get_mut(&c) {
                e.ppid = reaper;
            }
            self.count_as_child(c, true);
        }
        // Zombie children follow too (they no longer count for job control).
        for e in self.procs.values_mut() {
            if e.ppid == pid {
                e.ppid = reaper;
            }
        }
        self.newly_orphaned(watch)
    }

    /// Reaped: forget `pid`; its group and session go when they have nobody left.
    pub fn reap(&mut self, pid: Pid) {
        if let Some(e) = self.procs.remove(&pid) {
            self.leave(pid, e.pgid);
        }
    }

    /// `setpgid(pid, pgid)` called by `caller` (0 for either means the caller / the target).
    ///
    /// XNU's order of checks: ESRCH unless the target is the caller or one of its
    /// descendants; EPERM if it is in another session; EACCES if it exec'd; EPERM if it
    /// leads its session; EINVAL for a negative pgid; EPERM if `pgid` is not the target's
    /// own id and names no group of the caller's session.
    pub fn setpgid(&mut self, caller: Pid, pid: Pid, pgid: Pid) -> Result<Orphaned, Errno> {
        let me = self.live(caller)?;
        let my_session = self.session_of_pgrp(me.pgid).ok_or(Errno::ESRCH)?;
        let target = if pid == 0 || pid == caller { caller } else { pid };
        let t = self.live(target)?;
        let t_session = self.session_of_pgrp(t.pgid).ok_or(Errno::ESRCH)?;
        if target != caller {
            if !self.is_descendant(target, caller) {
                return Err(Errno::ESRCH);
            }
            if t_session != my_session {
                return Err(Errno::EPERM);
            }
            if t.exec {
                return Err(Errno::EACCES);
            }
        }
        if target == t_session {
            return Err(Errno::EPERM);
        }
        if pgid < 0 {
            return Err(Errno::EINVAL);
        }
        let pgid = if pgid == 0 { target } else { pgid };
        if pgid != target && self.session_of_pgrp(pgid) != Some(my_session) {
            return Err(Errno::EPERM);
        }
        if pgid == t.pgid {
            return Ok(Orphaned::new());
        }
        let children = self.children(target);
        let watch = self.watch(target, &children);
        self.move_to(target, pgid, t_session, &children);
        Ok(self.newly_orphaned(watch))
    }

    /// `setsid()`: `caller` leads a new session and a new group, both of its own id. EPERM
    /// if it already leads a group, or a group of its id still exists.
    pub fn setsid(&mut self, caller: Pid) -> Result<Orphaned, Errno> {
        let me = self.live(caller)?;
        if me.pgid == caller || self.pgrps.contains_key(&caller) {
            return Err(Errno::EPERM);
        }
        let children = self.children(caller);
        let watch = self.watch(caller, &children);
        self.move_to(caller, caller, caller, &children);
        Ok(self.newly_orphaned(watch))
    }

    /// `getpgid(pid)` (0 = the caller). ESRCH for no such live process.
    pub fn getpgid(&self, caller: Pid, pid: Pid) -> Result<Pid, Errno> {
        Ok(self.live(if pid == 0 { caller } else { pid })?.pgid)
    }

    /// `getsid(pid)` (0 = the caller). ESRCH for no such live process.
    pub fn getsid(&self, caller: Pid, pid: Pid) -> Result<Pid, Errno> {
        let e = self.live(if pid == 0 { caller } else { pid })?;
        self.session_of_pgrp(e.pgid).ok_or(Errno::ESRCH)
    }

    /// The live members of group `pgid` (`kill(-pgid)`, terminal signals).
    pub fn members(&self, pgid: Pid) -> impl Iterator<Item = Pid> + '_ {
        let members = self.pgrps.get(&pgid).map(|g| &g.members);
        members.into_iter().flatten().copied().filter(|m| self.procs.get(m).is_some_and(|e| e.alive))
    }

    /// Is group `pgid` orphaned: no live member has a live parent in another group of the
    /// same session? (Also true for a group that does not exist.)
    pub fn is_orphaned(&self, pgid: Pid) -> bool {
        self.pgrps.get(&pgid).is_none_or(|g| g.jobc == 0)
    }

    /// Is `id` taken as a process (live or zombie), group or session id? The pid allocator
    /// must skip such ids.
    pub fn id_in_use(&self, id: Pid) -> bool {
        self.procs.contains_key(&id) || self.pgrps.contains_key(&id) || self.sessions.contains_key(&id)
    }

    fn live(&self, pid: Pid) -> Result<ProcEntry, Errno> {
        self.procs.get(&pid).copied().filter(|e| e.alive).ok_or(Errno::ESRCH)
    }

    fn session_of_pgrp(&self, pgid: Pid) -> Option<Pid> {
        self.pgrps.get(&pgid).map(|g| g.session)
    }

    /// Is `pid` below `ancestor` in the process tree (XNU's `inferior`)? The walk is
    /// bounded by the table size, so a corrupt parent chain cannot loop.
    fn is_descendant(&self, pid: Pid, ancestor: Pid) -> bool {
        let mut cur = pid;
        for _ in 0..=self.procs.len() {
            if cur == ancestor {
                return true;
            }
            match self.procs.get(&cur) {
                Some(e) if e.ppid != cur => cur = e.ppid,
                _ => return false,
            }
        }
        false
    }

    fn join(&mut self, pid: Pid, pgid: Pid, session: Pid) {
        let group = self.pgrps.entry(pgid).or_insert_with(|| {
            *self.sessions.entry(session).or_insert(0) += 1;
            Pgrp { session, members: BTreeSet::new(), jobc: 0 }
        });
        group.members.insert(pid);
    }

    fn leave(&mut self, pid: Pid, pgid: Pid) {
        let Some(group) = self.pgrps.get_mut(&pgid) else { return };
        group.members.remove(&pid);
        if !group.members.is_empty() {
            return;
        }
        let session = group.session;
        self.pgrps.remove(&pgid);
        if let Some(n) = self.sessions.get_mut(&session) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.sessions.remove(&session);
            }
        }
    }

    /// Moves live `pid` (whose live children are `children`) to group `pgid` of `session`.
    /// Only the links through `pid` — to its parent and to its children — can change
    /// qualification, so only those are taken out of the counts and put back.
    fn move_to(&mut self, pid: Pid, pgid: Pid, session: Pid, children: &[Pid]) {
        let Some(old) = self.procs.get(&pid).map(|e| e.pgid) else { return };
        self.count_as_child(pid, false);
        self.count_as_parent(children, false);
        self.join(pid, pgid, session);
        if let Some(e) = self.procs.get_mut(&pid) {
            e.pgid = pgid;
        }
        self.leave(pid, old);
        self.count_as_child(pid, true);
        self.count_as_parent(children, true);
    }

    /// Live `child`'s link to its parent counts for its group's `jobc` if the parent is alive
    /// and in another group of the same session.
    fn qualifies(&self, child: Pid) -> Option<Pid> {
        let c = self.procs.get(&child).filter(|e| e.alive)?;
        let parent = self.procs.get(&c.ppid).filter(|p| p.alive && p.pgid != c.pgid)?;
        (self.session_of_pgrp(parent.pgid)? == self.session_of_pgrp(c.pgid)?).then_some(c.pgid)
    }

    /// Adds (`add`) or takes away `child`'s link to its parent in its group's count.
    fn count_as_child(&mut self, child: Pid, add: bool) {
        let Some(pgid) = self.qualifies(child) else { return };
        if let Some(g) = self.pgrps.get_mut(&pgid) {
            g.jobc = if add { g.jobc + 1 } else { g.jobc.saturating_sub(1) };
        }
    }

    /// The same for the links of `children` (a process's live children) to their parent.
    fn count_as_parent(&mut self, children: &[Pid], add: bool) {
        for &c in children {
            self.count_as_child(c, add);
        }
    }

    /// The live children of `pid`.
    fn children(&self, pid: Pid) -> Vec<Pid> {
        self.procs
            .iter()
            .filter(|(_, e)| e.ppid == pid && e.alive)
            .map(|(&c, _)| c)
            .filter(|&c| c != pid)
            .collect()
    }

    /// The groups whose orphan status a change to `pid` can flip — its own and its
    /// children's — with that status now.
    fn watch(&self, pid: Pid, children: &[Pid]) -> Vec<(Pid, bool)> {
        let mut groups: Vec<Pid> = self.procs.get(&pid).map(|e| e.pgid).into_iter().collect();
        groups.extend(children.iter().filter_map(|c| self.procs.get(c)).map(|e| e.pgid));
        groups.sort_unstable();
        groups.dedup();
        groups.into_iter().map(|g| (g, self.is_orphaned(g))).collect()
    }

    fn newly_orphaned(&self, watch: Vec<(Pid, bool)>) -> Orphaned {
        watch
            .into_iter()
            .filter(|&(g, was)| !was && self.is_orphaned(g) && self.members(g).next().is_some())
            .map(|(g, _)| g)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// init (1) in its own session; a login shell 10 that called setsid; the shell's jobs.
    fn login() -> PgrpTable {
        let mut t = PgrpTable::new();
        t.insert_leader(1, 0).unwrap();
        t.fork(1, 10).unwrap();
        t.setsid(10).unwrap();
        t
    }

    #[test]
    fn fork_inherits_group_and_session() {
        let mut t = login();
        t.fork(10, 11).unwrap();
        assert_eq!(t.getpgid(11, 0), Ok(10));
        assert_eq!(t.getsid(11, 0), Ok(10));
        assert_eq!(t.getsid(10, 11), Ok(10));
        assert_eq!(t.getpgid(10, 999), Err(Errno::ESRCH));
        assert_eq!(t.fork(999, 12), Err(Errno::ESRCH));
        assert_eq!(t.fork(10, 11), Err(Errno::EEXIST));
        assert_eq!(t.insert_leader(10, 1), Err(Errno::EEXIST));
    }

    #[test]
    fn setsid_rules() {
        let mut t = login();
        assert_eq!(t.setsid(10), Err(Errno::EPERM), "already a group leader");
        t.fork(10, 11).unwrap();
        assert_eq!(t.setsid(11), Ok(Orphaned::new()));
        assert_eq!((t.getpgid(0, 11), t.getsid(0, 11)), (Ok(11), Ok(11)));
        // A process whose id is still some group's id cannot create a session either.
        t.fork(10, 20).unwrap();
        t.setpgid(20, 0, 0).unwrap();
        t.fork(20, 21).unwrap();
        t.setpgid(20, 0, 10).unwrap();
        assert_eq!(t.members(20).collect::<Vec<_>>(), [21]);
        assert_eq!(t.setsid(20), Err(Errno::EPERM));
        assert_eq!(t.setsid(999), Err(Errno::ESRCH));
    }

    #[test]
    fn setpgid_makes_and_joins_jobs() {
        let mut t = login();
        t.fork(10, 11).unwrap();
        t.fork(10, 12).unwrap();
        // The shell puts child 11 in a new group, then child 12 in the same group.
        assert_eq!(t.setpgid(10, 11, 11), Ok(Orphaned::new()));
        assert_eq!(t.setpgid(10, 12, 11), Ok(Orphaned::new()));
        assert_eq!(t.members(11).collect::<Vec<_>>(), [11, 12]);
        // The child doing it itself races harmlessly with the shell.
        assert_eq!(t.setpgid(12, 0, 11), Ok(Orphaned::new()));
        assert_eq!(t.setpgid(12, 0, 0), Ok(Orphaned::new()));
        assert_eq!(t.getpgid(0, 12), Ok(12));
        assert!(!t.is_orphaned(11) && !t.is_orphaned(12), "the shell is their parent in the session");
    }

    #[test]
    fn setpgid_errors_in_xnu_order() {
        let mut t = login();
        t.fork(10, 11).unwrap();
        t.fork(11, 12).unwrap();
        t.fork(1, 50).unwrap();
        assert_eq!(t.setpgid(10, 50, 0), Err(Errno::ESRCH), "not a descendant");
        assert_eq!(t.setpgid(10, 999, 0), Err(Errno::ESRCH));
        assert_eq!(t.setpgid(10, 12, 12), Ok(Orphaned::new()), "grandchildren count (XNU's inferior)");
        t.setsid(11).unwrap();
        assert_eq!(t.setpgid(10, 11, 0), Err(Errno::EPERM), "another session");
        t.fork(10, 13).unwrap();
        t.mark_exec(13);
        assert_eq!(t.setpgid(10, 13, 0), Err(Errno::EACCES));
        assert_eq!(t.setpgid(13, 0, 0), Ok(Orphaned::new()), "a process may still move itself");
        assert_eq!(t.setpgid(10, 0, 0), Err(Errno::EPERM), "session leader");
        t.fork(10, 14).unwrap();
        assert_eq!(t.setpgid(10, 14, -1), Err(Errno::EINVAL));
        assert_eq!(t.setpgid(10, 14, 777), Err(Errno::EPERM), "no such group");
        assert_eq!(t.setpgid(10, 14, 11), Err(Errno::EPERM), "group of another session");
        assert_eq!(t.setpgid(10, 14, 13), Ok(Orphaned::new()));
    }

    #[test]
    fn groups_and_sessions_die_with_their_last_member() {
        let mut t = login();
        t.fork(10, 11).unwrap();
        t.setpgid(10, 11, 0).unwrap();
        assert!(t.id_in_use(11));
        t.exit(11, 1);
        assert!(t.id_in_use(11), "a zombie keeps its pid and group");
        assert_eq!(t.members(11).count(), 0);
        assert_eq!(t.getpgid(0, 11), Err(Errno::ESRCH));
        t.reap(11);
        assert!(!t.id_in_use(11));
        // The session outlives its leader while a group remains in it.
        t.fork(10, 12).unwrap();
        t.exit(10, 1);
        t.reap(10);
        assert!(t.id_in_use(10), "session 10 and group 10 still hold 12");
        assert_eq!(t.getsid(0, 12), Ok(10));
        t.exit(12, 1);
        t.reap(12);
        assert!(!t.id_in_use(10) && !t.id_in_use(12));
    }

    #[test]
    fn shell_exit_orphans_its_jobs() {
        let mut t = login();
        t.fork(10, 11).unwrap();
        t.setpgid(10, 11, 0).unwrap();
        t.fork(11, 12).unwrap();
        assert!(!t.is_orphaned(11));
        // The login shell's own group: 10's parent init is in another session, so it
        // already counts as orphaned (nobody could continue the shell).
        assert!(t.is_orphaned(10));
        let orphaned = t.exit(10, 1);
        assert_eq!(orphaned, [11]);
        assert!(t.is_orphaned(11));
        assert_eq!(t.getsid(0, 11), Ok(10));
    }

    #[test]
    fn moving_the_linking_parent_keeps_the_group_until_it_exits() {
        let mut t = login();
        t.fork(10, 11).unwrap();
        t.setpgid(10, 11, 0).unwrap();
        t.fork(11, 12).unwrap();
        // Moving 11 into the shell's group keeps group 11 linked: 12's parent 11 is now in
        // another group of the same session.
        t.fork(11, 13).unwrap();
        t.setpgid(11, 13, 11).unwrap();
        assert_eq!(t.setpgid(11, 0, 10), Ok(Orphaned::new()));
        assert_eq!(t.members(11).collect::<Vec<_>>(), [12, 13]);
        assert!(!t.is_orphaned(11));
        // 11 exits: 12 and 13 go to init, outside the session; their only parents inside
        // group 11 would not count anyway.
        assert_eq!(t.exit(11, 1), [11]);
        assert!(t.is_orphaned(11));
    }

    #[test]
    fn setsid_can_orphan_a_child_group() {
        let mut t = login();
        t.fork(10, 11).unwrap();
        t.fork(11, 12).unwrap();
        t.setpgid(11, 12, 0).unwrap();
        assert!(!t.is_orphaned(12), "12's parent 11 is in group 10 of the same session");
        // 11 starts a session of its own: group 12 has no parent left in session 10.
        assert_eq!(t.setsid(11), Ok([12].into()));
        assert!(t.is_orphaned(12));
    }

    #[test]
    fn kernel_and_init_roots() {
        let mut t = PgrpTable::new();
        t.insert_leader(0, 0).unwrap();
        t.fork(0, 1).unwrap();
        assert_eq!(t.getpgid(0, 1), Ok(0));
        assert_eq!(t.setsid(1), Ok(Orphaned::new()));
        assert_eq!(t.getsid(0, 1), Ok(1));
        assert!(t.is_orphaned(1));
        assert!(t.is_orphaned(12345), "no such group");
    }

    /// The definition, walked out: no live member has a live parent in another group of the
    /// same session.
    fn orphaned_by_definition(t: &PgrpTable, pgid: Pid) -> bool {
        let Some(session) = t.session_of_pgrp(pgid) else { return true };
        !t.members(pgid).any(|m| {
            let Some(parent) = t.procs.get(&m).and_then(|e| t.procs.get(&e.ppid)) else { return false };
            parent.alive && parent.pgid != pgid && t.session_of_pgrp(parent.pgid) == Some(session)
        })
    }

    #[test]
    fn job_counts_agree_with_the_definition_under_random_changes() {
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        let mut next = move |n: usize| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            (rng % n.max(1) as u64) as usize
        };
        let mut t = login();
        let mut next_pid = 11;
        for step in 0..20_000 {
            let live: Vec<Pid> = t.procs.iter().filter(|(_, e)| e.alive).map(|(&p, _)| p).collect();
            let zombies: Vec<Pid> = t.procs.iter().filter(|(_, e)| !e.alive).map(|(&p, _)| p).collect();
            let pick = |v: &[Pid], k: usize| v.get(k % v.len().max(1)).copied().unwrap_or(1);
            match next(6) {
                0 | 1 if live.len() < 40 => {
                    t.fork(pick(&live, next(64)), next_pid).unwrap();
                    next_pid += 1;
                }
                2 => {
                    let p = pick(&live, next(64));
                    if p != 1 {
                        t.exit(p, 1);
                    }
                }
                3 => {
                    if let Some(&z) = zombies.get(next(64) % zombies.len().max(1)) {
                        t.reap(z);
                    }
                }
                4 => {
                    // As a shell does: the parent (or the process itself) moves it into a new
                    // group of its own, or into the group of another process.
                    let target = pick(&live, next(64));
                    let caller = if next(2) == 0 { target } else { t.procs[&target].ppid };
                    let pgid = if next(2) == 0 { 0 } else { t.procs[&pick(&live, next(64))].pgid };
                    let _ = t.setpgid(caller, target, pgid);
                }
                _ => {
                    let _ = t.setsid(pick(&live, next(64)));
                }
            }
            for &g in t.pgrps.keys() {
                assert_eq!(t.is_orphaned(g), orphaned_by_definition(&t, g), "group {g} after step {step}");
            }
        }
    }
}
