//! Replaying the Gymnasium recordings, and rejecting malformed ones by line.

use crate::harness::{head, recordings};
use envs::recording::{replay_str, RecordingError};

#[test]
fn every_recording_replays_without_mismatch() {
    let files = recordings();
    assert_eq!(files.len(), 5, "{files:?}");
    for path in files {
        let report = envs::replay_file(&path).unwrap();
        println!("{report}");
        for m in report.mismatches.iter().take(5) {
            println!("  {m}");
        }
        assert!(
            report.is_ok(),
            "{}: {} mismatches",
            path.display(),
            report.mismatches.len()
        );
        assert_eq!(report.episodes, 2);
        assert!(report.steps > 0);
        assert!(report.max_obs_diff <= 1e-6);
        // Stronger than asked: the native dynamics reproduce Gymnasium's bits.
        assert_eq!(report.max_state_diff, 0.0, "{}", path.display());
        assert_eq!(report.max_reward_diff, 0.0, "{}", path.display());
    }
}

#[test]
fn summary_line_has_the_cli_format() {
    let report = replay_str(&head("CartPole-v1.jsonl", 4)).unwrap();
    assert_eq!(report.steps, 2);
    let line = report.to_string();
    assert!(
        line.starts_with("env check: CartPole-v1 2 steps, max |obs diff| "),
        "{line}"
    );
    assert!(line.ends_with(", 0 mismatches"), "{line}");
}

/// Replays `text` expecting an error on `line`, and returns the error's message.
fn error_on_line(text: &str, line: usize) -> String {
    let err = replay_str(text).unwrap_err();
    assert_eq!(err.line(), Some(line), "{err}");
    let msg = err.to_string();
    assert!(msg.contains(&format!("line {line}")), "{msg}");
    msg
}

#[test]
fn bad_json_names_the_line() {
    let text = head("CartPole-v1.jsonl", 3) + "{\"type\": \"step\", \n";
    error_on_line(&text, 4);
}

#[test]
fn missing_field_names_line_and_field() {
    let mut lines: Vec<String> = head("CartPole-v1.jsonl", 3)
        .lines()
        .map(String::from)
        .collect();
    let mut step: serde_json::Value = serde_json::from_str(&lines[2]).unwrap();
    step.as_object_mut().unwrap().remove("reward");
    lines[2] = step.to_string();
    let msg = error_on_line(&(lines.join("\n") + "\n"), 3);
    assert!(msg.contains("reward"), "{msg}");
}

#[test]
fn wrong_type_names_line_and_field() {
    let mut lines: Vec<String> = head("Pendulum-v1.jsonl", 3)
        .lines()
        .map(String::from)
        .collect();
    lines[1] = lines[1].replace("\"seed\": 0", "\"seed\": \"zero\"");
    let msg = error_on_line(&(lines.join("\n") + "\n"), 2);
    assert!(msg.contains("seed"), "{msg}");
}

#[test]
fn unknown_env_names_the_header_line() {
    let text = head("CartPole-v1.jsonl", 3).replacen("CartPole-v1", "NoSuchEnv-v9", 1);
    let msg = error_on_line(&text, 1);
    assert!(
        msg.contains("NoSuchEnv-v9") && msg.contains("CartPole-v1"),
        "{msg}"
    );
}

#[test]
fn step_before_reset_is_an_error() {
    let lines: Vec<String> = head("CartPole-v1.jsonl", 3)
        .lines()
        .map(String::from)
        .collect();
    let text = format!("{}\n{}\n", lines[0], lines[2]);
    let msg = error_on_line(&text, 2);
    assert!(msg.contains("before any reset"), "{msg}");
}

#[test]
fn missing_header_empty_file_and_unknown_record() {
    let lines: Vec<String> = head("CartPole-v1.jsonl", 2)
        .lines()
        .map(String::from)
        .collect();
    error_on_line(&format!("{}\n", lines[1]), 1);
    assert!(matches!(replay_str(""), Err(RecordingError::Empty)));
    error_on_line(&format!("{}\n{{\"type\": \"bogus\"}}\n", lines[0]), 2);
    error_on_line(&format!("{}\n[1, 2]\n", lines[0]), 2);
    error_on_line(&format!("{0}\n{0}\n", lines[0]), 2);
}

#[test]
fn out_of_order_and_invalid_action_are_errors() {
    let lines: Vec<String> = head("CartPole-v1.jsonl", 4)
        .lines()
        .map(String::from)
        .collect();
    let skipped = format!("{}\n{}\n{}\n", lines[0], lines[1], lines[3]);
    assert!(error_on_line(&skipped, 3).contains("t = 1"));
    let bad_action = format!(
        "{}\n{}\n{}\n",
        lines[0],
        lines[1],
        lines[2].replace("\"action\": 0", "\"action\": 7")
    );
    error_on_line(&bad_action, 3);
    let bad_state = format!(
        "{}\n{}\n",
        lines[0],
        lines[1].replace("\"state\": [", "\"state\": [1.0, ")
    );
    error_on_line(&bad_state, 2);
}

#[test]
fn a_changed_value_is_a_mismatch_not_an_error() {
    let lines: Vec<String> = head("MountainCar-v0.jsonl", 3)
        .lines()
        .map(String::from)
        .collect();
    let mut step: serde_json::Value = serde_json::from_str(&lines[2]).unwrap();
    step["reward"] = serde_json::json!(-2.0);
    step["terminated"] = serde_json::json!(true);
    let text = format!("{}\n{}\n{}\n", lines[0], lines[1], step);
    let report = replay_str(&text).unwrap();
    assert_eq!(report.mismatches.len(), 2, "{:?}", report.mismatches);
    assert!(report
        .mismatches
        .iter()
        .all(|m| m.line == 3 && m.seed == 0 && m.t == Some(0)));
}

#[test]
fn missing_file_is_an_io_error() {
    let err = envs::replay_file("/nonexistent/x.jsonl").unwrap_err();
    assert!(matches!(err, RecordingError::Io { .. }));
}
