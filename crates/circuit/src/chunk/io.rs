//! What a chunk reads and writes: its input groups (one commitment each), its outputs, which of the model's
//! inputs and outputs are public, and the salts of its commitments.

use dzk_gadgets::Fr;
use dzk_ir::Model;

/// Whether the model's input and output are public instances or hashed like any other boundary.
///
/// Only the first chunk's boundary-in (the model inputs) and the last chunk's boundary-out (the model outputs)
/// can be public; every cut between chunks is always committed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Visibility {
    /// The model inputs are public instances (otherwise hashed into the first chunk's `h_in`).
    pub public_input: bool,
    /// The model outputs are public instances (otherwise hashed into the last chunk's `h_out`).
    pub public_output: bool,
}

impl From<dzk_format::run::VisibilitySpec> for Visibility {
    /// The visibility a plan records.
    fn from(v: dzk_format::run::VisibilitySpec) -> Self {
        Self {
            public_input: v.public_input,
            public_output: v.public_output,
        }
    }
}

/// One committed group of boundary-in tensors: what one producer wrote (or the model's inputs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputGroup {
    /// The group is the model's inputs (public when [`Visibility::public_input`] is set).
    pub model_inputs: bool,
    /// Its tensors, in commitment order.
    pub tensors: Vec<i64>,
}

/// What a chunk reads and writes: its boundary-in tensors in groups, one input commitment each, and its
/// boundary-out tensors (one output commitment).
///
/// A chunk of a chain ([`ChunkIo::chain`]) reads one group, the tensors live at its first cut, and writes the
/// tensors live at its last cut. A chunk of a graph-shaped plan reads one group per producer and writes only
/// what later chunks read of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChunkIo {
    /// The input groups, in instance order.
    pub groups: Vec<InputGroup>,
    /// The boundary-out tensors, in commitment order.
    pub outputs: Vec<i64>,
    /// The outputs are public instances, not hashed into `h_out`: a part of a split last layer that states its
    /// share of the model's outputs when they are public (`dzk_format::run::Plan::output_join`). A chunk that
    /// ends at the model's last layer takes them public from [`Visibility::public_output`] instead.
    pub public_outputs: bool,
}

impl ChunkIo {
    /// The boundaries of slice `start..end` of a chain: `Model::slice_boundary`.
    pub fn chain(model: &Model, start: usize, end: usize) -> Self {
        let (ins, outs) = model.slice_boundary(start, end);
        Self {
            groups: vec![InputGroup {
                model_inputs: start == 0,
                tensors: ins,
            }],
            outputs: outs,
            public_outputs: false,
        }
    }

    /// What chunk `c` of `plan` reads and writes: [`Self::chain`] for a chunk of a chain, else one group per
    /// boundary it reads (`Plan::input_groups`) and the outputs the plan lists, public when `c` states a share
    /// of the model's public outputs.
    pub fn from_plan(
        model: &Model,
        plan: &dzk_format::run::Plan,
        c: &dzk_format::run::ChunkPlan,
    ) -> Self {
        if c.sources.is_empty() {
            return Self::chain(model, c.start, c.end);
        }
        Self {
            groups: plan
                .input_groups(c)
                .into_iter()
                .map(|(b, ts)| InputGroup {
                    model_inputs: b == 0,
                    tensors: ts.iter().map(|t| t.idx).collect(),
                })
                .collect(),
            outputs: c.outputs.iter().map(|t| t.idx).collect(),
            public_outputs: plan.output_join.is_some()
                && plan.states_outputs(c.index)
                && plan.visibility.public_output,
        }
    }

    /// Every boundary-in tensor, group after group.
    pub fn inputs(&self) -> Vec<i64> {
        self.groups
            .iter()
            .flat_map(|g| g.tensors.iter().copied())
            .collect()
    }
}

/// The salts of a chunk's two commitments: private, uniformly random field elements chosen by the producer of
/// each boundary.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Salts {
    /// Salt of the boundary-in commitment `h_in` (of a chain's chunk; see
    /// [`ChunkCircuit::with_group_inputs`](crate::ChunkCircuit::with_group_inputs)).
    pub input: Fr,
    /// Salt of the boundary-out commitment `h_out`.
    pub output: Fr,
}
