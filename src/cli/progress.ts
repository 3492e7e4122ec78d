// Progress of a long file on stderr, for a terminal only: `analyze` reading a
// capture of gigabytes says how far it is (bytes read of the file's size).
// Silent for a file read within a second, at most five updates a second,
// and nothing at all when stderr is not a terminal (piped, a file, CI).

export interface ProgressStream {
  isTTY?: boolean;
  write(s: string): unknown;
}

export interface Progress {
  /** Bytes read so far of `size` (a reader's onProgress). */
  update(read: number, size: number): void;
  /** Clears the line, if one was shown. */
  done(): void;
}

export interface ProgressOptions {
  stream?: ProgressStream;
  now?: () => number;
  /** Nothing shown before this many ms (default 1000). */
  delayMs?: number;
  /** At most one update per this many ms (default 200). */
  intervalMs?: number;
}

function mb(bytes: number): string {
  return bytes >= 1e9 ? `${(bytes / 1e9).toFixed(2)} GB` : `${(bytes / 1e6).toFixed(bytes >= 1e8 ? 0 : 1)} MB`;
}

const NONE: Progress = { update: () => {}, done: () => {} };

/** `label: 42% (1.20 of 2.85 GB, 310 MB/s)`, rewritten in place. */
export function fileProgress(label: string, opts: ProgressOptions = {}): Progress {
  const stream = opts.stream ?? process.stderr;
  if (!stream.isTTY) return NONE;
  const now = opts.now ?? (() => performance.now());
  const delayMs = opts.delayMs ?? 1000;
  const intervalMs = opts.intervalMs ?? 200;
  const start = now();
  let last = -Infinity;
  let shown = false;
  return {
    update(read, size) {
      const t = now();
      if (t - start < delayMs || t - last < intervalMs) return;
      last = t;
      shown = true;
      const pct = size > 0 ? Math.min(100, Math.floor((read / size) * 100)) : 100;
      const rate = read / ((t - start) / 1000);
      stream.write(`\r\x1b[K${label}: ${pct}% (${mb(read).replace(/ [MG]B$/, (u) => (mb(size).endsWith(u) ? '' : u))} of ${mb(size)}, ${mb(rate)}/s)`);
    },
    done() {
      if (shown) stream.write('\r\x1b[K');
      shown = false;
    },
  };
}
