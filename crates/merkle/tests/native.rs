//! The native Poseidon against snark-verifier's, the pinned vectors, packing and the Merkle tree.

use std::path::PathBuf;

use dzk_merkle::hex::{from_hex, to_hex};
use dzk_merkle::tree::{node, padding};
use dzk_merkle::{commit, hash, pack, ChunkLeaf, Fr, MerkleError, MerkleTree, PACK_OFFSET};
use halo2curves::ff::{Field, PrimeField};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use snark_verifier::loader::native::NativeLoader;
use snark_verifier::util::hash::Poseidon;

fn reference(inputs: &[Fr]) -> Fr {
    let mut h = Poseidon::<Fr, Fr, 3, 2>::new::<8, 57, 0>(&NativeLoader);
    h.update(inputs);
    h.squeeze()
}

fn random(n: usize, seed: u64) -> Vec<Fr> {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    (0..n).map(|_| Fr::random(&mut rng)).collect()
}

#[test]
fn digests_equal_snark_verifiers_native_poseidon() {
    for n in 0..=13 {
        let xs = random(n, n as u64);
        assert_eq!(hash(&xs), reference(&xs), "{n} inputs");
    }
    // Small and edge values too.
    let edge = vec![Fr::ZERO, Fr::ONE, -Fr::ONE, Fr::from(u64::MAX)];
    assert_eq!(hash(&edge), reference(&edge));
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Vector {
    #[serde(with = "dzk_merkle::hex::vec")]
    inputs: Vec<Fr>,
    #[serde(with = "dzk_merkle::hex")]
    digest: Fr,
}

fn vectors_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/vectors/poseidon.json")
}

/// `testdata/vectors/poseidon.json` holds digests computed by snark-verifier (regenerate with
/// `DZK_UPDATE_FIXTURES=1`); both implementations must reproduce them.
#[test]
fn pinned_vectors() {
    let path = vectors_path();
    if std::env::var_os("DZK_UPDATE_FIXTURES").is_some() {
        let vs: Vec<Vector> = [0usize, 1, 2, 3, 4, 5, 8, 11]
            .iter()
            .map(|&n| {
                let inputs = random(n, 1000 + n as u64);
                let digest = reference(&inputs);
                Vector { inputs, digest }
            })
            .collect();
        let text = serde_json::to_string_pretty(&vs).expect("vectors serialise");
        std::fs::write(&path, text + "\n").expect("write vectors");
    }
    let text = std::fs::read_to_string(&path).expect("testdata/vectors/poseidon.json exists");
    let vs: Vec<Vector> = serde_json::from_str(&text).expect("vectors parse");
    assert!(vs.len() >= 8);
    for v in &vs {
        assert_eq!(hash(&v.inputs), v.digest);
        assert_eq!(reference(&v.inputs), v.digest);
    }
}

#[test]
fn hex_round_trip_and_rejects() {
    for x in random(5, 7) {
        assert_eq!(from_hex(&to_hex(&x)), Ok(x));
    }
    assert!(from_hex("0x12").is_err());
    assert!(from_hex(&"f".repeat(64)).is_err(), "no 0x prefix");
    // The modulus itself is not canonical.
    let p = "0x30644e72e131a029b85045b68181585d2833e84879b9709143e1f593f0000001";
    assert!(from_hex(p).is_err());
    assert!(from_hex(&format!("0x{}", "g".repeat(64))).is_err());
}

#[test]
fn packing_is_positional_and_bounded() {
    let vals: Vec<i64> = (-9..10).collect();
    let p = pack(&vals).expect("in range");
    assert_eq!(p.len(), 3);
    // One element: Σ (v + 2^27)·2^(28i).
    let one = pack(&[-PACK_OFFSET, PACK_OFFSET - 1]).expect("edges in range");
    let want = Fr::from(0) + Fr::from((2 * PACK_OFFSET - 1) as u64) * Fr::from(1u64 << 28);
    assert_eq!(one, vec![want]);
    assert_eq!(
        pack(&[0, PACK_OFFSET]),
        Err(MerkleError::OutOfRange {
            position: 1,
            value: PACK_OFFSET
        })
    );
    assert!(pack(&[-PACK_OFFSET - 1]).is_err());
    // Swapping two values changes the packing.
    assert_ne!(pack(&[1, 2]), pack(&[2, 1]));
}

#[test]
fn commitments_depend_on_salt_and_every_value() {
    let vals: Vec<i64> = (0..40).map(|i| i * 37 - 500).collect();
    let salt = Fr::from(12345);
    let h = commit(salt, &vals).expect("in range");
    assert_ne!(h, commit(Fr::from(12346), &vals).expect("in range"));
    for i in [0, 8, 9, 39] {
        let mut t = vals.clone();
        t[i] += 1;
        assert_ne!(h, commit(salt, &t).expect("in range"), "value {i}");
    }
}

fn leaves(n: u64) -> Vec<ChunkLeaf> {
    (0..n)
        .map(|i| ChunkLeaf {
            index: i,
            h_in: Fr::from(100 + i),
            h_out: Fr::from(101 + i),
            more_inputs: Vec::new(),
        })
        .collect()
}

#[test]
fn padding_is_not_a_copy_of_the_last_leaf() {
    let three = MerkleTree::new(leaves(3)).expect("tree");
    let mut four = leaves(3);
    four.push(ChunkLeaf {
        index: 3,
        ..four[2].clone()
    });
    let four = MerkleTree::new(four).expect("tree");
    assert_ne!(three.root(), four.root());
    // Even a fourth leaf equal to the third in every field (index included) gives another root.
    let mut dup = leaves(3);
    dup.push(dup[2].clone());
    assert_ne!(three.root(), MerkleTree::new(dup).expect("tree").root());
    assert_ne!(padding(), leaves(3)[2].hash());
}

#[test]
fn a_leaf_cannot_pass_as_an_inner_node() {
    let t = MerkleTree::new(leaves(4)).expect("tree");
    let (l0, l1) = (leaves(4)[0].hash(), leaves(4)[1].hash());
    let inner = node(l0, l1);
    // A leaf whose fields are the children does not hash to the node.
    let fake = ChunkLeaf {
        index: 0,
        h_in: l0,
        h_out: l1,
        more_inputs: Vec::new(),
    };
    assert_ne!(fake.hash(), inner);
    // A path that starts one level up (claiming the inner node's children as a leaf) is the wrong depth.
    let mut short = t.path(0).expect("path");
    short.siblings.remove(0);
    assert!(!short.verify(t.root(), &fake));
    short.leaves = 2;
    assert!(
        !short.verify(t.root(), &fake),
        "a 2-leaf claim binds another root"
    );
}

#[test]
fn every_path_verifies_and_tampered_paths_do_not() {
    for n in 1..=9u64 {
        let ls = leaves(n);
        let t = MerkleTree::new(ls.clone()).expect("tree");
        for (i, leaf) in ls.iter().enumerate() {
            let p = t.path(i).expect("path");
            assert!(p.verify(t.root(), leaf), "n={n} leaf {i}");
            for s in 0..p.siblings.len() {
                let mut bad = p.clone();
                bad.siblings[s] += Fr::ONE;
                assert!(!bad.verify(t.root(), leaf), "n={n} leaf {i} sibling {s}");
            }
            let mut other = leaf.clone();
            other.h_out += Fr::ONE;
            assert!(!p.verify(t.root(), &other));
            let mut moved = p.clone();
            moved.index = (moved.index + 1) % n;
            assert!(n == 1 || !moved.verify(t.root(), leaf));
            assert!(!p.verify(t.root() + Fr::ONE, leaf));
        }
        assert!(t.path(n as usize).is_err());
    }
    assert_eq!(MerkleTree::new(vec![]).err(), Some(MerkleError::Empty));
}

/// A chunk that reads several boundaries: its leaf hashes every input commitment in order, so it differs from a
/// leaf missing one or with two swapped; a chain's leaf (no more inputs) is the three-value leaf it always was;
/// the JSON form round-trips and leaves `more_inputs` out for a chain's chunk.
#[test]
fn a_leaf_binds_every_input_commitment_in_order() {
    let [h0, h1, h2, out] = [1u64, 2, 3, 4].map(Fr::from);
    let tag = Fr::from_u128(dzk_merkle::TAG_LEAF);
    let leaf = |more: Vec<Fr>| ChunkLeaf {
        index: 5,
        h_in: h0,
        h_out: out,
        more_inputs: more,
    };
    assert_eq!(
        leaf(vec![h1, h2]).hash(),
        hash(&[tag, Fr::from(5u64), h0, h1, h2, out])
    );
    assert_eq!(leaf(vec![]).hash(), hash(&[tag, Fr::from(5u64), h0, out]));
    assert_ne!(leaf(vec![h1, h2]).hash(), leaf(vec![h2, h1]).hash());
    assert_ne!(leaf(vec![h1, h2]).hash(), leaf(vec![h1]).hash());
    let json = serde_json::to_value(leaf(vec![h1, h2])).expect("json");
    assert_eq!(json["more_inputs"].as_array().map(Vec::len), Some(2));
    let back: ChunkLeaf = serde_json::from_value(json).expect("back");
    assert_eq!(back, leaf(vec![h1, h2]));
    let chain = serde_json::to_value(leaf(vec![])).expect("json");
    assert!(chain.get("more_inputs").is_none(), "{chain}");
}
