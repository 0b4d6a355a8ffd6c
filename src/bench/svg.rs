//! A small SVG report: the latency percentile curve (log-scaled tail) and
//! throughput over time. Written by hand: two line charts need no plotting
//! library.

use std::fmt::Write;

use super::BenchResult;

const W: f64 = 640.0;
const H: f64 = 240.0;
const PAD: f64 = 64.0;

/// One line chart: `points` in data coordinates, axes labelled.
fn chart(
    out: &mut String,
    top: f64,
    title: &str,
    x_label: &str,
    y_label: &str,
    points: &[(f64, f64)],
    x_ticks: &[(f64, String)],
) {
    let (xmin, xmax) = points.iter().fold((f64::MAX, f64::MIN), |(a, b), (x, _)| (a.min(*x), b.max(*x)));
    let ymax = points.iter().map(|(_, y)| *y).fold(0.0_f64, f64::max).max(1e-9) * 1.1;
    let sx = |x: f64| PAD + (x - xmin) / (xmax - xmin).max(1e-9) * (W - 2.0 * PAD);
    let sy = |y: f64| top + H - PAD - y / ymax * (H - 2.0 * PAD);
    let _ =
        writeln!(out, r#"<text x="{}" y="{}" font-size="14" font-family="sans-serif">{title}</text>"#, PAD, top + 20.0);
    let _ = writeln!(
        out,
        r##"<line x1="{PAD}" y1="{b}" x2="{r}" y2="{b}" stroke="#333"/><line x1="{PAD}" y1="{t}" x2="{PAD}" y2="{b}" stroke="#333"/>"##,
        b = top + H - PAD,
        r = W - PAD,
        t = top + PAD
    );
    for (x, label) in x_ticks {
        let _ = writeln!(
            out,
            r#"<text x="{}" y="{}" font-size="10" font-family="sans-serif" text-anchor="middle">{label}</text>"#,
            sx(*x),
            top + H - PAD + 14.0
        );
    }
    for frac in [0.0, 0.5, 1.0] {
        let y = ymax / 1.1 * frac;
        let _ = writeln!(
            out,
            r#"<text x="{}" y="{}" font-size="10" font-family="sans-serif" text-anchor="end">{}</text>"#,
            PAD - 4.0,
            sy(y) + 3.0,
            if ymax > 100.0 { format!("{y:.0}") } else { format!("{y:.2}") }
        );
    }
    let _ = writeln!(
        out,
        r#"<text x="{}" y="{}" font-size="11" font-family="sans-serif" text-anchor="middle">{x_label}</text>"#,
        W / 2.0,
        top + H - 12.0
    );
    let _ = writeln!(
        out,
        r#"<text x="12" y="{}" font-size="11" font-family="sans-serif" transform="rotate(-90 12 {})" text-anchor="middle">{y_label}</text>"#,
        top + H / 2.0,
        top + H / 2.0
    );
    let path: Vec<String> = points.iter().map(|(x, y)| format!("{:.1},{:.1}", sx(*x), sy(*y))).collect();
    let _ = writeln!(out, r##"<polyline fill="none" stroke="#1f77b4" stroke-width="2" points="{}"/>"##, path.join(" "));
}

/// The report for one result.
pub fn render(r: &BenchResult) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{}" viewBox="0 0 {W} {}">"#,
        2.0 * H,
        2.0 * H
    );
    let _ = writeln!(out, r#"<rect width="100%" height="100%" fill="white"/>"#);
    // Percentile axis: -log10(1 - p) spreads the tail (50% → 0.3, 99.9% → 3).
    let tail = |p: f64| -(1.0 - (p / 100.0).min(0.9999)).log10();
    let curve: Vec<(f64, f64)> = r.percentile_curve.iter().map(|(p, ms)| (tail(*p), *ms)).collect();
    let ticks: Vec<(f64, String)> =
        [0.0, 50.0, 90.0, 99.0, 99.9, 99.99].iter().map(|p| (tail(*p), format!("{p}%"))).collect();
    let title = format!("{} latency ({} mode, {} in flight, {} client(s))", r.workload, r.mode, r.in_flight, r.clients);
    chart(&mut out, 0.0, &title, "percentile", "ms", &curve, &ticks);
    let tp: Vec<(f64, f64)> =
        r.throughput_timeline.iter().enumerate().map(|(i, n)| (i as f64 + 1.0, *n as f64)).collect();
    let tp = if tp.len() == 1 { vec![(0.0, tp[0].1), tp[0]] } else { tp };
    let n = tp.len();
    let ticks: Vec<(f64, String)> = tp.iter().step_by((n / 8).max(1)).map(|(x, _)| (*x, format!("{x:.0}s"))).collect();
    chart(&mut out, H, "throughput (requests per second)", "time", "req/s", &tp, &ticks);
    out.push_str("</svg>\n");
    out
}
