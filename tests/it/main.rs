//! One integration-test binary: faster to link than one per file.

mod cli;
mod corpus;
mod docs;
mod fixtures;
mod meta;
mod prefilter;
mod run;
mod runtime;
mod shm;
mod support;
