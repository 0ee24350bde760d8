//! Known secrets, one of each kind (and each vendor prefix) the built-in
//! rules claim to cover: the unit and property tests plant them in text and
//! the scrubber fuzz target (`fuzz/`) plants them in arbitrary text, each
//! asserting the secret's fragment never survives a scrub. One list, so a
//! kind added to the scrubber is fuzzed as soon as it is tested.

/// One planted secret.
#[derive(Debug, Clone, Copy)]
pub struct Planted {
    /// The secret as it appears in text.
    pub secret: &'static str,
    /// The placeholder that replaces it.
    pub placeholder: &'static str,
    /// The part of the secret that must not survive a scrub.
    pub fragment: &'static str,
}

/// Every planted secret.
pub const PLANTED: &[Planted] = &[
    Planted {
        secret: "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA7bq\nQ0ZmZzZ2Vy\n-----END RSA PRIVATE KEY-----",
        placeholder: "[REDACTED:private_key]",
        fragment: "MIIEpAIBAAKCAQEA7bq",
    },
    Planted {
        secret: "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
        placeholder: "[REDACTED:jwt]",
        fragment: "dozjgNryP4J3jVmNHl0w5N",
    },
    Planted {
        secret: "postgres://app:Sup3rS3cret!@db.internal:5432/shop",
        placeholder: "[REDACTED:url_password]",
        fragment: "Sup3rS3cret",
    },
    Planted {
        secret: "sk-proj-4fGh7JkL9mNpQrStUvWx2yZa",
        placeholder: "[REDACTED:api_key]",
        fragment: "4fGh7JkL9mNpQrStUvWx2yZa",
    },
    Planted {
        secret: "sk_live_51HxYzAbCdEfGhIjKlMnOp",
        placeholder: "[REDACTED:api_key]",
        fragment: "51HxYzAbCdEfGhIjKlMnOp",
    },
    Planted {
        secret: "ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789",
        placeholder: "[REDACTED:api_key]",
        fragment: "aBcDeFgHiJkLmNoPqRsTuVwXyZ",
    },
    Planted {
        secret: "gho_16C7e42F292c6912E7710c838347Ae178B4a",
        placeholder: "[REDACTED:api_key]",
        fragment: "16C7e42F292c6912E7710c",
    },
    Planted {
        secret: "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz",
        placeholder: "[REDACTED:api_key]",
        fragment: "11ABCDEFG0123456789",
    },
    Planted {
        secret: "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
        placeholder: "[REDACTED:api_key]",
        fragment: "AbCdEfGhIjKlMnOpQrStUvWx",
    },
    Planted {
        secret: "AKIAIOSFODNN7EXAMPLE",
        placeholder: "[REDACTED:aws_key]",
        fragment: "IOSFODNN7EXAMPLE",
    },
    Planted {
        secret: "Authorization: Bearer 8f3a9c2e71d04b5fa6e2",
        placeholder: "[REDACTED:bearer]",
        fragment: "8f3a9c2e71d04b5fa6e2",
    },
    Planted {
        secret: "api_key=9b8c7d6e5f4a3b2c",
        placeholder: "[REDACTED:secret]",
        fragment: "9b8c7d6e5f4a3b2c",
    },
    Planted {
        secret: "{\"password\": \"hunter2hunter\"}",
        placeholder: "[REDACTED:secret]",
        fragment: "hunter2hunter",
    },
    Planted {
        secret: "token: tkn_abc123xyz",
        placeholder: "[REDACTED:secret]",
        fragment: "tkn_abc123xyz",
    },
    Planted {
        secret: "jane.doe+orders@example.co.uk",
        placeholder: "[REDACTED:email]",
        fragment: "jane.doe",
    },
    Planted {
        secret: "4111 1111 1111 1111",
        placeholder: "[REDACTED:card]",
        fragment: "4111 1111 1111 1111",
    },
    Planted {
        secret: "5500-0000-0000-0004",
        placeholder: "[REDACTED:card]",
        fragment: "5500-0000-0000-0004",
    },
    Planted {
        secret: "10.20.30.40",
        placeholder: "[REDACTED:ipv4]",
        fragment: "10.20.30.40",
    },
    Planted {
        secret: "2001:db8:85a3::8a2e:370:7334",
        placeholder: "[REDACTED:ipv6]",
        fragment: "8a2e:370:7334",
    },
    Planted {
        secret: "fe80::1",
        placeholder: "[REDACTED:ipv6]",
        fragment: "fe80::1",
    },
    // The gaps the hardening review found (issue 16), one each.
    Planted {
        secret: "session=8c1f0a9e77b24d31",
        placeholder: "[REDACTED:secret]",
        fragment: "8c1f0a9e77b24d31",
    },
    Planted {
        secret: "PHPSESSID=q8v3t0bk2m1n6c9d",
        placeholder: "[REDACTED:secret]",
        fragment: "q8v3t0bk2m1n6c9d",
    },
    Planted {
        secret: "connect.sid=s%3AaB3dE5fG7hJ9kL1",
        placeholder: "[REDACTED:secret]",
        fragment: "aB3dE5fG7hJ9kL1",
    },
    Planted {
        secret: "_shop_session=Zm9vYmFyYmF6cXV4MTIz--a1b2c3",
        placeholder: "[REDACTED:secret]",
        fragment: "Zm9vYmFyYmF6cXV4MTIz",
    },
    Planted {
        secret: "-----BEGIN PGP PRIVATE KEY BLOCK-----\nlQOYBGXq3mEBCAC7v9\n=Ab12\n-----END PGP PRIVATE KEY BLOCK-----",
        placeholder: "[REDACTED:private_key]",
        fragment: "lQOYBGXq3mEBCAC7v9",
    },
    Planted {
        secret: "{\\\"password\\\":\\\"esc4ped-Secret\\\"}",
        placeholder: "[REDACTED:secret]",
        fragment: "esc4ped-Secret",
    },
    Planted {
        secret: "password=correct horse battery staple",
        placeholder: "[REDACTED:secret]",
        fragment: "horse battery staple",
    },
    Planted {
        secret: "Pwd=abc;defghij",
        placeholder: "[REDACTED:secret]",
        fragment: "defghij",
    },
    Planted {
        secret: "DefaultEndpointsProtocol=https;AccountName=shop;AccountKey=Zx9yW8vU7tS6rQ5pO4nM3l==",
        placeholder: "[REDACTED:secret]",
        fragment: "Zx9yW8vU7tS6rQ5pO4nM3l",
    },
    Planted {
        secret: "private_key=MIIEvQIBADANBgkqhkiG9w0",
        placeholder: "[REDACTED:secret]",
        fragment: "MIIEvQIBADANBgkqhkiG9w0",
    },
    Planted {
        secret: "xapp-1-A0123456789-1234567890123-abcdef0123456789",
        placeholder: "[REDACTED:api_key]",
        fragment: "abcdef0123456789",
    },
    Planted {
        secret: "https://hooks.slack.com/services/T0ABCDEFG/B0HIJKLMN/aBcDeFgHiJkLmNoPqRsTuVwX",
        placeholder: "[REDACTED:api_key]",
        fragment: "aBcDeFgHiJkLmNoPqRsTuVwX",
    },
    Planted {
        secret: "glpat-xK9mN2pQ7rS4tU6vW8yZ",
        placeholder: "[REDACTED:api_key]",
        fragment: "xK9mN2pQ7rS4tU6vW8yZ",
    },
    Planted {
        secret: "hf_AbCdEfGhIjKlMnOpQrStUvWxYz01234567",
        placeholder: "[REDACTED:api_key]",
        fragment: "AbCdEfGhIjKlMnOpQrStUvWxYz",
    },
    Planted {
        secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        placeholder: "[REDACTED:api_key]",
        fragment: "MfKQ9r8GKYqrTwjUPD8ILPZIo2",
    },
    Planted {
        secret: "STRIPE=sk_live_4eC39HqLyjWDarjtT1zdp7dc",
        placeholder: "[REDACTED:api_key]",
        fragment: "4eC39HqLyjWDarjtT1zdp7dc",
    },
    Planted {
        secret: "rk_live_51H8abcdEFGHijklMNOPqrst",
        placeholder: "[REDACTED:api_key]",
        fragment: "51H8abcdEFGHijklMNOPqrst",
    },
    Planted {
        secret: "AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY",
        placeholder: "[REDACTED:api_key]",
        fragment: "SyD-9tSrke72PouQMnMX",
    },
];
