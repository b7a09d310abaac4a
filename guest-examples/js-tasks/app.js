// JavaScript tasks for wpool, built with componentize-js: each export is a
// function of the world in wit/world.wit. An s64 is a BigInt.

import { Lock, Value } from 'wpool:task/shared@0.1.0';

export function square(x) {
  return x * x;
}

// A function returning `result`: what it returns is `ok`, what it throws `err`.
export function summarize(values) {
  if (values.length === 0) {
    throw 'nothing to summarize';
  }
  const numbers = Array.from(values, Number);
  const mean = numbers.reduce((a, b) => a + b, 0) / numbers.length;
  return {
    count: values.length,
    total: values.reduce((a, b) => a + b, 0n),
    largest: values.reduce((a, b) => (b > a ? b : a)),
    spread: numbers.map((v) => v - mean),
  };
}

export function root(x) {
  if (x < 0) {
    throw new RangeError(`no real square root of ${x}`);
  }
  return Math.sqrt(x);
}

export function increment(times) {
  const counter = Value.open('counter', { tag: 'int', val: 0n });
  const lock = Lock.open('counter-lock', false);
  let last = 0n;
  for (let i = 0; i < times; i++) {
    lock.acquire(undefined);
    const now = counter.get();
    if (now.tag !== 'int') {
      throw 'counter is not an integer';
    }
    last = now.val + 1n;
    counter.set({ tag: 'int', val: last });
    lock.release();
  }
  return last;
}
