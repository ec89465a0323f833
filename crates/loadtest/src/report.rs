//! The report of a run: JSON for machines, Markdown for people, and SVG
//! charts of throughput and p99 latency over time.

use crate::metrics::{EndpointFigures, Second};
use serde::Serialize;
use serde_json::Value;
use std::fmt::Write as _;
use std::path::Path;

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub scenario: String,
    pub model: String,
    pub target: String,
    pub command: String,
    pub wall_secs: f64,
    pub started_operations: u64,
    pub shed_operations: u64,
    pub endpoints: Vec<EndpointFigures>,
    pub timeline: Vec<Second>,
    pub invariants: Value,
    /// The mock data platform's report, when the run checked deliveries.
    pub data_platform: Option<Value>,
    pub rush: Option<Value>,
    /// Empty when the run is clean: no invariant broken, no 5xx, nothing unanswered.
    pub failures: Vec<String>,
}

impl Report {
    pub fn write(&self, dir: &Path) -> anyhow::Result<()> {
        std::fs::create_dir_all(dir)?;
        std::fs::write(dir.join("report.json"), serde_json::to_string_pretty(self)?)?;
        std::fs::write(dir.join("report.md"), self.markdown())?;
        std::fs::write(dir.join("chart.svg"), self.svg())?;
        Ok(())
    }

    pub fn markdown(&self) -> String {
        let mut md = String::new();
        let _ = writeln!(md, "### {} ({})\n", self.scenario, self.model);
        let _ = writeln!(md, "`{}`\n", self.command);
        let _ = writeln!(
            md,
            "{:.1} s, {} operations started, {} shed.\n",
            self.wall_secs, self.started_operations, self.shed_operations
        );
        md.push_str(
            "| endpoint | requests | req/s | p50 ms | p95 ms | p99 ms | p99.9 ms | max ms | answers |\n",
        );
        md.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---|\n");
        for e in &self.endpoints {
            let codes: Vec<String> = e.codes.iter().map(|(c, n)| format!("{c} {n}")).collect();
            let _ = writeln!(
                md,
                "| {} | {} | {:.0} | {} | {} | {} | {} | {} | {} |",
                e.endpoint,
                e.requests,
                e.throughput_per_sec,
                e.p50_ms,
                e.p95_ms,
                e.p99_ms,
                e.p999_ms,
                e.max_ms,
                codes.join(", ")
            );
        }
        if let Some(rush) = &self.rush {
            let _ = writeln!(md, "\nRush: {rush}");
        }
        if let Some(platform) = &self.data_platform {
            let _ = writeln!(md, "\nData platform: {platform}");
        }
        let verdict = if self.failures.is_empty() {
            "clean: no invariant violated, no 5xx, every request answered".to_owned()
        } else {
            format!("FAILED: {}", self.failures.join("; "))
        };
        let _ = writeln!(
            md,
            "\nInvariants: {}\n\nVerdict: {verdict}",
            self.invariants
        );
        md
    }

    /// Requests per second and p99 latency per second of the run, on two
    /// charts with their axes, scales and units (plotters' SVG backend:
    /// text stays text, so no font is needed to draw it).
    pub fn svg(&self) -> String {
        let mut svg = String::new();
        if let Err(err) = self.draw(&mut svg) {
            return format!(
                "<svg xmlns=\"http://www.w3.org/2000/svg\"><text y=\"20\">chart failed: {err}</text></svg>"
            );
        }
        svg
    }

    fn draw(&self, svg: &mut String) -> Result<(), Box<dyn std::error::Error + '_>> {
        use plotters::prelude::*;
        let seconds = self.timeline.len().max(1) as u32;
        let most_requests = self
            .timeline
            .iter()
            .map(|s| s.requests)
            .max()
            .unwrap_or(0)
            .max(1);
        let worst_p99 = self
            .timeline
            .iter()
            .map(|s| s.p99_ms)
            .fold(0.0, f64::max)
            .max(1.0);
        let root = SVGBackend::with_string(svg, (760, 520)).into_drawing_area();
        root.fill(&WHITE)?;
        let (top, bottom) = root.split_vertically(260);
        let mut rate = ChartBuilder::on(&top)
            .caption(
                format!(
                    "{} ({}): requests answered per second",
                    self.scenario, self.model
                ),
                ("sans-serif", 15),
            )
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(70)
            .build_cartesian_2d(0u32..seconds, 0u64..most_requests + most_requests / 10)?;
        rate.configure_mesh()
            .x_desc("seconds since the first recorded request")
            .y_desc("requests/s")
            .draw()?;
        rate.draw_series(self.timeline.iter().map(|s| {
            Rectangle::new(
                [(s.second, 0), (s.second + 1, s.requests)],
                BLUE.mix(0.5).filled(),
            )
        }))?;
        let mut latency = ChartBuilder::on(&bottom)
            .caption(
                "p99 latency of the requests answered in each second",
                ("sans-serif", 15),
            )
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(70)
            .build_cartesian_2d(0u32..seconds, 0f64..worst_p99 * 1.1)?;
        latency
            .configure_mesh()
            .x_desc("seconds since the first recorded request")
            .y_desc("p99 (ms)")
            .draw()?;
        latency.draw_series(LineSeries::new(
            self.timeline
                .iter()
                .filter(|s| s.requests > 0)
                .map(|s| (s.second, s.p99_ms)),
            RED.stroke_width(2),
        ))?;
        root.present()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(timeline: Vec<Second>) -> Report {
        Report {
            scenario: "rush".into(),
            model: "open".into(),
            target: "http://127.0.0.1:8080".into(),
            command: "boxoffice-loadtest".into(),
            wall_secs: 3.0,
            started_operations: 3,
            shed_operations: 0,
            endpoints: Vec::new(),
            timeline,
            invariants: Value::Null,
            data_platform: None,
            rush: None,
            failures: Vec::new(),
        }
    }

    #[test]
    fn the_chart_has_both_axes_named_with_their_units_and_a_bar_per_busy_second() {
        let timeline = (0..3)
            .map(|second| Second {
                second,
                requests: u64::from(second) * 100,
                p99_ms: f64::from(second) + 1.0,
            })
            .collect();
        let svg = report(timeline).svg();
        assert!(svg.starts_with("<svg"), "{svg}");
        for label in [
            "requests/s",
            "p99 (ms)",
            "seconds since the first recorded request",
        ] {
            assert!(svg.contains(label), "no {label:?} in the chart");
        }
        assert!(svg.contains("<polyline"), "no latency line");
        // Seconds 1 and 2 have requests: two bars (plus the backgrounds).
        assert!(svg.matches("<rect").count() >= 2, "{svg}");
    }

    #[test]
    fn an_empty_run_still_draws_its_axes() {
        let svg = report(Vec::new()).svg();
        assert!(
            svg.contains("requests/s") && svg.contains("p99 (ms)"),
            "{svg}"
        );
    }
}
