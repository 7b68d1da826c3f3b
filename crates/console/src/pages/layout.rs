//! The frame every page shares: navigation, who is signed in, sign-out,
//! and the one stylesheet and script, served from the binary itself.

use maud::{DOCTYPE, Markup, html};

use crate::assets;
use crate::sessions::Session;

/// Which part of the console a page belongs to, for the navigation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Experiments,
    Gate,
    Quarantine,
    None,
}

/// A whole page: `title` in the tab and as its heading, `body` below.
pub fn page(title: &str, section: Section, session: Option<&Session>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · trizone console" }
                link rel="stylesheet" href=(assets::STYLESHEET_PATH);
                script src=(assets::SCRIPT_PATH) defer {}
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    a.brand href="/" { "trizone" }
                    @if let Some(session) = session {
                        nav aria-label="Sections" {
                            ul {
                                (nav_item("/experiments", "Experiments", section == Section::Experiments))
                                (nav_item("/gate", "Gate", section == Section::Gate))
                                (nav_item("/quarantine", "Quarantine", section == Section::Quarantine))
                            }
                        }
                        div.who {
                            span { (session.me.principal) " · " (session.me.role.as_str()) }
                            form method="post" action="/signout" {
                                input type="hidden" name="csrf" value=(session.csrf);
                                button type="submit" { "Sign out" }
                            }
                        }
                    }
                }
                main #main {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

fn nav_item(href: &str, label: &str, current: bool) -> Markup {
    html! {
        li {
            @if current {
                a href=(href) aria-current="page" { (label) }
            } @else {
                a href=(href) { (label) }
            }
        }
    }
}

/// A hidden field with the session's form token: every form carries one.
pub fn csrf_field(session: &Session) -> Markup {
    html! { input type="hidden" name="csrf" value=(session.csrf); }
}

/// A notice for a part of a page that could not be shown.
pub fn notice(kind: &str, text: &str) -> Markup {
    html! { p.notice.(kind) role="status" { (text) } }
}
