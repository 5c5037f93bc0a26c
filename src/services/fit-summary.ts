// The one memory figure listings filter on (`fits=PROFILE`): a model "fits" a profile when it
// runs entirely in the profile's accelerator memory at Q4_K_M — the quantisation most local
// users pick — with a 4096-token context. The full estimate (every precision, offload, speed)
// is `agora fit` and docs/fit.md.

import { kvCacheSize, overheadBytes, precisionByName, weightBytes } from "../models/fit.ts";
import type { ConfigAnalysis } from "../models/types.ts";

export const LISTING_FIT_PRECISION = "Q4_K_M";
export const LISTING_FIT_CONTEXT = 4096;

export function minimumMemoryBytes(analysis: ConfigAnalysis): number | null {
  const precision = precisionByName(LISTING_FIT_PRECISION);
  if (!precision) return null;
  try {
    const weights = weightBytes(analysis, precision).weightsBytes;
    const kv = kvCacheSize(analysis.attention, LISTING_FIT_CONTEXT).bytes;
    const total = weights + kv + overheadBytes(analysis, 1);
    return Number.isFinite(total) ? total : null;
  } catch {
    return null;
  }
}
