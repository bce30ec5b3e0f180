//! Query strings: only the parameters a route declares, with typed values.

use crate::ApiError;

/// The parsed `?a=b&c=d` of a request.
#[derive(Debug, Default)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    /// Parses a query string; parameters not in `allowed` are an error naming them.
    pub fn parse(query: Option<&str>, allowed: &[&str]) -> Result<Query, ApiError> {
        let pairs: Vec<(String, String)> = query
            .unwrap_or("")
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (k.to_owned(), v.to_owned())
            })
            .collect();
        if let Some((key, _)) = pairs.iter().find(|(k, _)| !allowed.contains(&k.as_str())) {
            return Err(ApiError::bad_request(format!(
                "unknown query parameter {key:?}; this route takes: {}",
                if allowed.is_empty() {
                    "none".to_owned()
                } else {
                    allowed.join(", ")
                }
            )));
        }
        // A repeated parameter has no one meaning (proxies and frameworks pick the first or the
        // last): refused rather than guessed.
        if let Some((key, _)) = pairs
            .iter()
            .enumerate()
            .find(|(i, (k, _))| pairs[..*i].iter().any(|(seen, _)| seen == k))
            .map(|(_, pair)| pair)
        {
            return Err(ApiError::bad_request(format!(
                "query parameter {key:?} is given more than once; give it once"
            )));
        }
        Ok(Query { pairs })
    }

    /// A parameter's text, if given.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.get(name)
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A `true`/`false` parameter, spelled exactly so; absent is `false`.
    pub fn flag(&self, name: &str) -> Result<bool, ApiError> {
        match self.get(name) {
            None | Some("false") => Ok(false),
            Some("true") => Ok(true),
            Some(other) => Err(ApiError::bad_request(format!(
                "{name} must be true or false, not {other:?}"
            ))),
        }
    }

    /// A non-negative integer parameter.
    pub fn number(&self, name: &str) -> Result<Option<u64>, ApiError> {
        // The document says int64: what does not fit is refused, not clamped.
        self.get(name)
            .map(|v| match v.parse::<u64>() {
                Ok(n) if n <= i64::MAX as u64 && !v.starts_with('+') => Ok(n),
                _ => Err(ApiError::bad_request(format!(
                    "{name} must be a whole number from 0 to {}, not {v:?}",
                    i64::MAX
                ))),
            })
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_are_true_or_false_once() {
        let q = Query::parse(Some("force=true"), &["force"]).unwrap();
        assert!(q.flag("force").unwrap());
        assert!(!Query::parse(None, &["force"])
            .unwrap()
            .flag("force")
            .unwrap());
        for bad in ["force=1", "force=0", "force=yes", "force=", "force=TRUE"] {
            let q = Query::parse(Some(bad), &["force"]).unwrap();
            assert!(q.flag("force").is_err(), "{bad}");
        }
        assert!(Query::parse(Some("force=true&force=false"), &["force"]).is_err());
        assert!(Query::parse(Some("force=true&force=true"), &["force"]).is_err());
    }
}
