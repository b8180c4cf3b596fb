//! A complete key set: PK → KEK → db certificates with their signature
//! lists and signed enrolment updates, the `noPK` update that clears the PK,
//! and the separate update-signing key.
//!
//! Who signs what (UEFI 2.10 §32.3.1–§32.3.3): a PK update is signed by the
//! PK itself (in setup mode the firmware accepts the first one unchecked), a
//! KEK update by the PK, a db update by a KEK.

use der::pem::LineEnding;
use der::zeroize::Zeroizing;
use der::{Encode, EncodePem};
use pkcs8::EncodePrivateKey;
use rand::{CryptoRng, RngCore};
use rsa::RsaPrivateKey;
use x509_cert::Certificate;

use crate::Error;
use crate::auth::AuthVariable;
use crate::cert::{self, CertRole};
use crate::esl::SignatureList;
use crate::guid::{
    EFI_CERT_X509_GUID, EFI_GLOBAL_VARIABLE, EFI_IMAGE_SECURITY_DATABASE_GUID, Guid,
};
use crate::time::EfiTime;
use crate::update_key::UpdateKey;

/// The three Secure Boot variables a key set fills.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Pk,
    Kek,
    Db,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Pk, Role::Kek, Role::Db];

    /// UEFI variable name, also the stem of the files (`PK`, `KEK`, `db`).
    pub fn variable(self) -> &'static str {
        match self {
            Role::Pk => "PK",
            Role::Kek => "KEK",
            Role::Db => "db",
        }
    }

    /// Vendor GUID of the variable.
    pub fn vendor(self) -> Guid {
        match self {
            Role::Pk | Role::Kek => EFI_GLOBAL_VARIABLE,
            Role::Db => EFI_IMAGE_SECURITY_DATABASE_GUID,
        }
    }

    /// Which key signs updates of this variable (and issued its certificate).
    pub fn signer(self) -> Role {
        match self {
            Role::Pk | Role::Kek => Role::Pk,
            Role::Db => Role::Kek,
        }
    }

    fn cert_role(self) -> CertRole {
        match self {
            Role::Pk => CertRole::Root,
            Role::Kek => CertRole::Intermediate,
            Role::Db => CertRole::CodeSigning,
        }
    }
}

/// One RSA key of the hierarchy with everything made from it.
#[derive(Debug)]
pub struct SecureBootKey {
    pub role: Role,
    pub key: RsaPrivateKey,
    pub cert: Certificate,
    /// EFI_SIGNATURE_LIST holding the certificate.
    pub esl: Vec<u8>,
    /// Signed update setting the variable to `esl`.
    pub auth: Vec<u8>,
}

impl SecureBootKey {
    /// Private key, PKCS#8 PEM.
    pub fn private_pem(&self) -> Result<Zeroizing<String>, Error> {
        Ok(self.key.to_pkcs8_pem(LineEnding::LF)?)
    }

    pub fn cert_pem(&self) -> Result<String, Error> {
        Ok(self.cert.to_pem(LineEnding::LF)?)
    }

    pub fn cert_der(&self) -> Result<Vec<u8>, Error> {
        Ok(self.cert.to_der()?)
    }
}

/// Everything `clip keys generate` writes, in memory.
#[derive(Debug)]
pub struct KeySet {
    /// SignatureOwner of every EFI_SIGNATURE_DATA of the set.
    pub owner: Guid,
    /// Certificates' notBefore and the TimeStamp of the signed updates.
    pub created: EfiTime,
    pub pk: SecureBootKey,
    pub kek: SecureBootKey,
    pub db: SecureBootKey,
    /// Empty PK update signed by the PK: deletes the PK (back to setup mode).
    pub no_pk_auth: Vec<u8>,
    pub update: UpdateKey,
}

/// Subject commonName of a role's certificate for key-set name `name`.
pub fn subject_name(name: &str, role: Role) -> String {
    format!("{name} {}", role.variable())
}

/// Checks that `name` makes valid subjects: not empty, no leading or
/// trailing white space, no control characters, and "`name` KEK" within the
/// 64 characters of a commonName.
pub fn check_name(name: &str) -> Result<(), Error> {
    if name.trim() != name || name.is_empty() {
        return Err(Error::BadName(name.to_owned()));
    }
    for role in Role::ALL {
        cert::common_name(&subject_name(name, role))?;
    }
    Ok(())
}

impl KeySet {
    /// Generates a key set named `name` (certificate subjects are
    /// "`name` PK", "`name` KEK", "`name` db") created at `created` seconds
    /// after the Unix epoch. All randomness comes from `rng`.
    pub fn generate<R: CryptoRng + RngCore>(
        rng: &mut R,
        name: &str,
        created: u64,
    ) -> Result<Self, Error> {
        check_name(name)?;
        let time = EfiTime::from_unix(created)?;
        let validity = cert::validity(created)?;
        let mut owner = [0u8; 16];
        rng.fill_bytes(&mut owner);
        let owner = Guid::from_random_bytes(owner);
        let mut make = |role: Role, issuer: Option<(&Certificate, &RsaPrivateKey)>| {
            let key = cert::generate_rsa_key(rng)?;
            let subject = cert::common_name(&subject_name(name, role))?;
            let cert = cert::issue(role.cert_role(), subject, &key, issuer, validity, rng)?;
            let esl = SignatureList::x509(owner, &cert.to_der()?).encode()?;
            Ok::<_, Error>((key, cert, esl))
        };
        let (pk_key, pk_cert, pk_esl) = make(Role::Pk, None)?;
        let (kek_key, kek_cert, kek_esl) = make(Role::Kek, Some((&pk_cert, &pk_key)))?;
        let (db_key, db_cert, db_esl) = make(Role::Db, Some((&kek_cert, &kek_key)))?;
        let mut sign = |role: Role, data: &[u8], key: &RsaPrivateKey, cert: &Certificate| {
            AuthVariable::sign(role.variable(), role.vendor(), time, data, key, cert, rng)
        };
        let pk_auth = sign(Role::Pk, &pk_esl, &pk_key, &pk_cert)?;
        let kek_auth = sign(Role::Kek, &kek_esl, &pk_key, &pk_cert)?;
        let db_auth = sign(Role::Db, &db_esl, &kek_key, &kek_cert)?;
        let no_pk_auth = sign(Role::Pk, &[], &pk_key, &pk_cert)?;
        let update = UpdateKey::generate(rng);
        let key = |role, key, cert, esl, auth| SecureBootKey {
            role,
            key,
            cert,
            esl,
            auth,
        };
        Ok(Self {
            owner,
            created: time,
            pk: key(Role::Pk, pk_key, pk_cert, pk_esl, pk_auth),
            kek: key(Role::Kek, kek_key, kek_cert, kek_esl, kek_auth),
            db: key(Role::Db, db_key, db_cert, db_esl, db_auth),
            no_pk_auth,
            update,
        })
    }

    pub fn key(&self, role: Role) -> &SecureBootKey {
        match role {
            Role::Pk => &self.pk,
            Role::Kek => &self.kek,
            Role::Db => &self.db,
        }
    }
}

/// What [`check_enrolment`] found in a signature list and its signed update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enrolment {
    /// SignatureOwner of the certificate's entry.
    pub owner: Guid,
    /// TimeStamp of the signed update.
    pub timestamp: EfiTime,
}

/// Checks that `esl` is one EFI_CERT_X509 list holding exactly `cert`, and
/// that `auth` is an update of `role`'s variable to exactly `esl`, signed by
/// `signer` (or a key it certified).
pub fn check_enrolment(
    role: Role,
    cert: &Certificate,
    esl: &[u8],
    auth: &[u8],
    signer: &Certificate,
) -> Result<Enrolment, Error> {
    let lists = SignatureList::parse_all(esl)?;
    let cert_der = cert.to_der()?;
    let owner = match lists.as_slice() {
        [list]
            if list.signature_type == EFI_CERT_X509_GUID
                && list.signatures.len() == 1
                && list.signatures[0].data == cert_der =>
        {
            list.signatures[0].owner
        }
        _ => return Err(Error::EslContents(role.variable())),
    };
    let update = AuthVariable::parse(auth)?;
    if update.data != esl {
        return Err(Error::AuthPayload(role.variable()));
    }
    update.verify(role.variable(), role.vendor(), &[signer])?;
    Ok(Enrolment {
        owner,
        timestamp: update.timestamp,
    })
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    #[test]
    fn generated_set_checks() {
        let mut rng = StdRng::seed_from_u64(7);
        let set = KeySet::generate(&mut rng, "Test", 1_704_164_645).unwrap();
        for role in Role::ALL {
            let k = set.key(role);
            let signer = &set.key(role.signer()).cert;
            let e = check_enrolment(role, &k.cert, &k.esl, &k.auth, signer).unwrap();
            assert_eq!(e.owner, set.owner);
            assert_eq!(e.timestamp.to_string(), "2024-01-02T03:04:05Z");
            assert!(
                crate::pkcs7::issued_by(&k.cert, signer) || role == Role::Pk,
                "{role:?}"
            );
        }
        assert!(crate::pkcs7::issued_by(&set.pk.cert, &set.pk.cert));
        // The chain has no shortcut: the PK did not issue the db certificate.
        assert!(!crate::pkcs7::issued_by(&set.db.cert, &set.pk.cert));
        // The KEK's update is not the PK's.
        assert!(
            check_enrolment(
                Role::Pk,
                &set.kek.cert,
                &set.kek.esl,
                &set.kek.auth,
                &set.pk.cert
            )
            .is_err()
        );
        // noPK: empty data, signed by the PK.
        let no_pk = AuthVariable::parse(&set.no_pk_auth).unwrap();
        assert!(no_pk.data.is_empty());
        no_pk
            .verify("PK", EFI_GLOBAL_VARIABLE, &[&set.pk.cert])
            .unwrap();
        // A flipped byte anywhere in the signed part breaks the signature.
        let mut bad = set.db.auth.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        let bad_esl = AuthVariable::parse(&bad).unwrap().data;
        assert!(matches!(
            check_enrolment(Role::Db, &set.db.cert, &bad_esl, &bad, &set.kek.cert),
            Err(Error::EslContents("db"))
        ));
        let mut bad = set.db.auth.clone();
        bad[5] ^= 1; // TimeStamp minute
        assert!(matches!(
            check_enrolment(Role::Db, &set.db.cert, &set.db.esl, &bad, &set.kek.cert),
            Err(Error::BadSignature { .. })
        ));
        // Signed by the KEK, which the PK issued: the PK vouches for it.
        check_enrolment(
            Role::Db,
            &set.db.cert,
            &set.db.esl,
            &set.db.auth,
            &set.pk.cert,
        )
        .unwrap();
        // The db key neither signed it nor issued the KEK.
        assert!(matches!(
            check_enrolment(
                Role::Db,
                &set.db.cert,
                &set.db.esl,
                &set.db.auth,
                &set.db.cert
            ),
            Err(Error::UntrustedSigner { .. })
        ));
    }
}
