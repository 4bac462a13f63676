//! Parses a real LiteLLM price file (a trimmed copy of the one in PyPI's `litellm` 1.109.1; see
//! `tests/data/README.md`) and prices calls with it, checked against hand-computed costs.

use llm_telemetry_cost::{PriceError, PriceTable, Usage, Usd};

const SUBSET: &str = include_str!("data/litellm_prices_subset.json");

fn usd(text: &str) -> Usd {
    text.parse().unwrap()
}

fn table() -> PriceTable {
    PriceTable::from_litellm_json(SUBSET).unwrap()
}

#[test]
fn the_real_file_loads_with_its_oddities_reported() {
    let mut table = PriceTable::new();
    let report = table.merge_litellm_json(SUBSET).unwrap();
    // 412 entries: sample_spec and the models priced per image/second/character are skipped.
    let skipped: usize = report.skipped.len();
    assert_eq!(report.loaded + skipped, 412);
    assert_eq!(table.len(), report.loaded);
    assert!(report.loaded > 250, "loaded only {}", report.loaded);
    let sample = report
        .skipped
        .iter()
        .find(|s| s.model == "sample_spec")
        .expect("sample_spec is reported as skipped");
    assert!(sample.reason.contains("documentation"));
    assert!(
        report
            .skipped
            .iter()
            .filter(|s| s.model != "sample_spec")
            .all(|s| s.reason.contains("no per-token price")),
        "{:?}",
        report.skipped
    );
    // Models priced per image or per second are skipped, never loaded with a zero price.
    assert!(table.get("gemini/imagen-3.0-generate-001").is_none());
    assert!(
        report
            .skipped
            .iter()
            .any(|s| s.model == "gemini/imagen-3.0-generate-001")
    );
    // 92 entries of the subset have no per-token price, plus sample_spec.
    assert_eq!(skipped, 93);
}

#[test]
fn prices_are_read_exactly_from_the_number_text() {
    let table = table();
    let gpt4o = table.get("gpt-4o").unwrap();
    assert_eq!(gpt4o.base.input, Some(Usd::from_atto(2_500_000_000_000)));
    assert_eq!(gpt4o.base.output, Some(usd("0.00001")));
    assert_eq!(gpt4o.base.cache_read, Some(usd("0.00000125")));
    assert_eq!(gpt4o.provider.as_deref(), Some("openai"));
    assert_eq!(gpt4o.mode.as_deref(), Some("chat"));
    // Float noise in the file rounds to the nearest attodollar.
    let noisy = table
        .get("databricks/databricks-claude-sonnet-4-1")
        .unwrap();
    assert_eq!(noisy.base.input, Some(Usd::from_atto(2_999_990_000_000)));
    assert_eq!(noisy.base.output, Some(Usd::from_atto(15_000_020_000_000)));
    let nano = table.get("novita/nvidia/nemotron-3-nano-30b-a3b").unwrap();
    assert_eq!(nano.base.input, Some(usd("5e-8")));
}

#[test]
fn tiers_are_read_from_the_above_n_k_tokens_fields() {
    let table = table();
    let pro = table.get("gemini/gemini-2.5-pro").unwrap();
    assert_eq!(pro.tiers.len(), 1);
    let tier = &pro.tiers[0];
    assert_eq!(tier.above_input_tokens, 200_000);
    assert_eq!(tier.prices.input, Some(usd("2.5e-06")));
    assert_eq!(tier.prices.output, Some(usd("1.5e-05")));
    assert_eq!(tier.prices.cache_read, Some(usd("2.5e-07")));
    // `_priority`, `_batches` and `_flex` variants are other products, not tiers.
    assert_eq!(pro.base.input, Some(usd("1.25e-06")));
    // GPT-5.4-style 272k tiers exist in the file too.
    let tiered_272k = table
        .iter()
        .filter(|(_, p)| p.tiers.iter().any(|t| t.above_input_tokens == 272_000))
        .count();
    assert!(tiered_272k > 0);
}

#[test]
fn hand_computed_costs_with_the_real_prices() {
    let table = table();
    // claude-sonnet-4-5: input $3/M, output $15/M, cache read $0.30/M, cache write $3.75/M.
    // 50,000 input including 30,000 cache reads and 10,000 cache writes; 2,000 output:
    // 10,000 × 3e-6 = 0.03; 30,000 × 3e-7 = 0.009; 10,000 × 3.75e-6 = 0.0375;
    // 2,000 × 1.5e-5 = 0.03. Total 0.1065.
    let usage = Usage {
        input: 50_000,
        output: 2_000,
        cache_read: 30_000,
        cache_write: 10_000,
        reasoning: 0,
    };
    assert_eq!(
        table.cost("claude-sonnet-4-5", Some("anthropic"), &usage),
        Some(usd("0.1065"))
    );
    // gemini/gemini-2.5-pro above 200k input: 250,000 input of which 50,000 cache reads,
    // 4,000 output: 200,000 × 2.5e-6 = 0.5; 50,000 × 2.5e-7 = 0.0125; 4,000 × 1.5e-5 = 0.06.
    let long = Usage {
        input: 250_000,
        output: 4_000,
        cache_read: 50_000,
        ..Usage::default()
    };
    assert_eq!(
        table.cost("gemini-2.5-pro", Some("gcp.gemini"), &long),
        Some(usd("0.5725"))
    );
    // The same call under 200k: 150,000 input (50,000 cached): 100,000 × 1.25e-6 = 0.125;
    // 50,000 × 1.25e-7 = 0.00625; 4,000 × 1e-5 = 0.04.
    let short = Usage {
        input: 150_000,
        ..long
    };
    assert_eq!(
        table.cost("gemini/gemini-2.5-pro", None, &short),
        Some(usd("0.17125"))
    );
    // gemini/gemini-2.5-flash prices reasoning separately ($2.50/M, same as output):
    // 1,000 input × 3e-7 = 0.0003; 500 output (400 reasoning) × 2.5e-6 = 0.00125.
    let thinking = Usage {
        input: 1_000,
        output: 500,
        reasoning: 400,
        ..Usage::default()
    };
    assert_eq!(
        table.cost("gemini-2.5-flash", Some("gemini"), &thinking),
        Some(usd("0.00155"))
    );
    // text-embedding-3-small: $0.02/M input. 123,456 tokens = 0.00246912.
    let embed = Usage {
        input: 123_456,
        ..Usage::default()
    };
    assert_eq!(
        table.cost("openai/text-embedding-3-small", None, &embed),
        Some(usd("0.00246912"))
    );
    assert_eq!(table.cost("no-such-model", Some("openai"), &embed), None);
}

#[test]
fn the_built_in_table_agrees_with_the_real_file() {
    let real = table();
    let builtin = PriceTable::builtin();
    let mut compared = 0;
    for (model, price) in builtin.iter() {
        if let Some(from_file) = real.get(model) {
            assert_eq!(price.base, from_file.base, "{model}");
            assert_eq!(price.tiers, from_file.tiers, "{model}");
            compared += 1;
        }
    }
    assert!(
        compared >= 30,
        "only {compared} built-in models are in the subset"
    );
}

#[test]
fn malformed_files_are_typed_errors() {
    let err = PriceTable::from_litellm_json(&SUBSET[..SUBSET.len() / 2]).unwrap_err();
    assert!(matches!(err, PriceError::Json { .. }), "{err}");
    assert!(err.to_string().contains("LiteLLM"));
    let err = PriceTable::from_litellm_json("\"prices\"").unwrap_err();
    assert!(matches!(err, PriceError::NotAnObject { found: "a string" }));
}

#[test]
fn a_file_on_disk_merges_over_the_builtin_table() {
    let dir = std::env::temp_dir().join(format!("llm-telemetry-cost-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("prices.json");
    std::fs::write(
        &path,
        r#"{"gpt-4o": {"input_cost_per_token": 1e-06, "output_cost_per_token": 2e-06,
                       "litellm_provider": "openai"},
            "house-model": {"input_cost_per_token": 1e-07, "output_cost_per_token": 1e-07}}"#,
    )
    .unwrap();
    let mut table = PriceTable::builtin();
    let before = table.len();
    let report = table.merge_litellm_file(&path).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(report.loaded, 2);
    assert_eq!(table.len(), before + 1);
    assert_eq!(table.get("gpt-4o").unwrap().base.input, Some(usd("1e-6")));
    assert!(table.get("house-model").is_some());
}
