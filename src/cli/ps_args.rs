//! PowerShell-style parameters, as the Windows tools of the seed take them (`KeyTransferRemote`,
//! `Add-AzureKeyVaultKey`): `-Name value`, `-Name:value`, any case; `--long=value` too.

use shieldhsm::module::admin::{AdminError, AdminResult};

#[derive(Default)]
pub struct PsArgs {
    switches: Vec<&'static str>,
    values: Vec<(&'static str, String)>,
}

impl PsArgs {
    pub fn has(&self, n: &str) -> bool {
        self.switches.contains(&n)
    }
    pub fn get(&self, n: &str) -> Option<&str> {
        self.values.iter().find(|(k, _)| *k == n).map(|(_, v)| v.as_str())
    }
}

/// Parses `a` against the lower-case names a command takes: `switches` stand alone, `valued` take
/// one value. `-h` and `-?` mean `-help` (which must be among the switches to be accepted).
pub fn parse(tool: &str, a: &[String], switches: &[&'static str], valued: &[&'static str]) -> AdminResult<PsArgs> {
    let err = |what: String| AdminError::new(what, format!("see `{tool} -help`"));
    let mut out = PsArgs::default();
    let mut i = 0;
    while i < a.len() {
        let arg = &a[i];
        i += 1;
        let Some(body) = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-')).filter(|b| !b.is_empty()) else {
            return Err(err(format!("unexpected argument {arg:?}")));
        };
        let (name, inline) = match body.find([':', '=']) {
            Some(pos) => (&body[..pos], Some(body[pos + 1..].to_string())),
            None => (body, None),
        };
        let lower = match name.to_ascii_lowercase().as_str() {
            "h" | "?" => "help".to_string(),
            other => other.to_string(),
        };
        if let Some(s) = switches.iter().find(|s| **s == lower) {
            if inline.is_some() {
                return Err(err(format!("-{name} takes no value")));
            }
            out.switches.push(s);
            continue;
        }
        let Some(v) = valued.iter().find(|s| **s == lower) else {
            return Err(err(format!("unknown parameter -{name}")));
        };
        let value = match inline {
            Some(v) => v,
            None if i < a.len() => {
                i += 1;
                a[i - 1].clone()
            }
            None => return Err(err(format!("-{name} needs a value"))),
        };
        if out.get(v).is_some() {
            return Err(AdminError::new(format!("-{name} is given twice"), "give each parameter once"));
        }
        out.values.push((v, value));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn names_any_case_inline_or_separate() {
        let p = parse(
            "t",
            &a("-VaultName V -name:N --Destination=HSM -Go"),
            &["go"],
            &["vaultname", "name", "destination"],
        )
        .unwrap();
        assert!(p.has("go"));
        assert_eq!((p.get("vaultname"), p.get("name"), p.get("destination")), (Some("V"), Some("N"), Some("HSM")));
    }

    #[test]
    fn refusals() {
        let v = ["name"];
        assert!(parse("t", &a("-Nope x"), &[], &v).is_err());
        assert!(parse("t", &a("-Name"), &[], &v).is_err());
        assert!(parse("t", &a("-Name a -NAME b"), &[], &v).is_err());
        assert!(parse("t", &a("stray"), &[], &v).is_err());
        assert!(parse("t", &a("-Go:x"), &["go"], &v).is_err());
    }
}
