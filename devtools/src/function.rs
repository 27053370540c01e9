//! The real function binary as a child process, wired to a Runtime API stand-in with the
//! environment Lambda gives a function, its output captured line by line.

use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::oneshot;

use crate::runtime_api::{FUNCTION_NAME, RuntimeApi};

/// Where a captured line goes besides the capture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Echo {
    /// Kept only (tests).
    Quiet,
    /// Also written to this process's stderr (the `rai-dev` servers, so a person sees the
    /// function's log). The function never logs a secret (its contract), so echoing is safe.
    Stderr,
    /// Read and dropped, so the pipes never fill and nothing piles up (benchmarks, soaks).
    Discard,
}

#[derive(Default)]
struct Lines {
    stdout: Vec<String>,
    stderr: Vec<String>,
}

/// The function's process; killed when this is dropped.
pub struct FunctionProcess {
    lines: Arc<Mutex<Lines>>,
    // Dropping the sender tells the watcher to kill the child.
    _kill: oneshot::Sender<()>,
    pid: Option<u32>,
}

impl FunctionProcess {
    /// Starts `binary` with only `env` (nothing from this process's own environment, so a run
    /// is the same on every machine) plus what Lambda sets: the Runtime API address, the
    /// function's name, memory, version and log stream.
    pub fn spawn(
        binary: &Path,
        env: &[(String, String)],
        runtime: &Arc<RuntimeApi>,
        echo: Echo,
    ) -> std::io::Result<Self> {
        let mut command = Command::new(binary);
        command
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k, v)))
            .env("AWS_LAMBDA_RUNTIME_API", runtime.address())
            .env("AWS_LAMBDA_FUNCTION_NAME", FUNCTION_NAME)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env(
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!("/aws/lambda/{FUNCTION_NAME}"),
            )
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "local/[$LATEST]rai-dev")
            .env("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Also covers a runtime that shuts down without running our own drop.
            .kill_on_drop(true);
        let mut child = command.spawn()?;
        let pid = child.id();
        let lines = Arc::new(Mutex::new(Lines::default()));
        if let Some(out) = child.stdout.take() {
            tokio::spawn(capture(out, lines.clone(), false, echo));
        }
        if let Some(err) = child.stderr.take() {
            tokio::spawn(capture(err, lines.clone(), true, echo));
        }
        let (kill, killed) = oneshot::channel();
        tokio::spawn(watch(child, killed, runtime.clone()));
        Ok(Self {
            lines,
            _kill: kill,
            pid,
        })
    }

    pub fn pid(&self) -> Option<u32> {
        self.pid
    }

    /// Every line the function has written to stdout so far.
    pub fn stdout_lines(&self) -> Vec<String> {
        lock(&self.lines).stdout.clone()
    }

    pub fn stderr_lines(&self) -> Vec<String> {
        lock(&self.lines).stderr.clone()
    }

    /// Waits until stdout holds at least `count` lines (a log line may reach us just after the
    /// answer it belongs to), or `timeout` passes; returns the lines either way.
    pub async fn wait_for_stdout(&self, count: usize, timeout: Duration) -> Vec<String> {
        let until = Instant::now() + timeout;
        loop {
            let lines = self.stdout_lines();
            if lines.len() >= count || Instant::now() >= until {
                return lines;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

async fn capture(
    stream: impl AsyncRead + Unpin,
    lines: Arc<Mutex<Lines>>,
    is_err: bool,
    echo: Echo,
) {
    let mut reader = BufReader::new(stream).lines();
    // Ends at EOF (the process is gone) or on output that is not UTF-8.
    while let Ok(Some(line)) = reader.next_line().await {
        match echo {
            Echo::Stderr => eprintln!("{line}"),
            Echo::Discard => continue,
            Echo::Quiet => {}
        }
        let mut l = lock(&lines);
        if is_err { &mut l.stderr } else { &mut l.stdout }.push(line);
    }
}

async fn watch(mut child: Child, killed: oneshot::Receiver<()>, runtime: Arc<RuntimeApi>) {
    tokio::select! {
        status = child.wait() => {
            let status = status.map_or_else(|e| e.to_string(), |s| s.to_string());
            runtime.function_exited(&status);
        }
        _ = killed => {
            let _ = child.kill().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime_api::InvokeError;
    use serde_json::json;

    async fn runtime() -> Arc<RuntimeApi> {
        Arc::new(
            RuntimeApi::start("127.0.0.1:0".parse().unwrap())
                .await
                .unwrap(),
        )
    }

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect()
    }

    #[tokio::test]
    async fn passes_the_lambda_environment_and_captures_lines() {
        let runtime = runtime().await;
        let script = "echo \"$GREETING $AWS_LAMBDA_FUNCTION_NAME $AWS_LAMBDA_RUNTIME_API\"; echo oops >&2; echo \"home=${HOME:-unset}\"";
        let f = spawn_script(script, &runtime);
        let lines = f.wait_for_stdout(2, Duration::from_secs(5)).await;
        assert_eq!(
            lines[0],
            format!("hello rai-widget-auth {}", runtime.address())
        );
        // Nothing leaks in from the parent's environment.
        assert_eq!(lines[1], "home=unset");
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(f.stderr_lines(), vec!["oops".to_owned()]);
    }

    fn spawn_script(script: &str, runtime: &Arc<RuntimeApi>) -> FunctionProcess {
        let dir = std::env::temp_dir().join(format!(
            "rai-devtools-fn-{}-{}",
            std::process::id(),
            script.len()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bootstrap");
        std::fs::write(&path, format!("#!/bin/sh\n{script}\n")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        FunctionProcess::spawn(&path, &env(&[("GREETING", "hello")]), runtime, Echo::Quiet).unwrap()
    }

    #[tokio::test]
    async fn an_exit_before_the_first_poll_is_an_init_error() {
        let runtime = runtime().await;
        let _f = spawn_script("echo '{\"event\":\"init_failed\"}'; exit 3", &runtime);
        match runtime.invoke(&json!({}), Duration::from_secs(10)).await {
            Err(InvokeError::Init(e)) => {
                assert_eq!(e.error_type, "Runtime.ExitError");
                assert!(
                    e.body["errorMessage"].as_str().unwrap().contains('3'),
                    "{e:?}"
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn is_killed_on_drop() {
        let runtime = runtime().await;
        let f = spawn_script("echo started; exec sleep 30", &runtime);
        f.wait_for_stdout(1, Duration::from_secs(5)).await;
        let pid = f.pid().unwrap();
        assert!(Path::new(&format!("/proc/{pid}")).exists());
        drop(f);
        let until = Instant::now() + Duration::from_secs(5);
        // Killed and reaped by the watcher: /proc/<pid> goes away.
        while Path::new(&format!("/proc/{pid}")).exists() && Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "still running"
        );
    }
}
