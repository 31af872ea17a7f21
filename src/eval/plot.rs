//! PNG plots for inspecting detectors: instance scores against a threshold, ROC
//! and precision-recall curves, and training loss per epoch.
//!
//! Drawn with `plotters` on a bitmap; text uses the embedded DejaVu Sans font, so
//! no system font or fontconfig is needed. Every function creates the parent
//! directories of `path` and reports drawing failures as [`OddityError::Plot`].

use std::error::Error;
use std::path::Path;
use std::sync::OnceLock;

use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};

use crate::error::{OddityError, Result};
use crate::eval::metrics::{average_precision, precision_recall_curve, roc_auc, roc_curve};

/// One labelled score vector to draw as a ROC or precision-recall curve.
#[derive(Debug, Clone, PartialEq)]
pub struct CurveInput {
    /// Legend name, e.g. the detector.
    pub name: String,
    /// Ground truth, `true` = outlier.
    pub labels: Vec<bool>,
    /// Anomaly scores, higher = more anomalous.
    pub scores: Vec<f64>,
}

impl CurveInput {
    /// Bundles a name with labels and scores.
    pub fn new(name: impl Into<String>, labels: Vec<bool>, scores: Vec<f64>) -> Self {
        CurveInput { name: name.into(), labels, scores }
    }
}

type DrawResult<T = ()> = std::result::Result<T, Box<dyn Error>>;
/// A legend label and the points of one line.
type Line = (String, Vec<(f64, f64)>);
/// A legend label, points and colour of one dashed reference line.
type Reference = (String, Vec<(f64, f64)>, RGBColor);

const FONT: &str = "sans-serif";
const WIDE: (u32, u32) = (1000, 600);
const SQUARE: (u32, u32) = (820, 720);
/// matplotlib's tab10 colours, for series that need telling apart.
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];
const NORMAL: RGBColor = PALETTE[0];
const OUTLIER: RGBColor = PALETTE[3];
const GREY: RGBColor = RGBColor(110, 110, 110);

/// Registers the embedded DejaVu Sans once per process; `false` if it failed.
fn font_ready() -> bool {
    static READY: OnceLock<bool> = OnceLock::new();
    *READY.get_or_init(|| {
        register_font(FONT, FontStyle::Normal, dejavu::sans::regular()).is_ok()
            && register_font(FONT, FontStyle::Bold, dejavu::sans::bold()).is_ok()
    })
}

/// Creates the parent directory, loads the font, runs `draw`, and maps any failure
/// to [`OddityError::Plot`] naming `path`.
fn render(path: &Path, draw: impl FnOnce(&Path) -> DrawResult) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| OddityError::io(dir, e))?;
    }
    let plot_error = |reason: String| OddityError::Plot { path: path.to_path_buf(), reason };
    if !font_ready() {
        return Err(plot_error("the embedded DejaVu Sans font could not be loaded".into()));
    }
    draw(path).map_err(|e| plot_error(e.to_string()))
}

/// Short tick labels: no float noise like 0.30000000000000004, exponents when needed.
fn tick(v: &f64) -> String {
    let a = v.abs();
    if a == 0.0 {
        "0".into()
    } else if !(1e-3..1e5).contains(&a) {
        format!("{v:.1e}")
    } else {
        let s = format!("{v:.4}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// Linear-interpolation quantile of sorted values (numpy's default).
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let (i, frac) = (pos.floor() as usize, pos.fract());
    match sorted.get(i + 1) {
        Some(&next) => sorted[i] + frac * (next - sorted[i]),
        None => sorted[i],
    }
}

/// The y-extent of a score plot. When a few extreme scores would squash the rest
/// into a line, scores more than two robust spans (1st to 99th percentile) beyond
/// those percentiles are cut: the axis ends just past the kept scores (and the
/// threshold), and the cut ones are drawn as triangles on that edge.
#[derive(Debug, Clone, Copy, PartialEq)]
struct ScoreRange {
    /// Lowest y to show; cut low scores sit here.
    lo: f64,
    /// Highest y to show; cut high scores sit here.
    hi: f64,
    /// Scores above this are cut.
    cut_hi: Option<f64>,
    /// Scores below this are cut.
    cut_lo: Option<f64>,
}

impl ScoreRange {
    fn new(scores: &[f64], threshold: Option<f64>) -> Self {
        let mut sorted = scores.to_vec();
        sorted.sort_unstable_by(f64::total_cmp);
        let (min, max) = (sorted[0], sorted[sorted.len() - 1]);
        let (q_lo, q_hi) = (quantile(&sorted, 0.01), quantile(&sorted, 0.99));
        let span = q_hi - q_lo;
        let cut_hi = (span > 0.0 && max > q_hi + 2.0 * span).then_some(q_hi + 2.0 * span);
        let cut_lo = (span > 0.0 && min < q_lo - 2.0 * span).then_some(q_lo - 2.0 * span);
        // The percentiles themselves are always kept, so `kept` is never empty.
        let mut kept = sorted.iter().filter(|&&s| cut_hi.map_or(true, |c| s <= c) && cut_lo.map_or(true, |c| s >= c));
        let first = kept.next().copied().unwrap_or(min);
        let (mut lo, mut hi) = (first, kept.next_back().copied().unwrap_or(first));
        if let Some(t) = threshold {
            lo = lo.min(t);
            hi = hi.max(t);
        }
        let gap = 0.06 * (hi - lo);
        if cut_hi.is_some() {
            hi += gap;
        }
        if cut_lo.is_some() {
            lo -= gap;
        }
        ScoreRange { lo, hi, cut_hi, cut_lo }
    }

    fn is_cut_high(&self, s: f64) -> bool {
        self.cut_hi.is_some_and(|c| s > c)
    }

    fn is_cut_low(&self, s: f64) -> bool {
        self.cut_lo.is_some_and(|c| s < c)
    }
}

fn check_finite(values: &[f64], name: &'static str) -> Result<()> {
    match values.iter().position(|v| !v.is_finite()) {
        Some(i) => Err(OddityError::param(name, format!("value {} at index {i} is not finite", values[i]))),
        None => Ok(()),
    }
}

/// Scatter of score against row index, like Alibi Detect's `plot_instance_score`.
///
/// With `labels`, normal rows and outliers get two colours; without them but with
/// a `threshold`, rows are coloured by whether they are flagged (`score >
/// threshold`). The threshold is a dashed line. When a few extreme scores would
/// flatten the rest, the y-axis is cut (see the note on the plot) and the cut
/// points are drawn as triangles on the edge.
pub fn plot_instance_scores(
    path: impl AsRef<Path>,
    scores: &[f64],
    labels: Option<&[bool]>,
    threshold: Option<f64>,
    title: &str,
) -> Result<()> {
    if scores.is_empty() {
        return Err(OddityError::EmptyInput("no scores to plot".into()));
    }
    check_finite(scores, "scores")?;
    if let Some(l) = labels {
        if l.len() != scores.len() {
            return Err(OddityError::param(
                "labels",
                format!("has {} entries but there are {} scores", l.len(), scores.len()),
            ));
        }
    }
    if let Some(t) = threshold {
        check_finite(&[t], "threshold")?;
    }
    render(path.as_ref(), |p| draw_instance_scores(p, scores, labels, threshold, title))
}

fn draw_instance_scores(
    path: &Path,
    scores: &[f64],
    labels: Option<&[bool]>,
    threshold: Option<f64>,
    title: &str,
) -> DrawResult {
    let range = ScoreRange::new(scores, threshold);
    // Room above the data for the legend, and a little below; equal scores centred.
    let (y_lo, y_hi) = if range.hi > range.lo {
        let span = range.hi - range.lo;
        (range.lo - 0.04 * span, range.hi + 0.2 * span)
    } else {
        let half = 0.5 * range.lo.abs().max(1.0);
        (range.lo - half, range.hi + half)
    };
    let n = scores.len();
    let x_pad = (n as f64 * 0.01).max(0.5);
    let root = BitMapBackend::new(path, WIDE).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, (FONT, 26))
        .margin(18)
        .x_label_area_size(50)
        .y_label_area_size(80)
        .build_cartesian_2d(-x_pad..(n - 1) as f64 + x_pad, y_lo..y_hi)?;
    chart
        .configure_mesh()
        .x_desc("instance (row index)")
        .y_desc("score")
        .x_label_formatter(&|v| format!("{v:.0}"))
        .y_label_formatter(&tick)
        .label_style((FONT, 15))
        .axis_desc_style((FONT, 18))
        .light_line_style(WHITE.mix(0.0))
        .bold_line_style(BLACK.mix(0.08))
        .draw()?;

    let is_outlier = |i: usize| match (labels, threshold) {
        (Some(l), _) => l[i],
        (None, Some(t)) => scores[i] > t,
        (None, None) => false,
    };
    let names = match (labels, threshold) {
        (Some(_), _) => ["normal", "outlier"],
        (None, Some(_)) => ["below threshold", "above threshold"],
        (None, None) => ["score", ""],
    };
    let radius = if n > 2000 { 2 } else { 3 };
    for (group, colour) in [(false, NORMAL), (true, OUTLIER)] {
        let rows: Vec<usize> = (0..n).filter(|&i| is_outlier(i) == group).collect();
        if rows.is_empty() {
            continue;
        }
        let style = colour.mix(0.75).filled();
        let inside = |&i: &usize| !(range.is_cut_high(scores[i]) || range.is_cut_low(scores[i]));
        let dots = rows.iter().filter(|i| inside(i)).map(|&i| (i as f64, scores[i]));
        chart
            .draw_series(dots.map(|p| Circle::new(p, radius, style)))?
            .label(names[usize::from(group)])
            .legend(move |(x, y)| Circle::new((x + 8, y), 5, style));
        // Cut points: triangles pointing off the chart, on the edge they passed.
        for &i in rows.iter().filter(|i| !inside(i)) {
            let (edge, tip) = if range.is_cut_high(scores[i]) { (range.hi, -5) } else { (range.lo, 5) };
            let shape = vec![(-5, -tip * 4 / 5), (5, -tip * 4 / 5), (0, tip)];
            chart.plotting_area().draw(&(EmptyElement::at((i as f64, edge)) + Polygon::new(shape, style)))?;
        }
    }
    if let Some(t) = threshold {
        let x_end = (n - 1) as f64 + x_pad;
        chart
            .draw_series(DashedLineSeries::new([(-x_pad, t), (x_end, t)], 10, 6, BLACK.stroke_width(2)))?
            .label(format!("threshold {}", tick(&t)))
            .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], BLACK.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .label_font((FONT, 16))
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK.mix(0.4))
        .draw()?;

    let off_scale = |marker: char, cut: &[f64]| {
        let lo = cut.iter().copied().fold(f64::MAX, f64::min);
        let hi = cut.iter().copied().fold(f64::MIN, f64::max);
        match cut.len() {
            0 => None,
            1 => Some(format!("{marker} 1 score off scale ({})", tick(&lo))),
            n => Some(format!("{marker} {n} scores off scale ({} to {})", tick(&lo), tick(&hi))),
        }
    };
    let high: Vec<f64> = scores.iter().copied().filter(|&s| range.is_cut_high(s)).collect();
    let low: Vec<f64> = scores.iter().copied().filter(|&s| range.is_cut_low(s)).collect();
    let notes: Vec<String> =
        [off_scale('\u{25B2}', &high), off_scale('\u{25BC}', &low)].into_iter().flatten().collect();
    if !notes.is_empty() {
        let text = format!("y-axis cut: {}", notes.join(", "));
        let style = (FONT, 15).into_font().color(&GREY);
        let corner = EmptyElement::at((-x_pad, y_hi)) + Text::new(text, (10, 8), style);
        chart.plotting_area().draw(&corner)?;
    }
    root.present()?;
    Ok(())
}

fn check_curves(curves: &[CurveInput]) -> Result<()> {
    if curves.is_empty() {
        return Err(OddityError::EmptyInput("no curves to plot".into()));
    }
    Ok(())
}

/// ROC curves of one or more detectors, each labelled "name (AUC 0.xxxx)", over
/// the dashed chance diagonal.
pub fn plot_roc(path: impl AsRef<Path>, curves: &[CurveInput]) -> Result<()> {
    check_curves(curves)?;
    // Compute everything first, so bad input is a metrics error, not a plot error.
    let mut series = Vec::with_capacity(curves.len());
    for c in curves {
        let roc = roc_curve(&c.labels, &c.scores)?;
        let auc = roc_auc(&c.labels, &c.scores)?;
        let points: Vec<(f64, f64)> = roc.fpr.into_iter().zip(roc.tpr).collect();
        series.push((format!("{} (AUC {auc:.4})", c.name), points));
    }
    render(path.as_ref(), |p| {
        let diagonal = vec![(0.0, 0.0), (1.0, 1.0)];
        let chance = [("chance".to_string(), diagonal, GREY)];
        draw_curves(
            p,
            "ROC curve",
            ("false positive rate", "true positive rate (recall)"),
            &series,
            &chance,
            SeriesLabelPosition::LowerRight,
        )
    })
}

/// Precision-recall curves (as steps, matching how average precision sums them)
/// labelled "name (AP 0.xxxx)", with a dashed line at each positive rate (the AP
/// of a random ranking).
pub fn plot_pr(path: impl AsRef<Path>, curves: &[CurveInput]) -> Result<()> {
    check_curves(curves)?;
    let mut series = Vec::with_capacity(curves.len());
    let mut rates: Vec<(String, f64, RGBColor)> = Vec::new();
    for (k, c) in curves.iter().enumerate() {
        let pr = precision_recall_curve(&c.labels, &c.scores)?;
        let ap = average_precision(&c.labels, &c.scores)?;
        // sklearn order is recall decreasing; precision[i] holds from recall[i+1]
        // up to recall[i], which is the step average precision integrates.
        let mut points = Vec::with_capacity(2 * pr.recall.len());
        for i in 0..pr.recall.len() {
            points.push((pr.recall[i], pr.precision[i]));
            if let Some(&next_recall) = pr.recall.get(i + 1) {
                points.push((next_recall, pr.precision[i]));
            }
        }
        series.push((format!("{} (AP {ap:.4})", c.name), points));
        let rate = c.labels.iter().filter(|&&y| y).count() as f64 / c.labels.len() as f64;
        if !rates.iter().any(|(_, r, _)| (r - rate).abs() < 1e-9) {
            rates.push((c.name.clone(), rate, PALETTE[k % PALETTE.len()]));
        }
    }
    let baselines: Vec<Reference> = if rates.len() == 1 {
        let rate = rates[0].1;
        vec![(format!("positive rate {rate:.3}"), vec![(0.0, rate), (1.0, rate)], GREY)]
    } else {
        rates
            .into_iter()
            .map(|(name, r, colour)| (format!("{name} positive rate {r:.3}"), vec![(0.0, r), (1.0, r)], colour))
            .collect()
    };
    render(path.as_ref(), |p| {
        draw_curves(
            p,
            "Precision-recall curve",
            ("recall", "precision"),
            &series,
            &baselines,
            SeriesLabelPosition::LowerLeft,
        )
    })
}

/// Draws solid curves and dashed reference lines on the unit square.
fn draw_curves(
    path: &Path,
    title: &str,
    (x_desc, y_desc): (&str, &str),
    curves: &[Line],
    references: &[Reference],
    legend_at: SeriesLabelPosition,
) -> DrawResult {
    let root = BitMapBackend::new(path, SQUARE).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, (FONT, 26))
        .margin(18)
        .x_label_area_size(50)
        .y_label_area_size(65)
        .build_cartesian_2d(-0.01..1.01, -0.01..1.01)?;
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .x_label_formatter(&tick)
        .y_label_formatter(&tick)
        .label_style((FONT, 15))
        .axis_desc_style((FONT, 18))
        .light_line_style(WHITE.mix(0.0))
        .bold_line_style(BLACK.mix(0.08))
        .draw()?;
    for (label, points, colour) in references {
        let style = colour.stroke_width(2);
        chart
            .draw_series(DashedLineSeries::new(points.clone(), 8, 6, style))?
            .label(label.as_str())
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], style));
    }
    for (k, (label, points)) in curves.iter().enumerate() {
        let style = PALETTE[k % PALETTE.len()].stroke_width(3);
        chart
            .draw_series(LineSeries::new(points.clone(), style))?
            .label(label.as_str())
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], style));
    }
    chart
        .configure_series_labels()
        .position(legend_at)
        .label_font((FONT, 16))
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK.mix(0.4))
        .draw()?;
    root.present()?;
    Ok(())
}

/// Training (and optional validation) loss per epoch, epochs counted from 1. The
/// y-axis is logarithmic when every loss is positive and they span more than two
/// orders of magnitude, so late epochs stay readable.
pub fn plot_loss(path: impl AsRef<Path>, train: &[f64], validation: Option<&[f64]>, title: &str) -> Result<()> {
    if train.is_empty() {
        return Err(OddityError::EmptyInput("no training losses to plot".into()));
    }
    check_finite(train, "train")?;
    if let Some(v) = validation {
        check_finite(v, "validation")?;
    }
    let all = train.iter().chain(validation.unwrap_or(&[]));
    let (min, max) = all.fold((f64::MAX, f64::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    let epochs = train.len().max(validation.map_or(0, <[f64]>::len));
    let x = 0.5..epochs as f64 + 0.5;
    render(path.as_ref(), |p| {
        if min > 0.0 && max / min > 100.0 {
            let y = (min / 1.5..max * 1.5).log_scale();
            draw_loss(p, x, y, train, validation, title, "loss (log scale)")
        } else {
            let pad = if max > min { 0.08 * (max - min) } else { max.abs().max(1.0) * 0.1 };
            draw_loss(p, x, min - pad..max + pad, train, validation, title, "loss")
        }
    })
}

fn draw_loss<Y>(
    path: &Path,
    x: std::ops::Range<f64>,
    y: Y,
    train: &[f64],
    validation: Option<&[f64]>,
    title: &str,
    y_desc: &str,
) -> DrawResult
where
    Y: AsRangedCoord<Value = f64>,
    Y::CoordDescType: ValueFormatter<f64>,
{
    let epochs = x.end.round() as usize;
    let root = BitMapBackend::new(path, WIDE).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, (FONT, 26))
        .margin(18)
        .x_label_area_size(50)
        .y_label_area_size(80)
        .build_cartesian_2d(x, y)?;
    chart
        .configure_mesh()
        .x_desc("epoch")
        .y_desc(y_desc)
        .x_labels(epochs.clamp(2, 12))
        .x_label_formatter(&|v| format!("{v:.0}"))
        .y_label_formatter(&tick)
        .label_style((FONT, 15))
        .axis_desc_style((FONT, 18))
        .light_line_style(WHITE.mix(0.0))
        .bold_line_style(BLACK.mix(0.08))
        .draw()?;
    let series = [("train", Some(train), PALETTE[0]), ("validation", validation, PALETTE[1])];
    for (name, values, colour) in series {
        let Some(values) = values.filter(|v| !v.is_empty()) else {
            continue;
        };
        let points: Vec<(f64, f64)> = values.iter().enumerate().map(|(i, &v)| ((i + 1) as f64, v)).collect();
        let style = colour.stroke_width(2);
        chart
            .draw_series(LineSeries::new(points.clone(), style))?
            .label(name)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], style));
        if values.len() <= 60 {
            chart.draw_series(points.into_iter().map(|p| Circle::new(p, 3, colour.filled())))?;
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .label_font((FONT, 16))
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK.mix(0.4))
        .draw()?;
    root.present()?;
    Ok(())
}

/// Grouped bars: one group per entry of `groups` (e.g. data sets), one bar
/// per series in each (e.g. detectors), heights from 0 to `y_max`; for
/// comparing many detectors on many tables at a glance. Every series needs
/// one finite value per group.
pub fn plot_grouped_bars(
    path: impl AsRef<Path>,
    title: &str,
    groups: &[String],
    series: &[(String, Vec<f64>)],
    y_desc: &str,
    y_max: f64,
) -> Result<()> {
    if groups.is_empty() || series.is_empty() {
        return Err(OddityError::EmptyInput("no groups or series to plot".into()));
    }
    for (name, v) in series {
        if v.len() != groups.len() {
            return Err(OddityError::param(
                "series",
                format!("`{name}` has {} values for {} groups", v.len(), groups.len()),
            ));
        }
        check_finite(v, "series")?;
    }
    if !(y_max.is_finite() && y_max > 0.0) {
        return Err(OddityError::param("y_max", format!("{y_max} must be finite and > 0")));
    }
    render(path.as_ref(), |path| {
        let root = BitMapBackend::new(path, WIDE).into_drawing_area();
        root.fill(&WHITE)?;
        let n = groups.len();
        let mut chart = ChartBuilder::on(&root)
            .caption(title, (FONT, 26))
            .margin(18)
            .x_label_area_size(50)
            .y_label_area_size(70)
            // Headroom above the tallest bar for the legend.
            .build_cartesian_2d(0.0..n as f64, 0.0..y_max * 1.3)?;
        chart
            .configure_mesh()
            .y_desc(y_desc)
            .x_labels(0)
            .y_label_formatter(&tick)
            .label_style((FONT, 15))
            .axis_desc_style((FONT, 18))
            .light_line_style(WHITE.mix(0.0))
            .bold_line_style(BLACK.mix(0.08))
            .disable_x_mesh()
            .draw()?;
        let width = 0.8 / series.len() as f64;
        for (j, (name, values)) in series.iter().enumerate() {
            let colour = PALETTE[j % PALETTE.len()];
            let bars = values.iter().enumerate().map(move |(i, &v)| {
                let x0 = i as f64 + 0.1 + j as f64 * width;
                Rectangle::new([(x0, 0.0), (x0 + width * 0.92, v.clamp(0.0, y_max))], colour.filled())
            });
            chart
                .draw_series(bars)?
                .label(name.as_str())
                .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], colour.filled()));
        }
        // Group names under the axis, centred on their bars.
        for (i, g) in groups.iter().enumerate() {
            let (x, y) = chart.backend_coord(&(i as f64 + 0.5, 0.0));
            let centre = plotters::style::text_anchor::Pos::new(
                plotters::style::text_anchor::HPos::Center,
                plotters::style::text_anchor::VPos::Top,
            );
            let style = TextStyle::from((FONT, 16).into_font()).pos(centre);
            root.draw(&Text::new(g.clone(), (x, y + 8), style))?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .label_font((FONT, 14))
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK.mix(0.4))
            .draw()?;
        root.present()?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_png(path: &Path) {
        let bytes = std::fs::read(path).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{} is not a PNG", path.display());
        assert!(bytes.len() > 10_000, "{} is only {} bytes", path.display(), bytes.len());
    }

    /// Deterministic scores: normal rows around 1, outliers around 4, one huge value.
    fn demo(n: usize) -> (Vec<f64>, Vec<bool>) {
        let mut scores = Vec::with_capacity(n);
        let mut labels = Vec::with_capacity(n);
        for i in 0..n {
            let wobble = ((i * 7919) % 101) as f64 / 100.0;
            let outlier = i % 17 == 0;
            scores.push(if outlier { 3.0 + 2.0 * wobble } else { 0.5 + wobble });
            labels.push(outlier);
        }
        scores[n / 2] = 1e4;
        labels[n / 2] = true;
        (scores, labels)
    }

    #[test]
    fn writes_every_plot_as_png() {
        let dir = tempfile::tempdir().unwrap();
        let (scores, labels) = demo(400);
        let nested = dir.path().join("a/b/scores.png");
        plot_instance_scores(&nested, &scores, Some(&labels), Some(2.5), "Scores").unwrap();
        assert_png(&nested);
        let unlabelled = dir.path().join("unlabelled.png");
        plot_instance_scores(&unlabelled, &scores, None, Some(2.5), "Scores").unwrap();
        assert_png(&unlabelled);

        let noisy: Vec<f64> = scores.iter().enumerate().map(|(i, s)| s + (i % 5) as f64).collect();
        let curves =
            [CurveInput::new("clean", labels.clone(), scores.clone()), CurveInput::new("noisy", labels.clone(), noisy)];
        let roc = dir.path().join("roc.png");
        plot_roc(&roc, &curves).unwrap();
        assert_png(&roc);
        let pr = dir.path().join("pr.png");
        plot_pr(&pr, &curves).unwrap();
        assert_png(&pr);

        let train: Vec<f64> = (0..30).map(|e| 1000.0 * 0.7f64.powi(e) + 0.1).collect();
        let val: Vec<f64> = train.iter().map(|l| l * 1.2).collect();
        let loss = dir.path().join("loss.png");
        plot_loss(&loss, &train, Some(&val), "Training loss").unwrap();
        assert_png(&loss);
        // Degenerate but valid inputs still draw.
        let single = dir.path().join("single.png");
        plot_instance_scores(&single, &[0.5], None, None, "One").unwrap();
        assert_png(&single);
        let same = dir.path().join("same.png");
        plot_instance_scores(&same, &[2.0; 50], Some(&[false; 50]), Some(2.0), "Same").unwrap();
        assert_png(&same);
        let one_epoch = dir.path().join("one_epoch.png");
        plot_loss(&one_epoch, &[0.3], Some(&[]), "One epoch").unwrap();
        assert_png(&one_epoch);
        let flat = dir.path().join("flat_loss.png");
        plot_loss(&flat, &[-0.5, -0.7, -0.8], None, "ELBO loss").unwrap();
        assert_png(&flat);
    }

    #[test]
    fn bad_input_is_a_typed_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.png");
        assert!(matches!(plot_instance_scores(&p, &[], None, None, "t"), Err(OddityError::EmptyInput(_))));
        assert!(plot_instance_scores(&p, &[1.0, f64::NAN], None, None, "t").is_err());
        assert!(plot_instance_scores(&p, &[1.0, 2.0], Some(&[true]), None, "t").is_err());
        assert!(matches!(plot_roc(&p, &[]), Err(OddityError::EmptyInput(_))));
        let one_class = [CurveInput::new("a", vec![false, false], vec![1.0, 2.0])];
        assert!(plot_roc(&p, &one_class).is_err());
        assert!(plot_pr(&p, &one_class).is_err());
        assert!(plot_loss(&p, &[], None, "t").is_err());
        assert!(!p.exists());
        // A directory where the file should go: the write fails as a Plot error.
        let blocked = dir.path().join("blocked.png");
        std::fs::create_dir(&blocked).unwrap();
        assert!(matches!(plot_loss(&blocked, &[1.0, 0.5], None, "t"), Err(OddityError::Plot { .. })));
    }

    /// Grouped bars: a PNG of the wide size; mismatched, empty or
    /// non-finite input is a typed error and writes nothing.
    #[test]
    fn grouped_bars_draw_and_refuse_bad_input() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bars.png");
        let groups: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        let series = vec![("x".to_string(), vec![0.9, 0.5, 0.7]), ("y".to_string(), vec![0.6, 0.8, 1.0])];
        assert!(plot_grouped_bars(&p, "t", &groups, &[], "auc", 1.0).is_err());
        assert!(plot_grouped_bars(&p, "t", &groups, &[("x".into(), vec![0.5])], "auc", 1.0).is_err());
        assert!(plot_grouped_bars(&p, "t", &groups, &[("x".into(), vec![0.5, f64::NAN, 1.0])], "auc", 1.0).is_err());
        assert!(plot_grouped_bars(&p, "t", &groups, &series, "auc", f64::INFINITY).is_err());
        assert!(!p.exists());
        plot_grouped_bars(&p, "t", &groups, &series, "auc", 1.0).unwrap();
        let bytes = std::fs::read(&p).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
        // IHDR: width and height, big endian, at bytes 16..24.
        assert_eq!(u32::from_be_bytes([bytes[16], bytes[17], bytes[18], bytes[19]]), WIDE.0);
        assert_eq!(u32::from_be_bytes([bytes[20], bytes[21], bytes[22], bytes[23]]), WIDE.1);
    }

    #[test]
    fn extreme_scores_cut_the_axis_but_ordinary_ones_do_not() {
        let (scores, _) = demo(400);
        let r = ScoreRange::new(&scores, Some(2.5));
        assert!(r.cut_hi.is_some() && r.cut_lo.is_none() && r.hi < 20.0);
        assert!(r.is_cut_high(1e4) && !r.is_cut_high(5.0));
        let r = ScoreRange::new(&scores[..100], None);
        assert_eq!((r.cut_hi, r.cut_lo), (None, None));
        // The threshold always stays in view.
        let r = ScoreRange::new(&scores, Some(50.0));
        assert!(r.hi >= 50.0);
        // All-equal scores have no robust span and no cut.
        let r = ScoreRange::new(&[2.0; 10], None);
        assert_eq!((r.lo, r.hi, r.cut_hi), (2.0, 2.0, None));
        // A low extreme is cut too.
        let mut low = scores.clone();
        low[3] = -1e4;
        assert!(ScoreRange::new(&low, None).is_cut_low(-1e4));
    }

    #[test]
    fn tick_labels_are_short() {
        assert_eq!(tick(&0.30000000000000004), "0.3");
        assert_eq!(tick(&0.0), "0");
        assert_eq!(tick(&12.5), "12.5");
        assert_eq!(tick(&250000.0), "2.5e5");
        assert_eq!(tick(&-0.0001), "-1.0e-4");
    }
}
