//! `NO_COLOR` turns automatic colour off even on a terminal (own test binary: it sets the
//! process environment).

use llm_telemetry_log::ColorChoice;

#[test]
fn no_color_is_respected_by_auto_only() {
    // SAFETY: this test binary has this one test, so no other thread reads the environment.
    unsafe { std::env::remove_var("NO_COLOR") };
    assert!(ColorChoice::Auto.resolve(true));
    assert!(!ColorChoice::Auto.resolve(false));
    // An empty NO_COLOR does not count (no-color.org).
    // SAFETY: this test binary has this one test, so no other thread reads the environment.
    unsafe { std::env::set_var("NO_COLOR", "") };
    assert!(ColorChoice::Auto.resolve(true));
    // SAFETY: this test binary has this one test, so no other thread reads the environment.
    unsafe { std::env::set_var("NO_COLOR", "1") };
    assert!(!ColorChoice::Auto.resolve(true));
    assert!(ColorChoice::Always.resolve(true));
    assert!(ColorChoice::Always.resolve(false));
    // SAFETY: this test binary has this one test, so no other thread reads the environment.
    unsafe { std::env::remove_var("NO_COLOR") };
}
