//! Issue 9, item 5: a power cut at a random point of an update leaves a
//! good version booting. Each trial boots a fresh copy of update_support's
//! v1 disk with its repository offering v2, waits for the
//! daemon's request of v2's release.json in the server's access log, then
//! for its trial's phase (below), waits a random delay and SIGKILLs QEMU
//! (found by its process ID). Then the same disk and TPM boot again with
//! the server, until the first clip-status report: every boot must be a
//! verified version (v1 or v2), no `clip-init: FATAL`, no hang. Whether
//! the interrupted update completes later is not waited for here (another
//! apply and reboot per trial); clip-updated's host tests kill it at
//! random points and then complete it.
//!
//! The cuts are spread over the whole update deliberately, by phase
//! rather than by one span of time (which a loaded machine stretches, so
//! that every cut once fell in the download): each phase begins at a mark
//! the test sees (v2's release.json in the access log, then clip-updated's
//! own steps on the console, then the reboot), and a trial cuts a random
//! delay after its phase's mark, within the phase's window. Phases, in
//! order: download, writing the slot, reading it back, GPT entries and
//! ESP (UKI, then the `+3` entry: the commit point), the reboot into v2,
//! v2's first boot before it is marked good. Trial i of n takes phase
//! (k + 6i/n) mod 6, k from the seed: 3 trials cover every other phase,
//! 10 cover all six. Each trial reports the last mark seen before the cut,
//! which is where it fell. 3 trials by default, 10 with
//! CLIP_FULL_TRIALS=1; CLIP_TRIAL_SEED=N replays a run (the seed is
//! printed).

mod image_support;
#[path = "update_guest_support/mod.rs"]
mod support;
mod update_support;

use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use support::*;

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

/// Lines of the access log after byte `from` whose request contains
/// `what`. A line is written when its answer ends, so the small
/// release.json of v2 marks the start of the payload download (the daemon
/// asks for it just before root.erofs.zst) while a payload's line appears
/// only once that payload has been sent (or cut).
fn requests(log: &std::path::Path, from: usize, what: &str) -> Vec<String> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.get(from..)
        .unwrap_or("")
        .lines()
        .filter(|l| l.contains(what))
        .map(str::to_owned)
        .collect()
}

/// A phase of the update: the console marks that begin it, in order after
/// v2's release.json (none: the download, which that request begins), and
/// the window after the last of them within which its cuts fall.
struct Phase {
    name: &'static str,
    marks: &'static [&'static str],
    window_s: f64,
}

const PHASES: [Phase; 6] = [
    Phase {
        name: "download",
        marks: &[],
        window_s: 20.0,
    },
    Phase {
        name: "writing the slot",
        marks: &["payload checked", "payload checked", "payload checked"],
        window_s: 40.0,
    },
    Phase {
        name: "reading the slot back",
        marks: &["written and synced"],
        window_s: 20.0,
    },
    Phase {
        name: "GPT entries and ESP",
        marks: &["read back: verity root hash"],
        window_s: 6.0,
    },
    Phase {
        name: "reboot into v2",
        marks: &["Installed: "],
        window_s: 15.0,
    },
    Phase {
        name: "v2's first boot",
        marks: &["Installed: ", "clip-init: starting"],
        window_s: 30.0,
    },
];

/// clip-updated's line as the download of the update's first payload
/// begins (the release.json before it is a small target, fetched without
/// this line).
const DOWNLOAD_MARK: &str = " downloading url=";

/// The steps of an update as the console shows them after
/// [`DOWNLOAD_MARK`], in order: (what was done, its mark, how many times
/// the mark appears by then).
const STEPS: [(&str, &str, usize); 9] = [
    (
        "all three payloads downloaded and checked",
        "payload checked",
        3,
    ),
    ("slot written and synced", "written and synced", 1),
    (
        "slot read back and verified",
        "read back: verity root hash",
        1,
    ),
    ("GPT entries updated", "GPT entries of slot", 1),
    ("UKI written", "UKI of slot", 1),
    (
        "+3 entry written (the commit point)",
        ".conf written and synced",
        1,
    ),
    ("Installed: printed, rebooting", "Installed: ", 1),
    ("v2's clip-init started", "clip-init: starting", 1),
    ("v2 marked good", "Marked good: ", 1),
];

/// The last step the console shows in `log`: where a cut fell. Only what
/// follows the first download counts: v1's own boot printed some of the
/// marks before it (its clip-init, its mark-good).
fn last_step(log: &str) -> &'static str {
    let Some(at) = log.find(DOWNLOAD_MARK) else {
        return "before the first payload download";
    };
    let log = &log[at..];
    STEPS
        .iter()
        .rev()
        .find(|(_, mark, n)| log.matches(mark).count() >= *n)
        .map_or("downloading (no payload checked yet)", |(what, _, _)| *what)
}

/// The report of where a cut fell ignores v1's own boot; its first run
/// (the 10-trial run at 3b8ec71) said "v2 marked good" for every cut
/// because v1's mark-good and clip-init lines counted.
#[test]
fn where_a_cut_fell_is_read_after_the_download_began() {
    let v1 = "clip-init: starting\nMarked good: clipos-a.conf is marked good already\n";
    let download = "INFO clip_updated::repo: downloading url=http://10.0.2.100/x held=0 length=9\n";
    assert_eq!(last_step(v1), "before the first payload download");
    let log = format!("{v1}{download}");
    assert_eq!(last_step(&log), "downloading (no payload checked yet)");
    let log = format!("{log}payload checked\npayload checked\n");
    assert_eq!(last_step(&log), "downloading (no payload checked yet)");
    let log = format!("{log}payload checked\nslot b written and synced\n");
    assert_eq!(last_step(&log), "slot written and synced");
    let log = format!(
        "{log}slot b read back: verity root hash and sha256 match\nGPT entries of slot b updated\n\
         UKI of slot b written; next, its boot entry clipos-b+3.conf\n"
    );
    assert_eq!(last_step(&log), "UKI written");
    let log = format!("{log}boot entry clipos-b+3.conf written and synced\n");
    assert_eq!(last_step(&log), "+3 entry written (the commit point)");
    let log = format!("{log}Installed: 5.1.0 in slot b\nclip-init: starting\n");
    assert_eq!(last_step(&log), "v2's clip-init started");
    let log = format!("{log}Marked good: clipos-b+2-1.conf renamed to clipos-b.conf\n");
    assert_eq!(last_step(&log), "v2 marked good");
}

#[test]
#[ignore = "issue 9 end-to-end update test, too slow for ./dev test's time budget (with the other two, 27 min more): ./dev test-updates runs it"]
fn a_power_cut_at_any_point_of_an_update_leaves_a_good_version_booting() {
    let t0 = Instant::now();
    let full = std::env::var("CLIP_FULL_TRIALS").is_ok_and(|v| v == "1");
    let trials: u64 = if full { 10 } else { 3 };
    let seed = env_u64("CLIP_TRIAL_SEED").unwrap_or_else(|| {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap();
        u64::try_from(now.as_nanos()).unwrap()
    });
    eprintln!("power cut: {trials} trials, CLIP_TRIAL_SEED={seed}");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let first_phase: u64 = rng.gen_range(0..6);

    let f = update_support::fixture();
    let keys = f.keys.clone();
    let (v1, v2) = (update_support::V1, update_support::V2);
    let expect_v2 = format!("\"version\":\"{v2}\",\"slot\":\"b\"");
    // One private copy of v1's disk, copied again for each trial: the
    // shared build may be remade by another test process meanwhile.
    let base_disk = update_support::v1_disk("powercut-base");
    let server = update_support::serve(&f.repo_v2);
    let access = server.access_log.clone();
    eprintln!("fixture: {:.1} s", t0.elapsed().as_secs_f64());

    let mut summary = Vec::new();
    for i in 0..trials {
        let t_trial = Instant::now();
        let phase = &PHASES[usize::try_from((first_phase + 6 * i / trials) % 6).unwrap()];
        let u: f64 = rng.r#gen();
        let delay = Duration::from_secs_f64(phase.window_s * u);
        let disk = machine_copy(&base_disk, &format!("update-powercut-{i}"));
        let from = std::fs::metadata(&access).map_or(0, |m| usize::try_from(m.len()).unwrap());

        // The boot that is cut.
        let serial = disk.with_file_name("serial-cut.log");
        let mut boot = start_boot(
            &disk,
            &keys,
            &serial,
            &[
                "--update-server",
                &server.url,
                "--max-boots",
                "3",
                "--timeout",
                "900",
                "--refuse",
                "clip-init: FATAL",
                "--expect",
                &expect_v2,
            ],
        );
        let wait_start = Instant::now();
        let start_marker = format!("/{v2}/");
        while requests(&access, from, &start_marker)
            .iter()
            .all(|l| !l.contains("release.json HTTP/1.1\" 200"))
        {
            assert!(
                boot.child.try_wait().unwrap().is_none(),
                "trial {i}: clip boot ended before the download:\n{}",
                tail_of(&boot.log(), 4000)
            );
            assert!(
                wait_start.elapsed() < Duration::from_secs(600),
                "trial {i}: v2's release.json not asked for in 600 s:\n{}",
                tail_of(&boot.log(), 4000)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let download_at = boot.started.elapsed();
        let mut at = 0;
        for mark in phase.marks {
            at = boot.wait_line(mark, at, Duration::from_secs(900)).1;
        }
        let phase_at = boot.started.elapsed();
        std::thread::sleep(delay);
        let before_kill = boot.log();
        let killed = kill_qemu(&disk);
        let (code, _, _) = boot.finish();
        let payloads = requests(&access, from, ".zst HTTP/1.1").len();
        let installed = before_kill.contains(&format!("Installed: {v2}"));
        let rebooted = before_kill.matches("clip-init: starting").count() > 1;
        assert!(
            !before_kill.contains("clip-init: FATAL"),
            "trial {i}: FATAL before the cut:\n{before_kill}"
        );
        for l in before_kill.lines().filter(|l| l.contains("CLIP-STATUS {")) {
            assert!(l.contains("\"verified\":true"), "trial {i}: {l}");
        }

        // The same disk and TPM again, with the server: the first
        // clip-status report ends the run; it must be a verified v1 or v2.
        let serial2 = disk.with_file_name("serial-after.log");
        let boot2 = start_boot(
            &disk,
            &keys,
            &serial2,
            &[
                "--update-server",
                &server.url,
                "--max-boots",
                "3",
                "--timeout",
                "900",
                "--refuse",
                "clip-init: FATAL",
                "--expect",
                "CLIP-STATUS {",
            ],
        );
        let (code2, report2, err2) = boot2.finish();
        let after = std::fs::read_to_string(&serial2).unwrap_or_default();
        assert_eq!(
            code2,
            Some(0),
            "trial {i} (CLIP_TRIAL_SEED={seed}, phase {:?}, cut {:.1} s after its mark, \
             last step before the cut: {}): the boot after the cut failed: {err2}\n{}",
            phase.name,
            delay.as_secs_f64(),
            last_step(&before_kill),
            tail_of(&after, 6000)
        );
        let statuses: Vec<&str> = after
            .lines()
            .filter(|l| l.contains("CLIP-STATUS {"))
            .collect();
        assert!(!statuses.is_empty(), "trial {i}: no CLIP-STATUS");
        let mut versions = Vec::new();
        for l in &statuses {
            let j: serde_json::Value =
                serde_json::from_str(l.split_once("CLIP-STATUS ").unwrap().1.trim()).unwrap();
            assert_eq!(j["verified"], true, "trial {i}: {l}");
            let v = j["version"].as_str().unwrap().to_owned();
            assert!(v == v1 || v == v2, "trial {i}: {l}");
            versions.push(format!("{v}/{}", j["slot"].as_str().unwrap()));
        }
        let daemon_error = after
            .lines()
            .find(|l| l.contains("clip-updated[") && l.contains("]: error: "))
            .map_or("none".to_owned(), |l| l.trim().to_owned());
        let line = format!(
            "trial {i}: phase {:?}, cut {:.1} s after its mark ({:.1} s after v2's release.json, \
             {:.1} s into the boot); last step before the cut: {}; {payloads} payload answers \
             ended; installed before the cut: {installed}; rebooted before the cut: {rebooted}; \
             qemu killed: {killed}, clip boot exit {code:?}; then {} boot(s): {}; daemon error \
             after the cut: {daemon_error}; trial {:.1} s",
            phase.name,
            delay.as_secs_f64(),
            (phase_at + delay - download_at).as_secs_f64(),
            download_at.as_secs_f64(),
            last_step(&before_kill),
            report2["boot_count"],
            versions.join(" -> "),
            t_trial.elapsed().as_secs_f64()
        );
        eprintln!("{line}");
        summary.push(line);
    }
    drop(server);
    eprintln!(
        "CLIP_TRIAL_SEED={seed}: {trials} trials in {:.1} s\n{}",
        t0.elapsed().as_secs_f64(),
        summary.join("\n")
    );
}
