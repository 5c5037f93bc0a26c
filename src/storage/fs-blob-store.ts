// Filesystem driver of the BlobStore.
//
// Layout under `root`:
//   objects/<oid[0:2]>/<oid>   published objects, immutable
//   staging/<random>           uploads in progress; never served as objects (openStaged's readers
//                              see them before they are verified, and must hold the end back)
// Publishing is write → fsync → verify → rename → fsync(dir): a reader sees the whole verified
// object or nothing. Staging files older than a day are removed at start-up.

import { createHash, randomBytes } from "node:crypto";
import fs from "node:fs";
import fsp from "node:fs/promises";
import path from "node:path";
import { Writable } from "node:stream";
import { assertBlobKey, BlobMismatchError, BlobNotFoundError, SHA256_HEX, type BlobStore, type BlobWriter, type ReceiveSource, type StagedReader } from "./blob-store.ts";
import { sha256OfStream } from "../lib/sha256-stream.ts";
import { hashFileBehindWriter, type FileHashJob } from "./file-hasher.ts";
import { reserveSocketReceiver, socketReceiveAvailable, type SocketReceiveJob, type SocketReceiver } from "./socket-receiver.ts";

const READ_CHUNK = 1024 * 1024; // 1 MiB chunks: the 64 KiB default streams at a third of the disk's speed
const FLUSH_EVERY = 64 * 1024 * 1024; // staged bytes are flushed to disk this often while they arrive
/**
 * Objects up to this size are hashed on the receiving thread; past it, a worker thread hashes the
 * staging file behind the writer (file-hasher.ts), so receiving never waits for SHA-256.
 */
const INLINE_HASH_LIMIT = 4 * 1024 * 1024;

export function createFsBlobStore(root: string): BlobStore {
  const objectsDir = path.join(root, "objects");
  const stagingDir = path.join(root, "staging");
  fs.mkdirSync(objectsDir, { recursive: true });
  fs.mkdirSync(stagingDir, { recursive: true });
  sweepStaging(stagingDir);
  const canReceiveFromSockets = socketReceiveAvailable();

  const objectPath = (oid: string) => path.join(objectsDir, oid.slice(0, 2), oid);

  return {
    async stat(oid) {
      assertBlobKey(oid);
      try {
        const st = await fsp.stat(objectPath(oid));
        return { size: st.size, modifiedAt: st.mtime };
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
        throw error;
      }
    },

    createReadStream(oid, range) {
      assertBlobKey(oid);
      const stream = fs.createReadStream(objectPath(oid), { start: range?.start, end: range?.end, highWaterMark: READ_CHUNK });
      stream.on("error", (error: NodeJS.ErrnoException) => {
        if (error.code === "ENOENT") stream.emit("blob-not-found", new BlobNotFoundError(oid));
      });
      return stream;
    },

    localPath(oid) {
      assertBlobKey(oid);
      return objectPath(oid);
    },

    async *list() {
      for (const prefix of await fsp.readdir(objectsDir)) {
        if (!/^[0-9a-f]{2}$/.test(prefix)) continue;
        let names: string[];
        try {
          names = await fsp.readdir(path.join(objectsDir, prefix));
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code === "ENOENT") continue;
          throw error;
        }
        for (const oid of names) {
          if (!SHA256_HEX.test(oid) || !oid.startsWith(prefix)) continue; // not an object of ours
          const st = await fsp.stat(path.join(objectsDir, prefix, oid)).catch((error: NodeJS.ErrnoException) => {
            if (error.code === "ENOENT") return undefined; // deleted while listing
            throw error;
          });
          if (st?.isFile()) yield { oid, size: st.size, modifiedAt: st.mtime };
        }
      }
    },

    async write(): Promise<BlobWriter> {
      const stagingPath = path.join(stagingDir, `${Date.now()}-${randomBytes(8).toString("hex")}`);
      const handle = await fsp.open(stagingPath, "wx");
      let written = 0; // bytes handed to the file
      let landed = 0; // bytes whose write completed (readable from the file)
      let finished = false;
      let aborted = false;
      // Small objects are hashed here as they pass; a large one by a worker behind the writer.
      let inlineHash: ReturnType<typeof createHash> | undefined = createHash("sha256");
      let hashJob: FileHashJob | undefined;
      let workerRefused = false;
      let receiver: SocketReceiver | undefined; // the thread reserveReceiver set aside
      let receiving: Promise<void> | undefined; // its transfer, while it runs
      let receiveJob: SocketReceiveJob | undefined;
      const hashAlong = (chunk: Buffer) => {
        const inline = inlineHash;
        if (!inline) return;
        if (written + chunk.length > INLINE_HASH_LIMIT && !workerRefused) {
          try {
            hashJob = hashFileBehindWriter(stagingPath);
            hashJob.advance(landed);
            inlineHash = undefined;
            return;
          } catch {
            // No worker thread to be had (a resource limit): keep hashing here.
            workerRefused = true;
          }
        }
        inline.update(chunk);
      };
      // Staged bytes go to disk as they arrive (fdatasync every FLUSH_EVERY bytes, in the
      // background), so the disk works while the bytes are hashed and commit's fsync has little left.
      let unflushed = 0;
      let flushing: Promise<void> | undefined;
      let flushError: unknown;
      const wrote = (length: number) => {
        landed += length;
        hashJob?.advance(landed);
        unflushed += length;
        if (unflushed < FLUSH_EVERY || flushing) return;
        unflushed = 0;
        flushing = handle
          .datasync()
          .catch((error: unknown) => void (flushError ??= error))
          .finally(() => {
            flushing = undefined;
          });
      };
      const stream = new Writable({
        highWaterMark: READ_CHUNK,
        // The file write runs on libuv's thread pool.
        write(chunk: Buffer, _encoding, callback) {
          const done = handle.write(chunk);
          hashAlong(chunk);
          written += chunk.length;
          done.then(() => {
            wrote(chunk.length);
            callback();
          }, callback);
        },
        writev(chunks, callback) {
          const buffers = chunks.map((c) => c.chunk as Buffer);
          const done = handle.writev(buffers);
          let length = 0;
          for (const b of buffers) {
            hashAlong(b);
            written += b.length;
            length += b.length;
          }
          done.then(() => {
            wrote(length);
            callback();
          }, callback);
        },
      });
      const closed = new Promise<void>((resolve, reject) => {
        stream.on("finish", () => resolve());
        stream.on("error", reject);
      });
      closed.catch(() => {});

      const receiveFrom = (reserved: SocketReceiver, { head, fd, length, idleMs, signal }: ReceiveSource): Promise<void> => {
        if (written > 0 || receiving || finished || aborted) return Promise.reject(new Error("receiving from a socket needs a fresh writer"));
        // The bytes never pass through this thread: the hashing worker reads them from the file
        // (if no worker can be had, commit reads the whole file once more).
        inlineHash = undefined;
        try {
          hashJob = hashFileBehindWriter(stagingPath);
        } catch {
          // No hashing thread to be had: commit hashes the file.
        }
        receiving = (async () => {
          if (head.length > 0) {
            await handle.write(head, 0, head.length, 0);
            written = head.length;
            wrote(head.length);
          }
          const job = reserved.receive({
            socketFd: fd,
            fileFd: handle.fd,
            offset: head.length,
            length,
            idleMs,
            onProgress(received) {
              const delta = head.length + received - written;
              written += delta;
              if (delta > 0) wrote(delta);
            },
          });
          receiveJob = job;
          const cancel = () => job.cancel();
          signal?.addEventListener("abort", cancel);
          if (signal?.aborted) cancel();
          try {
            await job.done;
          } finally {
            signal?.removeEventListener("abort", cancel);
          }
          stream.end();
        })();
        return receiving;
      };

      const writer: BlobWriter = {
        stream,
        bytesWritten: () => written,
        async commit(expectedOid, expectedSize) {
          assertBlobKey(expectedOid);
          receiver?.release(); // reserved but not used: the bytes came through `stream`
          try {
            await receiving;
            await closed;
            // The worker finishes its hash while the file is synced.
            const hashed = hashJob
              ? hashJob.finish(written)
              : inlineHash
                ? Promise.resolve({ oid: inlineHash.digest("hex"), size: written })
                : sha256OfStream(fs.createReadStream(stagingPath, { highWaterMark: READ_CHUNK })); // receiveFrom without a hashing thread
            hashed.catch(() => {});
            await flushing;
            if (flushError) throw flushError;
            await handle.sync();
            await handle.close();
            finished = true;
            const actual = await hashed;
            if (actual.oid !== expectedOid || actual.size !== expectedSize) throw new BlobMismatchError({ oid: expectedOid, size: expectedSize }, actual);
            const target = objectPath(expectedOid);
            await fsp.mkdir(path.dirname(target), { recursive: true });
            await fsp.rename(stagingPath, target);
            await fsyncDir(path.dirname(target));
          } catch (error) {
            await writer.abort();
            throw error;
          }
        },
        async abort() {
          if (aborted) return;
          aborted = true;
          receiver?.release();
          hashJob?.cancel();
          // The receiving worker writes through this handle: it must be done before the close.
          receiveJob?.cancel();
          await receiving?.catch(() => {});
          if (!finished) await handle.close().catch(() => {});
          await fsp.rm(stagingPath, { force: true });
        },
        // A descriptor of its own: it keeps reading the same inode after the rename into objects/
        // (or the unlink of an abort), so a reader in the middle of the file never loses its place.
        async openStaged(): Promise<StagedReader> {
          if (finished || aborted) throw new Error("the staged bytes were already committed or discarded");
          const reader = await fsp.open(stagingPath, "r");
          return {
            fd: reader.fd,
            close: () => reader.close(),
          };
        },
        ...(canReceiveFromSockets
          ? {
              reserveReceiver() {
                if (written > 0 || receiver || finished || aborted) return undefined;
                const reserved = reserveSocketReceiver();
                if (!reserved) return undefined;
                receiver = reserved;
                return (source: ReceiveSource) => receiveFrom(reserved, source);
              },
            }
          : {}),
      };
      return writer;
    },

    async delete(oid) {
      assertBlobKey(oid);
      await fsp.rm(objectPath(oid), { force: true });
    },
  };
}

async function fsyncDir(dir: string): Promise<void> {
  const handle = await fsp.open(dir, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function sweepStaging(stagingDir: string): void {
  const cutoff = Date.now() - 86400_000;
  for (const name of fs.readdirSync(stagingDir)) {
    const started = Number(name.split("-")[0]);
    if (!Number.isFinite(started) || started < cutoff) fs.rmSync(path.join(stagingDir, name), { force: true });
  }
}
