// The task {name}: each export is a function of the world in wit/world.wit.
// An s64 arrives as a BigInt and must be returned as one. An uncaught
// exception fails the task, named by its message.

export function square(x) {
  // componentize-js passes a negative s64 as its unsigned twin.
  const n = BigInt.asIntN(64, x);
  const squared = n * n;
  if (BigInt.asIntN(64, squared) !== squared) {
    throw new RangeError(`${n} squared does not fit in an s64`);
  }
  return squared;
}
