//! solc-js through `Solc::compile`: a source larger than a pipe's buffer compiles every time, and the contract
//! it makes runs in the local EVM. CI sets `$DZK_SOLCJS` (`cargo xtask ci` installs solc-js); elsewhere the test
//! says it skipped when no solc-js is found.

use dzk_evm::{LocalEvm, Solc};

/// A contract that accepts exactly 32 bytes of calldata holding 42, padded with a comment to `pad` bytes.
fn source(pad: usize) -> String {
    let mut text = String::from(
        "// SPDX-License-Identifier: MIT\npragma solidity 0.8.19;\n\ncontract Answer {\n    \
         fallback(bytes calldata data) external returns (bytes memory) {\n        \
         require(data.length == 32 && abi.decode(data, (uint256)) == 42);\n        return data;\n    }\n}\n",
    );
    while text.len() < pad {
        text.push_str(
            "// padding that makes the standard-JSON input larger than a pipe buffer holds\n",
        );
    }
    text
}

#[test]
fn a_large_source_compiles_every_time_and_its_contract_runs() {
    let solc = match Solc::locate(None) {
        Ok(solc) => solc,
        Err(e) if std::env::var_os("CI").is_none() => {
            eprintln!("skipped: {e}");
            return;
        }
        Err(e) => panic!("CI needs solc-js: {e}"),
    };
    let text = source(256 * 1024);
    let first = solc.compile(&text, "Answer").expect("compiles");
    for _ in 0..3 {
        let again = solc.compile(&text, "Answer").expect("compiles again");
        assert_eq!(again.runtime, first.runtime, "solc is deterministic");
    }
    let mut evm = LocalEvm::new();
    let deployed = evm.deploy(&first.deployment).expect("deploys");
    let mut word = [0u8; 32];
    word[31] = 42;
    assert!(evm.call(deployed.address, &word).expect("runs").is_ok());
    word[31] = 43;
    assert!(evm.call(deployed.address, &word).expect("runs").is_err());
    // A compile error is an error, with solc's message.
    let broken = text.replace("returns (bytes memory)", "returns (bytes memory");
    let err = solc
        .compile(&broken, "Answer")
        .expect_err("does not compile");
    assert!(err.to_string().contains("Expected"), "{err}");
}
