// The emitter's lists are replaced, never changed in place (src/util/emitter.ts), so an emit runs
// over the listeners as they were when it began, without copying the list per event.

import { describe, expect, it } from 'vitest';
import { Emitter } from '../../src/util/emitter.js';

class Probe extends Emitter<{ tick: number }> {
  fire(n: number): void {
    this.emit('tick', n);
  }
}

describe('Emitter', () => {
  it('calls listeners in the order added, and not after off', () => {
    const e = new Probe();
    const seen: string[] = [];
    const offA = e.on('tick', (n) => seen.push(`a${n}`));
    e.on('tick', (n) => seen.push(`b${n}`));
    e.fire(1);
    offA();
    e.fire(2);
    expect(seen).toEqual(['a1', 'b1', 'b2']);
  });

  it('an emit in progress calls the listeners it began with: one removed meanwhile still, one added not yet', () => {
    const e = new Probe();
    const seen: string[] = [];
    let offB: () => void = () => {};
    e.on('tick', (n) => {
      seen.push(`a${n}`);
      offB();
      if (n === 1) e.on('tick', (m) => seen.push(`c${m}`));
    });
    offB = e.on('tick', (n) => seen.push(`b${n}`));
    e.fire(1);
    e.fire(2);
    expect(seen).toEqual(['a1', 'b1', 'a2', 'c2']);
  });

  it('off removes one registration of a listener added twice; once fires once', () => {
    const e = new Probe();
    const seen: number[] = [];
    const l = (n: number): void => void seen.push(n);
    e.on('tick', l);
    e.on('tick', l);
    e.off('tick', l);
    e.once('tick', (n) => seen.push(n * 10));
    e.fire(1);
    e.fire(2);
    expect(seen).toEqual([1, 10, 2]);
  });
});
