//! The certificate and key the TLS fuzz targets serve with.

/// A self-signed ECDSA P-256 certificate for `localhost`, valid until 2126 (fixture: the
/// fuzz crate has no certificate generator).
pub const CERT: &str = "-----BEGIN CERTIFICATE-----
MIIBlDCCATugAwIBAgIUU5GDb58mWJ5iQEj1Sdmgzxzu4agwCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJbG9jYWxob3N0MCAXDTI2MTIwNTA2NDc1N1oYDzIxMjYxMTEx
MDY0NzU3WjAUMRIwEAYDVQQDDAlsb2NhbGhvc3QwWTATBgcqhkjOPQIBBggqhkjO
PQMBBwNCAATdZGv6c0uPDzvv3571QdBciFUKkCdztQX2/+OJSD5vDdGargFL7K/m
2JNAV7Y4H6pUdXSjlFehDEAHplUzVmCPo2kwZzAdBgNVHQ4EFgQUu5BrMQbdk1PD
ZQ+/9gSIpTApnlowHwYDVR0jBBgwFoAUu5BrMQbdk1PDZQ+/9gSIpTApnlowDwYD
VR0TAQH/BAUwAwEB/zAUBgNVHREEDTALgglsb2NhbGhvc3QwCgYIKoZIzj0EAwID
RwAwRAIgV7oX/B8QIMkIIVtaeqxphnkcAfpn3Jv808Whd7Ef7rMCIHXpHXAbz3uA
NOKj4S5AShgtqEls28UVMuHbZLJUj9KO
-----END CERTIFICATE-----
";

/// The key of [`CERT`] (a throwaway made for this target; it protects nothing).
pub const KEY: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQge7rj/LC6K1/+mGsj
IvJPsLE8ZfU1EbrIJaAafRNTZY6hRANCAATdZGv6c0uPDzvv3571QdBciFUKkCdz
tQX2/+OJSD5vDdGargFL7K/m2JNAV7Y4H6pUdXSjlFehDEAHplUzVmCP
-----END PRIVATE KEY-----
";
