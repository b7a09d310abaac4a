//! Running a pool's tasks on many machines, through a NATS server with
//! JetStream: a submitter publishes a job's inputs as task messages, and
//! agents on any number of machines run them on their own worker processes
//! and publish the replies.
//!
//! Delivery is at least once: a task whose agent dies is delivered again
//! after the ack wait, so its side effects may happen twice. Its result is
//! counted once: replies are de-duplicated by input index, an agent looks
//! for a stored reply before it runs a task delivered again, and the
//! submitter keeps the first reply for each input.
//!
//! # Layout
//! - `link`: the connection, and the streams, bucket and object store every
//!   job shares.
//! - `wire`: what crosses: a job's spec, a task's reply.
//! - `submit`: [`Submission`], one run of a task over inputs on the
//!   cluster.
//! - `shared`: the job's shared objects, served by its submitter to the
//!   tasks on its agents.
//! - `agent`: [`Agent`], which serves the cluster's jobs on this machine.

mod agent;
mod link;
mod shared;
mod submit;
mod wire;

pub use self::agent::{Agent, AgentStop};
pub(crate) use self::link::Link;
pub(crate) use self::submit::{ClusterSettings, Submission};
