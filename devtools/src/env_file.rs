//! `KEY=VALUE` files for the function's environment. Values are taken literally (commas and
//! `=` included, as `USER_IDENTIFIERS=data-email=email,data-user-id=sub` needs), so a file says
//! exactly what the function sees.

pub fn parse(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut vars = Vec::new();
    for (n, line) in text.lines().enumerate() {
        // Leading blanks are layout; trailing ones may be part of the value.
        let line = line.trim_start().trim_end_matches('\r');
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((key, value)) = line.split_once('=') else {
            return Err(format!("line {}: expected KEY=VALUE", n + 1));
        };
        let key = key.trim();
        let well_formed = !key.is_empty()
            && !key.starts_with(|c: char| c.is_ascii_digit())
            && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !well_formed {
            // The line may hold a secret: name the line, never echo it.
            return Err(format!("line {}: not a variable name", n + 1));
        }
        vars.retain(|(k, _): &(String, String)| k != key);
        vars.push((key.to_owned(), value.to_owned()));
    }
    Ok(vars)
}

pub fn read(path: &std::path::Path) -> Result<Vec<(String, String)>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    parse(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// The file text for `vars`, readable back by `parse`.
pub fn render(vars: &[(String, String)]) -> String {
    vars.iter().map(|(k, v)| format!("{k}={v}\n")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_values_literally() {
        let vars = parse("# demo\n\nexport A=1\nUSER_IDENTIFIERS=data-email=email,data-user-id=sub\nB= spaced \nA=2\n").unwrap();
        assert_eq!(
            vars,
            vec![
                (
                    "USER_IDENTIFIERS".into(),
                    "data-email=email,data-user-id=sub".into()
                ),
                ("B".into(), " spaced ".into()),
                ("A".into(), "2".into()),
            ]
        );
        assert_eq!(parse(&render(&vars)).unwrap(), vars);
    }

    #[test]
    fn refuses_lines_without_a_name_and_never_echoes_them() {
        let e = parse("OK=1\nsecret-value-without-equals\n").unwrap_err();
        assert_eq!(e, "line 2: expected KEY=VALUE");
        let e = parse("1BAD=x\n").unwrap_err();
        assert!(!e.contains('x'), "{e}");
        assert!(parse("BAD KEY=x").is_err());
    }
}
