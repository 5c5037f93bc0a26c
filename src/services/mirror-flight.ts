// One upstream fetch of an LFS object in progress, shared by every request for that object in
// this process (the mirror's single flight), with a tee: the fetch writes into a blob-store
// writer, and every reader, the first one included, reads the writer's staging file as it grows,
// each at its own pace (http/send-file.ts sends it with sendfile, as it sends stored objects). So
// a waiting client receives bytes while the fetch runs, a slow client never slows the fetch or
// the other clients, and a client that goes away does not stop the fetch.
//
// Guarantees, for every reader alike (`GrowingFile.ready`):
// - The last HELD_BACK bytes are readable only after the object verified and was published:
//   before that no reader can have the complete file.
// - When the fetch fails (upstream error, short or wrong bytes) `ready` rejects for every reader,
//   so its response is cut: never a complete wrong or short file.
//
// A blob store whose writers cannot be read while staged (no `openStaged`) gets no tee: the
// first client is then fed by the fetch itself and the others wait for the publish.

import type { BlobWriter, StagedReader } from "../storage/blob-store.ts";

/** Bytes at the end of an object that no reader gets before it is published. */
const HELD_BACK = 1024 * 1024;
/**
 * A reader that caught up with the fetch waits until this many new bytes landed (or the held-back
 * boundary is reached) rather than waking for every network chunk: fewer, larger reads and writes.
 */
const MIN_BATCH = 256 * 1024;

type State = "starting" | "running" | "published" | "failed";

/** A file that is still being written, for one reader: what `ready` allows may be read from `fd`. */
export interface GrowingFile {
  readonly fd: number;
  /**
   * Waits until bytes at `position` may be read and answers the end (exclusive) of what may be
   * read now. Rejects with the fetch's error once it failed.
   */
  ready(position: number): Promise<number>;
  close(): Promise<void>;
}

export class ObjectFlight {
  /**
   * Settles once the upstream answered and the writer exists: true when readers are served from
   * the staging file (`open()`), false when the store cannot do that. Rejects when the fetch
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
    this.#signal(); // every reader waiting in `ready` sees the failure

  }

  /**
   * The staging file for one client (call after `started` answered true). Undefined when the
   * object has been published meanwhile: the caller serves it from the store. Throws the fetch's
   * error when it failed.
   */
  async open(): Promise<GrowingFile | undefined> {
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
    return { fd: staged.fd, ready: (position) => this.#ready(position), close: () => staged.close() };
  }

  async #ready(position: number): Promise<number> {
    for (;;) {
      if (this.#state === "failed") throw this.#error;
      const boundary = this.size - HELD_BACK;
      const limit = this.#state === "published" ? this.size : Math.min(this.#stored, boundary);
      const worthReading = limit - position >= MIN_BATCH || limit >= boundary || this.#state === "published";
      if (position < limit && worthReading) return limit;
      await this.#changed;
    }
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
