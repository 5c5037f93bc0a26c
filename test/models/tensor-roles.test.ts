// Tensor roles from names, across the naming conventions of the reference implementations and
// llama.cpp, and the MTP/encoder exclusions of the counting rule.

import { test } from "node:test";
import assert from "node:assert/strict";
import { classifyTensor, countTensors, type CountedTensor } from "../../src/models/tensor-roles.ts";

test("tensor names map to breakdown roles", () => {
  const cases: [string, string][] = [
    ["model.embed_tokens.weight", "embedding"],
    ["transformer.wte.weight", "embedding"],
    ["token_embd.weight", "embedding"],
    ["lm_head.weight", "lm_head"],
    ["output.weight", "lm_head"],
    ["gpt_neox.embed_out.weight", "lm_head"],
    ["model.layers.0.self_attn.q_proj.weight", "attention"],
    ["model.layers.0.self_attn.q_norm.weight", "norms"],
    ["blk.0.attn_qkv.weight", "attention"],
    ["blk.0.attn_norm.weight", "norms"],
    ["model.layers.0.input_layernorm.weight", "norms"],
    ["model.norm.weight", "norms"],
    ["output_norm.weight", "norms"],
    ["model.layers.0.mlp.gate_proj.weight", "dense_mlp"],
    ["blk.0.ffn_up.weight", "dense_mlp"],
    // Mixtral / Phi-3.5-MoE / MiniMax
    ["model.layers.0.block_sparse_moe.gate.weight", "router"],
    ["model.layers.0.block_sparse_moe.experts.7.w2.weight", "experts"],
    // DeepSeek / GLM / Qwen3-MoE
    ["model.layers.3.mlp.gate.weight", "router"],
    ["model.layers.3.mlp.gate.e_score_correction_bias", "router"],
    ["model.layers.3.mlp.experts.12.down_proj.weight", "experts"],
    ["model.layers.3.mlp.shared_experts.up_proj.weight", "shared_experts"],
    // Qwen2-MoE
    ["model.layers.0.mlp.shared_expert.down_proj.weight", "shared_experts"],
    ["model.layers.0.mlp.shared_expert_gate.weight", "router"],
    // gpt-oss / Llama 4 stacked experts
    ["model.layers.0.mlp.router.weight", "router"],
    ["model.layers.0.mlp.experts.gate_up_proj_blocks", "experts"],
    ["language_model.model.layers.0.feed_forward.experts.gate_up_proj", "experts"],
    ["language_model.model.layers.0.feed_forward.shared_expert.down_proj.weight", "shared_experts"],
    // Granite-MoE
    ["model.layers.0.block_sparse_moe.input_linear.weight", "experts"],
    ["model.layers.0.shared_mlp.input_linear.weight", "shared_experts"],
    // llama.cpp MoE names
    ["blk.0.ffn_gate_inp.weight", "router"],
    ["blk.0.ffn_gate_exps.weight", "experts"],
    ["blk.0.ffn_down_shexp.weight", "shared_experts"],
    ["blk.0.exp_probs_b.bias", "router"],
    // encoders
    ["model.vision_tower.vision_model.encoder.layers.0.mlp.fc1.weight", "vision"],
    ["visual.blocks.0.attn.qkv.weight", "vision"],
    ["model.multi_modal_projector.linear_1.weight", "vision"],
    ["v.blk.0.attn_q.weight", "vision"],
    ["mm.0.weight", "vision"],
    ["thinker.audio_tower.layers.0.fc1.weight", "audio"],
    ["a.blk.0.ffn_up.weight", "audio"],
    // MTP by name
    ["mtp.layers.0.self_attn.q_proj.weight", "mtp"],
    ["model.mtp_layers.0.mlp.down_proj.weight", "mtp"],
    ["blk.46.nextn.eh_proj.weight", "mtp"],
    ["something.completely.different", "other"],
  ];
  for (const [name, role] of cases) assert.equal(classifyTensor(name), role, name);
});

const t = (name: string, parameters: number, shape: number[] = [parameters]): CountedTensor => ({ name, parameters, shape });

test("an MTP stack of its own does not pull the decoder layer with the same number into MTP", () => {
  const result = countTensors(
    [
      t("model.embed_tokens.weight", 160, [20, 8]),
      t("model.layers.0.self_attn.q_proj.weight", 64),
      t("mtp.layers.0.self_attn.q_proj.weight", 64),
      t("mtp.layers.0.eh_proj.weight", 128),
      t("mtp.fc.weight", 128),
      t("lm_head.weight", 160),
    ],
    { layout: "hf", layers: 1 },
  );
  assert.deepEqual(result.parameters.breakdown.attention, 64);
  assert.equal(result.parameters.breakdown.mtp, 320);
  assert.equal(result.parameters.total, 160 + 64 + 160);
});

test("llama.cpp next-n layers: the whole block past block_count - nextn is MTP", () => {
  const result = countTensors(
    [
      t("token_embd.weight", 160, [8, 20]),
      t("blk.0.attn_q.weight", 64),
      t("blk.1.attn_q.weight", 64),
      t("blk.1.nextn.eh_proj.weight", 128),
      t("blk.1.ffn_gate_exps.weight", 512, [8, 16, 4]),
      t("output.weight", 160, [8, 20]),
    ],
    { layout: "ggml", layers: 1, experts: 4, expertsPerToken: 2 },
  );
  assert.deepEqual(result.mtpLayers, [1]);
  assert.equal(result.parameters.breakdown.mtp, 64 + 128 + 512);
  assert.equal(result.parameters.breakdown.experts, 0);
  assert.equal(result.parameters.total, 160 + 64 + 160);
  assert.equal(result.parameters.activeRead, 64 + 160 + 8, "one 8-value row of the embedding, the whole head");
});

test("tied embeddings: the head reads the whole table, which holds the input row", () => {
  const tied = countTensors([t("model.embed_tokens.weight", 160, [20, 8]), t("model.layers.0.mlp.up_proj.weight", 64)], { layout: "hf" });
  assert.equal(tied.parameters.total, 224);
  assert.equal(tied.parameters.active, 224);
  assert.equal(tied.parameters.activeRead, 224);
  // an input-only table beside it (per-layer embeddings) still contributes one row
  const perLayer = countTensors(
    [t("model.embed_tokens.weight", 160, [20, 8]), t("model.embed_tokens_per_layer.weight", 80, [20, 4]), t("model.layers.0.mlp.up_proj.weight", 64)],
    { layout: "hf" },
  );
  assert.equal(perLayer.parameters.activeRead, 224 + 4);
});

test("the configured expert count wins over the names, and a disagreement is noted", () => {
  const result = countTensors(
    [t("model.layers.0.mlp.experts.0.up_proj.weight", 10), t("model.layers.0.mlp.experts.1.up_proj.weight", 10)],
    { layout: "hf", experts: 4, expertsPerToken: 1 },
  );
  assert.equal(result.expertsSeen, 2);
  assert.equal(result.parameters.active, 5);
  assert.match(result.notes.join(" "), /declares 4 experts per layer, the tensors show 2/);
});
