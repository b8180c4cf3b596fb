//! The URLs the daemon fetches (RFC 3986, the `http` and `https` schemes of
//! RFC 9110 §4.2): `scheme://host[:port]/path[?query]`, with an IPv6 host in
//! brackets. No user information, no fragment sent.

use crate::Error;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    pub tls: bool,
    /// Host name or address (IPv6 without brackets).
    pub host: String,
    pub port: u16,
    /// `/path?query`, as sent in the request line.
    pub target: String,
    /// The `Host` field: host, bracketed for IPv6, with a non-default port.
    pub authority: String,
}

impl Url {
    pub fn parse(url: &str) -> Result<Url, Error> {
        let invalid = |reason| Error::InvalidUrl {
            url: url.to_owned(),
            reason,
        };
        let (tls, rest) = if let Some(rest) = strip_prefix_ignore_case(url, "http://") {
            (false, rest)
        } else if let Some(rest) = strip_prefix_ignore_case(url, "https://") {
            (true, rest)
        } else {
            return Err(invalid("not http:// or https://"));
        };
        if url.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return Err(invalid("space or control character"));
        }
        let rest = rest.split('#').next().unwrap_or_default();
        let split = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, target) = rest.split_at(split);
        if authority.contains('@') {
            return Err(invalid("user information is not supported"));
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (host, after) = v6.split_once(']').ok_or_else(|| invalid("unclosed ["))?;
            match after {
                "" => (host, None),
                p => (
                    host,
                    Some(p.strip_prefix(':').ok_or_else(|| invalid("junk after ]"))?),
                ),
            }
        } else {
            match authority.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            }
        };
        if host.is_empty() {
            return Err(invalid("no host"));
        }
        let default = if tls { 443 } else { 80 };
        let port = match port {
            None | Some("") => default,
            Some(p) if p.bytes().all(|b| b.is_ascii_digit()) => {
                p.parse().map_err(|_| invalid("port out of range"))?
            }
            Some(_) => return Err(invalid("port is not a number")),
        };
        let bracketed = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.to_owned()
        };
        let authority = if port == default {
            bracketed
        } else {
            format!("{bracketed}:{port}")
        };
        let target = if target.starts_with('/') {
            target.to_owned()
        } else {
            format!("/{target}")
        };
        Ok(Url {
            tls,
            host: host.to_owned(),
            port,
            target,
            authority,
        })
    }
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let u = Url::parse("http://127.0.0.1:8080/a/b?c#d").unwrap();
        assert_eq!((u.tls, u.host.as_str(), u.port), (false, "127.0.0.1", 8080));
        assert_eq!(
            (u.target.as_str(), u.authority.as_str()),
            ("/a/b?c", "127.0.0.1:8080")
        );
        let u = Url::parse("HTTPS://updates.example").unwrap();
        assert_eq!(
            (u.tls, u.port, u.target.as_str(), u.authority.as_str()),
            (true, 443, "/", "updates.example")
        );
        let u = Url::parse("http://[::1]:81/x").unwrap();
        assert_eq!((u.host.as_str(), u.authority.as_str()), ("::1", "[::1]:81"));
        let u = Url::parse("http://h?q").unwrap();
        assert_eq!(u.target, "/?q");
        for bad in [
            "ftp://h/",
            "http://",
            "http://u@h/",
            "http://h:x/",
            "http://h:70000/",
            "http://h/a b",
            "http://[::1/",
        ] {
            assert!(
                matches!(Url::parse(bad), Err(Error::InvalidUrl { .. })),
                "{bad}"
            );
        }
        assert_eq!(
            Url::parse("http://h:x/").unwrap_err().to_string(),
            "http://h:x/: invalid URL: port is not a number"
        );
    }
}
