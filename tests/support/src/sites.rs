//! Deployed sites as a CDN sees them: requests to the host's origin with the site's `Host`.

use crate::host::Blink;

/// Fetches `path` of a deployed site through the host, by `Host` header.
pub async fn site(blink: &Blink, host: &str, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut request = reqwest::Client::new().get(format!("{}{path}", blink.url)).header("host", host);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap()
}

/// The page and every asset it references: `Ok(page)` when all answer 200, else the first
/// status that was not and what it was for. A torn release (a page whose assets are missing)
/// is an `Err`.
pub async fn complete(blink: &Blink, host: &str) -> Result<String, (u16, String)> {
    let page = site(blink, host, "/", &[]).await;
    let status = page.status().as_u16();
    let html = page.text().await.unwrap();
    if status != 200 {
        return Err((status, html));
    }
    for asset in html.split('"').filter(|s| s.starts_with("/assets/")) {
        let status = site(blink, host, asset, &[]).await.status().as_u16();
        if status != 200 {
            return Err((status, format!("{asset} of {html}")));
        }
    }
    Ok(html)
}
