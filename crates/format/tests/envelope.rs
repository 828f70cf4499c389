//! The envelope: round trips, and every malformed file rejected with its own error (never a panic); the
//! committed v1 fixture still decodes.

use dzk_format::{
    Envelope, FormatError, Kind, FORMAT_MAJOR, GRAPH_PLAN_MAJOR, OUTPUT_PARTS_PLAN_MAJOR,
};
use proptest::prelude::*;

fn sample() -> Envelope {
    let mut e = Envelope::new(
        Kind::ChunkProof,
        "postcard",
        b"proof bytes \x00\x01\x02".to_vec(),
    );
    e.header.plan_digest = Some("ab".repeat(32));
    e.header.chunk_index = Some(3);
    e.header.params =
        Some(serde_json::json!({"curve": "bn254", "k": 15, "poseidon_spec": "t3_rf8_rp57"}));
    e
}

#[test]
fn round_trip() {
    let e = sample();
    assert_eq!(Envelope::decode(&e.encode(), Kind::ChunkProof), Ok(e));
}

#[test]
fn bad_magic() {
    let mut bytes = sample().encode();
    bytes[..8].copy_from_slice(b"NOTADZK!");
    assert!(matches!(
        Envelope::decode(&bytes, Kind::ChunkProof),
        Err(FormatError::BadMagic { .. })
    ));
}

#[test]
fn wrong_kind_names_both() {
    let err = Envelope::decode(&sample().encode(), Kind::Plan).expect_err("wrong kind");
    assert_eq!(
        err,
        FormatError::WrongKind {
            expected: Kind::Plan,
            found: Kind::ChunkProof
        }
    );
    assert_eq!(
        err.to_string(),
        "this is a chunk proof, not a partition plan"
    );
}

#[test]
fn bad_version_says_what_to_do() {
    let mut bytes = sample().encode();
    bytes[8..10].copy_from_slice(&(FORMAT_MAJOR + 1).to_le_bytes());
    let err = Envelope::decode(&bytes, Kind::ChunkProof).expect_err("future version");
    assert_eq!(
        err.to_string(),
        "chunk proof is format v2; this dzk reads v1: use a dzk that matches the file"
    );
}

/// A plan whose chunks form a graph is written under major version 2 and one whose outputs several chunks state
/// under 3: this dzk reads both, a dzk that reads only v1 refuses them (as this one refuses any other kind at v2
/// or v3), and v4 is refused.
#[test]
fn a_graph_plan_has_a_major_version_of_its_own() {
    let mut plan = Envelope::new(Kind::Plan, "json", b"{}".to_vec());
    plan.header.plan_digest = Some("ab".into());
    let bytes = plan.encode_as(GRAPH_PLAN_MAJOR);
    assert_eq!(u16::from_le_bytes([bytes[8], bytes[9]]), 2);
    assert_eq!(Envelope::decode(&bytes, Kind::Plan), Ok(plan.clone()));
    let proof = Envelope::new(Kind::ChunkProof, "raw", vec![1, 2]).encode_as(GRAPH_PLAN_MAJOR);
    assert!(Envelope::decode(&proof, Kind::ChunkProof).is_err());
    let v3 = plan.encode_as(OUTPUT_PARTS_PLAN_MAJOR);
    assert_eq!(Envelope::decode(&v3, Kind::Plan), Ok(plan.clone()));
    let proof =
        Envelope::new(Kind::ChunkProof, "raw", vec![1, 2]).encode_as(OUTPUT_PARTS_PLAN_MAJOR);
    assert!(Envelope::decode(&proof, Kind::ChunkProof).is_err());
    let v4 = plan.encode_as(OUTPUT_PARTS_PLAN_MAJOR + 1);
    assert!(Envelope::decode(&v4, Kind::Plan).is_err());
}

#[test]
fn truncated_at_every_length_is_an_error() {
    let bytes = sample().encode();
    for n in 0..bytes.len() {
        let r = Envelope::decode(&bytes[..n], Kind::ChunkProof);
        assert!(
            matches!(
                r,
                Err(FormatError::Truncated { .. }
                    | FormatError::BodyLength { .. }
                    | FormatError::Header(_))
            ),
            "prefix of {n} bytes: {r:?}"
        );
    }
}

#[test]
fn corrupted_body_and_header_are_caught() {
    let bytes = sample().encode();
    let mut flipped = bytes.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 1;
    assert_eq!(
        Envelope::decode(&flipped, Kind::ChunkProof),
        Err(FormatError::Digest)
    );

    // A header claiming another kind than the magic.
    let mut e = sample();
    e.header.kind = Kind::Merkle;
    let mut bytes = e.encode();
    bytes[..8].copy_from_slice(&Kind::ChunkProof.magic());
    assert!(matches!(
        Envelope::decode(&bytes, Kind::ChunkProof),
        Err(FormatError::Header(_))
    ));
}

/// The committed v1 fixture decodes to the same envelope; `DZK_UPDATE_FIXTURES=1` rewrites it (never in CI:
/// a fixture diff means the format changed).
#[test]
fn v1_fixture_still_decodes() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/artifacts/v1/chunk_proof.dzk");
    if std::env::var_os("DZK_UPDATE_FIXTURES").is_some() {
        std::fs::write(&path, sample().encode()).expect("write fixture");
    }
    let bytes = std::fs::read(&path).expect("fixture present");
    let e = Envelope::decode(&bytes, Kind::ChunkProof).expect("v1 fixture decodes");
    assert_eq!(e.body, sample().body);
    assert_eq!(e.header.chunk_index, Some(3));
    assert_eq!(e.header.plan_digest, sample().header.plan_digest);
}

proptest! {
    #[test]
    fn any_body_round_trips(body in proptest::collection::vec(any::<u8>(), 0..512), index in proptest::option::of(any::<u32>())) {
        let mut e = Envelope::new(Kind::Plan, "json", body);
        e.header.chunk_index = index;
        prop_assert_eq!(Envelope::decode(&e.encode(), Kind::Plan), Ok(e));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = Envelope::decode(&bytes, Kind::Merkle);
        let mut prefixed = Kind::Merkle.magic().to_vec();
        prefixed.extend_from_slice(&bytes);
        let _ = Envelope::decode(&prefixed, Kind::Merkle);
    }
}
