// Conformance: the official JS client `@huggingface/hub`, unchanged, against a live Agora
// (real HTTP server, SQLite, git and blob store). Each repository type runs one scenario whose
// steps build on each other: create → upload (small files + one LFS file over 200 MB) → list,
// info, tree, download → delete a file → branch → delete the repository.
// Bytes are always compared by SHA-256 against what was uploaded.

import { before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import {
  commit,
  createBranch,
  createRepo,
  datasetInfo,
  deleteRepo,
  downloadFile,
  downloadFileToCacheDir,
  fileDownloadInfo,
  HubApiError,
  listDatasets,
  listFiles,
  listModels,
  modelInfo,
  repoExists,
  uploadFiles,
  whoAmI,
  type ListFileEntry,
} from "@huggingface/hub";
import { startHub, suiteScope, tempDir, type TestHub } from "../helpers/server.ts";

/** 200 MiB plus a few bytes, so the size is not a multiple of any chunk size. */
const BIG_SIZE = 200 * 1024 * 1024 + 7;
const USER = "alice";

type Kind = "model" | "dataset";

function sha256(bytes: Uint8Array | string): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** The git blob id of a file's bytes: sha1("blob <len>\0" + bytes). */
function gitBlobId(bytes: Uint8Array): string {
  return createHash("sha1").update(`blob ${bytes.length}\0`).update(bytes).digest("hex");
}

/**
 * Writes `size` deterministic pseudo-random bytes (xorshift32 from `seed`) to `file` and
 * returns their SHA-256. Written in 4 MiB chunks so the content never sits in memory whole.
 */
function writePseudoRandomFile(file: string, size: number, seed: number): string {
  const chunkWords = (4 * 1024 * 1024) / 4;
  const words = new Uint32Array(chunkWords);
  const bytes = Buffer.from(words.buffer);
  const hash = createHash("sha256");
  const fd = fs.openSync(file, "w");
  let x = seed | 0 || 1;
  try {
    for (let written = 0; written < size; ) {
      for (let i = 0; i < chunkWords; i++) {
        x ^= x << 13;
        x ^= x >>> 17;
        x ^= x << 5;
        words[i] = x;
      }
      const n = Math.min(bytes.length, size - written);
      const part = bytes.subarray(0, n);
      hash.update(part);
      fs.writeSync(fd, part);
      written += n;
    }
  } finally {
    fs.closeSync(fd);
  }
  return hash.digest("hex");
}

function readFileRange(file: string, start: number, end: number): Buffer {
  const out = Buffer.alloc(end - start);
  const fd = fs.openSync(file, "r");
  try {
    fs.readSync(fd, out, 0, out.length, start);
  } finally {
    fs.closeSync(fd);
  }
  return out;
}

/** SHA-256 of a Blob read as a stream (the 200 MB download is never held in memory). */
async function sha256OfBlob(blob: Blob): Promise<{ sha256: string; size: number }> {
  const hash = createHash("sha256");
  let size = 0;
  for await (const chunk of blob.stream()) {
    hash.update(chunk);
    size += chunk.length;
  }
  return { sha256: hash.digest("hex"), size };
}

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of iterable) items.push(item);
  return items;
}

function isHubError(status: number) {
  return (error: unknown) => {
    assert.ok(error instanceof HubApiError, `expected a HubApiError, got ${String(error)}`);
    assert.equal(error.statusCode, status, `expected HTTP ${status}, got ${error.statusCode}: ${error.message}`);
    return true;
  };
}

type Scenario = {
  kind: Kind;
  name: string;
  /** URL prefix of the repository on the hub: "" for models, "datasets/" for datasets. */
  prefix: string;
  bigPath: string;
  seed: number;
  card: Record<string, unknown>;
  readme: string;
  config: Record<string, unknown>;
};

const scenarios: Scenario[] = [
  {
    kind: "model",
    name: `${USER}/agora-conformance-model`,
    prefix: "",
    bigPath: "weights/model-00001-of-00001.bin",
    seed: 0x9e3779b9,
    card: { license: "apache-2.0", pipeline_tag: "text-generation", tags: ["agora-conformance", "llama"] },
    readme: [
      "---",
      "license: apache-2.0",
      "pipeline_tag: text-generation",
      "tags:",
      "  - agora-conformance",
      "  - llama",
      "---",
      "",
      "# A small model",
      "",
      "Uploaded to Agora with @huggingface/hub.",
      "",
    ].join("\n"),
    config: { architectures: ["LlamaForCausalLM"], model_type: "llama", hidden_size: 64, num_hidden_layers: 2 },
  },
  {
    kind: "dataset",
    name: `${USER}/agora-conformance-dataset`,
    prefix: "datasets/",
    bigPath: "data/train-00000-of-00001.bin",
    seed: 0x85ebca6b,
    card: { license: "cc-by-4.0", task_categories: ["text-classification"], tags: ["agora-conformance"] },
    readme: [
      "---",
      "license: cc-by-4.0",
      "task_categories:",
      "  - text-classification",
      "tags:",
      "  - agora-conformance",
      "---",
      "",
      "# A small dataset",
      "",
      "Uploaded to Agora with @huggingface/hub.",
      "",
    ].join("\n"),
    config: { features: { text: { dtype: "string" }, label: { dtype: "int64" } }, splits: ["train"] },
  },
];

for (const scenario of scenarios) {
  const { kind, name, prefix, bigPath } = scenario;
  const repo = { type: kind, name };
  const bigDir = path.posix.dirname(bigPath);

  describe(`@huggingface/hub against Agora: ${kind} repository`, () => {
    const scope = suiteScope();
    let hub: TestHub;
    let accessToken: string;
    let bigFile: string;
    let bigSha256: string;
    /** Small files as uploaded: path → bytes. */
    const small = new Map<string, Buffer>();
    let uploadCommit: string;
    let createdAt: number;

    const call = () => ({ hubUrl: hub.url, accessToken });

    const info = (revision?: string) =>
      kind === "model"
        ? modelInfo({ ...call(), name, revision, additionalFields: ["cardData", "sha", "filePaths"] })
        : datasetInfo({ ...call(), name, revision, additionalFields: ["cardData", "sha"] });

    const search = (query: string, owner = USER) =>
      collect(kind === "model" ? listModels({ ...call(), search: { query, owner } }) : listDatasets({ ...call(), search: { query, owner } }));

    const searchOtherType = (query: string) =>
      collect(kind === "model" ? listDatasets({ ...call(), search: { query, owner: USER } }) : listModels({ ...call(), search: { query, owner: USER } }));

    const tree = async (revision?: string) => {
      const entries = await collect(listFiles({ ...call(), repo, recursive: true, revision }));
      return new Map<string, ListFileEntry>(entries.map((e) => [e.path, e]));
    };

    const download = async (filePath: string, revision?: string) => {
      const blob = await downloadFile({ ...call(), repo, path: filePath, revision });
      assert.ok(blob, `${filePath} should be downloadable`);
      return Buffer.from(await blob.arrayBuffer());
    };

    before(async () => {
      hub = await startHub(scope);
      accessToken = await hub.token(USER);
      bigFile = path.join(tempDir(scope), "big.bin");
      bigSha256 = writePseudoRandomFile(bigFile, BIG_SIZE, scenario.seed);
      small.set("README.md", Buffer.from(scenario.readme));
      small.set("config.json", Buffer.from(JSON.stringify(scenario.config, null, 2) + "\n"));
      small.set(`${bigDir}/index.json`, Buffer.from(JSON.stringify({ metadata: { total_size: BIG_SIZE }, weight_map: { all: bigPath } }) + "\n"));
      small.set("docs/notes/usage.txt", Buffer.from(`How to use this ${kind}.\nLine two, with unicode: déjà vu ✓\n`));
      small.set("extra.txt", Buffer.from("this file is deleted by a later commit\n"));
    });

    test("whoAmI names the token's user and describes the token", async () => {
      const me = await whoAmI(call());
      assert.equal(me.name, USER);
      assert.equal(me.type, "user");
      assert.ok(me.auth, "auth must be present");
      assert.equal(me.auth.accessToken?.role, "write");
      assert.ok(me.auth.accessToken?.createdAt instanceof Date && !Number.isNaN(me.auth.accessToken.createdAt.getTime()));
    });

    test("whoAmI rejects an unknown token", async () => {
      await assert.rejects(whoAmI({ hubUrl: hub.url, accessToken: "hf_" + "x".repeat(34) }), isHubError(401));
    });

    test("createRepo creates the repository and answers its URL; a second create is a 409", async () => {
      createdAt = Date.now();
      const created = await createRepo({ ...call(), repo });
      assert.equal(created.repoUrl, `${hub.url}/${prefix}${name}`);
      assert.equal(await repoExists({ ...call(), repo }), true);
      await assert.rejects(createRepo({ ...call(), repo }), isHubError(409));
    });

    test("uploadFiles commits small files inline and the 200 MB file through LFS", async () => {
      const files = [
        ...[...small].map(([filePath, bytes]) => ({ path: filePath, content: new Blob([bytes]) })),
        { path: bigPath, content: pathToFileURL(bigFile) },
      ];
      const result = await uploadFiles({ ...call(), repo, files, commitTitle: "Initial upload" });
      assert.ok(result, "a commit result is expected");
      assert.match(result.commit.oid, /^[0-9a-f]{40}$/);
      assert.equal(result.commit.url, `${hub.url}/${prefix}${name}/commit/${result.commit.oid}`);
      uploadCommit = result.commit.oid;

      const entries = await tree();
      const big = entries.get(bigPath);
      assert.ok(big, `${bigPath} is listed`);
      assert.equal(big.type, "file");
      assert.equal(big.size, BIG_SIZE);
      assert.ok(big.lfs, "the big file is stored in LFS");
      assert.equal(big.lfs.oid, bigSha256);
      assert.equal(big.lfs.size, BIG_SIZE);
      for (const filePath of small.keys()) assert.equal(entries.get(filePath)?.lfs, undefined, `${filePath} is a regular git file`);
    });

    test(`list${kind === "model" ? "Models" : "Datasets"} with search query and owner finds the repository, and only on a match`, async () => {
      const shortName = name.split("/")[1];
      const found = await search(shortName.slice(3, -2).toUpperCase());
      assert.deepEqual(
        found.map((r) => r.name),
        [name],
      );
      const [entry] = found;
      assert.match(entry.id, /^[0-9a-f]{24}$/);
      assert.equal(entry.private, false);
      assert.equal(entry.gated, false);
      assert.ok(!Number.isNaN(entry.updatedAt.getTime()));

      assert.deepEqual(await search("agora-conformance-no-such-repo"), []);
      assert.deepEqual(await search(shortName, "bob"), [], "another owner does not match");
      assert.deepEqual(await searchOtherType(shortName), [], `a ${kind} is not listed as the other repository type`);
    });

    test(`${kind}Info reports name, visibility, gating, update time, card data and sha${kind === "model" ? ", task and file paths" : ""}`, async () => {
      const got = await info();
      assert.equal(got.name, name);
      assert.match(got.id, /^[0-9a-f]{24}$/);
      assert.equal(got.private, false);
      assert.equal(got.gated, false);
      assert.ok(!Number.isNaN(got.updatedAt.getTime()), "updatedAt is a valid date");
      assert.ok(got.updatedAt.getTime() >= Math.floor(createdAt / 1000) * 1000 - 1000, "updatedAt is not older than the repository");
      assert.deepEqual(got.cardData, scenario.card);
      assert.equal(got.sha, uploadCommit);
      if ("filePaths" in got) {
        assert.equal((got as { task?: string }).task, "text-generation");
        const expected = [...small.keys(), bigPath].sort();
        assert.deepEqual(
          (got.filePaths as string[]).filter((p) => p !== ".gitattributes").sort(),
          expected,
        );
      }
    });

    test("listFiles recursive lists every file with its size and git id, plus folder entries", async () => {
      const entries = await tree();
      for (const [filePath, bytes] of small) {
        const entry = entries.get(filePath);
        assert.ok(entry, `${filePath} is listed`);
        assert.equal(entry.type, "file");
        assert.equal(entry.size, bytes.length, `${filePath} size`);
        assert.equal(entry.oid, gitBlobId(bytes), `${filePath} oid is the git blob id`);
      }
      assert.equal(entries.get(bigPath)?.type, "file");
      for (const folder of [bigDir, "docs", "docs/notes"]) {
        assert.equal(entries.get(folder)?.type, "directory", `${folder} is listed as a directory`);
      }
      const unexpected = [...entries.keys()].filter((p) => !small.has(p) && p !== bigPath && ![bigDir, "docs", "docs/notes", ".gitattributes"].includes(p));
      assert.deepEqual(unexpected, [], "nothing else is listed");

      const top = await collect(listFiles({ ...call(), repo }));
      assert.ok(!top.some((e) => e.path.includes("/")), "a non-recursive listing stays at the top level");
      assert.equal(top.find((e) => e.path === "docs")?.type, "directory");

      const docs = await collect(listFiles({ ...call(), repo, path: "docs", expand: true }));
      assert.deepEqual(
        docs.map((e) => [e.path, e.type]),
        [["docs/notes", "directory"]],
      );
      const expanded = await collect(listFiles({ ...call(), repo, recursive: true, expand: true }));
      const expandedFiles = expanded.filter((e) => e.type === "file" && e.path !== ".gitattributes");
      assert.equal(expandedFiles.length, small.size + 1);
      for (const entry of expandedFiles) {
        assert.equal(entry.lastCommit?.id, uploadCommit, `${entry.path} was last changed by the upload commit`);
        assert.equal(entry.lastCommit?.title, "Initial upload");
      }
    });

    test("fileDownloadInfo gives size and etag (SHA-256 for LFS, git blob id otherwise) and null for a missing path", async () => {
      const big = await fileDownloadInfo({ ...call(), repo, path: bigPath });
      assert.ok(big);
      assert.equal(big.size, BIG_SIZE);
      assert.equal(big.etag, `"${bigSha256}"`);
      assert.equal(big.xet, undefined);

      for (const filePath of ["config.json", "docs/notes/usage.txt"]) {
        const bytes = small.get(filePath)!;
        const got = await fileDownloadInfo({ ...call(), repo, path: filePath });
        assert.ok(got, `${filePath} has download info`);
        assert.equal(got.size, bytes.length);
        assert.equal(got.etag, `"${gitBlobId(bytes)}"`);
      }

      assert.equal(await fileDownloadInfo({ ...call(), repo, path: "does/not/exist.txt" }), null);
    });

    test("raw downloads of the LFS file give its git-lfs pointer", async () => {
      const pointer = Buffer.from(`version https://git-lfs.github.com/spec/v1\noid sha256:${bigSha256}\nsize ${BIG_SIZE}\n`);
      const rawInfo = await fileDownloadInfo({ ...call(), repo, path: bigPath, raw: true });
      assert.ok(rawInfo);
      assert.equal(rawInfo.size, pointer.length);
      assert.equal(rawInfo.etag, `"${gitBlobId(pointer)}"`);
      const rawBlob = await downloadFile({ ...call(), repo, path: bigPath, raw: true });
      assert.ok(rawBlob);
      assert.equal(await rawBlob.text(), pointer.toString());

      const entry = (await tree()).get(bigPath);
      assert.equal(entry?.oid, gitBlobId(pointer), "the tree oid of an LFS file is the pointer's git blob id");
      assert.equal(entry?.lfs?.pointerSize, pointer.length);
    });

    test("downloadFile returns exactly the uploaded bytes, for small files and the 200 MB LFS file", async () => {
      for (const [filePath, bytes] of small) {
        const got = await download(filePath);
        assert.equal(sha256(got), sha256(bytes), `${filePath} content`);
      }

      const blob = await downloadFile({ ...call(), repo, path: bigPath });
      assert.ok(blob);
      assert.equal(blob.size, BIG_SIZE);
      // a slice is fetched with a Range request
      const start = 123_456_789;
      const slice = Buffer.from(await blob.slice(start, start + 65_536).arrayBuffer());
      assert.equal(sha256(slice), sha256(readFileRange(bigFile, start, start + 65_536)), "a ranged slice matches");
      const tail = Buffer.from(await blob.slice(BIG_SIZE - 1000).arrayBuffer());
      assert.equal(sha256(tail), sha256(readFileRange(bigFile, BIG_SIZE - 1000, BIG_SIZE)), "the last bytes match");

      const whole = await sha256OfBlob(blob);
      assert.equal(whole.size, BIG_SIZE);
      assert.equal(whole.sha256, bigSha256, "the whole 200 MB download matches the upload");
    });

    test("downloadFile at a missing path returns null", async () => {
      assert.equal(await downloadFile({ ...call(), repo, path: "missing.txt" }), null);
    });

    test("downloadFileToCacheDir stores a file in the Hub cache layout (blob named by its git id)", async () => {
      const cacheDir = tempDir(scope);
      const bytes = small.get("docs/notes/usage.txt")!;
      const pointerPath = await downloadFileToCacheDir({ ...call(), repo, path: "docs/notes/usage.txt", cacheDir });
      assert.equal(sha256(fs.readFileSync(pointerPath)), sha256(bytes));
      const repoFolder = path.join(cacheDir, `${kind}s--${name.replace("/", "--")}`);
      assert.equal(pointerPath, path.join(repoFolder, "snapshots", uploadCommit, "docs/notes/usage.txt"));
      assert.equal(fs.realpathSync(pointerPath), fs.realpathSync(path.join(repoFolder, "blobs", gitBlobId(bytes))));
    });

    test("a commit deleting a file removes it from listFiles and fileDownloadInfo", async () => {
      const result = await commit({ ...call(), repo, title: "Remove extra.txt", operations: [{ operation: "delete", path: "extra.txt" }] });
      assert.ok(result);
      assert.match(result.commit.oid, /^[0-9a-f]{40}$/);
      assert.notEqual(result.commit.oid, uploadCommit);
      small.delete("extra.txt");

      const entries = await tree();
      assert.equal(entries.has("extra.txt"), false);
      assert.equal(await fileDownloadInfo({ ...call(), repo, path: "extra.txt" }), null);
      for (const filePath of [...small.keys(), bigPath]) assert.ok(entries.has(filePath), `${filePath} is still listed`);
      assert.equal((await info()).sha, result.commit.oid);

      // the old commit still has it
      const old = await fileDownloadInfo({ ...call(), repo, path: "extra.txt", revision: uploadCommit });
      assert.ok(old, "the file is still there at the earlier commit");
    });

    test("createBranch copies main; a commit to the branch leaves main unchanged", async () => {
      const mainBefore = (await info()).sha;
      await createBranch({ ...call(), repo, branch: "dev" });
      await assert.rejects(createBranch({ ...call(), repo, branch: "dev" }), isHubError(409));

      const onBranch = await download("config.json", "dev");
      assert.equal(sha256(onBranch), sha256(small.get("config.json")!));
      const bigOnBranch = await fileDownloadInfo({ ...call(), repo, path: bigPath, revision: "dev" });
      assert.equal(bigOnBranch?.etag, `"${bigSha256}"`);
      assert.equal((await info("dev")).sha, mainBefore);

      const newConfig = Buffer.from(JSON.stringify({ ...scenario.config, revision: "dev" }) + "\n");
      const added = Buffer.from("only on the dev branch\n");
      const result = await commit({
        ...call(),
        repo,
        branch: "dev",
        title: "Change config on dev",
        operations: [
          { operation: "addOrUpdate", path: "config.json", content: new Blob([newConfig]) },
          { operation: "addOrUpdate", path: "docs/dev-only.txt", content: new Blob([added]) },
        ],
      });
      assert.ok(result);

      assert.equal((await info("dev")).sha, result.commit.oid);
      assert.equal(sha256(await download("config.json", "dev")), sha256(newConfig));
      assert.equal(sha256(await download("docs/dev-only.txt", "dev")), sha256(added));
      assert.ok((await tree("dev")).has("docs/dev-only.txt"));

      assert.equal((await info()).sha, mainBefore, "main did not move");
      assert.equal(sha256(await download("config.json")), sha256(small.get("config.json")!), "main keeps its config.json");
      assert.equal(await fileDownloadInfo({ ...call(), repo, path: "docs/dev-only.txt" }), null);
      assert.equal((await tree()).has("docs/dev-only.txt"), false);
    });

    test("deleteRepo removes the repository: info fails with 404, repoExists is false, search no longer finds it", async () => {
      await deleteRepo({ ...call(), repo });
      await assert.rejects(info(), isHubError(404));
      assert.equal(await repoExists({ ...call(), repo }), false);
      assert.deepEqual(await search(name.split("/")[1]), []);
      await assert.rejects(deleteRepo({ ...call(), repo }), isHubError(404));
    });

    test("a deleted repository's name can be created again and starts without the old files", async () => {
      await createRepo({ ...call(), repo });
      const entries = await tree();
      assert.deepEqual(
        [...entries.keys()].filter((p) => p !== ".gitattributes"),
        [],
      );
      assert.equal(await fileDownloadInfo({ ...call(), repo, path: bigPath }), null);
      await deleteRepo({ ...call(), repo });
    });
  });
}
