//! Credits: a balance per user, reserved before every model call and settled after it.
//!
//! A reservation is one conditional update (`balance >= cost`), never a read then a write, so no
//! amount of concurrency spends credits a user does not have. Every movement is written to the
//! ledger in the same transaction as the balance change. The balance lives in the host's own
//! tables (`builtin`, the embedded default) or in the frontend's (`supabase`, the one its users
//! see and buy).

mod settings;
mod store;
mod supabase;

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub(crate) use self::settings::{CreditSettings, CreditStore};
pub(crate) use self::supabase::SupabaseCredits;
use crate::db::{Database, DbError};
use crate::instances::DeadHost;
pub(crate) use store::{Account, LedgerEntry};

/// Micro-credits per 1,000 tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Price {
    pub prompt: i64,
    pub completion: i64,
}

/// Prices by model name, with a default for models not listed.
#[derive(Debug, Clone)]
pub struct Pricing {
    pub default: Price,
    pub models: BTreeMap<String, Price>,
}

impl Pricing {
    pub(crate) fn price(&self, model: &str) -> Price {
        self.models.get(model).copied().unwrap_or(self.default)
    }

    /// The most answer tokens of `model` that `balance` pays for after a `prompt` of that many
    /// tokens.
    pub(crate) fn answer_tokens_within(&self, model: &str, prompt: u64, balance: i64) -> u64 {
        let p = self.price(model);
        let left = i128::from(balance) * 1000 - i128::from(prompt) * i128::from(p.prompt);
        if left < 0 {
            return 0;
        }
        if p.completion <= 0 {
            return u64::MAX;
        }
        u64::try_from(left / i128::from(p.completion)).unwrap_or(u64::MAX)
    }

    /// What `prompt` and `completion` tokens of `model` cost, rounded up.
    pub(crate) fn cost(&self, model: &str, prompt: u64, completion: u64) -> i64 {
        let p = self.price(model);
        let micro = (prompt as i128 * p.prompt as i128 + completion as i128 * p.completion as i128 + 999) / 1000;
        i64::try_from(micro).unwrap_or(i64::MAX)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CreditError {
    #[error("credits exhausted: this call needs {needed} micro-credits")]
    Insufficient { needed: i64 },
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Credits held for one model call until it is settled.
#[derive(Debug)]
pub struct Reservation {
    pub amount: i64,
    /// Its row in `credit_reservations` (the host's own store), or the id its `deduction` names
    /// (the frontend's).
    id: Option<String>,
}

impl Reservation {
    /// Its row and amount, for a settlement.
    fn held(&self) -> (&str, i64) {
        (self.id.as_deref().unwrap_or_default(), self.amount)
    }
}

#[derive(Clone)]
pub struct Credits {
    /// The host's own database: its `users` rows exist whichever store keeps balances.
    db: Database,
    /// Where balances live when not in `db`.
    supabase: Option<SupabaseCredits>,
    pricing: Arc<Pricing>,
    min_answer_tokens: u64,
    /// Micro-credits charged once per run that ends with an answer, on top of model calls.
    run_price: i64,
    /// This host process, which holds the reservations it takes.
    instance: Arc<str>,
}

/// How a run's flat price is labelled where a model's name would be.
const RUN_PRICE: &str = "run";

/// The fewest answer tokens worth a call when a balance cannot pay for a longer one.
const DEFAULT_MIN_ANSWER_TOKENS: u64 = 256;

impl Credits {
    pub fn new(db: Database, pricing: Pricing) -> Self {
        Self {
            db,
            supabase: None,
            pricing: Arc::new(pricing),
            min_answer_tokens: DEFAULT_MIN_ANSWER_TOKENS,
            run_price: 0,
            instance: Arc::from(crate::instances::UNREGISTERED),
        }
    }

    /// Keeps balances in the frontend's tables rather than the host's own.
    pub(crate) fn in_supabase(mut self, store: SupabaseCredits) -> Self {
        self.supabase = Some(store);
        self
    }

    /// Below `tokens` of answer that a balance still pays for, a call is refused rather than cut.
    pub(crate) fn with_min_answer_tokens(mut self, tokens: u64) -> Self {
        self.min_answer_tokens = tokens;
        self
    }

    pub(crate) fn min_answer_tokens(&self) -> u64 {
        self.min_answer_tokens
    }

    /// Reservations are held by `instance` (this host process, registered with a heartbeat).
    pub(crate) fn held_by(mut self, instance: &str) -> Self {
        self.instance = Arc::from(instance);
        self
    }

    /// Returns the reservations of hosts that stopped without settling them: in the host's own
    /// store, every one whose holder has had no heartbeat since `cutoff`; in the frontend's, those
    /// of the `dead` hosts. The count returned.
    pub(crate) async fn return_orphans(&self, cutoff: i64, dead: &[DeadHost]) -> Result<usize, DbError> {
        match &self.supabase {
            None => store::return_orphans(&self.db, cutoff).await,
            Some(supabase) => {
                let mut returned = 0;
                for host in dead {
                    returned += supabase.return_orphans(host).await?;
                }
                Ok(returned)
            }
        }
    }

    /// Charges `micro` once per run that ends with an answer.
    pub(crate) fn with_run_price(mut self, micro: i64) -> Self {
        self.run_price = micro.max(0);
        self
    }

    /// Holds the run's flat price, if there is one.
    pub(crate) async fn reserve_run(&self, user: &str, run: &str) -> Result<Option<Reservation>, CreditError> {
        if self.run_price == 0 {
            return Ok(None);
        }
        self.reserve(user, run, RUN_PRICE, self.run_price).await.map(Some)
    }

    /// Charges a run's held price if it ended with an answer, else gives it back.
    pub(crate) async fn finish_run(
        &self,
        user: &str,
        run: &str,
        held: Reservation,
        answered: bool,
    ) -> Result<(), DbError> {
        let cost = if answered { held.amount } else { 0 };
        match &self.supabase {
            None => store::settle(&self.db, user, run, RUN_PRICE, held.held(), cost, 0, 0).await,
            Some(supabase) => supabase.settle(user, run, RUN_PRICE, held.held(), cost, 0, 0).await,
        }
    }

    pub(crate) fn pricing(&self) -> &Pricing {
        &self.pricing
    }

    /// Opens the user's account on first sight with `starting` micro-credits; later calls change
    /// nothing.
    pub async fn ensure_account(&self, user: &str, email: Option<&str>, starting: i64) -> Result<(), DbError> {
        match &self.supabase {
            None => store::ensure_user(&self.db, user, email, starting).await,
            Some(supabase) => {
                store::ensure_user(&self.db, user, email, 0).await?;
                supabase.ensure_user(user).await
            }
        }
    }

    pub(crate) async fn balance(&self, user: &str) -> Result<i64, DbError> {
        match &self.supabase {
            None => store::balance(&self.db, user).await,
            Some(supabase) => supabase.balance(user).await,
        }
    }

    /// Takes `amount` from the user's balance if it is there, atomically.
    pub async fn reserve(&self, user: &str, run: &str, model: &str, amount: i64) -> Result<Reservation, CreditError> {
        let id = match &self.supabase {
            None => match store::debit_if_covered(&self.db, user, run, model, amount, &self.instance).await? {
                Some(id) => Some(id),
                None => return Err(CreditError::Insufficient { needed: amount }),
            },
            Some(supabase) => match supabase.debit_if_covered(user, run, model, amount, &self.instance).await? {
                Some(id) => Some(id),
                None => return Err(CreditError::Insufficient { needed: amount }),
            },
        };
        Ok(Reservation { amount, id })
    }

    /// Charges what the call really cost and gives back the rest of its reservation. A call that
    /// cost more than was reserved takes the difference, down to a zero balance at most.
    pub async fn settle(
        &self,
        user: &str,
        run: &str,
        model: &str,
        reservation: Reservation,
        prompt_tokens: u64,
        completion_tokens: u64,
    ) -> Result<i64, DbError> {
        let cost = self.pricing.cost(model, prompt_tokens, completion_tokens);
        let (prompt, completion) = (prompt_tokens as i64, completion_tokens as i64);
        match &self.supabase {
            None => store::settle(&self.db, user, run, model, reservation.held(), cost, prompt, completion).await?,
            Some(supabase) => supabase.settle(user, run, model, reservation.held(), cost, prompt, completion).await?,
        }
        Ok(cost)
    }

    /// Gives a failed call's reservation back.
    pub(crate) async fn release(
        &self,
        user: &str,
        run: &str,
        model: &str,
        reservation: Reservation,
    ) -> Result<(), DbError> {
        match &self.supabase {
            None => store::settle(&self.db, user, run, model, reservation.held(), 0, 0, 0).await,
            Some(supabase) => supabase.settle(user, run, model, reservation.held(), 0, 0, 0).await,
        }
    }

    /// Whether this store can keep a balance for `user` (the frontend's keeps uuids only).
    pub(crate) fn holds_accounts_for(&self, user: &str) -> bool {
        self.supabase.is_none() || uuid::Uuid::parse_str(user).is_ok()
    }

    pub(crate) async fn grant(&self, user: &str, amount: i64, reason: &str) -> Result<i64, DbError> {
        match &self.supabase {
            None => store::grant(&self.db, user, amount, reason).await,
            Some(supabase) => supabase.grant(user, amount, reason).await,
        }
    }

    /// Micro-credits the run cost its user; `None` where the frontend's tables keep the ledger.
    pub(crate) async fn spent_on_run(&self, user: &str, run: &str) -> Result<Option<i64>, DbError> {
        match &self.supabase {
            None => store::spent_on_run(&self.db, user, run).await.map(Some),
            Some(_) => Ok(None),
        }
    }

    /// The users the host has seen, newest first, with their balances (read from the frontend's
    /// tables when they keep the credits).
    pub(crate) async fn accounts(&self, limit: i64) -> Result<Vec<Account>, DbError> {
        let mut accounts = store::accounts(&self.db, limit).await?;
        if let Some(supabase) = &self.supabase {
            for account in &mut accounts {
                account.balance = supabase.balance(&account.id).await?;
            }
        }
        Ok(accounts)
    }

    pub(crate) async fn recent(&self, user: &str, limit: i64) -> Result<Vec<LedgerEntry>, DbError> {
        match &self.supabase {
            None => store::ledger(&self.db, user, limit).await,
            Some(supabase) => supabase.recent(user, limit).await,
        }
    }
}
