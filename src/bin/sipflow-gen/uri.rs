//! SIP URIs of the generated network, as small values rendered on demand.
//!
//! A flow instance holds dozens of URIs; keeping them as `Copy` enums and
//! writing them only when a message is built avoids an allocation per URI.

use crate::text::Text;
use crate::topology::Net;

/// A SIP URI used somewhere in a generated message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Uri {
    /// A user's address of record: `sip:user{user}@net{net}.example.com`.
    Aor { net: Net, user: u32 },
    /// A home domain (REGISTER's Request-URI): `sip:net{net}.example.com`.
    Domain { net: Net },
    /// A PoC server's conference factory URI.
    Factory { net: Net },
    /// A pre-established session's conference URI (`PRE` of flows.md).
    Pre { net: Net, id: u64 },
    /// A PoC session's conference URI (`SESSION` of flows.md).
    Session { net: Net, id: u64 },
    /// A contact at a node's address: `sip:{user}@{ip}:5060[;transport=tcp]`.
    Contact {
        user: ContactUser,
        ip: u32,
        tcp: bool,
    },
    /// A node's own address (keep-alive OPTIONS): `sip:{ip}:5060`.
    Host { ip: u32, tcp: bool },
}

/// The user part of a contact URI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContactUser {
    /// A client's contact: `user{n}`.
    User(u32),
    /// A B2BUA leg's contact: `leg-{hex}`.
    Leg(u64),
}

impl Uri {
    /// Append the URI (without angle brackets).
    pub fn put(&self, out: &mut Vec<u8>) {
        match *self {
            Uri::Aor { net, user } => {
                out.s("sip:user")
                    .dec(user.into())
                    .s("@net")
                    .dec(net.into())
                    .s(".example.com");
            }
            Uri::Domain { net } => {
                out.s("sip:net").dec(net.into()).s(".example.com");
            }
            Uri::Factory { net } => {
                out.s("sip:conference-factory@poc.net")
                    .dec(net.into())
                    .s(".example.com");
            }
            Uri::Pre { net, id } => {
                out.s("sip:pre-")
                    .hex(id, 12)
                    .s("@poc.net")
                    .dec(net.into())
                    .s(".example.com");
            }
            Uri::Session { net, id } => {
                out.s("sip:session-")
                    .hex(id, 12)
                    .s("@poc.net")
                    .dec(net.into())
                    .s(".example.com");
            }
            Uri::Contact { user, ip, tcp } => {
                out.s("sip:");
                match user {
                    ContactUser::User(n) => out.s("user").dec(n.into()),
                    ContactUser::Leg(id) => out.s("leg-").hex(id, 10),
                };
                out.s("@").ip(ip).s(":5060");
                if tcp {
                    out.s(";transport=tcp");
                }
            }
            Uri::Host { ip, tcp } => {
                out.s("sip:").ip(ip).s(":5060");
                if tcp {
                    out.s(";transport=tcp");
                }
            }
        }
    }

    /// The URI as a string (for the truth file).
    pub fn to_text(self) -> String {
        let mut b = Vec::new();
        self.put(&mut b);
        String::from_utf8_lossy(&b).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders() {
        let u = Uri::Contact {
            user: ContactUser::Leg(0xabc),
            ip: 0x0a02_0014,
            tcp: true,
        };
        assert_eq!(
            u.to_text(),
            "sip:leg-0000000abc@10.2.0.20:5060;transport=tcp"
        );
        assert_eq!(
            Uri::Session { net: 3, id: 0x42 }.to_text(),
            "sip:session-000000000042@poc.net3.example.com"
        );
    }
}
