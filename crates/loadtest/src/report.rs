//! The report of a run: JSON for machines, Markdown for people, and an SVG
//! chart of throughput and p99 latency over time.

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
            "| endpoint | requests | req/s | p50 ms | p95 ms | p99 ms | max ms | answers |\n",
        );
        md.push_str("|---|---:|---:|---:|---:|---:|---:|---|\n");
        for e in &self.endpoints {
            let codes: Vec<String> = e.codes.iter().map(|(c, n)| format!("{c} {n}")).collect();
            let _ = writeln!(
                md,
                "| {} | {} | {:.0} | {} | {} | {} | {} | {} |",
                e.endpoint,
                e.requests,
                e.throughput_per_sec,
                e.p50_ms,
                e.p95_ms,
                e.p99_ms,
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

    /// Requests per second (bars) and p99 latency (line), per second of the run.
    pub fn svg(&self) -> String {
        let (w, h, pad) = (720.0, 260.0, 40.0);
        let n = self.timeline.len().max(1) as f64;
        let max_rps = self
            .timeline
            .iter()
            .map(|s| s.requests)
            .max()
            .unwrap_or(1)
            .max(1) as f64;
        let max_p99 = self.timeline.iter().map(|s| s.p99_ms).fold(1.0, f64::max);
        let x = |i: usize| pad + (i as f64 + 0.5) * (w - 2.0 * pad) / n;
        let bar = (w - 2.0 * pad) / n * 0.8;
        let mut svg = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"11\">\
             <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\
             <text x=\"{pad}\" y=\"16\">{} - requests/s (bars, max {max_rps:.0}) and p99 ms (line, max {max_p99:.1})</text>",
            self.scenario
        );
        for (i, s) in self.timeline.iter().enumerate() {
            let bh = s.requests as f64 / max_rps * (h - 2.0 * pad);
            let _ = write!(
                svg,
                "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{bar:.1}\" height=\"{bh:.1}\" fill=\"#8ab4f8\"/>",
                x(i) - bar / 2.0,
                h - pad - bh
            );
        }
        let points: Vec<String> = self
            .timeline
            .iter()
            .enumerate()
            .map(|(i, s)| {
                format!(
                    "{:.1},{:.1}",
                    x(i),
                    h - pad - s.p99_ms / max_p99 * (h - 2.0 * pad)
                )
            })
            .collect();
        let (points, base, right, label_y, end_x, secs) = (
            points.join(" "),
            h - pad,
            w - pad,
            h - pad + 14.0,
            w - pad - 20.0,
            self.timeline.len(),
        );
        let _ = write!(
            svg,
            "<polyline points=\"{points}\" fill=\"none\" stroke=\"#d93025\" stroke-width=\"2\"/>\
             <line x1=\"{pad}\" y1=\"{base}\" x2=\"{right}\" y2=\"{base}\" stroke=\"black\"/>\
             <text x=\"{pad}\" y=\"{label_y}\">0 s</text><text x=\"{end_x}\" y=\"{label_y}\">{secs} s</text></svg>"
        );
        svg
    }
}
