//! `pinhole stun-server --bind ADDR [--alt ADDR]`

use std::net::SocketAddr;

use pinhole::runtime::StunServer;
use pinhole::stun::server::ServerConfig;

use crate::args::Args;

pub fn run(mut args: Args) -> Result<(), String> {
    let bind: SocketAddr = args
        .value("bind")?
        .ok_or("stun-server needs --bind IP:PORT, for example --bind 0.0.0.0:3478")?;
    let alt: Option<SocketAddr> = args.value("alt")?;
    args.finish()?;
    let mut config = ServerConfig::new(bind);
    if let Some(alt) = alt {
        config = config.with_alternate(alt);
    }
    let runtime = crate::runtime()?;
    runtime.block_on(async {
        let server = StunServer::start(config).await.map_err(|e| e.to_string())?;
        let listening: Vec<String> = server
            .local_addresses()
            .iter()
            .map(|a| a.to_string())
            .collect();
        eprintln!("pinhole stun-server listening on {}", listening.join(", "));
        tokio::select! {
            _ = server.run_forever() => Err("the server stopped unexpectedly".to_string()),
            _ = tokio::signal::ctrl_c() => Ok(()),
        }
    })
}
