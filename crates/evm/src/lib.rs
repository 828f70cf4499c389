#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod exec;
mod solc;

use std::rc::Rc;

use halo2_proofs::halo2curves::bn256::{Bn256, Fq, Fr, G1Affine};
use halo2_proofs::halo2curves::ff::PrimeField;
use halo2_proofs::plonk::VerifyingKey;
use halo2_proofs::poly::commitment::ParamsProver;
use halo2_proofs::poly::kzg::commitment::ParamsKZG;
use snark_verifier_sdk::halo2::aggregation::AggregationCircuit;
use snark_verifier_sdk::snark_verifier::loader::evm::EvmLoader;
use snark_verifier_sdk::snark_verifier::pcs::kzg::KzgDecidingKey;
use snark_verifier_sdk::snark_verifier::system::halo2::transcript::evm::EvmTranscript;
use snark_verifier_sdk::snark_verifier::system::halo2::{compile, Config};
use snark_verifier_sdk::snark_verifier::verifier::SnarkVerifier;
use snark_verifier_sdk::{CircuitExt, PlonkVerifier, SHPLONK};

pub use exec::{Deployed, LocalEvm, BLOCK_GAS_LIMIT};
pub use solc::{Compiled, Solc, SOLC_VERSION};

/// The largest runtime bytecode a contract may have on Ethereum mainnet (EIP-170).
pub const CONTRACT_SIZE_LIMIT: usize = 24_576;

/// Why a verifier could not be made, compiled or run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EvmError {
    /// No usable Solidity compiler.
    #[error("{0}")]
    Solc(String),
    /// The compiler refused the source.
    #[error("solc could not compile the verifier: {0}")]
    Compile(String),
    /// The runtime bytecode exceeds EIP-170's limit.
    #[error(
        "the verifier's runtime bytecode is {0} bytes, over the {CONTRACT_SIZE_LIMIT}-byte contract limit (EIP-170); \
         the contract grows with the aggregation circuit's columns, which a larger k divides: aggregate with an SRS \
         of k = 22 (`dzk setup --k 22` before keygen)"
    )]
    TooLarge(usize),
    /// The deployment transaction failed.
    #[error("deployment failed: {0}")]
    Deploy(String),
    /// The EVM itself failed (not the contract).
    #[error("the EVM failed: {0}")]
    Internal(String),
}

/// The Solidity source of a contract that verifies proofs of the aggregation circuit with verifying key `vk`
/// (SHPLONK, made with the Keccak transcript: `dzk_backend::Transcript::Keccak`), whose one instance column
/// has `instances` values, the first [`ACCUMULATOR`] of them the KZG accumulator the contract decides with a
/// pairing. `params` is the aggregation SRS (its `g`, `g2` and `s·g2` are baked into the contract).
///
/// The contract takes calldata from [`calldata`], returns nothing on success and reverts on any other input,
/// including a public value written as a word at or above the field's modulus, which the generated code alone
/// would reduce and accept.
pub fn verifier_solidity(
    params: &ParamsKZG<Bn256>,
    vk: &VerifyingKey<G1Affine>,
    instances: usize,
) -> String {
    let protocol = compile(
        params,
        vk,
        Config::kzg()
            .with_num_instance(vec![instances])
            .with_accumulator_indices(AggregationCircuit::accumulator_indices()),
    );
    let dk: KzgDecidingKey<Bn256> = (params.get_g()[0], params.g2(), params.s_g2()).into();
    let loader = EvmLoader::new::<Fq, Fr>();
    let protocol = protocol.loaded(&loader);
    let mut transcript = EvmTranscript::<_, Rc<EvmLoader>, _, _>::new(&loader);
    let loaded = transcript.load_instances(vec![instances]);
    // Both steps only emit code on the EVM loader: they cannot fail for a protocol compiled from a real key.
    let proof = PlonkVerifier::<SHPLONK>::read_proof(&dk, &protocol, &loaded, &mut transcript)
        .expect("the EVM loader reads any proof shape");
    PlonkVerifier::<SHPLONK>::verify(&dk, &protocol, &loaded, &proof)
        .expect("the EVM loader emits the checks");
    canonical_words(&loader.solidity_code(), instances)
}

/// The generated verifier reads each public value as `calldataload(..) mod r`, so a word `v + r` verifies like
/// `v`. A consumer contract that reads the root or the outputs from the same calldata would see a value the
/// proof does not state; so dzk's contract first reverts unless every public-value word is below `r`
/// (canonical), inserted right after the generator defines `f_q` (the scalar modulus).
fn canonical_words(code: &str, instances: usize) -> String {
    const ANCHOR: &str = "let f_q := ";
    let at = code
        .find(ANCHOR)
        .and_then(|i| code[i..].find('\n').map(|j| i + j + 1))
        .expect("snark-verifier's pinned generator defines f_q on a line of its own");
    let check = format!(
        "            // dzk: every public value must be a canonical field element (below r).\n\
         \x20           for {{ let i := 0 }} lt(i, {instances}) {{ i := add(i, 1) }} {{\n\
         \x20               if iszero(lt(calldataload(mul(i, 0x20)), f_q)) {{ revert(0, 0) }}\n\
         \x20           }}\n"
    );
    format!("{}{check}{}", &code[..at], &code[at..])
}

/// Accumulator limbs at the start of an aggregated proof's public values (`dzk_aggregate::ACCUMULATOR_LIMBS`).
pub const ACCUMULATOR: usize = 12;

/// The calldata of a verifier call: each public value as a 32-byte big-endian word, then the proof's bytes.
pub fn calldata(instances: &[Fr], proof: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(32 * instances.len() + proof.len());
    for v in instances {
        let mut word = v.to_repr();
        word.as_mut().reverse();
        out.extend_from_slice(word.as_ref());
    }
    out.extend_from_slice(proof);
    out
}

/// Splits calldata back into its public values and proof, given how many public values it starts with.
/// `None` when it is too short or a word is not a field element.
pub fn split_calldata(data: &[u8], instances: usize) -> Option<(Vec<Fr>, Vec<u8>)> {
    if data.len() < 32 * instances {
        return None;
    }
    let (head, proof) = data.split_at(32 * instances);
    let values = head
        .chunks(32)
        .map(|w| {
            let mut repr = <Fr as PrimeField>::Repr::default();
            repr.as_mut().copy_from_slice(w);
            repr.as_mut().reverse();
            Option::<Fr>::from(Fr::from_repr(repr))
        })
        .collect::<Option<Vec<Fr>>>()?;
    Some((values, proof.to_vec()))
}

/// `0x`-prefixed lowercase hex, the form calldata and bytecode files hold.
pub fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(2 + 2 * bytes.len());
    s.push_str("0x");
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// Reads hex as [`to_hex`] writes it (the `0x` prefix optional, surrounding whitespace ignored).
pub fn from_hex(text: &str) -> Result<Vec<u8>, String> {
    let t = text.trim();
    let t = t.strip_prefix("0x").unwrap_or(t);
    if !t.len().is_multiple_of(2) {
        return Err(format!("odd number of hex digits ({})", t.len()));
    }
    let digit = |c: u8| -> Result<u8, String> {
        match c {
            b'0'..=b'9' => Ok(c - b'0'),
            b'a'..=b'f' => Ok(c - b'a' + 10),
            b'A'..=b'F' => Ok(c - b'A' + 10),
            _ => Err(format!("not a hex digit: {:?}", c as char)),
        }
    };
    t.as_bytes()
        .chunks(2)
        .map(|p| Ok(digit(p[0])? << 4 | digit(p[1])?))
        .collect()
}

/// Checks that `compiled`'s runtime code fits EIP-170's limit.
pub fn check_size(compiled: &Compiled) -> Result<(), EvmError> {
    if compiled.runtime.len() > CONTRACT_SIZE_LIMIT {
        return Err(EvmError::TooLarge(compiled.runtime.len()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calldata_round_trips_and_words_are_big_endian() {
        let values = [Fr::from(1), Fr::from(0x0102), -Fr::from(1)];
        let data = calldata(&values, &[9, 8, 7]);
        assert_eq!(data.len(), 3 * 32 + 3);
        assert_eq!(data[31], 1);
        assert_eq!(&data[62..64], &[1, 2]);
        assert_eq!(&data[96..], &[9, 8, 7]);
        let (back, proof) = split_calldata(&data, 3).expect("split");
        assert_eq!(back, values);
        assert_eq!(proof, vec![9, 8, 7]);
        assert!(split_calldata(&data[..90], 3).is_none());
        // A word at or above the field's modulus is no field element.
        let mut bad = data.clone();
        bad[..32].fill(0xff);
        assert!(split_calldata(&bad, 3).is_none());
    }

    #[test]
    fn the_canonical_check_goes_right_after_f_q() {
        let code = "a\n    let f_p := 1\n    let f_q := 7\n    rest\n";
        let out = canonical_words(code, 25);
        let at_fq = out.find("let f_q := 7\n").expect("kept");
        let at_check = out.find("lt(i, 25)").expect("inserted");
        let at_rest = out.find("rest").expect("kept");
        assert!(at_fq < at_check && at_check < at_rest, "{out}");
        assert!(out.contains("if iszero(lt(calldataload(mul(i, 0x20)), f_q)) { revert(0, 0) }"));
    }

    #[test]
    fn hex_round_trips_and_refuses_what_is_not_hex() {
        let bytes = vec![0, 1, 0xab, 0xff];
        assert_eq!(to_hex(&bytes), "0x0001abff");
        assert_eq!(from_hex("0x0001abff\n").expect("hex"), bytes);
        assert_eq!(from_hex("0001ABFF").expect("hex"), bytes);
        assert!(from_hex("0x123").is_err());
        assert!(from_hex("0xzz").is_err());
    }
}
