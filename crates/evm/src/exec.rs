//! A local EVM (revm, mainnet rules) to deploy a verifier and call it, as a chain would: the contract size
//! limit (EIP-170), the BN254 precompiles and gas are the real ones.

use revm::context::result::{ExecutionResult, Output};
use revm::context::TxEnv;
use revm::database::InMemoryDB;
use revm::handler::{MainnetContext, MainnetEvm};
use revm::primitives::{Address, TxKind};
use revm::{Context, ExecuteCommitEvm, MainBuilder, MainContext};

use crate::EvmError;

/// The gas each transaction may use: Ethereum mainnet's block gas limit (36 million since 2025). A verifier
/// that needs more could not be deployed or called in one block.
pub const BLOCK_GAS_LIMIT: u64 = 36_000_000;

/// A deployed contract.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deployed {
    /// Its address in the local EVM.
    pub address: Address,
    /// Gas the deployment transaction used.
    pub gas: u64,
}

type Evm = MainnetEvm<MainnetContext<InMemoryDB>>;

/// An in-memory EVM with mainnet rules, one account sending every transaction.
pub struct LocalEvm {
    evm: Evm,
    nonce: u64,
}

impl Default for LocalEvm {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for LocalEvm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalEvm")
            .field("nonce", &self.nonce)
            .finish()
    }
}

/// What a transaction did, in words, when it did not succeed.
fn failure(result: &ExecutionResult) -> Option<String> {
    match result {
        ExecutionResult::Success { .. } => None,
        ExecutionResult::Revert { gas_used, output } => Some(format!(
            "reverted after {gas_used} gas{}",
            if output.is_empty() {
                String::new()
            } else {
                format!(" with output {output:#x}")
            }
        )),
        ExecutionResult::Halt { reason, gas_used } => {
            Some(format!("halted after {gas_used} gas: {reason:?}"))
        }
    }
}

impl LocalEvm {
    /// An empty chain.
    pub fn new() -> Self {
        Self {
            evm: Context::mainnet()
                .with_db(InMemoryDB::default())
                .build_mainnet(),
            nonce: 0,
        }
    }

    fn transact(&mut self, kind: TxKind, data: Vec<u8>) -> Result<ExecutionResult, EvmError> {
        let tx = TxEnv {
            gas_limit: BLOCK_GAS_LIMIT,
            kind,
            data: data.into(),
            nonce: self.nonce,
            ..Default::default()
        };
        let result = self
            .evm
            .transact_commit(tx)
            .map_err(|e| EvmError::Internal(format!("{e:?}")))?;
        self.nonce += 1;
        Ok(result)
    }

    /// Deploys `deployment` (creation bytecode). Fails when the constructor reverts, the runtime code is over
    /// the contract size limit, or the gas exceeds a block's.
    pub fn deploy(&mut self, deployment: &[u8]) -> Result<Deployed, EvmError> {
        let result = self.transact(TxKind::Create, deployment.to_vec())?;
        if let Some(why) = failure(&result) {
            return Err(EvmError::Deploy(why));
        }
        match result {
            ExecutionResult::Success {
                gas_used,
                output: Output::Create(_, Some(address)),
                ..
            } => Ok(Deployed {
                address,
                gas: gas_used,
            }),
            other => Err(EvmError::Deploy(format!(
                "the transaction created no contract: {other:?}"
            ))),
        }
    }

    /// Calls `address` with `data`: `Ok(Ok(gas))` when the call succeeded, `Ok(Err(why))` when it reverted or
    /// halted (a verifier's rejection), `Err` when the EVM could not run the transaction at all.
    pub fn call(&mut self, address: Address, data: &[u8]) -> Result<Result<u64, String>, EvmError> {
        let result = self.transact(TxKind::Call(address), data.to_vec())?;
        Ok(match failure(&result) {
            Some(why) => Err(why),
            None => Ok(result.gas_used()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Runtime code `PUSH1 0; CALLDATALOAD; PUSH1 0x2a; EQ; PUSH1 0x0d; JUMPI; PUSH1 0; DUP1; REVERT; JUMPDEST;
    // STOP`: succeeds when the first calldata word is 42, reverts otherwise.
    const RUNTIME: [u8; 14] = [
        0x60, 0x00, 0x35, 0x60, 0x2a, 0x14, 0x60, 0x0d, 0x57, 0x60, 0x00, 0x80, 0xfd, 0x5b,
    ];

    /// Creation code that returns `runtime`: `PUSH2 len; DUP1; PUSH1 14; PUSH1 0; CODECOPY; PUSH1 0; RETURN`
    /// (14 bytes), then the runtime code.
    fn creation(runtime: &[u8]) -> Vec<u8> {
        let n = runtime.len() as u16;
        let mut code = vec![
            0x61,
            (n >> 8) as u8,
            n as u8,
            0x80,
            0x60,
            0x0e,
            0x60,
            0x00,
            0x39,
            0x60,
            0x00,
            0xf3,
        ];
        code.extend_from_slice(&[0x5b, 0x5b]);
        code.extend_from_slice(runtime);
        code
    }

    #[test]
    fn a_contract_deploys_and_its_calls_succeed_or_revert_by_their_data() {
        let mut evm = LocalEvm::new();
        let d = evm.deploy(&creation(&RUNTIME)).expect("deploy");
        assert!(d.gas > 21_000, "{d:?}");
        let mut word = [0u8; 32];
        word[31] = 42;
        let gas = evm.call(d.address, &word).expect("evm").expect("call");
        assert!(gas >= 21_000);
        word[31] = 41;
        let why = evm
            .call(d.address, &word)
            .expect("evm")
            .expect_err("revert");
        assert!(why.contains("reverted"), "{why}");
    }

    #[test]
    fn runtime_code_over_the_eip170_limit_is_not_deployed() {
        let mut evm = LocalEvm::new();
        let big = vec![0u8; crate::CONTRACT_SIZE_LIMIT + 1];
        let err = evm.deploy(&creation(&big)).expect_err("too large");
        assert!(err.to_string().contains("deployment failed"), "{err}");
        // At the limit it deploys.
        let ok = vec![0u8; crate::CONTRACT_SIZE_LIMIT];
        evm.deploy(&creation(&ok)).expect("at the limit");
    }
}
