//! The controllers' connection to the Kubernetes API server: HTTP/2 where the server offers it
//! (as client-go does), with the watches spread over a few connections.
//!
//! kube's own client speaks HTTP/1.1 only, so every open watch holds a TLS connection with its
//! own buffers. The operator keeps five watches per watched namespace (ProviderConfigs, the three
//! managed kinds, Secret metadata): with `--namespaces` listing 20, that was over 100
//! connections, about 4 MiB. Over HTTP/2 they are streams of a few connections.
//!
//! An HTTP/2 server bounds the streams open at once on one connection (kube-apiserver 1000 by
//! default, Go's HTTP/2 server 100), and hyper's client queues a request beyond that bound
//! instead of opening another connection. A watch stays open for minutes, so one connection
//! full of watches would hold every other request back. Hence the lanes: requests that end
//! (GET, LIST, PATCH, ...) have a connection of their own, and watches go to watch lanes of
//! at most [`WATCHES_PER_LANE`] open watches each, a new lane (a new connection) opening when
//! all are full.
//!
//! Against a server that does not offer HTTP/2 (ALPN) the lanes are HTTP/1.1 connection pools,
//! as kube's client is.

use std::{
    future::Future,
    pin::Pin,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use bytes::Bytes;
use http::{Request, Response, Uri};
use hyper_util::{
    client::legacy::{self, connect::HttpConnector},
    rt::{TokioExecutor, TokioTimer},
};
use kube::client::{Body, ClientBuilder, ConfigExt, DynBody};

use crate::controller::lock;
use tower::{BoxError, ServiceBuilder, ServiceExt, util::BoxService};

/// Open watches per connection: half of the smallest stream limit an API server is known to set
/// (Go's default of 100), so that a server's own streams (pings aside) never run short.
pub const WATCHES_PER_LANE: usize = 50;

/// How often an idle HTTP/2 connection is pinged, and how long a ping may go unanswered before
/// the connection counts as dead (client-go's `ReadIdleTimeout` and `PingTimeout`): a watch on a
/// connection that died silently would otherwise wait for events forever.
const PING_INTERVAL: Duration = Duration::from_secs(30);
const PING_TIMEOUT: Duration = Duration::from_secs(15);

type Https = hyper_rustls::HttpsConnector<HttpConnector>;
type Hyper = legacy::Client<Https, Body>;

/// The service under a kube [`Client`](kube::Client): the type kube's own builder gives.
pub type Service = BoxService<Request<Body>, Response<Box<DynBody>>, BoxError>;

/// The client of the API server `config` names: over [`Lanes`] when `http2` is on, kube's own
/// (HTTP/1.1) client when it is off or the config names a proxy, which [`Lanes`] does not use.
pub fn builder(config: kube::Config, http2: bool) -> Result<ClientBuilder<Service>, kube::Error> {
    if http2 && config.proxy_url.is_none() {
        over(Lanes::new(&config)?, &config)
    } else {
        ClientBuilder::try_from(config)
    }
}

/// kube's client stack (base URI, retries, authentication, extra headers) over `lanes`.
pub fn over(lanes: Lanes, config: &kube::Config) -> Result<ClientBuilder<Service>, kube::Error> {
    let service = ServiceBuilder::new()
        .layer(config.base_uri_layer())
        .option_layer(config.default_retry.then(|| {
            tower::retry::RetryLayer::new(kube::client::retry::RetryPolicy::server_retry())
        }))
        .option_layer(config.auth_layer()?)
        .layer(config.extra_headers_layer()?)
        .map_err(BoxError::from)
        .service(lanes)
        .map_response(|res: Response<LaneBody>| res.map(|body| Box::new(body) as Box<DynBody>))
        .boxed();
    Ok(ClientBuilder::new(
        service,
        config.default_namespace.clone(),
    ))
}

/// A connection for requests that end, and watch lanes of at most [`WATCHES_PER_LANE`] open
/// watches each.
#[derive(Clone)]
pub struct Lanes(Arc<Shared>);

struct Shared {
    builder: legacy::Builder,
    connector: Https,
    requests: Hyper,
    watches: Mutex<Vec<Lane>>,
}

#[derive(Clone)]
struct Lane {
    client: Hyper,
    open: Arc<AtomicUsize>,
}

impl Lanes {
    /// TLS (with HTTP/2 and HTTP/1.1 offered by ALPN) and timeouts as `config` says.
    pub fn new(config: &kube::Config) -> Result<Self, kube::Error> {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(config.connect_timeout);
        let mut tls = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(config.rustls_client_config()?)
            .https_or_http();
        if let Some(name) = &config.tls_server_name {
            let name = rustls_pki_types::ServerName::try_from(name.clone()).map_err(|e| {
                kube::Error::RustlsTls(kube::client::RustlsTlsError::InvalidServerName(e))
            })?;
            tls = tls.with_server_name_resolver(hyper_rustls::FixedServerNameResolver::new(name));
        }
        let connector = tls.enable_http1().enable_http2().wrap_connector(http);
        let mut builder = legacy::Builder::new(TokioExecutor::new());
        builder
            .timer(TokioTimer::new())
            .pool_timer(TokioTimer::new())
            .http2_keep_alive_interval(PING_INTERVAL)
            .http2_keep_alive_timeout(PING_TIMEOUT);
        let requests = builder.build(connector.clone());
        Ok(Self(Arc::new(Shared {
            builder,
            connector,
            requests,
            watches: Mutex::default(),
        })))
    }

    /// The watch lanes opened so far (each one connection over HTTP/2).
    pub fn watch_lanes(&self) -> usize {
        lock(&self.0.watches).len()
    }

    /// The first lane with room for one more watch (a new one when all are full), its count
    /// taken under the lock so that two watches never take one last place.
    fn watch_lane(&self) -> (Hyper, OpenWatch) {
        let mut lanes = lock(&self.0.watches);
        let lane = match lanes
            .iter()
            .find(|l| l.open.load(Ordering::Relaxed) < WATCHES_PER_LANE)
        {
            Some(lane) => lane.clone(),
            None => {
                let lane = Lane {
                    client: self.0.builder.build(self.0.connector.clone()),
                    open: Arc::default(),
                };
                lanes.push(lane.clone());
                lane
            }
        };
        lane.open.fetch_add(1, Ordering::Relaxed);
        (lane.client, OpenWatch(lane.open))
    }
}

/// Whether a request is a watch (`?watch=true`, or `1`), which stays open for minutes.
pub fn is_watch(uri: &Uri) -> bool {
    uri.query().is_some_and(|q| {
        q.split('&')
            .any(|pair| pair == "watch=true" || pair == "watch=1")
    })
}

/// One place taken in a watch lane, given back when the watch's body is dropped (or the
/// request fails).
struct OpenWatch(Arc<AtomicUsize>);

impl Drop for OpenWatch {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A response body that holds its watch's place in a lane while it is read.
pub struct LaneBody {
    inner: hyper::body::Incoming,
    _open: Option<OpenWatch>,
}

impl http_body::Body for LaneBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, BoxError>>> {
        Pin::new(&mut self.get_mut().inner)
            .poll_frame(cx)
            .map_err(BoxError::from)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

impl tower::Service<Request<Body>> for Lanes {
    type Response = Response<LaneBody>;
    type Error = legacy::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        let (client, open) = if is_watch(req.uri()) {
            let (client, open) = self.watch_lane();
            (client, Some(open))
        } else {
            (self.0.requests.clone(), None)
        };
        Box::pin(async move {
            let res = client.request(req).await?;
            Ok(res.map(|inner| LaneBody { inner, _open: open }))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watches_are_told_from_requests_that_end() {
        let watch = |s: &str| is_watch(&s.parse::<Uri>().unwrap());
        assert!(watch(
            "/api/v1/namespaces/a/secrets?&watch=true&timeoutSeconds=290&allowWatchBookmarks=true"
        ));
        assert!(watch("/apis/x/v1/things?watch=1"));
        assert!(!watch("/api/v1/namespaces/a/secrets?limit=500"));
        assert!(!watch("/api/v1/namespaces/a/secrets?watch=false"));
        assert!(!watch("/api/v1/namespaces/watch=true/secrets"));
        assert!(!watch(
            "/apis/x/v1/things?fieldSelector=metadata.name%3Dwatch%3Dtrue"
        ));
    }
}
