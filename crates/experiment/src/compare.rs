//! `GET /api/v1/experiments/{a}/compare/{b}`: two configurations on the
//! cases both were evaluated on, for "what does my candidate get wrong
//! that the serving one gets right?".

use axum::extract::State;
use trizone_api::experiments::{Agreement, ComparedSide, Comparison, DifferingCase, Quantiles};
use trizone_http::auth::Experimenters;
use trizone_http::{ApiError, Authorized, Json, Path};
use trizone_store::evidence::{self, SharedCase};
use trizone_store::experiments::{self, Experiment};
use uuid::Uuid;

use crate::state::AppState;

#[utoipa::path(get, path = "/api/v1/experiments/{a}/compare/{b}", tag = "experiments",
    params(("a" = Uuid, Path, description = "One experiment"), ("b" = Uuid, Path, description = "The other")),
    responses((status = 200, body = Comparison), (status = 404, body = trizone_http::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn compare(
    State(state): State<AppState>,
    _: Authorized<Experimenters>,
    Path((a, b)): Path<(Uuid, Uuid)>,
) -> Result<Json<Comparison>, ApiError> {
    let (a, b) = (
        experiments::get(&state.db, a).await?,
        experiments::get(&state.db, b).await?,
    );
    let shared =
        evidence::shared(&state.db, a.fingerprint.as_str(), b.fingerprint.as_str()).await?;
    Ok(Json(comparison(&a, &b, &shared)))
}

fn comparison(a: &Experiment, b: &Experiment, shared: &[SharedCase]) -> Comparison {
    let mut agreement = Agreement::default();
    let mut differing = Vec::new();
    let mut differing_total = 0;
    for case in shared {
        match (case.a_correct, case.b_correct) {
            (true, true) => agreement.both_right += 1,
            (true, false) => agreement.only_a_right += 1,
            (false, true) => agreement.only_b_right += 1,
            (false, false) => agreement.both_wrong += 1,
        }
        if case.a_correct != case.b_correct {
            differing_total += 1;
            if differing.len() < Comparison::MAX_DIFFERING {
                differing.push(DifferingCase {
                    a_run: case.a_run,
                    a_case_id: case.a_case_id.clone(),
                    a_correct: case.a_correct,
                    b_run: case.b_run,
                    b_case_id: case.b_case_id.clone(),
                    b_correct: case.b_correct,
                });
            }
        }
    }
    let side = |experiment: &Experiment, pick: fn(&SharedCase) -> (bool, bool, f64, f64)| {
        let mut latencies = Vec::new();
        let (mut correct, mut errors, mut cost) = (0, 0, 0.0);
        for case in shared {
            let (right, error, latency, case_cost) = pick(case);
            correct += u64::from(right);
            errors += u64::from(error);
            cost += case_cost;
            if !error {
                latencies.push(latency);
            }
        }
        ComparedSide {
            experiment_id: experiment.id,
            name: experiment.name.clone(),
            fingerprint: experiment.fingerprint.to_string(),
            correct,
            errors,
            latency_ms: quantiles(latencies),
            cost_usd: cost,
        }
    };
    Comparison {
        a: side(a, |c| {
            (c.a_correct, c.a_error, c.a_latency_ms, c.a_cost_usd)
        }),
        b: side(b, |c| {
            (c.b_correct, c.b_error, c.b_latency_ms, c.b_cost_usd)
        }),
        shared_cases: shared.len() as u64,
        agreement,
        differing,
        differing_total,
    }
}

/// Nearest-rank quantiles of `values`.
fn quantiles(mut values: Vec<f64>) -> Quantiles {
    values.sort_by(f64::total_cmp);
    let at = |q: f64| {
        (!values.is_empty()).then(|| {
            let rank = (q * values.len() as f64).ceil() as usize;
            values[rank.clamp(1, values.len()) - 1]
        })
    };
    Quantiles {
        p50: at(0.50),
        p95: at(0.95),
        p99: at(0.99),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_nearest_rank() {
        let q = quantiles((1..=100).map(f64::from).collect());
        assert_eq!((q.p50, q.p95, q.p99), (Some(50.0), Some(95.0), Some(99.0)));
        assert_eq!(quantiles(Vec::new()).p50, None);
    }
}
