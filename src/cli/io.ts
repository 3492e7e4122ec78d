// Where the CLI writes: injectable so commands run in tests without a process.

export interface Io {
  out(line: string): void;
  err(line: string): void;
}

// A reader that went away (`pmtu-watch ... | head`) ends the output, not the process with a trace.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});

export const processIo: Io = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
};

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
