//! Context binding: fields bound to a scope (a thread's block, or an async task) that every
//! event emitted in that scope carries, so every log line and span made there carries them
//! (TinyLLM's `bind_context` / `unbind_context`).
//!
//! [`bind`] adds fields for as long as its [`BindGuard`] lives and restores what was bound
//! before when the guard drops (or when [`BindGuard::unbind`] ends it early); [`unbind`]
//! removes fields for a scope the same way. Scopes nest; an inner binding of a key overrides the
//! outer one until it ends. For async code, [`BoundContext::current`] captures what is bound
//! now and [`BoundContext::scope`] wraps a future so that it is bound on every poll, whichever
//! thread polls it: a task that hops threads keeps its fields, and the polling thread gets its
//! own back after each poll. No async runtime is needed.
//!
//! ```
//! use llm_telemetry_core::bound;
//! use llm_telemetry_core::testing::Capture;
//! use llm_telemetry_core::{Bus, StaticEventName};
//!
//! static DONE: StaticEventName = StaticEventName::new("request.step.done");
//! let bus = Bus::new();
//! let capture = Capture::attach(&bus, "request.*.*").unwrap();
//! {
//!     let _request = bound::bind([("request_id", "r-42".into()), ("user_id", "u-7".into())]);
//!     bus.execute(&DONE, &[], &[("step", "parse".into())]);
//!     let _anonymous = bound::unbind(&["user_id"]);
//!     bus.execute(&DONE, &[], &[]);
//! }
//! bus.execute(&DONE, &[], &[]);
//! let events = capture.events();
//! assert_eq!(events[0].str("request_id"), Some("r-42"));
//! assert_eq!(events[0].str("user_id"), Some("u-7"));
//! assert_eq!(events[0].str("step"), Some("parse"));
//! assert_eq!(events[1].str("user_id"), None);            // unbound for that scope
//! assert_eq!(events[2].str("request_id"), None);         // restored on exit
//! ```
//!
//! # Where the fields are merged, and what it costs
//!
//! The bus merges them into the event's metadata when it dispatches, ahead of the event's own
//! metadata (so a key the event names itself wins, by the "last value wins" rule of
//! [`crate::Event::value`]). Every handler sees them as metadata: the log handler writes them,
//! the OpenTelemetry handler makes them span attributes, a queued handler gets them in its copy.
//! A span's `start` and `stop` events each carry what is bound when they are emitted.
//!
//! Nothing is paid when nobody listens: the merge happens after the bus knows a handler wants
//! the event. When somebody listens, whether fields are bound on this thread is a bit of the
//! thread's nesting word, which dispatch loads and tests anyway (the depth check): nothing is
//! added to the common path. A thread inside a scope takes an out-of-line path that reads the
//! thread-local (a reference-count increment) and copies the metadata (on the stack up to 32
//! entries, no lock, no allocation). Binding itself allocates (a new immutable
//! set of fields, shared by reference counting): bind per request or per task, not per event.
//!
//! Keys are `&'static str`, as every metadata key is. A binding holds at most [`MAX_FIELDS`]
//! fields; past that, further new keys are not added (an existing key can still be rebound).

use std::cell::RefCell;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use crate::event::{OwnedValue, Value};

/// The most fields one binding holds (the bound fields of all enclosing scopes together).
pub const MAX_FIELDS: usize = 16;

type Fields = Arc<[(&'static str, OwnedValue)]>;

thread_local! {
    /// What is bound on this thread now (`None`: nothing).
    static CURRENT: RefCell<Option<Fields>> = const { RefCell::new(None) };
}

/// A set of bound fields, captured to carry into another task or thread: see the module docs.
/// Cheap to clone (reference counted).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BoundContext {
    fields: Option<Fields>,
}

impl BoundContext {
    /// What is bound on this thread now.
    pub fn current() -> BoundContext {
        BoundContext {
            fields: CURRENT.with(|c| c.borrow().clone()),
        }
    }

    /// This context with `fields` added (a key already bound takes the new value).
    pub fn with<I>(self, fields: I) -> BoundContext
    where
        I: IntoIterator<Item = (&'static str, OwnedValue)>,
    {
        let mut merged: Vec<(&'static str, OwnedValue)> = self
            .fields
            .as_deref()
            .map(<[_]>::to_vec)
            .unwrap_or_default();
        for (key, value) in fields {
            if let Some(slot) = merged.iter_mut().find(|(k, _)| *k == key) {
                slot.1 = value;
            } else if merged.len() < MAX_FIELDS {
                merged.push((key, value));
            }
        }
        BoundContext::of(merged)
    }

    /// This context without `keys`.
    pub fn without(self, keys: &[&str]) -> BoundContext {
        let kept: Vec<(&'static str, OwnedValue)> = self
            .fields
            .as_deref()
            .unwrap_or_default()
            .iter()
            .filter(|(k, _)| !keys.contains(k))
            .cloned()
            .collect();
        BoundContext::of(kept)
    }

    fn of(fields: Vec<(&'static str, OwnedValue)>) -> BoundContext {
        BoundContext {
            fields: (!fields.is_empty()).then(|| fields.into()),
        }
    }

    /// Whether it binds nothing.
    pub fn is_empty(&self) -> bool {
        self.fields.is_none()
    }

    /// The value bound to `key`.
    pub fn get(&self, key: &str) -> Option<Value<'_>> {
        self.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    /// Every field, in the order first bound.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, Value<'_>)> {
        self.fields
            .as_deref()
            .unwrap_or_default()
            .iter()
            .map(|(k, v)| (*k, v.as_value()))
    }

    /// Makes this context the bound one on this thread until the guard drops.
    pub fn enter(&self) -> BindGuard {
        let previous = CURRENT.with(|c| c.replace(self.fields.clone()));
        crate::nesting::set_bound(self.fields.is_some());
        BindGuard {
            previous: Some(previous),
            _not_send: PhantomData,
        }
    }

    /// `future`, with this context bound on every poll (and the polling thread's own restored
    /// after each poll).
    pub fn scope<F: Future>(self, future: F) -> Bound<F> {
        Bound {
            inner: future,
            context: self,
        }
    }
}

/// Binds `fields` on this thread until the returned guard drops (or [`BindGuard::unbind`]);
/// inner bindings of the same key win until they end.
///
/// ```
/// use llm_telemetry_core::bound::{self, BoundContext};
/// let guard = bound::bind([("request_id", "r-1".into())]);
/// assert_eq!(BoundContext::current().get("request_id").and_then(|v| v.as_str()), Some("r-1"));
/// guard.unbind();
/// assert!(BoundContext::current().is_empty());
/// ```
pub fn bind<I>(fields: I) -> BindGuard
where
    I: IntoIterator<Item = (&'static str, OwnedValue)>,
{
    BoundContext::current().with(fields).enter()
}

/// Removes `keys` from what is bound on this thread until the returned guard drops.
pub fn unbind(keys: &[&str]) -> BindGuard {
    BoundContext::current().without(keys).enter()
}

/// Ends a binding scope when dropped: what was bound before is bound again. Not `Send`: a scope
/// ends on the thread it began on (use [`BoundContext::scope`] for futures).
#[must_use = "the binding ends when the guard is dropped"]
#[derive(Debug)]
pub struct BindGuard {
    previous: Option<Option<Fields>>,
    _not_send: PhantomData<*const ()>,
}

impl BindGuard {
    /// Ends the scope now (the explicit unbind): the fields bound before it are bound again.
    pub fn unbind(self) {
        drop(self);
    }
}

impl Drop for BindGuard {
    fn drop(&mut self) {
        if let Some(previous) = self.previous.take() {
            // `try_with`: a guard dropped while the thread's locals are being destroyed has
            // nothing left to restore.
            let bound = previous.is_some();
            if CURRENT.try_with(|c| c.replace(previous)).is_ok() {
                crate::nesting::set_bound(bound);
            }
        }
    }
}

pin_project_lite::pin_project! {
    /// A future with a [`BoundContext`] bound on every poll: see [`BoundContext::scope`].
    #[derive(Debug)]
    pub struct Bound<F> {
        #[pin]
        inner: F,
        context: BoundContext,
    }
}

impl<F: Future> Future for Bound<F> {
    type Output = F::Output;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let _bound = this.context.enter();
        this.inner.poll(cx)
    }
}

/// The fields bound on this thread, if any: a reference-counted clone (no allocation), so that
/// a handler that binds while the event is dispatched does not find the cell borrowed.
pub(crate) fn current_fields() -> Option<Fields> {
    CURRENT.try_with(|c| c.borrow().clone()).ok().flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_scopes_override_and_restore() {
        let outer = bind([("a", OwnedValue::from("1")), ("b", OwnedValue::from(2))]);
        {
            let _inner = bind([("a", OwnedValue::from("inner"))]);
            let now = BoundContext::current();
            assert_eq!(now.get("a"), Some(Value::Str("inner")));
            assert_eq!(now.get("b"), Some(Value::Int(2)));
            assert_eq!(now.iter().count(), 2);
        }
        assert_eq!(BoundContext::current().get("a"), Some(Value::Str("1")));
        outer.unbind();
        assert!(BoundContext::current().is_empty());
    }

    /// The dispatch reads "fields bound here" from the thread's nesting word: it must follow
    /// every scope's start and end, including an unbind that leaves nothing bound.
    #[test]
    fn the_nesting_word_says_whether_fields_are_bound_here() {
        assert!(!crate::nesting::is_bound());
        let outer = bind([("a", OwnedValue::from("1"))]);
        assert!(crate::nesting::is_bound());
        {
            let _nothing = unbind(&["a"]);
            assert!(BoundContext::current().is_empty());
            assert!(!crate::nesting::is_bound());
            let _again = bind([("b", OwnedValue::from(2))]);
            assert!(crate::nesting::is_bound());
        }
        assert!(crate::nesting::is_bound());
        let other_thread = std::thread::spawn(crate::nesting::is_bound);
        assert!(
            !other_thread.join().unwrap(),
            "a binding is this thread's only"
        );
        outer.unbind();
        assert!(!crate::nesting::is_bound());
    }

    #[test]
    fn a_binding_holds_at_most_max_fields() {
        const KEYS: [&str; MAX_FIELDS + 4] = [
            "k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7", "k8", "k9", "k10", "k11", "k12", "k13",
            "k14", "k15", "k16", "k17", "k18", "k19",
        ];
        let context = BoundContext::default().with(KEYS.iter().map(|k| (*k, OwnedValue::Int(1))));
        assert_eq!(context.iter().count(), MAX_FIELDS);
        let rebound = context.with([("k0", OwnedValue::Int(9))]);
        assert_eq!(rebound.get("k0"), Some(Value::Int(9)));
    }
}
