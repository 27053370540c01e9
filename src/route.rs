//! The two routes, matched on the end of the path.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// Legacy token auth: the widget SDK's `auth-url`.
    WidgetAuth,
    /// Access Key Embed: the page's `embed-token`.
    EmbedToken,
}

impl Route {
    /// Routes match on the end of the path, so any stage or base path may come before them.
    pub fn of(path: &str) -> Option<Self> {
        let path = path.strip_suffix('/').unwrap_or(path);
        if path.ends_with("/widget-auth") {
            Some(Self::WidgetAuth)
        } else if path.ends_with("/embed-token") {
            Some(Self::EmbedToken)
        } else {
            None
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::WidgetAuth => "widget-auth",
            Self::EmbedToken => "embed-token",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_match_on_the_end_of_the_path() {
        for (path, route) in [
            ("/widget-auth", Some(Route::WidgetAuth)),
            ("/Prod/widget-auth", Some(Route::WidgetAuth)),
            ("/api/v1/embed-token/", Some(Route::EmbedToken)),
            ("/embed-token", Some(Route::EmbedToken)),
            ("/", None),
            ("", None),
            ("/my-widget-auth", None),
            ("/widget-auth/extra", None),
        ] {
            assert_eq!(Route::of(path), route, "{path}");
        }
    }
}
