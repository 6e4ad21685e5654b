//! The TLS options of the command line and the rustls client configuration built from them
//! (aws-lc-rs provider, as in netpoll's core).

use std::slice::Iter;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::Resumption;
use rustls::crypto::{aws_lc_rs, verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

/// Usage lines of the TLS options.
pub const USAGE: &str = "TLS, in every mode: --tls   --ca FILE (PEM roots)
  --insecure-accept-any-cert (no chain or name check; signatures still verified)
  --servername NAME (default: the target's IP, or localhost for unix://)
  --cert FILE --key FILE (client certificate)   --tls-version 1.2|1.3 (1.3)
  --kx x25519|p256|default (x25519: the group Node and netpoll both prefer)
  --resume (reuse sessions/tickets; default off: every connection a full handshake)";

/// TLS options as given on the command line.
#[derive(Default)]
pub struct TlsOptions {
    /// `--tls`, or implied by any other TLS option.
    pub enabled: bool,
    ca: Option<String>,
    accept_any: bool,
    /// `--servername`.
    pub servername: Option<String>,
    cert: Option<String>,
    key: Option<String>,
    tls12: bool,
    kx: Option<String>,
    /// `--resume`.
    pub resume: bool,
}

impl TlsOptions {
    /// Consumes `flag` (and its value from `rest`) when it is a TLS option: `Ok(true)`.
    pub fn parse_flag(&mut self, flag: &str, rest: &mut Iter<String>) -> Result<bool, String> {
        let mut value = || {
            rest.next()
                .cloned()
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag {
            "--tls" => {}
            "--insecure-accept-any-cert" => self.accept_any = true,
            "--resume" => self.resume = true,
            "--ca" => self.ca = Some(value()?),
            "--servername" => self.servername = Some(value()?),
            "--cert" => self.cert = Some(value()?),
            "--key" => self.key = Some(value()?),
            "--kx" => self.kx = Some(value()?),
            "--tls-version" => match value()?.as_str() {
                "1.2" => self.tls12 = true,
                "1.3" => self.tls12 = false,
                v => return Err(format!("--tls-version: {v:?} is not 1.2 or 1.3")),
            },
            _ => return Ok(false),
        }
        self.enabled = true;
        Ok(true)
    }

    /// The client configuration, or `None` without TLS.
    pub fn client_config(&self) -> Result<Option<Arc<ClientConfig>>, String> {
        if !self.enabled {
            return Ok(None);
        }
        if self.ca.is_none() && !self.accept_any {
            return Err("--tls needs --ca FILE or --insecure-accept-any-cert".into());
        }
        let mut provider = aws_lc_rs::default_provider();
        match self.kx.as_deref().unwrap_or("x25519") {
            "x25519" => provider.kx_groups = vec![aws_lc_rs::kx_group::X25519],
            "p256" => provider.kx_groups = vec![aws_lc_rs::kx_group::SECP256R1],
            "default" => {}
            k => return Err(format!("--kx: {k:?} is not x25519, p256 or default")),
        }
        let provider = Arc::new(provider);
        let versions: &[&rustls::SupportedProtocolVersion] = if self.tls12 {
            &[&rustls::version::TLS12]
        } else {
            &[&rustls::version::TLS13]
        };
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(versions)
            .map_err(|e| format!("TLS: {e}"))?;
        let builder = if self.accept_any {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAnyCert(provider)))
        } else {
            let mut roots = RootCertStore::empty();
            for cert in read_certs(self.ca.as_deref().unwrap_or_default())? {
                roots.add(cert).map_err(|e| format!("--ca: {e}"))?;
            }
            builder.with_root_certificates(roots)
        };
        let mut config = match (&self.cert, &self.key) {
            (Some(cert), Some(key)) => {
                let key = PrivateKeyDer::from_pem_file(key).map_err(|e| format!("{key}: {e}"))?;
                builder
                    .with_client_auth_cert(read_certs(cert)?, key)
                    .map_err(|e| format!("--cert/--key: {e}"))?
            }
            (None, None) => builder.with_no_client_auth(),
            _ => return Err("--cert and --key go together".into()),
        };
        config.resumption = if self.resume {
            Resumption::in_memory_sessions(4096)
        } else {
            Resumption::disabled()
        };
        Ok(Some(Arc::new(config)))
    }

    /// The name sent as SNI and verified: `--servername`, else the target's address.
    pub fn server_name(
        &self,
        target: &crate::target::Target,
    ) -> Result<ServerName<'static>, String> {
        match (&self.servername, target) {
            (Some(name), _) => ServerName::try_from(name.clone())
                .map_err(|e| format!("--servername {name:?}: {e}")),
            (None, crate::target::Target::Tcp(addr)) => Ok(ServerName::from(addr.ip())),
            (None, crate::target::Target::Unix(_)) => Ok(ServerName::try_from("localhost")
                .map_err(|e| e.to_string())?
                .to_owned()),
        }
    }
}

/// The certificates of a PEM file.
fn read_certs(path: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("{path}: {e}"))?;
    if certs.is_empty() {
        return Err(format!("{path}: no certificate"));
    }
    Ok(certs)
}

/// `--insecure-accept-any-cert`: accepts any chain and name, still checks the handshake
/// signatures (so the server really holds the key of the certificate it sent).
#[derive(Debug)]
struct AcceptAnyCert(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
