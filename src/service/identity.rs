//! The configuration signing for the store it works on: our Message-IDs and reply addresses are
//! bound to the store's instance id ([`crate::mail::msgid`]), which only the store knows. The
//! daemon binds its settings once (and again on SIGHUP); every entry point that meets a
//! configuration and a store goes through [`bound`], which costs a comparison when they agree
//! and a copy of the configuration when they do not (a CLI command, a test, an import).

use std::borrow::Cow;

use crate::config::Config;
use crate::io::store::Store;

/// `config`, signing for `store`.
pub(crate) fn bound<'a>(config: &'a Config, store: &Store) -> Cow<'a, Config> {
    let instance = store.identity().instance();
    if config.bound_to(&instance) {
        Cow::Borrowed(config)
    } else {
        let mut c = config.clone();
        c.bind(&instance);
        Cow::Owned(c)
    }
}
