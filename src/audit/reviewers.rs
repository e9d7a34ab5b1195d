//! The approver-side view: how each reviewer voted and how quickly they approved.

use crate::model::Duration;
use crate::model::api::ReviewerSummary;

/// One reviewer's votes in the window. Keeps one number per approval for the median.
#[derive(Debug, Clone, Default)]
pub struct ReviewerTally {
    approvals: u64,
    denials: u64,
    fast: u64,
    approve_millis: Vec<u64>,
}

impl ReviewerTally {
    pub fn approve(&mut self, after: Duration, fast: bool) {
        self.approvals += 1;
        self.approve_millis.push(after.as_millis());
        if fast {
            self.fast += 1;
        }
    }

    pub fn deny(&mut self) {
        self.denials += 1;
    }

    pub fn summary(mut self, reviewer: String) -> ReviewerSummary {
        ReviewerSummary {
            reviewer,
            approvals: self.approvals,
            denials: self.denials,
            median_time_to_approve: median(&mut self.approve_millis).map(Duration::from_millis),
            approvals_under_two_minutes: self.fast,
        }
    }
}

/// The median; for an even count, the mean of the two middle values (rounded down).
pub fn median(values: &mut [u64]) -> Option<u64> {
    let n = values.len();
    if n == 0 {
        return None;
    }
    let (lower, upper_mid, _) = values.select_nth_unstable(n / 2);
    let upper = *upper_mid;
    if n % 2 == 1 {
        return Some(upper);
    }
    let lower = lower.iter().copied().max().unwrap_or(upper);
    Some(lower / 2 + upper / 2 + (lower % 2 + upper % 2) / 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians() {
        let cases: [(&[u64], Option<u64>); 6] = [
            (&[], None),
            (&[7], Some(7)),
            (&[30, 90], Some(60)),
            (&[90, 10, 30], Some(30)),
            (&[4, 1, 3, 2], Some(2)),
            (&[u64::MAX, u64::MAX], Some(u64::MAX)),
        ];
        for (values, expected) in cases {
            let mut values = values.to_vec();
            assert_eq!(median(&mut values), expected, "{values:?}");
        }
    }

    #[test]
    fn tally_summarises() {
        let mut tally = ReviewerTally::default();
        tally.approve(Duration::from_secs(30), true);
        tally.approve(Duration::from_secs(600), false);
        tally.deny();
        let summary = tally.summary("carrot".into());
        assert_eq!(summary.approvals, 2);
        assert_eq!(summary.denials, 1);
        assert_eq!(summary.approvals_under_two_minutes, 1);
        assert_eq!(
            summary.median_time_to_approve,
            Some(Duration::from_secs(315))
        );
    }
}
