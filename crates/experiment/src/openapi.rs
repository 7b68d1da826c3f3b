//! The V1 OpenAPI document.

use trizone_http::openapi::BearerAuth;
use utoipa::OpenApi;

use crate::{
    compare, datasets, evidence_path, experiments, me, providers, reevaluations, register, runs,
};

#[derive(OpenApi)]
#[openapi(
    info(title = "trizone V1 experimentation", description = "Register configurations and evaluate them on labelled datasets."),
    paths(
        register::register,
        experiments::list,
        experiments::get,
        experiments::withdraw,
        experiments::feedback,
        evidence_path::path,
        compare::compare,
        experiments::readiness,
        providers::list,
        me::me,
        reevaluations::create,
        datasets::upload,
        datasets::list,
        datasets::get,
        runs::start,
        runs::list,
        runs::get,
        runs::events,
        runs::cases::list,
        runs::cases::get,
        runs::cancel,
    ),
    components(schemas(trizone_http::error::ErrorBody)),
    modifiers(&BearerAuth),
    tags(
        (name = "experiments", description = "Configurations under test"),
        (name = "datasets", description = "Labelled cases to evaluate on"),
        (name = "runs", description = "Evaluations of an experiment on a dataset")
    )
)]
#[derive(Debug)]
pub struct ApiDoc;
