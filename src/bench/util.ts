// Small helpers the bench's steps share.

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Retries what failed with EAGAIN: loading BPF programs does, now and then,
 * while other processes load theirs (tests running beside the bench).
 */
export async function retryBusy<T>(fn: () => T | Promise<T>, attempts = 4): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (e) {
      if (i >= attempts || !/temporarily unavailable/i.test((e as Error).message)) throw e;
      await sleep(500 * i);
    }
  }
}
