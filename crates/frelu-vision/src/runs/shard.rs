//! Which cells of a grid a worker trains: a stable share of them (`--shard I/N`, or a Slurm job
//! array's task), or all of them, claimed one at a time.

use std::fmt;
use std::str::FromStr;

use crate::data::ParseError;

/// Share `index` of `count` of a grid's cells: the cells whose position in the grid (seed after
/// seed, configuration after configuration) is `index` modulo `count`. The same grid always
/// splits the same way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// Which share, 0-based.
    pub index: usize,
    /// How many shares.
    pub count: usize,
}

/// The error for `value`, which is no shard because of `why`.
fn bad(value: impl fmt::Display, why: impl fmt::Display) -> ParseError {
    ParseError(format!("'{value}' is not a shard: {why}"))
}

impl Shard {
    /// A shard, checked: `count` ≥ 1 and `index` < `count`.
    pub fn new(index: usize, count: usize) -> Result<Self, ParseError> {
        if count == 0 {
            return Err(bad(
                format!("{index}/{count}"),
                "a grid is split into at least 1 shard (I/N with N ≥ 1)",
            ));
        }
        if index >= count {
            return Err(bad(
                format!("{index}/{count}"),
                format!("shards are numbered 0 to {} (I/N with I < N)", count - 1),
            ));
        }
        Ok(Shard { index, count })
    }

    /// The shard of a Slurm job array's task: `SLURM_ARRAY_TASK_ID` minus
    /// `SLURM_ARRAY_TASK_MIN` (0 if unset) of `SLURM_ARRAY_TASK_COUNT`; `None` outside an
    /// array, an error where the variables do not make a shard.
    pub fn from_slurm() -> Result<Option<Self>, ParseError> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// [`Shard::from_slurm`] over any source of variables.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, ParseError> {
        let (Some(id), Some(count)) = (var("SLURM_ARRAY_TASK_ID"), var("SLURM_ARRAY_TASK_COUNT"))
        else {
            return Ok(None);
        };
        let min = var("SLURM_ARRAY_TASK_MIN").unwrap_or_else(|| "0".into());
        let number = |name: &str, v: &str| {
            v.trim()
                .parse::<usize>()
                .map_err(|_| bad(format!("{name}={v}"), "not a whole number"))
        };
        let (id, count, min) = (
            number("SLURM_ARRAY_TASK_ID", &id)?,
            number("SLURM_ARRAY_TASK_COUNT", &count)?,
            number("SLURM_ARRAY_TASK_MIN", &min)?,
        );
        let index = id.checked_sub(min).ok_or_else(|| {
            bad(
                format!("SLURM_ARRAY_TASK_ID={id}"),
                format!("below SLURM_ARRAY_TASK_MIN={min}"),
            )
        })?;
        Shard::new(index, count).map(Some)
    }

    /// Whether the cell at `position` in the grid is this shard's.
    pub fn holds(&self, position: usize) -> bool {
        position % self.count == self.index
    }
}

impl FromStr for Shard {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let refuse = |why: &str| bad(s, why);
        let (i, n) = s
            .split_once('/')
            .ok_or_else(|| refuse("write it I/N: share I (from 0) of N"))?;
        let number = |v: &str| {
            v.trim()
                .parse::<usize>()
                .map_err(|_| refuse("I and N are whole numbers (I/N)"))
        };
        Shard::new(number(i)?, number(n)?)
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_split_the_grid_and_refuse_what_is_no_shard() {
        let shard: Shard = "1/3".parse().unwrap();
        let mine: Vec<usize> = (0..8).filter(|&p| shard.holds(p)).collect();
        assert_eq!(mine, [1, 4, 7]);
        assert_eq!(shard.to_string(), "1/3");
        // Every cell belongs to exactly one shard.
        for p in 0..10 {
            assert_eq!(
                (0..3)
                    .filter(|&i| Shard::new(i, 3).unwrap().holds(p))
                    .count(),
                1
            );
        }
        for (bad, why) in [
            ("3/2", "numbered 0 to 1"),
            ("0/0", "at least 1 shard"),
            ("2", "I/N"),
            ("a/2", "whole numbers"),
            ("-1/2", "whole numbers"),
        ] {
            let err = bad.parse::<Shard>().unwrap_err().to_string();
            assert!(err.contains(bad) && err.contains(why), "{bad}: {err}");
        }
    }

    #[test]
    fn slurm_array_variables_make_a_shard() {
        let vars = |pairs: &'static [(&str, &str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(Shard::from_vars(vars(&[])).unwrap(), None);
        let s = Shard::from_vars(vars(&[
            ("SLURM_ARRAY_TASK_ID", "5"),
            ("SLURM_ARRAY_TASK_COUNT", "4"),
            ("SLURM_ARRAY_TASK_MIN", "2"),
        ]))
        .unwrap();
        assert_eq!(s, Some(Shard { index: 3, count: 4 }));
        let err = Shard::from_vars(vars(&[
            ("SLURM_ARRAY_TASK_ID", "9"),
            ("SLURM_ARRAY_TASK_COUNT", "4"),
        ]))
        .unwrap_err();
        assert!(err.to_string().contains("0 to 3"), "{err}");
    }
}
