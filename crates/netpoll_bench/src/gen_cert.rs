//! `netpoll-bench gen-cert --out DIR`: a throwaway ECDSA P-256 PKI for TLS benchmarks and
//! tests: a CA, a server certificate for `localhost`, `127.0.0.1` and `::1`, and a client
//! certificate, all signed by the CA, written as PEM files into `DIR`
//! (`ca.pem`, `server.pem`, `server-key.pem`, `client.pem`, `client-key.pem`).

use std::path::Path;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, PKCS_ECDSA_P256_SHA256};

/// Usage of the `gen-cert` mode.
pub const USAGE: &str = "usage: netpoll-bench gen-cert --out DIR";

/// Parses `args` (after `gen-cert`) and writes the files.
pub fn run(args: &[String]) -> Result<(), String> {
    let out = match args {
        [flag, dir] if flag == "--out" => Path::new(dir),
        _ => return Err(USAGE.into()),
    };
    std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    for (name, pem) in generate().map_err(|e| format!("rcgen: {e}"))? {
        let path = out.join(name);
        std::fs::write(&path, pem).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

/// The five files, as (name, PEM text).
pub(crate) fn generate() -> Result<Vec<(&'static str, String)>, rcgen::Error> {
    let ca_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "netpoll-bench CA");
    let ca = ca_params.self_signed(&ca_key)?;
    let leaf = |names: Vec<String>, cn: &str| -> Result<(String, String), rcgen::Error> {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let mut params = CertificateParams::new(names)?;
        params.distinguished_name.push(DnType::CommonName, cn);
        let cert = params.signed_by(&key, &ca, &ca_key)?;
        Ok((cert.pem(), key.serialize_pem()))
    };
    let server_names = ["localhost", "127.0.0.1", "::1"].map(String::from).to_vec();
    let (server, server_key) = leaf(server_names, "localhost")?;
    let (client, client_key) = leaf(vec!["netpoll-bench-client".into()], "netpoll-bench client")?;
    Ok(vec![
        ("ca.pem", ca.pem()),
        ("server.pem", server),
        ("server-key.pem", server_key),
        ("client.pem", client),
        ("client-key.pem", client_key),
    ])
}
