// SHA-256 (lowercase hex) and length of a stream of bytes, read to its end.

import { createHash } from "node:crypto";

export async function sha256OfStream(chunks: AsyncIterable<Buffer>): Promise<{ oid: string; size: number }> {
  const hash = createHash("sha256");
  let size = 0;
  for await (const chunk of chunks) {
    hash.update(chunk);
    size += chunk.length;
  }
  return { oid: hash.digest("hex"), size };
}
