//! A dependency-free SVG line chart: two panels side by side (deliveries/s and p99 latency
//! against N), one line per server. Small enough to read, and it renders on GitHub.

use std::fmt::Write;

/// One line of a panel: a name, a colour and its (x, y) points.
pub struct Series<'a> {
    pub name: &'a str,
    pub colour: &'a str,
    pub points: Vec<(f64, f64)>,
}

/// One panel of the chart.
pub struct Panel<'a> {
    pub title: &'a str,
    pub y_label: &'a str,
    pub series: Vec<Series<'a>>,
}

const PANEL_W: f64 = 420.0;
const PANEL_H: f64 = 300.0;
const MARGIN_L: f64 = 70.0;
const MARGIN_R: f64 = 20.0;
const MARGIN_T: f64 = 40.0;
const MARGIN_B: f64 = 50.0;

/// Renders the panels left to right, sharing the x axis label.
pub fn render(panels: &[Panel], x_label: &str) -> String {
    let width = PANEL_W * panels.len() as f64;
    let height = PANEL_H + 30.0;
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(
        svg,
        r#"<rect width="{width}" height="{height}" fill="white"/>"#
    );
    for (index, panel) in panels.iter().enumerate() {
        draw_panel(&mut svg, panel, index as f64 * PANEL_W, x_label);
    }
    // One legend for all panels: every panel has the same series.
    if let Some(panel) = panels.first() {
        for (index, series) in panel.series.iter().enumerate() {
            let x = 20.0 + index as f64 * 180.0;
            let y = PANEL_H + 15.0;
            let _ = writeln!(
                svg,
                r#"<line x1="{x}" y1="{y}" x2="{}" y2="{y}" stroke="{}" stroke-width="3"/><text x="{}" y="{}">{}</text>"#,
                x + 24.0,
                series.colour,
                x + 30.0,
                y + 4.0,
                escape(series.name)
            );
        }
    }
    svg.push_str("</svg>\n");
    svg
}

fn draw_panel(svg: &mut String, panel: &Panel, left: f64, x_label: &str) {
    let points = panel.series.iter().flat_map(|series| &series.points);
    let x_max = nice_ceiling(points.clone().map(|p| p.0).fold(0.0, f64::max));
    let y_max = nice_ceiling(points.map(|p| p.1).fold(0.0, f64::max));
    let (plot_w, plot_h) = (PANEL_W - MARGIN_L - MARGIN_R, PANEL_H - MARGIN_T - MARGIN_B);
    let to_x = |x: f64| left + MARGIN_L + x / x_max * plot_w;
    let to_y = |y: f64| MARGIN_T + plot_h - y / y_max * plot_h;

    let _ = writeln!(
        svg,
        r#"<text x="{}" y="20" text-anchor="middle" font-size="14" font-weight="bold">{}</text>"#,
        left + PANEL_W / 2.0,
        escape(panel.title)
    );
    // Axes, grid and tick labels: five steps on each axis.
    for step in 0..=5 {
        let fraction = step as f64 / 5.0;
        let (y_value, x_value) = (y_max * fraction, x_max * fraction);
        let (y, x) = (to_y(y_value), to_x(x_value));
        let _ = writeln!(
            svg,
            r##"<line x1="{}" y1="{y}" x2="{}" y2="{y}" stroke="#ddd"/><text x="{}" y="{}" text-anchor="end">{}</text>"##,
            to_x(0.0),
            to_x(x_max),
            to_x(0.0) - 6.0,
            y + 4.0,
            short(y_value)
        );
        let _ = writeln!(
            svg,
            r#"<text x="{x}" y="{}" text-anchor="middle">{}</text>"#,
            to_y(0.0) + 16.0,
            short(x_value)
        );
    }
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
        left + MARGIN_L + plot_w / 2.0,
        PANEL_H - 10.0,
        escape(x_label)
    );
    let _ = writeln!(
        svg,
        r#"<text transform="translate({},{}) rotate(-90)" text-anchor="middle">{}</text>"#,
        left + 16.0,
        MARGIN_T + plot_h / 2.0,
        escape(panel.y_label)
    );
    for series in &panel.series {
        let path: Vec<String> = series
            .points
            .iter()
            .map(|&(x, y)| format!("{:.1},{:.1}", to_x(x), to_y(y)))
            .collect();
        let _ = writeln!(
            svg,
            r#"<polyline fill="none" stroke="{}" stroke-width="2.5" points="{}"/>"#,
            series.colour,
            path.join(" ")
        );
        for &(x, y) in &series.points {
            let _ = writeln!(
                svg,
                r#"<circle cx="{:.1}" cy="{:.1}" r="3.5" fill="{}"/>"#,
                to_x(x),
                to_y(y),
                series.colour
            );
        }
    }
}

/// The next "round" number (1, 2 or 5 times a power of ten) at or above `value`.
fn nice_ceiling(value: f64) -> f64 {
    if value <= 0.0 || !value.is_finite() {
        return 1.0;
    }
    let magnitude = 10f64.powf(value.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|step| step * magnitude)
        .find(|&candidate| candidate >= value)
        .unwrap_or(10.0 * magnitude)
}

/// 1500 → "1.5k", 2000000 → "2M".
fn short(value: f64) -> String {
    let (scaled, suffix) = if value >= 1e6 {
        (value / 1e6, "M")
    } else if value >= 1e3 {
        (value / 1e3, "k")
    } else {
        (value, "")
    };
    let text = format!("{scaled:.1}");
    format!("{}{suffix}", text.trim_end_matches(".0"))
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
