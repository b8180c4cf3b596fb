//! The kernel's own header as the oracle: compiles a C program against
//! `<linux/dm-ioctl.h>` (Debian's linux-libc-dev) that prints every offset,
//! size, ioctl number and flag this crate hard-codes, and compares. A missing
//! C compiler or header fails the test.

use std::process::Command;

use dm::layout::{self, flags, header, spec};

const PROGRAM: &str = r#"
#include <stddef.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <linux/dm-ioctl.h>
#define P(name, value) printf("%s %llu\n", name, (unsigned long long)(value))
int main(void) {
    P("sizeof_dm_ioctl", sizeof(struct dm_ioctl));
    P("sizeof_dm_target_spec", sizeof(struct dm_target_spec));
    P("version", offsetof(struct dm_ioctl, version));
    P("data_size", offsetof(struct dm_ioctl, data_size));
    P("data_start", offsetof(struct dm_ioctl, data_start));
    P("target_count", offsetof(struct dm_ioctl, target_count));
    P("open_count", offsetof(struct dm_ioctl, open_count));
    P("flags", offsetof(struct dm_ioctl, flags));
    P("event_nr", offsetof(struct dm_ioctl, event_nr));
    P("padding", offsetof(struct dm_ioctl, padding));
    P("dev", offsetof(struct dm_ioctl, dev));
    P("name", offsetof(struct dm_ioctl, name));
    P("uuid", offsetof(struct dm_ioctl, uuid));
    P("data", offsetof(struct dm_ioctl, data));
    P("spec.sector_start", offsetof(struct dm_target_spec, sector_start));
    P("spec.length", offsetof(struct dm_target_spec, length));
    P("spec.status", offsetof(struct dm_target_spec, status));
    P("spec.next", offsetof(struct dm_target_spec, next));
    P("spec.target_type", offsetof(struct dm_target_spec, target_type));
    P("DM_NAME_LEN", DM_NAME_LEN);
    P("DM_UUID_LEN", DM_UUID_LEN);
    P("DM_MAX_TYPE_NAME", DM_MAX_TYPE_NAME);
    P("DM_VERSION_MAJOR", DM_VERSION_MAJOR);
    P("DM_VERSION", DM_VERSION);
    P("DM_REMOVE_ALL", DM_REMOVE_ALL);
    P("DM_LIST_DEVICES", DM_LIST_DEVICES);
    P("DM_DEV_CREATE", DM_DEV_CREATE);
    P("DM_DEV_REMOVE", DM_DEV_REMOVE);
    P("DM_DEV_RENAME", DM_DEV_RENAME);
    P("DM_DEV_SUSPEND", DM_DEV_SUSPEND);
    P("DM_DEV_STATUS", DM_DEV_STATUS);
    P("DM_DEV_WAIT", DM_DEV_WAIT);
    P("DM_TABLE_LOAD", DM_TABLE_LOAD);
    P("DM_TABLE_CLEAR", DM_TABLE_CLEAR);
    P("DM_TABLE_DEPS", DM_TABLE_DEPS);
    P("DM_TABLE_STATUS", DM_TABLE_STATUS);
    P("DM_LIST_VERSIONS", DM_LIST_VERSIONS);
    P("DM_TARGET_MSG", DM_TARGET_MSG);
    P("DM_DEV_SET_GEOMETRY", DM_DEV_SET_GEOMETRY);
    P("DM_READONLY_FLAG", DM_READONLY_FLAG);
    P("DM_SUSPEND_FLAG", DM_SUSPEND_FLAG);
    P("DM_PERSISTENT_DEV_FLAG", DM_PERSISTENT_DEV_FLAG);
    P("DM_STATUS_TABLE_FLAG", DM_STATUS_TABLE_FLAG);
    P("DM_ACTIVE_PRESENT_FLAG", DM_ACTIVE_PRESENT_FLAG);
    P("DM_INACTIVE_PRESENT_FLAG", DM_INACTIVE_PRESENT_FLAG);
    P("DM_BUFFER_FULL_FLAG", DM_BUFFER_FULL_FLAG);
    P("DM_SKIP_LOCKFS_FLAG", DM_SKIP_LOCKFS_FLAG);
    P("DM_NOFLUSH_FLAG", DM_NOFLUSH_FLAG);
    P("DM_QUERY_INACTIVE_TABLE_FLAG", DM_QUERY_INACTIVE_TABLE_FLAG);
    P("DM_UEVENT_GENERATED_FLAG", DM_UEVENT_GENERATED_FLAG);
    P("DM_UUID_FLAG", DM_UUID_FLAG);
    P("DM_SECURE_DATA_FLAG", DM_SECURE_DATA_FLAG);
    P("DM_DATA_OUT_FLAG", DM_DATA_OUT_FLAG);
    return 0;
}
"#;

fn ours() -> Vec<(&'static str, u64)> {
    let u = |v: usize| u64::try_from(v).unwrap();
    vec![
        ("sizeof_dm_ioctl", u(layout::HEADER_SIZE)),
        ("sizeof_dm_target_spec", u(layout::TARGET_SPEC_SIZE)),
        ("version", u(header::VERSION)),
        ("data_size", u(header::DATA_SIZE)),
        ("data_start", u(header::DATA_START)),
        ("target_count", u(header::TARGET_COUNT)),
        ("open_count", u(header::OPEN_COUNT)),
        ("flags", u(header::FLAGS)),
        ("event_nr", u(header::EVENT_NR)),
        ("padding", u(header::PADDING)),
        ("dev", u(header::DEV)),
        ("name", u(header::NAME)),
        ("uuid", u(header::UUID)),
        ("data", u(header::DATA)),
        ("spec.sector_start", u(spec::SECTOR_START)),
        ("spec.length", u(spec::LENGTH)),
        ("spec.status", u(spec::STATUS)),
        ("spec.next", u(spec::NEXT)),
        ("spec.target_type", u(spec::TARGET_TYPE)),
        ("DM_NAME_LEN", u(layout::NAME_LEN)),
        ("DM_UUID_LEN", u(layout::UUID_LEN)),
        ("DM_MAX_TYPE_NAME", u(layout::MAX_TYPE_NAME)),
        ("DM_VERSION_MAJOR", layout::VERSION_MAJOR.into()),
        ("DM_VERSION", layout::DM_VERSION.into()),
        ("DM_REMOVE_ALL", layout::DM_REMOVE_ALL.into()),
        ("DM_LIST_DEVICES", layout::DM_LIST_DEVICES.into()),
        ("DM_DEV_CREATE", layout::DM_DEV_CREATE.into()),
        ("DM_DEV_REMOVE", layout::DM_DEV_REMOVE.into()),
        ("DM_DEV_RENAME", layout::DM_DEV_RENAME.into()),
        ("DM_DEV_SUSPEND", layout::DM_DEV_SUSPEND.into()),
        ("DM_DEV_STATUS", layout::DM_DEV_STATUS.into()),
        ("DM_DEV_WAIT", layout::DM_DEV_WAIT.into()),
        ("DM_TABLE_LOAD", layout::DM_TABLE_LOAD.into()),
        ("DM_TABLE_CLEAR", layout::DM_TABLE_CLEAR.into()),
        ("DM_TABLE_DEPS", layout::DM_TABLE_DEPS.into()),
        ("DM_TABLE_STATUS", layout::DM_TABLE_STATUS.into()),
        ("DM_LIST_VERSIONS", layout::DM_LIST_VERSIONS.into()),
        ("DM_TARGET_MSG", layout::DM_TARGET_MSG.into()),
        ("DM_DEV_SET_GEOMETRY", layout::DM_DEV_SET_GEOMETRY.into()),
        ("DM_READONLY_FLAG", flags::READONLY.into()),
        ("DM_SUSPEND_FLAG", flags::SUSPEND.into()),
        ("DM_PERSISTENT_DEV_FLAG", flags::PERSISTENT_DEV.into()),
        ("DM_STATUS_TABLE_FLAG", flags::STATUS_TABLE.into()),
        ("DM_ACTIVE_PRESENT_FLAG", flags::ACTIVE_PRESENT.into()),
        ("DM_INACTIVE_PRESENT_FLAG", flags::INACTIVE_PRESENT.into()),
        ("DM_BUFFER_FULL_FLAG", flags::BUFFER_FULL.into()),
        ("DM_SKIP_LOCKFS_FLAG", flags::SKIP_LOCKFS.into()),
        ("DM_NOFLUSH_FLAG", flags::NOFLUSH.into()),
        (
            "DM_QUERY_INACTIVE_TABLE_FLAG",
            flags::QUERY_INACTIVE_TABLE.into(),
        ),
        ("DM_UEVENT_GENERATED_FLAG", flags::UEVENT_GENERATED.into()),
        ("DM_UUID_FLAG", flags::UUID.into()),
        ("DM_SECURE_DATA_FLAG", flags::SECURE_DATA.into()),
        ("DM_DATA_OUT_FLAG", flags::DATA_OUT.into()),
    ]
}

#[test]
fn constants_match_linux_dm_ioctl_h() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("dm.c");
    let exe = dir.path().join("dm");
    std::fs::write(&src, PROGRAM).unwrap();
    let cc = Command::new("cc")
        .arg("-o")
        .arg(&exe)
        .arg(&src)
        .output()
        .expect("cannot run cc (install gcc and linux-libc-dev: ./dev test does)");
    assert!(
        cc.status.success(),
        "cc failed (is linux-libc-dev installed?):\n{}",
        String::from_utf8_lossy(&cc.stderr)
    );
    let out = Command::new(&exe).output().unwrap();
    assert!(out.status.success());
    let theirs: Vec<(String, u64)> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|line| {
            let (name, value) = line.split_once(' ').unwrap();
            (name.to_owned(), value.parse().unwrap())
        })
        .collect();
    let ours: Vec<(String, u64)> = ours()
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect();
    assert_eq!(ours, theirs);
}
