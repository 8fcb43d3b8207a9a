//! Deployed sites as a CDN sees them (requests to the host's origin with the site's `Host`), and
//! the builds they are made from, laid out as `vite build` leaves them.

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

/// Writes a build as `vite build` lays it out: `index.html` referencing hashed assets, plus
/// `extra` more hashed assets and public files. Returns the script's path.
pub fn write_build(data_dir: &std::path::Path, project: &str, version: &str, extra: usize, filler: usize) -> String {
    let dist = data_dir.join("builds").join(project).join("dist");
    let _ = std::fs::remove_dir_all(&dist);
    std::fs::create_dir_all(dist.join("assets")).unwrap();
    let script = format!("/assets/index-{}.js", short_hash(version));
    let style = format!("/assets/index-{}.css", short_hash(&format!("{version}-css")));
    std::fs::write(
        dist.join("index.html"),
        format!(
            "<!doctype html><html><head><script type=\"module\" src=\"{script}\"></script>\
             <link rel=\"stylesheet\" href=\"{style}\"></head><body><div id=\"root\"></div></body></html>"
        ),
    )
    .unwrap();
    std::fs::write(dist.join(script.trim_start_matches('/')), format!("console.log({version:?});")).unwrap();
    std::fs::write(dist.join(style.trim_start_matches('/')), format!("body{{--v:{version:?}}}")).unwrap();
    // Public files keep their names from build to build.
    std::fs::write(dist.join("favicon.svg"), "<svg xmlns=\"http://www.w3.org/2000/svg\"/>").unwrap();
    std::fs::write(dist.join("robots.txt"), "User-agent: *\n").unwrap();
    for n in 0..extra {
        let body = format!("export const chunk{n} = {:?};\n{}", version, "x".repeat(filler));
        std::fs::write(dist.join(format!("assets/chunk{n}-{}.js", short_hash(&body))), body).unwrap();
    }
    script
}

/// A build's content hash as Vite names assets: eight hex digits (FNV-1a).
pub fn short_hash(text: &str) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in text.bytes() {
        h = (h ^ b as u64).wrapping_mul(0x100000001b3);
    }
    format!("{h:016x}")[..8].to_string()
}
