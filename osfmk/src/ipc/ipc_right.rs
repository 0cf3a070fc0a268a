//! `ipc_right`: what copying a right into a message does to the entry that holds it (XNU
//! `ipc_right_copyin`), as one pure function of the entry's right bits, user references and
//! the disposition.
//!
//! The space calls it twice per message: once on a scratch copy of the entries to check that
//! every right in the message can be taken, and once more to take them. So a send that fails
//! on its fifth right has not taken the first four (the "all or nothing" rule of `mach_msg`).

use mach::KernReturn;
use mach::message::{
    MACH_MSG_TYPE_COPY_SEND, MACH_MSG_TYPE_MAKE_SEND, MACH_MSG_TYPE_MAKE_SEND_ONCE,
    MACH_MSG_TYPE_MOVE_RECEIVE, MACH_MSG_TYPE_MOVE_SEND, MACH_MSG_TYPE_MOVE_SEND_ONCE, MachMsgTypeName,
};
use mach::port::{
    MACH_PORT_TYPE_DEAD_NAME, MACH_PORT_TYPE_NONE, MACH_PORT_TYPE_RECEIVE, MACH_PORT_TYPE_SEND,
    MACH_PORT_TYPE_SEND_ONCE, MACH_PORT_UREFS_MAX, MachPortType,
};

/// What kind of right comes out of the entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Taken {
    /// The receive right itself.
    Receive,
    /// One of the entry's send references; `last` if it was the last one, so the entry's own
    /// count on the port leaves with it.
    MoveSend { last: bool },
    /// A new send right copied from the entry's.
    CopySend,
    /// A new send right made from the receive right (bumps the make-send count).
    MakeSend,
    /// A new send-once right made from the receive right.
    MakeSendOnce,
    /// The entry's send-once right.
    MoveSendOnce,
    /// The entry is a dead name: the message carries `MACH_PORT_DEAD`.
    Dead,
}

/// One user reference fewer; a pegged count stays pegged (it no longer knows its value).
fn drop_one(urefs: u32) -> u32 {
    if urefs >= MACH_PORT_UREFS_MAX { urefs } else { urefs.saturating_sub(1) }
}

/// The entry's right bits and user references after copying in a right with `disposition`,
/// and what comes out. A resulting type of `MACH_PORT_TYPE_NONE` means the entry is freed.
/// Errors: the entry lacks the right → `KERN_INVALID_RIGHT`; not a disposition that carries
/// a right → `KERN_INVALID_VALUE`.
pub(crate) fn copyin_step(
    right_type: MachPortType,
    urefs: u32,
    disposition: MachMsgTypeName,
) -> Result<(MachPortType, u32, Taken), KernReturn> {
    let has = |bit: MachPortType| right_type & bit != 0;
    let dead = has(MACH_PORT_TYPE_DEAD_NAME);
    let consume_dead = || {
        let left = drop_one(urefs);
        let ty = if left == 0 { MACH_PORT_TYPE_NONE } else { right_type };
        Ok((ty, left, Taken::Dead))
    };
    match disposition {
        MACH_MSG_TYPE_MOVE_RECEIVE if has(MACH_PORT_TYPE_RECEIVE) => {
            Ok((right_type & !MACH_PORT_TYPE_RECEIVE, urefs, Taken::Receive))
        }
        MACH_MSG_TYPE_MAKE_SEND if has(MACH_PORT_TYPE_RECEIVE) => Ok((right_type, urefs, Taken::MakeSend)),
        MACH_MSG_TYPE_MAKE_SEND_ONCE if has(MACH_PORT_TYPE_RECEIVE) => {
            Ok((right_type, urefs, Taken::MakeSendOnce))
        }
        MACH_MSG_TYPE_COPY_SEND if has(MACH_PORT_TYPE_SEND) => Ok((right_type, urefs, Taken::CopySend)),
        MACH_MSG_TYPE_COPY_SEND if dead => Ok((right_type, urefs, Taken::Dead)),
        MACH_MSG_TYPE_MOVE_SEND if has(MACH_PORT_TYPE_SEND) => {
            let left = drop_one(urefs);
            if left == 0 {
                Ok((right_type & !MACH_PORT_TYPE_SEND, 0, Taken::MoveSend { last: true }))
            } else {
                Ok((right_type, left, Taken::MoveSend { last: false }))
            }
        }
        MACH_MSG_TYPE_MOVE_SEND_ONCE if has(MACH_PORT_TYPE_SEND_ONCE) => {
            Ok((MACH_PORT_TYPE_NONE, 0, Taken::MoveSendOnce))
        }
        MACH_MSG_TYPE_MOVE_SEND | MACH_MSG_TYPE_MOVE_SEND_ONCE if dead => consume_dead(),
        MACH_MSG_TYPE_MOVE_RECEIVE
        | MACH_MSG_TYPE_MOVE_SEND
        | MACH_MSG_TYPE_MOVE_SEND_ONCE
        | MACH_MSG_TYPE_COPY_SEND
        | MACH_MSG_TYPE_MAKE_SEND
        | MACH_MSG_TYPE_MAKE_SEND_ONCE => Err(KernReturn::KERN_INVALID_RIGHT),
        _ => Err(KernReturn::KERN_INVALID_VALUE),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mach::port::MACH_PORT_TYPE_SEND_RECEIVE;

    #[test]
    fn moving_sends_counts_down_and_keeps_the_receive() {
        let r = copyin_step(MACH_PORT_TYPE_SEND_RECEIVE, 2, MACH_MSG_TYPE_MOVE_SEND);
        assert_eq!(r, Ok((MACH_PORT_TYPE_SEND_RECEIVE, 1, Taken::MoveSend { last: false })));
        let r = copyin_step(MACH_PORT_TYPE_SEND_RECEIVE, 1, MACH_MSG_TYPE_MOVE_SEND);
        assert_eq!(r, Ok((MACH_PORT_TYPE_RECEIVE, 0, Taken::MoveSend { last: true })));
        let r = copyin_step(MACH_PORT_TYPE_SEND, MACH_PORT_UREFS_MAX, MACH_MSG_TYPE_MOVE_SEND);
        assert_eq!(r, Ok((MACH_PORT_TYPE_SEND, MACH_PORT_UREFS_MAX, Taken::MoveSend { last: false })));
    }

    #[test]
    fn each_disposition_needs_its_right() {
        let send = MACH_PORT_TYPE_SEND;
        let recv = MACH_PORT_TYPE_RECEIVE;
        let invalid = Err(KernReturn::KERN_INVALID_RIGHT);
        assert_eq!(copyin_step(send, 1, MACH_MSG_TYPE_MAKE_SEND), invalid);
        assert_eq!(copyin_step(send, 1, MACH_MSG_TYPE_MOVE_RECEIVE), invalid);
        assert_eq!(copyin_step(recv, 0, MACH_MSG_TYPE_COPY_SEND), invalid);
        assert_eq!(copyin_step(recv, 0, MACH_MSG_TYPE_MOVE_SEND_ONCE), invalid);
        assert_eq!(copyin_step(recv, 0, MACH_MSG_TYPE_MAKE_SEND), Ok((recv, 0, Taken::MakeSend)));
        assert_eq!(
            copyin_step(recv, 0, MACH_MSG_TYPE_MOVE_RECEIVE),
            Ok((MACH_PORT_TYPE_NONE, 0, Taken::Receive))
        );
        assert_eq!(
            copyin_step(MACH_PORT_TYPE_SEND_ONCE, 1, MACH_MSG_TYPE_MOVE_SEND_ONCE),
            Ok((MACH_PORT_TYPE_NONE, 0, Taken::MoveSendOnce))
        );
        assert_eq!(copyin_step(recv, 0, 22), Err(KernReturn::KERN_INVALID_VALUE));
        assert_eq!(copyin_step(recv, 0, 0), Err(KernReturn::KERN_INVALID_VALUE));
    }

    #[test]
    fn dead_names_travel_as_dead() {
        let dead = MACH_PORT_TYPE_DEAD_NAME;
        assert_eq!(copyin_step(dead, 2, MACH_MSG_TYPE_COPY_SEND), Ok((dead, 2, Taken::Dead)));
        assert_eq!(copyin_step(dead, 2, MACH_MSG_TYPE_MOVE_SEND), Ok((dead, 1, Taken::Dead)));
        assert_eq!(
            copyin_step(dead, 1, MACH_MSG_TYPE_MOVE_SEND_ONCE),
            Ok((MACH_PORT_TYPE_NONE, 0, Taken::Dead))
        );
        assert_eq!(copyin_step(dead, 1, MACH_MSG_TYPE_MAKE_SEND), Err(KernReturn::KERN_INVALID_RIGHT));
    }
}
