//! The HTTP API on actix-web: one module per resource, each with a `config` function. Only this
//! module imports actix.

pub mod auth;
pub mod batch_reads;
pub mod check;
pub mod error;
pub mod health;
pub mod outbox;
pub mod preferences;
pub mod registers;
pub mod request_id;
pub mod scrubs;
pub mod upload;
pub mod wire;

use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Weak};

use actix_web::dev::{AppConfig, Server};
use actix_web::rt::net::TcpStream;
use actix_web::{web, App, HttpRequest};
use anyhow::Context;

use crate::app::AppError;
use crate::config::Settings;
use crate::registers::Registers;
use crate::store::Store;
use auth::KeyCache;
use error::{ApiError, ErrorCode};

/// What every handler shares: the use cases' `App` (whose fields it derefs to: `state.store`,
/// `state.registers`, …), and what only HTTP needs.
pub struct AppState {
    pub app: crate::app::App,
    pub keys: KeyCache,
    /// Uploads taken at once, and the rules their bodies are read by.
    pub uploads: upload::Uploads,
}

impl std::ops::Deref for AppState {
    type Target = crate::app::App;

    fn deref(&self) -> &crate::app::App {
        &self.app
    }
}

/// An extractor whose failure the handler meets only when it asks (`let body = body?;`).
/// actix runs a handler's extractors side by side, so without this a bad body could answer
/// before the key's role is checked: 401/403 must come first, whatever the body.
pub type Deferred<T> = Result<T, actix_web::Error>;

/// Run a short database read for a handler. On SQLite it runs on the worker itself: a WAL read of
/// one indexed row takes microseconds and never waits for the writer, and handing it to the
/// blocking pool and back costs more than the read (two thread switches). On PostgreSQL, where a
/// query is a network round trip, it goes to the blocking pool.
pub(crate) async fn read<T, F>(store: &Store, f: F) -> Result<T, ApiError>
where
    F: FnOnce(&mut crate::store::DbConnection) -> anyhow::Result<T> + Send + 'static,
    T: Send + 'static,
{
    call(store, move |conn| f(conn).map_err(AppError::from)).await
}

/// A short use case over one connection, on the thread `read` would pick.
pub(crate) async fn call<T, F>(store: &Store, f: F) -> Result<T, ApiError>
where
    F: FnOnce(&mut crate::store::DbConnection) -> Result<T, AppError> + Send + 'static,
    T: Send + 'static,
{
    let run = {
        let store = store.clone();
        move || -> Result<T, AppError> {
            let mut conn = store.conn()?;
            f(&mut conn)
        }
    };
    Ok(if store.is_sqlite() { run()? } else { blocking(run).await?? })
}

/// `web::block` carrying the request's id, so that what the closure logs names the request.
pub(crate) async fn blocking<T, F>(f: F) -> Result<T, actix_web::error::BlockingError>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    web::block(crate::telemetry::carry(f)).await
}

/// A resource whose unmatched methods answer 405 in the contract's error shape.
pub(crate) fn resource(path: &str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(|req: HttpRequest| async move {
        Err::<actix_web::HttpResponse, _>(ApiError::new(
            ErrorCode::MethodNotAllowed,
            format!("{} is not allowed on {}", req.method(), req.path()),
        ))
    }))
}

/// Whether a path is the API's (JSON errors) rather than a page's (HTML errors).
fn is_api(path: &str) -> bool {
    path.starts_with("/v1/") || path == "/v1" || path == "/health"
}

async fn not_found(req: HttpRequest) -> Result<actix_web::HttpResponse, actix_web::Error> {
    if is_api(req.path()) {
        Err(ApiError::not_found(format!("there is no resource at {}", req.path())).into())
    } else {
        // The session, if any, is looked up so the 404 page shows the person's navigation.
        use actix_web::FromRequest;
        let signed = crate::pages::Signed::from_request(&req, &mut actix_web::dev::Payload::None).await.ok();
        Err(crate::pages::not_found(signed).await.err().unwrap_or_else(|| crate::pages::PageError::not_found("")).into())
    }
}

/// Poll for snapshots imported by another process or instance, until the server is gone.
fn watch_registers(
    registers: Weak<Registers>,
    store: Store,
    every: std::time::Duration,
    sessions: (std::time::Duration, std::time::Duration),
) {
    let mut round = 0u64;
    let spawned = std::thread::Builder::new().name("register-watch".into()).spawn(move || loop {
        std::thread::sleep(every);
        round += 1;
        // Ended page sessions and old failed sign-ins go, about once a minute.
        if round % 60 == 1 {
            let swept = store
                .conn()
                .map_err(crate::app::AppError::from)
                .and_then(|mut c| crate::app::users::expire(&mut c, sessions.0, sessions.1));
            if let Err(e) = swept {
                tracing::warn!(error = %e, "could not delete ended sessions");
            }
        }
        let Some(registers) = registers.upgrade() else { return };
        if let Err(e) = registers.refresh(&store) {
            tracing::warn!(error = %format!("{e:#}"), "could not refresh the register snapshots; the ones loaded stay in force");
        }
        // Scrub results past their retention go (their summaries stay).
        match store
            .conn()
            .map_err(|e| format!("{e:#}"))
            .and_then(|mut c| crate::store::scrubs::expire(&mut c, crate::domain::time::now_utc()).map_err(|e| e.to_string()))
        {
            Ok(0) => {}
            Ok(n) => tracing::info!(chunks = n, "expired scrub results deleted"),
            Err(e) => tracing::warn!(error = %e, "could not delete expired scrub results"),
        }
    });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "could not start the register watcher: new snapshots need a restart");
    }
}

/// HTTP workers when none are configured: half the cores, at least one.
///
/// The workers only read requests, authenticate and answer; the heavy work (scrubs, batch checks,
/// imports) runs on a pool over every core. A worker per core competes with that pool, and with
/// whatever else runs on the machine (PostgreSQL, a dialler's load), and a worker that loses its
/// core stalls every connection it holds for a scheduler time slice. On the 2-core benchmark
/// machine one worker answers `GET /v1/check` as fast as two (about 60,000 a second, more than
/// wrk can ask on one thread) with half the p99 (BENCHMARKS.md).
pub fn default_workers(cores: usize) -> usize {
    (cores / 2).max(1)
}

/// How long an idle kept-alive connection stays open.
const KEEP_ALIVE: std::time::Duration = std::time::Duration::from_secs(5);

/// The application one worker serves: every route, and what they share.
fn application(
    state: web::Data<AppState>,
    json_limit: usize,
) -> App<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        // Errors actix answers itself (a path it cannot extract, …) in the contract's shape on
        // the API, and as a page elsewhere.
        .wrap(actix_web::middleware::ErrorHandlers::new().default_handler(|res| {
            if is_api(res.request().path()) {
                error::in_contract_shape(res)
            } else {
                crate::pages::in_page_shape(res)
            }
        }))
        .wrap(actix_web::middleware::from_fn(request_id::middleware))
        .app_data(state)
        // Made here, so once per worker: the checks a worker holds share one statements read.
        .app_data(web::Data::new(batch_reads::Batcher::default()))
        .app_data(web::JsonConfig::default().limit(json_limit).error_handler(move |err, _req| ApiError::from_json(&err, json_limit).into()))
        .app_data(web::QueryConfig::default().error_handler(|err, _req| ApiError::from_query(&err).into()))
        // The stand-in requests for heads the wire refused.
        .route(wire::REFUSED_API, web::get().to(wire::refused))
        .route(wire::REFUSED_PAGE, web::get().to(wire::refused))
        .configure(health::config)
        .configure(preferences::config)
        .configure(check::config)
        .configure(registers::config)
        .configure(outbox::config)
        .configure(scrubs::config)
        .configure(crate::pages::config)
        .default_service(web::to(not_found))
}

/// A server bound to its listener (port 0 allowed), ready to be awaited.
pub struct Bound {
    pub addr: SocketAddr,
    pub server: Server,
}

/// Bind the listener and build the server; the caller runs it (`bound.server.await`).
pub fn bind(settings: Settings, store: Store) -> anyhow::Result<Bound> {
    let listener = TcpListener::bind(&settings.bind).with_context(|| format!("cannot listen on {}", settings.bind))?;
    let addr = listener.local_addr()?;
    let workers =
        if settings.workers == 0 { default_workers(std::thread::available_parallelism().map_or(2, |n| n.get())) } else { settings.workers };
    let json_limit = settings.max_json_bytes;
    let (uploads, keys, poll) = (upload::Uploads::new(&settings), KeyCache::new(settings.key_cache), settings.register_poll);
    // A mail setting that cannot work stops the start here, naming it.
    let mailer = crate::notify::check(&settings.mail)?;
    let mut app = crate::app::App::open(store, settings)?;
    if app.settings.public_url.is_none() {
        // Links name the address actually listened on (the bind may have asked for port 0).
        app.set_public_url(format!("http://{addr}"));
    }
    match mailer {
        None => tracing::info!("SUPPRESS_SMTP_URL is unset: no email will be sent (no import reports, alarms or confirmations)"),
        Some(mailer) => {
            if app.settings.mail.report_to.is_empty() {
                tracing::warn!("SUPPRESS_REPORT_TO is unset: no import reports or staleness alarms will be sent");
            }
            if app.settings.mail.confirm_opt_outs && app.settings.public_url.is_none() {
                tracing::warn!(public_url = %app.public_url, "SUPPRESS_PUBLIC_URL is unset: the unsubscribe links in opt-out confirmations point at the address listened on, which customers may not reach");
            }
            tracing::info!(relay = %mailer.relay, confirm_opt_outs = app.settings.mail.confirm_opt_outs, "email on");
            let senders = crate::app::outbox::Senders::new(app.store.clone(), app.writer.clone());
            crate::notify::worker::start(
                senders,
                app.store.clone(),
                Arc::new(mailer),
                app.settings.mail.clone(),
                Arc::downgrade(&app.mail),
            );
        }
    }
    tracing::info!(keys = app.in_house.keys_in_force(), "in-house statements in force loaded");
    watch_registers(Arc::downgrade(&app.registers), app.store.clone(), poll, (app.settings.session_idle, app.settings.session_max));
    let timing = wire::Timing::new(app.settings.upload_idle_timeout);
    let state = web::Data::new(AppState { app, keys, uploads });
    // What actix-web's `HttpServer` assembles, with one part more: each connection's bytes pass
    // through the wire, which refuses a head actix would refuse (in the contract's shape) and ends
    // a body that stalls (`wire`).
    let builder = actix_server::Server::build();
    let stopping = builder.graceful_shutdown_signal();
    let server = builder
        .workers(workers)
        .listen("suppress", listener, move || {
            let stopping = stopping.clone();
            let app = application(state.clone(), json_limit);
            let accept = actix_service::fn_service(move |io: TcpStream| {
                let peer = io.peer_addr().ok();
                std::future::ready(Ok::<_, actix_http::error::DispatchError>((wire::Wire::new(io, timing), peer)))
            });
            let http = actix_http::HttpService::build()
                // When the server stops, idle kept-alive connections close at once (as actix-web's
                // `HttpServer` does it).
                .graceful_shutdown_signal(move || {
                    let stopping = stopping.clone();
                    async move { stopping.notified().await }
                })
                // An idle kept-alive connection is closed after this. A head's own time is the
                // wire's (`wire::HEAD_TIMEOUT`); actix's clock, a little longer, only backs it.
                .keep_alive(KEEP_ALIVE)
                .client_request_timeout(wire::HEAD_TIMEOUT + std::time::Duration::from_secs(2))
                // How long actix waits for a connection's shutdown (the wire's linger,
                // `wire::LINGER`, fits within it), and reads on itself after an answer that left
                // a body unread without closing.
                .client_disconnect_timeout(wire::LINGER + std::time::Duration::from_secs(1))
                .local_addr(addr)
                .on_connect_ext(|io: &wire::Wire<TcpStream>, data: &mut actix_http::Extensions| {
                    data.insert(io.conn());
                })
                // The service reads neither the host nor the address an `AppConfig` holds (links
                // are made from SUPPRESS_PUBLIC_URL, peers come from the connection), and actix
                // gives no public way to set them.
                .h1(actix_service::map_config(app, |_| AppConfig::default()));
            actix_service::ServiceFactoryExt::and_then(accept, http)
        })?
        .run();
    Ok(Bound { addr, server })
}
