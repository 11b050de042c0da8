//! The README's "Using Pinhole from Rust" example, compiled (the lines between the
//! `README` markers are the README's, word for word: `core/tests/readme.rs` checks it).
//! Two sessions in this process play both peers, with a channel as their signaling.
//!
//! ```sh
//! cargo run -p pinhole --example session
//! ```

use std::net::Ipv4Addr;

use pinhole::runtime::Session;
use pinhole::session::{Event, SessionConfig};
use tokio::sync::mpsc;

/// One side of an in-process signaling channel (what an app carries over its own server).
struct Signaling {
    tx: mpsc::UnboundedSender<String>,
    rx: mpsc::UnboundedReceiver<String>,
}

impl Signaling {
    async fn send(&self, line: String) -> Result<(), Box<dyn std::error::Error>> {
        Ok(self.tx.send(line)?)
    }
    async fn recv(&mut self) -> Option<String> {
        self.rx.recv().await
    }
}

fn pair() -> (Signaling, Signaling) {
    let (a_tx, b_rx) = mpsc::unbounded_channel();
    let (b_tx, a_rx) = mpsc::unbounded_channel();
    (
        Signaling { tx: a_tx, rx: a_rx },
        Signaling { tx: b_tx, rx: b_rx },
    )
}

/// One peer: the README's loop, until `want` datagrams arrived.
async fn peer(
    mut my_signaling: Signaling,
    hello: &'static [u8],
    want: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    let config = SessionConfig::default().with_bind(Ipv4Addr::LOCALHOST.into());
    let session = Session::start(config)?;
    let mut got = 0;
    loop {
        // README begin
        tokio::select! {
            Some(event) = session.next_event() => match event {
                Event::Signal(m) => my_signaling.send(m.to_json()).await?,  // to the peer
                Event::PathChanged(p) => println!("now {} via {} -> {}", p.kind.as_str(), p.local, p.remote),
                other => println!("{other:?}"),
            },
            Some(line) = my_signaling.recv() => session.handle_signal(&line)?,  // from the peer
            Some(datagram) = session.recv() => println!("got {} bytes", datagram.len()),
        }
        // README end
        if session.path().is_some() && got < want {
            session.send(hello)?;
            got += 1;
        }
        if got == want && session.stats().datagrams_received >= want as u64 {
            session.close();
            return Ok(());
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (a, b) = pair();
    let (ra, rb) = tokio::join!(peer(a, b"hello from A", 3), peer(b, b"hello from B", 3));
    ra?;
    rb?;
    Ok(())
}
