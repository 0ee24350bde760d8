//! The dashboard's files, embedded in the binary at build time: no CDN,
//! no Node build step, nothing fetched from the internet. The scripts are
//! plain ES modules the browser loads as they are.

/// One embedded file.
pub struct Asset {
    pub name: &'static str,
    pub content_type: &'static str,
    pub body: &'static [u8],
    /// Served without a session (the login page needs it).
    pub public: bool,
}

macro_rules! asset {
    ($name:literal, $type:literal, $public:literal) => {
        Asset {
            name: $name,
            content_type: $type,
            body: include_bytes!(concat!("assets/", $name)),
            public: $public,
        }
    };
}

/// The app's shell (`/`).
pub static INDEX: Asset = asset!("index.html", "text/html; charset=utf-8", false);
/// The login page (`/login`).
pub static LOGIN: Asset = asset!("login.html", "text/html; charset=utf-8", true);

/// Everything under `/dashboard/`.
static FILES: &[Asset] = &[
    asset!("style.css", "text/css; charset=utf-8", true),
    asset!("login.js", "text/javascript; charset=utf-8", true),
    asset!("app.js", "text/javascript; charset=utf-8", false),
    asset!("api.js", "text/javascript; charset=utf-8", false),
    asset!("ui.js", "text/javascript; charset=utf-8", false),
    asset!("chart.js", "text/javascript; charset=utf-8", false),
    asset!("highlight.js", "text/javascript; charset=utf-8", false),
    asset!("view-overview.js", "text/javascript; charset=utf-8", false),
    asset!("view-causes.js", "text/javascript; charset=utf-8", false),
    asset!("view-ticket.js", "text/javascript; charset=utf-8", false),
    asset!("view-review.js", "text/javascript; charset=utf-8", false),
    asset!("view-agents.js", "text/javascript; charset=utf-8", false),
    asset!("view-deploys.js", "text/javascript; charset=utf-8", false),
    asset!(
        "view-escalations.js",
        "text/javascript; charset=utf-8",
        false
    ),
    asset!("view-audit.js", "text/javascript; charset=utf-8", false),
    asset!("view-controls.js", "text/javascript; charset=utf-8", false),
];

/// The file named `name` under `/dashboard/`.
pub fn find(name: &str) -> Option<&'static Asset> {
    FILES.iter().find(|a| a.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_module_an_asset_imports_is_embedded() {
        // A missing import would only show in a browser; catch it here.
        for asset in FILES.iter().chain([&INDEX, &LOGIN]) {
            let text = std::str::from_utf8(asset.body).expect("utf-8");
            for line in text.lines() {
                let Some(rest) = line.split("from \"./").nth(1) else {
                    continue;
                };
                let Some(name) = rest.split('"').next() else {
                    continue;
                };
                assert!(
                    find(name).is_some(),
                    "{} imports {name}, not embedded",
                    asset.name
                );
            }
        }
    }

    #[test]
    fn the_login_page_needs_only_public_files() {
        let page = std::str::from_utf8(LOGIN.body).expect("utf-8");
        for asset in FILES {
            if page.contains(&format!("/dashboard/{}", asset.name)) {
                assert!(asset.public, "{} is on the login page", asset.name);
            }
        }
    }
}
