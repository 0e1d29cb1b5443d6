// StreamDecoder: the part every chunked stream decoder shares (NetBIOS, PPTP): a queue of
// pushed chunks with a read position, a count of octets held, and a sticky failure.
//
//   push(chunk) --> queue;  next() --> step() (the subclass reads through advance()/chunk/pos)
//
// Rules: step() may throw only the decoder's protocol error. After a throw the decoder is
// failed for good: the queue is released (and whatever the subclass frees in discard()), push()
// is ignored and next() throws the same error again. Pure: no I/O, no clock.

const EMPTY = new Uint8Array(0);

export abstract class StreamDecoder<T> {
  protected readonly queue: Uint8Array[] = [];
  /** The chunk being read, and the read position in it. */
  protected chunk: Uint8Array = EMPTY;
  protected pos = 0;
  /** Octets pushed and not yet returned (a partial unit included); subclasses lower it as they return units. */
  protected buffered = 0;
  private failure: Error | null = null;

  /** Octets pushed and not yet returned (a partial unit included). */
  get bufferedBytes(): number {
    return this.buffered;
  }

  push(chunk: Uint8Array): void {
    if (chunk.length === 0 || this.failure !== null) return;
    this.buffered += chunk.length;
    this.queue.push(chunk);
  }

  /** The next whole unit, or undefined until more octets are pushed. */
  next(): T | undefined {
    if (this.failure !== null) throw this.failure;
    try {
      return this.step();
    } catch (error) {
      this.failure = error as Error;
      this.queue.length = 0;
      this.chunk = EMPTY;
      this.buffered = 0;
      this.discard();
      throw error;
    }
  }

  protected abstract step(): T | undefined;

  /** Frees what the subclass holds once the decoder has failed. */
  protected discard(): void {}

  /** Makes the next queued chunk current when this one is used up; false if there is none. */
  protected advance(): boolean {
    while (this.pos === this.chunk.length) {
      const next = this.queue.shift();
      if (next === undefined) {
        this.chunk = EMPTY;
        this.pos = 0;
        return false;
      }
      this.chunk = next;
      this.pos = 0;
    }
    return true;
  }
}
