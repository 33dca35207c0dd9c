//! The box a sandboxed agent's steps run in. `net` decides what its network may reach,
//! `bridge` carries the allowed connections between the box's private network and the host,
//! `ports` gives each agent its own TCP ports.
pub mod bridge;
pub mod net;
pub mod ports;
