//! `GET /api/v1/me`: who the caller's token says they are, so a client
//! (the console) shows a person only what their role may do.

use trizone_api::auth::Me;
use trizone_http::auth::Experimenters;
use trizone_http::{Authorized, Json};

/// The caller's role and principal.
#[utoipa::path(get, path = "/api/v1/me", tag = "experiments",
    responses((status = 200, body = Me)),
    security(("bearer" = [])))]
pub async fn me(auth: Authorized<Experimenters>) -> Json<Me> {
    let caller = auth.caller();
    Json(Me {
        role: caller.role,
        principal: caller.principal.clone(),
    })
}
