//! A small hand-written option parser that takes nShield's argument shapes as they are written
//! in vendor documentation: `--flag=value` and `--flag value`, `-m1` and `-m 1`, clustered short
//! flags (`-kl`), and positional `name=value` pairs (`type=RSA`) left for the command.

use shieldhsm::module::admin::{AdminError, AdminResult};

/// One option a command accepts.
pub struct Opt {
    pub long: &'static str,
    pub short: Option<char>,
    pub value: bool,
    /// Other long spellings accepted for the same option.
    pub aliases: &'static [&'static str],
}

pub const fn flag(long: &'static str, short: Option<char>) -> Opt {
    Opt { long, short, value: false, aliases: &[] }
}

pub const fn valued(long: &'static str, short: Option<char>) -> Opt {
    Opt { long, short, value: true, aliases: &[] }
}

pub const fn alias(mut o: Opt, aliases: &'static [&'static str]) -> Opt {
    o.aliases = aliases;
    o
}

/// Options every command takes.
pub const COMMON: [Opt; 3] = [flag("help", Some('h')), valued("passphrase-file", None), valued("card-dir", None)];

#[derive(Default, Debug)]
pub struct Parsed {
    opts: Vec<(&'static str, Option<String>)>,
    pub pos: Vec<String>,
}

impl Parsed {
    pub fn has(&self, long: &str) -> bool {
        self.opts.iter().any(|(l, _)| *l == long)
    }
    /// The last value given for `long`.
    pub fn value(&self, long: &str) -> Option<&str> {
        self.opts.iter().rev().find(|(l, _)| *l == long).and_then(|(_, v)| v.as_deref())
    }
}

fn usage_error(what: String, tool: &str) -> AdminError {
    AdminError::new(what, format!("see `{tool} --help`"))
}

/// Parses `args` (without the program name) against `opts` plus [`COMMON`].
pub fn parse(args: &[String], opts: &[Opt], tool: &str) -> AdminResult<Parsed> {
    let all: Vec<&Opt> = opts.iter().chain(COMMON.iter()).collect();
    let by_long = |name: &str| all.iter().copied().find(|o| o.long == name || o.aliases.contains(&name));
    let by_short = |c: char| all.iter().copied().find(|o| o.short == Some(c));
    let mut out = Parsed::default();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        i += 1;
        if a == "--" {
            out.pos.extend(args[i..].iter().cloned());
            break;
        }
        if let Some(body) = a.strip_prefix("--") {
            let (name, inline) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (body, None),
            };
            let o = by_long(name).ok_or_else(|| usage_error(format!("unknown option --{name}"), tool))?;
            let v = if o.value {
                match inline {
                    Some(v) => Some(v),
                    None if i < args.len() => {
                        i += 1;
                        Some(args[i - 1].clone())
                    }
                    None => return Err(usage_error(format!("option --{name} needs a value"), tool)),
                }
            } else if inline.is_some() {
                return Err(usage_error(format!("option --{name} takes no value"), tool));
            } else {
                None
            };
            out.opts.push((o.long, v));
            continue;
        }
        if a.len() > 1 && a.starts_with('-') && !a[1..].starts_with(|c: char| c.is_ascii_digit()) {
            let chars: Vec<char> = a[1..].chars().collect();
            let mut j = 0;
            while j < chars.len() {
                let c = chars[j];
                j += 1;
                let o = by_short(c).ok_or_else(|| usage_error(format!("unknown option -{c}"), tool))?;
                if o.value {
                    let rest: String = chars[j..].iter().collect();
                    let rest = rest.strip_prefix('=').map(str::to_string).unwrap_or(rest);
                    let v = if !rest.is_empty() {
                        rest
                    } else if i < args.len() {
                        i += 1;
                        args[i - 1].clone()
                    } else {
                        return Err(usage_error(format!("option -{c} needs a value"), tool));
                    };
                    out.opts.push((o.long, Some(v)));
                    break;
                }
                out.opts.push((o.long, None));
            }
            continue;
        }
        out.pos.push(a.clone());
    }
    Ok(out)
}

/// Parses a module number (`1`, as in `-m1`).
pub fn module_number(s: Option<&str>, tool: &str) -> AdminResult<u32> {
    match s {
        None => Ok(1),
        Some(v) => v.trim().parse::<u32>().ok().filter(|n| *n >= 1).ok_or_else(|| {
            AdminError::new(format!("module {v:?} is not a module number"), format!("use e.g. `{tool} -m 1`"))
        }),
    }
}

/// Parses a duration: plain seconds, or a number with s/m/min/h/d.
pub fn duration_secs(s: &str, what: &str) -> AdminResult<u64> {
    let t = s.trim().to_ascii_lowercase();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().map_err(|_| {
        AdminError::new(
            format!("{what} {s:?} is not a duration"),
            "give seconds or a number with s, min, h or d (e.g. 10min)",
        )
    })?;
    let mul = match unit.trim() {
        "" | "s" | "sec" | "secs" | "seconds" => 1,
        "m" | "min" | "mins" | "minutes" => 60,
        "h" | "hour" | "hours" => 3600,
        "d" | "day" | "days" => 86_400,
        _ => {
            return Err(AdminError::new(format!("{what} {s:?} has an unknown unit"), "use s, min, h or d (e.g. 10min)"))
        }
    };
    n.checked_mul(mul).ok_or_else(|| AdminError::new(format!("{what} {s:?} is too long"), "give a shorter time"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    const OPTS: [Opt; 5] = [
        flag("initialize", Some('i')),
        valued("module", Some('m')),
        valued("acs-quorum", Some('Q')),
        alias(valued("cipher-suite", Some('c')), &["ciphersuite"]),
        flag("key-list", Some('k')),
    ];

    #[test]
    fn shapes() {
        let p = parse(&v("--initialize --cipher-suite=DLf1024s160mRijndael --module=1 --acs-quorum=2/3"), &OPTS, "t")
            .unwrap();
        assert!(p.has("initialize"));
        assert_eq!(p.value("cipher-suite"), Some("DLf1024s160mRijndael"));
        assert_eq!(p.value("acs-quorum"), Some("2/3"));
        let p = parse(&v("-m1 -Q 2/3 -ik --ciphersuite X"), &OPTS, "t").unwrap();
        assert_eq!(p.value("module"), Some("1"));
        assert_eq!(p.value("acs-quorum"), Some("2/3"));
        assert!(p.has("initialize") && p.has("key-list"));
        assert_eq!(p.value("cipher-suite"), Some("X"));
        let p = parse(&v("simple type=RSA pubexp= -m 2"), &OPTS, "t").unwrap();
        assert_eq!(p.pos, v("simple type=RSA pubexp="));
        assert_eq!(p.value("module"), Some("2"));
        assert!(parse(&v("--bogus"), &OPTS, "t").is_err());
        assert!(parse(&v("--initialize=yes"), &OPTS, "t").is_err());
        assert!(parse(&v("--module"), &OPTS, "t").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(duration_secs("600", "t").unwrap(), 600);
        assert_eq!(duration_secs("10min", "t").unwrap(), 600);
        assert_eq!(duration_secs("2h", "t").unwrap(), 7200);
        assert!(duration_secs("ten", "t").is_err());
        assert!(duration_secs("5y", "t").is_err());
    }
}
