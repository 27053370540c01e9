//! `rai-dev bench`: the function's release binary and a do-nothing lambda_http binary (the
//! floor, `devtools/examples/floor.rs`, same release profile) under the same Runtime API
//! stand-in with the same events, and what each costs, read from outside the process:
//!
//! - init: exec to the first poll for an event;
//! - first response: exec to the answer of the first event, which waits in the queue before the
//!   process starts (as the event that causes a cold start does);
//! - CPU per warm request: utime + stime from `/proc/<pid>/stat` across many invocations after a
//!   warm-up (the baseline, taken the same way for both), divided by their count; the two
//!   binaries run side by side and take their invocations in turn, so that both are measured
//!   under the same conditions;
//! - peak RSS: `VmHWM` from `/proc/<pid>/status` at the end.
//!
//! A soak samples `VmRSS` and the count of `/proc/<pid>/fd` along the way. Figures only, never
//! assertions: the machines are shared.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::{Value, json};

use crate::function::{Echo, FunctionProcess};
use crate::returning_ai::{Credentials, ReturningAi};
use crate::runtime_api::{RuntimeApi, TraceIds};
use crate::tls::{ThrowawayCa, TlsFront};
use crate::{idp, session};

pub const API_KEY: &str = "rai-bench-api-key-0001";
pub const COMMUNITY: &str = "bench-community";
pub const EMAIL: &str = "bench.user@example.com";
/// Each invocation's deadline: long, so that a slow machine never turns into a timeout.
const TIMEOUT: Duration = Duration::from_secs(30);

/// One binary's figures from one run.
#[derive(Debug, Clone, PartialEq)]
pub struct Figures {
    pub init: Duration,
    pub first_response: Duration,
    /// Microseconds of CPU (user + system) per warm invocation.
    pub cpu_us: f64,
    /// The user-space part of `cpu_us` (the rest is the kernel's, mostly loopback sockets).
    pub cpu_user_us: f64,
    pub peak_rss_kb: u64,
    /// Wall time of each measured invocation, as the Runtime API sees it.
    pub latencies: Vec<Duration>,
    /// Answers whose `statusCode` was not 200 (they should be none).
    pub not_ok: usize,
    pub samples: Vec<Sample>,
    /// When the process was started, for the TLS timeline.
    pub exec_at: Instant,
}

/// The process's memory and descriptors after `invocations` measured invocations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    pub invocations: usize,
    pub rss_kb: u64,
    pub fds: usize,
}

/// How a run goes.
#[derive(Debug, Clone)]
pub struct Plan {
    pub warm_up: usize,
    pub invocations: usize,
    /// Take a `Sample` every this many invocations (0: only at the end).
    pub sample_every: usize,
    pub trace_ids: TraceIds,
}

/// CPU time in clock ticks, from `/proc/<pid>/stat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuTicks {
    pub user: u64,
    pub system: u64,
}

/// utime and stime from the text of `/proc/<pid>/stat`. The command name (field 2) may hold
/// spaces and parentheses, so fields are counted after its last `)`.
pub fn cpu_ticks(stat: &str) -> Option<CpuTicks> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state (3) ... utime (14), stime (15).
    Some(CpuTicks {
        user: fields.get(11)?.parse().ok()?,
        system: fields.get(12)?.parse().ok()?,
    })
}

/// A `kB` line of `/proc/<pid>/status` (`VmHWM`, `VmRSS`).
pub fn status_kb(status: &str, key: &str) -> Option<u64> {
    status.lines().find_map(|line| {
        let value = line.strip_prefix(key)?.strip_prefix(':')?;
        value.trim().strip_suffix("kB")?.trim().parse().ok()
    })
}

/// Microseconds of CPU per invocation between two readings of `cpu_ticks`.
pub fn per_invocation_us(
    before: u64,
    after: u64,
    ticks_per_second: u64,
    invocations: usize,
) -> f64 {
    if invocations == 0 || ticks_per_second == 0 {
        return 0.0;
    }
    let ticks = after.saturating_sub(before) as f64;
    ticks * 1_000_000.0 / ticks_per_second as f64 / invocations as f64
}

/// The median of `values` (the mean of the middle two for an even count); 0 for none.
pub fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => f64::midpoint(v[n / 2 - 1], v[n / 2]),
    }
}

/// The `p`th percentile (0..=100) of sorted durations, nearest rank below.
pub fn percentile(sorted: &[Duration], p: usize) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)]
}

/// Clock ticks per second of `/proc/<pid>/stat` (`getconf CLK_TCK`; 100 on Linux).
pub fn ticks_per_second() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100)
}

fn proc_text(pid: u32, file: &str) -> Result<String, String> {
    std::fs::read_to_string(format!("/proc/{pid}/{file}"))
        .map_err(|e| format!("/proc/{pid}/{file}: {e}"))
}

fn sample(pid: u32, invocations: usize) -> Result<Sample, String> {
    let status = proc_text(pid, "status")?;
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map_err(|e| format!("/proc/{pid}/fd: {e}"))?
        .count();
    Ok(Sample {
        invocations,
        rss_kb: status_kb(&status, "VmRSS").unwrap_or(0),
        fds,
    })
}

/// A function URL event (payload 2.0): `POST /widget-auth` with `Authorization: Bearer`.
pub fn event(token: &str) -> Value {
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/widget-auth",
        "rawQueryString": "",
        "headers": {
            "authorization": format!("Bearer {token}"),
            "content-type": "application/json",
            "host": "bench.lambda-url.us-east-1.on.aws",
            "user-agent": "rai-dev bench"
        },
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "bench",
            "domainName": "bench.lambda-url.us-east-1.on.aws",
            "domainPrefix": "bench",
            "http": {
                "method": "POST",
                "path": "/widget-auth",
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": "rai-dev bench"
            },
            "requestId": "bench",
            "routeKey": "$default",
            "stage": "$default",
            "time": "26/Nov/2026:10:00:00 +0000",
            "timeEpoch": 1_795_000_000_000_u64
        },
        "body": "{}",
        "isBase64Encoded": false
    })
}

/// The stand-ins the function calls: Returning.AI and the identity provider, on loopback.
pub struct Upstreams {
    pub rai: ReturningAi,
    pub idp: crate::net::Server,
}

impl Upstreams {
    pub async fn start() -> Result<Self, String> {
        let loopback = "127.0.0.1:0".parse().expect("an address");
        let rai = ReturningAi::start(
            loopback,
            Credentials {
                api_key: API_KEY.into(),
                access_id: "bench-access-id".into(),
                access_key: "bench-access-key".into(),
                community: Some(COMMUNITY.into()),
            },
        )
        .await
        .map_err(|e| format!("Returning.AI stand-in: {e}"))?;
        let idp = idp::start(loopback)
            .await
            .map_err(|e| format!("identity provider stand-in: {e}"))?;
        Ok(Self { rai, idp })
    }
}

/// The function's configuration for an RS256 session from a JWKS and the legacy route, with the
/// API key from the environment (no Secrets Manager) unless `secret_env` says otherwise.
pub fn function_env(
    rai_url: &str,
    jwks_url: &str,
    secret_env: &[(String, String)],
) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = vec![
        ("RAI_COMMUNITY_ID".into(), COMMUNITY.into()),
        ("RAI_WIDGET_API_URL".into(), rai_url.into()),
        ("RAI_API_V2_URL".into(), rai_url.into()),
        ("SESSION_JWKS_URL".into(), jwks_url.into()),
    ];
    if secret_env.is_empty() {
        env.push(("RAI_API_KEY".into(), API_KEY.into()));
    } else {
        env.extend_from_slice(secret_env);
    }
    env
}

/// The benchmark's session: RS256, valid for a day.
pub fn token() -> String {
    idp::mint(&session::demo_claims(EMAIL, 86_400))
}

/// Which session tokens the measured invocations carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tokens {
    /// One token for all, as a signed-in user's page views send it: after the first, the
    /// function reuses its check (src/session/verified.rs).
    Same,
    /// [`FRESH_TOKENS`] distinct tokens in turn, more than the function remembers, so every
    /// check is a new RS256 signature check.
    Fresh,
}

/// More than the function's 4,096 remembered checks: taken in turn, each token has been
/// forgotten by the time it comes round again.
pub const FRESH_TOKENS: usize = 5_000;

/// The events the invocations carry, taken in turn.
pub fn events(tokens: Tokens) -> Vec<Bytes> {
    let claims = session::demo_claims(EMAIL, 86_400);
    let count = match tokens {
        Tokens::Same => 1,
        Tokens::Fresh => FRESH_TOKENS,
    };
    (0..count)
        .map(|n| {
            let mut claims = claims.clone();
            if tokens == Tokens::Fresh {
                claims["jti"] = json!(format!("bench-{n}"));
            }
            Bytes::from(event(&idp::mint(&claims)).to_string())
        })
        .collect()
}

/// Runs `binary` once under a fresh Runtime API stand-in: the first event queued before exec,
/// then the warm-up, then the measured invocations.
pub async fn run(
    binary: &Path,
    env: &[(String, String)],
    events: &[Bytes],
    plan: &Plan,
) -> Result<Figures, String> {
    let mut one = Started::start(binary, env, events, plan.trace_ids).await?;
    for _ in 0..plan.warm_up {
        one.invoke().await?;
    }
    one.mark()?;
    for _ in 0..plan.invocations {
        one.measure(plan.sample_every).await?;
    }
    one.finish()
}

/// The floor and the function, each run as by [`run`], with their warm-up and measured
/// invocations taken in turn (floor, function, floor, ...): whatever else the machine does during
/// the measurement falls on both alike, so their ratio holds still where two runs one after the
/// other would drift apart.
pub async fn run_pair(
    floor: (&Path, &[(String, String)]),
    function: (&Path, &[(String, String)]),
    events: &[Bytes],
    plan: &Plan,
) -> Result<(Figures, Figures), String> {
    let mut a = Started::start(floor.0, floor.1, events, plan.trace_ids).await?;
    let mut b = Started::start(function.0, function.1, events, plan.trace_ids).await?;
    for _ in 0..plan.warm_up {
        a.invoke().await?;
        b.invoke().await?;
    }
    a.mark()?;
    b.mark()?;
    for _ in 0..plan.invocations {
        a.measure(plan.sample_every).await?;
        b.measure(plan.sample_every).await?;
    }
    Ok((a.finish()?, b.finish()?))
}

/// One binary under its own Runtime API stand-in, its first invocation answered.
struct Started {
    binary: PathBuf,
    runtime: Arc<RuntimeApi>,
    process: FunctionProcess,
    pid: u32,
    events: Vec<Bytes>,
    next: usize,
    init: Duration,
    first_response: Duration,
    exec_at: Instant,
    not_ok: usize,
    /// CPU when the measurement began ([`Started::mark`]).
    before: Option<CpuTicks>,
    latencies: Vec<Duration>,
    samples: Vec<Sample>,
}

impl Started {
    async fn start(
        binary: &Path,
        env: &[(String, String)],
        events: &[Bytes],
        trace_ids: TraceIds,
    ) -> Result<Self, String> {
        let runtime = Arc::new(
            RuntimeApi::start_with("127.0.0.1:0".parse().expect("an address"), trace_ids)
                .await
                .map_err(|e| format!("Runtime API: {e}"))?,
        );
        let first = {
            let runtime = runtime.clone();
            let event = events.first().cloned().unwrap_or_default();
            tokio::spawn(async move { runtime.invoke_raw(event, TIMEOUT).await })
        };
        // Give the queued event a moment to land, so exec is the last thing before the clock.
        tokio::task::yield_now().await;
        let exec_at = Instant::now();
        let process = FunctionProcess::spawn(binary, env, &runtime, Echo::Discard)
            .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
        let answer = first
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("{}: first invocation: {e}", binary.display()))?;
        let first_response = exec_at.elapsed();
        let init = runtime
            .first_poll()
            .map_or(first_response, |at| at.saturating_duration_since(exec_at));
        let pid = process.pid().ok_or("the process has no id")?;
        Ok(Self {
            binary: binary.to_owned(),
            runtime,
            process,
            pid,
            events: events.to_vec(),
            next: 1,
            init,
            first_response,
            exec_at,
            not_ok: usize::from(!is_ok(&answer)),
            before: None,
            latencies: Vec::new(),
            samples: Vec::new(),
        })
    }

    /// One invocation with the next event; its wall time.
    async fn invoke(&mut self) -> Result<Duration, String> {
        let event = match self.events.len() {
            0 => Bytes::new(),
            n => self.events[self.next % n].clone(),
        };
        self.next += 1;
        let at = Instant::now();
        let answer = invoke(&self.runtime, event, &self.binary).await?;
        let took = at.elapsed();
        self.not_ok += usize::from(!is_ok(&answer));
        Ok(took)
    }

    /// Starts the measurement.
    fn mark(&mut self) -> Result<(), String> {
        self.before = Some(self.cpu()?);
        Ok(())
    }

    /// One measured invocation, sampling memory every `sample_every` (0: never).
    async fn measure(&mut self, sample_every: usize) -> Result<(), String> {
        let took = self.invoke().await?;
        self.latencies.push(took);
        let n = self.latencies.len();
        if sample_every > 0 && n.is_multiple_of(sample_every) {
            self.samples.push(sample(self.pid, n)?);
        }
        Ok(())
    }

    fn cpu(&self) -> Result<CpuTicks, String> {
        cpu_ticks(&proc_text(self.pid, "stat")?).ok_or_else(|| "unreadable /proc/<pid>/stat".into())
    }

    /// The figures, and the process stopped.
    fn finish(mut self) -> Result<Figures, String> {
        let after = self.cpu()?;
        let before = self.before.unwrap_or(after);
        let peak_rss_kb = status_kb(&proc_text(self.pid, "status")?, "VmHWM").unwrap_or(0);
        let invocations = self.latencies.len();
        if self
            .samples
            .last()
            .is_none_or(|s| s.invocations != invocations)
        {
            self.samples.push(sample(self.pid, invocations)?);
        }
        drop(self.process);
        self.latencies.sort();
        let ticks = ticks_per_second();
        Ok(Figures {
            init: self.init,
            first_response: self.first_response,
            cpu_us: per_invocation_us(
                before.user + before.system,
                after.user + after.system,
                ticks,
                invocations,
            ),
            cpu_user_us: per_invocation_us(before.user, after.user, ticks, invocations),
            peak_rss_kb,
            latencies: self.latencies,
            not_ok: self.not_ok,
            samples: self.samples,
            exec_at: self.exec_at,
        })
    }
}

async fn invoke(runtime: &RuntimeApi, event: Bytes, binary: &Path) -> Result<Bytes, String> {
    runtime
        .invoke_raw(event, TIMEOUT)
        .await
        .map_err(|e| format!("{}: {e}", binary.display()))
}

fn is_ok(answer: &[u8]) -> bool {
    serde_json::from_slice::<Value>(answer).is_ok_and(|v| v["statusCode"] == 200)
}

/// The medians over rounds of one binary's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub init_ms: f64,
    pub first_response_ms: f64,
    pub cpu_us: f64,
    pub cpu_user_us: f64,
    pub peak_rss_mb: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

pub fn summarize(rounds: &[Figures]) -> Summary {
    let pick = |f: &dyn Fn(&Figures) -> f64| median(&rounds.iter().map(f).collect::<Vec<_>>());
    Summary {
        init_ms: pick(&|r| ms(r.init)),
        first_response_ms: pick(&|r| ms(r.first_response)),
        cpu_us: pick(&|r| r.cpu_us),
        cpu_user_us: pick(&|r| r.cpu_user_us),
        peak_rss_mb: pick(&|r| r.peak_rss_kb as f64 / 1024.0),
        p50_ms: pick(&|r| ms(percentile(&r.latencies, 50))),
        p99_ms: pick(&|r| ms(percentile(&r.latencies, 99))),
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The CPU ratio of each round's pair, which ran side by side, and their median: steadier than
/// the ratio of the two medians when the machine's load changes between rounds.
pub fn paired_cpu_ratios(floors: &[Figures], functions: &[Figures]) -> String {
    let ratios: Vec<f64> = floors
        .iter()
        .zip(functions)
        .filter(|(floor, _)| floor.cpu_us > 0.0)
        .map(|(floor, function)| function.cpu_us / floor.cpu_us)
        .collect();
    let each: Vec<String> = ratios.iter().map(|r| format!("{r:.2}x")).collect();
    format!(
        "CPU per warm request, function / floor, round by round: {}; median {:.2}x\n",
        each.join(", "),
        median(&ratios)
    )
}

/// `a / b`, shown as `2.60x`; `-` when `b` is 0.
pub fn ratio(a: f64, b: f64) -> String {
    if b == 0.0 {
        "-".into()
    } else {
        format!("{:.2}x", a / b)
    }
}

/// The Markdown table: the floor, the function, and the function as ratios to the floor.
pub fn table(floor: &Summary, function: &Summary) -> String {
    let mut out = String::from(
        "| binary | init ms | first response ms | CPU µs per warm request | of which user / kernel µs | peak RSS MB | wall p50 / p99 ms |\n|---|---|---|---|---|---|---|\n",
    );
    for (name, s) in [
        ("floor (do-nothing lambda_http)", floor),
        ("rai-widget-auth", function),
    ] {
        out.push_str(&format!(
            "| {name} | {:.1} | {:.1} | {:.0} | {:.0} / {:.0} | {:.1} | {:.2} / {:.2} |\n",
            s.init_ms,
            s.first_response_ms,
            s.cpu_us,
            s.cpu_user_us,
            s.cpu_us - s.cpu_user_us,
            s.peak_rss_mb,
            s.p50_ms,
            s.p99_ms
        ));
    }
    out.push_str(&format!(
        "| rai-widget-auth / floor | {} | {} | {} | {} / {} | {} | {} / {} |\n",
        ratio(function.init_ms, floor.init_ms),
        ratio(function.first_response_ms, floor.first_response_ms),
        ratio(function.cpu_us, floor.cpu_us),
        ratio(function.cpu_user_us, floor.cpu_user_us),
        ratio(
            function.cpu_us - function.cpu_user_us,
            floor.cpu_us - floor.cpu_user_us
        ),
        ratio(function.peak_rss_mb, floor.peak_rss_mb),
        ratio(function.p50_ms, floor.p50_ms),
        ratio(function.p99_ms, floor.p99_ms),
    ));
    out
}

/// The soak's samples as a table, and whether RSS and descriptors stayed flat after the first
/// sample (RSS within 10% and 1 MB, descriptors unchanged).
pub fn soak_report(samples: &[Sample]) -> (String, bool) {
    let mut out = String::from("| invocations | VmRSS kB | open fds |\n|---|---|---|\n");
    for s in samples {
        out.push_str(&format!(
            "| {} | {} | {} |\n",
            s.invocations, s.rss_kb, s.fds
        ));
    }
    let flat = samples.first().is_some_and(|first| {
        samples.iter().all(|s| {
            let grown = s.rss_kb.saturating_sub(first.rss_kb);
            s.fds == first.fds && (grown <= 1024 || grown * 10 <= first.rss_kb)
        })
    });
    (out, flat)
}

/// Bytes of RSS gained per invocation from the first sample to the last (0 for fewer than two).
pub fn growth_per_invocation(samples: &[Sample]) -> f64 {
    match (samples.first(), samples.last()) {
        (Some(first), Some(last)) if last.invocations > first.invocations => {
            (last.rss_kb as f64 - first.rss_kb as f64) * 1024.0
                / (last.invocations - first.invocations) as f64
        }
        _ => 0.0,
    }
}

/// Where the two binaries are, by default: `$CARGO_TARGET_DIR` (else `target`)/release.
pub fn default_binaries() -> (PathBuf, PathBuf) {
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| PathBuf::from("target"), PathBuf::from);
    let release = target.join("release");
    (
        release.join("rai-widget-auth"),
        release.join("examples").join("floor"),
    )
}

/// What `rai-dev bench` was asked for.
#[derive(Debug, Clone)]
pub struct Options {
    pub function: PathBuf,
    pub floor: PathBuf,
    pub rounds: usize,
    pub plan: Plan,
    pub tokens: Tokens,
    /// Invocations of each soak (0: no soak), sampled every `soak_every`.
    pub soak: usize,
    pub soak_every: usize,
    /// Secrets Manager (moto, plain HTTP): when given, the API key lives in a secret there.
    pub secrets_manager: Option<String>,
    /// Secrets Manager, the identity provider and Returning.AI behind TLS with a throwaway CA.
    pub tls: bool,
    /// `examples/init_probe` (the init steps one by one, in the function's environment).
    pub probe: Option<PathBuf>,
    /// More variables for the function (e.g. to compare a setting).
    pub extra_env: Vec<(String, String)>,
}

/// Runs the benchmark and writes its report to `out` as it goes.
pub async fn bench(options: &Options, out: &mut impl std::io::Write) -> Result<(), String> {
    let upstreams = Upstreams::start().await?;
    let secret_name = format!("rai-bench/{}", std::process::id());
    let tls = if options.tls {
        Some(TlsStack::start(&upstreams, options.secrets_manager.as_deref()).await?)
    } else {
        None
    };
    let (rai_url, jwks_base, sm_url) = match &tls {
        Some(t) => (t.rai.url(), t.idp.url(), t.sm.as_ref().map(TlsFront::url)),
        None => (
            upstreams.rai.url(),
            upstreams.idp.url(),
            options.secrets_manager.clone(),
        ),
    };
    let mut secret_env = Vec::new();
    if let (Some(moto), Some(sm_url)) = (&options.secrets_manager, &sm_url) {
        put_secret(moto, &secret_name).await?;
        secret_env = aws_env(&secret_name, sm_url);
    }
    let mut env = function_env(&rai_url, &format!("{jwks_base}/jwks"), &secret_env);
    if let Some(t) = &tls {
        env.push(("SSL_CERT_FILE".into(), t.ca.bundle.display().to_string()));
    }
    env.extend(options.extra_env.iter().cloned());
    let events = events(options.tokens);
    let w = |out: &mut dyn std::io::Write, text: &str| {
        let _ = writeln!(out, "{text}");
        let _ = out.flush();
    };
    w(
        out,
        &format!(
            "rai-dev bench: {} rounds of {} warm-up + {} measured invocations per binary, RS256 session, POST /widget-auth, {}\nfunction: {}\nfloor: {}",
            options.rounds,
            options.plan.warm_up,
            options.plan.invocations,
            match options.tokens {
                Tokens::Same => "one session token for all invocations".to_owned(),
                Tokens::Fresh => format!("{FRESH_TOKENS} distinct session tokens in turn"),
            },
            options.function.display(),
            options.floor.display()
        ),
    );
    let (mut floors, mut functions) = (Vec::new(), Vec::new());
    let no_env: Vec<(String, String)> = Vec::new();
    for round in 1..=options.rounds {
        let (floor, function) = run_pair(
            (&options.floor, &no_env),
            (&options.function, &env),
            &events,
            &options.plan,
        )
        .await?;
        for (name, f, into) in [
            ("floor", floor, &mut floors),
            ("function", function, &mut functions),
        ] {
            if f.not_ok > 0 {
                return Err(format!("{name}: {} answers were not 200", f.not_ok));
            }
            w(
                out,
                &format!(
                    "round {round} {name}: init {:.1} ms, first response {:.1} ms, CPU {:.0} µs per request, VmHWM {} kB",
                    ms(f.init),
                    ms(f.first_response),
                    f.cpu_us,
                    f.peak_rss_kb
                ),
            );
            into.push(f);
        }
    }
    w(out, &format!("\nmedians over {} rounds:\n", options.rounds));
    w(out, &table(&summarize(&floors), &summarize(&functions)));
    w(out, &paired_cpu_ratios(&floors, &functions));
    if let (Some(t), Some(first)) = (&tls, functions.first()) {
        w(out, &t.timeline(first));
    }
    if let Some(probe) = options.probe.as_ref().filter(|p| p.exists()) {
        w(out, &run_probe(probe, &env).await?);
    }
    if options.soak > 0 {
        for (name, binary, env) in [
            ("rai-widget-auth", &options.function, &env),
            ("floor", &options.floor, &no_env),
        ] {
            for trace_ids in [TraceIds::PerInvocation, TraceIds::Same] {
                let plan = Plan {
                    warm_up: options.plan.warm_up,
                    invocations: options.soak,
                    sample_every: options.soak_every,
                    trace_ids,
                };
                let f = run(binary, env, &events, &plan).await?;
                let (text, flat) = soak_report(&f.samples);
                w(
                    out,
                    &format!(
                        "soak: {} invocations of {name}, {} ({} not 200), CPU {:.0} µs per request, VmHWM {} kB; RSS grows {:.0} bytes per invocation after the first sample; RSS and fds {}\n",
                        options.soak,
                        match trace_ids {
                            TraceIds::PerInvocation =>
                                "a new trace id per invocation (as on Lambda)",
                            TraceIds::Same => "one trace id for all",
                        },
                        f.not_ok,
                        f.cpu_us,
                        f.peak_rss_kb,
                        growth_per_invocation(&f.samples),
                        if flat { "flat" } else { "NOT flat" }
                    ),
                );
                w(out, &text);
                if f.not_ok > 0 {
                    return Err(format!("soak: {} answers were not 200", f.not_ok));
                }
            }
        }
    }
    Ok(())
}

/// The TLS mode's terminators, in front of the plain stand-ins, and the CA they share.
pub struct TlsStack {
    pub ca: ThrowawayCa,
    pub rai: TlsFront,
    pub idp: TlsFront,
    pub sm: Option<TlsFront>,
}

impl TlsStack {
    pub async fn start(upstreams: &Upstreams, moto: Option<&str>) -> Result<Self, String> {
        let dir = std::env::temp_dir().join(format!("rai-dev-bench-ca-{}", std::process::id()));
        let ca = ThrowawayCa::generate(&dir)?;
        let config = ca.server_config()?;
        let front = |addr| TlsFront::start(addr, config.clone());
        let rai = front(upstreams.rai_addr())
            .await
            .map_err(|e| e.to_string())?;
        let idp = front(upstreams.idp.addr).await.map_err(|e| e.to_string())?;
        let sm = match moto {
            Some(url) => Some(front(addr_of(url)?).await.map_err(|e| e.to_string())?),
            None => None,
        };
        Ok(Self { ca, rai, idp, sm })
    }

    /// Each connection of the function's first run, in milliseconds from exec: when it was
    /// accepted and when its handshake ended (as the server saw them).
    pub fn timeline(&self, first: &Figures) -> String {
        let mut out = String::from(
            "TLS timeline of the first run, its first connection to each (ms from exec; server side):\n\n| connection | accepted | handshake done | handshake ms |\n|---|---|---|---|\n",
        );
        let fronts = [
            ("Secrets Manager", self.sm.as_ref()),
            ("identity provider (JWKS)", Some(&self.idp)),
            ("Returning.AI", Some(&self.rai)),
        ];
        for (name, front) in fronts {
            let Some(front) = front else { continue };
            for h in front
                .handshakes()
                .iter()
                .filter(|h| h.accepted >= first.exec_at)
                .take(1)
            {
                let at = |t: Instant| ms(t.saturating_duration_since(first.exec_at));
                let done = h.done.map_or("failed".into(), |d| format!("{:.1}", at(d)));
                let took = h.done.map_or("-".into(), |d| {
                    format!("{:.1}", ms(d.saturating_duration_since(h.accepted)))
                });
                out.push_str(&format!(
                    "| {name} | {:.1} | {done} | {took} |\n",
                    at(h.accepted)
                ));
            }
        }
        out.push_str(&format!(
            "\ninit (first poll) at {:.1} ms, first response at {:.1} ms\n",
            ms(first.init),
            ms(first.first_response)
        ));
        out
    }
}

impl Upstreams {
    fn rai_addr(&self) -> std::net::SocketAddr {
        addr_of(&self.rai.url()).expect("the stand-in's own URL")
    }
}

/// `host:port` of an `http://host:port` URL.
fn addr_of(url: &str) -> Result<std::net::SocketAddr, String> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let hostport = rest.split('/').next().unwrap_or(rest);
    let hostport = hostport.replace("localhost", "127.0.0.1");
    hostport
        .parse()
        .map_err(|_| format!("{url}: not http://IP:PORT"))
}

/// What Lambda gives the function for Secrets Manager, here pointed at `sm_url`.
pub fn aws_env(secret_name: &str, sm_url: &str) -> Vec<(String, String)> {
    [
        ("RAI_SECRET_ID", secret_name),
        ("AWS_ENDPOINT_URL_SECRETS_MANAGER", sm_url),
        ("AWS_REGION", "us-east-1"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_SESSION_TOKEN", "testing"),
        ("AWS_CONFIG_FILE", "/dev/null"),
        ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect()
}

async fn put_secret(moto: &str, name: &str) -> Result<(), String> {
    use aws_sdk_secretsmanager::config::{BehaviorVersion, Credentials, Region};
    let config = aws_sdk_secretsmanager::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "bench"))
        .endpoint_url(moto)
        .build();
    let client = aws_sdk_secretsmanager::Client::from_conf(config);
    crate::secret::put(&client, name, &json!({ "apiKey": API_KEY }).to_string())
        .await
        .map(|_| ())
}

/// Runs `examples/init_probe` with the function's environment and returns what it printed.
async fn run_probe(probe: &Path, env: &[(String, String)]) -> Result<String, String> {
    let out = tokio::process::Command::new(probe)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .await
        .map_err(|e| format!("{}: {e}", probe.display()))?;
    Ok(format!(
        "init steps, one by one ({}):\n\n{}{}",
        probe.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    ))
}

/// Where `examples/init_probe` is, by default.
pub fn default_probe() -> PathBuf {
    default_binaries()
        .0
        .with_file_name("examples")
        .join("init_probe")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cpu_ticks_past_a_command_name_with_spaces_and_parentheses() {
        // Fields 14 and 15 (utime, stime) are 1234 and 56.
        let stat = "4242 (rai (widget) auth) S 1 4242 4242 0 -1 4194560 500 0 0 0 1234 56 0 0 20 0 1 0 100 1000 200";
        assert_eq!(
            cpu_ticks(stat),
            Some(CpuTicks {
                user: 1234,
                system: 56
            })
        );
        assert_eq!(cpu_ticks("4242 (x) S 1"), None);
        assert_eq!(cpu_ticks("garbage"), None);
        // This process's own line parses.
        let own = std::fs::read_to_string("/proc/self/stat").unwrap();
        assert!(cpu_ticks(&own).is_some());
    }

    #[test]
    fn reads_kilobyte_lines_of_status() {
        let status = "Name:\tfloor\nVmHWM:\t    3380 kB\nVmRSS:\t    3100 kB\nThreads:\t1\n";
        assert_eq!(status_kb(status, "VmHWM"), Some(3380));
        assert_eq!(status_kb(status, "VmRSS"), Some(3100));
        assert_eq!(status_kb(status, "VmSwap"), None);
        assert_eq!(status_kb(status, "Threads"), None);
    }

    #[test]
    fn divides_cpu_by_invocations() {
        // 150 ticks of 10 ms over 10,000 invocations: 150 µs each.
        assert!((per_invocation_us(1000, 1150, 100, 10_000) - 150.0).abs() < 1e-9);
        assert!((per_invocation_us(5, 5, 100, 10) - 0.0).abs() < 1e-9);
        assert!((per_invocation_us(0, 10, 100, 0) - 0.0).abs() < 1e-9);
    }

    #[test]
    fn paired_ratios_are_taken_round_by_round() {
        let figures = |cpu_us| Figures {
            init: Duration::ZERO,
            first_response: Duration::ZERO,
            cpu_us,
            cpu_user_us: 0.0,
            peak_rss_kb: 0,
            latencies: Vec::new(),
            not_ok: 0,
            samples: Vec::new(),
            exec_at: Instant::now(),
        };
        // The floor's rounds drift (100, 200, 150); each function round drifts with its floor.
        let floors = [figures(100.0), figures(200.0), figures(150.0)];
        let functions = [figures(150.0), figures(280.0), figures(240.0)];
        assert_eq!(
            paired_cpu_ratios(&floors, &functions),
            "CPU per warm request, function / floor, round by round: 1.50x, 1.40x, 1.60x; median 1.50x\n"
        );
        // A round the floor did not measure is left out rather than divided by.
        assert!(paired_cpu_ratios(&[figures(0.0)], &[figures(1.0)]).ends_with("; median 0.00x\n"));
    }

    #[test]
    fn medians_percentiles_and_ratios() {
        assert!((median(&[3.0, 1.0, 2.0]) - 2.0).abs() < 1e-9);
        assert!((median(&[4.0, 1.0, 2.0, 3.0]) - 2.5).abs() < 1e-9);
        assert!((median(&[]) - 0.0).abs() < 1e-9);
        let sorted: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&sorted, 50), Duration::from_millis(51));
        assert_eq!(percentile(&sorted, 99), Duration::from_millis(100));
        assert_eq!(percentile(&[], 99), Duration::ZERO);
        assert_eq!(ratio(265.0, 100.0), "2.65x");
        assert_eq!(ratio(1.0, 0.0), "-");
    }

    #[test]
    fn the_table_shows_both_binaries_and_their_ratio() {
        let floor = Summary {
            init_ms: 3.0,
            first_response_ms: 4.0,
            cpu_us: 100.0,
            cpu_user_us: 60.0,
            peak_rss_mb: 3.0,
            p50_ms: 0.1,
            p99_ms: 0.2,
        };
        let function = Summary {
            init_ms: 15.0,
            first_response_ms: 16.0,
            cpu_us: 140.0,
            cpu_user_us: 90.0,
            peak_rss_mb: 7.5,
            p50_ms: 0.2,
            p99_ms: 0.4,
        };
        let t = table(&floor, &function);
        assert!(
            t.contains("| floor (do-nothing lambda_http) | 3.0 | 4.0 | 100 | 60 / 40 | 3.0 |"),
            "{t}"
        );
        assert!(
            t.contains(
                "| rai-widget-auth / floor | 5.00x | 4.00x | 1.40x | 1.50x / 1.25x | 2.50x | 2.00x / 2.00x |"
            ),
            "{t}"
        );
    }

    #[test]
    fn a_soak_is_flat_only_when_memory_and_descriptors_hold() {
        let s = |invocations, rss_kb, fds| Sample {
            invocations,
            rss_kb,
            fds,
        };
        let (text, flat) =
            soak_report(&[s(10_000, 8000, 9), s(20_000, 8100, 9), s(30_000, 8050, 9)]);
        assert!(flat);
        assert!(text.contains("| 20000 | 8100 | 9 |"), "{text}");
        assert!(!soak_report(&[s(1, 8000, 9), s(2, 8000, 10)]).1);
        assert!(!soak_report(&[s(1, 8000, 9), s(2, 12_000, 9)]).1);
        assert!(!soak_report(&[]).1);
    }

    #[test]
    fn growth_is_per_invocation_from_the_first_sample_to_the_last() {
        let s = |invocations, rss_kb| Sample {
            invocations,
            rss_kb,
            fds: 9,
        };
        // 1,000 kB over 10,000 invocations: 102.4 bytes each.
        let g = growth_per_invocation(&[s(10_000, 8_000), s(15_000, 8_200), s(20_000, 9_000)]);
        assert!((g - 102.4).abs() < 1e-9, "{g}");
        assert!(growth_per_invocation(&[s(10_000, 9_000), s(20_000, 8_000)]) < 0.0);
        assert!((growth_per_invocation(&[s(1, 8_000)]) - 0.0).abs() < 1e-9);
        assert!((growth_per_invocation(&[]) - 0.0).abs() < 1e-9);
    }

    #[test]
    fn reads_the_address_of_a_stand_in_url() {
        assert_eq!(addr_of("http://127.0.0.1:5111").unwrap().port(), 5111);
        assert_eq!(
            addr_of("https://localhost:8443/jwks").unwrap().to_string(),
            "127.0.0.1:8443"
        );
        assert!(addr_of("http://example.com").is_err());
        let env = aws_env("s", "https://localhost:1");
        assert!(env.contains(&(
            "AWS_ENDPOINT_URL_SECRETS_MANAGER".into(),
            "https://localhost:1".into()
        )));
    }

    #[test]
    fn the_event_is_a_function_url_post_with_the_bearer_session() {
        let e = event("t.o.k");
        assert_eq!(e["headers"]["authorization"], "Bearer t.o.k");
        assert_eq!(e["requestContext"]["http"]["method"], "POST");
        assert_eq!(e["rawPath"], "/widget-auth");
    }
}
