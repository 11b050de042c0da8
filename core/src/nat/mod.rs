//! NAT behaviour discovery (RFC 5780) and, later, port mapping.

pub mod discovery;
pub mod lifetime;
