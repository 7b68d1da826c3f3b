//! The simulator's shared state: profiles, scripts, dataset, seed, counters.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Instant;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::dataset::Dataset;
use crate::profile::{Behaviour, Profile};

/// Per model: requests seen, by behaviour, and when (ms since start), so a
/// test can see how many attempts a client made and how far apart.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ModelStats {
    pub requests: u64,
    pub behaviours: HashMap<Behaviour, u64>,
    pub request_times_ms: Vec<f64>,
}

#[derive(Debug)]
pub struct SimState {
    seed: u64,
    started: Instant,
    default_profile: RwLock<Profile>,
    profiles: RwLock<HashMap<String, Profile>>,
    /// Behaviours the next requests to a model take, before its profile applies.
    scripts: Mutex<HashMap<String, VecDeque<Behaviour>>>,
    dataset: RwLock<Arc<Dataset>>,
    /// How many times each (model, prompt) has been asked: the nth ask of a
    /// prompt draws the same numbers in every run with the same seed.
    asks: Mutex<HashMap<[u8; 32], u64>>,
    stats: Mutex<HashMap<String, ModelStats>>,
}

/// What one request will do, decided up front.
#[derive(Debug)]
pub struct Decision {
    pub behaviour: Behaviour,
    pub profile: Profile,
    pub rng: ChaCha8Rng,
}

impl SimState {
    pub fn new(seed: u64, dataset: Dataset) -> Self {
        Self {
            seed,
            started: Instant::now(),
            default_profile: RwLock::new(Profile::default()),
            profiles: RwLock::new(HashMap::new()),
            scripts: Mutex::new(HashMap::new()),
            dataset: RwLock::new(Arc::new(dataset)),
            asks: Mutex::new(HashMap::new()),
            stats: Mutex::new(HashMap::new()),
        }
    }

    pub fn profile(&self, model: &str) -> Profile {
        let profiles = self.profiles.read().unwrap_or_else(PoisonError::into_inner);
        profiles.get(model).cloned().unwrap_or_else(|| {
            self.default_profile
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .clone()
        })
    }

    /// `*` sets the profile of every model without one of its own.
    pub fn set_profile(&self, model: &str, profile: Profile) {
        if model == "*" {
            *self
                .default_profile
                .write()
                .unwrap_or_else(PoisonError::into_inner) = profile;
        } else {
            self.profiles
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(model.to_owned(), profile);
        }
    }

    pub fn remove_profile(&self, model: &str) {
        self.profiles
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(model);
    }

    pub fn profiles(&self) -> (Profile, HashMap<String, Profile>) {
        let default = self
            .default_profile
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        (
            default,
            self.profiles
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
        )
    }

    pub fn set_script(&self, model: &str, script: Vec<Behaviour>) {
        self.scripts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(model.to_owned(), script.into());
    }

    pub fn set_dataset(&self, dataset: Dataset) {
        *self.dataset.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(dataset);
    }

    pub fn dataset(&self) -> Arc<Dataset> {
        self.dataset
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub fn stats(&self) -> HashMap<String, ModelStats> {
        self.stats
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Forgets statistics and ask counts (profiles and dataset stay).
    pub fn reset(&self) {
        self.stats
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        self.asks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        self.scripts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    /// Decides what a request to `model` with `prompt` does.
    pub fn decide(&self, model: &str, prompt: &str) -> Decision {
        let profile = self.profile(model);
        let key: [u8; 32] = Sha256::new()
            .chain_update(model)
            .chain_update([0])
            .chain_update(prompt)
            .finalize()
            .into();
        let nth = {
            let mut asks = self.asks.lock().unwrap_or_else(PoisonError::into_inner);
            let n = asks.entry(key).or_insert(0);
            *n += 1;
            *n
        };
        let seed: [u8; 32] = Sha256::new()
            .chain_update(self.seed.to_le_bytes())
            .chain_update(key)
            .chain_update(nth.to_le_bytes())
            .finalize()
            .into();
        let mut rng = ChaCha8Rng::from_seed(seed);
        let scripted = self
            .scripts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get_mut(model)
            .and_then(VecDeque::pop_front);
        let behaviour =
            scripted.unwrap_or_else(|| profile.errors.pick(rand::RngExt::random::<f64>(&mut rng)));
        let mut stats = self.stats.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = stats.entry(model.to_owned()).or_default();
        entry.requests += 1;
        *entry.behaviours.entry(behaviour).or_insert(0) += 1;
        entry
            .request_times_ms
            .push(self.started.elapsed().as_secs_f64() * 1000.0);
        Decision {
            behaviour,
            profile,
            rng,
        }
    }
}
