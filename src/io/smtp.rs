//! The SMTP relay connection (lettre): how a queued mail is handed to `[smtp]`. When and what to
//! send, and what a refusal means for the outbox item, is the sender's ([`crate::service::sender`]).

use std::time::Duration;

use anyhow::{Context, Result};
use lettre::address::Envelope;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, Tokio1Executor};

use crate::config::Config;
use crate::config::sections::Security;
use crate::domain::outbox::OutboxItem;

/// The transport the sender uses.
pub(crate) type Transport = AsyncSmtpTransport<Tokio1Executor>;

/// Builds the SMTP transport from `[smtp]`.
pub(crate) fn transport(config: &Config) -> Result<Transport> {
    let smtp = config
        .smtp
        .as_ref()
        .context("outbound mail needs an [smtp] section")?;
    let port = smtp.port.unwrap_or(match smtp.security {
        Security::Tls => 465,
        Security::Starttls => 587,
        Security::Plain => 25,
    });
    let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host)
        .port(port)
        .timeout(Some(Duration::from_secs(smtp.timeout_secs)));
    if smtp.security != Security::Plain {
        let mut params = TlsParameters::builder(smtp.host.clone());
        if let Some(ca) = &smtp.ca_file {
            let pem = std::fs::read(ca)
                .with_context(|| format!("cannot read smtp.ca_file {}", ca.display()))?;
            params = params.add_root_certificate(
                Certificate::from_pem(&pem).context("smtp.ca_file is not a PEM certificate")?,
            );
        }
        let params = params.build_rustls()?;
        b = b.tls(match smtp.security {
            Security::Tls => Tls::Wrapper(params),
            _ => Tls::Required(params),
        });
    } else {
        b = b.tls(Tls::None);
    }
    if let (Some(user), Some(pass)) = (&smtp.username, &smtp.resolved_password) {
        b = b.credentials(Credentials::new(user.clone(), pass.clone()));
    }
    Ok(b.build())
}

/// The SMTP envelope of `item` for `rcpts`: our support address as sender (bounces come back to
/// the mailbox), the recipients as RCPT TO. `Err` says why the item can never be sent.
pub(crate) fn envelope(item: &OutboxItem, rcpts: &[String]) -> Result<Envelope, String> {
    let from = item
        .envelope_from
        .parse()
        .map_err(|e| format!("bad envelope sender {}: {e}", item.envelope_from))?;
    let to = rcpts
        .iter()
        .map(|t| t.parse().map_err(|e| format!("bad recipient {t}: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    Envelope::new(Some(from), to).map_err(|e| e.to_string())
}
