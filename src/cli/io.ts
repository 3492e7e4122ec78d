// Where the CLI writes: injectable so commands run in tests without a process.

import { LineOutput, linesTo, type Lines } from '../sinks/output.js';

export interface Io {
  out(line: string): void;
  err(line: string): void;
  /**
   * Standard output for a session's sinks (JSON lines, settled text): never
   * waits for its reader; what it cannot hold is dropped and counted. Without
   * it (tests), sinks write through out().
   */
  stdout?: Lines;
}

// A reader that went away (`pmtu-watch ... | head`) ends the output, not the process with a trace.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});

export const processIo: Io = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
  stdout: new LineOutput(process.stdout),
};

/** The lines a session's sinks write to. */
export function sessionLines(io: Io): Lines {
  return io.stdout ?? linesTo((line) => io.out(line));
}

export interface Stop {
  /** Resolves at the first of: --duration over, a stop requested, end(). */
  promise: Promise<void>;
  /** What ended it: 'duration', 'signal', or what end() was given. */
  reason(): string | undefined;
  /** Ends it now (a sink that failed), unless it has ended. */
  end(reason: string): void;
  /** Lets go of the timer. */
  cancel(): void;
}

/** When a run ends: after `seconds` (when given), at `stopRequested`, or at end(). */
export function stopAfter(seconds: number | undefined, stopRequested: Promise<void>): Stop {
  let why: string | undefined;
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  const end = (reason: string) => {
    if (why !== undefined) return;
    why = reason;
    clearTimeout(timer);
    resolve();
  };
  const timer = seconds ? setTimeout(() => end('duration'), seconds * 1000) : undefined;
  void stopRequested.then(() => end('signal'));
  return { promise, reason: () => why, end, cancel: () => clearTimeout(timer) };
}

/** SIGINT/SIGTERM as a promise, for commands that run until stopped; cancel() lets go of the signals. */
export function stopSignal(): { promise: Promise<void>; cancel: () => void } {
  let cancel = () => {};
  const promise = new Promise<void>((resolve) => {
    const done = () => {
      cancel();
      resolve();
    };
    cancel = () => {
      process.removeListener('SIGINT', done);
      process.removeListener('SIGTERM', done);
    };
    process.once('SIGINT', done);
    process.once('SIGTERM', done);
  });
  return { promise, cancel };
}
