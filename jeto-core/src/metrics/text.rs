//! The Prometheus text form (0.0.4) from the OpenMetrics one: a counter family is named after
//! its samples (`x_total`) in `# HELP` and `# TYPE`, and `# UNIT` and `# EOF` go (they are
//! OpenMetrics only).

use std::collections::HashSet;

pub(super) fn prometheus_from_openmetrics(text: &str) -> String {
    let counters: HashSet<&str> = text
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(text.len() + counters.len() * 12);
    for line in text.lines() {
        if line.starts_with("# UNIT ") || line == "# EOF" {
            continue;
        }
        let renamed = ["# HELP ", "# TYPE "].iter().find_map(|prefix| {
            let rest = line.strip_prefix(prefix)?;
            let (name, tail) = rest.split_once(' ')?;
            counters
                .contains(name)
                .then(|| format!("{prefix}{name}_total {tail}"))
        });
        match renamed {
            Some(line) => out.push_str(&line),
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn counters_are_named_after_their_samples() {
        let open = "# HELP jeto_commands Commands.\n# TYPE jeto_commands counter\njeto_commands_total{action=\"start\"} 1\n# HELP jeto_x_seconds X.\n# TYPE jeto_x_seconds histogram\n# UNIT jeto_x_seconds seconds\njeto_x_seconds_sum 0\n# EOF\n";
        assert_eq!(
            super::prometheus_from_openmetrics(open),
            "# HELP jeto_commands_total Commands.\n# TYPE jeto_commands_total counter\njeto_commands_total{action=\"start\"} 1\n# HELP jeto_x_seconds X.\n# TYPE jeto_x_seconds histogram\njeto_x_seconds_sum 0\n"
        );
    }
}
