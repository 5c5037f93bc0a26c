// One upstream fetch of an LFS object in progress, shared by every request for that object in
// this process (the mirror's single flight), with a tee: the fetch writes into a blob-store
// writer, and every reader, the first one included, reads the writer's staging file as it grows,
// each at its own pace. So a waiting client receives bytes while the fetch runs, a slow client
// costs the process one bounded buffer and never slows the fetch or the other clients, and a
// client that goes away does not stop the fetch.
//
// Guarantees, for every reader alike:
// - The last HELD_BACK bytes are handed out only after the object verified and was published:
//   before that no reader can have the complete file.
// - When the fetch fails (upstream error, short or wrong bytes) every reader's stream is
//   destroyed at once, so its response is cut: never a complete wrong or short file.
//
// A blob store whose writers cannot be read while staged (no `openStaged`) gets no tee: the
// first client is then fed by the fetch itself and the others wait for the publish.

import { Readable } from "node:stream";
import type { BlobWriter, StagedReader } from "../storage/blob-store.ts";

/** Bytes at the end of an object that no reader gets before it is published. */
const HELD_BACK = 1024 * 1024;
/** Largest read from the staging file, and each reader's buffer. */
const READ_CHUNK = 1024 * 1024;
/**
 * A reader that caught up with the fetch waits until this many new bytes landed (or the held-back
 * boundary is reached) rather than waking for every network chunk: fewer, larger reads and writes.
 */
const MIN_BATCH = 256 * 1024;

type State = "starting" | "running" | "published" | "failed";

export class ObjectFlight {
  /**
   * Settles once the upstream answered and the writer exists: true when readers are served from
   * the staging file (`reader()`), false when the store cannot do that. Rejects when the fetch
   * failed before.
   */
  readonly started: Promise<boolean>;
  /** Resolves when the object was published, rejects when the fetch failed. */
  readonly settled: Promise<void>;

  #state: State = "starting";
  #error: Error | undefined;
  #writer: BlobWriter | undefined;
  /** Bytes whose write to the staging file completed: readable by every reader. */
  #stored = 0;
  #readers = new Set<Readable>();
  #changed!: Promise<void>;
  #wake!: () => void;
  #resolveStarted!: (staged: boolean) => void;
  #rejectStarted!: (error: Error) => void;
  #resolveSettled!: () => void;
  #rejectSettled!: (error: Error) => void;

  constructor(readonly size: number) {
    this.started = new Promise((resolve, reject) => ((this.#resolveStarted = resolve), (this.#rejectStarted = reject)));
    this.settled = new Promise((resolve, reject) => ((this.#resolveSettled = resolve), (this.#rejectSettled = reject)));
    // Nobody may be waiting (a prefetch with no client): a failure is not an unhandled rejection.
    this.started.catch(() => {});
    this.settled.catch(() => {});
    this.#renew();
  }

  /** The fetch's writer exists. Answers whether readers read its staging file (else the fetch feeds the first client itself). */
  attach(writer: BlobWriter): boolean {
    this.#writer = writer;
    this.#state = "running";
    const staged = typeof writer.openStaged === "function";
    this.#resolveStarted(staged);
    return staged;
  }

  /** A `stream.write` callback for a chunk of `length` bytes: once it ran, the bytes are readable. */
  landed(length: number): (error?: Error | null) => void {
    return (error) => {
      if (error || this.#state !== "running") return;
      this.#stored += length;
      this.#signal();
    };
  }

  /** The object verified and is in the store: readers may take the held-back end. */
  publish(): void {
    if (this.#state === "published" || this.#state === "failed") return;
    this.#state = "published";
    this.#resolveSettled();
    this.#signal();
  }

  /** The fetch failed: every reader's stream is destroyed, and nothing was published. */
  fail(error: unknown): void {
    if (this.#state === "published" || this.#state === "failed") return;
    const failure = error instanceof Error ? error : new Error(String(error));
    const wasStarting = this.#state === "starting";
    this.#state = "failed";
    this.#error = failure;
    if (wasStarting) this.#rejectStarted(failure);
    this.#rejectSettled(failure);
    for (const reader of this.#readers) reader.destroy(failure);
    this.#signal();
  }

  /**
   * A stream of the whole object for one client, fed from the staging file (call after
   * `started` answered true). Undefined when the object has been published meanwhile: the caller
   * serves it from the store. Throws the fetch's error when it failed.
   */
  async reader(): Promise<Readable | undefined> {
    if (this.#state === "published") return undefined;
    if (this.#state === "failed") throw this.#error;
    let staged: StagedReader;
    try {
      staged = await this.#writer!.openStaged!();
    } catch {
      // The staging file was just published (or discarded): wait for the outcome.
      await this.settled;
      return undefined;
    }
    if ((this.#state as State) === "failed") {
      // failed while the reader was being opened
      await staged.close().catch(() => {});
      throw this.#error;
    }
    return this.#stream(staged);
  }

  #stream(staged: StagedReader): Readable {
    let position = 0;
    let pulling = false;
    const stream = new Readable({
      highWaterMark: READ_CHUNK,
      read: () => void pull(),
      destroy: (error, callback) => {
        this.#readers.delete(stream);
        staged.close().then(
          () => callback(error),
          () => callback(error),
        );
      },
    });
    this.#readers.add(stream);
    // Reads on until the stream's buffer is full (push answers false); `read` starts it again.
    const pull = async () => {
      if (pulling) return;
      pulling = true;
      try {
        let wanted = true;
        while (wanted && !stream.destroyed) {
          if (this.#state === "failed") throw this.#error;
          if (position === this.size) {
            stream.push(null);
            return;
          }
          const boundary = this.size - HELD_BACK;
          const limit = this.#state === "published" ? this.size : Math.min(this.#stored, boundary);
          if (position >= limit || (this.#state === "running" && limit < boundary && limit - position < MIN_BATCH)) {
            await this.#changed;
            continue;
          }
          const chunk = await staged.read(position, Math.min(READ_CHUNK, limit - position));
          if (chunk.length === 0) throw new Error(`the staged bytes ended at ${position} of ${this.size}`);
          if (stream.destroyed) return;
          position += chunk.length;
          wanted = stream.push(chunk);
        }
      } catch (error) {
        stream.destroy(error as Error);
      } finally {
        pulling = false;
      }
    };
    return stream;
  }

  #renew(): void {
    this.#changed = new Promise((resolve) => (this.#wake = resolve));
  }

  #signal(): void {
    const wake = this.#wake;
    this.#renew();
    wake();
  }
}
