//! The IGD control actions of [`UpnpClient`]: SOAP request bodies, and what each answer
//! or fault means for the client (mapped, fall back to v1, another port, lease 0, failed).

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use rand::Rng;

use super::http::{self, HttpUrl};
use super::xml::{self, SoapAnswer};
use super::{Action, Igd, Lease, UpnpClient, CONFLICT_ATTEMPTS};
use crate::deadline::after;
use crate::portmap::{secs, ClientEvent, PortMapError, PortMapStats, Protocol};

impl UpnpClient {
    pub(super) fn soap_body(&self, igd: &Igd, action: &Action) -> String {
        let ip = self.local.ip().to_string();
        let internal = self.local.port().to_string();
        let mapping = |port: u16, lease: u32| {
            vec![
                ("NewRemoteHost", String::new()),
                ("NewExternalPort", port.to_string()),
                ("NewProtocol", "UDP".to_string()),
                ("NewInternalPort", internal.clone()),
                ("NewInternalClient", ip.clone()),
                ("NewEnabled", "1".to_string()),
                ("NewPortMappingDescription", self.description.clone()),
                ("NewLeaseDuration", lease.to_string()),
            ]
        };
        let args: Vec<(&str, String)> = match action {
            Action::Describe(_) | Action::ExternalIp => Vec::new(),
            Action::AddAny { lease } => mapping(self.local.port(), *lease),
            Action::Add { port, lease, .. } => mapping(*port, *lease),
            Action::Delete { port } => vec![
                ("NewRemoteHost", String::new()),
                ("NewExternalPort", port.to_string()),
                ("NewProtocol", "UDP".to_string()),
            ],
        };
        let args: Vec<(&str, &str)> = args.iter().map(|(k, v)| (*k, v.as_str())).collect();
        xml::soap_envelope(&igd.service_type, action.name(), &args)
    }

    pub(super) fn on_answer(
        &mut self,
        now: Instant,
        action: Action,
        where_: &str,
        resp: http::Response,
        stats: &mut PortMapStats,
    ) {
        if let Action::Describe(location) = &action {
            if resp.status != 200 {
                stats.http_failures += 1;
                let msg = format!("GET {where_} answered HTTP {}", resp.status);
                return self.on_failure(now, &action, PortMapError::Upnp(msg));
            }
            let svc = match xml::parse_description(&resp.body) {
                Ok(s) => s,
                Err(e) => {
                    stats.http_failures += 1;
                    let msg = format!("device description at {where_}: {e}");
                    return self.on_failure(now, &action, PortMapError::Upnp(msg));
                }
            };
            let base = svc
                .url_base
                .as_deref()
                .and_then(HttpUrl::parse)
                .unwrap_or_else(|| location.clone());
            let control = base
                .join(&svc.control_url)
                .filter(|c| c.addr.ip() == self.gateway);
            let Some(control) = control else {
                stats.dropped_wrong_source += 1;
                let msg = format!(
                    "the control URL {:?} in {where_} is not on the gateway {}",
                    svc.control_url, self.gateway
                );
                return self.on_failure(now, &action, PortMapError::Upnp(msg));
            };
            self.igd = Some(Igd {
                v2: svc.is_v2(),
                service_type: svc.service_type,
                control,
            });
            self.queue.push_front(Action::ExternalIp);
            return;
        }
        let answer = match xml::parse_soap(&resp.body) {
            Ok(a) => a,
            Err(e) => {
                stats.http_failures += 1;
                let msg = format!(
                    "{} answer from {where_} (HTTP {}): {e}",
                    action.name(),
                    resp.status
                );
                return self.on_failure(now, &action, PortMapError::Upnp(msg));
            }
        };
        if let SoapAnswer::Fault { code, description } = &answer {
            stats.http_failures += 1;
            return self.on_fault(now, &action, *code, description);
        }
        if resp.status != 200 {
            stats.http_failures += 1;
            let msg = format!(
                "{} at {where_} answered HTTP {}",
                action.name(),
                resp.status
            );
            return self.on_failure(now, &action, PortMapError::Upnp(msg));
        }
        match action {
            Action::Describe(_) => {}
            Action::ExternalIp => {
                let ip = answer
                    .arg("NewExternalIPAddress")
                    .and_then(|s| s.trim().parse::<IpAddr>().ok());
                match ip {
                    Some(ip) if !ip.is_unspecified() => {
                        self.external_ip = Some(ip);
                        if self.probing {
                            self.probing = false;
                            self.events.push_back(ClientEvent::Available(Some(ip)));
                        }
                    }
                    _ => self.on_failure(
                        now,
                        &action,
                        PortMapError::NoExternalAddress {
                            protocol: Protocol::Upnp,
                        },
                    ),
                }
            }
            Action::AddAny { lease } => {
                let port = answer
                    .arg("NewReservedPort")
                    .and_then(|p| p.trim().parse::<u16>().ok())
                    .filter(|p| *p != 0);
                match port {
                    Some(port) => self.mapped(now, port, lease),
                    None => {
                        let msg =
                            format!("AddAnyPortMapping at {where_} returned no NewReservedPort");
                        self.on_failure(now, &action, PortMapError::Upnp(msg));
                    }
                }
            }
            Action::Add { port, lease, .. } => self.mapped(now, port, lease),
            Action::Delete { .. } => {}
        }
    }

    pub(super) fn mapped(&mut self, now: Instant, port: u16, lease: u32) {
        let Some(ip) = self.external_ip else { return };
        let (lifetime, renew_at, expires_at) = if lease == 0 {
            (Duration::MAX, None, None)
        } else {
            let l = secs(lease);
            (l, Some(after(now, l / 2)), Some(after(now, l)))
        };
        self.lease = Some(Lease {
            port,
            lease,
            renew_at,
            expires_at,
        });
        self.events.push_back(ClientEvent::Mapped {
            external: SocketAddr::new(ip, port),
            lifetime,
        });
    }

    pub(super) fn on_fault(&mut self, now: Instant, action: &Action, code: u16, description: &str) {
        let renewal = self.lease.is_some();
        match (action, code) {
            // Not a v2 service after all: AddPortMapping.
            (Action::AddAny { lease }, 401 | 402 | 602) => {
                self.queue.push_front(Action::Add {
                    port: self.local.port(),
                    lease: *lease,
                    attempt: 0,
                });
            }
            (Action::Add { lease, attempt, .. }, 718 | 729)
                if !renewal && attempt + 1 < CONFLICT_ATTEMPTS =>
            {
                let port = self.rng.gen_range(1024..=65535);
                self.queue.push_front(Action::Add {
                    port,
                    lease: *lease,
                    attempt: attempt + 1,
                });
            }
            (
                Action::Add {
                    port,
                    lease,
                    attempt,
                },
                725,
            ) if *lease != 0 => {
                self.queue.push_front(Action::Add {
                    port: *port,
                    lease: 0,
                    attempt: *attempt,
                });
            }
            (Action::AddAny { .. }, 725) => {
                self.queue.push_front(Action::Add {
                    port: self.local.port(),
                    lease: 0,
                    attempt: 0,
                });
            }
            _ => {
                let err = PortMapError::Refused {
                    protocol: Protocol::Upnp,
                    code,
                    meaning: fault_meaning(code, description),
                };
                self.on_failure(now, action, err);
            }
        }
    }
}

/// What a UPnP errorCode means and what to do about it.
fn fault_meaning(code: u16, description: &str) -> String {
    let hint = match code {
        401 => "Invalid Action: the gateway does not implement it",
        402 => "Invalid Args",
        501 => "Action Failed",
        606 => "Action not authorized: the router refuses mappings from this host (enable UPnP or allow this host in its settings)",
        714 => "NoSuchEntryInArray",
        715 => "WildCardNotPermittedInSrcIP",
        716 => "WildCardNotPermittedInExtPort",
        718 => "ConflictInMappingEntry: every external port tried is taken",
        724 => "SamePortValuesRequired",
        725 => "OnlyPermanentLeasesSupported",
        726 => "RemoteHostOnlySupportsWildcard",
        727 => "ExternalPortOnlySupportsWildcard",
        728 => "NoPortMapsAvailable: the router's mapping table is full",
        729 => "ConflictWithOtherMechanisms",
        _ => "",
    };
    match (hint.is_empty(), description.is_empty()) {
        (true, _) => description.to_string(),
        (false, true) => hint.to_string(),
        (false, false) => format!("{hint} ({description})"),
    }
}
