//! Network change in the lab, as a roaming host sees it: a client's address moves to
//! another subnet behind the same router, its interface goes down and up, the router
//! forgets every mapping (a NAT reboot).

use std::time::Duration;

use super::{exec_in, Lab, Nat};

impl Lab {
    /// The address side `i`'s client gets in LAN subnet `subnet` (`10.{i+1}.{subnet}.2`;
    /// subnet 0 is where every side starts) and its gateway there (`.1`).
    pub fn lan_addresses(i: usize, subnet: u8) -> (String, String) {
        (
            format!("10.{}.{subnet}.2", i + 1),
            format!("10.{}.{subnet}.1", i + 1),
        )
    }

    /// Gives side `i`'s router an address in LAN subnet `subnet` too, as a second access
    /// point's worth of network the client can move to. Call before [`Lab::move_client`]
    /// so that the move itself is only the client's change.
    pub fn add_router_subnet(&self, i: usize, subnet: u8) {
        let side = &self.sides[i];
        let (_, gateway) = Lab::lan_addresses(i, subnet);
        self.run_lines(
            &side.router,
            &format!("ip addr add {gateway}/24 dev {}", side.lan_if),
        );
        if side.nat == Nat::None {
            // Without NAT the public side must route back to the new subnet too.
            let net = format!("10.{}.{subnet}.0/24", i + 1);
            self.run_lines(
                &self.public,
                &format!("ip route add {net} via {}", side.wan_ip),
            );
        }
    }

    /// Gives side `i`'s client a second interface, a new veth to its router in LAN
    /// subnet `subnet`, and moves the default route to it (a phone that joins cellular
    /// before it leaves Wi-Fi). The first interface stays until
    /// [`Lab::remove_first_client_interface`]. Returns the new address.
    pub fn add_client_interface(&self, i: usize, subnet: u8) -> String {
        let side = &self.sides[i];
        let (ip, gateway) = Lab::lan_addresses(i, subnet);
        let (c_if, r_if) = (format!("{}n", side.client_if), format!("{}n", side.lan_if));
        super::ip(&[
            "link",
            "add",
            &c_if,
            "netns",
            &side.client,
            "type",
            "veth",
            "peer",
            "name",
            &r_if,
            "netns",
            &side.router,
        ]);
        self.run_lines(
            &side.router,
            &format!(
                "ip addr add {gateway}/24 dev {r_if}
                 ip link set {r_if} up"
            ),
        );
        self.sh_ok(
            &side.client,
            &format!(
                "ip addr add {ip}/24 dev {c_if} && ip link set {c_if} up && \
                 ip route replace default via {gateway} dev {c_if}"
            ),
        );
        ip
    }

    /// Deletes side `i`'s client's first interface (both ends of its veth).
    pub fn remove_first_client_interface(&self, i: usize) {
        let side = &self.sides[i];
        self.sh_ok(&side.client, &format!("ip link del {}", side.client_if));
    }

    /// Moves side `i`'s client to LAN subnet `subnet` in one step inside its namespace:
    /// every IPv4 address of its interface goes, the new one comes with a default route
    /// through the new gateway — what a DHCP lease on another network does. Nothing tells
    /// the processes running there: they must notice by themselves (or be told).
    pub fn move_client(&self, i: usize, subnet: u8) -> String {
        let side = &self.sides[i];
        let (ip, gateway) = Lab::lan_addresses(i, subnet);
        let dev = &side.client_if;
        self.sh_ok(
            &side.client,
            &format!(
                "ip -4 addr flush dev {dev} && ip addr add {ip}/24 dev {dev} && \
                 ip route replace default via {gateway}"
            ),
        );
        ip
    }

    /// Takes side `i`'s client interface down, or brings it up again with a default route
    /// through `gateway` (taking an interface down deletes the routes through it, and a
    /// DHCP client would put the default route back).
    pub fn set_client_link(&self, i: usize, up: bool, gateway: &str) {
        let side = &self.sides[i];
        let dev = &side.client_if;
        let script = if up {
            format!("ip link set {dev} up && ip route replace default via {gateway} dev {dev}")
        } else {
            format!("ip link set {dev} down")
        };
        self.sh_ok(&side.client, &script);
    }

    /// Deletes every conntrack entry in side `i`'s router (`conntrack -F`): its NAT
    /// forgets every mapping at once, as after a reboot. Needs `conntrack` (Debian package
    /// `conntrack`).
    pub fn flush_conntrack(&self, i: usize) {
        let out = exec_in(&self.sides[i].router, &["conntrack", "-F"]);
        assert!(
            out.status.success(),
            "conntrack -F in {} failed (apt-get install conntrack): {}",
            self.sides[i].router,
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The number of UDP conntrack entries in side `i`'s router.
    pub fn conntrack_udp_entries(&self, i: usize) -> usize {
        let out = exec_in(&self.sides[i].router, &["conntrack", "-L", "-p", "udp"]);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.starts_with("udp"))
            .count()
    }

    /// Runs `script` with `sh -c` in `ns`, asserting success, within 10 s.
    fn sh_ok(&self, ns: &str, script: &str) {
        let out = self.run_bounded(ns, &["sh", "-c", script], Duration::from_secs(10));
        assert!(
            out.status.success(),
            "in {ns}: {script:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
