// The task {name}: each export is a function of the world in wit/world.wit.
// An s64 arrives as a BigInt and must be returned as one. An uncaught
// exception fails the task, named by its message.

export function square(x) {
  return x * x;
}
