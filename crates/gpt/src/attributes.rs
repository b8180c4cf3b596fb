//! The 64-bit partition attribute field (UEFI §5.3.3, Table 5.8), the
//! Discoverable Partitions Specification's flags in its type-specific half,
//! and A/B slot metadata in bits 48-56 (the layout ChromeOS uses for its
//! kernel slots; see docs/formats/gpt.md).

use crate::Error;

/// A partition's attribute bits. Bits 0-2 are defined by UEFI for every
/// type, bits 48-63 by the partition type.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Attributes(pub u64);

const PRIORITY_SHIFT: u32 = 48;
const TRIES_SHIFT: u32 = 52;
const NIBBLE: u64 = 0xf;

impl Attributes {
    /// Bit 0: the platform needs this partition; partitioning tools must
    /// keep it.
    pub const REQUIRED: u64 = 1 << 0;
    /// Bit 1: firmware must not produce a Block I/O protocol for it.
    pub const NO_BLOCK_IO: u64 = 1 << 1;
    /// Bit 2: legacy BIOS bootable.
    pub const LEGACY_BIOS_BOOTABLE: u64 = 1 << 2;
    /// Bits 48-51: A/B slot priority, 0 (never boot) to 15.
    pub const PRIORITY_MASK: u64 = NIBBLE << PRIORITY_SHIFT;
    /// Bits 52-55: boot attempts left before the slot is given up.
    pub const TRIES_MASK: u64 = NIBBLE << TRIES_SHIFT;
    /// Bit 56: the slot has booted successfully.
    pub const SUCCESSFUL: u64 = 1 << 56;
    /// Bit 59: grow the file system to the partition (`SD_GPT_FLAG_GROWFS`).
    pub const GROW_FS: u64 = 1 << 59;
    /// Bit 60: mount read-only (`SD_GPT_FLAG_READ_ONLY`).
    pub const READ_ONLY: u64 = 1 << 60;
    /// Bit 63: no automatic discovery (`SD_GPT_FLAG_NO_AUTO`).
    pub const NO_AUTO: u64 = 1 << 63;

    fn flag(self, bit: u64) -> bool {
        self.0 & bit != 0
    }

    fn with_flag(self, bit: u64, on: bool) -> Self {
        Self(if on { self.0 | bit } else { self.0 & !bit })
    }

    fn with_nibble(self, field: &'static str, shift: u32, value: u8) -> Result<Self, Error> {
        if u64::from(value) > NIBBLE {
            return Err(Error::AttributeOutOfRange {
                field,
                value,
                max: 15,
            });
        }
        Ok(Self(
            self.0 & !(NIBBLE << shift) | u64::from(value) << shift,
        ))
    }

    fn nibble(self, shift: u32) -> u8 {
        // Masked to four bits: the conversion cannot fail.
        u8::try_from(self.0 >> shift & NIBBLE).unwrap_or(u8::MAX)
    }

    pub fn required(self) -> bool {
        self.flag(Self::REQUIRED)
    }
    pub fn with_required(self, on: bool) -> Self {
        self.with_flag(Self::REQUIRED, on)
    }
    pub fn no_block_io(self) -> bool {
        self.flag(Self::NO_BLOCK_IO)
    }
    pub fn with_no_block_io(self, on: bool) -> Self {
        self.with_flag(Self::NO_BLOCK_IO, on)
    }
    pub fn legacy_bios_bootable(self) -> bool {
        self.flag(Self::LEGACY_BIOS_BOOTABLE)
    }
    pub fn with_legacy_bios_bootable(self, on: bool) -> Self {
        self.with_flag(Self::LEGACY_BIOS_BOOTABLE, on)
    }
    pub fn grow_fs(self) -> bool {
        self.flag(Self::GROW_FS)
    }
    pub fn with_grow_fs(self, on: bool) -> Self {
        self.with_flag(Self::GROW_FS, on)
    }
    pub fn read_only(self) -> bool {
        self.flag(Self::READ_ONLY)
    }
    pub fn with_read_only(self, on: bool) -> Self {
        self.with_flag(Self::READ_ONLY, on)
    }
    pub fn no_auto(self) -> bool {
        self.flag(Self::NO_AUTO)
    }
    pub fn with_no_auto(self, on: bool) -> Self {
        self.with_flag(Self::NO_AUTO, on)
    }
    /// A/B slot priority (bits 48-51); the highest bootable slot wins.
    pub fn priority(self) -> u8 {
        self.nibble(PRIORITY_SHIFT)
    }
    /// Sets the priority; more than 15 is an error, not a silent truncation.
    pub fn with_priority(self, value: u8) -> Result<Self, Error> {
        self.with_nibble("priority", PRIORITY_SHIFT, value)
    }
    /// Boot attempts left for a slot not yet marked successful (bits 52-55).
    pub fn tries_remaining(self) -> u8 {
        self.nibble(TRIES_SHIFT)
    }
    /// Sets the tries left; more than 15 is an error.
    pub fn with_tries_remaining(self, value: u8) -> Result<Self, Error> {
        self.with_nibble("tries_remaining", TRIES_SHIFT, value)
    }
    /// The slot booted successfully at least once (bit 56).
    pub fn successful(self) -> bool {
        self.flag(Self::SUCCESSFUL)
    }
    pub fn with_successful(self, on: bool) -> Self {
        self.with_flag(Self::SUCCESSFUL, on)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_match_the_specifications() {
        assert_eq!(
            Attributes::default().with_required(true).0,
            0x0000_0000_0000_0001
        );
        assert_eq!(
            Attributes::default().with_no_block_io(true).0,
            0x0000_0000_0000_0002
        );
        assert_eq!(
            Attributes::default().with_legacy_bios_bootable(true).0,
            0x0000_0000_0000_0004
        );
        assert_eq!(
            Attributes::default().with_grow_fs(true).0,
            0x0800_0000_0000_0000
        );
        assert_eq!(
            Attributes::default().with_read_only(true).0,
            0x1000_0000_0000_0000
        );
        assert_eq!(
            Attributes::default().with_no_auto(true).0,
            0x8000_0000_0000_0000
        );
        assert_eq!(
            Attributes::default().with_successful(true).0,
            0x0100_0000_0000_0000
        );
    }

    #[test]
    fn slot_fields() {
        let a = Attributes::default()
            .with_priority(15)
            .unwrap()
            .with_tries_remaining(3)
            .unwrap()
            .with_read_only(true);
        assert_eq!(a.0, 0x103f_0000_0000_0000);
        assert_eq!((a.priority(), a.tries_remaining()), (15, 3));
        assert!(!a.successful() && a.read_only());
        // Setting a field replaces it and leaves the others alone.
        let b = a.with_priority(1).unwrap().with_successful(true);
        assert_eq!(b.0, 0x1131_0000_0000_0000);
        assert_eq!(b.with_successful(false).with_priority(15).unwrap(), a);
        // The B slot of docs/formats/gpt.md.
        let b_slot = Attributes::default()
            .with_priority(14)
            .unwrap()
            .with_tries_remaining(3)
            .unwrap()
            .with_read_only(true)
            .with_no_auto(true);
        assert_eq!(b_slot.0, 0x903e_0000_0000_0000);
        assert_eq!(Attributes(0xfff0_ffff_ffff_ffff).priority(), 0);
        assert_eq!(Attributes(0x0020_0000_0000_0000).tries_remaining(), 2);
    }

    #[test]
    fn out_of_range_fields_are_refused() {
        assert_eq!(
            Attributes::default().with_tries_remaining(16),
            Err(Error::AttributeOutOfRange {
                field: "tries_remaining",
                value: 16,
                max: 15
            })
        );
        assert!(Attributes::default().with_priority(255).is_err());
    }
}
