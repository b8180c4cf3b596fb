//! `predict_image` on UKIs built from trixie's stub and kernel, with their
//! section table edited: what the stub measures when `VirtualSize` exceeds
//! the raw data, and the images whose PCR 11 cannot be predicted.

mod support;

use measure::{Error, predict, predict_image};

struct Built {
    image: Vec<u8>,
    linux: Vec<u8>,
}

fn build() -> Built {
    let stub = std::fs::read(support::stub()).unwrap();
    let linux = std::fs::read(support::kernel()).unwrap();
    let image = uki::build(&uki::Inputs {
        stub: &stub,
        linux: &linux,
        initrds: vec![b"initrd"],
        cmdline: Some(b"quiet"),
        os_release: Some(b"ID=clipos\n"),
        ..Default::default()
    })
    .unwrap();
    Built { image, linux }
}

/// Offset of the section header of `name`.
fn header(image: &[u8], name: &str) -> usize {
    let pe = pe::PeFile::parse(image).unwrap();
    let index = pe
        .sections()
        .iter()
        .position(|s| s.name_str() == name)
        .unwrap();
    pe.section_table_offset() + index * pe::raw::section::SIZE
}

fn rename(image: &mut [u8], from: &str, to: &str) {
    let at = header(image, from);
    let mut name = [0u8; 8];
    name[..to.len()].copy_from_slice(to.as_bytes());
    image[at..at + 8].copy_from_slice(&name);
}

fn set_virtual_size(image: &mut [u8], name: &str, size: u32) {
    let at = header(image, name) + pe::raw::section::VIRTUAL_SIZE;
    image[at..at + 4].copy_from_slice(&size.to_le_bytes());
}

fn sbat(image: &[u8]) -> Vec<u8> {
    let pe = pe::PeFile::parse(image).unwrap();
    pe.section_contents(pe.section(".sbat").unwrap()).to_vec()
}

#[test]
fn measures_virtual_size_bytes_zeros_included() {
    let b = build();
    let sbat = sbat(&b.image);
    let base: Vec<(&str, &[u8])> = vec![
        (".linux", &b.linux),
        (".osrel", b"ID=clipos\n"),
        (".cmdline", b"quiet"),
        (".initrd", b"initrd"),
        (".sbat", &sbat),
    ];
    assert_eq!(predict_image(&b.image).unwrap(), predict(&base).unwrap());

    // .cmdline's VirtualSize 5 → 9: its 5 bytes, then the file alignment
    // padding (zeros in the file) up to 9.
    let mut image = b.image.clone();
    set_virtual_size(&mut image, ".cmdline", 9);
    let mut cmdline = b"quiet".to_vec();
    cmdline.resize(9, 0);
    let mut sections = base.clone();
    sections[2].1 = &cmdline;
    assert_eq!(predict_image(&image).unwrap(), predict(&sections).unwrap());

    // .initrd is last in memory: VirtualSize past its raw data (one file
    // alignment unit) measures zeros the stub's loader fills in.
    let mut image = b.image.clone();
    set_virtual_size(&mut image, ".initrd", 0x1000);
    let mut initrd = b"initrd".to_vec();
    initrd.resize(0x1000, 0);
    let mut sections = base.clone();
    sections[3].1 = &initrd;
    let p = predict_image(&image).unwrap();
    assert_eq!(p, predict(&sections).unwrap());
    assert_eq!(p.sections[3].size, 0x1000);
}

#[test]
fn refuses_what_the_stub_would_measure_differently() {
    let b = build();
    let err = |image: &[u8]| predict_image(image).unwrap_err().to_string();

    let mut image = b.image.clone();
    rename(&mut image, ".osrel", ".cmdline");
    assert_eq!(
        err(&image),
        "the image has two .cmdline sections: systemd-stub measures one of them only"
    );
    let mut image = b.image.clone();
    rename(&mut image, ".osrel", ".profile");
    assert_eq!(
        err(&image),
        "the image has a .profile section, which cannot be predicted: multi-profile UKIs measure the profile chosen at boot"
    );
    let mut image = b.image.clone();
    rename(&mut image, ".osrel", ".dtbauto");
    assert!(matches!(
        predict_image(&image),
        Err(Error::Unpredictable {
            name: ".dtbauto",
            ..
        })
    ));
    let mut image = b.image.clone();
    rename(&mut image, ".linux", ".linuy");
    assert_eq!(
        err(&image),
        "there is no .linux section: systemd-stub refuses to boot such an image"
    );
    let mut image = b.image.clone();
    set_virtual_size(&mut image, ".osrel", 0);
    assert_eq!(
        err(&image),
        "the image's .osrel section is empty (VirtualSize 0)"
    );
    let mut image = b.image.clone();
    let size_of_image = pe::PeFile::parse(&image).unwrap().size_of_image();
    set_virtual_size(&mut image, ".initrd", 0x1001);
    let end = {
        let pe = pe::PeFile::parse(&image).unwrap();
        pe.section(".initrd").unwrap().virtual_end()
    };
    assert_eq!(
        err(&image),
        format!(
            "the image's .initrd section ends at {end:#x} in memory, past SizeOfImage \
             {size_of_image:#x}: firmware would not load the image"
        )
    );
    assert!(err(&b.image[..100]).starts_with("the image is not a usable PE image: "));

    // Two .pcrsig: refused too (which one would the stub pass on?).
    let mut image = b.image.clone();
    rename(&mut image, ".osrel", ".pcrsig");
    rename(&mut image, ".cmdline", ".pcrsig");
    assert_eq!(
        err(&image),
        "the image has two .pcrsig sections: systemd-stub measures one of them only"
    );
    // One .pcrsig is not measured.
    let mut image = b.image.clone();
    rename(&mut image, ".osrel", ".pcrsig");
    let p = predict_image(&image).unwrap();
    assert!(
        p.sections
            .iter()
            .all(|m| m.name != ".pcrsig" && m.name != ".osrel")
    );
}
