//! `pinhole portmap [--gateway IP] [--port N] [--protocol pcp|nat-pmp|upnp]...
//! [--lifetime SECONDS] [--budget SECONDS] [--timeout SECONDS]`
//!
//! Maps one UDP socket through the gateway and keeps the mapping (renewing it) until
//! stdin says `close` or `--timeout` passes (end of stdin
//! does not stop it); then deletes it and exits. Every event is
//! a JSON line on stdout; every datagram from anyone but the gateway is answered with the
//! same bytes (so a peer outside can check that the mapping reaches the socket).
//! A diagnostic tool, and what the miniupnpd lab test drives.

use std::time::{Duration, Instant};

use pinhole::portmap::{PortMapEvent, Protocol, Protocols};
use pinhole::runtime::{PortMapOptions, PortMapPump, PumpOutput};
use serde_json::json;
use tokio::io::AsyncBufReadExt;

use crate::args::Args;

pub fn run(mut args: Args) -> Result<(), String> {
    let gateway: Option<std::net::IpAddr> = args.value("gateway")?;
    let port: u16 = args.value("port")?.unwrap_or(0);
    let protocols: Vec<String> = args.values("protocol")?;
    let lifetime: Option<f64> = args.value("lifetime")?;
    let budget: Option<f64> = args.value("budget")?;
    let timeout = Duration::from_secs_f64(args.value::<f64>("timeout")?.unwrap_or(3600.0));
    args.finish()?;

    let mut options = PortMapOptions::default();
    options.gateway = gateway;
    options.port = port;
    if !protocols.is_empty() {
        options.protocols = Protocols {
            pcp: false,
            nat_pmp: false,
            upnp: false,
        };
        for p in &protocols {
            match parse_protocol(p)? {
                Protocol::Pcp => options.protocols.pcp = true,
                Protocol::NatPmp => options.protocols.nat_pmp = true,
                Protocol::Upnp => options.protocols.upnp = true,
            }
        }
    }
    if let Some(l) = lifetime {
        options.lifetime = Duration::from_secs_f64(l);
    }
    if let Some(b) = budget {
        options.budget = Duration::from_secs_f64(b);
    }

    let runtime = crate::runtime()?;
    runtime.block_on(async {
        let mut pump = PortMapPump::start(&options)
            .await
            .map_err(|e| format!("cannot start port mapping: {e}"))?;
        line(json!({
            "type": "local",
            "address": pump.local().to_string(),
            "gateway": pump.mapper().gateway().to_string(),
        }));
        let deadline = Instant::now() + timeout;
        let mut stdin = tokio::io::BufReader::new(tokio::io::stdin()).lines();
        let mut stdin_open = true;
        loop {
            tokio::select! {
                out = pump.next(Some(deadline)) => match out {
                    PumpOutput::Event(e) => line(event_json(&e)),
                    PumpOutput::Datagram { from, bytes } => {
                        line(json!({"type": "data", "from": from.to_string(), "text": String::from_utf8_lossy(&bytes)}));
                        pump.send_to(&bytes, from).await;
                    }
                    PumpOutput::Timeout | PumpOutput::Closed => break,
                },
                l = stdin.next_line(), if stdin_open => match l {
                    Ok(Some(l)) if l.trim() == "close" => break,
                    Ok(Some(l)) if l.trim() == "stats" => line(stats_json(&pump)),
                    Ok(Some(_)) => {}
                    // End of stdin is not the end: run until `close` or --timeout.
                    _ => stdin_open = false,
                },
            }
        }
        let stats = stats_json(&pump);
        let (events, _) = pump.close(Duration::from_secs(3)).await;
        for e in events {
            line(event_json(&e));
        }
        let mut closed = stats;
        closed["type"] = json!("closed");
        line(closed);
        Ok(())
    })
}

fn parse_protocol(s: &str) -> Result<Protocol, String> {
    Protocol::ALL
        .into_iter()
        .find(|p| p.as_str() == s)
        .ok_or_else(|| format!("unknown --protocol {s:?}: use pcp, nat-pmp or upnp"))
}

fn line(v: serde_json::Value) {
    println!("{v}");
}

fn stats_json(pump: &PortMapPump) -> serde_json::Value {
    let s = pump.mapper().stats();
    json!({
        "type": "stats",
        "mapping": pump.mapper().mapping().map(|m| json!({"protocol": m.protocol.as_str(), "external": m.external.to_string()})),
        "renewals": s.renewals,
        "epoch_resets": s.epoch_resets,
        "announces": s.announces,
        "dropped_malformed": s.dropped_malformed,
        "dropped_wrong_source": s.dropped_wrong_source,
        "dropped_wrong_nonce": s.dropped_wrong_nonce,
        "dropped_unexpected": s.dropped_unexpected,
        "dropped_oversized": s.dropped_oversized,
    })
}

/// One event as a JSON object (`type`: available, unavailable, mapped, changed, lost).
pub fn event_json(e: &PortMapEvent) -> serde_json::Value {
    let secs = |d: &Duration| (*d != Duration::MAX).then_some(d.as_secs());
    match e {
        PortMapEvent::Available {
            protocol,
            external_ip,
        } => json!({
            "type": "available", "protocol": protocol.as_str(),
            "external_ip": external_ip.map(|i| i.to_string()),
        }),
        PortMapEvent::Unavailable { protocol, reason } => json!({
            "type": "unavailable", "protocol": protocol.as_str(),
            "double_nat": reason.is_double_nat(), "reason": reason.to_string(),
        }),
        PortMapEvent::Mapped {
            protocol,
            external,
            lifetime,
        } => json!({
            "type": "mapped", "protocol": protocol.as_str(),
            "external": external.to_string(), "lifetime_s": secs(lifetime),
        }),
        PortMapEvent::Changed {
            protocol,
            previous,
            external,
            lifetime,
        } => json!({
            "type": "changed", "protocol": protocol.as_str(), "previous": previous.to_string(),
            "external": external.to_string(), "lifetime_s": secs(lifetime),
        }),
        PortMapEvent::Lost {
            protocol,
            previous,
            reason,
        } => json!({
            "type": "lost", "protocol": protocol.as_str(), "previous": previous.to_string(),
            "reason": reason.to_string(),
        }),
        // An event a later engine adds: named by its debug form, so it still shows.
        other => json!({ "type": "other", "event": format!("{other:?}") }),
    }
}
