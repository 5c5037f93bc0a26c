// Uploads one local file to a running Agora with the official JS client (@huggingface/hub), the
// way a user would: createRepo, then uploadFiles with a file: URL (the client hashes the file with
// SHA-256 itself, asks the LFS batch API, PUTs the bytes, then commits).
//
// Usage: node bench/download/upload.mjs HUB_URL TOKEN REPO_ID FILE PATH_IN_REPO [SINK_URL]
// Prints the seconds from "createRepo done" to "uploadFiles resolved" on stdout.
// With SINK_URL, the client's PUT of the bytes goes there instead (sink.mjs, which only counts
// them) and the time until that PUT ends is printed: what the client alone costs.

import { performance } from "node:perf_hooks";
import { pathToFileURL } from "node:url";
import { createRepo, uploadFiles } from "@huggingface/hub";

const [hubUrl, accessToken, repoId, file, pathInRepo, sinkUrl] = process.argv.slice(2);
if (!pathInRepo) {
  console.error("usage: upload.mjs HUB_URL TOKEN REPO_ID FILE PATH_IN_REPO [SINK_URL]");
  process.exit(2);
}
const repo = { type: "model", name: repoId };
const seconds = () => ((performance.now() - started) / 1000).toFixed(3);

/** fetch for the client: unchanged, except that with a sink the PUT goes there and ends the run. */
async function clientFetch(url, init) {
  if (!sinkUrl || init?.method !== "PUT") return fetch(url, init);
  const response = await fetch(sinkUrl, init);
  if (!response.ok) throw new Error(`the sink answered ${response.status}`);
  process.stdout.write(`${seconds()}\n`);
  process.exit(0);
}

await createRepo({ hubUrl, accessToken, repo });
const started = performance.now();
await uploadFiles({ hubUrl, accessToken, repo, fetch: clientFetch, files: [{ path: pathInRepo, content: pathToFileURL(file) }] });
process.stdout.write(`${seconds()}\n`);
