//! Checks on the text inputs (command line, os-release, uname, SBAT).

use crate::error::{Error, InputName};

/// `bytes` as UTF-8 text without NUL, or an error naming the offset.
pub fn check_text(input: InputName, bytes: &[u8]) -> Result<&str, Error> {
    if let Some(offset) = bytes.iter().position(|&b| b == 0) {
        return Err(Error::Nul { input, offset });
    }
    std::str::from_utf8(bytes).map_err(|e| Error::Utf8 {
        input,
        offset: e.valid_up_to(),
    })
}

/// A kernel release as `uname -r` prints it.
pub fn check_uname(uname: &str) -> Result<(), Error> {
    let ok = !uname.is_empty() && uname.len() <= 256 && uname.bytes().all(|b| b.is_ascii_graphic());
    if ok {
        Ok(())
    } else {
        Err(Error::Uname(uname.to_owned()))
    }
}

/// A command line given as an argument: whitespace runs collapse to one
/// space and the ends are trimmed, as ukify does (`' '.join(s.split())`).
/// A command line read from a file is taken verbatim instead.
pub fn normalize_cmdline(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_offset() {
        assert_eq!(
            check_text(".cmdline", b"quiet\0ro"),
            Err(Error::Nul {
                input: ".cmdline",
                offset: 5
            })
        );
    }

    #[test]
    fn utf8_offset() {
        assert_eq!(
            check_text(".osrel", b"ID=x\n\xff"),
            Err(Error::Utf8 {
                input: ".osrel",
                offset: 5
            })
        );
        assert_eq!(check_text(".osrel", "NAME=é\n".as_bytes()), Ok("NAME=é\n"));
    }

    #[test]
    fn uname() {
        assert!(check_uname("6.1.0-57-amd64").is_ok());
        assert!(check_uname("").is_err());
        assert!(check_uname("6.1 x").is_err());
        assert!(check_uname("6.1\n").is_err());
    }

    #[test]
    fn cmdline_whitespace() {
        assert_eq!(
            normalize_cmdline("  quiet \t ro\nroot=/dev/sda "),
            "quiet ro root=/dev/sda"
        );
    }
}
