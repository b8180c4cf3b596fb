//! Reading both header copies and writing them back (spec §2, §4.5
//! "Metadata Recovery"; cryptsetup's `LUKS2_disk_hdr_read` and
//! `LUKS2_disk_hdr_write` in lib/luks2/luks2_disk_metadata.c).
//!
//! Reading: the primary copy at offset 0 is checked first (binary header,
//! checksum over it and its JSON area, then the JSON). If its binary header
//! is damaged, the secondary is searched at every offset it may have
//! (16 KiB ... 4 MiB); otherwise it is read at the primary's header size.
//! When both are valid the higher `seqid` wins (equal: the primary). When
//! neither is, the error names both problems.
//!
//! Writing ([`Header::commit`]): `seqid + 1`, then for the primary and then
//! the secondary copy, the JSON area followed by the binary header that
//! holds the checksum over both. A crash at any point leaves at least one
//! valid copy: until the primary's binary header is written, the primary's
//! checksum no longer matches (or still matches the old JSON) and the
//! secondary holds the previous state; afterwards the primary holds the new
//! state with the higher `seqid`. A copy that was damaged or older when read
//! gets a fresh salt, as cryptsetup's recovery does.

use rand_core::CryptoRngCore;
use serde_json::Value;

use crate::binary::{self, BINARY_HEADER_SIZE, BinaryHeader, Copy, METADATA_SIZES, SALT_SIZE};
use crate::error::Error;
use crate::metadata::Metadata;

/// One region the caller must write, in the order given, each durably
/// (synced) before the next.
#[derive(Clone, PartialEq, Eq)]
pub struct Write {
    pub offset: u64,
    pub bytes: Vec<u8>,
}

impl std::fmt::Debug for Write {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Write {{ offset: {}, len: {} }}",
            self.offset,
            self.bytes.len()
        )
    }
}

/// The state of one copy when the header was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CopyState {
    /// Valid, and the copy in use (or as recent as it).
    Valid { seqid: u64 },
    /// Valid but with a lower `seqid` than the other copy: an interrupted
    /// update. It is rewritten on the next commit.
    Older { seqid: u64 },
    /// Unusable, with the reason. It is rewritten on the next commit.
    Damaged(Error),
}

/// A LUKS2 header held in memory: the binary header fields, each copy's
/// salt, the validated JSON metadata and what was found on disk.
///
/// Methods that change it (**they do not write to the disk**) return the
/// [`Write`]s that store the change; the caller performs them in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub(crate) bin: BinaryHeader,
    pub(crate) salts: [[u8; SALT_SIZE]; 2],
    pub(crate) metadata: Metadata,
    pub(crate) copies: [CopyState; 2],
}

type ReadAt<'a> = dyn FnMut(u64, &mut [u8]) -> std::io::Result<()> + 'a;

fn read(
    read_at: &mut ReadAt<'_>,
    device_size: u64,
    offset: u64,
    len: u64,
) -> Result<Vec<u8>, Error> {
    let end = offset.saturating_add(len);
    if end > device_size {
        return Err(Error::DeviceTooSmall {
            size: device_size,
            needed: end,
        });
    }
    let n = usize::try_from(len).map_err(|_| Error::OutOfMemory {
        bytes: len,
        what: "a header read",
    })?;
    let mut buf = vec![0u8; n];
    read_at(offset, &mut buf).map_err(|e| Error::Read {
        offset,
        len: n,
        message: e.to_string(),
    })?;
    Ok(buf)
}

/// The JSON text of an area: a C string starting with `{`, one JSON object
/// and nothing else, then only zero bytes (cryptsetup's
/// `validate_json_area`).
pub(crate) fn parse_json_area(area: &[u8], offset: u64, copy: Copy) -> Result<Value, Error> {
    let bad = |at: usize, what| Error::JsonArea {
        offset: offset + u64::try_from(at).unwrap_or(u64::MAX),
        copy,
        what,
    };
    let end = area
        .iter()
        .position(|&b| b == 0)
        .ok_or_else(|| bad(0, "no NUL terminator"))?;
    if let Some(i) = area[end..].iter().position(|&b| b != 0) {
        return Err(bad(end + i, "non-zero byte after the JSON text"));
    }
    let text = &area[..end];
    if text.first() != Some(&b'{') || text.last() != Some(&b'}') {
        return Err(bad(0, "the JSON text must be one object, from '{' to '}'"));
    }
    serde_json::from_slice(text).map_err(|e| Error::Json {
        offset,
        copy,
        message: e.to_string(),
    })
}

/// Reads one copy at `offset`. Also returns the header size when the
/// binary header and its checksum were valid (even if the JSON was not).
fn read_copy(
    read_at: &mut ReadAt<'_>,
    device_size: u64,
    offset: u64,
    copy: Copy,
) -> (Option<u64>, Result<(BinaryHeader, Metadata), Error>) {
    let h = match read(read_at, device_size, offset, BINARY_HEADER_SIZE) {
        Ok(h) => h,
        Err(e) => return (None, Err(e)),
    };
    let hdr_size = match binary::precheck(&h, offset, copy) {
        Ok(s) => s,
        Err(e) => return (None, Err(e)),
    };
    let json_offset = offset + BINARY_HEADER_SIZE;
    let area = match read(
        read_at,
        device_size,
        json_offset,
        hdr_size - BINARY_HEADER_SIZE,
    ) {
        Ok(a) => a,
        Err(e) => return (None, Err(e)),
    };
    let bin = match binary::parse(&h, &area, offset, copy) {
        Ok(b) => b,
        Err(e) => return (None, Err(e)),
    };
    let md = parse_json_area(&area, json_offset, copy).and_then(|json| {
        Metadata::from_json(json, hdr_size).map_err(|e| Error::Metadata {
            copy,
            error: Box::new(e),
        })
    });
    (Some(hdr_size), md.map(|md| (bin, md)))
}

impl Header {
    /// Reads the header of a device of `device_size` bytes through
    /// `read_at(offset, buf)`, which must fill `buf`.
    pub fn read<F>(device_size: u64, mut read_at: F) -> Result<Header, Error>
    where
        F: FnMut(u64, &mut [u8]) -> std::io::Result<()>,
    {
        let read_at: &mut ReadAt<'_> = &mut read_at;
        let (primary_size, primary) = read_copy(read_at, device_size, 0, Copy::Primary);
        let secondary = match primary_size {
            Some(size) => read_copy(read_at, device_size, size, Copy::Secondary).1,
            None => {
                let mut first_error = None;
                let mut found = None;
                for &offset in &METADATA_SIZES {
                    match read_copy(read_at, device_size, offset, Copy::Secondary).1 {
                        Ok(copy) => {
                            found = Some(copy);
                            break;
                        }
                        Err(Error::Magic { .. } | Error::DeviceTooSmall { .. }) => {}
                        Err(e) => {
                            first_error.get_or_insert(e);
                        }
                    }
                }
                found.ok_or_else(|| {
                    first_error.unwrap_or(Error::Magic {
                        offset: METADATA_SIZES[0],
                        copy: Copy::Secondary,
                    })
                })
            }
        };
        let (use_primary, copies) = match (&primary, &secondary) {
            (Ok((p, _)), Ok((s, _))) if s.seqid > p.seqid => (
                false,
                [
                    CopyState::Older { seqid: p.seqid },
                    CopyState::Valid { seqid: s.seqid },
                ],
            ),
            (Ok((p, _)), Ok((s, _))) if s.seqid < p.seqid => (
                true,
                [
                    CopyState::Valid { seqid: p.seqid },
                    CopyState::Older { seqid: s.seqid },
                ],
            ),
            (Ok((p, _)), Ok((s, _))) => (
                true,
                [
                    CopyState::Valid { seqid: p.seqid },
                    CopyState::Valid { seqid: s.seqid },
                ],
            ),
            (Ok((p, _)), Err(e)) => (
                true,
                [
                    CopyState::Valid { seqid: p.seqid },
                    CopyState::Damaged(e.clone()),
                ],
            ),
            (Err(e), Ok((s, _))) => (
                false,
                [
                    CopyState::Damaged(e.clone()),
                    CopyState::Valid { seqid: s.seqid },
                ],
            ),
            (Err(p), Err(s)) => {
                return Err(Error::BothCopies {
                    primary: Box::new(p.clone()),
                    secondary: Box::new(s.clone()),
                });
            }
        };
        let salt_of = |r: &Result<(BinaryHeader, Metadata), Error>| {
            r.as_ref().map(|(b, _)| b.salt).unwrap_or([0; SALT_SIZE])
        };
        let salts = [salt_of(&primary), salt_of(&secondary)];
        let chosen = if use_primary { primary } else { secondary };
        let (bin, metadata) = chosen?;
        let needed = 2 * bin.hdr_size + metadata.config.keyslots_size;
        if needed > device_size {
            return Err(Error::DeviceTooSmall {
                size: device_size,
                needed,
            });
        }
        Ok(Header {
            bin,
            salts,
            metadata,
            copies,
        })
    }

    /// [`Header::read`] over bytes in memory (a whole device image, or at
    /// least its header and keyslots area).
    pub fn parse(image: &[u8]) -> Result<Header, Error> {
        let size = u64::try_from(image.len()).unwrap_or(u64::MAX);
        Header::read(size, |offset, buf| {
            let start = usize::try_from(offset).map_err(std::io::Error::other)?;
            let src = start
                .checked_add(buf.len())
                .and_then(|end| image.get(start..end))
                .ok_or(std::io::ErrorKind::UnexpectedEof)?;
            buf.copy_from_slice(src);
            Ok(())
        })
    }

    /// The validated JSON metadata.
    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    /// What each copy held when read: `[primary, secondary]`.
    pub fn copies(&self) -> &[CopyState; 2] {
        &self.copies
    }

    pub fn uuid(&self) -> &str {
        &self.bin.uuid
    }

    pub fn label(&self) -> &str {
        &self.bin.label
    }

    pub fn subsystem(&self) -> &str {
        &self.bin.subsystem
    }

    /// Sequence id of the copy in use (cryptsetup's "Epoch").
    pub fn seqid(&self) -> u64 {
        self.bin.seqid
    }

    /// Binary header + JSON area, in bytes (one copy).
    pub fn metadata_size(&self) -> u64 {
        self.bin.hdr_size
    }

    /// Where the keyslots area starts (after both metadata copies).
    pub fn keyslots_offset(&self) -> u64 {
        2 * self.bin.hdr_size
    }

    /// End of the header and keyslots area: the minimum device size.
    pub fn header_end(&self) -> u64 {
        self.keyslots_offset() + self.metadata.config.keyslots_size
    }

    /// Stores the current metadata: `seqid + 1`, both copies, in the order
    /// described in the module documentation. Fresh salts (from `rng`) for
    /// copies that were not valid and current.
    pub fn commit(&mut self, rng: &mut impl CryptoRngCore) -> Result<Vec<Write>, Error> {
        let area = self.metadata.to_area()?;
        let mut bin = self.bin.clone();
        bin.check()?;
        bin.seqid = bin.seqid.checked_add(1).ok_or(Error::Param {
            name: "seqid",
            problem: "at its maximum".into(),
        })?;
        let mut salts = self.salts;
        for (salt, state) in salts.iter_mut().zip(&self.copies) {
            if !matches!(state, CopyState::Valid { .. }) {
                rng.fill_bytes(salt);
            }
        }
        let size = bin.hdr_size;
        let writes = vec![
            Write {
                offset: BINARY_HEADER_SIZE,
                bytes: area.clone(),
            },
            Write {
                offset: 0,
                bytes: bin.encode(Copy::Primary, &salts[0], &area),
            },
            Write {
                offset: size + BINARY_HEADER_SIZE,
                bytes: area.clone(),
            },
            Write {
                offset: size,
                bytes: bin.encode(Copy::Secondary, &salts[1], &area),
            },
        ];
        self.copies = [
            CopyState::Valid { seqid: bin.seqid },
            CopyState::Valid { seqid: bin.seqid },
        ];
        self.bin = bin;
        self.salts = salts;
        Ok(writes)
    }
}
