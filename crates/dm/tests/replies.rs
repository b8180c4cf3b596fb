//! Reply parsing against synthetic kernel replies.
//!
//! `status_reply` lays a reply out as `dm-ioctl.c` does: the header as the
//! kernel returns it (version 4.47.0 as on Linux 6.1, `data_start` 312),
//! then, as `retrieve_status` writes them, each target spec, its string and
//! NUL, `next` = the 8-aligned end of that string counted from the first
//! spec, and `data_size` = `data_start` + the bytes used (the last string's
//! NUL, unaligned). Offsets are literals from dm-ioctl.h.

use dm::layout::flags;
use dm::{Error, Reply, ReplyError, ReplyErrorKind as Kind, VerityStatus, verity_status};

struct Spec<'a> {
    sector_start: u64,
    length: u64,
    status: i32,
    target_type: &'a str,
    params: &'a str,
}

fn verity(params: &str) -> Spec<'_> {
    Spec {
        sector_start: 0,
        length: 2097152,
        status: 0,
        target_type: "verity",
        params,
    }
}

fn put(buf: &mut [u8], at: usize, bytes: &[u8]) {
    buf[at..at + bytes.len()].copy_from_slice(bytes);
}

fn status_reply(flags: u32, specs: &[Spec]) -> Vec<u8> {
    let mut buf = vec![0u8; 4096];
    put(&mut buf, 0, &[4, 0, 0, 0, 47, 0, 0, 0, 0, 0, 0, 0]);
    put(&mut buf, 16, &312u32.to_le_bytes());
    put(
        &mut buf,
        20,
        &u32::try_from(specs.len()).unwrap().to_le_bytes(),
    );
    put(&mut buf, 24, &1i32.to_le_bytes());
    put(&mut buf, 28, &flags.to_le_bytes());
    put(&mut buf, 32, &7u32.to_le_bytes());
    put(&mut buf, 40, &0xfd00u64.to_le_bytes());
    put(&mut buf, 48, b"root");
    put(&mut buf, 176, b"CLIP-verity-root");
    let mut rel = 0usize;
    let mut used = 312;
    for s in specs {
        let at = 312 + rel;
        put(&mut buf, at, &s.sector_start.to_le_bytes());
        put(&mut buf, at + 8, &s.length.to_le_bytes());
        put(&mut buf, at + 16, &s.status.to_le_bytes());
        put(&mut buf, at + 24, s.target_type.as_bytes());
        put(&mut buf, at + 40, s.params.as_bytes());
        let end = rel + 40 + s.params.len() + 1;
        used = 312 + end;
        rel = end.next_multiple_of(8);
        put(
            &mut buf,
            at + 20,
            &u32::try_from(rel).unwrap().to_le_bytes(),
        );
    }
    put(&mut buf, 12, &u32::try_from(used).unwrap().to_le_bytes());
    buf
}

const ACTIVE_RO: u32 = flags::ACTIVE_PRESENT | flags::READONLY;

fn reply_err(kind: Kind, offset: usize) -> Error {
    Error::Reply(ReplyError { kind, offset })
}

#[test]
fn verity_verified_and_corrupted() {
    for (status, want) in [
        ("V", VerityStatus::Verified),
        ("C", VerityStatus::Corrupted),
        // Kernels with the FEC "corrected" count append a field.
        ("V -", VerityStatus::Verified),
        ("C 3", VerityStatus::Corrupted),
    ] {
        let buf = status_reply(ACTIVE_RO, &[verity(status)]);
        assert_eq!(verity_status(&buf), Ok(want), "{status:?}");
    }
}

#[test]
fn header_fields() {
    let buf = status_reply(ACTIVE_RO, &[verity("V")]);
    let reply = Reply::parse(&buf).unwrap();
    assert_eq!(reply.version, [4, 47, 0]);
    // 312 + 40 + "V" + NUL.
    assert_eq!(reply.data_size, 354);
    assert_eq!(reply.data_start, 312);
    assert_eq!(reply.target_count, 1);
    assert_eq!(reply.open_count, 1);
    assert_eq!(reply.flags, ACTIVE_RO);
    assert_eq!(reply.event_nr, 7);
    assert_eq!(reply.major_minor(), (253, 0));
    assert_eq!(reply.name, "root");
    assert_eq!(reply.uuid, "CLIP-verity-root");
}

#[test]
fn target_chain() {
    let table = "1 253:1 253:2 4096 4096 262144 1 sha256 00 -";
    let buf = status_reply(
        ACTIVE_RO,
        &[
            Spec {
                sector_start: 0,
                length: 8,
                status: 0,
                target_type: "zero",
                params: "",
            },
            verity(table),
            Spec {
                sector_start: 2097160,
                length: 16,
                status: -5,
                target_type: "error",
                params: "x",
            },
        ],
    );
    let targets = Reply::parse(&buf).unwrap().targets().unwrap();
    let summary: Vec<_> = targets
        .iter()
        .map(|t| {
            (
                t.offset,
                t.sector_start,
                t.length,
                t.status,
                t.target_type,
                t.params,
            )
        })
        .collect();
    // Spec 0 at 312 ends at 40 + 1 = 41 -> next 48; spec 1 at 360 ends at
    // 48 + 40 + 44 + 1 = 133 -> next 136, spec 2 at 448.
    assert_eq!(
        summary,
        [
            (312, 0, 8, 0, "zero", ""),
            (360, 0, 2097152, 0, "verity", table),
            (448, 2097160, 16, -5, "error", "x"),
        ]
    );
    // Not a single verity target.
    assert_eq!(
        verity_status(&buf),
        Err(reply_err(Kind::TargetCountNotOne(3), 20))
    );
}

#[test]
fn reply_without_data() {
    // After DM_DEV_CREATE or a resume: data_size = offsetof(dm_ioctl, data).
    let mut buf = status_reply(0, &[]);
    put(&mut buf, 12, &305u32.to_le_bytes());
    buf.truncate(312);
    let reply = Reply::parse(&buf).unwrap();
    assert_eq!(reply.targets().unwrap(), []);
    assert_eq!(verity_status(&buf), Err(reply_err(Kind::NoActiveTable, 28)));
}

#[test]
fn malformed_headers() {
    let good = status_reply(ACTIVE_RO, &[verity("V")]);
    let parse_err = |buf: &[u8]| Reply::parse(buf).unwrap_err();
    let patched = |at: usize, bytes: &[u8]| {
        let mut buf = good.clone();
        put(&mut buf, at, bytes);
        buf
    };

    assert_eq!(
        parse_err(&good[..311]),
        ReplyError {
            kind: Kind::Truncated {
                len: 311,
                need: 312
            },
            offset: 311
        }
    );
    assert_eq!(parse_err(&patched(0, &[3])).offset, 0);
    assert!(matches!(
        parse_err(&patched(0, &[3])).kind,
        Kind::Version(3, 47, 0)
    ));
    // data_size beyond the buffer, and below offsetof(data).
    let e = parse_err(&patched(12, &4097u32.to_le_bytes()));
    assert_eq!(
        (e.offset, matches!(e.kind, Kind::DataSize { .. })),
        (12, true)
    );
    let e = parse_err(&patched(12, &304u32.to_le_bytes()));
    assert_eq!(
        (e.offset, matches!(e.kind, Kind::DataSize { .. })),
        (12, true)
    );
    // name and uuid without NUL, name not UTF-8.
    let e = parse_err(&patched(48, &[b'n'; 128]));
    assert_eq!(
        e,
        ReplyError {
            kind: Kind::Unterminated { field: "name" },
            offset: 48
        }
    );
    let e = parse_err(&patched(176, &[b'u'; 129]));
    assert_eq!(
        e,
        ReplyError {
            kind: Kind::Unterminated { field: "uuid" },
            offset: 176
        }
    );
    let e = parse_err(&patched(48, b"ro\xff"));
    assert_eq!(
        e,
        ReplyError {
            kind: Kind::NotUtf8 { field: "name" },
            offset: 50
        }
    );
}

#[test]
fn malformed_targets() {
    let specs = [verity("V"), verity("C")];
    let good = status_reply(ACTIVE_RO, &specs);
    let targets_err = |buf: &[u8]| Reply::parse(buf).unwrap().targets().unwrap_err();
    let patched = |at: usize, bytes: &[u8]| {
        let mut buf = good.clone();
        put(&mut buf, at, bytes);
        buf
    };
    assert_eq!(Reply::parse(&good).unwrap().targets().unwrap().len(), 2);

    let buffer_full = patched(28, &(ACTIVE_RO | flags::BUFFER_FULL).to_le_bytes());
    assert_eq!(
        targets_err(&buffer_full),
        ReplyError {
            kind: Kind::BufferFull,
            offset: 28
        }
    );

    let e = targets_err(&patched(16, &311u32.to_le_bytes()));
    assert_eq!(
        (e.offset, matches!(e.kind, Kind::DataStart { .. })),
        (16, true)
    );
    // data_start past data_size (354 + 48 = 402).
    let e = targets_err(&patched(16, &403u32.to_le_bytes()));
    assert_eq!(
        (e.offset, matches!(e.kind, Kind::DataStart { .. })),
        (16, true)
    );

    // 90 bytes of data hold at most 2 specs of 41 bytes.
    let e = targets_err(&patched(20, &3u32.to_le_bytes()));
    assert_eq!(
        e,
        ReplyError {
            kind: Kind::TargetCount(3),
            offset: 20
        }
    );

    // Spec 0's next (at 312 + 20) going back into spec 0, and misaligned.
    let e = targets_err(&patched(332, &40u32.to_le_bytes()));
    assert_eq!(
        e,
        ReplyError {
            kind: Kind::SpecNext {
                index: 0,
                next: 40,
                end: 42
            },
            offset: 332
        }
    );
    let e = targets_err(&patched(332, &44u32.to_le_bytes()));
    assert_eq!(
        e,
        ReplyError {
            kind: Kind::SpecAlignment { index: 0, next: 44 },
            offset: 332
        }
    );
    // Spec 1 pushed past data_size (data is 90 bytes).
    let e = targets_err(&patched(332, &56u32.to_le_bytes()));
    assert_eq!(
        e,
        ReplyError {
            kind: Kind::SpecOutOfBounds { index: 1 },
            offset: 368
        }
    );

    // Spec 1 (at 360): unterminated target type and status string; the
    // string's NUL is the last byte of data_size.
    let e = targets_err(&patched(360 + 24, &[b't'; 16]));
    assert_eq!(
        e,
        ReplyError {
            kind: Kind::Unterminated {
                field: "target_type"
            },
            offset: 384
        }
    );
    let e = targets_err(&patched(401, b"x"));
    assert_eq!(
        e,
        ReplyError {
            kind: Kind::Unterminated {
                field: "target params"
            },
            offset: 400
        }
    );
    let e = targets_err(&patched(400, b"\xc3"));
    assert_eq!(
        e,
        ReplyError {
            kind: Kind::NotUtf8 {
                field: "target params"
            },
            offset: 400
        }
    );
}

#[test]
fn verity_status_refusals() {
    let cases: [(u32, Spec, Kind, usize); 5] = [
        (flags::READONLY, verity("V"), Kind::NoActiveTable, 28),
        (ACTIVE_RO | flags::SUSPEND, verity("V"), Kind::Suspended, 28),
        (flags::ACTIVE_PRESENT, verity("V"), Kind::Writable, 28),
        (
            ACTIVE_RO,
            Spec {
                target_type: "linear",
                ..verity("V")
            },
            Kind::NotVerity("linear".into()),
            336,
        ),
        (
            ACTIVE_RO,
            verity("1 253:1 253:2"),
            Kind::VerityStatus("1 253:1 253:2".into()),
            352,
        ),
    ];
    for (flags, spec, kind, offset) in cases {
        let buf = status_reply(flags, &[spec]);
        assert_eq!(verity_status(&buf), Err(reply_err(kind, offset)));
    }
    // An empty status is not a verity status either.
    let buf = status_reply(ACTIVE_RO, &[verity("")]);
    assert_eq!(
        verity_status(&buf),
        Err(reply_err(Kind::VerityStatus(String::new()), 352))
    );
}
