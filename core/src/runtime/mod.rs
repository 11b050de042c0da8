//! The tokio driver: sockets, timers and DNS around the sans-IO engine.
//! No protocol logic lives here.
