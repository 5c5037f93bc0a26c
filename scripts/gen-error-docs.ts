// Writes docs/errors.md from the error registry in src/errors.ts: `npx tsx scripts/gen-error-docs.ts`.
import fs from "node:fs";
import { errorCodes } from "../src/errors.ts";

const lines = [
  "# Error codes",
  "",
  "Generated from `src/errors.ts` by `npx tsx scripts/gen-error-docs.ts`; do not edit by hand.",
  "",
  "Every error answers with its status, the headers `X-Error-Code` and `X-Error-Message`, and a JSON",
  'body `{"error": message}`. Unknown routes answer a plain 404 without `X-Error-Code`.',
  "",
  "| code | status | default message | when |",
  "| --- | --- | --- | --- |",
  ...Object.entries(errorCodes).map(([code, e]) => `| \`${code}\` | ${e.status} | ${e.message.replace(/\|/g, "\\|")} | ${e.description} |`),
  "",
  "`RepoNotFound` is 401 without a token and 404 with one; `GatedRepo` is 401 without a token and 403 with one.",
  "",
];
fs.mkdirSync("docs", { recursive: true });
fs.writeFileSync("docs/errors.md", lines.join("\n"));
