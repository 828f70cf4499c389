//! The envelope: `magic (8) | major u16 LE | minor u16 LE | header_len u32 LE | header JSON | body`.

use serde::{Deserialize, Serialize};

use crate::FormatError;

/// The major format version this dzk writes and reads. A major bump may change anything.
pub const FORMAT_MAJOR: u16 = 1;
/// The minor format version this dzk writes. A minor bump may only add fields.
pub const FORMAT_MINOR: u16 = 0;
/// The major version of a plan whose chunks form a graph (a layer split across chunks, chunks reading several
/// boundaries): a dzk that knows only chains would misread such a plan, so it is written under a major version
/// of its own, which those refuse. Chain plans stay at [`FORMAT_MAJOR`].
pub const GRAPH_PLAN_MAJOR: u16 = 2;
/// The major version of a plan whose model outputs several chunks state ([`crate::run::Plan::output_join`]): a
/// dzk that knows only graphs would look for the outputs in the last chunk alone, so such a plan is written
/// under a major version of its own, which those refuse.
pub const OUTPUT_PARTS_PLAN_MAJOR: u16 = 3;

const PREFIX: usize = 16;

/// What an artifact is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Kind {
    /// A partition plan.
    Plan,
    /// A chunk proof.
    ChunkProof,
    /// A Merkle file (root, leaves, inclusion paths).
    Merkle,
    /// A verifying key.
    VerifyingKey,
    /// A proving key.
    ProvingKey,
    /// The activations crossing one cut, with their salt.
    Boundary,
    /// One proof aggregating every chunk proof of a run.
    AggregateProof,
    /// An auditor's kit: what verifying a run needs besides its proofs (`dzk export-verifier`).
    Kit,
    /// The proof of one node below the root of a tree of aggregations (`dzk aggregate-node`), for the node above.
    AggregateNode,
}

impl Kind {
    const ALL: [Kind; 9] = [
        Kind::Plan,
        Kind::ChunkProof,
        Kind::Merkle,
        Kind::VerifyingKey,
        Kind::ProvingKey,
        Kind::Boundary,
        Kind::AggregateProof,
        Kind::Kit,
        Kind::AggregateNode,
    ];

    /// The 8-byte magic that starts an artifact of this kind.
    pub fn magic(self) -> [u8; 8] {
        match self {
            Kind::Plan => *b"DZK\0PLAN",
            Kind::ChunkProof => *b"DZK\0CPRF",
            Kind::Merkle => *b"DZK\0MRKL",
            Kind::VerifyingKey => *b"DZK\0VKEY",
            Kind::ProvingKey => *b"DZK\0PKEY",
            Kind::Boundary => *b"DZK\0BNDY",
            Kind::AggregateProof => *b"DZK\0AGGR",
            Kind::Kit => *b"DZK\0VKIT",
            Kind::AggregateNode => *b"DZK\0ANOD",
        }
    }

    /// The kind of artifact `bytes` starts with, by its magic (nothing else is checked).
    pub fn of(bytes: &[u8]) -> Option<Kind> {
        bytes.get(..8).and_then(Kind::from_magic)
    }

    fn from_magic(m: &[u8]) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.magic() == m)
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Kind::Plan => "partition plan",
            Kind::ChunkProof => "chunk proof",
            Kind::Merkle => "Merkle file",
            Kind::VerifyingKey => "verifying key",
            Kind::ProvingKey => "proving key",
            Kind::Boundary => "boundary activations file",
            Kind::AggregateProof => "aggregated proof",
            Kind::Kit => "auditor's kit",
            Kind::AggregateNode => "aggregation node proof",
        })
    }
}

/// The JSON header of an artifact.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// The artifact's kind (must agree with the magic).
    pub kind: Kind,
    /// The dzk version that wrote it.
    pub dzk_version: String,
    /// How the body is encoded (for example `"json"` or `"postcard"`).
    pub body_encoding: String,
    /// The body's length in bytes.
    pub body_len: u64,
    /// The body's BLAKE3 digest, hex.
    pub body_blake3: String,
    /// The digest of the plan the artifact belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan_digest: Option<String>,
    /// The chunk it belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chunk_index: Option<u32>,
    /// Proof-system parameters (curve, k, hash spec).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<serde_json::Value>,
}

impl Header {
    /// The `params` field read as `T`, if present and of that shape.
    pub fn params_as<T: serde::de::DeserializeOwned>(&self) -> Option<T> {
        self.params
            .clone()
            .and_then(|p| serde_json::from_value(p).ok())
    }
}

/// A decoded artifact: its header and its (digest-checked) body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    /// The header.
    pub header: Header,
    /// The body.
    pub body: Vec<u8>,
}

impl Envelope {
    /// An envelope for `body`; the length and digest fields are filled in from the body.
    pub fn new(kind: Kind, body_encoding: &str, body: Vec<u8>) -> Self {
        let header = Header {
            kind,
            dzk_version: env!("CARGO_PKG_VERSION").into(),
            body_encoding: body_encoding.into(),
            body_len: body.len() as u64,
            body_blake3: blake3::hash(&body).to_hex().to_string(),
            plan_digest: None,
            chunk_index: None,
            params: None,
        };
        Self { header, body }
    }

    /// The artifact's bytes, at the current format version.
    pub fn encode(&self) -> Vec<u8> {
        self.encode_as(FORMAT_MAJOR)
    }

    /// The artifact's bytes under major version `major` ([`FORMAT_MAJOR`], or for a plan [`GRAPH_PLAN_MAJOR`]
    /// when its chunks form a graph and [`OUTPUT_PARTS_PLAN_MAJOR`] when several chunks state its outputs).
    pub fn encode_as(&self, major: u16) -> Vec<u8> {
        // A header of plain strings, numbers and JSON values always serializes.
        let header = serde_json::to_vec(&self.header).unwrap_or_default();
        let mut out = Vec::with_capacity(PREFIX + header.len() + self.body.len());
        out.extend_from_slice(&self.header.kind.magic());
        out.extend_from_slice(&major.to_le_bytes());
        out.extend_from_slice(&FORMAT_MINOR.to_le_bytes());
        out.extend_from_slice(&(header.len() as u32).to_le_bytes());
        out.extend_from_slice(&header);
        out.extend_from_slice(&self.body);
        out
    }

    /// Decodes an artifact that must be of kind `expected`: magic, major version, header, body length and
    /// digest are checked in that order.
    pub fn decode(bytes: &[u8], expected: Kind) -> Result<Self, FormatError> {
        if bytes.len() < 8 {
            return Err(FormatError::Truncated {
                needed: PREFIX,
                found: bytes.len(),
            });
        }
        let found = Kind::from_magic(&bytes[..8]).ok_or_else(|| {
            let mut m = [0u8; 8];
            m.copy_from_slice(&bytes[..8]);
            FormatError::BadMagic { found: m }
        })?;
        if found != expected {
            return Err(FormatError::WrongKind { expected, found });
        }
        if bytes.len() < PREFIX {
            return Err(FormatError::Truncated {
                needed: PREFIX,
                found: bytes.len(),
            });
        }
        let major = u16::from_le_bytes([bytes[8], bytes[9]]);
        let plan_major = matches!(major, GRAPH_PLAN_MAJOR | OUTPUT_PARTS_PLAN_MAJOR);
        if major != FORMAT_MAJOR && !(found == Kind::Plan && plan_major) {
            return Err(FormatError::UnsupportedVersion {
                kind: found,
                found: major,
                supported: FORMAT_MAJOR,
            });
        }
        let header_len = u32::from_le_bytes([bytes[12], bytes[13], bytes[14], bytes[15]]) as usize;
        let body_at = PREFIX
            .checked_add(header_len)
            .filter(|&e| e <= bytes.len())
            .ok_or(FormatError::Truncated {
                needed: PREFIX.saturating_add(header_len),
                found: bytes.len(),
            })?;
        let header: Header = serde_json::from_slice(&bytes[PREFIX..body_at])
            .map_err(|e| FormatError::Header(e.to_string()))?;
        if header.kind != found {
            return Err(FormatError::Header(format!(
                "the header says {} but the magic says {found}",
                header.kind
            )));
        }
        let body = &bytes[body_at..];
        if body.len() as u64 != header.body_len {
            return Err(FormatError::BodyLength {
                expected: header.body_len,
                found: body.len() as u64,
            });
        }
        if blake3::hash(body).to_hex().as_str() != header.body_blake3 {
            return Err(FormatError::Digest);
        }
        Ok(Self {
            header,
            body: body.to_vec(),
        })
    }
}
