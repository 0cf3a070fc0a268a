//! MIG conventions (reference §7): the NDR record every request and reply carries, the error
//! codes of the generated code, and the reply-id rule.

use crate::KernReturn;

/// The NDR record (8 bytes): little-endian integers, ASCII, IEEE floats.
pub const NDR_RECORD: [u8; 8] = [0, 0, 0, 0, 1, 0, 0, 0];
/// Size of an NDR record.
pub const NDR_SIZE: u32 = 8;
/// Every reply's id is the request's plus this.
pub const MIG_REPLY_ID_OFFSET: i32 = 100;
/// `mig_reply_error_t`: header, NDR, RetCode.
pub const MIG_REPLY_ERROR_SIZE: u32 = 36;

pub const MIG_TYPE_ERROR: KernReturn = KernReturn(-300);
pub const MIG_REPLY_MISMATCH: KernReturn = KernReturn(-301);
pub const MIG_REMOTE_ERROR: KernReturn = KernReturn(-302);
pub const MIG_BAD_ID: KernReturn = KernReturn(-303);
pub const MIG_BAD_ARGUMENTS: KernReturn = KernReturn(-304);
pub const MIG_NO_REPLY: KernReturn = KernReturn(-305);
pub const MIG_ARRAY_TOO_LARGE: KernReturn = KernReturn(-307);
/// A client's reply right came back as a send-once notification: the server is gone.
pub const MIG_SERVER_DIED: KernReturn = KernReturn(-308);

use crate::message::{
    MACH_MSG_OOL_DESCRIPTOR, MACH_MSG_OOL_DESCRIPTOR_SIZE, MACH_MSG_OOL_PORTS_DESCRIPTOR,
    MACH_MSG_PHYSICAL_COPY, MACH_MSG_PORT_DESCRIPTOR, MACH_MSG_PORT_DESCRIPTOR_SIZE, MACH_MSG_VIRTUAL_COPY,
    MachMsgTypeName, desc_word, ool_descriptor, ool_ports_descriptor, port_descriptor,
};

/// One argument of a MIG routine, in the order MIG lays it out (reference §7: descriptors
/// first, then the NDR record, then the in-line data in declaration order).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    /// A port right in a port descriptor; the disposition used when the caller gives none.
    Port(MachMsgTypeName),
    /// A 32-bit integer (`int`, `natural_t`, flavors, counts).
    Int,
    /// A 64-bit integer (`mach_vm_address_t`, `mach_vm_size_t`).
    Long,
    /// An in-line array of 32-bit words with at most this many elements: a count word, then
    /// the words (the message is only as long as the count says).
    Array(u32),
    /// An in-line array of 64-bit integers (at most this many), as `mach_exception_data_t`:
    /// a count of elements, then the elements. Its value is an [`Arg::Array`] of twice as many
    /// words, low half first.
    LongArray(u32),
    /// A fixed-size in-line byte string (`c_string[n]`, e.g. `name_t`): always `n` bytes,
    /// NUL-padded. `n` is a multiple of 4.
    Str(u32),
    /// Out-of-line memory: a descriptor, and its byte count among the in-line data.
    Ool,
    /// An out-of-line array of 32-bit words (`integer_t` arrays: `processor_info_array_t`):
    /// a descriptor, and its element count among the in-line data. Its value is an
    /// [`Arg::Ool`] whose size is in bytes, as the descriptor's is.
    OolWords,
    /// An out-of-line array of port rights with this disposition: a descriptor, and its
    /// element count among the in-line data.
    OolPorts(MachMsgTypeName),
    /// An in-line array of port rights (`exception_handler_array_t`): always this many port
    /// descriptors with this disposition, the unused ones null.
    PortArray(u32, MachMsgTypeName),
    /// Several in-line word arrays sharing one count (MIG's `SameCount`): the count, then
    /// the first array's `count` words, then the next's (`.0` arrays, at most `.1` words
    /// each). Its value is an [`Arg::Array`] of the arrays one after the other.
    SameCountArrays(u32, u32),
}

/// Who answers a routine's requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Server {
    /// The kernel, on a port it receives on (`ipc_kobject`).
    Kernel,
    /// A user-space server (exception handlers, the bootstrap server); the kernel may send
    /// the request but never serves it.
    User,
}

/// A MIG routine: its id, who serves it, and the layout of its request and reply. Each
/// routine is declared once (`for_each_mig_routine!` in `defs`); the kernel's servers and the
/// user stubs both lay messages out from that declaration. The target object is the message's
/// destination, so it is not a field.
#[derive(Debug)]
pub struct Routine {
    pub id: i32,
    pub name: &'static str,
    pub server: Server,
    pub request: &'static [Field],
    pub reply: &'static [Field],
}

/// The most fields a routine has.
pub const MIG_MAX_FIELDS: usize = 12;

/// Words of an in-line array: borrowed from a message or from the caller.
#[derive(Clone, Copy, Debug)]
pub enum Words<'a> {
    /// Little-endian words inside a message.
    Bytes(&'a [u8]),
    /// The caller's words.
    Words(&'a [u32]),
}

impl Words<'_> {
    /// Number of words.
    pub fn len(&self) -> usize {
        match self {
            Words::Bytes(b) => b.len() / 4,
            Words::Words(w) => w.len(),
        }
    }

    /// Is the array empty?
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Word `i` (0 past the end).
    pub fn get(&self, i: usize) -> u32 {
        match self {
            Words::Bytes(b) => b.get(i * 4..i * 4 + 4).map_or(0, |c| desc_word(c, 0)),
            Words::Words(w) => w.get(i).copied().unwrap_or(0),
        }
    }
}

/// A value for one [`Field`].
#[derive(Clone, Copy, Debug)]
pub enum Arg<'a> {
    /// No value (unused slots of an argument array).
    None,
    /// A port name and the disposition it travels with (0 = the field's default).
    Port(u32, MachMsgTypeName),
    Int(u32),
    Long(u64),
    Array(Words<'a>),
    /// The bytes of a `Str` field (shorter values are NUL-padded; longer ones are refused).
    Bytes(&'a [u8]),
    /// Address, size in bytes, deallocate.
    Ool(u64, u32, bool),
    /// Address of the name array, element count, deallocate.
    OolPorts(u64, u32, bool),
    /// The names of a `PortArray` and their disposition (0: the field's); decoded replies
    /// give the descriptors' bytes as [`Arg::Bytes`] instead (the name of entry `i` is the
    /// word at byte `12 * i`).
    Ports(&'a [u32], MachMsgTypeName),
}

impl Arg<'_> {
    /// The integer value of an `Int` (0 otherwise).
    pub fn int(&self) -> u32 {
        if let Arg::Int(v) = self { *v } else { 0 }
    }

    /// The value of a `Long` (0 otherwise).
    pub fn long(&self) -> u64 {
        if let Arg::Long(v) = self { *v } else { 0 }
    }

    /// The name of a `Port` (0 otherwise).
    pub fn port(&self) -> u32 {
        if let Arg::Port(n, _) = self { *n } else { 0 }
    }
}

/// Does a message with these fields carry descriptors?
pub fn is_complex(fields: &[Field]) -> bool {
    fields.iter().any(|f| descriptor_count(f) != 0)
}

/// How many descriptors a field takes.
fn descriptor_count(f: &Field) -> usize {
    match f {
        Field::Port(_) | Field::Ool | Field::OolWords | Field::OolPorts(_) => 1,
        Field::PortArray(n, _) => *n as usize,
        _ => 0,
    }
}

/// MIG writes the NDR record only in front of in-line data: a RetCode, or any field that is
/// not a port (out-of-line fields have their count in line).
fn has_ndr(fields: &[Field], retcode: bool) -> bool {
    retcode || fields.iter().any(|f| !matches!(f, Field::Port(_) | Field::PortArray(..)))
}

/// The size of each of a field's descriptors.
fn descriptor_size(f: &Field) -> usize {
    match f {
        Field::Port(_) | Field::PortArray(..) => MACH_MSG_PORT_DESCRIPTOR_SIZE as usize,
        Field::Ool | Field::OolWords | Field::OolPorts(_) => MACH_MSG_OOL_DESCRIPTOR_SIZE as usize,
        _ => 0,
    }
}

/// Byte offsets, within the body (after the header), of each descriptor of a message with
/// these fields, in field order (a `PortArray` gives one per element).
pub fn descriptor_offsets(fields: &[Field]) -> impl Iterator<Item = usize> + '_ {
    fields.iter().flat_map(|f| core::iter::repeat_n(descriptor_size(f), descriptor_count(f))).scan(
        4usize,
        |at, size| {
            let here = *at;
            *at += size;
            Some(here)
        },
    )
}

/// Lay out the body (everything after the 24-byte header) of a message with `fields` and
/// values `args` into `out`; returns the body length. `reply_code` is `Some` for a reply,
/// which carries a RetCode after the NDR record if it is simple. As MIG does, the NDR record
/// is left out when nothing in line follows the descriptors (a request with no arguments is
/// a bare header). Errors: `MIG_ARRAY_TOO_LARGE`, or
/// `MIG_BAD_ARGUMENTS` for a value of the wrong kind or a buffer too small.
pub fn encode(
    fields: &[Field],
    args: &[Arg<'_>],
    reply_code: Option<KernReturn>,
    out: &mut [u8],
) -> Result<usize, KernReturn> {
    let mut at = 0usize;
    let mut put = |bytes: &[u8], at: &mut usize| -> Result<(), KernReturn> {
        let dst = out.get_mut(*at..*at + bytes.len()).ok_or(MIG_BAD_ARGUMENTS)?;
        dst.copy_from_slice(bytes);
        *at += bytes.len();
        Ok(())
    };
    let complex = is_complex(fields);
    if complex {
        let count = fields.iter().map(descriptor_count).sum::<usize>() as u32;
        put(&count.to_le_bytes(), &mut at)?;
        for (f, a) in fields.iter().zip(args) {
            match (f, a) {
                (Field::Port(default), Arg::Port(name, disp)) => {
                    let disp = if *disp == 0 { *default } else { *disp };
                    put(&port_descriptor(*name, disp), &mut at)?;
                }
                (Field::Ool | Field::OolWords, Arg::Ool(addr, size, dealloc)) => {
                    put(&ool_descriptor(*addr, *size, *dealloc, MACH_MSG_VIRTUAL_COPY), &mut at)?;
                }
                (Field::OolPorts(disp), Arg::OolPorts(addr, count, dealloc)) => {
                    put(&ool_ports_descriptor(*addr, *count, *dealloc, *disp), &mut at)?;
                }
                (Field::PortArray(n, default), Arg::Ports(names, disp)) => {
                    if names.len() > *n as usize {
                        return Err(MIG_ARRAY_TOO_LARGE);
                    }
                    let disp = if *disp == 0 { *default } else { *disp };
                    for i in 0..*n as usize {
                        put(&port_descriptor(names.get(i).copied().unwrap_or(0), disp), &mut at)?;
                    }
                }
                (
                    Field::Port(_) | Field::Ool | Field::OolWords | Field::OolPorts(_) | Field::PortArray(..),
                    _,
                ) => {
                    return Err(MIG_BAD_ARGUMENTS);
                }
                _ => {}
            }
        }
    }
    let code = reply_code.filter(|_| !complex);
    if has_ndr(fields, code.is_some()) {
        put(&NDR_RECORD, &mut at)?;
    }
    if let Some(code) = code {
        put(&code.0.to_le_bytes(), &mut at)?;
    }
    for (f, a) in fields.iter().zip(args) {
        match (f, a) {
            (Field::Int, Arg::Int(v)) => put(&v.to_le_bytes(), &mut at)?,
            (Field::Long, Arg::Long(v)) => put(&v.to_le_bytes(), &mut at)?,
            (Field::Array(max), Arg::Array(words)) => {
                let n = words.len();
                if n > *max as usize {
                    return Err(MIG_ARRAY_TOO_LARGE);
                }
                put(&(n as u32).to_le_bytes(), &mut at)?;
                for i in 0..n {
                    put(&words.get(i).to_le_bytes(), &mut at)?;
                }
            }
            (Field::LongArray(max), Arg::Array(words)) => {
                let n = words.len() / 2;
                if n > *max as usize || words.len() % 2 != 0 {
                    return Err(MIG_ARRAY_TOO_LARGE);
                }
                put(&(n as u32).to_le_bytes(), &mut at)?;
                for i in 0..2 * n {
                    put(&words.get(i).to_le_bytes(), &mut at)?;
                }
            }
            (Field::SameCountArrays(k, max), Arg::Array(words)) => {
                let k = (*k).max(1) as usize;
                let n = words.len() / k;
                if n > *max as usize || words.len() % k != 0 {
                    return Err(MIG_ARRAY_TOO_LARGE);
                }
                put(&(n as u32).to_le_bytes(), &mut at)?;
                for i in 0..words.len() {
                    put(&words.get(i).to_le_bytes(), &mut at)?;
                }
            }
            (Field::Str(n), Arg::Bytes(b)) => {
                let n = *n as usize;
                if b.len() > n {
                    return Err(MIG_ARRAY_TOO_LARGE);
                }
                put(b, &mut at)?;
                for _ in b.len()..n {
                    put(&[0], &mut at)?;
                }
            }
            (Field::Ool, Arg::Ool(_, size, _)) => put(&size.to_le_bytes(), &mut at)?,
            (Field::OolWords, Arg::Ool(_, size, _)) => {
                if size % 4 != 0 {
                    return Err(MIG_BAD_ARGUMENTS);
                }
                put(&(size / 4).to_le_bytes(), &mut at)?;
            }
            (Field::OolPorts(_), Arg::OolPorts(_, count, _)) => put(&count.to_le_bytes(), &mut at)?,
            (Field::Int | Field::Long | Field::Array(_) | Field::LongArray(_), _) => {
                return Err(MIG_BAD_ARGUMENTS);
            }
            _ => {}
        }
    }
    Ok(at)
}

/// Read the body of a message laid out by `fields` into `out` (one [`Arg`] per field). A
/// simple reply's RetCode is returned (`KERN_SUCCESS` for requests and complex replies, which
/// have none). Errors as MIG's generated code reports them: descriptors of the wrong number
/// or type → `MIG_TYPE_ERROR`; a body of the wrong size or an array over its bound →
/// `MIG_BAD_ARGUMENTS`.
pub fn decode<'a>(
    fields: &[Field],
    complex: bool,
    is_reply: bool,
    body: &'a [u8],
    out: &mut [Arg<'a>; MIG_MAX_FIELDS],
) -> Result<KernReturn, KernReturn> {
    let word = |at: usize| body.get(at..at + 4).map(|b| desc_word(b, 0)).ok_or(MIG_BAD_ARGUMENTS);
    if complex != is_complex(fields) {
        return Err(MIG_TYPE_ERROR);
    }
    let mut at = 0usize;
    if complex {
        let count = word(0)? as usize;
        if count != fields.iter().map(descriptor_count).sum::<usize>() {
            return Err(MIG_TYPE_ERROR);
        }
        at = 4;
        for (i, f) in fields.iter().enumerate() {
            if let Field::PortArray(n, _) = f {
                let len = *n as usize * MACH_MSG_PORT_DESCRIPTOR_SIZE as usize;
                let all = body.get(at..at + len).ok_or(MIG_BAD_ARGUMENTS)?;
                if all.chunks_exact(12).any(|d| u32::from(d[11]) != MACH_MSG_PORT_DESCRIPTOR) {
                    return Err(MIG_TYPE_ERROR);
                }
                if let Some(slot) = out.get_mut(i) {
                    *slot = Arg::Bytes(all);
                }
                at += len;
                continue;
            }
            let size = descriptor_size(f);
            if size == 0 {
                continue;
            }
            let d = body.get(at..at + size).ok_or(MIG_BAD_ARGUMENTS)?;
            let kind = u32::from(d[11]);
            let disposition = u32::from(d[10]);
            let address = u64::from(desc_word(d, 0)) | (u64::from(desc_word(d, 4)) << 32);
            let value = match f {
                Field::Port(_) if kind == MACH_MSG_PORT_DESCRIPTOR => Arg::Port(desc_word(d, 0), disposition),
                Field::Ool | Field::OolWords if kind == MACH_MSG_OOL_DESCRIPTOR => {
                    let copy = u32::from(d[9]);
                    if copy != MACH_MSG_PHYSICAL_COPY && copy != MACH_MSG_VIRTUAL_COPY {
                        return Err(MIG_TYPE_ERROR);
                    }
                    Arg::Ool(address, desc_word(d, 12), d[8] != 0)
                }
                Field::OolPorts(_) if kind == MACH_MSG_OOL_PORTS_DESCRIPTOR => {
                    Arg::OolPorts(address, desc_word(d, 12), d[8] != 0)
                }
                _ => return Err(MIG_TYPE_ERROR),
            };
            if let Some(slot) = out.get_mut(i) {
                *slot = value;
            }
            at += size;
        }
    }
    if has_ndr(fields, is_reply && !complex) {
        at += NDR_SIZE as usize;
    }
    let mut code = KernReturn::KERN_SUCCESS;
    if is_reply && !complex {
        code = KernReturn(word(at)? as i32);
        at += 4;
        if code != KernReturn::KERN_SUCCESS {
            // An error reply is just the RetCode (`mig_reply_error_t`).
            return Ok(code);
        }
    }
    // A count word, then `count` elements of `elem` bytes (at most `max`).
    let counted = |at: &mut usize, max: u32, elem: usize| -> Result<Arg<'a>, KernReturn> {
        let n = word(*at)?;
        if n > max {
            return Err(MIG_BAD_ARGUMENTS);
        }
        let len = n as usize * elem;
        let bytes = body.get(*at + 4..*at + 4 + len).ok_or(MIG_BAD_ARGUMENTS)?;
        *at += 4 + len;
        Ok(Arg::Array(Words::Bytes(bytes)))
    };
    for (i, f) in fields.iter().enumerate() {
        let value = match f {
            Field::Int => {
                at += 4;
                Arg::Int(word(at - 4)?)
            }
            Field::Long => {
                let lo = u64::from(word(at)?);
                let hi = u64::from(word(at + 4)?);
                at += 8;
                Arg::Long(lo | (hi << 32))
            }
            Field::Array(max) => counted(&mut at, *max, 4)?,
            Field::SameCountArrays(k, max) => counted(&mut at, *max, 4 * (*k).max(1) as usize)?,
            Field::LongArray(max) => counted(&mut at, *max, 8)?,
            Field::Str(n) => {
                let bytes = body.get(at..at + *n as usize).ok_or(MIG_BAD_ARGUMENTS)?;
                at += *n as usize;
                Arg::Bytes(bytes)
            }
            Field::Ool => {
                // The count word repeats the descriptor's size; the descriptor is what counts.
                word(at)?;
                at += 4;
                continue;
            }
            Field::OolWords => {
                // MIG's check: the count must be the descriptor's size in words.
                let n = word(at)?;
                at += 4;
                match out.get(i) {
                    Some(Arg::Ool(_, size, _)) if size % 4 == 0 && n == size / 4 => continue,
                    _ => return Err(MIG_TYPE_ERROR),
                }
            }
            Field::OolPorts(_) => {
                word(at)?;
                at += 4;
                continue;
            }
            Field::Port(_) | Field::PortArray(..) => continue,
        };
        if let Some(slot) = out.get_mut(i) {
            *slot = value;
        }
    }
    if at != body.len() {
        return Err(MIG_BAD_ARGUMENTS);
    }
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::MACH_MSG_TYPE_COPY_SEND;

    const FIELDS: &[Field] =
        &[Field::Int, Field::Port(MACH_MSG_TYPE_COPY_SEND), Field::Array(4), Field::Long];

    #[test]
    fn encode_decode_round_trip() {
        let mut buf = [0u8; 128];
        let words = [7u32, 8, 9];
        let args = [Arg::Int(5), Arg::Port(0x103, 0), Arg::Array(Words::Words(&words)), Arg::Long(1 << 40)];
        let n = encode(FIELDS, &args, None, &mut buf).expect("encode");
        // count + port descriptor + NDR + int + (count + 3 words) + long
        assert_eq!(n, 4 + 12 + 8 + 4 + 16 + 8);
        assert_eq!(descriptor_offsets(FIELDS).collect::<alloc_free::Vec4>(), alloc_free::Vec4::of(&[4]));
        let mut out = [Arg::None; MIG_MAX_FIELDS];
        assert_eq!(decode(FIELDS, true, false, &buf[..n], &mut out), Ok(KernReturn::KERN_SUCCESS));
        assert_eq!(out[0].int(), 5);
        assert!(matches!(out[1], Arg::Port(0x103, MACH_MSG_TYPE_COPY_SEND)));
        assert!(matches!(out[2], Arg::Array(w) if w.len() == 3 && w.get(2) == 9));
        assert_eq!(out[3].long(), 1 << 40);
        // Wrong sizes, wrong complexity, bad bounds.
        assert_eq!(decode(FIELDS, true, false, &buf[..n - 4], &mut out), Err(MIG_BAD_ARGUMENTS));
        assert_eq!(decode(FIELDS, false, false, &buf[..n], &mut out), Err(MIG_TYPE_ERROR));
        let too_many = [1u32; 5];
        let args = [Arg::Int(5), Arg::Port(1, 0), Arg::Array(Words::Words(&too_many)), Arg::Long(0)];
        assert_eq!(encode(FIELDS, &args, None, &mut buf), Err(MIG_ARRAY_TOO_LARGE));
    }

    #[test]
    fn simple_replies_carry_a_retcode() {
        let mut buf = [0u8; 64];
        let fields = &[Field::Int];
        let n = encode(fields, &[Arg::Int(3)], Some(KernReturn::KERN_SUCCESS), &mut buf).expect("encode");
        assert_eq!(n, 8 + 4 + 4);
        let mut out = [Arg::None; MIG_MAX_FIELDS];
        assert_eq!(decode(fields, false, true, &buf[..n], &mut out), Ok(KernReturn::KERN_SUCCESS));
        assert_eq!(out[0].int(), 3);
        // An error reply is NDR + RetCode only.
        let mut err = [0u8; 64];
        let n = encode(&[], &[], Some(MIG_BAD_ID), &mut err).expect("encode");
        assert_eq!(n as u32 + 24, MIG_REPLY_ERROR_SIZE);
        let mut out = [Arg::None; MIG_MAX_FIELDS];
        assert_eq!(decode(fields, false, true, &err[..n], &mut out), Ok(MIG_BAD_ID));
        let mut err2 = [0u8; 64];
        // No arguments: a request is a bare header; a complex reply of ports has no NDR.
        assert_eq!(encode(&[], &[], None, &mut err2), Ok(0));
        let port = [Field::Port(crate::message::MACH_MSG_TYPE_MOVE_SEND)];
        assert_eq!(encode(&port, &[Arg::Port(5, 0)], Some(KernReturn::KERN_SUCCESS), &mut err2), Ok(4 + 12));
    }

    #[test]
    fn port_arrays_and_same_count_arrays() {
        use crate::message::MACH_MSG_TYPE_MOVE_SEND;
        let fields = &[Field::PortArray(4, MACH_MSG_TYPE_MOVE_SEND), Field::SameCountArrays(3, 4)];
        let mut buf = [0u8; 256];
        let words = [1u32, 2, 10, 20, 100, 200];
        let args = [Arg::Ports(&[0x103, 0x207], 0), Arg::Array(Words::Words(&words))];
        let n = encode(fields, &args, Some(KernReturn::KERN_SUCCESS), &mut buf).expect("encode");
        // count + 4 descriptors + NDR + count + 2×3 words
        assert_eq!(n, 4 + 48 + 8 + 4 + 24);
        assert_eq!(
            descriptor_offsets(fields).collect::<alloc_free::Vec4>(),
            alloc_free::Vec4::of(&[4, 16, 28, 40])
        );
        let mut out = [Arg::None; MIG_MAX_FIELDS];
        assert_eq!(decode(fields, true, true, &buf[..n], &mut out), Ok(KernReturn::KERN_SUCCESS));
        let Arg::Bytes(ports) = out[0] else { panic!("ports") };
        assert_eq!((desc_word(ports, 0), desc_word(ports, 12), desc_word(ports, 24)), (0x103, 0x207, 0));
        assert!(matches!(out[1], Arg::Array(w) if w.len() == 6 && w.get(4) == 100));
        let too_many = [Arg::Ports(&[1, 2, 3, 4, 5], 0), Arg::Array(Words::Words(&words))];
        assert_eq!(encode(fields, &too_many, None, &mut buf), Err(MIG_ARRAY_TOO_LARGE));
    }

    #[test]
    fn ool_word_arrays_count_elements() {
        // host_processor_info's reply: out_processor_count, then the info array out of line.
        let fields = &[Field::Int, Field::OolWords];
        let mut buf = [0u8; 64];
        let args = [Arg::Int(2), Arg::Ool(0x1_0000_0000, 32, false)];
        let n = encode(fields, &args, Some(KernReturn::KERN_SUCCESS), &mut buf).expect("encode");
        // count + OOL descriptor + NDR + processor count + element count: 60 with the header.
        assert_eq!(n + 24, 60);
        assert_eq!((desc_word(&buf, 28), desc_word(&buf, 32)), (2, 8), "8 words, not 32 bytes");
        let mut out = [Arg::None; MIG_MAX_FIELDS];
        assert_eq!(decode(fields, true, true, &buf[..n], &mut out), Ok(KernReturn::KERN_SUCCESS));
        assert!(matches!(out[1], Arg::Ool(0x1_0000_0000, 32, false)));
        // A count that disagrees with the descriptor is refused, as MIG's checks do.
        let mut bad = buf;
        bad[32] = 7;
        let mut out = [Arg::None; MIG_MAX_FIELDS];
        assert_eq!(decode(fields, true, true, &bad[..n], &mut out), Err(MIG_TYPE_ERROR));
        assert_eq!(
            encode(fields, &[Arg::Int(1), Arg::Ool(0, 6, false)], None, &mut buf),
            Err(MIG_BAD_ARGUMENTS)
        );
    }

    /// A tiny fixed-capacity collector so this no_std crate's tests need no allocator.
    mod alloc_free {
        #[derive(Debug, PartialEq, Eq, Default)]
        pub struct Vec4 {
            items: [usize; 4],
            len: usize,
        }

        impl Vec4 {
            pub fn of(items: &[usize]) -> Self {
                items.iter().copied().collect()
            }
        }

        impl FromIterator<usize> for Vec4 {
            fn from_iter<I: IntoIterator<Item = usize>>(iter: I) -> Self {
                let mut v = Vec4::default();
                for x in iter {
                    v.items[v.len] = x;
                    v.len += 1;
                }
                v
            }
        }
    }
}
