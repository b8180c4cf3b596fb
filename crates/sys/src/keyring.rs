//! The kernel key retention service: `add_key(2)` and `keyctl(2)`
//! (`Documentation/security/keys/core.rst`), to hand dm-crypt its key.
//!
//! A `logon` key's payload cannot be read back from user space; dm-crypt
//! looks it up by description (`:<size>:logon:<description>` in its table)
//! in the keyrings of the thread that loads the table. The key is added to
//! the calling thread's keyring and revoked once the table is loaded, so it
//! lives only inside dm-crypt.

use std::ffi::CString;
use std::io;

/// A key's serial number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key(i32);

/// `KEY_SPEC_THREAD_KEYRING` (include/uapi/linux/keyctl.h).
const THREAD_KEYRING: i32 = -1;
/// `KEYCTL_REVOKE`.
const KEYCTL_REVOKE: libc::c_long = 3;

fn c_string(what: &str, s: &str) -> io::Result<CString> {
    CString::new(s).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{what} contains a NUL byte"),
        )
    })
}

/// Adds a `logon` key named `description` holding `payload` to the calling
/// thread's keyring.
pub fn add_logon_key(description: &str, payload: &[u8]) -> io::Result<Key> {
    let kind = c_string("key type", "logon")?;
    let desc = c_string("key description", description)?;
    // SAFETY: add_key reads two NUL-terminated strings and `payload.len()`
    // bytes at `payload`, all alive for the call; it writes no user memory.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_add_key,
            kind.as_ptr(),
            desc.as_ptr(),
            payload.as_ptr(),
            payload.len(),
            THREAD_KEYRING,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    i32::try_from(rc)
        .map(Key)
        .map_err(|_| io::Error::other(format!("add_key returned serial {rc}")))
}

impl Key {
    /// Revokes the key: no later lookup finds it (dm-crypt keeps its copy).
    pub fn revoke(self) -> io::Result<()> {
        // SAFETY: keyctl(KEYCTL_REVOKE, serial) takes two integers and
        // touches no user memory.
        let rc = unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_REVOKE, self.0) };
        if rc < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logon_keys_are_added_and_revoked() {
        let key = add_logon_key("clip-test:keyring", b"not a real key").unwrap();
        key.revoke().unwrap();
        // Revoked: a second revoke is refused with EKEYREVOKED.
        let again = key.revoke().unwrap_err();
        assert_eq!(again.raw_os_error(), Some(libc::EKEYREVOKED));
        // logon keys need a "prefix:" description.
        let e = add_logon_key("noprefix", b"x").unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EINVAL));
    }
}
