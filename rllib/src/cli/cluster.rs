//! `rllib start`, `rllib status`, `rllib stop`: the cluster's daemons, as `ray start`,
//! `ray status` and `ray stop`.

use std::collections::BTreeMap;
use std::process::ExitCode;

use serde_json::{json, Value};

use cluster::{ClusterStatus, DaemonKind, Resources, StartOptions, StopOutcome};

use super::args::{StartArgs, StatusArgs, StopArgs};
use super::{bad, Failure};

/// Starts a head or a node daemon and prints how to use it.
pub fn start(a: StartArgs) -> Result<ExitCode, Failure> {
    let temp_dir = a.temp_dir.unwrap_or_else(cluster::default_temp_dir);
    let kind = match a.address {
        Some(head) => DaemonKind::Node { head, port: a.port },
        None => DaemonKind::Head {
            port: a.port.unwrap_or(cluster::DEFAULT_PORT),
            redis_address: a.redis_address,
        },
    };
    let opts = StartOptions {
        kind,
        num_cpus: a.num_cpus,
        num_gpus: a.num_gpus,
        resources: a.resources,
        temp_dir: temp_dir.clone(),
        node_ip_address: a.node_ip_address,
    };
    let rllib = std::env::current_exe()
        .map_err(|e| Failure::from(anyhow::anyhow!("cannot find the rllib executable: {e}")))?;
    // The daemon binary beside us runs without libtorch; `rllib` itself serves as a fallback.
    let lean = rllib.with_file_name("rllib-daemon");
    let exe = if lean.is_file() { lean } else { rllib };
    let s = cluster::start(&opts, &exe)?;
    let stop_cmd = if temp_dir == cluster::default_temp_dir() {
        "rllib stop".to_string()
    } else {
        format!("rllib stop --temp-dir {}", temp_dir.display())
    };
    let what = if s.is_head { "the head" } else { "a node" };
    println!(
        "Started {what} (node {}, pid {}) at {} with {}.",
        s.node_id,
        s.pid,
        s.address,
        resources_text(&s.resources)
    );
    println!("Auth token: {}.", s.token);
    println!("Logs: {}", s.log.display());
    if s.is_head {
        println!();
        println!("To add a node, run on that machine (with the same token):");
        println!("    rllib start --address {}", s.address);
        println!("To see the cluster:");
        println!("    rllib status --address {}", s.address);
        if s.address.starts_with("127.") || s.address.starts_with("[::1]") {
            println!(
                "(This head listens on a loopback address: only this machine can join. \
                 Pass --node-ip-address with this machine's address to accept others.)"
            );
        }
    }
    println!("To stop it:");
    println!("    {stop_cmd}");
    Ok(ExitCode::SUCCESS)
}

fn resources_text(r: &Resources) -> String {
    let parts: Vec<String> = r
        .iter()
        .map(|(k, v)| format!("{} {k}", number(*v)))
        .collect();
    parts.join(", ")
}

/// A quantity as JSON: whole numbers print as integers (`"CPU": 2`), others as floats.
fn number(x: f64) -> Value {
    if x.fract() == 0.0 && x.abs() < 9.0e15 {
        json!(x as i64)
    } else {
        json!(x)
    }
}

fn resources_json(r: &Resources) -> Value {
    Value::Object(r.iter().map(|(k, v)| (k.clone(), number(*v))).collect())
}

/// `{"nodes": [...]}` as `rllib status --format json` prints it.
fn status_json(st: &ClusterStatus) -> Value {
    let nodes: Vec<Value> = st
        .nodes
        .iter()
        .map(|n| {
            json!({
                "node_id": n.info.node_id,
                "address": n.info.address,
                "alive": n.info.alive,
                "resources_total": resources_json(&n.info.resources_total),
                "resources_available": resources_json(&n.resources_available),
            })
        })
        .collect();
    json!({ "nodes": nodes })
}

fn status_text(st: &ClusterStatus) -> String {
    let rule = "-".repeat(63);
    let mut out = format!("======== Cluster status: {} ========\n", st.head_address);
    out += &format!("Node status\n{rule}\nAlive:\n");
    let line = |n: &cluster::NodeStatus| {
        format!(
            " node {:<5} {}{}\n",
            n.info.node_id,
            n.info.address,
            if n.info.is_head { "  (head)" } else { "" }
        )
    };
    let (alive, dead): (Vec<_>, Vec<_>) = st.nodes.iter().partition(|n| n.info.alive);
    for n in &alive {
        out += &line(n);
    }
    if alive.is_empty() {
        out += " (no alive nodes)\n";
    }
    out += "Dead:\n";
    for n in &dead {
        out += &line(n);
    }
    if dead.is_empty() {
        out += " (no dead nodes)\n";
    }
    let mut total: BTreeMap<&str, (f64, f64)> = BTreeMap::new();
    for n in &alive {
        for (k, t) in &n.info.resources_total {
            let avail = n.resources_available.get(k).copied().unwrap_or(*t);
            let e = total.entry(k.as_str()).or_default();
            e.0 += t - avail;
            e.1 += t;
        }
    }
    out += &format!("\nResources\n{rule}\nUsage:\n");
    for (k, (used, t)) in total {
        out += &format!(" {used:.1}/{t:.1} {k}\n");
    }
    out += &format!("\nDrivers connected: {}", st.drivers);
    out
}

/// Prints the cluster's nodes and resources.
pub fn status(a: StatusArgs) -> Result<ExitCode, Failure> {
    let json_out = match a.format.as_str() {
        "json" => true,
        "text" => false,
        other => return Err(bad(format!("--format must be text or json, got '{other}'"))),
    };
    let address = match a.address {
        Some(addr) => cluster::check_address("--address", &addr)?,
        None => cluster::find_head_address(&cluster::default_temp_dir())?,
    };
    let (token, _) = cluster::load_token()?;
    let st = cluster::status(&address, &token)?;
    if json_out {
        println!("{}", status_json(&st));
    } else {
        println!("{}", status_text(&st));
    }
    Ok(ExitCode::SUCCESS)
}

/// Stops the daemon of a temp dir and its workers.
pub fn stop(a: StopArgs) -> Result<ExitCode, Failure> {
    let dir = a.temp_dir.unwrap_or_else(cluster::default_temp_dir);
    match cluster::stop(&dir)? {
        StopOutcome::NotRunning => {
            println!("No daemon is running with temp dir {}.", dir.display())
        }
        StopOutcome::Stopped {
            pid,
            killed,
            workers,
        } => println!(
            "Stopped the daemon (pid {pid}{}) and {} worker process(es).",
            if killed {
                ", killed after the grace period"
            } else {
                ""
            },
            workers.len()
        ),
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs a daemon in the foreground: the hidden subcommand `rllib start` launches.
pub fn daemon(spec: &str) -> ExitCode {
    ExitCode::from(cluster::run_daemon(spec).clamp(0, 255) as u8)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cluster::{NodeInfo, NodeStatus};

    #[test]
    fn json_status_has_the_documented_shape_with_whole_numbers_as_integers() {
        let st = ClusterStatus {
            head_address: "127.0.0.1:1".into(),
            nodes: vec![NodeStatus {
                info: NodeInfo {
                    node_id: 1,
                    address: "127.0.0.1:1".into(),
                    alive: true,
                    is_head: true,
                    resources_total: Resources::from([("CPU".into(), 2.0), ("x".into(), 0.5)]),
                },
                resources_available: Resources::from([("CPU".into(), 1.0), ("x".into(), 0.5)]),
            }],
            drivers: 0,
        };
        let expected: Value = serde_json::from_str(
            r#"{"nodes": [{"node_id": 1, "address": "127.0.0.1:1", "alive": true,
                "resources_total": {"CPU": 2, "x": 0.5}, "resources_available": {"CPU": 1, "x": 0.5}}]}"#,
        )
        .unwrap();
        assert_eq!(status_json(&st), expected);
        assert!(status_json(&st).to_string().contains(r#""CPU":2"#));
        let text = status_text(&st);
        assert!(text.contains(" 1.0/2.0 CPU"), "{text}");
        assert!(text.contains("(head)"), "{text}");
    }
}
