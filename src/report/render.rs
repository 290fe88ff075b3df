//! The HTML page, the SVG maps and the Markdown summary.

use std::fmt::Write;

use ipnet::IpNet;

use super::hilbert::{Layout, Rect};
use super::model::{Alloc, Changes, PoolReport, PoolView, Status};
use crate::alloc::{merge, overlaps, subtract, Count, Facts, Family};

/// Escapes text for HTML and XML, in content and in attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn count(nets: &[IpNet]) -> Count {
    merge(nets).iter().map(|n| Facts::of(n).address_count).sum()
}

/// Allocatable addresses (the pool minus reserved) and allocated ones.
pub fn utilization(v: &PoolView) -> (Count, Count) {
    let space = count(&v.cidrs);
    let reserved = count(
        &v.reserved
            .iter()
            .copied()
            .filter(|r| v.cidrs.iter().any(|c| overlaps(c, r)))
            .collect::<Vec<_>>(),
    );
    let allocated = count(&v.allocations.values().map(|a| a.cidr).collect::<Vec<_>>());
    (space.saturating_sub(reserved), allocated)
}

pub fn percent(v: &PoolView) -> String {
    let (total, used) = utilization(v);
    if total == Count::ZERO {
        return "n/a".into();
    }
    format!("{:.1}%", used.as_f64() / total.as_f64() * 100.0)
}

fn size(n: &IpNet) -> String {
    Facts::of(n).address_count.to_string()
}

/// A stable colour per allocation name.
fn hue(name: &str) -> u32 {
    let mut h: u32 = 2166136261;
    for b in name.bytes() {
        h = (h ^ u32::from(b)).wrapping_mul(16777619);
    }
    h % 360
}

fn host_bits(n: &IpNet) -> u32 {
    u32::from(n.max_prefix_len() - n.prefix_len())
}

fn offset(block: &IpNet, n: &IpNet) -> u128 {
    let a = |ip: std::net::IpAddr| match ip {
        std::net::IpAddr::V4(x) => u128::from(u32::from(x)),
        std::net::IpAddr::V6(x) => u128::from(x),
    };
    a(n.network()) - a(block.network())
}

/// The part of `n` inside `block`, when they overlap (aligned blocks nest).
fn within(block: &IpNet, n: &IpNet) -> Option<IpNet> {
    if !overlaps(block, n) {
        None
    } else if n.prefix_len() >= block.prefix_len() {
        Some(*n)
    } else {
        Some(*block)
    }
}

/// Allocation tables longer than this are folded in a `<details>`.
const FOLD_ROWS: usize = 250;

/// Pixels of the longer side of a map.
const MAP_PX: u64 = 720;

struct MapWriter<'a> {
    out: &'a mut String,
    layout: Layout,
    block: IpNet,
    /// Pixels per cell.
    scale: f64,
}

/// A rectangle in pixels.
struct Px {
    x: f64,
    y: f64,
    w: f64,
    h: f64,
}

impl MapWriter<'_> {
    /// The block's rectangle, in pixels (the scale is a power of two over 720, so the
    /// coordinates are short exact decimals).
    fn rect_of(&self, n: &IpNet) -> Px {
        let r: Rect = self.layout.rect(offset(&self.block, n), host_bits(n));
        Px {
            x: r.x as f64 * self.scale,
            y: r.y as f64 * self.scale,
            w: r.w as f64 * self.scale,
            h: r.h as f64 * self.scale,
        }
    }

    fn plain(&mut self, n: &IpNet, class: &str, extra: &str) {
        let r = self.rect_of(n);
        let _ = write!(
            self.out,
            r#"<rect class="{class}" x="{}" y="{}" width="{}" height="{}"{extra}><title>{} {}</title></rect>"#,
            r.x,
            r.y,
            r.w,
            r.h,
            esc(class),
            n
        );
    }

    fn alloc(&mut self, name: &str, a: &Alloc, status: Status) {
        let r = self.rect_of(&a.cidr);
        let fill = if status == Status::Removed {
            "none".to_string()
        } else {
            // A shared pool's `owner/name` entries take their owner's colour.
            let owner = name.split_once('/').map_or(name, |(o, _)| o);
            format!("hsl({},55%,62%)", hue(owner))
        };
        let mut title = format!("{name}\n{} ({} addresses)", a.cidr, size(&a.cidr));
        if let Some(d) = &a.description {
            let _ = write!(title, "\n{d}");
        }
        if status != Status::Unchanged {
            let _ = write!(title, "\n{}", status.name());
        }
        let _ = write!(
            self.out,
            r#"<g class="alloc {}" data-name="{}" data-cidr="{}"><rect x="{}" y="{}" width="{}" height="{}" fill="{fill}"/><title>{}</title>"#,
            status.name(),
            esc(name),
            a.cidr,
            r.x,
            r.y,
            r.w,
            r.h,
            esc(&title)
        );
        // A label where it fits: the name, and the CIDR below it.
        let chars = name.chars().count().max(a.cidr.to_string().len()) as f64;
        let font = (r.h / 3.5).min(13.0).min(r.w / (chars * 0.62));
        if font >= 7.0 {
            let f = font;
            let (cx, cy) = (r.x + r.w / 2.0, r.y + r.h / 2.0);
            let _ = write!(
                self.out,
                r#"<text x="{cx}" y="{:.2}" font-size="{f:.2}">{}</text><text class="cidr" x="{cx}" y="{:.2}" font-size="{:.2}">{}</text>"#,
                cy - f * 0.15,
                esc(name),
                cy + f * 0.95,
                f * 0.85,
                a.cidr
            );
        }
        self.out.push_str("</g>");
    }
}

/// One map: the SVG of one CIDR block of a pool.
fn map(out: &mut String, id: &str, block: &IpNet, after: &PoolView, changes: &Changes) {
    let layout = Layout::new(host_bits(block));
    let (w, h) = layout.size();
    let scale = MAP_PX as f64 / w.max(h) as f64;
    let (wpx, hpx) = ((w as f64 * scale) as u64, (h as f64 * scale) as u64);
    let hatch = 8;
    let _ = write!(
        out,
        r##"<svg xmlns="http://www.w3.org/2000/svg" class="map" id="{id}" viewBox="0 0 {wpx} {hpx}" width="{wpx}" height="{hpx}" role="img" aria-label="{block}"><defs><pattern id="{id}-hatch" patternUnits="userSpaceOnUse" width="{hatch}" height="{hatch}" patternTransform="rotate(45)"><rect width="{hatch}" height="{hatch}" fill="#d9d4c7"/><line x1="0" y1="0" x2="0" y2="{hatch}" stroke="#8a8170" stroke-width="{}"/></pattern></defs><rect class="free" x="0" y="0" width="{wpx}" height="{hpx}"><title>free</title></rect>"##,
        f64::from(hatch) / 2.5
    );
    let mut m = MapWriter {
        out,
        layout,
        block: *block,
        scale,
    };
    // Free space as the pool computes it, so every free block is one shape too.
    let taken: Vec<IpNet> = after
        .reserved
        .iter()
        .chain(after.held.iter())
        .copied()
        .chain(after.allocations.values().map(|a| a.cidr))
        .collect();
    for f in subtract(&[*block], &taken) {
        m.plain(&f, "free", "");
    }
    for r in after.reserved.iter().filter_map(|r| within(block, r)) {
        let fill = format!(r#" fill="url(#{id}-hatch)""#);
        m.plain(&r, "reserved", &fill);
    }
    let allocs: Vec<IpNet> = after.allocations.values().map(|a| a.cidr).collect();
    let held: Vec<IpNet> = after.held.iter().filter_map(|h| within(block, h)).collect();
    for h in subtract(&held, &allocs) {
        m.plain(&h, "held", "");
    }
    for (name, status, before, now) in changes {
        let shown = match status {
            Status::Removed => before.as_ref(),
            _ => now.as_ref(),
        };
        if let Some(a) = shown.filter(|a| overlaps(block, &a.cidr)) {
            m.alloc(name, a, *status);
        }
    }
    out.push_str("</svg>");
}

const CSS: &str = r#"
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px;color:#1d2230;background:#fafaf7}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 6px}code,.mono{font-family:ui-monospace,Menlo,Consolas,monospace}
.kind{font-weight:normal;color:#667;font-size:13px;margin-left:8px}
.maps{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start}
figure{margin:0}figcaption{font:12px ui-monospace,Menlo,monospace;color:#556;margin-top:2px}
svg.map{border:1px solid #c8c8c0;background:#fff;display:block}
svg.map .free{fill:#eef1f4;stroke:#fff;stroke-width:1}
svg.map .reserved{stroke:#8a8170;stroke-width:1}
svg.map .held{fill:#f6e7b8;stroke:#d8c47a;stroke-width:1}
svg.map .alloc rect{stroke:#fff;stroke-width:1}
svg.map .alloc.added rect{stroke:#1a7f37;stroke-width:3}
svg.map .alloc.moved rect{stroke:#c05f00;stroke-width:3}
svg.map .alloc.resized rect{stroke:#2455b8;stroke-width:3}
svg.map .alloc.removed rect{stroke:#b42318;stroke-width:2;stroke-dasharray:6 4}
svg.map .alloc:hover rect{stroke:#111;stroke-width:3}
svg.map text{text-anchor:middle;fill:#111;pointer-events:none;font-family:system-ui,sans-serif}
svg.map text.cidr{fill:#333;font-family:ui-monospace,Menlo,monospace}
.legend{display:flex;flex-wrap:wrap;gap:14px;margin:6px 0 10px;font-size:12px;color:#445}
.legend span{display:inline-flex;align-items:center;gap:5px}
.sw{width:14px;height:14px;display:inline-block;border:1px solid #999}
table{border-collapse:collapse;margin-top:10px;font-size:13px}
th,td{border-bottom:1px solid #e1e1da;padding:3px 10px;text-align:left;vertical-align:top}
th{background:#f0f0ea}td.n{text-align:right;font-variant-numeric:tabular-nums}
summary{cursor:pointer;margin-top:10px;color:#335}
tr.added td{background:#e9f6ec}tr.removed td{background:#fbeaea;text-decoration:line-through}tr.moved td{background:#fdf1e3}tr.resized td{background:#e8eefb}
"#;

fn legend(out: &mut String, plan: bool) {
    out.push_str(r#"<div class="legend"><span><i class="sw" style="background:hsl(200,55%,62%)"></i>allocation</span><span><i class="sw" style="background:#eef1f4"></i>free</span><span><i class="sw" style="background:repeating-linear-gradient(45deg,#d9d4c7 0 3px,#8a8170 3px 4px)"></i>reserved</span><span><i class="sw" style="background:#f6e7b8"></i>held (growth room, release hold)</span>"#);
    if plan {
        out.push_str(r#"<span><i class="sw" style="border:3px solid #1a7f37"></i>added</span><span><i class="sw" style="border:3px solid #c05f00"></i>moved</span><span><i class="sw" style="border:3px solid #2455b8"></i>resized in place</span><span><i class="sw" style="border:2px dashed #b42318"></i>removed</span>"#);
    }
    out.push_str("</div>");
}

fn util_line(p: &PoolReport, plan: bool) -> String {
    match (&p.before, &p.after) {
        (Some(b), Some(a)) if plan => format!("{} &rarr; {}", percent(b), percent(a)),
        (_, Some(a)) => percent(a),
        (Some(b), None) => format!("{} &rarr; destroyed", percent(b)),
        _ => "n/a".into(),
    }
}

/// The maps of one pool (one per CIDR block of its space).
fn pool_maps(out: &mut String, i: usize, p: &PoolReport, plan: bool) {
    let empty = PoolView::default();
    let after = p.after.as_ref().or(p.before.as_ref()).unwrap_or(&empty);
    let changes = p.changes(plan);
    let mut blocks = after.cidrs.clone();
    if let Some(b) = &p.before {
        blocks.extend(b.cidrs.iter().filter(|c| !after.cidrs.contains(c)));
    }
    blocks.sort();
    for (j, block) in blocks.iter().enumerate() {
        out.push_str("<figure>");
        map(out, &format!("map-{i}-{j}"), block, after, &changes);
        let _ = write!(
            out,
            "<figcaption>{block} &middot; {} addresses &middot; {}</figcaption></figure>",
            size(block),
            match Family::of(block) {
                Family::V4 => "IPv4",
                Family::V6 => "IPv6",
            }
        );
    }
}

/// Every pool's maps as one SVG document (valid XML).
pub fn svg(pools: &[PoolReport]) -> String {
    let plan = pools.iter().any(PoolReport::is_plan);
    let mut body = String::new();
    let mut y = 0u64;
    let mut width = 0u64;
    for (i, p) in pools.iter().enumerate() {
        let empty = PoolView::default();
        let after = p.after.as_ref().or(p.before.as_ref()).unwrap_or(&empty);
        let changes = p.changes(plan);
        y += 24;
        let _ = write!(
            body,
            r#"<text x="0" y="{}" font-family="sans-serif" font-size="15" font-weight="bold">{} ({})</text>"#,
            y - 6,
            esc(&p.address),
            esc(&util_line(p, plan).replace("&rarr;", "->"))
        );
        let mut x = 0u64;
        let mut row_h = 0u64;
        for (j, block) in after.cidrs.iter().enumerate() {
            let mut m = String::new();
            map(&mut m, &format!("map-{i}-{j}"), block, after, &changes);
            let layout = Layout::new(host_bits(block));
            let (w, h) = layout.size();
            let scale = MAP_PX as f64 / w.max(h) as f64;
            let (wpx, hpx) = ((w as f64 * scale) as u64, (h as f64 * scale) as u64);
            let m = m.replacen("<svg ", &format!(r#"<svg x="{x}" y="{y}" "#), 1);
            body.push_str(&m);
            x += wpx + 16;
            row_h = row_h.max(hpx);
        }
        width = width.max(x);
        y += row_h + 16;
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" viewBox=\"0 0 {} {}\"><style>{}</style>{body}</svg>\n",
        width.max(1),
        y.max(1),
        width.max(1),
        y.max(1),
        CSS.replace("svg.map", ".map")
    )
}

/// The self-contained HTML page: no scripts, fonts or requests of any kind.
pub fn html(pools: &[PoolReport]) -> String {
    let plan = pools.iter().any(PoolReport::is_plan);
    let mut out = String::with_capacity(64 * 1024);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"><link rel=\"icon\" href=\"data:,\"><title>Address plan</title><style>{CSS}</style></head><body><h1>Address plan</h1><p>{} pool{} from a {} (<code>terraform show -json</code>). Every allocation is one region of its pool's map, laid out along a Hilbert curve: each CIDR block is a square or a 2:1 rectangle, and neighbouring addresses stay neighbours. Hover for name, CIDR and size.</p>",
        pools.len(),
        if pools.len() == 1 { "" } else { "s" },
        if plan { "saved plan" } else { "state" }
    );
    if pools.is_empty() {
        out.push_str("<p>No <code>ipam_pool</code>, <code>ipam_shared_pool</code> or <code>ipam_shared_allocations</code> in this input.</p>");
    }
    for (i, p) in pools.iter().enumerate() {
        let changes = p.changes(plan);
        let _ = write!(
            out,
            "<section class=\"pool\" id=\"pool-{i}\"><h2><code>{}</code><span class=\"kind\">{}</span></h2><p>Utilization: <b>{}</b>",
            esc(&p.address),
            esc(&p.kind),
            util_line(p, plan)
        );
        if plan {
            let n = |s: Status| changes.iter().filter(|c| c.1 == s).count();
            let _ = write!(
                out,
                " &middot; {} added, {} removed, {} moved, {} resized",
                n(Status::Added),
                n(Status::Removed),
                n(Status::Moved),
                n(Status::Resized)
            );
        }
        if let Some(a) = &p.after {
            if !a.pending.is_empty() {
                let _ = write!(
                    out,
                    " &middot; known after apply: {}",
                    esc(&a.pending.join(", "))
                );
            }
        }
        out.push_str("</p>");
        legend(&mut out, plan);
        out.push_str("<div class=\"maps\">");
        pool_maps(&mut out, i, p, plan);
        out.push_str("</div>");
        // A long table is folded: a closed <details> is not laid out until opened, which
        // keeps a page of 10,000 allocations quick to load.
        let folded = changes.len() > FOLD_ROWS;
        if folded {
            let _ = write!(
                out,
                "<details><summary>Table of {} allocations</summary>",
                changes.len()
            );
        }
        out.push_str(
            "<table><thead><tr><th>Name</th><th>CIDR</th><th>Addresses</th><th>Description</th>",
        );
        if plan {
            out.push_str("<th>Change</th>");
        }
        out.push_str("</tr></thead><tbody>");
        // The table runs in address order, as the map does.
        let mut rows: Vec<_> = changes.iter().collect();
        rows.sort_by_key(|(name, _, before, now)| {
            (
                now.as_ref().or(before.as_ref()).map(|a| a.cidr),
                name.clone(),
            )
        });
        for (name, status, before, now) in rows {
            let a = now.as_ref().or(before.as_ref());
            let Some(a) = a else { continue };
            let cidr = match (status, before, now) {
                (Status::Moved | Status::Resized, Some(b), Some(n)) => {
                    format!("{} &rarr; {}", b.cidr, n.cidr)
                }
                _ => a.cidr.to_string(),
            };
            let _ = write!(
                out,
                "<tr class=\"{}\"><td><code>{}</code></td><td class=\"mono\">{cidr}</td><td class=\"n\">{}</td><td>{}</td>",
                status.name(),
                esc(name),
                size(&a.cidr),
                esc(a.description.as_deref().unwrap_or(""))
            );
            if plan {
                let _ = write!(out, "<td>{}</td>", status.name());
            }
            out.push_str("</tr>");
        }
        out.push_str("</tbody></table>");
        if folded {
            out.push_str("</details>");
        }
        out.push_str("</section>");
    }
    out.push_str("</body></html>\n");
    out
}

/// Text for a code span in a Markdown table cell: entities are not decoded there, so
/// only the characters that would end the span or the cell are replaced.
fn md(s: &str) -> String {
    s.replace('`', "'").replace('|', "\\|").replace('\n', " ")
}

/// Rows shown per table; the rest is counted.
const MD_ROWS: usize = 40;

/// The pull-request comment.
pub fn markdown(pools: &[PoolReport]) -> String {
    let plan = pools.iter().any(PoolReport::is_plan);
    let mut out = String::from("### Address plan\n\n");
    if pools.is_empty() {
        out.push_str("No IPAM pools in this input.\n");
        return out;
    }
    if !plan {
        out.push_str("| Pool | CIDRs | Allocations | Utilization |\n|---|---|---:|---:|\n");
        for p in pools.iter().take(MD_ROWS) {
            let Some(a) = &p.after else { continue };
            let cidrs: Vec<String> = a.cidrs.iter().map(|c| c.to_string()).collect();
            let _ = writeln!(
                out,
                "| `{}` | {} | {} | {} |",
                md(&p.address),
                cidrs.join(", "),
                a.allocations.len(),
                percent(a)
            );
        }
        if pools.len() > MD_ROWS {
            let _ = writeln!(out, "\n…and {} more pools.", pools.len() - MD_ROWS);
        }
        return out;
    }
    let mut quiet = Vec::new();
    for p in pools {
        let changes: Vec<_> = p
            .changes(true)
            .into_iter()
            .filter(|c| c.1 != Status::Unchanged)
            .collect();
        if changes.is_empty() && p.before.is_some() && p.after.is_some() {
            quiet.push(format!(
                "`{}` ({})",
                md(&p.address),
                util_line(p, true).replace("&rarr;", "→")
            ));
            continue;
        }
        let n = |s: Status| changes.iter().filter(|c| c.1 == s).count();
        let _ = writeln!(
            out,
            "**`{}`** — utilization {} — {} added, {} removed, {} moved, {} resized\n",
            md(&p.address),
            util_line(p, true).replace("&rarr;", "→"),
            n(Status::Added),
            n(Status::Removed),
            n(Status::Moved),
            n(Status::Resized)
        );
        out.push_str(
            "| Change | Allocation | Before | After | Addresses |\n|---|---|---|---|---:|\n",
        );
        for (name, status, before, now) in changes.iter().take(MD_ROWS) {
            let sign = match status {
                Status::Added => "➕ added",
                Status::Removed => "➖ removed",
                Status::Moved => "↔️ moved",
                Status::Resized => "⤢ resized",
                Status::Unchanged => "",
            };
            let cidr =
                |a: &Option<Alloc>| a.as_ref().map(|a| a.cidr.to_string()).unwrap_or_default();
            let addrs = now
                .as_ref()
                .or(before.as_ref())
                .map(|a| size(&a.cidr))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "| {sign} | `{}` | {} | {} | {addrs} |",
                md(name),
                cidr(before),
                cidr(now)
            );
        }
        if changes.len() > MD_ROWS {
            let _ = writeln!(out, "\n…and {} more changes.", changes.len() - MD_ROWS);
        }
        out.push('\n');
    }
    if !quiet.is_empty() {
        let _ = writeln!(out, "Unchanged: {}.", quiet.join(", "));
    }
    out
}
