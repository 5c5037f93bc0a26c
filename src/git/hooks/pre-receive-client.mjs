// Run by the pre-receive hook: posts the ref updates (stdin lines "old new ref") and the
// quarantine environment to the hub that spawned this push, prints the hub's message (git
// shows it to the user prefixed with "remote:") and exits with its verdict.
import { Buffer } from "node:buffer";

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const updates = Buffer.concat(chunks).toString("utf8").split("\n").filter(Boolean).map((line) => {
  const [oldOid, newOid, ref] = line.split(" ");
  return { oldOid, newOid, ref };
});
const env = {};
for (const key of ["GIT_QUARANTINE_PATH", "GIT_OBJECT_DIRECTORY", "GIT_ALTERNATE_OBJECT_DIRECTORIES"]) {
  if (process.env[key]) env[key] = process.env[key];
}
try {
  const response = await fetch(process.env.AGORA_HOOK_URL, {
    method: "POST",
    headers: { "content-type": "application/json", "x-agora-hook-secret": process.env.AGORA_HOOK_SECRET ?? "" },
    body: JSON.stringify({ updates, env }),
  });
  const result = await response.json();
  if (result.message) process.stderr.write(result.message.endsWith("\n") ? result.message : result.message + "\n");
  process.exit(result.ok ? 0 : 1);
} catch (error) {
  process.stderr.write(`Agora could not check this push: ${error.message}\n`);
  process.exit(1);
}
