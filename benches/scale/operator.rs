//! The operator as its own process: started with the settings' flags, its metrics, memory and
//! CPU time read while it runs.

use super::*;

/// The operator as its own process; killed when dropped.
pub(crate) struct Operator {
    pub(crate) child: Child,
    /// The operator's own process: `child`, or its descendant under `SCALE_OPERATOR_WRAPPER`.
    pub(crate) pid: u32,
    pub(crate) wrapped: bool,
    pub(crate) metrics_url: String,
    pub(crate) log: PathBuf,
}

impl Operator {
    pub(crate) fn start(namespaces: &[String], settings: &Settings, run: &str) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port();
        let log = std::env::temp_dir().join(format!("ssoperator-bench-{run}.log"));
        let bin = operator_binary();
        let mut command = match settings.operator_wrapper.split_first() {
            Some((wrapper, args)) => {
                let mut c = Command::new(wrapper);
                c.args(args).arg(&bin);
                c
            }
            None => Command::new(&bin),
        };
        let child = command
            .env("KUBECONFIG", support::kubeconfig_path())
            .env("RUST_LOG", &settings.operator_log)
            .env_remove("FAILPOINTS")
            .args(["--namespaces", &namespaces.join(",")])
            .args([
                "--resync",
                &format!("{}ms", settings.resync.as_millis()),
                "--metrics-addr",
                &format!("127.0.0.1:{port}"),
                "--log-format",
                "text",
                "--identity",
                &format!("bench-{run}"),
            ])
            .args(&settings.operator_args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("create the operator's log file"))
            .spawn()
            .unwrap_or_else(|e| panic!("start {bin}: {e}"));
        Self {
            pid: child.id(),
            child,
            wrapped: !settings.operator_wrapper.is_empty(),
            metrics_url: format!("http://127.0.0.1:{port}/metrics"),
            log,
        }
    }

    pub(crate) fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// Panics (with the end of its log) if the operator has exited.
    pub(crate) fn assert_alive(&mut self, when: &str) {
        if let Some(status) = self.child.try_wait().expect("wait for the operator") {
            panic!(
                "the operator exited ({status}) {when}; the end of {}:\n{}",
                self.log.display(),
                self.log_tail()
            );
        }
    }

    pub(crate) async fn try_metrics(&self) -> Option<String> {
        let resp = reqwest::get(&self.metrics_url).await.ok()?;
        resp.error_for_status().ok()?.text().await.ok()
    }

    pub(crate) async fn metrics(&mut self) -> String {
        self.assert_alive("before its /metrics was read");
        match self.try_metrics().await {
            Some(text) => text,
            None => panic!("cannot read {}", self.metrics_url),
        }
    }

    /// Waits until /metrics answers.
    pub(crate) async fn wait_up(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.try_metrics().await.is_none() {
            self.assert_alive("at start");
            assert!(
                Instant::now() < deadline,
                "the operator's /metrics did not answer within 60 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if self.wrapped {
            self.pid = descendant_named(self.child.id(), "ssoperator")
                .expect("the operator among the wrapper's descendants");
            eprintln!("operator pid {} (under the wrapper)", self.pid);
        }
    }

    /// A `VmHWM:`-style field of /proc/<pid>/status, in KiB.
    pub(crate) fn status_kib(&self, field: &str) -> u64 {
        let text = std::fs::read_to_string(format!("/proc/{}/status", self.pid))
            .unwrap_or_else(|e| panic!("read /proc/{}/status: {e}", self.pid));
        text.lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("no {field} in /proc/{}/status", self.pid))
    }

    /// User + system CPU time so far, in clock ticks (fields 14 and 15 of /proc/<pid>/stat).
    pub(crate) fn cpu_ticks(&self) -> u64 {
        let text = std::fs::read_to_string(format!("/proc/{}/stat", self.pid))
            .unwrap_or_else(|e| panic!("read /proc/{}/stat: {e}", self.pid));
        // The command name (field 2) may hold spaces; count fields after its closing ')'.
        let rest = &text[text.rfind(')').expect("a /proc stat line") + 1..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let field = |i: usize| -> u64 { fields[i - 3].parse().expect("a tick count") };
        field(14) + field(15)
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        if self.wrapped {
            // A graceful stop, so that a profiler writes its data (2 minutes at most).
            let _ = Command::new("kill")
                .args(["-TERM", &self.pid.to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(120);
            while Instant::now() < deadline && matches!(self.child.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(200));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The first process below `root` (depth first) whose command name is `name`.
pub(crate) fn descendant_named(root: u32, name: &str) -> Option<u32> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            continue;
        };
        if let Some(ppid) = rest.split_whitespace().nth(1).and_then(|p| p.parse().ok()) {
            children.entry(ppid).or_default().push(pid);
        }
    }
    let mut todo = vec![root];
    while let Some(pid) = todo.pop() {
        for &c in children.get(&pid).into_iter().flatten() {
            let comm = std::fs::read_to_string(format!("/proc/{c}/comm")).unwrap_or_default();
            if comm.trim() == name {
                return Some(c);
            }
            todo.push(c);
        }
    }
    None
}

pub(crate) fn clock_ticks_per_second() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}
