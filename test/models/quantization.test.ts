// Quantisation facts: GGML block layouts and bits per weight, GGUF file type names, and the
// quantization_config of config.json for each method Agora recognises.

import { test } from "node:test";
import assert from "node:assert/strict";
import { GGML_TYPES, ggmlTensorBytes, ggmlTypeByName, ggufFileTypeName, quantizationFromConfig } from "../../src/models/quantization.ts";

test("GGML types: bits per weight of the common quantisations", () => {
  const bpw = (name: string) => ggmlTypeByName(name)!.bitsPerWeight;
  assert.equal(bpw("F16"), 16);
  assert.equal(bpw("BF16"), 16);
  assert.equal(bpw("Q8_0"), 8.5);
  assert.equal(bpw("Q4_0"), 4.5);
  assert.equal(bpw("Q4_K"), 4.5);
  assert.equal(bpw("Q5_K"), 5.5);
  assert.equal(bpw("Q6_K"), 6.5625);
  assert.equal(bpw("Q3_K"), 3.4375);
  assert.equal(bpw("Q2_K"), 2.625);
  assert.equal(bpw("IQ2_XXS"), 2.0625);
  assert.equal(bpw("IQ1_S"), 1.5625);
  assert.equal(bpw("IQ4_XS"), 4.25);
  assert.equal(bpw("MXFP4"), 4.25);
  assert.equal(bpw("NVFP4"), 4.5);
  assert.equal(GGML_TYPES.get(12)!.name, "Q4_K");
  assert.equal(ggmlTensorBytes(ggmlTypeByName("Q4_K")!, 512), 288);
  assert.equal(ggmlTensorBytes(ggmlTypeByName("Q4_K")!, 100), null, "not a whole number of blocks");
  assert.equal(ggufFileTypeName(15), "Q4_K_M");
  assert.equal(ggufFileTypeName(38), "MXFP4_MOE");
  assert.equal(ggufFileTypeName(999), null);
});

test("quantization_config: GPTQ, AWQ, bitsandbytes", () => {
  const gptq = quantizationFromConfig({ quantization_config: { quant_method: "gptq", bits: 4, group_size: 128, desc_act: true, sym: true } })!;
  assert.equal(gptq.method, "gptq");
  assert.equal(gptq.bits, 4);
  assert.equal(gptq.bitsPerWeight, 4.156); // fp16 scale + 4-bit zero point per 128 values
  assert.equal(gptq.details.groupSize, 128);

  const awq = quantizationFromConfig({ quantization_config: { quant_method: "awq", bits: 4, group_size: 128, zero_point: true, version: "gemm" } })!;
  assert.deepEqual([awq.method, awq.bits, awq.bitsPerWeight], ["awq", 4, 4.156]);

  const nf4 = quantizationFromConfig({ quantization_config: { quant_method: "bitsandbytes", load_in_4bit: true, bnb_4bit_quant_type: "nf4", bnb_4bit_use_double_quant: true } })!;
  assert.deepEqual([nf4.method, nf4.bits, nf4.details.quantType], ["bitsandbytes", 4, "nf4"]);
  assert.ok(nf4.bitsPerWeight! > 4 && nf4.bitsPerWeight! < 4.5);
  const int8 = quantizationFromConfig({ quantization_config: { quant_method: "bitsandbytes", load_in_8bit: true } })!;
  assert.deepEqual([int8.bits, int8.bitsPerWeight], [8, 8]);
});

test("quantization_config: FP8, MXFP4, NVFP4, compressed-tensors", () => {
  const fp8 = quantizationFromConfig({ quantization_config: { quant_method: "fp8", fmt: "e4m3", activation_scheme: "dynamic", weight_block_size: [128, 128] } })!;
  assert.deepEqual([fp8.method, fp8.bits, fp8.bitsPerWeight], ["fp8", 8, 8.002]);

  const mxfp4 = quantizationFromConfig({ quantization_config: { quant_method: "mxfp4", modules_to_not_convert: ["model.layers.*.self_attn", "lm_head"] } })!;
  assert.deepEqual([mxfp4.method, mxfp4.bits, mxfp4.bitsPerWeight], ["mxfp4", 4, 4.25]);

  const nvfp4 = quantizationFromConfig({ quantization_config: { quant_method: "modelopt", quant_algo: "NVFP4", group_size: 16 } })!;
  assert.deepEqual([nvfp4.method, nvfp4.bits, nvfp4.bitsPerWeight], ["nvfp4", 4, 4.5]);

  const w4a16 = quantizationFromConfig({
    quantization_config: {
      quant_method: "compressed-tensors",
      format: "pack-quantized",
      config_groups: { group_0: { targets: ["Linear"], weights: { num_bits: 4, type: "int", strategy: "group", group_size: 128, symmetric: true } } },
    },
  })!;
  assert.equal(w4a16.method, "compressed-tensors");
  assert.equal(w4a16.bits, 4);
  assert.equal(w4a16.details.scheme, "w4a16");
  assert.equal(w4a16.bitsPerWeight, 4.125);

  const ctNvfp4 = quantizationFromConfig({
    quantization_config: { quant_method: "compressed-tensors", format: "nvfp4-pack-quantized", config_groups: { g: { weights: { num_bits: 4, type: "float", strategy: "tensor_group", group_size: 16 } } } },
  })!;
  assert.deepEqual([ctNvfp4.method, ctNvfp4.details.scheme, ctNvfp4.bitsPerWeight], ["compressed-tensors", "nvfp4", 4.5]);

  const ctFp8 = quantizationFromConfig({ compression_config: { quant_method: "compressed-tensors", config_groups: { g: { weights: { num_bits: 8, type: "float", strategy: "channel" } } } } })!;
  assert.deepEqual([ctFp8.details.scheme, ctFp8.bits], ["fp8", 8]);
});

test("quantization_config: absent, unknown and hostile values", () => {
  assert.equal(quantizationFromConfig({ model_type: "llama" }), null);
  assert.equal(quantizationFromConfig(null), null);
  assert.equal(quantizationFromConfig("nope"), null);
  assert.deepEqual(quantizationFromConfig({ quantization_config: { quant_method: "hqq", bits: 3 } }), { method: "other", bits: 3, bitsPerWeight: 3, details: { quantMethod: "hqq" } });
  const hostile = quantizationFromConfig({ quantization_config: { quant_method: "gptq", bits: "four", group_size: -5 } })!;
  assert.equal(hostile.bits, 4, "falls back to the method's default");
  assert.equal(hostile.bitsPerWeight, 4);
  const proto = quantizationFromConfig(JSON.parse('{"__proto__": {"quantization_config": {"quant_method": "gptq"}}}'));
  assert.equal(proto, null, "an inherited key is not the config's");
  // nested under text_config in some multimodal configs
  assert.equal(quantizationFromConfig({ text_config: { quantization_config: { quant_method: "fp8" } } })!.method, "fp8");
  // MLX keeps its own top-level key
  assert.deepEqual(quantizationFromConfig({ quantization: { group_size: 64, bits: 4 } })!.bitsPerWeight, 4.5);
});
