//! One HTTP client for every SDK client made from a configuration.
//!
//! Left alone, the SDK gives each client it builds an HTTPS client of its
//! own: its own TLS configuration (the system's root certificates parsed
//! again, about 150 of them) and its own connection pool. costguard makes a
//! client per call site, region and account, so an organization's sweep
//! parsed the roots for every one: heaptrack on a 40-account dry run put
//! 57 of the 108 MiB at the heap's peak under `build_https`, 47 MiB of it
//! root certificates. [`client`] is made once per [`super::sdk_loader`]
//! (once per process in `main`), every handle and client derived from that
//! configuration shares it, and a connection to an endpoint is reused by
//! every call site that talks to it.

use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::{tls, Builder, ConnectorBuilder};
use aws_smithy_runtime_api::client::http::{HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;

use super::pace::Pace;

/// What the SDK's default is (hyper 1, rustls on aws-lc-rs, proxies from
/// `HTTPS_PROXY`/`NO_PROXY`), made once. Connectors are kept per time
/// limit (connect, read): handles with other [`super::CallLimits`] get
/// their own connector from the same client. A request that carries a
/// [`Pace`] waits for its token first ([`super::pace`]).
pub fn client() -> SharedHttpClient {
    SharedHttpClient::new(Paced(hyper_client()))
}

fn hyper_client() -> SharedHttpClient {
    Builder::new().build_with_connector_fn(|settings, components| {
        let mut connector = ConnectorBuilder::default().tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::AwsLc));
        connector.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            connector.set_sleep_impl(components.sleep_impl());
        }
        connector.set_proxy_config(Some(ProxyConfig::from_env()));
        connector.build()
    })
}

/// The client that waits for a request's token before sending it.
#[derive(Debug)]
struct Paced(SharedHttpClient);

impl HttpClient for Paced {
    fn http_connector(&self, settings: &HttpConnectorSettings, components: &RuntimeComponents) -> SharedHttpConnector {
        SharedHttpConnector::new(PacedConnector(self.0.http_connector(settings, components)))
    }
}

#[derive(Debug)]
struct PacedConnector(SharedHttpConnector);

impl HttpConnector for PacedConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let Some(Pace(bucket)) = request.extension::<Pace>().cloned() else {
            return self.0.call(request);
        };
        let inner = self.0.clone();
        HttpConnectorFuture::new(async move {
            bucket.take().await;
            inner.call(request).await
        })
    }
}
