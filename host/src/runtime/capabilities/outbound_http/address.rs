//! Which IP addresses a guest may reach without `allow_private_networks`: public unicast only.
//! Everything else (loopback, private, link-local, CGNAT, unique-local, multicast, documentation,
//! benchmarking, reserved) is refused, and an IPv6 address that carries an IPv4 one (mapped,
//! compatible, 6to4, NAT64) is judged by the IPv4 address inside, so no spelling reaches
//! `127.0.0.1` or the cloud metadata service at `169.254.169.254`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Whether `ip` is a public address a guest may reach when private networks are not allowed.
pub(crate) fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

/// IPv4 blocks that are not globally reachable (IANA special-purpose registry), plus multicast.
const NOT_PUBLIC_V4: &[(Ipv4Addr, u8)] = &[
    (Ipv4Addr::new(0, 0, 0, 0), 8),       // "this network"
    (Ipv4Addr::new(10, 0, 0, 0), 8),      // private
    (Ipv4Addr::new(100, 64, 0, 0), 10),   // carrier-grade NAT
    (Ipv4Addr::new(127, 0, 0, 0), 8),     // loopback
    (Ipv4Addr::new(169, 254, 0, 0), 16),  // link-local, cloud metadata
    (Ipv4Addr::new(172, 16, 0, 0), 12),   // private
    (Ipv4Addr::new(192, 0, 0, 0), 24),    // IETF protocol assignments
    (Ipv4Addr::new(192, 0, 2, 0), 24),    // documentation
    (Ipv4Addr::new(192, 88, 99, 0), 24),  // deprecated 6to4 relays
    (Ipv4Addr::new(192, 168, 0, 0), 16),  // private
    (Ipv4Addr::new(198, 18, 0, 0), 15),   // benchmarking
    (Ipv4Addr::new(198, 51, 100, 0), 24), // documentation
    (Ipv4Addr::new(203, 0, 113, 0), 24),  // documentation
    (Ipv4Addr::new(224, 0, 0, 0), 4),     // multicast
    (Ipv4Addr::new(240, 0, 0, 0), 4),     // reserved, and broadcast
];

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let bits = u32::from(ip);
    !NOT_PUBLIC_V4.iter().any(|&(net, prefix)| {
        let mask = u32::MAX << (32 - u32::from(prefix));
        bits & mask == u32::from(net)
    })
}

/// IPv6 blocks inside 2000::/3 (global unicast) that are not globally reachable.
const NOT_PUBLIC_V6: &[(Ipv6Addr, u8)] = &[
    (Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0), 23), // IETF protocol assignments, Teredo
    (Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0), 32), // documentation
    (Ipv6Addr::new(0x3fff, 0, 0, 0, 0, 0, 0, 0), 20), // documentation
];

fn is_public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = embedded_v4(ip) {
        return is_public_v4(v4);
    }
    let bits = u128::from(ip);
    let in_block = |net: Ipv6Addr, prefix: u8| {
        let mask = u128::MAX << (128 - u32::from(prefix));
        bits & mask == u128::from(net)
    };
    // Only global unicast (2000::/3) is public; unique-local, link-local, multicast, the
    // discard prefix and the rest lie outside it.
    in_block(Ipv6Addr::new(0x2000, 0, 0, 0, 0, 0, 0, 0), 3)
        && !NOT_PUBLIC_V6
            .iter()
            .any(|&(net, prefix)| in_block(net, prefix))
}

/// The IPv4 address an IPv6 address stands for, in the forms that route to it: IPv4-mapped
/// (`::ffff:a.b.c.d`), IPv4-compatible (`::a.b.c.d`, including `::` and `::1`, judged as
/// `0.0.0.0` and `0.0.0.1`), NAT64 (`64:ff9b::a.b.c.d`) and 6to4 (`2002:AABB:CCDD::`).
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let low = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    match s {
        [0, 0, 0, 0, 0, 0xffff, _, _] | [0, 0, 0, 0, 0, 0, _, _] => Some(low),
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some(low),
        [0x2002, hi, lo, ..] => Some(Ipv4Addr::new(
            (hi >> 8) as u8,
            hi as u8,
            (lo >> 8) as u8,
            lo as u8,
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize)]
    struct Vectors {
        addresses: Vec<AddressCase>,
    }

    #[derive(Deserialize)]
    struct AddressCase {
        ip: String,
        global: bool,
    }

    #[test]
    fn every_address_vector_is_classified_as_written() {
        let vectors: Vectors =
            serde_json::from_str(include_str!("../../../../../docs/outbound-vectors.json"))
                .expect("docs/outbound-vectors.json is valid");
        assert!(vectors.addresses.len() > 30, "the vectors went missing");
        for case in &vectors.addresses {
            let ip: IpAddr = case.ip.parse().expect("vector addresses parse");
            assert_eq!(is_public(ip), case.global, "{}", case.ip);
        }
    }

    #[test]
    fn embedded_forms_follow_the_ipv4_address() {
        for (ip, public) in [
            ("::ffff:169.254.169.254", false),
            ("::8.8.8.8", true),
            ("64:ff9b::a9fe:a9fe", false),
            ("2002:a9fe:a9fe::1", false),
            ("2002:101:101::", true),
            // The NAT64 local-use prefix is not the well-known one and is not public.
            ("64:ff9b:1::808:808", false),
            ("fec0::1", false),
        ] {
            assert_eq!(is_public(ip.parse().unwrap()), public, "{ip}");
        }
    }
}
