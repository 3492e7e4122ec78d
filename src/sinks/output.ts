// Standard output for a session's sinks, written without ever waiting for its
// reader. Node writes to a pipe asynchronously and keeps what the pipe does not
// take yet in memory, without bound; a reader that stopped reading (a paused
// `less`, a stuck consumer) would have it grow until the process dies. Here at
// most maxBytes wait: lines beyond that are dropped and counted, the session
// goes on, and whoever owns the output says how many were lost.

/** What LineOutput needs of a stream (process.stdout, or a stand-in in tests). */
export interface LineStream {
  write(chunk: string): boolean;
  /** Bytes written but not yet taken by the other end. */
  readonly writableLength: number;
  /** Set once a write went over the stream's own mark: 'drain' follows when it is taken. */
  readonly writableNeedDrain: boolean;
  once(event: 'drain' | 'close' | 'error', listener: () => void): unknown;
  off(event: 'drain' | 'close' | 'error', listener: () => void): unknown;
}

/** Where a sink's lines go: a LineOutput, or (in tests) a plain function that takes them all. */
export interface Lines {
  /** One line; false when it was dropped. */
  line(text: string): boolean;
  /** Lines dropped so far. */
  readonly dropped: number;
  /** Resolves once a reader that is behind caught up; undefined when none is. */
  ready?(): Promise<void> | undefined;
}

/** Lines that all go to fn, at once (an Io in tests). */
export function linesTo(fn: (text: string) => void): Lines {
  return {
    line(text) {
      fn(text);
      return true;
    },
    dropped: 0,
  };
}

/** Default bound on what waits for a slow reader. */
export const MAX_WAITING_BYTES = 4 << 20;

export class LineOutput implements Lines {
  private lost = 0;
  private waiting: Promise<void> | undefined;

  constructor(
    private readonly stream: LineStream,
    private readonly maxBytes = MAX_WAITING_BYTES,
  ) {}

  /** Writes one line, or drops it when maxBytes already wait; false when dropped. */
  line(text: string): boolean {
    if (this.stream.writableLength >= this.maxBytes) {
      this.lost++;
      return false;
    }
    this.stream.write(`${text}\n`);
    return true;
  }

  /** Lines dropped so far. */
  get dropped(): number {
    return this.lost;
  }

  /** When lines wait in memory (the reader is behind): resolves once they are gone (or the stream ends). */
  ready(): Promise<void> | undefined {
    if (!this.stream.writableNeedDrain) return undefined;
    this.waiting ??= new Promise<void>((resolve) => {
      const done = () => {
        for (const e of ['drain', 'close', 'error'] as const) this.stream.off(e, done);
        this.waiting = undefined;
        resolve();
      };
      for (const e of ['drain', 'close', 'error'] as const) this.stream.once(e, done);
    });
    return this.waiting;
  }
}
