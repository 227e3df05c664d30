//! Who is calling, in this order: the internal gateway JWT, then API Gateway
//! JWT-authorizer claims, then (dev only) legacy headers.
//! The tenant comes only from here, never from a request body. Tokens are
//! never logged.

use axum::http::request::Parts;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, errors::ErrorKind};
use lambda_http::request::RequestContext;
use secrecy::ExposeSecret;
use serde::Deserialize;
use upload_core::TenantId;
use upload_core::config::JwtSettings;
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};

use crate::error::ApiError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub tenant: TenantId,
    pub user_id: String,
    /// `jwt`, `authorizer` or `legacy-header`.
    pub source: &'static str,
    /// The optional `pg_user_id` claim (the legacy headers carry none).
    pub pg_user_id: Option<String>,
    /// The optional `user_name` claim (the legacy headers carry none).
    pub user_name: Option<String>,
}

#[derive(Deserialize)]
struct InternalClaims {
    tenant_id: Option<String>,
    user_id: Option<String>,
    pg_user_id: Option<String>,
    user_name: Option<String>,
}

/// Leeway on `exp` (and `nbf`), in seconds.
pub const LEEWAY_SECS: u64 = 30;

pub struct Authenticator {
    jwt: Option<(DecodingKey, Validation)>,
    legacy_headers: bool,
}

impl Authenticator {
    pub fn new(jwt: Option<&JwtSettings>, legacy_headers: bool) -> Self {
        let jwt = jwt.map(|s| {
            let mut v = Validation::new(Algorithm::HS256);
            v.set_issuer(&[&s.issuer]);
            v.set_audience(&[&s.audience]);
            v.set_required_spec_claims(&["exp", "iss", "aud"]);
            v.leeway = LEEWAY_SECS;
            v.validate_exp = true;
            v.validate_nbf = true;
            (
                DecodingKey::from_secret(s.secret.expose_secret().as_bytes()),
                v,
            )
        });
        Self {
            jwt,
            legacy_headers,
        }
    }

    pub fn authenticate(&self, parts: &Parts) -> Result<Identity, ApiError> {
        let bearer = bearer_token(parts)?;
        let claims = authorizer_claims(parts);

        let mut jwt_failure = None;
        if let Some(token) = bearer {
            match &self.jwt {
                Some((key, validation)) => match verify(token, key, validation) {
                    Ok(id) => return Ok(id),
                    Err(e) => jwt_failure = Some(e),
                },
                None if claims.is_none() => {
                    jwt_failure = Some(ApiError::unauthorized(
                        "Bearer tokens are not accepted by this deployment (no INTERNAL_JWT_SECRET).",
                    ))
                }
                None => {}
            }
        }
        if let Some(claims) = claims {
            return identity_from_claims(claims);
        }
        if let Some(e) = jwt_failure {
            return Err(e);
        }
        if self.legacy_headers {
            return legacy(parts);
        }
        if parts.headers.contains_key("x-tenant-id") {
            return Err(ApiError::unauthorized(
                "Header authentication (X-Tenant-ID) is disabled; send a bearer token.",
            ));
        }
        Err(ApiError::unauthorized(
            "Authentication required: send Authorization: Bearer <token>.",
        ))
    }
}

fn bearer_token(parts: &Parts) -> Result<Option<&str>, ApiError> {
    let Some(value) = parts.headers.get(axum::http::header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| ApiError::unauthorized("The Authorization header is not valid text."))?;
    let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(ApiError::unauthorized(
            "The Authorization header must be `Bearer <token>`.",
        ));
    }
    Ok(Some(token.trim()))
}

fn verify(token: &str, key: &DecodingKey, validation: &Validation) -> Result<Identity, ApiError> {
    let data = jsonwebtoken::decode::<InternalClaims>(token, key, validation).map_err(|e| {
        let why = match e.kind() {
            ErrorKind::ExpiredSignature => "the token has expired",
            ErrorKind::InvalidAudience => "the token is for another audience",
            ErrorKind::InvalidIssuer => "the token is from another issuer",
            ErrorKind::InvalidSignature => "the token's signature is invalid",
            ErrorKind::ImmatureSignature => "the token is not valid yet",
            ErrorKind::InvalidAlgorithm => "the token uses an unsupported algorithm",
            ErrorKind::MissingRequiredClaim(_) => "the token lacks a required claim",
            _ => "the token is malformed",
        };
        ApiError::unauthorized(format!("Invalid bearer token: {why}."))
    })?;
    let tenant = data
        .claims
        .tenant_id
        .as_deref()
        .and_then(|t| TenantId::parse(t).ok())
        .ok_or_else(|| {
            ApiError::unauthorized("Invalid bearer token: tenant_id must be a UUID claim.")
        })?;
    let user_id = data
        .claims
        .user_id
        .filter(|u| !u.trim().is_empty())
        .ok_or_else(|| ApiError::unauthorized("Invalid bearer token: user_id claim is missing."))?;
    Ok(Identity {
        tenant,
        user_id,
        source: "jwt",
        pg_user_id: data.claims.pg_user_id,
        user_name: data.claims.user_name,
    })
}

fn authorizer_claims(parts: &Parts) -> Option<&std::collections::HashMap<String, String>> {
    match parts.extensions.get::<RequestContext>()? {
        RequestContext::ApiGatewayV2(ctx) => ctx
            .authorizer
            .as_ref()?
            .jwt
            .as_ref()
            .map(|j| &j.claims)
            .filter(|c| !c.is_empty()),
        _ => None,
    }
}

fn identity_from_claims(
    claims: &std::collections::HashMap<String, String>,
) -> Result<Identity, ApiError> {
    let tenant = claims
        .get("tenant_id")
        .or_else(|| claims.get("custom:tenant_id"))
        .and_then(|t| TenantId::parse(t).ok())
        .ok_or_else(|| {
            ApiError::unauthorized("The authorizer's claims carry no valid tenant_id.")
        })?;
    let user_id = claims
        .get("user_id")
        .or_else(|| claims.get("sub"))
        .filter(|u| !u.trim().is_empty())
        .cloned()
        .ok_or_else(|| {
            ApiError::unauthorized("The authorizer's claims carry no sub or user_id.")
        })?;
    Ok(Identity {
        tenant,
        user_id,
        source: "authorizer",
        pg_user_id: claims.get("pg_user_id").cloned(),
        user_name: claims.get("user_name").cloned(),
    })
}

fn legacy(parts: &Parts) -> Result<Identity, ApiError> {
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    let tenant = header("x-tenant-id").ok_or_else(|| {
        ApiError::unauthorized(
            "Authentication required: send X-Tenant-ID and X-User-ID (dev) or a bearer token.",
        )
    })?;
    let tenant = TenantId::parse(tenant)
        .map_err(|_| ApiError::unauthorized("X-Tenant-ID must be a UUID."))?;
    let user_id = header("x-user-id")
        .ok_or_else(|| ApiError::unauthorized("X-User-ID is required with X-Tenant-ID."))?;
    Ok(Identity {
        tenant,
        user_id: user_id.to_owned(),
        source: "legacy-header",
        pg_user_id: None,
        user_name: None,
    })
}

/// The ways to authenticate, for the OpenAPI document: the schemes by name,
/// and the requirements (any one of them suffices).
pub(crate) fn security_schemes() -> (
    Vec<(&'static str, SecurityScheme)>,
    Vec<SecurityRequirement>,
) {
    let bearer = HttpBuilder::new()
        .scheme(HttpAuthScheme::Bearer)
        .bearer_format("JWT")
        .description(Some(
            "The internal gateway's HS256 JWT (claims tenant_id, user_id, optional pg_user_id \
             and user_name; iss, aud and exp checked, with 30 s leeway on exp), or, behind API Gateway's JWT authorizer, the claims \
             it verified (tenant_id or custom:tenant_id; user_id or sub).",
        ))
        .build();
    let legacy = |header: &str, what: &str| {
        SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
            header,
            &format!(
                "Development only (ALLOW_LEGACY_HEADER_AUTH=true), with the other header: {what}."
            ),
        )))
    };
    let schemes = vec![
        ("internalJwt", SecurityScheme::Http(bearer)),
        ("legacyTenant", legacy("X-Tenant-ID", "the tenant's UUID")),
        ("legacyUser", legacy("X-User-ID", "the user id")),
    ];
    let none: [&str; 0] = [];
    let requirements = vec![
        SecurityRequirement::new("internalJwt", none),
        SecurityRequirement::new("legacyTenant", none).add("legacyUser", none),
    ];
    (schemes, requirements)
}
