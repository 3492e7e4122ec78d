// A standard output whose reader stopped reading, for the sinks' tests.

import { Writable } from 'node:stream';

/** A reader that stopped reading: nothing written is ever taken until release(). */
export class StalledReader extends Writable {
  readonly taken: string[] = [];
  private held: (() => void)[] = [];

  constructor() {
    super({ highWaterMark: 256, decodeStrings: false });
  }

  override _write(chunk: string, _enc: BufferEncoding, done: () => void): void {
    this.held.push(() => {
      this.taken.push(chunk);
      done();
    });
  }

  /** The reader reads again. */
  release(): void {
    const held = this.held;
    this.held = [];
    for (const take of held) take();
    if (this.held.length) this.release();
  }
}
