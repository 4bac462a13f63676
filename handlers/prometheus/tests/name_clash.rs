//! OpenMetrics name clashes between metric families: a counter `foo_total` is the OpenMetrics
//! family `foo`, so a gauge `foo` next to it makes two families of one name (Prometheus refuses
//! the scrape); a counter `foo` reserves `foo_total`; a histogram `bar` reserves `bar_bucket`,
//! `bar_count` and `bar_sum`. The reporter refuses them when built, naming both metrics.

mod common;

use llm_telemetry_prometheus::{
    DefinitionError, Format, Metric, PrometheusReporter, ReporterError,
};

use common::promtool_check;

fn build(metrics: Vec<Metric>) -> Result<PrometheusReporter, ReporterError> {
    PrometheusReporter::builder().metrics(metrics)?.build()
}

#[test]
fn clashing_openmetrics_names_are_refused_with_both_names() {
    let cases: [(Metric, Metric); 4] = [
        (
            Metric::counter("foo_total", &["a.b"]),
            Metric::last_value("foo", &["a.b"], "v"),
        ),
        (
            Metric::counter("foo", &["a.b"]),
            Metric::last_value("foo_total", &["a.b"], "v"),
        ),
        (
            Metric::counter("foo_total", &["a.b"]),
            Metric::up_down("foo", &["a.b"], &["a.c"]),
        ),
        (
            Metric::distribution("bar", &["a.b"], "d", &[1.0]),
            Metric::sum("bar_sum", &["a.b"], "d"),
        ),
    ];
    for (a, b) in cases {
        let (na, nb) = (a.name().to_owned(), b.name().to_owned());
        let err = build(vec![a, b]).err();
        let Some(err) = err else {
            panic!("{na} and {nb} were both accepted");
        };
        let text = err.to_string();
        assert!(text.contains(&na) && text.contains(&nb), "{text}");
        assert!(text.contains("rename"), "{text}");
        assert!(
            matches!(
                err,
                ReporterError::Definition(
                    DefinitionError::NameClash { .. } | DefinitionError::Clash { .. }
                )
            ),
            "{err:?}"
        );
    }
}

#[test]
fn the_error_names_the_shared_series_name() {
    let err = build(vec![
        Metric::counter("foo_total", &["a.b"]),
        Metric::last_value("foo", &["a.b"], "v"),
    ])
    .err();
    match err {
        Some(ReporterError::Definition(DefinitionError::NameClash {
            metric,
            other,
            name,
        })) => {
            assert_eq!((metric.as_str(), other.as_str()), ("foo", "foo_total"));
            assert_eq!(name, "foo");
        }
        other => panic!("expected a NameClash, got {other:?}"),
    }
}

#[test]
#[ignore = "needs promtool: run scripts/test-all.sh"]
fn the_good_metrics_render_clean_under_promtool() {
    // The fixed set: the gauge renamed as the error says.
    let reporter = build(vec![
        Metric::counter("foo_total", &["a.b"]),
        Metric::last_value("foo_value", &["a.b"], "v"),
        Metric::distribution("bar", &["a.b"], "d", &[1.0]),
        Metric::sum("bar_spent_total", &["a.b"], "d"),
    ])
    .unwrap();
    promtool_check(&reporter.render());
    let om = reporter.render_as(Format::OpenMetrics);
    let mut families: Vec<&str> = om
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split(' ').next())
        .collect();
    let all = families.len();
    families.sort_unstable();
    families.dedup();
    assert_eq!(families.len(), all, "a family is declared twice:\n{om}");
}
