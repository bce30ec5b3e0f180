//! Who may visit a domain: anyone, the logins of its access list (HTTP Basic), or Jeto users
//! who see its instance (their access key). The credentials used are taken out of the request
//! before it goes on: the machine never sees a Jeto key or a visitor's password.

use base64::Engine;
use http::{header, HeaderMap, HeaderValue, Response, StatusCode};
use jeto_core::{Domain, DomainAccess, Jeto};

use super::{pages, ProxyBody};

/// `Ok` when the request may pass (its credentials removed), else the answer.
pub(crate) async fn check(
    jeto: &Jeto,
    domain: &Domain,
    headers: &mut HeaderMap,
) -> Result<(), Response<ProxyBody>> {
    match &domain.access {
        DomainAccess::Public => Ok(()),
        DomainAccess::Passwords { .. } => {
            let given = basic_credentials(headers);
            let ok = match &given {
                Some((login, password)) => {
                    jeto.check_domain_password(domain, login, password).await
                }
                None => false,
            };
            if ok {
                headers.remove(header::AUTHORIZATION);
                return Ok(());
            }
            let mut refused = pages::page(
                StatusCode::UNAUTHORIZED,
                "Sign in",
                "This site asks for a login and password.",
            );
            let realm = format!("Basic realm=\"{}\", charset=\"UTF-8\"", domain.name);
            if let Ok(value) = HeaderValue::from_str(&realm) {
                refused
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, value);
            }
            Err(refused)
        }
        DomainAccess::Granted | _ => {
            let Some(key) = crate::auth::key(headers).map(str::to_owned) else {
                return Err(pages::page(
                    StatusCode::UNAUTHORIZED,
                    "Jeto key needed",
                    "This site is for Jeto users allowed to see its instance: send your access key in X-JETO-KEY (or Authorization: Bearer).",
                ));
            };
            if !jeto.may_visit_domain(domain, Some(&key)).await {
                return Err(pages::page(
                    StatusCode::FORBIDDEN,
                    "Not allowed",
                    "This key is not allowed to see this site's instance.",
                ));
            }
            headers.remove(crate::auth::KEY_HEADER);
            headers.remove(header::AUTHORIZATION);
            Ok(())
        }
    }
}

/// The login and password of `Authorization: Basic`, when well formed.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (login, password) = text.split_once(':')?;
    Some((login.to_owned(), password.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_read_and_anything_else_is_not() {
        let mut headers = HeaderMap::new();
        // "ann:pass:word" (a password may hold ':').
        headers.insert(
            header::AUTHORIZATION,
            "Basic YW5uOnBhc3M6d29yZA==".parse().unwrap(),
        );
        assert_eq!(
            basic_credentials(&headers),
            Some(("ann".into(), "pass:word".into()))
        );
        headers.insert(header::AUTHORIZATION, "Bearer abc".parse().unwrap());
        assert_eq!(basic_credentials(&headers), None);
        headers.insert(header::AUTHORIZATION, "Basic !!!".parse().unwrap());
        assert_eq!(basic_credentials(&headers), None);
    }
}
