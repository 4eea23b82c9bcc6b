//! A strict reader of the Prometheus text format (0.0.4) and of OpenMetrics 1.0 text, for the
//! tests of `/metrics`.
//!
//! Lenient parsers (prometheus-parse among them) skip a line they cannot read; this one fails on
//! the first line that breaks the grammar, with the line number:
//!
//! - only `# HELP`, `# TYPE` (and in OpenMetrics `# UNIT` and the final `# EOF`) comment lines;
//! - each family's `# TYPE` comes once, before its samples, and its lines form one group;
//! - sample names are the family's own (`_total` for counters, `_bucket`/`_sum`/`_count` for
//!   histograms), metric and label names are valid, label values are quoted with only `\\`,
//!   `\"` and `\n` escapes, values are numbers (or `+Inf`, `-Inf`, `NaN`);
//! - no two samples share a name and label set;
//! - a histogram's buckets, per label set, have increasing `le` ending at `+Inf`, cumulative
//!   counts, and `+Inf` equal to `_count`.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashSet};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    PrometheusText,
    OpenMetrics,
}

/// One sample line.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// A metric family: its `# TYPE` and `# HELP`, and its samples in order.
#[derive(Debug, Clone)]
pub struct Family {
    pub name: String,
    pub kind: String,
    pub help: Option<String>,
    pub samples: Vec<Sample>,
}

/// The parsed exposition, families in order.
#[derive(Debug, Default)]
pub struct Exposition {
    pub families: Vec<Family>,
}

impl Exposition {
    pub fn family(&self, name: &str) -> &Family {
        self.families
            .iter()
            .find(|family| family.name == name)
            .unwrap_or_else(|| panic!("no family {name}"))
    }

    /// The value of the sample `name` whose labels include `labels`; panics if there is not
    /// exactly one.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let found: Vec<&Sample> = self
            .families
            .iter()
            .flat_map(|family| &family.samples)
            .filter(|sample| {
                sample.name == name
                    && labels.iter().all(|(key, value)| {
                        sample.labels.get(*key).map(String::as_str) == Some(value)
                    })
            })
            .collect();
        assert_eq!(found.len(), 1, "samples {name} {labels:?}: {found:?}");
        found[0].value
    }

    pub fn sample_count(&self) -> usize {
        self.families
            .iter()
            .map(|family| family.samples.len())
            .sum()
    }
}

fn is_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// In `# HELP` text, a backslash only escapes a backslash or starts `\n`.
fn escapes_are_valid(text: &str) -> bool {
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\\' && !matches!(chars.next(), Some('\\' | 'n')) {
            return false;
        }
    }
    true
}

fn parse_value(text: &str) -> Result<f64, String> {
    match text {
        "+Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        "NaN" => Ok(f64::NAN),
        _ if text
            .chars()
            .all(|c| c.is_ascii_digit() || "+-.eE".contains(c)) =>
        {
            text.parse::<f64>()
                .map_err(|error| format!("bad number {text:?}: {error}"))
        }
        _ => Err(format!("bad number {text:?}")),
    }
}

/// `{a="x",b="y"}` (the braces already stripped) into a map.
fn parse_labels(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut labels = BTreeMap::new();
    let mut rest = text;
    while !rest.is_empty() {
        let (name, after) = rest
            .split_once("=\"")
            .ok_or_else(|| format!("label without =\" in {text:?}"))?;
        if !is_label_name(name) {
            return Err(format!("bad label name {name:?}"));
        }
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next() {
                Some((_, '\\')) => match chars.next() {
                    Some((_, '\\')) => value.push('\\'),
                    Some((_, '"')) => value.push('"'),
                    Some((_, 'n')) => value.push('\n'),
                    other => return Err(format!("bad escape {other:?} in {text:?}")),
                },
                Some((index, '"')) => break index,
                Some((_, '\n')) => return Err("raw newline in a label value".into()),
                Some((_, c)) => value.push(c),
                None => return Err(format!("unterminated label value in {text:?}")),
            }
        };
        if labels.insert(name.to_owned(), value).is_some() {
            return Err(format!("label {name} twice"));
        }
        rest = &after[end + 1..];
        if let Some(next) = rest.strip_prefix(',') {
            rest = next;
            if rest.is_empty() {
                return Err("trailing comma".into());
            }
        } else if !rest.is_empty() {
            return Err(format!("junk after a label value: {rest:?}"));
        }
    }
    Ok(labels)
}

fn parse_sample(line: &str) -> Result<Sample, String> {
    let (series, value) = line
        .rsplit_once(' ')
        .ok_or_else(|| "a sample needs a value".to_owned())?;
    let (name, labels) = match series.split_once('{') {
        Some((name, labels)) => {
            let labels = labels
                .strip_suffix('}')
                .ok_or_else(|| "unclosed {".to_owned())?;
            (name, parse_labels(labels)?)
        }
        None => (series, BTreeMap::new()),
    };
    if !is_metric_name(name) {
        return Err(format!("bad metric name {name:?}"));
    }
    Ok(Sample {
        name: name.to_owned(),
        labels,
        value: parse_value(value)?,
    })
}

/// The sample names a family of `kind` may have.
fn allowed_names(format: Format, family: &str, kind: &str) -> Vec<String> {
    match (format, kind) {
        (Format::PrometheusText, "counter" | "gauge" | "untyped") => vec![family.to_owned()],
        (Format::OpenMetrics, "gauge" | "unknown") => vec![family.to_owned()],
        (Format::OpenMetrics, "counter") => {
            vec![format!("{family}_total"), format!("{family}_created")]
        }
        (_, "histogram") => ["_bucket", "_sum", "_count", "_created"]
            .iter()
            .map(|suffix| format!("{family}{suffix}"))
            .collect(),
        _ => Vec::new(),
    }
}

/// Parses `text` strictly; the error names the first bad line.
pub fn parse(text: &str, format: Format) -> Result<Exposition, String> {
    let mut exposition = Exposition::default();
    let mut declared = HashSet::new();
    let mut seen_series = HashSet::new();
    let mut eof = false;
    for (number, line) in text.lines().enumerate() {
        let at = |error: String| format!("line {}: {error}: {line:?}", number + 1);
        if eof {
            return Err(at("content after # EOF".into()));
        }
        if line.is_empty() {
            return Err(at("empty line".into()));
        }
        if let Some(comment) = line.strip_prefix("# ") {
            let mut parts = comment.splitn(3, ' ');
            let keyword = parts.next().unwrap_or_default();
            if keyword == "EOF" && format == Format::OpenMetrics && comment == "EOF" {
                eof = true;
                continue;
            }
            let name = parts
                .next()
                .ok_or_else(|| at("comment without a name".into()))?;
            let rest = parts
                .next()
                .ok_or_else(|| at("comment without text".into()))?;
            if !is_metric_name(name) {
                return Err(at(format!("bad metric name {name:?}")));
            }
            match keyword {
                "TYPE" => {
                    let kinds: &[&str] = match format {
                        Format::PrometheusText => {
                            &["counter", "gauge", "histogram", "summary", "untyped"]
                        }
                        Format::OpenMetrics => &[
                            "counter",
                            "gauge",
                            "histogram",
                            "summary",
                            "unknown",
                            "info",
                            "stateset",
                            "gaugehistogram",
                        ],
                    };
                    if !kinds.contains(&rest) {
                        return Err(at(format!("unknown type {rest:?}")));
                    }
                    if !declared.insert(name.to_owned()) {
                        return Err(at(format!("second # TYPE for {name}")));
                    }
                    match exposition.families.last_mut() {
                        // HELP came first and opened this family.
                        Some(family) if family.name == name && family.kind.is_empty() => {
                            family.kind = rest.to_owned();
                        }
                        _ => exposition.families.push(Family {
                            name: name.to_owned(),
                            kind: rest.to_owned(),
                            help: None,
                            samples: Vec::new(),
                        }),
                    }
                }
                "HELP" => {
                    if !escapes_are_valid(rest) {
                        return Err(at("bad escape in HELP".into()));
                    }
                    match exposition.families.last_mut() {
                        Some(family) if family.name == name && family.samples.is_empty() => {
                            if family.help.replace(rest.to_owned()).is_some() {
                                return Err(at(format!("second # HELP for {name}")));
                            }
                        }
                        _ => {
                            if declared.contains(name) {
                                return Err(at(format!("# HELP for {name} away from its family")));
                            }
                            exposition.families.push(Family {
                                name: name.to_owned(),
                                kind: String::new(),
                                help: Some(rest.to_owned()),
                                samples: Vec::new(),
                            })
                        }
                    }
                }
                "UNIT" if format == Format::OpenMetrics => {
                    let family = exposition
                        .families
                        .last()
                        .filter(|family| family.name == name && family.samples.is_empty())
                        .ok_or_else(|| at("# UNIT away from its family".into()))?;
                    if !family.name.ends_with(&format!("_{rest}")) {
                        return Err(at("the family name must end with its unit".into()));
                    }
                }
                _ => return Err(at(format!("unexpected comment {keyword:?}"))),
            }
            continue;
        }
        if line.starts_with('#') {
            return Err(at("a comment must start with \"# \"".into()));
        }
        let sample = parse_sample(line).map_err(at)?;
        let family = exposition
            .families
            .last_mut()
            .filter(|family| !family.kind.is_empty())
            .ok_or_else(|| at("a sample before any # TYPE".into()))?;
        if !allowed_names(format, &family.name, &family.kind).contains(&sample.name) {
            return Err(at(format!(
                "sample {} does not belong to the {} {} (families must be contiguous)",
                sample.name, family.kind, family.name
            )));
        }
        if sample.name.ends_with("_bucket") && !sample.labels.contains_key("le") {
            return Err(at("a bucket without le".into()));
        }
        if !seen_series.insert((sample.name.clone(), format!("{:?}", sample.labels))) {
            return Err(at("the same series twice".into()));
        }
        family.samples.push(sample);
    }
    if format == Format::OpenMetrics && !eof {
        return Err("OpenMetrics must end with # EOF".into());
    }
    if let Some(family) = exposition
        .families
        .iter()
        .find(|family| family.kind.is_empty())
    {
        return Err(format!("# HELP {} without a # TYPE", family.name));
    }
    for family in exposition
        .families
        .iter()
        .filter(|family| family.kind == "histogram")
    {
        check_histogram(family)?;
    }
    Ok(exposition)
}

/// Per label set (without `le`): `le` increasing up to `+Inf`, counts cumulative, `+Inf` equal
/// to `_count`, and a `_sum`.
fn check_histogram(family: &Family) -> Result<(), String> {
    let series_of = |sample: &Sample| {
        let mut labels = sample.labels.clone();
        labels.remove("le");
        format!("{labels:?}")
    };
    let mut buckets: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    let mut counts = BTreeMap::new();
    let mut sums = BTreeMap::new();
    for sample in &family.samples {
        let series = series_of(sample);
        if sample.name.ends_with("_bucket") {
            let le = parse_value(&sample.labels["le"])?;
            buckets.entry(series).or_default().push((le, sample.value));
        } else if sample.name.ends_with("_count") {
            counts.insert(series, sample.value);
        } else if sample.name.ends_with("_sum") {
            sums.insert(series, sample.value);
        }
    }
    if buckets.is_empty() {
        return Err(format!("histogram {} has no buckets", family.name));
    }
    for (series, buckets) in &buckets {
        let context = format!("histogram {} {series}", family.name);
        for pair in buckets.windows(2) {
            if pair[1].0 <= pair[0].0 {
                return Err(format!("{context}: le not increasing: {buckets:?}"));
            }
            if pair[1].1 < pair[0].1 {
                return Err(format!("{context}: buckets not cumulative: {buckets:?}"));
            }
        }
        let last = buckets.last().copied().unwrap_or_default();
        if last.0 != f64::INFINITY {
            return Err(format!("{context}: no +Inf bucket"));
        }
        if counts.get(series) != Some(&last.1) {
            return Err(format!(
                "{context}: _count {:?} is not the +Inf bucket {}",
                counts.get(series),
                last.1
            ));
        }
        match sums.get(series) {
            Some(sum) if *sum >= 0.0 => {}
            other => return Err(format!("{context}: _sum {other:?}")),
        }
    }
    Ok(())
}
