//! Pictures: one SVG per scenario, every policy on one time axis: the server's phase, each
//! policy's breaker and probes, the queue's depth, and the jobs synced.

use std::ops::Range;
use std::path::Path;

use breaker_core::State;
use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use crate::run::Run;
use fake_plex::ServerPhase;

const WIDTH: u32 = 1200;
const LABEL: u32 = 150;
const BAND: u32 = 34;
const CHART: u32 = 190;
const TITLE: u32 = 56;
/// Each policy's line is narrower than the one before, so that where they coincide every
/// one still shows.
const LINE_WIDTHS: [u32; 4] = [6, 4, 2, 1];
const POLICY_COLOURS: [RGBColor; 4] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(127, 127, 127),
    RGBColor(44, 160, 44),
];

/// A picture could not be drawn or written.
#[derive(Debug, thiserror::Error)]
#[error("could not draw {path}: {message}")]
pub struct PlotError {
    path: String,
    message: String,
}

/// Draws `runs` (one scenario and seed, one run per policy, each with its trace) into the
/// SVG file `path`.
pub fn plot(runs: &[&Run], path: &Path) -> Result<(), PlotError> {
    let fail = |message: String| PlotError {
        path: path.display().to_string(),
        message,
    };
    let Some(first) = runs.first() else {
        return Err(fail("there is no run to draw".into()));
    };
    let height = TITLE + BAND * (1 + runs.len() as u32) + 2 * CHART + 40 + 60;
    let root = SVGBackend::new(path, (WIDTH, height)).into_drawing_area();
    draw(&root, runs, first).map_err(|e| fail(e.to_string()))?;
    root.present().map_err(|e| fail(e.to_string()))
}

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;
type Failure = Box<dyn std::error::Error>;

fn draw(root: &Area<'_>, runs: &[&Run], first: &Run) -> Result<(), Failure> {
    root.fill(&WHITE)?;
    let (start, end) = window(runs, first);
    let hours = (end - start) as f64 / 3_600_000.0;
    // The axis counts from the start of the (first) outage: minutes for a short window,
    // hours for a long one.
    let origin = first
        .trace
        .timeline
        .changes()
        .first()
        .map_or(first.start, |(at, _)| *at);
    let outages = first
        .trace
        .timeline
        .changes()
        .iter()
        .filter(|(_, phase)| *phase == ServerPhase::Ready)
        .count();
    let which = if outages > 1 {
        "first outage"
    } else {
        "outage"
    };
    let (unit_ms, unit) = if hours > 3.0 {
        (3_600_000.0, format!("hours from the start of the {which}"))
    } else {
        (60_000.0, format!("minutes from the start of the {which}"))
    };
    let x = |at: u64| (at.clamp(start, end) as f64 - origin as f64) / unit_ms;
    let span = x(start)..x(end).max(x(start) + 1e-3);

    let (title, rest) = root.split_vertically(TITLE);
    let about = crate::scenario(&first.scenario).map_or("", |s| s.about);
    title.draw_text(
        &format!("{} (seed {}): {about}", first.scenario, first.seed),
        &("sans-serif", 20).into_font().color(&BLACK),
        (10, 8),
    )?;
    title.draw_text(
        &format!("this seed drew {}", drawn(first)),
        &("sans-serif", 13).into_font().color(&BLACK.mix(0.7)),
        (10, 34),
    )?;
    let (plex, mut rest) = rest.split_vertically(BAND);
    band(&plex, "Plex", span.clone(), |chart| {
        let changes = first.trace.timeline.changes();
        let mut from = (first.start, ServerPhase::Ready);
        for &(at, phase) in changes.iter().chain([&(end, ServerPhase::Ready)]) {
            if wide(chart, x(from.0), x(at)) {
                chart.draw_series([Rectangle::new(
                    [(x(from.0), 0.0), (x(at), 1.0)],
                    phase_colour(from.1).filled(),
                )])?;
            }
            from = (at, phase);
        }
        Ok(())
    })?;
    for (i, run) in runs.iter().enumerate() {
        let (row, below) = rest.split_vertically(BAND);
        rest = below;
        band(&row, &run.policy, span.clone(), |chart| {
            let mut from = (first.start, State::Closed);
            for &(at, to) in run.trace.breaker.iter().chain([&(end, State::Closed)]) {
                if wide(chart, x(from.0), x(at)) {
                    chart.draw_series([Rectangle::new(
                        [(x(from.0), 0.3), (x(at), 1.0)],
                        breaker_colour(from.1).filled(),
                    )])?;
                }
                from = (at, to);
            }
            let colour = POLICY_COLOURS[i % POLICY_COLOURS.len()];
            let shown = run
                .trace
                .probes
                .iter()
                .filter(|p| p.at >= start && p.at <= end);
            chart.draw_series(shown.map(|p| {
                let top = if p.healthy { 0.3 } else { 0.2 };
                PathElement::new([(x(p.at), 0.0), (x(p.at), top)], colour.stroke_width(1))
            }))?;
            Ok(())
        })?;
    }
    let (depth, rest) = rest.split_vertically(CHART);
    let (synced, legend) = rest.split_vertically(CHART + 40);
    let top = runs
        .iter()
        .flat_map(|r| r.trace.depth.iter().map(|(_, d)| *d))
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    lines(
        &depth,
        "queue depth",
        span.clone(),
        0.0..top,
        None,
        runs,
        |run| {
            steps(&run.trace.depth, end)
                .into_iter()
                .map(|(at, d)| (x(at), d as f64))
                .collect()
        },
    )?;
    let count = |run: &Run, by: u64| run.trace.synced.iter().filter(|at| **at < by).count();
    let least = runs.iter().map(|r| count(r, start)).min().unwrap_or(0) as f64;
    let most = runs.iter().map(|r| count(r, end + 1)).max().unwrap_or(0) as f64;
    lines(
        &synced,
        "jobs synced",
        span,
        least..most.max(least + 1.0),
        Some(&unit),
        runs,
        |run| {
            let counts: Vec<(u64, usize)> = (run.trace.synced.iter().enumerate())
                .map(|(i, at)| (*at, i + 1))
                .collect();
            steps(&counts, end)
                .into_iter()
                .map(|(at, n)| (x(at), n as f64))
                .collect()
        },
    )?;
    key(&legend, runs, first)
}

/// What the seed drew, in words: `outage 41.3 s, starts after 44 min 19 s`.
fn drawn(run: &Run) -> String {
    let words: Vec<String> = run
        .drawn
        .iter()
        .map(|(name, value)| match name.strip_suffix("_ms") {
            Some(name) => format!("{} {}", name.replace('_', " "), crate::seconds(*value)),
            None => format!("{} {value}", name.replace('_', " ")),
        })
        .collect();
    words.join(", ")
}

/// One row of coloured spans, labelled on the left.
fn band<'a>(
    area: &Area<'a>,
    label: &str,
    span: Range<f64>,
    fill: impl FnOnce(
        &mut ChartContext<'_, SVGBackend<'a>, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    ) -> Result<(), Failure>,
) -> Result<(), Failure> {
    area.draw_text(
        label,
        &("sans-serif", 15).into_font().color(&BLACK),
        (10, (BAND / 2) as i32 - 8),
    )?;
    let mut chart = ChartBuilder::on(area)
        .margin_top(3)
        .margin_bottom(3)
        .margin_right(20)
        .y_label_area_size(LABEL - 10)
        .build_cartesian_2d(span, 0.0..1.0)?;
    fill(&mut chart)
}

/// Whether the span from `a` to `b` is at least a pixel wide in `chart`.
fn wide(
    chart: &ChartContext<'_, SVGBackend<'_>, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    a: f64,
    b: f64,
) -> bool {
    chart.backend_coord(&(b, 0.0)).0 > chart.backend_coord(&(a, 0.0)).0
}

/// A chart of one line per policy.
fn lines(
    area: &Area<'_>,
    what: &str,
    span: Range<f64>,
    values: Range<f64>,
    unit: Option<&str>,
    runs: &[&Run],
    points: impl Fn(&Run) -> Vec<(f64, f64)>,
) -> Result<(), Failure> {
    let mut chart = ChartBuilder::on(area)
        .margin_top(8)
        .margin_right(20)
        .x_label_area_size(if unit.is_some() { 40 } else { 0 })
        .y_label_area_size(LABEL - 10)
        .build_cartesian_2d(
            span,
            values.start..values.end + 0.05 * (values.end - values.start),
        )?;
    let mut mesh = chart.configure_mesh();
    mesh.y_desc(what)
        .y_labels(((values.end - values.start) as usize + 1).min(5))
        .y_label_formatter(&|v| format!("{v:.0}"))
        .light_line_style(WHITE.mix(0.0));
    match unit {
        Some(unit) => mesh.x_desc(unit).draw()?,
        None => mesh.x_labels(0).draw()?,
    }
    for (i, run) in runs.iter().enumerate() {
        let colour = POLICY_COLOURS[i % POLICY_COLOURS.len()];
        let width = LINE_WIDTHS[i.min(LINE_WIDTHS.len() - 1)];
        chart
            .draw_series(LineSeries::new(points(run), colour.stroke_width(width)))?
            .label(run.policy.as_str())
            .legend(move |(x, y)| {
                PathElement::new([(x, y), (x + 18, y)], colour.stroke_width(width))
            });
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .draw()?;
    Ok(())
}

/// The meanings of the colours that occur in the picture.
fn key(area: &Area<'_>, runs: &[&Run], first: &Run) -> Result<(), Failure> {
    let font = ("sans-serif", 13).into_font().color(&BLACK);
    let mut x = 10;
    let changes = first.trace.timeline.changes();
    let phases = ServerPhase::ALL
        .iter()
        .filter(|p| **p == ServerPhase::Ready || changes.iter().any(|(_, phase)| phase == *p));
    let states = [
        State::Closed,
        State::HalfOpen,
        State::Open,
        State::ForcedOpen,
    ]
    .into_iter()
    .filter(|s| {
        *s == State::Closed
            || runs
                .iter()
                .any(|r| r.trace.breaker.iter().any(|(_, to)| to == s))
    });
    let entries = phases
        .map(|s| (format!("Plex {}", s.as_str()), phase_colour(*s)))
        .chain(states.map(|s| (format!("breaker {s}"), breaker_colour(s))));
    let mut y = 6;
    for (text, colour) in entries {
        let width = 22 + 7 * text.len() as i32;
        if x + width > WIDTH as i32 - 10 {
            (x, y) = (10, y + 18);
        }
        area.draw(&Rectangle::new(
            [(x, y + 1), (x + 12, y + 13)],
            colour.filled(),
        ))?;
        area.draw_text(&text, &font, (x + 16, y))?;
        x += width;
    }
    area.draw_text(
        "ticks under a policy's breaker: its probes (taller: healthy)",
        &font,
        (10, y + 18),
    )?;
    Ok(())
}

/// The stretch worth drawing: from a little before the first outage to a little after the
/// last policy has worked off what it left.
fn window(runs: &[&Run], first: &Run) -> (u64, u64) {
    const BEFORE: u64 = 5 * 60_000;
    const AFTER: u64 = 10 * 60_000;
    let stopped = runs.iter().map(|r| r.stopped).max().unwrap_or(first.end);
    let changes = first.trace.timeline.changes();
    let (Some(&(from, _)), Some(&(last, _))) = (changes.first(), changes.last()) else {
        return (first.start, stopped);
    };
    let drained = runs
        .iter()
        .filter_map(|r| r.trace.depth.iter().find(|(at, d)| *at >= last && *d == 0))
        .map(|(at, _)| *at)
        .max()
        .unwrap_or(last);
    let start = from.saturating_sub(BEFORE).max(first.start);
    let end = (last.max(drained) + AFTER).min(stopped);
    (start, end.max(start + 1))
}

/// A step line: each depth holds until the next change.
fn steps(depth: &[(u64, usize)], end: u64) -> Vec<(u64, usize)> {
    let stride = (depth.len() / 2_000).max(1);
    let mut out = Vec::with_capacity(2 * depth.len() / stride + 2);
    let mut last = 0;
    for (i, &(at, d)) in depth.iter().enumerate() {
        if i % stride != 0 && i + 1 != depth.len() {
            continue;
        }
        out.push((at, last));
        out.push((at, d));
        last = d;
    }
    out.push((end, last));
    out
}

fn phase_colour(phase: ServerPhase) -> RGBColor {
    match phase {
        ServerPhase::Ready => RGBColor(217, 242, 217),
        ServerPhase::Refused => RGBColor(224, 102, 102),
        ServerPhase::Unreachable => RGBColor(204, 65, 37),
        ServerPhase::Silent => RGBColor(166, 77, 121),
        ServerPhase::Maintenance => RGBColor(246, 178, 107),
        ServerPhase::Starting => RGBColor(255, 217, 102),
        ServerPhase::Optimizing => RGBColor(191, 144, 0),
        ServerPhase::Slow => RGBColor(247, 182, 210),
        ServerPhase::TokenRevoked => RGBColor(140, 86, 75),
    }
}

/// Blues and greys, which no Plex phase uses, so that a breaker is never read as a server.
fn breaker_colour(state: State) -> RGBColor {
    match state {
        State::Closed => RGBColor(222, 235, 247),
        State::HalfOpen => RGBColor(107, 174, 214),
        State::Open => RGBColor(33, 81, 156),
        State::ForcedOpen => RGBColor(64, 64, 64),
    }
}
