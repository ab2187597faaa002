//! `rllib env check` on Gymnasium's recordings and on broken files.

use crate::harness::*;

#[test]
fn every_recording_replays_with_zero_mismatches() {
    let dir = shared().join("gymnasium");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap().flatten() {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "jsonl") {
            let r = rllib(&repo_root(), &["env", "check", p.to_str().unwrap()]);
            r.ok();
            let line = r.stdout.lines().last().unwrap_or_default().to_string();
            assert!(line.starts_with("env check: "), "{line}");
            assert!(line.ends_with(", 0 mismatches"), "{line}");
            n += 1;
        }
    }
    assert_eq!(n, 5, "five recordings in ../shared/gymnasium");
}

#[test]
fn broken_recordings_are_clear_errors_naming_the_line() {
    let tmp = tempfile::tempdir().unwrap();
    let good = std::fs::read_to_string(shared().join("gymnasium/CartPole-v1.jsonl")).unwrap();
    let mut lines: Vec<&str> = good.lines().collect();
    lines[3] = "{not json";
    let bad = tmp.path().join("bad.jsonl");
    std::fs::write(&bad, lines.join("\n")).unwrap();
    let r = rllib(tmp.path(), &["env", "check", bad.to_str().unwrap()]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("line 4"), "{}", r.stderr);
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);

    // A tampered observation is a mismatch: exit code 1 and a count in the closing line.
    let mut lines: Vec<String> = good.lines().map(String::from).collect();
    let i = lines.iter().position(|l| l.contains("\"step\"")).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&lines[i]).unwrap();
    v["obs"][0] = serde_json::json!(v["obs"][0].as_f64().unwrap() + 0.5);
    lines[i] = v.to_string();
    let tampered = tmp.path().join("tampered.jsonl");
    std::fs::write(&tampered, lines.join("\n")).unwrap();
    let r = rllib(tmp.path(), &["env", "check", tampered.to_str().unwrap()]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stdout.contains("1 mismatches"), "{}", r.stdout);

    let r = rllib(tmp.path(), &["env", "check", "/nonexistent.jsonl"]);
    assert_eq!(r.code, 2);
}
