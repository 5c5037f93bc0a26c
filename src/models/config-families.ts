// Which family's counting rules apply to a config. Looked up, in order, by model_type (of the
// config and of its text sub-config), by the architecture class names, and finally by the shape
// of the config (which settings it carries), so that a model published under a new model_type
// (Kimi K2's "kimi_k2" is a DeepSeek-V3) is still counted by the right rules.

import type { ConfigReader } from "./config-reader.ts";

export const FAMILIES = [
  "llama",
  "mistral",
  "mixtral",
  "qwen2",
  "qwen2_moe",
  "qwen3",
  "qwen3_moe",
  "qwen3_next",
  "qwen3_5",
  "qwen3_5_moe",
  "deepseek_v2",
  "deepseek_v3",
  "glm4_moe",
  "glm_moe_dsa",
  "minimax_m2",
  "gemma",
  "gemma2",
  "gemma3",
  "gemma4",
  "llama4",
  "gpt_oss",
  "phi3",
  "granite",
  "granitemoe",
  "nemotron_h",
  "olmo2",
  "olmoe",
] as const;
export type Family = (typeof FAMILIES)[number];

/** model_type values, including the text sub-config types of multimodal models. */
const MODEL_TYPES = new Map<string, Family>([
  ["llama", "llama"],
  ["mistral", "mistral"],
  ["mixtral", "mixtral"],
  ["qwen2", "qwen2"],
  ["qwen2_moe", "qwen2_moe"],
  ["qwen3", "qwen3"],
  ["qwen3_moe", "qwen3_moe"],
  ["qwen3_next", "qwen3_next"],
  ["qwen3_5", "qwen3_5"],
  ["qwen3_5_text", "qwen3_5"],
  ["qwen3_5_moe", "qwen3_5_moe"],
  ["qwen3_5_moe_text", "qwen3_5_moe"],
  ["deepseek_v2", "deepseek_v2"],
  ["deepseek_v3", "deepseek_v3"],
  ["glm4_moe", "glm4_moe"],
  ["glm_moe_dsa", "glm_moe_dsa"],
  // DeepSeek-V3.2 is MLA plus the same sparse-attention indexer as GLM-5.
  ["deepseek_v32", "glm_moe_dsa"],
  ["minimax_m2", "minimax_m2"],
  ["gemma", "gemma"],
  ["gemma2", "gemma2"],
  ["gemma3", "gemma3"],
  ["gemma3_text", "gemma3"],
  ["gemma4", "gemma4"],
  ["gemma4_text", "gemma4"],
  ["llama4", "llama4"],
  ["llama4_text", "llama4"],
  ["gpt_oss", "gpt_oss"],
  ["phi3", "phi3"],
  ["granite", "granite"],
  ["granitemoe", "granitemoe"],
  ["granitemoeshared", "granitemoe"],
  ["nemotron_h", "nemotron_h"],
  ["olmo2", "olmo2"],
  ["olmo3", "olmo2"],
  ["olmoe", "olmoe"],
]);

/** Architecture class names (config.architectures), for configs whose model_type we do not know. */
const ARCHITECTURES = new Map<string, Family>([
  ["LlamaForCausalLM", "llama"],
  ["MistralForCausalLM", "mistral"],
  ["MixtralForCausalLM", "mixtral"],
  ["Qwen2ForCausalLM", "qwen2"],
  ["Qwen2MoeForCausalLM", "qwen2_moe"],
  ["Qwen3ForCausalLM", "qwen3"],
  ["Qwen3MoeForCausalLM", "qwen3_moe"],
  ["Qwen3NextForCausalLM", "qwen3_next"],
  ["Qwen3_5ForCausalLM", "qwen3_5"],
  ["Qwen3_5ForConditionalGeneration", "qwen3_5"],
  ["Qwen3_5MoeForCausalLM", "qwen3_5_moe"],
  ["Qwen3_5MoeForConditionalGeneration", "qwen3_5_moe"],
  ["DeepseekV2ForCausalLM", "deepseek_v2"],
  ["DeepseekV3ForCausalLM", "deepseek_v3"],
  ["DeepseekV32ForCausalLM", "glm_moe_dsa"],
  ["Glm4MoeForCausalLM", "glm4_moe"],
  ["GlmMoeDsaForCausalLM", "glm_moe_dsa"],
  ["MiniMaxM2ForCausalLM", "minimax_m2"],
  ["GemmaForCausalLM", "gemma"],
  ["Gemma2ForCausalLM", "gemma2"],
  ["Gemma3ForCausalLM", "gemma3"],
  ["Gemma3ForConditionalGeneration", "gemma3"],
  ["Gemma4ForCausalLM", "gemma4"],
  ["Gemma4ForConditionalGeneration", "gemma4"],
  ["Llama4ForCausalLM", "llama4"],
  ["Llama4ForConditionalGeneration", "llama4"],
  ["GptOssForCausalLM", "gpt_oss"],
  ["Phi3ForCausalLM", "phi3"],
  ["GraniteForCausalLM", "granite"],
  ["GraniteMoeForCausalLM", "granitemoe"],
  ["GraniteMoeSharedForCausalLM", "granitemoe"],
  ["NemotronHForCausalLM", "nemotron_h"],
  ["Olmo2ForCausalLM", "olmo2"],
  ["Olmo3ForCausalLM", "olmo2"],
  ["OlmoeForCausalLM", "olmoe"],
]);

export type FamilyMatch = { family: Family | "unknown"; via: "model_type" | "architectures" | "shape" | "none" };

export function detectFamily(root: ConfigReader, text: ConfigReader, architectures: readonly string[]): FamilyMatch {
  for (const modelType of [root.str("model_type"), text.str("model_type")]) {
    const family = modelType === undefined ? undefined : MODEL_TYPES.get(modelType);
    if (family) return { family, via: "model_type" };
  }
  for (const name of architectures) {
    const family = ARCHITECTURES.get(name);
    if (family) return { family, via: "architectures" };
  }
  const byShape = familyFromShape(text);
  return byShape ? { family: byShape, via: "shape" } : { family: "unknown", via: "none" };
}

/** Settings that only one family's configs carry. */
function familyFromShape(text: ConfigReader): Family | undefined {
  const hasExperts = ["n_routed_experts", "num_experts", "num_local_experts"].some((key) => text.has(key));
  if (text.has("kv_lora_rank") && text.has("qk_rope_head_dim")) {
    // Multi-head latent attention; an index_n_heads setting adds the sparse-attention indexer.
    if (text.has("index_n_heads") && text.has("q_lora_rank")) return "glm_moe_dsa";
    return hasExperts ? "deepseek_v3" : "deepseek_v2";
  }
  if (text.has("hybrid_override_pattern") && text.has("mamba_num_heads")) return "nemotron_h";
  if (text.has("linear_num_value_heads") && text.has("linear_key_head_dim")) return hasExperts ? "qwen3_next" : "qwen3_5";
  return undefined;
}
