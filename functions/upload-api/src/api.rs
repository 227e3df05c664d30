//! The router and the OpenAPI document, from one list of handlers: each
//! handler's `#[utoipa::path]` gives the router its method and path, and the
//! document its description.

use axum::handler::Handler;
use axum::http::StatusCode;
use axum::routing::MethodRouter;
use axum::{Router, middleware};
use utoipa::openapi::OpenApi as Document;
use utoipa::{Modify, OpenApi, Path};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::{PathItemExt, routes};

use crate::error::{self, ApiError, Code, ProblemBody};
use crate::log::log_request;
use crate::metrics::record_metrics;
use crate::routes::{complete, init, jobs, sign, status};
use crate::{SharedState, auth};

/// What the document says besides the routes.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Presigned-upload job service",
        version = "1.0.0",
        description = "Browser uploads straight to S3 with a presigned PUT URL; each upload is a \
            job in Postgres. Paths are those of the Python service this replaces. Identity: \
            `Authorization: Bearer <internal HS256 JWT>` (claims tenant_id, user_id), or API \
            Gateway JWT-authorizer claims (tenant_id, sub), or (dev only) X-Tenant-ID / X-User-ID \
            headers. The tenant never comes from a body. Every error is \
            application/problem+json.",
    ),
    servers((
        url = "https://{apiId}.execute-api.{region}.amazonaws.com",
        variables(("apiId" = (default = "example")), ("region" = (default = "us-east-1")))
    )),
    components(schemas(ProblemBody)),
    modifiers(&Components),
)]
struct ApiDoc;

/// Security schemes and requirements, and the error responses.
struct Components;

impl Modify for Components {
    fn modify(&self, doc: &mut Document) {
        let (schemes, requirements) = auth::security_schemes();
        let components = doc.components.get_or_insert_with(Default::default);
        for (name, scheme) in schemes {
            components.add_security_scheme(name, scheme);
        }
        for (name, response) in error::problem_responses() {
            components
                .responses
                .insert(name.to_owned(), response.into());
        }
        doc.security = Some(requirements);
    }
}

/// Adds the route `P` (the type a handler's `#[utoipa::path]` generates)
/// describes: its methods at its path. Its description is not built.
fn route<P, H, T>(router: Router<SharedState>, handler: H) -> Router<SharedState>
where
    P: Path,
    H: Handler<T, SharedState>,
    T: 'static,
{
    let methods = P::methods().iter().fold(MethodRouter::new(), |m, method| {
        m.on(method.to_method_filter(), handler.clone())
    });
    router.route(&P::path(), methods)
}

/// Every route, once: the router and the document are both built from this
/// list, from each handler's `#[utoipa::path]`, so they cannot drift.
macro_rules! api_routes {
    ($($module:ident :: $handler:ident),+ $(,)?) => {
        /// The routes as served. Building their descriptions as well would
        /// cost the Lambda's cold start about 0.2 ms; the document does it.
        fn routes() -> Router<SharedState> {
            let router = Router::new();
            $(
                let router = utoipa_axum::paste! {
                    route::<$module::[<__path_ $handler>], _, _>(router, $module::$handler)
                };
            )+
            router
        }

        /// The routes with their descriptions.
        fn documented_routes() -> OpenApiRouter<SharedState> {
            OpenApiRouter::with_openapi(ApiDoc::openapi())
                $(.routes(routes!($module::$handler)))+
        }
    };
}

api_routes!(
    init::init,
    status::status,
    jobs::list,
    complete::complete,
    sign::sign
);

/// The API: the routes, problem+json for unknown routes and methods, one
/// log line and the metrics lines (when the state's metrics are on) per
/// request.
pub fn router(state: SharedState) -> Router {
    routes()
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn(log_request))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            record_metrics,
        ))
        .with_state(state)
}

/// The OpenAPI document (`openapi.yaml` is this, rendered).
pub fn openapi() -> Document {
    documented_routes().into_openapi()
}

async fn not_found() -> ApiError {
    ApiError::not_found("No such route.")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        Code::MethodNotAllowed,
        "This route does not accept that method.",
    )
}
