//! Progress while training: a bar toward the stop condition and a live line per
//! iteration (or the live lines alone, in the log, with `--no-progress`).

use std::path::Path;

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;

use rllib::config::Experiment;
use rllib::result::lookup;
use rllib::tune::TrialObserver;

/// Draws the progress of each trial.
pub struct Progress {
    show_bar: bool,
    bar: Option<ProgressBar>,
}

impl Progress {
    /// A bar per trial when `show_bar`, else live lines in the log only.
    pub fn new(show_bar: bool) -> Self {
        Progress {
            show_bar,
            bar: None,
        }
    }
}

impl TrialObserver for Progress {
    fn trial_started(&mut self, exp: &Experiment, _dir: &Path) {
        self.bar = if self.show_bar {
            progress_bar(exp)
        } else {
            None
        };
    }

    fn iteration(&mut self, exp: &Experiment, result: &Value) {
        let line = iteration_line(result);
        match &self.bar {
            Some(b) => {
                b.println(line);
                update_bar(b, exp, result);
            }
            None => tracing::info!("{line}"),
        }
    }

    fn trial_ended(&mut self, _exp: &Experiment) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
    }
}

/// The live line printed after each iteration.
pub fn iteration_line(r: &Value) -> String {
    let g = |k: &str| lookup(r, k).unwrap_or(f64::NAN);
    format!(
        "iter {:>4}  steps {:>8}  return mean {:>8.2} min {:>7.2} max {:>7.2}  len {:>6.1}  time {:>6.2}s",
        g("training_iteration"),
        g("timesteps_total"),
        g("episode_reward_mean"),
        g("episode_reward_min"),
        g("episode_reward_max"),
        g("episode_len_mean"),
        g("time_total_s"),
    )
}

fn progress_bar(exp: &Experiment) -> Option<ProgressBar> {
    let (key, target) = exp.stop.iter().next().map(|(k, v)| (k.clone(), *v))?;
    let b = ProgressBar::new(1000);
    let style = ProgressStyle::with_template("{bar:40} {percent:>3}% {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    b.set_style(style);
    b.set_message(format!("toward {key} >= {target}"));
    Some(b)
}

fn update_bar(b: &ProgressBar, exp: &Experiment, r: &Value) {
    // The bar follows whichever stop condition is closest to being met.
    let frac = exp
        .stop
        .iter()
        .filter_map(|(k, t)| lookup(r, k).map(|v| if *t > 0.0 { v / t } else { 0.0 }))
        .filter(|f| f.is_finite())
        .fold(0.0f64, f64::max)
        .clamp(0.0, 1.0);
    b.set_position((frac * 1000.0) as u64);
}
