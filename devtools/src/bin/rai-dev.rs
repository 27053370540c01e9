//! `rai-dev`: starts the local stand-ins and front doors, one per subcommand. Each server prints
//! `NAME: URL` on its first stdout line and runs until it is killed. Secrets come from env files
//! or the environment, never from the command line (which `ps` shows to everyone).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use rai_devtools::demo::{Mode, OpaqueDemo};
use rai_devtools::function::Echo;
use rai_devtools::local::LocalFunction;
use rai_devtools::opaque_sessions::OpaqueSessions;
use rai_devtools::returning_ai::{Credentials, ReturningAi};
use rai_devtools::runtime_api::TraceIds;
use rai_devtools::site::{Sessions, Site, SiteConfig};
use rai_devtools::{bench, demo, env_file, net, secret, session};

const USAGE: &str = "rai-dev: local front doors and stand-ins for rai-widget-auth

  rai-dev returning-ai [--listen ADDR] [--env-file F]
      Returning.AI stand-in; accepts RAI_API_KEY, RAI_ACCESS_ID, RAI_ACCESS_KEY (and only
      RAI_COMMUNITY_ID, when set) from the env file or the environment
  rai-dev function-url --function BIN [--listen ADDR] [--env-file F] [--timeout-ms N]
      runs BIN under a Runtime API stand-in with only the env file's variables, behind a
      function URL front end that also serves the Lambda Invoke API
  rai-dev site --api-origin URL [--listen ADDR] [--api-prefix /api/] [--static DIR]
               [--cookie NAME] [--cookie-domain DOMAIN] [--env-file F] [--mode MODE]
      the site's origin: the API prefix proxied as CloudFront would, /login and static files.
      MODE jwt (default): /login sets a session JWT signed with SESSION_SECRET (env file or
      environment). MODE opaque-cookie: /login sets a random session id the site keeps in
      memory, and the site answers GET /api/me (its user, 401 without a session) itself
  rai-dev mint [--email E] [--ttl SECONDS] [--claims JSON] [--env-file F]
      prints an HS256 session JWT signed with SESSION_SECRET
  rai-dev put-secret --name NAME [--env-file F]
      creates or updates the Secrets Manager secret NAME (AWS_ENDPOINT_URL_SECRETS_MANAGER
      honoured) with apiKey/accessId/accessKey/sessionSecret from RAI_API_KEY, RAI_ACCESS_ID,
      RAI_ACCESS_KEY and SESSION_SECRET
  rai-dev demo-env --out FILE [--mode MODE]
      writes random demo credentials (mode 0600); MODE opaque-cookie: no SESSION_SECRET
  rai-dev check --url URL [--events DIR] [--env-file F] [--function-env F] [--email E]
                [--mode MODE] [--site URL]
      the demo's checks against a function URL front end; MODE opaque-cookie also needs the
      site (--site, rai-dev site --mode opaque-cookie) and no SESSION_SECRET
  rai-dev free-port
      prints a free loopback port
  rai-dev bench [--function BIN] [--floor BIN] [--rounds N] [--warm-up N] [--invocations N]
                [--tokens same|fresh] [--soak N] [--soak-every N]
                [--secrets-manager MOTO_URL] [--tls on] [--probe BIN] [--function-env F]
      the function's release binary and the do-nothing lambda_http floor
      (devtools/examples/floor.rs) under the Runtime API stand-in with the same events:
      init, first response, CPU per warm request, peak RSS, and the ratios. --tokens: one
      session token for all invocations (the default; the function reuses its check) or
      5,000 distinct ones in turn (every check a new signature check). --soak runs each
      binary N more times with a new trace id per invocation and with one for all, sampling
      RSS and open descriptors every --soak-every. BIN
      defaults to $CARGO_TARGET_DIR/release/{rai-widget-auth,examples/floor}.
      --secrets-manager: the API key lives in a secret in that moto; --tls on: Secrets
      Manager, the identity provider and Returning.AI speak TLS on loopback (a throwaway CA
      the function trusts through SSL_CERT_FILE) and the handshakes are timed; the init
      probe (examples/init_probe) then times the init steps one by one

ADDR defaults to 127.0.0.1:0 (a free port).";

struct Args {
    options: HashMap<String, String>,
}

impl Args {
    fn parse(raw: &[String]) -> Result<Self, String> {
        let mut options = HashMap::new();
        let mut it = raw.iter();
        while let Some(flag) = it.next() {
            let name = flag
                .strip_prefix("--")
                .ok_or_else(|| format!("unexpected argument {flag}"))?;
            let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
            options.insert(name.to_owned(), value.clone());
        }
        Ok(Self { options })
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.options.get(name).map(String::as_str)
    }

    fn required(&self, name: &str) -> Result<&str, String> {
        self.get(name)
            .ok_or_else(|| format!("--{name} is required"))
    }

    fn mode(&self) -> Result<Mode, String> {
        Mode::parse(self.get("mode").unwrap_or("jwt"))
    }

    fn listen(&self) -> Result<SocketAddr, String> {
        let addr = self.get("listen").unwrap_or("127.0.0.1:0");
        addr.parse()
            .map_err(|_| format!("--listen {addr}: expected host:port"))
    }

    /// The env file's variables, if one was given.
    fn env_file(&self, flag: &str) -> Result<Vec<(String, String)>, String> {
        self.get(flag)
            .map_or(Ok(Vec::new()), |path| env_file::read(&PathBuf::from(path)))
    }

    /// A setting from the env file, else from this process's environment.
    fn setting(&self, name: &str) -> Result<Option<String>, String> {
        let file = self.env_file("env-file")?;
        Ok(file
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
            .or_else(|| std::env::var(name).ok()))
    }

    fn required_setting(&self, name: &str) -> Result<String, String> {
        self.setting(name)?
            .filter(|v| !v.is_empty())
            .ok_or_else(|| format!("{name} is not set (env file or environment)"))
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let Some((command, rest)) = raw.split_first() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let result = match Args::parse(rest) {
        Ok(args) => run(command, &args).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("rai-dev {command}: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: &str, args: &Args) -> Result<ExitCode, String> {
    match command {
        "returning-ai" => {
            let credentials = Credentials {
                api_key: args.required_setting("RAI_API_KEY")?,
                access_id: args.required_setting("RAI_ACCESS_ID")?,
                access_key: args.required_setting("RAI_ACCESS_KEY")?,
                community: args.setting("RAI_COMMUNITY_ID")?.filter(|c| !c.is_empty()),
            };
            let rai = ReturningAi::start(args.listen()?, credentials)
                .await
                .map_err(|e| e.to_string())?;
            announce("returning-ai", &rai.url());
            forever().await
        }
        "function-url" => {
            let binary = PathBuf::from(args.required("function")?);
            let env = args.env_file("env-file")?;
            let timeout_ms: u64 = args
                .get("timeout-ms")
                .unwrap_or("10000")
                .parse()
                .map_err(|_| "--timeout-ms: a number")?;
            let local = LocalFunction::start(
                &binary,
                &env,
                args.listen()?,
                Duration::from_millis(timeout_ms),
                Echo::Stderr,
            )
            .await?;
            announce("function-url", &local.front.url());
            forever().await
        }
        "site" => {
            let config = SiteConfig {
                api_prefix: args.get("api-prefix").unwrap_or("/api/").to_owned(),
                api_origin: args
                    .required("api-origin")?
                    .parse()
                    .map_err(|_| "--api-origin: not a URL")?,
                static_dir: args.get("static").map(PathBuf::from),
                cookie_name: args.get("cookie").unwrap_or(demo::COOKIE).to_owned(),
                cookie_domain: args.get("cookie-domain").map(str::to_owned),
                sessions: match args.mode()? {
                    Mode::Jwt => Sessions::Jwt {
                        secret: args.required_setting("SESSION_SECRET")?.into_bytes(),
                        ttl: Duration::from_secs(3600),
                    },
                    Mode::OpaqueCookie => Sessions::Opaque(Arc::new(OpaqueSessions::new())),
                },
            };
            let site = Site::start(args.listen()?, config).await?;
            announce("site", &site.url());
            forever().await
        }
        "mint" => {
            let secret = args.required_setting("SESSION_SECRET")?;
            let ttl = args
                .get("ttl")
                .unwrap_or("600")
                .parse()
                .map_err(|_| "--ttl: a number of seconds")?;
            let claims = match args.get("claims") {
                Some(json) => serde_json::from_str(json).map_err(|e| format!("--claims: {e}"))?,
                None => session::demo_claims(
                    args.get("email")
                        .unwrap_or(rai_devtools::site::DEFAULT_EMAIL),
                    ttl,
                ),
            };
            println!(
                "{}",
                session::mint(secret.as_bytes(), &claims).map_err(|e| e.to_string())?
            );
            Ok(ExitCode::SUCCESS)
        }
        "put-secret" => {
            let name = args.required("name")?;
            let mut value = serde_json::Map::new();
            for (field, var) in [
                ("apiKey", "RAI_API_KEY"),
                ("accessId", "RAI_ACCESS_ID"),
                ("accessKey", "RAI_ACCESS_KEY"),
                ("sessionSecret", "SESSION_SECRET"),
            ] {
                if let Some(v) = args.setting(var)?.filter(|v| !v.is_empty()) {
                    value.insert(field.into(), v.into());
                }
            }
            let arn = secret::put(
                &secret::client().await,
                name,
                &serde_json::Value::Object(value).to_string(),
            )
            .await?;
            println!("secret: {arn}");
            Ok(ExitCode::SUCCESS)
        }
        "demo-env" => {
            let path = PathBuf::from(args.required("out")?);
            let mut vars = vec![
                (
                    "RAI_API_KEY".to_owned(),
                    format!("rai_demo_{}", random_hex(16)?),
                ),
                (
                    "RAI_ACCESS_ID".to_owned(),
                    format!("demo-access-{}", random_hex(6)?),
                ),
                ("RAI_ACCESS_KEY".to_owned(), random_hex(32)?),
                ("RAI_COMMUNITY_ID".to_owned(), "demo-community".to_owned()),
            ];
            // An opaque-cookie site shares no secret with the function: the function asks the
            // site's /api/me instead, so the secret has no sessionSecret to fall back on.
            if args.mode()? == Mode::Jwt {
                vars.insert(3, ("SESSION_SECRET".to_owned(), random_hex(32)?));
            }
            write_private(&path, &env_file::render(&vars))?;
            Ok(ExitCode::SUCCESS)
        }
        "check" => {
            let url = args.required("url")?.trim_end_matches('/').to_owned();
            let email = args
                .get("email")
                .unwrap_or(rai_devtools::site::DEFAULT_EMAIL);
            let function_env = args.env_file("function-env")?;
            let function_var = |name: &str| {
                function_env
                    .iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.as_str())
            };
            let spec = function_var("USER_IDENTIFIERS").unwrap_or("data-email=email");
            let mut out = std::io::stdout();
            let tally = match args.mode()? {
                Mode::Jwt => {
                    let secret = args.required_setting("SESSION_SECRET")?;
                    let claims = session::demo_claims(email, 600);
                    let jwt =
                        session::mint(secret.as_bytes(), &claims).map_err(|e| e.to_string())?;
                    let known = demo::known_for(email, spec)?;
                    let events = PathBuf::from(args.get("events").unwrap_or("events"));
                    demo::run(&url, &events, &known, &jwt, &mut out).await
                }
                Mode::OpaqueCookie => {
                    let site = args.required("site")?.trim_end_matches('/');
                    let opaque = OpaqueDemo {
                        function_url: &url,
                        site_url: site,
                        cookie: function_var("SESSION_COOKIE").unwrap_or(demo::COOKIE),
                        user_identifiers: spec,
                        email,
                    };
                    demo::run_opaque_cookie(&opaque, &mut out).await
                }
            };
            println!(
                "\ndemo checks: {} passed, {} failed",
                tally.passed, tally.failed
            );
            Ok(if tally.failed == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        "bench" => {
            let (function, floor) = bench::default_binaries();
            let number = |name: &str, default: usize| -> Result<usize, String> {
                args.get(name).map_or(Ok(default), |v| {
                    v.parse().map_err(|_| format!("--{name}: a number"))
                })
            };
            let options = bench::Options {
                function: args.get("function").map_or(function, PathBuf::from),
                floor: args.get("floor").map_or(floor, PathBuf::from),
                rounds: number("rounds", 3)?.max(1),
                plan: bench::Plan {
                    warm_up: number("warm-up", 1000)?,
                    invocations: number("invocations", 20_000)?,
                    sample_every: 0,
                    trace_ids: TraceIds::PerInvocation,
                },
                tokens: match args.get("tokens") {
                    None | Some("same") => bench::Tokens::Same,
                    Some("fresh") => bench::Tokens::Fresh,
                    Some(other) => return Err(format!("--tokens: same or fresh, not {other}")),
                },
                soak: number("soak", 0)?,
                soak_every: number("soak-every", 10_000)?,
                secrets_manager: args.get("secrets-manager").map(str::to_owned),
                tls: args.get("tls").is_some_and(|v| v == "on"),
                probe: Some(
                    args.get("probe")
                        .map_or_else(bench::default_probe, PathBuf::from),
                ),
                extra_env: args
                    .get("function-env")
                    .map_or(Ok(Vec::new()), |p| env_file::read(&PathBuf::from(p)))?,
            };
            bench::bench(&options, &mut std::io::stdout()).await?;
            Ok(ExitCode::SUCCESS)
        }
        "free-port" => {
            println!("{}", net::free_port().map_err(|e| e.to_string())?);
            Ok(ExitCode::SUCCESS)
        }
        "help" | "--help" | "-h" => {
            println!("{USAGE}");
            Ok(ExitCode::SUCCESS)
        }
        other => Err(format!("unknown command {other}\n\n{USAGE}")),
    }
}

fn announce(name: &str, url: &str) {
    // The first stdout line is what scripts wait for; flushed at once (stdout may be a file).
    println!("{name}: {url}");
    let _ = std::io::Write::flush(&mut std::io::stdout());
}

async fn forever() -> Result<ExitCode, String> {
    // Runs until killed; Ctrl-C and SIGTERM end it cleanly (dropping the function's process).
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| e.to_string())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    Ok(ExitCode::SUCCESS)
}

fn random_hex(bytes: usize) -> Result<String, String> {
    session::random_hex(bytes).map_err(|e| format!("/dev/urandom: {e}"))
}

fn write_private(path: &std::path::Path, text: &str) -> Result<(), String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    file.write_all(text.as_bytes())
        .map_err(|e| format!("{}: {e}", path.display()))
}
