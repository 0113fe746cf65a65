//! A string that never prints. API keys live in `Secret` from the moment they are read.

use std::fmt;

#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }

    /// The only way to read the value: at the point it goes into an upstream header.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// A short, non-reversible tag to tell keys apart in logs and metrics (`key#3f2a`).
    pub fn fingerprint(&self) -> String {
        // FNV-1a: stable across runs, and 16 bits reveal nothing useful about a key.
        let mut h: u32 = 0x811c_9dc5;
        for b in self.0.bytes() {
            h ^= u32::from(b);
            h = h.wrapping_mul(0x0100_0193);
        }
        format!("key#{:04x}", h & 0xffff)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_prints() {
        let s = Secret::new("sk-very-secret");
        assert!(!format!("{s:?} {s}").contains("very"));
        assert!(s.fingerprint().starts_with("key#"));
    }
}
