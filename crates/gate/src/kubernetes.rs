//! The gate's hand on the cluster, when it runs in one (or is given a
//! kubeconfig): before enabling a deployment it checks V2's Deployment has
//! its minimum available replicas; after each transition it applies the
//! ConfigMap `trizone-active-configuration` (what V2 serves, for operators
//! and tooling) and records an Event on V2's Deployment. PostgreSQL stays
//! the source of truth: a failure here is logged, never undoes a move.

use std::collections::BTreeMap;

use chrono::Utc;
use k8s_openapi::api::apps::v1::Deployment as KubeDeployment;
use k8s_openapi::api::core::v1::{ConfigMap, Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, Time};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use trizone_store::production::Deployment;

use crate::error::GateError;

pub const NAMESPACE: &str = "platform-v2-stable";
pub const V2_DEPLOYMENT: &str = "trizone-stable";
pub const CONFIG_MAP: &str = "trizone-active-configuration";
const FIELD_MANAGER: &str = "trizone-gate";

#[derive(Clone)]
pub struct Cluster {
    client: kube::Client,
    namespace: String,
    deployment: String,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("namespace", &self.namespace)
            .field("deployment", &self.deployment)
            .finish_non_exhaustive()
    }
}

/// A transition to tell the cluster about.
#[derive(Debug, Clone, Copy)]
pub struct Transition<'a> {
    /// `Promoted`, `RolledBack`.
    pub reason: &'a str,
    pub message: &'a str,
    pub warning: bool,
}

fn error(message: impl std::fmt::Display) -> GateError {
    GateError::Refused {
        code: "kubernetes",
        message: format!("Kubernetes: {message}"),
    }
}

impl Cluster {
    pub fn new(client: kube::Client, namespace: &str, deployment: &str) -> Self {
        Self {
            client,
            namespace: namespace.to_owned(),
            deployment: deployment.to_owned(),
        }
    }

    /// The in-cluster service account, or `KUBECONFIG`.
    pub async fn from_environment() -> Result<Self, GateError> {
        let client = kube::Client::try_default().await.map_err(error)?;
        Ok(Self::new(client, NAMESPACE, V2_DEPLOYMENT))
    }

    /// V2's Deployment has at least `replicas - maxUnavailable` available.
    pub async fn check_available(&self) -> Result<(), GateError> {
        let api: Api<KubeDeployment> = Api::namespaced(self.client.clone(), &self.namespace);
        let deployment = api.get(&self.deployment).await.map_err(error)?;
        let wanted = deployment.spec.replicas.unwrap_or(1);
        let max_unavailable = deployment
            .spec
            .strategy
            .as_ref()
            .and_then(|s| s.rolling_update.as_ref())
            .and_then(|r| r.max_unavailable.as_ref())
            .map_or(0, |m| match m {
                IntOrString::Int(n) => *n,
                // Kubernetes rounds a percentage of unavailable pods down.
                IntOrString::String(p) => p
                    .trim_end_matches('%')
                    .parse::<i32>()
                    .map_or(0, |pct| wanted * pct / 100),
            });
        let minimum = (wanted - max_unavailable).max(1);
        let available = deployment
            .status
            .as_ref()
            .and_then(|s| s.available_replicas)
            .unwrap_or(0);
        if available < minimum {
            return Err(error(format!(
                "{}/{} has {available} available replicas, fewer than its minimum {minimum}",
                self.namespace, self.deployment
            )));
        }
        Ok(())
    }

    /// Applies the ConfigMap describing `active` and records the Event.
    pub async fn publish(
        &self,
        active: &Deployment,
        transition: Transition<'_>,
    ) -> Result<(), GateError> {
        let configuration = serde_json::to_string(&active.configuration).map_err(error)?;
        let data = BTreeMap::from([
            ("deployment_id".to_owned(), active.id.to_string()),
            ("version".to_owned(), active.version.to_string()),
            ("fingerprint".to_owned(), active.fingerprint.clone()),
            ("configuration.json".to_owned(), configuration),
            ("changed_at".to_owned(), Utc::now().to_rfc3339()),
        ]);
        let config_map = ConfigMap {
            metadata: ObjectMeta {
                name: Some(CONFIG_MAP.to_owned()),
                namespace: Some(self.namespace.clone()),
                labels: Some(BTreeMap::from([(
                    "app.kubernetes.io/managed-by".to_owned(),
                    FIELD_MANAGER.to_owned(),
                )])),
                ..ObjectMeta::default()
            },
            data: Some(data),
            ..ConfigMap::default()
        };
        let maps: Api<ConfigMap> = Api::namespaced(self.client.clone(), &self.namespace);
        maps.patch(
            CONFIG_MAP,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&config_map),
        )
        .await
        .map_err(error)?;

        let now = k8s_openapi::jiff::Timestamp::now();
        let event = Event {
            metadata: ObjectMeta {
                generate_name: Some(format!("{}.", self.deployment)),
                namespace: Some(self.namespace.clone()),
                ..ObjectMeta::default()
            },
            involved_object: ObjectReference {
                api_version: Some("apps/v1".into()),
                kind: Some("Deployment".into()),
                name: Some(self.deployment.clone()),
                namespace: Some(self.namespace.clone()),
                ..ObjectReference::default()
            },
            reason: Some(transition.reason.to_owned()),
            message: Some(transition.message.to_owned()),
            type_: Some(
                if transition.warning {
                    "Warning"
                } else {
                    "Normal"
                }
                .into(),
            ),
            source: Some(EventSource {
                component: Some(FIELD_MANAGER.into()),
                ..EventSource::default()
            }),
            first_timestamp: Some(Time(now)),
            last_timestamp: Some(Time(now)),
            event_time: Some(MicroTime(now)),
            reporting_component: Some(FIELD_MANAGER.into()),
            reporting_instance: Some(FIELD_MANAGER.into()),
            action: Some(transition.reason.to_owned()),
            count: Some(1),
            ..Event::default()
        };
        let events: Api<Event> = Api::namespaced(self.client.clone(), &self.namespace);
        events
            .create(&PostParams::default(), &event)
            .await
            .map_err(error)?;
        Ok(())
    }
}
