//! The provider binary: flags, logging, then the plugin server from the library.

fn main() {
    let arg = std::env::args().nth(1);
    match arg.as_deref() {
        Some("--version" | "-v" | "version") => {
            println!("terraform-provider-ipam {}", env!("CARGO_PKG_VERSION"));
            return;
        }
        Some("--help" | "-h") => {
            println!("terraform-provider-ipam {}: a Terraform plugin; Terraform starts it. Flags: --version, --debug\n  terraform-provider-ipam report [--format html|svg|markdown] [FILE]: draws the pools of `terraform show -json` output\n  terraform-provider-ipam discover [--pool-cidr CIDR]... [--format hcl|markdown|json] FILE...: finds the address ranges of existing states and writes the configuration that adopts them\n  terraform-provider-ipam report --pool NAME [--database URL]: draws a shared pool from the database\n  terraform-provider-ipam schema: prints the shared ledger's migration SQL, for a DBA to run once on a managed database", env!("CARGO_PKG_VERSION"));
            return;
        }
        Some("report") => {
            let args: Vec<String> = std::env::args().skip(2).collect();
            std::process::exit(ipam::report::cli(&args));
        }
        Some("discover") => {
            let args: Vec<String> = std::env::args().skip(2).collect();
            std::process::exit(ipam::discover::cli(&args));
        }
        Some("schema") => {
            print!("{}", ipam::store::schema_sql());
            return;
        }
        Some("--debug") | None => {}
        Some(other) => {
            eprintln!("unknown argument {other:?}; flags: --version, --debug; subcommands: discover, report, schema");
            std::process::exit(2);
        }
    }
    // Logs go to stderr, which Terraform reads as the plugin's log (TF_LOG).
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TF_PROVIDER_IPAM_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("could not start the async runtime: {e}");
            std::process::exit(1);
        }
    };
    let code = runtime.block_on(async {
        if arg.as_deref() == Some("--debug") {
            ipam::run_debug().await
        } else {
            ipam::run_plugin().await
        }
    });
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    std::process::exit(code);
}
