//! Virtual-memory ABI: protections, inheritance, allocation flags and region flavors (XNU
//! `osfmk/mach/vm_prot.h`, `vm_inherit.h`, `vm_statistics.h`, `vm_region.h`; reference §3,
//! §7.5, §9.5). The kernel's `vm_user` layer validates user arguments against these.

/// `vm_prot_t`: a set of access rights (read, write, execute).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, PartialOrd, Ord, Hash)]
#[repr(transparent)]
pub struct VmProt(pub i32);

impl VmProt {
    /// No access at all (a guard region).
    pub const NONE: VmProt = VmProt(0);
    /// `VM_PROT_READ`.
    pub const READ: VmProt = VmProt(0x1);
    /// `VM_PROT_WRITE`.
    pub const WRITE: VmProt = VmProt(0x2);
    /// `VM_PROT_EXECUTE`.
    pub const EXECUTE: VmProt = VmProt(0x4);
    /// `VM_PROT_DEFAULT`: what a fresh allocation gets (read + write).
    pub const DEFAULT: VmProt = VmProt(0x3);
    /// `VM_PROT_ALL`: the default maximum protection.
    pub const ALL: VmProt = VmProt(0x7);

    /// Every right in `other` is also in `self`.
    pub const fn contains(self, other: VmProt) -> bool {
        self.0 & other.0 == other.0
    }

    /// Rights in either.
    pub const fn union(self, other: VmProt) -> VmProt {
        VmProt(self.0 | other.0)
    }

    /// Rights in both.
    pub const fn intersection(self, other: VmProt) -> VmProt {
        VmProt(self.0 & other.0)
    }

    /// `self` without the rights in `other`.
    pub const fn without(self, other: VmProt) -> VmProt {
        VmProt(self.0 & !other.0)
    }

    /// No right at all.
    pub const fn is_none(self) -> bool {
        self.0 == 0
    }

    /// Only read/write/execute bits are set.
    pub const fn is_valid(self) -> bool {
        self.0 & !VmProt::ALL.0 == 0
    }
}

/// `VM_PROT_NO_CHANGE`: modifier bit some calls accept; never a right.
pub const VM_PROT_NO_CHANGE: i32 = 0x08;
/// `VM_PROT_COPY` (= `VM_PROT_WANTS_COPY`): "make a private copy" modifier for `vm_protect`.
pub const VM_PROT_COPY: i32 = 0x10;

/// `vm_inherit_t`: what a forked child gets of a region.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
#[repr(transparent)]
pub struct VmInherit(pub u32);

impl VmInherit {
    /// `VM_INHERIT_SHARE`: parent and child share the memory.
    pub const SHARE: VmInherit = VmInherit(0);
    /// `VM_INHERIT_COPY`: the child gets a (copy-on-write) copy.
    pub const COPY: VmInherit = VmInherit(1);
    /// `VM_INHERIT_NONE`: the region is absent (a hole) in the child.
    pub const NONE: VmInherit = VmInherit(2);
    /// `VM_INHERIT_DONATE_COPY`: historical, rejected by `vm_inherit`.
    pub const DONATE_COPY: VmInherit = VmInherit(3);
    /// `VM_INHERIT_DEFAULT`.
    pub const DEFAULT: VmInherit = VmInherit::COPY;
    /// `VM_INHERIT_LAST_VALID`: the largest value `vm_inherit` accepts.
    pub const LAST_VALID: VmInherit = VmInherit::NONE;
}

/// `VM_FLAGS_FIXED`: place at the given address (the absence of `VM_FLAGS_ANYWHERE`).
pub const VM_FLAGS_FIXED: u32 = 0x0000_0000;
/// `VM_FLAGS_ANYWHERE`: the kernel chooses the address.
pub const VM_FLAGS_ANYWHERE: u32 = 0x0000_0001;
/// `VM_FLAGS_PURGABLE`: a purgeable object (accepted, not acted on).
pub const VM_FLAGS_PURGABLE: u32 = 0x0000_0002;
/// `VM_FLAGS_4GB_CHUNK`.
pub const VM_FLAGS_4GB_CHUNK: u32 = 0x0000_0004;
/// `VM_FLAGS_RANDOM_ADDR`.
pub const VM_FLAGS_RANDOM_ADDR: u32 = 0x0000_0008;
/// `VM_FLAGS_NO_CACHE`.
pub const VM_FLAGS_NO_CACHE: u32 = 0x0000_0010;
/// `VM_FLAGS_RESILIENT_CODESIGN`.
pub const VM_FLAGS_RESILIENT_CODESIGN: u32 = 0x0000_0020;
/// `VM_FLAGS_RESILIENT_MEDIA`.
pub const VM_FLAGS_RESILIENT_MEDIA: u32 = 0x0000_0040;
/// `VM_FLAGS_PERMANENT`.
pub const VM_FLAGS_PERMANENT: u32 = 0x0000_0080;
/// `VM_FLAGS_TPRO`.
pub const VM_FLAGS_TPRO: u32 = 0x0000_1000;
/// `VM_FLAGS_OVERWRITE`: with FIXED, replace whatever is mapped there.
pub const VM_FLAGS_OVERWRITE: u32 = 0x0000_4000;
/// `VM_FLAGS_SUPERPAGE_MASK`: requested large-page size (0 = none).
pub const VM_FLAGS_SUPERPAGE_MASK: u32 = 0x0007_0000;
/// `VM_FLAGS_RETURN_DATA_ADDR`: return the data's address, not the page base.
pub const VM_FLAGS_RETURN_DATA_ADDR: u32 = 0x0010_0000;
/// `VM_FLAGS_RETURN_4K_DATA_ADDR`.
pub const VM_FLAGS_RETURN_4K_DATA_ADDR: u32 = 0x0080_0000;
/// `VM_FLAGS_ALIAS_MASK`: the `VM_MEMORY_*` tag in the top byte.
pub const VM_FLAGS_ALIAS_MASK: u32 = 0xFF00_0000;
/// `VM_FLAGS_HW`: hardware-feature flags.
pub const VM_FLAGS_HW: u32 = VM_FLAGS_TPRO;

/// `VM_FLAGS_USER_ALLOCATE`: every flag `mach_vm_allocate` accepts from user space.
pub const VM_FLAGS_USER_ALLOCATE: u32 = VM_FLAGS_FIXED
    | VM_FLAGS_ANYWHERE
    | VM_FLAGS_PURGABLE
    | VM_FLAGS_4GB_CHUNK
    | VM_FLAGS_RANDOM_ADDR
    | VM_FLAGS_NO_CACHE
    | VM_FLAGS_PERMANENT
    | VM_FLAGS_OVERWRITE
    | VM_FLAGS_SUPERPAGE_MASK
    | VM_FLAGS_HW
    | VM_FLAGS_ALIAS_MASK;

/// `VM_FLAGS_USER_MAP`: every flag `mach_vm_map` accepts from user space.
pub const VM_FLAGS_USER_MAP: u32 =
    VM_FLAGS_USER_ALLOCATE | VM_FLAGS_RETURN_4K_DATA_ADDR | VM_FLAGS_RETURN_DATA_ADDR;

/// `vm_behavior_t` `VM_BEHAVIOR_DEFAULT`.
pub const VM_BEHAVIOR_DEFAULT: i32 = 0;

/// `vm_region_flavor_t` `VM_REGION_BASIC_INFO_64`.
pub const VM_REGION_BASIC_INFO_64: i32 = 9;
/// `VM_REGION_BASIC_INFO`: on LP64 the same layout as `VM_REGION_BASIC_INFO_64`.
pub const VM_REGION_BASIC_INFO: i32 = 10;
/// `VM_REGION_TOP_INFO`.
pub const VM_REGION_TOP_INFO: i32 = 12;
/// `VM_REGION_EXTENDED_INFO`.
pub const VM_REGION_EXTENDED_INFO: i32 = 13;
/// `VM_REGION_BASIC_INFO_COUNT_64`: `vm_region_basic_info_64` in `natural_t` units
/// (36 bytes under `#pragma pack(4)`).
pub const VM_REGION_BASIC_INFO_COUNT_64: u32 = 9;

/// `struct vm_region_basic_info_64`, as `mach_vm_region` returns it. The user layout is
/// 4-byte packed: protection 0, max_protection 4, inheritance 8, shared 12, reserved 16,
/// offset 20 (u64), behavior 28, user_wired_count 32 (u16), 2 bytes of tail padding.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct VmRegionBasicInfo64 {
    pub protection: VmProt,
    pub max_protection: VmProt,
    pub inheritance: VmInherit,
    /// The memory is shared with another task (`VM_INHERIT_SHARE` across fork).
    pub shared: bool,
    pub reserved: bool,
    /// Offset into the backing object.
    pub offset: u64,
    pub behavior: i32,
    pub user_wired_count: u16,
}

impl VmRegionBasicInfo64 {
    /// The 36 bytes user space receives (little-endian, 4-byte packed).
    pub fn to_bytes(&self) -> [u8; 36] {
        let mut out = [0u8; 36];
        let words: [(usize, &[u8]); 8] = [
            (0, &self.protection.0.to_le_bytes()),
            (4, &self.max_protection.0.to_le_bytes()),
            (8, &self.inheritance.0.to_le_bytes()),
            (12, &u32::from(self.shared).to_le_bytes()),
            (16, &u32::from(self.reserved).to_le_bytes()),
            (20, &self.offset.to_le_bytes()),
            (28, &self.behavior.to_le_bytes()),
            (32, &self.user_wired_count.to_le_bytes()),
        ];
        for (at, bytes) in words {
            out[at..at + bytes.len()].copy_from_slice(bytes);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prot_algebra() {
        assert!(VmProt::ALL.contains(VmProt::DEFAULT));
        assert!(!VmProt::READ.contains(VmProt::WRITE));
        assert_eq!(VmProt::DEFAULT.without(VmProt::WRITE), VmProt::READ);
        assert!(!VmProt(0x8).is_valid());
        assert_eq!(VM_FLAGS_USER_ALLOCATE, 0xFF07_509F);
    }

    #[test]
    fn basic_info_layout() {
        let info = VmRegionBasicInfo64 {
            protection: VmProt::DEFAULT,
            max_protection: VmProt::ALL,
            inheritance: VmInherit::COPY,
            shared: true,
            reserved: false,
            offset: 0x1122_3344_5566_7788,
            behavior: VM_BEHAVIOR_DEFAULT,
            user_wired_count: 0,
        };
        let b = info.to_bytes();
        assert_eq!(b.len() as u32, VM_REGION_BASIC_INFO_COUNT_64 * 4);
        assert_eq!(&b[0..4], &3i32.to_le_bytes());
        assert_eq!(&b[12..16], &1u32.to_le_bytes());
        assert_eq!(&b[20..28], &0x1122_3344_5566_7788u64.to_le_bytes());
    }
}
