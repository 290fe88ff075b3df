//! The address-plan report: `terraform-provider-ipam report [--format html|svg|markdown]
//! [FILE]` reads `terraform show -json` (a state or a saved plan) and draws every pool;
//! `report --database URL --pool NAME` draws a shared pool straight from PostgreSQL,
//! every owner's blocks and live reservations, which no single state holds.
//!
//! It stands beside the provider, not on it: it reads Terraform's JSON output format
//! with its own serde types (`model.rs`), reads the shared ledger through the store,
//! uses the allocator's CIDR code for free space and counts, and knows nothing of the
//! plugin protocol.
//!
//! - `model.rs`: the JSON types, and pools before and after a plan.
//! - `database.rs`: a shared pool as the database has it.
//! - `hilbert.rs`: the Hilbert layout that keeps every CIDR block one rectangle.
//! - `render.rs`: the HTML page, the SVG maps and the Markdown summary.

pub mod database;
pub mod hilbert;
pub mod model;
pub mod render;

use std::io::Read;

use thiserror::Error;

use crate::cli::{Flags, Item};

#[derive(Debug, Error)]
pub enum ReportError {
    #[error("{0}")]
    Usage(String),
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Input(String),
}

/// The output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Html,
    Svg,
    Markdown,
}

/// Renders `terraform show -json` output.
///
/// ```
/// use ipam::report::{render, Format};
/// let state = r#"{"values":{"root_module":{"resources":[{"address":"ipam_pool.p","mode":"managed",
///   "type":"ipam_pool","values":{"cidrs":["10.0.0.0/16"],"allocations":{"web":{"cidr":"10.0.1.0/24"}}}}]}}}"#;
/// let page = render(state, Format::Html).unwrap();
/// assert!(page.contains(r#"data-name="web" data-cidr="10.0.1.0/24""#));
/// // Input that is not Terraform's JSON says so.
/// assert!(render("{", Format::Markdown).is_err());
/// ```
pub fn render(json: &str, format: Format) -> Result<String, ReportError> {
    Ok(draw(&model::read(json)?, format))
}

fn draw(pools: &[model::PoolReport], format: Format) -> String {
    match format {
        Format::Html => render::html(pools),
        Format::Svg => render::svg(pools),
        Format::Markdown => render::markdown(pools),
    }
}

const USAGE: &str = "usage: terraform-provider-ipam report [--format html|svg|markdown] [FILE]
       terraform-provider-ipam report [--format ...] [--database URL] --pool NAME
  reads `terraform show -json` output (a state or a saved plan) from FILE or stdin,
  or, with --pool, a shared pool from the database (--database, or IPAM_DATABASE_URL
  as the provider reads it; a read-only role is enough)";

/// What to draw, from the command line.
#[derive(Debug, PartialEq)]
struct Args {
    format: Format,
    /// `None`: stdin.
    file: Option<String>,
    database: Option<String>,
    pool: Option<String>,
}

fn parse_args(args: &[String]) -> Result<Args, ReportError> {
    let usage = |what: String| ReportError::Usage(format!("{what}\n{USAGE}"));
    let mut parsed = Args {
        format: Format::Html,
        file: None,
        database: None,
        pool: None,
    };
    let mut flags = Flags::new(args);
    while let Some(item) = flags.next() {
        let (flag, inline) = match item {
            Item::Positional(file) => {
                if parsed.file.replace(file).is_some() {
                    return Err(usage("one input file at most".into()));
                }
                continue;
            }
            Item::Flag { name, inline } => (name, inline),
        };
        let mut value = || flags.value(&flag, inline.clone()).map_err(usage);
        match flag.as_str() {
            "--format" | "-f" => {
                parsed.format = match value()?.as_str() {
                    "html" => Format::Html,
                    "svg" => Format::Svg,
                    "markdown" | "md" => Format::Markdown,
                    other => {
                        return Err(usage(format!(
                            "unknown format {other:?}: use html, svg or markdown"
                        )))
                    }
                }
            }
            "--database" => parsed.database = Some(value()?),
            "--pool" => parsed.pool = Some(value()?),
            "-h" | "--help" => return Err(ReportError::Usage(USAGE.into())),
            other => return Err(usage(format!("unknown flag {other:?}"))),
        }
    }
    parsed.file = parsed.file.filter(|f| f != "-");
    match (&parsed.pool, &parsed.database, &parsed.file) {
        (None, Some(_), _) => Err(usage("--database needs --pool NAME".into())),
        (Some(_), _, Some(f)) => Err(usage(format!(
            "--pool reads the database, not {f:?}: give one or the other"
        ))),
        _ => Ok(parsed),
    }
}

/// The `report` subcommand: writes the report to stdout; returns the exit code.
pub fn cli(args: &[String]) -> i32 {
    let run = || -> Result<String, ReportError> {
        let Args {
            format,
            file,
            database,
            pool,
        } = parse_args(args)?;
        if let Some(pool) = pool {
            let url = database
                .or_else(|| std::env::var("IPAM_DATABASE_URL").ok().filter(|u| !u.is_empty()))
                .ok_or_else(|| {
                    ReportError::Usage(format!(
                        "--pool reads the database: give --database URL or set IPAM_DATABASE_URL\n{USAGE}"
                    ))
                })?;
            let report = database::read(&url, &pool)?;
            return Ok(draw(&[report], format));
        }
        let mut input = String::new();
        match &file {
            Some(path) => {
                input = std::fs::read_to_string(path).map_err(|source| ReportError::Read {
                    path: path.clone(),
                    source,
                })?
            }
            None => {
                std::io::stdin()
                    .read_to_string(&mut input)
                    .map_err(|source| ReportError::Read {
                        path: "stdin".into(),
                        source,
                    })?;
            }
        }
        render(&input, format)
    };
    match run() {
        Ok(out) => {
            use std::io::Write;
            let mut stdout = std::io::stdout().lock();
            if stdout
                .write_all(out.as_bytes())
                .and_then(|_| stdout.flush())
                .is_err()
            {
                return 1;
            }
            0
        }
        Err(ReportError::Usage(u)) => {
            eprintln!("{u}");
            2
        }
        Err(e) => {
            eprintln!("terraform-provider-ipam report: {e}");
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(allocations: &str, description: &str) -> String {
        format!(
            r#"{{"values":{{"root_module":{{"resources":[{{"address":"ipam_pool.p","mode":"managed","type":"ipam_pool","values":{{"cidrs":["10.0.0.0/16"],"reserved":["10.0.255.0/24"],"allocations":{{{allocations}}}}}}}],"child_modules":[]}}}},"x":{description:?}}}"#
        )
    }

    #[test]
    fn descriptions_are_escaped_in_html_and_svg() {
        let json = state(
            r#""evil":{"cidr":"10.0.0.0/24","description":"<script>alert('x')</script> & \"q\""}"#,
            "",
        );
        for f in [Format::Html, Format::Svg] {
            let out = render(&json, f).unwrap();
            assert!(!out.contains("<script>"), "{f:?}");
            assert!(
                out.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"),
                "{f:?}"
            );
        }
        let md = render(&json, Format::Markdown).unwrap();
        assert!(!md.contains("<script>"));
    }

    #[test]
    fn svg_is_well_formed_xml_with_every_allocation() {
        let json = state(
            r#""a":{"cidr":"10.0.0.0/24","description":"x < y"},"b":{"cidr":"10.0.128.0/17"},"c":{"cidr":"10.0.1.0/30"}"#,
            "",
        );
        let svg = render(&json, Format::Svg).unwrap();
        let doc = roxmltree::Document::parse(&svg).expect("valid XML");
        let cidrs: Vec<&str> = doc
            .descendants()
            .filter_map(|n| n.attribute("data-cidr"))
            .collect();
        assert_eq!(cidrs, ["10.0.0.0/24", "10.0.128.0/17", "10.0.1.0/30"]);
    }

    #[test]
    fn html_has_no_external_reference() {
        let json = state(r#""a":{"cidr":"10.0.0.0/24"}"#, "");
        let html = render(&json, Format::Html).unwrap();
        for bad in [
            "<script",
            "src=",
            "@import",
            "url(http",
            "href=\"http",
            "@font-face",
        ] {
            assert!(!html.contains(bad), "{bad}");
        }
        // Internal pattern references only.
        assert!(html.contains("url(#map-0-0-hatch)"));
    }

    /// A saved plan marks added, moved, resized and removed allocations on the map and
    /// in the table, and draws the removed block where it was.
    #[test]
    fn a_plan_marks_added_moved_and_removed() {
        let pool =
            |allocs: &str| format!(r#"{{"cidrs":["10.0.0.0/16"],"allocations":{{{allocs}}}}}"#);
        let json = format!(
            r#"{{"format_version":"1.2","resource_changes":[{{"address":"ipam_pool.p","mode":"managed","type":"ipam_pool","change":{{"actions":["update"],"before":{},"after":{}}}}}]}}"#,
            pool(
                r#""keep":{"cidr":"10.0.0.0/24"},"grow":{"cidr":"10.0.1.0/24"},"gone":{"cidr":"10.0.2.0/24"},"wide":{"cidr":"10.0.16.0/24"}"#
            ),
            pool(
                r#""keep":{"cidr":"10.0.0.0/24"},"grow":{"cidr":"10.0.4.0/22"},"new":{"cidr":"10.0.8.0/24"},"wide":{"cidr":"10.0.16.0/23"}"#
            )
        );
        let html = render(&json, Format::Html).unwrap();
        assert!(
            html.contains(r#"<g class="alloc unchanged" data-name="keep" data-cidr="10.0.0.0/24""#)
        );
        assert!(html.contains(r#"<g class="alloc moved" data-name="grow" data-cidr="10.0.4.0/22""#));
        assert!(
            html.contains(r#"<g class="alloc removed" data-name="gone" data-cidr="10.0.2.0/24""#)
        );
        assert!(html.contains(r#"<g class="alloc added" data-name="new" data-cidr="10.0.8.0/24""#));
        assert!(html.contains("10.0.1.0/24 &rarr; 10.0.4.0/22"));
        assert!(
            html.contains(r#"<g class="alloc resized" data-name="wide" data-cidr="10.0.16.0/23""#)
        );
        assert!(html.contains("1 added, 1 removed, 1 moved, 1 resized"));
        let md = render(&json, Format::Markdown).unwrap();
        assert!(
            md.contains("| ↔️ moved | `grow` | 10.0.1.0/24 | 10.0.4.0/22 | 1024 |"),
            "{md}"
        );
    }

    #[test]
    fn arguments() {
        let a = |v: &[&str]| parse_args(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        let file = |format, file: Option<&str>| Args {
            format,
            file: file.map(str::to_string),
            database: None,
            pool: None,
        };
        assert_eq!(a(&[]).unwrap(), file(Format::Html, None));
        assert_eq!(
            a(&["--format", "svg", "x.json"]).unwrap(),
            file(Format::Svg, Some("x.json"))
        );
        assert_eq!(
            a(&["--format=markdown", "-"]).unwrap(),
            file(Format::Markdown, None)
        );
        assert_eq!(
            a(&["--database=postgresql://x/y", "--pool", "corp"]).unwrap(),
            Args {
                format: Format::Html,
                file: None,
                database: Some("postgresql://x/y".into()),
                pool: Some("corp".into()),
            }
        );
        for bad in [
            &["--format", "pdf"][..],
            &["a", "b"],
            &["--database", "postgresql://x/y"],
            &["--pool", "corp", "state.json"],
            &["--pool"],
        ] {
            assert!(matches!(a(bad), Err(ReportError::Usage(_))), "{bad:?}");
        }
    }
}
