//! The test PKI: a private CA and a server certificate per Dovecot (shared by the SMTP relay),
//! and the rustls client configuration that trusts only that CA, so TLS is tested for real
//! (hostname and chain checks) without touching the system trust store.

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;

/// Test CA (`ca.pem`) + server certificate (`server.pem`/`server.key`,
/// CA:FALSE, SAN localhost + 127.0.0.1), P-256 keys (fast to generate).
pub(super) fn make_certificates(root: &Path) {
    fs::write(
        root.join("server.ext"),
        "basicConstraints=critical,CA:FALSE\n\
         keyUsage=critical,digitalSignature,keyEncipherment\n\
         extendedKeyUsage=serverAuth\n\
         subjectAltName=DNS:localhost,IP:127.0.0.1\n",
    )
    .unwrap();
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let ca_args: Vec<&str> = ["req", "-x509"]
        .into_iter()
        .chain(ec)
        .chain([
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "3650",
            "-subj",
            "/CN=supportd test CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ])
        .collect();
    let csr_args: Vec<&str> = ["req"]
        .into_iter()
        .chain(ec)
        .chain([
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=localhost",
        ])
        .collect();
    let sign_args = [
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "3650",
        "-extfile",
        "server.ext",
    ];
    for args in [&ca_args[..], &csr_args[..], &sign_args[..]] {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(root)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| {
                panic!("openssl not runnable ({e}): run .ci/run or `apt-get install openssl`")
            });
        assert!(
            out.status.success(),
            "openssl {args:?} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// rustls client config trusting only the CA(s) in `ca_pem`, with an
/// explicit ring provider (no process-level default provider needed).
pub fn tls_client_config(ca_pem: &Path) -> Arc<rustls::ClientConfig> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;

    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca_pem)
        .unwrap_or_else(|e| panic!("read {}: {e}", ca_pem.display()))
    {
        roots
            .add(cert.expect("parse CA PEM"))
            .expect("add CA to root store");
    }
    assert!(!roots.is_empty(), "no certificate in {}", ca_pem.display());
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("rustls protocol versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    Arc::new(config)
}
