//! Group membership of a credential (XNU's `kern_credential.c`, `cr_groups`): the effective
//! group and up to [`NGROUPS_MAX`] − 1 supplementary groups, what `getgroups` reports and
//! `setgroups` replaces, and what file permissions consult for the group bits.
//!
//! XNU keeps the effective gid as `cr_groups[0]`; so does [`CredGroups::list`]: a process's
//! group list always starts with its effective group, and `setgroups` sets the effective
//! group from the list's first element.

use sys::Errno;
use sys::param::NGROUPS_MAX;

/// The supplementary groups of a credential (the list after its first, effective, group).
/// A fixed array: a credential is copied into every lookup's context, and must not allocate.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CredGroups {
    extra: [u32; NGROUPS_MAX - 1],
    n_extra: u8,
}

impl CredGroups {
    /// No supplementary groups.
    pub const NONE: CredGroups = CredGroups { extra: [0; NGROUPS_MAX - 1], n_extra: 0 };

    /// The supplementary groups of a list given to `setgroups`: all but its first entry,
    /// which becomes the effective gid. More than [`NGROUPS_MAX`] entries: `EINVAL`.
    pub fn from_list(list: &[u32]) -> Result<(Option<u32>, CredGroups), Errno> {
        if list.len() > NGROUPS_MAX {
            return Err(Errno::EINVAL);
        }
        let mut groups = CredGroups::NONE;
        let rest = list.get(1..).unwrap_or(&[]);
        groups.extra[..rest.len()].copy_from_slice(rest);
        groups.n_extra = rest.len() as u8;
        Ok((list.first().copied(), groups))
    }

    /// The supplementary groups.
    pub fn extra(&self) -> &[u32] {
        &self.extra[..usize::from(self.n_extra)]
    }

    /// The whole list as `getgroups` reports it: `egid` first, then the supplementary groups.
    pub fn list(&self, egid: u32) -> ([u32; NGROUPS_MAX], usize) {
        let mut out = [0; NGROUPS_MAX];
        out[0] = egid;
        out[1..=self.extra().len()].copy_from_slice(self.extra());
        (out, 1 + self.extra().len())
    }

    /// Is `gid` the effective group `egid` or one of these?
    pub fn member(&self, egid: u32, gid: u32) -> bool {
        gid == egid || self.extra().contains(&gid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_entry_is_the_effective_group() {
        let (egid, g) = CredGroups::from_list(&[20, 12, 61]).unwrap();
        assert_eq!(egid, Some(20));
        assert_eq!(g.extra(), &[12, 61]);
        let (list, n) = g.list(20);
        assert_eq!(&list[..n], &[20, 12, 61]);
        assert!(g.member(20, 61) && g.member(20, 20) && !g.member(20, 0));
    }

    #[test]
    fn at_most_ngroups_max() {
        let full = [7u32; NGROUPS_MAX];
        let (_, g) = CredGroups::from_list(&full).unwrap();
        assert_eq!(g.list(7).1, NGROUPS_MAX);
        assert_eq!(CredGroups::from_list(&[7u32; NGROUPS_MAX + 1]), Err(Errno::EINVAL));
        let (egid, g) = CredGroups::from_list(&[]).unwrap();
        assert_eq!((egid, g.extra().len()), (None, 0));
    }
}
