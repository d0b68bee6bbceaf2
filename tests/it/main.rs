//! End-to-end tests of the `plexsync` binary. One test binary; each module covers a command.

mod harness;

mod cli;
mod commands;
mod doctor;
mod faults;
mod messages;
mod outage;
mod readme;
mod stash;
mod storage;
mod watch;
