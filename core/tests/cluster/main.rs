//! Several nodes of a cluster and a model of the broker, simulated together without
//! sockets: random interleavings of users' inputs, orderings and deliveries, node crashes
//! and broker restarts. Whatever happens, a room has one order of lines for all its
//! members, names are unique, nobody receives after leaving, members who stayed hear every
//! line of their room, and every node ends up knowing the same names, rooms and counts.

#[path = "../common/mod.rs"]
mod common;

mod broker;
mod random;
mod scenarios;
mod sim;
