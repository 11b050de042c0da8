//! A small command-line parser: `--flag`, `--key VALUE`, `--key=VALUE`, repeatable keys.
//! Hand-rolled to keep the build lean; every mistake is an error that names the flag.

use std::collections::VecDeque;
use std::str::FromStr;

#[derive(Debug)]
pub struct Args {
    /// (name without dashes, value if given inline or taken from the next word)
    items: Vec<(String, Option<String>)>,
    consumed: Vec<bool>,
}

impl Args {
    /// Splits raw words into options. Words that do not start with `--` are errors: no
    /// subcommand takes positional arguments.
    pub fn parse<I: IntoIterator<Item = String>>(words: I) -> Result<Args, String> {
        let mut words: VecDeque<String> = words.into_iter().collect();
        let mut items = Vec::new();
        while let Some(w) = words.pop_front() {
            let Some(name) = w.strip_prefix("--") else {
                return Err(format!("unexpected argument {w:?}: options start with --"));
            };
            if let Some((k, v)) = name.split_once('=') {
                items.push((k.to_string(), Some(v.to_string())));
            } else {
                let takes_next = words.front().is_some_and(|n| !n.starts_with("--"));
                let value = if takes_next { words.pop_front() } else { None };
                items.push((name.to_string(), value));
            }
        }
        let consumed = vec![false; items.len()];
        Ok(Args { items, consumed })
    }

    /// A boolean flag; an error if it was given a value.
    pub fn flag(&mut self, name: &str) -> Result<bool, String> {
        let mut found = false;
        for (i, (k, v)) in self.items.iter().enumerate() {
            if k == name {
                if let Some(v) = v {
                    return Err(format!("--{name} takes no value (got {v:?})"));
                }
                self.consumed[i] = true;
                found = true;
            }
        }
        Ok(found)
    }

    /// Every value given for a repeatable option, parsed.
    pub fn values<T: FromStr>(&mut self, name: &str) -> Result<Vec<T>, String>
    where
        T::Err: std::fmt::Display,
    {
        let mut out = Vec::new();
        for (i, (k, v)) in self.items.iter().enumerate() {
            if k == name {
                let v = v
                    .as_ref()
                    .ok_or_else(|| format!("--{name} needs a value"))?;
                out.push(
                    v.parse::<T>()
                        .map_err(|e| format!("invalid value {v:?} for --{name}: {e}"))?,
                );
                self.consumed[i] = true;
            }
        }
        Ok(out)
    }

    /// An option given at most once.
    pub fn value<T: FromStr>(&mut self, name: &str) -> Result<Option<T>, String>
    where
        T::Err: std::fmt::Display,
    {
        let mut all = self.values(name)?;
        if all.len() > 1 {
            return Err(format!("--{name} given more than once"));
        }
        Ok(all.pop())
    }

    /// Errors on any option no one asked for, so typos are not silently ignored.
    pub fn finish(self) -> Result<(), String> {
        match self
            .items
            .iter()
            .zip(&self.consumed)
            .find(|(_, used)| !**used)
        {
            Some(((k, _), _)) => Err(format!("unknown option --{k}")),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Args {
        Args::parse(s.split_whitespace().map(String::from)).unwrap()
    }

    #[test]
    fn parses_flags_values_and_repeats() {
        let mut a = args("--json --stun 127.0.0.1:3478 --send a --send=b --timeout 5");
        assert!(a.flag("json").unwrap());
        assert!(!a.flag("controlling").unwrap());
        assert_eq!(
            a.value::<String>("stun").unwrap().as_deref(),
            Some("127.0.0.1:3478")
        );
        assert_eq!(a.values::<String>("send").unwrap(), vec!["a", "b"]);
        assert_eq!(a.value::<u64>("timeout").unwrap(), Some(5));
        a.finish().unwrap();
    }

    #[test]
    fn mistakes_are_errors_naming_the_flag() {
        let mut a = args("--timeout soon");
        let e = a.value::<u64>("timeout").unwrap_err();
        assert!(e.contains("--timeout"), "{e}");
        assert!(args("--bogus").finish().unwrap_err().contains("--bogus"));
        assert!(args("--json x")
            .flag("json")
            .unwrap_err()
            .contains("--json"));
        assert!(Args::parse(["stray".to_string()]).is_err());
        let mut twice = args("--stun a --stun b");
        assert!(twice.value::<String>("stun").is_err());
    }
}
