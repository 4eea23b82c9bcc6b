//! The benchmark's line chart, drawn with plotters into an SVG string: panels side by side (say
//! deliveries/s and p99 latency against N), one line per server, one legend under them.
//!
//! plotters is built without its `ttf` feature, so it never looks for a system font: it
//! estimates text widths itself and writes `<text font-family="sans-serif">` elements, which
//! the viewer (GitHub, a browser) sets in its own sans-serif font.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// One line of a panel: a name, a colour and its (x, y) points.
pub struct Series<'a> {
    pub name: &'a str,
    pub colour: RGBColor,
    pub points: Vec<(f64, f64)>,
}

/// One panel of the chart.
pub struct Panel<'a> {
    pub title: &'a str,
    pub y_label: &'a str,
    pub series: Vec<Series<'a>>,
}

const PANEL_SIZE: (u32, u32) = (420, 300);
const LEGEND_HEIGHT: u32 = 30;
const FONT: &str = "sans-serif";
/// plotters writes 1/1.24 of the size it is given: these come out as 16 px and 12 px.
const TITLE_SIZE: f64 = 20.0;
const LABEL_SIZE: f64 = 15.0;

/// Renders the panels left to right, sharing the x axis label, as an SVG document.
pub fn render(panels: &[Panel], x_label: &str) -> Result<String, String> {
    let mut svg = String::new();
    let width = PANEL_SIZE.0 * panels.len().max(1) as u32;
    {
        let root = SVGBackend::with_string(&mut svg, (width, PANEL_SIZE.1 + LEGEND_HEIGHT))
            .into_drawing_area();
        root.fill(&WHITE).map_err(describe)?;
        let (chart_row, legend_row) = root.split_vertically(PANEL_SIZE.1);
        let areas = chart_row.split_evenly((1, panels.len().max(1)));
        for (panel, area) in panels.iter().zip(&areas) {
            draw_panel(area, panel, x_label).map_err(describe)?;
        }
        // Every panel has the same series: one legend for all.
        if let Some(panel) = panels.first() {
            draw_legend(&legend_row, &panel.series).map_err(describe)?;
        }
        root.present().map_err(describe)?;
    }
    Ok(svg)
}

type Area<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;
type DrawResult = Result<(), DrawingAreaErrorKind<std::io::Error>>;

fn draw_panel(area: &Area, panel: &Panel, x_label: &str) -> DrawResult {
    let points = || panel.series.iter().flat_map(|series| &series.points);
    let x_max = headroom(points().map(|p| p.0).fold(0.0, f64::max));
    let y_max = headroom(points().map(|p| p.1).fold(0.0, f64::max));

    let mut chart = ChartBuilder::on(area)
        .caption(
            panel.title,
            (FONT, TITLE_SIZE).into_font().style(FontStyle::Bold),
        )
        .margin(12)
        .x_label_area_size(44)
        .y_label_area_size(56)
        .build_cartesian_2d(0.0..x_max, 0.0..y_max)?;
    chart
        .configure_mesh()
        .x_labels(6)
        .y_labels(6)
        .x_label_formatter(&|v| short(*v))
        .y_label_formatter(&|v| short(*v))
        .x_desc(x_label)
        .y_desc(panel.y_label)
        .label_style((FONT, LABEL_SIZE))
        .axis_desc_style((FONT, LABEL_SIZE))
        .max_light_lines(0)
        .bold_line_style(RGBColor(221, 221, 221))
        .draw()?;
    for series in &panel.series {
        let style = series.colour.stroke_width(2);
        chart.draw_series(LineSeries::new(series.points.iter().copied(), style))?;
        let dot = series.colour.filled();
        chart.draw_series(series.points.iter().map(|&p| Circle::new(p, 3, dot)))?;
    }
    Ok(())
}

fn draw_legend(area: &Area, series: &[Series]) -> DrawResult {
    let y = (LEGEND_HEIGHT / 2) as i32;
    for (index, series) in series.iter().enumerate() {
        let x = 20 + index as i32 * 240;
        let line = PathElement::new(vec![(x, y), (x + 24, y)], series.colour.stroke_width(3));
        area.draw(&line)?;
        let label = TextStyle::from((FONT, LABEL_SIZE)).pos(Pos::new(HPos::Left, VPos::Center));
        area.draw(&Text::new(series.name, (x + 30, y), label))?;
    }
    Ok(())
}

/// The axis end: 10% above the largest value, so that the top point is not on the frame.
fn headroom(max: f64) -> f64 {
    if max > 0.0 && max.is_finite() {
        max * 1.1
    } else {
        1.0
    }
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

fn describe(error: DrawingAreaErrorKind<std::io::Error>) -> String {
    format!("drawing the chart: {error}")
}
