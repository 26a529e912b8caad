//! TLS for scivision's own HTTP clients: the system's trusted roots (as reqwest's default
//! platform verifier reads them, `SSL_CERT_FILE`/`SSL_CERT_DIR` included), loaded once per
//! process and only when a connection first needs them. Loading them reads and parses every
//! file of /etc/ssl/certs (a few ms each time); a command that uses local channels and caches
//! only, such as a warm `env create` or a `solve` of a local channel, never does.

use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

/// A rustls client configuration whose server certificates are checked against the system's
/// roots, loaded at the first handshake; HTTP/2 where the server offers it. Fails only if the
/// crypto provider lacks the default TLS versions.
pub fn client_config() -> Result<rustls::ClientConfig, rustls::Error> {
    let roots = roots();
    let mut config = rustls::ClientConfig::builder_with_provider(roots.provider.clone())
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// The one verifier of the process.
fn roots() -> Arc<LazyRoots> {
    static ROOTS: OnceLock<Arc<LazyRoots>> = OnceLock::new();
    ROOTS
        .get_or_init(|| {
            Arc::new(LazyRoots {
                provider: Arc::new(rustls::crypto::aws_lc_rs::default_provider()),
                verifier: OnceLock::new(),
            })
        })
        .clone()
}

/// rustls-platform-verifier's verifier, made when a certificate first needs checking.
#[derive(Debug)]
struct LazyRoots {
    provider: Arc<CryptoProvider>,
    verifier: OnceLock<Result<rustls_platform_verifier::Verifier, rustls::Error>>,
}

impl LazyRoots {
    fn verifier(&self) -> Result<&rustls_platform_verifier::Verifier, rustls::Error> {
        self.verifier
            .get_or_init(|| {
                tracing::debug!("loading the system's trusted certificates");
                rustls_platform_verifier::Verifier::new(self.provider.clone())
            })
            .as_ref()
            .map_err(Clone::clone)
    }
}

impl ServerCertVerifier for LazyRoots {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.verifier()?.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        )
    }

    // The handshake's signatures need the provider's algorithms, not the roots.
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
