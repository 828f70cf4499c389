//! Why an artifact was rejected.

use crate::Kind;

/// Every way an artifact can fail to decode.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum FormatError {
    /// Shorter than the fixed 16-byte prefix, or than the header length it announces.
    #[error("the file is truncated: {needed} bytes needed, {found} present")]
    Truncated {
        /// Bytes the prefix or header announce.
        needed: usize,
        /// Bytes present.
        found: usize,
    },
    /// Not a dzk artifact at all.
    #[error("not a dzk artifact (unknown magic {found:?})")]
    BadMagic {
        /// The first 8 bytes.
        found: [u8; 8],
    },
    /// A dzk artifact of another kind.
    #[error("this is a {found}, not a {expected}")]
    WrongKind {
        /// The kind asked for.
        expected: Kind,
        /// The kind the magic names.
        found: Kind,
    },
    /// A major version this dzk does not read.
    #[error(
        "{kind} is format v{found}; this dzk reads v{supported}: use a dzk that matches the file"
    )]
    UnsupportedVersion {
        /// The artifact's kind.
        kind: Kind,
        /// Its major version.
        found: u16,
        /// The major version this dzk reads.
        supported: u16,
    },
    /// The JSON header does not parse, or disagrees with the magic.
    #[error("invalid header: {0}")]
    Header(String),
    /// The body is not as long as the header says.
    #[error("the body is {found} bytes, the header says {expected}")]
    BodyLength {
        /// Length the header records.
        expected: u64,
        /// Length present.
        found: u64,
    },
    /// The body's digest is not the one the header records: the file is corrupted.
    #[error("the body's BLAKE3 digest does not match the header: the file is corrupted")]
    Digest,
}
