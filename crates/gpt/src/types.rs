//! Partition type GUIDs: the EFI System Partition (UEFI §5.3.3, Table 5.7)
//! and the Discoverable Partitions Specification's types
//! (uapi-group/specifications, specs/discoverable_partitions_specification.md).

use uuid::Uuid;

/// EFI System Partition (`SD_GPT_ESP`).
pub const ESP: Uuid = Uuid::from_u128(0xc12a7328_f81f_11d2_ba4b_00a0c93ec93b);
/// Root partition, x86-64 (`SD_GPT_ROOT_X86_64`).
pub const ROOT_X86_64: Uuid = Uuid::from_u128(0x4f68bce3_e8cd_4db1_96e7_fbcaf984b709);
/// dm-verity hash data of the x86-64 root partition (`SD_GPT_ROOT_X86_64_VERITY`).
pub const ROOT_X86_64_VERITY: Uuid = Uuid::from_u128(0x2c7357ed_ebd2_46d9_aec1_23d437ec2bf5);
/// Signed root hash of the x86-64 root partition
/// (`SD_GPT_ROOT_X86_64_VERITY_SIG`).
pub const ROOT_X86_64_VERITY_SIG: Uuid = Uuid::from_u128(0x41092b05_9fc8_4523_994f_2def0408b176);
/// Variable data, mounted on `/var/` (`SD_GPT_VAR`).
pub const VAR: Uuid = Uuid::from_u128(0x4d21b016_b534_45c2_a9fb_5c16e091fd2d);
/// Generic Linux data, never mounted automatically (`SD_GPT_LINUX_GENERIC`).
pub const LINUX_GENERIC: Uuid = Uuid::from_u128(0x0fc63daf_8483_4772_8e79_3d69d8477de4);

/// Unique partition GUIDs of a root partition and its verity partition,
/// derived from the dm-verity root hash as the Discoverable Partitions
/// Specification prescribes ("the partition UUID of the root partition is
/// the first 128 bits of the root hash, the verity partition's the final
/// 128 bits"): whoever knows the (signed) root hash finds both partitions
/// without trusting their labels. `None` unless the hash is 32 bytes or more.
pub fn verity_partition_uuids(root_hash: &[u8]) -> Option<(Uuid, Uuid)> {
    let n = root_hash.len();
    if n < 32 {
        return None;
    }
    let first: [u8; 16] = root_hash[..16].try_into().ok()?;
    let last: [u8; 16] = root_hash[n - 16..].try_into().ok()?;
    Some((Uuid::from_bytes(first), Uuid::from_bytes(last)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_forms_match_the_specification() {
        assert_eq!(ESP.to_string(), "c12a7328-f81f-11d2-ba4b-00a0c93ec93b");
        assert_eq!(
            ROOT_X86_64.to_string(),
            "4f68bce3-e8cd-4db1-96e7-fbcaf984b709"
        );
        assert_eq!(
            ROOT_X86_64_VERITY.to_string(),
            "2c7357ed-ebd2-46d9-aec1-23d437ec2bf5"
        );
        assert_eq!(
            ROOT_X86_64_VERITY_SIG.to_string(),
            "41092b05-9fc8-4523-994f-2def0408b176"
        );
        assert_eq!(VAR.to_string(), "4d21b016-b534-45c2-a9fb-5c16e091fd2d");
        assert_eq!(
            LINUX_GENERIC.to_string(),
            "0fc63daf-8483-4772-8e79-3d69d8477de4"
        );
    }

    #[test]
    fn on_disk_bytes_are_mixed_endian() {
        // UEFI Appendix A: the first three fields little-endian.
        assert_eq!(
            ESP.to_bytes_le(),
            [
                0x28, 0x73, 0x2a, 0xc1, 0x1f, 0xf8, 0xd2, 0x11, 0xba, 0x4b, 0x00, 0xa0, 0xc9, 0x3e,
                0xc9, 0x3b
            ]
        );
    }

    #[test]
    fn verity_uuids_are_the_halves_of_the_root_hash() {
        let hash: Vec<u8> = (0u8..32).collect();
        let (root, verity) = verity_partition_uuids(&hash).unwrap();
        assert_eq!(root.to_string(), "00010203-0405-0607-0809-0a0b0c0d0e0f");
        assert_eq!(verity.to_string(), "10111213-1415-1617-1819-1a1b1c1d1e1f");
        assert_eq!(verity_partition_uuids(&hash[..31]), None);
    }
}
