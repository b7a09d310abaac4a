// JavaScript tasks for jco's QuickJS backend, in its default (async) form:
// `jco componentize --backend qjs app.js --wit wit -o target/qjs-tasks.wasm`.
// An s64 is a Number here, exact only up to 2^53.

export function square(x) {
  return x * x;
}

export function root(x) {
  if (x < 0) {
    throw new RangeError(`no real square root of ${x}`);
  }
  return Math.sqrt(x);
}

export function spin() {
  let n = 0;
  for (;;) {
    n = (n + 1) % 1000;
  }
  return n;
}

export function hoard() {
  const held = [];
  for (;;) {
    held.push(new Array(1 << 16).fill(held.length));
  }
  return held.length;
}
