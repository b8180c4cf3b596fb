//! Cross-checks with tpm2-tools (Debian package tpm2-tools, the tpm2-tss
//! implementation) on the same swtpm: the SRK's Name, the PCR-policy key's
//! Name, the policy digests of trial sessions (which validates `policy`),
//! the serialized SRK handle, and an unseal of our sealed object by
//! tpm2-tools. A missing tpm2-tools fails these tests.

mod common;

use std::process::Command;

use common::*;
use tpm2::policy::{self, PcrSelection};
use tpm2::public::Public;
use tpm2::swtpm::Swtpm;
use tpm2::{PcrValue, SealPolicy, seal};

/// Runs a tpm2-tools command against `sw` in its directory; panics with
/// its output if it fails.
fn tool(sw: &Swtpm, args: &[&str]) -> String {
    let out = Command::new(args[0])
        .args(&args[1..])
        .current_dir(sw.dir())
        .env("TPM2TOOLS_TCTI", sw.tcti())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {} (Debian package tpm2-tools): {e}", args[0]));
    assert!(
        out.status.success(),
        "{args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn read(sw: &Swtpm, file: &str) -> Vec<u8> {
    std::fs::read(sw.dir().join(file)).unwrap()
}

fn write(sw: &Swtpm, file: &str, bytes: &[u8]) {
    std::fs::write(sw.dir().join(file), bytes).unwrap();
}

#[test]
fn srk_name_matches_tpm2_createprimary() {
    let sw = Swtpm::start_tcp();
    tool(
        &sw,
        &[
            "tpm2_createprimary",
            "-C",
            "o",
            "-g",
            "sha256",
            "-G",
            "ecc256:null:aes128cfb",
            "-a",
            "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|noda|restricted|decrypt",
            "-c",
            "srk.ctx",
        ],
    );
    tool(&sw, &["tpm2_readpublic", "-c", "srk.ctx", "-n", "srk.name"]);
    tool(&sw, &["tpm2_flushcontext", "-t"]);
    let mut tpm = sw.tpm();
    let srk = tpm.create_primary(&Public::srk_ecc()).unwrap();
    assert_eq!(hex::encode(&srk.name), hex::encode(read(&sw, "srk.name")));

    drop(tpm);
    tool(
        &sw,
        &[
            "tpm2_createprimary",
            "-C",
            "o",
            "-g",
            "sha256",
            "-G",
            "rsa2048:null:aes128cfb",
            "-a",
            "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|noda|restricted|decrypt",
            "-c",
            "rsa.ctx",
        ],
    );
    tool(&sw, &["tpm2_readpublic", "-c", "rsa.ctx", "-n", "rsa.name"]);
    tool(&sw, &["tpm2_flushcontext", "-t"]);
    let mut tpm = sw.tpm();
    let srk = tpm.create_primary(&Public::srk_rsa()).unwrap();
    assert_eq!(hex::encode(&srk.name), hex::encode(read(&sw, "rsa.name")));
}

#[test]
fn policy_digests_match_tpm2_tools_trial_sessions() {
    let sw = Swtpm::start_tcp();
    let (_, key) = policy_key_pair();
    write(&sw, "key.pem", key.pem().as_bytes());
    // The PCR-policy key's Name as tpm2_loadexternal computes it.
    tool(
        &sw,
        &[
            "tpm2_loadexternal",
            "-C",
            "o",
            "-G",
            "rsa",
            "-u",
            "key.pem",
            "-c",
            "key.ctx",
            "-n",
            "key.name",
        ],
    );
    tool(&sw, &["tpm2_flushcontext", "-t"]);
    assert_eq!(hex::encode(key.name()), hex::encode(read(&sw, "key.name")));

    // PolicyAuthorize -> PolicyPCR(7) -> PolicyAuthValue, step by step.
    let approved = pcr11_policy(&[0x5a; 32]);
    let pcr7 = [0x77; 32];
    write(&sw, "approved.bin", &approved);
    write(&sw, "pcr7.bin", &pcr7);
    tool(&sw, &["tpm2_startauthsession", "-S", "s.ctx"]);
    tool(
        &sw,
        &[
            "tpm2_policyauthorize",
            "-S",
            "s.ctx",
            "-L",
            "1.pol",
            "-i",
            "approved.bin",
            "-n",
            "key.name",
        ],
    );
    tool(
        &sw,
        &[
            "tpm2_policypcr",
            "-S",
            "s.ctx",
            "-l",
            "sha256:7",
            "-f",
            "pcr7.bin",
            "-L",
            "2.pol",
        ],
    );
    tool(&sw, &["tpm2_policyauthvalue", "-S", "s.ctx", "-L", "3.pol"]);
    tool(&sw, &["tpm2_flushcontext", "s.ctx"]);

    let step1 = policy::authorize(&key.name(), &[]);
    let step2 = policy::pcr(&step1, PcrSelection::of(&[7]).unwrap(), &[pcr7]);
    let step3 = policy::auth_value(&step2);
    assert_eq!(hex::encode(step1), hex::encode(read(&sw, "1.pol")));
    assert_eq!(hex::encode(step2), hex::encode(read(&sw, "2.pol")));
    assert_eq!(hex::encode(step3), hex::encode(read(&sw, "3.pol")));

    // The signed part: PolicyPCR(11) from the empty digest, and a selection
    // of several PCRs (values concatenated lowest first).
    write(&sw, "pcr11.bin", &[0x5a; 32]);
    write(&sw, "multi.bin", &[[1u8; 32], [2; 32], [3; 32]].concat());
    tool(&sw, &["tpm2_startauthsession", "-S", "t.ctx"]);
    tool(
        &sw,
        &[
            "tpm2_policypcr",
            "-S",
            "t.ctx",
            "-l",
            "sha256:11",
            "-f",
            "pcr11.bin",
            "-L",
            "11.pol",
        ],
    );
    tool(&sw, &["tpm2_flushcontext", "t.ctx"]);
    assert_eq!(hex::encode(approved), hex::encode(read(&sw, "11.pol")));
    tool(&sw, &["tpm2_startauthsession", "-S", "u.ctx"]);
    tool(
        &sw,
        &[
            "tpm2_policypcr",
            "-S",
            "u.ctx",
            "-l",
            "sha256:0,7,23",
            "-f",
            "multi.bin",
            "-L",
            "m.pol",
        ],
    );
    tool(&sw, &["tpm2_flushcontext", "u.ctx"]);
    let multi = policy::pcr(
        &policy::EMPTY,
        PcrSelection::of(&[23, 0, 7]).unwrap(),
        &[[1; 32], [2; 32], [3; 32]],
    );
    assert_eq!(hex::encode(multi), hex::encode(read(&sw, "m.pol")));
}

#[test]
fn tpm2_tools_unseals_what_we_sealed_and_reads_the_same_srk() {
    let sw = Swtpm::start_tcp();
    let secret = b"sealed by the tpm2 crate";
    let sealed = {
        let mut tpm = sw.tpm();
        tpm.pcr_extend(7, &[0x70; 32]).unwrap();
        seal(
            &mut tpm,
            secret,
            &SealPolicy {
                pcr7: Some(PcrValue::Current),
                ..Default::default()
            },
        )
        .unwrap()
    };
    // tpm2_srk: the ESYS_TR tpm2-tss serializes for the persistent SRK.
    tool(
        &sw,
        &["tpm2_readpublic", "-c", "0x81000001", "-t", "srk.tr"],
    );
    assert_eq!(
        hex::encode(sealed.srk_esys_tr()),
        hex::encode(read(&sw, "srk.tr"))
    );
    // tpm2-blob's halves load and unseal under a PCR 7 policy session.
    let (private, public) = tpm2::Sealed::split_blob(&sealed.blob()).unwrap();
    write(&sw, "obj.priv", &private);
    write(&sw, "obj.pub", &public);
    tool(
        &sw,
        &[
            "tpm2_load",
            "-C",
            "0x81000001",
            "-u",
            "obj.pub",
            "-r",
            "obj.priv",
            "-c",
            "obj.ctx",
        ],
    );
    tool(
        &sw,
        &["tpm2_startauthsession", "--policy-session", "-S", "p.ctx"],
    );
    tool(&sw, &["tpm2_policypcr", "-S", "p.ctx", "-l", "sha256:7"]);
    tool(
        &sw,
        &[
            "tpm2_unseal",
            "-c",
            "obj.ctx",
            "-p",
            "session:p.ctx",
            "-o",
            "out.bin",
        ],
    );
    assert_eq!(read(&sw, "out.bin"), secret);
}
