//! Charts drawn on the server as SVG: the sequential test's log-likelihood
//! ratio case by case against its pass and fail boundaries, and the
//! anytime-valid range narrowing around the rate. Small enough to draw by
//! hand; each carries a title and a description for screen readers, and
//! the numbers beside it say the same in words.

use std::fmt::Write as _;

use maud::{Markup, PreEscaped, html};

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 220.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 24.0;
const BOTTOM: f64 = 34.0;

/// A linear map from data to the plot area.
struct Scale {
    x: (f64, f64),
    y: (f64, f64),
}

impl Scale {
    fn new(x: (f64, f64), y: (f64, f64)) -> Self {
        let widen = |(lo, hi): (f64, f64)| {
            if hi > lo {
                (lo, hi)
            } else {
                (lo - 1.0, lo + 1.0)
            }
        };
        Self {
            x: widen(x),
            y: widen(y),
        }
    }

    fn px(&self, x: f64) -> f64 {
        LEFT + (x - self.x.0) / (self.x.1 - self.x.0) * (WIDTH - LEFT - RIGHT)
    }

    fn py(&self, y: f64) -> f64 {
        TOP + (self.y.1 - y) / (self.y.1 - self.y.0) * (HEIGHT - TOP - BOTTOM)
    }

    fn path(&self, points: impl IntoIterator<Item = (f64, f64)>) -> String {
        let mut d = String::new();
        for (i, (x, y)) in points.into_iter().enumerate() {
            let command = if i == 0 { 'M' } else { 'L' };
            let _ = write!(d, "{command}{:.1},{:.1} ", self.px(x), self.py(y));
        }
        d
    }
}

fn frame(
    id: &str,
    title: &str,
    description: &str,
    scale: &Scale,
    y_label: &str,
    inner: Markup,
) -> Markup {
    let (x0, x1) = scale.x;
    html! {
        svg.chart viewBox={ "0 0 " (WIDTH) " " (HEIGHT) } role="img"
            aria-labelledby={ (id) "-title " (id) "-desc" } {
            title id={ (id) "-title" } { (title) }
            desc id={ (id) "-desc" } { (description) }
            line.axis x1=(LEFT) y1=(HEIGHT - BOTTOM) x2=(WIDTH - RIGHT) y2=(HEIGHT - BOTTOM) {}
            line.axis x1=(LEFT) y1=(TOP) x2=(LEFT) y2=(HEIGHT - BOTTOM) {}
            text.tick x=(LEFT) y=(HEIGHT - 12.0) text-anchor="start" { (format_number(x0)) }
            text.tick x=(WIDTH - RIGHT) y=(HEIGHT - 12.0) text-anchor="end" { (format_number(x1)) " cases" }
            text.tick x=(LEFT - 6.0) y=(scale.py(scale.y.1) + 4.0) text-anchor="end" { (format_number(scale.y.1)) }
            text.tick x=(LEFT - 6.0) y=(scale.py(scale.y.0) + 4.0) text-anchor="end" { (format_number(scale.y.0)) }
            text.tick x=(LEFT) y="14" text-anchor="start" { (y_label) }
            (inner)
        }
    }
}

fn format_number(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e9 {
        format!("{value:.0}")
    } else {
        format!("{value:.2}")
    }
}

/// The log-likelihood ratio after each number of cases, against the
/// boundaries where the check passes (`pass_at`) and fails (`fail_at`).
pub fn log_ratio(
    id: &str,
    label: &str,
    points: &[(u64, f64)],
    pass_at: f64,
    fail_at: f64,
) -> Markup {
    let last_x = points.last().map_or(1.0, |p| p.0 as f64);
    let (lo, hi) = points.iter().fold(
        (fail_at.min(pass_at), fail_at.max(pass_at)),
        |(lo, hi), p| (lo.min(p.1), hi.max(p.1)),
    );
    let margin = (hi - lo) * 0.08;
    let scale = Scale::new((0.0, last_x.max(1.0)), (lo - margin, hi + margin));
    let line =
        scale.path(std::iter::once((0.0, 0.0)).chain(points.iter().map(|&(x, y)| (x as f64, y))));
    let now = points.last().map_or(0.0, |p| p.1);
    let description = format!(
        "After {} cases the log-likelihood ratio is {now:.2}; the check passes at {pass_at:.2} and fails at {fail_at:.2}.",
        last_x as u64
    );
    let inner = html! {
        line.pass x1=(LEFT) x2=(WIDTH - RIGHT) y1=(scale.py(pass_at)) y2=(scale.py(pass_at)) {}
        text.pass x=(WIDTH - RIGHT - 4.0) y=(scale.py(pass_at) - 4.0) text-anchor="end" { "pass " (format!("{pass_at:.2}")) }
        line.fail x1=(LEFT) x2=(WIDTH - RIGHT) y1=(scale.py(fail_at)) y2=(scale.py(fail_at)) {}
        text.fail x=(WIDTH - RIGHT - 4.0) y=(scale.py(fail_at) + 14.0) text-anchor="end" { "fail " (format!("{fail_at:.2}")) }
        path.series d=(line) {}
    };
    frame(
        id,
        &format!("{label}: log-likelihood ratio, case by case"),
        &description,
        &scale,
        "ln LR",
        inner,
    )
}

/// The anytime-valid range of the rate after each number of cases, its
/// point estimate, and the bar it is held to.
pub fn range(id: &str, label: &str, points: &[(u64, [f64; 2], Option<f64>)], bar: f64) -> Markup {
    let last_x = points.last().map_or(1.0, |p| p.0 as f64);
    let scale = Scale::new((0.0, last_x.max(1.0)), (0.0, 1.0));
    let upper = scale.path(points.iter().map(|p| (p.0 as f64, p.1[1])));
    let lower: Vec<(f64, f64)> = points.iter().rev().map(|p| (p.0 as f64, p.1[0])).collect();
    let mut band = upper.clone();
    for (x, y) in &lower {
        let _ = write!(band, "L{:.1},{:.1} ", scale.px(*x), scale.py(*y));
    }
    if !points.is_empty() {
        band.push('Z');
    }
    let estimate = scale.path(points.iter().filter_map(|p| p.2.map(|r| (p.0 as f64, r))));
    let description = points.last().map_or_else(
        || "No case yet.".to_owned(),
        |p| {
            format!(
                "After {} cases the rate lies between {:.3} and {:.3}; the bar is {bar:.3}.",
                p.0, p.1[0], p.1[1]
            )
        },
    );
    let inner = html! {
        path.band d=(band) {}
        line.bar x1=(LEFT) x2=(WIDTH - RIGHT) y1=(scale.py(bar)) y2=(scale.py(bar)) {}
        text.bar x=(WIDTH - RIGHT - 4.0) y=(scale.py(bar) - 4.0) text-anchor="end" { "bar " (format!("{bar:.3}")) }
        path.series d=(estimate) {}
    };
    frame(
        id,
        &format!("{label}: anytime-valid range"),
        &description,
        &scale,
        "rate",
        inner,
    )
}

/// An SVG's markup as text, for tests.
pub fn render(markup: &Markup) -> &str {
    let PreEscaped(text) = markup;
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ratio_chart_draws_its_boundaries_and_says_where_it_stands() {
        let chart = log_ratio(
            "acc",
            "accuracy",
            &[(10, 0.5), (20, 1.5), (30, 3.2)],
            2.99,
            -2.99,
        );
        let svg = render(&chart);
        assert!(
            svg.contains("<title id=\"acc-title\">accuracy: log-likelihood ratio"),
            "{svg}"
        );
        assert!(
            svg.contains("After 30 cases the log-likelihood ratio is 3.20"),
            "{svg}"
        );
        assert!(svg.contains("class=\"pass\"") && svg.contains("class=\"fail\""));
        assert_eq!(svg.matches("<path").count(), 1);
    }

    #[test]
    fn the_range_chart_closes_its_band() {
        let chart = range(
            "r",
            "accuracy",
            &[(10, [0.5, 1.0], Some(0.9)), (20, [0.8, 0.99], Some(0.95))],
            0.95,
        );
        let svg = render(&chart);
        assert!(svg.contains('Z'), "{svg}");
        assert!(svg.contains("between 0.800 and 0.990"), "{svg}");
    }
}
